"""Registering dataset DOIs with DataCite's REST API: ``openem doi reserve|publish|update <id>``.

- The endpoint is configurable and defaults to DataCite's *test* API; the repository id and password come
  only from the environment (``DATACITE_REPOSITORY_ID``, ``DATACITE_PASSWORD``), never from repository files.
- A DOI's name is the record's ``doi`` when it has one, else ``<prefix>/openem.<id>``.
- Every command first asks the API for the DOI's state, then plans the requests (:func:`plan`, pure), so
  running a command twice changes nothing. A registered or findable DOI is never re-pointed to another URL
  without ``force``, and nothing here ever deletes or hides a DOI.
- The dataset's YAML gets its ``doi:`` line only after the API confirmed the DOI exists, as one inserted
  line: the rest of the file (comments, quoting, order) is left exactly as it was.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .context import DEFAULT_SITE_URL, PUBLISHER, SiteContext
from .model import Dataset
from .render import datacite

TEST_ENDPOINT = "https://api.test.datacite.org"
PRODUCTION_ENDPOINT = "https://api.datacite.org"
COMMANDS = ("reserve", "publish", "update")
MEDIA_TYPE = "application/vnd.api+json"
_PREFIX = re.compile(r"^10\.\d{4,9}$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
#: Attributes the API adds or rewrites on its own; never compared.
_BOOKKEEPING = {"doi", "prefix", "suffix", "event", "state", "schemaVersion"}


class DOIError(Exception):
    """A problem to report as it is (no traceback): refusals, network and API errors, bad settings."""


# -------------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    endpoint: str = TEST_ENDPOINT
    prefix: str | None = None
    repository_id: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, endpoint: str | None = None,
                 prefix: str | None = None) -> Settings:
        """Settings from the arguments, else from ``DATACITE_ENDPOINT`` / ``DATACITE_PREFIX`` in ``env``;
        credentials only from ``DATACITE_REPOSITORY_ID`` / ``DATACITE_PASSWORD``."""
        env = os.environ if env is None else env
        endpoint = (endpoint or env.get("DATACITE_ENDPOINT") or TEST_ENDPOINT).strip().rstrip("/")
        if not re.match(r"^https?://[^\s/]+", endpoint):
            raise DOIError(f"the DataCite endpoint '{endpoint}' is not an http(s) URL, e.g. {TEST_ENDPOINT}")
        prefix = (prefix or env.get("DATACITE_PREFIX") or "").strip() or None
        if prefix and not _PREFIX.match(prefix):
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
        return "api.test.datacite.org" in self.endpoint


def doi_name(d: Dataset, prefix: str | None) -> str:
    """The dataset's DOI: its own when it has one, else ``<prefix>/openem.<id>``."""
    if d.doi:
        return d.doi
    if not prefix:
        raise DOIError(f"{d.id} has no DOI yet and no prefix is set: set DATACITE_PREFIX (or pass --prefix) "
                       "to the prefix DataCite assigned to the repository")
    return f"{prefix}/openem.{d.id}"


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


