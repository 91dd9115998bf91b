"""MRC/MRC2014 headers (.mrc, .mrcs, .map, .rec, .st): what the file says about itself, and what is wrong.

Only the 1024-byte main header and at most :data:`EXT_HEADER_LIMIT` bytes of the extended header are ever
read, so a file of hundreds of GB costs kilobytes. Compressed maps (``.map.gz``, ``.mrc.bz2``: how EMDB ships
them) are read the same way through a gzip or bzip2 stream: only the first kilobytes are decompressed, nothing
is unpacked to disk, and the data size cannot be checked against the file's (the compressed) size.
The header is interpreted by mrcfile in permissive mode;
every way the file fails the MRC2014 standard (wrong map id, truncated data, a header that does not match
the file's size, invalid mode or space group) becomes a problem string instead of an exception.
"""

from __future__ import annotations

import bz2
import gzip
import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from mrcfile import utils
from mrcfile.dtypes import get_ext_header_dtype
from mrcfile.mrcinterpreter import MrcInterpreter

HEADER_BYTES = 1024
#: The most of the extended header ever read (FEI records and IMOD tilt angles sit at its start).
EXT_HEADER_LIMIT = 64 * 1024
SUFFIXES = frozenset({".mrc", ".mrcs", ".map", ".rec", ".st", ".ali", ".preali", ".ccp4"})
#: Compression suffix → (name, opener of a decompressing binary stream).
COMPRESSIONS: dict[str, tuple[str, Any]] = {".gz": ("gzip", gzip.open), ".bz2": ("bzip2", bz2.open)}

#: mode → (data type as shown, bytes per value); mode 101 packs two 4-bit values per byte.
MODES: dict[int, tuple[str, float]] = {
    0: ("int8", 1), 1: ("int16", 2), 2: ("float32", 4), 3: ("complex int16", 4), 4: ("complex64", 8),
    6: ("uint16", 2), 12: ("float16", 2), 101: ("uint4", 0.5),
}
_IMOD_STAMP = 1146047817  # "IMOD" at byte 152; the flags at byte 156 say whether mode 0 is signed
_COMPUTER_NAME = re.compile(r"^[A-Z]+\d{5,}$")  # e.g. TITAN52336320: the scope PC's name, not a model
_KNOWN_WARNINGS = ("Map ID string not found", "Unrecognised machine stamp", "Machine stamp",
                   "Expected ", "Couldn't read enough bytes")


@dataclass(frozen=True)
class Layout:
    """Where and how the data block lies: what previews need to memory-map it."""

    shape: tuple[int, ...]  # numpy order: (ny, nx), (nz, ny, nx) or (nvol, mz, ny, nx)
    dtype: np.dtype | None  # None when the mode has no numpy type (3, 101) or is invalid
    offset: int  # first data byte
    sections: int  # sections (ny × nx planes) wholly present in the file
    kind: str  # image, image-stack, volume, volume-stack
    axes: str  # file axes of column, row and section, e.g. "XYZ"
    voxel_size_A: tuple[float | None, float | None, float | None]
    mode: int


class _HeaderReader(MrcInterpreter):
    """mrcfile's interpreter in permissive, read-only, header-only mode whose reads are bounded."""

    def __init__(self, stream: BinaryIO, limit: int):
        super().__init__(permissive=True)
        self._read_only = True
        self._iostream = stream
        self._limit = limit
        self._read(header_only=True)

    def _read_bytearray_from_stream(self, number_of_bytes: int) -> tuple[bytearray, int]:
        # The documented hook for streams; bounding it stops a lying nsymbt from allocating gigabytes.
        buf = bytearray(max(0, min(int(number_of_bytes), self._limit)))
        return buf, self._iostream.readinto(buf) or 0


def _f32(value: Any) -> float | None:
    """A float32 header value as the shortest decimal that round-trips (0.73, not 0.7300000190734863)."""
    number = np.float32(value)
    return float(str(number)) if np.isfinite(number) else None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def _space_group(ispg: int, nz: int, mz: int) -> tuple[str | None, str]:
    """(kind, meaning) of a space group number under MRC2014."""
    if ispg == 0:
        if nz == 1:
            return "image", "0: a single image (2D)"
        return "image-stack", f"0: a stack of {nz} images"
    if ispg == 1:
        return "volume", "1 (P1): a single volume"
    if 2 <= ispg <= 230:
        return "volume", f"{ispg}: a crystallographic volume in space group {ispg}"
    if 401 <= ispg <= 630:
        count = f"{nz // mz} volumes" if mz > 0 else "volumes"
        return "volume-stack", f"{ispg}: a stack of {count} (space group {ispg - 400})"
    return None, f"{ispg}: not an MRC2014 space group"


