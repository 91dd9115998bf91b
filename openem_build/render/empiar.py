"""EMPIAR deposition requests: the JSON that EMPIAR's deposition API (and ``empiar-depositor``) takes.

:func:`deposition` fills every field EMPIAR's schema knows from the dataset's YAML, its manifest (file counts
per image-set directory) and the file headers extracted into the manifest (dimensions, pixel size, data
type). What EMPIAR requires and the entry lacks comes back as error :class:`~openem_build.records.problems.Problem`
values naming the YAML field to add; a technique EMPIAR takes no data of is refused with one plain message.
Either way no deposition is returned, so no half-filled file is ever written.

Pure functions of ``(SiteContext, Dataset)``: nothing here reads files, the network or the clock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ..infra import jsontext
from ..infra.context import SiteContext
from ..records import setkinds
from ..records.model import Dataset, ImageSet, Manifest, ManifestFile
from ..records.problems import WARNING, Problem
from .empiar_people import _EMPIAR_DOI as _EMPIAR_DOI
from .empiar_people import _NAME_FORBIDDEN as _NAME_FORBIDDEN
from .empiar_people import _affiliation_place as _affiliation_place
from .empiar_people import _author as _author
from .empiar_people import _citation as _citation
from .empiar_people import _corresponding as _corresponding
from .empiar_people import _country as _country
from .empiar_people import _doi as _doi
from .empiar_people import _family_given as _family_given
from .empiar_people import _person_fields as _person_fields
from .empiar_people import _principal_investigators as _principal_investigators
from .empiar_people import _safe as _safe
from .empiar_people import citation_authors as citation_authors
from .empiar_people import errors as errors
from .empiar_people import initials as initials
from .empiar_people import orcid_ok as orcid_ok
from .empiar_people import primary_publication as primary_publication
from .empiar_people import problem as problem
from .empiar_people import tuple_code as tuple_code
from .pixelsize import set_pixel
from .registry import Artefact, per_dataset

JSON_TYPE = "application/json"
LABEL = "EMPIAR deposition (JSON)"

#: OpenEM technique → EMPIAR experiment_type (EMPIAR's enum: 3 raw data of structures in EMDB, 4 SBF-SEM,
#: 5 FIB-SEM, 9 MicroED, 11 ATUM-SEM, 13 ssET …). Techniques missing here have no EMPIAR type.
EXPERIMENT_TYPES: dict[str, int] = {
    "single-particle": 3,
    "helical": 3,
    "subtomogram-averaging": 3,
    "tomography": 3,
    "2d-crystallography": 3,
    "microed": 9,
    "sbf-sem": 4,
    "fib-sem": 5,
}

#: Why a technique cannot go to EMPIAR, in words a depositor understands.
REFUSALS: dict[str, str] = {
    "array-tomography": "array tomography of sections on wafers or slides has no EMPIAR experiment type (its "
                        "volume-EM types are SBF-SEM, FIB-SEM, ATUM-SEM and serial-section electron tomography)",
    "tem": "EMPIAR takes no stand-alone transmission electron micrographs: its experiment types cover data behind "
           "EMDB structures, volume EM, MicroED and correlative imaging",
    "stem": "EMPIAR takes no stand-alone STEM images: its experiment types cover data behind EMDB structures, "
            "volume EM, MicroED and correlative imaging",
    "sem": "EMPIAR takes no surface SEM images: its experiment types cover data behind EMDB structures, volume EM "
           "(SBF-SEM, FIB-SEM, ATUM-SEM), MicroED and correlative imaging",
    "edx": "EMPIAR takes no EDX spectra or spectrum images: it archives electron-microscopy images of biological "
           "structures",
    "eels": "EMPIAR takes no EELS spectra or spectrum images: it archives electron-microscopy images of biological "
            "structures",
}

#: OpenEM image-set category → EMPIAR category code (second element only for 'OT', other).
CATEGORIES: dict[str, tuple[str, str]] = {
    "movies": ("T2", ""),  # micrographs - multiframe
    "micrographs": ("T1", ""),  # micrographs - single frame
    "particles": ("T7", ""),  # picked particles - single frame - processed (extracted, normalised stacks)
    "class-averages": ("T10", ""),
    "tilt-series": ("T9", ""),
    "tomograms": ("T13", ""),  # reconstructed volumes
    "subtomograms": ("T14", ""),
    "maps": ("T13", ""),
    "masks": ("OT", "masks"),
    "diffraction-images": ("T12", ""),
    "volume-images": ("T13", ""),
    "montages": ("T11", ""),  # stitched maps
    "segmentations": ("OT", "segmentations"),
    "spectra": ("OT", "spectra"),
    "metadata": ("OT", "acquisition metadata"),
    "other": ("OT", "other"),
}

#: OpenEM file format → (EMPIAR header_format, EMPIAR data_format). The two lists differ only at T8
#: (header XML, data BigDataViewer HDF5).
FORMATS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "mrc": (("T1", ""), ("T1", "")),
    "map": (("T1", ""), ("T1", "")),
    "rec": (("T1", ""), ("T1", "")),
    "st": (("T1", ""), ("T1", "")),
    "mrcs": (("T2", ""), ("T2", "")),
    "tiff": (("T3", ""), ("T3", "")),
    "tif": (("T3", ""), ("T3", "")),
    "ome-tiff": (("T3", ""), ("T3", "")),
    "dm3": (("T5", ""), ("T5", "")),
    "dm4": (("T6", ""), ("T6", "")),
    "xml": (("T8", ""), ("OT", "XML")),
    "eer": (("T9", ""), ("T9", "")),
    "png": (("T10", ""), ("T10", "")),
    "jpeg": (("T11", ""), ("T11", "")),
    "smv": (("T12", ""), ("T12", "")),
    "em": (("T13", ""), ("T13", "")),
}
#: Formats EMPIAR has no code for: named in capitals as its 'OT' (other) entries want.
OTHER_FORMATS = {"ser": "SER", "emd": "EMD", "hdf5": "HDF5", "zarr": "ZARR", "ome-zarr": "OME ZARR",
                 "star": "STAR", "mdoc": "MDOC", "cbf": "CBF", "img": "IMG", "spe": "SPE", "other": "OTHER"}

#: Data type (OpenEM ``data_type`` and the MRC header's ``dtype``) → EMPIAR voxel_type.
VOXEL_TYPES: dict[str, tuple[str, str]] = {
    "uint8": ("T1", ""), "int8": ("T2", ""), "uint16": ("T3", ""), "int16": ("T4", ""), "uint32": ("T5", ""),
    "int32": ("T6", ""), "float32": ("T7", ""), "bit": ("T8", ""), "uint4": ("T9", ""),
    "float16": ("OT", "16 BIT FLOAT"), "complex int16": ("OT", "COMPLEX 16 BIT INTEGER"),
    "complex64": ("OT", "COMPLEX 32 BIT FLOAT"),
}

#: Categories recorded at the acquisition's sampling, so acquisition.pixel_size_A applies to them.
_ACQUISITION_SAMPLED = {"movies", "micrographs", "tilt-series", "volume-images"}
#: Categories of single-frame images or volumes (one frame per image).
_SINGLE_FRAME = {"micrographs", "particles", "class-averages", "tomograms", "subtomograms", "maps", "masks",
                 "volume-images", "montages", "segmentations", "spectra", "metadata", "other",
                 "diffraction-images"}
#: File suffixes of each format, to count a set's files in the manifest.
_SUFFIXES = {"tiff": (".tif", ".tiff"), "tif": (".tif", ".tiff"), "ome-tiff": (".ome.tif", ".ome.tiff"),
             "jpeg": (".jpg", ".jpeg"), "hdf5": (".h5", ".hdf5", ".hdf"), "smv": (".img", ".smv")}

#: Formats of files that are not images (STAR, mdoc, XML tables …): no voxel type applies.
_NOT_IMAGES = {"star", "mdoc", "xml", "other"}


# ------------------------------------------------------------------------------------------------ messages


# ------------------------------------------------------------------------------------------------ names


# ------------------------------------------------------------------------------------------------ people


# ------------------------------------------------------------------------------------------------ citation


# ------------------------------------------------------------------------------------------------ image sets


def set_files(manifest: Manifest | None, image_set: ImageSet) -> list[ManifestFile]:
    """The manifest's files of one image set: under its directory, of its format when the names say so."""
    if manifest is None:
        return []
    prefix = image_set.directory.strip("/") + "/"
    inside = [f for f in getattr(manifest, "files", ()) if f.path.startswith(prefix)]
    suffixes = _SUFFIXES.get(image_set.format, (f".{image_set.format}",))
    typed = [f for f in inside if _uncompressed(f.path).endswith(suffixes)]
    return typed or inside


