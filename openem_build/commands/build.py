"""``openem build``: validate and build the complete site (:mod:`..site.build`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..records import problems as P
from ..records.cache import ENV_SWITCH
from .base import EXIT_INVALID, EXIT_OK, UsageError, progress_options, root_of


def run(args: argparse.Namespace) -> int:
    """Validate and build the complete site."""
    import logging

    from ..site.build import BuildError, build_site

    root = root_of(args)
    # The MkDocs plugin loads the catalogue; the cache switch reaches it through the environment.
    before = os.environ.get(ENV_SWITCH)
    if args.no_cache:
        os.environ[ENV_SWITCH] = "off"
    site_url = None
    if args.site_url:
        from ..infra.context import SettingsError, check_site_url

        try:
            site_url = check_site_url(args.site_url)
        except SettingsError as exc:
            raise UsageError(str(exc)) from None
    from ..infra.progress import Progress, active, wanted
    from ..render.pages import human_size

    started = time.monotonic()
    progress = Progress(wanted(args.progress))
    # The build's log on this call's stderr, for this call only (the stream is closed when main returns).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(P.EntryFormatter("%(levelname)s: %(message)s"))
    # Build errors come back in the BuildError message; print them once.
    handler.addFilter(lambda r: r.levelno < logging.ERROR or r.name != "mkdocs.commands.build")
    loggers = {logging.getLogger(name): (logging.getLogger(name).level, logging.getLogger(name).propagate)
               for name in ("mkdocs", "openem")}
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
        logger.propagate = False
    try:
        with active(progress):
            build_site(root, Path(args.site_dir) if args.site_dir else None, config=args.config, site_url=site_url)
    except BuildError as exc:
        print(f"openem: {P.entry(str(exc))}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        for logger, (level, propagate) in loggers.items():
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        if before is None:
            os.environ.pop(ENV_SWITCH, None)
        else:
            os.environ[ENV_SWITCH] = before
    pages = [ph for ph in progress.phases if ph.name == "pages"]
    made = f": {pages[-1].files:,} dataset pages with their files, {human_size(pages[-1].bytes)}," if pages else ""
    print(P.clean(f"site written to {Path(args.site_dir or root / 'site')}{made} in "
                  f"{time.monotonic() - started:.1f} s"), file=sys.stderr)
    return EXIT_OK


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("-d", "--site-dir", help="output folder (default: site/)")
    p.add_argument("-f", "--config", default="mkdocs.yml", help="MkDocs configuration (default: mkdocs.yml)")
    p.add_argument("-v", "--verbose", action="store_true", help="show MkDocs' progress messages")
    p.add_argument("--site-url", help="build the site for this URL instead of mkdocs.yml's site_url (every absolute "
                   "URL follows it, the store's included), e.g. http://127.0.0.1:8000/ to serve it locally")
    p.add_argument("--no-cache", action="store_true", help="check every dataset again: neither read nor write the "
                   "cache of earlier results (also: OPENEM_CACHE=off)")
    progress_options(p)
