"""The ``openem`` command line: argparse wired to the commands, one module each in :mod:`openem_build.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .commands import add, build, doi, export, manifest, new, oai, publish, schema, validate
from .commands.base import EXIT_OK, EXIT_USAGE, UsageError
from .records import problems as P

#: (name, module, help): each module has ``run(args) -> exit code`` (its docstring the description) and
#: ``arguments(parser)``.
COMMANDS = (
    ("validate", validate, "check dataset files and report every problem"),
    ("new", new, "start a new dataset from a commented template"),
    ("schema", schema, "print the JSON Schema"),
    ("build", build, "validate and build the complete site"),
    ("doi", doi, "reserve, publish or update a dataset's DataCite DOI"),
    ("manifest", manifest, "write datasets/<id>/manifest.json from the installed DataLad subdataset"),
    ("add", add, "add a dataset from a data directory or a DataLad dataset"),
    ("publish", publish, "put an entry's DataLad dataset into the OpenEM store and point the entry at it"),
    ("export", export, "write EMPIAR (JSON) and OneDep (PDBx/mmCIF) deposition files, and OSC-EM JSON"),
    ("oai", oai, "serve the built site's OAI-PMH 2.0 endpoint"),
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openem", description="Validate, enrich and publish the OpenEM catalogue "
                                "of electron-microscopy data.")
    p.add_argument("--root", help="the catalogue's root folder (default: found from the current folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, help_ in COMMANDS:
        sp = sub.add_parser(name, help=help_, description=module.run.__doc__)
        sp.set_defaults(func=module.run)
        module.arguments(sp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .data.annex import use_own_tools
    from .infra.context import SettingsError

    use_own_tools()  # git-annex and DataLad's helpers of this environment, whatever PATH says
    # All the command prints goes through these: no line of it (a folder's name, a YAML value) can be read as a
    # GitHub Actions workflow command. Messages themselves are made single-line where printed (P.clean, P.entry).
    streams = sys.stdout, sys.stderr
    guards = [P.CommandGuard(s) if s is not None else None for s in streams]
    sys.stdout, sys.stderr = guards  # type: ignore[assignment]
    try:
        args = parser().parse_args(argv)
        try:
            return args.func(args)
        except (UsageError, SettingsError) as exc:  # SettingsError: e.g. a malformed SOURCE_DATE_EPOCH
            print(f"openem: {P.entry(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("openem: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return EXIT_OK
    finally:
        for guard in guards:
            if guard is not None:
                guard.close()
        sys.stdout, sys.stderr = streams


if __name__ == "__main__":
    sys.exit(main())