#: Compression suffixes of the files EMPIAR takes as they are (``.map.gz``, ``.mrc.bz2``), with their name in
#: a format label.
_COMPRESSIONS = {".gz": "GZIP", ".bz2": "BZIP2", ".xz": "XZ", ".zst": "ZSTD"}


def _uncompressed(path: str) -> str:
    """A file name, lower-cased, without its compression suffix."""
    name = path.lower()
    return next((name[: -len(s)] for s in _COMPRESSIONS if name.endswith(s)), name)


def compression_of(files: Iterable[ManifestFile]) -> str | None:
    """'GZIP', 'BZIP2', … when every file of a set is compressed that one way, else None."""
    found = {next((c for s, c in _COMPRESSIONS.items() if f.path.lower().endswith(s)), None) for f in files}
    return found.pop() if len(found) == 1 else None


def header_facts(files: Iterable[ManifestFile]) -> dict[str, Any]:
    """What the extracted MRC headers of a set's files agree on: dtype, dimensions, voxel size."""
    dtypes: Counter[str] = Counter()
    dims: Counter[tuple[int, ...]] = Counter()
    voxels: Counter[tuple[float | None, ...]] = Counter()
    for f in files:
        headers = getattr(f, "headers", None)
        mrc = headers.get("mrc") if isinstance(headers, Mapping) else None
        if not isinstance(mrc, Mapping):
            continue
        if mrc.get("dtype"):
            dtypes[str(mrc["dtype"])] += 1
        if isinstance(mrc.get("dimensions"), list | tuple):
            dims[tuple(mrc["dimensions"])] += 1
        if isinstance(mrc.get("voxel_size_A"), list | tuple):
            voxels[tuple(mrc["voxel_size_A"])] += 1
    out: dict[str, Any] = {"files_with_headers": sum(dtypes.values())}
    if len(dtypes) == 1:
        out["dtype"] = next(iter(dtypes))
    elif dtypes:
        out["dtypes"] = sorted(dtypes)
    if len(dims) == 1:
        out["dimensions"] = next(iter(dims))
    if len(voxels) == 1:
        out["voxel_size_A"] = next(iter(voxels))
    return out


