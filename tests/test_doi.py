"""The DOI client against a local stand-in for DataCite's REST API (127.0.0.1, a thread per test)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
import yaml
from datacite import schema45

from openem_build import doi as D
from openem_build.cli import main
from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue

from .conftest import record_subdatasets

EXAMPLE = "apoferritin-krios-2024"
PREFIX = "10.80001"
REPO, PASSWORD = "OPENEM.TEST", "s3cret-pw"
VALIDATOR = schema45.validator.evolve(format_checker=jsonschema.FormatChecker())


# ------------------------------------------------------------------------------------ fake DataCite server


@dataclass
class FakeDataCite:
    """The part of DataCite's REST API the client uses, with DataCite's state rules.

    Every write body is validated against DataCite's JSON schema; an invalid one is answered with 422,
    and kept in ``invalid`` so tests can fail on it.
    """

    prefix: str = PREFIX
    dois: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    fail_next: tuple[int, bytes] | None = None

    def writes(self) -> list[tuple[str, str, Any]]:
        return [entry for entry in self.log if entry[0] != "GET"]

    def handle(self, method: str, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        self.log.append((method, path, body))
        if self.fail_next:
            status, raw = self.fail_next
            self.fail_next = None
            return status, raw
        expected = "Basic " + base64.b64encode(f"{REPO}:{PASSWORD}".encode()).decode()
        if auth != expected:
            return 401, {"errors": [{"status": "401", "title": "Bad credentials."}]}
        parts = urlsplit(path)
        if method == "POST" and parts.path == "/dois":
            return self._write(None, body)
        if parts.path.startswith("/dois/"):
            doi = unquote(parts.path[len("/dois/"):]).lower()
            if method == "GET":
                if doi not in self.dois:
                    return 404, {"errors": [{"status": "404", "title": "The resource you are looking for "
                                             "doesn't exist."}]}
                return 200, self._answer(doi)
            if method == "PUT":
                return self._write(doi, body)
            if method == "DELETE":
                return 405, {"errors": [{"status": "405", "title": "Method not allowed"}]}
        return 404, {"errors": [{"status": "404", "title": "No route"}]}

    def _answer(self, doi: str) -> dict[str, Any]:
        return {"data": {"id": doi, "type": "dois", "attributes": copy.deepcopy(self.dois[doi])}}

    def _write(self, doi: str | None, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or body.get("data", {}).get("type") != "dois":
            return 400, {"errors": [{"status": "400", "title": "You need to provide a payload following "
                                     "the JSONAPI spec"}]}
        attrs = dict(body["data"].get("attributes") or {})
        errors = [f"{list(e.path)}: {e.message}" for e in VALIDATOR.iter_errors(attrs)]
        if errors:
            self.invalid += errors
            return 422, {"errors": [{"status": "422", "source": "metadata", "title": e} for e in errors]}
        name = (doi or attrs.get("doi", "")).lower()
        if not name.startswith(self.prefix + "/"):
            return 403, {"errors": [{"status": "403", "title": "You are not authorized to access this "
                                     "resource."}]}
        event = attrs.pop("event", None)
        if doi is None:
            if name in self.dois:
                return 422, {"errors": [{"status": "422", "source": "doi", "title": "This DOI has already "
                                         "been taken"}]}
            record: dict[str, Any] = {"state": "draft"}
            created = True
        else:
            if name not in self.dois:
                return 404, {"errors": [{"status": "404", "title": "The resource you are looking for "
                                         "doesn't exist."}]}
            record = self.dois[name]
            created = False
        record.update(attrs)
        record["doi"] = name
        if event == "publish":
            if not record.get("url"):
                return 422, {"errors": [{"status": "422", "source": "url", "title": "Can't be blank"}]}
            record["state"] = "findable"
        elif event in ("register", "hide"):
            record["state"] = "registered"
        self.dois[name] = record
        return (201 if created else 200), self._answer(name)


@pytest.fixture
def fake() -> Iterator[tuple[FakeDataCite, str]]:
    api = FakeDataCite()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            if raw:
                assert self.headers.get("Content-Type") == "application/vnd.api+json"
            status, answer = api.handle(self.command, self.path, self.headers.get("Authorization"), body)
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.api+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not api.invalid, api.invalid


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATACITE_REPOSITORY_ID", "DATACITE_PASSWORD", "DATACITE_PREFIX", "DATACITE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def settings(endpoint: str, **kw: Any) -> D.Settings:
    env = {"DATACITE_REPOSITORY_ID": REPO, "DATACITE_PASSWORD": PASSWORD, "DATACITE_PREFIX": PREFIX}
    env.update(kw)
    return D.Settings.from_env({k: v for k, v in env.items() if v is not None}, endpoint=endpoint)


def load(root: Path) -> tuple[SiteContext, Any]:
    cat = load_catalogue(root).catalogue
    return SiteContext(cat, site_url="https://catalogue.example.org/"), cat.by_id[EXAMPLE]


def yaml_path(root: Path) -> Path:
    return root / "datasets" / EXAMPLE / "dataset.yaml"


DOI = f"{PREFIX}/openem.{EXAMPLE}"
V1, V2 = f"{DOI}.v1.0", f"{DOI}.v2.0"  # version DOIs, derived from the concept DOI
URL = f"https://catalogue.example.org/datasets/{EXAMPLE}/"


def run(command: str, root: Path, endpoint: str, **kw: Any) -> D.Outcome:
    ctx, d = load(root)
    opts = {k: kw.pop(k) for k in ("dry_run", "force") if k in kw}
    return D.run(command, ctx, d, settings(endpoint, **kw), root=root, **opts)


def relations(api: FakeDataCite, doi: str) -> list[tuple[str, str]]:
    """The DOI-to-DOI relations DataCite holds for ``doi``."""
    return [(r["relatedIdentifier"], r["relationType"]) for r in api.dois[doi.lower()]["relatedIdentifiers"]
            if r["relatedIdentifierType"] == "DOI"]


def printed_requests(out: str) -> list[tuple[str, Any]]:
    """The requests `openem doi --dry-run` printed: (method and URL, JSON body)."""
    chunks: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith(("POST ", "PUT ")):
            chunks.append([line])
        else:
            chunks[-1].append(line)
    return [(head, json.loads("\n".join(body))) for head, *body in chunks]


# ------------------------------------------------------------------------------------------------ dry run


def test_dry_run_without_credentials_sends_nothing(catalogue: Path, fake) -> None:
    api, endpoint = fake
    before = yaml_path(catalogue).read_text("utf-8")
    ctx, d = load(catalogue)
    out = D.run("publish", ctx, d, D.Settings.from_env({}, endpoint=endpoint, prefix=PREFIX),
                root=catalogue, dry_run=True)
    assert api.log == []
    assert "dry run" in out.message and not out.sent
    req, version = out.requests
    assert req.method == "POST" and req.path == "dois"
    attrs = req.body["data"]["attributes"]
    assert attrs["doi"] == DOI and attrs["event"] == "publish" and attrs["url"] == URL
    assert not list(VALIDATOR.iter_errors(attrs))
    assert version.method == "POST" and version.body["data"]["attributes"]["doi"] == V1
    assert not list(VALIDATOR.iter_errors(version.body["data"]["attributes"]))
    text = req.describe(endpoint)
    assert text.startswith(f"POST {endpoint}/dois\n") and PASSWORD not in text
    assert json.loads(text.split("\n", 1)[1]) == req.body
    assert yaml_path(catalogue).read_text("utf-8") == before


def test_dry_run_with_credentials_only_reads(catalogue: Path, fake) -> None:
    api, endpoint = fake
    out = run("reserve", catalogue, endpoint, dry_run=True)
    assert [m for m, _, _ in api.log] == ["GET"]
    assert out.requests[0].method == "POST" and "would send 1 request" in out.message
    assert "doi:" not in yaml_path(catalogue).read_text("utf-8")


# ------------------------------------------------------------------------------ reserve, publish, update


def test_reserve_then_publish_is_idempotent(catalogue: Path, fake) -> None:
    api, endpoint = fake
    path = yaml_path(catalogue)
    before = path.read_text("utf-8")

    out = run("reserve", catalogue, endpoint)
    assert out.sent and out.yaml_updated and out.state == "draft"
    assert api.dois[DOI.lower()]["state"] == "draft"
    assert V1.lower() not in api.dois and f"version DOI {V1} not reserved" in out.message
    (method, where, body), = api.writes()
    assert (method, where) == ("POST", "/dois") and "event" not in body["data"]["attributes"]
    after = path.read_text("utf-8")
    # Exactly one line added, before `dates:`; every other byte kept.
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == [f'doi: "{DOI}"']
    assert after.replace(f'doi: "{DOI}"\n', "") == before
    assert after.index("doi:") < after.index("\ndates:")
    assert load(catalogue)[1].doi == DOI

    # Twice: nothing sent, nothing written.
    api.log.clear()
    again = run("reserve", catalogue, endpoint)
    assert not again.sent and not again.yaml_updated and api.writes() == []
    assert "nothing to do" in again.message

    out = run("publish", catalogue, endpoint)
    assert out.sent and out.state == "findable"
    (method, where, body), (vmethod, vwhere, vbody) = api.writes()
    assert (method, where) == ("PUT", f"/dois/{DOI}")
    assert body["data"]["attributes"]["event"] == "publish" and body["data"]["attributes"]["url"] == URL
    assert api.dois[DOI.lower()]["url"] == URL
    # ... and the (only) version's DOI beside it, at the same landing page.
    assert (vmethod, vwhere) == ("POST", "/dois") and vbody["data"]["attributes"]["doi"] == V1
    assert api.dois[V1.lower()]["state"] == "findable" and api.dois[V1.lower()]["url"] == URL

    api.log.clear()
    again = run("publish", catalogue, endpoint)
    assert not again.sent and api.writes() == [] and "findable already" in again.message
    assert path.read_text("utf-8") == after


def test_publish_directly(catalogue: Path, fake) -> None:
    api, endpoint = fake
    out = run("publish", catalogue, endpoint)
    assert out.state == "findable" and out.yaml_updated and out.version_doi == V1
    (method, where, body), (_, _, vbody) = api.writes()
    assert (method, where) == ("POST", "/dois") and body["data"]["attributes"]["event"] == "publish"
    assert vbody["data"]["attributes"]["event"] == "publish"
    # Outside git the current version is the only one: IsVersionOf the concept, which has it as its version.
    assert relations(api, V1) == [(DOI, "IsVersionOf")]
    assert relations(api, DOI) == [(V1, "HasVersion")]
    stored = api.dois[DOI.lower()]
    assert stored["titles"][0]["title"].startswith("Cryo-EM movies")
    assert stored["creators"][0]["nameIdentifiers"][0]["nameIdentifier"].endswith("0000-0002-1825-0097")


def test_update_sends_only_changes(catalogue: Path, fake) -> None:
    api, endpoint = fake
    run("publish", catalogue, endpoint)
    api.log.clear()
    out = run("update", catalogue, endpoint)
    assert not out.sent and api.writes() == [] and "up to date" in out.message

    path = yaml_path(catalogue)
    path.write_text(path.read_text("utf-8").replace("Titan Krios G4 with Falcon 4i\"", "Titan Krios G4\""),
                    "utf-8")
    out = run("update", catalogue, endpoint)
    assert out.sent and "titles" in out.message
    assert [(m, w) for m, w, _ in api.writes()] == [("PUT", f"/dois/{DOI}"), ("PUT", f"/dois/{V1}")]
    for _, _, body in api.writes():
        assert "event" not in body["data"]["attributes"]
    for name in (DOI, V1):
        assert api.dois[name.lower()]["state"] == "findable"  # an update never changes the state
        assert api.dois[name.lower()]["titles"][0]["title"].endswith("Titan Krios G4")
    api.log.clear()
    assert not run("update", catalogue, endpoint).sent and api.writes() == []


def test_update_unknown_doi_is_refused(catalogue: Path, fake) -> None:
    api, endpoint = fake
    with pytest.raises(D.DOIError, match="not registered at DataCite: run `openem doi reserve"):
        run("update", catalogue, endpoint)
    assert api.writes() == []


# ------------------------------------------------------------------------------------------------ refusals


def _preload(api: FakeDataCite, state: str, url: str, doi: str = DOI) -> None:
    api.dois[doi.lower()] = {"doi": doi.lower(), "state": state, "url": url}


@pytest.mark.parametrize("command", ["publish", "update", "reserve"])
def test_never_repoints_without_force(catalogue: Path, fake, command: str) -> None:
    api, endpoint = fake
    _preload(api, "findable", "https://elsewhere.example.org/x")
    _preload(api, "findable", URL, V1)
    with pytest.raises(D.DOIError, match="refusing to re-point .* pass --force"):
        run(command, catalogue, endpoint)
    assert api.writes() == []
    assert "doi:" not in yaml_path(catalogue).read_text("utf-8")


@pytest.mark.parametrize("command", ["publish", "update"])
def test_current_version_doi_never_repointed_without_force(catalogue: Path, fake, command: str) -> None:
    """The refusal comes before anything is sent, the concept DOI included."""
    api, endpoint = fake
    _preload(api, "findable", URL)
    _preload(api, "findable", "https://elsewhere.example.org/v1", V1)
    with pytest.raises(D.DOIError, match=f"{V1} is findable .* refusing to re-point .* pass --force"):
        run(command, catalogue, endpoint)
    assert api.writes() == []


def test_force_repoints(catalogue: Path, fake) -> None:
    api, endpoint = fake
    _preload(api, "findable", "https://elsewhere.example.org/x")
    _preload(api, "findable", "https://elsewhere.example.org/v1", V1)
    out = run("publish", catalogue, endpoint, force=True)
    assert out.sent and "re-pointed" in out.message
    assert api.dois[DOI.lower()]["url"] == URL and api.dois[V1.lower()]["url"] == URL
    assert not any(m == "DELETE" for m, _, _ in api.log)


def test_existing_draft_elsewhere_may_move(catalogue: Path, fake) -> None:
    api, endpoint = fake
    _preload(api, "draft", "https://old.example.org/")
    out = run("publish", catalogue, endpoint)
    assert out.state == "findable" and api.dois[DOI.lower()]["url"] == URL


# --------------------------------------------------------------------------------------------------- errors


def test_bad_credentials_reported_plainly(catalogue: Path, fake) -> None:
    api, endpoint = fake
    with pytest.raises(D.DOIError) as exc:
        run("reserve", catalogue, endpoint, DATACITE_PASSWORD="wrong")
    msg = str(exc.value)
    assert "HTTP 401" in msg and "Bad credentials" in msg and "DATACITE_PASSWORD" in msg
    assert "wrong" not in msg
    assert "doi:" not in yaml_path(catalogue).read_text("utf-8")


def test_api_rejection_leaves_yaml_alone(catalogue: Path, fake) -> None:
    api, endpoint = fake
    # The GET answers 404 as usual, the POST is refused.
    original = api.handle

    def reject_post(method: str, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        if method == "POST":
            api.log.append((method, path, body))
            return 422, {"errors": [{"status": "422", "source": "doi", "title": "This DOI has already been "
                                     "taken"}]}
        return original(method, path, auth, body)

    api.handle = reject_post  # type: ignore[method-assign]
    before = yaml_path(catalogue).read_text("utf-8")
    with pytest.raises(D.DOIError, match=r"refused POST /dois \(HTTP 422\): doi: This DOI has already"):
        run("publish", catalogue, endpoint)
    assert yaml_path(catalogue).read_text("utf-8") == before


def test_version_doi_refused_after_the_concept(catalogue: Path, fake) -> None:
    """The concept DOI is confirmed (and written into the YAML) before the version's DOI is sent."""
    api, endpoint = fake
    original = api.handle

    def reject_version(method: str, path: str, auth: str | None, body: Any) -> tuple[int, Any]:
        if method == "POST" and body["data"]["attributes"]["doi"] == V1:
            api.log.append((method, path, body))
            return 500, {"errors": [{"status": "500", "title": "Internal server error"}]}
        return original(method, path, auth, body)

    api.handle = reject_version  # type: ignore[method-assign]
    with pytest.raises(D.DOIError, match=rf"refused POST /dois \(HTTP 500\).*concept DOI was handled first: "
                       rf"published {DOI}.*wrote doi: .*run the command again to retry {V1}"):
        run("publish", catalogue, endpoint)
    assert load(catalogue)[1].doi == DOI and V1.lower() not in api.dois
    api.handle = original  # type: ignore[method-assign]
    api.log.clear()
    out = run("publish", catalogue, endpoint)
    assert [(m, w) for m, w, _ in api.writes()] == [("POST", "/dois")]  # the concept already lists V1
    assert out.sent and api.dois[V1.lower()]["state"] == "findable"


