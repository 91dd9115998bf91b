"""PNG previews of the formats other than MRC: DM3/DM4, Velox EMD, TIA SER, BCF and vendor TIFF (read lazily
with RosettaSciIO), and plain TIFF images and movies (tifffile).

- 2D images (and the middle image of a stack or movie): binned to at most ``max_px``, contrast clipped at
  percentiles, enlarged with visible pixels when small;
- spectra (EELS, EDX): a line plot with the energy on the x axis (:mod:`.plots`);
- spectrum images: the sum spectrum (plot) and the map of the summed counts;
- EER movies and compressed TIFF movies: the sum of their first frames (:mod:`.moviepreview`).

Data are read as dask arrays, chunk by chunk, and only what a preview shows: the memory stays near one chunk
however large the file, and a preview that would read more than :data:`ARRAY_BUDGET` bytes is refused with a
note. Each preview says what it shows (``caption``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from . import moviepreview, plots, rsciio, tiff
from .previewimage import CLIP_PERCENT, MAX_PX, MIN_PX, Preview, contrast, png_preview

#: The most bytes of data one preview reads (chunk by chunk: the memory stays near one chunk).
ARRAY_BUDGET = 2 << 30
#: The largest TIFF page read whole into memory for a preview.
PAGE_BUDGET = 512 << 20
_ENERGY = {"eV", "keV"}


def previewable(path: Path) -> bool:
    """Whether previews are made of a file of this name (``.emi`` files are previewed through their ``.ser``;
    EER movies through :mod:`.moviepreview`)."""
    suffix = path.suffix.lower()
    return (suffix in rsciio.PLUGINS or suffix in tiff.SUFFIXES) and suffix != ".emi"


def _compute(value: Any) -> np.ndarray:
    """A dask (or numpy) array's values, computed one chunk at a time in this thread (deterministic)."""
    compute = getattr(value, "compute", None)
    out = compute(scheduler="synchronous") if compute is not None else value
    return np.asarray(out)


def _real(a: Any) -> Any:
    if np.issubdtype(a.dtype, np.complexfloating):
        return abs(a)
    return a.astype(np.float32) if a.dtype != np.float32 else a


def _binning(shape: tuple[int, ...], max_px: int) -> str:
    """What an alt text adds for an image :func:`_binned` shrinks: ``, shown binned 2×`` (else nothing)."""
    f = max(1, math.ceil(max(shape[:2]) / max_px))
    return f", shown binned {f}×" if f > 1 else ""


