"""PNG previews of 2D raster images (JPEG, PNG, TIFF): EPU's grid-square, foil-hole and exposure images, SEM
images saved as TIFF. Decoded with Pillow (bounded: at most :data:`MAX_PIXELS` pixels, no decompression bomb),
shown as grey levels binned to at most ``max_px`` pixels a side and written with previews.py's deterministic
PNG encoder, so the same file always gives the same bytes, as the MRC previews do."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from . import previews as P

#: The file suffixes previewed here.
SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
#: Larger images are not decoded (a preview is not worth the memory).
MAX_PIXELS = 200_000_000


def make_preview(path: Path, *, max_px: int = P.MAX_PX, name: str | None = None) -> tuple[P.Preview | None, str]:
    """The preview of one image file, or None and why not (never raises for a bad file)."""
    from PIL import Image, UnidentifiedImageError

    name = name or path.name
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                return None, f"no preview: {im.width} × {im.height} pixels is more than {MAX_PIXELS:,}"
            im.seek(0)  # (a multi-page TIFF: its first image)
            grey = np.asarray(im.convert("F"), dtype=np.float32)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        return None, f"no preview: the image could not be read ({exc})"
    height, width = grey.shape
    f = max(1, math.ceil(max(width, height) / max_px))
    binned = P._bin_axis(P._bin_axis(grey, f, 0), f, 1) if f > 1 else grey
    pixels = P.contrast(binned)
    shown = f" shown binned {f}×" if f > 1 else ""
    alt = f"The image {name} ({width} × {height} pixels{shown})."
    return P.Preview("image", P.encode_png(pixels), int(pixels.shape[1]), int(pixels.shape[0]), alt,
                     f"{name}: image"), ""


def write_previews(path: Path, out_dir: Path, stem: str | None = None, *, name: str | None = None,
                   max_px: int = P.MAX_PX, **_options: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """As previews.write_previews, for a raster image: ``<stem>.image.png`` in ``out_dir``."""
    preview, why = make_preview(path, max_px=max_px, name=name)
    if preview is None:
        return [], [why]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / preview.filename(stem or path.name)
    target.write_bytes(preview.png)
    return [{"file": target.name, "kind": preview.kind, "width": preview.width, "height": preview.height,
             "bytes": len(preview.png), "alt": preview.alt, "caption": preview.caption}], []
