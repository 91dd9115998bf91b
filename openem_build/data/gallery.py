"""Previews of a catalogue entry: ``datasets/<id>/previews/*.png`` and ``datasets/<id>/previews.json``.

``openem add`` and ``openem manifest`` write them (:func:`write`) from a few representative files whose content
is present locally (MRC, compressed MRC, and every format :mod:`openem_build.data.arraypreviews` reads): the
first file of each image set of maps, tomograms, micrographs, tilt series, spectra …, then the middle file of
each set of 2D data (micrographs, spectra, diffraction images: another file of such a set shows something
else), at most :data:`MAX_FILES` files per entry. The PNGs are made by :mod:`openem_build.data.previews` (deterministic
bytes); ``previews.json`` lists each with its name, view, size, alt text and the data file it shows.

The loader reads ``previews.json`` (:func:`read`) and checks every image it lists: a regular file in
``previews/`` (no symbolic link), of at most :data:`~openem_build.data.previews.MAX_PNG_BYTES` bytes and the size
recorded, a whole PNG image (every chunk, the image data decompressed in bounded steps) of the recorded width and
height and at most :data:`~openem_build.data.previews.MAX_PNG_PIXELS` pixels. The MkDocs plugin copies the PNG
files into the site when it writes it (:func:`copy_to_site`), checking each again as it copies it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from ..infra import sitewrite
from ..records import textcheck
from ..records.manifest import JsonDoc, _safe_path, confined, content_roots, is_member, load_json, sorted_members
from ..records.model import Catalogue, Preview
from ..records.problems import ERROR, WARNING, Problem, relpath
from . import arraypreviews, mrc
from . import previews as P
from . import rasterpreview as raster
from .headers import brief

PREVIEWS_DIR = "previews"
PREVIEWS_FILE = "previews.json"
PREVIEWS_VERSION = 1
MAX_FILES = 6
#: Image-set categories worth a preview, in the order files are chosen from them.
CATEGORIES = ("maps", "tomograms", "micrographs", "tilt-series", "volume-images", "spectra", "diffraction-images",
              "class-averages", "movies")
#: Categories whose files each show something else (2D data): their middle file is previewed too.
SECOND_FILE = ("micrographs", "spectra", "diffraction-images")
MAX_BYTES = 1 << 20  # previews.json larger than this is not read
MAX_ALT = 1000  # characters of a preview's alt text
MAX_REPORTED = 25  # problems reported per previews.json before the rest is summarised (each is located)
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.png$")
#: Image-set formats whose files may be previewed as 2D raster images when an entry has no MRC file to preview.
_RASTER_FORMATS = frozenset({"jpeg", "jpg", "png", "tiff", "tif"})
#: What ``kind`` may be: a plane of two axes, a projection or a 2D image.
_KIND = re.compile(r"^(?:[XYZ]{2}|projection|image|montage|spectrum|map)$")
_TOP_FIELDS = frozenset({"previews_version", "commit", "previews"})
_ITEM_FIELDS = frozenset({"file", "kind", "width", "height", "bytes", "alt", "source", "caption"})
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HINT = "regenerate the previews with `openem manifest {ident}` instead of editing previews.json by hand"

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


# ------------------------------------------------------------------------------------------ reading

def read(folder: Path, root: Path) -> tuple[tuple[Preview, ...], list[Problem]]:
    """The previews listed in ``folder/previews.json`` (none when it is absent) and what is wrong with them.

    Every listed image is checked (see the module's description); one that is missing is left out with a
    warning, one that is not what the list says is an error."""
    path = folder / PREVIEWS_FILE
    if not (path.exists() or path.is_symlink()):
        return (), []
    shown = relpath(path, root)
    hint = _HINT.format(ident=folder.name)
    if path.is_symlink() or not path.is_file():
        return (), [Problem(shown, 0, 0, "", "must be a regular file", hint)]
    if path.stat().st_size > MAX_BYTES:
        return (), [Problem(shown, 0, 0, "", f"is larger than {MAX_BYTES} bytes", hint)]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return (), [Problem(shown, 0, 0, "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})", hint)]
    data, broken = load_json(text, shown, hint)
    if broken is not None:
        return (), [broken]
    doc = JsonDoc(text, data)
    problems: list[Problem] = []

    def add(pointer: tuple[str | int, ...], message: str, severity: str = ERROR, key: bool = False) -> None:
        line, col = doc.where(pointer, key=key)
        name = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(pointer))
        problems.append(Problem(shown, line, col, name, message, hint, severity))

    items = data.get("previews") if isinstance(data, dict) else None
    if not isinstance(items, list):
        add(("previews",), "must be a JSON object with a list of previews")
        return (), problems
    for name in sorted(set(data) - _TOP_FIELDS):
        add((name,), f"unknown field '{name}' (known: {', '.join(sorted(_TOP_FIELDS))})", key=True)
    version, commit = data.get("previews_version", PREVIEWS_VERSION), data.get("commit")
    if type(version) is not int or version != PREVIEWS_VERSION:
        add(("previews_version",), f"previews_version must be {PREVIEWS_VERSION}, not {brief(version)}")
    if commit is not None and not (isinstance(commit, str) and _COMMIT.fullmatch(commit)):
        add(("commit",), f"commit must be a full 40-character commit hash or null, not {brief(commit)}")
    out: list[Preview] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if len(problems) >= MAX_REPORTED:  # (the rest is neither checked nor shown)
            severity = ERROR if any(p.severity == ERROR for p in problems) else WARNING
            problems.append(Problem(shown, 0, 0, "", f"more problems not shown: previews[{i}] and after are left "
                                    "out", hint, severity))
            return tuple(out), problems
        if not isinstance(item, dict):
            add(("previews", i), "each preview must be a JSON object")
            continue
        for name in sorted(set(item) - _ITEM_FIELDS):
            add(("previews", i, name), f"unknown field '{name}' (known: {', '.join(sorted(_ITEM_FIELDS))})",
                key=True)
        file, source, alt, kind = item.get("file"), item.get("source"), item.get("alt"), item.get("kind", "image")
        width, height, size = item.get("width"), item.get("height"), item.get("bytes")
        if not (isinstance(file, str) and _FILE.fullmatch(file)) or file in seen:
            add(("previews", i, "file"), f"file {brief(file)} is not the name of a PNG file in {PREVIEWS_DIR}/ "
                "(letters, digits, '.', '_' and '-', ending in .png, each listed once)")
            continue
        if not all(type(v) is int and 0 < v <= 10000 for v in (width, height)):
            add(("previews", i, "width"), "width and height must be whole numbers of pixels")
            continue
        if not (isinstance(alt, str) and alt.strip() and isinstance(source, str) and source):
            add(("previews", i, "alt"), "every preview needs its alt text and the data file it shows (source)")
            continue
        if len(alt) > MAX_ALT:
            add(("previews", i, "alt"), f"alt is {len(alt):,} characters long; at most {MAX_ALT:,} are shown")
            continue
        caption = item.get("caption", "")
        if not isinstance(caption, str) or len(caption) > MAX_ALT:
            add(("previews", i, "caption"), f"caption must be text of at most {MAX_ALT:,} characters")
            continue
        if len(source) > 4096 or not _safe_path(source):
            add(("previews", i, "source"), f"source {brief(source)} is not a relative path inside the dataset")
            continue
        # The rest of textcheck's rules, on the text and its character references (both texts are published).
        bad = next(((k, f) for k, v in (("alt", alt), ("source", source), ("caption", caption))
                    if (f := textcheck.first(v))), None)
        if bad is not None:
            add(("previews", i, bad[0]), f"{bad[0]} {bad[1].message()}")
            continue
        if not (isinstance(kind, str) and _KIND.fullmatch(kind)):
            add(("previews", i, "kind"), "kind must be a plane (XY, XZ, YZ …), projection, image, montage, spectrum "
                f"or map, not {brief(kind)}")
            continue
        if size is not None and not (type(size) is int and 0 < size <= P.MAX_PNG_BYTES):
            add(("previews", i, "bytes"), f"bytes must be the file's size, at most {P.MAX_PNG_BYTES:,}, not "
                f"{brief(size)}")
            continue
        image = folder / PREVIEWS_DIR / file
        where = relpath(image, root)
        if (folder / PREVIEWS_DIR).is_symlink() or image.is_symlink():
            # The build copies the file into the site: a link could publish any file of the machine.
            add(("previews", i, "file"), f"{where} is a symbolic link; previews must be regular files")
            continue
        if not image.exists():
            add(("previews", i, "file"), f"{where} is missing (or its content is not present); the page leaves "
                "the preview out", WARNING)
            continue
        try:
            found = _image(image, width, height, size)
        except ValueError as exc:
            add(("previews", i, "file"), f"{where} {exc}")
            continue
        seen.add(file)
        out.append(Preview(file, kind, width, height, alt.strip(), source, found))
    return tuple(out), problems


def _image(path: Path, width: int, height: int, size: int | None) -> int:
    """The size of the preview image at ``path`` after checking that it is what previews.json says (see
    :func:`read_image`); raises ValueError saying what it is not."""
    data = read_image(path)
    if size is not None and len(data) != size:
        raise ValueError(f"is {len(data):,} bytes, but previews.json records {size:,}")
    found = P.check_png(data)
    if found != (width, height):
        raise ValueError(f"is {found[0]} × {found[1]} pixels, but previews.json records {width} × {height}")
    return len(data)


def read_image(path: Path) -> bytes:
    """The bytes of a preview image: a regular file (opened without following a symbolic link) of at most
    MAX_PNG_BYTES; raises ValueError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("is not a regular file")
        if st.st_size > P.MAX_PNG_BYTES:
            raise ValueError(f"is {st.st_size:,} bytes, more than the {P.MAX_PNG_BYTES:,} a preview may be")
        data = f.read(P.MAX_PNG_BYTES + 1)
    if len(data) > P.MAX_PNG_BYTES:
        raise ValueError(f"is more than the {P.MAX_PNG_BYTES:,} bytes a preview may be")
    return data


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
