"""The pixel (or voxel) size of each image set, as the landing page and the EMPIAR export show it.

An image set's own ``voxel_size_A`` or ``pixel_size_A`` when it declares one; else what its files' headers agree
on when that differs from the acquisition's (binned tomograms, maps, another detector's images); else the
acquisition's. The cross-checks (:mod:`..records.voxelchecks`) make sure a declared size agrees with the headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..records.checkparts import PLACEHOLDER_VOXEL, close, num, numbers
from ..records.model import Dataset, ImageSet, ManifestFile

#: Header sizes that agree within this (relative) are one size; the same tolerance as the cross-check's.
TOLERANCE = 0.01


@dataclass(frozen=True)
class SetPixel:
    """Size per axis (one value when isotropic) and where it comes from: declared, headers or acquisition."""

    axes: tuple[float, ...]
    source: str

    @property
    def text(self) -> str:
        """``0.73 Å`` or ``1.1 × 1.1 × 2.2 Å``."""
        axes = self.axes if len(set(self.axes)) > 1 else self.axes[:1]
        return " × ".join(f"{a:g}" for a in axes) + " Å"

    @property
    def width(self) -> float:
        return self.axes[0]

    @property
    def height(self) -> float:
        return self.axes[1] if len(self.axes) > 1 else self.axes[0]


def _file_axes(headers: Mapping[str, Any] | None) -> tuple[float, ...] | None:
    """The size per sampled axis one file's headers state: the MRC voxel size, else what a vendor header or
    instrument metadata of the image itself records (voxel or pixel size)."""
    if not isinstance(headers, Mapping):
        return None
    mrc = headers.get("mrc")
    if isinstance(mrc, Mapping):
        voxel = mrc.get("voxel_size_A") or []
        axes = voxel[: 3 if mrc.get("kind") in ("volume", "volume-stack") else 2]
        values = tuple(num(v) for v in axes)
        if len(values) >= 2 and all(v is not None and v > 0 for v in values) and set(values) != {PLACEHOLDER_VOXEL}:
            return values  # type: ignore[return-value]
        return None
    if headers.get("type") in ("epu", "mdoc", "xml"):
        return None  # metadata files describe the acquisition, not images of this set
    acquisition = headers.get("acquisition")
    if not isinstance(acquisition, Mapping):
        return None
    axes = numbers(acquisition.get("voxel_size_A"))
    if axes is not None and all(a > 0 for a in axes):
        return axes
    pixel = num(acquisition.get("pixel_size_A"))
    return (pixel, pixel) if pixel is not None and pixel > 0 else None


def header_size(files: Iterable[ManifestFile]) -> tuple[float, ...] | None:
    """The size per axis every file with one agrees on (within :data:`TOLERANCE`), else None."""
    found: tuple[float, ...] | None = None
    for f in files:
        axes = _file_axes(getattr(f, "headers", None))
        if axes is None:
            continue
        if found is None:
            found = axes
        elif len(axes) != len(found) or not all(close(a, b, TOLERANCE) for a, b in zip(axes, found, strict=True)):
            return None
    return found


def _acquisition(d: Dataset) -> tuple[float, ...] | None:
    a = d.acquisition
    if a.voxel_size_A:
        return tuple(a.voxel_size_A)
    return (a.pixel_size_A,) if a.pixel_size_A else None


def set_pixel(d: Dataset, s: ImageSet, files: Iterable[ManifestFile], *,
              acquisition_applies: bool = True) -> SetPixel | None:
    """The pixel size of image set ``s`` of ``d`` with its files ``files`` (see the module's description);
    ``acquisition_applies`` says whether the acquisition's size may stand for a set without any other."""
    if s.voxel_size_A:
        return SetPixel(tuple(s.voxel_size_A), "declared")
    if s.pixel_size_A:
        return SetPixel((s.pixel_size_A,), "declared")
    acquisition = _acquisition(d)
    headers = header_size(files)
    if headers is not None:
        same = acquisition is not None and all(
            close(h, acquisition[min(i, len(acquisition) - 1)], TOLERANCE) for i, h in enumerate(headers))
        if not same:
            return SetPixel(headers, "headers")
    if acquisition is not None and (acquisition_applies or headers is not None):
        return SetPixel(acquisition, "acquisition")
    return None
