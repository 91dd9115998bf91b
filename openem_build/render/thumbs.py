"""Which preview represents an entry, and the ``<img>`` of its thumbnails (pure: records in, names and markup out).

The representative image is one of the entry's previews (``datasets/<id>/previews/``, see data/gallery.py): the
one ``thumbnail:`` names in ``dataset.yaml``, else the one :func:`choose` picks (a central XY slice of a map or
tomogram, else a 2D image, else a projection, else the first). The build writes it at :data:`WIDTHS` pixels wide
(``site/datasets/<id>/thumbnails/``, :func:`openem_build.site.thumbnails.write_to_site`), so that a page asks only
for the size it shows (``srcset``), with its width, height and alt text known in advance (:func:`img`): no layout
shift, lazy loading.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from ..records.model import Dataset, Preview
from ..records.thumbcheck import PREFIX

#: The widths written, in pixels: 160 for a row or card at 1×, 320 for 2× screens and larger cards.
WIDTHS = (160, 320)
FOLDER = "thumbnails"
#: Preview kinds in the order the build prefers them: a slice shows structure, a projection of a thin map less.
PREFERENCE = ("XY", "image", "projection")


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
        named = d.thumbnail[len(PREFIX):]
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
    # Short names (datasets/<id>/thumbnails/160.png): Browse names one per row, 10,000 rows on a page.
    files = tuple((w, f"datasets/{d.id}/{FOLDER}/{w}.png") for w in WIDTHS)
    return Thumb(files, p.height / p.width, p.caption, p)


def img(t: Thumb | None, base: str, width: int = 160, css: str = "openem-thumb") -> Markup:
    """An ``<img>`` of the thumbnail shown ``width`` CSS pixels wide (lazy, its size given); empty Markup
    without one. Up to half the smallest file's width the file alone is sharp on 2× screens; wider, a
    ``srcset`` lets the browser pick."""
    if t is None:
        return Markup("")
    src = next((path for w, path in t.files if w >= width), t.files[-1][1])
    srcset = ""
    if width > WIDTHS[0] // 2:
        choices = ", ".join(f"{escape(base)}{escape(path)} {w}w" for w, path in t.files)
        srcset = f' srcset="{choices}" sizes="(max-width: 30em) 100vw, {width}px"'
    return Markup(f'<img class="{escape(css)}" src="{escape(base)}{escape(src)}"{srcset} width="{width}" '
                  f'height="{t.height(width)}" alt="{escape(t.alt)}" loading="lazy" decoding="async">')
