"""What harvesters get: sitemap, robots.txt, JSON API, DCAT, OAI-PMH records, Signposting, JSON-LD.

Every file is read with the parser a harvester would use (XML Schema validation with local schemas, rdflib and
pyshacl, extruct), and every dataset must appear in every channel with the same DOI, title and licence.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from lxml import etree

from openem_build.records.licenses import license_url
from openem_build.records.load import load_catalogue
from openem_build.records.validate import schema
from openem_build.render import sitemap
from openem_build.site.build import build_site

from .conftest import ROOT, record_subdatasets

SITE_URL = "https://catalogue.openem.ch/"
SCHEMAS = Path(__file__).parent / "schemas"
DATACITE_XSD = ROOT.parent / "shared" / "reference" / "datacite" / "kernel-4.5" / "metadata.xsd"
EXAMPLE_IDS = sorted(p.parent.name for p in (ROOT / "datasets").glob("*/dataset.yaml"))
EDITED = "apoferritin-krios-2024"
EMBARGOED = "zebrafish-neuromast-sbfsem-2026"
OLD_DAY, NEW_DAY = date(2023, 1, 2), date(2024, 5, 6)

NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
      "oai": "http://www.openarchives.org/OAI/2.0/", "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
      "dc": "http://purl.org/dc/elements/1.1/", "dcite": "http://datacite.org/schema/kernel-4"}
SIGNPOSTING_RELS = {"cite-as", "type", "author", "license", "describedby", "item"}


def _git(root: Path, *args: str, day: date | None = None) -> None:
    env = dict(os.environ)
    if day is not None:
        stamp = f"{day.isoformat()}T12:00:00+00:00"
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example catalogue in a git repository of its own: everything committed on OLD_DAY, then one dataset
    edited on NEW_DAY; built like `openem build`."""
    root = tmp_path_factory.mktemp("catalogue")
    for name in ("datasets", "docs", "overrides"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    _git(root, "init", "-q")
    record_subdatasets(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "catalogue", day=OLD_DAY)
    edited = root / "datasets" / EDITED / "dataset.yaml"
    edited.write_text(edited.read_text("utf-8") + "# edited\n", encoding="utf-8")
    _git(root, "commit", "-q", "-am", "edit one dataset", day=NEW_DAY)
    return build_site(root)


@pytest.fixture(scope="module")
def catalogue():
    result = load_catalogue(ROOT)
    assert result.ok
    return result.catalogue


def _xsd(path: Path, locations: list[tuple[str, Path]] = ()):  # type: ignore[assignment]
    import xmlschema

    # allow="local": no schema is ever fetched from the network.
    return xmlschema.XMLSchema(str(path), allow="local", locations=[(ns, str(p)) for ns, p in locations])


def _errors(schema_, data: bytes | etree._Element) -> list[str]:
    source = data if isinstance(data, etree._Element) else etree.fromstring(data)
    return [str(e) for e in schema_.iter_errors(source)]


def _landing(site: Path, ident: str) -> BeautifulSoup:
    return BeautifulSoup((site / "datasets" / ident / "index.html").read_text("utf-8"), "lxml")


def _site_file(site: Path, url: str) -> Path:
    assert url.startswith(SITE_URL), url
    rel = url[len(SITE_URL):]
    return site / (rel + "index.html" if rel.endswith("/") or not rel else rel)


# ---------------------------------------------------------------------------------------------------- sitemap


def test_sitemap_is_valid_and_lists_every_page(site: Path) -> None:
    data = (site / "sitemap.xml").read_bytes()
    assert _errors(_xsd(SCHEMAS / "sitemap.xsd"), data) == []
    locs = [e.text for e in etree.fromstring(data).iterfind("sm:url/sm:loc", NS)]
    assert len(locs) == len(set(locs))
    pages = {SITE_URL + p.parent.relative_to(site).as_posix().removeprefix(".") + "/"
             for p in site.rglob("index.html")}
    pages = {p.replace(SITE_URL + "/", SITE_URL) for p in pages}
    assert set(locs) == pages
    for ident in EXAMPLE_IDS:
        assert f"{SITE_URL}datasets/{ident}/" in locs
    assert f"{SITE_URL}api/" in locs
    # MkDocs' own gzip twin is replaced by ours, byte for byte the same sitemap, without a timestamp.
    packed = (site / "sitemap.xml.gz").read_bytes()
    assert gzip.decompress(packed) == data
    assert packed[4:8] == b"\0\0\0\0"


def test_sitemap_lastmod_comes_from_git_not_the_build(site: Path) -> None:
    root = etree.fromstring((site / "sitemap.xml").read_bytes())
    lastmod = {u.findtext("sm:loc", namespaces=NS): u.findtext("sm:lastmod", namespaces=NS)
               for u in root.iterfind("sm:url", NS)}
    assert lastmod[f"{SITE_URL}datasets/{EDITED}/"] == NEW_DAY.isoformat()
    for ident in EXAMPLE_IDS:
        if ident != EDITED:
            assert lastmod[f"{SITE_URL}datasets/{ident}/"] == OLD_DAY.isoformat(), ident
    assert lastmod[f"{SITE_URL}about/"] == OLD_DAY.isoformat()
    assert lastmod[SITE_URL] == NEW_DAY.isoformat()  # the home page lists the newest change


def test_dataset_dates_fall_back_to_the_record(catalogue) -> None:
    dates = sitemap.dataset_dates(catalogue, {})
    for d in catalogue.datasets:
        assert dates[d.id] == (d.dates.modified or d.dates.published)
    some = catalogue.datasets[0].id
    dates = sitemap.dataset_dates(catalogue, {f"datasets/{some}/dataset.yaml": date(2030, 1, 1),
                                              f"datasets/{some}/manifest.json": date(2031, 1, 1)})
    assert dates[some] == date(2031, 1, 1)


def test_parse_git_log_keeps_the_newest_day() -> None:
    text = "\x001700000000\n\ndatasets/a/dataset.yaml\n\x001600000000\n\ndatasets/a/dataset.yaml\ndocs/about.md\n"
    assert sitemap.parse_git_log(text) == {"datasets/a/dataset.yaml": date(2023, 11, 14),
                                           "docs/about.md": date(2020, 9, 13)}


def test_git_dates_outside_a_repository_is_empty(tmp_path: Path) -> None:
    assert sitemap.git_dates(tmp_path) == {}


def test_robots_points_at_the_sitemap(site: Path) -> None:
    lines = (site / "robots.txt").read_text("utf-8").splitlines()
    assert "User-agent: *" in lines
    assert f"Sitemap: {SITE_URL}sitemap.xml" in lines


# --------------------------------------------------------------------------------------------------- JSON API


def test_json_api(site: Path) -> None:
    import jsonschema

    everything = json.loads((site / "api" / "datasets.json").read_text("utf-8"))
    assert everything["count"] == len(EXAMPLE_IDS) == len(everything["datasets"])
    assert everything["schema"] == f"{SITE_URL}schema/dataset.schema.json"
    assert (site / "schema" / "dataset.schema.json").is_file()
    validator = jsonschema.Draft202012Validator(schema("dataset"))
    for entry in everything["datasets"]:
        ident = entry["id"]
        single = json.loads((site / "api" / f"{ident}.json").read_text("utf-8"))
        assert single == entry
        record = {k: v for k, v in entry.items() if k not in ("links", "access")}
        assert list(validator.iter_errors(record)) == [], ident
        links = entry["links"]
        assert links["self"] == f"{SITE_URL}api/{ident}.json"
        assert links["landing_page"] == f"{SITE_URL}datasets/{ident}/"
        for url in [links["self"], links["landing_page"], links["schema"], links["linkset"],
                    *(f["href"] for f in links["formats"])]:
            assert _site_file(site, url).is_file(), url
        assert {f["type"] for f in links["formats"]} >= {"application/ld+json", "application/json"}
    for url in everything["links"].values():
        assert _site_file(site, url).is_file(), url


# ------------------------------------------------------------------------------------------------------- DCAT


def _dcat(site: Path):
    import rdflib

    turtle = rdflib.Graph().parse(site / "dcat" / "catalog.ttl", format="turtle")
    rdfxml = rdflib.Graph().parse(site / "dcat" / "catalog.rdf", format="xml")
    return turtle, rdfxml


def test_dcat_parses_and_meets_the_official_dcat_ap_shapes(site: Path) -> None:
    """The site's files, as harvesters read them, against DCAT-AP 3.0.1's own shapes (base, range, deprecated
    URIs): no violation."""
    import rdflib
    from rdflib.compare import isomorphic

    from .test_dcat_shapes import MANDATORY, results, shapes

    turtle, rdfxml = _dcat(site)
    assert isomorphic(turtle, rdfxml)
    official = shapes(*MANDATORY)
    assert results(turtle, official) == results(rdfxml, official) == {}
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    datasets = set(turtle.subjects(rdflib.RDF.type, dcat.Dataset))
    assert {str(s) for s in datasets} == {f"{SITE_URL}datasets/{i}/" for i in EXAMPLE_IDS}
    (catalog,) = turtle.subjects(rdflib.RDF.type, dcat.Catalog)
    assert set(turtle.objects(catalog, dcat.dataset)) == datasets


# ---------------------------------------------------------------------------------------------------- OAI-PMH


def _oai_record(site: Path, ident: str, prefix: str) -> etree._Element:
    return etree.parse(str(site / "oai" / "records" / ident / f"{prefix}.xml")).getroot()


def test_oai_records_are_valid_and_indexed(site: Path) -> None:
    """The records the OAI-PMH endpoint serves (tests/test_oai_server.py harvests them); no static repository
    file, whose baseURL would have to be a gateway's (docs/api.md)."""
    assert not (site / "oai" / "static.xml").exists()
    index = json.loads((site / "oai" / "index.json").read_text("utf-8"))
    assert [r["id"] for r in sorted(index["records"], key=lambda r: r["id"])] == EXAMPLE_IDS
    stamps = {r["id"]: r["datestamp"] for r in index["records"]}
    assert stamps[EDITED] == f"{NEW_DAY.isoformat()}T12:00:00Z"
    assert index["earliestDatestamp"] == f"{OLD_DAY.isoformat()}T12:00:00Z"
    dc = _xsd(SCHEMAS / "oai_dc.xsd")
    for ident in EXAMPLE_IDS:
        assert _errors(dc, _oai_record(site, ident, "oai_dc")) == [], ident
    if not DATACITE_XSD.is_file():
        pytest.skip(f"{DATACITE_XSD} absent: oai_datacite records not validated")
    kernel = _xsd(DATACITE_XSD)
    for ident in EXAMPLE_IDS:
        assert _errors(kernel, _oai_record(site, ident, "oai_datacite")) == [], ident


# ------------------------------------------------------------------------------------------------ Signposting


def test_linkset_matches_the_head_links(site: Path) -> None:
    for ident in EXAMPLE_IDS:
        page = _landing(site, ident)
        head = {(link["rel"][0], link["href"]) for link in page.find_all("link")
                if link.get("rel") and link["rel"][0] in SIGNPOSTING_RELS}
        (linkset_link,) = page.find_all("link", rel="linkset")
        assert linkset_link["type"] == "application/linkset+json"
        path = _site_file(site, linkset_link["href"])
        document = json.loads(path.read_text("utf-8"))
        contexts = document["linkset"]
        anchor = contexts[0]
        assert anchor["anchor"] == f"{SITE_URL}datasets/{ident}/"
        listed = {(rel, target["href"]) for rel, targets in anchor.items() if rel != "anchor" for target in targets}
        assert listed == head, ident
        for rel, targets in anchor.items():
            if rel != "anchor":
                assert isinstance(targets, list) and all("href" in t for t in targets)
        described = {t["href"] for t in anchor["describedby"]}
        assert {c["anchor"] for c in contexts[1:]} == described
        for c in contexts[1:]:
            assert c["describes"] == [{"href": anchor["anchor"], "type": "text/html"}]
            assert _site_file(site, c["anchor"]).is_file()


# --------------------------------------------------------------------------------------------- every channel


def _extruct_dataset(site: Path, ident: str) -> dict:
    import extruct

    html = (site / "datasets" / ident / "index.html").read_text("utf-8")
    data = extruct.extract(html, base_url=f"{SITE_URL}datasets/{ident}/", syntaxes=["json-ld"], uniform=True)
    (dataset,) = [d for d in data["json-ld"] if d.get("@type") == "Dataset"]
    return dataset


def test_every_dataset_in_every_channel_alike(site: Path, catalogue) -> None:
    import rdflib

    turtle, _ = _dcat(site)
    dct = rdflib.Namespace("http://purl.org/dc/terms/")
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    adms = rdflib.Namespace("http://www.w3.org/ns/adms#")
    skos = rdflib.Namespace("http://www.w3.org/2004/02/skos/core#")
    api = {e["id"]: e for e in json.loads((site / "api" / "datasets.json").read_text("utf-8"))["datasets"]}
    locs = set(etree.fromstring((site / "sitemap.xml").read_bytes()).xpath("//sm:loc/text()", namespaces=NS))
    assert {d.id for d in catalogue.datasets} == set(EXAMPLE_IDS)
    for d in catalogue.datasets:
        url, licence, doi = f"{SITE_URL}datasets/{d.id}/", license_url(d.license), d.doi
        # sitemap
        assert url in locs
        # JSON-LD on the landing page, as a crawler extracts it
        ld = _extruct_dataset(site, d.id)
        assert ld["name"] == d.title and ld["license"] == licence and ld["url"] == url
        ld_dois = [i["value"] for i in ld["identifier"] if isinstance(i, dict) and i.get("propertyID") == "DOI"]
        assert ld_dois == ([doi] if doi else [])
        # JSON API
        entry = api[d.id]
        assert entry["title"] == d.title and entry["license"] == d.license and entry["links"]["license"] == licence
        assert entry.get("doi") == doi
        assert entry["links"]["doi"] == (f"https://doi.org/{doi}" if doi else None)
        # DCAT
        node = rdflib.URIRef(url)
        assert [str(t) for t in turtle.objects(node, dct.title)] == [d.title]
        data_dist = rdflib.URIRef(url + "#data")
        if d.data.datalad or d.is_embargoed:  # (an entry without files has no data distribution)
            assert data_dist in set(turtle.objects(node, dcat.distribution))
            assert [str(x) for x in turtle.objects(data_dist, dct.license)] == [licence]
        else:
            assert data_dist not in set(turtle.objects(node, dcat.distribution))
        dcat_dois = [str(n) for i in turtle.objects(node, adms.identifier) for n in turtle.objects(i, skos.notation)]
        assert dcat_dois == ([doi] if doi else [])
        # OAI-PMH: Dublin Core
        dc = _oai_record(site, d.id, "oai_dc")
        assert dc.xpath("dc:title/text()", namespaces=NS) == [d.title]
        assert licence in dc.xpath("dc:rights/text()", namespaces=NS)
        identifiers = dc.xpath("dc:identifier/text()", namespaces=NS)
        assert url in identifiers and ((f"https://doi.org/{doi}" in identifiers) if doi else True)
        # OAI-PMH: DataCite payload, and the DataCite XML file of the landing page
        resource = _oai_record(site, d.id, "oai_datacite")
        datacite_file = etree.parse(str(site / "datasets" / d.id / "datacite.xml")).getroot()
        for res in (resource, datacite_file):
            assert res.xpath("dcite:titles/dcite:title/text()", namespaces=NS) == [d.title]
            assert licence in res.xpath("dcite:rightsList/dcite:rights/@rightsURI", namespaces=NS)
            (kind,) = res.xpath("dcite:identifier/@identifierType", namespaces=NS)
            (value,) = res.xpath("dcite:identifier/text()", namespaces=NS)
            assert (kind, value) == (("DOI", doi) if doi else ("URL", url))


def test_datacite_file_is_valid(site: Path) -> None:
    if not DATACITE_XSD.is_file():
        pytest.skip(f"{DATACITE_XSD} absent")
    xsd = _xsd(DATACITE_XSD)
    for ident in EXAMPLE_IDS:
        assert _errors(xsd, (site / "datasets" / ident / "datacite.xml").read_bytes()) == [], ident


def test_embargo_is_public_metadata_with_restricted_access(site: Path, catalogue) -> None:
    import rdflib

    d = catalogue.by_id[EMBARGOED]
    assert d.is_embargoed and d.embargo_until
    until = d.embargo_until.isoformat()
    entry = json.loads((site / "api" / f"{EMBARGOED}.json").read_text("utf-8"))
    assert entry["access"] == {"metadata": "public", "data": "embargoed", "embargo_until": until}
    turtle, _ = _dcat(site)
    dct = rdflib.Namespace("http://purl.org/dc/terms/")
    node = rdflib.URIRef(f"{SITE_URL}datasets/{EMBARGOED}/")
    assert [str(x) for x in turtle.objects(node, dct.accessRights)] == [
        "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"]
    (statement,) = turtle.objects(rdflib.URIRef(f"{SITE_URL}datasets/{EMBARGOED}/#data"), dct.accessRights)
    assert until in str(turtle.value(statement, rdflib.RDFS.label))
    other = rdflib.URIRef(f"{SITE_URL}datasets/{EDITED}/")
    assert [str(x) for x in turtle.objects(other, dct.accessRights)] == [
        "http://publications.europa.eu/resource/authority/access-right/PUBLIC"]
    rights = _oai_record(site, EMBARGOED, "oai_dc").xpath("dc:rights/text()", namespaces=NS)
    assert "info:eu-repo/semantics/embargoedAccess" in rights and any(until in r for r in rights)


def test_outputs_are_reproducible(site: Path) -> None:
    """Rendering twice gives the same bytes (no blank-node ids, timestamps or unordered sets)."""
    from openem_build.infra.context import SiteContext
    from openem_build.render import oai
    from openem_build.render import outputs as artefacts

    result = load_catalogue(ROOT)
    ctx = SiteContext(result.catalogue, site_url=SITE_URL)
    first = {a.path: a.content for a in artefacts.for_catalogue(ctx) + oai.artefacts(ctx)}
    second = {a.path: a.content for a in artefacts.for_catalogue(ctx) + oai.artefacts(ctx)}
    assert first == second
    assert {"dcat/catalog.ttl", "dcat/catalog.rdf", "api/datasets.json", "robots.txt", "oai/index.json"} <= set(first)


# -------------------------------------------------------------------------------------- Google Dataset Search
# Google's Dataset structured data (developers.google.com/search/docs/appearance/structured-data/dataset):
# required name and description (50 to 5000 characters); recommended alternateName, creator, citation, funder,
# hasPart, isAccessibleForFree, isBasedOn, identifier, includedInDataCatalog, keywords, license,
# measurementTechnique, sameAs, spatialCoverage, temporalCoverage, variableMeasured, version, url, and
# distribution as DataDownload with contentUrl and encodingFormat. What an EM dataset has, every page gives.
GOOGLE_ALWAYS = {"creator", "identifier", "isAccessibleForFree", "includedInDataCatalog", "keywords", "license",
                 "measurementTechnique", "variableMeasured", "version", "url", "distribution", "datePublished",
                 "publisher"}


def _http(url: object) -> bool:
    return isinstance(url, str) and url.startswith(("https://", "http://")) and " " not in url


def test_google_dataset_requirements(site: Path, catalogue) -> None:
    names = []
    for d in catalogue.datasets:
        ld = _extruct_dataset(site, d.id)
        # required
        assert isinstance(ld["name"], str) and ld["name"].strip() == ld["name"] and ld["name"]
        assert isinstance(ld["description"], str) and 50 <= len(ld["description"]) <= 5000, d.id
        assert "*" not in ld["description"].split("\n")[0], d.id  # plain text, not Markdown
        names.append(ld["name"])
        # recommended, where the record has it
        assert set(ld) >= GOOGLE_ALWAYS, (d.id, GOOGLE_ALWAYS - set(ld))
        assert ld["url"] == f"{SITE_URL}datasets/{d.id}/" and _http(ld["license"])
        assert isinstance(ld["isAccessibleForFree"], bool) and ld["keywords"]
        assert date.fromisoformat(ld["datePublished"])
        if d.dates.collected:
            assert date.fromisoformat(ld["temporalCoverage"]) == d.dates.collected
        for who in ld["creator"] + ([ld["publisher"]]) + ld.get("funder", []):
            assert who["@type"] in ("Person", "Organization") and who["name"], d.id
            if str(who.get("@id", "")).startswith("https://orcid.org/"):
                assert who["sameAs"] == who["@id"]
        assert {"@type": "DataCatalog"}.items() <= ld["includedInDataCatalog"].items()
        assert ld["includedInDataCatalog"]["name"]
        for ident in ld["identifier"]:
            assert _http(ident) or (ident["@type"] == "PropertyValue" and ident["value"] and _http(ident["url"]))
        for v in ld["variableMeasured"]:
            assert v["@type"] == "PropertyValue" and v["name"] and isinstance(v["value"], int | float)
        for dist in ld["distribution"]:
            assert dist["@type"] == "DataDownload" and dist["encodingFormat"], (d.id, dist)
            assert _http(dist["contentUrl"]), (d.id, dist)  # (a `ria+https://` clone URL is no content URL)
            if dist["contentUrl"].startswith(SITE_URL) and "/store/" not in dist["contentUrl"]:
                assert _site_file(site, dist["contentUrl"]).is_file(), dist["contentUrl"]
    assert len(set(names)) == len(names)


def test_json_ld_pictures_are_the_published_thumbnail_and_previews(site: Path, catalogue) -> None:
    """``thumbnailUrl`` is the thumbnail the site writes (the picture Browse shows), ``image`` the previews with
    the representative one first; absolute URLs of files the build wrote. Entries without (public) previews have
    neither."""
    from PIL import Image

    from openem_build.render import thumbs

    with_pictures = 0
    for d in catalogue.datasets:
        ld = _extruct_dataset(site, d.id)
        chosen = thumbs.choose(d)
        if chosen is None or d.is_embargoed:  # (an embargo withholds the previews, access.py)
            assert not {"image", "thumbnailUrl", "thumbnail"} & set(ld), d.id
            continue
        with_pictures += 1
        width = thumbs.WIDTHS[-1]
        assert ld["thumbnailUrl"] == f"{SITE_URL}datasets/{d.id}/thumbnails/{width}.png", d.id
        with Image.open(_site_file(site, ld["thumbnailUrl"])) as im:
            assert im.format == "PNG" and im.width == width
            assert (ld["thumbnail"]["width"], ld["thumbnail"]["height"]) == im.size
        assert ld["thumbnail"]["contentUrl"] == ld["thumbnailUrl"] and ld["thumbnail"]["@type"] == "ImageObject"
        urls = [i["contentUrl"] for i in ld["image"]]
        assert urls[0] == f"{SITE_URL}datasets/{d.id}/previews/{chosen.file}", d.id
        assert sorted(urls) == sorted(f"{SITE_URL}datasets/{d.id}/previews/{p.file}" for p in d.previews)
        for image in ld["image"]:
            with Image.open(_site_file(site, image["contentUrl"])) as im:
                assert (image["width"], image["height"]) == im.size and image["encodingFormat"] == "image/png"
        # The same in the metadata.jsonld file the page links.
        linked = json.loads((site / "datasets" / d.id / "metadata.jsonld").read_text("utf-8"))
        assert (linked["thumbnailUrl"], linked["image"]) == (ld["thumbnailUrl"], ld["image"])
    assert with_pictures >= 3
