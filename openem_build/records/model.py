"""The typed, immutable records that flow from loading to every renderer.

Records are built only from documents that passed schema validation, so builders trust types and
required fields. Field names follow the JSON Schema (``openem_build/schema/dataset.schema.json``).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from ..infra.urls import doi_url
from .filerecord import CHECKSUM_PREFERENCE as CHECKSUM_PREFERENCE
from .filerecord import ManifestFile as ManifestFile


@dataclass(frozen=True)
class Affiliation:
    name: str
    ror: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, for EMPIAR's corresponding author


@dataclass(frozen=True)
class Person:
    name: str
    orcid: str | None = None
    affiliations: tuple[Affiliation, ...] = ()
    roles: tuple[str, ...] = ()
    email: str | None = None
    corresponding: bool = False

    @property
    def family(self) -> str:
        return self.name.split(",", 1)[0].strip()

    @property
    def given(self) -> str:
        return self.name.split(",", 1)[1].strip() if "," in self.name else ""

    @property
    def display_name(self) -> str:
        """Given names first, as people read them."""
        return f"{self.given} {self.family}".strip()

    @property
    def orcid_url(self) -> str | None:
        return f"https://orcid.org/{self.orcid}" if self.orcid else None


@dataclass(frozen=True)
class Contact:
    name: str
    email: str


@dataclass(frozen=True)
class PrincipalInvestigator:
    name: str
    orcid: str | None = None
    email: str | None = None
    organisation: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Funding:
    funder: str
    ror: str | None = None
    crossref_funder_id: str | None = None
    award: str | None = None
    award_title: str | None = None


@dataclass(frozen=True)
class Organism:
    name: str
    taxon_id: int | None = None

    @property
    def taxonomy_url(self) -> str | None:
        if self.taxon_id is None:
            return None
        return f"https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?id={self.taxon_id}"


@dataclass(frozen=True)
class Sample:
    name: str
    organism: Organism | None = None
    molecular_weight_kDa: float | None = None
    preparation: str | None = None
    preparation_details: str | None = None
    grid: str | None = None
    material: str | None = None


@dataclass(frozen=True)
class Instrument:
    microscope: str | None = None
    manufacturer: str | None = None
    detector: str | None = None
    detector_mode: str | None = None
    energy_filter: str | None = None
    acceleration_voltage_kV: float | None = None
    cs_mm: float | None = None
    #: Pitch of one detector pixel (µm): with the camera length, the reciprocal-space sampling of diffraction.
    detector_pixel_size_um: float | None = None
    electron_source: str | None = None


@dataclass(frozen=True)
class Acquisition:
    magnification: int | None = None
    pixel_size_A: float | None = None
    #: Per axis (x, y[, z]) when the axes differ; x is pixel_size_A.
    voxel_size_A: tuple[float, ...] | None = None
    total_dose_e_per_A2: float | None = None
    frames_per_movie: int | None = None
    defocus_range_um: tuple[float, ...] | None = None
    tilt_range_deg: tuple[float, ...] | None = None
    tilt_step_deg: float | None = None
    tilt_scheme: str | None = None
    tilt_axis_angle_deg: float | None = None
    software: str | None = None
    temperature_K: float | None = None
    slice_thickness_nm: float | None = None
    camera_length_mm: float | None = None


@dataclass(frozen=True)
class Processing:
    software: tuple[str, ...] = ()
    resolution_A: float | None = None
    symmetry: str | None = None
    particles: int | None = None


@dataclass(frozen=True)
class Publication:
    doi: str | None = None
    pmid: int | None = None
    title: str | None = None
    relation: str = "IsSupplementTo"
    #: The article's authors as "Family, Given", when they differ from the dataset's (EMPIAR/PDBx citations).
    authors: tuple[str, ...] = ()
    journal: str | None = None
    year: int | None = None


@dataclass(frozen=True)
class RelatedIdentifier:
    identifier: str
    identifier_type: str
    relation_type: str


@dataclass(frozen=True)
class Related:
    publications: tuple[Publication, ...] = ()
    emdb: tuple[str, ...] = ()
    pdb: tuple[str, ...] = ()
    empiar: tuple[str, ...] = ()
    related_identifiers: tuple[RelatedIdentifier, ...] = ()


@dataclass(frozen=True)
class ImageSet:
    name: str
    directory: str
    category: str
    format: str
    count: int | None = None
    pixel_size_A: float | None = None
    #: Per axis (x, y[, z]) when the files' axes differ.
    voxel_size_A: tuple[float, ...] | None = None
    frames_per_image: int | None = None
    details: str | None = None
    #: Type of each pixel value (uint8, float32 …), EMPIAR's voxel type; file headers say it when extracted.
    data_type: str | None = None


@dataclass(frozen=True)
class Provenance:
    """Where an entry's files come from when they are not (all) its authors' own recordings."""

    statement: str
    simulated: bool = False
    url: str | None = None


@dataclass(frozen=True)
class Data:
    #: The DataLad dataset's clone URL; None: no files are available (yet), or withheld under embargo.
    datalad: str | None = None
    image_sets: tuple[ImageSet, ...] = ()
    commit: str | None = None
    provenance: Provenance | None = None


@dataclass(frozen=True)
class Dates:
    published: date
    collected: date | None = None
    modified: date | None = None


@dataclass(frozen=True)
class FacilityPerson:
    """A facility's contact or data steward (datasets/facilities.yaml)."""

    name: str
    email: str | None = None
    orcid: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class FacilityInstrument:
    name: str
    detectors: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facility:
    id: str
    name: str
    institution: str
    ror: str
    city: str
    url: str
    short_name: str | None = None
    country: str = "CH"
    description: str | None = None
    contact: FacilityPerson | None = None
    data_steward: FacilityPerson | None = None
    instruments: tuple[FacilityInstrument, ...] = ()

    @property
    def label(self) -> str:
        return self.short_name or self.name


