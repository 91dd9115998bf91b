"""What a person typed in ``dataset.yaml`` against what the files say, and the other way round.

:func:`crosscheck` compares declared values with metadata extracted from the files (MRC headers, SerialEM
``.mdoc``, EPU/Tomo XML; see :mod:`openem_build.data.headers`) and returns located problems.
:func:`prefill` turns the same metadata into field values for ``openem add`` to write.

Both are pure: they take the plain document, a mapping of file path (relative to the DataLad dataset's
root) → extracted metadata (a :class:`~openem_build.data.headers.FileMetadata` or its JSON, as stored in
``manifest.json``; None for files without any), and for crosscheck a way to locate fields.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from .data.headers import FileMetadata, as_metadata
from .problems import ERROR, WARNING, Problem
from .yamlsafe import Located, Pointer, lookup

PIXEL_TOLERANCE = 0.01  # relative: 0.73 Å declared accepts 0.7227–0.7373 Å in the files
VOLTAGE_TOLERANCE_KV = 0.5
MAX_FILE_PROBLEMS = 20  # file problems reported one by one before the rest are summarised
#: The voxel size many programs write when they do not know it: a mismatch with it is only a warning.
PLACEHOLDER_VOXEL = 1.0
MRC_FORMATS: Mapping[str, tuple[str, ...]] = {
    "mrc": (".mrc",), "mrcs": (".mrcs",), "map": (".map",), "rec": (".rec",), "st": (".st",)}

Where = Located | Callable[[Pointer], tuple[int, int]]
Files = Mapping[str, "FileMetadata | Mapping[str, Any] | None"]


# --- helpers ------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _field(pointer: Iterable[str | int]) -> str:
    out = ""
    for part in pointer:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _under(path: str, directory: str) -> bool:
    directory = directory.strip("/")
    return directory in ("", ".") or path.startswith(directory + "/")


def is_navigation(path: str, meta: FileMetadata) -> bool:
    """Whether the file is an EPU navigation image (atlas, grid square, foil hole), not an exposure of the data:
    EPU names them ``Atlas…``, ``GridSquare_<…>`` and ``FoilHole_<hole>_<date>``, and exposures
    ``FoilHole_<hole>_Data_<…>``. Navigation images are taken at other magnifications, pixel sizes and doses, so
    they say nothing about the data's acquisition."""
    if meta.type != "epu":
        return False
    name = path.rsplit("/", 1)[-1]
    return name.startswith(("Atlas", "GridSquare_")) or (name.startswith("FoilHole_") and "_Data" not in name)


def _data_files(files: dict[str, FileMetadata]) -> dict[str, FileMetadata]:
    return {p: m for p, m in files.items() if not is_navigation(p, m)}


def _files(files: Files) -> dict[str, FileMetadata]:
    out = {}
    for path, value in sorted(files.items()):
        meta = as_metadata(value)
        if meta is not None:
            out[path] = meta
    return out


def _show(values: tuple[float, ...]) -> str:
    return f"{values[0]:g}" if len(set(values)) == 1 else " × ".join(f"{v:g}" for v in values)


def _and_more(paths: list[str], what: str = "file") -> str:
    extra = len(paths) - 1
    return paths[0] + (f" (and {extra} more {what}{'s' * (extra != 1)})" if extra else "")


def _close(a: float, b: float, relative: float) -> bool:
    return abs(a - b) <= relative * abs(b)


def _binning(ratio: float) -> int | None:
    for k in (2, 3, 4, 6, 8, 16):
        if abs(ratio - k) <= 0.01 * k:
            return k
    return None


class _Reporter:
    def __init__(self, path: str, where: Where):
        self.path = path
        self.locate = where.where if isinstance(where, Located) else where
        self.problems: list[Problem] = []

    def add(self, pointer: Pointer, message: str, hint: str = "", severity: str = ERROR) -> None:
        line, col = self.locate(tuple(pointer))
        self.problems.append(Problem(self.path, line, col, _field(pointer), message, hint, severity))


