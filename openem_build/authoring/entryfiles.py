"""The files of a new entry: ``manifest.json`` and the ``dataset.yaml`` stub pre-filled from the files' headers
(and an OSC-EM file), every field a person must fill marked TODO."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..data import typenames
from ..data.oscem import Imported
from ..records import manifest as M
from ..records.crosscheck import MRC_FORMATS
from ..records.load import DATASET_FILE
from ..records.model import Manifest, ManifestFiles
from ..records.validate import schema
from . import listing, oscem_prefill
from .prefill import Prefill, prefill
from .scaffold import dataset_stub


def _yaml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def header_pixel_size(manifest: Manifest, paths: list[str]) -> float | None:
    """The pixel size (Å) every one of these files states in its header
    (:func:`openem_build.authoring.listing.pixel_of`), or None when they do not agree."""
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
    from). The files are read in a few passes, never held (see :mod:`openem_build.authoring.listing`)."""
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


def result_manifest(files: listing.Listing, staged: Path, final: Path) -> Manifest:
    """The manifest :class:`AddResult` gives: the one in memory, or for a listing too long to hold, one that
    reads the written ``manifest.json`` again (at ``final``, where the entry goes) when its files are used."""
    if isinstance(files, listing.MemoryListing):
        return files.manifest
    with open(staged / M.MANIFEST_FILE, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    lazy = ManifestFiles(str((final / M.MANIFEST_FILE).absolute()), digest, files.count, files.total_size,
                         files.sizes_complete)
    return Manifest(lazy, files.commit, files.datalad_id)


