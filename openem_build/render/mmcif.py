"""PDBx/mmCIF for wwPDB OneDep (EMDB and PDB depositions): the EM experiment a dataset describes.

:func:`document` writes, with gemmi, the categories OneDep reads from an uploaded mmCIF file: ``em_experiment``,
``em_entity_assembly`` (with molecular weight and natural source), ``em_specimen``, ``em_vitrification``
(vitrified specimens), ``em_imaging``, ``em_image_recording``, ``em_image_processing``, ``em_software``,
``em_3d_reconstruction`` with ``em_single_particle_entity`` or ``em_helical_entity`` where the processing is
known, ``audit_author``, ``citation`` and ``citation_author``. Values restricted to an enumeration of the
PDBx/mmCIF dictionary (microscope and detector models, cryogens …) are written only when the catalogue's
value maps onto one; otherwise the item is left out with a warning, so OneDep asks for it instead of
rejecting the file. Techniques OneDep does not take (volume EM, materials science) are refused.

Free text is folded to one line (CIF 1.1 cannot hold a line starting with ';' inside a text field); every
other character, quotes, leading ``data_`` or ``;`` and non-ASCII letters included, survives a round trip
through gemmi unchanged.

Pure functions of ``(SiteContext, Dataset)``: nothing here reads files, the network or the clock.
"""

from __future__ import annotations

import re
from typing import Any

from gemmi import cif

from ..artefacts import Artefact
from ..context import SiteContext
from ..model import Dataset
from ..problems import WARNING, Problem
from .empiar import citation_authors, errors, primary_publication, problem

CIF_TYPE = "chemical/x-mmcif"
LABEL = "PDBx/mmCIF for OneDep"

#: OpenEM technique → (em_experiment.reconstruction_method, em_experiment.aggregation_state).
METHODS: dict[str, tuple[str, str]] = {
    "single-particle": ("SINGLE PARTICLE", "PARTICLE"),
    "helical": ("HELICAL", "FILAMENT"),
    "subtomogram-averaging": ("SUBTOMOGRAM AVERAGING", "PARTICLE"),
    "tomography": ("TOMOGRAPHY", "CELL"),
    "2d-crystallography": ("CRYSTALLOGRAPHY", "2D ARRAY"),
    "microed": ("CRYSTALLOGRAPHY", "3D ARRAY"),
}

#: em_imaging.microscope_model values (PDBx/mmCIF enumeration) the catalogue's microscopes map onto.
MICROSCOPES = ("FEI TITAN KRIOS", "TFS KRIOS", "FEI TALOS ARCTICA", "TFS GLACIOS", "TFS TALOS", "TFS TALOS F200C",
               "TFS TALOS L120C", "TFS TUNDRA", "FEI TECNAI F20", "FEI TECNAI F30", "FEI TECNAI SPIRIT",
               "FEI POLARA 300", "JEOL 2200FS", "JEOL 2100F", "JEOL 3200FSC", "JEOL CRYO ARM 200",
               "JEOL CRYO ARM 300")
#: em_image_recording.film_or_detector_model values the catalogue's detectors map onto.
DETECTORS = ("TFS FALCON 4i (4k x 4k)", "FEI FALCON IV (4k x 4k)", "FEI FALCON III (4k x 4k)",
             "FEI FALCON II (4k x 4k)", "GATAN K3 (6k x 4k)", "GATAN K3 BIOQUANTUM (6k x 4k)",
             "GATAN K2 SUMMIT (4k x 4k)", "GATAN K2 QUANTUM (4k x 4k)", "GATAN K2 IS (4k x 4k)",
             "FEI CETA (4k x 4k)", "DIRECT ELECTRON APOLLO (4k x 4k)", "DIRECT ELECTRON DE-64 (8k x 8k)",
             "DECTRIS SINGLA (1k x 1k)")
#: OpenEM detector_mode → em_image_recording.detector_mode.
DETECTOR_MODES = {"counting": "COUNTING", "eer": "COUNTING", "super-resolution": "SUPER-RESOLUTION",
                  "integrating": "INTEGRATING"}
