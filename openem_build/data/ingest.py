"""A contributor's folder into a new DataLad dataset, without a second copy of the data (an I/O edge).

Each file is read once: its checksum (hence its git-annex key) and its header facts come from one streamed pass,
in parallel up to the machine's cores, with memory bounded by the chunk size whatever the files' sizes. What was
read is written to a journal as it goes, so an interrupted ``openem add`` that is run again reads only the files
it had not finished (a file counts as read while its size, modification time and inode are unchanged).

The content then enters the dataset's annex without being copied, in the first way the file systems allow:

* ``link``: a hard link of the original (same inode: no extra space; the original's permissions are left as
  they are: git-annex is not asked to write-protect it);
* ``reflink``: a copy-on-write clone (btrfs, XFS, …), an independent file that shares the original's blocks;
* ``in-place``: nothing is placed: the dataset records the original folder as a git-annex directory special
  remote (``openem-source``, ``importtree=yes``; its folder is kept in the dataset's own configuration, never
  in its git-annex branch), and ``openem publish`` sends each file from there, checked against its key,
  straight to the store;

or, when asked for, ``copy``: a plain copy. The originals are never modified, moved or made read-only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import annex, annexkeys
from .spill import PAGE, Batch, Spill, feed

CHUNK = 8 << 20
JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
SOURCE_REMOTE = "openem-source"
MODES = ("link", "copy")  # what a contributor chooses; link falls back to reflink, then in-place
FICLONE = 0x40049409  # the Linux ioctl that makes a reflink
PRESENT_BATCH = 10_000  # keys per `git annex setpresentkey` process

HeaderReader = Callable[[str, Path], "Mapping[str, Any] | None"]


class IngestError(RuntimeError):
    """The folder cannot be added as it is; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Source:
    """One file of the contributor's folder, as found by :func:`scan`."""

    rel: str  # POSIX path relative to the folder
    size: int
    mtime_ns: int
    ino: int
    dev: int


@dataclass(frozen=True, slots=True)
class Read:
    """What one pass over a file gave."""

    rel: str
    size: int
    md5: str
    headers: Mapping[str, Any] | None


def _inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


def scan(directory: Path) -> tuple[list[Source], list[str]]:
    """The files to add (in the order of a walk of sorted folders), and what is left out on purpose (anything
    under a ``.git``, junk files).

    Refuses (IngestError) what cannot be added: links leaving the folder or to folders, broken links, special
    files, git-annex links of a dataset around the folder."""
    left: list[str] = []
    files = list(walk(directory, left))
    return files, left


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # (os.walk gives undecodable bytes of a name as lone surrogates)
        return False
    return True


