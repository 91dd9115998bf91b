"""File manifests: ``datasets/<id>/manifest.json`` lists a dataset's files at one commit of its DataLad dataset.

The build reads the manifest (offline, no data needed); ``openem manifest <id>`` and ``openem add`` write it from
git-annex metadata (see :mod:`openem_build.data.annex`). Validation checks it three ways:

* the file itself (JSON, the format of ``schema/manifest.schema.json``, one entry per path, keys that agree with
  the sizes and checksums given),
* against the entry's ``dataset.yaml`` (image-set folders hold files of the declared format, counts match,
  ``data.commit`` is the commit the manifest describes),
* against the catalogue's git repository (the subdataset ``datasets/<id>/data`` is registered with the URL of
  ``data.datalad`` and pinned at the manifest's commit) and, when that subdataset is installed, against its
  actual file list: a stale manifest is an error.

The file itself is read by :mod:`.manifest_rows` (the compiled msgspec types of :mod:`.manifest_types`; strict
JSON and positions from :mod:`.strictjson`), whose names this module gives too. Reading, comparing and the
YAML checks are pure; only :func:`from_repo`, :func:`read`, :func:`write` and :func:`check_entry` touch the disk.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

# (parse, the limits and the strict JSON reader are defined with the file format and named here too)
from .fileformats import _COMPRESSION as _COMPRESSION
from .fileformats import _EXACT as _EXACT
from .fileformats import _GUESS_ORDER as _GUESS_ORDER
from .fileformats import _SUFFIXES as _SUFFIXES
from .fileformats import FOLDER_FORMATS as FOLDER_FORMATS
from .fileformats import FORMAT_EXTENSIONS as FORMAT_EXTENSIONS
from .fileformats import MEDIA_TYPES as MEDIA_TYPES
from .fileformats import _groups as _groups
from .fileformats import _inside as _inside
from .fileformats import _members as _members
from .fileformats import _plain as _plain
from .fileformats import format_of as format_of
from .fileformats import is_member as is_member
from .fileformats import media_type as media_type
from .fileformats import set_members as set_members
from .fileformats import sorted_members as sorted_members
from .manifest_read import ManifestChanged as ManifestChanged
from .manifest_read import load_files as load_files
from .manifest_rows import MANIFEST_VERSION
from .manifest_rows import MAX_REPORTED as MAX_REPORTED
from .manifest_rows import parse as parse
from .manifest_types import MAX_SIZE as MAX_SIZE
from .manifest_types import ROW_TYPES, fits
from .manifest_yaml import MAX_CANDIDATES as MAX_CANDIDATES
from .manifest_yaml import _candidates as _candidates
from .manifest_yaml import _located as _located
from .manifest_yaml import check_against_yaml as check_against_yaml
from .manifest_yaml import check_checksums as check_checksums
from .model import Manifest, ManifestFile
from .problems import WARNING, Problem, relpath
from .setguess import _CATEGORY_WORDS as _CATEGORY_WORDS
from .setguess import _FORMAT_CATEGORY as _FORMAT_CATEGORY
from .setguess import Folder as Folder
from .setguess import GuessedSet as GuessedSet
from .setguess import guess_category as guess_category
from .setguess import guess_image_sets as guess_image_sets
from .setguess import tree as tree
from .strictjson import MAX_DEPTH as MAX_DEPTH
from .strictjson import JsonDoc
from .strictjson import load_json as load_json
from .validate import is_placeholder
from .yamlsafe import Located, lookup

MANIFEST_FILE = "manifest.json"
SUBDATASET = "data"  # datasets/<id>/data
MAX_BYTES = 512 << 20
#: Severity of "this entry has neither a manifest nor a subdataset" (its page cannot list files); None: silent.
MISSING_DATA_SEVERITY: str | None = WARNING

HeaderReader = Callable[[str, Path], "Mapping[str, Any] | None"]

# ------------------------------------------------------------------------------------------ formats


# ------------------------------------------------------------------------------------------ the file format

def _file_json(f: ManifestFile) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path, "size": f.size, "key": f.key}
    out.update(f.checksums)
    out["urls"] = list(f.urls)
    if f.headers:
        out["headers"] = f.headers
    return out


def _mapping(value: object) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} cannot be written to a manifest")


def dumps(manifest: Manifest) -> str:
    """The canonical text of ``manifest.json``: stable key order, one file per line (readable diffs)."""
    return "".join(_lines(manifest))


def _lines(manifest: Manifest) -> Iterator[str]:
    """:func:`dumps` line by line (a manifest of 100,000 files is written without its whole text in memory)."""
    return _sorted_lines(manifest.commit, manifest.datalad_id, sorted(manifest.files, key=lambda f: f.path))


def _sorted_lines(commit: str | None, datalad_id: str | None, files: Iterable[ManifestFile]) -> Iterator[str]:
    """:func:`_lines` of files given in path order (read one at a time: none is held)."""
    head = {"manifest_version": MANIFEST_VERSION, "commit": commit, "datalad_id": datalad_id}
    yield "{\n"
    for k, v in head.items():
        yield f"  {json.dumps(k)}: {json.dumps(v)},\n"
    rows = iter(files)
    f = next(rows, None)
    if f is None:
        yield '  "files": []\n}\n'
        return
    yield '  "files": [\n'
    for after in rows:  # (each row but the last ends with a comma)
        yield f"    {_row(f)},\n"
        f = after
    yield f"    {_row(f)}\n"
    yield "  ]\n}\n"


def _row(f: ManifestFile) -> str:
    return json.dumps(_file_json(f), ensure_ascii=False, separators=(", ", ": "), default=_mapping)


def _safe_path(path: str) -> bool:
    """Whether ``path`` is a relative path inside a dataset, as a manifest row may list it."""
    return fits(path, ROW_TYPES["path"])


def read(path: Path, root: Path) -> tuple[Manifest | None, JsonDoc | None, list[Problem]]:
    """Read and check ``manifest.json`` at ``path`` (shown relative to ``root`` in problems)."""
    return _read(path, relpath(path, root))


def _read(path: Path, shown: str) -> tuple[Manifest | None, JsonDoc | None, list[Problem]]:
    if path.is_symlink() or not path.is_file():
        return None, None, [Problem(shown, 0, 0, "", "must be a regular file", "regenerate it with "
                                    "`openem manifest <id>`")]
    size = path.stat().st_size
    if size > MAX_BYTES:
        return None, None, [Problem(shown, 0, 0, "", f"is {size} bytes, more than the limit of {MAX_BYTES}",
                                    "split the dataset into several entries")]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, None, [Problem(shown, 0, 0, "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                    "regenerate it with `openem manifest <id>`")]
    return parse(text, shown)


def write(path: Path, manifest: Manifest) -> bool:
    """Write ``manifest`` atomically; returns whether the file changed."""
    return _write(path, _lines(manifest))


def write_sorted(path: Path, commit: str | None, datalad_id: str | None, files: Iterable[ManifestFile]) -> bool:
    """:func:`write` of a manifest whose ``files`` come in path order, one at a time (none is held)."""
    return _write(path, _sorted_lines(commit, datalad_id, files))


def _write(path: Path, lines: Iterable[str]) -> bool:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.writelines(lines)
    if path.is_file() and filecmp.cmp(tmp, path, shallow=False):
        tmp.unlink()
        return False
    os.replace(tmp, path)
    return True


# ------------------------------------------------------------------------------------------ from a repository

def from_repo(repo: Path, commit: str = "HEAD", *, read_headers: HeaderReader | None = None,
              content: Path | None = None, previous: Manifest | None = None) -> Manifest:
    """The manifest of ``commit`` of the DataLad dataset at ``repo``, from git-annex metadata only.

    With ``read_headers(path, file)``, header facts are read from files whose content is present in ``content``
    (default: ``repo``; only when ``commit`` is the checked-out one) and lies there or in the dataset's git-annex
    objects: a symbolic link out is not followed, and neither ``repo`` nor ``content`` may be a link. Headers of
    ``previous`` are kept for files whose key did not change. Raises :class:`~openem_build.data.annex.AnnexError`.
    """
    from ..data import annex, annexfiles

    if repo.is_symlink() or (content is not None and content.is_symlink()):
        raise annex.AnnexError(f"{repo if repo.is_symlink() else content} is a symbolic link: not read (a dataset "
                               "is a folder of its own)")
    resolved, files = annexfiles.list_files(repo, commit)
    kept = {f.key: f.headers for f in previous.files if f.key and f.headers} if previous else {}
    base = content or repo
    readable = read_headers is not None and resolved == annex.head(repo)
    roots = content_roots(base) if readable else ()
    out = []
    for f in files:
        headers = None
        local = base / f.path
        # (a file whose content lies outside the dataset, through a symbolic link, is not read)
        if readable and confined(local, roots):
            try:
                headers = read_headers(f.path, local)  # type: ignore[misc]
            except Exception:  # a damaged file must not stop the listing; its row simply has no headers
                headers = None
        if headers is None and f.key in kept:
            headers = kept[f.key]
        out.append(replace(f, headers=MappingProxyType(dict(headers)) if headers else None))
    return Manifest(tuple(out), resolved, annex.datalad_id(repo, resolved))


# ------------------------------------------------------------------------------------------ comparing

@dataclass(frozen=True)
class Difference:
    """One way two manifests differ. ``kind``: commit, id, missing, extra, content or urls."""

    kind: str
    path: str
    text: str


def compare(recorded: Manifest, actual: Manifest) -> list[Difference]:
    """How ``recorded`` (the committed manifest) differs from ``actual`` (freshly listed); empty when equal.

    Headers are not compared (they are extracted facts, not part of the file list)."""
    out: list[Difference] = []
    if recorded.commit != actual.commit:
        out.append(Difference("commit", "", f"it describes commit {recorded.commit} but the dataset is at "
                                            f"{actual.commit}"))
    if actual.datalad_id and recorded.datalad_id != actual.datalad_id:
        out.append(Difference("id", "", f"datalad_id is {recorded.datalad_id} but the dataset's id is "
                                        f"{actual.datalad_id}"))
    old, new = recorded.by_path, actual.by_path
    for path in sorted(set(new) - set(old)):
        out.append(Difference("missing", path, f"'{path}' is in the dataset but not in the manifest"))
    for path in sorted(set(old) - set(new)):
        out.append(Difference("extra", path, f"'{path}' is in the manifest but not in the dataset"))
    for path in sorted(set(old) & set(new)):
        a, b = old[path], new[path]
        if (a.key, a.size, a.checksums) != (b.key, b.size, b.checksums):
            out.append(Difference("content", path, f"'{path}' has different content (key {b.key or 'in git'})"))
        elif a.urls != b.urls:
            out.append(Difference("urls", path, f"'{path}' has other URLs ({len(b.urls)} known, "
                                                f"{len(a.urls)} listed)"))
    return out


# ------------------------------------------------------------------------------------------ against dataset.yaml


def datalad_commands(url: str, ident: str, paths: Sequence[str] = ()) -> list[str]:
    """The shell commands a landing page shows: clone the DataLad dataset, then get all or some files.

    Paths are shell-quoted; the page must still HTML-escape the text."""
    q = shlex.quote
    return [f"datalad clone {q(url)} {q(ident)}", f"cd {q(ident)}",
            "datalad get " + (" ".join(q(p) for p in paths) if paths else ".")]


# ------------------------------------------------------------------------------------------ against the catalogue

def _ria_id(url: str | None) -> str | None:
    """The dataset id of a ``ria+…#<id>`` clone URL."""
    m = re.fullmatch(r"ria\+[^#]+#([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", url or "")
    return m[1] if m else None