def _declared_pixel(doc: Mapping[str, Any], set_index: int | None) -> tuple[float | None, Pointer, bool]:
    """(declared pixel size, where it is, whether the image set states its own) for a set or the entry."""
    if set_index is not None:
        own = _num(lookup(doc, "data", "image_sets", set_index, "pixel_size_A"))
        if own is not None:
            return own, ("data", "image_sets", set_index, "pixel_size_A"), True
    return _num(lookup(doc, "acquisition", "pixel_size_A")), ("acquisition", "pixel_size_A"), False


def _sets(doc: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    sets = lookup(doc, "data", "image_sets")
    return [(i, s) for i, s in enumerate(sets if isinstance(sets, list) else [])
            if isinstance(s, dict) and isinstance(s.get("directory"), str)]


class _Sets:
    """Which image sets hold which files, found by walking up each file's folders (files × depth, never image
    sets × files: a pull request may declare thousands of each)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.sets = _sets(doc)
        self._by_dir: dict[str, list[int]] = {}
        self._root: list[int] = []
        self._length: dict[int, int] = {}
        for i, s in self.sets:
            d = s["directory"].strip("/")
            self._length[i] = len(d)
            if d in ("", "."):
                self._root.append(i)
            else:
                self._by_dir.setdefault(d, []).append(i)

    def holding(self, path: str) -> list[int]:
        """The image sets whose directory holds ``path`` (see :func:`_under`), in document order."""
        found = list(self._root)
        start = path.find("/")
        while start != -1:
            found += self._by_dir.get(path[:start], ())
            start = path.find("/", start + 1)
        return sorted(found)

    def of(self, path: str) -> int | None:
        """The image set whose directory holds ``path`` (the deepest one; the first of equally deep ones)."""
        found = self.holding(path)
        return max(found, key=lambda i: (self._length[i], -i)) if found else None

    def members(self, files: Mapping[str, FileMetadata]) -> dict[int, list[str]]:
        """Each image set's files, in the order of ``files``."""
        out: dict[int, list[str]] = {}
        for p in files:
            for i in self.holding(p):
                out.setdefault(i, []).append(p)
        return out


# --- checks -------------------------------------------------------------------------------------


def _check_voxel_sizes(doc: Mapping[str, Any], files: dict[str, FileMetadata], rep: _Reporter,
                       tolerance: float, sets: _Sets, held: Mapping[int, list[str]]) -> None:
    for i, s in sets.sets:
        suffixes = MRC_FORMATS.get(str(s.get("format")))
        if suffixes is None:
            continue
        declared, pointer, own = _declared_pixel(doc, i)
        if declared is None:
            continue
        members = [(p, files[p]) for p in held.get(i, ()) if files[p].type == "mrc"
                   and p.lower().endswith(suffixes)]
        mismatched: dict[tuple[float, ...], list[str]] = {}
        for p, m in members:
            header = m.data.get("mrc") or {}
            voxel = header.get("voxel_size_A") or []
            compared = tuple(v for v in voxel[: 3 if header.get("kind") in ("volume", "volume-stack") else 2])
            if len(compared) < 2 or any(not isinstance(v, int | float) for v in compared):
                continue  # unset voxel size: the file's own problem, reported with the file
            if not all(_close(v, declared, tolerance) for v in compared):
                mismatched.setdefault(compared, []).append(p)
        for voxel, paths in sorted(mismatched.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
            name = s.get("name") or s["directory"]
            where = ("data", "image_sets", i, "pixel_size_A")
            message = (f"pixel size {declared:g} Å ({_field(pointer)}) differs from the voxel size "
                       f"{_show(voxel)} Å in the MRC header of {_and_more(paths)}")
            if set(voxel) == {PLACEHOLDER_VOXEL}:
                rep.add(where, message + " (1 Å is what many programs write when the size is unknown)",
                        f"set the voxel size in the headers to {declared:g} Å (IMOD `alterheader -del`, Python "
                        "`mrcfile`) or, if the files really have 1 Å pixels, state that here", WARNING)
            elif own:
                hint = ("correct pixel_size_A, or the voxel size in the headers (IMOD `alterheader -del`, "
                        "Python `mrcfile`) if they are wrong")
                rep.add(where, message, hint)
            else:
                k = _binning(voxel[0] / declared)
                binned = f"the files look {k}× binned: " if k else ""
                hint = (f"{binned}add `pixel_size_A: {voxel[0]:g}` to image set '{name}' if its files differ "
                        "from the recorded pixel size; otherwise correct acquisition.pixel_size_A")
                rep.add(where, message, hint, WARNING)


def _check_frames(doc: Mapping[str, Any], files: dict[str, FileMetadata], rep: _Reporter,
                  sets: _Sets, held: Mapping[int, list[str]]) -> None:
    for i, s in sets.sets:
        suffixes = MRC_FORMATS.get(str(s.get("format")))
        if suffixes is None or s.get("category") != "movies":
            continue
        own = _num(s.get("frames_per_image"))
        declared = own if own is not None else _num(lookup(doc, "acquisition", "frames_per_movie"))
        if declared is None:
            continue
        pointer: Pointer = (("data", "image_sets", i, "frames_per_image") if own is not None
                            else ("acquisition", "frames_per_movie"))
        wrong: dict[int, list[str]] = {}
        for p in held.get(i, ()):
            m = files[p]
            header = m.data.get("mrc") or {}
            if m.type == "mrc" and p.lower().endswith(suffixes):
                dims = header.get("dimensions") or []
                if len(dims) == 3 and isinstance(dims[2], int) and dims[2] != declared:
                    wrong.setdefault(dims[2], []).append(p)
        for frames, paths in sorted(wrong.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            rep.add(("data", "image_sets", i, "frames_per_image"),
                    f"{int(declared)} frames per movie ({_field(pointer)}) but the MRC header of "
                    f"{_and_more(paths)} says {frames} frames",
                    "give this set its own frames_per_image" if own is None else "correct frames_per_image",
                    ERROR if own is not None else WARNING)


def _collect(files: dict[str, FileMetadata], key: str) -> dict[Any, list[str]]:
    """Values of ``acquisition[key]`` across files → the files stating each, most common first."""
    out: dict[Any, list[str]] = {}
    for p, m in files.items():
        value = m.acquisition.get(key)
        if value is not None:
            out.setdefault(value, []).append(p)
    return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[1][0])))


