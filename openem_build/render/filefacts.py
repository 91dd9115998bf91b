"""What a landing page's file table says about each file beyond its path, size and checksum: its format,
dimensions and pixel size, read from the header facts the manifest records (``ManifestFile.headers``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..records.model import ManifestFile
from .units import pixel_size

#: MRC header kinds as a reader names them.
_MRC_KINDS = {"image": "image", "image-stack": "image stack", "volume": "volume", "volume-stack": "volume stack"}
_TYPES = {"mdoc": "SerialEM mdoc", "epu": "EPU metadata (XML)", "xml": "XML"}
#: Suffixes of compressed files, kept with the suffix before them (``.map.gz`` → ``MAP.GZ``).
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")


@dataclass(frozen=True)
class Facts:
    """A file's format, dimensions and pixel size as shown, and sort keys for the dimensions."""

    format: str
    dimensions: str = ""
    pixel: str = ""
    #: Number of pixels (voxels) in the file, for sorting by dimensions; 0 when unknown.
    voxels: int = 0
    #: The pixel size in ångström (the first axis), for sorting; None when unknown.
    pixel_A: float | None = None


def suffix_format(path: str) -> str:
    """The format a file's name suggests: its suffix in capitals (``TIFF``, ``MAP.GZ``), or empty text."""
    name = path.rsplit("/", 1)[-1].lower()
    parts = name.split(".")
    if len(parts) < 2 or not parts[-1]:
        return ""
    if "." + parts[-1] in _COMPRESSED and len(parts) > 2:
        return f"{parts[-2]}.{parts[-1]}".upper()
    return parts[-1].upper()


def _dims(mrc: Mapping[str, Any]) -> tuple[str, int]:
    dims = [d for d in mrc.get("dimensions") or () if isinstance(d, int)]
    if not dims:
        return "", 0
    voxels = 1
    for d in dims:
        voxels *= d
    kind = mrc.get("kind")
    if kind == "image" and len(dims) == 3 and dims[2] == 1:
        dims = dims[:2]
    text = " × ".join(f"{d:,}" for d in dims)
    if kind == "image-stack" and len(dims) == 3:
        text = f"{dims[0]:,} × {dims[1]:,}, {dims[2]:,} images"
    return text, voxels


def facts(f: ManifestFile, technique: str | None) -> Facts:
    """The format, dimensions and pixel size of ``f`` (pixel sizes in ``technique``'s unit)."""
    headers = f.headers if isinstance(f.headers, Mapping) else {}
    kind = headers.get("type")
    mrc = headers.get("mrc") if isinstance(headers.get("mrc"), Mapping) else None
    acquisition = headers.get("acquisition") if isinstance(headers.get("acquisition"), Mapping) else {}
    if kind == "mrc" and mrc is not None:
        fmt = "MRC " + _MRC_KINDS.get(mrc.get("kind"), "file") if mrc.get("kind") else "MRC"
        if mrc.get("dtype"):
            fmt += f" ({mrc['dtype']})"
        dims, voxels = _dims(mrc)
        sizes = [v for v in mrc.get("voxel_size_A") or () if isinstance(v, int | float)]
        if mrc.get("kind") in ("image", "image-stack"):
            sizes = sizes[:2]  # (the third axis of a 2D image or stack is no length)
        return Facts(fmt, dims, pixel_size(sizes, technique), voxels, sizes[0] if sizes else None)
    fmt = _TYPES.get(kind or "", "") or suffix_format(f.path)
    dims, voxels = "", 0
    mdoc = headers.get("mdoc") if isinstance(headers.get("mdoc"), Mapping) else None
    if mdoc is not None:
        size = [d for d in mdoc.get("image_size") or () if isinstance(d, int)]
        if len(size) == 2:
            sections = mdoc.get("sections")
            dims = f"{size[0]:,} × {size[1]:,}" + (f", {sections:,} images" if isinstance(sections, int) else "")
            voxels = size[0] * size[1] * (sections if isinstance(sections, int) else 1)
    pixel = acquisition.get("pixel_size_A")
    pixel = pixel if isinstance(pixel, int | float) and not isinstance(pixel, bool) else None
    return Facts(fmt, dims, pixel_size(pixel, technique), voxels, pixel)
