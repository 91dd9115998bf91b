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
  the manifest, stub and previews come from passes over the rows (:mod:`openem_build.listing`): memory does not
  grow with the number of files.

All work happens in a staging folder inside the catalogue's git directory (same file system, invisible to
``git status``); the finished folder is moved into ``datasets/`` in one rename and committed. Any failure or
interruption removes the staging folder and, after the move, undoes the move, the ``.gitmodules`` entry and the
index changes: the catalogue is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data import annex, gallery, ingest, spill, typenames
from ..data.oscem import Imported, OscemError
from ..infra.progress import Progress
from ..records import manifest as M
from ..records.crosscheck import MRC_FORMATS, Prefill, prefill
from ..records.load import DATASET_FILE, DATASETS
from ..records.model import Manifest, ManifestFiles
from ..records.validate import schema
from . import listing, oscem_prefill
from .scaffold import dataset_stub

Log = Callable[[str], None]
JUNK = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
STAGING = "openem-add"
SPILL = "files.sqlite"  # the rows of a plain folder's files, beside the staged entry


class AddError(Exception):
    """``openem add`` cannot (or must not) go ahead; the message says why and what to do."""


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


def is_url(source: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", source) or re.match(r"^[\w.-]+@[\w.-]+:", source))


def _check_id(ident: str) -> None:
    pattern = schema("dataset")["properties"]["id"]["pattern"]
    if not re.fullmatch(pattern.strip("^$"), ident):
        raise AddError(f"'{ident}' is not a valid id: use 3 to 64 lowercase letters, digits and hyphens, starting "
                       "with a letter or digit")


def _check_url(url: str) -> None:
    pattern = schema("dataset")["properties"]["data"]["properties"]["datalad"]["pattern"]
    if not re.fullmatch(pattern.strip("^$"), url):
        raise AddError(f"{url!r} cannot be a catalogue's clone URL: use an https:// (or ria+https://, ssh://) "
                       "URL without spaces or shell characters")


def _check_catalogue(root: Path, ident: str) -> None:
    if not annex.is_repo(root):
        raise AddError(f"the catalogue {root} is not a git repository (a DataLad dataset): clone it with "
                       "`datalad clone` first")
    if not (root / DATASETS).is_dir():
        raise AddError(f"{root} has no {DATASETS}/ folder: run from the catalogue's root or pass --root")
    rel = f"{DATASETS}/{ident}"
    if (root / rel).exists() or (root / rel).is_symlink() or annex.git(root, "ls-files", "--", rel).strip():
        raise AddError(f"{rel} exists already: choose another id, or remove that entry first")
    if f"{rel}/{M.SUBDATASET}" in annex.read_gitmodules(root):
        raise AddError(f".gitmodules already has an entry for {rel}/{M.SUBDATASET}: remove it first")
    if annex.git(root, "status", "--porcelain", "--", annex.GITMODULES).strip():
        raise AddError(".gitmodules has uncommitted changes: commit or discard them first")


def _inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents


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
        return spill.Listing(self.records, commit, annex.datalad_id(data, commit), annex.known_urls(data, commit))

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


def _yaml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def header_pixel_size(manifest: Manifest, paths: list[str]) -> float | None:
    """The pixel size (Å) every one of these files states in its header (:func:`openem_build.listing.pixel_of`),
    or None when they do not agree."""
    values = set()
    for path in paths:
        f = manifest.by_path.get(path)
        value = listing.pixel_of(f.headers if f else None)
        if value is None:
            return None
        values.add(value)
    return values.pop() if len(values) == 1 else None


def _comment(text: str) -> str:
    """Text safe in a one-line YAML comment."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text)


def _categories(sets: list[M.GuessedSet]) -> dict[str, str | None]:
    """Image-set directory → category for the pre-fill; a folder's data category wins over 'metadata'."""
    out: dict[str, str | None] = {}
    for s in sets:
        if out.get(s.directory) in (None, "metadata"):
            out[s.directory] = s.category
    return out


def prefill_of(manifest: Manifest | listing.Listing, sets: list[M.GuessedSet] | None = None) -> Prefill:
    """What the file headers in ``manifest`` (:data:`.typenames.NAMES`) say about the acquisition."""
    files = listing.as_listing(manifest)
    if sets is None:
        sets = listing.guess_image_sets(files)
    return prefill(listing.headers_of(files), _categories(sets))


def _fill_sections(lines: list[str], filled: Prefill) -> list[str]:
    """Write the pre-filled values into the template's ``instrument``, ``acquisition`` and ``dates`` sections:
    uncomment the section and each field, set the value, and say which file it came from."""
    lines = list(lines)
    for section, values in filled.values.items():
        start = next((i for i, line in enumerate(lines) if line in (f"{section}:", f"# {section}:")), None)
        if start is None:
            continue
        end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")),
                   len(lines))
        done = False
        for key, value in values.items():
            rx = re.compile(rf"^  (# )?{re.escape(key)}: ")
            at = next((i for i in range(start + 1, end) if rx.match(lines[i])), None)
            if at is None:
                continue
            source = filled.sources.get(f"{section}.{key}", "the file headers")
            lines[at] = (f"  {key}: {json.dumps(value, ensure_ascii=False)}  # read from {_comment(source)} by "
                         "`openem add`: check")
            done = True
        if done:
            lines[start] = f"{section}:"
    return lines