#: Preparations whose specimen is vitreous ice (plunge- or high-pressure-frozen, cryo-FIB lamellae).
_VITRIFIED = {"vitrification", "high-pressure-freezing", "fib-milling", "cryo-sectioning"}
_NOT_VITRIFIED = {"negative-staining", "chemical-fixation", "freeze-substitution", "sectioning"}
_POINT_GROUP = re.compile(r"^(C[1-9][0-9]*|D[2-9][0-9]*|T|O|I)$")


def one_line(value: str) -> str:
    """Whitespace runs (line breaks included) as single spaces."""
    return " ".join(value.split())


def _num(value: float | int) -> str:
    """A number as PDBx writes it: no trailing .0 on whole values, no exponent."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}" if "e" not in f"{value:.6g}" else f"{value:f}".rstrip("0")


def microscope_model(d: Dataset) -> str | None:
    """The catalogue's microscope as a PDBx/mmCIF enumeration value, when one fits."""
    name = (d.instrument.microscope or "").upper()
    maker = (d.instrument.manufacturer or "").upper()
    if "KRIOS" in name:
        return "TFS KRIOS" if re.search(r"\bG[3-9]", name) else "FEI TITAN KRIOS"
    if "ARCTICA" in name:
        return "FEI TALOS ARCTICA"
    if "GLACIOS" in name:
        return "TFS GLACIOS"
    if "TUNDRA" in name:
        return "TFS TUNDRA"
    for model in ("F200C", "L120C"):
        if "TALOS" in name and model in name:
            return f"TFS TALOS {model}"
    if "CRYO ARM" in name or "CRYOARM" in name:
        kv = re.search(r"(200|300)", name)
        return f"JEOL CRYO ARM {kv.group(1)}" if kv else None
    if "JEOL" in maker or name.startswith("JEM"):
        m = re.search(r"JEM-?(\w+)", name)
        candidate = f"JEOL {m.group(1)}" if m else None
        return candidate if candidate in MICROSCOPES else None
    return None


def detector_model(d: Dataset) -> str | None:
    """The catalogue's detector as a PDBx/mmCIF enumeration value, when one fits."""
    det = (d.instrument.detector or "").upper()
    flt = (d.instrument.energy_filter or "").upper()
    if "FALCON" in det:
        if re.search(r"\b4I\b", det):
            return "TFS FALCON 4i (4k x 4k)"
        for roman, pattern in (("IV", r"\b(4|IV)\b"), ("III", r"\b(3|III)"), ("II", r"\b(2|II)\b")):
            if re.search(pattern, det):
                return f"FEI FALCON {roman} (4k x 4k)"
        return None
    if re.search(r"\bK3\b", det):
        return "GATAN K3 BIOQUANTUM (6k x 4k)" if "BIOQUANTUM" in det + flt else "GATAN K3 (6k x 4k)"
    if re.search(r"\bK2\b", det):
        if "SUMMIT" in det:
            return "GATAN K2 SUMMIT (4k x 4k)"
        return "GATAN K2 IS (4k x 4k)" if re.search(r"\bIS\b", det) else None
    if "CETA" in det:
        return "FEI CETA (4k x 4k)"
    if "SINGLA" in det:
        return "DECTRIS SINGLA (1k x 1k)"
    return None


def split_software(value: str) -> tuple[str, str | None]:
    """'RELION 5.0' → ('RELION', '5.0'); a name without a trailing version stays whole."""
    m = re.fullmatch(r"(.+?)\s+v?(\d[\w.\-]*)", value.strip())
    return (m.group(1), m.group(2)) if m else (value.strip(), None)


def _vitrified(d: Dataset) -> bool | None:
    prep = d.sample.preparation
    if prep in _VITRIFIED:
        return True
    if prep in _NOT_VITRIFIED:
        return False
    t = d.acquisition.temperature_K
    return None if t is None else t < 150


