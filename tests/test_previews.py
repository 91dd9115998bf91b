"""PNG previews of MRC files (openem_build.data.previews): content, orientation, determinism, size."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from openem_build.data import mrc, png, previews
from openem_build.data.previews import contrast, encode_png, make_previews, write_previews


def decode_png(data: bytes) -> tuple[np.ndarray, list[bytes]]:
    """Pixels and chunk types of an 8-bit greyscale PNG (an independent reference decoder)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, [], b""
    width = height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks.append(kind)
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlace) == (8, 0, 0)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    out = np.zeros((height, width), dtype=np.int32)
    prev = np.zeros(width, dtype=np.int32)
    for y in range(height):
        line = raw[y * (width + 1) : (y + 1) * (width + 1)]
        kind, row = line[0], np.frombuffer(line[1:], dtype=np.uint8).astype(np.int32)
        cur = np.zeros(width, dtype=np.int32)
        for x in range(width):
            a = cur[x - 1] if x else 0
            b = prev[x]
            c = prev[x - 1] if x else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (row[x] + pred) % 256
        out[y], prev = cur, cur
    return out.astype(np.uint8), chunks


def write(path: Path, data: np.ndarray, voxel: float = 1.0, stack: bool = False) -> Path:
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(data)
        if stack:
            m.set_image_stack()
        m.voxel_size = voxel
    return path


def sphere(n: int = 48) -> np.ndarray:
    z, y, x = np.mgrid[:n, :n, :n]
    vol = ((x - n / 2) ** 2 + (y - n / 2) ** 2 + (z - n / 2) ** 2 < (n / 3) ** 2).astype(np.float32)
    vol[:, -4:, :] = 1.0  # a bright slab at high y: the top of an XY image, as in IMOD and ChimeraX
    return vol + np.random.default_rng(0).normal(0, 0.2, vol.shape).astype(np.float32)


# --- PNG and contrast ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_png_round_trip_and_chunks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    smooth = np.add.outer(np.arange(37), np.arange(53)).astype(np.uint8)
    for image in (rng.integers(0, 256, (23, 31), dtype=np.uint8), smooth, np.zeros((1, 1), np.uint8)):
        pixels, chunks = decode_png(encode_png(image))
        assert np.array_equal(pixels, image)
        assert chunks == [b"IHDR", b"IDAT", b"IEND"]  # no tIME, tEXt or other metadata


def test_contrast_clips_percentiles() -> None:
    image = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (10, 1))
    image[0, 0] = 1e6  # one hot pixel must not flatten the rest
    image[1, 1] = np.nan
    out = contrast(image)
    assert out[5, 0] == 0 and out[5, 99] == 255 and out[5, 50] in (127, 128)
    assert out[1, 1] == 0 and out[0, 0] == 255
    assert (contrast(np.full((3, 3), 7.0)) == 128).all()
    assert (contrast(np.full((3, 3), np.nan)) == 0).all()


# --- MRC previews -------------------------------------------------------------------------------


def test_volume_previews(tmp_path: Path) -> None:
    path = write(tmp_path / "map.mrc", sphere(), voxel=1.5)
    result, notes = make_previews(path, max_px=24, min_px=1)
    assert notes == []
    assert [(p.kind, p.width, p.height) for p in result] == [
        ("XY", 24, 24), ("XZ", 24, 24), ("YZ", 24, 24), ("projection", 24, 24)]
    assert [p.alt for p in result] == [
        "Central XY slice (Z = 25 of 48) through the volume map.mrc (48 × 48 × 48 voxels of 1.5 Å).",
        "Central XZ slice (Y = 25 of 48) through the volume map.mrc (48 × 48 × 48 voxels of 1.5 Å).",
        "Central YZ slice (X = 25 of 48) through the volume map.mrc (48 × 48 × 48 voxels of 1.5 Å).",
        "Projection along Z of the volume map.mrc (48 × 48 × 48 voxels of 1.5 Å; 24 of 48 sections summed).",
    ]
    xy = decode_png(result[0].png)[0]
    assert xy[0].mean() > 180 and xy[-1].mean() < 100  # high y is at the top
    assert xy[12, 12] > 150 and xy[12, 1] < 100  # the sphere is bright in the middle
    again, _ = make_previews(path, max_px=24, min_px=1)
    assert [p.png for p in again] == [p.png for p in result]  # deterministic bytes


def test_png_bytes_are_stable(tmp_path: Path) -> None:
    result, _ = make_previews(write(tmp_path / "map.mrc", sphere(), voxel=1.5), max_px=24, min_px=1)
    digest = hashlib.sha256(b"".join(p.png for p in result)).hexdigest()
    # Same data, same numpy and zlib → same bytes; pinning one digest here would tie the test to a zlib build.
    copy = write(tmp_path / "other-name.mrc", sphere(), voxel=1.5)
    assert hashlib.sha256(b"".join(p.png for p in make_previews(copy, max_px=24, min_px=1)[0])).hexdigest() == digest


