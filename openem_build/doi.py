"""Registering dataset DOIs with DataCite's REST API: ``openem doi reserve|publish|update <id>``.

- The endpoint is configurable and defaults to DataCite's *test* API; the repository id and password come
  only from the environment (``DATACITE_REPOSITORY_ID``, ``DATACITE_PASSWORD``), never from repository files.
  They are sent only to the endpoint's origin (scheme, host and port), only over https (plain http only to
  127.0.0.1, localhost or [::1], for a local stand-in), never through a proxy in the clear, and no redirect is
  followed (:class:`DataCiteAPI`).
- A DOI's name is the record's ``doi`` when it has one, else ``<prefix>/openem.<id>``; either must be in the
  form :mod:`.doiname` accepts, and one this catalogue may register for that dataset: under the prefix only
  the dataset's own derived DOI, and none that another dataset of the catalogue names (:func:`check_claim`).
- Every command first asks the API for the DOI's state, then plans the requests (:func:`plan`, pure), so
  running a command twice changes nothing. A registered or findable DOI is never re-pointed to another URL
  without ``force``, and nothing here ever deletes or hides a DOI.
- The dataset's YAML gets its ``doi:`` line only after the API confirmed the DOI exists, as one inserted
  line: the rest of the file (comments, quoting, order) is left exactly as it was.
- Versions follow Zenodo: the YAML's ``doi`` is the *concept* DOI (all versions, resolving to the landing
  page, which shows the latest) and each version has a derived DOI ``<concept>.v<version>`` (never written
  to the YAML). ``publish`` registers the current version's DOI beside the concept (IsVersionOf the concept,
  IsNewVersionOf the nearest earlier registered version) and lists every registered version on the concept
  (HasVersion); ``update`` updates both; ``reserve`` drafts the concept only. The versions are those the site
  publishes: from the first-parent history of the commit checked out, each record validated (:mod:`.history`,
  so a pull request's own commits never name a version). DOIs of older versions are only read, never
  written: they keep their URL.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .infra.context import DEFAULT_SITE_URL, PUBLISHER, SiteContext
from .records import doiname
from .records.history import Version, histories
from .records.model import Dataset
from .render import datacite

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


# ---------------------------------------------------------------------------------------------- planning


def _doi_path(doi: str) -> str:
    """``dois/<doi>`` with each part of the DOI percent-encoded; DOIError for a DOI not in doiname's form."""
    try:
        return "dois/" + doiname.url_path(doi)
    except ValueError as exc:
        raise DOIError(f"{exc}; nothing was sent") from None


@dataclass(frozen=True)
class Plan:
    requests: tuple[Request, ...]
    message: str


#: Keys whose values DataCite may store in another letter case (it lower-cases DOIs and SPDX ids).
_CASELESS = {"doi", "relatedIdentifier", "rightsIdentifier", "nameIdentifier", "affiliationIdentifier",
             "publisherIdentifier", "funderIdentifier"}


def _subset(want: Any, have: Any, key: str = "") -> bool:
    """Whether ``have`` holds everything in ``want`` (the API may add keys of its own)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k), k) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(have, list) and len(want) == len(have)
                and all(_subset(w, h, key) for w, h in zip(want, have, strict=True)))
    if isinstance(want, str) and isinstance(have, int | str):
        return want.casefold() == str(have).casefold() if key in _CASELESS else want == str(have)
    return bool(want == have)


def changed_fields(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """Top-level metadata fields whose value at DataCite differs from ``want``."""
    return sorted(k for k, v in want.items() if k not in _BOOKKEEPING and not _subset(v, have.get(k)))


def _same_url(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")


def _listed_versions(current: Mapping[str, Any] | None) -> list[str]:
    """The version DOIs a concept DOI's ``current`` attributes at DataCite list (HasVersion)."""
    related = (current or {}).get("relatedIdentifiers") or []
    return [str(r.get("relatedIdentifier")) for r in related
            if isinstance(r, dict) and r.get("relationType") == "HasVersion" and r.get("relatedIdentifier")]


