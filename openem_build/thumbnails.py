"""Each entry's representative image and its thumbnails (Home cards, Browse rows, search results, facility pages).

The representative image is one of the entry's previews (``datasets/<id>/previews/``, see gallery.py): the one
``thumbnail:`` names in ``dataset.yaml``, else the one :func:`choose` picks (a central XY slice of a map or
tomogram, else a 2D image, else a projection, else the first). The build writes it at :data:`WIDTHS` pixels wide
(``site/datasets/<id>/thumbnails/``, :func:`write_to_site`), so that a page asks only for the size it shows
(``srcset``), with its width, height and alt text known in advance (:func:`img`): no layout shift, lazy loading.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from .model import Catalogue, Dataset, Preview
from .problems import ERROR, Problem

#: The widths written, in pixels: 160 for a row or card at 1×, 320 for 2× screens and larger cards.
WIDTHS = (160, 320)
FOLDER = "thumbnails"
#: Preview kinds in the order the build prefers them: a slice shows structure, a projection of a thin map less.
PREFERENCE = ("XY", "image", "projection")
_PREFIX = "previews/"


@dataclass(frozen=True)
class Thumb:
    """The thumbnails of one entry, relative to the site's root."""

    files: tuple[tuple[int, str], ...]  # (width, path)
    ratio: float  # height / width of the preview
    alt: str
    preview: Preview

    def height(self, width: int) -> int:
        return max(1, round(width * self.ratio))


def choose(d: Dataset) -> Preview | None:
    """The preview representing ``d``: the one its YAML names, else the first of the preferred kind."""
    if not d.previews:
        return None
    if d.thumbnail:
        named = d.thumbnail[len(_PREFIX):]
        for p in d.previews:
            if p.file == named:
                return p
    for kind in PREFERENCE:
        for p in d.previews:
            if p.kind == kind:
                return p
    return d.previews[0]


def thumb(d: Dataset) -> Thumb | None:
    """The thumbnails the build writes for ``d`` (None when it has no preview)."""
    p = choose(d)
    if p is None:
        return None
    stem = p.file[:-len(".png")]
    files = tuple((w, f"datasets/{d.id}/{FOLDER}/{stem}-{w}.png") for w in WIDTHS)
    return Thumb(files, p.height / p.width, p.alt, p)


def img(t: Thumb | None, base: str, width: int = 160, css: str = "openem-thumb") -> Markup:
    """An ``<img>`` of the thumbnail shown ``width`` CSS pixels wide (lazy, with srcset and its size); empty
    Markup without one."""
    if t is None:
        return Markup("")
    srcset = ", ".join(f"{escape(base)}{escape(path)} {w}w" for w, path in t.files)
    src = next(path for w, path in t.files if w >= width) if width <= WIDTHS[-1] else t.files[-1][1]
    return Markup(f'<img class="{escape(css)}" src="{escape(base)}{escape(src)}" srcset="{srcset}" '
                  f'sizes="{width}px" width="{width}" height="{t.height(width)}" alt="{escape(t.alt)}" '
                  'loading="lazy" decoding="async">')


def check(doc: Any, previews: Sequence[Preview], shown: str) -> list[Problem]:
    """A ``thumbnail:`` the YAML names must be one of the entry's previews (the schema checked its form)."""
    data = getattr(doc, "data", None)
    name = data.get("thumbnail") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.startswith(_PREFIX):
        return []
    if any(p.file == name[len(_PREFIX):] for p in previews):
        return []
    line, col = doc.where(("thumbnail",))
    known = ", ".join(_PREFIX + p.file for p in previews[:5]) or "none: this entry has no previews"
    return [Problem(shown, line, col, "thumbnail", f"'{name}' is not one of this entry's previews",
                    f"name one listed in previews.json (known: {known}), or leave thumbnail out", ERROR)]


def render(data: bytes, width: int) -> bytes:
    """A PNG of the image ``data`` scaled to ``width`` pixels wide (same aspect; deterministic bytes)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        mode = "L" if im.mode in ("1", "L", "I", "I;16", "F") else "RGB"
        im = im.convert(mode)
        height = max(1, round(width * im.height / im.width))
        # Lanczos both ways: a small map's 20 px slice scaled up stays smooth rather than blocky.
        out = im.resize((width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write_to_site(catalogue: Catalogue, site: Path, root: Path | None = None) -> int:
    """Write every entry's thumbnails into ``site`` (from its validated preview, checked again as it is read,
    see gallery.read_image); the number of files written."""
    from . import gallery

    base = Path(root or catalogue.root)
    written = 0
    for d in catalogue.datasets:
        t = thumb(d)
        if t is None:
            continue
        source = base / "datasets" / d.id / gallery.PREVIEWS_DIR / t.preview.file
        try:
            data = gallery.read_image(source)
        except ValueError:
            continue  # (copy_to_site, which runs first, stops the build on such a preview)
        for width, path in t.files:
            target = site / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(render(data, width))
            written += 1
    return written
