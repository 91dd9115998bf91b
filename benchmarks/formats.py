"""Header reads of every format that can be made sparse, and previews of a map (run by hand, prints numbers).

    .venv/bin/python benchmarks/formats.py                  # sparse files of ~64 GiB; a 1024³ map (4 GiB written)
    .venv/bin/python benchmarks/formats.py --scale 0.01 --size 128   # a quick check that it runs

For each format, a small and a large file of the same kind are written sparse (the data are holes: only the
headers take disk space), and a header read (``headers.extract``) of each is timed, with its peak traced Python
memory: a read whose memory does not grow with the file is O(1) in the file size.

- MRC: a volume, made with mrcfile and ``truncate``;
- TIFF movie and EER movie (tifffile, ``shape=`` without data): the data are holes, but every frame has its
  image file directory, which a header read walks (memory and time grow with the frame count, not the size);
- FEI TIFF (tifffile with an FEI_HELIOS tag), read through RosettaSciIO (lazily);
- MRC.gz cannot be sparse (gzip writes every byte); its header read decompresses only the first kilobytes, so a
  compressed stream of zeros of growing size shows the same.

Then previews of a dense ``--size``³ float32 map (written to the temporary directory) and of its gzip copy
(previews of compressed maps decompress into memory up to previews.COMPRESSED_BUDGET, so at 1024³ the gzip copy
gets a note instead), and of an LZW-compressed TIFF movie of counted frames (4096² × 100 at full scale: the sum
of its first 32 frames, decoded one at a time).
"""

from __future__ import annotations

import argparse
import gzip
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from headers import dense_volume, sparse_mrc  # noqa: E402  (benchmarks/headers.py, beside this file)

from openem_build.data import headers, previews  # noqa: E402

EER_XML = (b'<metadata><item name="exposureTime" unit="s">4.0</item>'
           b'<item name="commercialName">Falcon 4i</item></metadata>')
FEI_TAG = b"[User]\r\nDate=01/01/2026\r\n[Beam]\r\nHV=5000\r\n[Scan]\r\nPixelWidth=1e-09\r\nPixelHeight=1e-09\r\n"


def measure(label: str, fn: Callable[[], Any], repeat: int = 3) -> tuple[Any, float, float]:
    """(result, best seconds, peak traced MiB) of ``fn``, printed."""
    times, result = [], None
    tracemalloc.start()
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:62} {min(times) * 1e3:10.2f} ms  peak traced {peak:8.2f} MiB  max RSS {rss:7.1f} MiB")
    return result, min(times), peak


def tiff_movie(path: Path, frames: int, side: int, eer: bool = False) -> Path:
    tags = [(65001, 7, len(EER_XML), EER_XML, True)] if eer else []
    tifffile.imwrite(path, shape=(frames, side, side), dtype=np.uint8 if eer else np.uint16, bigtiff=True,
                     extratags=tags)
    return path


def fei_tiff(path: Path, side: int) -> Path:
    tifffile.imwrite(path, shape=(side, side), dtype=np.uint16, bigtiff=True,
                     extratags=[(34682, 2, len(FEI_TAG), FEI_TAG.decode(), True)])
    return path


def gzip_mrc(path: Path, dense: Path | None, nbytes: int) -> Path:
    """A gzip-compressed MRC: the header of a sparse volume, then ``nbytes`` of zeros (compressed)."""
    src = sparse_mrc(path.with_suffix(""), 1024, 1024, max(1, nbytes // (1024 * 1024 * 4)))
    with open(src, "rb") as f, gzip.open(path, "wb", compresslevel=1) as out:
        shutil.copyfileobj(f, out, 16 << 20)
    src.unlink()
    return path


def counted_movie(path: Path, frames: int, side: int) -> Path:
    """An LZW-compressed TIFF movie of counted frames (about 0.05 electrons a pixel a frame, as a counting
    detector records), written frame by frame."""
    rng = np.random.default_rng(0)

    def frame_iter() -> Any:
        for _ in range(frames):
            yield (rng.random((side, side), dtype=np.float32) < 0.05).astype(np.uint8)

    tifffile.imwrite(path, frame_iter(), shape=(frames, side, side), dtype=np.uint8, bigtiff=True,
                     compression="lzw")
    return path


def movie_preview(root: Path, frames: int, side: int) -> None:
    """Time and memory of the preview of a compressed movie (the sum of its first moviepreview.MOVIE_FRAMES)."""
    path = counted_movie(root / "counted.tif", frames, side)
    result, _t, _m = measure(f"preview of a {side}² × {frames} LZW TIFF movie ({path.stat().st_size / 2**20:.0f} MiB)",
                             lambda: previews.make_previews(path), repeat=1)
    print(f"  {[(p.kind, p.width, p.height, p.caption) for p in result[0]]} {result[1]}")
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor of the large files (default 1)")
    parser.add_argument("--size", type=int, default=1024, help="edge of the dense map previewed (default 1024)")
    args = parser.parse_args()
    s = args.scale
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        print(f"Python {sys.version.split()[0]}, numpy {np.__version__}, tifffile {tifffile.__version__}; "
              f"files in {root}")
        cases = [
            ("MRC volume", lambda n, p: sparse_mrc(p / "v.mrc", 4096, 4096, n), (10, max(10, int(1000 * s))),
             "sections"),
            ("TIFF movie", lambda n, p: tiff_movie(p / "m.tif", n, 4096), (10, max(10, int(2000 * s))), "frames"),
            ("EER movie", lambda n, p: tiff_movie(p / "m.eer", n, 4096, eer=True), (10, max(10, int(2000 * s))),
             "frames"),
            ("FEI TIFF (RosettaSciIO)", lambda n, p: fei_tiff(p / "f.tif", n), (1024, max(1024, int(65536 * s))),
             "px side"),
            ("MRC.gz (not sparse: zeros, compressed)", lambda n, p: gzip_mrc(p / "z.mrc.gz", None, n),
             (1 << 20, max(1 << 20, int((1 << 30) * s))), "bytes"),
        ]
        for label, make, sizes, unit in cases:
            for n in sizes:
                folder = root / f"{label[:3]}-{n}"
                folder.mkdir()
                path = make(n, folder)
                facts, _t, _m = measure(f"{label}: {n:,} {unit}, {path.stat().st_size / 2**30:.2f} GiB apparent "
                                        f"as {path.suffix}", lambda path=path: headers.extract(path))
                assert not facts.problems, facts.problems
                shutil.rmtree(folder)

        n = args.size
        start = time.perf_counter()
        dense = dense_volume(root / "dense.mrc", n)
        print(f"wrote a {n}³ float32 map ({dense.stat().st_size / 2**30:.2f} GiB) in "
              f"{time.perf_counter() - start:.1f} s")
        result, _t, _m = measure(f"previews of the {n}³ map", lambda: previews.make_previews(dense), repeat=1)
        print(f"  {[(p.kind, p.width, p.height) for p in result[0]]}")
        packed = root / "dense.map.gz"
        with open(dense, "rb") as f, gzip.open(packed, "wb", compresslevel=1) as out:
            shutil.copyfileobj(f, out, 16 << 20)
        dense.unlink()
        result, _t, _m = measure(f"previews of the {n}³ map, gzip-compressed", lambda: previews.make_previews(packed),
                                 repeat=1)
        print(f"  {[(p.kind, p.width, p.height) for p in result[0]]} {result[1]}")
        movie_preview(root, max(2, int(100 * s)), max(64, int(4096 * s)))


if __name__ == "__main__":
    main()