def plan(command: str, ctx: SiteContext, d: Dataset, doi: str, current: Mapping[str, Any] | None, *,
         force: bool = False, versions: datacite.Versions | None = None) -> Plan:
    """The requests ``command`` needs, given the DOI's ``current`` attributes at DataCite (None: unknown).

    ``versions`` relates ``doi`` to the other version DOIs (see :func:`version_links`; for the concept DOI,
    ``Versions(versions=...)``): it goes into the metadata sent. ``publish`` on a findable concept DOI that
    does not list all of ``versions.versions`` yet updates it.

    Raises DOIError for a refusal (re-pointing a registered DOI without ``force``, updating an unknown DOI).
    """
    if command not in COMMANDS:
        raise DOIError(f"unknown command '{command}': use one of {', '.join(COMMANDS)}")
    url = ctx.dataset_url(d)
    path = _doi_path(doi)

    def body(event: str | None) -> dict[str, Any]:
        return datacite.payload(ctx, d, doi=doi, event=event, url=url, versions=versions)

    if current is None:
        if command == "update":
            raise DOIError(f"{doi} is not registered at DataCite: run `openem doi reserve {d.id}` or "
                           f"`openem doi publish {d.id}` first")
        if command == "reserve":
            return Plan((Request("POST", "dois", body(None)),), f"reserved {doi} as a draft DOI")
        return Plan((Request("POST", "dois", body("publish")),), f"published {doi} (findable) → {url}")

    state = str(current.get("state") or "draft")
    registered = state in ("registered", "findable")
    repoint = registered and current.get("url") and not _same_url(current.get("url"), url)
    if repoint and not force:
        raise DOIError(f"{doi} is {state} and resolves to {current.get('url')}, not to {url}; refusing to "
                       "re-point a registered DOI — check the site URL, or pass --force to move it")

    if command == "reserve":
        return Plan((), f"{doi} exists already ({state}); nothing to do")
    if command == "publish":
        if state == "findable" and not repoint:
            listed = {v.casefold() for v in _listed_versions(current)}
            missing = [v for v in (versions.versions if versions else ()) if v.casefold() not in listed]
            if missing:
                return Plan((Request("PUT", path, body(None)),),
                            f"updated {doi} to list version DOI{'s' * (len(missing) != 1)} {', '.join(missing)}")
            return Plan((), f"{doi} is findable already; nothing to do (`openem doi update {d.id}` sends "
                            "changed metadata)")
        verb = "re-pointed" if repoint else "published"
        return Plan((Request("PUT", path, body("publish")),), f"{verb} {doi} (findable) → {url}")
    # update
    want = body(None)["data"]["attributes"]
    fields = changed_fields(want, current)
    if not fields:
        return Plan((), f"{doi}: metadata at DataCite are up to date; nothing to do")
    return Plan((Request("PUT", path, body(None)),), f"updated {doi} ({', '.join(fields)})")


# -------------------------------------------------------------------------------------------------- YAML


def insert_doi(text: str, doi: str) -> str:
    """``text`` (a dataset.yaml) with a top-level ``doi:`` line added before ``dates:``; nothing else changes.

    Raises DOIError when the file already names another DOI or the line cannot be added safely.
    """
    from .records.yamlsafe import YamlError, parse

    if problem := doiname.syntax_problem(doi):
        raise DOIError(f"{doi!r} {problem}")
    try:
        located = parse(text)
    except YamlError as exc:
        raise DOIError(f"cannot read the YAML to add the DOI: {exc.message}") from None
    data = located.data
    if not isinstance(data, dict):
        raise DOIError("the YAML is not a mapping; add the doi line by hand")
    if "doi" in data:
        if data["doi"] == doi:
            return text
        raise DOIError(f"the file names another DOI ({data['doi']}); leaving it alone")
    newline = "\r\n" if "\r\n" in text else "\n"
    line = f"doi: {json.dumps(doi)}{newline}"
    lines = text.splitlines(keepends=True)
    index = len(lines)
    pos = located.key_positions.get(("dates",))
    if pos and pos[1] == 1:
        index = pos[0] - 1
        # Keep comments written just above `dates:` attached to it.
        while index > 0 and lines[index - 1].startswith("#"):
            index -= 1
    if index == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    new = "".join(lines[:index]) + line + "".join(lines[index:])
    try:
        check = parse(new).data
    except YamlError:
        check = None
    if check != {**data, "doi": doi}:
        raise DOIError(f'could not add the line doi: "{doi}" safely; add it by hand')
    return new


