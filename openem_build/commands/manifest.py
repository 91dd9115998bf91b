"""``openem manifest <id>``: ``manifest.json`` and previews from the installed subdataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..records import problems as P
from ..records.load import DATASET_FILE, DATASETS
from ..records.model import Manifest
from .base import EXIT_INVALID, EXIT_OK, UsageError, check_id, root_of


def run(args: argparse.Namespace) -> int:
    """Write datasets/<id>/manifest.json from the installed subdataset datasets/<id>/data.

    Lists every file of the subdataset's checked-out commit with its size, git-annex key, checksum and the URLs
    git-annex knows, without downloading content; file headers are read, and the previews of a few maps,
    tomograms, micrographs or tilt series remade, where content is present. With --check, only compares and exits
    1 when the manifest is out of date.
    """
    from ..data import annex, submodules
    from ..data.headers import read_headers
    from ..records.manifest import MANIFEST_FILE, SUBDATASET, compare, dumps, from_repo, read, write

    root = root_of(args)
    folder = root / DATASETS / check_id(args.id)
    data = folder / SUBDATASET
    shown = f"{DATASETS}/{args.id}/{SUBDATASET}"
    if not folder.is_dir():
        raise UsageError(f"no dataset '{args.id}' in {root / DATASETS}")
    if not (data.is_dir() and annex.is_repo(data)):
        raise UsageError(f"{shown} is not installed: install it with `datalad get -n {shown}` (or register it "
                         f"with `datalad clone -d . <url> {shown}`)")
    path = folder / MANIFEST_FILE
    previous = read(path, root)[0] if path.is_file() else None
    try:
        fresh = from_repo(data, read_headers=read_headers, previous=previous)
    except annex.AnnexError as exc:
        print(P.entry(f"openem manifest: {exc}"), file=sys.stderr)
        return EXIT_INVALID
    target = path.relative_to(root)
    if args.check:
        if previous is None:
            print(f"{target}: missing or invalid (run `openem manifest {args.id}`)")
            return EXIT_INVALID
        diffs = compare(previous, fresh)
        changed = diffs or dumps(previous) != dumps(fresh)
        for d in diffs:
            print(P.clean(f"{target}: {d.text}"))
        if changed and not diffs:
            print(f"{target}: file headers or formatting differ")
        return EXIT_INVALID if changed else EXIT_OK
    changed = write(path, fresh)
    print(f"{'wrote' if changed else 'unchanged:'} {target}: {len(fresh.files)} files, {fresh.total_size} bytes, "
          f"commit {fresh.commit}", file=sys.stderr)
    _write_previews(root, folder, data, fresh)
    pinned = submodules.gitlink(root, shown) if annex.is_repo(root) else None
    if pinned != fresh.commit:
        print(f"record this version of the subdataset with it: datalad save -d . -m 'Update {args.id}' "
              f"{shown} {target}", file=sys.stderr)
    return EXIT_OK


def _write_previews(root: Path, folder: Path, data: Path, manifest: Manifest) -> None:
    """Remake datasets/<id>/previews/ from the image sets of dataset.yaml (or, while it has none, the folders the
    manifest suggests), where the content of a map, tomogram, micrograph or tilt series is present."""
    from ..data import gallery
    from ..records.load import read_yaml
    from ..records.manifest import guess_image_sets

    doc = read_yaml(folder / DATASET_FILE, root)[0]
    sets = gallery.sets_of(doc.data) if doc is not None else []
    if not sets:
        sets = [(s.directory, s.category, s.format) for s in guess_image_sets(manifest)]
    made, notes = gallery.write(folder, data, sets, [f.path for f in manifest.files], manifest.commit)
    rel = folder.relative_to(root)
    if made is None:
        print("no previews made: get the content of a map, tomogram, micrograph, tilt series or spectrum first (e.g. "
              f"`datalad get {rel}/data/<file>`)", file=sys.stderr)
    else:
        print(P.clean(f"previews of {', '.join(made)} in {rel}/{gallery.PREVIEWS_DIR}/"), file=sys.stderr)
    for note in notes:
        print(P.entry(f"openem manifest: {note}"), file=sys.stderr)


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("id", help="the dataset's id")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when the manifest is out of date")
