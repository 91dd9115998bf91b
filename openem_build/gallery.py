"""Previews of a catalogue entry: ``datasets/<id>/previews/*.png`` and ``datasets/<id>/previews.json``.

``openem add`` and ``openem manifest`` write them (:func:`write`) from a few representative MRC files whose
content is present locally: the first file of each image set of maps, tomograms, micrographs and tilt series,
at most :data:`MAX_FILES` files per entry. The PNGs are made by :mod:`openem_build.data.previews` (deterministic
bytes); ``previews.json`` lists each with its name, view, size, alt text and the data file it shows.

The loader reads ``previews.json`` only (:func:`read`), never the images; the MkDocs plugin copies the PNG files
into the site when it writes it (:func:`copy_to_site`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .data import mrc
from .data import previews as P
from .model import Catalogue, Preview
from .problems import ERROR, WARNING, Problem, relpath

PREVIEWS_DIR = "previews"
PREVIEWS_FILE = "previews.json"
PREVIEWS_VERSION = 1
MAX_FILES = 3
#: Image-set categories worth a preview, in the order files are chosen from them.
CATEGORIES = ("maps", "tomograms", "micrographs", "tilt-series", "volume-images")
MAX_BYTES = 1 << 20  # previews.json larger than this is not read
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.png$")
_HINT = "regenerate the previews with `openem manifest {ident}` instead of editing previews.json by hand"

#: An image set as the chooser sees it: (directory, category, format).
SetInfo = tuple[str, "str | None", "str | None"]


# ------------------------------------------------------------------------------------------ choosing files

def _under(path: str, directory: str) -> bool:
    directory = directory.strip("/")
    return directory in ("", ".") or path.startswith(directory + "/")


def choose(sets: Iterable[SetInfo], paths: Iterable[str], available: Callable[[str], bool],
           limit: int = MAX_FILES) -> list[str]:
    """The data files to preview: the first MRC file (by path) of each image set in :data:`CATEGORIES` whose
    content is ``available``, maps first, then tomograms, micrographs, tilt series and volume stacks; at most
    ``limit``."""
    ordered = sorted(paths)
    sets = list(sets)
    chosen: list[str] = []
    for category in CATEGORIES:
        for directory, cat, _fmt in sets:
            if cat != category or len(chosen) >= limit:
                continue
            for path in ordered:
                if (_under(path, directory) and Path(path).suffix.lower() in mrc.SUFFIXES and path not in chosen
                        and available(path)):
                    chosen.append(path)
                    break
    return chosen


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
             **options: Any) -> tuple[dict[str, Any], list[str]]:
    """Write the PNGs of ``paths`` (relative to ``content``) into ``out_dir``; the ``previews.json`` document
    and notes on files that gave no preview."""
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for path in paths:
        made, why = P.write_previews(content / path, out_dir, stem(path), name=path, **options)
        for entry in made:
            entries.append({"file": entry["file"], "kind": entry["kind"], "width": entry["width"],
                            "height": entry["height"], "bytes": entry["bytes"], "alt": entry["alt"],
                            "source": path})
        notes += [f"{path}: {n}" for n in why]
    return {"previews_version": PREVIEWS_VERSION, "commit": commit, "previews": entries}, notes


def write(folder: Path, content: Path, sets: Iterable[SetInfo], paths: Iterable[str], commit: str | None = None,
          **options: Any) -> tuple[list[str] | None, list[str]]:
    """(Re)make the previews of the entry in ``folder`` (``datasets/<id>``) from the files under ``content``.

    Returns the data files previewed and notes; (None, []) when no candidate file's content is present, in which
    case existing previews are left as they are. The new set replaces the old one as a whole: it is written into
    a temporary folder beside it first, so a failure leaves the old previews.
    """
    chosen = choose(sets, paths, lambda p: (content / p).is_file())
    if not chosen:
        return None, []
    staging = Path(tempfile.mkdtemp(prefix=".previews-", dir=folder))
    try:
        doc, notes = generate(content, chosen, staging / PREVIEWS_DIR, commit, **options)
        target_dir, target_json = folder / PREVIEWS_DIR, folder / PREVIEWS_FILE
        old = folder / f".{PREVIEWS_DIR}.old"
        if old.exists():
            shutil.rmtree(old)
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
        if old.exists():
            shutil.rmtree(old)
        return chosen, notes
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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

    Reads the list only; a listed PNG that is missing is left out with a warning."""
    from .manifest import JsonDoc

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
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        return (), [Problem(shown, 0, 0, "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})", hint)]
    except json.JSONDecodeError as exc:
        return (), [Problem(shown, exc.lineno, exc.colno, "", f"not valid JSON: {exc.msg}", hint)]
    doc = JsonDoc(text, data)
    problems: list[Problem] = []

    def add(pointer: tuple[str | int, ...], message: str, severity: str = ERROR) -> None:
        line, col = doc.where(pointer)
        name = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(pointer))
        problems.append(Problem(shown, line, col, name, message, hint, severity))

    items = data.get("previews") if isinstance(data, dict) else None
    if not isinstance(items, list):
        add(("previews",), "must be a JSON object with a list of previews")
        return (), problems
    out: list[Preview] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            add(("previews", i), "each preview must be a JSON object")
            continue
        file, source, alt = item.get("file"), item.get("source"), item.get("alt")
        width, height, size = item.get("width"), item.get("height"), item.get("bytes")
        if not (isinstance(file, str) and _FILE.fullmatch(file)) or file in seen:
            add(("previews", i, "file"), f"file {file!r} is not the name of a PNG file in {PREVIEWS_DIR}/ (letters, "
                "digits, '.', '_' and '-', ending in .png, each listed once)")
            continue
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10000 for v in (width, height)):
            add(("previews", i, "width"), "width and height must be whole numbers of pixels")
            continue
        if not (isinstance(alt, str) and alt.strip() and isinstance(source, str) and source):
            add(("previews", i, "alt"), "every preview needs its alt text and the data file it shows (source)")
            continue
        if (folder / PREVIEWS_DIR).is_symlink() or (folder / PREVIEWS_DIR / file).is_symlink():
            # The build copies the file into the site: a link could publish any file of the machine.
            add(("previews", i, "file"), f"{relpath(folder / PREVIEWS_DIR / file, root)} is a symbolic link; "
                "previews must be regular files")
            continue
        if not (folder / PREVIEWS_DIR / file).is_file():
            add(("previews", i, "file"), f"{relpath(folder / PREVIEWS_DIR / file, root)} is missing (or its content "
                "is not present); the page leaves the preview out", WARNING)
            continue
        seen.add(file)
        out.append(Preview(file, str(item.get("kind") or "image"), width, height, alt.strip(), source,
                           size if isinstance(size, int) and not isinstance(size, bool) else None))
    return tuple(out), problems


# ------------------------------------------------------------------------------------------ into the site

def copy_to_site(catalogue: Catalogue, site: Path, root: Path | None = None) -> int:
    """Copy every dataset's preview PNGs to ``site/datasets/<id>/previews/`` (file by file, streamed); the
    number copied."""
    base = Path(root or catalogue.root)
    copied = 0
    for d in catalogue.datasets:
        if not d.previews:
            continue
        target = site / "datasets" / d.id / PREVIEWS_DIR
        target.mkdir(parents=True, exist_ok=True)
        for p in d.previews:
            shutil.copyfile(base / "datasets" / d.id / PREVIEWS_DIR / p.file, target / p.file)
            copied += 1
    return copied
