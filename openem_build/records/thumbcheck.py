"""``thumbnail:`` in ``dataset.yaml`` names one of the entry's previews (checked when the entry is read; the site's
thumbnails, :mod:`openem_build.site.thumbnails`, are made from it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .model import Preview
from .problems import ERROR, Problem

#: What a ``thumbnail:`` value starts with: the previews' folder of the entry.
PREFIX = "previews/"


def check(doc: Any, previews: Sequence[Preview], shown: str) -> list[Problem]:
    """A ``thumbnail:`` the YAML names must be one of the entry's previews (the schema checked its form)."""
    data = getattr(doc, "data", None)
    name = data.get("thumbnail") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.startswith(PREFIX):
        return []
    if any(p.file == name[len(PREFIX):] for p in previews):
        return []
    line, col = doc.where(("thumbnail",))
    known = ", ".join(PREFIX + p.file for p in previews[:5]) or "none: this entry has no previews"
    return [Problem(shown, line, col, "thumbnail", f"'{name}' is not one of this entry's previews",
                    f"name one listed in previews.json (known: {known}), or leave thumbnail out", ERROR)]
