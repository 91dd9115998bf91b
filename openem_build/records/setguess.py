"""A manifest as a folder tree, and the image sets its folders suggest (for pages and for ``openem add``'s pre-fill)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# (parse, the limits and the strict JSON reader are defined with the file format and named here too)
from . import headercategory
from .fileformats import format_of, set_members
from .model import Manifest, ManifestFile


@dataclass(frozen=True)
class Folder:
    """A folder of a manifest's file tree, for landing pages (nested ``<details>`` for large datasets)."""

    name: str
    path: str  # '' for the root
    folders: tuple[Folder, ...] = ()
    files: tuple[ManifestFile, ...] = ()
    file_count: int = 0  # all files below, recursively
    size: int = 0  # bytes below, recursively

    @property
    def depth(self) -> int:
        return 0 if not self.path else self.path.count("/") + 1


def tree(manifest: Manifest) -> Folder:
    """The manifest's files as a folder tree, sorted by name, with file counts and sizes per folder."""
    def build(path: str, files: list[ManifestFile]) -> Folder:
        depth = 0 if not path else path.count("/") + 1
        here = [f for f in files if f.path.count("/") == depth]
        below: dict[str, list[ManifestFile]] = {}
        for f in files:
            if f.path.count("/") > depth:
                below.setdefault(f.path.split("/")[depth], []).append(f)
        folders = tuple(build(f"{path}/{name}" if path else name, sub) for name, sub in sorted(below.items()))
        return Folder(path.rsplit("/", 1)[-1], path, folders, tuple(sorted(here, key=lambda f: f.path)),
                      len(files), sum(f.size or 0 for f in files))

    return build("", list(manifest.files))


_CATEGORY_WORDS = {
    "movies": "movies", "movie": "movies", "frames": "movies", "raw": "movies", "micrographs": "micrographs",
    "micrograph": "micrographs", "mics": "micrographs", "aligned": "micrographs", "motioncorr": "micrographs",
    "particles": "particles", "extract": "particles", "class-averages": "class-averages",
    "class2d": "class-averages", "classes": "class-averages", "tilt-series": "tilt-series",
    "tiltseries": "tilt-series", "tilts": "tilt-series", "tomograms": "tomograms", "tomos": "tomograms",
    "tomo": "tomograms", "tomogram": "tomograms", "subtomograms": "subtomograms", "subtomos": "subtomograms",
    "maps": "maps", "map": "maps", "reconstruction": "maps", "reconstructions": "maps", "masks": "masks",
    "mask": "masks", "diffraction": "diffraction-images", "diffraction-images": "diffraction-images",
    "volume": "volume-images", "volumes": "volume-images", "stack": "volume-images", "stacks": "volume-images",
    "montages": "montages", "montage": "montages", "segmentations": "segmentations",
    "segmentation": "segmentations", "labels": "segmentations", "spectra": "spectra", "spectrum": "spectra",
    "eels": "spectra", "edx": "spectra", "metadata": "metadata", "meta": "metadata", "mdoc": "metadata",
}


_FORMAT_CATEGORY = {"eer": "movies", "mdoc": "metadata", "xml": "metadata", "star": "metadata", "rec": "tomograms",
                    "st": "tilt-series", "map": "maps", "cbf": "diffraction-images", "smv": "diffraction-images"}


def guess_category(directory: str, fmt: str, files: Sequence[ManifestFile] = (),
                   tally: headercategory.Tally | None = None) -> tuple[str | None, str]:
    """(category, what it was guessed from) of a folder of files: its name, else the ``files``' header facts
    (:mod:`.headercategory`; or what a ``tally`` of them counted), else its format; (None, "") when unsure."""
    for part in reversed(directory.lower().replace("_", "-").split("/")):
        if part in _CATEGORY_WORDS:
            return _CATEGORY_WORDS[part], "the folder name"
    category, why = (tally.result() if tally is not None
                     else headercategory.guess((f.path, f.headers) for f in files))
    if category is not None:
        return category, why
    return _FORMAT_CATEGORY.get(fmt), "the format" if fmt in _FORMAT_CATEGORY else ""


@dataclass(frozen=True)
class GuessedSet:
    """An image set ``openem add`` proposes: one per top-level folder and file format."""

    directory: str
    format: str
    count: int
    category: str | None
    size: int = 0
    examples: tuple[str, ...] = field(default=())
    #: What the category was guessed from ("the folder name", "the file headers (3 spectra)", "the format").
    basis: str = ""


def guess_image_sets(manifest: Manifest, limit: int = 200) -> list[GuessedSet]:
    """Image sets read from the file list: files grouped by top-level folder and format, counted the way
    validation counts them. Loose files at the root of an unknown format are left out."""
    groups: dict[tuple[str, str], list[ManifestFile]] = {}
    for f in manifest.files:
        directory = f.path.split("/", 1)[0] if "/" in f.path else "."
        fmt = format_of(f.path)
        if directory == "." and fmt == "other":
            continue
        groups.setdefault((directory, fmt), []).append(f)
    known = {directory for directory, fmt in groups if fmt != "other"}
    out = []
    for (directory, fmt), files in groups.items():
        if fmt == "other" and directory in known:
            continue  # the folder's main set covers it; stray files need no set of their own
        members = set_members(manifest, directory, fmt if fmt != "other" else None)
        category, basis = guess_category(directory, fmt, files)
        out.append(GuessedSet(directory, fmt, len(members), category, sum(f.size or 0 for f in files),
                              tuple(f.path for f in files[:3]), basis))
    out.sort(key=lambda s: (-s.size, s.directory, s.format))
    return sorted(out[:limit], key=lambda s: (s.directory == ".", s.directory, s.format))
