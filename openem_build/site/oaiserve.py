"""The OAI-PMH 2.0 endpoint: a WSGI application over a built site (``openem oai serve``, docs/api.md).

Static hosting cannot answer OAI-PMH's verbs, so this small service does, next to the static site: the
``oaipmh`` library (ETH Library's maintained fork of pyoai; why this one: docs/api.md) answers the protocol,
:class:`openem_build.site.oairepo.Repository` reads the records the build wrote. No database, no state but the
site's files: a new build of the site is picked up on the next request (its index is checked each time).

Before a request reaches the library, what the library would let through or fail on is refused here with the
protocol's own errors (never a traceback): a missing, repeated or unknown verb (``badVerb``), a repeated or
unknown argument, text that is not UTF-8 or that XML cannot carry, and dates not in the spec's two forms
(``badArgument``).

Deployment: :func:`application` is a WSGI application configured by environment variables (``OPENEM_SITE``,
``OPENEM_OAI_BASE_URL``, ``OPENEM_OAI_PAGE_SIZE``); :func:`serve` runs it with the standard library's server.
"""

from __future__ import annotations

import contextlib
import os
import re
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from oaipmh import error
from oaipmh.server import ServerBase

from ..render import oai
from ..render.xmltext import NOT_XML
from .oairepo import Repository, SiteError, metadata_registry

VERBS = frozenset({"Identify", "ListMetadataFormats", "ListSets", "ListIdentifiers", "ListRecords", "GetRecord"})
ARGUMENTS = frozenset({"verb", "identifier", "metadataPrefix", "from", "until", "set", "resumptionToken"})
#: OAI-PMH's two datestamp forms (day, or seconds in UTC); the library alone would take others.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")
MAX_REQUEST = 64 * 1024  # bytes of a query or form: far beyond any OAI-PMH request
DEFAULT_PAGE_SIZE = 100
XML_TYPE = "text/xml; charset=UTF-8"

StartResponse = Callable[..., Any]


class OAIApp:
    """The WSGI application serving the site at ``site``; ``base_url``: the endpoint's public URL (default: the
    site's URL followed by ``oai``), ``page_size``: records or headers to a list response."""

    def __init__(self, site: Path | str, base_url: str | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        if base_url is not None:
            check_base_url(base_url)
        self.site, self.base_url, self.page_size = Path(site), base_url, page_size
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[int, int, int], ServerBase] | None = None
        self._server()  # (a folder that is no built site fails now, not at the first request)

    def set_base_url(self, url: str) -> None:
        """Serve at ``url`` from now on (e.g. once the server knows its port)."""
        with self._lock:
            self.base_url, self._loaded = check_base_url(url), None

    def _server(self) -> ServerBase:
        """The library's server over the site's current index (read again when the file changed)."""
        try:
            st = (self.site / oai.INDEX).stat()
        except OSError as exc:
            raise SiteError(f"{self.site / oai.INDEX}: cannot be read ({exc.strerror}); is {self.site} a site built "
                            "by `openem build`?") from exc
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._loaded is None or self._loaded[0] != key:
                repo = Repository(self.site, self.base_url, self.page_size)
                self._loaded = (key, ServerBase(repo, metadata_registry(repo.prefixes)))
            return self._loaded[1]

    def answer(self, args: list[tuple[str, str]] | None) -> bytes:
        """The OAI-PMH response to the request's arguments (None: they could not be read)."""
        server = self._server()
        if args is None:
            return _error(server, error.BadArgumentError("the request's arguments are not UTF-8 form data"))
        verbs = [v for k, v in args if k == "verb"]
        if len(verbs) != 1 or verbs[0] not in VERBS:
            what = "missing" if not verbs else "repeated" if len(verbs) > 1 else "not an OAI-PMH verb"
            return _error(server, error.BadVerbError(f"the verb is {what}"))
        keys = [k for k, _ in args]
        problem = next((f"{k} is repeated" for k in keys if keys.count(k) > 1), None) or next(
            (f"{k!r} is not an argument of OAI-PMH" for k in keys if k not in ARGUMENTS), None) or next(
            (f"the value of {k} holds characters XML cannot carry" for k, v in args if NOT_XML.search(v)), None) \
            or next((f"{k} is not a date of the form YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ" for k, v in args
                     if k in ("from", "until") and not _DATE.match(v)), None)
        if problem:
            return _error(server, error.BadArgumentError(problem))
        body = server.handleRequest(dict(args))
        dates = {k: v for k, v in args if k in ("from", "until")}
        return _echo_dates(body, dates) if dates else body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO", "") not in ("", "/"):
            return _plain(start_response, "404 Not Found", "not found: the OAI-PMH endpoint is at the base URL\n")
        if method in ("GET", "HEAD"):
            raw = environ.get("QUERY_STRING", "").encode("latin-1", "replace")
        elif method == "POST":
            kind = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if kind != "application/x-www-form-urlencoded":
                return _plain(start_response, "415 Unsupported Media Type",
                              "OAI-PMH requests by POST are application/x-www-form-urlencoded\n")
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_REQUEST:
                return _plain(start_response, "413 Content Too Large", "the request is too large\n")
            raw = environ["wsgi.input"].read(length)
        else:
            return _plain(start_response, "405 Method Not Allowed", "GET, HEAD or POST\n",
                          [("Allow", "GET, HEAD, POST")])
        try:
            if len(raw) > MAX_REQUEST:
                raise ValueError("too long")
            args: list[tuple[str, str]] | None = parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                                           errors="strict", max_num_fields=32)
        except (UnicodeDecodeError, ValueError):
            args = None
        try:
            body = self.answer(args)
        except Exception:  # a fault of the server or the site (never of the request: see answer), logged
            import traceback

            traceback.print_exc(file=environ.get("wsgi.errors", sys.stderr))
            return _plain(start_response, "500 Internal Server Error", "internal error (logged)\n")
        start_response("200 OK", [("Content-Type", XML_TYPE), ("Content-Length", str(len(body)))])
        return [b""] if method == "HEAD" else [body]