def _binned(plane: Any, max_px: int) -> np.ndarray:
    """A 2D (dask) array averaged in f × f blocks so that its long side is at most ``max_px``."""
    import dask.array as da

    plane = da.asarray(plane)
    if plane.ndim == 3:  # (colour: the mean of the channels)
        plane = plane.mean(axis=2)
    f = max(1, math.ceil(max(plane.shape) / max_px))
    if f > 1:
        ny, nx = (plane.shape[0] // f) * f, (plane.shape[1] // f) * f
        # (the last f - 1 rows or columns at most are left out: whole blocks only)
        plane = da.coarsen(np.mean, _real(plane[:ny, :nx]), {0: f, 1: f}) if ny and nx else plane[::f, ::f]
    return _compute(_real(plane))


def _energy_axis(axes: list[dict[str, Any]], index: int, size: int) -> tuple[np.ndarray, str]:
    ax = axes[index] if index < len(axes) else {}
    scale = rsciio.number(ax.get("scale")) or 1.0
    offset = rsciio.number(ax.get("offset")) or 0.0
    name = rsciio._text(ax.get("name")) or "Energy"
    units = rsciio._text(ax.get("units")) or ""
    return offset + scale * np.arange(size, dtype=np.float64), f"{name} ({units})" if units else name


def _ylabel(signal: dict[str, Any]) -> str:
    quantity = rsciio.lookup(rsciio.mapped_metadata(signal), "Signal.quantity")
    return rsciio._text(quantity) or "Counts"


def _signal_previews(signal: dict[str, Any], name: str, *, max_px: int, clip_percent: float,
                     min_px: int) -> tuple[list[Preview], list[str]]:
    data = signal["data"]
    shape = tuple(int(n) for n in data.shape)
    nbytes = math.prod(shape) * data.dtype.itemsize
    axes = list(signal.get("axes") or [])
    units = [str(a.get("units") or "") for a in axes]
    energy = [i for i, u in enumerate(units) if u in _ENERGY]
    kind = rsciio.image(signal).get("kind")
    dims = " × ".join(str(n) for n in reversed(shape))
    if energy and len(shape) >= 1:
        if nbytes > ARRAY_BUDGET:
            return [], [f"no preview: the spectrum data take {nbytes:,} bytes, more than the {ARRAY_BUDGET:,} a "
                        "preview reads"]
        e = energy[0]
        others = tuple(i for i in range(len(shape)) if i != e)
        total = _compute(_real(data).sum(axis=others)) if others else _compute(_real(data))
        x, xlabel = _energy_axis(axes, e, shape[e])
        what = rsciio._text(rsciio.lookup(signal.get("metadata") or {}, "Signal.signal_type")) or "spectrum"
        if not others:
            pixels = plots.spectrum(x, total, xlabel=xlabel, ylabel=_ylabel(signal), title=f"{what}: {name}")
            return [png_preview("spectrum", pixels, f"Plot of the {what} spectrum {name} ({shape[e]} channels), "
                                f"counts against {xlabel}.", f"{name}: {what} spectrum", min_px)], []
        n = math.prod(shape[i] for i in others)
        pixels = plots.spectrum(x, total, xlabel=xlabel, ylabel=_ylabel(signal),
                                title=f"{what}: sum of {n} spectra, {name}")
        out = [png_preview("spectrum", pixels, f"Plot of the sum of the {n} {what} spectra of the spectrum image "
                           f"{name} ({dims}), counts against {xlabel}.", f"{name}: sum spectrum of {n} positions",
                           min_px)]
        counts = _compute(_real(data).sum(axis=e))
        if counts.ndim == 1:
            counts = counts[None, :]
        if counts.ndim == 2:
            f = max(1, math.ceil(max(counts.shape) / max_px))
            view = _binned(counts, max_px) if f > 1 else counts
            out.append(png_preview("map", contrast(view, clip_percent), f"Map of the {what} counts summed over "
                                   f"all channels of the spectrum image {name} ({dims}).",
                                   f"{name}: map of the summed counts", min_px))
        return out, []
    if len(shape) < 2:
        return [], [f"no preview: {len(shape)}-dimensional data without an energy axis"]
    if kind == "image" or len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4) and kind == "image"):
        plane, caption = data, f"{name}: image"
        alt = f"The image {name} ({dims} pixels{_binning(tuple(shape), max_px)})."
    else:
        lead = shape[:-2]
        index = tuple(n // 2 for n in lead)
        plane = data[index]
        count = math.prod(lead)
        position = int(np.ravel_multi_index(index, lead)) + 1
        caption = f"{name}: image {position} of {count}"
        alt = f"Image {position} of {count} (the middle one) of {name} ({dims}{_binning(tuple(shape[-2:]), max_px)})."
    plane_bytes = math.prod(plane.shape) * data.dtype.itemsize
    if plane_bytes > ARRAY_BUDGET:
        return [], [f"no preview: one image takes {plane_bytes:,} bytes, more than the {ARRAY_BUDGET:,} a preview "
                    "reads"]
    return [png_preview("image", contrast(_binned(plane, max_px), clip_percent), alt, caption, min_px)], []


def _tiff_previews(path: Path, name: str, *, max_px: int, clip_percent: float,
                   min_px: int) -> tuple[list[Preview], list[str]]:
    """The middle page of a plain TIFF image or movie."""
    tifffile = tiff._tifffile()
    with tifffile.TiffFile(path) as tif:
        pages = tiff._count_pages(tif)
        middle = pages // 2
        page = tif.pages[middle]
        shape = tuple(int(n) for n in page.shape)
        size = math.prod(shape) * page.dtype.itemsize if page.dtype is not None else 0
        if not size or size > PAGE_BUDGET:
            return [], [f"no preview: a page of {shape} cannot be read within {PAGE_BUDGET:,} bytes"]
        plane = page.asarray()
    dims = " × ".join(str(n) for n in (shape[1], shape[0])) + " pixels" + _binning(shape, max_px)
    if pages > 1:
        alt, caption = (f"Frame {middle + 1} of {pages} (the middle one) of {name} ({dims}).",
                        f"{name}: frame {middle + 1} of {pages}")
    else:
        alt, caption = f"The image {name} ({dims}).", f"{name}: image"
    return [png_preview("image", contrast(_binned(plane, max_px), clip_percent), alt, caption, min_px)], []


def _choose(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The signal that shows most: a spectrum image before a spectrum before an image (BCF files hold both)."""
    order = {"spectrum-image": 0, "spectrum": 1}
    return min(found, key=lambda s: order.get(rsciio.image(s).get("kind"), 2))


def make_previews(path: Path, *, max_px: int = MAX_PX, clip_percent: float = CLIP_PERCENT,
                  name: str | None = None, min_px: int = MIN_PX) -> tuple[list[Preview], list[str]]:
    """Previews of one non-MRC file and the reasons some could not be made (never raises for a bad file)."""
    name = name or path.name
    options = {"max_px": max_px, "clip_percent": clip_percent, "min_px": min_px}
    suffix = path.suffix.lower()
    if not previewable(path):
        return [], [f"no preview: {suffix or 'files without a suffix'} files are not previewed"]
    try:
        if suffix == ".eer" or (suffix in (".tif", ".tiff") and tiff.vendor(path) is None):
            if moviepreview.summed(path):  # (EER and compressed TIFF movies: the sum of their first frames)
                return moviepreview.make_previews(path, name, **options)  # type: ignore[arg-type]
            return _tiff_previews(path, name, **options)  # type: ignore[arg-type]
        found = [s for s in rsciio.signals(path) if getattr(s.get("data"), "shape", None) is not None]
        if not found:
            return [], ["no preview: RosettaSciIO found no data in the file"]
        return _signal_previews(_choose(found), name, **options)  # type: ignore[arg-type]
    except Exception as exc:  # a damaged file (any reader's error) must never stop a listing
        return [], [f"no preview: reading the data failed ({type(exc).__name__}: {exc})"[:500]]