def walk(directory: Path, left: list[str]) -> Iterator[Source]:
    """:func:`scan` one file at a time (what is left out is appended to ``left``); IngestError at the end."""
    bad: list[str] = []
    found = 0
    for folder, dirs, names in os.walk(directory):
        dirs.sort()
        here = Path(folder)
        for d in list(dirs):
            rel = (here / d).relative_to(directory).as_posix()
            if d == ".git" or d.startswith(".git"):
                left.append(f"{rel}/ (a git repository's own files)")
                dirs.remove(d)
            elif (here / d).is_symlink():
                bad.append(f"{rel} (a symbolic link to a folder)")
                dirs.remove(d)
        for name in sorted(names):
            path = here / name
            rel = path.relative_to(directory).as_posix()
            if not _utf8(rel):
                shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                bad.append(f"{shown} (a name that is not UTF-8 text, which a manifest cannot list: rename it)")
                continue
            if name in JUNK:
                left.append(f"{rel} (a file the operating system made)")
                continue
            if name == ".git" or name.startswith(".git"):
                left.append(f"{rel} (git's own file)")
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = path.resolve()
                if ".git/annex/objects/" in os.readlink(path):
                    bad.append(f"{rel} (a git-annex file of the DataLad dataset around this folder: pass that "
                               "dataset's root folder instead)")
                elif not target.is_file():
                    bad.append(f"{rel} (a broken symbolic link)")
                elif not _inside(target, directory):
                    bad.append(f"{rel} (a symbolic link to a file outside the folder)")
                else:
                    st = target.stat()
                    found += 1
                    yield Source(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
            elif stat.S_ISREG(st.st_mode):
                found += 1
                yield Source(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
            else:
                bad.append(f"{rel} (not a regular file)")
    if bad:
        listing = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise IngestError(f"{directory} holds what cannot be added: {listing}. Replace links by the files "
                          "themselves or remove them")
    if not found:
        raise IngestError(f"{directory} holds no files")


class Journal:
    """What was read already, one JSON line per file, appended as files are done (a torn last line is ignored).
    The lines of an earlier run are looked up in ``spill``'s copy of them, not held in memory."""

    def __init__(self, path: Path, spill: Spill) -> None:
        self.path, self.spill = path, spill
        if path.is_file():
            with open(path, encoding="utf-8", errors="replace") as lines:
                spill.add_journal(_entries(lines))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(path, "a", encoding="utf-8")  # noqa: SIM115  (closed in close())

    @staticmethod
    def _same(entry: Mapping[str, Any], src: Source) -> bool:
        return [entry.get(k) for k in ("size", "mtime_ns", "ino")] == [src.size, src.mtime_ns, src.ino]

    def get(self, src: Source) -> Read | None:
        entry = self.spill.journalled(src.rel)
        if entry is None or not self._same(entry, src) or not isinstance(entry.get("md5"), str):
            return None
        return Read(src.rel, src.size, entry["md5"], entry.get("headers"))

    def add(self, src: Source, read: Read) -> None:
        entry = {"rel": src.rel, "size": src.size, "mtime_ns": src.mtime_ns, "ino": src.ino, "md5": read.md5,
                 "headers": read.headers}
        self._out.write(json.dumps(entry, default=_plain) + "\n")
        self._out.flush()

    def close(self) -> None:
        self._out.close()


def _entries(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            entry = json.loads(line)
            if isinstance(entry, dict) and isinstance(entry["rel"], str):
                yield entry


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def read_all(directory: Path, spill: Spill, journal: Journal | None = None,
             read_headers: HeaderReader | None = None, jobs: int | None = None,
             advance: Callable[[int, int], None] | None = None) -> None:
    """Each file's md5 and header facts into ``spill``, reading every file not in ``journal`` once, ``jobs`` at a
    time (default: the CPUs); ``advance(files, bytes)`` reports progress as bytes go by."""
    known: list[Read] = []

    def todo() -> Iterator[Source]:
        # (a page of the files at a time; what the journal knows is recorded without reading)
        for page in spill.pages("size, mtime_ns, ino, dev"):
            for row in page:
                src = Source(*row)
                read = journal.get(src) if journal is not None else None
                if read is None:
                    yield src
                    continue
                known.append(read)
                if advance:
                    advance(1, src.size)
            spill.set_reads(known)
            known.clear()

    def one(src: Source) -> Read:
        path = directory / src.rel
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        # One buffer per file, no larger than the file (and a byte to see it grow): reading 100,000 small files
        # does not ask the allocator for 8 MiB each time.
        view = memoryview(bytearray(min(CHUNK, src.size + 1)))
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(view):
                digest.update(view[:n])  # (hashlib releases the GIL: threads hash in parallel)
                size += n
                if advance:
                    advance(0, n)
        if size != src.size:
            raise IngestError(f"{src.rel} changed while it was read ({src.size} bytes, then {size}): add the "
                              "folder once nothing writes to it any more")
        headers = None
        if read_headers is not None:
            with contextlib.suppress(Exception):  # a damaged file still gets its key; it just has no header facts
                headers = read_headers(src.rel, path)
        read = Read(src.rel, size, digest.hexdigest(), dict(headers) if headers else None)
        if journal is not None:
            journal.add(src, read)
        if advance:
            advance(1, 0)
        return read

    workers = max(1, jobs or os.cpu_count() or 1)
    done: list[Read] = []
    with ThreadPoolExecutor(workers) as pool:
        for read in _in_order(pool, one, todo(), 4 * workers):
            done.append(read)
            if len(done) >= PAGE:
                spill.set_reads(done)
                done.clear()
    spill.set_reads(done)


def _in_order(pool: ThreadPoolExecutor, func: Callable[[Source], Read], items: Iterable[Source],
              window: int) -> Iterator[Read]:
    """``pool.map`` with at most ``window`` calls queued: memory stays flat however many files there are."""
    pending: deque[Future[Read]] = deque()
    for item in items:
        pending.append(pool.submit(func, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def keys_of(repo: Path, spill: Spill) -> None:
    """The MD5E git-annex key of each file in ``spill``, and where the key's content goes under
    ``.git/annex/objects``, with git-annex's own rules for the extension and the hashing folders (``git annex
    examinekey --migrate-to-backend``), one git-annex call per kind of file name."""
    for kind in spill.kinds():
        with Batch(["git", "annex", "examinekey", "--batch", "--migrate-to-backend=MD5E", f"--filename={kind}",
                    "--format=${key} ${hashdirmixed}${key}/${key}\\n"], repo) as batch:
            for page in spill.pages("size, md5", "kind = ?", (kind,)):
                answers = batch.ask([f"MD5-s{size}--{md5}" for _rel, size, md5 in page])
                found = []
                for (rel, _size, _md5), answer in zip(page, answers, strict=True):
                    key, _, location = answer.partition(" ")
                    if not key or not location.endswith(f"{key}/{key}"):
                        raise annex.AnnexError(f"git annex examinekey gave no key for {rel}")
                    found.append((key, location, rel))
                spill.set_keys(found)


def _reflink(source: str, target: str) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())


def place(directory: Path, repo: Path, spill: Spill, mode: str = "link",
          advance: Callable[[int, int], None] | None = None) -> str:
    """Put each file's content into the annex of the (new) dataset at ``repo`` and its symlink into the work
    tree; returns the way used (link, reflink, in-place or copy; see the module documentation)."""
    objects = os.path.join(repo, ".git", "annex", "objects")
    used = mode if mode == "copy" else "link"
    stopped = None  # the file where a link failed: the files before it were linked
    for rel, location in spill.rows("location"):
        source = os.path.realpath(os.path.join(directory, rel))
        target = os.path.join(objects, location)
        if not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if used == "copy":
                shutil.copyfile(source, target)
            else:
                used = _link_or_clone(source, target, used)
            if used == "in-place":
                stopped = rel
                break
        if advance:
            advance(1, 0)
    _stage_links(repo, spill)
    if used == "in-place":
        for _rel, location in spill.rows("location", "rel < ?", (stopped,)):
            with contextlib.suppress(OSError):  # (what was linked before a link failed: in-place like the rest)
                os.unlink(os.path.join(objects, location))
        annex.run(["git", "annex", "initremote", SOURCE_REMOTE, "type=directory", f"directory={directory}",
                   "encryption=none", "importtree=yes", "autoenable=false"], repo)
    else:
        uuid = annex.git(repo, "config", "annex.uuid").strip()
        # (a git-annex process per PRESENT_BATCH keys: one process holds what it was given, ~0.45 KB a key)
        keys = spill.distinct_keys()
        while batch := list(itertools.islice(keys, PRESENT_BATCH)):
            feed(["git", "annex", "setpresentkey", "--batch"], repo, (f"{key} {uuid} 1\n".encode() for key in batch))
    return used


def _stage_links(repo: Path, spill: Spill) -> None:
    """Each file's git-annex symlink in the work tree, staged: what ``git annex fromkey`` does, without its
    per-file cost (minutes and hundreds of MiB at 100,000 files); git itself hashes the links."""
    if annex.git(repo, "config", "--bool", "annex.crippledfilesystem", check=False).strip() == "true":
        # (no symbolic links here: git-annex's own way makes the pointer files an adjusted branch needs)
        feed(["git", "annex", "fromkey", "--batch", "--force", "-q"], repo,
             (f"{key} {rel}\n".encode("utf-8", "surrogateescape") for rel, key in spill.rows("key")))
        return

    def links() -> Iterator[bytes]:
        made = None  # (the folder of the last link: files come in path order, a folder's together)
        for rel, location in spill.rows("location"):
            folder = os.path.join(repo, rel.rpartition("/")[0])
            if folder != made:
                os.makedirs(folder, exist_ok=True)
                made = folder
            up = "../" * rel.count("/")
            os.symlink(f"{up}.git/annex/objects/{location}", os.path.join(repo, rel))
            yield f"{rel}\0".encode("utf-8", "surrogateescape")

    # (without git-annex's filter, which git starts here and which then reads every staged file: ~1 KB each)
    feed(["git", *annex.NO_FILTER, "update-index", "--add", "-z", "--stdin"], repo, links())


def _link_or_clone(source: str, target: str, way: str) -> str:
    """Link (or reflink) ``source`` at ``target``; the way that worked, or ``in-place`` when neither can."""
    if way == "link":
        try:
            os.link(source, target)
            return "link"
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, errno.ENOTSUP):
                raise
            way = "reflink"
    if way == "reflink":
        try:
            _reflink(source, target)
            return "reflink"
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(target)
    return "in-place"


def source_copies(repo: Path, keys: Mapping[str, str]) -> dict[str, Path]:
    """key → the original file that holds its content, for a dataset made ``in-place`` (its ``openem-source``
    remote's folder); only files that are still there with the key's size."""
    # (git-annex keeps a directory remote's folder in the repository's own configuration, not in the git-annex
    # branch: the path of the contributor's folder is never published.)
    where = annex.git(repo, "config", "--get", f"remote.{SOURCE_REMOTE}.annex-directory", check=False).strip()
    if not where:
        return {}
    folder = Path(where)
    out = {}
    for rel, key in keys.items():
        path = folder / rel
        info = annexkeys.parse_key(key)
        with contextlib.suppress(OSError):
            if path.is_file() and (info is None or info.size is None or path.stat().st_size == info.size):
                out.setdefault(key, path)
    return out
