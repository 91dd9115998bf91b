"""Reading ``datasets/<id>/previews.json``: compiled msgspec types check the list as it is decoded, then the images
it lists are checked on disk.

A valid list is decoded and checked in one msgspec call (:data:`DECODER`); what no type can say (a file listed
twice, the character checks of :mod:`openem_build.records.textcheck`, the images themselves) is checked on the
decoded previews. Anything else is explained: the text is read as strict JSON
(:func:`~openem_build.records.strictjson.load_json`, which locates broken syntax, duplicate keys, NaN and deep
nesting) and each value is checked against the type of its field, so that every problem is reported with its file,
line, column, field and how to fix it. Each image listed is checked as :mod:`openem_build.data.gallery` describes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ..records import textcheck
from ..records.manifest_types import Path as DataPath
from ..records.manifest_types import fits, members_dropped
from ..records.model import Preview
from ..records.problems import ERROR, WARNING, Problem, relpath
from ..records.strictjson import JsonDoc, load_json
from . import previews as P
from .headers import brief

PREVIEWS_DIR = "previews"
PREVIEWS_FILE = "previews.json"
PREVIEWS_VERSION = 1
MAX_BYTES = 1 << 20  # previews.json larger than this is not read
MAX_ALT = 1000  # characters of a preview's alt text
MAX_REPORTED = 25  # problems reported per previews.json before the rest is summarised (each is located)
_HINT = "regenerate the previews with `openem manifest {ident}` instead of editing previews.json by hand"

# (Patterns end with \Z, not $: msgspec matches with re.search, and $ also matches before a final newline.)
#: The name of a PNG file in previews/.
File = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.png\Z")]
Pixels = Annotated[int, Meta(gt=0, le=10000)]
#: Alt text: not blank.
Alt = Annotated[str, Meta(pattern=r"\S")]
Given = Annotated[str, Meta(min_length=1)]
Caption = Annotated[str, Meta(max_length=MAX_ALT)]
#: What ``kind`` may be: a plane of two axes, a projection or a 2D image.
Kind = Annotated[str, Meta(pattern=r"^(?:[XYZ]{2}|projection|image|montage|spectrum|map)\Z")]
Bytes = Annotated[int, Meta(gt=0, le=P.MAX_PNG_BYTES)]
Commit = Annotated[str, Meta(pattern=r"^[0-9a-f]{40}\Z")]


class PreviewItem(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One preview of ``previews``. Fields a preview may leave out are UNSET (so that it encodes back to the
    members its text had: see :func:`~openem_build.records.manifest_types.members_dropped`)."""

    file: File
    width: Pixels
    height: Pixels
    alt: Annotated[Alt, Meta(max_length=MAX_ALT)]
    source: DataPath
    kind: Kind | UnsetType = UNSET
    bytes: Bytes | None | UnsetType = UNSET
    caption: Caption | UnsetType = UNSET


