"""``openem export``: deposition files for EMPIAR (JSON) and wwPDB OneDep (PDBx/mmCIF), and OSC-EM JSON, from
catalogue entries.

The renderers (:mod:`.render.empiar`, :mod:`.render.mmcif`, :mod:`.render.oscem`) decide what can be exported;
this module does the I/O: it loads the catalogue, prints the renderers' messages and writes files. An export that
is refused or incomplete is never written, so a depositor never uploads a half-filled file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..infra.context import SiteContext
from ..records.load import load_catalogue
from ..records.model import Dataset
from ..records.problems import ERROR, Problem
from ..render import empiar, mmcif, oscem
from .base import UsageError, root_of

KINDS = ("empiar", "mmcif", "oscem")
#: Where ``export all`` puts each kind inside the site (the paths the landing pages link).
SITE_FILES = {"empiar": "empiar.json", "mmcif": "em.cif", "oscem": "oscem.json"}


@dataclass(frozen=True)
class Export:
    kind: str
    dataset: Dataset
    text: str  # '' when the export cannot be made
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return bool(self.text)


def make(ctx: SiteContext, d: Dataset, kind: str) -> Export:
    """One export of one dataset (pure: no I/O)."""
    if kind == "empiar":
        dep, problems = empiar.deposition(ctx, d)
        return Export(kind, d, empiar.dumps(dep) if dep is not None else "", tuple(problems))
    if kind == "mmcif":
        text, problems = mmcif.document(ctx, d)
        return Export(kind, d, text, tuple(problems))
    if kind == "oscem":
        doc, problems = oscem.document(ctx, d)
        return Export(kind, d, oscem.dumps(doc) if doc is not None else "", tuple(problems))
    raise ValueError(f"unknown export kind {kind!r}; use one of {', '.join(KINDS)}")


def _report(export: Export, stream: TextIO) -> None:
    for p in export.problems:
        print(p.text(), file=stream)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export_one(root: Path, kind: str, ident: str, output: Path | None, *,
               context: Callable[[Path, object], SiteContext], stream: TextIO | None = None) -> int:
    """Write one dataset's export to ``output`` (stdout when None); exit code 1 when it cannot be made.
    Messages go to ``stream``, by default the ``sys.stderr`` of the call (not the one of the import)."""
    stream = stream or sys.stderr
    result = load_catalogue(root)
    d = result.catalogue.by_id.get(ident)
    if d is None:
        bad = [p for p in result.problems if p.severity == ERROR and f"/{ident}/" in f"/{p.path}"]
        for p in bad:
            print(p.text(), file=stream)
        what = "is invalid; fix the problems above (`openem validate`) first" if bad else "does not exist"
        print(f"openem export: dataset '{ident}' {what}", file=stream)
        return 1
    export = make(context(root, result.catalogue), d, kind)
    _report(export, stream)
    if not export.ok:
        print(f"openem export {kind} {ident}: not written — "
              + ("see the message above" if len(export.problems) == 1 else "add the fields named above"),
              file=stream)
        return 1
    if output is None:
        sys.stdout.write(export.text)
    else:
        _write(output, export.text)
        print(f"wrote {output}", file=stream)
    return 0


def export_all(root: Path, site_dir: Path, kinds: tuple[str, ...] = KINDS, *,
               context: Callable[[Path, object], SiteContext], stream: TextIO | None = None) -> int:
    """Write every export that can be made into ``site_dir/datasets/<id>/``; report the others."""
    stream = stream or sys.stderr
    result = load_catalogue(root)
    ctx = context(root, result.catalogue)
    written = skipped = 0
    for d in result.catalogue.datasets:
        for kind in kinds:
            export = make(ctx, d, kind)
            if export.ok:
                _write(site_dir / "datasets" / d.id / SITE_FILES[kind], export.text)
                written += 1
            else:
                skipped += 1
                _report(export, stream)
    print(f"openem export: {written} file{'s' * (written != 1)} written to {site_dir}, {skipped} export"
          f"{'s' * (skipped != 1)} not possible (see above)", file=stream)
    return 0


def as_json(exports: list[Export]) -> str:
    """A machine-readable summary (for CI): per dataset and kind, whether it was made and why not."""
    return json.dumps([{"dataset": e.dataset.id, "kind": e.kind, "ok": e.ok,
                        "problems": [p.as_json() for p in e.problems]} for e in exports], indent=2)


def run(args: argparse.Namespace) -> int:
    """Write deposition files: `export empiar|mmcif|oscem ID [-o FILE]` for one dataset, `export all [-d SITE_DIR]`.

    An export EMPIAR or OneDep could not accept (a technique they do not take, or a required field the entry
    lacks) is not written: the messages name the YAML field to add, and the command exits 1.
    """
    from ..doi.register import site_context

    root = root_of(args)

    def context(r: Path, catalogue: object) -> object:
        return site_context(r, catalogue, args.config)

    if args.kind == "all":
        if args.id or args.output:
            raise UsageError("export all takes no id and no -o; use -d SITE_DIR")
        return export_all(root, Path(args.site_dir) if args.site_dir else root / "site", context=context)
    if not args.id:
        raise UsageError(f"export {args.kind} needs a dataset id")
    if args.site_dir:
        raise UsageError("-d is for export all; use -o FILE")
    return export_one(root, args.kind, args.id, Path(args.output) if args.output else None, context=context)


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("kind", choices=["empiar", "mmcif", "oscem", "all"], help="empiar: EMPIAR deposition JSON; mmcif: "
                   "PDBx/mmCIF for EMDB/PDB (OneDep); oscem: OSC-EM JSON (the report names the fields OSC-EM has no "
                   "place for); all: every export of every dataset into the site")
    p.add_argument("id", nargs="?", help="the dataset's id (not with all)")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("-d", "--site-dir", help="with all: the site folder to write into (default: site/)")
    p.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration giving the site URL "
                   "(default: mkdocs.yml)")
