"""The version list of a landing page, as Zenodo shows it: each version's number, date, DOI and what changed,
from the catalogue's git history (:mod:`openem_build.records.history`), and the citations of this version and of all
versions.

DOIs follow :mod:`openem_build.doi`: the record's ``doi`` is the *concept* DOI (all versions) and each version's
DOI is derived from it (``<concept>.v<version>``). A version is shown with a DOI when its own record named the
concept DOI: ``openem doi publish`` writes the ``doi:`` line once it registered the DOIs, so earlier versions
(without it) have none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from ..records.doiname import version_doi
from ..records.history import Version
from ..records.model import Dataset
from ..records.validate import schema

#: Fields whose change is named by what it means to a reader rather than by the field's title.
_NAMES = {"data": "files", "dates": "dates", "version": ""}
_IGNORED = frozenset({"version", "doi"})  # (the version's number and DOI are the row's own columns)


@dataclass(frozen=True)
class Row:
    """One line of the version list."""

    version: str
    day: date
    doi: str | None
    changes: str
    current: bool
    #: The record of the version in the site (``versions/<version>.json``), when the history holds it.
    record: bool


@cache
def _title(field: str) -> str:
    if field in _NAMES:
        return _NAMES[field]
    node = schema("dataset").get("properties", {}).get(field, {})
    return str(node.get("title") or field.replace("_", " ")).lower()


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str:
    """What changed from the record ``before`` to ``after``, in words (``"First version"`` without one)."""
    if before is None:
        return "First version"
    said: list[str] = []
    data_before, data_after = before.get("data"), after.get("data")
    commit_before = data_before.get("commit") if isinstance(data_before, Mapping) else None
    commit_after = data_after.get("commit") if isinstance(data_after, Mapping) else None
    for field in sorted(set(before) | set(after)):
        if field in _IGNORED or before.get(field) == after.get(field):
            continue
        if field == "data" and commit_before != commit_after:
            said.insert(0, "new version of the files")
            continue
        said.append(_title(field))
    said = [s for s in dict.fromkeys(said) if s]
    if not said:
        return "Metadata"
    text = ", ".join(said)
    return text[0].upper() + text[1:]


def rows(d: Dataset, history: Sequence[Version]) -> list[Row]:
    """The version list, newest first; the current version is listed even when the history lacks it (an
    uncommitted edit, or a catalogue outside git)."""
    out: list[Row] = []
    previous: Mapping[str, Any] | None = None
    for v in history:
        record = v.record if isinstance(v.record, Mapping) else {}
        doi = record.get("doi") if isinstance(record.get("doi"), str) else None
        out.append(Row(v.version, v.first_seen, version_doi(doi, v.version) if doi else None,
                       changes(previous, record), v.version == d.version, True))
        previous = record
    if not any(r.current for r in out):
        day = d.dates.modified or d.dates.published
        out.append(Row(d.version, day, version_doi(d.doi, d.version) if d.doi else None,
                       changes(previous, d.raw) if previous is not None else "First version", True, False))
    return list(reversed(out))


def current_doi(d: Dataset) -> str | None:
    """The DOI of the version the page describes, when the dataset has a DOI."""
    return version_doi(d.doi, d.version) if d.doi else None
