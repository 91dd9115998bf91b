"""PNG previews of MRC maps, tomograms, micrographs and image stacks.

Volumes get three central slices (one per orientation) and a projection; 2D images and stacks a binned
image (the middle one of a stack). Contrast is clipped at percentiles. Files are memory-mapped and only
the rows and sections a preview shows are read: a 1024³ float32 map costs one pass over at most
``read_budget`` bytes and a few MB of memory. The PNG bytes depend only on the data (no timestamps, no
text chunks), so the same file always gives the same previews.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import mrc

MAX_PX = 512
CLIP_PERCENT = 1.0
READ_BUDGET = 2 << 30
ROWS_PER_BIN = 4  # rows averaged per output row when binning (all of them when the bin is smaller)


@dataclass(frozen=True)
class Preview:
    """One PNG: ``kind`` is a plane (``XY``, ``XZ``, ``YZ``), ``projection`` or ``image``."""

    kind: str
    png: bytes
    width: int
    height: int
    alt: str

    def filename(self, stem: str) -> str:
        return f"{stem}.{self.kind.lower()}.png"


# --- PNG ------------------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png(pixels: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of a 2D uint8 array: IHDR, IDAT and IEND only (no time or text chunks).

    Each row gets the PNG filter with the smallest sum of absolute residuals (the usual heuristic).
    """
    img = np.ascontiguousarray(pixels, dtype=np.uint8)
    if img.ndim != 2 or 0 in img.shape:
        raise ValueError("encode_png needs a non-empty 2D array")
    height, width = img.shape
    x = img.astype(np.int16)
    left = np.zeros_like(x)
    left[:, 1:] = x[:, :-1]
    up = np.zeros_like(x)
    up[1:] = x[:-1]
    upleft = np.zeros_like(x)
    upleft[1:, 1:] = x[:-1, :-1]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    candidates = np.stack([x, x - left, x - up, x - (left + up) // 2, x - paeth]).astype(np.uint8)
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
    choice = np.argmin(cost, axis=0)  # first (lowest-numbered) filter wins ties
    rows = candidates[choice, np.arange(height)]
    raw = np.concatenate([choice.astype(np.uint8)[:, None], rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))


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


# --- Reading and binning --------------------------------------------------------------------------


def _real(block: np.ndarray) -> np.ndarray:
    block = np.asarray(block)
    if np.iscomplexobj(block):
        return np.abs(block).astype(np.float32)
    return block.astype(np.float32, copy=False)


def _bin_columns(rows: np.ndarray, f: int) -> np.ndarray:
    """Average consecutive groups of ``f`` columns (the last group may be smaller)."""
    if f == 1:
        return rows
    starts = np.arange(0, rows.shape[-1], f)
    counts = np.diff(np.append(starts, rows.shape[-1])).astype(np.float32)
    return np.add.reduceat(rows, starts, axis=-1) / counts


def _row_groups(n: int, f: int, per_bin: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows to read (sorted) and the start of each output row's group among them."""
    picked: list[int] = []
    starts: list[int] = []
    for r0 in range(0, n, f):
        r1 = min(n, r0 + f)
        take = min(per_bin, r1 - r0)
        starts.append(len(picked))
        if take == r1 - r0:
            picked.extend(range(r0, r1))
        else:  # evenly spread inside the bin, centred
            picked.extend(r0 + ((2 * np.arange(take) + 1) * (r1 - r0)) // (2 * take))
    return np.asarray(picked, dtype=np.int64), np.asarray(starts, dtype=np.int64)


def _binned_plane(plane: np.ndarray, f: int, per_bin: int = ROWS_PER_BIN, chunk: int = 64) -> np.ndarray:
    """A 2D (memory-mapped) plane binned ``f``×``f``, reading at most ``per_bin`` rows of each bin."""
    ny = plane.shape[0]
    rows, starts = _row_groups(ny, f, per_bin)
    out: list[np.ndarray] = []
    for i in range(0, len(starts), chunk):
        group = starts[i : i + chunk]
        end = starts[i + chunk] if i + chunk < len(starts) else len(rows)
        block = _bin_columns(_real(plane[rows[group[0] : end]]), f)
        sums = np.add.reduceat(block, group - group[0], axis=0)
        counts = np.diff(np.append(group, end)).astype(np.float32)
        out.append(sums / counts[:, None])
    return np.concatenate(out, axis=0)


def _factor(*sizes: int, max_px: int) -> int:
    return max(1, math.ceil(max(sizes) / max_px))


# --- Previews -------------------------------------------------------------------------------------


def _size_text(dims: list[int], voxel: tuple[float | None, ...], unit: str) -> str:
    text = " × ".join(str(d) for d in dims) + f" {unit}s"
    if voxel and voxel[0]:
        text += f" of {voxel[0]:g} Å"
    return text


def _preview(kind: str, image: np.ndarray, alt: str, clip_percent: float) -> Preview:
    pixels = np.flipud(contrast(image, clip_percent))  # MRC rows run upwards; PNG rows downwards
    return Preview(kind, encode_png(pixels), int(pixels.shape[1]), int(pixels.shape[0]), alt)


def _volume(data: np.ndarray, name: str, layout: mrc.Layout, label: str, *, max_px: int,
            clip_percent: float, read_budget: int) -> list[Preview]:
    nz, ny, nx = data.shape
    c, r, s = layout.axes if len(set(layout.axes)) == 3 else "XYZ"
    f = _factor(nx, ny, nz, max_px=max_px)
    size = _size_text([nx, ny, nz], layout.voxel_size_A, "voxel")
    zc, yc, xc = nz // 2, ny // 2, nx // 2
    alt = f"Central {c}{r} slice ({s} = {zc + 1} of {nz}) through the {label} {name} ({size})."
    previews = [_preview(c + r, _binned_plane(data[zc], f, per_bin=f), alt, clip_percent)]

    out_z = math.ceil(nz / f)
    rows, _ = _row_groups(ny, f, ROWS_PER_BIN)
    per_section = len(rows) * nx * data.dtype.itemsize
    sampled = max(1, min(out_z, read_budget // max(1, per_section)))
    if sampled == out_z:
        zs = np.minimum(np.arange(out_z) * f + f // 2, nz - 1)
    else:
        zs = np.unique(np.round(np.linspace(0, nz - 1, sampled)).astype(np.int64))
    projection = np.zeros((math.ceil(ny / f), math.ceil(nx / f)), dtype=np.float64)
    xz = np.empty((len(zs), projection.shape[1]), dtype=np.float32)
    yz = np.empty((len(zs), projection.shape[0]), dtype=np.float32)
    for i, z in enumerate(zs):
        section = data[int(z)]
        projection += _binned_plane(section, f)
        xz[i] = _bin_columns(_real(section[yc])[None, :], f)[0]
        yz[i] = _bin_columns(_real(section[:, xc])[None, :], f)[0]
    # Output row j shows the sampled section nearest to the centre of z bin j.
    centres = np.arange(out_z) * f + f / 2
    nearest = np.clip(np.searchsorted(zs, centres), 0, len(zs) - 1)
    lower = np.clip(nearest - 1, 0, len(zs) - 1)
    nearest = np.where(np.abs(zs[lower] - centres) <= np.abs(zs[nearest] - centres), lower, nearest)
    used = f"{len(zs)} of {nz} sections" if len(zs) < nz else f"all {nz} sections"
    previews += [
        _preview(c + s, xz[nearest], f"Central {c}{s} slice ({r} = {yc + 1} of {ny}) through the {label} "
                 f"{name} ({size}).", clip_percent),
        _preview(r + s, yz[nearest], f"Central {r}{s} slice ({c} = {xc + 1} of {nx}) through the {label} "
                 f"{name} ({size}).", clip_percent),
        _preview("projection", projection, f"Projection along {s} of the {label} {name} ({size}; {used} "
                 "summed).", clip_percent),
    ]
    return previews


def make_previews(path: Path, *, max_px: int = MAX_PX, clip_percent: float = CLIP_PERCENT,
                  read_budget: int = READ_BUDGET, name: str | None = None) -> tuple[list[Preview], list[str]]:
    """Previews of one MRC file and the reasons some could not be made (never raises for a bad file).

    ``name`` is how the alt texts call the file (its name by default).
    """
    name = name or path.name
    _meta, problems, layout = mrc.read(path)
    notes: list[str] = []
    if layout is None or layout.dtype is None:
        return [], ["no preview: " + (problems[0] if problems else "the data type cannot be previewed")]
    if layout.sections == 0:
        return [], ["no preview: the file holds no complete section of data"]
    ny, nx = layout.shape[-2:]
    nz_declared = int(np.prod(layout.shape[:-2])) if len(layout.shape) > 2 else 1
    nz = min(nz_declared, layout.sections)
    if nz < nz_declared:
        notes.append(f"preview made from the {nz} complete sections of {nz_declared} (the file is truncated)")
    try:
        data = np.memmap(path, dtype=layout.dtype, mode="r", offset=layout.offset, shape=(nz, ny, nx))
    except (OSError, ValueError) as exc:
        return [], [f"no preview: the data cannot be mapped ({exc})"]
    try:
        kind = layout.kind
        if kind == "image-stack" and path.suffix.lower() == ".rec":
            kind = "volume"  # IMOD tomograms written with space group 0
        if kind == "volume-stack":
            mz = layout.shape[1]
            count = nz // mz
            if count == 0:
                return [], notes + ["no preview: not one complete volume in the file"]
            v = count // 2
            label = f"volume {v + 1} of {layout.shape[0]} in the volume stack"
            return _volume(data[v * mz : (v + 1) * mz], name, layout, label, max_px=max_px,
                           clip_percent=clip_percent, read_budget=read_budget), notes
        if kind == "volume" and nz > 1:
            label = "tomogram" if path.suffix.lower() == ".rec" else "volume"
            return _volume(data, name, layout, label, max_px=max_px, clip_percent=clip_percent,
                           read_budget=read_budget), notes
        z = nz // 2
        f = _factor(nx, ny, max_px=max_px)
        size = _size_text([nx, ny], layout.voxel_size_A, "pixel")
        binned = f" shown binned {f}×" if f > 1 else ""
        if nz_declared > 1:
            alt = (f"Image {z + 1} of {nz_declared} (the middle one) of the image "
                   f"stack {name} ({size}{binned}).")
        else:
            alt = f"The image {name} ({size}{binned})."
        return [_preview("image", _binned_plane(data[z], f), alt, clip_percent)], notes
    except (OSError, ValueError) as exc:  # e.g. the file shrank while being read
        return [], notes + [f"no preview: reading the data failed ({exc})"]


def write_previews(path: Path, out_dir: Path, stem: str | None = None,
                   **options: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Write the previews as ``<stem>.<kind>.png`` into ``out_dir``; return manifest entries and notes."""
    previews, notes = make_previews(path, **options)
    stem = stem or path.name
    entries: list[dict[str, Any]] = []
    if previews:
        out_dir.mkdir(parents=True, exist_ok=True)
    for p in previews:
        target = out_dir / p.filename(stem)
        target.write_bytes(p.png)
        entries.append({"file": target.name, "kind": p.kind, "width": p.width, "height": p.height,
                        "bytes": len(p.png), "alt": p.alt})
    return entries, notes
