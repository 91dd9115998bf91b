"""The parts every cross-check and the pre-fill share: which files describe the data, which image set holds a
file, what a field declares, and a reporter that locates problems at their YAML line.

Pure: plain documents and :class:`~openem_build.data.headers.FileMetadata` in, values out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..data.headers import FileMetadata, as_metadata
from .problems import ERROR, Problem
from .yamlsafe import Located, Pointer, lookup

Where = Located | Callable[[Pointer], tuple[int, int]]
Files = Mapping[str, "FileMetadata | Mapping[str, Any] | None"]
#: The voxel size many programs write when they do not know it.
PLACEHOLDER_VOXEL = 1.0
MRC_FORMATS: Mapping[str, tuple[str, ...]] = {
    "mrc": (".mrc",), "mrcs": (".mrcs",), "map": (".map", ".map.gz", ".map.bz2"), "rec": (".rec",),
    "st": (".st",)}
#: Binning factors a set's files may have against the recorded pixel size (integer ratios are understood).
BINNINGS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 32)


def num(value: Any) -> float | None:
    """A number (not a bool) as float, else None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def numbers(value: Any, lengths: tuple[int, ...] = (2, 3)) -> tuple[float, ...] | None:
    """A list of numbers of one of ``lengths`` as a tuple of floats, else None."""
    if not isinstance(value, list | tuple) or len(value) not in lengths:
        return None
    out = tuple(num(v) for v in value)
    return None if any(v is None for v in out) else out  # type: ignore[return-value]


def field_name(pointer: Iterable[str | int]) -> str:
    """``("data", "image_sets", 0, "count")`` → ``data.image_sets[0].count``."""
    out = ""
    for part in pointer:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def under(path: str, directory: str) -> bool:
    directory = directory.strip("/")
    return directory in ("", ".") or path.startswith(directory + "/")


def and_more(paths: list[str], what: str = "file") -> str:
    extra = len(paths) - 1
    return paths[0] + (f" (and {extra} more {what}{'s' * (extra != 1)})" if extra else "")


def close(a: float, b: float, relative: float) -> bool:
    return abs(a - b) <= relative * abs(b)


def binning(ratio: float) -> int | None:
    """The binning factor ``ratio`` is (within 1 %), else None."""
    for k in BINNINGS:
        if abs(ratio - k) <= 0.01 * k:
            return k
    return None


def show(values: Iterable[float]) -> str:
    values = tuple(values)
    return f"{values[0]:g}" if len(set(values)) == 1 else " × ".join(f"{v:g}" for v in values)


