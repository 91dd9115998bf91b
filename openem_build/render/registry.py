"""The registry of machine-readable files the build writes beside the pages.

A producer is a pure function returning ``Artefact`` values (or, for catalogue-wide files of hundreds of
megabytes, ``Streamed`` writers); the plugin writes them into the site. A renderer registers its producers
here with a decorator (:func:`per_dataset`, :func:`per_catalogue`, :func:`after_dataset`); this module imports no
renderer, and :mod:`.outputs` imports them all, so that importing it registers every output format.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..infra.context import SiteContext
from ..records.model import Dataset


@dataclass(frozen=True)
class Artefact:
    """A file of the site. ``label`` set: the dataset's landing page links it under that name."""

    path: str  # relative to the site root, e.g. "datasets/x/citation.bib"
    content: str | bytes
    label: str = ""
    media_type: str = ""


@dataclass(frozen=True)
class Streamed:
    """Catalogue-wide files too large to hold in memory (hundreds of MB at 10,000 datasets): ``write`` writes
    each of ``paths`` (given as open binary files, by path) chunk by chunk, in one pass over the catalogue."""

    paths: tuple[str, ...]
    write: Callable[[Mapping[str, BinaryIO]], None]
    media_types: tuple[str, ...]

    def artefacts(self) -> list[Artefact]:
        """The files in memory, as ordinary artefacts."""
        files = {path: io.BytesIO() for path in self.paths}
        self.write(files)  # type: ignore[arg-type]
        return [Artefact(path, files[path].getvalue(), media_type=media)
                for path, media in zip(self.paths, self.media_types, strict=True)]


#: Site paths under this folder are parts, not files of the site: a dataset's share of a catalogue-wide file
#: (its blocks of ``dcat/catalog.ttl``, say), made by a per-dataset producer with the dataset's files and cached
#: with them, so that a build taking the dataset from the page cache does not make that share again. The build
#: hands them to the catalogue producers (as ``parts``, by path) and removes them; they are never published.
PARTS = ".parts/"
#: What the build kept of the parts, by path (a producer makes any part missing here itself).
Parts = Mapping[str, bytes]


def part_path(kind: str, dataset_id: str) -> str:
    """The path of the part ``kind`` of a dataset."""
    return f"{PARTS}{kind}/{dataset_id}.json"


def is_part(path: str) -> bool:
    return path.startswith(PARTS)


DatasetProducer = Callable[[SiteContext, Dataset], Iterable[Artefact]]
#: Called as ``producer(ctx, parts)``.
CatalogueProducer = Callable[[SiteContext, "Parts | None"], Iterable["Artefact | Streamed"]]
#: Made after a dataset's producers, from what they made (e.g. the linkset listing its metadata files).
DatasetFinisher = Callable[[SiteContext, Dataset, Sequence[Artefact]], Iterable[Artefact]]


_DATASET: list[tuple[int, DatasetProducer]] = []
_CATALOGUE: list[tuple[int, CatalogueProducer]] = []
_FINISHERS: list[tuple[int, DatasetFinisher]] = []


def _register(table: list, rank: int) -> Callable:
    def register(producer: Callable) -> Callable:
        if all(made is not producer for _, made in table):
            table.append((rank, producer))
            table.sort(key=lambda item: item[0])  # (the order of the landing page's links, not of imports)
        return producer
    return register


def per_dataset(rank: int) -> Callable[[DatasetProducer], DatasetProducer]:
    """Register a producer of each dataset's files; ``rank`` orders them (and the landing page's links)."""
    return _register(_DATASET, rank)


def per_catalogue(rank: int) -> Callable[[CatalogueProducer], CatalogueProducer]:
    """Register a producer of catalogue-wide files, in ``rank`` order."""
    return _register(_CATALOGUE, rank)


def after_dataset(rank: int) -> Callable[[DatasetFinisher], DatasetFinisher]:
    """Register a finisher: made after a dataset's producers, from what they made, in ``rank`` order."""
    return _register(_FINISHERS, rank)


def _dataset_producers() -> list[DatasetProducer]:
    return [producer for _, producer in _DATASET]


def catalogue_producers() -> list[CatalogueProducer]:
    """The registered producers of catalogue-wide files, in rank order (see :mod:`.outputs`)."""
    # (sitemap.xml and oai/index.json take dates from git: the plugin adds them, see sitemap.dated_artefacts.)
    return [producer for _, producer in _CATALOGUE]


def _dataset_finishers() -> list[DatasetFinisher]:
    return [finisher for _, finisher in _FINISHERS]


def for_dataset(ctx: SiteContext, dataset: Dataset, parts: bool = False) -> list[Artefact]:
    """Every file produced for one dataset, in a stable order; with ``parts``, its parts of catalogue-wide files
    too (see :data:`PARTS`)."""
    out: list[Artefact] = []
    for producer in _dataset_producers():
        out.extend(a for a in producer(ctx, dataset) if parts or not is_part(a.path))
    made = tuple(a for a in out if not is_part(a.path))
    for finisher in _dataset_finishers():
        out.extend(finisher(ctx, dataset, made))
    return out


# The labelled artefacts of each dataset (without content), shared by the build that made them: the landing
# page, the JSON API and the linksets need only their paths, labels and media types, and the producers are run
# once per dataset per build (see ``share``). Holds the artefacts of one SiteContext at a time.
_shared: dict[str, list[Artefact]] = {}
_shared_ctx: list[SiteContext] = []


def share(ctx: SiteContext, dataset: Dataset, artefacts: Iterable[Artefact]) -> list[Artefact]:
    """Remember the labelled artefacts of ``dataset`` (content dropped) for :func:`links`; returns them."""
    if not _shared_ctx or _shared_ctx[0] is not ctx:
        forget()
        _shared_ctx.append(ctx)
    kept = [Artefact(a.path, "", a.label, a.media_type) for a in artefacts if a.label]
    _shared[dataset.id] = kept
    return kept


def forget() -> None:
    """Drop what :func:`share` remembered."""
    _shared.clear()
    _shared_ctx.clear()


def links(ctx: SiteContext, dataset: Dataset) -> list[Artefact]:
    """The artefacts of ``dataset`` its landing page links (``label`` set), in order; ``content`` may be empty."""
    if _shared_ctx and _shared_ctx[0] is ctx:
        kept = _shared.get(dataset.id)
        if kept is not None:
            return kept
    return [a for a in for_dataset(ctx, dataset) if a.label]


def for_catalogue(ctx: SiteContext) -> list[Artefact]:
    """Every catalogue-wide file (API lists, sitemaps, feeds …)."""
    out: list[Artefact] = []
    for producer in catalogue_producers():
        for made in producer(ctx, None):
            out.extend(made.artefacts() if isinstance(made, Streamed) else [made])
    return out
