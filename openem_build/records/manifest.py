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

import difflib
import filecmp
import json
import os
import re
import shlex
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import compress, islice, repeat
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any

# (parse, the limits and the strict JSON reader are defined with the file format and named here too)
from ..authoring import headercategory
from .manifest_read import ManifestChanged as ManifestChanged
from .manifest_read import load_files as load_files
from .manifest_rows import MANIFEST_VERSION, field_name
from .manifest_rows import MAX_REPORTED as MAX_REPORTED
from .manifest_rows import parse as parse
from .manifest_types import MAX_SIZE as MAX_SIZE
from .manifest_types import ROW_TYPES, fits
from .model import Manifest, ManifestFile
from .problems import ERROR, WARNING, Problem, relpath
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

#: File-name endings of each image-set format (dataset.schema.json, data.image_sets[].format).
FORMAT_EXTENSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "mrc": (".mrc",), "mrcs": (".mrcs",), "map": (".map",), "rec": (".rec",), "st": (".st",),
    "tiff": (".tiff", ".tif"), "tif": (".tif", ".tiff"), "eer": (".eer",), "dm3": (".dm3",), "dm4": (".dm4",),
    "em": (".em",), "ser": (".ser",), "emd": (".emd",), "hdf5": (".h5", ".hdf5", ".hdf", ".he5"),
    "zarr": (".zarr",), "ome-zarr": (".ome.zarr",), "ome-tiff": (".ome.tif", ".ome.tiff"), "png": (".png",),
    "jpeg": (".jpg", ".jpeg"), "star": (".star",), "mdoc": (".mdoc",), "xml": (".xml",), "cbf": (".cbf",),
    "smv": (".smv", ".img"), "img": (".img",), "spe": (".spe",),
})
#: Media types of the formats that have one (IANA, or in common use); the rest are application/octet-stream.
MEDIA_TYPES: Mapping[str, str] = MappingProxyType({
    "tiff": "image/tiff", "tif": "image/tiff", "ome-tiff": "image/tiff", "png": "image/png", "jpeg": "image/jpeg",
    "xml": "application/xml", "hdf5": "application/x-hdf5", "emd": "application/x-hdf5", "star": "text/plain",
    "mdoc": "text/plain",
})
#: Formats whose unit is a folder (``x.zarr/…``) rather than a file.
FOLDER_FORMATS = frozenset({"zarr", "ome-zarr"})
_COMPRESSION = (".gz", ".bz2", ".xz", ".zst")
_GUESS_ORDER = ("ome-tiff", "ome-zarr", "zarr", "mrc", "mrcs", "map", "rec", "st", "tiff", "tif", "eer", "dm3",
                "dm4", "em", "ser", "emd", "hdf5", "png", "jpeg", "star", "mdoc", "xml", "cbf", "smv", "spe")
_EXACT = {".tif": "tif", ".tiff": "tiff", ".img": "img"}


def _plain(name: str) -> str:
    """A file name, lower-cased and without a compression suffix (``a.mrc.bz2`` → ``a.mrc``)."""
    name = name.lower()
    for suffix in _COMPRESSION:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def format_of(path: str) -> str:
    """The image-set format a file belongs to, from its name ('other' when unknown)."""
    parts = path.split("/")
    for part in parts[:-1]:
        if part.lower().endswith(".zarr"):
            return "ome-zarr" if part.lower().endswith(".ome.zarr") else "zarr"
    name = _plain(parts[-1])
    for suffix, fmt in _EXACT.items():
        if name.endswith(suffix) and not name.endswith((".ome.tif", ".ome.tiff")):
            return fmt
    for fmt in _GUESS_ORDER:
        if fmt not in FOLDER_FORMATS and name.endswith(FORMAT_EXTENSIONS[fmt]):
            return fmt
    return "other"


def media_type(path: str) -> str:
    """The media type of a data file, from its name; compressed files are what compresses them."""
    name = path.lower()
    for suffix, kind in ((".gz", "application/gzip"), (".bz2", "application/x-bzip2"), (".xz", "application/x-xz"),
                         (".zst", "application/zstd")):
        if name.endswith(suffix):
            return kind
    if name.endswith((".txt", ".md")):
        return "text/plain"
    if name.endswith(".json"):
        return "application/json"
    return MEDIA_TYPES.get(format_of(path), "application/octet-stream")


def _inside(paths: Sequence[str], directory: str, ordered: bool = False) -> list[str]:
    """The paths in ``directory`` (recursively; all for '' or '.') or equal to it, in their order. ``ordered``:
    ``paths`` are sorted, so those are found by bisection."""
    directory = directory.strip("/")
    if directory in ("", "."):
        return list(paths)
    prefix = directory + "/"
    if not ordered:
        return [p for p in paths if p == directory or p.startswith(prefix)]
    same = paths[bisect_left(paths, directory):bisect_right(paths, directory)]
    return [*same, *paths[bisect_left(paths, prefix):bisect_left(paths, directory + "0")]]  # ('0' follows '/')