class ManifestFiles(Sequence[ManifestFile]):
    """The files of a validated ``manifest.json``, read again from disk whenever they are used.

    A catalogue of 10,000 datasets lists millions of files: records hold this stand-in (the file, the digest
    of the text that was validated, and the totals) instead, so that they stay small to keep and to send between
    processes. Reading checks the digest, so a file changed since validation is never shown.
    """

    __slots__ = ("path", "digest", "count", "total_size", "sizes_complete")

    def __init__(self, path: str, digest: str, count: int, total_size: int, sizes_complete: bool) -> None:
        self.path = path  # absolute
        self.digest = digest  # sha256 of the validated text
        self.count = count
        self.total_size = total_size
        self.sizes_complete = sizes_complete

    def _files(self) -> tuple[ManifestFile, ...]:
        from .manifest_read import load_files  # (the reader of the file format)

        return load_files(self.path, self.digest)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[ManifestFile]:
        return iter(self._files())

    def __getitem__(self, index):  # type: ignore[override]
        return self._files()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ManifestFiles):
            return (self.path, self.digest) == (other.path, other.digest)
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash((self.path, self.digest))

    def __getstate__(self) -> tuple:
        return (self.path, self.digest, self.count, self.total_size, self.sizes_complete)

    def __setstate__(self, state: tuple) -> None:
        self.path, self.digest, self.count, self.total_size, self.sizes_complete = state

    def __repr__(self) -> str:
        return f"ManifestFiles({self.path!r}, {self.count} files)"


@dataclass(frozen=True)
class Manifest:
    """The file list of a dataset at one commit of its DataLad dataset (``datasets/<id>/manifest.json``)."""

    #: A tuple, or for the records of a loaded catalogue a ManifestFiles read on use.
    files: Sequence[ManifestFile] = ()
    #: The commit of the DataLad dataset the list describes.
    commit: str | None = None
    #: The DataLad dataset id (``datalad.dataset.id`` in its ``.datalad/config``).
    datalad_id: str | None = None
    #: Where the manifest came from, relative to the catalogue root.
    source: str = field(default="", compare=False)

    @property
    def total_size(self) -> int:
        """Sum of the known file sizes, in bytes."""
        if isinstance(self.files, ManifestFiles):
            return self.files.total_size
        return sum(f.size or 0 for f in self.files)

    @property
    def sizes_complete(self) -> bool:
        """Whether every file's size is known (so total_size is exact)."""
        if isinstance(self.files, ManifestFiles):
            return self.files.sizes_complete
        return all(f.size is not None for f in self.files)

    def detached(self, path: str, digest: str) -> Manifest:
        """The same manifest holding only a :class:`ManifestFiles` that reads ``path`` (its validated text's
        sha256 is ``digest``) when the files are used."""
        files = tuple(self.files)
        lazy = ManifestFiles(path, digest, len(files), sum(f.size or 0 for f in files),
                             all(f.size is not None for f in files))
        return dataclasses.replace(self, files=lazy)

    @cached_property
    def by_path(self) -> dict[str, ManifestFile]:
        return {f.path: f for f in self.files}


