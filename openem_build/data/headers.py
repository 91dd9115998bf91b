"""One entry point for what files say about themselves: ``extract(path)`` dispatches on the file type.

The result is JSON-serialisable (it goes into ``manifest.json`` as a file's ``headers``) and never an
exception: a damaged file gives what could be read plus problem strings. Every type that knows something
about the acquisition puts it under ``acquisition`` with the catalogue's units and field names
(``acceleration_voltage_kV``, ``pixel_size_A``, ``magnification``, …), so cross-checks and ``openem add``
read all types alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import epu, mdoc, mrc

TYPES = ("mrc", "mdoc", "epu", "xml", "unknown")
#: What a manifest keeps of the MRC header of a 2D image or image stack (micrographs, movies: thousands of files
#: per dataset). Volumes (maps, tomograms: a few files) keep the whole header.
COMPACT_MRC = ("dimensions", "kind", "mode", "dtype", "voxel_size_A")


@dataclass(frozen=True)
class FileMetadata:
    """What one file says: ``type``, JSON-serialisable ``data`` and human-readable ``problems``."""

    type: str
    data: Mapping[str, Any]
    problems: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """``{"type": …, **data, "problems": […]}`` (problems only when there are some)."""
        out: dict[str, Any] = {"type": self.type, **self.data}
        if self.problems:
            out["problems"] = list(self.problems)
        return out

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> FileMetadata:
        data = {k: v for k, v in value.items() if k not in ("type", "problems")}
        return cls(str(value.get("type", "unknown")), data, tuple(value.get("problems") or ()))

    @property
    def acquisition(self) -> Mapping[str, Any]:
        """Normalised acquisition values (voltage, pixel size, …), empty when the file states none."""
        return self.data.get("acquisition") or {}


def file_type(path: Path) -> str:
    """The type ``extract`` reads a file as, from its name."""
    suffix = path.suffix.lower()
    if suffix in mrc.SUFFIXES:
        return "mrc"
    if suffix == ".mdoc":
        return "mdoc"
    if suffix == ".xml":
        return "xml"  # ``epu`` once the root element says MicroscopeImage
    return "unknown"


def extract(path: Path) -> FileMetadata:
    """Metadata of one file; never raises (an unexpected failure becomes a problem string)."""
    kind = file_type(path)
    try:
        if kind == "mrc":
            data, problems = mrc.extract(path)
        elif kind == "mdoc":
            data, problems = mdoc.extract(path)
        elif kind == "xml":
            data, problems, kind = epu.extract(path)
        else:
            data, problems = {"size_bytes": os.stat(path).st_size}, []
    except Exception as exc:  # a damaged file must never stop a listing
        return FileMetadata(kind, {}, (f"could not be read: {type(exc).__name__}: {exc}",))
    return FileMetadata(kind, data, tuple(problems))


def compact(value: Mapping[str, Any]) -> dict[str, Any]:
    """The header facts a manifest keeps: for MRC images and image stacks only :data:`COMPACT_MRC`, the
    extended-header type when there is one, the acquisition values and the problems (a manifest of ten thousand
    movies stays near 2 MB instead of 7); everything else unchanged."""
    out = dict(value)
    header = out.get("mrc")
    if isinstance(header, Mapping) and header.get("kind") in ("image", "image-stack"):
        kept = {k: header[k] for k in COMPACT_MRC if k in header}
        ext = header.get("extended_header")
        if isinstance(ext, Mapping) and ext.get("type"):
            kept["extended_header"] = dict(ext)
        if header.get("axis_order") not in (None, "XYZ"):
            kept["axis_order"] = header["axis_order"]
        out["mrc"] = kept
    return out


def read_headers(relative: str, path: Path) -> dict[str, Any] | None:
    """Adapter for ``manifest.from_repo(read_headers=…)``: compact header facts (see :func:`compact`), None for
    files of unknown type."""
    if file_type(path) == "unknown":
        return None
    return compact(extract(path).as_json())


def as_metadata(value: FileMetadata | Mapping[str, Any] | None) -> FileMetadata | None:
    """Accept either form (object or its JSON, as stored in a manifest)."""
    if value is None or isinstance(value, FileMetadata):
        return value
    return FileMetadata.from_json(value)