#: What a file name of each format ends with, lower-cased: an extension, maybe compressed (as ``_plain``; no
#: extension ends with a compression suffix, so "ends with ext + suffix" is "_plain(name) ends with ext").
_SUFFIXES = {fmt: tuple(ext + c for ext in exts for c in ("", *_COMPRESSION))
             for fmt, exts in FORMAT_EXTENSIONS.items()}


def _members(inside: list[str], fmt: str | None) -> list[str]:
    """:func:`set_members` of the paths ``inside`` the set's directory."""
    if fmt in FOLDER_FORMATS:
        roots, under = set(), None
        for path in inside:
            if under and path.startswith(under):  # in the folder of an earlier file: its root too
                continue
            parts = path.split("/")
            for i, part in enumerate(parts[:-1]):
                if part.lower().endswith(FORMAT_EXTENSIONS[fmt]):
                    root = "/".join(parts[: i + 1])
                    roots.add(root)
                    under = root + "/"
                    break
        return sorted(roots)
    if fmt not in FORMAT_EXTENSIONS:
        return inside
    # (the suffixes hold no '/': a path ends with one if its name does)
    suffixes = _SUFFIXES[fmt]
    hits = list(map(str.endswith, inside, repeat(suffixes)))
    if not all(hits):  # names in capitals, or files of other formats
        hits = list(map(str.endswith, map(str.lower, inside), repeat(suffixes)))
    return list(compress(inside, hits))


def set_members(manifest: Manifest, directory: str, fmt: str | None) -> list[str]:
    """What an image set counts: files under ``directory`` (recursively) in format ``fmt``, or for zarr formats
    the ``*.zarr`` folders; every file under it for 'other' or an unknown format."""
    return _members(_inside(list(map(attrgetter("path"), manifest.files)), directory), fmt)


def sorted_members(paths: Sequence[str], directory: str, fmt: str | None) -> list[str]:
    """:func:`set_members` among sorted ``paths``, found by bisection (many sets cost no more than their files)."""
    return _members(_inside(paths, directory, ordered=True), fmt)


def _groups(members: Sequence[str], directory: str) -> int:
    """How many sub-folders of ``directory`` the members spread over (a tilt series per folder, say)."""
    depth = 0 if directory.strip("/") in ("", ".") else directory.strip("/").count("/") + 1
    return len({"/".join(p.split("/")[: depth + 1]) for p in members if p.count("/") > depth})


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
    head = {"manifest_version": MANIFEST_VERSION, "commit": manifest.commit, "datalad_id": manifest.datalad_id}
    yield "{\n"
    for k, v in head.items():
        yield f"  {json.dumps(k)}: {json.dumps(v)},\n"
    files = sorted(manifest.files, key=lambda f: f.path)
    if not files:
        yield '  "files": []\n}\n'
        return
    yield '  "files": [\n'
    last = len(files) - 1
    for i, f in enumerate(files):
        row = json.dumps(_file_json(f), ensure_ascii=False, separators=(", ", ": "), default=_mapping)
        yield f"    {row}{',' if i < last else ''}\n"
    yield "  ]\n}\n"


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
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.writelines(_lines(manifest))
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
    from ..data import annex

    if repo.is_symlink() or (content is not None and content.is_symlink()):
        raise annex.AnnexError(f"{repo if repo.is_symlink() else content} is a symbolic link: not read (a dataset "
                               "is a folder of its own)")
    resolved, files = annex.list_files(repo, commit)
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

def _located(path: str, doc: Located | JsonDoc, pointer: tuple[str | int, ...], message: str, hint: str,
             severity: str = ERROR, field: str | None = None) -> Problem:
    line, col = doc.where(pointer)
    return Problem(path, line, col, field_name(pointer) if field is None else field, message, hint, severity)


