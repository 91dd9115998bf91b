"""What FAIR assessors (F-UJI's metrics, FsF-*) read from a landing page beyond the schemas: access level as a
COAR term (FsF-A1-01M), typed Signposting items (the files' formats: FsF-R1-01MD, FsF-R1.3-02D), described-by
documents with their metadata standard (FsF-R1.3-01M), http(s) content URLs (FsF-F3-01M, FsF-A1-03D)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from bs4 import BeautifulSoup

from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.render import jsonld, pages, signposting
from openem_build.render import outputs as artefacts

from .conftest import ROOT

SITE_URL = "https://catalogue.openem.ch/"
WITH_FILES = "apoferritin-krios-2024"
EMBARGOED = "zebrafish-neuromast-sbfsem-2026"


@pytest.fixture(scope="module")
def ctx() -> SiteContext:
    result = load_catalogue(ROOT)
    assert result.ok
    return SiteContext(result.catalogue, site_url=SITE_URL)


def _made(ctx: SiteContext, ident: str):
    d = ctx.catalogue.by_id[ident]
    return d, [a for a in artefacts.for_dataset(ctx, d) if a.label]


def test_access_level_is_a_coar_term(ctx: SiteContext) -> None:
    public = jsonld.dataset_jsonld(ctx, ctx.catalogue.by_id[WITH_FILES])
    assert public["conditionsOfAccess"][0] == "http://purl.org/coar/access_right/c_abf2"
    assert "Open access" in public["conditionsOfAccess"][1] and public["isAccessibleForFree"] is True
    embargoed = jsonld.dataset_jsonld(ctx, ctx.catalogue.by_id[EMBARGOED])
    assert embargoed["conditionsOfAccess"][0] == "http://purl.org/coar/access_right/c_f1cf"


def test_signposting_items_say_their_media_type(ctx: SiteContext) -> None:
    d, made = _made(ctx, WITH_FILES)
    linkset = signposting.linkset(ctx, d, made)["linkset"][0]
    assert linkset["item"] and all(t["type"] == "application/octet-stream" and t["href"].endswith(".mrc")
                                   for t in linkset["item"])
    head = BeautifulSoup(pages.dataset_head(ctx, d, made), "lxml")
    in_head = [(link["href"], link["type"]) for link in head.find_all("link", rel="item")]
    assert in_head == [(t["href"], t["type"]) for t in linkset["item"]]


def test_described_by_documents_name_their_standard(ctx: SiteContext) -> None:
    d, made = _made(ctx, WITH_FILES)
    described = {t["href"].rsplit("/", 1)[-1]: t.get("profile")
                 for t in signposting.linkset(ctx, d, made)["linkset"][0]["describedby"]}
    assert described["metadata.jsonld"] == "https://schema.org/"
    assert described["datacite.xml"] == "http://datacite.org/schema/kernel-4"
    assert described["dataset.json"] == f"{SITE_URL}schema/dataset.schema.json"
    assert described["empiar.json"] == "https://empiar.org/empiar_deposition.schema.json"
    assert described["em.cif"].startswith("https://mmcif.wwpdb.org/dictionaries/mmcif_pdbx_v50.dic")
    assert described["dcat.ttl"] == "http://data.europa.eu/r5r/"
    assert described["manifest.json"] is None and described["citation.bib"] is None


def test_datacite_media_type_is_the_same_everywhere(ctx: SiteContext) -> None:
    """DataCite XML is application/vnd.datacite.datacite+xml in the head, the linkset, the API and DCAT."""
    from openem_build.render import api, dcat

    d, made = _made(ctx, WITH_FILES)
    url = f"{SITE_URL}datasets/{WITH_FILES}/datacite.xml"
    head = BeautifulSoup(pages.dataset_head(ctx, d, made), "lxml")
    assert [link["type"] for link in head.find_all("link", rel="describedby") if link["href"] == url] == [
        "application/vnd.datacite.datacite+xml"]
    formats = {f["href"]: f["type"] for f in api.entry(ctx, d, made)["links"]["formats"]}
    assert formats[url] == "application/vnd.datacite.datacite+xml"
    turtle, _ = dcat.serialise(ctx)
    assert b"application/vnd.datacite.datacite+xml" in turtle and b"media-types/application/xml>" not in turtle


def test_the_datalad_distribution_has_an_http_content_url(ctx: SiteContext) -> None:
    ld = jsonld.dataset_jsonld(ctx, ctx.catalogue.by_id[WITH_FILES])
    (clone,) = [x for x in ld["distribution"] if x["name"].startswith("DataLad")]
    assert clone["contentUrl"].startswith(f"{SITE_URL}store/580/43751")
    assert clone["description"].startswith("datalad clone ria+https://")
    # a DataLad URL that is no RIA store's: itself when http(s), else the landing page
    d = ctx.catalogue.by_id[WITH_FILES]
    for url, expected in (("https://example.org/ds.git", "https://example.org/ds.git"),
                          ("ssh://host/ds", f"{SITE_URL}datasets/{WITH_FILES}/")):
        other = dataclasses.replace(d, data=dataclasses.replace(d.data, datalad=url))
        (clone,) = [x for x in jsonld.dataset_jsonld(ctx, other)["distribution"] if x["name"].startswith("DataLad")]
        assert clone["contentUrl"] == expected


def test_linkset_is_json_with_every_rel(ctx: SiteContext) -> None:
    d, made = _made(ctx, WITH_FILES)
    first = json.loads(signposting.linkset_json(ctx, d, made))["linkset"][0]
    assert {"cite-as", "type", "author", "license", "describedby", "item"} <= set(first)
    assert first["anchor"] == f"{SITE_URL}datasets/{WITH_FILES}/"
