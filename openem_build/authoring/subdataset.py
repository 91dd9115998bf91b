"""The entry's DataLad dataset (``datasets/<id>/data``), made in the staging folder: cloned from a URL or a local
DataLad dataset, or made from a plain folder (see :mod:`openem_build.data.ingest`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data import annex, annexfiles, ingest, spill
from ..infra.progress import Progress
from ..records import manifest as M
from .addchecks import AddError, is_url

Log = Callable[[str], None]
SPILL = "files.sqlite"  # the rows of a plain folder's files, beside the staged entry


@dataclass
class Prepared:
    """The entry's DataLad dataset, made: where its content can be read, and what the files' headers said."""

    content: Path | None  # None: nowhere local (a clone of a URL)
    way: str = "clone"  # clone, link, reflink, in-place or copy (see openem_build.data.ingest)
    left_out: tuple[str, ...] = ()
    files: int = 0
    bytes: int = 0
    #: The files' rows (keys, header facts), when the dataset was made from a plain folder here.
    records: spill.Spill | None = None

    def listing(self, data: Path) -> spill.Listing:
        """The files of the new dataset at ``data``, as its manifest lists them (from the rows)."""
        assert self.records is not None
        commit = annex.head(data)
        return spill.Listing(self.records, commit, annex.datalad_id(data, commit), annexfiles.known_urls(data, commit))

    def close(self) -> None:
        if self.records is not None:
            self.records.close()


def prepare_data(source: str, data: Path, ident: str, log: Log, *, mode: str = "link",
                 read_headers: M.HeaderReader | None = None, journal: Path | None = None,
                 progress: Progress | None = None) -> Prepared:
    """Make the DataLad dataset of the entry at ``data`` (inside the staging folder)."""
    description = f"{ident} (openem add)"
    if is_url(source):
        log(f"cloning {source}")
        annex.clone(source, data, description=description)
        return Prepared(None)
    directory = Path(source).expanduser()
    if not directory.is_dir():
        raise AddError(f"{source} is neither a folder nor a URL")
    directory = directory.resolve()
    if annex.is_dataset(directory):
        dirty = annex.changes(directory)
        if dirty:
            raise AddError(f"the DataLad dataset {directory} has unsaved changes ({len(dirty)}: "
                           f"{dirty[0].strip()}…): save them with `datalad save` (or discard them) first, so that "
                           "the entry describes every file")
        log(f"cloning the DataLad dataset {directory} (the original is left as it is)")
        annex.clone(str(directory), data, description=description)
        return Prepared(directory)
    if (directory / ".git").exists():
        raise AddError(f"{directory} is a git repository but not a DataLad dataset: run `datalad create --force` "
                       "in it (this keeps its history), or pass a folder without .git")
    records = spill.Spill(data.parent.parent / SPILL)  # (closed by the caller, with Prepared.close)
    try:
        return _ingest(directory, data, ident, log, records, mode=mode, read_headers=read_headers, journal=journal,
                       progress=progress or Progress())
    except BaseException:
        records.close()
        raise


def _ingest(directory: Path, data: Path, ident: str, log: Log, records: spill.Spill, *, mode: str,
            read_headers: M.HeaderReader | None, journal: Path | None, progress: Progress) -> Prepared:
    """The plain folder's files into a new DataLad dataset, one row of ``records`` per file (nothing per file is
    held in memory: see :mod:`openem_build.data.spill`)."""
    left_out: list[str] = []
    try:
        records.add_sources(ingest.walk(directory, left_out))
    except ingest.IngestError as exc:
        raise AddError(str(exc)) from None
    for note in left_out[:20]:
        log(f"left out: {note}")
    if len(left_out) > 20:
        log(f"left out: and {len(left_out) - 20} more")
    count, total = records.totals()
    done = ingest.Journal(journal, records) if journal is not None else None
    try:
        with progress.phase("reading", count, total) as phase:
            ingest.read_all(directory, records, done, read_headers, advance=phase.advance)
    except ingest.IngestError as exc:
        raise AddError(str(exc)) from None
    finally:
        if done is not None:
            done.close()
    annex.create(data, description=f"{ident} (openem add)")
    ingest.keys_of(data, records)
    with progress.phase("placing", count) as phase:
        way = ingest.place(directory, data, records, mode, advance=phase.advance)
    # (every file is a git-annex link staged already: git-annex's filter would only read them all, ~1 KB each)
    annex.git(data, *annex.NO_FILTER, "commit", "-q", "--no-verify", "-m", f"Add the files of {ident}")
    log({"link": f"{count} files recorded as hard links of the originals (no extra space)",
         "reflink": f"{count} files recorded as copy-on-write clones of the originals (no extra space)",
         "in-place": f"{count} files recorded in place: the content stays in {directory}, from where "
                     "`openem publish` sends it to the store",
         "copy": f"{count} files copied into the dataset"}[way])
    return Prepared(directory, way, tuple(left_out), count, total, records)