def check_against_yaml(doc: Located, shown: str, manifest: Manifest, mdoc: JsonDoc | None = None,
                       ident: str = "<id>") -> list[Problem]:
    """Does the manifest hold what ``dataset.yaml`` says? Image-set folders, formats, counts, data.commit."""
    d = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Problem] = []
    mshown = manifest.source or MANIFEST_FILE
    regenerate = f"if the files changed, save them in the DataLad dataset and run `openem manifest {ident}`"
    paths = list(map(attrgetter("path"), manifest.files))
    ordered = paths == sorted(paths)  # (always, for a manifest read by parse)
    sets = lookup(d, "data", "image_sets")
    top: list[str] | None = None
    for i, image_set in enumerate(sets if isinstance(sets, list) else []):
        directory, fmt, count = (lookup(image_set, k) for k in ("directory", "format", "count"))
        here = ("data", "image_sets", i)
        if not isinstance(directory, str) or is_placeholder(directory):
            continue
        inside = _inside(paths, directory, ordered)
        if not inside:
            if top is None:  # (once: the same for every image set)
                top = sorted({p.split("/", 1)[0] for p in paths if "/" in p})
            close = difflib.get_close_matches(directory.strip("/"), _candidates(top, directory.strip("/")), n=1,
                                              cutoff=0.75)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"folders in the dataset: {', '.join(top[:12])}" if top else regenerate)
            problems.append(_located(shown, doc, (*here, "directory"),
                                     f"no file listed in {mshown} lies in '{directory}'", hint))
            continue
        known_fmt = isinstance(fmt, str) and (fmt in FORMAT_EXTENSIONS)
        members = _members(inside, fmt if known_fmt else None)
        if known_fmt and not members:
            found = Counter(format_of(p) for p in inside)
            listing = ", ".join(f"{k} ×{v}" for k, v in found.most_common(4))
            problems.append(_located(shown, doc, (*here, "format"),
                                     f"'{directory}' holds no {fmt} file in {mshown} (it holds: {listing})",
                                     f"set format to what the files are, e.g. '{found.most_common(1)[0][0]}'"))
            continue
        if isinstance(count, int) and not isinstance(count, bool):
            n = len(members)
            if count != n and count != _groups(members, directory):
                what = f"{fmt} {'folder' if fmt in FOLDER_FORMATS else 'file'}" if known_fmt else "file"
                problems.append(_located(shown, doc, (*here, "count"),
                                         f"count is {count} but {mshown} lists {n} {what}{'s' * (n != 1)} in "
                                         f"'{directory}'", f"set `count: {n}`, or {regenerate}"))
    commit = lookup(d, "data", "commit")
    if isinstance(commit, str) and not is_placeholder(commit) and manifest.commit and commit != manifest.commit:
        problems.append(_located(shown, doc, ("data", "commit"),
                                 f"{commit} is not the commit {mshown} describes ({manifest.commit})",
                                 f"set `commit: \"{manifest.commit}\"`, or check out {commit} in the subdataset "
                                 f"and run `openem manifest {ident}`"))
    return problems


#: The most folder names compared with a missing image-set folder for a "did you mean" (the comparison costs
#: time in proportion to them, for each such image set).
MAX_CANDIDATES = 500


def _candidates(names: list[str], word: str) -> list[str]:
    """The names difflib could find close to ``word`` (a ratio of 0.75 needs lengths within a factor of 0.6 of each
    other), at most MAX_CANDIDATES of them, in order."""
    if len(names) <= MAX_CANDIDATES:
        return names
    n = len(word)
    return list(islice((x for x in names if 0.6 * n <= len(x) <= n / 0.6), MAX_CANDIDATES))


def check_checksums(manifest: Manifest, mdoc: JsonDoc) -> list[Problem]:
    """A warning when files have no checksum (git-annex WORM or URL keys): nobody can verify what they get."""
    if all(map(attrgetter("checksums"), manifest.files)):
        return []
    missing = [i for i, f in enumerate(manifest.files) if not f.checksums]
    first = manifest.files[missing[0]]
    line, col = mdoc.where(("files", missing[0], "path"))
    return [Problem(manifest.source or MANIFEST_FILE, line, col, f"files[{missing[0]}]",
                    f"{len(missing)} file{'s have' if len(missing) > 1 else ' has'} no checksum (e.g. '{first.path}', "
                    f"key {first.key}): users cannot verify what they download",
                    "move the content to a checksum backend in the DataLad dataset (`git annex migrate "
                    "--backend=MD5E .`), save, and run `openem manifest <id>`", WARNING)]


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
    from ..data import annex

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
        sub = annex.read_gitmodules(root).get(sub_path)
    except annex.AnnexError as exc:
        return manifest, problems + [Problem(annex.GITMODULES, 0, 0, "", str(exc), "fix the file's syntax")]
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
    pinned = annex.gitlink(root, sub_path)
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

@dataclass(frozen=True)
class Folder:
    """A folder of a manifest's file tree, for landing pages (nested ``<details>`` for large datasets)."""

    name: str
    path: str  # '' for the root
    folders: tuple[Folder, ...] = ()
    files: tuple[ManifestFile, ...] = ()
    file_count: int = 0  # all files below, recursively
    size: int = 0  # bytes below, recursively

    @property
    def depth(self) -> int:
        return 0 if not self.path else self.path.count("/") + 1