def _tilts(d: Dataset) -> int | None:
    a = d.acquisition
    if a.tilt_range_deg and len(a.tilt_range_deg) == 2 and a.tilt_step_deg:
        span = abs(a.tilt_range_deg[1] - a.tilt_range_deg[0])
        n = span / a.tilt_step_deg
        if abs(n - round(n)) < 1e-6:
            return int(round(n)) + 1
    return None


def _format_codes(fmt: str) -> tuple[str, str]:
    if fmt in FORMATS:
        header, data = FORMATS[fmt]
        return tuple_code(*header), tuple_code(*data)
    other = tuple_code("OT", OTHER_FORMATS.get(fmt, fmt.upper().replace("-", " ")))
    return other, other


def _image_set(d: Dataset, i: int, s: ImageSet, all_sets: tuple[ImageSet, ...],
               out: list[Problem]) -> dict[str, Any]:
    here = f"data.image_sets[{i}]"
    files = set_files(d.manifest, s)
    facts = header_facts(files)
    header, data = _format_codes(s.format)
    packed = compression_of(files)
    if packed:  # (EMPIAR has no code for compressed files: 'OT' with what they are, not plain MRC)
        name = OTHER_FORMATS.get(s.format) or ("MRC" if s.format in ("mrc", "mrcs", "map", "rec", "st")
                                              else s.format.upper().replace("-", " "))
        header = data = tuple_code("OT", f"{name} {packed} COMPRESSED")  # (EMPIAR: [A-Z0-9 ]+)
    # Atomic models, reflection files and coordinates are none of EMPIAR's image categories, whatever the YAML says.
    other = setkinds.empiar_category({"format": s.format, "name": s.name, "details": s.details},
                                     [f.path for f in files])
    category = tuple_code(*(other or CATEGORIES.get(s.category, ("OT", s.category))))
    entry: dict[str, Any] = {"name": s.name[:200], "directory": f"/data/{s.directory.strip('/')}"[:200],
                             "category": category, "header_format": header, "data_format": data}
    # number of images
    count = s.count if s.count is not None else (len(files) or None)
    if count is None:
        out.append(problem(d, f"{here}.count", "is missing: EMPIAR requires the number of images (or tilt series) "
                           "of each image set", f"add {here}.count, or run `openem manifest {d.id}`"))
    else:
        entry["num_images_or_tilt_series"] = count
    # frames per image
    frames: int | None = s.frames_per_image
    if frames is None and s.category == "movies":
        frames = d.acquisition.frames_per_movie
    if frames is None and s.category == "tilt-series":
        dims = facts.get("dimensions")
        frames = int(dims[2]) if dims and len(dims) == 3 and dims[2] else _tilts(d)
    if frames is None and s.category in _SINGLE_FRAME:
        frames = 1
    if frames is None:
        what = "tilts per series" if s.category == "tilt-series" else "frames per movie"
        out.append(problem(d, f"{here}.frames_per_image", f"is missing: EMPIAR requires the number of {what}",
                           f"add {here}.frames_per_image"
                           + (" (or acquisition.frames_per_movie)" if s.category == "movies" else "")))
    else:
        entry["frames_per_image"] = frames
        if frames > 1:
            entry["frame_range_min"], entry["frame_range_max"] = 1, frames
    # voxel type: the headers say it; else the YAML
    dtype = facts.get("dtype")
    if dtype and s.data_type and dtype != s.data_type:
        out.append(problem(d, f"{here}.data_type", f"says {s.data_type} but the file headers say {dtype}; the "
                           "headers are used", f"correct {here}.data_type", WARNING))
    dtype = dtype or s.data_type
    if facts.get("dtypes"):
        out.append(problem(d, f"{here}.directory", f"files of different data types ({', '.join(facts['dtypes'])}) "
                           "in one image set", "split the set into one per data type", WARNING))
    if s.format in _NOT_IMAGES and not dtype:
        entry["voxel_type"] = tuple_code("OT", "NOT APPLICABLE")
    elif dtype in VOXEL_TYPES:
        entry["voxel_type"] = tuple_code(*VOXEL_TYPES[dtype])
    elif dtype:
        entry["voxel_type"] = tuple_code("OT", dtype.upper())
    else:
        out.append(problem(d, f"{here}.data_type", "is missing: EMPIAR requires the voxel type of each image set "
                           "and no file header states it", f"add {here}.data_type (e.g. uint8, int16, float32)"
                           + (f", or run `openem manifest {d.id}` to read it from the MRC headers"
                              if s.format in ("mrc", "mrcs", "map", "rec", "st") and packed in (None, "GZIP", "BZIP2")
                              else "")))
    # pixel size (Å) and image size
    # (the set's own, else its headers' when they differ from the acquisition's, else the acquisition's)
    own = set_pixel(d, s, files, acquisition_applies=s.category in _ACQUISITION_SAMPLED)
    entry["pixel_width"], entry["pixel_height"] = (own.width, own.height) if own else (None, None)
    dims = facts.get("dimensions")
    if dims and len(dims) >= 2:
        entry["image_width"], entry["image_height"] = int(dims[0]), int(dims[1])
    entry["details"] = s.details
    if s.category == "particles":
        mics = [m for m in all_sets if m.category == "micrographs"]
        if mics:
            m = mics[0]
            entry["micrographs_file_pattern"] = f"/data/{m.directory.strip('/')}/*.{m.format}"[:200]
    return entry


