"""PNG previews of MRC maps, tomograms, micrographs, image stacks and tilt series (other formats: see
:mod:`.arraypreviews`, which :func:`make_previews` hands them to).

Volumes get three central slices (one per orientation) and a projection; 2D images and stacks a binned
image (the middle one of a stack); tilt series a montage of tilts. Small data are enlarged with visible
pixels (nearest neighbour) to at least :data:`MIN_PX` on the long side. Each preview says what it shows
(``caption``: the file, the plane or projection and the index, the tilt angles). Compressed maps (``.map.gz``)
are decompressed into memory, streamed, when their data take at most :data:`COMPRESSED_BUDGET` bytes.
Contrast is clipped at percentiles. Only the rows and sections a preview
shows are read, with positional reads into small buffers (not a memory map, which would leave every page
touched in the process's memory): a 1024³ float32 map costs one pass over at most ``read_budget`` bytes
and a few tens of MB of memory. Each read holds a few whole rows, so rows longer than :data:`MAX_ROW_BYTES`
are refused: the memory stays bounded whatever the header claims. The PNG bytes depend only on the data (no
timestamps, no text chunks), so the same file always gives the same previews. :func:`check_png` checks a PNG
file whole (what the catalogue publishes as a preview).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import mrc
from .png import MAX_PNG_BYTES, MAX_PNG_PIXELS, PNG_SIGNATURE, check_png, encode_png
from .previewimage import CHUNK_BYTES as CHUNK_BYTES
from .previewimage import CLIP_PERCENT as CLIP_PERCENT
from .previewimage import MAX_PX as MAX_PX
from .previewimage import MIN_PX as MIN_PX
from .previewimage import ROWS_PER_BIN as ROWS_PER_BIN
from .previewimage import Preview as Preview
from .previewimage import _bin_axis as _bin_axis
from .previewimage import _real as _real
from .previewimage import contrast as contrast
from .previewimage import enlarge as enlarge
from .previewimage import png_preview as png_preview

__all__ = ["MAX_PNG_BYTES", "MAX_PNG_PIXELS", "PNG_SIGNATURE", "Preview", "check_png", "contrast", "encode_png",
           "enlarge", "make_previews", "write_previews"]

#: The most decompressed data a preview of a compressed map reads into memory.
COMPRESSED_BUDGET = 256 << 20
#: Tilts a tilt-series montage shows (a 3 × 3 grid), and the gap between them in pixels.
MONTAGE_TILES = 9
MONTAGE_GAP = 2
READ_BUDGET = 2 << 30
#: The longest row a preview reads, counted as float32 (a million pixels): every read holds a few whole rows, so
#: this bounds the memory of a preview whatever the header says (nx = 500,000,000 would otherwise be 2 GB).
MAX_ROW_BYTES = 4 << 20


# PNG encoding and checking: see .png (its names stay importable from here).


# --- Reading and binning --------------------------------------------------------------------------


class _Memory:
    """Positional reads from bytes held in memory (a decompressed map), with the calls ``_Sections`` makes."""

    def __init__(self, data: bytes):
        self.data = memoryview(data)

    def pread(self, size: int, offset: int) -> bytes:
        return bytes(self.data[offset:offset + size])

    def preadv(self, view: memoryview, offset: int) -> int:
        part = self.data[offset:offset + len(view)]
        view[: len(part)] = part
        return len(part)


class _Sections:
    """Positional reads (``os.pread``) of rows of an MRC data block: no mapping, no buffering, bounded."""

    def __init__(self, path: Path, layout: mrc.Layout, first: int = 0, memory: bytes | None = None):
        assert layout.dtype is not None
        self.dtype = layout.dtype
        self.ny, self.nx = layout.shape[-2:]
        self.row_bytes = self.nx * self.dtype.itemsize
        self.work_bytes = self.nx * max(4, self.dtype.itemsize)  # one row as read or as float32
        if self.work_bytes > MAX_ROW_BYTES:  # (make_previews refuses these first, with a note)
            raise ValueError(f"rows of {self.nx} values are longer than previews read")
        self.base = layout.offset + first * self.ny * self.row_bytes
        self.memory = _Memory(memory) if memory is not None else None
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)) if memory is None else -1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)

    def _pread(self, size: int, offset: int) -> bytes:
        return self.memory.pread(size, offset) if self.memory else os.pread(self.fd, size, offset)

    def _preadv(self, view: memoryview, offset: int) -> int:
        return self.memory.preadv(view, offset) if self.memory else os.preadv(self.fd, [view], offset)

    def rows(self, z: int, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0:r1`` of section ``z`` as float32 (complex values as magnitudes)."""
        size = (r1 - r0) * self.row_bytes
        raw = self._pread(size, self.base + (z * self.ny + r0) * self.row_bytes)
        if len(raw) < size:
            raise OSError(f"short read at section {z}, rows {r0}–{r1 - 1}")
        return _real(np.frombuffer(raw, dtype=self.dtype).reshape(r1 - r0, self.nx))

    def binned(self, z: int, f: int, per_bin: int, column: int | None = None
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Section ``z`` binned ``f``×``f`` from at most ``per_bin`` central rows of each bin, and the values of
        ``column`` binned the same way along y."""
        nbins = math.ceil(self.ny / f)
        plane = np.empty((nbins, math.ceil(self.nx / f)), dtype=np.float32)
        col = np.empty(nbins, dtype=np.float32) if column is not None else None
        if per_bin >= f:  # every row: read whole bins, CHUNK_BYTES at a time
            step = max(1, CHUNK_BYTES // (f * self.work_bytes))
            for b0 in range(0, nbins, step):
                b1 = min(nbins, b0 + step)
                rows = self.rows(z, b0 * f, min(self.ny, b1 * f))
                plane[b0:b1] = _bin_axis(_bin_axis(rows, f, 1), f, 0)
                if col is not None:
                    col[b0:b1] = _bin_axis(rows[:, column], f, 0)
            return plane, col
        # A few central rows of each bin: one positional read per bin into a shared buffer, then the numpy
        # work once per chunk of bins.
        block = per_bin * self.row_bytes
        full = nbins if self.ny - (nbins - 1) * f >= per_bin else nbins - 1  # the last bin may be short
        step = max(1, min(full, CHUNK_BYTES // (per_bin * self.work_bytes)))
        buf = bytearray(step * block)
        view = memoryview(buf)
        for b0 in range(0, full, step):
            b1 = min(full, b0 + step)
            for j, b in enumerate(range(b0, b1)):
                r0, r1 = b * f, min(self.ny, (b + 1) * f)
                start = r0 + (r1 - r0 - per_bin) // 2
                offset = self.base + (z * self.ny + start) * self.row_bytes
                if self._preadv(view[j * block : (j + 1) * block], offset) < block:
                    raise OSError(f"short read at section {z}, rows {start}–{start + per_bin - 1}")
            raw = np.frombuffer(buf, dtype=self.dtype, count=(b1 - b0) * per_bin * self.nx)
            mean = _bin_axis(_real(raw.reshape(b1 - b0, per_bin, self.nx)), per_bin, 1)[:, 0, :]
            plane[b0:b1] = _bin_axis(mean, f, 1)
            if col is not None:
                col[b0:b1] = mean[:, column]
        for b in range(full, nbins):
            rows = self.rows(z, b * f, self.ny)
            mean = _bin_axis(rows, rows.shape[0], 0)[0]
            plane[b] = _bin_axis(mean, f, 0)
            if col is not None:
                col[b] = mean[column]
        return plane, col


def _factor(*sizes: int, max_px: int) -> int:
    return max(1, math.ceil(max(sizes) / max_px))


# --- Previews -------------------------------------------------------------------------------------


def _size_text(dims: list[int], voxel: tuple[float | None, ...], unit: str) -> str:
    text = " × ".join(str(d) for d in dims) + f" {unit}s"
    if voxel and voxel[0]:
        text += f" of {voxel[0]:g} Å"
    return text


def _preview(kind: str, image: np.ndarray, alt: str, clip_percent: float, caption: str = "",
             min_px: int = MIN_PX) -> Preview:
    pixels = np.flipud(contrast(image, clip_percent))  # MRC rows run upwards; PNG rows downwards
    return png_preview(kind, pixels, alt, caption, min_px)


def _volume(reader: _Sections, nz: int, name: str, layout: mrc.Layout, label: str, *, max_px: int,
            clip_percent: float, read_budget: int, min_px: int = MIN_PX) -> list[Preview]:
    ny, nx = reader.ny, reader.nx
    c, r, s = layout.axes if len(set(layout.axes)) == 3 else "XYZ"
    f = _factor(nx, ny, nz, max_px=max_px)
    size = _size_text([nx, ny, nz], layout.voxel_size_A, "voxel")
    zc, yc, xc = nz // 2, ny // 2, nx // 2
    alt = f"Central {c}{r} slice ({s} = {zc + 1} of {nz}) through the {label} {name} ({size})."
    previews = [_preview(c + r, reader.binned(zc, f, f)[0], alt, clip_percent,
                         f"{name}: central {c}{r} slice, {s} = {zc + 1} of {nz}", min_px)]

    # One pass over sampled sections (at most one per output row, within the read budget) gives the two
    # other central slices and the projection.
    out_z = math.ceil(nz / f)
    rows_read = ny if f <= ROWS_PER_BIN else math.ceil(ny / f) * ROWS_PER_BIN
    sampled = max(1, min(out_z, read_budget // (rows_read * reader.row_bytes)))
    if sampled == out_z:
        zs = np.minimum(np.arange(out_z) * f + f // 2, nz - 1)
    else:
        zs = np.unique(np.round(np.linspace(0, nz - 1, sampled)).astype(np.int64))
    projection = np.zeros((math.ceil(ny / f), math.ceil(nx / f)), dtype=np.float64)
    xz = np.empty((len(zs), projection.shape[1]), dtype=np.float32)
    yz = np.empty((len(zs), projection.shape[0]), dtype=np.float32)
    for i, z in enumerate(zs):
        plane, column = reader.binned(int(z), f, ROWS_PER_BIN, column=xc)
        projection += plane
        yz[i] = column
        xz[i] = _bin_axis(reader.rows(int(z), yc, yc + 1)[0], f, 0)
    # Output row j shows the sampled section nearest to the centre of z bin j.
    centres = np.arange(out_z) * f + f / 2
    nearest = np.clip(np.searchsorted(zs, centres), 0, len(zs) - 1)
    lower = np.clip(nearest - 1, 0, len(zs) - 1)
    nearest = np.where(np.abs(zs[lower] - centres) <= np.abs(zs[nearest] - centres), lower, nearest)
    used = f"{len(zs)} of {nz} sections" if len(zs) < nz else f"all {nz} sections"
    previews += [
        _preview(c + s, xz[nearest], f"Central {c}{s} slice ({r} = {yc + 1} of {ny}) through the {label} "
                 f"{name} ({size}).", clip_percent, f"{name}: central {c}{s} slice, {r} = {yc + 1} of {ny}", min_px),
        _preview(r + s, yz[nearest], f"Central {r}{s} slice ({c} = {xc + 1} of {nx}) through the {label} "
                 f"{name} ({size}).", clip_percent, f"{name}: central {r}{s} slice, {c} = {xc + 1} of {nx}", min_px),
        _preview("projection", projection, f"Projection along {s} of the {label} {name} ({size}; {used} "
                 "summed).", clip_percent, f"{name}: projection along {s} ({used})", min_px),
    ]
    return previews


def _montage(reader: _Sections, nz: int, name: str, tilts: list[float] | None, *, max_px: int,
             clip_percent: float, min_px: int) -> Preview:
    """A grid of up to :data:`MONTAGE_TILES` tilts, evenly spread from the first to the last, each with its
    own contrast."""
    picks = sorted({int(z) for z in np.round(np.linspace(0, nz - 1, min(MONTAGE_TILES, nz)))})
    cols = math.ceil(math.sqrt(len(picks)))
    rows = math.ceil(len(picks) / cols)
    f = _factor(reader.nx, reader.ny, max_px=max(1, (max_px - MONTAGE_GAP * (cols - 1)) // cols))
    tiles = [np.flipud(contrast(reader.binned(z, f, ROWS_PER_BIN)[0], clip_percent)) for z in picks]
    th, tw = tiles[0].shape
    canvas = np.zeros((rows * th + MONTAGE_GAP * (rows - 1), cols * tw + MONTAGE_GAP * (cols - 1)), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        canvas[r * (th + MONTAGE_GAP):r * (th + MONTAGE_GAP) + th, c * (tw + MONTAGE_GAP):c * (tw + MONTAGE_GAP) + tw] \
            = tile
    if tilts is not None and len(tilts) == nz:
        which = "tilts " + ", ".join(f"{tilts[z]:g}°" for z in picks)
    else:
        which = "images " + ", ".join(str(z + 1) for z in picks)
    alt = (f"Montage of {len(picks)} of the {nz} images of the tilt series {name}, left to right and top to "
           f"bottom: {which}.")
    caption = f"{name}: montage of {len(picks)} of {nz} tilts"
    if tilts is not None and len(tilts) == nz:  # (from the most negative tilt shown to the most positive)
        low, high = (f"{a:+g}°".replace("+0°", "0°").replace("-", "\N{MINUS SIGN}") for a in
                     (min(tilts[z] for z in picks), max(tilts[z] for z in picks)))
        caption += f", from {low} to {high}"
    return png_preview("montage", canvas, alt, f"{caption} ({which})", min_px)


def _decompressed(path: Path, layout: mrc.Layout) -> tuple[bytes | None, str | None]:
    """The headers and data of a compressed MRC file, decompressed into memory (streamed, never to disk), or
    None and why not."""
    assert layout.dtype is not None
    total = layout.offset + math.prod(layout.shape) * layout.dtype.itemsize
    if total > COMPRESSED_BUDGET:
        return None, (f"no preview: the compressed file's data decompress to {total:,} bytes, more than the "
                      f"{COMPRESSED_BUDGET:,} previews of compressed files read")
    chunks, got = [], 0
    with mrc.open_stream(path) as stream:
        while got < total:
            block = stream.read(min(total - got, 16 << 20))
            if not block:
                break
            chunks.append(block)
            got += len(block)
    return b"".join(chunks), None


def make_previews(path: Path, *, max_px: int = MAX_PX, clip_percent: float = CLIP_PERCENT,
                  read_budget: int = READ_BUDGET, name: str | None = None, min_px: int = MIN_PX,
                  category: str | None = None, mdoc_file: Path | None = None) -> tuple[list[Preview], list[str]]:
    """Previews of one data file and the reasons some could not be made (never raises for a bad file).

    ``name`` is how the alt texts and captions call the file (its name by default); smaller previews than
    ``min_px`` are enlarged; ``category``, the image set's, says what an MRC image stack is (a ``tilt-series``
    gets a montage; ``volume-images``, ``tomograms`` and ``maps`` slices and a projection); ``mdoc_file``, the
    SerialEM mdoc of a tilt series, gives the montage's tilt angles. Files other than MRC go to
    :func:`.arraypreviews.make_previews`.
    """
    name = name or path.name
    if not mrc.is_mrc(path):
        from . import arraypreviews

        return arraypreviews.make_previews(path, max_px=max_px, clip_percent=clip_percent, name=name, min_px=min_px)
    try:
        return _mrc_previews(path, max_px=max_px, clip_percent=clip_percent, read_budget=read_budget, name=name,
                             min_px=min_px, category=category, mdoc_file=mdoc_file)
    except (OSError, EOFError, ValueError) as exc:  # e.g. the file shrank, or its compressed stream is damaged
        return [], [f"no preview: reading the data failed ({exc})"]


def _mdoc_tilts(path: Path, mdoc_file: Path | None) -> list[float] | None:
    """The tilt angles, in section order, of the SerialEM mdoc of a tilt series: ``mdoc_file`` when given (the
    caller checked where it leads), else a regular ``<file>.mdoc`` beside it (None without)."""
    beside = mdoc_file or path.with_name(path.name + ".mdoc")
    if not beside.is_file() or (mdoc_file is None and beside.is_symlink()):
        return None
    from . import mdoc

    try:
        return (mdoc.extract(beside)[0].get("acquisition") or {}).get("tilt_angles_deg")
    except Exception:  # (a damaged mdoc only costs the angles in the caption)
        return None


#: Image-set categories whose MRC image stacks are volumes (serial block-face stacks, tomograms with space group 0).
VOLUME_CATEGORIES = frozenset({"volume-images", "tomograms", "maps"})


def _mrc_previews(path: Path, *, max_px: int, clip_percent: float, read_budget: int, name: str,
                  min_px: int, category: str | None, mdoc_file: Path | None) -> tuple[list[Preview], list[str]]:
    meta, problems, layout = mrc.read(path)
    notes: list[str] = []
    if layout is None:
        return [], ["no preview: " + (problems[0] if problems else "the data cannot be located")]
    if layout.dtype is None:
        return [], [f"no preview: mode {layout.mode} data cannot be previewed"]
    memory = None
    if mrc.compression(path):
        memory, why = _decompressed(path, layout)
        if memory is None:
            return [], [why or "no preview"]
        section = layout.shape[-1] * layout.shape[-2] * layout.dtype.itemsize
        complete = min(math.prod(layout.shape[:-2]), max(0, len(memory) - layout.offset) // section)
        layout = dataclasses.replace(layout, sections=complete)
    if layout.sections == 0:
        return [], ["no preview: the file holds no complete section of data"]
    ny, nx = layout.shape[-2:]
    if nx * max(4, layout.dtype.itemsize) > MAX_ROW_BYTES:
        return [], [f"no preview: rows of {nx:,} pixels are longer than previews read (at most "
                    f"{MAX_ROW_BYTES // max(4, layout.dtype.itemsize):,})"]
    nz_declared = math.prod(layout.shape[:-2])
    nz = min(nz_declared, layout.sections)
    if nz < nz_declared:
        notes.append(f"preview made from the {nz} complete sections of {nz_declared} (the file is truncated)")
    suffix = mrc.plain_suffix(path)
    tilts = (meta.get("acquisition") or {}).get("tilt_angles_deg") or _mdoc_tilts(path, mdoc_file)
    kind = layout.kind
    if kind == "image-stack":
        kind = mrc.image_kind(meta.get("mrc") or {}, suffix, bool(tilts) or category == "tilt-series")
        if category in VOLUME_CATEGORIES:
            kind = "volume"
    elif kind == "volume" and category == "tilt-series":
        kind = "tilt-series"  # (written with space group 1, as mrcfile does by default)
    options = {"max_px": max_px, "clip_percent": clip_percent, "read_budget": read_budget, "min_px": min_px}
    reader = None
    try:
        if kind == "volume-stack":
            mz = layout.shape[1]
            if nz // mz == 0:
                return [], notes + ["no preview: not one complete volume in the file"]
            v = (nz // mz) // 2
            reader = _Sections(path, layout, first=v * mz, memory=memory)
            label = f"volume {v + 1} of {layout.shape[0]} in the volume stack"
            return _volume(reader, mz, name, layout, label, **options), notes  # type: ignore[arg-type]
        reader = _Sections(path, layout, memory=memory)
        if kind == "volume" and nz > 1:
            label = "tomogram" if suffix == ".rec" else "volume"
            return _volume(reader, nz, name, layout, label, **options), notes  # type: ignore[arg-type]
        if kind == "tilt-series" and nz > 1:
            return [_montage(reader, nz, name, tilts, max_px=max_px, clip_percent=clip_percent, min_px=min_px)], notes
        z = nz // 2
        f = _factor(nx, ny, max_px=max_px)
        size = _size_text([nx, ny], layout.voxel_size_A, "pixel")
        binned = f" shown binned {f}×" if f > 1 else ""
        if nz_declared > 1:
            alt = (f"Image {z + 1} of {nz_declared} (the middle one) of the image "
                   f"stack {name} ({size}{binned}).")
            caption = f"{name}: image {z + 1} of {nz_declared}"
        else:
            alt = f"The image {name} ({size}{binned})."
            caption = f"{name}: image"
        return [_preview("image", reader.binned(z, f, ROWS_PER_BIN)[0], alt, clip_percent, caption, min_px)], notes
    except OSError as exc:  # e.g. the file shrank while being read
        return [], notes + [f"no preview: reading the data failed ({exc})"]
    finally:
        if reader is not None:
            reader.close()


def write_previews(path: Path, out_dir: Path, stem: str | None = None,
                   **options: Any) -> tuple[list[dict[str, Any]], list[str]]:
    # (options: those of make_previews)
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
                        "bytes": len(p.png), "alt": p.alt, "caption": p.caption})
    return entries, notes