@dataclass(frozen=True)
class Preview:
    """A PNG preview of one data file: ``datasets/<id>/previews/<file>``, listed in ``previews.json``."""

    file: str  # the PNG's name inside datasets/<id>/previews/ (and site/datasets/<id>/previews/)
    kind: str  # XY, XZ, YZ … (central slices of a volume), projection, or image (2D)
    width: int
    height: int
    alt: str
    source: str  # the data file it shows, relative to the DataLad dataset's root
    bytes: int | None = None

    @property
    def caption(self) -> str:
        """What a figure caption says: the file and which view of it."""
        if self.kind == "projection":
            view = "projection"
        elif self.kind in ("image", "spectrum", "map"):
            view = self.kind
        elif self.kind == "montage":
            view = "montage of tilts"
        else:
            view = f"central {self.kind} slice"
        return f"{self.source} — {view}"


@dataclass(frozen=True)
class Dataset:
    """One catalogue entry, as validated from ``datasets/<id>/dataset.yaml``."""

    id: str
    title: str
    description: str
    dates: Dates
    authors: tuple[Person, ...]
    contact: Contact
    facility: str
    technique: str
    sample: Sample
    data: Data
    keywords: tuple[str, ...] = ()
    #: The preview that represents the entry (``previews/<file>.png``), when the YAML names one (render/thumbs.py).
    thumbnail: str | None = None
    license: str = "CC-BY-4.0"
    status: str = "published"
    version: str = "1.0"
    doi: str | None = None
    embargo_until: date | None = None
    principal_investigators: tuple[PrincipalInvestigator, ...] = ()
    funding: tuple[Funding, ...] = ()
    instrument: Instrument = field(default_factory=Instrument)
    acquisition: Acquisition = field(default_factory=Acquisition)
    processing: Processing | None = None
    related: Related = field(default_factory=Related)
    #: The validated document itself (for the JSON API); never mutated.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Where the document came from, relative to the catalogue root.
    source: str = field(default="", compare=False)
    #: The file list from ``datasets/<id>/manifest.json``, when the entry has one.
    manifest: Manifest | None = field(default=None, compare=False)
    #: PNG previews of a few data files, from ``datasets/<id>/previews.json`` (the images are not loaded).
    previews: tuple[Preview, ...] = field(default=(), compare=False)

    @property
    def doi_url(self) -> str | None:
        return doi_url(self.doi) if self.doi else None

    @property
    def year(self) -> int:
        return self.dates.published.year

    @property
    def is_embargoed(self) -> bool:
        return self.status == "embargoed"


@dataclass(frozen=True)
class Catalogue:
    """Every valid dataset (sorted by id) and the facilities they reference."""

    datasets: tuple[Dataset, ...]
    facilities: Mapping[str, Facility]
    root: str = ""

    @cached_property
    def by_id(self) -> dict[str, Dataset]:
        return {d.id: d for d in self.datasets}

    def facility_of(self, dataset: Dataset) -> Facility:
        return self.facilities[dataset.facility]


T = typing.TypeVar("T")


def build(cls: type[T], value: Mapping[str, Any], **extra: Any) -> T:
    """Build record ``cls`` from validated plain data, converting nested records, tuples and dates."""
    kwargs: dict[str, Any] = {}
    for name, convert in _converters(cls):
        if name in value:
            item = value[name]
            kwargs[name] = item if convert is None or item is None else convert(item)
    kwargs.update(extra)
    return cls(**kwargs)


@functools.cache
def _converters(cls: type) -> tuple[tuple[str, Any], ...]:
    """Each field of record ``cls`` with the function that converts its plain value (None: kept as it is),
    made once per class from its type hints.

    Speed-up, measured (benchmarks/README.md, sixth round): a record built without asking ``typing`` about
    every hint of every value: 0.35–0.73 → 0.17–0.21 ms of CPU per entry (~3 s at N = 10,000)."""
    return tuple((name, _converter(hint)) for name, hint in _fields(cls))


def _converter(hint: Any) -> Any:
    """What :func:`_convert` does to a value of type ``hint``, as a function (None when it keeps the value)."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _converter(inner[0])
    if origin is tuple:
        (item, *_rest) = typing.get_args(hint)
        each = _converter(item)
        if each is None:
            return tuple
        return lambda value: tuple(None if v is None else each(v) for v in value)
    if dataclasses.is_dataclass(hint):
        return functools.partial(build, hint)
    if hint is date:
        return date.fromisoformat
    return None


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """A record's field names and resolved type hints (resolving them is slow: once per class).

    Speed-up, measured (benchmarks/README.md, profiled at N = 1,000): 4.7 → 0.9 s per 1,000 datasets."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
