"""DataCite metadata: every example validates against the official XSD and DataCite's JSON schema."""

from __future__ import annotations

import dataclasses
from datetime import date
from functools import cache
from pathlib import Path

import jsonschema
import pytest
from datacite import schema45
from lxml import etree

from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.records.model import Person, Publication, Related, RelatedIdentifier
from openem_build.render import datacite

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "datacite"
NS = {"dc": "http://datacite.org/schema/kernel-4"}

CATALOGUE = load_catalogue(ROOT).catalogue
IDS = [d.id for d in CATALOGUE.datasets]


@cache
def _xsd(version: str):
    path = REFERENCE / f"kernel-{version}" / "metadata.xsd"
    if not path.is_file():
        pytest.skip(f"DataCite kernel-{version} XSD not found at {path} (the shared reference folder "
                    "is absent here); XML is checked against it wherever ../shared is present")
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema (test extra) checks XML against the XSD")
    return xmlschema.XMLSchema(str(path))


def assert_valid_xml(text: str, version: str = "4.5") -> None:
    errors = list(_xsd(version).iter_errors(text.encode("utf-8")))
    assert not errors, "\n".join(str(e.reason) + " at " + str(e.path) for e in errors[:5])


JSON_VALIDATOR = schema45.validator.evolve(format_checker=jsonschema.FormatChecker())


def assert_valid_json(attrs: dict) -> None:
    errors = sorted(JSON_VALIDATOR.iter_errors(attrs), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="module")
def ctx() -> SiteContext:
    return SiteContext(CATALOGUE, site_url="https://example.org/")


def _parse(text: str) -> etree._Element:
    return etree.fromstring(text.encode("utf-8"))


# ------------------------------------------------------------------------------------------- every example


@pytest.mark.parametrize("ident", IDS)
def test_example_xml_validates(ctx: SiteContext, ident: str) -> None:
    d = CATALOGUE.by_id[ident]
    assert_valid_xml(datacite.xml(ctx, d))
    versions = datacite.Versions(concept="10.5072/openem." + ident, previous="10.5072/openem.x.v0")
    assert_valid_xml(datacite.xml(ctx, d, doi=f"10.5072/openem.{ident}.v1", versions=versions))


@pytest.mark.parametrize("ident", IDS)
def test_example_json_validates(ctx: SiteContext, ident: str) -> None:
    d = CATALOGUE.by_id[ident]
    assert_valid_json(datacite.attributes(ctx, d))
    body = datacite.payload(ctx, d, doi=f"10.5072/openem.{ident}", event="publish")
    assert body["data"]["type"] == "dois" and body["data"]["id"] == f"10.5072/openem.{ident}"
    assert_valid_json(body["data"]["attributes"])


@pytest.mark.parametrize("ident", IDS)
def test_example_required_properties(ctx: SiteContext, ident: str) -> None:
    d = CATALOGUE.by_id[ident]
    root = _parse(datacite.xml(ctx, d, doi="10.5072/abc"))
    assert root.findtext("dc:identifier", namespaces=NS) == "10.5072/abc"
    assert root.find("dc:identifier", NS).get("identifierType") == "DOI"
    assert root.find("dc:resourceType", NS).get("resourceTypeGeneral") == "Dataset"
    assert root.findtext("dc:publicationYear", namespaces=NS) == str(d.year)
    assert root.findtext("dc:language", namespaces=NS) == "en"
    assert root.findtext("dc:version", namespaces=NS) == d.version
    assert len(root.findall("dc:creators/dc:creator", NS)) == len(d.authors)
    rights = root.find("dc:rightsList/dc:rights", NS)
    assert rights.get("rightsIdentifier") == d.license and rights.get("rightsIdentifierScheme") == "SPDX"
    assert rights.get("rightsURI", "").startswith("https://")
    kinds = {e.get("descriptionType") for e in root.findall("dc:descriptions/dc:description", NS)}
    assert "Abstract" in kinds
    hosts = [c for c in root.findall("dc:contributors/dc:contributor", NS)
             if c.get("contributorType") == "HostingInstitution"]
    assert hosts and hosts[0].findtext("dc:contributorName", namespaces=NS) == CATALOGUE.facility_of(d).name
    related = {e.text: e.get("relationType") for e in root.findall("dc:relatedIdentifiers/*", NS)}
    if d.data.datalad:  # (entries without files available have none)
        assert related[d.data.datalad] == "IsVariantFormOf"


