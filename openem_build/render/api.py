"""The static JSON API: ``api/datasets.json`` (every entry) and ``api/<id>.json`` (one entry).

Each entry is the validated record exactly as in ``datasets/<id>/dataset.yaml`` (keys as in the JSON Schema at
``schema/dataset.schema.json``), plus ``links`` (where to find it in every other format) and ``access``
(whether the files are open or under embargo; the metadata always are public).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO

from ..infra import jsontext
from ..infra.context import SiteContext
from ..records.licenses import license_url
from ..records.model import Dataset
from . import signposting
from .registry import Artefact, Parts, Streamed, after_dataset, per_catalogue
from .registry import links as labelled

API_VERSION = "1"
SCHEMA_PATH = "schema/dataset.schema.json"
FACILITIES_SCHEMA_PATH = "schema/facilities.schema.json"


def dataset_path(d: Dataset) -> str:
    return f"api/{d.id}.json"


def access(d: Dataset) -> dict[str, Any]:
    if d.is_embargoed:
        return {"metadata": "public", "data": "embargoed", "embargo_until":
                d.embargo_until.isoformat() if d.embargo_until else None}
    return {"metadata": "public", "data": "open", "embargo_until": None}


def links(ctx: SiteContext, d: Dataset, files: list[Artefact]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": ctx.url(dataset_path(d)),
        "landing_page": ctx.dataset_url(d),
        "doi": d.doi_url,
        "license": license_url(d.license),
        "schema": ctx.url(SCHEMA_PATH),
        "linkset": ctx.url(signposting.path(ctx, d)),
        "data": d.data.datalad,  # None: no files available (yet), or embargoed
    }
    out["formats"] = [{"title": a.label, "href": ctx.url(a.path), "type": a.media_type} for a in files if a.label]
    return out


def entry(ctx: SiteContext, d: Dataset, files: list[Artefact] | None = None) -> dict[str, Any]:
    """One record of the API: the validated document, ``links`` and ``access``."""
    body = dict(d.raw)
    body["links"] = links(ctx, d, files if files is not None else labelled(ctx, d))
    body["access"] = access(d)
    return body


def _dump(value: Any) -> str:
    return jsontext.dumps(value, indent=2) + "\n"


def catalogue_json(ctx: SiteContext, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "api_version": API_VERSION,
        "name": ctx.site_name,
        "url": ctx.site_url,
        "publisher": ctx.publisher,
        "date": ctx.build_date.isoformat(),
        "license": "https://creativecommons.org/publicdomain/zero/1.0/",
        "schema": ctx.url(SCHEMA_PATH),
        "facilities_schema": ctx.url(FACILITIES_SCHEMA_PATH),
        "links": {
            "self": ctx.url("api/datasets.json"),
            "dcat_turtle": ctx.url("dcat/catalog.ttl"),
            "dcat_rdfxml": ctx.url("dcat/catalog.rdf"),
            "oai_pmh_index": ctx.url("oai/index.json"),
            "sitemap": ctx.url("sitemap.xml"),
            "documentation": ctx.url("api/"),
        },
        "count": len(entries),
        "datasets": entries,
    }


@after_dataset(20)
def artefacts(ctx: SiteContext, d: Dataset, made: Sequence[Artefact]) -> list[Artefact]:
    """``api/<id>.json``, made after the dataset's other files (it links the labelled ones)."""
    return [Artefact(dataset_path(d), _dump(entry(ctx, d, [a for a in made if a.label])),
                     media_type="application/json")]


@per_catalogue(20)
def catalogue_artefacts(ctx: SiteContext, parts: Parts | None = None) -> list[Streamed]:
    """``api/datasets.json``: every entry, in one compact document (tens of megabytes for a large catalogue),
    streamed into the site."""
    path = "api/datasets.json"
    return [Streamed((path,), lambda files: write_catalogue(ctx, files[path]), ("application/json",))]


def write_catalogue(ctx: SiteContext, out: BinaryIO) -> None:
    """The bytes of ``jsontext.dumps(catalogue_json(ctx, entries))`` (compact), written one entry at a time."""
    doc = catalogue_json(ctx, [])
    doc["count"] = len(ctx.catalogue.datasets)
    head = jsontext.dumps(doc)
    assert head.endswith('"datasets":[]}')  # the last member: its entries follow one by one
    out.write(head[:-2].encode("utf-8"))
    for i, d in enumerate(ctx.catalogue.datasets):
        out.write((b"," if i else b"") + jsontext.dumps(entry(ctx, d)).encode("utf-8"))
    out.write(b"]}\n")
