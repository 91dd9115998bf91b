"""The OAI-PMH endpoint (`openem oai serve`) as harvesters meet it: a real HTTP server on 127.0.0.1 over a site
built from the example catalogue with a git history (a dataset edited, one removed, one edited later the same
day), harvested with Sickle page by page, every response validated against the OAI-PMH XML Schema (and the
DataCite schema for oai_datacite payloads, from ../shared when present), every error case answered with its
OAI-PMH error code, hostile requests with protocol errors, never a server error."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree
from sickle import Sickle
from sickle.iterator import OAIResponseIterator

from openem_build.render import oai
from openem_build.site.build import build_site
from openem_build.site.oaiserve import OAIApp, make_http_server

from .conftest import ROOT, record_subdatasets

SCHEMAS = Path(__file__).parent / "schemas"
DATACITE = ROOT.parent / "shared" / "reference" / "datacite"
NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
      "dc": "http://purl.org/dc/elements/1.1/", "dcite": "http://datacite.org/schema/kernel-4"}
HOST = "catalogue.openem.ch"
EDITED = "apoferritin-krios-2024"  # edited on NEW_DAY at noon
REMOVED = "aqpz-2d-crystals-2022"  # removed on NEW_DAY at noon: a deleted record (the only 2d-crystallography one)
LATE = "yeast-cryoet-2023"  # edited on NEW_DAY at 15:30
OLD_DAY, NEW_DAY = date(2023, 1, 2), date(2024, 5, 6)
PAGE = 4
IDS = sorted(p.parent.name for p in (ROOT / "datasets").glob("*/dataset.yaml"))
CURRENT = [i for i in IDS if i != REMOVED]


def _ident(ident: str) -> str:
    return f"oai:{HOST}:{ident}"


def _git(root: Path, *args: str, when: str | None = None) -> None:
    env = dict(os.environ)
    if when is not None:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalogue")
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    _git(root, "init", "-q")
    record_subdatasets(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "catalogue", when=f"{OLD_DAY}T12:00:00+00:00")
    edited = root / "datasets" / EDITED / "dataset.yaml"
    edited.write_text(edited.read_text("utf-8") + "# edited\n", encoding="utf-8")
    _git(root, "rm", "-q", "-r", f"datasets/{REMOVED}")
    _git(root, "commit", "-q", "-am", "edit one, remove one", when=f"{NEW_DAY}T12:00:00+00:00")
    late = root / "datasets" / LATE / "dataset.yaml"
    late.write_text(late.read_text("utf-8") + "# edited\n", encoding="utf-8")
    _git(root, "commit", "-q", "-am", "edit another", when=f"{NEW_DAY}T15:30:00+00:00")
    return build_site(root)


#: Every OAI-PMH response the endpoint sent in this module (Sickle's included): checked by the last test.
SENT: list[tuple[str, bytes]] = []


class Recorder:
    """The endpoint's WSGI application, keeping a copy of every XML response."""

    def __init__(self, app: OAIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response):  # type: ignore[no-untyped-def]
        kind: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: object = None):  # type: ignore[no-untyped-def]
            kind.extend(v for k, v in headers if k == "Content-Type")
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        body = b"".join(self.app(environ, start))
        if environ["REQUEST_METHOD"] != "HEAD" and kind and kind[0].startswith("text/xml"):
            SENT.append((environ.get("QUERY_STRING", ""), body))
        return [body]


