"""Time the JSON text of each dataset's files: ``jsontext.dumps`` against the ``json.dumps`` it replaced.

    nice .venv/bin/python benchmarks/jsontext.py [--n N] [--work DIR] [--repeat R] [--catalogue DIR]

Writes a catalogue of N datasets with ``benchmarks/synth.py`` (or reuses ``DIR/catN``, or reads ``--catalogue``),
makes every dataset's files once (``outputs.for_dataset``) and keeps each value the renderers hand to
``jsontext.dumps`` with an indent (record, JSON-LD, CSL-JSON, EMPIAR, OSC-EM, linkset, API). Prints, per dataset
(CPU time of this process, best of R rounds): all of its files, and the JSON text of those values as
``json.dumps(indent=...)`` wrote it and as ``jsontext.dumps`` writes it (the texts are checked to be equal).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import synth  # noqa: E402
from openem_build.infra import jsontext  # noqa: E402
from openem_build.infra.context import SiteContext  # noqa: E402
from openem_build.records.load import load_catalogue  # noqa: E402
from openem_build.render import outputs  # noqa: E402


def _best(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def measure(catalogue: Path, repeat: int) -> tuple[int, int, float, float, float]:
    """(datasets, indented documents, CPU seconds for every dataset's files, for the documents' text with
    ``json.dumps``, with ``jsontext.dumps``)."""
    ctx = SiteContext(load_catalogue(catalogue).catalogue, site_url="https://example.org/cat/")
    datasets = ctx.catalogue.datasets
    kept: list[tuple[Any, int]] = []
    real = jsontext.dumps

    def spy(value: Any, *, indent: int | None = None) -> str:
        if indent is not None:
            kept.append((value, indent))
        return real(value, indent=indent)

    jsontext.dumps = spy
    try:
        for d in datasets:
            outputs.for_dataset(ctx, d)
    finally:
        jsontext.dumps = real
    for value, indent in kept:
        if real(value, indent=indent) != json.dumps(value, ensure_ascii=False, indent=indent):
            raise SystemExit("jsontext.dumps and json.dumps disagree")
    files = _best(repeat, lambda: [outputs.for_dataset(ctx, d) for d in datasets])
    before = _best(repeat, lambda: [json.dumps(v, ensure_ascii=False, indent=i) for v, i in kept])
    after = _best(repeat, lambda: [real(v, indent=i) for v, i in kept])
    return len(datasets), len(kept), files, before, after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of datasets (default 1000)")
    parser.add_argument("--work", type=Path, help="folder for the catalogue (default: a temporary one)")
    parser.add_argument("--catalogue", type=Path, help="an existing catalogue instead (e.g. the repository)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        catalogue = args.catalogue or (args.work or Path(tmp)) / f"cat{args.n}"
        if not (catalogue / "datasets").is_dir():
            synth.write(args.n, catalogue)
        n, docs, files, before, after = measure(catalogue, args.repeat)
    ms = 1000 / max(n, 1)
    print(f"{n} datasets, {docs} indented JSON documents: all files {files * ms:.2f} ms CPU per dataset; "
          f"their JSON text {before * ms:.2f} ms with json.dumps, {after * ms:.2f} ms with jsontext.dumps "
          f"({(before - after) * ms:.2f} ms less, {(before - after) / files:.0%} of the files' time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
