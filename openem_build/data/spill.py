"""The per-file records of one ``openem add`` of a plain folder, kept on disk (an I/O edge).

A session of 100,000 files (or a volume-EM stack of millions of tiles) would otherwise hold a record per file in
memory from the scan to the manifest. Here each file is one row of a scratch SQLite database in the staging
folder: what the scan found (size, modification time, inode), what the reading pass gave (MD5, header facts), and
its git-annex key and object location. Every later step reads the rows page by page in path order (a B-tree on
the path), so memory stays the same whatever the number of files; the database goes with the staging folder.

:class:`Batch` talks to a ``git annex … --batch`` command a page of lines at a time, for the same reason.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..records.filerecord import ManifestFile
from . import annex, annexfiles, annexkeys

#: Rows read or written at a time; also the lines a batch command is given at once (its answer, ~150 bytes a
#: line, stays under a pipe's 64 KiB, so writing a page and then reading its answer cannot deadlock).
PAGE = 256
#: SQLite's page cache, in KiB (its default is 2 MiB; the rows are read and written in path order).
CACHE_KIB = 1024

_SCHEMA = """
CREATE TABLE files (rel TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER, ino INTEGER, dev INTEGER,
                    kind TEXT NOT NULL, md5 TEXT, headers TEXT, key TEXT, location TEXT) WITHOUT ROWID;
CREATE INDEX files_kind ON files (kind, rel);
CREATE INDEX files_key ON files (key);
CREATE TABLE journal (rel TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ino INTEGER, md5 TEXT,
                      headers TEXT) WITHOUT ROWID;
"""


def kind_of(rel: str) -> str:
    """The file name git-annex is shown to give a key the extension this file's name gets (``x.tar.gz``)."""
    name = rel.rsplit("/", 1)[-1]
    return ".".join(("x", *name.split(".")[1:]))


def dumps_headers(headers: Mapping[str, Any] | None) -> str | None:
    return json.dumps(headers, default=_plain) if headers else None


