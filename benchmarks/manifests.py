"""Time parsing and validating the manifests of a synthetic catalogue (``manifest.read`` on each file).

    nice .venv/bin/python benchmarks/manifests.py [--n N] [--work DIR] [--repeat R]

Writes a catalogue of N datasets with ``benchmarks/synth.py`` (or reuses ``DIR/catN``), then reads every
``datasets/*/manifest.json`` as validation does (the file format only, no git), then again as the build does
(``load_files``: the text known to be valid). Prints rows, seconds and microseconds per row: CPU time of this
process (the machine may be shared), the best of R rounds (the files are in the page cache after the first).
The synthetic rows carry no header facts: ``--headers`` also times ``manifest_rows.parse`` of one manifest of
5,000 rows that all do (those of the example datasets' files, in turn).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import synth  # noqa: E402
from openem_build.records import manifest as mf  # noqa: E402


def measure(catalogue: Path, repeat: int) -> tuple[int, int, float, float]:
    """(files, rows, best CPU seconds to validate, best CPU seconds to read again) for every manifest of
    ``catalogue``: ``manifest.read`` as validation reads them, and ``manifest.load_files`` as the build reads
    the validated files again."""
    paths = sorted((catalogue / "datasets").glob("*/" + mf.MANIFEST_FILE))
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    best, again, rows = float("inf"), float("inf"), 0
    for _ in range(repeat):
        started, rows = time.process_time(), 0
        for path in paths:
            manifest, _doc, problems = mf.read(path, catalogue)
            if manifest is None or problems:
                raise SystemExit(f"{path}: {problems[:1]}")
            rows += len(manifest.files)
        best = min(best, time.process_time() - started)
        mf.load_files.cache_clear()
        started = time.process_time()
        for path, digest in zip(paths, digests, strict=True):
            mf.load_files(str(path), digest)
        again = min(again, time.process_time() - started)
    return len(paths), rows, best, again


def measure_headers(repeat: int, rows: int = 5000) -> tuple[int, float]:
    """(facts, best CPU seconds) to parse a manifest of ``rows`` rows, each with the header facts of one of the
    example datasets' files."""
    import json

    from openem_build.records.manifest_rows import parse

    facts = [e["headers"] for p in sorted((REPO / "datasets").glob("*/" + mf.MANIFEST_FILE))
             for e in json.loads(p.read_text("utf-8"))["files"] if e.get("headers")]
    files = [{"path": f"f/{i:05d}.mrc", "size": 10, "key": None, "urls": [], "headers": facts[i % len(facts)]}
             for i in range(rows)]
    text = json.dumps({"manifest_version": 1, "commit": "1" * 40, "files": files}, indent=1)
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        manifest, _doc, problems = parse(text, "headers.json")
        best = min(best, time.process_time() - started)
        if manifest is None or problems:
            raise SystemExit(f"header facts: {problems[:1]}")
    return len(facts), best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of datasets (default 1000)")
    parser.add_argument("--work", type=Path, help="folder for the catalogue (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument("--headers", action="store_true", help="also time 5,000 rows with header facts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        catalogue = (args.work or Path(tmp)) / f"cat{args.n}"
        if not (catalogue / "datasets").is_dir():
            synth.write(args.n, catalogue)
        files, rows, seconds, again = measure(catalogue, args.repeat)
    per_row = 1e6 / max(rows, 1)
    print(f"N={args.n}: {files} manifests, {rows:,} rows: validate {seconds:.2f} s CPU "
          f"({seconds * per_row:.2f} µs/row), read again {again:.2f} s CPU ({again * per_row:.2f} µs/row)")
    if args.headers:
        facts, seconds = measure_headers(args.repeat)
        print(f"5,000 rows with header facts ({facts} kinds): validate {seconds:.3f} s CPU "
              f"({seconds / 5000 * 1e6:.1f} µs/row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
