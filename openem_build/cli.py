"""The ``openem`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import problems as P
from .load import DATASET_FILE, DATASETS, find_root, load_catalogue
from .validate import schema as load_schema

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how the command was called; shown without a traceback."""


def _root(args: argparse.Namespace, paths: Sequence[str] = ()) -> Path:
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


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate the catalogue (or the given dataset files) and report every problem."""
    root = _root(args, args.paths)
    only = [Path(p) for p in args.paths] or None
    result = load_catalogue(root, only)
    found = result.problems
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    sys.stdout.write(P.render(found, fmt))
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


def cmd_new(args: argparse.Namespace) -> int:
    """Write a commented dataset.yaml stub for a new dataset id."""
    import re

    from .scaffold import dataset_stub

    ident = args.id
    if not re.fullmatch(load_schema("dataset")["properties"]["id"]["pattern"].strip("^$"), ident):
        raise UsageError(f"'{ident}' is not a valid id: use 3 to 64 lowercase letters, digits and hyphens, "
                         "starting with a letter or digit")
    root = _root(args)
    folder = root / DATASETS / ident
    target = folder / DATASET_FILE
    if folder.exists():
        raise UsageError(f"{target.relative_to(root)} exists already; choose another id or edit that file")
    folder.mkdir(parents=True)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(dataset_stub(ident), encoding="utf-8")
    tmp.replace(target)
    print(f"wrote {target.relative_to(root)}: fill in every TODO, then run `openem validate {target.relative_to(root)}`")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of dataset.yaml (or of facilities.yaml)."""
    sys.stdout.write(json.dumps(load_schema(args.name), indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    """Validate and build the complete site."""
    from .build import BuildError, build_site

    root = _root(args)
    try:
        build_site(root, Path(args.site_dir) if args.site_dir else None, config=args.config)
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openem", description="Validate, enrich and publish the OpenEM catalogue "
                                "of electron-microscopy data.")
    p.add_argument("--root", help="the catalogue's root folder (default: found from the current folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=func.__doc__)
        sp.set_defaults(func=func)
        return sp

    v = add("validate", cmd_validate, "check dataset files and report every problem")
    v.add_argument("paths", nargs="*", metavar="PATH", help="dataset.yaml files or dataset folders "
                   "(default: the whole catalogue)")
    v.add_argument("--format", choices=["text", "json", "github"],
                   help="output format (default: github under GitHub Actions, else text)")
    v.add_argument("--strict", action="store_true", help="fail on warnings too")

    n = add("new", cmd_new, "start a new dataset from a commented template")
    n.add_argument("id", help="the new dataset's id (lowercase slug)")

    s = add("schema", cmd_schema, "print the JSON Schema")
    s.add_argument("--name", choices=["dataset", "facilities"], default="dataset")

    b = add("build", cmd_build, "validate and build the complete site")
    b.add_argument("-d", "--site-dir", help="output folder (default: site/)")
    b.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration (default: mkdocs.yml)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"openem: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("openem: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
