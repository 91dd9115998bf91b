"""OSC-EM JSON: an entry in the metadata standard of the OpenEM network's own tools.

:func:`document` maps a record onto the OSC-EM schema of its technique (see :mod:`.oscem_map`) and checks the
result against that official JSON Schema (:mod:`openem_build.data.oscem_schema`). It returns the document with
the export's report:

* errors: OSC-EM requires a value the entry lacks (named, with the YAML field to add); no document then, so no
  half-filled file is ever written;
* notes: every field of the entry with a value and no OSC-EM counterpart, and OSC-EM values left empty because
  OpenEM does not record them; nothing is dropped silently.

Pure functions of ``(SiteContext, Dataset)``: nothing here reads files (the schemas are package data), the network
or the clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..data.oscem_schema import schema_errors
from ..infra import jsontext
from ..infra.context import SiteContext
from ..records.model import Dataset
from ..records.problems import ERROR, Problem
from . import diffraction
from . import oscem_map as m
from .registry import Artefact, per_dataset

JSON_TYPE = "application/json"
LABEL = "OSC-EM metadata (JSON)"
#: Severity of the report's notes: what the export leaves out, and why (not a fault of the entry).
NOTE = "note"
#: Fields an OSC-EM document has no place for, with the reason the report gives.
_WHY = {
    "authors": "OSC-EM requires each author's organisation type (Academic, Commercial, Government, Other), which "
               "OpenEM does not record, and an e-mail, which OpenEM records for some authors only",
    "sample.grid": "OSC-EM describes the grid in parts (manufacturer, material, mesh); OpenEM's is free text",
}


class _Builder:
    """One export: the document, the record fields it used, and the report."""

    def __init__(self, d: Dataset) -> None:
        self.d = d
        self.used: set[str] = set()
        self.noted: set[str] = set()
        self.problems: list[Problem] = []

    def use(self, *fields: str) -> None:
        self.used.update(fields)

    def problem(self, field: str, message: str, hint: str = "", severity: str = ERROR) -> None:
        self.problems.append(Problem(self.d.source or f"datasets/{self.d.id}/dataset.yaml", 0, 0, field, message,
                                     hint, severity))

    def missing(self, field: str, what: str, hint: str) -> None:
        self.problem(field, f"is missing: OSC-EM requires {what}", hint)

    def note(self, field: str, message: str) -> None:
        self.noted.add(field)
        self.problem(field, message, severity=NOTE)

    # ------------------------------------------------------------------------------------------ sections

    def instrument(self) -> dict[str, Any]:
        d, i = self.d, self.d.instrument
        illumination, imaging, operating = m.modes(d)
        out: dict[str, Any] = {}
        if i.microscope:
            out["microscope"] = {"model": i.microscope}
            self.use("instrument.microscope")
            if i.manufacturer:
                out["microscope"]["manufacturer"] = i.manufacturer
                self.use("instrument.manufacturer")
        else:
            self.missing("instrument.microscope", "the microscope model", "add instrument.microscope, e.g. "
                         "Titan Krios G4")
        out.update(illumination=illumination, imaging=imaging)
        if i.electron_source:
            out["electron_source"] = i.electron_source
            self.use("instrument.electron_source")
        else:
            self.missing("instrument.electron_source", "the electron source", "add instrument.electron_source: "
                         "FEG (or cold FEG, LaB6, tungsten)")
        if i.acceleration_voltage_kV is not None:
            out["acceleration_voltage"] = m.quantity(i.acceleration_voltage_kV, "kV", "1000", "V")
            self.use("instrument.acceleration_voltage_kV")
        else:
            self.missing("instrument.acceleration_voltage_kV", "the acceleration voltage",
                         "add instrument.acceleration_voltage_kV, e.g. 300")
        if i.cs_mm is not None:
            out["cs"] = m.quantity(i.cs_mm, "mm", "1e-3", "m")
            self.use("instrument.cs_mm")
        out["operating_mode"] = operating
        return out

    def acquisition(self, name: str) -> dict[str, Any]:
        d, i, a = self.d, self.d.instrument, self.d.acquisition
        out: dict[str, Any] = {}
        if name in ("spa", "subtomo", "cellular_tomo", "env_tomo"):
            out["technique"] = name
        detector: dict[str, Any] = {}
        if i.detector:
            detector["name"] = i.detector
            self.use("instrument.detector")
        if i.detector_mode:
            detector["mode"] = i.detector_mode
            self.use("instrument.detector_mode")
        out["detectors"] = [detector] if detector else []
        if d.dates.collected:
            # OpenEM records the day; OSC-EM wants a date-time: the day's start, UTC.
            out["date_time"] = f"{d.dates.collected.isoformat()}T00:00:00Z"
            self.use("dates.collected")
        else:
            self.missing("dates.collected", "the date of the data collection", "add dates.collected: YYYY-MM-DD")
        binning = m.header_fact(d, "epu", "binning")
        if isinstance(binning, int) and binning > 0:
            out["binning_camera"] = {"height": binning, "width": binning}
        else:
            out["binning_camera"] = {}
            self.note("acquisition.binning_camera", "OpenEM does not record the camera binning and no EPU header "
                      "states it: OSC-EM's (required) binning_camera is exported empty")
        if a.pixel_size_A:
            out["pixel_size"] = m.angstrom(a.pixel_size_A)
            self.use("acquisition.pixel_size_A")
        elif m.modes(d)[1] == "Diffraction":
            self._reciprocal_pixel(out)
        else:
            self.missing("acquisition.pixel_size_A", "a pixel size", "add acquisition.pixel_size_A (Å at the "
                         "specimen)")
        if a.magnification is not None:
            out["nominal_magnification"] = a.magnification
            self.use("acquisition.magnification")
        self._dose(out)
        if a.frames_per_movie is not None:
            out["frames_per_movie"] = a.frames_per_movie
            self.use("acquisition.frames_per_movie")
        if a.defocus_range_um:
            out["nominal_defocus"] = m.defocus_range(a.defocus_range_um)
            self.use("acquisition.defocus_range_um")
        if i.energy_filter:
            ef = m.energy_filter(i.energy_filter)
            if ef:
                out["energy_filter"] = ef
                self.use("instrument.energy_filter")
            else:
                self.note("instrument.energy_filter", "states no single slit width in eV, which OSC-EM's "
                          "energy_filter requires: not in the export")
        if a.software:
            out["microscope_software"] = a.software
            self.use("acquisition.software")
        if a.temperature_K is not None:
            t = m.quantity(a.temperature_K, "K", "1", "K")
            out["temperature"] = {"minimal": t, "maximal": t}
            self.use("acquisition.temperature_K")
        if name in m.TILT_SCHEMAS:
            self._tilts(out)
        return out

    def _reciprocal_pixel(self, out: dict[str, Any]) -> None:
        """A diffraction pattern's pixel size: the spatial frequency a pixel spans (Å⁻¹), stated with its unit.

        OSC-EM requires ``pixel_size`` and describes it for images (Å at the specimen); a diffraction pattern has
        none, but its pixel has a calibrated size in reciprocal space, from the camera length, the detector's
        pixel pitch and the wavelength. That is written, unit and all, and the report says so.
        """
        i, a = self.d.instrument, self.d.acquisition
        per_pixel = diffraction.sampling_per_A(self.d)
        if per_pixel is None:
            for field, value in (("acquisition.camera_length_mm", a.camera_length_mm),
                                 ("instrument.detector_pixel_size_um", i.detector_pixel_size_um)):
                if value is None:  # (a missing voltage is reported by the instrument section)
                    self.missing(field, "a pixel size, which for diffraction patterns is the reciprocal-space "
                                 "sampling from the camera length, detector pixel size and voltage",
                                 f"add {field}")
            return
        value = float(f"{per_pixel:.4g}")
        out["pixel_size"] = m.quantity(value, "1/Å", "1e10", "1/m")
        self.use("acquisition.camera_length_mm", "instrument.detector_pixel_size_um")
        self.note("acquisition.pixel_size", f"a diffraction pattern has no pixel size at the specimen: pixel_size "
                  f"is the reciprocal-space sampling, {value:g} Å⁻¹ per pixel (detector pixel "
                  f"{i.detector_pixel_size_um:g} µm / (camera length {a.camera_length_mm:g} mm × electron "
                  f"wavelength at {i.acceleration_voltage_kV:g} kV)), with its unit 1/Å")

    def _dose(self, out: dict[str, Any]) -> None:
        d, a = self.d, self.d.acquisition
        if a.total_dose_e_per_A2 is None:
            return
        per_image = None
        if d.technique in m.PER_IMAGE_DOSE:
            per_image = a.total_dose_e_per_A2
        elif d.technique in m.TILTED_DOSE and m.tilt_count(d):
            per_image = round(a.total_dose_e_per_A2 / m.tilt_count(d), 6)  # type: ignore[operator]
        if per_image is None:
            self.note("acquisition.total_dose_e_per_A2", "OSC-EM records the dose per image (dose_per_movie); "
                      "the total dose of a series cannot be divided without the number of images: not in the "
                      "export")
            return
        out["dose_per_movie"] = m.quantity(per_image, "1/Å^2", "1e20", "1/m^2")
        self.use("acquisition.total_dose_e_per_A2")

    def _tilts(self, out: dict[str, Any]) -> None:
        d, a = self.d, self.d.acquisition
        axis = a.tilt_axis_angle_deg
        if axis is not None:
            self.use("acquisition.tilt_axis_angle_deg")
        else:
            axis = m.header_fact(d, "mdoc", "tilt_axis_angle_deg")
        if isinstance(axis, int | float):
            out["tilt_axis_angle"] = axis
        else:
            self.missing("acquisition.tilt_axis_angle_deg", "the tilt axis angle of a tilt series (no .mdoc "
                         "header in the manifest states one)", "add acquisition.tilt_axis_angle_deg, e.g. 85.3")
        if a.tilt_range_deg and len(a.tilt_range_deg) == 2 and a.tilt_step_deg:
            lo, hi = sorted(a.tilt_range_deg)
            out["tilt_angle"] = {"minimal": m.degrees(lo), "maximal": m.degrees(hi),
                                 "increment": m.degrees(a.tilt_step_deg)}
            self.use("acquisition.tilt_range_deg", "acquisition.tilt_step_deg")
        else:
            field = "acquisition.tilt_step_deg" if a.tilt_range_deg else "acquisition.tilt_range_deg"
            self.missing(field, "the tilt range and step of a tilt series", "add acquisition.tilt_range_deg: "
                         "[-60, 60] and acquisition.tilt_step_deg: 3")

    def sample(self, name: str) -> dict[str, Any] | None:
        d, s = self.d, self.d.sample
        organism = s.organism.name if s.organism else None
        if name == "cellular_tomo":
            if not organism:
                self.note("sample", "OSC-EM's cellular sample requires the organism (sample.organism): the "
                          "sample is not in the export")
                return None
            out: dict[str, Any] = {"specimen_env": {"organism": [organism]}}
            self.use("sample.organism.name")
            if s.preparation_details:
                out["specimen_env"]["handling"] = s.preparation_details
                self.use("sample.preparation_details")
            if s.preparation in m.FREEZING:
                out["freezing"] = {"method": m.FREEZING[s.preparation]}
                self.use("sample.preparation")
            elif s.preparation == "fib-milling":
                out["thinning"] = {"method_thin": "FIB milling"}
                self.use("sample.preparation")
            return out
        out = {}
        if name == m.GENERAL:
            out.update(name=s.name, description=m.sample_description(d))
            self.use("sample.name", "sample.material", "sample.preparation_details")
        elif s.preparation_details:
            out["description"] = s.preparation_details
            self.use("sample.preparation_details")
        if organism:
            overall: dict[str, Any] = {"name_sample": s.name, "source": organism}
            self.use("sample.name", "sample.organism.name")
            if s.molecular_weight_kDa is not None:
                overall["molecular_weight"] = m.kilodalton(s.molecular_weight_kDa)
                self.use("sample.molecular_weight_kDa")
            out["overall_molecule"] = overall
        elif name != m.GENERAL:
            self.note("sample", "OSC-EM's molecular sample requires its source organism (sample.organism): the "
                      "sample is not in the export")
            return None
        spec = m.specimen(d)
        if spec:
            out["specimen"] = spec
            self.use("sample.preparation")
        return out

    def organizational(self) -> dict[str, Any] | None:
        funders, grants = [], []
        for f in self.d.funding:
            funders.append({"funder_name": f.funder})
            if f.award or f.award_title:
                grant = {"project_id": f.award, "grant_name": f.award_title}
                grants.append({k: v for k, v in grant.items() if v})
        if not funders:
            return None
        self.use("funding.funder", "funding.award", "funding.award_title")
        out: dict[str, Any] = {"authors": [], "funder": funders}
        if grants:
            out["grants"] = grants
        return out

    def processing(self) -> dict[str, Any] | None:
        p = self.d.processing
        if p is None or (p.resolution_A is None and p.particles is None):
            return None
        volume: dict[str, Any] = {"volume_type": "final volume"}
        if p.resolution_A is not None:
            volume["vol_resolution"] = {"value": p.resolution_A, "unit": "Å"}
            self.use("processing.resolution_A")
        if p.particles is not None:
            volume["vol_number_particles"] = p.particles
            self.use("processing.particles")
        return {"volumes": [volume]}

    # ------------------------------------------------------------------------------------------ report

    def unmapped(self) -> None:
        """Name every field of the entry with a value that no part of the document came from: one note for those
        OSC-EM has no place for, one each for those it has a place for that OpenEM cannot fill."""
        plain: list[str] = []
        for field, in_list in _leaves(self.d.raw):
            if field in self.used or field == "id" or any(field == n or field.startswith(n + ".")
                                                           for n in self.noted):
                continue
            if field in _WHY:
                self.note(field, f"not in the OSC-EM export: {_WHY[field]}")
            elif in_list and not any(u.startswith(in_list + ".") for u in self.used):
                if in_list not in plain:
                    plain.append(in_list)  # a list none of whose fields maps: named once
            else:
                plain.append(field)
        if plain:
            self.note("", "not in the OSC-EM export (OSC-EM has no field for them): " + ", ".join(plain))


def _leaves(doc: Mapping[str, Any], prefix: str = "", in_list: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, the list it is in or '') of a document's values; a list of mappings counts by its items'
    keys (``funding.award``), other lists as one value."""
    for key in sorted(doc):
        value, here = doc[key], f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _leaves(value, here + ".", in_list)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            if here in _WHY:
                yield here, in_list
                continue
            seen: dict[tuple[str, str], None] = {}
            for item in value:
                seen.update(dict.fromkeys(_leaves(item, here + ".", in_list or here)))
            yield from seen
        elif value not in (None, "", [], {}):
            yield here, in_list


