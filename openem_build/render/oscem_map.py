"""The mapping between OpenEM records and OSC-EM documents: which schema, which modes, which units.

OSC-EM (the metadata standard of the OpenEM network's own tools; ``openem_build/schema/oscem/``) has one schema per
technique. :data:`SCHEMAS` picks it from the OpenEM technique; :data:`MODES` gives the illumination, imaging and
operating mode each technique implies (OSC-EM requires them and OpenEM does not record them separately).
The builders here turn record values into OSC-EM sections; :mod:`.oscem` assembles, validates and reports.
Pure functions: no I/O. The whole mapping is documented in ``docs/api.md`` (*OSC-EM*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..records.model import Dataset, ManifestFile

#: OpenEM technique → OSC-EM schema (``oscem_schemas_<name>.schema.json``); techniques not listed use ``general``
#: ("General dataset for TEM/STEM and EELS/EDX spectroscopy", the only OSC-EM schema without a technique of its own).
#: Tomography is cellular_tomo: OpenEM does not record whether cells were lab-grown or environmental samples.
SCHEMAS: dict[str, str] = {
    "single-particle": "spa",
    "helical": "spa",
    "subtomogram-averaging": "subtomo",
    "tomography": "cellular_tomo",
}
GENERAL = "general"
#: Schemas whose acquisition carries ``technique`` (a constant) and a tilt series (tilt_angle, tilt_axis_angle).
TILT_SCHEMAS = frozenset({"subtomo", "cellular_tomo", "env_tomo"})

_TEM = ("Parallel", "BrightField", "TEM")
_STEM = "Probe"
#: OpenEM technique → (illumination, imaging, operating_mode), in the words of the OSC-EM extractors ("Parallel",
#: "BrightField"). Scanning techniques: imaging by the detector mode where it says more (see :func:`modes`).
MODES: dict[str, tuple[str, str, str]] = {
    "single-particle": _TEM, "helical": _TEM, "subtomogram-averaging": _TEM, "tomography": _TEM,
    "2d-crystallography": _TEM, "tem": _TEM,
    "microed": ("Parallel", "Diffraction", "TEM"),
    "stem": (_STEM, "Scanning", "STEM"),
    "edx": (_STEM, "EDX spectrum imaging", "STEM"),
    "eels": (_STEM, "EELS spectrum imaging", "STEM"),
    "sem": (_STEM, "Scanning", "SEM"),
    "fib-sem": (_STEM, "Scanning", "SEM"),
    "sbf-sem": (_STEM, "Scanning", "SEM"),
    "array-tomography": (_STEM, "Scanning", "SEM"),
}
_SEM_IMAGING = {"secondary-electrons": "SecondaryElectrons", "backscattered-electrons": "BackscatteredElectrons"}

#: Techniques whose total dose is the dose of one image or movie (OSC-EM's dose_per_movie). Tilt series: divided
#: by the number of tilts; MicroED rotation series: not mapped (OpenEM records the total only).
PER_IMAGE_DOSE = frozenset({"single-particle", "helical", "2d-crystallography", "tem", "stem", "edx", "eels"})
TILTED_DOSE = frozenset({"tomography", "subtomogram-averaging"})

#: OpenEM sample.preparation → OSC-EM specimen flags, and for cellular samples freezing / thinning.
VITRIFIED = frozenset({"vitrification", "high-pressure-freezing"})
FREEZING = {"vitrification": "plunge_freezing", "high-pressure-freezing": "high_pressure_freezing"}
_DALTON_KG = Decimal("1.66053906892e-27")


def schema_name(technique: str) -> str:
    """The OSC-EM schema for an OpenEM technique."""
    return SCHEMAS.get(technique, GENERAL)


def modes(d: Dataset) -> tuple[str, str, str]:
    """(illumination, imaging, operating mode) the entry's technique implies."""
    illumination, imaging, operating = MODES.get(d.technique, _TEM)
    if operating == "SEM" and d.instrument.detector_mode in _SEM_IMAGING:
        imaging = _SEM_IMAGING[d.instrument.detector_mode]
    return illumination, imaging, operating