def _check_voltage(doc: Mapping[str, Any], files: dict[str, FileMetadata], rep: _Reporter,
                   tolerance: float) -> None:
    found = _collect(files, "acceleration_voltage_kV")
    if not found:
        return
    pointer = ("instrument", "acceleration_voltage_kV")
    declared = _num(lookup(doc, *pointer))
    if declared is None:
        value, paths = next(iter(found.items()))
        rep.add(pointer, f"instrument.acceleration_voltage_kV is not given, but {_and_more(paths)} "
                f"record{'s' * (len(paths) == 1)} {value:g} kV",
                f"add `acceleration_voltage_kV: {value:g}` under instrument", WARNING)
        return
    for value, paths in found.items():
        if abs(value - declared) > tolerance:
            rep.add(pointer, f"{declared:g} kV differs from the {value:g} kV recorded in {_and_more(paths)}",
                    "check the voltage; the instrument's metadata files record what the data were taken at")


def _check_metadata_pixels(doc: Mapping[str, Any], files: dict[str, FileMetadata], rep: _Reporter,
                           tolerance: float, sets: _Sets) -> None:
    """Pixel sizes that instrument metadata (EPU, mdoc, FEI extended headers) record, per image set."""
    groups: dict[tuple[float, Pointer, float], list[str]] = {}
    for p, m in files.items():
        recorded = _num(m.acquisition.get("pixel_size_A"))
        if recorded is None:
            continue
        declared, pointer, _own = _declared_pixel(doc, sets.of(p))
        if declared is not None and not _close(recorded, declared, tolerance):
            groups.setdefault((declared, pointer, recorded), []).append(p)
    for (declared, pointer, recorded), paths in sorted(groups.items(), key=lambda kv: kv[1][0]):
        rep.add(pointer, f"pixel size {declared:g} Å differs from the {recorded:g} Å the acquisition "
                f"metadata of {_and_more(paths)} record",
                "check the calibrated pixel size (binning or super-resolution?)", WARNING)


