"""The validated record as JSON, and the schemas at their stable URLs."""

from __future__ import annotations

import json

from ..artefacts import Artefact
from ..context import SiteContext
from ..model import Dataset


def record_json(ctx: SiteContext, d: Dataset) -> str:
    """The dataset's validated YAML as JSON, plus links to its page (keys as in the schema)."""
    body = dict(d.raw)
    body["links"] = {"landing_page": ctx.dataset_url(d), "json_ld": ctx.url(f"datasets/{d.id}/metadata.jsonld")}
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    return [Artefact(f"datasets/{d.id}/dataset.json", record_json(ctx, d), "JSON", "application/json")]


def catalogue_artefacts(ctx: SiteContext) -> list[Artefact]:
    return []
