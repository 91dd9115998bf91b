"""Reading OSC-EM metadata files (JSON or YAML) into OpenEM field values, for ``openem add``'s pre-fill.

OSC-EM is the metadata standard of the OpenEM network's own tools: its EPU and SerialEM extractors write an
OSC-EM JSON file per data collection. :func:`read` takes one (strict JSON, or YAML read safely: no tags, no
aliases, bounded size and depth), checks it against the official schema of its technique (deviations are
reported, not fatal: real extractor output deviates in places), and maps what it can onto OpenEM's fields, unit
by unit (:mod:`.oscem_fields`). Each value is checked against OpenEM's own schema before it is offered; what cannot
be used is named in ``notes``. Anything that is not a readable OSC-EM document raises :class:`OscemError` with a
located message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..records import yamlsafe
from ..records.manifest import load_json
from .oscem_fields import TECHNIQUES, Imported, clip, fields, kind
from .oscem_schema import schema_errors

__all__ = ["Imported", "OscemError", "convert", "looks_like_oscem", "parse", "read"]

MAX_BYTES = yamlsafe.MAX_BYTES
#: The top-level sections an OSC-EM document may have (every technique schema's properties).
SECTIONS = ("acquisition", "instrument", "organizational", "processing", "sample")
SUFFIXES = (".json", ".yaml", ".yml")


class OscemError(ValueError):
    """The file is not a readable OSC-EM document; ``str()`` is the located message."""


# ------------------------------------------------------------------------------------------------ parsing


def parse(raw: bytes, shown: str) -> dict[str, Any]:
    """The document in ``raw`` (JSON when it starts with ``{``, else YAML), or OscemError."""
    if len(raw) > MAX_BYTES:
        raise OscemError(f"{shown}: the file is {len(raw):,} bytes, more than the {MAX_BYTES:,} an OSC-EM file may "
                         "have — give the OSC-EM file of the data collection, not a data file")
    try:
        text = yamlsafe.decode(raw)
    except yamlsafe.YamlError as exc:
        raise OscemError(_located(shown, exc.line, exc.col, exc.message, exc.hint)) from None
    if text.lstrip().startswith(("{", "[")):
        data, problem = load_json(text, shown, "save the OSC-EM file as strict JSON", depth=yamlsafe.MAX_DEPTH)
        if problem is not None:
            raise OscemError(problem.text())
    else:
        try:
            data = yamlsafe.parse(text).data
        except yamlsafe.YamlError as exc:
            raise OscemError(_located(shown, exc.line, exc.col, exc.message, exc.hint)) from None
    if not isinstance(data, dict):
        raise OscemError(f"{shown}: not an OSC-EM document: the top level is a {kind(data)}, not a mapping — an "
                         f"OSC-EM file has the sections {', '.join(SECTIONS)}")
    return data


def _located(shown: str, line: int, col: int, message: str, hint: str) -> str:
    where = f"{shown}:{line}:{col or 1}" if line else shown
    return f"{where}: {message}" + (f" — {hint}" if hint else "")


def looks_like_oscem(doc: Mapping[str, Any]) -> bool:
    """Whether a parsed file is meant as OSC-EM: only OSC-EM sections, among them instrument or acquisition."""
    return bool(doc) and set(doc) <= set(SECTIONS) and bool({"instrument", "acquisition"} & set(doc))


def read(path: Path, shown: str | None = None) -> Imported:
    """An OSC-EM file's values in OpenEM terms; OscemError when it is not a readable OSC-EM document."""
    shown = shown or path.name
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise OscemError(f"{shown}: cannot be read: {exc.strerror or exc}") from None
    return convert(parse(raw, shown), shown)


# ------------------------------------------------------------------------------------------------ conversion


def convert(doc: Mapping[str, Any], shown: str) -> Imported:
    """Map a parsed OSC-EM document onto OpenEM fields (see the module documentation)."""
    if not looks_like_oscem(doc):
        other = sorted(set(doc) - set(SECTIONS))
        raise OscemError(f"{shown}: not an OSC-EM document: "
                         + (f"unknown top-level keys {', '.join(map(repr, other[:5]))}" if other else
                            "it has neither an instrument nor an acquisition section")
                         + f" — an OSC-EM file has the sections {', '.join(SECTIONS)}")
    technique = yamlsafe.lookup(doc, "acquisition", "technique")
    name = technique if isinstance(technique, str) and technique in TECHNIQUES else "general"
    out = Imported(shown, name)
    for problem in schema_errors(name, doc)[:10]:
        out.notes.append(clip(f"not valid OSC-EM ({name} schema): {problem}"))
    fields(doc, out)
    out.notes = list(dict.fromkeys(out.notes))  # (a value read twice, e.g. the tilts for range and dose, is named once)
    return out