def stub_text(ident: str, manifest: Manifest | listing.Listing, url: str | None, oscem: Imported | None = None) -> str:
    """``dataset.yaml`` for a new entry: the commented template with ``data`` filled from the manifest, and the
    instrument, acquisition and image-set values the file headers state (each marked with the file it came
    from). The files are read in a few passes, never held (see :mod:`openem_build.listing`)."""
    manifest = listing.as_listing(manifest)
    titles = schema("dataset")["properties"]["data"]["properties"]["image_sets"]["items"]["properties"][
        "category"]["x-enum-titles"]
    categories = ", ".join(titles)
    sets = listing.guess_image_sets(manifest)
    filled = prefill_of(manifest, sets)
    oscem_notes = oscem_prefill.merge(filled, oscem) if oscem else []  # OSC-EM values where the headers say nothing
    facts = listing.set_facts(manifest, [(s.directory, s.format) for s in sets])
    out = ["data:",
           "  # DataLad dataset (required): URL of the DataLad dataset holding the files (what `datalad clone` "
           "takes); the same URL as in .gitmodules."]
    if url:
        out.append(f"  datalad: {_yaml_str(url)}")
    else:
        out.append(f"  datalad: TODO  # `openem publish {ident}` puts datasets/{ident}/data into the OpenEM store "
                   "and writes its clone URL here (and in .gitmodules)")
    out += ["  # Commit (optional): The exact version of the DataLad dataset described; manifest.json lists its "
            "files.",
            f"  commit: {_yaml_str(manifest.commit or '')}",
            f"  # Image sets (required): found by `openem add` in manifest.json ({manifest.count} files), one "
            "per top-level folder and format. Check every name and category; delete sets that are not data."]
    if not sets:
        out += ["  image_sets:", "    - name: TODO", "      directory: TODO", f"      category: TODO  # one of: "
                f"{categories}", "      format: TODO"]
    else:
        out.append("  image_sets:")
        used: set[str] = set()
        for s, members in zip(sets, facts, strict=True):
            title = titles.get(s.category) if s.category else None
            if title is None:
                name = f"TODO: name the {s.format} files in {s.directory}"
            else:
                name = title if title not in used else f"{title} ({s.directory}, {s.format})"
            used.add(name)
            category = (f"{s.category}  # guessed from {_comment(s.basis or 'the folder name and format')}: check"
                        if s.category else
                        f"TODO  # one of: {categories}")
            fmt = s.format if s.format != "other" else "other  # TODO: no known format; check"
            out += [f"    - name: {_yaml_str(name)}", f"      directory: {_yaml_str(s.directory)}",
                    f"      category: {category}", f"      format: {fmt}", f"      count: {s.count}"]
            own = filled.image_sets.get(s.directory, {})
            mrc_set = s.format in MRC_FORMATS  # other files' metadata (EPU XML, .mdoc) describe the acquisition
            pixel = members.pixel if mrc_set else None
            source = members.and_more() if pixel is not None else None
            if pixel is None and mrc_set and own.get("pixel_size_A") is not None:
                pixel = own["pixel_size_A"]
                source = filled.sources.get(f"image_sets[{s.directory}].pixel_size_A", "the file headers")
            if pixel is not None:
                out.append(f"      pixel_size_A: {pixel:g}  # read from the headers of {_comment(str(source))}: "
                           "check")
            if own.get("voxel_size_A") is not None and mrc_set:  # anisotropic: z (or y) differs from x
                source = filled.sources.get(f"image_sets[{s.directory}].voxel_size_A", "the file headers")
                out.append(f"      voxel_size_A: {json.dumps(own['voxel_size_A'])}  # read from the headers of "
                           f"{_comment(source)}: check")
            if own.get("frames_per_image") is not None and mrc_set:
                out.append(f"      frames_per_image: {own['frames_per_image']}  # read from the headers of "
                           f"{_comment(members.and_more())}: check")
    lines = _fill_sections(dataset_stub(ident).splitlines(), filled)
    start = lines.index("data:")
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")), len(lines))
    header = [f"# Written by `openem add` from datasets/{ident}/manifest.json: {manifest.count} files, "
              f"{manifest.total_size} bytes, commit {manifest.commit}."]
    read = typenames.formats_read(f.headers for f in manifest.files())
    if filled.values and read:
        header.append(f"# Values marked `read from …` come from the files' headers and metadata ({read}): check "
                      "them.")
    header += [f"# Note: {_comment(note)}" for note in filled.notes]
    text = "\n".join(lines[:1] + header + lines[1:start] + out + lines[end:]) + "\n"
    return oscem_prefill.annotate(text, oscem, oscem_notes) if oscem else text


