"""Progress of the long commands (add, publish, validate, build), on a terminal, through tqdm.

A phase shows files (or items) and bytes done, the rate and the time left. Bars appear only on a terminal: in CI
(``CI`` set) or when standard error is not a terminal, nothing but the final summary is printed, so logs hold no
control characters. ``--progress`` and ``--quiet`` override the choice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

#: ``advance(files, bytes)``: that many more done (how long steps report progress).
Advance = Callable[[int, int], None]


def wanted(progress: bool | None = None, stream: TextIO | None = None) -> bool:
    """Whether to draw bars: ``progress`` when given (``--progress``/``--quiet``), else on a terminal outside CI."""
    if progress is not None:
        return progress
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")


@dataclass
class Phase:
    """One phase's counters; ``advance`` is safe to call from worker threads."""

    name: str
    files: int = 0
    bytes: int = 0
    total_files: int | None = None
    total_bytes: int | None = None
    started: float = field(default_factory=time.monotonic)
    _bar: object | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    in_bytes: bool = False  # the bar counts bytes (files in its postfix), else files

    def advance(self, files: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.files += files
            self.bytes += nbytes
            bar = self._bar
            if bar is not None:
                bar.update(nbytes if self.in_bytes else files)  # type: ignore[attr-defined]
                if self.in_bytes:
                    total = f"/{self.total_files:,}" if self.total_files is not None else ""
                    bar.set_postfix_str(f"{self.files:,}{total} files", refresh=False)  # type: ignore[attr-defined]

    ended: float | None = None

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class Progress:
    """The phases of one command; with ``enabled`` False it only counts (for the summary)."""

    def __init__(self, enabled: bool = False, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.phases: list[Phase] = []

    @contextlib.contextmanager
    def phase(self, name: str, files: int | None = None, nbytes: int | None = None, in_bytes: bool | None = None
              ) -> Iterator[Phase]:
        """A phase of ``files`` items and ``nbytes`` bytes (either may be unknown): a bar while it runs, in bytes
        when ``nbytes`` is known or ``in_bytes`` says so."""
        phase = Phase(name, total_files=files, total_bytes=nbytes, in_bytes=bool(in_bytes or nbytes is not None))
        self.phases.append(phase)
        if self.enabled:
            from tqdm import tqdm

            # (A terminal that reports no width, as a fresh pseudo-terminal does, would get empty bars.)
            size = shutil.get_terminal_size((100, 24))
            shape = {"ncols": size.columns, "nrows": size.lines}
            if phase.in_bytes:
                phase._bar = tqdm(total=nbytes, desc=name, unit="B", unit_scale=True, unit_divisor=1000,
                                  file=self.stream, leave=True, mininterval=0.2, **shape)
            else:
                phase._bar = tqdm(total=files, desc=name, unit=" files", file=self.stream, leave=True,
                                  mininterval=0.2, **shape)
        try:
            yield phase
        finally:
            phase.ended = time.monotonic()
            if phase._bar is not None:
                phase._bar.close()  # type: ignore[attr-defined]


_active: list[Progress] = []


def current() -> Progress:
    """The progress of the command running (what ``active`` set), or one that only counts."""
    return _active[-1] if _active else Progress()


@contextlib.contextmanager
def active(progress: Progress) -> Iterator[Progress]:
    """Make ``progress`` the one the library's long steps report to (checking entries, writing pages …)."""
    _active.append(progress)
    try:
        yield progress
    finally:
        _active.remove(progress)
