"""DataCite's REST API: settings from the environment, the endpoint's checks, DOI names and claims, and the
client (credentials only to the endpoint's origin, https only, no redirects, no proxy in the clear)."""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..records import doiname
from ..records.model import Dataset

TEST_ENDPOINT = "https://api.test.datacite.org"
PRODUCTION_ENDPOINT = "https://api.datacite.org"
COMMANDS = ("reserve", "publish", "update")
MEDIA_TYPE = "application/vnd.api+json"
#: Hosts an endpoint may name with plain http: a local stand-in for DataCite (tests); nothing leaves the machine.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: Attributes the API adds or rewrites on its own; never compared.
_BOOKKEEPING = {"doi", "prefix", "suffix", "event", "state", "schemaVersion"}


class DOIError(Exception):
    """A problem to report as it is (no traceback): refusals, network and API errors, bad settings."""


# -------------------------------------------------------------------------------------------------- settings


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` without a trailing ``/``; DOIError unless it is an https URL (http only to a loopback
    host) of a scheme, host, optional port and optional plain path, and nothing else."""
    if not re.fullmatch(r"[!-~]+", endpoint):
        raise DOIError("the DataCite endpoint contains spaces, control or non-ASCII characters; write a URL "
                       f"such as {TEST_ENDPOINT}")
    endpoint = endpoint.rstrip("/")
    try:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.port == 0:  # (.port itself raises ValueError for a port that is not a number up to 65535)
            raise ValueError("port 0")
    except ValueError as exc:
        raise DOIError(f"the DataCite endpoint '{endpoint}' is not a valid URL ({exc})") from None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme not in ("https", "http") or not host:
        raise DOIError(f"the DataCite endpoint '{endpoint}' is not an https URL, e.g. {TEST_ENDPOINT}")
    if "@" in parts.netloc:
        raise DOIError(f"the DataCite endpoint '{endpoint}' holds user information: give the credentials only "
                       "in DATACITE_REPOSITORY_ID and DATACITE_PASSWORD")
    if parts.query or parts.fragment or "?" in endpoint or "#" in endpoint or \
            not re.fullmatch(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*", parts.path) or "/." in parts.path:
        raise DOIError(f"the DataCite endpoint '{endpoint}' must be the API's address only (scheme, host, port "
                       f"and plain path, no query, fragment or dot segments), e.g. {TEST_ENDPOINT}")
    if scheme == "http" and host not in LOOPBACK:
        raise DOIError(f"the DataCite endpoint '{endpoint}' is plain http: the password would travel "
                       "unencrypted; use https (plain http only for 127.0.0.1, localhost and [::1])")
    return endpoint


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of ``url`` (the port the scheme implies when none is given)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


@dataclass(frozen=True)
class Settings:
    endpoint: str = TEST_ENDPOINT
    prefix: str | None = None
    repository_id: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        # However Settings are made: no endpoint that could send the credentials elsewhere or in the clear.
        object.__setattr__(self, "endpoint", check_endpoint(self.endpoint))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, endpoint: str | None = None,
                 prefix: str | None = None) -> Settings:
        """Settings from the arguments, else from ``DATACITE_ENDPOINT`` / ``DATACITE_PREFIX`` in ``env``;
        credentials only from ``DATACITE_REPOSITORY_ID`` / ``DATACITE_PASSWORD``."""
        env = os.environ if env is None else env
        endpoint = check_endpoint((endpoint or env.get("DATACITE_ENDPOINT") or TEST_ENDPOINT).strip())
        prefix = (prefix or env.get("DATACITE_PREFIX") or "").strip() or None
        if prefix and not doiname.PREFIX.fullmatch(prefix):
            raise DOIError(f"the DOI prefix '{prefix}' is not valid: write it as 10. followed by 4 to 9 "
                           "digits, e.g. 10.5072")
        return cls(endpoint=endpoint, prefix=prefix,
                   repository_id=(env.get("DATACITE_REPOSITORY_ID") or "").strip() or None,
                   password=env.get("DATACITE_PASSWORD") or None)

    @property
    def has_credentials(self) -> bool:
        return bool(self.repository_id and self.password)

    @property
    def is_test(self) -> bool:
        return origin(self.endpoint)[1] == "api.test.datacite.org"


def doi_name(d: Dataset, prefix: str | None) -> str:
    """The dataset's DOI: its own when it has one, else ``<prefix>/openem.<id>``."""
    if d.doi:
        return d.doi
    if not prefix:
        raise DOIError(f"{d.id} has no DOI yet and no prefix is set: set DATACITE_PREFIX (or pass --prefix) "
                       "to the prefix DataCite assigned to the repository")
    return doiname.derived(prefix, d.id)


def check_claim(d: Dataset, doi: str, prefix: str | None, others: Sequence[Dataset] = ()) -> None:
    """DOIError unless ``doi`` may be registered for ``d``: in :mod:`.doiname`'s form, not reserved for another
    dataset, under ``prefix`` (when set) and the one derived for ``d`` there, and neither the DOI nor a version
    DOI of any of ``others`` (the rest of the catalogue: their own DOI, or the one derived for them)."""
    problem = doiname.syntax_problem(doi) or doiname.claim_problem(doi, d.id, prefix)
    if problem:
        raise DOIError(f"{doi!r} {problem}; refusing to register it for {d.id}")
    if prefix and doi.partition("/")[0] != prefix:
        raise DOIError(f"{doi} is not under the catalogue's prefix {prefix}: the catalogue registers and updates "
                       "only its own DOIs (that DOI is managed where it was registered)")
    for other in others:
        if other.id == d.id:
            continue
        theirs = other.doi or (doiname.derived(prefix, other.id) if prefix else None)
        if theirs and doiname.overlap(doi, theirs):
            raise DOIError(f"{doi} clashes with the DOI {theirs} of {other.id}; refusing to register it for {d.id}")


# ------------------------------------------------------------------------------------------------- the API


@dataclass(frozen=True)
class Request:
    """One write request to the REST API (``path`` relative to the endpoint)."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None

    def describe(self, endpoint: str) -> str:
        """The request as a person reads it (credentials never shown)."""
        head = f"{self.method} {endpoint.rstrip('/')}/{self.path}"
        if self.body is None:
            return head
        return head + "\n" + json.dumps(self.body, ensure_ascii=False, indent=2)


Opener = Callable[[urllib.request.Request, float], Any]


def opener_for(endpoint: str) -> Opener:
    """An HTTP(S) client for ``endpoint`` that follows no redirect (a 3xx reaches the caller as an HTTPError),
    verifies certificates, and uses no proxy for a loopback endpoint (plain http would show a proxy the
    password). Built from urllib's handlers alone: no netrc, cookies, auth handlers, file: or ftp:."""
    loopback = origin(endpoint)[1] in LOOPBACK
    director = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler({} if loopback else None), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(context=ssl.create_default_context()),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        director.add_handler(handler)

    def open_(request: urllib.request.Request, timeout: float) -> Any:
        return director.open(request, timeout=timeout)

    return open_


class DataCiteAPI:
    """The few REST calls the commands need: read one DOI, create one, update one.

    Every request goes to the endpoint's origin; the credentials ride in an unredirected header (urllib never
    copies those to a redirect), and the default client follows no redirect at all: a 3xx answer is an error
    that names where DataCite pointed (:func:`opener_for`).
    """

    def __init__(self, settings: Settings, opener: Opener | None = None) -> None:
        self.settings = settings
        self._open = opener or opener_for(settings.endpoint)

    def _headers(self) -> dict[str, str]:
        return {"Accept": MEDIA_TYPE, "User-Agent": "openem-catalogue (+https://catalogue.openem.ch/)"}

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        endpoint = check_endpoint(self.settings.endpoint)
        url = f"{endpoint}/{path}"
        if origin(url) != origin(endpoint) or not urllib.parse.urlsplit(url).path.startswith(
                urllib.parse.urlsplit(endpoint).path + "/"):
            raise DOIError(f"refusing to send {method} /{path}: it is not a path under {endpoint}")
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = MEDIA_TYPE
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        if self.settings.has_credentials:
            token = f"{self.settings.repository_id}:{self.settings.password}".encode()
            req.add_unredirected_header("Authorization", "Basic " + base64.b64encode(token).decode("ascii"))
        try:
            with self._open(req, self.settings.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                where = _one_line(exc.headers.get("Location") or "nowhere")
                exc.close()
                raise DOIError(f"DataCite answered {method} /{path} with a redirect (HTTP {exc.code}) to {where}; "
                               f"not followed: the credentials go only to {endpoint} — set DATACITE_ENDPOINT to "
                               "the API's own https address") from None
            status, raw = exc.code, exc.read() or b""
        except OSError as exc:  # URLError, timeouts, refused connections
            reason = getattr(exc, "reason", exc)
            raise DOIError(f"cannot reach the DataCite API at {self.settings.endpoint}: {reason}") from None
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
            if 200 <= status < 300:
                raise DOIError(f"DataCite answered {method} /{path} with HTTP {status} but no JSON "
                               f"(is {self.settings.endpoint} DataCite's REST API?)") from None
        return status, parsed

    def _fail(self, method: str, path: str, status: int, parsed: Any) -> DOIError:
        details = []
        if isinstance(parsed, dict):
            for err in parsed.get("errors") or []:
                if isinstance(err, dict):
                    text = str(err.get("title") or err.get("detail") or "").strip()
                    source = err.get("source")
                    details.append(f"{source}: {text}" if source and text else text)
        what = "; ".join(d for d in details if d) or "no details given"
        hint = ""
        if status in (401, 403):
            hint = (" — check DATACITE_REPOSITORY_ID and DATACITE_PASSWORD, and that the prefix belongs to "
                    "that repository")
        return DOIError(f"DataCite refused {method} /{path} (HTTP {status}): {what}{hint}")

    def get(self, doi: str) -> dict[str, Any] | None:
        """The DOI's attributes (with ``state``), or None when DataCite does not know it."""
        path = _doi_path(doi) + "?affiliation=true&publisher=true"
        status, parsed = self._call("GET", path)
        if status == 404:
            return None
        if status != 200 or not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
            raise self._fail("GET", path, status, parsed)
        return dict(parsed["data"].get("attributes") or {})

    def send(self, request: Request) -> dict[str, Any]:
        """Send a write request; the attributes DataCite answered with."""
        status, parsed = self._call(request.method, request.path, request.body)
        expected = 201 if request.method == "POST" else 200
        if status not in (expected, 200) or not isinstance(parsed, dict) or not isinstance(parsed.get("data"),
                                                                                            dict):
            raise self._fail(request.method, request.path, status, parsed)
        return dict(parsed["data"].get("attributes") or {})


def _one_line(text: str, limit: int = 200) -> str:
    """Text from a server, safe to show in a one-line message."""
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


def _doi_path(doi: str) -> str:
    """``dois/<doi>`` with each part of the DOI percent-encoded; DOIError for a DOI not in doiname's form."""
    try:
        return "dois/" + doiname.url_path(doi)
    except ValueError as exc:
        raise DOIError(f"{exc}; nothing was sent") from None
