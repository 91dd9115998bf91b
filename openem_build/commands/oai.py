"""``openem oai serve``: the OAI-PMH endpoint over a built site (:mod:`..site.oaiserve`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .base import root_of


def run(args: argparse.Namespace) -> int:
    """Serve the OAI-PMH 2.0 endpoint (`oai serve`) over the records `openem build` wrote into the site: all six
    verbs, oai_dc and oai_datacite, sets by facility and technique, deleted records; see docs/api.md."""
    from ..site.oaiserve import serve

    site = Path(args.site) if args.site else root_of(args) / "site"
    return serve(site, args.host, args.port, args.base_url, args.page_size)


def arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    p.add_argument("action", choices=["serve"], help="serve: answer OAI-PMH requests until interrupted")
    p.add_argument("--site", help="the folder `openem build` wrote (default: the catalogue's site/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8001, help="port (default: 8001)")
    p.add_argument("--base-url", help="the endpoint's public URL, as Identify and every response name it "
                   "(default: http://HOST:PORT/)")
    p.add_argument("--page-size", type=int, default=100, help="records or headers per list response before a "
                   "resumption token (default: 100)")
