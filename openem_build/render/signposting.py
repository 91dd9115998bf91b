"""FAIR Signposting as a linkset (RFC 9264, ``application/linkset+json``) per dataset.

The linkset carries the same typed links as the ``<link>`` elements in the landing page's ``<head>``
(``templates/dataset_head.html``): cite-as, type, author, license, describedby and item, with the landing page
as anchor; each metadata document gets a ``describes`` link back to the landing page.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import Any

from ..infra import jsontext
from ..infra.context import SiteContext
from ..infra.urls import doi_url
from ..records.licenses import license_url
from ..records.manifest import media_type
from ..records.model import Dataset
from .registry import Artefact, after_dataset

MEDIA_TYPE = "application/linkset+json"
TYPES = ("https://schema.org/Dataset", "https://schema.org/AboutPage")
MAX_ITEMS = 50
#: Metadata standards of the described-by documents, by file name.
PROFILES = {"metadata.jsonld": "https://schema.org/", "datacite.xml": "http://datacite.org/schema/kernel-4",
            "empiar.json": "https://empiar.org/empiar_deposition.schema.json",
            "em.cif": "https://mmcif.wwpdb.org/dictionaries/mmcif_pdbx_v50.dic/Index/",
            "dcat.ttl": "http://data.europa.eu/r5r/"}


def path(ctx: SiteContext, d: Dataset) -> str:
    return ctx.dataset_path(d) + "linkset.json"


def typed_items(ctx: SiteContext, d: Dataset) -> list[tuple[str, str]]:
    """The content resources linked as ``item``, at most 50 (as in the head): each file's download URL and media
    type (what FAIR assessors such as F-UJI read a file's format from)."""
    manifest = getattr(d, "manifest", None)
    files = manifest.files if manifest is not None else ()
    return list(islice(((ctx.rebase(f.download_urls[0]), media_type(f.path)) for f in files if f.download_urls),
                       MAX_ITEMS))


def items(ctx: SiteContext, d: Dataset) -> list[str]:
    """The download URLs of :func:`typed_items`."""
    return [url for url, _type in typed_items(ctx, d)]


def profile(ctx: SiteContext, href: str) -> str | None:
    """The metadata standard a ``describedby`` document follows (Signposting's ``profile`` target attribute), by its
    file name: schema.org, DataCite's kernel 4, the catalogue's JSON Schema, EMPIAR's deposition schema, the
    PDBx/mmCIF dictionary; None for the rest (citations, the file list)."""
    name = href.rsplit("/", 1)[-1]
    if name == "dataset.json":
        return ctx.url("schema/dataset.schema.json")
    return PROFILES.get(name)


def links(ctx: SiteContext, d: Dataset, described_by: Sequence[Artefact]) -> list[tuple[str, str, str]]:
    """``(rel, href, media type)`` of every Signposting link of the landing page, in the head's order."""
    out: list[tuple[str, str, str]] = []
    # (without a DOI the landing page itself is the URL to cite: Signposting's rule for the persistent identifier)
    out.append(("cite-as", doi_url(d.doi) if d.doi else ctx.dataset_url(d), ""))
    out += [("type", t, "") for t in TYPES]
    out += [("author", p.orcid_url, "") for p in d.authors if p.orcid_url]
    out.append(("license", license_url(d.license), ""))
    out += [("describedby", ctx.url(a.path), a.media_type) for a in described_by if a.label]
    out += [("item", u, t) for u, t in typed_items(ctx, d)]
    return out


def linkset(ctx: SiteContext, d: Dataset, described_by: Sequence[Artefact]) -> dict[str, Any]:
    anchor = ctx.dataset_url(d)
    context: dict[str, Any] = {"anchor": anchor}
    for rel, href, kind in links(ctx, d, described_by):
        target: dict[str, str] = {"href": href}
        if kind:
            target["type"] = kind
        standard = profile(ctx, href) if rel == "describedby" else None
        if standard:
            target["profile"] = standard
        context.setdefault(rel, []).append(target)
    sets: list[dict[str, Any]] = [context]
    for a in described_by:
        if a.label:
            sets.append({"anchor": ctx.url(a.path), "describes": [{"href": anchor, "type": "text/html"}]})
    return {"linkset": sets}


def linkset_json(ctx: SiteContext, d: Dataset, described_by: Sequence[Artefact]) -> str:
    return jsontext.dumps(linkset(ctx, d, described_by), indent=2) + "\n"


@after_dataset(10)
def artefacts(ctx: SiteContext, d: Dataset, made: Sequence[Artefact]) -> list[Artefact]:
    """``datasets/<id>/linkset.json``, made after the dataset's other files (it lists the labelled ones)."""
    return [Artefact(path(ctx, d), linkset_json(ctx, d, [a for a in made if a.label]), media_type=MEDIA_TYPE)]