def _check_magnification(doc: Mapping[str, Any], files: dict[str, FileMetadata], rep: _Reporter) -> None:
    declared = _num(lookup(doc, "acquisition", "magnification"))
    if declared is None:
        return
    for value, paths in _collect(files, "magnification").items():
        if value != declared:
            rep.add(("acquisition", "magnification"), f"magnification {int(declared)} differs from the "
                    f"nominal {value} recorded in {_and_more(paths)}", "check the nominal magnification",
                    WARNING)


def _check_counts(doc: Mapping[str, Any], paths: Iterable[str], rep: _Reporter) -> None:
    from .manifest import set_members  # the manifest's counting rules, so both agree
    from .model import Manifest, ManifestFile

    listing = Manifest(files=tuple(ManifestFile(p) for p in sorted(paths)))
    for i, s in _sets(doc):
        count = s.get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            continue
        members = set_members(listing, s["directory"], s.get("format"))
        depth = len([part for part in s["directory"].strip("/").split("/") if part not in ("", ".")])
        folders = len({"/".join(m.split("/")[: depth + 1]) for m in members if m.count("/") > depth})
        if count not in (len(members), folders):  # files, or one folder per tilt series
            rep.add(("data", "image_sets", i, "count"),
                    f"count is {count} but '{s['directory']}' holds {len(members)} {s.get('format')} "
                    f"file{'s' * (len(members) != 1)}", f"set `count: {len(members)}`")


def _file_problems(files: dict[str, FileMetadata], rep: _Reporter, limit: int, sets: _Sets) -> None:
    reported = 0
    rest: set[str] = set()
    for p, m in files.items():
        for problem in m.problems:
            if reported >= limit:
                rest.add(p)
                continue
            i = sets.of(p)
            rep.add(("data", "image_sets", i) if i is not None else ("data",), f"{p}: {problem}",
                    "fix or replace the file, or mention the problem in the image set's details", WARNING)
            reported += 1
    if rest:
        rep.add(("data",), f"{len(rest)} more file{'s have' if len(rest) != 1 else ' has'} problems, e.g. "
                f"{sorted(rest)[0]}", "see the `problems` of each file in manifest.json", WARNING)


def crosscheck(doc: Mapping[str, Any], files: Files, where: Where, path: str, *,
               pixel_tolerance: float = PIXEL_TOLERANCE, voltage_tolerance_kV: float = VOLTAGE_TOLERANCE_KV,
               file_problems: bool = True, counts: bool = False,
               max_file_problems: int = MAX_FILE_PROBLEMS) -> list[Problem]:
    """Declared values of ``doc`` against the metadata of ``files``; problems located via ``where``.

    ``where`` is the :class:`~openem_build.yamlsafe.Located` document or a function from a field pointer
    to (line, column); ``path`` is how messages name the YAML file. Checks: image-set and acquisition pixel
    sizes against MRC voxel sizes and instrument metadata, the voltage and magnification against instrument
    metadata, frames per movie against MRC movies, and (``file_problems``) what is wrong in the files
    themselves. ``counts`` also checks image-set counts against the paths of ``files`` (which must then list
    every file); ``openem_build.manifest.check_against_yaml`` does that already when a manifest exists.
    """
    if not isinstance(doc, Mapping):
        return []
    metadata = _files(files)
    acquired = _data_files(metadata)
    rep = _Reporter(path, where)
    sets = _Sets(doc)
    held = sets.members(metadata)
    _check_voxel_sizes(doc, metadata, rep, pixel_tolerance, sets, held)
    _check_metadata_pixels(doc, acquired, rep, pixel_tolerance, sets)
    _check_frames(doc, metadata, rep, sets, held)
    _check_voltage(doc, acquired, rep, voltage_tolerance_kV)
    _check_magnification(doc, acquired, rep)
    if counts:
        _check_counts(doc, files.keys(), rep)
    if file_problems:
        _file_problems(metadata, rep, max_file_problems, sets)
    return rep.problems


# --- prefill ------------------------------------------------------------------------------------


