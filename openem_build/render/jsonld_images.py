"""The schema.org ``image`` and ``thumbnailUrl`` of a dataset: the pictures the site publishes for it.

``thumbnailUrl`` is the largest thumbnail the build writes (``datasets/<id>/thumbnails/``, thumbs.py), the
same picture Home, Browse and search show; ``image`` lists the previews (``datasets/<id>/previews/``), the
representative one first, so that a harvester taking the first image takes the one the catalogue chose.
"""

from __future__ import annotations

from typing import Any

from ..infra.context import SiteContext
from ..records.model import Dataset, Preview
from . import thumbs


def _image(ctx: SiteContext, d: Dataset, p: Preview) -> dict[str, Any]:
    return {"@type": "ImageObject", "contentUrl": ctx.url(f"datasets/{d.id}/previews/{p.file}"),
            "caption": p.alt, "encodingFormat": "image/png", "width": p.width, "height": p.height}


def image_properties(ctx: SiteContext, d: Dataset) -> dict[str, Any]:
    """``image``, ``thumbnailUrl`` and ``thumbnail`` (absolute URLs) for ``d``; empty without previews."""
    t = thumbs.thumb(d)
    if t is None:
        return {}
    chosen = t.preview
    ordered = [chosen, *(p for p in d.previews if p is not chosen)]
    width, path = t.files[-1]
    thumbnail = {"@type": "ImageObject", "contentUrl": ctx.url(path), "encodingFormat": "image/png",
                 "width": width, "height": t.height(width), "caption": t.alt}
    return {"image": [_image(ctx, d, p) for p in ordered], "thumbnailUrl": ctx.url(path), "thumbnail": thumbnail}
