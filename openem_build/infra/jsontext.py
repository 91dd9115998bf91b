"""JSON text for the site's files: one encoder for every renderer, fast where a build writes thousands of files.

``dumps(value, indent=2)`` gives exactly the bytes of ``json.dumps(value, ensure_ascii=False, indent=2)``, but
much faster: ``json.dumps`` with an indent runs the standard library's pure-Python encoder, whereas compact
output runs its C encoder; the compact text is then indented by msgspec's C formatter (``msgspec.json.format``,
which copies every token as it is). Measured on the per-dataset JSON files (record, JSON-LD, CSL-JSON, EMPIAR,
OSC-EM, linkset, API; ~37 kB in 6 documents per dataset) of a 1,000-entry ``benchmarks/synth.py`` catalogue,
``benchmarks/jsontext.py``: 1.38 → 0.53 ms of CPU per dataset, ~8.5 s of CPU less at N = 10,000 (5 % of the
time of a dataset's files; less of the page-and-files phase).

Encoding with msgspec as well (``msgspec.json.encode``) would save another ~0.25 ms per dataset but is not used:
it writes floats in its own way (``5e21`` and ``-1.8e-6`` where Python writes ``5e+21`` and ``-1.8e-06``, as the
JSON-LD's ``valueSI`` holds for every dataset), and NaN or infinity as ``null`` without a word. Here keys keep
the order given, text is UTF-8 (not ``\\u``-escaped, except what JSON requires), and NaN or infinity is refused
(``ValueError``), since it is not JSON.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

# Without an indent json's encoder runs in C (JSONEncoder.iterencode's one-shot path).
_compact = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON text: compact (``,`` and ``:`` without spaces) or, with ``indent``, one member or item
    per line as ``json.dumps(value, ensure_ascii=False, indent=indent)`` writes it. Raises ``TypeError`` for a
    value JSON cannot hold and ``ValueError`` for NaN or infinity (or an ``indent`` under 1: msgspec would write
    one line where json writes a line per item)."""
    if indent is not None and indent < 1:
        raise ValueError(f"indent must be at least 1, not {indent}")
    text = _compact(value)
    return text if indent is None else msgspec.json.format(text, indent=indent)


def loads(data: bytes | str, kind: Any = Any) -> Any:
    """JSON text decoded (by msgspec, in C) into ``kind`` and checked against it; ``ValueError`` when it is not
    JSON or not of that kind."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:  # (a ValidationError is one too)
        raise ValueError(str(exc)) from exc