def _vitrification(d: Dataset) -> dict[str, Any]:
    text = (d.sample.preparation_details or "").lower()
    out: dict[str, Any] = {"id": "1", "specimen_id": "1"}
    if "ethane-propane" in text or "ethane/propane" in text:
        out["cryogen_name"] = "ETHANE-PROPANE"
    elif "ethane" in text:
        out["cryogen_name"] = "ETHANE"
    elif "propane" in text:
        out["cryogen_name"] = "PROPANE"
    if "vitrobot mark iv" in text:
        out["instrument"] = "FEI VITROBOT MARK IV"
    humidity = re.search(r"(\d{1,3})\s*%\s*(relative\s+)?humidity", text)
    if humidity:
        out["humidity"] = humidity.group(1)
    if d.sample.preparation_details:
        out["details"] = one_line(d.sample.preparation_details)
    return out


def refusal(d: Dataset) -> str | None:
    if d.technique in METHODS:
        return None
    return ("not exported as PDBx/mmCIF: OneDep (EMDB and PDB) takes single-particle, helical, "
            "subtomogram-averaging, tomography and electron-crystallography experiments, not "
            f"'{d.technique}' data.")


def categories(ctx: SiteContext, d: Dataset) -> tuple[dict[str, dict[str, list[Any]]], list[Problem]]:
    """The mmCIF categories as ``{'_em_imaging.': {'item': [values …]}}`` (None = unknown), and messages."""
    out: list[Problem] = []
    refused = refusal(d)
    if refused:
        return {}, [problem(d, "technique", refused)]
    cats: dict[str, dict[str, list[Any]]] = {}

    def put(name: str, rows: dict[str, Any] | list[dict[str, Any]]) -> None:
        rows = [rows] if isinstance(rows, dict) else rows
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        cats[f"_{name}."] = {k: [r.get(k) for r in rows] for k in keys}

    method, state = METHODS[d.technique]
    entry = d.id
    put("entry", {"id": entry})
    put("em_experiment", {"entry_id": entry, "id": "1", "entity_assembly_id": "1",
                          "reconstruction_method": method, "aggregation_state": state})
    assembly: dict[str, Any] = {"id": "1", "parent_id": "0", "name": one_line(d.sample.name),
                                "type": "CELL" if state == "CELL" else "COMPLEX"}
    put("em_entity_assembly", assembly)
    if d.sample.molecular_weight_kDa:
        put("em_entity_assembly_molwt", {"entity_assembly_id": "1", "id": "1", "experimental_flag": "NO",
                                         "units": "MEGADALTONS", "value": _num(d.sample.molecular_weight_kDa / 1000)})
    if d.sample.organism:
        src: dict[str, Any] = {"id": "1", "entity_assembly_id": "1", "organism": one_line(d.sample.organism.name)}
        if d.sample.organism.taxon_id:
            src["ncbi_tax_id"] = str(d.sample.organism.taxon_id)
        put("em_entity_assembly_naturalsource", src)
    vitrified = _vitrified(d)
    prep = d.sample.preparation
    specimen: dict[str, Any] = {
        "experiment_id": "1", "id": "1",
        "vitrification_applied": None if vitrified is None else ("YES" if vitrified else "NO"),
        "staining_applied": "YES" if prep == "negative-staining" else "NO",
        "embedding_applied": "YES" if prep in ("chemical-fixation", "freeze-substitution") else "NO",
        "shadowing_applied": "NO",
    }
    if d.sample.preparation_details:
        specimen["details"] = one_line(d.sample.preparation_details)
    put("em_specimen", specimen)
    if vitrified is None:
        out.append(problem(d, "sample.preparation", "does not say whether the specimen was vitrified; "
                           "em_specimen.vitrification_applied is left unknown", "set sample.preparation", WARNING))
    if vitrified:
        put("em_vitrification", _vitrification(d))

    inst, acq = d.instrument, d.acquisition
    imaging: dict[str, Any] = {"entry_id": entry, "id": "1", "specimen_id": "1"}
    model = microscope_model(d)
    if model:
        imaging["microscope_model"] = model
    else:
        out.append(problem(d, "instrument.microscope", f"'{inst.microscope}' has no PDBx/mmCIF microscope name "
                           "here; em_imaging.microscope_model is left out for OneDep to ask", severity=WARNING))
    imaging["mode"] = "DIFFRACTION" if d.technique == "microed" else "BRIGHT FIELD"
    imaging["illumination_mode"] = "FLOOD BEAM"
    if inst.acceleration_voltage_kV is not None:
        imaging["accelerating_voltage"] = _num(inst.acceleration_voltage_kV)
    else:
        out.append(problem(d, "instrument.acceleration_voltage_kV", "is missing: OneDep requires the accelerating "
                           "voltage", "add instrument.acceleration_voltage_kV"))
    if inst.cs_mm is not None:
        imaging["nominal_cs"] = _num(inst.cs_mm)
    if acq.magnification:
        imaging["nominal_magnification"] = str(acq.magnification)
    if acq.defocus_range_um and len(acq.defocus_range_um) == 2:
        low, high = sorted(acq.defocus_range_um)
        imaging["nominal_defocus_min"], imaging["nominal_defocus_max"] = _num(low * 1000), _num(high * 1000)
    if acq.tilt_range_deg and len(acq.tilt_range_deg) == 2:
        imaging["tilt_angle_min"], imaging["tilt_angle_max"] = (_num(v) for v in sorted(acq.tilt_range_deg))
    if acq.temperature_K is not None:
        imaging["temperature"] = _num(acq.temperature_K)
    if inst.energy_filter:
        imaging["details"] = one_line(f"Energy filter: {inst.energy_filter}")
    put("em_imaging", imaging)

    recording: dict[str, Any] = {"id": "1", "imaging_id": "1"}
    det = detector_model(d)
    if det:
        recording["film_or_detector_model"] = det
    elif inst.detector:
        out.append(problem(d, "instrument.detector", f"'{inst.detector}' has no PDBx/mmCIF detector name here; "
                           "em_image_recording.film_or_detector_model is left out for OneDep to ask",
                           severity=WARNING))
    if inst.detector_mode in DETECTOR_MODES:
        recording["detector_mode"] = DETECTOR_MODES[inst.detector_mode]
    if acq.total_dose_e_per_A2 is not None:
        recording["avg_electron_dose_per_image"] = _num(acq.total_dose_e_per_A2)
    images = _image_count(d)
    if images is not None:
        key = "num_diffraction_images" if d.technique == "microed" else "num_real_images"
        recording[key] = str(images)
    put("em_image_recording", recording)
    put("em_image_processing", {"id": "1", "image_recording_id": "1"})

    software: list[dict[str, Any]] = []
    if acq.software:
        name, version = split_software(acq.software)
        software.append({"category": "IMAGE ACQUISITION", "name": name, "version": version, "imaging_id": "1"})
    for item in d.processing.software if d.processing else ():
        name, version = split_software(item)
        software.append({"category": "OTHER", "name": name, "version": version, "image_processing_id": "1"})
    if software:
        for n, row in enumerate(software, 1):
            row["id"] = str(n)
        put("em_software", [{"id": r["id"], "category": r["category"], "name": one_line(r["name"]),
                             "version": r["version"], "image_processing_id": r.get("image_processing_id"),
                             "imaging_id": r.get("imaging_id")} for r in software])

    proc = d.processing
    if proc and (proc.resolution_A or proc.particles or proc.symmetry):
        recon: dict[str, Any] = {"entry_id": entry, "id": "1", "image_processing_id": "1"}
        if proc.resolution_A:
            recon["resolution"] = _num(proc.resolution_A)
        if proc.particles and d.technique in ("single-particle", "helical", "subtomogram-averaging"):
            recon["num_particles"] = str(proc.particles)
        if d.technique == "microed":
            recon["symmetry_type"] = "3D CRYSTAL"
        elif d.technique == "2d-crystallography":
            recon["symmetry_type"] = "2D CRYSTAL"
        elif d.technique == "helical":
            recon["symmetry_type"] = "HELICAL"
        elif proc.symmetry and _POINT_GROUP.match(proc.symmetry):
            recon["symmetry_type"] = "POINT"
        pixel = _map_pixel_size(d)
        if pixel:
            recon["actual_pixel_size"] = _num(pixel)
        put("em_3d_reconstruction", recon)
        if proc.symmetry and _POINT_GROUP.match(proc.symmetry) and d.technique in ("single-particle",
                                                                                   "subtomogram-averaging"):
            put("em_single_particle_entity", {"entry_id": entry, "id": "1", "image_processing_id": "1",
                                              "point_symmetry": proc.symmetry})
        if d.technique == "helical" and proc.symmetry:
            rise = re.search(r"rise\s*([0-9.]+)\s*Å", proc.symmetry)
            twist = re.search(r"twist\s*(-?[0-9.]+)\s*°", proc.symmetry)
            if rise and twist:
                put("em_helical_entity", {"id": "1", "image_processing_id": "1",
                                          "axial_rise_per_subunit": rise.group(1),
                                          "angular_rotation_per_subunit": twist.group(1),
                                          "details": one_line(proc.symmetry)})

    put("audit_author", [{"name": one_line(a.name), "pdbx_ordinal": str(n), "identifier_ORCID": a.orcid}
                         for n, a in enumerate(d.authors, 1)])
    cite: dict[str, Any] = {"id": "primary"}
    found = primary_publication(d)
    if found:
        i, pub = found
        if not pub.title:
            out.append(problem(d, f"related.publications[{i}].title", "is missing: the PDB citation needs the "
                               "article's title", f"add related.publications[{i}].title"))
        cite.update(title=one_line(pub.title or ""), journal_abbrev=one_line(pub.journal) if pub.journal
                    else "To Be Published", year=str(pub.year) if pub.year else None,
                    pdbx_database_id_DOI=pub.doi, pdbx_database_id_PubMed=str(pub.pmid) if pub.pmid else None)
    else:
        out.append(problem(d, "related.publications", "no article given: the citation is 'To Be Published' with "
                           "the dataset's title", "add the article under related.publications once there is one",
                           WARNING))
        cite.update(title=one_line(d.title), journal_abbrev="To Be Published", year=None,
                    pdbx_database_id_DOI=None, pdbx_database_id_PubMed=None)
    put("citation", cite)
    put("citation_author", [{"citation_id": "primary", "name": one_line(name), "ordinal": str(n),
                             "identifier_ORCID": orcid} for n, (name, orcid) in enumerate(citation_authors(d), 1)])
    return cats, out


def _image_count(d: Dataset) -> int | None:
    """Images recorded: the raw set (movies, micrographs, diffraction images or tilt movies)."""
    for category in ("diffraction-images", "movies", "micrographs"):
        sets = [s for s in d.data.image_sets if s.category == category and s.count is not None]
        if sets:
            return sum(s.count for s in sets if s.count is not None)
    return None


def _map_pixel_size(d: Dataset) -> float | None:
    maps = [s for s in d.data.image_sets if s.category == "maps" and s.pixel_size_A]
    return maps[0].pixel_size_A if maps else None


def document(ctx: SiteContext, d: Dataset) -> tuple[str, list[Problem]]:
    """The PDBx/mmCIF text ('' when refused or incomplete) and the messages."""
    cats, out = categories(ctx, d)
    if not cats or errors(out):
        return "", out
    doc = cif.Document()
    block = doc.add_new_block(re.sub(r"[^A-Za-z0-9_-]", "_", d.id))
    for name, items in cats.items():
        block.set_mmcif_category(name, items)
    return doc.as_string(cif.Style.Pdbx), out


def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    text, _messages = document(ctx, d)
    if not text:
        return []
    return [Artefact(f"datasets/{d.id}/em.cif", text, LABEL, CIF_TYPE)]