# ----------------------------------------------------------------------------------------------- specifics


def test_creators_carry_orcid_and_ror(ctx: SiteContext) -> None:
    d = CATALOGUE.by_id["apoferritin-krios-2024"]
    root = _parse(datacite.xml(ctx, d))
    first = root.find("dc:creators/dc:creator", NS)
    assert first.findtext("dc:creatorName", namespaces=NS) == "Keller, Lena"
    assert first.findtext("dc:givenName", namespaces=NS) == "Lena"
    ident = first.find("dc:nameIdentifier", NS)
    assert ident.text == "https://orcid.org/0000-0002-1825-0097"
    assert ident.get("nameIdentifierScheme") == "ORCID"
    aff = first.find("dc:affiliation", NS)
    assert aff.get("affiliationIdentifier") == "https://ror.org/05a28rw58"
    assert aff.get("affiliationIdentifierScheme") == "ROR"
    # Without a DOI the identifier is the landing page
    ident = root.find("dc:identifier", NS)
    assert ident.get("identifierType") == "URL" and ident.text == "https://example.org/datasets/apoferritin-krios-2024/"


def test_publisher_ror(ctx: SiteContext) -> None:
    d = CATALOGUE.by_id["apoferritin-krios-2024"]
    with_ror = dataclasses.replace(ctx, publisher_ror="https://ror.org/05a28rw58")
    pub = _parse(datacite.xml(with_ror, d)).find("dc:publisher", NS)
    assert pub.text == ctx.publisher and pub.get("publisherIdentifier") == "https://ror.org/05a28rw58"
    fallback = dataclasses.replace(ctx, publisher="")
    attrs = datacite.attributes(fallback, d)
    assert attrs["publisher"]["name"] == "ETH Zurich"
    assert attrs["publisher"]["publisherIdentifier"] == "https://ror.org/05a28rw58"
    assert_valid_xml(datacite.xml(fallback, d))


def test_relations_and_embargo(ctx: SiteContext) -> None:
    d = dataclasses.replace(
        CATALOGUE.by_id["apoferritin-krios-2024"],
        status="embargoed", embargo_until=date(2030, 1, 1),
        related=Related(
            publications=(Publication(doi="10.1000/xyz", pmid=123),
                          Publication(doi="10.1000/c", relation="IsCitedBy")),
            emdb=("EMD-1234",), pdb=("7abc",), empiar=("EMPIAR-10200",),
            related_identifiers=(RelatedIdentifier("https://github.com/x/y", "URL", "IsSupplementedBy"),)))
    attrs = datacite.attributes(ctx, d, versions=datacite.Versions(concept="10.5072/c", previous="10.5072/p"))
    assert_valid_json(attrs)
    rel = {(r["relatedIdentifier"], r["relatedIdentifierType"], r["relationType"])
           for r in attrs["relatedIdentifiers"]}
    assert {("10.1000/xyz", "DOI", "IsSupplementTo"), ("123", "PMID", "IsSupplementTo"),
            ("10.1000/c", "DOI", "IsCitedBy"), ("https://www.ebi.ac.uk/emdb/EMD-1234", "URL", "IsSourceOf"),
            ("https://www.rcsb.org/structure/7ABC", "URL", "IsSourceOf"),
            ("https://www.ebi.ac.uk/empiar/EMPIAR-10200/", "URL", "IsIdenticalTo"),
            ("https://github.com/x/y", "URL", "IsSupplementedBy"),
            ("10.5072/c", "DOI", "IsVersionOf"), ("10.5072/p", "DOI", "IsNewVersionOf")} <= rel
    available = {"date": "2030-01-01", "dateType": "Available", "dateInformation": "End of the embargo"}
    assert available in attrs["dates"]
    assert any(r.get("rightsUri") == "info:eu-repo/semantics/embargoedAccess" for r in attrs["rightsList"])
    assert_valid_xml(datacite.xml(ctx, d))