def test_micrograph_preview_is_binned(tmp_path: Path) -> None:
    data = np.random.default_rng(2).normal(size=(600, 1000)).astype(np.float32)
    path = write(tmp_path / "mic.mrc", data, voxel=0.73)
    (preview,), notes = make_previews(path, max_px=256, min_px=1)
    assert notes == [] and (preview.kind, preview.width, preview.height) == ("image", 250, 150)
    assert preview.alt == "The image mic.mrc (1000 × 600 pixels of 0.73 Å shown binned 4×)."
    assert preview.filename("mic") == "mic.image.png"


def test_stack_preview_shows_the_middle_image(tmp_path: Path) -> None:
    data = np.zeros((5, 20, 30), dtype=np.int16)
    data[2, :, 15:] = 100  # only the middle image has a bright right half
    (preview,), _ = make_previews(write(tmp_path / "particles.mrcs", data, stack=True), max_px=64, min_px=1)
    pixels = decode_png(preview.png)[0]
    assert pixels[:, :15].max() == 0 and pixels[:, 15:].min() == 255
    assert preview.alt == "Image 3 of 5 (the middle one) of the image stack particles.mrcs (30 × 20 pixels of 1 Å)."
    assert preview.caption == "particles.mrcs: image 3 of 5"


def test_large_noise_preview_stays_small(tmp_path: Path) -> None:
    data = np.random.default_rng(3).normal(size=(1024, 1024)).astype(np.float32)
    (preview,), _ = make_previews(write(tmp_path / "noise.mrc", data))
    assert (preview.width, preview.height) == (512, 512)
    assert len(preview.png) < 300_000


def test_read_budget_samples_sections(tmp_path: Path) -> None:
    path = write(tmp_path / "vol.mrc", sphere(64))
    result, _ = make_previews(path, max_px=32, read_budget=10 * 64 * 64 * 4, min_px=1)
    assert result[-1].alt.endswith("(64 × 64 × 64 voxels of 1 Å; 10 of 64 sections summed).")
    assert (result[1].width, result[1].height) == (32, 32)  # z still spans the full height


def test_truncated_and_unreadable_files(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.mrc", sphere(16))
    with open(path, "r+b") as f:
        f.truncate(1024 + 10 * 16 * 16 * 4 + 7)
    result, notes = make_previews(path)
    assert len(result) == 4
    assert notes == ["preview made from the 10 complete sections of 16 (the file is truncated)"]
    bad_mode = write(tmp_path / "mode.mrc", np.zeros((4, 4), np.float32))
    with open(bad_mode, "r+b") as f:
        f.seek(12)
        f.write(struct.pack("<i", 101))
    assert make_previews(bad_mode) == ([], ["no preview: mode 101 data cannot be previewed"])
    text = tmp_path / "text.mrc"
    text.write_text("not an MRC file")
    assert make_previews(text) == ([], [
        "no preview: the file is 15 bytes, shorter than the 1024-byte MRC header: not an MRC file, or an empty "
        "or truncated one"])
    empty = write(tmp_path / "empty.mrc", np.zeros((2, 4, 4), np.float32))
    with open(empty, "r+b") as f:
        f.truncate(1024)
    assert make_previews(empty) == ([], ["no preview: the file holds no complete section of data"])


def test_write_previews(tmp_path: Path) -> None:
    path = write(tmp_path / "map.mrc", sphere(16))
    entries, notes = write_previews(path, tmp_path / "previews", stem="maps__map", max_px=16, min_px=1)
    assert notes == []
    assert [e["file"] for e in entries] == ["maps__map.xy.png", "maps__map.xz.png", "maps__map.yz.png",
                                            "maps__map.projection.png"]
    for entry in entries:
        written = (tmp_path / "previews" / entry["file"]).read_bytes()
        assert len(written) == entry["bytes"] and decode_png(written)[0].shape == (entry["height"], entry["width"])
    assert set(entries[0]) == {"file", "kind", "width", "height", "bytes", "alt", "caption"}
    assert entries[0]["caption"] == "map.mrc: central XY slice, Z = 9 of 16"


def test_module_defaults() -> None:
    assert previews.MAX_PX == 512 and previews.CLIP_PERCENT == 1.0


@pytest.mark.parametrize(("ny", "f", "per_bin"), [(43, 10, 4), (45, 10, 4), (40, 4, 4), (41, 3, 8)])
def test_binning_reads_central_rows_of_each_bin(tmp_path: Path, ny: int, f: int, per_bin: int) -> None:
    data = np.random.default_rng(4).normal(size=(3, ny, 57)).astype(np.float32)
    path = write(tmp_path / "b.mrc", data)
    reader = previews._Sections(path, mrc.read(path)[2])
    try:
        plane, column = reader.binned(1, f, per_bin, column=20)
    finally:
        reader.close()
    expected_rows = []
    for r0 in range(0, ny, f):
        n = min(ny, r0 + f) - r0
        take = n if per_bin >= f or n < per_bin else per_bin  # all rows of small or short bins
        start = r0 + (n - take) // 2
        expected_rows.append(data[1, start : start + take].mean(axis=0))
    rows = np.array(expected_rows)
    cols = [rows[:, c0 : c0 + f].mean(axis=1) for c0 in range(0, 57, f)]
    assert np.allclose(plane, np.stack(cols, axis=1), atol=1e-5)
    assert np.allclose(column, rows[:, 20], atol=1e-5)


# --- Memory, whatever the header says -------------------------------------------------------------

_MEASURE = r"""
import json, re, sys
from pathlib import Path
from openem_build.data.previews import make_previews
made, notes = make_previews(Path(sys.argv[1]))
# (VmHWM: this process's own peak; getrusage's ru_maxrss starts at the forking parent's, e.g. pytest's)
peak = int(re.search(r"VmHWM:\s*(\d+) kB", Path("/proc/self/status").read_text())[1])
print(json.dumps({"made": [(p.kind, p.width, p.height) for p in made], "notes": notes, "peak_kib": peak}))
"""


def _sparse_mrc(path: Path, shape: tuple[int, ...], dtype: type = np.float32) -> Path:
    """An MRC file whose header declares ``shape`` (numpy order), its data a hole: written with mrcfile, then
    the header's dimensions set and the file extended with truncate (no disk space used)."""
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.zeros((1,) * len(shape), dtype))
        if len(shape) == 3:
            m.set_volume()
        (m.header.nz, m.header.ny, m.header.nx) = shape if len(shape) == 3 else (1, *shape)
        (m.header.mz, m.header.my, m.header.mx) = shape if len(shape) == 3 else (1, *shape)
    os.truncate(path, 1024 + math.prod(shape) * np.dtype(dtype).itemsize)
    return path


