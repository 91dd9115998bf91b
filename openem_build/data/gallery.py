"""Previews of a catalogue entry: ``datasets/<id>/previews/*.png`` and ``datasets/<id>/previews.json``.

``openem add`` and ``openem manifest`` write them (:func:`write`) from a few representative files whose content
is present locally (MRC, compressed MRC, and every format :mod:`openem_build.data.arraypreviews` reads): the
first file of each image set of maps, tomograms, micrographs, tilt series, spectra …, then the middle file of
each set of 2D data (micrographs, spectra, diffraction images: another file of such a set shows something
else), at most :data:`MAX_FILES` files per entry. The PNGs are made by :mod:`openem_build.data.previews` (deterministic
bytes); ``previews.json`` lists each with its name, view, size, alt text and the data file it shows.

The loader reads ``previews.json`` (:func:`read`, from :mod:`openem_build.data.previewsjson`: compiled msgspec
types) and checks every image it lists: a regular file in ``previews/`` (no symbolic link), of at most
:data:`~openem_build.data.previews.MAX_PNG_BYTES` bytes and the size recorded, a whole PNG image (every chunk, the
image data decompressed in bounded steps) of the recorded width and height and at most
:data:`~openem_build.data.previews.MAX_PNG_PIXELS` pixels. The MkDocs plugin copies the PNG files into the site when
it writes it (:func:`copy_to_site`), checking each again as it copies it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from ..infra import sitewrite
from ..records.manifest import confined, content_roots, is_member, sorted_members
from ..records.model import Catalogue
from ..records.problems import relpath
from . import arraypreviews, mrc
from . import previews as P
from . import rasterpreview as raster
from .previewsjson import MAX_BYTES as MAX_BYTES
from .previewsjson import PREVIEWS_DIR, PREVIEWS_FILE, PREVIEWS_VERSION, read_image
from .previewsjson import read as read

MAX_FILES = 6
#: Image-set categories worth a preview, in the order files are chosen from them.
CATEGORIES = ("maps", "tomograms", "micrographs", "tilt-series", "volume-images", "spectra", "diffraction-images",
              "class-averages", "movies")
#: Categories whose files each show something else (2D data): their middle file is previewed too.
SECOND_FILE = ("micrographs", "spectra", "diffraction-images")
#: Image-set formats whose files may be previewed as 2D raster images when an entry has no MRC file to preview.
_RASTER_FORMATS = frozenset({"jpeg", "jpg", "png", "tiff", "tif"})

#: An image set as the chooser sees it: (directory, category, format).
SetInfo = tuple[str, "str | None", "str | None"]


# ------------------------------------------------------------------------------------------ choosing files

def _under(path: str, directory: str) -> bool:
    directory = directory.strip("/")
    return directory in ("", ".") or path.startswith(directory + "/")


def previewable(path: str) -> bool:
    """Whether a file name is of a format previews are made of (MRC, compressed or not, and the formats of
    :mod:`openem_build.data.arraypreviews`)."""
    return mrc.is_mrc(Path(path)) or arraypreviews.previewable(Path(path))


def choose(sets: Iterable[SetInfo], paths: Iterable[str], available: Callable[[str], bool],
           limit: int = MAX_FILES) -> list[str]:
    """The data files to preview: the first previewable file (by path) of each image set in :data:`CATEGORIES`
    whose content is ``available``, maps first, then tomograms, micrographs, tilt series, volume stacks, spectra
    …; then the middle one of each set in :data:`SECOND_FILE`; at most ``limit``."""
    ordered = sorted(paths)
    return choose_under(sets, lambda d: iter(sorted_members(ordered, d, None)), available, limit)


def choose_under(sets: Iterable[SetInfo], under: Callable[[str], Iterable[str]], available: Callable[[str], bool],
                 limit: int = MAX_FILES) -> list[str]:
    """:func:`choose` with the paths in a directory (all for '.') given in order by ``under``: a long file list
    is read set by set and never held whole (a set's middle file takes a count and a second pass)."""
    sets = list(sets)
    chosen: list[str] = []

    def members(directory: str, fmt: str | None) -> Iterator[str]:
        # (the set's own files: a folder may hold sets of several formats, the root folder all of them)
        return (p for p in under(directory) if is_member(p, fmt) and previewable(p))

    def first(paths: Iterable[str]) -> str | None:
        return next((p for p in paths if p not in chosen and available(p)), None)

    for category in CATEGORIES:
        for directory, cat, fmt in sets:
            if cat == category and len(chosen) < limit and (found := first(members(directory, fmt))):
                chosen.append(found)
    for category in SECOND_FILE:
        for directory, cat, fmt in sets:
            if cat != category or len(chosen) >= limit:
                continue
            count = sum(1 for _ in members(directory, fmt))
            if count < 2:
                continue
            # the middle one, else the nearest after it, else the nearest before it
            found = first(islice(members(directory, fmt), count // 2, None)) or first(
                reversed(list(islice(members(directory, fmt), count // 2))))
            if found:
                chosen.append(found)
    if not chosen:  # no MRC file: the first 2D raster image (JPEG, PNG, TIFF) of an image set, if any
        chosen = _raster(sets, under, available)
    return chosen


def _raster(sets: list[SetInfo], under: Callable[[str], Iterable[str]], available: Callable[[str], bool]
            ) -> list[str]:
    for directory, cat, fmt in sets:
        if cat == "metadata" or (fmt or "").lower() not in _RASTER_FORMATS:
            continue
        for path in under(directory):
            if Path(path).suffix.lower() in raster.SUFFIXES and available(path):
                return [path]
    return []


def stem(path: str) -> str:
    """A safe, unique file-name stem for the previews of ``path`` (``maps/a b.mrc`` → ``maps--a_b.mrc``)."""
    text = re.sub(r"[^A-Za-z0-9._-]", "_", path.replace("/", "--")).lstrip("._-") or "file"
    return text[:150]


# ------------------------------------------------------------------------------------------ writing

def dumps(doc: dict[str, Any]) -> str:
    """The canonical text of ``previews.json``: fixed key order, one preview per line."""
    head = {"previews_version": doc.get("previews_version", PREVIEWS_VERSION), "commit": doc.get("commit")}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    items = [json.dumps(p, ensure_ascii=False, separators=(", ", ": ")) for p in doc.get("previews", [])]
    if not items:
        lines.append('  "previews": []')
    else:
        lines += ['  "previews": ['] + [f"    {row}," for row in items[:-1]] + [f"    {items[-1]}", "  ]"]
    return "\n".join(lines) + "\n}\n"


def generate(content: Path, paths: Sequence[str], out_dir: Path, commit: str | None = None,
             categories: dict[str, str | None] | None = None, mdocs: dict[str, Path] | None = None,
             **options: Any) -> tuple[dict[str, Any], list[str]]:
    """Write the PNGs of ``paths`` (relative to ``content``) into ``out_dir``; the ``previews.json`` document
    and notes on files that gave no preview. ``categories``: the image-set category of each path (a tilt series
    gets a montage, a stack of volume images slices); ``mdocs``: the SerialEM mdoc of a tilt series (its
    angles label the montage)."""
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for path in paths:
        if previewable(path):
            made, why = P.write_previews(content / path, out_dir, stem(path), name=path,
                                         category=(categories or {}).get(path), mdoc_file=(mdocs or {}).get(path),
                                         **options)
        else:  # (a JPEG or PNG of an entry without MRC files: see _raster)
            made, why = raster.write_previews(content / path, out_dir, stem(path), name=path, **options)
        for entry in made:
            entries.append({"file": entry["file"], "kind": entry["kind"], "width": entry["width"],
                            "height": entry["height"], "bytes": entry["bytes"], "alt": entry["alt"],
                            "source": path, "caption": entry["caption"]})
        notes += [f"{path}: {n}" for n in why]
    return {"previews_version": PREVIEWS_VERSION, "commit": commit, "previews": entries}, notes


def write(folder: Path, content: Path, sets: Iterable[SetInfo], paths: Iterable[str], commit: str | None = None,
          *, under: Callable[[str], Iterable[str]] | None = None, **options: Any) -> tuple[list[str] | None, list[str]]:
    """(Re)make the previews of the entry in ``folder`` (``datasets/<id>``) from the files under ``content``
    (``paths``, or for a long list ``under``: see :func:`choose_under`).

    Returns the data files previewed and notes; (None, []) when no candidate file's content is present, in which
    case existing previews are left as they are. The new set replaces the old one as a whole: it is written into
    a temporary folder beside it first, so a failure leaves the old previews.
    """
    if content.is_symlink():  # (a dataset is a folder of its own: a link could preview anything)
        return None, [f"{content} is a symbolic link: no previews made"]
    roots = content_roots(content)
    sets = list(sets)

    def available(path: str) -> bool:
        return confined(content / path, roots)

    if under is None:
        ordered = sorted(paths)
        chosen = choose(sets, ordered, available)
        listed = set(ordered).__contains__
    else:
        chosen = choose_under(sets, under, available)

        def listed(path: str) -> bool:
            return path in under(path.rsplit("/", 1)[0] if "/" in path else ".")
    if not chosen:
        return None, []
    categories = {p: next((cat for directory, cat, _fmt in sets if _under(p, directory)), None) for p in chosen}
    mdocs = {p: content / f"{p}.mdoc" for p in chosen
             if listed(f"{p}.mdoc") and confined(content / f"{p}.mdoc", roots)}
    staging = Path(tempfile.mkdtemp(prefix=".previews-", dir=folder))
    try:
        doc, notes = generate(content, chosen, staging / PREVIEWS_DIR, commit, categories, mdocs, **options)
        target_dir, target_json = folder / PREVIEWS_DIR, folder / PREVIEWS_FILE
        old = folder / f".{PREVIEWS_DIR}.old"
        _remove(old)
        if target_dir.is_symlink():  # (never followed: the link goes, not what it points to)
            target_dir.unlink()
        if target_dir.exists():
            os.rename(target_dir, old)
        if (staging / PREVIEWS_DIR).is_dir():
            os.rename(staging / PREVIEWS_DIR, target_dir)
        if doc["previews"]:
            tmp = staging / PREVIEWS_FILE
            tmp.write_text(dumps(doc), encoding="utf-8")
            os.replace(tmp, target_json)
        else:
            target_json.unlink(missing_ok=True)
        _remove(old)
        return chosen, notes
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def sets_of(doc: Any) -> list[SetInfo]:
    """The image sets of a parsed ``dataset.yaml`` (entries without a directory are skipped)."""
    data = doc.get("data") if isinstance(doc, dict) else None
    sets = data.get("image_sets") if isinstance(data, dict) else None
    out: list[SetInfo] = []
    for s in sets if isinstance(sets, list) else []:
        if isinstance(s, dict) and isinstance(s.get("directory"), str):
            out.append((s["directory"], s.get("category") if isinstance(s.get("category"), str) else None,
                        s.get("format") if isinstance(s.get("format"), str) else None))
    return out


# ------------------------------------------------------------------------------------------ into the site

def copy_to_site(catalogue: Catalogue, site: Path, root: Path | None = None) -> int:
    """Copy every dataset's preview PNGs to ``site/datasets/<id>/previews/`` (one at a time, each at most
    MAX_PNG_BYTES); the number copied. Each is checked again as it is copied, so what is published is what
    validation accepted: a file changed since (or a link put in its place) stops the build with PluginError."""
    base = Path(root or catalogue.root)
    copied = 0
    for d in catalogue.datasets:
        if not d.previews:
            continue
        target = site / "datasets" / d.id / PREVIEWS_DIR
        target.mkdir(parents=True, exist_ok=True)
        for p in d.previews:
            source = base / "datasets" / d.id / PREVIEWS_DIR / p.file
            try:
                if source.parent.is_symlink():
                    raise ValueError("is in a folder that is a symbolic link")
                data = read_image(source)
                if P.check_png(data) != (p.width, p.height) or (p.bytes is not None and len(data) != p.bytes):
                    raise ValueError("is no longer the image that was validated")
            except ValueError as exc:
                from mkdocs.exceptions import PluginError

                raise PluginError(f"{relpath(source, base)} {exc}; run the build again") from None
            sitewrite.write_bytes(target / p.file, data)
            copied += 1
    return copied
