"""What to send (pure): the requests that bring a DOI's metadata where it should be, the ``doi:`` line added to
a dataset.yaml, and how versions' DOIs relate (the Zenodo model)."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..infra.context import SiteContext
from ..records import doiname
from ..records.doiname import version_doi as version_doi
from ..records.history import Version, histories
from ..records.model import Dataset
from ..render import datacite
from .api import _BOOKKEEPING, COMMANDS, DOIError, Request, _doi_path

# ---------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    requests: tuple[Request, ...]
    message: str


#: Keys whose values DataCite may store in another letter case (it lower-cases DOIs and SPDX ids).
_CASELESS = {"doi", "relatedIdentifier", "rightsIdentifier", "nameIdentifier", "affiliationIdentifier",
             "publisherIdentifier", "funderIdentifier"}


def _subset(want: Any, have: Any, key: str = "") -> bool:
    """Whether ``have`` holds everything in ``want`` (the API may add keys of its own)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k), k) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(have, list) and len(want) == len(have)
                and all(_subset(w, h, key) for w, h in zip(want, have, strict=True)))
    if isinstance(want, str) and isinstance(have, int | str):
        return want.casefold() == str(have).casefold() if key in _CASELESS else want == str(have)
    return bool(want == have)


def changed_fields(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """Top-level metadata fields whose value at DataCite differs from ``want``."""
    return sorted(k for k, v in want.items() if k not in _BOOKKEEPING and not _subset(v, have.get(k)))


def _same_url(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")


def _listed_versions(current: Mapping[str, Any] | None) -> list[str]:
    """The version DOIs a concept DOI's ``current`` attributes at DataCite list (HasVersion)."""
    related = (current or {}).get("relatedIdentifiers") or []
    return [str(r.get("relatedIdentifier")) for r in related
            if isinstance(r, dict) and r.get("relationType") == "HasVersion" and r.get("relatedIdentifier")]


def plan(command: str, ctx: SiteContext, d: Dataset, doi: str, current: Mapping[str, Any] | None, *,
         force: bool = False, versions: datacite.Versions | None = None) -> Plan:
    """The requests ``command`` needs, given the DOI's ``current`` attributes at DataCite (None: unknown).

    ``versions`` relates ``doi`` to the other version DOIs (see :func:`version_links`; for the concept DOI,
    ``Versions(versions=...)``): it goes into the metadata sent. ``publish`` on a findable concept DOI that
    does not list all of ``versions.versions`` yet updates it.

    Raises DOIError for a refusal (re-pointing a registered DOI without ``force``, updating an unknown DOI).
    """
    if command not in COMMANDS:
        raise DOIError(f"unknown command '{command}': use one of {', '.join(COMMANDS)}")
    url = ctx.dataset_url(d)
    path = _doi_path(doi)

    def body(event: str | None) -> dict[str, Any]:
        return datacite.payload(ctx, d, doi=doi, event=event, url=url, versions=versions)

    if current is None:
        if command == "update":
            raise DOIError(f"{doi} is not registered at DataCite: run `openem doi reserve {d.id}` or "
                           f"`openem doi publish {d.id}` first")
        if command == "reserve":
            return Plan((Request("POST", "dois", body(None)),), f"reserved {doi} as a draft DOI")
        return Plan((Request("POST", "dois", body("publish")),), f"published {doi} (findable) → {url}")

    state = str(current.get("state") or "draft")
    registered = state in ("registered", "findable")
    repoint = registered and current.get("url") and not _same_url(current.get("url"), url)
    if repoint and not force:
        raise DOIError(f"{doi} is {state} and resolves to {current.get('url')}, not to {url}; refusing to "
                       "re-point a registered DOI — check the site URL, or pass --force to move it")

    if command == "reserve":
        return Plan((), f"{doi} exists already ({state}); nothing to do")
    if command == "publish":
        if state == "findable" and not repoint:
            listed = {v.casefold() for v in _listed_versions(current)}
            missing = [v for v in (versions.versions if versions else ()) if v.casefold() not in listed]
            if missing:
                return Plan((Request("PUT", path, body(None)),),
                            f"updated {doi} to list version DOI{'s' * (len(missing) != 1)} {', '.join(missing)}")
            return Plan((), f"{doi} is findable already; nothing to do (`openem doi update {d.id}` sends "
                            "changed metadata)")
        verb = "re-pointed" if repoint else "published"
        return Plan((Request("PUT", path, body("publish")),), f"{verb} {doi} (findable) → {url}")
    # update
    want = body(None)["data"]["attributes"]
    fields = changed_fields(want, current)
    if not fields:
        return Plan((), f"{doi}: metadata at DataCite are up to date; nothing to do")
    return Plan((Request("PUT", path, body(None)),), f"updated {doi} ({', '.join(fields)})")


# -------------------------------------------------------------------------------------------------- YAML


def insert_doi(text: str, doi: str) -> str:
    """``text`` (a dataset.yaml) with a top-level ``doi:`` line added before ``dates:``; nothing else changes.

    Raises DOIError when the file already names another DOI or the line cannot be added safely.
    """
    from ..records.yamlsafe import YamlError, parse

    if problem := doiname.syntax_problem(doi):
        raise DOIError(f"{doi!r} {problem}")
    try:
        located = parse(text)
    except YamlError as exc:
        raise DOIError(f"cannot read the YAML to add the DOI: {exc.message}") from None
    data = located.data
    if not isinstance(data, dict):
        raise DOIError("the YAML is not a mapping; add the doi line by hand")
    if "doi" in data:
        if data["doi"] == doi:
            return text
        raise DOIError(f"the file names another DOI ({data['doi']}); leaving it alone")
    newline = "\r\n" if "\r\n" in text else "\n"
    line = f"doi: {json.dumps(doi)}{newline}"
    lines = text.splitlines(keepends=True)
    index = len(lines)
    pos = located.key_positions.get(("dates",))
    if pos and pos[1] == 1:
        index = pos[0] - 1
        # Keep comments written just above `dates:` attached to it.
        while index > 0 and lines[index - 1].startswith("#"):
            index -= 1
    if index == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    new = "".join(lines[:index]) + line + "".join(lines[index:])
    try:
        check = parse(new).data
    except YamlError:
        check = None
    if check != {**data, "doi": doi}:
        raise DOIError(f'could not add the line doi: "{doi}" safely; add it by hand')
    return new


def write_doi(path: Path, doi: str) -> bool:
    """Add ``doi:`` to the dataset file at ``path``; True when the file changed."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    new = insert_doi(text, doi)
    if new == text:
        return False
    bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
    tmp = path.with_name(path.name + ".doi-tmp")
    tmp.write_bytes((bom + new).encode("utf-8"))
    os.replace(tmp, path)
    return True


# ------------------------------------------------------------------------------------------------ versions
# The Zenodo model, without new fields in dataset.yaml: the record's `doi` is the *concept* DOI (all
# versions; it resolves to the landing page, which shows the latest), and version N's DOI is derived from it
# as `<concept>.v<N>`. The list of versions comes from git history (see `run` for how they are registered).


def version_history(root: Path, d: Dataset) -> tuple[Version, ...]:
    """Every version of ``d`` in the catalogue's trusted git history (the one the site's "Versions" table and
    ``versions/*.json`` come from: see :mod:`.history`), oldest first; empty outside git."""
    return histories(root).get(d.id, ())


def version_links(concept: str, history: Sequence[Version], version: str, *,
                  registered: Collection[str] | None = None) -> datacite.Versions:
    """How ``version``'s DOI relates to the concept DOI and to its neighbours in ``history``.

    With ``registered`` (version strings whose DOI exists), the neighbours are the nearest registered
    versions before and after ``version``: a relation never names a DOI that does not exist.
    """
    names = _names(history, version)
    i = names.index(version)
    ok = [n for n in names if registered is None or n in registered]
    before = [n for n in ok if names.index(n) < i]
    after = [n for n in ok if names.index(n) > i]
    return datacite.Versions(
        concept=concept,
        previous=version_doi(concept, before[-1]) if before else None,
        newer=version_doi(concept, after[0]) if after else None)


def _names(history: Sequence[Version], version: str) -> list[str]:
    names = [v.version for v in history]
    return names if version in names else [*names, version]