@dataclass
class Prefill:
    """Field values read from the files, for ``openem add`` to write into a new ``dataset.yaml``.

    ``values`` is a partial document (``instrument``, ``acquisition``, ``dates``); ``image_sets`` maps a
    directory to values for its image set (``pixel_size_A`` only when it differs from the acquisition's,
    ``frames_per_image`` for movies); ``sources`` says which files each dotted field came from; ``notes``
    lists disagreements between files (the most common value was taken).
    """

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    image_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, dotted: str, value: Any, paths: list[str]) -> None:
        section, key = dotted.split(".", 1)
        self.values.setdefault(section, {})[key] = value
        self.sources[dotted] = _and_more(paths)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _most_common(files: dict[str, FileMetadata], key: str, dotted: str, out: Prefill,
                 unit: str = "") -> tuple[Any, list[str]] | None:
    found = _collect(files, key)
    if not found:
        return None
    (value, paths), *others = found.items()
    if others:
        listing = "; ".join(f"{v!s}{unit} in {_and_more(p)}" for v, p in others[:3])
        out.notes.append(f"{dotted}: {value!s}{unit} in {len(paths)} file{'s' * (len(paths) != 1)}, "
                         f"but {listing}")
    return _clean(value), paths


def prefill(files: Files, categories: Mapping[str, str | None] | None = None) -> Prefill:
    """Field values for a new entry, from the metadata of its files.

    ``categories`` maps image-set directories to their (guessed) category; without it, top-level folders
    are the sets and a folder counts as movies when its name says so.
    """
    meta = _data_files(_files(files))
    out = Prefill()
    simple = [("acceleration_voltage_kV", "instrument.acceleration_voltage_kV", " kV"),
              ("microscope", "instrument.microscope", ""), ("manufacturer", "instrument.manufacturer", ""),
              ("detector", "instrument.detector", ""), ("detector_mode", "instrument.detector_mode", ""),
              ("pixel_size_A", "acquisition.pixel_size_A", " Å"),
              ("magnification", "acquisition.magnification", ""),
              ("software", "acquisition.software", ""), ("tilt_step_deg", "acquisition.tilt_step_deg", "°"),
              ("tilt_scheme", "acquisition.tilt_scheme", "")]
    for key, dotted, unit in simple:
        found = _most_common(meta, key, dotted, out, unit)
        if found:
            out.put(dotted, *found)
    slit = _most_common(meta, "energy_filter_slit_eV", "instrument.energy_filter", out, " eV")
    if slit:
        out.put("instrument.energy_filter", f"{slit[0]:g} eV slit", slit[1])

    # Tilt range: the most common range of the tilt series (mdoc), else of MRC stacks with tilt angles.
    ranges: dict[tuple[float, float], list[str]] = {}
    for p, m in meta.items():
        r = m.acquisition.get("tilt_range_deg")
        angles = m.acquisition.get("tilt_angles_deg")
        if not r and angles and len(angles) > 1:
            r = [round(min(angles), 1), round(max(angles), 1)]
        if r:
            ranges.setdefault((_clean(r[0]), _clean(r[1])), []).append(p)
    if ranges:
        rng, paths = max(ranges.items(), key=lambda kv: (len(kv[1]), kv[0]))
        out.put("acquisition.tilt_range_deg", list(rng), paths)

    # Dose: per tilt series (mdoc total) or per movie (EPU, FEI); the median over files.
    for key in ("total_dose_e_per_A2", "dose_e_per_A2"):
        doses = {p: _num(m.acquisition.get(key)) for p, m in meta.items()}
        doses = {p: d for p, d in doses.items() if d is not None and d > 0}
        if doses:
            out.put("acquisition.total_dose_e_per_A2", _clean(round(statistics.median(doses.values()), 1)),
                    sorted(doses))
            break

    # Defocus: the span of every target or applied defocus recorded.
    defocus: list[float] = []
    defocus_paths: list[str] = []
    for p, m in meta.items():
        values = [m.acquisition.get("defocus_um"), m.acquisition.get("applied_defocus_um"),
                  *(m.acquisition.get("defocus_range_um") or [])]
        values = [v for v in values if _num(v) is not None]
        if values:
            defocus += values
            defocus_paths.append(p)
    if defocus:
        span = [_clean(round(min(defocus), 1)), _clean(round(max(defocus), 1))]
        out.put("acquisition.defocus_range_um", span, defocus_paths)

    if "pixel_size_A" not in out.values.get("acquisition", {}):
        # No instrument metadata: the most common voxel size of 2D images and stacks (micrographs, movies).
        voxels: Counter[float] = Counter()
        voxel_paths: list[str] = []
        for p, m in meta.items():
            header = m.data.get("mrc") or {}
            voxel = header.get("voxel_size_A") or []
            if header.get("kind") in ("image", "image-stack") and len(voxel) >= 2 and _num(voxel[0]) \
                    and voxel[0] != PLACEHOLDER_VOXEL:
                voxels[voxel[0]] += 1
                voxel_paths.append(p)
        if voxels:
            out.put("acquisition.pixel_size_A", _clean(voxels.most_common(1)[0][0]), voxel_paths)

    collected = sorted((str(m.acquisition["collected"])[:10], p) for p, m in meta.items()
                       if re.match(r"\d{4}-\d\d-\d\d", str(m.acquisition.get("collected", ""))))
    if collected:
        out.put("dates.collected", collected[0][0], [collected[0][1]])

    _prefill_sets(meta, categories, out)
    return out


