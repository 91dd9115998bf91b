"""Declared acquisition and instrument values against what the files that describe the data record.

One check per field, each with its tolerance as a constant here (and in the table of docs/contributing.md):
within it nothing is said; beyond it the result is an error at the field's YAML line that names the files which
contradict it and how to fix it. Only files that describe the data are compared (see
:func:`openem_build.records.checkparts.describing`: no EPU navigation images, no frame-set mdocs beside tilt series).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
    collect,
    declared_voxel,
    grouped,
    num,
    numbers,
    show,
    yaml_list,
)
from .problems import WARNING
from .yamlsafe import Pointer, lookup

#: Acceleration voltage: absolute, in kV.
VOLTAGE_TOLERANCE_KV = 0.5
#: Pixel size recorded by instrument metadata (EPU, mdoc, FEI and vendor headers): relative.
PIXEL_TOLERANCE = 0.01
#: Nominal magnification: relative (nominal magnifications are a microscope's fixed steps).
MAGNIFICATION_TOLERANCE = 0.005
#: Total dose: relative (EPU measures each exposure's dose; they scatter by a few per cent).
DOSE_TOLERANCE = 0.10
#: Defocus: absolute, in µm, on each end of the declared range. Every recorded defocus must lie within the range;
#: the range may be wider (defocus is varied over a session, and an entry may hold a subset of its files).
DEFOCUS_TOLERANCE_UM = 0.1
#: Camera length of diffraction patterns: relative (headers record the nominal value; a calibrated camera length
#: is commonly a few per cent off it).
CAMERA_LENGTH_TOLERANCE = 0.05
#: Frames per movie: exact.
FRAMES_TOLERANCE = 0
#: Tilt range: absolute, in degrees, on each end (the stage reads back a little off its target). Every tilt
#: series must lie within the range, and the range must end where the series' span ends.
TILT_RANGE_TOLERANCE_DEG = 1.0
#: Tilt step: absolute, in degrees.
TILT_STEP_TOLERANCE_DEG = 0.1
#: Words of detector names that say the maker or nothing: a detector matches when another word is shared.
DETECTOR_NOISE = frozenset({"gatan", "thermo", "fisher", "scientific", "fei", "tfs", "direct", "electron",
                            "electrons", "tvips", "bm", "camera", "detector", "the", "and", "de", "ametek", "eds",
                            "jeol", "zeiss", "hitachi", "bruker"})


def _numbers(files: Mapping[str, FileMetadata], key: str) -> dict[float, list[str]]:
    """The numeric values of ``acquisition[key]`` → their files (anything else a manifest may hold is left out)."""
    out: dict[float, list[str]] = {}
    for value, paths in collect(files, key).items():
        if (number := num(value)) is not None:
            out.setdefault(number, []).extend(paths)
    return out


def _declared(doc: Mapping[str, Any], *pointer: str | int) -> Any:
    return lookup(doc, *pointer)


def _report_groups(rep: Reporter, pointer: Pointer, groups: list[tuple[Any, list[str]]],
                   wrong: Callable[[Any], bool], message: Callable[[Any, list[str]], str], hint: str) -> None:
    for value, paths in groups:
        if wrong(value):
            rep.add(pointer, message(value, paths), hint)


def check_voltage(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter) -> None:
    found = _numbers(files, "acceleration_voltage_kV")
    if not found:
        return
    pointer = ("instrument", "acceleration_voltage_kV")
    declared = num(_declared(doc, *pointer))
    groups = grouped(found, lambda a, b: abs(a - b) <= VOLTAGE_TOLERANCE_KV)
    if declared is None:
        value, paths = groups[0]
        rep.add(pointer, f"instrument.acceleration_voltage_kV is not given, but {and_more(paths)} "
                f"record{'s' * (len(paths) == 1)} {value:g} kV",
                f"add `acceleration_voltage_kV: {value:g}` under instrument", WARNING)
        return
    _report_groups(rep, pointer, groups, lambda v: abs(v - declared) > VOLTAGE_TOLERANCE_KV,
                   lambda v, p: f"{declared:g} kV differs from the {v:g} kV recorded in {and_more(p)}",
                   "check the voltage; the instrument's metadata files record what the data were taken at")


def check_metadata_pixels(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter,
                          sets: Sets, tolerance: float = PIXEL_TOLERANCE) -> None:
    """Pixel sizes that instrument metadata (EPU, mdoc, FEI extended headers, vendor formats) record, against the
    declared pixel size of the image set holding each file (else the acquisition's)."""
    groups: dict[tuple[float, Pointer], dict[float, list[str]]] = {}
    slices: dict[tuple[tuple[float, ...], Pointer, tuple[float, ...]], list[str]] = {}
    for p, m in files.items():
        if m.type == "mrc" and _voxel_checked(p, m, sets):
            continue  # an MRC file's own pixels: compared per axis with its voxel size (see voxelchecks)
        recorded = num(m.acquisition.get("pixel_size_A"))
        if recorded is None:
            axes = numbers(m.acquisition.get("voxel_size_A"))
            recorded = axes[0] if axes else None
        if recorded is None:
            continue
        declared, pointer, _own = declared_voxel(doc, sets.of(p))
        if declared is None:
            continue
        if not close(recorded, declared[0], tolerance):
            groups.setdefault((declared[0], pointer), {}).setdefault(recorded, []).append(p)
            continue
        axes = numbers(m.acquisition.get("voxel_size_A"), (3,))
        z = declared[2] if len(declared) == 3 else declared[0] if len(declared) == 1 else None
        if axes is not None and z is not None and not close(axes[2], z, tolerance):
            slices.setdefault((declared, pointer, axes), []).append(p)
    for (declared_axes, pointer, axes), paths in sorted(slices.items(), key=lambda kv: kv[1][0]):
        fix = (f"declare the size per axis, `voxel_size_A: {yaml_list(axes)}`" if len(declared_axes) == 1 else
               f"correct the z of {pointer[-1]}")
        rep.add(pointer, f"{'voxel' if len(declared_axes) > 1 else 'pixel'} size {show(declared_axes)} Å differs in z "
                f"from the voxel size {show(axes)} Å that {and_more(paths)} record", fix)
    for (declared_x, pointer), found in sorted(groups.items(), key=lambda kv: min(map(min, kv[1].values()))):
        for recorded, paths in grouped(found, lambda a, b: close(a, b, tolerance)):
            k = binning(declared_x / recorded) or binning(recorded / declared_x)
            ratio = f" ({recorded / declared_x:.3g}× the declared size: binning or super-resolution?)" if k else ""
            rep.add(pointer, f"pixel size {declared_x:g} Å differs from the {recorded:g} Å the acquisition "
                    f"metadata of {and_more(paths)} record{ratio}",
                    f"set {pointer[-1]} to the calibrated pixel size the files record ({recorded:g} Å), or give "
                    "the image set of files recorded at another pixel size its own pixel_size_A")


def _voxel_checked(path: str, meta: FileMetadata, sets: Sets) -> bool:
    voxel = (meta.data.get("mrc") or {}).get("voxel_size_A") or [None]
    i = sets.of(path)
    fmt = sets.format(i) if i is not None else None
    return fmt in MRC_FORMATS and num(voxel[0]) not in (None, 0.0, PLACEHOLDER_VOXEL)


def _whole(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check_relative(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter, field: str,
                    tolerance: float, message: Callable[[float, float, list[str]], str], hint: str) -> None:
    """``acquisition[field]`` against the value the files record, within a relative tolerance."""
    pointer = ("acquisition", field)
    declared = num(_declared(doc, *pointer))
    if declared is None:
        return
    groups = grouped(_numbers(files, field), lambda a, b: close(a, b, tolerance))
    _report_groups(rep, pointer, groups, lambda v: not close(v, declared, tolerance),
                   lambda v, p: message(declared, v, p), hint)


def check_magnification(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter) -> None:
    _check_relative(doc, files, rep, "magnification", MAGNIFICATION_TOLERANCE,
                    lambda declared, v, p: f"magnification {_whole(declared)} differs from the nominal {_whole(v)} "
                    f"recorded in {and_more(p)}", "set the nominal magnification the data files record")


def check_camera_length(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter) -> None:
    _check_relative(doc, files, rep, "camera_length_mm", CAMERA_LENGTH_TOLERANCE,
                    lambda declared, v, p: f"camera length {declared:g} mm differs from the {v:g} mm recorded in "
                    f"{and_more(p)}", "set the camera length of the diffraction patterns the data files record")


def detector_words(name: str) -> frozenset[str]:
    """The words of a detector name that identify it (lower case, maker words left out)."""
    return frozenset(w for w in re.findall(r"[a-z0-9]+", name.lower()) if w not in DETECTOR_NOISE)


def same_detector(declared: str, recorded: str) -> bool:
    """Whether two detector names may name the same detector: they share an identifying word, or either has none
    (``Falcon 4i`` and ``BM-Falcon`` do; ``K3`` and ``Falcon 4i`` do not)."""
    a, b = detector_words(declared), detector_words(recorded)
    return not a or not b or bool(a & b)


def check_detector(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter) -> None:
    pointer = ("instrument", "detector")
    declared = _declared(doc, *pointer)
    if not isinstance(declared, str) or not declared.strip():
        return
    found: dict[str, list[str]] = {}
    for p, m in files.items():
        names = [m.acquisition.get(k) for k in ("detector", "camera")]
        names = [n for n in names if isinstance(n, str) and n.strip()]
        if names and not any(same_detector(declared, n) for n in names):
            found.setdefault(names[0], []).append(p)
    for name, paths in sorted(found.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rep.add(pointer, f"detector '{declared}' is not the '{name}' recorded in {and_more(paths)}",
                f"set detector to the camera the data were recorded with (the files say '{name}')")


def _dose(meta: FileMetadata) -> float | None:
    """The total dose a file records: a tilt series' sum (mdoc), else one exposure's (EPU, FEI headers)."""
    for key in ("total_dose_e_per_A2", "dose_e_per_A2"):
        value = num(meta.acquisition.get(key))
        if value is not None and value > 0:
            return value
    return None


def doses(files: Mapping[str, FileMetadata]) -> dict[float, list[str]]:
    out: dict[float, list[str]] = {}
    for p, m in files.items():
        if (value := _dose(m)) is not None:
            out.setdefault(value, []).append(p)
    return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def check_dose(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter) -> None:
    pointer = ("acquisition", "total_dose_e_per_A2")
    declared = num(_declared(doc, *pointer))
    if declared is None or declared <= 0:
        return
    wrong = {v: p for v, p in doses(files).items() if not close(v, declared, DOSE_TOLERANCE)}
    dose_of = {p: v for v, ps in wrong.items() for p in ps}
    for _value, paths in grouped(wrong, lambda a, b: close(a, b, DOSE_TOLERANCE)):
        values = [dose_of[p] for p in paths]
        shown = _range(min(values), max(values))
        rep.add(pointer, f"total dose {declared:g} e⁻/Å² differs from the {shown} e⁻/Å² recorded in "
                f"{and_more(paths)} (more than {DOSE_TOLERANCE:.0%} apart)",
                "set the dose the files record: per movie for single-particle data, the sum over each tilt "
                "series for tomography")


def defocus_values(meta: FileMetadata) -> list[float]:
    """Every target or applied defocus (µm, underfocus positive) a file records."""
    a = meta.acquisition
    values = [a.get("defocus_um"), a.get("applied_defocus_um"), *(a.get("defocus_range_um") or [])]
    return [v for v in map(num, values) if v is not None]


def _range(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}–{high:g}"


def _check_span(rep: Reporter, pointer: Pointer, declared: tuple[float, ...], per_file: dict[str, list[float]],
                tolerance: float, unit: str, what: str, hint: str, *, ends: bool) -> None:
    """Each file's values within the declared range, and (``ends``) the range's ends where the files' span ends."""
    lo, hi = min(declared), max(declared)
    outside: dict[str, list[str]] = {}
    for p, values in per_file.items():
        bad = [v for v in values if v < lo - tolerance or v > hi + tolerance]
        if bad:
            outside.setdefault(_range(min(bad), max(bad)), []).append(p)
    for shown, paths in sorted(outside.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        rep.add(pointer, f"{what} {lo:g}–{hi:g}{unit} does not include the {shown}{unit} recorded in "
                f"{and_more(paths)}", hint)
    every = [v for values in per_file.values() for v in values]
    if not every or outside or not ends:
        return
    low, high = min(every), max(every)
    if abs(lo - low) > tolerance or abs(hi - high) > tolerance:
        ends = [p for p, values in per_file.items() if low in values or high in values]
        rep.add(pointer, f"{what} {lo:g}–{hi:g}{unit} differs from the {_range(low, high)}{unit} the files record "
                f"(from {and_more(ends)})", hint)


def check_defocus(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter) -> None:
    pointer = ("acquisition", "defocus_range_um")
    declared = numbers(_declared(doc, *pointer), (2,))
    if declared is None:
        return
    per_file = {p: v for p, m in files.items() if (v := defocus_values(m))}
    _check_span(rep, pointer, declared, per_file, DEFOCUS_TOLERANCE_UM, " µm", "defocus range",
                f"set defocus_range_um to the lowest and highest defocus the files record (within "
                f"{DEFOCUS_TOLERANCE_UM:g} µm; underfocus positive)", ends=False)


def tilt_range(meta: FileMetadata) -> tuple[float, float] | None:
    a = meta.acquisition
    r = numbers(a.get("tilt_range_deg"), (2,))
    if r is None:
        angles = a.get("tilt_angles_deg")
        values = [v for v in map(num, angles if isinstance(angles, list) else []) if v is not None]
        r = (min(values), max(values)) if len(values) > 1 else None
    return (min(r), max(r)) if r else None


def check_tilts(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter) -> None:
    declared = numbers(_declared(doc, "acquisition", "tilt_range_deg"), (2,))
    if declared is not None:
        per_file = {p: list(r) for p, m in files.items() if (r := tilt_range(m))}
        _check_span(rep, ("acquisition", "tilt_range_deg"), declared, per_file, TILT_RANGE_TOLERANCE_DEG, "°",
                    "tilt range", "set tilt_range_deg to the lowest and highest tilt of the tilt series (within "
                    f"{TILT_RANGE_TOLERANCE_DEG:g}°)", ends=True)
    step = num(_declared(doc, "acquisition", "tilt_step_deg"))
    if step is not None:
        groups = grouped(_numbers(files, "tilt_step_deg"), lambda a, b: abs(a - b) <= TILT_STEP_TOLERANCE_DEG)
        _report_groups(rep, ("acquisition", "tilt_step_deg"), groups,
                       lambda v: abs(v - step) > TILT_STEP_TOLERANCE_DEG,
                       lambda v, p: f"tilt step {step:g}° differs from the {v:g}° of the tilt series in "
                       f"{and_more(p)}", "set tilt_step_deg to the increment the tilt series record")
    scheme = _declared(doc, "acquisition", "tilt_scheme")
    if isinstance(scheme, str):
        groups = grouped(collect(files, "tilt_scheme"))
        _report_groups(rep, ("acquisition", "tilt_scheme"), groups, lambda v: v != scheme,
                       lambda v, p: f"tilt scheme {scheme} differs from the {v} order of the tilt angles in "
                       f"{and_more(p)}", "set tilt_scheme to the order the tilts were recorded in")


def check_metadata_frames(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter,
                          sets: Sets) -> None:
    """Frames per movie that EPU (fractions) or SerialEM (sub-frames) record, against the declared frames of the
    image set holding each file, else the acquisition's."""
    wrong: dict[tuple[Pointer, int, int], list[str]] = {}
    for p, m in files.items():
        frames = m.acquisition.get("frames")
        if not isinstance(frames, int) or isinstance(frames, bool):
            continue
        i = sets.of(p)
        own = num(_declared(doc, "data", "image_sets", i, "frames_per_image")) if i is not None else None
        pointer: Pointer = (("data", "image_sets", i, "frames_per_image") if own is not None
                            else ("acquisition", "frames_per_movie"))
        declared = own if own is not None else num(_declared(doc, *pointer))
        if declared is not None and abs(frames - declared) > FRAMES_TOLERANCE:
            wrong.setdefault((pointer, int(declared), frames), []).append(p)
    for (pointer, declared, frames), paths in sorted(wrong.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        rep.add(pointer, f"{declared} frames per movie differs from the {frames} frames recorded in "
                f"{and_more(paths)}", f"set {pointer[-1]} to the frames (fractions) each movie has")


def check_all(doc: Mapping[str, Any], files: Mapping[str, FileMetadata], rep: Reporter, sets: Sets, *,
              pixel_tolerance: float = PIXEL_TOLERANCE) -> None:
    """Every check of this module, on the files that describe the data."""
    check_metadata_pixels(doc, files, rep, sets, pixel_tolerance)
    check_metadata_frames(doc, files, rep, sets)
    check_voltage(doc, files, rep)
    check_magnification(doc, files, rep)
    check_camera_length(doc, files, rep)
    check_detector(doc, files, rep)
    check_dose(doc, files, rep)
    check_defocus(doc, files, rep)
    check_tilts(doc, files, rep)
