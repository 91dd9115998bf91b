"""``openem doi reserve|publish|update <id>``: a dataset's DataCite DOI (:mod:`..doi`)."""

from __future__ import annotations

import argparse
import sys

from ..records import problems as P
from ..records.load import DATASETS, load_catalogue
from .base import EXIT_INVALID, EXIT_OK, UsageError, root_of


def run(args: argparse.Namespace) -> int:
    """Register a dataset's DataCite DOI: reserve a draft, publish it (findable) or update its metadata.

    Talks to DataCite's test API unless --endpoint or DATACITE_ENDPOINT says otherwise. Credentials come
    from DATACITE_REPOSITORY_ID and DATACITE_PASSWORD, the prefix from --prefix or DATACITE_PREFIX.
    """
    from ..doi.api import DOIError, Settings
    from ..doi.register import run, site_context

    root = root_of(args)
    result = load_catalogue(root)
    dataset = result.catalogue.by_id.get(args.id)
    if dataset is None:
        bad = [p for p in P.errors(result.problems) if f"/{args.id}/" in f"/{p.text()}"]
        if bad:
            sys.stdout.write(P.render(bad, "text"))
            raise UsageError(f"{args.id} is invalid; fix the problems above (`openem validate`) first")
        raise UsageError(f"no dataset '{args.id}' in {root / DATASETS}")
    try:
        settings = Settings.from_env(endpoint=args.endpoint, prefix=args.prefix)
        ctx = site_context(root, result.catalogue, args.config)
        outcome = run(args.action, ctx, dataset, settings, root=root, dry_run=args.dry_run, force=args.force)
    except DOIError as exc:
        print(P.entry(f"openem doi {args.action} {args.id}: {exc}"), file=sys.stderr)
        return EXIT_INVALID
    if args.dry_run:
        for request in outcome.requests:
            print(request.describe(settings.endpoint))
    where = "DataCite test API" if settings.is_test else settings.endpoint
    print(P.entry(f"{outcome.message} [{where}]"), file=sys.stderr)
    return EXIT_OK


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("action", choices=["reserve", "publish", "update"],
                   help="reserve: create a draft; publish: make it findable at the landing page; "
                   "update: send changed metadata")
    p.add_argument("id", help="the dataset's id")
    p.add_argument("--dry-run", action="store_true", help="print the requests instead of sending them")
    p.add_argument("--force", action="store_true", help="allow re-pointing a registered DOI to a new URL")
    p.add_argument("--endpoint", help="DataCite REST API (default: $DATACITE_ENDPOINT, else the test API "
                   "https://api.test.datacite.org)")
    p.add_argument("--prefix", help="DOI prefix for new DOIs (default: $DATACITE_PREFIX)")
    p.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration giving the site URL "
                   "(default: mkdocs.yml)")