def check_entry(folder: Path, root: Path, doc: Located, shown: str) -> tuple[Manifest | None, list[Problem]]:
    """Every manifest and subdataset check of the entry in ``folder`` (``datasets/<id>``).

    Returns the manifest (None when absent or invalid) and the problems, located in ``dataset.yaml``,
    ``manifest.json`` or ``.gitmodules``.
    """
    from ..data import annex, submodules

    ident = folder.name
    mpath = folder / MANIFEST_FILE
    mshown = relpath(mpath, root)
    problems: list[Problem] = []
    manifest = mdoc = None
    present = mpath.exists() or mpath.is_symlink()
    if present:
        manifest, mdoc, problems = _read(mpath, mshown)
        if manifest is not None and mdoc is not None:
            problems += check_against_yaml(doc, shown, manifest, mdoc, ident)
            problems += check_checksums(manifest, mdoc)
    problems += check_links(folder, root)
    url = lookup(doc.data, "data", "datalad")
    url = url if isinstance(url, str) and not is_placeholder(url) else None
    ria = _ria_id(url)
    if manifest is not None and ria and manifest.datalad_id and ria != manifest.datalad_id:
        problems.append(_located(shown, doc, ("data", "datalad"),
                                 f"names the DataLad dataset {ria}, but {mshown} lists the files of "
                                 f"{manifest.datalad_id}", f"run `openem publish {ident}` to point the entry at its "
                                 "dataset, or `openem manifest` if the subdataset was replaced"))
    if manifest is not None and lookup(doc.data, "data", "datalad") is None and manifest.files:
        problems.append(_located(shown, doc, ("data",),
                                 f"{mshown} lists {len(manifest.files)} files, but data.datalad does not say where "
                                 "they are: readers cannot get them", f"publish them with `openem publish {ident}` "
                                 "(or give the DataLad dataset's clone URL)", WARNING, field="data.datalad"))
    if not annex.is_repo(root):
        # Outside a git work tree (a plain copy of the catalogue) registration cannot be checked.
        return manifest, problems
    sub_path = f"{relpath(folder, root)}/{SUBDATASET}"
    try:
        sub = submodules.read_gitmodules(root).get(sub_path)
    except annex.AnnexError as exc:
        return manifest, problems + [Problem(submodules.GITMODULES, 0, 0, "", str(exc), "fix the file's syntax")]
    register = (f"register it with `datalad clone -d . {url} {sub_path}`" if url else
                f"register it with `openem add <url> --id {ident}`")
    if not present and sub is None:
        if MISSING_DATA_SEVERITY and url:
            problems.append(_located(shown, doc, ("data", "datalad"),
                                     f"no {MANIFEST_FILE} and no subdataset {sub_path}: the page cannot list "
                                     "files or offer `datalad get`", f"{register}, then run `openem manifest "
                                     f"{ident}`", MISSING_DATA_SEVERITY))
        return manifest, problems
    if not present:
        problems.append(Problem(mshown, 0, 0, "", f"missing: {sub_path} is a registered subdataset but the entry "
                                "has no manifest", f"install it (`datalad get -n {sub_path}`) and run "
                                f"`openem manifest {ident}`"))
    if sub is None:
        problems.append(_located(shown, doc, ("data", "datalad"),
                                 f"missing subdataset: {sub_path} is not registered in .gitmodules, so "
                                 f"`datalad get` cannot deliver the files {mshown} lists", register))
        return manifest, problems
    if url and url not in (sub.url, sub.datalad_url):
        recorded = sub.datalad_url or sub.url
        problems.append(_located(shown, doc, ("data", "datalad"),
                                 f"differs from the URL .gitmodules records for {sub_path} ({recorded})",
                                 f"make them the same, e.g. `git config -f .gitmodules submodule.{sub.name}."
                                 f"{'datalad-url' if sub.datalad_url else 'url'} {url}` (`openem publish {ident}` "
                                 "records its store's URL in both)"))
    if ria and sub.datalad_id and ria != sub.datalad_id:
        problems.append(_located(shown, doc, ("data", "datalad"),
                                 f"names the DataLad dataset {ria}, but .gitmodules records {sub.datalad_id} for "
                                 f"{sub_path}", f"run `openem publish {ident}` to point the entry at its dataset"))
    pinned = submodules.gitlink(root, sub_path)
    if pinned is None:
        problems.append(_located(shown, doc, ("data", "datalad"),
                                 f"missing subdataset: .gitmodules lists {sub_path} but the catalogue does not "
                                 "record it", f"{register}, or `datalad save -d . {sub_path}` if it is there"))
    if manifest is None or mdoc is None:
        return manifest, problems
    fix = (f"run `openem manifest {ident}` (install the subdataset first with `datalad get -n {sub_path}`) and "
           f"commit it together with the subdataset: `datalad save -d . {relpath(folder, root)}`")
    if pinned is not None and pinned != manifest.commit:
        problems.append(_located(mshown, mdoc, ("commit",),
                                 f"stale manifest: it describes commit {manifest.commit} but the catalogue "
                                 f"records {sub_path} at {pinned}", fix, field="commit"))
    if sub.datalad_id and manifest.datalad_id and sub.datalad_id != manifest.datalad_id:
        problems.append(_located(mshown, mdoc, ("datalad_id",),
                                 f"datalad_id differs from the one .gitmodules records for {sub_path} "
                                 f"({sub.datalad_id})", "was the subdataset replaced? " + fix, field="datalad_id"))
    installed = root / sub_path
    if not installed.is_symlink() and installed.is_dir() and annex.is_repo(installed):
        try:
            actual = from_repo(installed)
        except annex.AnnexError as exc:
            problems.append(Problem(mshown, 0, 0, "", f"cannot list the files of {sub_path}: {exc}",
                                    "check the subdataset with `datalad status`"))
            return manifest, problems
        diffs = compare(manifest, actual)
        if any(d.kind == "commit" for d in diffs):
            if actual.commit != pinned:
                problems.append(_located(mshown, mdoc, ("commit",),
                                         f"stale manifest: it describes commit {manifest.commit} but the installed "
                                         f"subdataset {sub_path} is at {actual.commit}", fix, field="commit"))
            return manifest, problems
        serious = [d for d in diffs if d.kind != "urls"]
        if serious:
            more = f" (and {len(serious) - 1} more differences)" if len(serious) > 1 else ""
            problems.append(_located(mshown, mdoc, ("files",),
                                     f"stale manifest: it does not match {sub_path} at commit {manifest.commit}: "
                                     f"{serious[0].text}{more}", fix, field="files"))
        elif diffs:
            problems.append(_located(mshown, mdoc, ("files",),
                                     f"the URLs in the manifest are out of date for {len(diffs)} "
                                     f"file{'s' * (len(diffs) != 1)} ({diffs[0].text})",
                                     f"run `openem manifest {ident}` to list the download URLs git-annex knows",
                                     WARNING, field="files"))
    return manifest, problems


