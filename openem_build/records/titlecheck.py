"""A title that states a resolution the record's ``processing.resolution_A`` contradicts ("… at 1.3 Å" of a
1.52 Å map): the title is what every citation and search result shows, so it must say the same as the record.

A title's value agrees when the declared resolution, rounded to the title's decimals, is that value ("3 Å" of
3.2 Å agrees, "1.3 Å" of 1.52 Å does not). Only values the title marks as a resolution count: "at X Å",
"X Å resolution", "resolution of X Å".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .problems import ERROR, Problem
from .yamlsafe import Located, lookup

_UNIT = r"\s*(?:\u00c5|\u212b|angstroms?\b|A\b)"
_NUMBER = r"(\d{1,3}(?:[.,]\d{1,3})?)"
_RESOLUTION = re.compile(rf"\bat\s+(?:a\s+resolution\s+of\s+)?{_NUMBER}{_UNIT}"
                         rf"|{_NUMBER}[\s-]*(?:\u00c5|\u212b|angstroms?|A)\s+resolution"
                         rf"|resolution\s+(?:of\s+)?{_NUMBER}{_UNIT}", re.IGNORECASE)


def stated(title: str) -> list[str]:
    """The resolutions (as written, with a point) a title states."""
    return [next(g for g in m.groups() if g).replace(",", ".") for m in _RESOLUTION.finditer(title)]


def agrees(written: str, resolution: float) -> bool:
    decimals = len(written.partition(".")[2])
    return round(resolution, decimals) == round(float(written), decimals)


def check(doc: Located, path: str) -> list[Problem]:
    """The title's stated resolution against ``processing.resolution_A``."""
    data = doc.data if isinstance(doc.data, Mapping) else {}
    title, resolution = data.get("title"), lookup(data, "processing", "resolution_A")
    if not isinstance(title, str) or not isinstance(resolution, int | float) or isinstance(resolution, bool):
        return []
    wrong = [w for w in stated(title) if not agrees(w, resolution)]
    if not wrong:
        return []
    line, col = doc.where(("title",))
    return [Problem(path, line, col, "title", f"says {wrong[0]} Å, but processing.resolution_A is {resolution} Å",
                    f"write the resolution of the record in the title (… at {resolution:g} Å), or correct "
                    "processing.resolution_A", ERROR)]
