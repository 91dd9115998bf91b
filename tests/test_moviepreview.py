"""Previews of counted movies: EER movies (EER-compressed frames, decoded by imagecodecs through tifffile) and
compressed TIFF movies are the sum of their first frames, read frame by frame.

imagecodecs has no EER encoder (``eer_encode`` raises NotImplementedError) and tifffile writes no EER
compression, so :func:`eer_bits` encodes frames as the EER format's 7-bit run lengths with 2 + 2 sub-pixel bits
(tifffile's COMPRESSION.EER_V1, LSB first); tifffile writes them as pre-compressed strips (with a zlib tag,
which is then overwritten with 65001 in place). The test checks the file with tifffile's own EER reader first.
"""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile

from openem_build.data import moviepreview, previews

from .test_formats import EER_XML
from .test_previews import decode_png

H, W = 64, 96
FRAMES = 40


def eer_bits(frame: np.ndarray) -> bytes:
    """One frame of 0/1 counts as an EER v1 bit stream: a 7-bit skip then 4 sub-pixel bits per electron, 127 =
    skip on without an electron, ending where the skips reach the frame's end."""
    bits: list[int] = []

    def put(value: int, n: int) -> None:
        bits.extend((value >> i) & 1 for i in range(n))

    pos = 0
    for index in (int(i) for i in np.flatnonzero(frame.ravel())):
        skip = index - pos
        while skip >= 127:
            put(127, 7)
            skip -= 127
        put(skip, 7)
        put(0, 4)
        pos = index + 1
    skip = frame.size - pos
    while skip >= 127:
        put(127, 7)
        skip -= 127
    put(skip, 7)
    bits.extend([0] * (-len(bits) % 64))
    return np.packbits(np.array(bits, dtype=np.uint8).reshape(-1, 8)[:, ::-1]).tobytes()


def movie_frames() -> np.ndarray:
    """Frames 1–32 count electrons in the left half only, later frames in the right half only."""
    rng = np.random.default_rng(0)
    counts = (rng.random((FRAMES, H, W)) < 0.3).astype(np.uint8)
    counts[: moviepreview.MOVIE_FRAMES, :, W // 2 :] = 0
    counts[moviepreview.MOVIE_FRAMES :, :, : W // 2] = 0
    return counts


def write_eer(path: Path, frames: np.ndarray, integrated: bool = False) -> Path:
    tags = [(65001, 7, len(EER_XML), EER_XML, True)]
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        if integrated:  # an uncompressed integrated image before the frames (some EER files have one)
            tif.write(np.full((H, W), 7, dtype=np.uint16), extratags=tags)
            tags = []
        tif.write(((b, len(b)) for b in (eer_bits(f) for f in frames)), shape=frames.shape, dtype=np.uint8,
                  compression="zlib", rowsperstrip=H, photometric="minisblack", extratags=tags)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        for page in tif.pages[1 if integrated else 0:]:
            page.tags[259].overwrite(65001)  # (COMPRESSION.EER_V1: the strips are EER bit streams)
    return path


@pytest.mark.parametrize("integrated", [False, True])
def test_eer_movie_preview_sums_its_first_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 integrated: bool):
    frames = movie_frames()
    path = write_eer(tmp_path / "movie.eer", frames, integrated)
    with tifffile.TiffFile(path) as tif:  # tifffile's own EER reader gives the frames back
        assert tif.is_eer and tif.pages[-1].compression == 65001
        assert np.array_equal(np.stack([p.asarray() for p in tif.pages[1 if integrated else 0:]]), frames)
    decoded = []
    decode = imagecodecs.eer_decode
    monkeypatch.setattr(imagecodecs, "eer_decode", lambda *a, **k: decoded.append(1) or decode(*a, **k))
    (preview,), notes = previews.make_previews(path)
    assert notes == [] and len(decoded) == moviepreview.MOVIE_FRAMES  # only the first 32 of 40 frames are read
    assert preview.kind == "image" and preview.caption == "movie.eer: sum of frames 1–32 of 40"
    assert preview.alt == "The sum of the first 32 of 40 frames of the movie movie.eer (96 × 64 pixels)."
    pixels = decode_png(preview.png)[0]
    assert (preview.width, preview.height) == (288, 192)  # 96 × 64 shown 3× (at least 256 px)
    half = W // 2 * 3
    assert pixels[:, half:].max() == 0 and pixels[:, :half].mean() > 100  # the later frames' right half is unread
    assert previews.make_previews(path)[0][0].png == preview.png


def test_compressed_tiff_movie_is_summed_and_an_uncompressed_stack_keeps_its_middle_page(tmp_path: Path):
    frames = movie_frames()
    tifffile.imwrite(tmp_path / "lzw.tif", frames, compression="lzw")  # (LZW: decoded by imagecodecs)
    (preview,), notes = previews.make_previews(tmp_path / "lzw.tif")
    assert notes == [] and preview.caption == "lzw.tif: sum of frames 1–32 of 40"
    pixels = decode_png(preview.png)[0]
    assert pixels[:, W // 2 * 3 :].max() == 0 and pixels[:, : W // 2 * 3].mean() > 100
    tifffile.imwrite(tmp_path / "plain.tif", frames)
    (middle,), _ = previews.make_previews(tmp_path / "plain.tif")
    assert middle.caption == "plain.tif: frame 21 of 40"


def test_a_large_frame_is_refused_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write_eer(tmp_path / "movie.eer", movie_frames()[:3])
    monkeypatch.setattr(moviepreview, "FRAME_BUDGET", H * W - 1)
    assert previews.make_previews(path) == ([], [f"no preview: frame 1 of ({H}, {W}) cannot be read as a 2D image "
                                                 f"within {H * W - 1:,} bytes"])
