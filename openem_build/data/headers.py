"""One entry point for what files say about themselves: ``extract(path)`` dispatches on the file type: MRC,
compressed or not (:mod:`.mrc`), SerialEM mdoc (:mod:`.mdoc`), EPU XML (:mod:`.epu`), DM3/DM4, Velox EMD, TIA
SER/EMI and BCF (:mod:`.rsciio`, RosettaSciIO), TIFF and EER (:mod:`.tiff`, tifffile; vendor TIFFs through
RosettaSciIO). Every image format also gives an ``image`` block: dimensions (x first), data type and ``kind``
(one of :data:`IMAGE_KINDS`).

The result is JSON-serialisable (it goes into ``manifest.json`` as a file's ``headers``) and never an
exception: a damaged file gives what could be read plus problem strings. Every type that knows something
about the acquisition puts it under ``acquisition`` with the catalogue's units and field names
(``acceleration_voltage_kV``, ``pixel_size_A``, ``magnification``, …), so cross-checks and ``openem add``
read all types alike.

What a manifest may record is ``schema/headers.schema.json``: every fact with its type and a sane range
(dimensions of 1 to 10⁷ pixels whose product is bounded, voxel sizes from 10⁻⁴ Å to 1 mm, one-line text of
bounded length, …). :func:`problems` checks a manifest's headers against it (validation, so that whatever
validates can be built), and :func:`sanitise` leaves out of extracted headers every fact a file states outside
it (so that whatever ``openem manifest`` writes validates).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from . import epu, header_types, mdoc, mrc, rsciio, tiff

TYPES = ("mrc", "mdoc", "epu", "xml", "dm", "emd", "tia", "bcf", "tiff", "eer", "unknown")
#: What the data of a file are (the ``image`` block's ``kind``).
IMAGE_KINDS = ("image", "image-stack", "spectrum", "spectrum-image", "volume", "tilt-series", "movie")
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
    if mrc.is_mrc(path):
        return "mrc"
    if suffix in (".tif", ".tiff"):
        return "tiff"
    if suffix == ".eer":
        return "eer"
    if suffix in rsciio.TYPES:
        return rsciio.TYPES[suffix]
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
        elif kind in ("tiff", "eer"):
            data, problems = tiff.extract(path)
        elif kind in ("dm", "emd", "tia", "bcf"):
            data, problems = rsciio.extract(path)
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
    """Adapter for ``manifest.from_repo(read_headers=…)``: compact header facts (see :func:`compact`) within the
    ranges a manifest may record (see :func:`sanitise`), None for files of unknown type."""
    if file_type(path) == "unknown":
        return None
    return sanitise(compact(extract(path).as_json()))


def as_metadata(value: FileMetadata | Mapping[str, Any] | None) -> FileMetadata | None:
    """Accept either form (object or its JSON, as stored in a manifest)."""
    if value is None or isinstance(value, FileMetadata):
        return value
    return FileMetadata.from_json(value)


# ------------------------------------------------------------------------------------------ what a manifest holds

SCHEMA = "headers"
#: The most voxels the dimensions of one file may multiply to (a 100,000 × 100,000 × 100,000 volume).
MAX_VOXELS = 10**15
#: Problems reported per headers object before the rest is summarised.
MAX_REPORTED = 5
_SECTIONS = frozenset({"mrc", "mdoc", "epu", "xml", "acquisition", "image", "eer"})
#: Characters no one-line text of a manifest or previews.json may hold: controls, invisible and bidirectional ones.
UNCLEAN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ud800-\udfff\ufeff\ufdd0-\ufdef"
                     "\ufffe\uffff]")
Pointer = tuple[str | int, ...]


@cache
def _schema() -> dict[str, Any]:
    from ..records.validate import schema

    return schema(SCHEMA)


@cache
def _validator() -> Any:
    """jsonschema, which explains what is wrong (every error, with its pointer): :func:`is_valid` only says
    whether, and is what valid facts (nearly all) cost."""
    import jsonschema

    return jsonschema.Draft202012Validator(_schema())


def _voxels(value: Mapping[str, Any], section: str = "mrc") -> int:
    """How many voxels the dimensions of ``section`` (MRC header, image block) multiply to (0 when none)."""
    header = value.get(section)
    dims = header.get("dimensions") if isinstance(header, dict) else None
    return math.prod(dims) if isinstance(dims, list) and dims else 0


def _largest(value: Mapping[str, Any]) -> tuple[str, int]:
    """The section whose dimensions multiply to the most voxels, and how many."""
    return max((("mrc", _voxels(value, "mrc")), ("image", _voxels(value, "image"))), key=lambda x: x[1])


def is_valid(value: Any) -> bool:
    """Whether ``value`` may be the headers of a manifest's file entry (fast: the compiled types of
    :mod:`.header_types`, then the voxel bound no type can say; no message is made)."""
    return header_types.fits(value) and _largest(value)[1] <= MAX_VOXELS


def all_valid(values: list[Any]) -> bool:
    """Whether every one of ``values`` may be the headers of a file entry (one msgspec call for them all)."""
    return header_types.all_fit(values) and all(_largest(v)[1] <= MAX_VOXELS for v in values)


def brief(value: Any) -> str:
    """A short rendering of a value for a message (containers are described, never printed whole)."""
    if isinstance(value, dict):
        return f"an object of {len(value)} field{'s' * (len(value) != 1)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}"
    if isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)):
        text = repr(value)  # (control characters escaped)
    else:
        text = json.dumps(value)
    return text if len(text) <= 60 else text[:59] + "…"


_KINDS = {"string": "text", "object": "an object", "array": "a list", "integer": "a whole number",
          "number": "a number", "boolean": "true or false", "null": "null"}


def _range(sub: Mapping[str, Any]) -> str:
    lo = sub.get("minimum", sub.get("exclusiveMinimum"))
    hi = sub.get("maximum")
    above = "above" if "exclusiveMinimum" in sub else "from"
    if lo is not None and hi is not None:
        return f"{above} {lo:g} to {hi:g}" if isinstance(lo, float) or isinstance(hi, float) or abs(hi) > 1e12 \
            else f"{above} {lo:,} to {hi:,}"
    return f"at least {lo:g}" if lo is not None else f"at most {hi:g}"


def _explain(error: Any) -> Iterator[tuple[Pointer, str, bool]]:
    """(pointer within the headers, message, whether the pointer names a key) for one jsonschema error."""
    pointer: Pointer = tuple(error.absolute_path)
    kind, sub, inst = error.validator, error.schema, error.instance
    if kind == "additionalProperties":
        known = sorted(sub.get("properties", {}))
        for extra in sorted(set(inst) - set(known)):
            yield (*pointer, extra), f"unknown header fact '{extra}' (known here: {', '.join(known)})", True
    elif kind == "type":
        want = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        yield pointer, f"must be {' or '.join(_KINDS[w] for w in want)}, not {brief(inst)}", False
    elif kind == "enum":
        options = ", ".join("null" if o is None else str(o) for o in error.validator_value)
        yield pointer, f"{brief(inst)} is not one of {options}", False
    elif kind in ("minimum", "maximum", "exclusiveMinimum"):
        yield pointer, f"{brief(inst)} is out of range: it must be {_range(sub)}", False
    elif kind in ("minItems", "maxItems"):
        rel = "at least" if kind == "minItems" else "at most"
        yield pointer, f"has {len(inst)} items; it must have {rel} {error.validator_value}", False
    elif kind in ("minLength", "maxLength"):
        rel = "at least" if kind == "minLength" else "at most"
        yield pointer, f"is {len(inst)} characters long; it must be {rel} {error.validator_value}", False
    elif kind == "pattern":
        bad = UNCLEAN.search(inst) if isinstance(inst, str) else None
        yield pointer, (f"contains the character U+{ord(bad.group()):04X} (control, invisible or bidirectional)"
                        if bad else f"{brief(inst)} is not in the expected form"), False
    elif kind == "anyOf":
        yield pointer, f"must be one line of text (at most 300 characters) or null, not {brief(inst)}", False
    else:
        yield pointer, f"{brief(inst)} is not valid here ({kind})", False


def problems(value: Any) -> list[tuple[Pointer, str, bool]]:
    """What is wrong with the headers ``value`` of a manifest's file entry: (pointer within it, message, whether
    the pointer names a key), at most :data:`MAX_REPORTED`; empty when it is valid."""
    if is_valid(value):
        return []
    out: list[tuple[Pointer, str, bool]] = []
    for error in islice(_validator().iter_errors(value), MAX_REPORTED):
        out += _explain(error)
    if not out:  # (valid for the schema: the dimensions multiply to too many voxels)
        section, voxels = _largest(value)
        out.append(((section, "dimensions"), f"the dimensions multiply to {voxels:.3g} voxels, more than "
                                             f"{MAX_VOXELS:.0e}", False))
    return out[:MAX_REPORTED]


def _clean(text: str, limit: int) -> str:
    text = UNCLEAN.sub("\ufffd", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sanitise(value: Mapping[str, Any]) -> dict[str, Any] | None:
    """Extracted headers within what a manifest may record: problem strings made one clean line of bounded
    length, and every fact outside its type or range left out (with a problem saying so). None when nothing
    is left."""
    out = json.loads(json.dumps(value, allow_nan=True, default=str))  # a private, plain copy
    notes = [_clean(str(p), 1000) for p in out.get("problems") or []] if isinstance(out, dict) else []
    if not isinstance(out, dict):
        return None
    for _ in range(20):  # (each round leaves out at least one fact)
        out.pop("problems", None)
        if is_valid(out):
            break
        dropped = False
        for error in islice(_validator().iter_errors(out), 50):
            path = list(error.absolute_path)
            if error.validator == "additionalProperties":
                extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
                path += extras[:1]
            where = path[:2] if path and path[0] in _SECTIONS and len(path) > 1 else path[:1]
            if not where:
                continue
            parent = out if len(where) == 1 else out.get(where[0])
            if isinstance(parent, dict) and where[-1] in parent:
                shown = brief(parent.pop(where[-1]))
                notes.append(f"header fact {'.'.join(map(str, where))} ({shown}) is out of the range a manifest "
                             "records; left out")
                dropped = True
        section, voxels = _largest(out)
        if not dropped and voxels > MAX_VOXELS:
            out[section].pop("dimensions")
            notes.append(f"header fact {section}.dimensions multiplies to more than {MAX_VOXELS:.0e} voxels; left "
                         "out")
        elif not dropped:
            return None
    for section in _SECTIONS:
        if out.get(section) == {}:
            out.pop(section)
    if notes:
        out["problems"] = notes[:99] + ([f"and {len(notes) - 99} more problems"] if len(notes) > 99 else [])
    return out if is_valid(out) and out else None