@pytest.fixture(scope="module")
def endpoint(site: Path) -> Iterator[str]:
    app = OAIApp(site, page_size=PAGE)
    server = make_http_server(Recorder(app), "127.0.0.1", 0, log=False)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    app.set_base_url(url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def schema():
    import xmlschema

    locations = [(NS["oai_dc"], SCHEMAS / "oai_dc.xsd"),
                 ("http://www.openarchives.org/OAI/2.0/oai-identifier", SCHEMAS / "oai-identifier.xsd")]
    kernel = next((DATACITE / v / "metadata.xsd" for v in ("kernel-4.6", "kernel-4.5")
                   if (DATACITE / v / "metadata.xsd").is_file()), None)
    if kernel is not None:
        locations.append((NS["dcite"], kernel))
    # allow="local": no schema is ever fetched from the network.
    return xmlschema.XMLSchema(str(SCHEMAS / "OAI-PMH.xsd"), allow="local",
                               locations=[(ns, str(p)) for ns, p in locations]), kernel is not None


def _valid(schema, body: bytes) -> etree._Element:
    """The parsed response, asserted valid against OAI-PMH.xsd (DataCite payloads: against DataCite's schema
    when ../shared has it, else replaced by an empty oai_dc record so that the envelope is still checked)."""
    xsd, with_datacite = schema
    tree = etree.fromstring(body)
    checked = tree
    if not with_datacite and tree.xpath("//dcite:resource", namespaces=NS):
        checked = etree.fromstring(body)
        for resource in checked.xpath("//dcite:resource", namespaces=NS):
            resource.getparent().replace(resource, etree.Element(f"{{{NS['oai_dc']}}}dc"))
    errors = [str(e) for e in xsd.iter_errors(checked)]
    assert errors == [], errors[:3]
    return tree


def _get(url: str, query: str = "", method: str = "GET", data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url + ("?" + query if query else ""), data=data, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def _oai(endpoint: str, schema, query: str, **kw) -> etree._Element:
    status, kind, body = _get(endpoint, query, **kw)
    assert status == 200, (query, status, body[:300])
    assert kind.startswith("text/xml")
    return _valid(schema, body)


def _c14n(el: etree._Element) -> bytes:
    """``el`` canonical, without whitespace-only text (Sickle's parser drops it)."""
    bare = etree.fromstring(etree.tostring(el), etree.XMLParser(remove_blank_text=True))
    return etree.tostring(bare, method="c14n", exclusive=True)


def _code(tree: etree._Element) -> str | None:
    found = tree.xpath("oai:error/@code", namespaces=NS)
    return found[0] if found else None


# ------------------------------------------------------------------------------------------------ the build


def test_the_build_writes_the_records_and_an_index_and_no_static_repository(site: Path) -> None:
    assert not (site / "oai" / "static.xml").exists()
    index = json.loads((site / oai.INDEX).read_text("utf-8"))
    assert index["format"] == oai.INDEX_FORMAT and index["deletedRecord"] == "persistent"
    records = {r["id"]: r for r in index["records"]}
    assert sorted(records) == IDS
    assert records[REMOVED]["deleted"] and not (site / "oai" / "records" / REMOVED).exists()
    assert records[REMOVED]["sets"] == ["facility:bioem-basel", "technique:2d-crystallography"]
    assert records[EDITED]["datestamp"] == f"{NEW_DAY}T12:00:00Z" == records[REMOVED]["datestamp"]
    assert records[LATE]["datestamp"] == f"{NEW_DAY}T15:30:00Z"
    assert {records[i]["datestamp"] for i in CURRENT if i not in (EDITED, LATE)} == {f"{OLD_DAY}T12:00:00Z"}
    for ident in CURRENT:
        for prefix in ("oai_dc", "oai_datacite"):
            assert (site / oai.record_path(ident, prefix)).is_file()
    assert (site / oai.record_path(EDITED, "oai_datacite")).read_bytes() == \
        (site / "datasets" / EDITED / "datacite.xml").read_bytes()


# --------------------------------------------------------------------------------------------- harvesting


@pytest.mark.parametrize("prefix", ["oai_dc", "oai_datacite"])
def test_sickle_harvests_every_record_page_by_page(endpoint: str, site: Path, schema, prefix: str) -> None:
    pages = list(Sickle(endpoint, iterator=OAIResponseIterator, max_retries=0).ListRecords(
        metadataPrefix=prefix, ignore_deleted=False))
    assert len(pages) == -(-len(IDS) // PAGE) > 2  # every page a request of its own
    tokens = []
    for page in pages:
        tree = _valid(schema, page.raw.encode("utf-8"))
        tokens.append(tree.findtext("oai:ListRecords/oai:resumptionToken", namespaces=NS))
    assert all(tokens[:-1]) and tokens[-1] == ""  # the last page of a resumed list: an empty token
    records = list(Sickle(endpoint, max_retries=0).ListRecords(metadataPrefix=prefix, ignore_deleted=False))
    by_id = {r.header.identifier: r for r in records}
    assert len(records) == len(by_id) == len(IDS)
    assert sorted(by_id) == sorted(_ident(i) for i in IDS)
    gone = by_id[_ident(REMOVED)]
    assert gone.header.deleted and gone.xml.find("oai:metadata", NS) is None
    for ident in CURRENT:
        record = by_id[_ident(ident)]
        assert not record.header.deleted
        (payload,) = record.xml.find("oai:metadata", NS)
        expected = etree.parse(str(site / oai.record_path(ident, prefix))).getroot()
        assert _c14n(payload) == _c14n(expected), ident
    title = by_id[_ident(EDITED)].xml.xpath(".//dc:title/text() | .//dcite:title/text()", namespaces=NS)
    assert title and "poferritin" in title[0]


def test_list_identifiers_pages_and_sets(endpoint: str, schema) -> None:
    sickle = Sickle(endpoint, max_retries=0)
    headers = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False))
    assert sorted(h.identifier for h in headers) == sorted(_ident(i) for i in IDS)
    index = {h.identifier: h for h in headers}
    assert index[_ident(REMOVED)].deleted
    assert index[_ident(EDITED)].setSpecs == ["facility:scopem-eth", "technique:single-particle"]

    def listed(**kw: str) -> list[str]:
        try:
            return sorted(h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc",
                                                                       ignore_deleted=False, **kw))
        except Exception as exc:  # (Sickle raises noRecordsMatch as an exception)
            assert type(exc).__name__ == "NoRecordsMatch"
            return []

    assert listed(set="facility:bioem-basel") == [_ident(REMOVED), _ident(LATE)]
    assert listed(set="technique:2d-crystallography") == [_ident(REMOVED)]
    assert listed(set="technique") == listed() == sorted(_ident(i) for i in IDS)  # a parent set: all its children
    assert listed(set="facility:nowhere") == []
    sets = {s.setSpec: s.setName for s in sickle.ListSets()}
    assert {"facility", "technique", "facility:scopem-eth", "technique:2d-crystallography"} <= set(sets)
    assert sets["technique:single-particle"] == "Single-particle cryo-electron microscopy"
    tree = _oai(endpoint, schema, "verb=ListSets")
    assert len(tree.xpath("//oai:set", namespaces=NS)) == len(sets)