def loads_headers(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def _number(value: object) -> object:
    """A number as it was (SQLite would turn the text "12" into 12, which the journal's check must not see)."""
    return value if isinstance(value, int | float) else None


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


class Spill:
    """The rows of one add; see the module documentation. Used from one thread."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}", "temp_store=FILE"):
            self.db.execute(f"PRAGMA {pragma}")  # (a scratch database: nothing to recover after a crash)
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """``sql`` for every row, a page per transaction."""
        page: list[Sequence[Any]] = []
        for row in rows:
            page.append(row)
            if len(page) >= PAGE * 4:
                self._write(sql, page)
                page = []
        if page:
            self._write(sql, page)

    def _write(self, sql: str, page: list[Sequence[Any]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(sql, page)

    def pages(self, columns: str, where: str = "", params: Sequence[Any] = ()) -> Iterator[list[tuple]]:
        """The rows (``rel`` first, then ``columns``) in path order, a page at a time. Each page is fetched
        whole, so the rows may be updated between pages."""
        last = ""
        cond = f"{where} AND " if where else ""
        while True:
            page = self.db.execute(f"SELECT rel, {columns} FROM files WHERE {cond}rel > ? ORDER BY rel LIMIT ?",
                                   (*params, last, PAGE)).fetchall()
            if not page:
                return
            yield page
            last = page[-1][0]

    def rows(self, columns: str, where: str = "", params: Sequence[Any] = ()) -> Iterator[tuple]:
        for page in self.pages(columns, where, params):
            yield from page

    # ------------------------------------------------------------------ the steps of an add

    def add_sources(self, sources: Iterable[Any]) -> None:
        """The files :func:`~openem_build.data.ingest.scan` found (``Source`` records)."""
        self._many("INSERT INTO files (rel, size, mtime_ns, ino, dev, kind) VALUES (?, ?, ?, ?, ?, ?)",
                   ((s.rel, s.size, s.mtime_ns, s.ino, s.dev, kind_of(s.rel)) for s in sources))

    def totals(self) -> tuple[int, int]:
        """How many files, and their bytes."""
        count, size = self.db.execute("SELECT count(*), coalesce(sum(size), 0) FROM files").fetchone()
        return count, size

    def set_reads(self, reads: Iterable[Any]) -> None:
        """The MD5 and header facts of each file (``Read`` records)."""
        self._many("UPDATE files SET md5 = ?, headers = ? WHERE rel = ?",
                   ((r.md5, dumps_headers(r.headers), r.rel) for r in reads))

    def kinds(self) -> list[str]:
        return [k for (k,) in self.db.execute("SELECT DISTINCT kind FROM files ORDER BY kind")]

    def set_keys(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """(key, location, rel) of each file."""
        self._many("UPDATE files SET key = ?, location = ? WHERE rel = ?", rows)

    def distinct_keys(self) -> Iterator[str]:
        """Each git-annex key once, sorted."""
        last = ""
        while True:
            page = [k for (k,) in self.db.execute(
                "SELECT DISTINCT key FROM files WHERE key > ? ORDER BY key LIMIT ?", (last, PAGE))]
            if not page:
                return
            yield from page
            last = page[-1]

    # ------------------------------------------------------------------ the journal of an earlier run

    def add_journal(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Entries of an interrupted run's journal (a later entry for a path wins)."""
        self._many("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?, ?, ?)",
                   ((e["rel"], _number(e.get("size")), _number(e.get("mtime_ns")), _number(e.get("ino")),
                     e["md5"] if isinstance(e.get("md5"), str) else None, dumps_headers(e.get("headers")))
                    for e in entries))

    def journalled(self, rel: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT size, mtime_ns, ino, md5, headers FROM journal WHERE rel = ?",
                              (rel,)).fetchone()
        if row is None:
            return None
        return {"size": row[0], "mtime_ns": row[1], "ino": row[2], "md5": row[3], "headers": loads_headers(row[4])}


class Listing:
    """The files of a dataset made from the rows, as its manifest lists them: in path order, read again on every
    call of :meth:`files` (see :mod:`openem_build.listing`)."""

    def __init__(self, spill: Spill, commit: str, datalad_id: str | None,
                 urls: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.spill, self.commit, self.datalad_id, self.urls = spill, commit, datalad_id, urls or {}
        self.count = self.total_size = 0
        self.sizes_complete = True
        for f in self.files():
            self.count += 1
            self.total_size += f.size or 0
            self.sizes_complete = self.sizes_complete and f.size is not None

    def files(self) -> Iterator[ManifestFile]:
        """What :func:`openem_build.data.annexfiles.list_files` gives, file for file, without holding it."""
        for rel, key, headers in self.spill.rows("key, headers"):
            if _internal(rel):  # (DataLad's and git's own files are no data)
                continue
            info = annexkeys.parse_key(key)
            meta = loads_headers(headers)
            yield ManifestFile(rel, info.size if info else None, key, info.checksums if info else (),
                               self.urls.get(key, ()), MappingProxyType(meta) if meta else None)

    def under(self, directory: str) -> Iterator[str]:
        """The paths in ``directory`` (recursively; every path for '' or '.'), in order."""
        directory = directory.strip("/")
        if directory in ("", "."):
            rows = self.spill.rows("1")
        else:  # ('0' follows '/')
            rows = self.spill.rows("1", "rel > ? AND rel < ?", (directory + "/", directory + "0"))
        return (rel for rel, _ in rows if not _internal(rel))


def _internal(rel: str) -> bool:
    """:func:`openem_build.data.annexfiles.is_internal`, with the common answer found quickly."""
    return (".git" in rel or ".datalad" in rel) and annexfiles.is_internal(rel)


class Batch:
    """A ``git annex … --batch`` command answering one line per line given, a page at a time."""

    def __init__(self, args: Sequence[str], cwd: Path) -> None:
        self.args = list(args)
        try:
            self.proc = subprocess.Popen(self.args, cwd=str(cwd), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=annex.tool_env())
        except FileNotFoundError as exc:
            raise annex.AnnexError(f"`{args[0]}` is not installed or not on PATH") from exc

    def ask(self, lines: Sequence[str]) -> list[str]:
        """The answers to ``lines`` (at most :data:`PAGE`), in order."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write("".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape"))
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._failed()
        out = []
        for _ in lines:
            answer = self.proc.stdout.readline()
            if not answer:
                self._failed()
            out.append(answer.decode("utf-8", "surrogateescape").rstrip("\n"))
        return out

    def _failed(self) -> None:
        self.close(check=False)
        err = self.proc.stderr.read().decode("utf-8", "replace").strip() if self.proc.stderr else ""
        raise annex.AnnexError(f"`{' '.join(self.args[:3])}` failed: {err or 'it stopped answering'}")

    def close(self, check: bool = True) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        self.proc.wait()
        if check and self.proc.returncode:
            self._failed()

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.proc.kill()
            self.close(check=False)


def feed(args: Sequence[str], cwd: Path, lines: Iterable[bytes]) -> None:
    """Run a command that reads ``lines`` from its standard input (streamed, not collected first)."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(list(args), cwd=str(cwd), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=err, env=annex.tool_env())
        except FileNotFoundError as exc:
            raise annex.AnnexError(f"`{args[0]}` is not installed or not on PATH") from exc
        assert proc.stdin is not None
        try:
            buffer: list[bytes] = []
            for line in lines:
                buffer.append(line)
                if len(buffer) >= PAGE:
                    proc.stdin.write(b"".join(buffer))
                    buffer = []
            proc.stdin.write(b"".join(buffer))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.wait():
            err.seek(0)
            raise annex.AnnexError(f"`{' '.join(list(args)[:3])}` failed in {cwd}: "
                                   f"{err.read().decode('utf-8', 'replace').strip()}")
