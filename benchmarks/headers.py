"""Header extraction and preview benchmarks (run by hand: ``.venv/bin/python benchmarks/headers.py``).

1. Header extraction of a sparse multi-GB MRC file (made with truncate, so no data is written): time and
   peak memory. Target: well under a second and 100 MB.
2. Previews of a real 1024³ float32 volume (4 GiB written to the temporary directory): time and memory.
   Target: a few seconds. The file was just written, so it is read from the page cache.
3. Previews of the sparse file (volumes beyond the read budget are sampled, not read whole).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import struct
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np

from openem_build.data import headers, previews


def measure(label: str, fn: Callable[[], Any], repeat: int = 1) -> Any:
    times = []
    result = None
    tracemalloc.start()
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shown = f"{min(times) * 1e3:9.2f} ms (median {statistics.median(times) * 1e3:.2f} ms of {repeat})"
    print(f"{label:58} {shown}  peak traced {peak / 2**20:7.2f} MiB  max RSS {rss:7.1f} MiB")
    return result


def sparse_mrc(path: Path, nx: int, ny: int, nz: int) -> Path:
    """A valid MRC header for nx × ny × nz float32, then truncate: the data are a hole, nothing is written."""
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.zeros((1, 1, 1), dtype=np.float32))
        m.set_volume()
    with open(path, "r+b") as f:
        f.write(struct.pack("<iii", nx, ny, nz))
        f.seek(28)
        f.write(struct.pack("<iiifff", nx, ny, nz, nx * 1.06, ny * 1.06, nz * 1.06))  # sampling and cell
        f.truncate(1024 + nx * ny * nz * 4)
    return path


def dense_volume(path: Path, n: int) -> Path:
    """An n³ float32 map (a noisy sphere with a shell), written slab by slab."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:n, :n].astype(np.float32) - n / 2
    with mrcfile.new(path, overwrite=True) as m:  # header only; data appended below
        m.set_data(np.zeros((1, 1, 1), dtype=np.float32))
    with open(path, "r+b") as f:
        f.seek(0)
        f.write(struct.pack("<iii", n, n, n))
        f.seek(28)
        f.write(struct.pack("<iiifff", n, n, n, n * 1.06, n * 1.06, n * 1.06))
        f.seek(1024)
        slab = 32
        for z0 in range(0, n, slab):
            z = (np.arange(z0, min(n, z0 + slab), dtype=np.float32) - n / 2)[:, None, None]
            r = np.sqrt(x**2 + y**2 + z**2)
            block = (r < n / 3).astype(np.float32) + (np.abs(r - n / 2.5) < n / 60) * 2
            block += rng.normal(0, 0.5, block.shape).astype(np.float32)
            f.write(block.astype("<f4").tobytes())
        f.truncate()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write the test files (default: a temp dir)")
    parser.add_argument("--size", type=int, default=1024, help="edge of the dense test volume (default 1024)")
    parser.add_argument("--skip-dense", action="store_true", help="skip the dense volume")
    parser.add_argument("--dense", type=Path, default=None, help="use this existing dense MRC volume")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        print(f"numpy {np.__version__}, mrcfile {mrcfile.__version__}, files in {root}; max RSS after imports "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")

        sparse = sparse_mrc(root / "sparse.mrc", 4096, 4096, 1000)
        print(f"sparse MRC: 4096 × 4096 × 1000 float32, {sparse.stat().st_size / 2**30:.1f} GiB apparent, "
              f"{sparse.stat().st_blocks * 512 / 2**10:.0f} KiB on disk")
        meta = measure("header extraction, first call", lambda: headers.extract(sparse))
        measure("header extraction, 200 calls", lambda: headers.extract(sparse), repeat=200)
        assert meta.problems == (), meta.problems
        result = measure("previews of the sparse 64 GiB volume (2 GiB budget)",
                         lambda: previews.make_previews(sparse))
        print(f"  {len(result[0])} previews, {sum(len(p.png) for p in result[0]) / 1024:.0f} KiB; "
              f"{result[0][-1].alt}")

        if not args.skip_dense:
            n = args.size
            if args.dense:
                dense = args.dense
                n = headers.extract(dense).data["mrc"]["dimensions"][0]
            else:
                start = time.perf_counter()
                dense = dense_volume(root / "dense.mrc", n)
                print(f"wrote {n}³ float32 ({dense.stat().st_size / 2**30:.2f} GiB) in "
                      f"{time.perf_counter() - start:.1f} s")
            measure(f"header extraction of the {n}³ volume", lambda: headers.extract(dense), repeat=20)
            for label in ("first", "second"):
                result = measure(f"previews of the {n}³ float32 volume ({label} run)",
                                 lambda: previews.make_previews(dense))
            for p in result[0]:
                print(f"  {p.kind:10} {p.width}×{p.height} {len(p.png) / 1024:6.1f} KiB  {p.alt}")
            result = measure(f"previews of the {n}³ volume, 512 MiB read budget",
                             lambda: previews.make_previews(dense, read_budget=512 << 20))
            print(f"  {result[0][-1].alt}")


if __name__ == "__main__":
    main()
