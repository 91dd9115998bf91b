"""The preview gallery of a landing page: each preview at a readable size, with a caption saying what it shows.

Previews are made at their data's own size (a 20 × 20 map gives 20 × 20 slices): one smaller than
:data:`MIN_SHOWN` pixels is shown enlarged by a whole factor, its pixels kept sharp (``image-rendering:
pixelated``, in ``landing.css``); plots (spectra) are never pixelated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..model import Preview

#: The smallest side, in CSS pixels, a preview is shown at in the gallery.
MIN_SHOWN = 256
#: Preview kinds that are images of data (slices, projections, images), whose pixels are shown as squares.
_DATA_KINDS = ("projection", "image")


@dataclass(frozen=True)
class Shown:
    """A preview as the gallery shows it."""

    preview: Preview
    anchor: str  # the figure's id on the page
    width: int  # shown size (CSS pixels)
    height: int
    pixelated: bool
    caption: str


def _is_data(kind: str) -> bool:
    return kind in _DATA_KINDS or (len(kind) == 2 and set(kind) <= set("XYZ"))


def _caption(p: Preview) -> str:
    # (A caption field of previews.json, where one is given, else the file and view (Preview.caption).)
    return str(getattr(p, "caption", "") or p.alt)


def shown(previews: Sequence[Preview]) -> list[Shown]:
    """The gallery's previews in their order, with the size each is shown at."""
    out = []
    for i, p in enumerate(previews):
        side = max(p.width, p.height)
        data = _is_data(p.kind)
        scale = math.ceil(MIN_SHOWN / side) if side < MIN_SHOWN and data else 1
        out.append(Shown(p, f"preview-{i + 1}", p.width * scale, p.height * scale, data and scale > 1, _caption(p)))
    return out