def check_links(folder: Path, root: Path) -> list[Problem]:
    """Symbolic links in an entry's folder that could make the checks or the build read outside the catalogue:
    ``data`` (the subdataset, always a folder of its own) as a link anywhere, and any other link that leads
    outside the catalogue."""
    out: list[Problem] = []
    top = os.path.realpath(root)
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if not entry.is_symlink():
            continue
        shown = relpath(Path(entry.path), root)
        if entry.name == SUBDATASET:
            out.append(Problem(shown, 0, 0, "", "is a symbolic link: the subdataset must be a folder of the "
                               "catalogue (validation and `openem manifest` would read whatever it points to)",
                               f"remove the link and register the subdataset with `datalad clone -d . <url> "
                               f"{shown}`"))
        elif entry.name not in _READ_CHECKED and not within(os.path.realpath(entry.path), top):
            out.append(Problem(shown, 0, 0, "", "is a symbolic link to a place outside the catalogue",
                               "commit the file itself, or remove the link"))
    return out


#: Files whose reader refuses a link itself (with its own message): not reported twice.
_READ_CHECKED = frozenset({"dataset.yaml", MANIFEST_FILE, "previews.json"})


def within(path: str, top: str) -> bool:
    """Whether the real path ``path`` is ``top`` or lies below it (both resolved)."""
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def content_roots(base: Path) -> tuple[str, ...]:
    """Where the content of the files under ``base`` may really lie: ``base`` and, for a git repository, its
    git-annex object store (outside ``base`` when the git folder is kept elsewhere)."""
    from ..data import annex

    roots = [os.path.realpath(base)]
    if annex.is_repo(base):
        common = annex.git(base, "rev-parse", "--path-format=absolute", "--git-common-dir", check=False).strip()
        if common:
            roots.append(os.path.realpath(os.path.join(common, "annex", "objects")))
    return tuple(roots)


def confined(path: Path, roots: Sequence[str]) -> bool:
    """Whether ``path`` is a regular file whose content lies inside one of ``roots`` (no symbolic link out)."""
    real = os.path.realpath(path)
    return any(within(real, r) for r in roots) and os.path.isfile(real)


# ------------------------------------------------------------------------------------------ for pages and stubs


# ----------------------------------------------------------------------- reading a validated manifest again