def _stats(h: np.recarray) -> dict[str, float | None]:
    """Header statistics; MRC2014 marks unknown ones with dmax < dmin, dmean < both, rms < 0."""
    dmin, dmax, dmean, rms = (_f32(h.dmin), _f32(h.dmax), _f32(h.dmean), _f32(h.rms))
    known = dmin is not None and dmax is not None and dmax >= dmin
    mean_known = dmean is not None and dmin is not None and dmax is not None and dmean >= min(dmin, dmax)
    return {"min": dmin if known else None, "max": dmax if known else None,
            "mean": dmean if mean_known else None, "rms": rms if rms is not None and rms >= 0 else None}


def _fei(ext: bytes, exttyp: bytes, byte_order: str, problems: list[str]) -> dict[str, Any]:
    """Acquisition values from the first record of an FEI1/FEI2 extended header."""
    dtype = get_ext_header_dtype(exttyp, byte_order)
    if dtype is None:
        return {}
    if len(ext) < dtype.itemsize:
        problems.append(f"extended header type {exttyp.decode()} needs at least {dtype.itemsize} bytes per "
                        f"image, but only {len(ext)} could be read; its metadata were not interpreted")
        return {}
    rec = np.frombuffer(ext[: dtype.itemsize], dtype=dtype)[0]
    size = int(rec["Metadata size"])
    if size < dtype.itemsize:
        problems.append(f"extended header type {exttyp.decode()} declares {size}-byte records, fewer than "
                        f"the {dtype.itemsize} its type needs; its metadata were not interpreted")
        return {}

    def num(name: str, scale: float, low: float, high: float, digits: int = 6) -> float | None:
        value = float(rec[name]) * scale
        return float(f"{value:.{digits}g}") if math.isfinite(value) and low <= value <= high else None

    magnification = num("Magnification", 1, 1, 1e8)
    scope = _text(bytes(rec["Microscope type"]))
    out: dict[str, Any] = {
        "microscope": scope if scope and not _COMPUTER_NAME.match(scope) else None,
        "acceleration_voltage_kV": num("HT", 1e-3, 1, 3000),
        "pixel_size_A": num("Pixel size X", 1e10, 0.001, 1e6),
        "magnification": int(round(magnification)) if magnification else None,
        "dose_e_per_A2": num("Dose", 1e-20, 1e-6, 1e5, 4),
        "applied_defocus_um": num("Applied defocus", -1e6, -100, 100, 4),
        "tilt_angle_deg": num("Alpha tilt", 1, -90, 90, 4),
        "camera": _text(bytes(rec["Camera name"])) or None,
        "software": " ".join(filter(None, (_text(bytes(rec["Application"])),
                                           _text(bytes(rec["Application version"]))))) or None,
    }
    if "Detector commercial name" in dtype.names:
        out["detector"] = _text(bytes(rec["Detector commercial name"])) or None
    if bool(rec["Slit inserted"]):
        out["energy_filter_slit_eV"] = num("Slit width", 1, 0.01, 1e4, 4)
    return {k: v for k, v in out.items() if v is not None and v != ""}


_SERI_BYTES = {1: 2, 2: 6, 4: 4, 8: 2, 16: 2, 32: 4}  # IMOD's per-section fields by flag bit


