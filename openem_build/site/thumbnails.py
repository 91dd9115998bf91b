"""Each entry's representative image and its thumbnails (Home cards, Browse rows, search results, facility pages).

The representative image is one of the entry's previews (``datasets/<id>/previews/``, see gallery.py): the one
``thumbnail:`` names in ``dataset.yaml``, else the one :func:`choose` picks (a central XY slice of a map or
tomogram, else a 2D image, else a projection, else the first). The build writes it at :data:`WIDTHS` pixels wide
(``site/datasets/<id>/thumbnails/``, :func:`write_to_site`), so that a page asks only for the size it shows
(``srcset``), with its width, height and alt text known in advance (:func:`img`): no layout shift, lazy loading.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from ..records.model import Catalogue, Dataset, Preview
from ..records.problems import ERROR, Problem

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
        # Lanczos both ways (a small map's 20 px slice scaled up stays smooth rather than blocky); a large image
        # is first reduced by whole factors, which is several times faster and looks the same at this size.
        out = im.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


#: Part of every cached thumbnail's key: a change to :func:`render` must change it.
RENDER_VERSION = "1"


def _cache_folder(root: Path) -> Path | None:
    """Where thumbnails are kept between builds (in the openem cache, cache.py), keyed by the preview's bytes and
    the width; None when the cache is off or unusable."""
    from ..records import cache

    if not cache.enabled():
        return None
    folder = cache.location() / "thumbnails"
    return folder if cache.usable(folder, root) else None


def _made(data: bytes, width: int, folder: Path | None) -> bytes:
    """The thumbnail of ``data`` at ``width``: from the cache when it holds a whole PNG under its key."""
    from PIL import __version__ as pillow

    from ..data.previews import check_png

    if folder is None:
        return render(data, width)
    key = hashlib.sha256(f"{RENDER_VERSION}:{pillow}:{width}:".encode() + data).hexdigest()
    path = folder / key[:2] / f"{key}.png"
    try:
        kept = path.read_bytes()
        check_png(kept)
        return kept
    except (OSError, ValueError):
        pass
    made = render(data, width)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(made)
        os.replace(tmp, path)
    except OSError:
        pass  # (a cache can only ever cost time)
    return made


def _write_some(jobs: Sequence[tuple[Path, Thumb]], shared: tuple[Path, Path | None]) -> int:
    from ..data import gallery
    from ..infra import sitewrite

    site, folder = shared
    written = 0
    for source, t in jobs:
        try:
            data = gallery.read_image(source)
        except ValueError:
            continue  # (copy_to_site, which runs first, stops the build on such a preview)
        for width, path in t.files:
            target = site / path
            target.parent.mkdir(parents=True, exist_ok=True)
            sitewrite.write_bytes(target, _made(data, width, folder))
            written += 1
    return written


def write_to_site(catalogue: Catalogue, site: Path, root: Path | None = None) -> int:
    """Write every entry's thumbnails into ``site`` (from its validated preview, read again as gallery.py reads
    it), across processes, kept in the openem cache between builds; the number of files written."""
    from ..data import gallery
    from ..infra.parallel import fork_map, workers

    base = Path(root or catalogue.root)
    jobs = []
    for d in catalogue.datasets:
        t = thumb(d)
        if t is not None:
            jobs.append((base / "datasets" / d.id / gallery.PREVIEWS_DIR / t.preview.file, t))
    if not jobs:
        return 0
    parts = max(1, min(workers() * 4, len(jobs) // 50))
    chunks = [jobs[i::parts] for i in range(parts)]
    return sum(fork_map(_write_some, chunks, (site, _cache_folder(base))))
