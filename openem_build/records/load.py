"""Reading the catalogue from disk into validated records (an I/O edge).

``load_catalogue`` reads ``datasets/facilities.yaml`` and every ``datasets/<id>/dataset.yaml``, reports
every problem in all of them in one pass, and builds :class:`~openem_build.records.model.Dataset` records for the
documents that are valid.
"""

from __future__ import annotations

import contextlib
import copyreg
import hashlib
import os
import pickle
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..data import gallery
from ..infra import progress
from ..infra.parallel import can_fork, no_gc, workers
from ..infra.progress import Advance
from . import setkinds, thumbcheck, titlecheck, validate
from .cache import Pickled, open_session
from .cache import Session as DiskSession
from .crosscheck import check_manifest
from .manifest import check_entry
from .model import Catalogue, Dataset, Facility, Manifest, build
from .paths import DATASET_FILE as DATASET_FILE
from .paths import DATASETS as DATASETS
from .paths import FACILITIES as FACILITIES
from .paths import MANIFEST_FILE as MANIFEST_FILE
from .problems import ERROR, Problem, errors, relpath, sort_problems
from .spots import Spots as Spots
from .yamlsafe import Located, YamlError, decode, parse


@dataclass
class LoadResult:
    """The valid part of the catalogue plus every problem found on the way."""

    catalogue: Catalogue
    problems: list[Problem] = field(default_factory=list)
    #: Per dataset file read: where it gives its id and DOI.
    documents: dict[str, Spots] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


def find_root(start: Path | None = None) -> Path | None:
    """The catalogue root: the nearest folder at or above ``start`` holding ``datasets/facilities.yaml``."""
    here = (start or Path.cwd()).absolute()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / FACILITIES).is_file():
            return folder
    return None