# ------------------------------------------------------------------------------------------------ quantities


def _plain(x: Decimal) -> int | float:
    """A JSON number without float noise: 0.73e-10 → 7.3e-11, 300000.0 → 300000."""
    return int(x) if x == x.to_integral_value() and abs(x) < 10**15 else float(x)


def quantity(value: float, unit: str, si_factor: str | None = None, si_unit: str | None = None) -> dict[str, Any]:
    """OSC-EM's ``{value, unit}``, with ``valueSI``/``unitSI`` when the SI factor is known."""
    out: dict[str, Any] = {"value": _plain(Decimal(str(value))), "unit": unit}
    if si_factor is not None and si_unit is not None:
        out["valueSI"] = _plain(Decimal(str(value)) * Decimal(si_factor))
        out["unitSI"] = si_unit
    return out


def angstrom(value: float) -> dict[str, Any]:
    return quantity(value, "Å", "1e-10", "m")


def degrees(value: float) -> dict[str, Any]:
    return quantity(value, "°")


def kilodalton(value: float) -> dict[str, Any]:
    out = quantity(value, "kDa")
    out["valueSI"] = float(Decimal(str(value)) * 1000 * _DALTON_KG)
    out["unitSI"] = "kg"
    return out


# ------------------------------------------------------------------------------------------------ values


_SLIT = re.compile(r"(\d+(?:\.\d+)?)\s*eV(?!\s*(?:per|/))", re.IGNORECASE)


def energy_filter(text: str) -> dict[str, Any] | None:
    """OSC-EM's energy_filter from OpenEM's free text ('Selectris X, 10 eV slit'), or None without a slit width."""
    found = _SLIT.findall(text)
    if len(found) != 1:
        return None
    model = text.split(",", 1)[0].strip()
    return {"used": True, "model": model, "width_energy_filter": quantity(float(found[0]), "eV", "1", "eV")}


def tilt_count(d: Dataset) -> int | None:
    """Tilts per series from the tilt range and step, when the step divides the range."""
    a = d.acquisition
    if a.tilt_range_deg and len(a.tilt_range_deg) == 2 and a.tilt_step_deg:
        n = abs(a.tilt_range_deg[1] - a.tilt_range_deg[0]) / a.tilt_step_deg
        if abs(n - round(n)) < 1e-6:
            return int(round(n)) + 1
    return None


def _header_values(files: Iterable[ManifestFile], kind: str, key: str) -> set[Any]:
    values = set()
    for f in files:
        section = (f.headers or {}).get(kind) if isinstance(f.headers, Mapping) else None
        if isinstance(section, Mapping) and isinstance(section.get(key), int | float | str):
            values.add(section[key])
    return values


def header_fact(d: Dataset, kind: str, key: str) -> Any:
    """The value every file header of the manifest that states ``kind.key`` agrees on, else None."""
    if d.manifest is None:
        return None
    values = _header_values(d.manifest.files, kind, key)
    return values.pop() if len(values) == 1 else None


def defocus_range(um: tuple[float, ...]) -> dict[str, Any]:
    """OpenEM's defocus range (µm, underfocus positive) as OSC-EM's nominal_defocus: nm, underfocus negative, as
    the microscopes and the OSC-EM extractors write it."""
    nm = sorted(-float(Decimal(str(v)) * 1000) for v in um)
    return {"minimal": quantity(nm[0], "nm", "1e-9", "m"), "maximal": quantity(nm[-1], "nm", "1e-9", "m")}


def sample_description(d: Dataset) -> str:
    s = d.sample
    return "; ".join(x for x in (s.material, s.preparation_details) if x) or s.name


def specimen(d: Dataset) -> dict[str, Any]:
    prep = d.sample.preparation
    out: dict[str, Any] = {}
    if prep in VITRIFIED:
        out["vitrification"] = True
    if prep == "negative-staining":
        out["staining"] = True
    return out
