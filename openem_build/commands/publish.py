"""``openem publish <id>``: an entry's DataLad dataset into the OpenEM store (:mod:`..data.publish`)."""

from __future__ import annotations

import argparse
import sys
import time

from ..records import problems as P
from .base import EXIT_INVALID, EXIT_OK, UsageError, check_id, progress_options, root_of


def run(args: argparse.Namespace) -> int:
    """Put an entry's DataLad dataset (datasets/<id>/data, with its content) into the OpenEM store.

    Checks first that manifest.json describes the dataset; sends the git history and every file's content not
    yet in the store (an interrupted run continues where it stopped); then clones it back from the store's public
    URL and checks the content; only then points the entry at the store (data.datalad, .gitmodules, the
    manifest's download URLs) in one catalogue commit. The store is the openem plugin's `store` in mkdocs.yml,
    $OPENEM_STORE or --store: a folder (served by the site, or by any static web server) or s3://bucket/prefix
    (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never from the catalogue).
    """
    from ..data.publish import PublishError, publish_entry, store_for
    from ..infra.context import read_settings
    from ..infra.progress import Progress, wanted
    from ..render.pages import human_size

    root = root_of(args)
    check_id(args.id)
    started = time.monotonic()
    try:
        settings = read_settings(root, args.config)
        store = store_for(root, settings, location=args.store, public_url=args.store_url, endpoint=args.endpoint_url)
        done = publish_entry(root, args.id, store, verify=args.verify, commit=not args.no_commit,
                             log=lambda m: print(P.entry(f"openem publish: {m}"), file=sys.stderr),
                             progress=Progress(wanted(args.progress)))
    except PublishError as exc:
        print(P.entry(f"openem publish {args.id}: {exc}"), file=sys.stderr)
        return EXIT_INVALID
    except ValueError as exc:  # SettingsError
        raise UsageError(str(exc)) from None
    r = done.store
    print(f"published {args.id}: {r.files:,} files ({r.uploaded:,} sent, {human_size(r.uploaded_bytes)}; "
          f"{r.present:,} already in the store) in {time.monotonic() - started:.1f} s; clone with "
          f"`datalad clone {r.clone_url}`")
    if done.catalogue_commit:
        print(f"catalogue commit {done.catalogue_commit[:12]}: {', '.join(done.changed)}")
    elif done.changed:
        print(f"staged, not committed: {', '.join(done.changed)}")
    else:
        print("the catalogue already pointed at the store: nothing to commit")
    return EXIT_OK


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("id", help="the dataset's id")
    p.add_argument("--store", help="where to write: a folder, or s3://bucket/prefix (default: mkdocs.yml's store, "
                    "or $OPENEM_STORE)")
    p.add_argument("--store-url", help="the store's public http(s) URL (default: mkdocs.yml's store_url under the "
                    "site, or $OPENEM_STORE_URL)")
    p.add_argument("--endpoint-url", help="S3 endpoint, for S3-compatible storage other than AWS (default: "
                    "$OPENEM_S3_ENDPOINT)")
    p.add_argument("--verify", choices=["content", "presence", "no"], default="content",
                    help="after publishing, clone from the public URL and download and check every file (content, "
                    "the default), only check that the store has each file (presence), or not (no)")
    p.add_argument("--no-commit", action="store_true", help="stage the catalogue's changes without committing them")
    progress_options(p)
    p.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration giving the store (default: "
                    "mkdocs.yml)")
