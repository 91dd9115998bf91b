"""What a person typed in ``dataset.yaml`` against what the files say, and the other way round.

:func:`crosscheck` compares declared values with metadata extracted from the files (MRC headers, SerialEM
``.mdoc``, EPU/Tomo XML and the other formats of :mod:`openem_build.data.headers`) and returns located problems:
pixel and voxel sizes per image set and frames of MRC movies (:mod:`openem_build.records.voxelchecks`), and every
acquisition and instrument value the files that describe the data record, each within a stated tolerance
(:mod:`.fieldchecks`). :func:`openem_build.authoring.prefill.prefill` turns the same metadata into field
values for ``openem add`` to write.

Both are pure: they take the plain document, a mapping of file path (relative to the DataLad dataset's
root) → extracted metadata (a :class:`~openem_build.data.headers.FileMetadata` or its JSON, as stored in
``manifest.json``; None for files without any), and for crosscheck a way to locate fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any

from ..data.headers import FileMetadata
from . import fieldchecks, voxelchecks
from .checkparts import (
    MRC_FORMATS,
    PLACEHOLDER_VOXEL,
    Files,
    Reporter,
    Sets,
    Where,
    describing,
    image_sets,
    is_navigation,
    metadata_of,
)
from .fieldchecks import VOLTAGE_TOLERANCE_KV
from .problems import WARNING, Problem
from .yamlsafe import Located

PIXEL_TOLERANCE = voxelchecks.VOXEL_TOLERANCE  # relative: 0.73 Å declared accepts 0.7227–0.7373 Å in the files
MAX_FILE_PROBLEMS = 20  # file problems reported one by one before the rest are summarised

__all__ = ["MRC_FORMATS", "PIXEL_TOLERANCE", "PLACEHOLDER_VOXEL", "VOLTAGE_TOLERANCE_KV", "check_manifest",
           "crosscheck", "is_navigation"]


def _check_counts(doc: Mapping[str, Any], paths: Iterable[str], rep: Reporter) -> None:
    from .manifest import set_members  # the manifest's counting rules, so both agree
    from .model import Manifest, ManifestFile

    listing = Manifest(files=tuple(ManifestFile(p) for p in sorted(paths)))
    for i, s in image_sets(doc):
        count = s.get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            continue
        members = set_members(listing, s["directory"], s.get("format"))
        depth = len([part for part in s["directory"].strip("/").split("/") if part not in ("", ".")])
        folders = len({"/".join(m.split("/")[: depth + 1]) for m in members if m.count("/") > depth})
        if count not in (len(members), folders):  # files, or one folder per tilt series
            rep.add(("data", "image_sets", i, "count"),
                    f"count is {count} but '{s['directory']}' holds {len(members)} {s.get('format')} "
                    f"file{'s' * (len(members) != 1)}", f"set `count: {len(members)}`")


def _file_problems(files: dict[str, FileMetadata], rep: Reporter, limit: int, sets: Sets) -> None:
    reported = 0
    rest: set[str] = set()
    for p, m in files.items():
        for problem in m.problems:
            if reported >= limit:
                rest.add(p)
                continue
            i = sets.of(p)
            rep.add(("data", "image_sets", i) if i is not None else ("data",), f"{p}: {problem}",
                    "fix or replace the file, or mention the problem in the image set's details", WARNING)
            reported += 1
    if rest:
        rep.add(("data",), f"{len(rest)} more file{'s have' if len(rest) != 1 else ' has'} problems, e.g. "
                f"{sorted(rest)[0]}", "see the `problems` of each file in manifest.json", WARNING)


def crosscheck(doc: Mapping[str, Any], files: Files, where: Where, path: str, *,
               pixel_tolerance: float = PIXEL_TOLERANCE, file_problems: bool = True, counts: bool = False,
               max_file_problems: int = MAX_FILE_PROBLEMS) -> list[Problem]:
    """Declared values of ``doc`` against the metadata of ``files``; problems located via ``where``.

    ``where`` is the :class:`~openem_build.records.yamlsafe.Located` document or a function from a field pointer
    to (line, column); ``path`` is how messages name the YAML file. Checks: image-set and acquisition pixel and
    voxel sizes against MRC headers and instrument metadata, frames per movie, and the voltage, magnification,
    detector, dose, defocus range and tilt range, step and scheme against the files that describe the data (each
    within the tolerance its module states), and (``file_problems``) what is wrong in the files themselves.
    ``counts`` also checks image-set counts against the paths of ``files`` (which must then list every file);
    ``openem_build.records.manifest.check_against_yaml`` does that already when a manifest exists.
    """
    if not isinstance(doc, Mapping):
        return []
    metadata = metadata_of(files)
    rep = Reporter(path, where)
    sets = Sets(doc)
    held = sets.members(metadata)
    voxelchecks.check_voxel_sizes(doc, metadata, rep, sets, held, pixel_tolerance)
    voxelchecks.check_mrc_frames(doc, metadata, rep, sets, held)
    fieldchecks.check_all(doc, describing(metadata), rep, sets, pixel_tolerance=pixel_tolerance)
    if counts:
        _check_counts(doc, files.keys(), rep)
    if file_problems:
        _file_problems(metadata, rep, max_file_problems, sets)
    return rep.problems


def check_manifest(doc: Located, manifest: Any, path: str) -> list[Problem]:
    """:func:`crosscheck` of a ``dataset.yaml`` against the file headers its ``manifest.json`` records (for the
    loader; counts are checked by :func:`openem_build.records.manifest.check_against_yaml`)."""
    listed = getattr(manifest, "files", ())
    if not any(map(attrgetter("headers"), listed)):  # (most files have none: one pass at C speed)
        return crosscheck(doc.data, {}, doc, path) if isinstance(doc.data, Mapping) else []  # (the YAML's own sizes)
    files = {f.path: f.headers for f in listed if f.headers}
    return crosscheck(doc.data, files, doc, path)
