"""Reading ``manifest.json``: its text into a :class:`~openem_build.records.model.Manifest`, or located problems.

A valid manifest is decoded and checked in one call of msgspec (the types of :mod:`.manifest_types`, less the
patterns of the rows' values, checked a column at a time after it); then the checks no type can make run on the
decoded rows. Anything else is explained: the text is read as strict JSON
(:func:`~openem_build.records.strictjson.load_json`, which locates broken syntax, duplicate keys, NaN, huge numbers and
deep nesting) and each value is checked against its type on its own, so that every problem is reported with
its file, line, column, field and how to fix it, in the order of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
from msgspec import UNSET

from ..data import headers as header_facts
from ..data.annexkeys import backend_algorithm, parse_key
from . import textcheck
from .manifest_read import _algorithms as _algorithms
from .manifest_read import _checksums as _checksums
from .manifest_read import _records as _records
from .manifest_types import (
    ALGORITHMS,
    DECODER,
    ROW_TYPES,
    TOP_TYPES,
    FileRow,
    fits,
    members_dropped,
    patterns_hold,
)
from .model import Manifest, ManifestFile
from .problems import Problem
from .strictjson import JsonDoc, load_json

MANIFEST_VERSION = 1
MAX_REPORTED = 25  # problems reported per manifest file before summarising
HINT = "regenerate it with `openem manifest <id>` instead of editing it by hand"
_HEADER_HINT = ("header facts are read from the files: regenerate them with `openem manifest <id>` instead of "
                "editing them by hand")
_PATH_HINT = "paths use / separators, no leading /, no empty, '.' or '..' parts and no control characters"

#: A problem of one row before it is located: (pointer inside the row, message, how to fix, at the key).
RowProblem = tuple[tuple[str | int, ...], str, str, bool]


def parse(text: str, shown: str) -> tuple[Manifest | None, JsonDoc | None, list[Problem]]:
    """A manifest from its text: the record when valid, the located document, and every problem."""
    try:
        doc = DECODER.decode(text)
    except (msgspec.ValidationError, RecursionError):
        return _explain(text, shown)
    except msgspec.DecodeError as exc:
        manifest, located, problems = _explain(text, shown)
        if manifest is not None:  # (JSON that json reads and msgspec does not, e.g. a lone surrogate "\ud800")
            return None, located, [Problem(shown, 0, 0, "", f"not valid JSON: {exc}", HINT)]
        return manifest, located, problems
    files = doc.files
    algorithms = _algorithms(files)
    # The patterns the decoder left out, then what the types cannot check, for the whole file at once; any doubt,
    # and every problem is looked for and located. (UNSET is falsy: filter(None, …) keeps the values given.)
    paths = list(map(attrgetter("path"), files))
    urls = list(chain.from_iterable(filter(None, map(attrgetter("urls"), files))))
    if (not patterns_hold(files, algorithms) or members_dropped(text, doc) or len(set(paths)) != len(paths)
            or textcheck.first(" ".join(paths)) is not None or textcheck.first(" ".join(urls)) is not None
            or not header_facts.all_valid(list(filter(None, map(attrgetter("headers"), files))))
            or any(map(_key_disagrees, files))):
        return _explain(text, shown)
    return _result(_records(files, algorithms), [], doc.commit, doc.datalad_id or None, shown, JsonDoc(text))


def _key_disagrees(row: Any) -> bool:
    """Whether the row's git-annex key names another size or checksum than the row gives.

    A key is nearly always ``<backend>-s<size>--<digest>`` and maybe an extension (``MD5E-s5--<md5>.mrc``): when
    it is the text the row's own size and checksum make, :func:`parse_key` would read them back, so it agrees.
    Other keys are read with :func:`parse_key`. (Measured with benchmarks/manifests.py at N = 1,000, 170,265
    rows: 0.37 s CPU with ``parse_key`` for every key, 0.09 s this way, of ~0.95 s for reading the manifests.)
    """
    key, size = row.key, row.size
    if not key:
        return False
    backend = key[:key.find("-")]
    algo, extension = backend_algorithm(backend)
    digest = getattr(row, algo.replace("-", "_")) if algo else None
    if digest and type(size) is int:
        stem = f"{backend}-s{size}--{digest}"
        if key == stem or (extension and key.startswith(stem) and key[len(stem)] == "."):
            return False
    return bool(_key_problems(row))


def _key_problems(row: Any) -> list[RowProblem]:
    """Where the row's git-annex key names another size or checksum than the row gives."""
    info = parse_key(row.key)
    if info is None:
        return []
    out: list[RowProblem] = []
    size = row.size
    if info.size is not None and size is not None and size is not UNSET and info.size != size:
        out.append((("size",), f"size {size} differs from the size in the key ({info.size})", HINT, False))
    for algo, value in info.checksums:
        given = getattr(row, algo.replace("-", "_"))
        if given and given != value:
            out.append(((algo,), f"the {algo} checksum differs from the one in the key ({value})", HINT, False))
    return out


def _result(records: list[ManifestFile], problems: list[Problem], commit: str, ident: str | None, shown: str,
            doc: JsonDoc) -> tuple[Manifest | None, JsonDoc, list[Problem]]:
    if len(problems) > MAX_REPORTED:
        problems = problems[:MAX_REPORTED]
        problems.append(Problem(shown, 0, 0, "", "more problems not shown: the file is badly damaged", HINT))
    if problems:
        return None, doc, problems
    records.sort(key=attrgetter("path"))
    return Manifest(tuple(records), commit, ident, source=shown), doc, problems


