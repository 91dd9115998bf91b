"""Live-preview benchmark: how long after saving one ``dataset.yaml`` does ``mkdocs serve`` show the change?

    .venv/bin/python benchmarks/serve.py [--sizes 1000,10000] [--work DIR] [--edits 3] [--plain]

For each size N: writes a synthetic catalogue (``benchmarks/synth.py``, reused when ``--work`` already holds
it), starts ``mkdocs serve --dirty`` there (what ``make serve`` runs; ``--plain``: without ``--dirty``) on
127.0.0.1, waits for the first build, then edits the title of one dataset several times and measures, for each
edit, the time from saving the file until the served page shows the new title (polled over HTTP). Prints one
table.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return ""


def wait_for(url: str, text: str, deadline: float) -> float | None:
    """Seconds until the page at ``url`` holds ``text`` (polled), or None at the deadline."""
    start = time.monotonic()
    while time.monotonic() < deadline:
        if text in fetch(url):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def set_title(path: Path, title: str) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^title: .*\n(?:[ \t]+.*\n)*", f"title: {title}\n", text, count=1), encoding="utf-8")


def run_one(catalogue: Path, edits: int, dirty: bool, timeout: float) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    ident = sorted(p.name for p in (catalogue / "datasets").iterdir() if p.is_dir())[len(
        list((catalogue / "datasets").iterdir())) // 2]
    yaml_path = catalogue / "datasets" / ident / "dataset.yaml"
    original = yaml_path.read_bytes()
    cmd = [str(BIN / "mkdocs"), "serve", "-a", f"127.0.0.1:{port}"]
    if dirty:
        cmd.append("--dirty")
    with tempfile.TemporaryFile() as log:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=catalogue, stdout=log, stderr=subprocess.STDOUT)
        row: dict = {"N": len([p for p in (catalogue / "datasets").iterdir() if p.is_dir()]),
                     "mode": "serve --dirty" if dirty else "serve"}
        try:
            page = f"{base}datasets/{ident}/"
            first = wait_for(page, "<html", start + timeout)
            row["first build s"] = None if first is None else time.monotonic() - start
            times = []
            for k in range(edits):
                title = f"Edited title {k} {int(time.time() * 1000)}"
                time.sleep(1.0)  # the file's mtime must move past the previous build's output
                set_title(yaml_path, title)
                saved = time.monotonic()
                took = wait_for(page, title, saved + timeout)
                times.append(took)
            row["edit s"] = times
        finally:
            yaml_path.write_bytes(original)
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.seek(0)
            row["log"] = log.read().decode("utf-8", "replace")
        return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated catalogue sizes")
    parser.add_argument("--work", type=Path, help="folder for the catalogues (default: a temporary one)")
    parser.add_argument("--edits", type=int, default=3, help="edits timed per size")
    parser.add_argument("--plain", action="store_true", help="plain `mkdocs serve` (no --dirty)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a build or an edit")
    parser.add_argument("--verbose", action="store_true", help="print the server's log")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="openem-serve-"))
    print("| N | mode | first build s | edit → page s (each edit) |")
    print("| ---: | --- | ---: | --- |")
    for n in [int(s) for s in args.sizes.split(",")]:
        catalogue = work / f"catalogue-{n}"
        if not (catalogue / "mkdocs.yml").is_file():
            synth.main([str(n), str(catalogue)])
        row = run_one(catalogue, args.edits, not args.plain, args.timeout)
        first = "—" if row["first build s"] is None else f"{row['first build s']:.1f}"
        edits = ", ".join("timeout" if t is None else f"{t:.2f}" for t in row["edit s"])
        print(f"| {n:,} | {row['mode']} | {first} | {edits} |", flush=True)
        if args.verbose:
            print(row["log"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
