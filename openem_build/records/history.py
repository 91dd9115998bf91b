"""Version history of every dataset, read from the catalogue's git history (an I/O edge).

A dataset's version changes when its ``version:`` changes. For each version we keep the day it first
appeared, the last catalogue commit that still described it, and the record as it stood then, so that older
versions stay reachable on the site (``datasets/<id>/versions/<version>.json``) and ``openem doi`` can relate
the versions' DOIs.

What the history trusts (docs/security.md, "What the version history trusts"): a pull request controls every
commit of its branch, their dates included, but not the merge into ``main``. So:

- Only the first-parent chain of the commit being built (``HEAD``: ``main``, or the merge GitHub makes for a
  pull request's check) counts, each commit compared with its first parent: a merge counts as one change, the
  net change of its pull request, and the commits inside a merged branch are never read. A fast-forward or
  rebase merge puts a branch's own commits on that chain, so pull requests must be merged with a merge commit
  or squashed.
- A version's day is the committer date of the first-parent commit that brought it: the date the merge (or
  squash) onto ``main`` recorded. Days never go back along the chain: a commit dated before an earlier one
  (e.g. a fast-forwarded commit with a forged date) takes the earlier one's day.
- Every old record passes the checks a current one does (:func:`openem_build.records.load.load_dataset`: the schema,
  the text checks and the curator's checks, against the facilities registry of the same commit); one that does
  not is no record of a version (a warning says so).
- A version the record later left for an earlier version again (edited, then reverted) was withdrawn: it and
  the versions after it are dropped, and the earlier one continues.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import validate
from .problems import WARNING, Problem, errors
from .yamlsafe import YamlError, decode, parse

VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")
_PATH = re.compile(r"^datasets/([a-z0-9][a-z0-9-]{2,63})/dataset\.yaml$")
_FACILITIES = "datasets/facilities.yaml"
_EPOCH = date(1970, 1, 1)
#: The plugin's logger: a left-out record is reported where the build's other findings are.
log = logging.getLogger("mkdocs.plugins.openem")


@dataclass(frozen=True)
class Version:
    """One version of a dataset as the catalogue's history shows it."""

    version: str
    first_seen: date
    commit: str  # the last catalogue commit describing this version
    record: Any  # the dataset.yaml data at that commit


@dataclass(frozen=True)
class History:
    """Every dataset's versions (oldest first), and the old records left out because they fail validation."""

    versions: Mapping[str, tuple[Version, ...]] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()


def histories(root: Path) -> dict[str, tuple[Version, ...]]:
    """Every dataset's versions, oldest first; empty when ``root`` is not a git repository.

    Old records left out are logged (as information, as the plugin logs the catalogue's warnings: a build
    cannot change its history, so ``--strict`` does not fail on them)."""
    found = read(root)
    for problem in found.problems:
        log.info(problem.text())
    return dict(found.versions)


def read(root: Path) -> History:
    """The version history of the first-parent chain of ``HEAD`` (see the module's docstring)."""
    try:
        log_text = _git(root, "log", "--first-parent", "--diff-merges=first-parent", "--reverse",
                        "--format=%x00%H %cs", "--name-only", "--no-renames", "HEAD", "--",
                        "datasets/*/dataset.yaml")
    except (OSError, subprocess.SubprocessError):
        return History()
    touched: dict[str, list[tuple[str, date]]] = defaultdict(list)
    latest = _EPOCH
    for chunk in log_text.split("\x00")[1:]:
        head, *paths = chunk.strip().split("\n")
        commit, _, day = head.partition(" ")
        latest = max(latest, _day(day) or latest)  # (never earlier than what came before it on the chain)
        for path in paths:
            m = _PATH.match(path.strip())
            if m:
                touched[m.group(1)].append((commit, latest))
    if not touched:
        return History()
    requests = [(ident, commit, d) for ident, commits in sorted(touched.items()) for commit, d in commits]
    commits = sorted({commit for _, commit, _ in requests})
    try:
        blobs = _read_blobs(root, [f"{commit}:datasets/{ident}/dataset.yaml" for ident, commit, _ in requests]
                            + [f"{commit}:{_FACILITIES}" for commit in commits])
    except (OSError, subprocess.SubprocessError, ValueError):
        return History()
    registries = dict(zip(commits, blobs[len(requests):], strict=True))
    registry = _registries(registries)
    checks: dict[tuple[str, str, str], _Checked] = {}
    out: dict[str, list[Version]] = defaultdict(list)
    # (dataset, version, or the commit of a record without one): the latest such record's version and error
    rejected: dict[tuple[str, str], tuple[str | None, Problem]] = {}
    for (ident, commit, day), blob in zip(requests, blobs[:len(requests)], strict=True):
        if blob is None:
            continue  # deleted in that commit
        key = (ident, blob[0], (registries[commit] or ("",))[0])  # (the same record against the same registry)
        checked = checks.get(key) or _memo.get(key) or _check(blob[1], ident, commit, registry[commit])
        checks[key] = checked
        if checked.problem is not None:
            rejected[(ident, checked.version or commit)] = (checked.version, checked.problem)
            continue
        versions = out[ident]
        earlier = next((i for i, v in enumerate(versions) if v.version == checked.version), None)
        if earlier is None:
            versions.append(Version(checked.version, day, commit, checked.data))
        else:  # the same version, or one the record returned to: what came after it was withdrawn
            del versions[earlier + 1:]
            versions[earlier] = Version(checked.version, versions[earlier].first_seen, commit, checked.data)
    _memo.clear()
    _memo.update(checks)
    published = {(ident, v.version) for ident, versions in out.items() for v in versions}
    problems = [_left_out(version, p) for key, (version, p) in sorted(rejected.items()) if key not in published]
    return History({ident: tuple(v) for ident, v in sorted(out.items()) if v}, tuple(problems))


