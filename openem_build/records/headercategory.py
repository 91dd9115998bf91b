"""The image-set category the files' own headers suggest, for ``openem add``'s pre-fill (pure: header facts in).

Each file's header facts (``image.kind``, ``image.signal_type``, the axes' units) say what it holds:

* a spectrum or a spectrum image (EELS, EDX) → ``spectra``;
* a diffraction pattern (a signal type naming diffraction, or axes in reciprocal length such as ``1/nm``) →
  ``diffraction-images``;
* a movie (EER) or a multi-page TIFF (a stack of frames) → ``movies``;
* a tilt series → ``tilt-series``;
* a 2D image of a format other than MRC (DM, EMD, TIA, TIFF: TEM, STEM and SEM images) → ``micrographs``
  (an MRC image may be a micrograph, a class average or a projection: its folder name or format decides).

A set whose files disagree takes the category most of them suggest; a tie goes to the category of the first of
the tied files by path. :func:`guess` says how many files suggested what, for the stub's comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Header ``type`` values of MRC files (whose 2D images say nothing of their category).
_MRC_TYPES = frozenset({"mrc"})
#: Axis units of reciprocal space (a diffraction pattern's axes).
_RECIPROCAL = frozenset({"1/nm", "1/Å", "1/A", "1/m", "1/pm", "nm^-1", "Å^-1", "1 / nm"})
_KIND = {"spectrum": ("spectra", "spectrum"), "spectrum-image": ("spectra", "spectrum image"),
         "movie": ("movies", "movie"), "tilt-series": ("tilt-series", "tilt series")}
#: Plurals of what the comment calls the files.
_PLURAL = {"spectrum": "spectra", "spectrum image": "spectrum images", "movie": "movies", "tilt series": "tilt series",
           "diffraction pattern": "diffraction patterns", "image": "images", "image stack": "image stacks"}


def of_file(headers: Mapping[str, Any]) -> tuple[str, str] | None:
    """(category, what the file holds) from one file's header facts; None when they say nothing useful."""
    image = headers.get("image")
    if not isinstance(image, Mapping):
        return None
    kind = image.get("kind")
    signal = str(image.get("signal_type") or "").lower()
    if kind in _KIND:
        return _KIND[kind]
    if "diffraction" in signal or _reciprocal(image.get("axes")):
        return "diffraction-images", "diffraction pattern"
    if kind == "image-stack" and headers.get("type") == "tiff":
        return "movies", "image stack"
    if kind == "image" and headers.get("type") not in _MRC_TYPES:
        return "micrographs", "image"
    return None


def _reciprocal(axes: Any) -> bool:
    if not isinstance(axes, list):
        return False
    units = [str(a.get("units") or "").strip() for a in axes if isinstance(a, Mapping)]
    return bool(units) and all(u in _RECIPROCAL for u in units)


class Tally:
    """What a set's files suggest, counted file by file (memory for the categories, not the files)."""

    def __init__(self) -> None:
        self.votes: dict[str, list] = {}  # category → [files, first path]
        self.what: dict[str, list] = {}  # what the files hold → [files, first path]

    def add(self, path: str, headers: Mapping[str, Any] | None) -> None:
        found = of_file(headers) if isinstance(headers, Mapping) else None
        if found is None:
            return
        for table, key in ((self.votes, found[0]), (self.what, found[1])):
            entry = table.setdefault(key, [0, path])
            entry[0] += 1
            entry[1] = min(entry[1], path)

    def result(self) -> tuple[str | None, str]:
        """(category, why): see :func:`guess`."""
        if not self.votes:
            return None, ""
        top = max(n for n, _first in self.votes.values())
        chosen = min((c for c, (n, _first) in self.votes.items() if n == top), key=lambda c: self.votes[c][1])
        parts = ", ".join(f"{n} {label if n == 1 else _PLURAL[label]}" for label, (n, _first) in
                          sorted(self.what.items(), key=lambda item: (-item[1][0], item[1][1])))
        return chosen, f"the file headers ({parts})"


def guess(files: Iterable[tuple[str, Mapping[str, Any] | None]]) -> tuple[str | None, str]:
    """(category, why) of a set from its files' (path, header facts); (None, "") when the headers say nothing.
    ``why`` reads like "the file headers (2 spectra, 1 image)"."""
    tally = Tally()
    for path, headers in files:
        tally.add(path, headers)
    return tally.result()
