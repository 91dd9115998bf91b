"""What every command shares: exit codes, usage errors, and finding the catalogue and checking ids."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from ..records import problems as P
from ..records.load import find_root
from ..records.validate import schema as load_schema

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how the command was called; shown without a traceback."""


def root_of(args: argparse.Namespace, paths: Sequence[str] = ()) -> Path:
    """The catalogue's root: --root, else found from the first path or the current folder."""
    if args.root:
        root = Path(args.root)
        if not (root / "datasets" / "facilities.yaml").is_file():
            raise UsageError(f"{root} is not a catalogue: it has no datasets/facilities.yaml")
        return root
    start = Path(paths[0]) if paths else Path.cwd()
    root = find_root(start)
    if root is None:
        raise UsageError(f"no catalogue found at or above {start} (looked for datasets/facilities.yaml); "
                         "run from the catalogue's folder or pass --root")
    return root


def check_id(ident: str) -> str:
    """``ident`` if it is a valid dataset id (so it can be shown and used in paths as it is), else a UsageError."""
    if not re.fullmatch(load_schema("dataset")["properties"]["id"]["pattern"].strip("^$"), ident):
        raise UsageError(f"{P.clean(repr(ident))} is not a valid id: use 3 to 64 lowercase letters, digits and "
                         "hyphens, starting with a letter or digit")
    return ident


def progress_options(p: argparse.ArgumentParser) -> None:
    """--progress and --quiet."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", action="store_true", default=None, help="show progress bars even when not on a "
                   "terminal (default: on a terminal, outside CI)")
    g.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars (the summary is "
                   "printed still)")