def read_yaml(path: Path, root: Path) -> tuple[Located | None, list[Problem]]:
    """One YAML file, safely: a located document, or the problems that stop it being read."""
    shown = relpath(path, root)

    def fail(message: str, hint: str = "", line: int = 0, col: int = 0) -> tuple[None, list[Problem]]:
        return None, [Problem(shown, line, col, "", message, hint, ERROR)]

    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            return fail("the file is a symbolic link pointing outside the repository",
                        "commit the file itself, not a link")
    if not path.exists():
        return fail("the file does not exist", "create it, e.g. with `openem new <id>`")
    if path.is_dir():
        return fail("this is a directory, not a file",
                    f"remove the folder and write the metadata into a file named {path.name}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return fail(f"cannot read the file: {exc.strerror}")
    try:
        doc = parse(decode(raw))
    except YamlError as exc:
        return None, [Problem(shown, exc.line, exc.col, validate.field_path(exc.pointer), exc.message,
                              exc.hint, ERROR)]
    return doc, []


def load_facilities(root: Path) -> tuple[dict[str, Facility], list[Problem]]:
    """The facilities registry; an empty mapping when it cannot be read."""
    doc, problems = read_yaml(root / FACILITIES, root)
    if doc is None:
        return {}, problems
    problems += validate.check_facilities(doc, FACILITIES)
    if errors(problems):
        # Keep what is usable, so that datasets are still checked against the facility ids.
        ids = doc.data if isinstance(doc.data, dict) else {}
        return {k: None for k in ids}, problems  # type: ignore[misc]
    return {k: build(Facility, v, id=k) for k, v in sorted(doc.data.items())}, problems


def load_dataset(path: Path, root: Path, facilities: dict | None) -> tuple[Dataset | None, Located | None,
                                                                         list[Problem]]:
    """One ``dataset.yaml``: its record when valid, its located document, and its problems."""
    shown = relpath(path, root)
    doc, problems = read_yaml(path, root)
    if doc is None:
        return None, None, problems
    folder_id = path.parent.name if path.name == DATASET_FILE else None
    found, flagged = validate.check_record(doc, shown, folder_id, facilities)
    problems += found
    manifest, previews = None, ()
    if folder_id is not None and path.parent.parent.absolute() == (root / DATASETS).absolute():
        # datasets/<id>/manifest.json against the YAML, and the subdataset datasets/<id>/data when registered.
        manifest, found = check_entry(path.parent, root, doc, shown)
        if manifest is not None:  # declared values against the file headers the manifest records
            found += check_manifest(doc, manifest, shown)
        found += setkinds.check(doc, manifest, shown)  # data types and categories against headers and text
        found += titlecheck.check(doc, shown)
        previews, seen = gallery.read(path.parent, root)
        found += seen + thumbcheck.check(doc, previews, shown)
        problems += [p for p in found if p.path != shown or p.field not in flagged]
    if errors(problems):
        return None, doc, problems
    raw = MappingProxyType(_plain_copy(doc.data))
    if manifest is not None and manifest.source == relpath(path.parent / MANIFEST_FILE, root):
        manifest = _detach(manifest, path.parent / MANIFEST_FILE)
    return build(Dataset, doc.data, raw=raw, source=shown, manifest=manifest, previews=previews), doc, problems


def _plain_copy(value: Any) -> Any:
    """A deep copy of plain data as :mod:`.yamlsafe` reads it (mappings, lists and immutable scalars, no
    value shared: aliases are refused).

    Speed-up, measured (benchmarks/README.md, sixth round): ``copy.deepcopy`` and its memo took 0.15–0.22 ms
    of CPU per entry, this 0.07–0.10 ms (~1 s at N = 10,000)."""
    if type(value) is dict:
        return {k: _plain_copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_plain_copy(v) for v in value]
    return value


def _detach(manifest: Manifest, path: Path) -> Manifest:
    """The record's manifest without its files, which are read again from ``path`` when used."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:  # (gone since it was checked: keep the files in memory)
        return manifest
    return manifest.detached(str(path.absolute()), digest)


def dataset_files(root: Path) -> tuple[list[Path], list[Problem]]:
    """Every ``datasets/<id>/dataset.yaml``, sorted, and problems with the folder layout."""
    base = root / DATASETS
    found: list[Path] = []
    problems: list[Problem] = []
    if not base.is_dir():
        return [], [Problem(DATASETS, 0, 0, "", "the datasets/ folder is missing",
                            "run openem from the catalogue's root folder")]
    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            candidate = Path(entry.path) / DATASET_FILE
            if candidate.exists() or candidate.is_symlink():
                found.append(candidate)
            else:
                near = [n for n in ("dataset.yml", "Dataset.yaml", "metadata.yaml")
                        if (Path(entry.path) / n).exists()]
                hint = f"rename {near[0]} to {DATASET_FILE}" if near else \
                    f"add {DATASETS}/{entry.name}/{DATASET_FILE} (see `openem new {entry.name}`)"
                problems.append(Problem(f"{DATASETS}/{entry.name}", 0, 0, "",
                                        f"the folder has no {DATASET_FILE}", hint))
        elif entry.name.endswith((".yaml", ".yml")) and entry.name != "facilities.yaml":
            stem = entry.name.rsplit(".", 1)[0]
            problems.append(Problem(f"{DATASETS}/{entry.name}", 0, 0, "", "dataset files belong in a folder of "
                                    "their own", f"move it to {DATASETS}/{stem}/{DATASET_FILE}"))
        elif entry.is_symlink():
            problems.append(Problem(f"{DATASETS}/{entry.name}", 0, 0, "", "symbolic links are not allowed in "
                                    "datasets/", "commit the folder itself"))
    return found, problems


class LoadCache:
    """What ``load_catalogue`` found per dataset file, reused while none of the inputs of its check changed.

    For repeated loads in one process (``mkdocs serve``). An entry is keyed by the status (modification time,
    size, inode, type) of every file its check reads: ``dataset.yaml``, ``manifest.json``, ``previews.json``,
    the ``previews/`` folder and every image in it, the ``data/`` folder, and the entry's folder itself (its links
    are checked); and the whole cache by ``facilities.yaml``, ``.gitmodules`` and git's index and HEAD, which
    every entry's check reads.
    """

    def __init__(self) -> None:
        self.shared: tuple = ()
        self.entries: dict[Path, tuple[tuple, tuple]] = {}


def _status(path: str) -> tuple:
    try:
        st = os.lstat(path)
    except OSError:
        return ()
    out: tuple = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
            out += (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode)
        except OSError:
            out += ((),)
    return out


_ENTRY_INPUTS = (DATASET_FILE, "manifest.json", "previews.json", "previews", "data", ".")


def _listing(folder: str) -> tuple:
    """The status of everything directly in ``folder`` (the preview images, which the check reads)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return ()
    return tuple((name, _status(os.path.join(folder, name))) for name in names)