@dataclass(frozen=True)
class _Checked:
    """One old record: its data and version when it passes validation, else its first error."""

    version: str | None
    data: dict[str, Any] | None = None
    problem: Problem | None = None


#: The last read's checks, by (dataset, record blob, facilities blob): under `mkdocs serve`, the history of a new
#: commit checks only the records it brought.
_memo: dict[tuple[str, str, str], _Checked] = {}


def _check(blob: bytes, ident: str, commit: str, facilities: Mapping[str, Any] | None) -> _Checked:
    """One old ``dataset.yaml`` through the checks ``load_dataset`` makes of a current one (except the manifest's,
    which describe the files as they are now, not as they were)."""
    shown = f"{commit[:12]}:datasets/{ident}/dataset.yaml"  # (`git show` reads this name)
    try:
        doc = parse(decode(blob))
    except YamlError as exc:
        return _Checked(None, problem=Problem(shown, exc.line, exc.col, validate.field_path(exc.pointer),
                                              exc.message, exc.hint))
    data = doc.data
    given = data.get("version", "1.0") if isinstance(data, dict) else None
    version = given if isinstance(given, str) and VERSION.match(given) else None
    if facilities is None:
        return _Checked(version, problem=Problem(shown, 0, 0, "", f"{_FACILITIES} cannot be read at this "
                                                 "commit", "the record's facility cannot be checked"))
    problems, _flagged = validate.check_record(doc, shown, ident, facilities)
    found = errors(problems)
    if found:
        return _Checked(version, problem=found[0])
    if version is None or not isinstance(data, dict):  # (the schema's pattern is VERSION: a guard for paths)
        return _Checked(None, problem=Problem(shown, 0, 0, "version", f"{given!r} is not a version"))
    return _Checked(version, data)


def _left_out(version: str | None, p: Problem) -> Problem:
    """The warning for a left-out record: which version is not published, and the first reason."""
    reason = (f"{p.field}: " if p.field else "") + p.message
    what = f"version {version} is not published as a version of the dataset: its record at this commit" \
        if version else "this record is not published as a version of the dataset: it"
    return Problem(p.path, p.line, p.col, "", f"{what} fails validation ({reason})", p.hint, WARNING)


def _registries(blobs: Mapping[str, tuple[str, bytes] | None]) -> dict[str, Mapping[str, Any] | None]:
    """Each commit's facility ids (None where ``datasets/facilities.yaml`` cannot be read), each distinct
    file parsed once."""
    parsed: dict[str, Mapping[str, Any] | None] = {}
    out: dict[str, Mapping[str, Any] | None] = {}
    for commit, blob in blobs.items():
        if blob is None:
            out[commit] = None
            continue
        oid, raw = blob
        if oid not in parsed:
            try:
                data = parse(decode(raw)).data
            except YamlError:
                data = None
            # As load_facilities: the ids of a registry are usable even where an entry of it is not.
            parsed[oid] = {k: None for k in data} if isinstance(data, dict) and data else None
        out[commit] = parsed[oid]
    return out


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _git(root: Path, *args: str) -> str:
    # (Replacement refs would let the object database tell another history than the commits themselves.)
    return subprocess.run(["git", "--no-replace-objects", "-c", "log.showSignature=false", "-c", "core.quotePath=true",
                           "-C", str(root), *args], capture_output=True, encoding="utf-8", errors="replace",
                          check=True, timeout=300).stdout


def _read_blobs(root: Path, names: list[str]) -> list[tuple[str, bytes] | None]:
    """The object id and content of each ``commit:path`` blob, read through one ``git cat-file --batch``;
    None where there is none (deleted, or not a file)."""
    proc = subprocess.run(["git", "--no-replace-objects", "-C", str(root), "cat-file", "--batch"],
                          input="\n".join(names).encode() + b"\n", capture_output=True, check=True, timeout=300)
    data, pos, out = proc.stdout, 0, []
    for _ in names:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # "<name> missing", "<name> ambiguous"
            out.append(None)
            continue
        size = int(header[2])
        out.append((header[0].decode(), data[pos:pos + size]) if header[1] == b"blob" else None)
        pos += size + 1
    return out