class PreviewsDoc(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A whole ``previews.json``."""

    previews: list[PreviewItem]
    previews_version: Literal[1] | UnsetType = UNSET
    commit: Commit | None | UnsetType = UNSET


#: Decodes the text of previews.json, checking it against the types above.
DECODER = msgspec.json.Decoder(PreviewsDoc)
_TOP_FIELDS = frozenset(f.name for f in msgspec.structs.fields(PreviewsDoc))
_ITEM_FIELDS = frozenset(f.name for f in msgspec.structs.fields(PreviewItem))


def _given(item: PreviewItem) -> dict[str, Any]:
    """A decoded preview as the plain object it was (the fields it gives)."""
    return {f: v for f in _ITEM_FIELDS if (v := getattr(item, f)) is not UNSET}


def _decoded(text: str) -> list[dict[str, Any]] | None:
    """The previews of ``text`` when it decodes to the types (and no key is given twice), else None."""
    try:
        doc = DECODER.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return None if members_dropped(text, doc) else list(map(_given, doc.previews))


def _problem(item: dict[str, Any], seen: set[str], typed: bool) -> tuple[str, str] | None:
    """The first problem of one preview (field, message), in the order its fields are checked, but the images
    on disk; ``typed``: the preview was decoded to :class:`PreviewItem` (its types need no check)."""
    file, source, alt, kind = item.get("file"), item.get("source"), item.get("alt"), item.get("kind", "image")
    width, height, size = item.get("width"), item.get("height"), item.get("bytes")
    caption = item.get("caption", "")
    if not (typed or fits(file, File)) or file in seen:
        return "file", (f"file {brief(file)} is not the name of a PNG file in {PREVIEWS_DIR}/ (letters, digits, "
                        "'.', '_' and '-', ending in .png, each listed once)")
    if not (typed or fits(width, Pixels) and fits(height, Pixels)):
        return "width", "width and height must be whole numbers of pixels"
    if not (typed or fits(alt, Alt) and fits(source, Given)):
        return "alt", "every preview needs its alt text and the data file it shows (source)"
    if not typed and len(alt) > MAX_ALT:
        return "alt", f"alt is {len(alt):,} characters long; at most {MAX_ALT:,} are shown"
    if not (typed or fits(caption, Caption)):
        return "caption", f"caption must be text of at most {MAX_ALT:,} characters"
    if not (typed or fits(source, DataPath)):
        return "source", f"source {brief(source)} is not a relative path inside the dataset"
    # The rest of textcheck's rules, on the text and its character references (both texts are published).
    bad = next(((k, f) for k, v in (("alt", alt), ("source", source), ("caption", caption))
                if (f := textcheck.first(v))), None)
    if bad is not None:
        return bad[0], f"{bad[0]} {bad[1].message()}"
    if not (typed or fits(kind, Kind)):
        return "kind", ("kind must be a plane (XY, XZ, YZ …), projection, image, montage, spectrum or map, not "
                        f"{brief(kind)}")
    if not (typed or fits(size, Bytes | None)):
        return "bytes", f"bytes must be the file's size, at most {P.MAX_PNG_BYTES:,}, not {brief(size)}"
    return None


def read(folder: Path, root: Path) -> tuple[tuple[Preview, ...], list[Problem]]:
    """The previews listed in ``folder/previews.json`` (none when it is absent) and what is wrong with them.

    Every listed image is checked (see :mod:`openem_build.data.gallery`); one that is missing is left out with a
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
    problems: list[Problem] = []
    doc = JsonDoc(text)  # (located in only when there is a problem)

    def add(pointer: tuple[str | int, ...], message: str, severity: str = ERROR, key: bool = False) -> None:
        line, col = doc.where(pointer, key=key)
        name = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(pointer))
        problems.append(Problem(shown, line, col, name, message, hint, severity))

    items: Any = _decoded(text)
    typed = items is not None
    if not typed:  # explain: every problem, located
        data, broken = load_json(text, shown, hint)
        if broken is not None:
            return (), [broken]
        doc = JsonDoc(text, data)
        items = data.get("previews") if isinstance(data, dict) else None
        if not isinstance(items, list):
            add(("previews",), "must be a JSON object with a list of previews")
            return (), problems
        for name in sorted(set(data) - _TOP_FIELDS):
            add((name,), f"unknown field '{name}' (known: {', '.join(sorted(_TOP_FIELDS))})", key=True)
        version, commit = data.get("previews_version", PREVIEWS_VERSION), data.get("commit")
        if not fits(version, Literal[1]):
            add(("previews_version",), f"previews_version must be {PREVIEWS_VERSION}, not {brief(version)}")
        if not fits(commit, Commit | None):
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
        found = _problem(item, seen, typed)
        if found is not None:
            add(("previews", i, found[0]), found[1])
            continue
        file, width, height, size = item["file"], item["width"], item["height"], item.get("bytes")
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
            found_size = _image(image, width, height, size)
        except ValueError as exc:
            add(("previews", i, "file"), f"{where} {exc}")
            continue
        seen.add(file)
        out.append(Preview(file, item.get("kind", "image"), width, height, item["alt"].strip(), item["source"],
                           found_size))
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
