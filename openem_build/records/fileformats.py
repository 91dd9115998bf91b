"""File formats of a manifest's files: the format and media type a path names, and which files of a manifest an image
set holds."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from itertools import compress, repeat
from operator import attrgetter
from types import MappingProxyType

# (parse, the limits and the strict JSON reader are defined with the file format and named here too)
from .model import Manifest

#: File-name endings of each image-set format (dataset.schema.json, data.image_sets[].format).
FORMAT_EXTENSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "mrc": (".mrc",), "mrcs": (".mrcs",), "map": (".map",), "rec": (".rec",), "st": (".st",),
    "tiff": (".tiff", ".tif"), "tif": (".tif", ".tiff"), "eer": (".eer",), "dm3": (".dm3",), "dm4": (".dm4",),
    "em": (".em",), "ser": (".ser",), "emd": (".emd",), "hdf5": (".h5", ".hdf5", ".hdf", ".he5"),
    "zarr": (".zarr",), "ome-zarr": (".ome.zarr",), "ome-tiff": (".ome.tif", ".ome.tiff"), "png": (".png",),
    "jpeg": (".jpg", ".jpeg"), "star": (".star",), "mdoc": (".mdoc",), "xml": (".xml",), "cbf": (".cbf",),
    "smv": (".smv", ".img"), "img": (".img",), "spe": (".spe",),
})


#: Media types of the formats that have one (IANA, or in common use); the rest are application/octet-stream.
MEDIA_TYPES: Mapping[str, str] = MappingProxyType({
    "tiff": "image/tiff", "tif": "image/tiff", "ome-tiff": "image/tiff", "png": "image/png", "jpeg": "image/jpeg",
    "xml": "application/xml", "hdf5": "application/x-hdf5", "emd": "application/x-hdf5", "star": "text/plain",
    "mdoc": "text/plain",
})


#: Formats whose unit is a folder (``x.zarr/…``) rather than a file.
FOLDER_FORMATS = frozenset({"zarr", "ome-zarr"})


_COMPRESSION = (".gz", ".bz2", ".xz", ".zst")


_GUESS_ORDER = ("ome-tiff", "ome-zarr", "zarr", "mrc", "mrcs", "map", "rec", "st", "tiff", "tif", "eer", "dm3",
                "dm4", "em", "ser", "emd", "hdf5", "png", "jpeg", "star", "mdoc", "xml", "cbf", "smv", "spe")


_EXACT = {".tif": "tif", ".tiff": "tiff", ".img": "img"}


def _plain(name: str) -> str:
    """A file name, lower-cased and without a compression suffix (``a.mrc.bz2`` → ``a.mrc``)."""
    name = name.lower()
    for suffix in _COMPRESSION:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def format_of(path: str) -> str:
    """The image-set format a file belongs to, from its name ('other' when unknown)."""
    parts = path.split("/")
    for part in parts[:-1]:
        if part.lower().endswith(".zarr"):
            return "ome-zarr" if part.lower().endswith(".ome.zarr") else "zarr"
    name = _plain(parts[-1])
    for suffix, fmt in _EXACT.items():
        if name.endswith(suffix) and not name.endswith((".ome.tif", ".ome.tiff")):
            return fmt
    for fmt in _GUESS_ORDER:
        if fmt not in FOLDER_FORMATS and name.endswith(FORMAT_EXTENSIONS[fmt]):
            return fmt
    return "other"


def media_type(path: str) -> str:
    """The media type of a data file, from its name; compressed files are what compresses them."""
    name = path.lower()
    for suffix, kind in ((".gz", "application/gzip"), (".bz2", "application/x-bzip2"), (".xz", "application/x-xz"),
                         (".zst", "application/zstd")):
        if name.endswith(suffix):
            return kind
    if name.endswith((".txt", ".md")):
        return "text/plain"
    if name.endswith(".json"):
        return "application/json"
    return MEDIA_TYPES.get(format_of(path), "application/octet-stream")


def _inside(paths: Sequence[str], directory: str, ordered: bool = False) -> list[str]:
    """The paths in ``directory`` (recursively; all for '' or '.') or equal to it, in their order. ``ordered``:
    ``paths`` are sorted, so those are found by bisection."""
    directory = directory.strip("/")
    if directory in ("", "."):
        return list(paths)
    prefix = directory + "/"
    if not ordered:
        return [p for p in paths if p == directory or p.startswith(prefix)]
    same = paths[bisect_left(paths, directory):bisect_right(paths, directory)]
    return [*same, *paths[bisect_left(paths, prefix):bisect_left(paths, directory + "0")]]  # ('0' follows '/')


#: What a file name of each format ends with, lower-cased: an extension, maybe compressed (as ``_plain``; no
#: extension ends with a compression suffix, so "ends with ext + suffix" is "_plain(name) ends with ext").
_SUFFIXES = {fmt: tuple(ext + c for ext in exts for c in ("", *_COMPRESSION))
             for fmt, exts in FORMAT_EXTENSIONS.items()}


def _members(inside: list[str], fmt: str | None) -> list[str]:
    """:func:`set_members` of the paths ``inside`` the set's directory."""
    if fmt in FOLDER_FORMATS:
        roots, under = set(), None
        for path in inside:
            if under and path.startswith(under):  # in the folder of an earlier file: its root too
                continue
            parts = path.split("/")
            for i, part in enumerate(parts[:-1]):
                if part.lower().endswith(FORMAT_EXTENSIONS[fmt]):
                    root = "/".join(parts[: i + 1])
                    roots.add(root)
                    under = root + "/"
                    break
        return sorted(roots)
    if fmt not in FORMAT_EXTENSIONS:
        return inside
    # (the suffixes hold no '/': a path ends with one if its name does)
    suffixes = _SUFFIXES[fmt]
    hits = list(map(str.endswith, inside, repeat(suffixes)))
    if not all(hits):  # names in capitals, or files of other formats
        hits = list(map(str.endswith, map(str.lower, inside), repeat(suffixes)))
    return list(compress(inside, hits))


def set_members(manifest: Manifest, directory: str, fmt: str | None) -> list[str]:
    """What an image set counts: files under ``directory`` (recursively) in format ``fmt``, or for zarr formats
    the ``*.zarr`` folders; every file under it for 'other' or an unknown format."""
    return _members(_inside(list(map(attrgetter("path"), manifest.files)), directory), fmt)


def is_member(path: str, fmt: str | None) -> bool:
    """Whether a file at ``path`` is one of an image set of format ``fmt`` (as :func:`set_members` counts files;
    the files inside a folder format's folders are not)."""
    if fmt in FOLDER_FORMATS:
        return False
    return fmt not in FORMAT_EXTENSIONS or path.lower().endswith(_SUFFIXES[fmt])


def sorted_members(paths: Sequence[str], directory: str, fmt: str | None) -> list[str]:
    """:func:`set_members` among sorted ``paths``, found by bisection (many sets cost no more than their files)."""
    return _members(_inside(paths, directory, ordered=True), fmt)


def _groups(members: Sequence[str], directory: str) -> int:
    """How many sub-folders of ``directory`` the members spread over (a tilt series per folder, say)."""
    depth = 0 if directory.strip("/") in ("", ".") else directory.strip("/").count("/") + 1
    return len({"/".join(p.split("/")[: depth + 1]) for p in members if p.count("/") > depth})