# ------------------------------------------------------------------------------------------------ whole


def refusal(d: Dataset) -> str | None:
    """Why EMPIAR takes no data of this technique, or None when it does."""
    if d.technique in EXPERIMENT_TYPES:
        return None
    reason = REFUSALS.get(d.technique, f"EMPIAR has no experiment type for '{d.technique}' data")
    return f"not exported to EMPIAR: {reason}."


def _release(d: Dataset) -> str:
    """RE: on processing; HP: with the article; HO: one year later (an embargo without an article)."""
    if d.is_embargoed:
        return "HP" if primary_publication(d) else "HO"
    return "RE"


def _scale(d: Dataset) -> str | None:
    """EMPIAR scale (1 molecule … 5 organism) where the technique says it."""
    if d.technique in ("single-particle", "helical", "2d-crystallography", "microed"):
        return "1"
    if d.technique in ("tomography", "subtomogram-averaging") and d.sample.preparation == "fib-milling":
        return "3"
    return None


def deposition(ctx: SiteContext, d: Dataset) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The EMPIAR deposition request of a dataset, or None with the messages saying why not.

    Messages of severity ``warning`` accompany a deposition that is complete but worth a look.
    """
    out: list[Problem] = []
    refused = refusal(d)
    if refused:
        return None, [problem(d, "technique", refused)]
    if len(d.title) > 255:
        out.append(problem(d, "title", f"is {len(d.title)} characters long; EMPIAR takes at most 255",
                           "shorten the title"))
    dep: dict[str, Any] = {"title": d.title[:255], "release_date": _release(d),
                           "experiment_type": EXPERIMENT_TYPES[d.technique]}
    scale = _scale(d)
    if scale:
        dep["scale"] = scale
    dep["cross_references"] = [{"name": e} for e in d.related.emdb if re.fullmatch(r"EMD-[0-9]{4,}", e)]
    if EXPERIMENT_TYPES[d.technique] == 3 and not dep["cross_references"]:
        out.append(problem(d, "related.emdb", "no EMDB entry given: EMPIAR's experiment type 3 is for raw data "
                           "behind structures in EMDB", "add related.emdb once the map is deposited", WARNING))
    dep["empiar_references"] = [{"name": e} for e in d.related.empiar]
    dep["authors"] = [_author(d, a.name, a.orcid, n, f"authors[{n}].name", out) for n, a in enumerate(d.authors)]
    corresponding = _corresponding(ctx, d, out)
    if corresponding:
        dep["corresponding_author"] = corresponding
    dep["principal_investigator"] = _principal_investigators(d, out)
    dep["imagesets"] = [_image_set(d, i, s, d.data.image_sets, out) for i, s in enumerate(d.data.image_sets)]
    citation = _citation(ctx, d, out)
    if citation:
        dep["citation"] = [citation]
    out = list(dict.fromkeys(out))  # an author's problem shows once, not per list the author is in
    if errors(out):
        return None, out
    return dep, out


def dumps(dep: Mapping[str, Any]) -> str:
    return jsontext.dumps(dep, indent=2) + "\n"


@per_dataset(50)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    dep, _messages = deposition(ctx, d)
    if dep is None:
        return []
    return [Artefact(f"datasets/{d.id}/empiar.json", dumps(dep), LABEL, JSON_TYPE)]
