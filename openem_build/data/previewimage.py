"""A preview image and the steps every format's previews share: the sizes, contrast stretching, binning, the PNG."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .png import encode_png

MAX_PX = 512
#: The shortest a preview's long side may be: smaller data are enlarged by a whole factor (visible pixels).
MIN_PX = 256
CLIP_PERCENT = 1.0
ROWS_PER_BIN = 4  # rows averaged per output row when binning (all of them when the bin is smaller)
CHUNK_BYTES = 16 << 20  # rows handled at once, counted as float32 (bounds the memory of one step)


@dataclass(frozen=True)
class Preview:
    """One PNG: ``kind`` is a plane (``XY``, ``XZ``, ``YZ``), ``projection``, ``image``, ``montage`` (tilt
    series), ``spectrum`` or ``map`` (spectrum images); ``caption`` says what it shows."""

    kind: str
    png: bytes
    width: int
    height: int
    alt: str
    caption: str = ""

    def filename(self, stem: str) -> str:
        return f"{stem}.{self.kind.lower()}.png"


def enlarge(pixels: np.ndarray, min_px: int = MIN_PX) -> np.ndarray:
    """``pixels`` repeated by the smallest whole factor that makes the long side at least ``min_px`` (nearest
    neighbour: each data pixel stays a visible square)."""
    factor = math.ceil(min_px / max(pixels.shape[:2]))
    if factor <= 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def contrast(image: np.ndarray, clip_percent: float = CLIP_PERCENT) -> np.ndarray:
    """uint8 grey levels, clipped at the ``clip_percent`` and ``100 - clip_percent`` percentiles."""
    values = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(values)
    out = np.zeros(values.shape, dtype=np.uint8)
    if not finite.any():
        return out
    lo, hi = np.percentile(values[finite], [clip_percent, 100 - clip_percent])
    if not hi > lo:
        lo, hi = float(values[finite].min()), float(values[finite].max())
    if not hi > lo:
        out[finite] = 128
        return out
    scaled = np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255)
    out[finite] = np.floor(scaled[finite] + 0.5).astype(np.uint8)
    return out


def _real(block: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(block):
        return np.abs(block).astype(np.float32)
    return block.astype(np.float32, copy=False)  # read-only views are fine: nothing is changed in place


def _bin_axis(a: np.ndarray, f: int, axis: int) -> np.ndarray:
    """Average consecutive groups of ``f`` along ``axis`` (the last group may be smaller).

    Sums run element by element in a fixed order, so results do not depend on SIMD width.
    """
    if f == 1:
        return a
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1]
    full = n // f * f
    parts = []
    if full:
        acc = a[..., 0:full:f].astype(np.float32)
        for i in range(1, f):
            acc += a[..., i:full:f]
        parts.append(acc / np.float32(f))
    if full < n:
        rest = a[..., full : full + 1].astype(np.float32)
        for i in range(full + 1, n):
            rest += a[..., i : i + 1]
        parts.append(rest / np.float32(n - full))
    return np.moveaxis(np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0], -1, axis)


def png_preview(kind: str, pixels: np.ndarray, alt: str, caption: str, min_px: int = MIN_PX) -> Preview:
    """A Preview of uint8 grey levels, enlarged to ``min_px`` when smaller."""
    pixels = enlarge(pixels, min_px)
    return Preview(kind, encode_png(pixels), int(pixels.shape[1]), int(pixels.shape[0]), alt, caption)
