"""A dataset's file list read as a stream, and what ``openem add`` works out from it in passes over it.

A :class:`Listing` gives the files of a manifest in order, as often as asked, without promising to hold them:
``openem add`` of a plain folder reads them from its rows on disk (:class:`openem_build.data.spill.Listing`), so
that the manifest, the image-set guesses, the pre-fill and the choice of previews take memory for what they
find (image sets, header facts), not for every file. :class:`MemoryListing` is the same for a
:class:`~openem_build.model.Manifest` in memory (an entry cloned from a DataLad dataset).

:func:`guess_image_sets` and :func:`set_facts` give exactly what
:func:`openem_build.manifest.guess_image_sets`, :func:`~openem_build.manifest.set_members` and
``entryfiles.header_pixel_size`` give for the same files (tests/test_listing.py compares them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..records import headercategory
from ..records import manifest as M
from ..records.model import Manifest, ManifestFile


class Listing(Protocol):
    """The files of a dataset at one commit, in the manifest's order, read again on every :meth:`files`."""

    commit: str | None
    datalad_id: str | None
    count: int
    total_size: int
    sizes_complete: bool

    def files(self) -> Iterator[ManifestFile]: ...

    def under(self, directory: str) -> Iterator[str]: ...


class MemoryListing:
    """A :class:`Listing` of a manifest held in memory."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.commit, self.datalad_id = manifest.commit, manifest.datalad_id
        self.count, self.total_size = len(manifest.files), manifest.total_size
        self.sizes_complete = manifest.sizes_complete

    def files(self) -> Iterator[ManifestFile]:
        return iter(self.manifest.files)

    def under(self, directory: str) -> Iterator[str]:
        directory = directory.strip("/")
        paths = sorted(f.path for f in self.manifest.files)
        return (p for p in paths if directory in ("", ".") or p.startswith(directory + "/"))


def as_listing(files: Manifest | Listing) -> Listing:
    return MemoryListing(files) if isinstance(files, Manifest) else files


def headers_of(listing: Listing) -> dict[str, Mapping[str, Any]]:
    """path → header facts of the files that have any (the pre-fill's input)."""
    return {f.path: f.headers for f in listing.files() if f.headers}


def pixel_of(headers: Mapping[str, Any] | None) -> float | None:
    """The pixel size (Å) one file's header states: the acquisition's when the header records it (e.g. FEI
    extended headers), else the MRC voxel size when it is square in x/y and set (not 0 and not the 1.0 many
    programs write when they do not know); None when it states none."""
    if not headers:
        return None
    acquisition = headers.get("acquisition") or {}
    voxel = (headers.get("mrc") or {}).get("voxel_size_A") or []
    value = acquisition.get("pixel_size_A")
    if value is None and len(voxel) >= 2 and voxel[0] == voxel[1] and voxel[0] not in (0, 1):
        value = voxel[0]
    if not isinstance(value, int | float) or value <= 0:
        return None
    return round(float(value), 4)


# ------------------------------------------------------------------------------------------ image sets

def _top(path: str) -> str:
    return path.split("/", 1)[0] if "/" in path else "."


def guess_image_sets(listing: Listing, limit: int = 200) -> list[M.GuessedSet]:
    """:func:`openem_build.manifest.guess_image_sets` in two passes over ``listing``: memory for the groups
    (top-level folder and format), not for the files."""
    groups: dict[tuple[str, str], _Group] = {}
    for f in listing.files():
        directory, fmt = _top(f.path), M.format_of(f.path)
        if directory == "." and fmt == "other":
            continue
        group = groups.setdefault((directory, fmt), _Group())
        group.size += f.size or 0
        group.tally.add(f.path, f.headers)
        if len(group.examples) < 3:
            group.examples.append(f.path)
    known = {directory for directory, fmt in groups if fmt != "other"}
    # (the folder's main set covers its stray files of other formats: they need no set of their own)
    chosen = [(directory, fmt, g) for (directory, fmt), g in groups.items() if fmt != "other" or directory not in known]
    chosen.sort(key=lambda c: (-c[2].size, c[0], c[1]))
    chosen = chosen[:limit]
    facts = set_facts(listing, [(directory, fmt if fmt != "other" else None) for directory, fmt, _g in chosen])
    out = []
    for i, (directory, fmt, g) in enumerate(chosen):
        category, basis = M.guess_category(directory, fmt, tally=g.tally)
        out.append(M.GuessedSet(directory, fmt, facts[i].count, category, g.size, tuple(g.examples), basis))
    return sorted(out, key=lambda s: (s.directory == ".", s.directory, s.format))


@dataclass
class _Group:
    size: int = 0
    examples: list[str] = field(default_factory=list)
    tally: headercategory.Tally = field(default_factory=headercategory.Tally)


@dataclass
class SetFacts:
    """What an image set's members (:func:`openem_build.manifest.set_members`) add up to."""

    count: int = 0
    first: str | None = None  # the first member, in the listing's order (files only; a zarr set's are folders)
    pixel: float | None = None  # the pixel size every member's header states, when they all state the same
    _pixels: set[float] | None = field(default_factory=set, repr=False)
    _roots: set[str] = field(default_factory=set, repr=False)

    def and_more(self) -> str:
        """The first member and how many more (``a.mrc (and 3 more files)``)."""
        extra = self.count - 1
        return f"{self.first}" + (f" (and {extra} more file{'s' * (extra != 1)})" if extra else "")


def set_facts(listing: Listing, sets: list[tuple[str, str | None]]) -> list[SetFacts]:
    """For each (directory, format) of ``sets``: the count, first member and common pixel size of the files
    :func:`openem_build.manifest.set_members` counts, in one pass over ``listing``."""
    facts = [SetFacts() for _ in sets]
    by_directory: dict[str, list[int]] = {}
    for i, (directory, _fmt) in enumerate(sets):
        d = directory.strip("/")
        by_directory.setdefault("." if d in ("", ".") else d, []).append(i)
    everywhere = by_directory.pop(".", [])
    for f in listing.files():
        path = f.path
        within = list(everywhere)
        if by_directory:  # (the sets whose directory holds the path, or is the path itself)
            parts = path.split("/")
            for k in range(1, len(parts) + 1):
                within += by_directory.get("/".join(parts[:k]), ())
        for i in within:
            fmt, found = sets[i][1], facts[i]
            if fmt in M.FOLDER_FORMATS:
                root = _zarr_root(path, fmt)
                if root is not None:
                    found._roots.add(root)
                continue
            if fmt in M.FORMAT_EXTENSIONS and not path.lower().endswith(M._SUFFIXES[fmt]):
                continue
            found.count += 1
            if found.first is None:
                found.first = path
            if found._pixels is not None:
                pixel = pixel_of(f.headers)
                found._pixels = None if pixel is None else found._pixels | {pixel}
                if found._pixels is not None and len(found._pixels) > 1:
                    found._pixels = None
    for (_directory, fmt), found in zip(sets, facts, strict=True):
        if fmt in M.FOLDER_FORMATS:
            found.count = len(found._roots)
            found.first = min(found._roots, default=None)
            found._pixels = None
        found.pixel = next(iter(found._pixels)) if found._pixels else None
        found._pixels, found._roots = None, set()
    return facts


def _zarr_root(path: str, fmt: str) -> str | None:
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower().endswith(M.FORMAT_EXTENSIONS[fmt]):
            return "/".join(parts[: i + 1])
    return None
