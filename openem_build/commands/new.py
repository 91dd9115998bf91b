"""``openem new``: a commented ``dataset.yaml`` stub for a new dataset id."""

from __future__ import annotations

import argparse

from ..records.load import DATASET_FILE, DATASETS
from .base import EXIT_OK, UsageError, check_id, root_of


def run(args: argparse.Namespace) -> int:
    """Write a commented dataset.yaml stub for a new dataset id."""
    from ..authoring.scaffold import dataset_stub

    ident = check_id(args.id)
    root = root_of(args)
    folder = root / DATASETS / ident
    target = folder / DATASET_FILE
    if folder.exists():
        raise UsageError(f"{target.relative_to(root)} exists already; choose another id or edit that file")
    folder.mkdir(parents=True)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(dataset_stub(ident), encoding="utf-8")
    tmp.replace(target)
    shown = target.relative_to(root)
    print(f"wrote {shown}: fill in every TODO, then run `openem validate {shown}`")
    return EXIT_OK


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("id", help="the new dataset's id (lowercase slug)")
