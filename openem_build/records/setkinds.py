"""What an image set holds, from its files and its text: the data type its MRC headers state, the bit depth its
text claims, and whether its files are atomic models, reflection files or coordinates rather than images.

:func:`check` (called by the loader, like the header cross-check) reports, located at the YAML line:

* ``data_type`` that differs from the MRC headers' data type (mode) of the set's files;
* a name or ``details`` that states a bit depth or data type the set's data type contradicts (``16-bit`` of an
  ``uint8`` set);
* a category that says images or volumes of model, MTZ or coordinate files (atomic models are not reconstructed
  volumes; particle or filament coordinates are not acquisition metadata).

:func:`empiar_category` gives the EMPIAR category such files take (EMPIAR has none of its own for them).
Pure functions: nothing here reads files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .problems import ERROR, Problem
from .yamlsafe import Located, Pointer, lookup

#: Bits per value of each data type (OpenEM ``data_type`` and the MRC headers' ``dtype``).
BITS = {"bit": 1, "uint4": 4, "int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "float16": 16, "int32": 32,
        "uint32": 32, "float32": 32, "complex int16": 32, "complex64": 64}
FLOATS = {"float16", "float32", "complex64"}
#: Bit depths a file can store values in: other numbers ("a 12-bit camera") say nothing about the files.
_STORED_BITS = {1, 4, 8, 16, 32, 64}
_BIT_TEXT = re.compile(r"\b(\d{1,2})[\s-]?bits?\b", re.IGNORECASE)
_DTYPE_TEXT = re.compile(r"\b(u?int(?:8|16|32)|float(?:16|32))\b", re.IGNORECASE)
_FLOAT_TEXT = re.compile(r"\bfloat(?:ing[\s-]point)?\b|\breal[\s-]valued\b", re.IGNORECASE)
_INTEGER_TEXT = re.compile(r"\b(?:un)?signed\b|\binteger\b", re.IGNORECASE)

#: File name endings of atomic models, reflection files and particle/filament coordinates.
MODEL_FILES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif")
REFLECTION_FILES = (".mtz", ".hkl", ".sf")
COORDINATE_FILES = (".box", ".cbox", ".coord", ".coords", ".pick", ".spi.pick")
_ALL_FILES = MODEL_FILES + REFLECTION_FILES + COORDINATE_FILES
_MODEL_TEXT = re.compile(r"\b(?:pdbx|mmcif|atomic\s+models?|pdb\s+models?|refined\s+models?)\b", re.IGNORECASE)
_REFLECTION_TEXT = re.compile(r"\b(?:mtz|map\s+coefficients|structure\s+factors)\b", re.IGNORECASE)
_COORDINATE_TEXT = re.compile(r"(?<!stage )\b(?:coordinates|picks|picked\s+particles|particle\s+positions)\b",
                              re.IGNORECASE)
#: Formats of images or volumes: a set of them holds images whatever its text mentions.
IMAGE_FORMATS = {"mrc", "mrcs", "map", "rec", "st", "tiff", "tif", "ome-tiff", "eer", "dm3", "dm4", "em", "ser",
                 "emd", "zarr", "ome-zarr", "png", "jpeg", "cbf", "smv", "img", "spe"}
#: Categories of images or volumes (and 'metadata', which EMPIAR calls acquisition metadata).
_IMAGE_CATEGORIES = {"movies", "micrographs", "particles", "class-averages", "tilt-series", "tomograms",
                     "subtomograms", "maps", "masks", "diffraction-images", "volume-images", "montages"}


def kind(image_set: Mapping[str, Any], paths: Sequence[str] = ()) -> str | None:
    """'models', 'reflections', 'models and reflections' or 'coordinates' when the set holds such files (by
    their names, else for a set not of an image format by its name and details); None for images."""
    # (one test of each name against every suffix first: most names are of none of the three kinds)
    names = [n for n in (p.lower() for p in paths) if n.endswith(_ALL_FILES)]
    models = any(n.endswith(MODEL_FILES) for n in names)
    reflections = any(n.endswith(REFLECTION_FILES) for n in names)
    coordinates = any(n.endswith(COORDINATE_FILES) for n in names)
    fmt = image_set.get("format")
    if not (models or reflections or coordinates) and not (isinstance(fmt, str) and fmt in IMAGE_FORMATS):
        text = " ".join(v for v in (image_set.get("name"), image_set.get("details")) if isinstance(v, str))
        models, reflections = bool(_MODEL_TEXT.search(text)), bool(_REFLECTION_TEXT.search(text))
        coordinates = bool(_COORDINATE_TEXT.search(text)) and not (models or reflections)
    if models and reflections:
        return "models and reflections"
    return "models" if models else "reflections" if reflections else "coordinates" if coordinates else None


#: EMPIAR's 'other' category of each kind of non-image file.
EMPIAR_OTHER = {"models": "atomic models", "reflections": "reflection files",
                "models and reflections": "atomic models and reflection files", "coordinates": "coordinates"}


def empiar_category(image_set: Mapping[str, Any], paths: Sequence[str]) -> tuple[str, str] | None:
    """The EMPIAR category ``('OT', what)`` of a set of models, reflections or coordinates; None for images."""
    found = kind(image_set, paths)
    return ("OT", EMPIAR_OTHER[found]) if found else None


def header_dtypes(files: Iterable[Any]) -> list[str]:
    """The data types the MRC headers of ``files`` (manifest entries) state, sorted.

    Speed-up, measured (benchmarks/README.md, sixth round): the usual mappings recognised by their type before
    asking ``collections.abc`` (whose ``isinstance`` took most of the time), and each file name tested against
    all suffixes of :func:`kind` at once: the set checks of an entry 0.29 → 0.19 ms of CPU (~1 s at N = 10,000)."""
    out = set()
    for f in files:
        headers = getattr(f, "headers", None)
        mrc = headers.get("mrc") if _is_mapping(headers) else None
        if _is_mapping(mrc) and isinstance(mrc.get("dtype"), str):
            out.add(mrc["dtype"])
    return sorted(out)


def _is_mapping(value: object) -> bool:
    return type(value) in _MAPPINGS or (value is not None and isinstance(value, Mapping))


_MAPPINGS = (dict, MappingProxyType)


def text_contradiction(text: str, dtype: str) -> str | None:
    """What ``text`` claims about the values that data type ``dtype`` contradicts ('16-bit'), or None."""
    named = {m.lower() for m in _DTYPE_TEXT.findall(text)}
    if named:  # (a text naming the data type itself may mention other depths: "16-bit movies, float32 maps")
        return None if dtype in named else "/".join(sorted(named))
    bits = {int(b) for b in _BIT_TEXT.findall(text)} & _STORED_BITS
    if bits and BITS.get(dtype) not in bits:
        return "/".join(f"{b}-bit" for b in sorted(bits))
    if dtype in BITS and dtype not in FLOATS and _FLOAT_TEXT.search(text) and not _INTEGER_TEXT.search(text):
        return "floating point"
    if dtype in FLOATS and _INTEGER_TEXT.search(text) and not _FLOAT_TEXT.search(text):
        return "integer"
    return None


def check(doc: Located, manifest: Any, path: str) -> list[Problem]:
    """Every image set's data type against its MRC headers and its text, and its category against its files."""
    from .manifest import sorted_members

    data = doc.data if isinstance(doc.data, Mapping) else {}
    sets = lookup(data, "data", "image_sets")
    files = list(getattr(manifest, "files", ()) or ()) if manifest is not None else []
    by_path = {f.path: f for f in files}
    paths = sorted(by_path)
    out: list[Problem] = []

    def add(pointer: Pointer, message: str, hint: str) -> None:
        line, col = doc.where(pointer)
        field = "data.image_sets" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in pointer[2:])
        out.append(Problem(path, line, col, field, message, hint, ERROR))

    for i, s in enumerate(sets if isinstance(sets, list) else []):
        if not isinstance(s, Mapping) or not isinstance(s.get("directory"), str):
            continue
        here: Pointer = ("data", "image_sets", i)
        fmt = s.get("format") if isinstance(s.get("format"), str) else None
        members = sorted_members(paths, s["directory"], fmt) if paths else []
        declared = s.get("data_type") if isinstance(s.get("data_type"), str) else None
        in_headers = header_dtypes(by_path[p] for p in members if p in by_path)
        if declared and in_headers and declared not in in_headers:
            add((*here, "data_type"), f"says {declared}, but the MRC headers of the set's files say "
                f"{' and '.join(in_headers)}", f"write `data_type: {in_headers[0]}` (what EMPIAR and the pages "
                "take from the headers)" if len(in_headers) == 1 else "split the set into one per data type")
        dtype = in_headers[0] if len(in_headers) == 1 else declared
        if dtype:
            source = "its MRC headers say" if in_headers else "its data_type is"
            for key in ("details", "name"):
                text = s.get(key)
                claim = text_contradiction(text, dtype) if isinstance(text, str) else None
                if claim:
                    add((*here, key), f"says {claim}, but {source} {dtype} ({BITS.get(dtype, '?')}-bit"
                        f"{' floating point' if dtype in FLOATS else ' integer'})",
                        f"correct the {key} or data_type so that they agree")
        found = kind(s, members)
        category = s.get("category")
        if found and isinstance(category, str) and category in _IMAGE_CATEGORIES | {"metadata"}:
            what = {"models": "atomic models", "reflections": "reflection (MTZ) files",
                    "models and reflections": "atomic models and reflection (MTZ) files",
                    "coordinates": "particle or filament coordinates"}[found]
            called = "acquisition metadata" if category == "metadata" else f"'{category}' images or volumes"
            add((*here, "category"), f"is '{category}', but the set holds {what}, which are not {called}",
                "write `category: other` (EMPIAR files them as other, named by what they are)")
    return out