def test_kernel_46_only_values_declare_46(ctx: SiteContext) -> None:
    base = CATALOGUE.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(
        base, authors=(*base.authors, Person(name="Rossi, Giulia", roles=("Translator",))),
        related=Related(related_identifiers=(RelatedIdentifier("RRID:SCR_016501", "RRID", "References"),)))
    text = datacite.xml(ctx, d)
    assert "kernel-4.6/metadata.xsd" in text
    assert_valid_xml(text, "4.6")
    with pytest.raises(AssertionError):
        assert_valid_xml(text, "4.5")
    assert "kernel-4.5/metadata.xsd" in datacite.xml(ctx, base)


def test_hostile_text_stays_well_formed(ctx: SiteContext) -> None:
    title = 'A <b>"title"</b> & </script>\x0b with \x01 controls, ]]> and ünïcødé 日本'
    d = dataclasses.replace(CATALOGUE.by_id["apoferritin-krios-2024"], title=title,
                            description="Text with <script>alert(1)</script> & \x0c form feed " * 3,
                            keywords=("x\x07y", "</subject>"))
    text = datacite.xml(ctx, d)
    root = _parse(text)
    assert root.findtext("dc:titles/dc:title", namespaces=NS) == (
        'A <b>"title"</b> & </script> with controls, ]]> and ünïcødé 日本')
    subjects = [e.text for e in root.findall("dc:subjects/dc:subject", NS)]
    assert "</subject>" in subjects and "x y" in subjects
    assert_valid_xml(text)
    assert_valid_json(datacite.attributes(ctx, d))


def test_artefact(ctx: SiteContext) -> None:
    d = CATALOGUE.by_id["apoferritin-krios-2024"]
    (art,) = datacite.artefacts(ctx, d)
    assert art.path == "datasets/apoferritin-krios-2024/datacite.xml"
    assert art.label == "DataCite XML" and art.media_type == "application/vnd.datacite.datacite+xml"
    assert art.content == datacite.xml(ctx, d)


def test_concept_record_lists_versions(ctx: SiteContext) -> None:
    d = dataclasses.replace(CATALOGUE.by_id["apoferritin-krios-2024"], doi="10.5072/c")
    concept = datacite.attributes(ctx, d, versions=datacite.Versions(
        concept="10.5072/c", versions=("10.5072/c.v1.0", "10.5072/c.v1.1")))
    rel = [(r["relatedIdentifier"], r["relationType"]) for r in concept["relatedIdentifiers"]]
    assert ("10.5072/c.v1.0", "HasVersion") in rel and ("10.5072/c", "IsVersionOf") not in rel
    version = datacite.attributes(ctx, d, doi="10.5072/c.v1.1", versions=datacite.Versions(
        concept="10.5072/c", previous="10.5072/c.v1.0"))
    assert version["doi"] == "10.5072/c.v1.1"
    rel = [(r["relatedIdentifier"], r["relationType"]) for r in version["relatedIdentifiers"]]
    assert ("10.5072/c", "IsVersionOf") in rel and ("10.5072/c.v1.0", "IsNewVersionOf") in rel
    assert_valid_json(concept)
    assert_valid_json(version)


def test_sizes_from_the_manifest(ctx: SiteContext) -> None:
    from openem_build.records.model import Manifest, ManifestFile

    files = (ManifestFile("movies/a.eer", size=1000), ManifestFile("maps/m.mrc", size=24))
    d = dataclasses.replace(CATALOGUE.by_id["apoferritin-krios-2024"], manifest=Manifest(files=files))
    sizes = datacite.attributes(ctx, d)["sizes"]
    assert sizes[:2] == ["2 files", "1024 bytes"]
    partial = dataclasses.replace(d, manifest=Manifest(files=(*files, ManifestFile("x"))))
    assert "1024 bytes" not in datacite.attributes(ctx, partial)["sizes"]
