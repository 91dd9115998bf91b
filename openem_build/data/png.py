"""PNG files of previews: an encoder of 8-bit greyscale images whose bytes depend only on the pixels (no time or
text chunks), and a checker of any PNG file a catalogue publishes (every chunk, bounded decompression)."""

from __future__ import annotations

import struct
import zlib

import numpy as np


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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The largest preview file a catalogue publishes, and the most pixels it may have (a decompression bomb is a
#: small file that declares, and decompresses to, a huge image).
MAX_PNG_BYTES = 4 << 20
MAX_PNG_PIXELS = 4096 * 4096
#: PNG colour type → (channels, allowed bit depths).
_PNG_COLOURS = {0: (1, (1, 2, 4, 8, 16)), 2: (3, (8, 16)), 3: (1, (1, 2, 4, 8)), 4: (2, (8, 16)), 6: (4, (8, 16))}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, bits: int, interlaced: bool) -> int:
    """The bytes a PNG's image data decompress to: per (pass and) row, a filter byte and the packed pixels."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        w, h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if w > 0 and h > 0:
            total += h * (1 + -(-(w * bits) // 8))
    return total


def check_png(data: bytes, max_pixels: int = MAX_PNG_PIXELS) -> tuple[int, int]:
    """Width and height of the PNG image ``data``, after checking it whole: the signature, every chunk's length
    and CRC, IHDR first and IEND last (nothing after it), a valid colour type and bit depth, at most
    ``max_pixels`` pixels, and image data that decompress to exactly the size the header implies (streamed in
    bounded steps: a decompression bomb is never held in memory). Raises ValueError saying what is wrong."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("is not a PNG image (it does not start with the PNG signature)")
    view = memoryview(data)
    pos, header, idat, ended = len(PNG_SIGNATURE), None, [], False
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("is a damaged PNG image (a chunk is cut off)")
        length, kind = struct.unpack(">I4s", view[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("is a damaged PNG image (a chunk runs past the end of the file)")
        body = view[pos + 8:end - 4]
        if struct.unpack(">I", view[end - 4:end])[0] != zlib.crc32(kind + body) or not kind.isalpha():
            raise ValueError(f"is a damaged PNG image (chunk {kind!r} fails its check)")
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise ValueError("is a damaged PNG image (it does not begin with its header chunk)")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IHDR":
            raise ValueError("is a damaged PNG image (two header chunks)")
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended, pos = True, end
            break
        pos = end
    if header is None or not ended or pos != len(data):
        raise ValueError("is a damaged PNG image (" + ("no header chunk" if header is None else "no end chunk: the "
                         "file is cut off" if not ended else "bytes follow its end chunk") + ")")
    width, height, depth, colour, method, filtering, interlace = header
    channels, depths = _PNG_COLOURS.get(colour, (0, ()))
    if depth not in depths or method or filtering or interlace > 1:
        raise ValueError(f"is a PNG image of an invalid kind (colour type {colour}, bit depth {depth})")
    if not 0 < width * height <= max_pixels or not width or not height:
        raise ValueError(f"is a PNG image of {width} × {height} pixels (at most {max_pixels:,} are published)")
    if not idat:
        raise ValueError("is a PNG image without image data")
    expected = _png_raw_size(width, height, channels * depth, bool(interlace))
    inflate, total = zlib.decompressobj(), 0
    try:
        for chunk in idat:
            pending = chunk
            while pending and not inflate.eof:
                total += len(inflate.decompress(pending, 1 << 20))
                pending = inflate.unconsumed_tail
                if total > expected:
                    raise ValueError("is a PNG image whose data decompress to more than its size (a "
                                     "decompression bomb)")
            if pending or (inflate.eof and chunk is not idat[-1]):
                raise ValueError("is a damaged PNG image (data after the end of its compressed stream)")
    except zlib.error as exc:
        raise ValueError(f"is a damaged PNG image (its compressed data cannot be read: {exc})") from None
    if not inflate.eof or inflate.unused_data or total != expected:
        raise ValueError("is a damaged PNG image (its compressed data are incomplete)")
    return width, height
