"""The built site, read as harvesters and readers get it: HTML, JSON-LD, meta tags, links."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from pyld import jsonld

from openem_build.site.build import BuildError, build_site

from .conftest import ROOT, example_document, write_dataset

SITE_URL = "https://catalogue.openem.ch/"
EXAMPLE_IDS = sorted(p.parent.name for p in (ROOT / "datasets").glob("*/dataset.yaml"))


def _copy_catalogue(dest: Path) -> Path:
    for name in ("datasets", "docs", "overrides"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    return dest


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _copy_catalogue(tmp_path_factory.mktemp("catalogue"))
    return build_site(root)


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text("utf-8"), "lxml")


def page_jsonld(page: BeautifulSoup) -> list[dict]:
    return [json.loads(s.string) for s in page.find_all("script", type="application/ld+json")]


def doc(ident: str) -> dict:
    return yaml.safe_load((ROOT / "datasets" / ident / "dataset.yaml").read_text("utf-8"))


def _schema_org_loader(url: str, options: dict | None = None) -> dict:
    # No network in tests: serve a minimal schema.org context (vocabulary mapping only).
    assert "schema.org" in url, url
    return {"contextUrl": None, "documentUrl": url,
            "document": {"@context": {"@vocab": "https://schema.org/"}}}


def test_every_example_has_a_landing_page(site: Path) -> None:
    assert len(EXAMPLE_IDS) >= 10
    for ident in EXAMPLE_IDS:
        page = soup(site / "datasets" / ident / "index.html")
        assert page.find("h1").get_text(strip=True) == doc(ident)["title"]
        for section in ("description", "key-facts", "image-sets", "get-the-data", "cite", "contact", "metadata"):
            assert page.find(id=section) is not None, (ident, section)


@pytest.mark.parametrize("ident", EXAMPLE_IDS)
def test_dataset_jsonld(site: Path, ident: str) -> None:
    d = doc(ident)
    page = soup(site / "datasets" / ident / "index.html")
    (data,) = page_jsonld(page)
    assert data["@type"] == "Dataset"
    assert data["name"] == d["title"]
    assert data["url"] == f"{SITE_URL}datasets/{ident}/"
    assert data["version"] == str(d.get("version", "1.0"))
    assert data["license"].startswith("https://")
    assert data["datePublished"] == str(d["dates"]["published"])
    assert data["isAccessibleForFree"] is (d.get("status") != "embargoed")
    assert data["includedInDataCatalog"]["@type"] == "DataCatalog"
    assert data["publisher"]["@type"] == "Organization"
    assert data["measurementTechnique"]
    assert data["keywords"] == d.get("keywords", [])
    datalad = d["data"].get("datalad")
    if datalad and d.get("status") != "embargoed":
        # (contentUrl: the repository's https URL in the store; the DataLad clone URL in the description)
        (clone,) = [x for x in data["distribution"] if x.get("name", "").startswith("DataLad")]
        assert clone["@type"] == "DataDownload" and clone["description"] == f"datalad clone {datalad}"
        base, dsid = datalad.removeprefix("ria+").split("#")
        assert clone["contentUrl"] == f"{base.rstrip('/')}/{dsid[:3]}/{dsid[3:]}"
    else:  # no files (yet), or withheld: no DataLad distribution, and the page says why
        assert not any(x.get("name", "").startswith("DataLad") for x in data["distribution"])
        assert page.select_one("pre.openem-commands") is None
    for person, creator in zip(d["authors"], data["creator"], strict=True):
        assert creator["@type"] == "Person"
        assert creator["familyName"] == person["name"].split(",")[0]
        if "orcid" in person:
            assert creator["@id"] == creator["sameAs"] == f"https://orcid.org/{person['orcid']}"
        for aff, org in zip(person.get("affiliations", []), creator.get("affiliation", []), strict=True):
            assert org["name"] == aff["name"]
            if "ror" in aff:
                assert org["@id"] == aff["ror"]
    if "doi" in d:
        assert {"@type": "PropertyValue", "propertyID": "DOI", "value": d["doi"],
                "url": f"https://doi.org/{d['doi']}"} in data["identifier"]
        assert f"https://doi.org/{d['doi']}" in data["sameAs"]
    for emdb in d.get("related", {}).get("emdb", []):
        assert f"https://www.ebi.ac.uk/emdb/{emdb}" in data["isBasedOn"]
    for fact in data.get("variableMeasured", []):
        if fact["unitText"] == "Å":
            assert fact["unitCode"] == "A11"  # (UN/CEFACT; AD is the byte)
    # Valid JSON-LD: it expands to schema.org terms.
    expanded = jsonld.expand(data, {"documentLoader": _schema_org_loader})
    assert expanded[0]["https://schema.org/name"][0]["@value"] == d["title"]


def test_meta_tags_canonical_and_signposting(site: Path) -> None:
    for ident in EXAMPLE_IDS:
        d = doc(ident)
        page = soup(site / "datasets" / ident / "index.html")
        assert page.find("meta", attrs={"name": "citation_title"})["content"] == d["title"]
        authors = [m["content"] for m in page.find_all("meta", attrs={"name": "citation_author"})]
        assert authors == [a["name"] for a in d["authors"]]
        assert page.find("link", rel="canonical")["href"] == f"{SITE_URL}datasets/{ident}/"
        rels = {(tuple(link["rel"]), link["href"]) for link in page.find_all("link")}
        assert (("type",), "https://schema.org/Dataset") in rels
        assert any(r == ("license",) for r, _ in rels)
        assert any(r == ("describedby",) and h.endswith("metadata.jsonld") for r, h in rels)
        for a in d["authors"]:
            if "orcid" in a:
                assert (("author",), f"https://orcid.org/{a['orcid']}") in rels
        cited = [h for r, h in rels if r == ("cite-as",)]
        assert cited == [f"https://doi.org/{d['doi']}" if "doi" in d else f"{SITE_URL}datasets/{ident}/"]
        if "doi" in d:
            badge = page.select_one("a.openem-badge--doi")
            assert badge["href"] == f"https://doi.org/{d['doi']}"


def test_links_to_orcid_ror_and_archives(site: Path) -> None:
    for ident in EXAMPLE_IDS:
        d = doc(ident)
        page = soup(site / "datasets" / ident / "index.html")
        hrefs = {a["href"] for a in page.find_all("a", href=True)}
        for a in d["authors"]:
            if "orcid" in a:
                assert f"https://orcid.org/{a['orcid']}" in hrefs
            for aff in a.get("affiliations", []):
                if "ror" in aff:
                    assert aff["ror"] in hrefs
        related = d.get("related", {})
        for acc in related.get("emdb", []):
            assert f"https://www.ebi.ac.uk/emdb/{acc}" in hrefs
        for acc in related.get("empiar", []):
            assert f"https://www.ebi.ac.uk/empiar/{acc}/" in hrefs
        for acc in related.get("pdb", []):
            assert f"https://www.rcsb.org/structure/{acc}" in hrefs
        for pub in related.get("publications", []):
            if "doi" in pub:
                assert f"https://doi.org/{pub['doi']}" in hrefs


def test_get_the_data_commands(site: Path) -> None:
    d = example_document()
    page = soup(site / "datasets" / d["id"] / "index.html")
    commands = page.select_one("pre.openem-commands").get_text()
    assert f"datalad clone '{d['data']['datalad']}' {d['id']}" in commands  # (the URL has a '#': quoted)
    for s in d["data"]["image_sets"]:
        assert f"datalad get {s['directory']}/" in commands


def test_citation_downloads_are_linked_and_present(site: Path) -> None:
    ident = EXAMPLE_IDS[0]
    page = soup(site / "datasets" / ident / "index.html")
    downloads = {a.get_text(strip=True): a["href"] for a in page.select(".openem-downloads a")}
    assert set(downloads) == {"BibTeX", "RIS", "CSL-JSON"}
    for href in downloads.values():
        assert (site / "datasets" / ident / href).is_file()
    assert "(20" in page.select_one("pre.openem-citation").get_text()


def test_machine_readable_links_resolve(site: Path) -> None:
    for ident in EXAMPLE_IDS:
        page = soup(site / "datasets" / ident / "index.html")
        for a in page.select(".openem-formats a"):
            target = (site / "datasets" / ident / a["href"]).resolve()
            assert target.is_file(), (ident, a["href"])
    record = json.loads((site / "datasets" / EXAMPLE_IDS[0] / "dataset.json").read_text("utf-8"))
    assert record["id"] == EXAMPLE_IDS[0]
    assert json.loads((site / "schema" / "dataset.schema.json").read_text("utf-8"))["title"] == "OpenEM dataset"


def test_navigation_holds_only_the_main_sections(site: Path) -> None:
    page = soup(site / "index.html")
    tabs = [a.get_text(strip=True) for a in page.select("nav.md-tabs a.md-tabs__link")]
    assert tabs == ["Home", "Browse", "Facilities", "Contribute", "About", "API", "Architecture"]
    assert "datasets/" not in str(page.select_one("nav.md-nav--primary"))


def test_home_browse_and_facility_pages(site: Path) -> None:
    home = soup(site / "index.html")
    (catalog,) = page_jsonld(home)
    assert catalog["@type"] == "DataCatalog"
    assert sorted(x["url"] for x in catalog["dataset"]) == sorted(f"{SITE_URL}datasets/{i}/" for i in EXAMPLE_IDS)
    assert f"{len(EXAMPLE_IDS)}" in home.select_one(".openem-counts").get_text()
    assert len(home.select(".openem-cards--newest li")) == min(6, len(EXAMPLE_IDS))

    browse = soup(site / "browse" / "index.html")
    rows = browse.select("#openem-browse tbody tr")
    assert sorted(r.a["href"] for r in rows) == sorted(f"../datasets/{i}/" for i in EXAMPLE_IDS)
    techniques = {o["value"] for o in browse.select("select[name=technique] option") if o["value"]}
    assert techniques == {doc(i)["technique"] for i in EXAMPLE_IDS}

    facilities = yaml.safe_load((ROOT / "datasets" / "facilities.yaml").read_text("utf-8"))
    for fid in facilities:
        page = soup(site / "facilities" / fid / "index.html")
        listed = sorted(a["href"] for a in page.select(".openem-gallery a"))
        expected = sorted(f"../../datasets/{i}/" for i in EXAMPLE_IDS if doc(i)["facility"] == fid)
        assert listed == expected


def test_contributing_page_has_the_generated_field_reference(site: Path) -> None:
    page = (site / "contributing" / "index.html").read_text("utf-8")
    assert "openem:field-reference" not in page
    for field in ("authors[].orcid", "instrument.acceleration_voltage_kV", "data.image_sets[].category"):
        assert f"<code>{field}</code>" in page


HOSTILE = '</script><script>alert(1)</script> "quoted" & \'single\' <b>bold</b> {braces} \\back'


def test_hostile_strings_are_escaped_everywhere(catalogue: Path) -> None:
    d = example_document()
    d["id"] = "hostile-entry"
    d["title"] = "Hostile " + HOSTILE
    d["description"] = ("Hostile description " + HOSTILE + "\n\n<img src=x onerror=alert(2)> "
                        "[link](javascript:alert(3)) <iframe src='https://evil.example'></iframe>")
    d["keywords"] = [HOSTILE[:70]]
    d["authors"][0]["name"] = 'Evil</script>, "Mallory" <i>'
    d["sample"]["name"] = HOSTILE
    d["data"]["image_sets"][0]["name"] = "set $(rm -rf /) `reboot`"
    write_dataset(catalogue, d)
    site = build_site(catalogue)
    html = (site / "datasets" / "hostile-entry" / "index.html").read_text("utf-8")
    page = BeautifulSoup(html, "lxml")
    # Nothing injected: the only scripts are our JSON-LD and the theme's own.
    scripts = [s.get_text() for s in page.find_all("script") if s.get("type") != "application/ld+json"]
    assert not [s for s in scripts if "alert(1)" in s]
    assert not page.find_all(onerror=True)
    assert not page.find_all("iframe")
    assert not [a for a in page.find_all("a", href=True) if a["href"].lower().startswith("javascript:")]
    assert page.find("b") is None and page.find("i") is None
    assert page.find("h1").get_text() == d["title"]
    assert page.title.get_text().startswith(d["title"])
    (data,) = page_jsonld(page)
    assert data["name"] == d["title"]
    assert data["keywords"] == [HOSTILE[:70]]
    assert page.find("meta", attrs={"name": "citation_title"})["content"] == d["title"]
    assert page.find("meta", attrs={"name": "citation_author"})["content"] == d["authors"][0]["name"]
    commands = page.select_one("pre.openem-commands").get_text()
    directory = d["data"]["image_sets"][0]["directory"]
    assert f"datalad get {directory}/   # set $(rm -rf /) `reboot`" in commands  # in a comment, on one line
    browse = (site / "browse" / "index.html").read_text("utf-8")
    assert "<script>alert(1)" not in browse


def test_invalid_entry_fails_the_build_with_located_messages_and_keeps_the_old_site(catalogue: Path) -> None:
    site = build_site(catalogue)
    marker = site / "index.html"
    before = marker.read_bytes()
    d = example_document()
    d["id"] = "broken-entry"
    d["instrument"]["acceleration_voltage_kV"] = 300000
    write_dataset(catalogue, d)
    with pytest.raises(BuildError) as err:
        build_site(catalogue)
    text = str(err.value)
    assert "build failed" in text
    assert "datasets/broken-entry/dataset.yaml:" in text and "acceleration_voltage_kV" in text
    assert marker.read_bytes() == before
    assert not list(catalogue.glob(".site.building-*"))


def test_the_previous_site_is_replaced_whole_and_deleted_after(catalogue: Path) -> None:
    site = build_site(catalogue)
    (site / "left-over.txt").write_text("from an older build")
    stale = catalogue / ".site.old-1"  # a deletion cut short
    (stale / "datasets").mkdir(parents=True)
    assert build_site(catalogue) == site
    assert not (site / "left-over.txt").exists() and (site / "index.html").is_file()
    deadline = time.monotonic() + 30
    while list(catalogue.glob(".site.old-*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # deleted by a detached process: nothing waits for it
    assert not list(catalogue.glob(".site.old-*"))


def test_plugin_error_lists_located_problems(catalogue: Path) -> None:
    from mkdocs.config import load_config
    from mkdocs.exceptions import PluginError

    d = example_document()
    d["id"] = "broken-entry"
    d["authors"][0]["orcid"] = "0000-0002-1825-0098"
    path = write_dataset(catalogue, d)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "0000-0002-1825-0098" in t)
    cfg = load_config(config_file=str(catalogue / "mkdocs.yml"))
    with pytest.raises(PluginError) as err:
        cfg.plugins.on_config(cfg)
    assert f"datasets/broken-entry/dataset.yaml:{line}:" in str(err.value)
    assert "fails the ORCID checksum" in str(err.value)


def test_two_builds_are_byte_identical(catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = build_site(catalogue, tmp_path / "a")
    b = build_site(catalogue, tmp_path / "b")
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    different = [str(p) for p in files_a if (a / p).read_bytes() != (b / p).read_bytes()]
    assert different == []