def write_entry(folder: Path, ident: str, manifest: Manifest | listing.Listing, url: str | None,
                oscem: Imported | None = None) -> None:
    """``manifest.json`` and the ``dataset.yaml`` stub in the staged entry folder."""
    if isinstance(manifest, listing.MemoryListing):
        manifest = manifest.manifest
    if isinstance(manifest, Manifest):
        M.write(folder / M.MANIFEST_FILE, manifest)
    else:  # (in path order already, streamed)
        M.write_sorted(folder / M.MANIFEST_FILE, manifest.commit, manifest.datalad_id, manifest.files())
    (folder / DATASET_FILE).write_text(stub_text(ident, manifest, url, oscem), encoding="utf-8")


def _result_manifest(files: listing.Listing, staged: Path, final: Path) -> Manifest:
    """The manifest :class:`AddResult` gives: the one in memory, or for a listing too long to hold, one that
    reads the written ``manifest.json`` again (at ``final``, where the entry goes) when its files are used."""
    if isinstance(files, listing.MemoryListing):
        return files.manifest
    with open(staged / M.MANIFEST_FILE, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    lazy = ManifestFiles(str((final / M.MANIFEST_FILE).absolute()), digest, files.count, files.total_size,
                         files.sizes_complete)
    return Manifest(lazy, files.commit, files.datalad_id)


def install(root: Path, staged: Path, ident: str, url: str, manifest: Manifest, commit: bool) -> str | None:
    """Move the staged entry into ``datasets/<id>``, register the subdataset and commit; all or nothing."""
    rel = f"{DATASETS}/{ident}"
    target = root / rel
    sub_path = f"{rel}/{M.SUBDATASET}"
    gitmodules = root / annex.GITMODULES
    before = gitmodules.read_bytes() if gitmodules.is_file() else None
    tracked = bool(annex.git(root, "ls-files", "--", annex.GITMODULES).strip())
    head_before = annex.git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
    others = bool(annex.git(root, "diff", "--cached", "--name-only", check=False).strip())  # staged by the user
    moved = False
    try:
        os.rename(staged, target)
        moved = True
        annex.register_subdataset(root, sub_path, url, manifest.datalad_id, manifest.commit or "")
        previews = [p for p in (f"{rel}/{gallery.PREVIEWS_FILE}", f"{rel}/{gallery.PREVIEWS_DIR}")
                    if (root / p).exists()]
        annex.add(root, [f"{rel}/{DATASET_FILE}", f"{rel}/{M.MANIFEST_FILE}", *previews])
        if not commit:
            return None
        message = f"Add dataset {ident} (openem add)"
        if others:  # (only the entry: git reads its files again, through git-annex's filter)
            annex.git(root, "commit", "-q", "-m", message, "--", annex.GITMODULES, rel)
        else:  # the index holds the entry alone, as staged: nothing is read again (the manifest may be ~20 MB)
            annex.git(root, *annex.NO_FILTER, "commit", "-q", "-m", message)
        return annex.head(root)
    except BaseException:
        _rollback(root, rel, target if moved else None, before, tracked, head_before)
        raise


def _rollback(root: Path, rel: str, target: Path | None, gitmodules_before: bytes | None, tracked: bool,
              head_before: str | None) -> None:
    """Undo what ``install`` did, step by step; each step is tried even when an earlier one fails."""
    gitmodules = root / annex.GITMODULES

    def undo_commit() -> None:
        head_now = annex.git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
        if head_now != head_before:
            if head_before:
                annex.git(root, "reset", "--soft", "-q", head_before)
            else:  # the commit was the repository's first
                annex.git(root, "update-ref", "-d", "HEAD")

    def restore_gitmodules() -> None:
        if gitmodules_before is None:
            gitmodules.unlink(missing_ok=True)
            annex.git(root, "update-index", "--force-remove", "--", annex.GITMODULES)
        else:
            gitmodules.write_bytes(gitmodules_before)
            if tracked:
                annex.git(root, "add", "--", annex.GITMODULES)

    def unstage() -> None:
        staged = [p for p in annex.git(root, "ls-files", "-z", "--", rel).split("\0") if p]
        if staged:
            annex.git(root, "update-index", "-z", "--force-remove", "--stdin",
                      input="".join(f"{p}\0" for p in staged).encode())

    def remove() -> None:
        if target is not None:
            annex.remove_tree(target)

    for step in (undo_commit, restore_gitmodules, unstage, remove):
        with contextlib.suppress(Exception):  # keep undoing; the original error is what the caller sees
            step()


def add_dataset(root: Path, source: str, ident: str, *, url: str | None = None, commit: bool = True,
                read_headers: M.HeaderReader | None = None, previews: bool = True, log: Log = _quiet,
                mode: str = "link", progress: Progress | None = None, oscem: Path | None = None) -> AddResult:
    """Add the data at ``source`` (a directory or a DataLad dataset URL) to the catalogue at ``root`` as
    ``datasets/<ident>``; see the module documentation. With ``previews``, PNG previews of a few maps, tomograms,
    micrographs or tilt series whose content is local go into ``datasets/<ident>/previews/`` (see
    :mod:`openem_build.data.gallery`). ``oscem``: an OSC-EM file to pre-fill from (else one found among the files; see
    :mod:`openem_build.authoring.oscem_prefill`). Raises AddError (catalogue unchanged) on failure."""
    root = root.absolute()
    _check_id(ident)
    clone_url = url or (source if is_url(source) else None)
    if clone_url:
        _check_url(clone_url)
    try:
        _check_catalogue(root, ident)
        gitdir = Path(annex.git(root, "rev-parse", "--absolute-git-dir").strip())
    except annex.AnnexError as exc:
        raise AddError(str(exc)) from exc
    if not is_url(source) and Path(source).expanduser().exists():
        directory = Path(source).expanduser()
        if _inside(root, directory) or _inside(directory, root):
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
        manifest = _result_manifest(files, folder, root / DATASETS / ident)
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