def write_doi(path: Path, doi: str) -> bool:
    """Add ``doi:`` to the dataset file at ``path``; True when the file changed."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    new = insert_doi(text, doi)
    if new == text:
        return False
    bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
    tmp = path.with_name(path.name + ".doi-tmp")
    tmp.write_bytes((bom + new).encode("utf-8"))
    os.replace(tmp, path)
    return True


# ------------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    doi: str
    message: str
    requests: tuple[Request, ...] = ()
    sent: bool = False
    yaml_updated: bool = False
    state: str | None = None
    #: The DOI of the dataset's current version (``<concept>.v<version>``).
    version_doi: str | None = None


def _plan_all(command: str, ctx: SiteContext, d: Dataset, concept: str, history: Sequence[Version],
              concept_now: Mapping[str, Any] | None, versions_now: Mapping[str, Mapping[str, Any] | None], *,
              force: bool = False) -> tuple[Plan, Plan]:
    """The plans for the concept DOI and for the current version's DOI (in that order).

    ``versions_now`` maps version strings to their DOI's attributes at DataCite (None or absent: not
    registered). Only the concept and the *current* version's DOI are ever written.
    """
    current = version_doi(concept, d.version)
    if command == "reserve":
        p = plan(command, ctx, d, concept, concept_now, force=force)
        return p, Plan((), f"version DOI {current} not reserved (`openem doi publish {d.id}` registers it)")
    names = _names(history, d.version)
    registered = [n for n in names if versions_now.get(n) is not None]
    # The concept lists every version DOI registered (or being registered now), and keeps any it already
    # lists that the git history does not know (history rewritten, or a run outside git).
    ours = [version_doi(concept, n) for n in names if n in registered or (command == "publish" and n == d.version)]
    known = {v.casefold() for v in ours}
    extra = [v for v in _listed_versions(concept_now) if v.casefold() not in known]
    concept_plan = plan(command, ctx, d, concept, concept_now, force=force,
                        versions=datacite.Versions(versions=tuple(extra + ours)))
    if command == "update" and versions_now.get(d.version) is None:
        return concept_plan, Plan((), f"version DOI {current} is not registered (`openem doi publish {d.id}` "
                                      "registers it)")
    now = versions_now.get(d.version)
    links = version_links(concept, history, d.version, registered=registered)
    # A neighbour the DOI already names but git does not know (a run outside git) is kept, not dropped.
    links = dataclasses.replace(links, previous=links.previous or _related_doi(now, "IsNewVersionOf"),
                                newer=links.newer or _related_doi(now, "IsPreviousVersionOf"))
    return concept_plan, plan(command, ctx, d, current, now, force=force, versions=links)


def _related_doi(current: Mapping[str, Any] | None, relation: str) -> str | None:
    for r in (current or {}).get("relatedIdentifiers") or []:
        if isinstance(r, dict) and r.get("relationType") == relation and r.get("relatedIdentifier"):
            return str(r["relatedIdentifier"])
    return None


def _names(history: Sequence[Version], version: str) -> list[str]:
    names = [v.version for v in history]
    return names if version in names else [*names, version]


def _joined(*plans: Plan) -> Plan:
    return Plan(tuple(r for p in plans for r in p.requests), "; ".join(p.message for p in plans))


def _send(api: DataCiteAPI, request: Request, doi: str) -> dict[str, Any]:
    answer = api.send(request)
    if str(answer.get("doi", doi)).lower() != doi.lower():
        raise DOIError(f"DataCite answered with DOI {answer.get('doi')} instead of {doi}")
    return answer


def run(command: str, ctx: SiteContext, d: Dataset, settings: Settings, *, root: Path, dry_run: bool = False,
        force: bool = False, api: DataCiteAPI | None = None) -> Outcome:
    """Carry out ``command`` for dataset ``d`` of the catalogue at ``root``: the concept DOI first, then the
    current version's DOI (see the module's docstring).

    Everything is planned before anything is sent, so a refusal sends nothing. A dry run sends nothing:
    with credentials it still reads the DOIs' states to plan exactly; without, it plans from the YAML (no
    ``doi``: nothing registered yet; else the concept and the earlier versions' DOIs are findable, and the
    current version's DOI is too for ``update`` but not yet for ``publish``).
    """
    concept = doi_name(d, settings.prefix)
    current = version_doi(concept, d.version)
    if not settings.prefix and not dry_run:
        raise DOIError("set DATACITE_PREFIX (or pass --prefix) to the prefix DataCite assigned to the "
                       "repository: only DOIs under it are registered")
    check_claim(d, concept, settings.prefix, ctx.catalogue.datasets)
    if problem := doiname.syntax_problem(current):
        raise DOIError(f"{current!r} {problem}")
    api = api or DataCiteAPI(settings)
    history = version_history(root, d)
    names = _names(history, d.version)
    if dry_run and not settings.has_credentials:
        # The YAML names a DOI only once DataCite confirmed it: assume it is findable at the landing page.
        url = ctx.dataset_url(d)
        earlier = names[:names.index(d.version) + (command == "update")] if d.doi else []
        assumed_versions = {n: {"state": "findable", "url": url} for n in earlier}
        listed = [{"relatedIdentifier": version_doi(concept, n), "relatedIdentifierType": "DOI",
                   "relationType": "HasVersion"} for n in earlier]
        assumed = {"state": "findable", "url": url, "relatedIdentifiers": listed} if d.doi else None
        p = _joined(*_plan_all(command, ctx, d, concept, history, assumed, assumed_versions, force=force))
        return Outcome(concept, "dry run without credentials (DataCite was not asked for the DOIs' states): "
                       + _would(p), p.requests, version_doi=current)
    if not settings.has_credentials:
        raise DOIError("set DATACITE_REPOSITORY_ID and DATACITE_PASSWORD to the DataCite repository's "
                       "credentials (environment variables only; never put them in a file of the repository)")
    concept_now = api.get(concept)
    versions_now = {} if command == "reserve" else {n: api.get(version_doi(concept, n)) for n in names}
    concept_plan, version_plan = _plan_all(command, ctx, d, concept, history, concept_now, versions_now,
                                           force=force)
    both = _joined(concept_plan, version_plan)
    if dry_run:
        return Outcome(concept, "dry run: " + _would(both), both.requests,
                       state=(concept_now or {}).get("state"), version_doi=current)
    answer: dict[str, Any] = dict(concept_now or {})
    for request in concept_plan.requests:
        try:
            answer = _send(api, request, concept)
        except DOIError as exc:
            raise DOIError(f"{exc}; nothing else was sent and the YAML was left unchanged") from None
    state = answer.get("state")
    updated = False
    # Here DataCite has confirmed the concept DOI exists (it answered the GET or the write).
    if d.source and not d.doi:
        updated = write_doi(root / d.source, concept)
    done = concept_plan.message + (f"; wrote doi: {concept} into {d.source}" if updated else "")
    for request in version_plan.requests:
        try:
            _send(api, request, current)
        except DOIError as exc:
            raise DOIError(f"{exc} (the concept DOI was handled first: {done}; run the command again to "
                           f"retry {current})") from None
    return Outcome(concept, f"{done}; {version_plan.message}", both.requests, sent=bool(both.requests),
                   yaml_updated=updated, state=state, version_doi=current)


def _would(p: Plan) -> str:
    if not p.requests:
        return p.message
    return f"would send {len(p.requests)} request{'s' * (len(p.requests) != 1)} ({p.message})"


# ------------------------------------------------------------------------------------------------ context


class _ConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring the Python tags some of its extensions use."""


_ConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def site_context(root: Path, catalogue: Any, config: str = "mkdocs.yml") -> SiteContext:
    """The SiteContext the site is built with: site_url and the openem plugin's publisher from mkdocs.yml."""
    site_url, publisher, publisher_ror, site_name = DEFAULT_SITE_URL, PUBLISHER, None, "OpenEM catalogue"
    path = root / config
    if path.is_file():
        try:
            cfg = yaml.load(path.read_text("utf-8"), Loader=_ConfigLoader) or {}
        except yaml.YAMLError as exc:
            raise DOIError(f"cannot read {path}: {exc}") from None
        site_url = cfg.get("site_url") or site_url
        site_name = cfg.get("site_name") or site_name
        for plugin in cfg.get("plugins") or []:
            if isinstance(plugin, dict) and isinstance(plugin.get("openem"), dict):
                publisher = plugin["openem"].get("publisher") or publisher
                publisher_ror = plugin["openem"].get("publisher_ror") or publisher_ror
    return SiteContext(catalogue, site_url=site_url, publisher=publisher, publisher_ror=publisher_ror,
                       site_name=site_name)


# ------------------------------------------------------------------------------------------------ versions
# The Zenodo model, without new fields in dataset.yaml: the record's `doi` is the *concept* DOI (all
# versions; it resolves to the landing page, which shows the latest), and version N's DOI is derived from it
# as `<concept>.v<N>`. The list of versions comes from git history (see `run` for how they are registered).


def version_history(root: Path, d: Dataset) -> tuple[Version, ...]:
    """Every version of ``d`` in the catalogue's trusted git history (the one the site's "Versions" table and
    ``versions/*.json`` come from: see :mod:`.history`), oldest first; empty outside git."""
    return histories(root).get(d.id, ())


def version_doi(concept: str, version: str) -> str:
    """The DOI of one version, derived from the concept DOI: ``<concept>.v<version>``."""
    return f"{concept}.v{version}"


def version_links(concept: str, history: Sequence[Version], version: str, *,
                  registered: Collection[str] | None = None) -> datacite.Versions:
    """How ``version``'s DOI relates to the concept DOI and to its neighbours in ``history``.

    With ``registered`` (version strings whose DOI exists), the neighbours are the nearest registered
    versions before and after ``version``: a relation never names a DOI that does not exist.
    """
    names = _names(history, version)
    i = names.index(version)
    ok = [n for n in names if registered is None or n in registered]
    before = [n for n in ok if names.index(n) < i]
    after = [n for n in ok if names.index(n) > i]
    return datacite.Versions(
        concept=concept,
        previous=version_doi(concept, before[-1]) if before else None,
        newer=version_doi(concept, after[0]) if after else None)