def test_from_and_until_at_day_and_second_granularity(endpoint: str, schema) -> None:
    def listed(query: str) -> list[str]:
        tree = _oai(endpoint, schema, "verb=ListIdentifiers&metadataPrefix=oai_dc&" + query)
        if _code(tree) == "noRecordsMatch":
            return []
        found = []
        while True:
            assert _code(tree) is None, query
            found += tree.xpath("//oai:header/oai:identifier/text()", namespaces=NS)
            token = tree.findtext("oai:ListIdentifiers/oai:resumptionToken", namespaces=NS)
            if not token:
                return sorted(found)
            tree = _oai(endpoint, schema, "verb=ListIdentifiers&resumptionToken=" + _quote(token))

    new = sorted(_ident(i) for i in (EDITED, REMOVED, LATE))
    assert listed(f"from={NEW_DAY}") == new
    assert listed(f"from={NEW_DAY}T12:00:00Z") == new
    assert listed(f"from={NEW_DAY}T12:00:01Z") == [_ident(LATE)]
    assert listed(f"from={NEW_DAY}T15:30:00Z&until={NEW_DAY}T15:30:00Z") == [_ident(LATE)]
    assert listed(f"from={NEW_DAY}&until={NEW_DAY}") == new  # a day's until takes the whole day
    echoed = _oai(endpoint, schema, f"verb=ListIdentifiers&metadataPrefix=oai_dc&from={NEW_DAY}&until={NEW_DAY}")
    assert echoed.find("oai:request", NS).attrib == {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc",
                                                     "from": str(NEW_DAY), "until": str(NEW_DAY)}
    assert listed(f"until={NEW_DAY}T12:00:00Z") == sorted(_ident(i) for i in IDS if i != LATE)
    old = listed(f"until={OLD_DAY}")
    assert len(old) == len(IDS) - 3 and _ident(EDITED) not in old
    assert listed("from=2030-01-01") == []
    assert listed(f"from={NEW_DAY}&until={OLD_DAY}") == []


