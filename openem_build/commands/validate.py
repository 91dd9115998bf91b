"""``openem validate``: check the catalogue (or the given dataset files) and report every problem."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..records import problems as P
from ..records.load import load_catalogue
from .base import EXIT_INVALID, EXIT_OK, progress_options, root_of


def run(args: argparse.Namespace) -> int:
    """Validate the catalogue (or the given dataset files) and report every problem."""
    from ..infra.progress import Progress, active, wanted

    root = root_of(args, args.paths)
    only = [Path(p) for p in args.paths] or None
    with active(Progress(wanted(args.progress))):
        result = load_catalogue(root, only, disk_cache=False if args.no_cache else None)
    found = result.problems
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    P.emit(found, fmt, sys.stdout)
    n_err = len(P.errors(found))
    n_warn = len(found) - n_err
    checked = len(result.documents)
    if fmt != "json":
        verdict = "valid" if n_err == 0 else "invalid"
        print(f"Checked {checked} dataset{'s' * (checked != 1)}: {n_err} error{'s' * (n_err != 1)}, "
              f"{n_warn} warning{'s' * (n_warn != 1)} — {verdict}.", file=sys.stderr)
    if n_err or (args.strict and n_warn):
        return EXIT_INVALID
    return EXIT_OK


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("paths", nargs="*", metavar="PATH", help="dataset.yaml files or dataset folders "
                   "(default: the whole catalogue)")
    p.add_argument("--format", choices=["text", "json", "github"],
                   help="output format (default: github under GitHub Actions, else text)")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.add_argument("--no-cache", action="store_true", help="check every dataset again: neither read nor write the "
                   "cache of earlier results (also: OPENEM_CACHE=off)")
    progress_options(p)
