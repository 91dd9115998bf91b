"""Previews of counted movies: EER movies and compressed TIFF movies, as the sum of their first frames.

A single frame of a counting detector holds a few electrons per hundred pixels: alone it shows noise. The
preview sums the first :data:`MOVIE_FRAMES` frames (tifffile decodes them; EER and LZW frames with
``imagecodecs``), each binned to the preview's size as soon as it is decoded, so the memory stays near one
decoded frame (at most :data:`FRAME_BUDGET` bytes) plus the small sum, whatever the number of frames. An EER
file whose first page is its integrated image (uncompressed, before the frames) is summed from its frames.
Uncompressed TIFF stacks keep the middle-page preview of :mod:`.arraypreviews` (they may be a volume's sections).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from . import tiff
from .previewimage import CLIP_PERCENT, MAX_PX, MIN_PX, Preview, _bin_axis, contrast, png_preview

#: The frames summed (RELION groups EER frames in about this many; enough to see the specimen).
MOVIE_FRAMES = 32
#: The largest decoded frame read (a 4096 × 4096 uint8 EER frame takes 16 MiB; super-resolution is not asked for).
FRAME_BUDGET = 256 << 20
#: TIFF compression codes of EER frames (tifffile's COMPRESSION.EER_V0…V2).
EER_CODES = frozenset({65000, 65001, 65002})


def summed(path: Path) -> bool:
    """Whether a file's preview is a sum of frames: an EER file, or a TIFF of several compressed pages."""
    with tiff._tifffile().TiffFile(path) as tif:
        first = tif.pages.first
        if path.suffix.lower() == ".eer" or tif.is_eer:
            return True
        return int(first.compression) != 1 and len(tif.pages) > 1


def make_previews(path: Path, name: str | None = None, *, max_px: int = MAX_PX, clip_percent: float = CLIP_PERCENT,
                  min_px: int = MIN_PX) -> tuple[list[Preview], list[str]]:
    """The sum of the first frames of a movie (raises for an unreadable file: the caller turns it into a note)."""
    name = name or path.name
    with tiff._tifffile().TiffFile(path) as tif:
        total = tiff._count_pages(tif)
        start = 1 if total > 1 and _integrated_first(tif) else 0
        tif.pages.set_keyframe(start)  # (frames are read with their first frame's tags, as tifffile's EER series)
        frames = total - start
        count = min(frames, MOVIE_FRAMES)
        acc: Any = None
        shape: tuple[int, ...] = ()
        for index in range(start, start + count):
            page = tif.pages[index]
            shape = tuple(int(n) for n in page.shape)
            size = math.prod(shape) * (page.dtype.itemsize if page.dtype is not None else 0)
            if len(shape) != 2 or not size or size > FRAME_BUDGET:
                return [], [f"no preview: frame {index + 1} of {shape} cannot be read as a 2D image within "
                            f"{FRAME_BUDGET:,} bytes"]
            binned = _binned(page.asarray(), max_px)
            acc = binned.astype(np.float64) if acc is None else acc + binned
    if acc is None:
        return [], ["no preview: the movie holds no frames"]
    f = max(1, math.ceil(max(shape) / max_px))
    dims = f"{shape[1]} × {shape[0]} pixels" + (f", shown binned {f}×" if f > 1 else "")
    which = f"frames 1–{count}" if count > 1 else "frame 1"
    alt = f"The sum of the first {count} of {frames} frames of the movie {name} ({dims})."
    return [png_preview("image", contrast(acc, clip_percent), alt, f"{name}: sum of {which} of {frames}", min_px)], []


def _integrated_first(tif: Any) -> bool:
    """Whether an EER file's first page is its integrated image (uncompressed) rather than a frame."""
    return bool(tif.is_eer) and int(tif.pages.first.compression) == 1 and \
        int(tif.pages[1].aspage().compression) in EER_CODES  # (aspage: a frame reports its keyframe's tags)


def _binned(frame: np.ndarray, max_px: int) -> np.ndarray:
    """A frame averaged in f × f blocks (the last, smaller block of a side included) to at most ``max_px``."""
    f = max(1, math.ceil(max(frame.shape) / max_px))
    frame = frame.astype(np.float32) if frame.dtype == np.bool_ else frame
    return _bin_axis(_bin_axis(frame, f, 0), f, 1) if f > 1 else frame.astype(np.float32)