def _preview_in_a_process(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True,
                         timeout=600)
    return json.loads(out.stdout)


@pytest.mark.parametrize(("shape", "made"), [
    ((1, 500_000_000), False),  # a 2 GB row: refused, not read
    ((3, 1_000_000), True),  # rows of 4 MB: read a few at a time
    ((2, 5, 1_000_000), True),  # a volume of such rows
    ((600_000_000, 1), True),  # a 2.4 GB column: one row per bin read
])
def test_preview_memory_is_bounded_whatever_the_header_says(tmp_path: Path, shape: tuple[int, ...],
                                                            made: bool) -> None:
    path = _sparse_mrc(tmp_path / "sparse.mrc", shape)
    result = _preview_in_a_process(path)
    assert bool(result["made"]) == made, result["notes"]
    if not made:
        assert result["notes"] == ["no preview: rows of 500,000,000 pixels are longer than previews read (at most "
                                   "1,048,576)"]
    # (numpy and mrcfile alone take ~40 MiB; reading a whole 2 GB row would take 2 GiB and more)
    assert result["peak_kib"] < 200 * 1024, result


# --- Checking PNG files ---------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, raw: bytes, colour: int = 0, depth: int = 8, interlace: int = 0,
         tail: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (previews.PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + tail
            + _chunk(b"IEND", b""))


def test_check_png_accepts_whole_images_of_every_kind() -> None:
    assert previews.check_png(encode_png(np.arange(48 * 40, dtype=np.uint8).reshape(40, 48))) == (48, 40)
    assert previews.check_png(_png(3, 2, b"\0" + b"\1" * 9 + b"\0" + b"\2" * 9, colour=2)) == (3, 2)  # RGB
    assert previews.check_png(_png(9, 1, b"\0\xff\x80", depth=1)) == (9, 1)  # 1 bit per pixel
    # Interlaced (Adam7): a 3 × 3 image has passes of 1, 1 (from x = 4: none), 1, 2 … pixels.
    assert previews.check_png(_png(3, 3, b"\0" * png._png_raw_size(3, 3, 8, True), interlace=1)) == (3, 3)


@pytest.mark.parametrize(("data", "words"), [
    (b"<html><script>alert(1)</script></html>", "is not a PNG image"),
    (b"\0" * 1000, "is not a PNG image"),
    (_png(8, 8, b"\0" * 72)[:-3], "a chunk is cut off"),
    (_png(8, 8, b"\0" * 72) + b"<html>", "bytes follow its end chunk"),
    (_png(8, 8, b"\0" * 72).replace(b"IDAT", b"IDAx"), "fails its check"),
    (_png(8, 8, b"\0" * 71), "its compressed data are incomplete"),
    (_png(8, 8, b"\0" * 10_000_000), "decompress to more than its size (a decompression bomb)"),
    (_png(100_000, 100_000, b"\0" * 10), "is a PNG image of 100000 × 100000 pixels"),
    (_png(8, 8, b"\0" * 72, colour=2, depth=4), "of an invalid kind (colour type 2, bit depth 4)"),
    (previews.PNG_SIGNATURE + _chunk(b"IEND", b""), "it does not begin with its header chunk"),
    (_png(8, 8, b"\0" * 72, tail=_chunk(b"IHDR", b"\0" * 13)), "two header chunks"),
])
def test_check_png_refuses_what_is_not_a_whole_image(data: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        previews.check_png(data)
