"""Which files of an entry the landing page's 3D viewer (Mol*) shows: maps and tomograms, MRC/CCP4 volumes.

A file is a map when the manifest's header facts say it is an MRC volume (``.mrc``, ``.map``, ``.ccp4``,
``.rec`` …), or, for gzip-compressed maps whose headers are not read (``.map.gz``, ``.mrc.gz``, ``.ccp4.gz``),
when it lies in an image set of maps or tomograms. The viewer loads a map from its download URL in the reader's
browser; one larger than :data:`MAX_BYTES` is not offered (the page says so and points at its central slices),
and one larger than :data:`AUTO_BYTES` loads only when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..records.model import Dataset, ManifestFile, Preview

#: Largest map the viewer offers to load into a browser (bytes as stored; a compressed map counts 4×).
MAX_BYTES = 256 * 1000**2
#: Largest map loaded as soon as the page opens; larger ones (up to MAX_BYTES) load when the reader asks.
AUTO_BYTES = 32 * 1000**2
#: Maps listed in the viewer's choice of maps, at most.
MAX_LISTED = 50
_VOLUME_SUFFIXES = (".mrc", ".map", ".ccp4", ".rec")
_COMPRESSED_SUFFIXES = (".map.gz", ".mrc.gz", ".ccp4.gz")
_MAP_CATEGORIES = ("maps", "tomograms")


@dataclass(frozen=True)
class MapFile:
    """A map the page offers in 3D (or says is too large)."""

    path: str
    url: str | None  # the download URL (as given: the page rebases it); None: no web URL, not viewable
    size: int | None
    compressed: bool

    @property
    def weight(self) -> int | None:
        """What loading it costs the browser, in bytes (a compressed map counted 4×)."""
        return None if self.size is None else self.size * (4 if self.compressed else 1)

    @property
    def too_large(self) -> bool:
        return self.weight is None or self.weight > MAX_BYTES

    @property
    def auto(self) -> bool:
        return self.weight is not None and self.weight <= AUTO_BYTES


def _in_map_set(path: str, d: Dataset) -> bool:
    for s in d.data.image_sets:
        directory = s.directory.strip("/")
        if s.category in _MAP_CATEGORIES and (directory in ("", ".") or path.startswith(directory + "/")):
            return True
    return False


def is_map(f: ManifestFile, d: Dataset) -> bool:
    """Whether ``f`` is a volume the viewer can read (see the module's description)."""
    name = f.path.lower()
    headers = f.headers if isinstance(f.headers, Mapping) else {}
    mrc = headers.get("mrc") if isinstance(headers.get("mrc"), Mapping) else None
    if name.endswith(_VOLUME_SUFFIXES) and headers.get("type") == "mrc" and mrc is not None:
        return mrc.get("kind") == "volume"
    return name.endswith(_COMPRESSED_SUFFIXES) and _in_map_set(f.path, d)


def maps(d: Dataset, files: Iterable[ManifestFile]) -> list[MapFile]:
    """The entry's maps, those in image sets of maps first, then by path."""
    found = [f for f in files if is_map(f, d)]
    found.sort(key=lambda f: (not _in_map_set(f.path, d), f.path))
    return [MapFile(f.path, f.download_urls[0] if f.download_urls else None, f.size,
                    f.path.lower().endswith(".gz")) for f in found[:MAX_LISTED]]


def slices_of(path: str, previews: Sequence[Preview]) -> list[Preview]:
    """The previews (central slices, projection) made of the data file at ``path``."""
    return [p for p in previews if p.source == path]