def document(ctx: SiteContext, d: Dataset) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The OSC-EM document of an entry (None when OSC-EM requires a value it lacks) and the export's report."""
    b = _Builder(d)
    name = m.schema_name(d.technique)
    b.use("technique")
    doc: dict[str, Any] = {"acquisition": b.acquisition(name), "instrument": b.instrument()}
    sample = b.sample(name)
    if sample:
        doc["sample"] = sample
    organizational = b.organizational()
    if organizational:
        doc["organizational"] = organizational
    if name == "spa":
        processing = b.processing()
        if processing:
            doc["processing"] = processing
    b.unmapped()
    if any(p.severity == ERROR for p in b.problems):
        return None, b.problems
    wrong = schema_errors(name, doc)
    if wrong:  # a fault of this mapping, never of the entry: say where, write nothing
        b.problem("", f"the OSC-EM document does not validate against the official {name} schema: "
                  + "; ".join(wrong[:5]), "report this as a bug of openem_build.render.oscem")
        return None, b.problems
    return doc, b.problems


def dumps(doc: Mapping[str, Any]) -> str:
    return jsontext.dumps(doc, indent=2) + "\n"


@per_dataset(70)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    doc, _report = document(ctx, d)
    if doc is None:
        return []
    return [Artefact(f"datasets/{d.id}/oscem.json", dumps(doc), LABEL, JSON_TYPE)]
