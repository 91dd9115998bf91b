"""The validated record as JSON, and the schemas at their stable URLs."""

from __future__ import annotations

import dataclasses

from ..infra import jsontext
from ..infra.context import SiteContext
from ..records.history import Version
from ..records.manifest import dumps
from ..records.model import Dataset
from .registry import Artefact, Parts, per_catalogue, per_dataset


def record_json(ctx: SiteContext, d: Dataset) -> str:
    """The dataset's validated YAML as JSON, plus links to its page (keys as in the schema)."""
    body = dict(d.raw)
    body["links"] = {"landing_page": ctx.dataset_url(d), "json_ld": ctx.url(f"datasets/{d.id}/metadata.jsonld")}
    return jsontext.dumps(body, indent=2) + "\n"


def version_json(ctx: SiteContext, d: Dataset, v: Version) -> str:
    """The record of one version as the catalogue held it, so that older versions stay reachable."""
    body = {"id": d.id, "version": v.version, "first_published_in_catalogue": v.first_seen.isoformat(),
            "catalogue_commit": v.commit, "record": v.record,
            "links": {"landing_page": ctx.dataset_url(d), "current": ctx.url(f"datasets/{d.id}/dataset.json")}}
    return jsontext.dumps(body, indent=2) + "\n"


def manifest_json(ctx: SiteContext, d: Dataset) -> str | None:
    """The entry's file list (``manifest.json``) with its download URLs as this build serves them."""
    manifest = getattr(d, "manifest", None)
    if manifest is None or not manifest.files:
        return None
    files = tuple(dataclasses.replace(f, urls=tuple(ctx.rebase(u) for u in f.urls)) for f in manifest.files)
    return dumps(dataclasses.replace(manifest, files=files))


@per_dataset(10)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    out = [Artefact(f"datasets/{d.id}/dataset.json", record_json(ctx, d), "JSON", "application/json")]
    listing = manifest_json(ctx, d)
    if listing is not None:
        out.append(Artefact(f"datasets/{d.id}/manifest.json", listing, "File list (JSON)", "application/json"))
    for v in ctx.histories.get(d.id, ()):
        out.append(Artefact(f"datasets/{d.id}/versions/{v.version}.json", version_json(ctx, d, v),
                            media_type="application/json"))
    return out


@per_catalogue(10)
def catalogue_artefacts(ctx: SiteContext, parts: Parts | None = None) -> list[Artefact]:
    return []