def test_non_json_error(catalogue: Path, fake) -> None:
    api, endpoint = fake
    api.fail_next = (502, b"<html>Bad gateway</html>")
    with pytest.raises(D.DOIError, match=r"HTTP 502\): no details given"):
        run("reserve", catalogue, endpoint)


def test_unreachable_endpoint(catalogue: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(D.DOIError, match=f"cannot reach the DataCite API at http://127.0.0.1:{port}"):
        run("reserve", catalogue, f"http://127.0.0.1:{port}")


def test_settings_errors(catalogue: Path, fake) -> None:
    api, endpoint = fake
    ctx, d = load(catalogue)
    with pytest.raises(D.DOIError, match="DATACITE_REPOSITORY_ID and DATACITE_PASSWORD"):
        D.run("reserve", ctx, d, D.Settings.from_env({}, endpoint=endpoint, prefix=PREFIX), root=catalogue)
    with pytest.raises(D.DOIError, match="no prefix is set"):
        D.run("reserve", ctx, d, D.Settings.from_env({}, endpoint=endpoint), root=catalogue, dry_run=True)
    with pytest.raises(D.DOIError, match="prefix '10.x' is not valid"):
        D.Settings.from_env({}, prefix="10.x")
    with pytest.raises(D.DOIError, match="not an http"):
        D.Settings.from_env({}, endpoint="ftp://x")
    assert D.Settings.from_env({}).endpoint == D.TEST_ENDPOINT
    assert "s3cret" not in repr(settings(endpoint))
    assert api.log == []


# ------------------------------------------------------------------------------------------------------ YAML


def test_insert_doi_keeps_the_text() -> None:
    text = "# head\r\nid: x\r\ntitle: 'T'  # note\r\n# about dates\r\ndates:\r\n  published: 2024-01-01\r\n"
    new = D.insert_doi(text, "10.1234/a.b")
    assert new == ("# head\r\nid: x\r\ntitle: 'T'  # note\r\ndoi: \"10.1234/a.b\"\r\n# about dates\r\n"
                   "dates:\r\n  published: 2024-01-01\r\n")
    assert D.insert_doi(new, "10.1234/a.b") == new
    with pytest.raises(D.DOIError, match="another DOI"):
        D.insert_doi(new, "10.1234/other")
    flow = "{id: x, dates: {published: 2024-01-01}}"
    with pytest.raises(D.DOIError, match="add it by hand"):
        D.insert_doi(flow, "10.1234/a")
    # No `dates:` in block style: appended at the end.
    appended = D.insert_doi("id: x\nlast: |\n  block\n", "10.1234/a")
    assert appended == 'id: x\nlast: |\n  block\ndoi: "10.1234/a"\n'
    assert D.insert_doi("id: x", "10.1234/a") == 'id: x\ndoi: "10.1234/a"\n'
    # A final block scalar without its newline would change value: refused rather than altered.
    with pytest.raises(D.DOIError, match="add it by hand"):
        D.insert_doi("id: x\nlast: |\n  block", "10.1234/a")


def test_write_doi_keeps_bom(tmp_path: Path) -> None:
    path = tmp_path / "dataset.yaml"
    path.write_bytes(b"\xef\xbb\xbfid: x\ndates:\n  published: 2024-01-01\n")
    assert D.write_doi(path, "10.1234/z")
    assert path.read_bytes() == b'\xef\xbb\xbfid: x\ndoi: "10.1234/z"\ndates:\n  published: 2024-01-01\n'
    assert not D.write_doi(path, "10.1234/z")


# ------------------------------------------------------------------------------------------------------- CLI


def test_cli(catalogue: Path, fake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    api, endpoint = fake
    base = ["--root", str(catalogue), "doi"]
    assert main([*base, "publish", EXAMPLE, "--endpoint", endpoint, "--prefix", PREFIX, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    printed = printed_requests(out)
    assert [head for head, _ in printed] == [f"POST {endpoint}/dois"] * 2
    assert [body["data"]["attributes"]["doi"] for _, body in printed] == [DOI, V1]
    assert printed[0][1]["data"]["attributes"]["url"] == f"https://catalogue.openem.ch/datasets/{EXAMPLE}/"
    assert "dry run" in err and api.log == []

    assert main([*base, "reserve", EXAMPLE, "--endpoint", endpoint, "--prefix", PREFIX]) == 1
    assert "DATACITE_PASSWORD" in capsys.readouterr().err

    monkeypatch.setenv("DATACITE_REPOSITORY_ID", REPO)
    monkeypatch.setenv("DATACITE_PASSWORD", PASSWORD)
    monkeypatch.setenv("DATACITE_PREFIX", PREFIX)
    monkeypatch.setenv("DATACITE_ENDPOINT", endpoint)
    assert main([*base, "publish", EXAMPLE]) == 0
    err = capsys.readouterr().err
    assert f"published {DOI}" in err and "wrote doi:" in err
    assert api.dois[DOI.lower()]["state"] == "findable"
    assert main([*base, "publish", EXAMPLE]) == 0
    assert "nothing to do" in capsys.readouterr().err

    assert main([*base, "publish", "no-such-dataset"]) == 2
    assert "no dataset 'no-such-dataset'" in capsys.readouterr().err


def test_recovers_a_doi_missing_from_the_yaml(catalogue: Path, fake) -> None:
    """DataCite has the DOIs (an earlier run could not write the file): the YAML gets it, nothing is sent."""
    api, endpoint = fake
    path = yaml_path(catalogue)
    before = path.read_text("utf-8")
    run("publish", catalogue, endpoint)
    path.write_text(before, "utf-8")
    api.log.clear()
    out = run("publish", catalogue, endpoint)
    assert not out.sent and out.yaml_updated and api.writes() == []
    assert load(catalogue)[1].doi == DOI


def test_update_tolerates_datacite_normalising(catalogue: Path, fake) -> None:
    """DataCite lower-cases DOIs and SPDX ids and returns years as numbers: not a change."""
    api, endpoint = fake
    run("publish", catalogue, endpoint)
    stored = api.dois[DOI.lower()]
    stored["publicationYear"] = int(stored["publicationYear"])
    for rights in stored["rightsList"]:
        if "rightsIdentifier" in rights:
            rights["rightsIdentifier"] = rights["rightsIdentifier"].lower()
    stored["created"] = "2024-06-03T10:00:00Z"  # fields of DataCite's own are ignored
    api.log.clear()
    assert not run("update", catalogue, endpoint).sent and api.writes() == []


# -------------------------------------------------------------------------------------------------- versions


def test_version_history_from_git(catalogue: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(catalogue), *args], check=True, capture_output=True)

    git("init", "-q")
    record_subdatasets(catalogue)
    git("add", "-A")
    git("commit", "-q", "-m", "v1")
    path = yaml_path(catalogue)
    path.write_text(path.read_text("utf-8").replace("Falcon 4i\"", "Falcon 4i (fixed)\""), "utf-8")
    git("commit", "-q", "-am", "metadata fix, same version")
    path.write_text(path.read_text("utf-8").replace('version: "1.0"', 'version: "1.1"'), "utf-8")
    git("commit", "-q", "-am", "v1.1")
    ctx, d = load(catalogue)
    history = D.version_history(catalogue, d)
    assert [v.version for v in history] == ["1.0", "1.1"]
    assert all(len(v.commit) == 40 and v.first_seen.year >= 2000 for v in history)

    links = D.version_links("10.80001/openem.x", history, "1.1")
    assert links.concept == "10.80001/openem.x"
    assert links.previous == "10.80001/openem.x.v1.0" and links.newer is None
    first = D.version_links("10.80001/openem.x", history, "1.0")
    assert first.previous is None and first.newer == "10.80001/openem.x.v1.1"
    # outside a git work tree: no history
    elsewhere = catalogue.parent / "not-a-repo"
    elsewhere.mkdir()
    assert D.version_history(elsewhere, d) == ()


def git(root: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", "-C", str(root), "-c", "user.name=Test", "-c", "user.email=test@example.org",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


def bump(root: Path, version: str) -> None:
    path = yaml_path(root)
    text = path.read_text("utf-8")
    assert 'version: "1.0"' in text
    path.write_text(text.replace('version: "1.0"', f'version: "{version}"'), "utf-8")


def two_versions(root: Path, endpoint: str, *, publish_first: bool = True) -> None:
    """A catalogue whose git history has the dataset at 1.0 (published then, if asked), then at 2.0."""
    git(root, "init", "-q")
    record_subdatasets(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "1.0")
    if publish_first:
        run("publish", root, endpoint)
    bump(root, "2.0")
    git(root, "commit", "-q", "-am", "2.0")


def test_publish_a_new_version(catalogue: Path, fake) -> None:
    api, endpoint = fake
    git(catalogue, "init", "-q")
    record_subdatasets(catalogue)
    git(catalogue, "add", "-A")
    git(catalogue, "commit", "-q", "-m", "1.0")
    run("publish", catalogue, endpoint)
    assert relations(api, V1) == [(DOI, "IsVersionOf")]
    assert relations(api, DOI) == [(V1, "HasVersion")]
    bump(catalogue, "2.0")
    git(catalogue, "commit", "-q", "-am", "2.0")

    api.log.clear()
    out = run("publish", catalogue, endpoint)
    assert out.sent and out.version_doi == V2 and not out.yaml_updated
    assert f"updated {DOI} to list version DOI {V2}" in out.message and f"published {V2}" in out.message
    # Read: the concept and every version's DOI; written: the concept (its versions), then the new version.
    assert [(m, w.split("?")[0]) for m, w, _ in api.log if m == "GET"] == [
        ("GET", f"/dois/{DOI}"), ("GET", f"/dois/{V1}"), ("GET", f"/dois/{V2}")]
    (m1, w1, concept), (m2, w2, version) = api.writes()
    assert (m1, w1) == ("PUT", f"/dois/{DOI}") and "event" not in concept["data"]["attributes"]
    assert (m2, w2) == ("POST", "/dois") and version["data"]["attributes"]["event"] == "publish"
    assert relations(api, DOI) == [(V1, "HasVersion"), (V2, "HasVersion")]
    assert relations(api, V2) == [(DOI, "IsVersionOf"), (V1, "IsNewVersionOf")]
    assert api.dois[V2.lower()]["version"] == "2.0" and api.dois[V2.lower()]["url"] == URL
    assert api.dois[V2.lower()]["state"] == "findable" and api.dois[DOI.lower()]["version"] == "2.0"
    # The older version's DOI is only read: its metadata (version 1.0) stay as registered.
    assert api.dois[V1.lower()]["version"] == "1.0"
    assert relations(api, V1) == [(DOI, "IsVersionOf")]
    # The YAML names the concept DOI only.
    assert load(catalogue)[1].doi == DOI and ".v" not in yaml_path(catalogue).read_text("utf-8")

    api.log.clear()
    again = run("publish", catalogue, endpoint)
    assert not again.sent and api.writes() == [] and "findable already" in again.message
    api.log.clear()
    assert not run("update", catalogue, endpoint).sent and api.writes() == []


def test_new_version_when_the_old_one_was_never_registered(catalogue: Path, fake) -> None:
    api, endpoint = fake
    two_versions(catalogue, endpoint, publish_first=False)
    run("publish", catalogue, endpoint)
    assert V1.lower() not in api.dois
    assert relations(api, V2) == [(DOI, "IsVersionOf")]  # no relation to a DOI that does not exist
    assert relations(api, DOI) == [(V2, "HasVersion")]


def test_update_after_a_metadata_fix(catalogue: Path, fake) -> None:
    api, endpoint = fake
    two_versions(catalogue, endpoint)
    run("publish", catalogue, endpoint)
    path = yaml_path(catalogue)
    path.write_text(path.read_text("utf-8").replace("Titan Krios G4 with Falcon 4i\"", "Titan Krios G4\""),
                    "utf-8")
    api.log.clear()
    out = run("update", catalogue, endpoint)
    assert out.sent and f"updated {DOI} (titles)" in out.message and f"updated {V2} (titles)" in out.message
    # The concept (it describes the latest version) and the current version; the older version is left alone.
    assert [(m, w) for m, w, _ in api.writes()] == [("PUT", f"/dois/{DOI}"), ("PUT", f"/dois/{V2}")]
    assert api.dois[V2.lower()]["titles"][0]["title"].endswith("Titan Krios G4")
    assert api.dois[V1.lower()]["titles"][0]["title"].endswith("Falcon 4i")
    assert relations(api, V2) == [(DOI, "IsVersionOf"), (V1, "IsNewVersionOf")]
    assert relations(api, DOI) == [(V1, "HasVersion"), (V2, "HasVersion")]
    api.log.clear()
    assert not run("update", catalogue, endpoint).sent and api.writes() == []


def test_update_does_not_register_a_new_version(catalogue: Path, fake) -> None:
    api, endpoint = fake
    two_versions(catalogue, endpoint)
    api.log.clear()
    out = run("update", catalogue, endpoint)
    assert f"version DOI {V2} is not registered (`openem doi publish {EXAMPLE}` registers it)" in out.message
    assert [(m, w) for m, w, _ in api.writes()] == [("PUT", f"/dois/{DOI}")]  # the concept's version 2.0 data
    assert V2.lower() not in api.dois and relations(api, DOI) == [(V1, "HasVersion")]


def test_dry_run_lists_every_request(catalogue: Path, fake, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture) -> None:
    api, endpoint = fake
    two_versions(catalogue, endpoint)
    stored = copy.deepcopy(api.dois)
    api.log.clear()
    out = run("publish", catalogue, endpoint, dry_run=True)
    assert "would send 2 requests" in out.message and not out.sent
    assert [(r.method, r.path) for r in out.requests] == [("PUT", f"dois/{DOI}"), ("POST", "dois")]
    assert api.writes() == [] and api.dois == stored

    # The same through the CLI, with and without credentials (then planned from the YAML and git).
    config = catalogue / "mkdocs.yml"
    config.write_text(config.read_text("utf-8").replace("https://catalogue.openem.ch/",
                                                        "https://catalogue.example.org/"), "utf-8")
    base = ["--root", str(catalogue), "doi", "publish", EXAMPLE, "--endpoint", endpoint, "--dry-run"]
    assert main([*base, "--prefix", PREFIX]) == 0
    printed = printed_requests(capsys.readouterr().out)
    assert [head for head, _ in printed] == [f"PUT {endpoint}/dois/{DOI}", f"POST {endpoint}/dois"]
    assert printed[1][1]["data"]["attributes"]["doi"] == V2
    related = printed[1][1]["data"]["attributes"]["relatedIdentifiers"]
    assert {"relatedIdentifier": V1, "relatedIdentifierType": "DOI", "relationType": "IsNewVersionOf"} in related
    monkeypatch.setenv("DATACITE_REPOSITORY_ID", REPO)
    monkeypatch.setenv("DATACITE_PASSWORD", PASSWORD)
    assert main(base) == 0
    out_text, err = capsys.readouterr()
    assert [head for head, _ in printed_requests(out_text)] == [f"PUT {endpoint}/dois/{DOI}",
                                                               f"POST {endpoint}/dois"]
    assert "would send 2 requests" in err
    assert api.writes() == [] and api.dois == stored


def test_older_version_doi_never_repointed(catalogue: Path, fake) -> None:
    """Version 1.0's DOI resolves wherever it was registered; publishing 2.0, even with --force, keeps it."""
    api, endpoint = fake
    two_versions(catalogue, endpoint, publish_first=False)
    _preload(api, "findable", "https://old.example.org/apoferritin-v1")
    _preload(api, "findable", "https://old.example.org/apoferritin-v1", V1)
    with pytest.raises(D.DOIError, match="refusing to re-point"):
        run("publish", catalogue, endpoint)  # the concept moved: refused
    api.log.clear()
    run("publish", catalogue, endpoint, force=True)
    written = {body["data"]["attributes"]["doi"] for _, _, body in api.writes()}
    assert written == {DOI, V2}
    assert api.dois[V1.lower()] == {"doi": V1.lower(), "state": "findable",
                                    "url": "https://old.example.org/apoferritin-v1"}
    assert relations(api, V2) == [(DOI, "IsVersionOf"), (V1, "IsNewVersionOf")]


def test_concept_keeps_versions_git_does_not_know(catalogue: Path, fake) -> None:
    """Outside git (or after history was rewritten) the concept's list of versions only grows."""
    api, endpoint = fake
    two_versions(catalogue, endpoint)
    run("publish", catalogue, endpoint)
    import shutil

    shutil.rmtree(catalogue / ".git")
    api.log.clear()
    assert not run("update", catalogue, endpoint).sent and api.writes() == []
    assert relations(api, DOI) == [(V1, "HasVersion"), (V2, "HasVersion")]


# ------------------------------------------------------------------------------- credentials stay with DataCite


@dataclass
class Recorder:
    """What one loopback HTTP server received: method, path and the Authorization header of each request."""

    seen: list[tuple[str, str, str | None]] = field(default_factory=list)


@pytest.fixture
def servers() -> Iterator[Any]:
    """Start loopback HTTP servers: ``start(answer)`` → (recorder, base URL); ``answer(path)`` gives the status
    and extra headers to answer with (an empty JSON:API document as body)."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(answer: Any) -> tuple[Recorder, str]:
        rec = Recorder()

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                rec.seen.append((self.command, self.path, self.headers.get("Authorization")))
                status, headers = answer(self.path)
                data = json.dumps({"data": {"type": "dois", "attributes": {}}}).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return rec, f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed(catalogue: Path, servers, code: int) -> None:
    """DataCite's address answers with a redirect to another origin (another port of 127.0.0.1): the client
    stops with a clear error, and the other server never hears from it (so never sees the credentials)."""
    elsewhere, other = servers(lambda path: (404, {}))
    endpoint_log, endpoint = servers(lambda path: (code, {"Location": f"{other}{path}"}))
    with pytest.raises(D.DOIError) as err:
        run("publish", catalogue, endpoint)
    assert elsewhere.seen == []
    assert re.fullmatch(rf"DataCite answered GET /dois/\S+ with a redirect \(HTTP {code}\) to {other}/dois/\S+; "
                        rf"not followed: the credentials go only to {endpoint} — .*", str(err.value))
    ((method, path, auth),) = endpoint_log.seen
    assert method == "GET" and path.startswith(f"/dois/{DOI}?")
    assert auth == "Basic " + base64.b64encode(f"{REPO}:{PASSWORD}".encode()).decode()
    assert "doi:" not in yaml_path(catalogue).read_text("utf-8")


def test_credentials_never_travel_with_a_redirect_even_through_a_following_client(catalogue: Path,
                                                                                   servers) -> None:
    """Defence in depth: with a client that does follow redirects (urllib's stock opener), the Authorization
    header is still not carried to the other origin: it is an unredirected header."""
    elsewhere, other = servers(lambda path: (200, {}))
    _, endpoint = servers(lambda path: (307, {"Location": f"{other}{path}"}))
    stock = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    api = D.DataCiteAPI(settings(endpoint), opener=lambda req, timeout: stock.open(req, timeout=timeout))
    api.get(DOI)
    assert [(m, auth) for m, _, auth in elsewhere.seen] == [("GET", None)]


@pytest.mark.parametrize("endpoint", ["http://127.1:{port}", "http://[::ffff:127.0.0.1]:{port}",
                                      "http://0x7f000001:{port}", "http://127.0.0.2:{port}"])
def test_plain_http_only_to_loopback_names(catalogue: Path, fake, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture, endpoint: str) -> None:
    """Plain http to any host but 127.0.0.1, localhost and [::1] is refused in one line before any request:
    here names that reach the same loopback server, which must hear nothing."""
    api, base = fake
    endpoint = endpoint.format(port=base.rsplit(":", 1)[1])
    monkeypatch.setenv("DATACITE_REPOSITORY_ID", REPO)
    monkeypatch.setenv("DATACITE_PASSWORD", PASSWORD)
    monkeypatch.setenv("DATACITE_PREFIX", PREFIX)
    for how in (["--endpoint", endpoint], []):
        if not how:
            monkeypatch.setenv("DATACITE_ENDPOINT", endpoint)
        assert main(["--root", str(catalogue), "doi", "publish", EXAMPLE, *how]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1
        assert err.startswith(f"openem doi publish {EXAMPLE}: the DataCite endpoint '{endpoint}' is plain http")
    with pytest.raises(D.DOIError, match="plain http"):
        D.Settings(endpoint=endpoint)
    assert api.log == []


@pytest.mark.parametrize("endpoint", ["https://user:pw@api.test.datacite.org", "https://api.datacite.org?x=1",
                                      "https://api.datacite.org/#x", "https://api.datacite.org/a/../b",
                                      "https://api.datacite.org:99999", "https://api.datacite.org\n.evil.org",
                                      "file:///etc/passwd", "ftp://api.datacite.org"])
def test_endpoints_that_are_not_just_an_https_origin_are_refused(endpoint: str) -> None:
    with pytest.raises(D.DOIError, match="^the DataCite endpoint [^\n]*$"):
        D.Settings.from_env({}, endpoint=endpoint)


def test_loopback_endpoints_and_https_are_accepted() -> None:
    for endpoint in ("http://127.0.0.1:8080", "http://localhost:1/", "http://[::1]:9", "https://api.datacite.org/"):
        assert D.Settings(endpoint=endpoint).endpoint == endpoint.rstrip("/")
    assert D.Settings(endpoint="https://api.test.datacite.org").is_test
    assert not D.Settings(endpoint="https://api.test.datacite.org.example.org").is_test


# ---------------------------------------------------------------------------------------- DOI names


def test_doi_paths_are_checked_and_percent_encoded(fake) -> None:
    api, endpoint = fake
    client = D.DataCiteAPI(settings(endpoint))
    for bad in (f"{PREFIX}/x/../openem.other", f"{PREFIX}/./x", f"{PREFIX}/x%2F..", f"{PREFIX}/x?y",
                f"{PREFIX}/x#y", f"{PREFIX}/x y", f"{PREFIX}//x"):
        with pytest.raises(D.DOIError, match="nothing was sent"):
            client.get(bad)
    assert api.log == []
    assert client.get(f"{PREFIX}/a;b(c):d+e") is None
    ((method, path, _),) = api.log
    assert method == "GET" and path.startswith(f"/dois/{PREFIX}/a%3Bb%28c%29%3Ad%2Be?")
    with pytest.raises(D.DOIError, match="path segment"):
        D.insert_doi("id: x\n", f"{PREFIX}/../x")


def _with_doi(root: Path, doi: str, ident: str = EXAMPLE) -> None:
    path = root / "datasets" / ident / "dataset.yaml"
    path.write_text(D.insert_doi(path.read_text("utf-8"), doi), "utf-8")


@pytest.mark.parametrize(("doi", "message"), [
    (f"{PREFIX}/anything-else", f"is under the catalogue's prefix {PREFIX}, where only the DOI derived for "
                                f"this dataset \\({DOI}\\) may be named"),
    ("10.5281/zenodo.1234", f"is not under the catalogue's prefix {PREFIX}: the catalogue registers and "
                            "updates only its own DOIs"),
])
def test_only_the_entrys_own_doi_under_the_prefix_is_registered(catalogue: Path, fake, doi: str,
                                                                message: str) -> None:
    """Validation cannot know the prefix (it reads no environment); `openem doi` does, and refuses a DOI under
    it that is not the one derived for the entry, and DOIs of other prefixes, before sending anything."""
    api, endpoint = fake
    _with_doi(catalogue, doi)
    assert load_catalogue(catalogue).ok
    for command in D.COMMANDS:
        with pytest.raises(D.DOIError, match=message):
            run(command, catalogue, endpoint)
    assert api.log == []


def test_the_entrys_own_doi_and_its_version_dois_are_allowed(catalogue: Path, fake) -> None:
    api, endpoint = fake
    _with_doi(catalogue, DOI.upper().replace("OPENEM", "OpenEM"))
    assert run("publish", catalogue, endpoint).sent
    assert api.dois[DOI.lower()]["state"] == "findable"


def test_squatting_another_entrys_doi_is_refused_and_the_victim_still_registers(
        catalogue: Path, fake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The attack: an entry names the DOI `openem doi` derives for another one (or a version DOI of it), to
    register it first and have the victim refused. Validation refuses the entry at its doi: line, so it never
    reaches the catalogue, `openem doi` will not register it, and the victim's DOI stays free."""
    api, endpoint = fake
    victim = catalogue / "datasets" / EXAMPLE / "dataset.yaml"
    for i, doi in enumerate([DOI, V2, DOI.upper(), f"10.5072/openem.{EXAMPLE}.v1.0"]):
        folder = catalogue / "datasets" / f"attacker-{i}"
        folder.mkdir()
        text = victim.read_text("utf-8").replace(f"id: {EXAMPLE}\n", f"id: attacker-{i}\n")
        (folder / "dataset.yaml").write_text(D.insert_doi(text, doi), "utf-8")
    result = load_catalogue(catalogue)
    for i in range(4):
        source = f"datasets/attacker-{i}/dataset.yaml"
        line = next(n for n, text in enumerate((catalogue / source).read_text("utf-8").splitlines(), 1)
                    if text.startswith("doi:"))
        assert any(p.text().startswith(f"{source}:{line}:6: doi: ") and
                   f"is the DOI the catalogue derives for the dataset '{EXAMPLE}'" in p.message
                   for p in result.problems), [p.text() for p in result.problems if source in p.path]
        assert f"attacker-{i}" not in result.catalogue.by_id
    monkeypatch.setenv("DATACITE_REPOSITORY_ID", REPO)
    monkeypatch.setenv("DATACITE_PASSWORD", PASSWORD)
    monkeypatch.setenv("DATACITE_PREFIX", PREFIX)
    monkeypatch.setenv("DATACITE_ENDPOINT", endpoint)
    base = ["--root", str(catalogue), "doi", "publish"]
    assert main([*base, "attacker-0"]) == 2
    assert "attacker-0 is invalid" in capsys.readouterr().err
    assert api.log == []
    assert main([*base, EXAMPLE]) == 0
    assert api.dois[DOI.lower()]["url"] == f"https://catalogue.openem.ch/datasets/{EXAMPLE}/"


def test_a_doi_named_by_another_entry_is_not_registered(catalogue: Path, fake) -> None:
    """Two entries naming the same DOI, or one a version DOI of the other's (foreign DOIs pass validation):
    neither is registered, even in a dry run."""
    api, endpoint = fake
    other = "chlamy-ribosome-sta-2025"
    text = (catalogue / "datasets" / other / "dataset.yaml").read_text("utf-8")
    assert f"doi: 10.80476/openem.{other}\n" in text
    ctx, d = load(catalogue)
    for doi in (f"10.80476/openem.{other}", f"10.80476/openem.{other}.v1.0"):
        clash = dataclasses.replace(d, doi=doi)
        with pytest.raises(D.DOIError):
            D.run("publish", ctx, clash, settings(endpoint), root=catalogue)
    (catalogue / "datasets" / other / "dataset.yaml").write_text(
        text.replace(f"doi: 10.80476/openem.{other}\n", "doi: 10.5281/zenodo.77\n"), "utf-8")
    ctx, d = load(catalogue)
    with pytest.raises(D.DOIError, match=f"10.5281/zenodo.77.v2 clashes with the DOI 10.5281/zenodo.77 of {other}"):
        D.run("publish", ctx, dataclasses.replace(d, doi="10.5281/zenodo.77.v2"),
              D.Settings.from_env({}, endpoint=endpoint), root=catalogue, dry_run=True)
    assert api.log == []


# --------------------------------------------------------------------------------- the DOIs workflow

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "doi.yml"


def _step(name: str) -> dict[str, Any]:
    (job,) = yaml.safe_load(WORKFLOW.read_text("utf-8"))["jobs"].values()
    return next(s for s in job["steps"] if s.get("name") == name)


def _run_step(name: str, cwd: Path, tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict[str, str],
                                                                     list[list[str]]]:
    """Run one step's script as Actions does (`shell: bash`), with `openem` replaced by a recorder; its exit,
    its outputs ($GITHUB_OUTPUT) and the recorded `openem` calls."""
    step = _step(name)
    assert step.get("shell") == "bash", name  # bash -eo pipefail
    bin_dir, record, output = tmp / "bin", tmp / "openem-calls", tmp / "github-output"
    bin_dir.mkdir(exist_ok=True)
    recorder = bin_dir / "openem"
    recorder.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                        "open(os.environ['OPENEM_RECORD'], 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    recorder.chmod(0o755)
    record.write_text("")
    output.write_text("")
    script = tmp / "step.sh"
    script.write_text(step["run"])
    full = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp), "GIT_CONFIG_NOSYSTEM": "1",
            "GITHUB_OUTPUT": str(output), "OPENEM_RECORD": str(record), "GITHUB_EVENT_NAME": "push", **env}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=60)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return proc, outputs, [json.loads(line) for line in record.read_text().splitlines()]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def _write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, "utf-8")


@pytest.fixture
def pushed(tmp_path: Path) -> Any:
    """``push(files)``: a real git repository with datasets `victim` (with a DOI) and `plain` (without), then a
    commit changing ``files`` (path → text); the BEFORE and AFTER of that push."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, "datasets/victim/dataset.yaml", "id: victim\ndoi: 10.80476/openem.victim\n")
    _write(repo, "datasets/victim/notes/dataset.yaml", "doi: 10.80476/openem.victim\n")
    _write(repo, "datasets/plain/dataset.yaml", "id: plain\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "start")

    def push(files: dict[str, str]) -> dict[str, str]:
        before = _git(repo, "rev-parse", "HEAD")
        for rel, text in files.items():
            _write(repo, rel, text)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "push")
        return {"BEFORE": before, "AFTER": _git(repo, "rev-parse", "HEAD")}

    return repo, push


@pytest.mark.parametrize("hostile", [
    "datasets/victim/notes/dataset.yaml",      # a nested file: `*` of a plain git pathspec matches `/`
    "datasets/victim/a/b/dataset.yaml",
    "datasets/plain two/dataset.yaml",         # word splitting would give `plain` and `two`
    "datasets/*/dataset.yaml",                 # an unquoted `*` would glob
    "datasets/$(touch PWNED)/dataset.yaml",
    "datasets/x\nvictim/dataset.yaml",         # a line break would give `victim`
    "datasets/-rf/dataset.yaml",
    "datasets/Victim/dataset.yaml",
])
def test_workflow_registers_only_datasets_the_push_added_or_changed(pushed, tmp_path: Path, hostile: str) -> None:
    repo, push = pushed
    env = push({hostile: "id: x\ndoi: 10.80476/openem.victim\n", "datasets/new-entry/dataset.yaml": "id: new-entry\n",
                "datasets/plain/dataset.yaml": "id: plain\ntitle: changed, no DOI\n"})
    proc, outputs, _ = _run_step("Find the datasets to register", repo, tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"ids": "new-entry"}
    assert not (repo / "PWNED").exists() and not (tmp_path / "PWNED").exists()


def test_workflow_registers_changed_datasets_with_a_doi(pushed, tmp_path: Path) -> None:
    repo, push = pushed
    env = push({"datasets/victim/dataset.yaml": "id: victim\ndoi: 10.80476/openem.victim\nversion: '2'\n",
                "datasets/plain/dataset.yaml": "id: plain\ntitle: changed\n",
                "datasets/zz-new/dataset.yaml": "id: zz\n"})
    proc, outputs, _ = _run_step("Find the datasets to register", repo, tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(outputs["ids"].split(" ")) == ["victim", "zz-new"]


@pytest.mark.parametrize("given", ["victim plain", "*", "victim;touch PWNED", "-x", "../victim", "victim\nplain",
                                   "", "Victim", "victim "])
def test_workflow_refuses_a_hostile_id_given_by_hand(pushed, tmp_path: Path, given: str) -> None:
    repo, _ = pushed
    proc, outputs, _ = _run_step("Find the datasets to register", repo, tmp_path, GITHUB_EVENT_NAME="workflow_dispatch",
                                 INPUT_ID=given)
    assert proc.returncode == 1 and outputs == {}
    assert proc.stdout.startswith("::error::the id given is not a dataset id")
    assert not given or given not in proc.stdout  # (a workflow command is never built from the input)
    assert not (repo / "PWNED").exists()
    proc, outputs, _ = _run_step("Find the datasets to register", repo, tmp_path, GITHUB_EVENT_NAME="workflow_dispatch",
                                 INPUT_ID="victim")
    assert proc.returncode == 0 and outputs == {"ids": "victim"}


def test_workflow_register_step_passes_each_id_as_one_argument(pushed, tmp_path: Path) -> None:
    repo, _ = pushed
    step = "Register"
    proc, _, calls = _run_step(step, repo, tmp_path, IDS="victim new-entry", ACTION="publish", FORCE="")
    assert proc.returncode == 0, proc.stderr
    assert calls == [["doi", "publish", "victim"], ["doi", "publish", "new-entry"]]
    proc, _, calls = _run_step(step, repo, tmp_path, IDS="victim", ACTION="update", FORCE="true")
    assert calls == [["doi", "update", "victim", "--force"]]
    for ids, action in (("victim *", "publish"), ("victim -rf", "publish"), ("victim", "publish --force"),
                        ("victim", "delete")):
        proc, _, calls = _run_step(step, repo, tmp_path, IDS=ids, ACTION=action, FORCE="")
        assert proc.returncode == 1 and calls == [], (ids, action)


def test_workflow_commits_only_the_registered_datasets_files(pushed, tmp_path: Path) -> None:
    repo, _ = pushed
    origin = tmp_path / "origin.git"
    _git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    _git(repo, "remote", "add", "origin", str(origin))
    _write(repo, "datasets/plain/dataset.yaml", 'id: plain\ndoi: "10.80476/openem.plain"\n')  # as `openem doi` does
    _write(repo, "datasets/plain/notes/dataset.yaml", "stray\n")  # nothing `openem doi` writes
    proc, outputs, _ = _run_step("Commit the DOIs", repo, tmp_path, IDS="plain")
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"pushed": "true"}
    assert _git(origin, "show", "--name-only", "--format=", "main") == "datasets/plain/dataset.yaml"
    proc, outputs, _ = _run_step("Commit the DOIs", repo, tmp_path, IDS="victim")
    assert proc.returncode == 0 and outputs == {"pushed": "false"}