def test_identify_get_record_and_formats(endpoint: str, schema) -> None:
    tree = _oai(endpoint, schema, "verb=Identify")
    ident = tree.find("oai:Identify", NS)
    assert ident.findtext("oai:baseURL", namespaces=NS) == endpoint
    assert tree.findtext("oai:request", namespaces=NS) == endpoint
    assert ident.findtext("oai:deletedRecord", namespaces=NS) == "persistent"
    assert ident.findtext("oai:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert ident.findtext("oai:earliestDatestamp", namespaces=NS) == f"{OLD_DAY}T12:00:00Z"
    assert ident.xpath(".//*[local-name()='repositoryIdentifier']/text()") == [HOST]
    formats = _oai(endpoint, schema, f"verb=ListMetadataFormats&identifier={_ident(EDITED)}")
    assert formats.xpath("//oai:metadataPrefix/text()", namespaces=NS) == ["oai_dc", "oai_datacite"]
    record = _oai(endpoint, schema, f"verb=GetRecord&identifier={_ident(EDITED)}&metadataPrefix=oai_datacite")
    assert record.xpath("//oai:header/oai:datestamp/text()", namespaces=NS) == [f"{NEW_DAY}T12:00:00Z"]
    assert record.xpath("//dcite:resource/dcite:identifier/@identifierType", namespaces=NS)
    gone = _oai(endpoint, schema, f"verb=GetRecord&identifier={_ident(REMOVED)}&metadataPrefix=oai_dc")
    assert gone.xpath("//oai:header/@status", namespaces=NS) == ["deleted"]
    assert not gone.xpath("//oai:metadata", namespaces=NS)
    posted = _get(endpoint, method="POST", data=f"verb=GetRecord&identifier={_ident(LATE)}&metadataPrefix=oai_dc"
                  .encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert posted[0] == 200 and _valid(schema, posted[2]).xpath("//dc:title", namespaces=NS)


# ------------------------------------------------------------------------------------------------- errors

ERRORS = [
    ("", "badVerb"),
    ("verb=Foo", "badVerb"),
    ("verb=GetMetadata&identifier=x&metadataPrefix=oai_dc", "badVerb"),  # (the library's own extra verb)
    ("verb=Identify&verb=Identify", "badVerb"),
    ("verb=identify", "badVerb"),
    ("verb=Identify&set=x", "badArgument"),
    ("verb=ListRecords", "badArgument"),
    ("verb=ListIdentifiers&set=facility", "badArgument"),
    ("verb=GetRecord&metadataPrefix=oai_dc", "badArgument"),
    ("verb=GetRecord&identifier=x", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-13-45", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-05-06T12:00:00", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-05-06T12:00:00.5Z", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-5-6", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2024-05-06&until=2024-05-07T00:00:00Z", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from_=2024-05-06", "badArgument"),
    ("verb=ListRecords&metadataPrefix=oai_dc&resumptionToken=x", "badArgument"),
    ("verb=GetRecord&identifier=%01&metadataPrefix=oai_dc", "badArgument"),
    ("verb=GetRecord&identifier=%FF%FE&metadataPrefix=oai_dc", "badArgument"),
    ("verb=GetRecord&identifier=a&metadataPrefix=oai_dc&x%00y=1", "badArgument"),
    ("verb=ListSets&resumptionToken=x&resumptionToken=y", "badArgument"),
    ("verb=ListRecords&metadataPrefix=marc21", "cannotDisseminateFormat"),
    ("verb=ListIdentifiers&metadataPrefix=", "cannotDisseminateFormat"),
    (f"verb=GetRecord&identifier=oai:{HOST}:{EDITED}&metadataPrefix=oai_marc", "cannotDisseminateFormat"),
    ("verb=GetRecord&identifier=oai:x:y&metadataPrefix=oai_dc", "idDoesNotExist"),
    (f"verb=GetRecord&identifier=oai:{HOST}:../../oai/index&metadataPrefix=oai_dc", "idDoesNotExist"),
    (f"verb=GetRecord&identifier={EDITED}&metadataPrefix=oai_dc", "idDoesNotExist"),
    ("verb=ListMetadataFormats&identifier=nope", "idDoesNotExist"),
    ("verb=ListRecords&resumptionToken=garbage", "badResumptionToken"),
    ("verb=ListRecords&resumptionToken=", "badResumptionToken"),
    ("verb=ListIdentifiers&resumptionToken=metadataPrefix%3Doai_dc%26cursor%3D4", "badResumptionToken"),
    ("verb=ListIdentifiers&resumptionToken=%25%25%25", "badResumptionToken"),
    ("verb=ListSets&resumptionToken=x", "badResumptionToken"),
    ("verb=ListRecords&metadataPrefix=oai_dc&set=facility:nowhere", "noRecordsMatch"),
    ("verb=ListRecords&metadataPrefix=oai_dc&from=2030-01-01T00:00:00Z", "noRecordsMatch"),
]


@pytest.mark.parametrize(("query", "code"), ERRORS)
def test_every_error_case_answers_its_oai_error(endpoint: str, schema, query: str, code: str) -> None:
    tree = _oai(endpoint, schema, query)
    assert _code(tree) == code, (query, etree.tostring(tree)[:500])
    if code in ("badVerb", "badArgument"):  # (the spec: the request element then has no attributes)
        assert not tree.find("oai:request", NS).attrib


def test_resumption_tokens_that_were_not_issued_or_are_stale(endpoint: str, site: Path, schema,
                                                             tmp_path: Path) -> None:
    first = _oai(endpoint, schema, "verb=ListRecords&metadataPrefix=oai_dc")
    token = first.findtext("oai:ListRecords/oai:resumptionToken", namespaces=NS)
    assert token and _code(_oai(endpoint, schema, "verb=ListRecords&resumptionToken=" + _quote(token))) is None
    for forged in (token.replace("cursor%3D4", "cursor%3D3000"), token.replace("cursor%3D4", "cursor%3D-4"),
                   token.replace("oai_dc", "marc21"), token.replace("state%3D", "state%3Dx"),
                   token + "%26extra%3D1"):
        assert forged != token
        tree = _oai(endpoint, schema, "verb=ListRecords&resumptionToken=" + _quote(forged))
        assert _code(tree) == "badResumptionToken", forged
    # Another build of the site (here: one record's datestamp changed): the tokens of the last one are stale.
    copy = tmp_path / "site"
    shutil.copytree(site / "oai", copy / "oai")
    app = OAIApp(copy, "http://127.0.0.1/", page_size=PAGE)
    assert _code(etree.fromstring(app.answer([("verb", "ListRecords"), ("resumptionToken", token)]))) is None
    index = json.loads((copy / oai.INDEX).read_text("utf-8"))
    index["records"][0]["datestamp"] = "2025-01-01T00:00:00Z"
    (copy / oai.INDEX).write_text(json.dumps(index), encoding="utf-8")
    stale = etree.fromstring(app.answer([("verb", "ListRecords"), ("resumptionToken", token)]))
    assert _code(stale) == "badResumptionToken"


def _quote(token: str) -> str:
    return urllib.request.quote(token, safe="")


def test_a_repository_without_records_has_no_set_hierarchy(tmp_path: Path, schema) -> None:
    from openem_build.infra.context import SiteContext
    from openem_build.records.model import Catalogue

    ctx = SiteContext(Catalogue((), {}, None), site_url=f"https://{HOST}/", build_date=NEW_DAY)
    (tmp_path / "oai").mkdir()
    (tmp_path / oai.INDEX).write_text(oai.artefacts(ctx)[0].content, encoding="utf-8")
    app = OAIApp(tmp_path, f"https://{HOST}/oai")
    for args, code in (([("verb", "ListSets")], "noSetHierarchy"),
                       ([("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("set", "facility")],
                        "noSetHierarchy"),
                       ([("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc")], "noRecordsMatch")):
        assert _code(_valid(schema, app.answer(args))) == code
    identify = _valid(schema, app.answer([("verb", "Identify")]))
    assert identify.findtext("oai:Identify/oai:earliestDatestamp", namespaces=NS) == f"{NEW_DAY}T00:00:00Z"


HOSTILE = ["verb=" + "A" * 60000, "verb=Identify&" + "&".join(f"k{i}=v" for i in range(100)),
           "verb=GetRecord&identifier=%3Cscript%3E&metadataPrefix=oai_dc",
           "verb=GetRecord&identifier=oai:x:%E2%80%AE%F0%9F%98%80&metadataPrefix=oai_dc",
           "verb=ListRecords&metadataPrefix=oai_dc&set=%00", "verb=ListRecords&metadataPrefix=oai_dc&set=%EF%BF%BE",
           "verb=ListRecords&metadataPrefix=oai_dc&from=9999-99-99", "verb=ListRecords&metadataPrefix=oai_dc&"
           "until=0000-00-00T00:00:00Z", "verb=ListRecords&resumptionToken=" + "%25" * 500,
           "verb=ListRecords&resumptionToken=from_%3Dnot-a-date%26metadataPrefix%3Doai_dc%26cursor%3D4",
           "verb=ListRecords&resumptionToken=metadataPrefix%3Doai_dc%26cursor%3D4%26cursor%3D8",
           "verb=ListMetadataFormats&identifier=" + "x" * 5000, "%3D%3D%3D", "&&&", "verb", "=Identify",
           "verb=Identify;verb=ListSets", "verb=%C0%AF"]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_requests_get_protocol_errors_not_server_errors(endpoint: str, schema, query: str) -> None:
    tree = _oai(endpoint, schema, query)
    assert _code(tree) in {"badVerb", "badArgument", "idDoesNotExist", "badResumptionToken", "noRecordsMatch"}


def test_http_other_than_oai_pmh(endpoint: str) -> None:
    assert _get(endpoint + "oai/records/x")[0] == 404
    assert _get(endpoint, "verb=Identify", method="DELETE")[0] == 405
    assert _get(endpoint, method="POST", data=b"verb=Identify", headers={"Content-Type": "text/plain"})[0] == 415
    status, kind, body = _get(endpoint, "verb=Identify", method="HEAD")
    assert status == 200 and kind.startswith("text/xml") and body == b""


def test_openem_oai_serve_starts_with_one_command(site: Path, schema) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    openem = Path(sys.executable).parent / "openem"
    proc = subprocess.Popen([str(openem), "oai", "serve", "--site", str(site), "--port", str(port),
                             "--base-url", f"https://{HOST}/oai"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                status, _kind, body = _get(url, "verb=Identify")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.1)
        assert status == 200
        assert _valid(schema, body).findtext("oai:Identify/oai:baseURL", namespaces=NS) == f"https://{HOST}/oai"
        taken = subprocess.run([str(openem), "oai", "serve", "--site", str(site), "--port", str(port)],
                               capture_output=True, text=True, timeout=60)
        assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    bad = subprocess.run([str(openem), "oai", "serve", "--site", str(site.parent / "nowhere")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "oai/index.json" in bad.stderr and "Traceback" not in bad.stderr


def test_datestamps_come_from_git_not_the_clock(site: Path) -> None:
    from openem_build.records import changes

    times = changes.times(site.parent)
    assert times[EDITED] == datetime(2024, 5, 6, 12) == times[REMOVED]
    assert times[LATE] == datetime(2024, 5, 6, 15, 30)
    # Times never go back along the chain: a commit dated before its parent's keeps the parent's time.
    log = "\x00100\n\ndatasets/abc/dataset.yaml\n\x0050\n\ndatasets/xyz/dataset.yaml\n"
    assert changes.parse(log) == {"abc": datetime(1970, 1, 1, 0, 1, 40), "xyz": datetime(1970, 1, 1, 0, 1, 40)}


def test_deleted_record_promise_follows_the_history_kept(site: Path, tmp_path: Path) -> None:
    from openem_build.records import changes

    assert changes.deleted_record(site.parent) == "persistent"
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{site.parent}", str(shallow)], check=True,
                   capture_output=True)
    assert changes.deleted_record(shallow) == "transient"
    assert changes.deleted_record(tmp_path) == "no"


def test_the_wsgi_entry_point_keeps_the_wsgi_contract(site: Path, schema, monkeypatch: pytest.MonkeyPatch) -> None:
    """`openem_build.site.oaiserve:application` as a WSGI server calls it (configured by the environment), checked by
    the standard library's WSGI validator."""
    from wsgiref.util import setup_testing_defaults
    from wsgiref.validate import validator

    from openem_build.site import oaiserve

    monkeypatch.setenv("OPENEM_SITE", str(site))
    monkeypatch.setenv("OPENEM_OAI_PAGE_SIZE", "5")
    monkeypatch.delenv("OPENEM_OAI_BASE_URL", raising=False)
    monkeypatch.setattr(oaiserve, "_app", [])
    app = validator(oaiserve.application)
    for query in ("verb=Identify", "verb=ListIdentifiers&metadataPrefix=oai_datacite", "verb=Nope"):
        environ: dict = {"QUERY_STRING": query}
        setup_testing_defaults(environ)
        seen: list[str] = []

        def start_response(status: str, headers: list, exc_info: object = None, seen: list[str] = seen) -> object:
            seen.append(status)
            return lambda _data: None

        result = app(environ, start_response)
        body = b"".join(result)
        result.close()
        assert seen == ["200 OK"]
        tree = _valid(schema, body)
        assert tree.findtext("oai:request", namespaces=NS) == f"https://{HOST}/oai"
    assert len(tree.xpath("//oai:error[@code='badVerb']", namespaces=NS)) == 1


def test_every_response_sent_was_valid(endpoint: str, schema) -> None:
    """The last test of the module: every response the endpoint sent to the tests above, Sickle's requests
    included, against the OAI-PMH schema."""
    assert len(SENT) > len(ERRORS) + len(HOSTILE) + 20
    for query, body in SENT:
        try:
            _valid(schema, body)
        except AssertionError as exc:
            raise AssertionError(f"the response to {query[:200]!r}: {exc}") from None