def yaml_list(values: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


# --- which files describe the data -----------------------------------------------------------------------------


def is_navigation(path: str, meta: FileMetadata) -> bool:
    """Whether the file is an EPU navigation image (atlas, grid square, foil hole), not an exposure of the data:
    EPU names them ``Atlas…``, ``GridSquare_<…>`` and ``FoilHole_<hole>_<date>``, and exposures
    ``FoilHole_<hole>_Data_<…>``. Navigation images are taken at other magnifications, pixel sizes and doses, so
    they say nothing about the data's acquisition."""
    if meta.type != "epu":
        return False
    name = path.rsplit("/", 1)[-1]
    return name.startswith(("Atlas", "GridSquare_")) or (name.startswith("FoilHole_") and "_Data" not in name)


def is_tilt_series_mdoc(meta: FileMetadata) -> bool:
    """A SerialEM mdoc of a tilt series: image sections with more than one tilt angle."""
    return meta.type == "mdoc" and bool(meta.acquisition.get("tilt_angles_deg"))


def is_frame_set_mdoc(meta: FileMetadata) -> bool:
    """A SerialEM mdoc of a frame set (the frames of one exposure, saved beside it): ``[FrameSet]`` sections, or
    image sections with no image file of their own. Its dose is one exposure's, not a tilt series' total."""
    if meta.type != "mdoc" or is_tilt_series_mdoc(meta):
        return False
    info = meta.data.get("mdoc") or {}
    return info.get("section_type") == "FrameSet" or not info.get("image_file")


def metadata_of(files: Files) -> dict[str, FileMetadata]:
    """The files with metadata, by path, sorted."""
    out = {}
    for path, value in sorted(files.items()):
        meta = as_metadata(value)
        if meta is not None:
            out[path] = meta
    return out


def is_montage_mdoc(meta: FileMetadata) -> bool:
    """A SerialEM mdoc of a montage (an atlas or grid map, at its own magnification)."""
    return meta.type == "mdoc" and bool((meta.data.get("mdoc") or {}).get("montage"))


def describing(files: Mapping[str, FileMetadata]) -> dict[str, FileMetadata]:
    """The files whose metadata describe the data's acquisition: not EPU navigation images, and, where tilt-series
    mdocs exist, neither SerialEM frame-set mdocs (the tilt series describe the data; a frame set one tilt of it)
    nor montage mdocs (atlases and grid maps for navigation)."""
    tilt_series = any(is_tilt_series_mdoc(m) for m in files.values())
    return {p: m for p, m in files.items() if not is_navigation(p, m)
            and not (tilt_series and (is_frame_set_mdoc(m) or is_montage_mdoc(m)))}


# --- what the document declares -------------------------------------------------------------------------------


def image_sets(doc: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    sets = lookup(doc, "data", "image_sets")
    return [(i, s) for i, s in enumerate(sets if isinstance(sets, list) else [])
            if isinstance(s, dict) and isinstance(s.get("directory"), str)]


def declared_voxel(doc: Mapping[str, Any], set_index: int | None) -> tuple[tuple[float, ...] | None, Pointer, bool]:
    """(declared voxel size per axis — one value when isotropic —, where it is, whether the image set states its
    own) for an image set or the entry: the set's ``voxel_size_A``, else its ``pixel_size_A``, else the
    acquisition's ``voxel_size_A``, else its ``pixel_size_A``."""
    places: list[tuple[Pointer, bool]] = []
    if set_index is not None:
        places += [(("data", "image_sets", set_index, "voxel_size_A"), True),
                   (("data", "image_sets", set_index, "pixel_size_A"), True)]
    places += [(("acquisition", "voxel_size_A"), False), (("acquisition", "pixel_size_A"), False)]
    for pointer, own in places:
        value = lookup(doc, *pointer)
        if pointer[-1] == "voxel_size_A":
            axes = numbers(value)
            if axes is not None and all(a > 0 for a in axes):
                return axes, pointer, own
        elif (single := num(value)) is not None and single > 0:
            return (single,), pointer, own
    return None, ("acquisition", "pixel_size_A"), False


class Sets:
    """Which image sets hold which files, found by walking up each file's folders (files × depth, never image
    sets × files: a pull request may declare thousands of each)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.sets = image_sets(doc)
        self._by_dir: dict[str, list[int]] = {}
        self._root: list[int] = []
        self._length: dict[int, int] = {}
        self._format = {i: s.get("format") for i, s in self.sets}
        for i, s in self.sets:
            d = s["directory"].strip("/")
            self._length[i] = len(d)
            if d in ("", "."):
                self._root.append(i)
            else:
                self._by_dir.setdefault(d, []).append(i)

    def format(self, i: int) -> str | None:
        """The declared format of image set ``i``."""
        fmt = self._format.get(i)
        return fmt if isinstance(fmt, str) else None

    def holding(self, path: str) -> list[int]:
        """The image sets whose directory holds ``path`` (see :func:`under`), in document order."""
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


class Reporter:
    """Collects problems, each located at its field's YAML line."""

    def __init__(self, path: str, where: Where):
        self.path = path
        self.locate = where.where if isinstance(where, Located) else where
        self.problems: list[Problem] = []

    def add(self, pointer: Pointer, message: str, hint: str = "", severity: str = ERROR) -> None:
        line, col = self.locate(tuple(pointer))
        self.problems.append(Problem(self.path, line, col, field_name(pointer), message, hint, severity))


def collect(files: Mapping[str, FileMetadata], key: str) -> dict[Any, list[str]]:
    """Values of ``acquisition[key]`` across files → the files stating each, most common first (then by value)."""
    out: dict[Any, list[str]] = {}
    for p, m in files.items():
        value = m.acquisition.get(key)
        if value is not None and not isinstance(value, list | dict):
            out.setdefault(value, []).append(p)
    return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))))


def _kind(value: Any) -> str:
    if num(value) is not None:
        return "number"
    return "tuple" if isinstance(value, tuple) and all(num(v) is not None for v in value) else "other"


def _order(value: Any) -> tuple[int, float, tuple[float, ...], str]:
    """A total order over what headers may hold: numbers, tuples of numbers, the rest by their text."""
    kind = _kind(value)
    if kind == "number":
        return (0, float(value), (), "")
    if kind == "tuple":
        return (1, 0.0, tuple(map(float, value)), "")
    return (2, 0.0, (), f"{type(value).__name__}:{value}")


def grouped(found: Mapping[Any, list[str]],
            same: Callable[[Any, Any], bool] | None = None) -> list[tuple[Any, list[str]]]:
    """Values that agree within a tolerance grouped: (the group's most common value, its files, sorted), the group
    with most files first (then by its first file). Without ``same`` every distinct value is a group; with it,
    values are taken in ascending order and a value joins the current group when ``same(value, the group's
    smallest value)`` — one sort and one pass, however many values a pull request's manifest holds."""
    if same is None:
        groups = [(value, sorted(paths)) for value, paths in found.items()]
    else:
        runs: list[list[Any]] = []
        for value in sorted(found, key=_order):
            if runs and _kind(value) == _kind(runs[-1][0]) != "other" and same(value, runs[-1][0]):
                runs[-1].append(value)
            else:
                runs.append([value])
        groups = []
        for run in runs:
            top = max(run, key=lambda v: len(found[v]))  # (the first, i.e. smallest, of equally common values)
            groups.append((top, sorted(p for v in run for p in found[v])))
    return sorted(groups, key=lambda g: (-len(g[1]), g[1][0]))