def _prefill_sets(meta: dict[str, FileMetadata], categories: Mapping[str, str | None] | None,
                  out: Prefill) -> None:
    if categories is None:
        tops = sorted({p.split("/", 1)[0] for p in meta if "/" in p})
        categories = {d: "movies" if re.search(r"movie|frame", d, re.I) else None for d in tops}
    acquisition_px = _num(out.values.get("acquisition", {}).get("pixel_size_A"))
    frames_seen: Counter[int] = Counter()
    frames_paths: list[str] = []
    for directory, category in sorted(categories.items()):
        voxels: Counter[float] = Counter()
        stacks: Counter[int] = Counter()
        paths: list[str] = []
        for p, m in meta.items():
            header = m.data.get("mrc") or {}
            if m.type != "mrc" or not _under(p, directory):
                continue
            voxel = header.get("voxel_size_A") or []
            if len(voxel) >= 2 and _num(voxel[0]) and voxel[0] == voxel[1] != PLACEHOLDER_VOXEL:
                voxels[voxel[0]] += 1
                paths.append(p)
            dims = header.get("dimensions") or []
            if header.get("kind") in ("image-stack", "volume") and len(dims) == 3:
                stacks[dims[2]] += 1
        values: dict[str, Any] = {}
        if voxels:
            px = voxels.most_common(1)[0][0]
            if acquisition_px is None or not _close(px, acquisition_px, PIXEL_TOLERANCE):
                values["pixel_size_A"] = _clean(px)
                out.sources[f"image_sets[{directory}].pixel_size_A"] = _and_more(paths)
        if category == "movies" and stacks:
            frames = stacks.most_common(1)[0][0]
            values["frames_per_image"] = frames
            frames_seen[frames] += 1
            frames_paths += [p for p in meta if _under(p, directory)]
        if values:
            out.image_sets[directory] = values
    # Frames per movie: MRC movies first, then what SerialEM or EPU recorded.
    if frames_seen:
        out.put("acquisition.frames_per_movie", frames_seen.most_common(1)[0][0], frames_paths)
    else:
        found = _most_common(meta, "frames", "acquisition.frames_per_movie", out)
        if found:
            out.put("acquisition.frames_per_movie", *found)


def check_manifest(doc: Located, manifest: Any, path: str) -> list[Problem]:
    """:func:`crosscheck` of a ``dataset.yaml`` against the file headers its ``manifest.json`` records (for the
    loader; counts are checked by :func:`openem_build.manifest.check_against_yaml`)."""
    listed = getattr(manifest, "files", ())
    if not any(map(attrgetter("headers"), listed)):  # (most files have none: one pass at C speed)
        return []
    files = {f.path: f.headers for f in listed if f.headers}
    return crosscheck(doc.data, files, doc, path)
