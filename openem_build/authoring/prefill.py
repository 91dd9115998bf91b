"""Field values for a new entry from the files that describe its data, for ``openem add`` to write.

Only files that describe the data count (EPU Data images, not navigation images; SerialEM tilt series, not frame
sets: see :func:`..records.checkparts.describing`). Values that agree within the cross-checks' tolerances are one
value; where files disagree beyond them, a note names the files, and a tie leaves the field for a person to fill
(never an alphabetical choice). A value's source names only the files that agree with it, so the pre-filled entry
passes the same cross-checks.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..data.headers import FileMetadata
from ..records import fieldchecks as F
from ..records.checkparts import (
    PLACEHOLDER_VOXEL,
    Files,
    and_more,
    close,
    collect,
    describing,
    grouped,
    metadata_of,
    num,
    under,
)
from ..records.voxelchecks import VOXEL_TOLERANCE, file_voxel


@dataclass
class Prefill:
    """Field values read from the files, for ``openem add`` to write into a new ``dataset.yaml``.

    ``values`` is a partial document (``instrument``, ``acquisition``, ``dates``); ``image_sets`` maps a
    directory to values for its image set (``pixel_size_A`` only when it differs from the acquisition's,
    ``voxel_size_A`` when its axes differ, ``frames_per_image`` for movies); ``sources`` says which files each dotted
    field came from; ``notes`` say where files disagree and what was done about it.
    """

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    image_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, dotted: str, value: Any, paths: list[str]) -> None:
        section, key = dotted.split(".", 1)
        self.values.setdefault(section, {})[key] = value
        self.sources[dotted] = and_more(paths)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _show(value: Any, unit: str) -> str:
    return f"{value:g}{unit}" if isinstance(value, int | float) else f"{value}{unit}"


def _choose(groups: list[tuple[Any, list[str]]], dotted: str, out: Prefill,
            unit: str = "") -> tuple[Any, list[str]] | None:
    """The value of the group with most files, or None on a tie; a note names the files of every other group."""
    if not groups:
        return None
    (value, paths), *others = groups
    if not others:
        return value, paths
    listing = "; ".join(f"{_show(v, unit)} in {and_more(p)}" for v, p in groups[:4])
    if len(others[0][1]) == len(paths):
        out.notes.append(f"{dotted}: the files disagree ({listing}) and none is the most common: not filled, "
                         "set it yourself")
        return None
    out.notes.append(f"{dotted}: the files disagree ({listing}); {_show(value, unit)}, the value of most files, "
                     "was taken: check")
    return value, paths


def _numeric(tolerance: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def same(a: Any, b: Any) -> bool:
        return isinstance(a, int | float) and isinstance(b, int | float) and tolerance(a, b)

    return same


#: (header key, dotted field, unit, when two values are the same: None for only when equal)
SIMPLE: tuple[tuple[str, str, str, Callable[[Any, Any], bool] | None], ...] = (
    ("acceleration_voltage_kV", "instrument.acceleration_voltage_kV", " kV",
     _numeric(lambda a, b: abs(a - b) <= F.VOLTAGE_TOLERANCE_KV)),
    ("microscope", "instrument.microscope", "", None),
    ("manufacturer", "instrument.manufacturer", "", None),
    ("detector", "instrument.detector", "", None),
    ("detector_mode", "instrument.detector_mode", "", None),
    ("pixel_size_A", "acquisition.pixel_size_A", " Å", _numeric(lambda a, b: close(a, b, F.PIXEL_TOLERANCE))),
    ("magnification", "acquisition.magnification", "",
     _numeric(lambda a, b: close(a, b, F.MAGNIFICATION_TOLERANCE))),
    ("camera_length_mm", "acquisition.camera_length_mm", " mm",
     _numeric(lambda a, b: close(a, b, F.CAMERA_LENGTH_TOLERANCE))),
    ("software", "acquisition.software", "", None),
    ("tilt_step_deg", "acquisition.tilt_step_deg", "°",
     _numeric(lambda a, b: abs(a - b) <= F.TILT_STEP_TOLERANCE_DEG)),
    ("tilt_scheme", "acquisition.tilt_scheme", "", None),
)


def prefill(files: Files, categories: Mapping[str, str | None] | None = None) -> Prefill:
    """Field values for a new entry, from the metadata of the files that describe its data.

    ``categories`` maps image-set directories to their (guessed) category; without it, top-level folders
    are the sets and a folder counts as movies when its name says so.
    """
    meta = describing(metadata_of(files))
    out = Prefill()
    for key, dotted, unit, same in SIMPLE:
        found = {v: p for v, p in collect(meta, key).items()  # (numbers for numbers, text for text)
                 if (num(v) is not None if same is not None else isinstance(v, str))}
        chosen = _choose(grouped(found, same), dotted, out, unit)
        if chosen:
            out.put(dotted, _clean(chosen[0]), chosen[1])
    slits = {v: p for v, p in collect(meta, "energy_filter_slit_eV").items() if num(v) is not None}
    slit = _choose(grouped(slits), "instrument.energy_filter", out, " eV")
    if slit:
        out.put("instrument.energy_filter", f"{slit[0]:g} eV slit", slit[1])

    # Tilt range and defocus: the span of every tilt series and every target or applied defocus recorded.
    _span(out, "acquisition.tilt_range_deg", {p: list(r) for p, m in meta.items() if (r := F.tilt_range(m))})
    _span(out, "acquisition.defocus_range_um", {p: v for p, m in meta.items() if (v := F.defocus_values(m))})

    # Dose: per tilt series (mdoc total) or per movie (EPU, FEI): the median of the files that agree.
    found = F.doses(meta)
    chosen = _choose(grouped(found, lambda a, b: close(a, b, F.DOSE_TOLERANCE)),
                     "acquisition.total_dose_e_per_A2", out, " e⁻/Å²")
    if chosen:
        members = set(chosen[1])
        values = [v for v, ps in found.items() for p in ps if p in members]
        out.put("acquisition.total_dose_e_per_A2", _clean(round(statistics.median(values), 1)), chosen[1])

    if "pixel_size_A" not in out.values.get("acquisition", {}):
        _pixel_from_images(meta, out)

    collected = sorted((str(m.acquisition["collected"])[:10], p) for p, m in meta.items()
                       if re.match(r"\d{4}-\d\d-\d\d", str(m.acquisition.get("collected", ""))))
    if collected:
        out.put("dates.collected", collected[0][0], [collected[0][1]])

    _prefill_sets(meta, categories, out)
    return out


def _span(out: Prefill, dotted: str, per_file: dict[str, list[float]]) -> None:
    every = [v for values in per_file.values() for v in values]
    if every:
        out.put(dotted, [_clean(round(min(every), 1)), _clean(round(max(every), 1))], sorted(per_file))


def _pixel_from_images(meta: dict[str, FileMetadata], out: Prefill) -> None:
    """Without instrument metadata: the most common voxel size of 2D images and stacks (micrographs, movies)."""
    found: dict[float, list[str]] = {}
    for p, m in meta.items():
        header = m.data.get("mrc") or {}
        voxel = file_voxel(m) if header.get("kind") in ("image", "image-stack") else None
        if voxel and voxel[0] != PLACEHOLDER_VOXEL:
            found.setdefault(voxel[0], []).append(p)
    ordered = dict(sorted(found.items(), key=lambda kv: (-len(kv[1]), kv[0])))
    chosen = _choose(grouped(ordered, lambda a, b: close(a, b, VOXEL_TOLERANCE)), "acquisition.pixel_size_A", out,
                     " Å")
    if chosen:
        out.put("acquisition.pixel_size_A", _clean(chosen[0]), chosen[1])


def _prefill_sets(meta: dict[str, FileMetadata], categories: Mapping[str, str | None] | None,
                  out: Prefill) -> None:
    if categories is None:
        tops = sorted({p.split("/", 1)[0] for p in meta if "/" in p})
        categories = {d: "movies" if re.search(r"movie|frame", d, re.I) else None for d in tops}
    acquisition_px = num(out.values.get("acquisition", {}).get("pixel_size_A"))
    frames_seen: dict[int, list[str]] = {}
    for directory, category in sorted(categories.items()):
        voxels: dict[tuple[float, ...], list[str]] = {}
        stacks: dict[int, list[str]] = {}
        for p, m in meta.items():
            header = m.data.get("mrc") or {}
            if m.type != "mrc" or not under(p, directory):
                continue
            voxel = file_voxel(m)
            if voxel and voxel[0] == voxel[1] and voxel[0] != PLACEHOLDER_VOXEL:
                voxels.setdefault(voxel, []).append(p)
            dims = header.get("dimensions") or []
            if header.get("kind") in ("image-stack", "volume") and len(dims) == 3:
                stacks.setdefault(dims[2], []).append(p)
        values: dict[str, Any] = {}
        label = f"image_sets[{directory}]"
        ordered = dict(sorted(voxels.items(), key=lambda kv: (-len(kv[1]), kv[0])))
        chosen = _choose(grouped(ordered, lambda a, b: len(a) == len(b) and all(
            close(x, y, VOXEL_TOLERANCE) for x, y in zip(a, b, strict=True))), f"{label}.pixel_size_A", out, "")
        if chosen:
            voxel, paths = chosen
            if acquisition_px is None or not close(voxel[0], acquisition_px, VOXEL_TOLERANCE):
                values["pixel_size_A"] = _clean(voxel[0])
                out.sources[f"{label}.pixel_size_A"] = and_more(paths)
            if len(set(voxel)) > 1:
                values["voxel_size_A"] = [_clean(v) for v in voxel]
                out.sources[f"{label}.voxel_size_A"] = and_more(paths)
        if category == "movies" and stacks:
            ordered_stacks = dict(sorted(stacks.items(), key=lambda kv: (-len(kv[1]), kv[0])))
            picked = _choose(grouped(ordered_stacks), f"{label}.frames_per_image", out)
            if picked:
                values["frames_per_image"] = picked[0]
                frames_seen.setdefault(picked[0], []).extend(picked[1])
        if values:
            out.image_sets[directory] = values
    # Frames per movie: MRC movies first, then what SerialEM or EPU recorded.
    if frames_seen:
        ordered_frames = dict(sorted(frames_seen.items(), key=lambda kv: (-len(kv[1]), kv[0])))
        picked = _choose(grouped(ordered_frames), "acquisition.frames_per_movie", out)
        if picked:
            out.put("acquisition.frames_per_movie", picked[0], sorted(picked[1]))
    else:
        frames = {v: p for v, p in collect(meta, "frames").items() if isinstance(v, int) and not isinstance(v, bool)}
        picked = _choose(grouped(frames), "acquisition.frames_per_movie", out)
        if picked:
            out.put("acquisition.frames_per_movie", picked[0], picked[1])
