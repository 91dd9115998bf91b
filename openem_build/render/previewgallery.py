"""The preview gallery of a landing page: each preview at a readable size, with a caption saying what it shows.

Previews are made at their data's own size (a 20 × 20 map gives 20 × 20 slices): one smaller than
:data:`MIN_SHOWN` pixels is shown enlarged by a whole factor, its pixels kept sharp (``image-rendering:
pixelated``, in ``landing.css``); plots (spectra) are never pixelated.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..records.model import ManifestFile, Preview

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


_IMAGE_OF = re.compile(r"^Image (\d+) of (\d+)")


def tilts(files: Iterable[ManifestFile]) -> dict[str, Sequence[float]]:
    """The tilt angle of each section of a tilt series, by the series' path, from its SerialEM ``.mdoc``
    (``TS_01.mrc.mdoc`` describes ``TS_01.mrc``; its ``tilt_angles_deg`` are in section order)."""
    out: dict[str, Sequence[float]] = {}
    for f in files:
        headers = f.headers if isinstance(f.headers, Mapping) else {}
        acquisition = headers.get("acquisition") if isinstance(headers.get("acquisition"), Mapping) else {}
        angles = acquisition.get("tilt_angles_deg")
        if f.path.endswith(".mdoc") and isinstance(angles, list) and angles:
            out[f.path[:-len(".mdoc")]] = angles
    return out


def caption(p: Preview, angles: Mapping[str, Sequence[float]] | None = None) -> str:
    """What a preview shows: the caption previews.json gives, else its file and view (``Preview.caption``), for
    an image of a stack which image, and for a tilt series its tilt angle."""
    if "caption" in {f.name for f in dataclasses.fields(p)} and getattr(p, "caption", None):
        return str(p.caption)
    text = p.caption
    which = _IMAGE_OF.match(p.alt) if p.kind == "image" else None
    if which is not None:
        k, n = int(which.group(1)), int(which.group(2))
        text = f"{p.source} — image {k} of {n}"
        tilt = (angles or {}).get(p.source)
        if tilt is not None and len(tilt) == n and isinstance(tilt[k - 1], int | float):
            text += f", tilt {tilt[k - 1]:g}°"
    return text


def shown(previews: Sequence[Preview], files: Iterable[ManifestFile] = ()) -> list[Shown]:
    """The gallery's previews in their order, with the size each is shown at; ``files``: the entry's manifest
    files (tilt angles for the captions of tilt series)."""
    angles = tilts(files)
    out = []
    for i, p in enumerate(previews):
        side = max(p.width, p.height)
        data = _is_data(p.kind)
        scale = math.ceil(MIN_SHOWN / side) if side < MIN_SHOWN and data else 1
        out.append(Shown(p, f"preview-{i + 1}", p.width * scale, p.height * scale, data and scale > 1,
                         caption(p, angles)))
    return out