def tree(manifest: Manifest) -> Folder:
    """The manifest's files as a folder tree, sorted by name, with file counts and sizes per folder."""
    def build(path: str, files: list[ManifestFile]) -> Folder:
        depth = 0 if not path else path.count("/") + 1
        here = [f for f in files if f.path.count("/") == depth]
        below: dict[str, list[ManifestFile]] = {}
        for f in files:
            if f.path.count("/") > depth:
                below.setdefault(f.path.split("/")[depth], []).append(f)
        folders = tuple(build(f"{path}/{name}" if path else name, sub) for name, sub in sorted(below.items()))
        return Folder(path.rsplit("/", 1)[-1], path, folders, tuple(sorted(here, key=lambda f: f.path)),
                      len(files), sum(f.size or 0 for f in files))

    return build("", list(manifest.files))


_CATEGORY_WORDS = {
    "movies": "movies", "movie": "movies", "frames": "movies", "raw": "movies", "micrographs": "micrographs",
    "micrograph": "micrographs", "mics": "micrographs", "aligned": "micrographs", "motioncorr": "micrographs",
    "particles": "particles", "extract": "particles", "class-averages": "class-averages",
    "class2d": "class-averages", "classes": "class-averages", "tilt-series": "tilt-series",
    "tiltseries": "tilt-series", "tilts": "tilt-series", "tomograms": "tomograms", "tomos": "tomograms",
    "tomo": "tomograms", "tomogram": "tomograms", "subtomograms": "subtomograms", "subtomos": "subtomograms",
    "maps": "maps", "map": "maps", "reconstruction": "maps", "reconstructions": "maps", "masks": "masks",
    "mask": "masks", "diffraction": "diffraction-images", "diffraction-images": "diffraction-images",
    "volume": "volume-images", "volumes": "volume-images", "stack": "volume-images", "stacks": "volume-images",
    "montages": "montages", "montage": "montages", "segmentations": "segmentations",
    "segmentation": "segmentations", "labels": "segmentations", "spectra": "spectra", "spectrum": "spectra",
    "eels": "spectra", "edx": "spectra", "metadata": "metadata", "meta": "metadata", "mdoc": "metadata",
}
_FORMAT_CATEGORY = {"eer": "movies", "mdoc": "metadata", "xml": "metadata", "star": "metadata", "rec": "tomograms",
                    "st": "tilt-series", "map": "maps", "cbf": "diffraction-images", "smv": "diffraction-images"}


def guess_category(directory: str, fmt: str, files: Sequence[ManifestFile] = ()) -> tuple[str | None, str]:
    """(category, what it was guessed from) of a folder of files: its name, else the ``files``' header facts
    (:mod:`.headercategory`), else its format; (None, "") when unsure."""
    for part in reversed(directory.lower().replace("_", "-").split("/")):
        if part in _CATEGORY_WORDS:
            return _CATEGORY_WORDS[part], "the folder name"
    category, why = headercategory.guess((f.path, f.headers) for f in files)
    if category is not None:
        return category, why
    return _FORMAT_CATEGORY.get(fmt), "the format" if fmt in _FORMAT_CATEGORY else ""


@dataclass(frozen=True)
class GuessedSet:
    """An image set ``openem add`` proposes: one per top-level folder and file format."""

    directory: str
    format: str
    count: int
    category: str | None
    size: int = 0
    examples: tuple[str, ...] = field(default=())
    #: What the category was guessed from ("the folder name", "the file headers (3 spectra)", "the format").
    basis: str = ""


def guess_image_sets(manifest: Manifest, limit: int = 200) -> list[GuessedSet]:
    """Image sets read from the file list: files grouped by top-level folder and format, counted the way
    validation counts them. Loose files at the root of an unknown format are left out."""
    groups: dict[tuple[str, str], list[ManifestFile]] = {}
    for f in manifest.files:
        directory = f.path.split("/", 1)[0] if "/" in f.path else "."
        fmt = format_of(f.path)
        if directory == "." and fmt == "other":
            continue
        groups.setdefault((directory, fmt), []).append(f)
    known = {directory for directory, fmt in groups if fmt != "other"}
    out = []
    for (directory, fmt), files in groups.items():
        if fmt == "other" and directory in known:
            continue  # the folder's main set covers it; stray files need no set of their own
        members = set_members(manifest, directory, fmt if fmt != "other" else None)
        category, basis = guess_category(directory, fmt, files)
        out.append(GuessedSet(directory, fmt, len(members), category, sum(f.size or 0 for f in files),
                              tuple(f.path for f in files[:3]), basis))
    out.sort(key=lambda s: (-s.size, s.directory, s.format))
    return sorted(out[:limit], key=lambda s: (s.directory == ".", s.directory, s.format))


# ----------------------------------------------------------------------- reading a validated manifest again