def _seri_tilts(ext: bytes, nint: int, nreal: int, nz: int, byte_order: str) -> list[float] | None:
    """Tilt angles of a SerialEM-type (SERI) extended header, when its flags say they are there."""
    if not (nreal & 1) or nz <= 0 or nint != sum(b for bit, b in _SERI_BYTES.items() if nreal & bit):
        return None
    if len(ext) < nz * nint:
        return None
    raw = np.frombuffer(ext, dtype=np.dtype(f"{byte_order}i2"), count=nz * nint // 2)
    tilts = [round(float(v) / 100, 2) for v in raw[:: nint // 2][:nz]]
    return tilts if all(-90 <= t <= 90 for t in tilts) else None


def compression(path: Path) -> str | None:
    """'gzip' or 'bzip2' for a compressed MRC file (``x.map.gz``, ``x.mrc.bz2``), else None."""
    name = path.name.lower()
    for suffix, (kind, _open) in COMPRESSIONS.items():
        if name.endswith(suffix) and Path(name[: -len(suffix)]).suffix in SUFFIXES:
            return kind
    return None


def open_stream(path: Path) -> BinaryIO:
    """The file's bytes as an MRC reader sees them: decompressed on the fly for ``.gz`` and ``.bz2``."""
    kind = compression(path)
    if kind is None:
        return open(path, "rb")
    opener = next(o for k, o in COMPRESSIONS.values() if k == kind)
    return opener(path, "rb")


def read(path: Path, *, ext_limit: int = EXT_HEADER_LIMIT) -> tuple[dict[str, Any], list[str], Layout | None]:
    """Header metadata, problems, and the data layout (None when the data cannot be located).

    Never raises for a bad file; an unreadable path gives an empty mapping and one problem. For a compressed
    file, ``size_bytes`` is the compressed size, ``compression`` says how, and the layout's offsets are those of
    the decompressed stream.
    """
    problems: list[str] = []
    packed = compression(path)
    try:
        size = os.stat(path).st_size
        with open_stream(path) as stream, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            head = stream.read(HEADER_BYTES) if packed else b""
            length = len(head) if packed else size
            if length < HEADER_BYTES:
                what = "decompresses to" if packed else "is"
                problems.append(f"the file {what} {length} bytes, shorter than the {HEADER_BYTES}-byte MRC header: "
                                "not an MRC file, or an empty or truncated one")
                return {"size_bytes": size} | ({"compression": packed} if packed else {}), problems, None
            if not packed:
                reader = _HeaderReader(stream, HEADER_BYTES)
            else:
                reader = _HeaderReader(io.BytesIO(head), HEADER_BYTES)
            header = reader.header.copy()
            raw = bytes(header.tobytes())
            if not packed:
                stream.seek(HEADER_BYTES)
            nsymbt = int(header.nsymbt)
            ext = stream.read(max(0, min(nsymbt, ext_limit))) if nsymbt > 0 else b""
    except (OSError, ValueError, EOFError) as exc:
        what = f"cannot be read as {packed}-compressed data" if packed else "cannot be read"
        return {}, [f"{what}: {getattr(exc, 'strerror', None) or exc}"], None
    for w in caught:
        text = str(w.message)
        if not text.startswith(_KNOWN_WARNINGS):
            problems.append(f"mrcfile: {text}")
    if packed:
        out, problems, layout = _interpret(header, raw, ext, None, problems)
        out["size_bytes"] = size
        out["compression"] = packed
        return out, problems, layout
    return _interpret(header, raw, ext, size, problems)


def _interpret(h: np.recarray, raw: bytes, ext: bytes, size: int | None,
               problems: list[str]) -> tuple[dict[str, Any], list[str], Layout | None]:
    """The header's facts; ``size`` is the file's size (None when unknown: a compressed stream, whose data are
    then assumed complete)."""
    order = utils.normalise_byte_order(h.mode.dtype.byteorder if h.mode.dtype.byteorder != "|" else "=")
    endian = "little" if order == "<" else "big"
    nx, ny, nz, mode = int(h.nx), int(h.ny), int(h.nz), int(h.mode)
    mx, my, mz = int(h.mx), int(h.my), int(h.mz)
    ispg, nsymbt = int(h.ispg), int(h.nsymbt)

    map_id = bytes(h.map)
    if map_id[:3] != b"MAP":
        problems.append(f"map ID is {map_id!r} instead of b'MAP ' (bytes 209–212): not an MRC file, or an "
                        "old or corrupt one (its header is read as if it were MRC)")
    stamp = utils.pretty_machine_stamp(h.machst)
    try:
        stamp_order = utils.byte_order_from_machine_stamp(h.machst)
    except ValueError:
        stamp_order = None
        problems.append(f"machine stamp {stamp} is neither little-endian (0x44 0x44) nor big-endian "
                        f"(0x11 0x11); read as {endian}-endian")
    if stamp_order is not None and stamp_order != order:
        problems.append(f"machine stamp {stamp} says {'little' if stamp_order == '<' else 'big'}-endian, but "
                        f"the header only makes sense as {endian}-endian; read as {endian}-endian")

    if mode in MODES:
        dtype_name, itemsize = MODES[mode]
    else:
        dtype_name, itemsize = None, 0.0
        problems.append(f"mode {mode} is not an MRC2014 mode (0, 1, 2, 3, 4, 6, 12 or 101): the data type is "
                        "unknown")
    dims_ok = nx > 0 and ny > 0 and nz > 0
    if not dims_ok:
        problems.append(f"dimensions {nx} × {ny} × {nz} are not all positive")

    kind, meaning = _space_group(ispg, nz, mz)
    if kind is None:
        problems.append(f"space group {ispg} is not valid in MRC2014 (0 for images and image stacks, 1–230 "
                        "for volumes, 401–630 for volume stacks)")
        kind = "image" if nz == 1 else "volume"
    if kind == "volume-stack" and (mz <= 0 or nz % mz):
        problems.append(f"space group {ispg} makes this a volume stack, but nz = {nz} is not a multiple of "
                        f"mz = {mz}")

    cell = (_f32(h.cella.x), _f32(h.cella.y), _f32(h.cella.z))
    voxel: list[float | None] = []
    for length, n in zip(cell, (mx, my, mz), strict=True):
        # float32 cell / grid carries about 7 significant digits; 6 keep 0.73 from becoming 0.72999996.
        voxel.append(float(f"{length / n:.6g}") if length and n > 0 else None)
    if voxel[0] is None or voxel[1] is None:
        if not any(cell):
            problems.append("voxel size is not set (cell dimensions are 0)")
        else:
            problems.append(f"voxel size cannot be computed from cell {list(cell)} Å and sampling "
                            f"{[mx, my, mz]}")

    # Data layout and file size.
    imod = int(np.frombuffer(raw, dtype=f"{order}i4", count=1, offset=152)[0]) == _IMOD_STAMP
    imod_flags = int(np.frombuffer(raw, dtype=f"{order}i4", count=1, offset=156)[0]) if imod else 0
    row_bytes = (nx + 1) // 2 if mode == 101 else int(nx * itemsize)
    section_bytes = row_bytes * ny if dims_ok else 0
    data_bytes = section_bytes * nz if dims_ok else 0
    offset = HEADER_BYTES + max(nsymbt, 0)
    expected = offset + data_bytes
    if nsymbt < 0:
        problems.append(f"the extended header size (nsymbt) is {nsymbt}, negative")
    elif size is None:
        pass
    elif HEADER_BYTES + nsymbt > size:
        problems.append(f"the header declares a {nsymbt:,}-byte extended header, but the file holds only "
                        f"{size - HEADER_BYTES:,} bytes after the main header")
    present = max(0, (expected if size is None else size) - offset)
    sections = min(nz, present // section_bytes) if section_bytes else 0
    if size is None:
        pass
    elif dims_ok and itemsize and size < expected:
        problems.append(f"the file is truncated: its header declares {data_bytes:,} bytes of data "
                        f"({nx} × {ny} × {nz}, {dtype_name}) after {offset:,} bytes of headers, but only "
                        f"{present:,} are present ({sections} of {nz} sections complete)")
    elif dims_ok and itemsize and size > expected:
        problems.append(f"the file is {size - expected:,} bytes longer than its header declares ({offset:,} "
                        f"bytes of headers + {nx} × {ny} × {nz} {dtype_name} = {expected:,} bytes, file "
                        f"{size:,} bytes): the header's dimensions, mode or extended-header size are wrong")

    nlabl = int(h.nlabl)
    if not 0 <= nlabl <= 10:
        problems.append(f"the label count (nlabl) is {nlabl}, outside 0–10")
    labels = [_text(bytes(label)) for label in h.label[: max(0, min(nlabl, 10))]]
    stats = _stats(h)
    if any(_f32(v) is None for v in (h.dmin, h.dmax, h.dmean, h.rms)):
        problems.append("the header's statistics (min, max, mean, rms) contain NaN or infinity")

    exttyp_raw = bytes(h.exttyp)
    exttyp = exttyp_raw.decode("ascii", "replace").strip("\0 ")
    if exttyp and not all(32 <= b < 127 for b in exttyp_raw.rstrip(b"\0")):
        problems.append(f"extended header type {exttyp_raw!r} is not printable text")
    nint, nreal = (int(v) for v in np.frombuffer(raw, dtype=f"{order}i2", count=2, offset=128))
    axes = "".join("XYZ"[v - 1] if v in (1, 2, 3) else "?" for v in (int(h.mapc), int(h.mapr), int(h.maps)))
    if sorted(axes) != ["X", "Y", "Z"]:
        problems.append(f"axis order (mapc, mapr, maps) = ({int(h.mapc)}, {int(h.mapr)}, {int(h.maps)}) is "
                        "not a permutation of 1, 2, 3")

    if kind == "volume-stack" and mz > 0:
        shape: tuple[int, ...] = (nz // mz, mz, ny, nx)
    elif kind == "image":
        shape = (ny, nx)
    else:
        shape = (nz, ny, nx)
    dtype: np.dtype | None = None
    if mode in MODES and mode not in (3, 101):
        dtype = utils.dtype_from_mode(mode).newbyteorder(order)
        if mode == 0 and imod and not imod_flags & 1:
            dtype = np.dtype("u1")  # IMOD before 4.2.23 wrote unsigned bytes in mode 0
            dtype_name = "uint8"
    mrc: dict[str, Any] = {
        "dimensions": [nx, ny, nz],
        "kind": kind,
        "space_group": ispg,
        "space_group_meaning": meaning,
        "images": nz if kind in ("image", "image-stack") else 0,
        "volumes": {"volume": 1, "volume-stack": nz // mz if mz > 0 else 0}.get(kind, 0),
        "mode": mode,
        "dtype": dtype_name,
        "byte_order": endian,
        "voxel_size_A": voxel,
        "cell_A": list(cell),
        "cell_angles_deg": [_f32(h.cellb.alpha), _f32(h.cellb.beta), _f32(h.cellb.gamma)],
        "sampling": [mx, my, mz],
        "origin_A": [_f32(h.origin.x), _f32(h.origin.y), _f32(h.origin.z)],
        "start": [int(h.nxstart), int(h.nystart), int(h.nzstart)],
        "axis_order": axes,
        "version": int(h.nversion),
        "extended_header": {"type": exttyp, "bytes": nsymbt},
        "stats": stats,
        "labels": labels,
        "data_offset": offset,
        "data_bytes": data_bytes,
    }
    out: dict[str, Any] = {"size_bytes": size, "mrc": mrc}
    acquisition: dict[str, Any] = {}
    if exttyp in ("FEI1", "FEI2"):
        acquisition = _fei(ext, exttyp_raw, order, problems)
    elif exttyp == "SERI" or (not exttyp and imod):
        tilts = _seri_tilts(ext, nint, nreal, nz, order)
        if tilts is not None:
            acquisition["tilt_angles_deg"] = tilts
    if acquisition:
        out["acquisition"] = acquisition
    layout = None
    if dims_ok and not (kind == "volume-stack" and (mz <= 0 or nz % mz)):
        layout = Layout(shape, dtype, offset, sections, kind, axes, tuple(voxel), mode)  # type: ignore[arg-type]
    return out, problems, layout


#: File suffixes of IMOD tilt series (raw and aligned).
TILT_SERIES_SUFFIXES = frozenset({".st", ".ali", ".preali"})


def plain_suffix(path: Path) -> str:
    """The MRC suffix of a file name, compression left out (``a.map.gz`` → ``.map``)."""
    name = path.name.lower()
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return Path(name).suffix


def image_kind(header: dict[str, Any], suffix: str, tilts: bool = False) -> str:
    """What the data of an MRC file are in the catalogue's words (image, image-stack, tilt-series, volume)."""
    kind = header.get("kind")
    if kind in ("volume", "volume-stack") or (kind == "image-stack" and suffix == ".rec"):
        return "volume"  # (IMOD writes tomograms with space group 0)
    if kind == "image-stack" and (suffix in TILT_SERIES_SUFFIXES or tilts):
        return "tilt-series"
    return "image-stack" if kind == "image-stack" else "image"


def extract(path: Path) -> tuple[dict[str, Any], list[str]]:
    """JSON-serialisable header metadata and problems of one MRC file (never raises for a bad file), with the
    ``image`` block every image format has: dimensions, data type and what the data are."""
    data, problems, _layout = read(path)
    header = data.get("mrc")
    if isinstance(header, dict) and header.get("dimensions"):
        tilts = bool((data.get("acquisition") or {}).get("tilt_angles_deg"))
        dims = header["dimensions"]
        kind = image_kind(header, plain_suffix(path), tilts)
        data["image"] = {"dimensions": dims[:2] if kind == "image" else dims, "dtype": header.get("dtype"),
                         "kind": kind}
    return data, problems


def is_mrc(path: Path) -> bool:
    """Whether the file name says MRC, compressed or not (the content decides what is wrong with it)."""
    return path.suffix.lower() in SUFFIXES or compression(path) is not None