def _locate(doc: JsonDoc, shown: str, here: tuple[str | int, ...], found: list[RowProblem]) -> Iterator[Problem]:
    for pointer, message, fix, key in found:
        where = (*here, *pointer)
        line, col = doc.where(where, key=key)
        yield Problem(shown, line, col, field_name(where), message, fix)


def field_name(pointer: tuple[str | int, ...]) -> str:
    """How a problem names the value at ``pointer``: ``files[3].md5``."""
    out = ""
    for part in pointer:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ------------------------------------------------------------------------------------------ explaining

def _explain(text: str, shown: str) -> tuple[Manifest | None, JsonDoc | None, list[Problem]]:
    """:func:`parse` of a text the types refused (or that may have a key twice): every problem, located."""
    data, broken = load_json(text, shown, HINT)
    if broken is not None:
        return None, None, [broken]
    doc = JsonDoc(text, data)
    problems: list[Problem] = []
    if not isinstance(data, dict):
        problems += _locate(doc, shown, (), [((), "must be a JSON object with commit and files", HINT, False)])
        return None, doc, problems
    problems += _locate(doc, shown, (), list(_top_problems(data)))
    files = data.get("files")
    if not isinstance(files, list):
        return None, doc, problems
    seen: dict[str, int] = {}
    records = []
    for i, entry in enumerate(files):
        if len(problems) > MAX_REPORTED:
            break
        found, row = _entry_problems(entry, i, seen)
        problems += _locate(doc, shown, ("files", i), found)
        if row is not None and not found:
            records.append(row)
    return _result(_records(records) if not problems else [], problems, data.get("commit"), data.get("datalad_id"),
                   shown, doc)


def _unknown(names: set[str], known: Any) -> Iterator[RowProblem]:
    for name in sorted(names):
        yield (name,), f"unknown field '{name}'", f"known fields: {', '.join(sorted(known))}", True


def _top_problems(data: dict[str, Any]) -> Iterator[RowProblem]:
    yield from _unknown(set(data) - TOP_TYPES.keys(), TOP_TYPES)
    version = data.get("manifest_version")
    if not fits(version, TOP_TYPES["manifest_version"]):
        yield ("manifest_version",), f"manifest_version must be {MANIFEST_VERSION}, not {version!r}", HINT, False
    commit = data.get("commit")
    if not fits(commit, TOP_TYPES["commit"]):
        yield ("commit",), f"commit must be a full 40-character commit hash, not {commit!r}", HINT, False
    ident = data.get("datalad_id")
    if not fits(ident, TOP_TYPES["datalad_id"]):
        yield ("datalad_id",), f"datalad_id must be a DataLad dataset id (a UUID), not {ident!r}", HINT, False
    if not isinstance(data.get("files"), list):
        yield ("files",), "files must be a list of file entries", HINT, False


def _entry_problems(entry: Any, i: int, seen: dict[str, int]) -> tuple[list[RowProblem], Any]:
    """The problems of file entry ``i`` (``seen``: path → the entry that first listed it), in the order of its
    fields, and the entry as a row of the values that fit their types (None when it has no usable path)."""
    if not isinstance(entry, dict):
        return [((), "each file entry must be a JSON object", HINT, False)], None
    out = list(_unknown(entry.keys() - ROW_TYPES.keys(), ROW_TYPES))
    path = entry.get("path")
    if not fits(path, ROW_TYPES["path"]):
        long = isinstance(path, str) and len(path) > 4096
        out.append((("path",), f"path {path!r} is not a relative path inside the dataset" if not long else
                    f"path is {len(path)} characters long; a path may have at most 4096", _PATH_HINT, False))
        return out, None
    found = textcheck.first(path)  # (the path is shown on the page and in the commands to copy)
    if found is not None:
        out.append((("path",), f"path {path!r} {found.message()}", found.hint(), False))
        return out, None
    if seen.setdefault(path, i) != i:
        out.append((("path",), f"'{path}' is listed twice (also files[{seen[path]}])", HINT, False))
    valid = {}
    for name, kind in ROW_TYPES.items():
        if name in entry:
            if fits(entry[name], kind):
                valid[name] = entry[name]
            else:
                out.append(((name,), _wrong(name, entry[name]), HINT, False))
        if name == "urls" and valid.get("urls"):
            found = next((f for u in valid["urls"] if (f := textcheck.first(u)) is not None), None)
            if found is not None:
                out.append((("urls",), f"a URL {found.message()}", found.hint(), False))
                del valid["urls"]
    row = msgspec.convert(valid, FileRow)
    if row.headers and not header_facts.is_valid(row.headers):
        out += [(("headers", *pointer), message, _HEADER_HINT, named)
                for pointer, message, named in header_facts.problems(row.headers)]
    if row.key:
        out += _key_problems(row)
    return out, row


def _wrong(name: str, value: Any) -> str:
    """What is wrong with ``value``, which does not fit the type of the row's field ``name``."""
    if name == "size":
        return f"size must be a whole number of bytes (at most 2⁶³ − 1) or null, not {header_facts.brief(value)}"
    if name == "key":
        return f"{value!r} is not a git-annex key"
    if name in ALGORITHMS:
        return f"{name} must be the lowercase hex digest, not {value!r}"
    if name == "urls":
        return "urls must be a list of URLs without spaces or quotes"
    return "headers must be a JSON object"
