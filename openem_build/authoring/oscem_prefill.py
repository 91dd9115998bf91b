"""OSC-EM values in ``openem add``'s pre-filled ``dataset.yaml``.

An OSC-EM file given with ``openem add --oscem FILE``, or the one found among the contribution's files, is read by
:mod:`openem_build.data.oscem`. Its values fill the fields the file headers say nothing about; where the headers
state a value too, theirs is kept and the disagreement is said (:func:`merge`). :func:`annotate` writes what the
template's sections cannot take (technique, organism, authors, funding) and the notes, as comments, into the stub.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..data import oscem
from ..records.model import ManifestFile
from .prefill import Prefill

Log = Callable[[str], None]
#: Sections whose fields the template offers at the second level (``instrument.microscope``).
_SECTIONS = ("instrument", "acquisition", "dates", "sample")


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text)


def read_given(path: Path) -> oscem.Imported:
    """The OSC-EM file given on the command line; OscemError (with a located message) when unusable."""
    if not path.is_file():
        raise oscem.OscemError(f"{path}: no such file — give the OSC-EM JSON or YAML file of the data collection")
    return oscem.read(path, path.name)


def discover(content: Path | None, files: Iterable[ManifestFile], log: Log) -> oscem.Imported | None:
    """The OSC-EM file among the entry's files (JSON or YAML with only OSC-EM sections), read; None when there is
    none or more than one (said in the log). A file named as OSC-EM (``*oscem*``) that cannot be read, or one with
    OSC-EM sections that cannot be used, raises OscemError."""
    if content is None:
        return None
    found: list[tuple[str, dict[str, Any]]] = []
    for f in files:
        if not f.path.lower().endswith(oscem.SUFFIXES) or (f.size or 0) > oscem.MAX_BYTES:
            continue
        path = content / f.path
        if path.is_symlink() or not path.is_file():
            continue
        try:
            with path.open("rb") as fh:
                doc = oscem.parse(fh.read(oscem.MAX_BYTES + 1), f.path)
        except OSError:
            continue
        except oscem.OscemError:
            if "oscem" in f.name.lower():
                raise
            continue  # not OSC-EM (another JSON or YAML file of the data)
        if oscem.looks_like_oscem(doc):
            found.append((f.path, doc))
    if len(found) > 1:
        log(f"several OSC-EM files ({', '.join(p for p, _ in found[:5])}): none is used; choose one with --oscem")
        return None
    if not found:
        return None
    rel, doc = found[0]
    return oscem.convert(doc, rel)


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a != b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return not math.isclose(a, b, rel_tol=0.01, abs_tol=1e-9)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) != len(b) or any(_differs(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold().strip() != b.casefold().strip()
    return a != b


def merge(filled: Prefill, imported: oscem.Imported) -> list[str]:
    """Put the OSC-EM values into ``filled`` where the headers gave none; the disagreements, said."""
    source = f"the OSC-EM file {imported.shown}"
    notes = []
    for dotted, value in imported.values.items():
        section, _, key = dotted.partition(".")
        if section not in _SECTIONS or "." in key:
            continue
        have = filled.values.get(section, {}).get(key)
        if have is None:
            filled.put(dotted, value, [source])
        elif _differs(have, value):
            notes.append(f"{dotted}: {source} says {json.dumps(value, ensure_ascii=False)}, the file headers "
                         f"({filled.sources.get(dotted, 'the files')}) say {json.dumps(have, ensure_ascii=False)}: "
                         "the headers' value is pre-filled")
    return notes


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _replace(lines: list[str], match: str, new: list[str], after: int = 0) -> int | None:
    """Replace the first line equal to ``match`` (from ``after`` on) with ``new``; its index, or None."""
    at = next((i for i in range(after, len(lines)) if lines[i] == match), None)
    if at is not None:
        lines[at:at + 1] = new
    return at


def _person(p: dict[str, Any], mark: str) -> list[str]:
    out = [f"  - name: {_value(p['name'])}{mark}"]
    out += [f"    {k}: {_value(p[k])}" for k in ("orcid", "email") if k in p]
    for a in p.get("affiliations", []):
        out += ["    affiliations:", f"      - name: {_value(a['name'])}"]
    return out


def annotate(text: str, imported: oscem.Imported, notes: list[str]) -> str:
    """The stub ``text`` with the OSC-EM values its sections could not take, and the notes as comments."""
    mark = f"  # read from the OSC-EM file {_comment(imported.shown)} by `openem add`: check"
    lines = text.split("\n")
    v = imported.values
    if "technique" in v:
        _replace(lines, "technique: TODO", [f"technique: {_value(v['technique'])}{mark}"])
    if "sample.organism.name" in v:
        at = _replace(lines, "  # organism:", ["  organism:"])
        if at is not None:
            _replace(lines, "    # name: TODO", [f"    name: {_value(v['sample.organism.name'])}{mark}"], at)
    if imported.authors:
        start = lines.index("authors:") if "authors:" in lines else 0
        _replace(lines, "  - name: TODO", [line for p in imported.authors for line in _person(p, mark)], start)
    if imported.funding:
        at = _replace(lines, "# funding:", ["funding:"])
        if at is not None:
            _replace(lines, "  # - funder: TODO",
                     [f"  - funder: {_value(f['funder'])}{mark}" for f in imported.funding], at)
    head = [f"# OSC-EM: values marked `read from the OSC-EM file {_comment(imported.shown)}` come from it, where the "
            "file headers say nothing: check them."]
    head += [f"# Note: {_comment(n)}" for n in notes]
    head += [f"# Not taken from the OSC-EM file: {_comment(n)}" for n in imported.notes]
    lines[1:1] = head
    return "\n".join(lines)
