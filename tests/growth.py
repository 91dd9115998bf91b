"""How the time of a check grows with the size of its input: a benchmark-style helper for tests that fail on
superlinear behaviour (tests/test_growth.py).

No test asserts a wall-clock time. Each measurement is the least of several repetitions, and a test compares
the time at size n with the time at size ``FACTOR`` × n: a faster or a busier machine changes both alike. Linear
work grows about ``FACTOR``-fold, quadratic work ``FACTOR``² = 64-fold; the limit, ``FACTOR`` × ``SLACK``, lies
between (with room for cache effects and noise). Measurements of both sizes alternate, so that load from other
processes falls on both, and a ratio over the limit is measured again before it counts.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

FACTOR = 8
SLACK = 2.5
#: Repetitions of the small and of the large size; the least time counts (noise only ever adds time).
REPEAT = 4
REPEAT_LARGE = 3
#: One measurement of the small size runs the work at least this long (calls are repeated to get there).
MIN_SECONDS = 0.005
#: Measurements of a ratio over the limit before it counts.
ATTEMPTS = 3

Work = Callable[[], object]


@dataclass(frozen=True)
class Growth:
    """The least time per call at two sizes."""

    small: int
    large: int
    t_small: float
    t_large: float

    @property
    def ratio(self) -> float:
        return self.t_large / max(self.t_small, 1e-9)

    def __str__(self) -> str:
        return (f"{self.t_small * 1e3:.2f} ms at {self.small:,}, {self.t_large * 1e3:.2f} ms at {self.large:,}: "
                f"{self.ratio:.1f}×")


def _once(work: Work, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        work()
    return (time.perf_counter() - start) / loops


def _loops(work: Work) -> int:
    """How many calls of ``work`` take ``MIN_SECONDS`` (its first call also warms caches up)."""
    loops = 1
    while True:
        took = _once(work, loops) * loops
        if took >= MIN_SECONDS or loops >= 1 << 16:
            return loops
        loops *= 2 if took * 4 >= MIN_SECONDS else 8


def measure(prepare: Callable[[int], Work], n: int, factor: int = FACTOR) -> Growth:
    """The time of ``prepare(n)()`` and of ``prepare(factor * n)()``. ``prepare`` builds the input of a size
    (not timed) and returns the work to time."""
    small, large = prepare(n), prepare(n * factor)
    loops = _loops(small)
    best_small = best_large = float("inf")
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # (a collection falling into one run but not another is noise)
    try:
        for i in range(max(REPEAT, REPEAT_LARGE)):
            if i < REPEAT:
                best_small = min(best_small, _once(small, loops))
            if i < REPEAT_LARGE:
                best_large = min(best_large, _once(large, max(1, loops // factor)))
    finally:
        if enabled:
            gc.enable()
    return Growth(n, n * factor, best_small, best_large)


def assert_linear(prepare: Callable[[int], Work], n: int, what: str, factor: int = FACTOR,
                  slack: float = SLACK, attempts: int = ATTEMPTS) -> Growth:
    """Fail when the time of the work ``prepare`` makes grows more than ``factor`` × ``slack``-fold from size n to
    size ``factor`` × n (the least ratio of ``attempts`` measurements counts); the measurement."""
    limit = factor * slack
    best: Growth | None = None
    for _ in range(attempts):
        found = measure(prepare, n, factor)
        if best is None or found.ratio < best.ratio:
            best = found
        if best.ratio <= limit:
            return best
    raise AssertionError(f"{what}: the time grows superlinearly ({best}; linear work would grow about {factor}×, "
                         f"the limit is {limit:g}×)")