def _echo_dates(body: bytes, dates: dict[str, str]) -> bytes:
    """The response with ``from`` and ``until`` in its ``request`` element as the request gave them (the library
    writes the times it made of them: a day's ``until`` as 23:59:59 of that day)."""
    from lxml import etree

    root = etree.fromstring(body)
    request = root.find(f"{{{oai.OAI_NS}}}request")
    if request is None:
        return body
    for key, value in dates.items():
        if key in request.attrib:
            request.set(key, value)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def _error(server: ServerBase, exc: error.ErrorBase) -> bytes:
    """The library's error response for ``exc``."""
    return server.handleException({}, (type(exc), exc, None))


def _plain(start_response: StartResponse, status: str, text: str,
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *(extra or [])])
    return [body]


def check_base_url(url: str) -> str:
    """``url`` if it can be an OAI-PMH base URL (http or https, no query or fragment), else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
            or NOT_XML.search(url) or any(c.isspace() for c in url):
        raise ValueError(f"{url!r} is not a base URL: give an http(s) URL without query or fragment")
    return url


_app: list[OAIApp] = []


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """WSGI entry point for deployment: ``OPENEM_SITE`` (the built site folder), ``OPENEM_OAI_BASE_URL``
    (default: the site's URL followed by ``oai``), ``OPENEM_OAI_PAGE_SIZE`` (default 100)."""
    if not _app:
        site = os.environ.get("OPENEM_SITE")
        if not site:
            raise RuntimeError("set OPENEM_SITE to the folder `openem build` wrote")
        _app.append(OAIApp(site, os.environ.get("OPENEM_OAI_BASE_URL") or None,
                           int(os.environ.get("OPENEM_OAI_PAGE_SIZE") or DEFAULT_PAGE_SIZE)))
    return _app[0](environ, start_response)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def make_http_server(app: Callable[..., Iterable[bytes]], host: str = "127.0.0.1", port: int = 8001,
                     log: bool = True) -> WSGIServer:
    """The standard library's threading HTTP server with ``app``, bound (port 0: a free port); ``log``: a line
    on standard error for each request."""
    return make_server(host, port, app, server_class=_ThreadingServer,
                       handler_class=_Handler if log else _QuietHandler)


def serve(site: Path, host: str = "127.0.0.1", port: int = 8001, base_url: str | None = None,
          page_size: int = DEFAULT_PAGE_SIZE) -> int:
    """Serve the OAI-PMH endpoint of ``site`` until interrupted (``openem oai serve``); exit status."""
    try:
        app = OAIApp(site, check_base_url(base_url) if base_url else None, page_size)
    except (SiteError, ValueError, OSError) as exc:
        print(f"openem: {exc}", file=sys.stderr)
        return 2
    try:
        httpd = make_http_server(app, host, port)
    except OSError as exc:
        print(f"openem: cannot listen on {host}:{port} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    with httpd:
        url = f"http://{f'[{host}]' if ':' in host else host}:{httpd.server_address[1]}/"
        if base_url is None:
            app.set_base_url(url)
        print(f"OAI-PMH endpoint of {site} at {url} (base URL {app.base_url}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()
    return 0
