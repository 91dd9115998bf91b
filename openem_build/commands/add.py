"""``openem add``: a data directory or a DataLad dataset becomes ``datasets/<id>`` (:mod:`..authoring.add`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..records import problems as P
from ..records.load import DATASET_FILE
from .base import EXIT_INVALID, EXIT_OK, UsageError, progress_options, root_of


def run(args: argparse.Namespace) -> int:
    """Add a dataset: a data directory or a DataLad dataset (URL or folder) becomes datasets/<id>.

    Creates or reuses a DataLad dataset for the files, registers it as the subdataset datasets/<id>/data, writes
    manifest.json and a dataset.yaml stub pre-filled from the files, and commits the three together. A plain
    directory is read once (checksums and header facts, in parallel) and its files enter the new dataset without a
    second copy (--mode link: hard links, else copy-on-write clones, else left in place for `openem publish` to
    send from there) or as copies (--mode copy); the originals are never modified, moved or made read-only. An
    interrupted add run again reads only the files it had not finished. Refuses to overwrite an entry; on any
    failure the catalogue is left as it was.
    """
    import signal

    from ..authoring.add import AddError, add_dataset
    from ..data.headers import read_headers

    root = root_of(args)
    if args.publish:
        from ..infra.context import source_date_epoch

        source_date_epoch()  # malformed, it would stop the publishing after the add: say so before

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    from ..infra.progress import Progress, wanted
    from ..render.pages import human_size

    old = signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    progress = Progress(wanted(args.progress))
    try:
        result = add_dataset(root, args.source, args.id, url=args.url, commit=not args.no_commit,
                             read_headers=read_headers, mode=args.mode, progress=progress,
                             oscem=Path(args.oscem) if args.oscem else None,
                             log=lambda m: print(P.entry(f"openem add: {m}"), file=sys.stderr))
    except AddError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        signal.signal(signal.SIGTERM, old)
    rel = result.folder.relative_to(root)
    print(f"added {rel}: {len(result.manifest.files):,} files, {human_size(result.manifest.total_size)} "
          f"({result.manifest.total_size:,} bytes) in {time.monotonic() - started:.1f} s"
          + (f"; content {result.way}" if result.created else ""))
    for phase in progress.phases:
        if phase.name == "reading" and phase.seconds > 0:
            print(f"  read {phase.files:,} files, {human_size(phase.bytes)} in {phase.seconds:.1f} s "
                  f"({phase.bytes / phase.seconds / 1e6:,.0f} MB/s)")
    if result.created:
        print(f"  commit {result.manifest.commit[:12]} in {rel}/data: the new DataLad dataset with the files "
              f"(\"Add the files of {args.id}\")")
    if result.catalogue_commit:
        print(f"  commit {result.catalogue_commit[:12]} in the catalogue: {rel}/ and .gitmodules (\"Add dataset "
              f"{args.id} (openem add)\")")
    else:
        print(f"  staged in the catalogue, not committed: {rel}/ and .gitmodules")
    if args.publish:
        from ..data.publish import PublishError, publish_entry, store_for

        try:
            done = publish_entry(root, args.id, store_for(root), commit=not args.no_commit,
                                 log=lambda m: print(P.entry(f"openem add: {m}"), file=sys.stderr))
        except PublishError as exc:
            print(P.entry(f"openem add: the entry was added, but publishing it failed: {exc}"), file=sys.stderr)
            print(f"openem add: run `openem publish {args.id}` again once that is fixed", file=sys.stderr)
            return EXIT_INVALID
        print(f"published to the store: `datalad clone {done.store.clone_url}`")
        if done.catalogue_commit:
            print(f"  commit {done.catalogue_commit[:12]} in the catalogue: {', '.join(done.changed)} (\"Publish "
                  f"{args.id} to the OpenEM store (openem publish)\")")
    todo = "" if result.url or args.publish else f", publish the files with `openem publish {args.id}`"
    print(f"next: fill in every TODO in {rel}/{DATASET_FILE}{todo}, then run `openem validate {rel}`")
    return EXIT_OK


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("source", metavar="DIRECTORY-OR-URL", help="a folder of data files, a local DataLad dataset, "
                   "or the clone URL of a published DataLad dataset")
    p.add_argument("--id", required=True, help="the new dataset's id (lowercase slug)")
    p.add_argument("--url", help="the public clone URL of the DataLad dataset, when SOURCE is a local folder "
                   "(recorded in .gitmodules and data.datalad)")
    p.add_argument("--no-commit", action="store_true", help="stage the new entry without committing it")
    p.add_argument("--publish", action="store_true", help="then publish the files into the OpenEM store "
                   "(`openem publish`), when SOURCE is a folder or a local DataLad dataset")
    p.add_argument("--oscem", metavar="FILE", help="an OSC-EM JSON or YAML file to pre-fill dataset.yaml from "
                   "(default: the OSC-EM file among the files, if there is one)")
    p.add_argument("--mode", choices=["link", "copy"], default="link", help="how a plain folder's files enter the "
                   "dataset: link (default: hard links, else copy-on-write clones, else left in place; no second "
                   "copy) or copy")
    progress_options(p)
