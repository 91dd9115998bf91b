"""``openem add``: turn a data directory or a DataLad dataset into a catalogue entry (an I/O edge).

What it makes, in one commit of the catalogue: the subdataset ``datasets/<id>/data`` (URL in ``.gitmodules``),
``datasets/<id>/manifest.json`` (with each file's header facts where content is local), a
``datasets/<id>/dataset.yaml`` stub pre-filled with what the files tell (image sets per folder and format with
their counts, categories and pixel sizes, the commit, and instrument and acquisition values from the headers of
MRC, SerialEM ``.mdoc``, EPU XML, DM, EMD, TIA, BCF, TIFF and EER files, each marked with the file it came from),
every field a person must fill marked TODO, and PNG previews of a few maps, tomograms, micrographs, tilt series,
spectra or movies (``datasets/<id>/previews/`` and ``previews.json``).

Sources:

* a DataLad dataset URL: cloned (no content is downloaded; keys carry sizes and checksums);
* a local DataLad dataset: cloned from it, so the contributor's dataset is not touched (it must be clean:
  unsaved files would silently be missing from the entry);
* a plain directory: read once (checksums and header facts, in parallel, journalled so that an interrupted add
  goes on where it stopped) and made into a new DataLad dataset whose annex takes the files without a second copy
  (hard links, copy-on-write clones, or left in place for ``openem publish`` to send from there; or copies when
  asked): see :mod:`openem_build.data.ingest`. The original folder is only ever read; anything under a ``.git`` in
  it is left out, and said so. What is known of each file is a row on disk (:mod:`openem_build.data.spill`), and
  the manifest, stub and previews come from passes over the rows (:mod:`openem_build.authoring.listing`): memory
  does not grow with the number of files.

All work happens in a staging folder inside the catalogue's git directory (same file system, invisible to
``git status``); the finished folder is moved into ``datasets/`` in one rename and committed. Any failure or
interruption removes the staging folder and, after the move, undoes the move, the ``.gitmodules`` entry and the
index changes: the catalogue is left exactly as it was.

This module runs the steps in order; each lives in its own: the checks before anything starts
(:mod:`.addchecks`), the entry's DataLad dataset (:mod:`.subdataset`), its ``manifest.json`` and ``dataset.yaml``
stub (:mod:`.entryfiles`), the move into the catalogue and its commit (:mod:`.install`).
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..data import annex, gallery, ingest
from ..data.oscem import OscemError
from ..infra.progress import Progress
from ..records import manifest as M
from ..records.load import DATASETS
from ..records.model import Manifest
from . import listing, oscem_prefill
from .addchecks import AddError, check_catalogue, check_id, check_url, inside, is_url
from .entryfiles import prefill_of, result_manifest, write_entry
from .install import install
from .subdataset import Log, Prepared, prepare_data

STAGING = "openem-add"


@dataclass(frozen=True)
class AddResult:
    ident: str
    folder: Path  # datasets/<id>
    url: str | None  # the clone URL recorded in .gitmodules and dataset.yaml (None: still to be published)
    manifest: Manifest
    catalogue_commit: str | None  # the catalogue commit made, None with commit=False
    #: Whether the DataLad dataset is new (made from a plain folder, in one commit: ``manifest.commit``).
    created: bool = False
    way: str = "clone"  # how the content entered the dataset (see openem_build.data.ingest)
    left_out: tuple[str, ...] = ()
    files: int = 0
    bytes: int = 0


def _quiet(_message: str) -> None:
    pass


def add_dataset(root: Path, source: str, ident: str, *, url: str | None = None, commit: bool = True,
                read_headers: M.HeaderReader | None = None, previews: bool = True, log: Log = _quiet,
                mode: str = "link", progress: Progress | None = None, oscem: Path | None = None) -> AddResult:
    """Add the data at ``source`` (a directory or a DataLad dataset URL) to the catalogue at ``root`` as
    ``datasets/<ident>``; see the module documentation. With ``previews``, PNG previews of a few maps, tomograms,
    micrographs or tilt series whose content is local go into ``datasets/<ident>/previews/`` (see
    :mod:`openem_build.data.gallery`). ``oscem``: an OSC-EM file to pre-fill from (else one found among the files; see
    :mod:`openem_build.authoring.oscem_prefill`). Raises AddError (catalogue unchanged) on failure."""
    root = root.absolute()
    check_id(ident)
    clone_url = url or (source if is_url(source) else None)
    if clone_url:
        check_url(clone_url)
    try:
        check_catalogue(root, ident)
        gitdir = Path(annex.git(root, "rev-parse", "--absolute-git-dir").strip())
    except annex.AnnexError as exc:
        raise AddError(str(exc)) from exc
    if not is_url(source) and Path(source).expanduser().exists():
        directory = Path(source).expanduser()
        if inside(root, directory) or inside(directory, root):
            raise AddError(f"{directory} and the catalogue {root} lie inside one another: move the data "
                           "elsewhere first")
    if mode not in ingest.MODES:
        raise AddError(f"--mode must be one of {', '.join(ingest.MODES)}, not {mode!r}")
    try:  # (read before the files are: a bad OSC-EM file costs no ingest)
        given = oscem_prefill.read_given(oscem) if oscem is not None else None
    except OscemError as exc:
        raise AddError(str(exc)) from None
    (gitdir / STAGING).mkdir(exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{ident}-", dir=gitdir / STAGING))
    # What was read survives an interruption (the next run reads only the rest); it goes when the entry is made.
    journal = gitdir / STAGING / f"{ident}.journal"
    prepared: Prepared | None = None
    try:
        folder = stage / ident
        data = folder / M.SUBDATASET
        folder.mkdir()
        prepared = prepare_data(source, data, ident, log, mode=mode, read_headers=read_headers, journal=journal,
                                progress=progress)
        content, created, way, left_out = prepared.content, prepared.way != "clone", prepared.way, prepared.left_out
        log("listing the files (git-annex keys, sizes, checksums, URLs)")
        if prepared.records is not None:  # (a plain folder: its files' rows, read already with the checksums)
            files: listing.Listing = prepared.listing(data)
        else:
            files = listing.MemoryListing(M.from_repo(data, read_headers=read_headers if content is not None else None,
                                                      content=content))
        try:
            imported = given or oscem_prefill.discover(content, files.files(), log)
        except OscemError as exc:
            raise AddError(f"{exc} (or give the right OSC-EM file with --oscem)") from None
        if imported is not None:
            log(f"pre-filling from the OSC-EM file {imported.shown} ({len(imported.values)} values; the top of "
                f"dataset.yaml says where it disagrees with the file headers and what it did not take)")
        write_entry(folder, ident, files, clone_url, imported)
        for note in prefill_of(files).notes:  # (also at the top of the stub)
            log(f"pre-fill: {note}")
        if content is not None and previews:
            sets = [(s.directory, s.category, s.format) for s in listing.guess_image_sets(files)]
            made, notes = gallery.write(folder, content, sets, (), files.commit, under=files.under)
            if made:
                log(f"previews of {', '.join(made)} in {DATASETS}/{ident}/{gallery.PREVIEWS_DIR}/")
            for note in notes:
                log(note)
        manifest = result_manifest(files, folder, root / DATASETS / ident)
        log(f"registering {DATASETS}/{ident}/{M.SUBDATASET}")
        made = install(root, folder, ident, clone_url or f"./{DATASETS}/{ident}/{M.SUBDATASET}", manifest, commit)
        journal.unlink(missing_ok=True)
    except annex.AnnexError as exc:
        raise AddError(str(exc)) from exc
    finally:
        if prepared is not None:
            prepared.close()
        annex.remove_tree(stage)
        with contextlib.suppress(OSError):  # another `openem add` may be staging there, or a journal waits
            (gitdir / STAGING).rmdir()
    return AddResult(ident, root / DATASETS / ident, clone_url, manifest, made, created=created, way=way,
                     left_out=left_out, files=len(manifest.files), bytes=manifest.total_size)