_SHARED_INPUTS = (FACILITIES, ".gitmodules", ".git/index", ".git/HEAD")


def _input_bytes(paths: Sequence[Path]) -> int:
    """The bytes the checks read: each dataset file and the manifest beside it."""
    total = 0
    for path in paths:
        for name in (path, path.parent / MANIFEST_FILE):
            with contextlib.suppress(OSError):
                total += name.stat().st_size
    return total


def _cached_load(paths: list[Path], root: Path, facilities: dict | None, cache: LoadCache | None,
                 disk: DiskSession | None = None, advance: Advance | None = None) -> list[tuple]:
    def fresh_results(todo: list[Path]) -> list[tuple]:
        if disk is None or not todo:
            return _load_all(todo, root, facilities, advance)
        return disk.load(todo, lambda missing: _load_all(missing, root, facilities, advance))

    if cache is None:
        return fresh_results(paths)
    shared = tuple(_status(os.path.join(root, name)) for name in _SHARED_INPUTS)
    if shared != cache.shared:
        cache.entries.clear()
        cache.shared = shared
    keys = []
    for path in paths:
        folder = os.path.dirname(path)
        keys.append((*(_status(os.path.join(folder, name)) for name in _ENTRY_INPUTS),
                     _listing(os.path.join(folder, gallery.PREVIEWS_DIR))))
    missing = [path for path, key in zip(paths, keys, strict=True)
               if (hit := cache.entries.get(path)) is None or hit[0] != key]
    fresh = dict(zip(missing, fresh_results(missing), strict=True))
    entries = {}
    for path, key in zip(paths, keys, strict=True):
        entries[path] = (key, fresh[path]) if path in fresh else cache.entries[path]
    cache.entries = entries
    return [entries[path][1] for path in paths]


def load_catalogue(root: Path, only: Sequence[Path] | None = None, cache: LoadCache | None = None,
                   disk_cache: bool | None = None) -> LoadResult:
    """Load and validate the catalogue at ``root`` (or only the dataset files in ``only``).

    Every problem of every file is collected; the returned catalogue holds the valid datasets. With ``cache``,
    a dataset file none of whose inputs changed since the last load through that cache is not read again.
    Beneath it, the persistent cache of :mod:`openem_build.records.cache` gives the results of entries none of whose
    inputs changed since any earlier run: used unless ``disk_cache`` is False, or None and the environment says
    ``OPENEM_CACHE=off``. Results are the same either way.
    """
    root = root.absolute()
    # (Opened first: the catalogue-wide inputs it records are then at least as old as what the checks read.)
    disk = open_session(root, disk_cache, workers())
    facilities, problems = load_facilities(root)
    if only is None:
        paths, layout = dataset_files(root)
        problems += layout
    else:
        paths = [p.absolute() / DATASET_FILE if p.is_dir() else p.absolute() for p in only]
    datasets: list[Dataset] = []
    documents: dict[str, Spots] = {}
    with progress.current().phase("checking", len(paths), _input_bytes(paths)) as phase:
        results = _cached_load(paths, root, facilities, cache, disk, phase.advance)
        phase.advance(len(paths) - phase.files, (phase.total_bytes or 0) - phase.bytes)  # (the cached ones)
    for path, (record, doc, found) in zip(paths, results, strict=True):
        problems += found
        if doc is not None:
            documents[relpath(path, root)] = doc
        if record is not None:
            datasets.append(record)
    problems += _cross_checks(datasets, documents)
    usable = {k: v for k, v in facilities.items() if v is not None}
    datasets = [d for d in datasets if d.facility in usable]
    catalogue = Catalogue(tuple(sorted(datasets, key=lambda d: d.id)), MappingProxyType(usable), str(root))
    return LoadResult(catalogue, sort_problems(problems), documents)


