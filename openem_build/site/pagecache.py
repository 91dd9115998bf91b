"""Each dataset's rendered landing page and files, kept in the cache folder and reused while none of their inputs
changed, so that a build after a one-entry edit renders one entry.

An entry is keyed by the hash of everything its outputs are made from: the dataset's record (whose manifest
stand-in carries the digest of the validated ``manifest.json``), its facility, its git version history, the site
settings, and the site's theme — ``mkdocs.yml``, the ``overrides/`` and ``docs/`` folders (navigation titles),
the versions of MkDocs and Material and the package's own code. The build date is not part of it: no dataset
page or file shows it (they are dated from git); a theme override that printed ``build_date_utc`` on every page
would need it added here.

Entries are plain data, never code: a header line of JSON (the labelled files, the file list) followed by the
files' bytes, compressed and checksummed. Everything is checked again when an entry is read, type by type: a
list of labelled files (three texts each, paths inside the site) that are all among the files, a non-empty list
of distinct files (a path inside the site and a byte count each) whose sizes add up to the bytes that follow, and
the landing page of the dataset the key was made for among them. Anything else is a miss, rendered again: a
cache can only ever cost time. The folder is the validation cache's (``cache.location()``, refused inside the
catalogue), under ``pages-v1/``.

Speed-up, measured (benchmarks/README.md, N = 10,000): a build after a one-entry edit takes 50.7 s instead of a
cold 91.3 s (pages from the cache 5–11 s instead of 34 s for the dataset-pages phase).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import cache
from ..render.registry import Artefact

FORMAT = 1
PAGES = f"pages-v{FORMAT}"
_MAGIC = b"openem-pages-1\n"


@dataclass(frozen=True)
class Entry:
    labelled: list[Artefact]  # without content
    files: list[tuple[str, bytes]]  # (site path, bytes)


class PageStore:
    """The cached outputs of datasets, for one build."""

    def __init__(self, folder: Path, theme: str) -> None:
        self.folder = folder
        self.theme = theme
        #: key → the id of the dataset it was made for (whose landing page an entry under it must hold)
        self._owners: dict[str, str] = {}

    def key(self, record: Any, extra: Any) -> str | None:
        """The key of a dataset's outputs: its record and ``extra`` (facility, history …) with the theme's key."""
        try:
            data = pickle.dumps((record, extra), protocol=5)
        except Exception:  # (something unpicklable: never cached)
            return None
        key = hashlib.sha256(self.theme.encode() + data).hexdigest()
        ident = getattr(record, "id", None)
        if isinstance(ident, str):
            self._owners[key] = ident
        return key

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key[2:]

    def get(self, key: str) -> Entry | None:
        """The entry under ``key``, or None when there is none or it is damaged in any way."""
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        body = raw[len(_MAGIC) + 32:]
        if not raw.startswith(_MAGIC) or hashlib.sha256(body).digest() != raw[len(_MAGIC):len(_MAGIC) + 32]:
            return None
        try:
            entry = _entry(zlib.decompress(body), self._owners.get(key))
        except Exception:  # (damaged in a way the checksum could not tell, or by other code: a miss)
            return None
        if entry is None:
            return None
        with contextlib.suppress(OSError):  # (the last use, for pruning; at most once a day)
            if time.time() - path.stat().st_mtime > cache.TOUCH_EVERY:
                os.utime(path)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        """Store ``entry`` atomically; nothing is stored when that fails."""
        meta = {"labelled": [[a.path, a.label, a.media_type] for a in entry.labelled],
                "files": [[name, len(data)] for name, data in entry.files]}
        body = zlib.compress(json.dumps(meta).encode() + b"\n" + b"".join(data for _, data in entry.files), 1)
        cache.write_entry(self._path(key), _MAGIC, body)


def _entry(data: bytes, owner: str | None) -> Entry | None:
    """The entry in the decompressed ``data`` when every part of it has the type and form it must have (see the
    module's description), else None. ``owner``: the id of the dataset whose landing page it must hold."""
    head, _, payload = data.partition(b"\n")
    meta = json.loads(head)
    if type(meta) is not dict or set(meta) != {"labelled", "files"}:
        return None
    listed, named = meta["labelled"], meta["files"]
    if type(listed) is not list or type(named) is not list or not named:
        return None
    files: list[tuple[str, bytes]] = []
    offset = 0
    for item in named:
        if type(item) is not list or len(item) != 2:
            return None
        name, size = item
        if not _safe(name) or type(size) is not int or size < 0:
            return None
        files.append((name, payload[offset:offset + size]))
        offset += size
    paths = {name for name, _ in files}
    if offset != len(payload) or len(paths) != len(files):
        return None
    if owner is not None and f"datasets/{owner}/index.html" not in paths:
        return None  # (without its landing page the dataset would be missing from the site)
    labelled = []
    for item in listed:
        if type(item) is not list or len(item) != 3 or not all(type(x) is str for x in item):
            return None
        where, label, media = item
        if where not in paths or not label:
            return None
        labelled.append(Artefact(where, "", label, media))
    return Entry(labelled, files)


def _safe(name: object) -> bool:
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))  # (no leading /: its part is "")


def open_store(root: Path, config_file: str | None, theme_dirs: list[str], docs_dir: str,
               settings: Any) -> PageStore | None:
    """The page cache for a build of the catalogue at ``root``; None when caching is off or its folder refused.

    ``settings``: whatever else every page depends on (site URL, publisher …), hashed with the theme.
    """
    if not cache.enabled():
        return None
    folder = cache.location()
    if not cache.usable(folder, root):
        return None
    from importlib import metadata

    h = hashlib.sha256()
    h.update(repr((FORMAT, cache.code_version(), settings)).encode())
    for name in ("mkdocs", "mkdocs-material"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            h.update(repr((name, metadata.version(name))).encode())
    if config_file:
        h.update(_file(Path(config_file)))
    for folder_ in [*theme_dirs, docs_dir]:
        h.update(_tree(Path(folder_)))
    store = PageStore(folder / PAGES, h.hexdigest())
    _prune(folder / PAGES)
    return store


def _file(path: Path) -> bytes:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return b"missing"


def _tree(folder: Path) -> bytes:
    h = hashlib.sha256(str(folder).encode())
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + _file(path))
    return h.digest()


def _prune(pages: Path) -> None:
    """At most once a day: entries unused for 30 days, then the oldest beyond the cache's size limit."""
    stamp = pages / ".pruned"
    now = time.time()
    with contextlib.suppress(OSError):
        if now - stamp.stat().st_mtime < cache.PRUNE_EVERY:
            return
    try:
        pages.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (now, now))
    except OSError:
        return
    cache.prune_folder(pages.parent, pages, now, family="pages-v*")