def _urlopen(request: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (the endpoint is http(s), checked)


class DataCiteAPI:
    """The few REST calls the commands need: read one DOI, create one, update one."""

    def __init__(self, settings: Settings, opener: Opener = _urlopen) -> None:
        self.settings = settings
        self._open = opener

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": MEDIA_TYPE, "User-Agent": "openem-catalogue (+https://catalogue.openem.ch/)"}
        if self.settings.has_credentials:
            token = f"{self.settings.repository_id}:{self.settings.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        return headers

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        url = f"{self.settings.endpoint}/{path}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = MEDIA_TYPE
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._open(req, self.settings.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
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


# ---------------------------------------------------------------------------------------------- planning


def _doi_path(doi: str) -> str:
    return "dois/" + urllib.parse.quote(doi, safe="/")


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


def plan(command: str, ctx: SiteContext, d: Dataset, doi: str, current: Mapping[str, Any] | None, *,
         force: bool = False) -> Plan:
    """The requests ``command`` needs, given the DOI's ``current`` attributes at DataCite (None: unknown).

    Raises DOIError for a refusal (re-pointing a registered DOI without ``force``, updating an unknown DOI).
    """
    if command not in COMMANDS:
        raise DOIError(f"unknown command '{command}': use one of {', '.join(COMMANDS)}")
    url = ctx.dataset_url(d)
    path = _doi_path(doi)

    def body(event: str | None) -> dict[str, Any]:
        return datacite.payload(ctx, d, doi=doi, event=event, url=url)

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
    from .yamlsafe import YamlError, parse

    if not _DOI.match(doi):
        raise DOIError(f"'{doi}' is not a DOI")
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


def run(command: str, ctx: SiteContext, d: Dataset, settings: Settings, *, root: Path, dry_run: bool = False,
        force: bool = False, api: DataCiteAPI | None = None) -> Outcome:
    """Carry out ``command`` for dataset ``d`` of the catalogue at ``root``.

    A dry run sends nothing: with credentials it still reads the DOI's state to plan exactly; without, it
    plans from the YAML (no ``doi``: not registered yet).
    """
    doi = doi_name(d, settings.prefix)
    if not _DOI.match(doi):
        raise DOIError(f"'{doi}' is not a valid DOI")
    api = api or DataCiteAPI(settings)
    if dry_run and not settings.has_credentials:
        if command == "update" and d.doi:
            body = datacite.payload(ctx, d, doi=doi, url=ctx.dataset_url(d))
            p = Plan((Request("PUT", _doi_path(doi), body),), f"update {doi}")
        else:
            # The YAML names a DOI only once DataCite confirmed it: assume it is findable at the landing page.
            assumed = {"state": "findable", "url": ctx.dataset_url(d)} if d.doi else None
            p = plan(command, ctx, d, doi, assumed, force=force)
        return Outcome(doi, "dry run without credentials (DataCite was not asked for the DOI's state): "
                       + _would(p), p.requests)
    if not settings.has_credentials:
        raise DOIError("set DATACITE_REPOSITORY_ID and DATACITE_PASSWORD to the DataCite repository's "
                       "credentials (environment variables only; never put them in a file of the repository)")
    current = api.get(doi)
    p = plan(command, ctx, d, doi, current, force=force)
    if dry_run:
        return Outcome(doi, "dry run: " + _would(p), p.requests, state=(current or {}).get("state"))
    answer: dict[str, Any] = dict(current or {})
    for request in p.requests:
        answer = api.send(request)
        if str(answer.get("doi", doi)).lower() != doi.lower():
            raise DOIError(f"DataCite answered with DOI {answer.get('doi')} instead of {doi}; "
                           "the YAML was left unchanged")
    state = answer.get("state")
    updated = False
    # Here DataCite has confirmed the DOI exists (it answered the GET or the write).
    if d.source and not d.doi:
        updated = write_doi(root / d.source, doi)
    message = p.message + (f"; wrote doi: {doi} into {d.source}" if updated else "")
    return Outcome(doi, message, p.requests, sent=bool(p.requests), yaml_updated=updated, state=state)


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
# as `<concept>.v<N>`. The list of versions comes from git history. Registering version DOIs is not wired
# into `openem doi` yet (see the report); these helpers are what it and the landing page need.


@dataclass(frozen=True)
class VersionEntry:
    """One version of a dataset: its ``version`` string and the first commit that carried it."""

    version: str
    commit: str
    date: str  # the commit's date, YYYY-MM-DD


def version_history(root: Path, d: Dataset) -> list[VersionEntry]:
    """Every ``version:`` the dataset's YAML had in git history, oldest first (empty outside git)."""
    import subprocess

    from .yamlsafe import YamlError, parse

    if not d.source:
        return []

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60,
                              check=True).stdout

    try:
        log = git("log", "--reverse", "--format=%H %cs", "--", d.source)
    except (OSError, subprocess.SubprocessError):
        return []
    out: list[VersionEntry] = []
    for line in log.splitlines():
        commit, _, day = line.partition(" ")
        try:
            data = parse(git("show", f"{commit}:{d.source}")).data
        except (OSError, subprocess.SubprocessError, YamlError):
            continue  # deleted or unreadable in that commit
        version = str(data.get("version", "1.0")) if isinstance(data, dict) else "1.0"
        if not out or out[-1].version != version:
            out.append(VersionEntry(version, commit, day))
    return out


def version_doi(concept: str, version: str) -> str:
    """The DOI of one version, derived from the concept DOI: ``<concept>.v<version>``."""
    return f"{concept}.v{version}"


def version_links(concept: str, history: list[VersionEntry], version: str) -> datacite.Versions:
    """How ``version``'s DOI relates to the concept DOI and to its neighbours in ``history``."""
    names = [v.version for v in history]
    if version not in names:
        names.append(version)
    i = names.index(version)
    return datacite.Versions(
        concept=concept,
        previous=version_doi(concept, names[i - 1]) if i > 0 else None,
        newer=version_doi(concept, names[i + 1]) if i + 1 < len(names) else None)