#: Catalogues with fewer dataset files than this are read in this process (starting workers costs more).
PARALLEL_MIN = 200


def _proxy(data: dict) -> MappingProxyType:
    return MappingProxyType(data)


# Records hold read-only mappings; let them travel back from worker processes.
copyreg.pickle(MappingProxyType, lambda m: (_proxy, (dict(m),)))


def _load_one(path: Path, root: Path, facilities: dict | None) -> tuple[Dataset | None, Spots | None,
                                                                         list[Problem]]:
    record, doc, problems = load_dataset(path, root, facilities)
    return record, Spots.of(doc) if doc is not None else None, problems


def _load_chunk(paths: list[Path], root: Path, facilities: dict | None) -> list[tuple]:
    with no_gc():  # (measured: no cyclic garbage is left by a check, and 10,000 checks take 20 % less time)
        return [_load_one(path, root, facilities) for path in paths]


def _load_pickled(paths: list[Path], root: Path, facilities: dict | None) -> list[bytes]:
    """:func:`_load_chunk` in a worker process: each result pickled on its own, which the parent unpickles and
    stores in the validation cache as it is (see :class:`.cache.Pickled`)."""
    with no_gc():
        return [pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
                for result in _load_chunk(paths, root, facilities)]


def _load_all(paths: list[Path], root: Path, facilities: dict | None, advance: Advance | None = None
              ) -> list[tuple]:
    """``load_dataset`` of every path, in order: across worker processes for a large catalogue (then a
    :class:`.cache.Pickled` list). ``advance(files, bytes)`` hears of each chunk done."""
    def done(part: list[Path]) -> None:
        if advance is not None:
            advance(len(part), _input_bytes(part))

    count = workers()
    if count < 2 or len(paths) < PARALLEL_MIN:
        out = []
        for path in paths:
            out += _load_chunk([path], root, facilities)
            done([path])
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork is cheapest, but unsafe once other threads run (mkdocs serve): then fresh interpreters.
    method = "fork" if can_fork() else "spawn"
    size = max(25, len(paths) // (count * 6))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    try:
        with no_gc(), ProcessPoolExecutor(count, mp_context=multiprocessing.get_context(method)) as pool:
            out = Pickled()
            out.blobs = []
            for chunk, part in zip(chunks, pool.map(_load_pickled, chunks, [root] * len(chunks),
                                                    [facilities] * len(chunks)), strict=True):
                out.extend(pickle.loads(blob) for blob in part)
                out.blobs.extend(part)
                done(chunk)
    except (OSError, RuntimeError):  # no processes to be had (sandbox, limits): read them here
        return _load_chunk(paths, root, facilities)
    return out


def _cross_checks(datasets: list[Dataset], documents: dict[str, Spots]) -> list[Problem]:
    """Rules that involve more than one dataset: unique ids and DOIs."""
    problems: list[Problem] = []
    first_id: dict[str, Dataset] = {}
    first_doi: dict[str, Dataset] = {}
    for d in sorted(datasets, key=lambda d: d.source):
        doc = documents[d.source]
        key = validate.folded_id(d.id)
        if key in first_id:
            line, col = doc.where(("id",))
            problems.append(Problem(d.source, line, col, "id", f"id '{d.id}' is already used by "
                                    f"{first_id[key].source}", "choose a different id"))
        first_id.setdefault(key, d)
        if d.doi:
            doi = d.doi.casefold()
            if doi in first_doi:
                line, col = doc.where(("doi",))
                problems.append(Problem(d.source, line, col, "doi", f"DOI {d.doi} is already used by "
                                        f"{first_doi[doi].source}", "each dataset version has its own DOI"))
            first_doi.setdefault(doi, d)
    return problems
