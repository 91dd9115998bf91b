"""Spreading independent work over the CPUs: how many workers, forked workers that share this process's
heap, and pausing the garbage collector while many long-lived objects are made."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def workers() -> int:
    """How many worker processes to use: ``OPENEM_JOBS``, else the CPUs this process may use (at most 8)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    wanted = os.environ.get("OPENEM_JOBS", "")
    return max(1, int(wanted)) if wanted.isdigit() else min(cpus, 8)


def can_fork() -> bool:
    """Whether this process may fork: the platform has it, and no other thread runs (a thread holding a lock at
    the fork, as under ``mkdocs serve``, would leave the child deadlocked)."""
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused. Reading thousands of records (unpickling them, or checking their
    YAML) allocates many long-lived objects, which sets it off over and over to walk a growing heap (two thirds
    of an unpickling's time, a fifth of a check's) while it finds no cycle to free.

    Speed-up, measured (benchmarks/README.md, fifth round, N = 10,000): 10,000 cold checks with the cache off
    15.4 → 12.1 s (21 %); a build's loading phase 18 → 12 s."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_task: tuple[Callable, Any] | None = None


def fork_map(fn: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any) -> list[Any]:
    """``[fn(item, shared) for item in items]``, across this process and forked workers when that is possible.

    The workers inherit ``fn``, the items and ``shared`` (no pickling: closures and theme environments are
    fine); only the results travel back. In this process instead when there is one CPU, one item, other threads
    (forking is unsafe then, as under ``mkdocs serve``) or no processes to be had.

    Speed-up, measured (benchmarks/README.md, third and fourth rounds): the dataset pages of a cold build at
    N = 10,000 are made on both cores (34 s of wall time for ~55 s of CPU); with the build process taking its
    share, one worker fewer is also one copy fewer of the heap (all processes ≤ 838 MiB).
    """
    n = min(workers(), len(items))
    if n < 2 or not can_fork():
        return [fn(item, shared) for item in items]
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _task
    _task = (fn, (items, shared))
    # The workers share the build's large heap (records, theme) copy-on-write: frozen, their garbage collector
    # leaves it alone instead of walking it (and so copying it) again and again; nearly halves the time per page.
    gc.freeze()
    try:
        # This process takes every n-th item itself: one worker fewer, so one copy fewer of the heap's pages
        # that a worker reads (CPython's reference counts write to every object read, and so copy its page).
        mine = range(n - 1, len(items), n)
        theirs = [i for i in range(len(items)) if i % n != n - 1]
        with ProcessPoolExecutor(n - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            pending = pool.map(_run, theirs)
            done = {i: fn(items[i], shared) for i in mine}
            done.update(zip(theirs, pending, strict=True))
        return [done[i] for i in range(len(items))]
    except (OSError, BrokenProcessPool):
        return [fn(item, shared) for item in items]
    finally:
        _task = None
        gc.unfreeze()


def _run(index: int) -> Any:
    assert _task is not None
    fn, (items, shared) = _task
    return fn(items[index], shared)
