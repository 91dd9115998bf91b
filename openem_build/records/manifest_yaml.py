"""A manifest against its dataset.yaml: every image set's directory and format found among the files, and the
checksums the rows give."""

from __future__ import annotations

import difflib
from collections import Counter
from itertools import islice
from operator import attrgetter

from .fileformats import FOLDER_FORMATS, FORMAT_EXTENSIONS, _groups, _inside, _members, format_of

# (parse, the limits and the strict JSON reader are defined with the file format and named here too)
from .manifest_rows import field_name
from .model import Manifest
from .paths import MANIFEST_FILE
from .problems import ERROR, WARNING, Problem
from .strictjson import JsonDoc
from .validate import is_placeholder
from .yamlsafe import Located, lookup


def _located(path: str, doc: Located | JsonDoc, pointer: tuple[str | int, ...], message: str, hint: str,
             severity: str = ERROR, field: str | None = None) -> Problem:
    line, col = doc.where(pointer)
    return Problem(path, line, col, field_name(pointer) if field is None else field, message, hint, severity)


def check_against_yaml(doc: Located, shown: str, manifest: Manifest, mdoc: JsonDoc | None = None,
                       ident: str = "<id>") -> list[Problem]:
    """Does the manifest hold what ``dataset.yaml`` says? Image-set folders, formats, counts, data.commit."""
    d = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Problem] = []
    mshown = manifest.source or MANIFEST_FILE
    regenerate = f"if the files changed, save them in the DataLad dataset and run `openem manifest {ident}`"
    paths = list(map(attrgetter("path"), manifest.files))
    ordered = paths == sorted(paths)  # (always, for a manifest read by parse)
    sets = lookup(d, "data", "image_sets")
    top: list[str] | None = None
    for i, image_set in enumerate(sets if isinstance(sets, list) else []):
        directory, fmt, count = (lookup(image_set, k) for k in ("directory", "format", "count"))
        here = ("data", "image_sets", i)
        if not isinstance(directory, str) or is_placeholder(directory):
            continue
        inside = _inside(paths, directory, ordered)
        if not inside:
            if top is None:  # (once: the same for every image set)
                top = sorted({p.split("/", 1)[0] for p in paths if "/" in p})
            close = difflib.get_close_matches(directory.strip("/"), _candidates(top, directory.strip("/")), n=1,
                                              cutoff=0.75)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"folders in the dataset: {', '.join(top[:12])}" if top else regenerate)
            problems.append(_located(shown, doc, (*here, "directory"),
                                     f"no file listed in {mshown} lies in '{directory}'", hint))
            continue
        known_fmt = isinstance(fmt, str) and (fmt in FORMAT_EXTENSIONS)
        members = _members(inside, fmt if known_fmt else None)
        if known_fmt and not members:
            found = Counter(format_of(p) for p in inside)
            listing = ", ".join(f"{k} ×{v}" for k, v in found.most_common(4))
            problems.append(_located(shown, doc, (*here, "format"),
                                     f"'{directory}' holds no {fmt} file in {mshown} (it holds: {listing})",
                                     f"set format to what the files are, e.g. '{found.most_common(1)[0][0]}'"))
            continue
        if isinstance(count, int) and not isinstance(count, bool):
            n = len(members)
            if count != n and count != _groups(members, directory):
                what = f"{fmt} {'folder' if fmt in FOLDER_FORMATS else 'file'}" if known_fmt else "file"
                problems.append(_located(shown, doc, (*here, "count"),
                                         f"count is {count} but {mshown} lists {n} {what}{'s' * (n != 1)} in "
                                         f"'{directory}'", f"set `count: {n}`, or {regenerate}"))
    commit = lookup(d, "data", "commit")
    if isinstance(commit, str) and not is_placeholder(commit) and manifest.commit and commit != manifest.commit:
        problems.append(_located(shown, doc, ("data", "commit"),
                                 f"{commit} is not the commit {mshown} describes ({manifest.commit})",
                                 f"set `commit: \"{manifest.commit}\"`, or check out {commit} in the subdataset "
                                 f"and run `openem manifest {ident}`"))
    return problems


#: The most folder names compared with a missing image-set folder for a "did you mean" (the comparison costs
#: time in proportion to them, for each such image set).
MAX_CANDIDATES = 500


def _candidates(names: list[str], word: str) -> list[str]:
    """The names difflib could find close to ``word`` (a ratio of 0.75 needs lengths within a factor of 0.6 of each
    other), at most MAX_CANDIDATES of them, in order."""
    if len(names) <= MAX_CANDIDATES:
        return names
    n = len(word)
    return list(islice((x for x in names if 0.6 * n <= len(x) <= n / 0.6), MAX_CANDIDATES))


def check_checksums(manifest: Manifest, mdoc: JsonDoc) -> list[Problem]:
    """A warning when files have no checksum (git-annex WORM or URL keys): nobody can verify what they get."""
    if all(map(attrgetter("checksums"), manifest.files)):
        return []
    missing = [i for i, f in enumerate(manifest.files) if not f.checksums]
    first = manifest.files[missing[0]]
    line, col = mdoc.where(("files", missing[0], "path"))
    return [Problem(manifest.source or MANIFEST_FILE, line, col, f"files[{missing[0]}]",
                    f"{len(missing)} file{'s have' if len(missing) > 1 else ' has'} no checksum (e.g. '{first.path}', "
                    f"key {first.key}): users cannot verify what they download",
                    "move the content to a checksum backend in the DataLad dataset (`git annex migrate "
                    "--backend=MD5E .`), save, and run `openem manifest <id>`", WARNING)]
