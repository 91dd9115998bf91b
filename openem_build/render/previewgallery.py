"""The preview gallery of a landing page: each preview at a readable size, with a caption saying what it shows.

Previews of small data are enlarged in the PNG itself (``data/previews.py``: at least 256 pixels, each data
pixel a visible square); an older, smaller one is shown enlarged by a whole factor. Previews of data (slices,
projections, images, montages, spectrum-image maps) keep square pixels whenever they are shown above their
natural size (``image-rendering: pixelated``, in ``landing.css``; the viewer in ``landing.js``); plots (spectra)
are never pixelated.
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
_DATA_KINDS = ("projection", "image", "montage", "map")


@dataclass(frozen=True)
class Shown:
    """A preview as the gallery shows it."""

    preview: Preview
    anchor: str  # the figure's id on the page
    width: int  # shown size (CSS pixels)
    height: int
    pixelated: bool  # an image of data: square pixels when shown above its natural size
    caption: str
    enlarged: bool = False  # shown larger than the PNG (an older preview of small data)


def _is_data(kind: str) -> bool:
    return kind in _DATA_KINDS or (len(kind) == 2 and set(kind) <= set("XYZ"))


_IMAGE_OF = re.compile(r"^Image (\d+) of (\d+)")
_MONTAGE_OF = re.compile(r"^Montage of (\d+) of the (\d+) images")
_ALT_TILTS = re.compile(r": tilts (.*°)\.?$")


def _deg(angle: float, sign: bool = False) -> str:
    """An angle as a caption says it: ``−3°`` (a minus sign, read as "minus"), ``+60°`` with ``sign``."""
    text = f"{angle:+g}°" if sign and angle else f"{angle:g}°"
    return text.replace("-", "\N{MINUS SIGN}")


def _montage(p: Preview, n_shown: int, n: int, angles: Sequence[float] | None) -> str:
    """A montage's caption: how many of the series' tilts it shows and, when known, from which angle to which
    (the tilts listed in its alt text, else the series' range from its .mdoc)."""
    text = f"{p.source} — montage of {n_shown} of {n} tilts"
    listed = _ALT_TILTS.search(p.alt)
    shown_angles: list[float] = []
    if listed is not None:
        try:
            shown_angles = [float(a.strip().rstrip("°").replace("\N{MINUS SIGN}", "-")) for a in
                            listed.group(1).split(",")]
        except ValueError:
            shown_angles = []
    if not shown_angles and angles is not None and len(angles) == n:
        shown_angles = [a for a in angles if isinstance(a, int | float)]
    if shown_angles:
        text += f", from {_deg(min(shown_angles), True)} to {_deg(max(shown_angles), True)}"
    return text


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
    an image of a stack which image, and for a tilt series its tilt angle; a montage of a tilt series how many
    tilts it shows, from which angle to which."""
    if "caption" in {f.name for f in dataclasses.fields(p)} and getattr(p, "caption", None):
        return str(p.caption)
    text = p.caption
    montage = _MONTAGE_OF.match(p.alt) if p.kind == "montage" else None
    if montage is not None:
        return _montage(p, int(montage.group(1)), int(montage.group(2)), (angles or {}).get(p.source))
    which = _IMAGE_OF.match(p.alt) if p.kind == "image" else None
    if which is not None:
        k, n = int(which.group(1)), int(which.group(2))
        text = f"{p.source} — image {k} of {n}"
        tilt = (angles or {}).get(p.source)
        if tilt is not None and len(tilt) == n and isinstance(tilt[k - 1], int | float):
            text += f", tilt {_deg(tilt[k - 1])}"
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
        out.append(Shown(p, f"preview-{i + 1}", p.width * scale, p.height * scale, data, caption(p, angles),
                         scale > 1))
    return out
