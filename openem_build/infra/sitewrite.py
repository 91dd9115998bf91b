"""Writing files into the site: a failed write names the file it failed to write.

A write that runs out of room (ENOSPC) or hits a read-only file system after its file was opened raises an
OSError without a file name; the build's one-line message (``build failed: <path>: No space left on device
(ENOSPC); <site> is as it was``) needs it, so every step writing into the site goes through here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError raised in the block without a file name is raised again naming ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc


def write_bytes(path: Path, data: bytes) -> None:
    """``path.write_bytes(data)``, naming ``path`` when it fails."""
    with naming(path):
        path.write_bytes(data)


class NamedFile:
    """A file opened for writing whose failed writes (and flush on close) name it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with naming(path):
            self._file: BinaryIO = open(path, "wb")  # noqa: SIM115  (closed by close(), as a file is)

    def write(self, data: bytes) -> int:
        with naming(self.path):
            return self._file.write(data)

    def flush(self) -> None:
        with naming(self.path):
            self._file.flush()

    def close(self) -> None:
        with naming(self.path):
            self._file.close()

    def __enter__(self) -> NamedFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
