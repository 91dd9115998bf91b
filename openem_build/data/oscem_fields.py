"""OSC-EM values in OpenEM's terms: the mapping of each OSC-EM field onto an OpenEM one, unit by unit.

:func:`fields` fills an :class:`Imported` from a parsed OSC-EM document (see :mod:`openem_build.data.oscem`, which
reads the file). Every value is checked against OpenEM's own schema before it is offered; a value of the wrong
form, in an unknown unit, or without an OpenEM field is named in ``Imported.notes``, never used silently.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from .oscem_values import _ANGLE_DEG as _ANGLE_DEG
from .oscem_values import _CS_MM as _CS_MM
from .oscem_values import _DEFOCUS_UM as _DEFOCUS_UM
from .oscem_values import _DOSE as _DOSE
from .oscem_values import _LENGTH_A as _LENGTH_A
from .oscem_values import _MASS_KDA as _MASS_KDA
from .oscem_values import _SLIT_EV as _SLIT_EV
from .oscem_values import _TILT_TECHNIQUES as _TILT_TECHNIQUES
from .oscem_values import _VOLTAGE_KV as _VOLTAGE_KV
from .oscem_values import NOTE_LENGTH as NOTE_LENGTH
from .oscem_values import TECHNIQUES as TECHNIQUES
from .oscem_values import Imported as Imported
from .oscem_values import _field_validator as _field_validator
from .oscem_values import _get as _get
from .oscem_values import acceptable as acceptable
from .oscem_values import clip as clip
from .oscem_values import is_number as is_number
from .oscem_values import kind as kind
from .oscem_values import unprintable as unprintable


class _Mapper:
    def __init__(self, doc: Mapping[str, Any], out: Imported) -> None:
        self.doc, self.out = doc, out

    def note(self, where: str, why: str) -> None:
        self.out.notes.append(clip(f"{where}: {why}"))

    def put(self, where: str, dotted: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, float):
            value = int(value) if value.is_integer() and dotted.endswith(("magnification", "frames_per_movie"))\
                else round(value, 6)
        why = "it holds control or invisible formatting characters" if unprintable(value) else \
            acceptable(dotted, value)
        if why:
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:79] + "…"
            self.note(where, f"{shown} cannot be {dotted}: {why}")
            return
        self.out.values[dotted] = value

    def text(self, where: str, *path: str | int) -> str | None:
        value = _get(self.doc, *path)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.note(where, f"expected text, found a {kind(value)}")
            return None
        return " ".join(value.split())

    def number(self, where: str, value: Any, units: Mapping[str, float] | None,
               convert: Callable[[float, str], float | None] | None = None) -> float | None:
        """A plain number, or an OSC-EM quantity ``{value, unit}`` converted with ``units`` (or ``convert``)."""
        if value is None:
            return None
        unit = ""
        if isinstance(value, Mapping):
            unit = value.get("unit", "")
            value = value.get("value")
            if not isinstance(unit, str):
                self.note(where, f"the unit is a {kind(unit)}, not text")
                return None
        if not is_number(value):
            self.note(where, "not a finite number" if isinstance(value, float) else "the number is too large"
                      if kind(value) == "number" else f"expected a number, found a {kind(value)}")
            return None
        unit = unicodedata.normalize("NFC", unit.replace(" ", "")).replace("\u03bc", "\u00b5")  # Å sign, Greek mu
        if convert is not None:
            result = convert(float(value), unit)
        elif units is not None and unit in units:
            result = float(value) * units[unit]
        elif units is None:
            result = float(value)
        else:
            result = None
        if result is None:
            self.note(where, f"unknown unit {unit!r}" if unit else "no unit given")
        return result

    # ------------------------------------------------------------------------------------------ sections

    def run(self) -> None:
        self.instrument()
        self.acquisition()
        self.sample()
        self.organizational()
        for section in ("processing",):
            if _get(self.doc, section) is not None:
                self.note(section, "OpenEM's processing fields are filled by hand (software, resolution): not "
                          "pre-filled")

    def instrument(self) -> None:
        g = ("instrument",)
        self.put("instrument.microscope.model", "instrument.microscope",
                 self.text("instrument.microscope.model", *g, "microscope", "model"))
        self.put("instrument.microscope.manufacturer", "instrument.manufacturer",
                 self.text("instrument.microscope.manufacturer", *g, "microscope", "manufacturer"))
        self.put("instrument.electron_source", "instrument.electron_source",
                 self.text("instrument.electron_source", *g, "electron_source"))
        kv = self.number("instrument.acceleration_voltage", _get(self.doc, *g, "acceleration_voltage"), _VOLTAGE_KV)
        self.put("instrument.acceleration_voltage", "instrument.acceleration_voltage_kV", kv)
        self.put("instrument.cs", "instrument.cs_mm", self.number("instrument.cs", _get(self.doc, *g, "cs"), _CS_MM))
        for key in ("illumination", "imaging", "operating_mode"):
            if _get(self.doc, *g, key) is not None:
                self.note(f"instrument.{key}", "OpenEM has no field for it (its technique implies the mode)")
        for key in ("c2_aperture", "beam_convergence"):
            if _get(self.doc, *g, key) is not None:
                self.note(f"instrument.{key}", "OpenEM has no field for it")

    def acquisition(self) -> None:
        g = ("acquisition",)
        a = _get(self.doc, *g)
        if a is None:
            return
        if not isinstance(a, Mapping):
            self.note("acquisition", f"expected a mapping, found a {kind(a)}")
            return
        technique = a.get("technique")
        if isinstance(technique, str) and technique in TECHNIQUES:
            self.put("acquisition.technique", "technique", TECHNIQUES[technique])
        detectors = a.get("detectors")
        if isinstance(detectors, list) and detectors:
            if len(detectors) > 1:
                self.note("acquisition.detectors", f"{len(detectors)} detectors: the first is pre-filled")
            self.put("acquisition.detectors[0].name", "instrument.detector",
                     self.text("acquisition.detectors[0].name", *g, "detectors", 0, "name"))
            mode = self.text("acquisition.detectors[0].mode", *g, "detectors", 0, "mode")
            if mode:
                self.put("acquisition.detectors[0].mode", "instrument.detector_mode",
                         mode.lower().replace(" ", "-").replace("superresolution", "super-resolution"))
        self._energy_filter(a.get("energy_filter"))
        self.put("acquisition.pixel_size", "acquisition.pixel_size_A",
                 self.number("acquisition.pixel_size", a.get("pixel_size"), _LENGTH_A))
        magnification = a.get("nominal_magnification", a.get("calibrated_magnification"))
        self.put("acquisition.nominal_magnification", "acquisition.magnification",
                 self.number("acquisition.nominal_magnification", magnification, None))
        self.put("acquisition.frames_per_movie", "acquisition.frames_per_movie",
                 self.number("acquisition.frames_per_movie", a.get("frames_per_movie"), None))
        self.put("acquisition.microscope_software", "acquisition.software",
                 self.text("acquisition.microscope_software", *g, "microscope_software"))
        self._dose(a)
        self._defocus(a)
        self._tilts(a)
        self._temperature(a.get("temperature"))
        self._date(a.get("date_time"))
        used = {"technique", "detectors", "energy_filter", "pixel_size", "nominal_magnification",
                "calibrated_magnification", "frames_per_movie", "microscope_software", "dose_per_movie",
                "nominal_defocus", "calibrated_defocus", "tilt_angle", "tilt_axis_angle", "temperature", "date_time"}
        for key in sorted(set(a) - used):
            self.note(f"acquisition.{key}", "OpenEM has no field for it")

    def _energy_filter(self, ef: Any) -> None:
        if ef is None:
            return
        if not isinstance(ef, Mapping):
            self.note("acquisition.energy_filter", f"expected a mapping, found a {kind(ef)}")
            return
        if ef.get("used") is False:
            return
        width = ef.get("width_energy_filter", ef.get("width"))
        ev = self.number("acquisition.energy_filter.width_energy_filter", width, _SLIT_EV)
        model = ef.get("model") if isinstance(ef.get("model"), str) else None
        parts = [" ".join(model.split())] if model else []
        if ev is not None:
            parts.append(f"{ev:g} eV slit")
        if parts:
            self.put("acquisition.energy_filter", "instrument.energy_filter", ", ".join(parts))

    def _dose(self, a: Mapping[str, Any]) -> None:
        dose = a.get("dose_per_movie")
        if dose is None:
            return

        def e_per_a2(value: float, unit: str) -> float | None:
            return value if _DOSE.match(unit) else None

        per_image = self.number("acquisition.dose_per_movie", dose, None, e_per_a2)
        if per_image is None:
            return
        if a.get("technique") in _TILT_TECHNIQUES:
            tilts = self._tilt_count(a)
            if tilts is None:
                self.note("acquisition.dose_per_movie", "a dose per tilt: OpenEM records the total dose of the "
                          "series, which needs the tilt range and increment")
                return
            per_image *= tilts
        self.put("acquisition.dose_per_movie", "acquisition.total_dose_e_per_A2", per_image)

    def _tilt_range(self, a: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
        t = a.get("tilt_angle")
        if not isinstance(t, Mapping):
            return None, None, None
        lo = self.number("acquisition.tilt_angle.minimal", t.get("minimal"), _ANGLE_DEG)
        hi = self.number("acquisition.tilt_angle.maximal", t.get("maximal"), _ANGLE_DEG)
        step = self.number("acquisition.tilt_angle.increment", t.get("increment"), _ANGLE_DEG)
        return lo, hi, step

    def _tilt_count(self, a: Mapping[str, Any]) -> int | None:
        lo, hi, step = self._tilt_range(a)
        if lo is None or hi is None or not step:
            return None
        n = abs(hi - lo) / abs(step)
        return int(round(n)) + 1 if abs(n - round(n)) < 0.05 else None

    def _tilts(self, a: Mapping[str, Any]) -> None:
        lo, hi, step = self._tilt_range(a)
        if lo is not None and hi is not None:
            self.put("acquisition.tilt_angle", "acquisition.tilt_range_deg", sorted([round(lo, 2), round(hi, 2)]))
        if step:
            self.put("acquisition.tilt_angle.increment", "acquisition.tilt_step_deg", abs(round(step, 4)))
        axis = self.number("acquisition.tilt_axis_angle", a.get("tilt_axis_angle"), _ANGLE_DEG)
        self.put("acquisition.tilt_axis_angle", "acquisition.tilt_axis_angle_deg", axis)

    def _defocus(self, a: Mapping[str, Any]) -> None:
        key = "nominal_defocus" if a.get("nominal_defocus") is not None else "calibrated_defocus"
        r = a.get(key)
        if r is None:
            return
        if not isinstance(r, Mapping):
            self.note(f"acquisition.{key}", f"expected a range, found a {kind(r)}")
            return
        ends = [self.number(f"acquisition.{key}.{end}", r.get(end), _DEFOCUS_UM) for end in ("minimal", "maximal")]
        values = [v for v in ends if v is not None]
        if not values:
            return
        if all(v <= 0 for v in values):  # the microscopes' sign: underfocus negative; OpenEM's is positive
            values = [-v for v in values]
        elif not all(v >= 0 for v in values):
            self.note(f"acquisition.{key}", "the range spans under- and overfocus: not pre-filled")
            return
        values = sorted(round(v, 4) for v in values)
        self.put(f"acquisition.{key}", "acquisition.defocus_range_um", [values[0], values[-1]])

    def _temperature(self, r: Any) -> None:
        if r is None:
            return

        def kelvin(value: float, unit: str) -> float | None:
            return value if unit == "K" else value + 273.15 if unit in ("°C", "C") else None

        if not isinstance(r, Mapping):
            self.note("acquisition.temperature", f"expected a range, found a {kind(r)}")
            return
        ends = {self.number(f"acquisition.temperature.{e}", r.get(e), None, kelvin) for e in ("minimal", "maximal")}
        ends.discard(None)
        if len(ends) == 1:
            self.put("acquisition.temperature", "acquisition.temperature_K", round(ends.pop(), 2))  # type: ignore[arg-type]
        elif ends:
            self.note("acquisition.temperature", "a range: OpenEM records one specimen temperature")

    def _date(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.note("acquisition.date_time", f"expected a date and time, found a {kind(value)}")
            return
        try:
            day = datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            try:
                day = date.fromisoformat(value[:10])
            except ValueError:
                self.note("acquisition.date_time", f"{value[:40]!r} is not an ISO 8601 date and time")
                return
        self.put("acquisition.date_time", "dates.collected", day.isoformat())

    def sample(self) -> None:
        s = _get(self.doc, "sample")
        if s is None:
            return
        if not isinstance(s, Mapping):
            self.note("sample", f"expected a mapping, found a {kind(s)}")
            return
        name = self.text("sample.overall_molecule.name_sample", "sample", "overall_molecule", "name_sample") \
            or self.text("sample.name", "sample", "name")
        self.put("sample.overall_molecule.name_sample", "sample.name", name)
        organism = (self.text("sample.molecule[0].natural_source", "sample", "molecule", 0, "natural_source")
                    or self.text("sample.specimen_env.organism[0]", "sample", "specimen_env", "organism", 0))
        self.put("sample.molecule[0].natural_source", "sample.organism.name", organism)
        weight = self.number("sample.overall_molecule.molecular_weight",
                             _get(s, "overall_molecule", "molecular_weight"), _MASS_KDA)
        self.put("sample.overall_molecule.molecular_weight", "sample.molecular_weight_kDa", weight)
        self.put("sample.description", "sample.preparation_details", self.text("sample.description", "sample",
                                                                               "description"))
        preparation = None
        if _get(s, "specimen", "vitrification") is True:
            preparation = "vitrification"
        method = _get(s, "freezing", "method")
        if method in ("plunge_freezing", "high_pressure_freezing"):
            preparation = "vitrification" if method == "plunge_freezing" else "high-pressure-freezing"
        thinning = _get(s, "thinning", "method_thin")
        if isinstance(thinning, str) and "fib" in thinning.lower():
            preparation = "fib-milling"
        self.put("sample.specimen", "sample.preparation", preparation)
        grid = _get(s, "grid")
        if isinstance(grid, Mapping):
            words = [grid.get(k) for k in ("manufacturer", "material") if isinstance(grid.get(k), str)]
            mesh = grid.get("mesh")
            if is_number(mesh) and mesh > 0:
                words.append(f"{mesh:g} mesh")
            if words:
                self.put("sample.grid", "sample.grid", " ".join(" ".join(w.split()) for w in words))
        for key in sorted(set(s) - {"overall_molecule", "molecule", "specimen_env", "name", "description",
                                    "specimen", "freezing", "thinning", "grid"}):
            self.note(f"sample.{key}", "OpenEM has no field for it")

    def organizational(self) -> None:
        o = _get(self.doc, "organizational")
        if o is None:
            return
        if not isinstance(o, Mapping):
            self.note("organizational", f"expected a mapping, found a {kind(o)}")
            return
        authors = o.get("authors")
        for i, a in enumerate(authors if isinstance(authors, list) else []):
            where = f"organizational.authors[{i}]"
            family = self.text(f"{where}.family_name", "organizational", "authors", i, "family_name")
            given = self.text(f"{where}.given_name", "organizational", "authors", i, "given_name")
            if not family or not given or not isinstance(a, Mapping):
                self.note(where, "needs family_name and given_name")
                continue
            person: dict[str, Any] = {"name": f"{family}, {given}"}
            for key, target in (("orcid", "orcid"), ("email", "email")):
                value = a.get(key)
                if isinstance(value, str) and value:
                    person[target] = value.removeprefix("https://orcid.org/")
            org = a.get("name_org")
            if isinstance(org, str) and org.strip():
                person["affiliations"] = [{"name": " ".join(org.split())}]
            self._person(where, person)
        funders = o.get("funder")
        grants = o.get("grants")
        for i, f in enumerate(funders if isinstance(funders, list) else []):
            name = _get(f, "funder_name")
            if isinstance(name, str) and name.strip():
                entry: dict[str, Any] = {"funder": " ".join(name.split())}
                if self._funding_ok(f"organizational.funder[{i}]", entry):
                    self.out.funding.append(entry)
        if isinstance(grants, list) and grants:
            ids = [g.get("project_id") for g in grants if isinstance(g, Mapping) and g.get("project_id")]
            self.note("organizational.grants", "OSC-EM does not say which funder gave which grant: add "
                      + (f"the awards ({', '.join(map(str, ids[:5]))}) " if ids else "them ")
                      + "under funding by hand")

    def _person(self, where: str, person: dict[str, Any]) -> None:
        for key in ("orcid", "email"):
            if key in person and acceptable("authors", [{"name": "A, B", key: person[key]}]):
                self.note(f"{where}.{key}", f"{person.pop(key)!r} is not a valid {key}: not pre-filled")
        why = "it holds control or invisible formatting characters" if unprintable(person) else \
            acceptable("authors", [person])
        if why:
            self.note(where, f"cannot be an OpenEM author: {why}")
        elif person not in self.out.authors:
            self.out.authors.append(person)

    def _funding_ok(self, where: str, entry: dict[str, Any]) -> bool:
        why = "it holds control or invisible formatting characters" if unprintable(entry) else \
            acceptable("funding", [entry])
        if why:
            self.note(where, f"cannot be OpenEM funding: {why}")
        return not why and entry not in self.out.funding


def fields(doc: Mapping[str, Any], out: Imported) -> None:
    """Map a parsed OSC-EM document onto OpenEM fields, into ``out``."""
    _Mapper(doc, out).run()
