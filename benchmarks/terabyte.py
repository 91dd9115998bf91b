"""Terabyte contributions, measured: `openem add` and `openem publish` of a folder of large sparse files and many
small ones (run by hand, not by `make test`; it needs a few GB of disk and tens of minutes).

    .venv/bin/python benchmarks/terabyte.py [--sparse-gib 200] [--small 100000] [--work DIR] [--memory]
        [--memory-sizes 1000,10000,100000]

(``--sparse-gib 0 --small 0 --memory`` measures only the memory.)

For each command it prints the wall time, the bytes the command read (``rchar`` of its process: the hashing and
uploads run in it), its peak memory (the largest process, git-annex's included), the extra disk it took, and
the checksum rate beside ``sha256sum``'s on the same files. ``--memory`` adds the peak memory of `openem add`
for 1,000, 10,000 and 100,000 small files (the largest process, and the `openem` process itself). Nothing here
is a test: the numbers go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests.annex_helpers import catalogue  # noqa: E402  (a catalogue that is a DataLad dataset)

# The command runs in a child that records its own read counters when it ends.
CHILD = """
import atexit, sys
def report():
    with open("/proc/self/io") as f, open("/proc/self/status") as g, open(sys.argv[1], "w") as out:
        out.write(f.read() + g.read())
atexit.register(report)
from openem_build.cli import main
code = main(sys.argv[2:])
sys.exit(code)
"""


def make_folder(folder: Path, sparse_gib: float, small: int, sparse_files: int = 20) -> int:
    """Sparse files of ``sparse_gib`` GiB in all and ``small`` 4 KiB files; returns the bytes."""
    total = 0
    each = int(sparse_gib * (1 << 30) / sparse_files) if sparse_gib else 0
    for i in range(sparse_files if each else 0):
        path = folder / "movies" / f"movie_{i:04d}.tiff"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(f"header {i}".encode())
            f.truncate(each)
        total += each
    for i in range(small):
        path = folder / "frames" / f"{i // 10000:02d}" / f"{i // 100 % 100:02d}" / f"frame_{i:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(64) * 64)
        total += 4096
    return total


def measure(args: list[str], cwd: Path, disk: Path) -> dict:
    """Run `openem ARGS`; its wall time, bytes read, peak memory and the disk space it took."""
    with tempfile.NamedTemporaryFile("r", suffix=".io") as io:
        free = shutil.disk_usage(disk).free
        start = time.monotonic()
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "CI": "true"}
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.Popen([sys.executable, "-c", CHILD, io.name, *args], cwd=cwd, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, text=True)
            _pid, status, usage = os.wait4(proc.pid, 0)  # (its own peak, and its waited children's)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - start
            out.seek(0)
            text = out.read()
        lines = Path(io.name).read_text().splitlines()
        counters = {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if proc.returncode:
        sys.exit(f"openem {' '.join(args)} failed:\n{text}")
    reading = re.search(r"read [\d,]+ files, .* in ([\d.]+) s", text)
    return {"wall_s": wall, "read_bytes": int(counters.get("rchar", 0)), "disk_read": int(counters.get(
        "read_bytes", 0)), "peak_mib": usage.ru_maxrss / 1024, "extra_disk": free - shutil.disk_usage(disk).free,
        "reading_s": float(reading[1]) if reading else None,
        "own_mib": int(counters.get("VmHWM", "0 kB").split()[0]) / 1024}


def sha256sum_rate(folder: Path, total: int) -> float:
    start = time.monotonic()
    subprocess.run(f"find {folder} -type f -print0 | xargs -0 -P1 -n 1000 sha256sum > /dev/null", shell=True,
                   check=True)
    return total / (time.monotonic() - start)


def run(work: Path, sparse_gib: float, small: int) -> None:
    folder, cat = work / "session", work / "catalogue"
    total = make_folder(folder, sparse_gib, small)
    root = catalogue(cat)
    (root / "mkdocs.yml").write_text("site_name: b\nsite_url: https://b.example.org/\nplugins:\n  - openem:\n"
                                     "      store: store\n")
    files = sparse_gib and 20 or 0
    print(f"folder: {files} sparse files ({sparse_gib:g} GiB) and {small:,} files of 4 KiB: {total:,} bytes")
    add = measure(["--root", str(root), "add", str(folder), "--id", "bench-terabyte"], root, root)
    rate = total / (add["reading_s"] or add["wall_s"])  # (the checksum pass of add: its "reading" phase)
    pub = measure(["--root", str(root), "publish", "bench-terabyte", "--verify", "presence", "--no-commit"], root,
                  root)
    sha = sha256sum_rate(folder, total)
    print(f"{'command':<10} {'wall s':>8} {'read GiB':>9} {'peak MiB':>9} {'extra disk MiB':>15}")
    for name, m in (("add", add), ("publish", pub)):
        print(f"{name:<10} {m['wall_s']:>8.1f} {m['read_bytes'] / (1 << 30):>9.2f} {m['peak_mib']:>9.0f} "
              f"{m['extra_disk'] / (1 << 20):>15.1f}")
    print(f"checksums: add's reading phase {rate / 1e6:.0f} MB/s ({add['reading_s']} s); sha256sum "
          f"{sha / 1e6:.0f} MB/s on the same files: ratio {rate / sha:.2f}")


def memory(work: Path, sizes: list[int]) -> None:
    print(f"{'small files':>12} {'add wall s':>11} {'peak MiB':>9} {'openem MiB':>11}")
    for n in sizes:
        here = work / f"m{n}"
        make_folder(here / "session", 0, n)
        root = catalogue(here / "catalogue")
        m = measure(["--root", str(root), "add", str(here / "session"), "--id", "bench-memory"], root, root)
        print(f"{n:>12,} {m['wall_s']:>11.1f} {m['peak_mib']:>9.0f} {m['own_mib']:>11.0f}")
        shutil.rmtree(here, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sparse-gib", type=float, default=200)
    p.add_argument("--small", type=int, default=100_000)
    p.add_argument("--work", help="working folder (default: a temporary one, deleted at the end)")
    p.add_argument("--memory", action="store_true", help="also: peak memory at 1,000, 10,000 and 100,000 files")
    p.add_argument("--memory-sizes", default="1000,10000,100000", help="the numbers of files --memory adds "
                   "(comma-separated; e.g. 1000,10000 for a quick look)")
    a = p.parse_args()
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # (git-annex of this environment)
    os.environ.setdefault("GIT_AUTHOR_NAME", "OpenEM benchmark")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@openem.invalid")
    os.environ.setdefault("GIT_COMMITTER_NAME", "OpenEM benchmark")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@openem.invalid")
    with tempfile.TemporaryDirectory(prefix="openem-terabyte-", dir=a.work) as tmp:
        work = Path(tmp)
        print(f"machine: {os.cpu_count()} CPUs; {shutil.disk_usage(work).free / (1 << 30):.0f} GiB free in {work}")
        if a.sparse_gib or a.small:
            run(work / "big", a.sparse_gib, a.small)
        if a.memory:
            memory(work / "memory", [int(n) for n in a.memory_sizes.split(",")])


if __name__ == "__main__":
    main()
