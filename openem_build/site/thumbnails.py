"""Each entry's thumbnails written into the site (Home cards, Browse rows, search results, facility pages).

Which preview represents an entry, the files' names and the ``<img>`` that shows them are in
:mod:`openem_build.render.thumbs`; here the representative preview is scaled to each of its widths
(deterministic PNG bytes), across processes, kept in the openem cache between builds.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

from ..records.model import Catalogue
from ..render.thumbs import Thumb, thumb


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
