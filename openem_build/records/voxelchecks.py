"""Declared pixel and voxel sizes, and frames per movie, of each image set against its MRC files' headers.

A set's declared size is its ``voxel_size_A`` (per axis: [x, y, z] or [x, y]), else its ``pixel_size_A``, else the
acquisition's ``voxel_size_A`` or ``pixel_size_A`` (see :func:`.checkparts.declared_voxel`), compared
axis by axis within :data:`VOXEL_TOLERANCE`. A set that declares no size of its own may hold files binned by an
integer factor against the acquisition's (tomograms, binned micrographs): that is understood, and the page and
exports show the headers' size for it. Anything else beyond the tolerance is an error at the YAML line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..data.headers import FileMetadata
from .checkparts import (
    MRC_FORMATS,
    PLACEHOLDER_VOXEL,
    Reporter,
    Sets,
    and_more,
    binning,
    close,
    declared_voxel,
    field_name,
    num,
    numbers,
    show,
    yaml_list,
)
from .problems import WARNING
from .yamlsafe import Pointer, lookup

#: MRC voxel size against the declared pixel or voxel size: relative, per axis.
VOXEL_TOLERANCE = 0.01
#: Frames of an MRC movie against the declared frames per movie: exact.
MRC_FRAMES_TOLERANCE = 0


def file_voxel(meta: FileMetadata) -> tuple[float, ...] | None:
    """The voxel size per axis an MRC header states for the axes that are sampled (x, y, and z of volumes)."""
    header = meta.data.get("mrc") or {}
    voxel = header.get("voxel_size_A") or []
    axes = voxel[: 3 if header.get("kind") in ("volume", "volume-stack") else 2]
    values = tuple(num(v) for v in axes)
    if len(values) < 2 or any(v is None or v <= 0 for v in values):
        return None  # unset voxel size: the file's own problem, reported with the file
    return values  # type: ignore[return-value]


def _agrees(voxel: tuple[float, ...], declared: tuple[float, ...], tolerance: float) -> bool:
    axes = declared * len(voxel) if len(declared) == 1 else declared
    return all(close(v, d, tolerance) for v, d in zip(voxel, axes, strict=False))


def _binned(voxel: tuple[float, ...], declared: tuple[float, ...]) -> int | None:
    """The binning factor k when every axis is k × the declared size (the declared size is the acquisition's)."""
    axes = declared * len(voxel) if len(declared) == 1 else declared
    factors = {binning(v / d) for v, d in zip(voxel, axes, strict=False)}
    return factors.pop() if len(factors) == 1 and None not in factors else None


def _fix(voxel: tuple[float, ...]) -> str:
    """What to declare for files of this voxel size: one pixel size, or a voxel size per axis."""
    return f"`pixel_size_A: {voxel[0]:g}`" if len(set(voxel)) == 1 else f"`voxel_size_A: {yaml_list(voxel)}`"


def _check_consistent(doc: Mapping[str, Any], rep: Reporter, sets: Sets) -> None:
    """A place that declares both ``pixel_size_A`` and ``voxel_size_A`` must give the same x size."""
    places: list[Pointer] = [("acquisition",)] + [("data", "image_sets", i) for i, _ in sets.sets]
    for place in places:
        pixel, voxel = num(lookup(doc, *place, "pixel_size_A")), numbers(lookup(doc, *place, "voxel_size_A"))
        if pixel is not None and voxel is not None and not close(voxel[0], pixel, VOXEL_TOLERANCE):
            rep.add((*place, "voxel_size_A"), f"voxel size {show(voxel)} Å gives x = {voxel[0]:g} Å but "
                    f"{field_name((*place, 'pixel_size_A'))} says {pixel:g} Å",
                    "give the same x size in both, or leave out pixel_size_A")


def check_voxel_sizes(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter, sets: Sets,
                      held: Mapping[int, list[str]], tolerance: float = VOXEL_TOLERANCE) -> None:
    _check_consistent(doc, rep, sets)
    for i, s in sets.sets:
        suffixes = MRC_FORMATS.get(str(s.get("format")))
        if suffixes is None:
            continue
        declared, pointer, own = declared_voxel(doc, i)
        if declared is None:
            continue
        mismatched: dict[tuple[float, ...], list[str]] = {}
        for p in held.get(i, ()):
            m = files[p]
            if m.type != "mrc" or not p.lower().endswith(suffixes):
                continue
            voxel = file_voxel(m)
            if voxel is None or _agrees(voxel, declared, tolerance):
                continue
            if not own and set(voxel) != {PLACEHOLDER_VOXEL} and _binned(voxel, declared):
                continue  # binned against the acquisition's pixel size: shown per image set from the headers
            mismatched.setdefault(voxel, []).append(p)
        name = s.get("name") or s["directory"]
        here = pointer if own else ("data", "image_sets", i, "pixel_size_A")
        for voxel, paths in sorted(mismatched.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
            message = (f"{'voxel' if len(declared) > 1 else 'pixel'} size {show(declared)} Å ({field_name(pointer)}) "
                       f"differs from the voxel size {show(voxel)} Å in the MRC header of {and_more(paths)}")
            anisotropic = len(set(voxel)) > 1
            if set(voxel) == {PLACEHOLDER_VOXEL}:
                rep.add(here, message + " (1 Å is what many programs write when the size is unknown)",
                        f"set the voxel size in the headers to {declared[0]:g} Å (IMOD `alterheader -del`, Python "
                        "`mrcfile`) or, if the files really have 1 Å pixels, state that here", WARNING)
            elif own:
                fix = (f"declare the size per axis, `voxel_size_A: {yaml_list(voxel)}`, in image set '{name}' in "
                       "place of pixel_size_A" if anisotropic and len(declared) == 1 else
                       f"correct {pointer[-1]} (the headers say {_fix(voxel)})")
                rep.add(here, message, fix + ", or the voxel size in the headers (IMOD `alterheader -del`, Python "
                        "`mrcfile`) if they are wrong")
            else:
                rep.add(here, message, f"add {_fix(voxel)} to image set '{name}' if its files differ from the "
                        f"recorded pixel size; otherwise correct {field_name(pointer)}")


def movie_frames(path: str, meta: FileMetadata, suffixes: tuple[str, ...] | None) -> int | None:
    """The frames of one movie its header states: an MRC stack's sections, or the third dimension of an image stack
    in another format's ``image`` block (TIFF movies; not EER, whose raw frames are grouped into fractions later)."""
    if meta.type == "mrc":
        header = meta.data.get("mrc") or {}
        if suffixes is None or not path.lower().endswith(suffixes):
            return None
    else:
        header = meta.data.get("image") or {}
        if header.get("kind") != "image-stack" or path.lower().endswith(".eer"):
            return None
    dims = header.get("dimensions") or []
    return dims[2] if len(dims) == 3 and isinstance(dims[2], int) and not isinstance(dims[2], bool) else None


def check_mrc_frames(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter, sets: Sets,
                     held: Mapping[int, list[str]]) -> None:
    """Frames per movie of each movie set against its files' headers (MRC stacks, TIFF movies)."""
    for i, s in sets.sets:
        suffixes = MRC_FORMATS.get(str(s.get("format")))
        if s.get("category") != "movies" or s.get("format") == "eer":
            continue
        own = num(s.get("frames_per_image"))
        declared = own if own is not None else num(lookup(doc, "acquisition", "frames_per_movie"))
        if declared is None:
            continue
        pointer: Pointer = (("data", "image_sets", i, "frames_per_image") if own is not None
                            else ("acquisition", "frames_per_movie"))
        wrong: dict[int, list[str]] = {}
        for p in held.get(i, ()):
            frames = movie_frames(p, files[p], suffixes)
            if frames is not None and abs(frames - declared) > MRC_FRAMES_TOLERANCE:
                wrong.setdefault(frames, []).append(p)
        what = "MRC header" if suffixes else "header"
        for frames, paths in sorted(wrong.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            rep.add(pointer if own is not None else ("data", "image_sets", i, "frames_per_image"),
                    f"{int(declared)} frames per movie ({field_name(pointer)}) but the {what} of "
                    f"{and_more(paths)} says {frames} frames",
                    "correct frames_per_image" if own is not None else
                    f"give this set its own `frames_per_image: {frames}`, or correct acquisition.frames_per_movie")
