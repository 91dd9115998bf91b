"""`openem add` of a plain folder holds no record per file in memory (issue 23: "memory stays flat from 1,000 to
100,000 files"): the Python memory it takes at its peak is the same for n and 8n files.

Real folders, DataLad datasets and git-annex; tracemalloc counts every Python allocation (no wall clock, no
resident-set noise). Before the per-file rows went to disk, the peak grew by about 1 KB per file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

from openem_build.authoring.add import add_dataset
from openem_build.data.headers import read_headers

from .annex_helpers import catalogue, data_folder
from .conftest import ROOT

SMALL = 300
FACTOR = 8
#: Python bytes the peak may grow by per extra file (what was held per file: ~1,000 bytes).
PER_FILE = 250


def _folder(path: Path, n: int) -> Path:
    """``n`` small files, 100 to a folder (as a camera writes them), beside a few MRC maps with headers."""
    data_folder(path)
    for i in range(n):
        file = path / "frames" / f"{i // 100:03d}" / f"frame_{i:06d}.txt"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(i.to_bytes(4, "little") * 16)
    return path


def _peak(tmp: Path, n: int) -> int:
    """The largest Python memory (bytes) `openem add` of a folder of ``n`` small files took."""
    source, root = _folder(tmp / f"source-{n}", n), catalogue(tmp / f"catalogue-{n}")
    tracemalloc.start()
    try:
        result = add_dataset(root, str(source), f"memory-{n}", read_headers=read_headers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.files == sum(len(names) for _d, _s, names in os.walk(source))  # (every file, listed)
    return peak


def _peaks(tmp: Path) -> tuple[int, int]:
    large = SMALL * FACTOR
    _peak(tmp / "warm", large)  # imports, caches and the interpreter's own tables at their largest first
    return _peak(tmp / "a", SMALL), _peak(tmp / "b", large)


def test_add_memory_does_not_grow_with_the_number_of_files(tmp_path: Path):
    # (in a process of its own: threads other tests leave behind would allocate while tracemalloc counts)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "tests.test_add_memory", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    small_peak, large_peak = json.loads(proc.stdout.strip().splitlines()[-1])
    large = SMALL * FACTOR
    grown = large_peak - small_peak
    assert grown < PER_FILE * (large - SMALL), (
        f"add's peak grew by {grown:,} bytes from {SMALL:,} to {large:,} files ({grown / (large - SMALL):.0f} per "
        f"file; {small_peak:,} → {large_peak:,}): per-file records held in memory again")


if __name__ == "__main__":
    print(json.dumps(_peaks(Path(sys.argv[1]))))
