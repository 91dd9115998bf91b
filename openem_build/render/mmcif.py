"""PDBx/mmCIF for wwPDB OneDep (EMDB and PDB depositions): the EM experiment a dataset describes.

:func:`document` writes, with gemmi, the categories OneDep reads from an uploaded mmCIF file: ``em_experiment``,
``em_entity_assembly`` (with molecular weight and natural source), ``em_specimen``, ``em_vitrification``
(vitrified specimens), ``em_imaging``, ``em_image_recording``, ``em_image_processing``, ``em_software``,
``em_3d_reconstruction`` with ``em_single_particle_entity`` or ``em_helical_entity`` where the processing is
known, ``audit_author``, ``citation`` and ``citation_author``. Techniques OneDep does not take (volume EM,
materials science) are refused.

The file is valid against the PDBx/mmCIF dictionary named in ``_audit_conform`` (:data:`DICTIONARY`), both its
plain rules and OneDep's deposition rules (``_pdbx_item_enumeration``, ``_pdbx_item_range``, the ``author``
name form): tests/test_mmcif.py validates every export with gemmi against the real dictionary file, and checks
the tables below against it.

- Every item written exists in the dictionary; every mandatory item is written, as ``?`` (unknown, for OneDep
  to ask) when the catalogue does not know it.
- A value restricted to an enumeration is a value of it. A catalogue value that maps onto none becomes the
  dictionary's catch-all (``OTHER``) where it has one, else ``?``; either way the real value is kept in the
  category's ``details`` text, and a warning says so.
- A number outside the dictionary's range (or OneDep's narrower one) is left out with a warning and kept in
  ``details``; integers are written as integers.
- Text is ASCII (CIF 1.1 and the dictionary's character classes): letters lose their accents (anyascii, which
  also spells out CJK, Cyrillic, Greek …), and the EM symbols read as people write them in ASCII: Å → A,
  µ → u, ° → deg, ± → +/-, × → x. People's names take the PDB's form ``Family, I.N.``.
- Free text is folded to one line; a text too long for one CIF line (2048 characters) is wrapped into a text
  field whose lines never start with ``;``, and cut, with a warning, past :data:`LONGEST_TEXT` characters (a
  one-line item past :data:`LONGEST`). Quotes, ``data_``, ``loop_`` and ``_tag`` lookalikes are quoted by
  gemmi, so they stay text.

Pure functions of ``(SiteContext, Dataset)``: nothing here reads files, the network or the clock.
"""

from __future__ import annotations

import re
from typing import Any

from gemmi import cif

from ..infra.context import SiteContext
from ..records.model import Dataset
from ..records.problems import Problem
from .empiar import citation_authors, errors, primary_publication, problem
from .mmcif_parts import _Entry as _Entry
from .mmcif_parts import _helical as _helical
from .mmcif_parts import _image_count as _image_count
from .mmcif_parts import _map_pixel_size as _map_pixel_size
from .mmcif_parts import _person as _person
from .mmcif_parts import _software_rows as _software_rows
from .mmcif_parts import _text_field as _text_field
from .mmcif_parts import _vitrification as _vitrification
from .mmcif_parts import cif_value as cif_value
from .mmcif_terms import _BY_LOWER as _BY_LOWER
from .mmcif_terms import _GREEK_MICRO as _GREEK_MICRO
from .mmcif_terms import _NOT_PRINTABLE as _NOT_PRINTABLE
from .mmcif_terms import _NOT_VITRIFIED as _NOT_VITRIFIED
from .mmcif_terms import _SYMBOLS as _SYMBOLS
from .mmcif_terms import _VENDORS as _VENDORS
from .mmcif_terms import _VERSION as _VERSION
from .mmcif_terms import _VITRIFIED as _VITRIFIED
from .mmcif_terms import _WRAP as _WRAP
from .mmcif_terms import AUTHOR as AUTHOR
from .mmcif_terms import CITATION_DOI as CITATION_DOI
from .mmcif_terms import CODE as CODE
from .mmcif_terms import CRYOGENS as CRYOGENS
from .mmcif_terms import DETECTOR_MODES as DETECTOR_MODES
from .mmcif_terms import DETECTORS as DETECTORS
from .mmcif_terms import LONGEST as LONGEST
from .mmcif_terms import LONGEST_TEXT as LONGEST_TEXT
from .mmcif_terms import MANDATORY_UNKNOWN as MANDATORY_UNKNOWN
from .mmcif_terms import METHODS as METHODS
from .mmcif_terms import MICROSCOPES as MICROSCOPES
from .mmcif_terms import NUMBERS as NUMBERS
from .mmcif_terms import ORCID as ORCID
from .mmcif_terms import POINT_GROUP as POINT_GROUP
from .mmcif_terms import POINT_GROUP_HELICAL as POINT_GROUP_HELICAL
from .mmcif_terms import SOFTWARE as SOFTWARE
from .mmcif_terms import SOFTWARE_ALIASES as SOFTWARE_ALIASES
from .mmcif_terms import SOFTWARE_CATEGORIES as SOFTWARE_CATEGORIES
from .mmcif_terms import TEXT_ITEMS as TEXT_ITEMS
from .mmcif_terms import VITRIFICATION_INSTRUMENTS as VITRIFICATION_INSTRUMENTS
from .mmcif_terms import Range as Range
from .mmcif_terms import _family as _family
from .mmcif_terms import _initials as _initials
from .mmcif_terms import _listed as _listed
from .mmcif_terms import _name_words as _name_words
from .mmcif_terms import _num as _num
from .mmcif_terms import _range_text as _range_text
from .mmcif_terms import _shown as _shown
from .mmcif_terms import _vitrified as _vitrified
from .mmcif_terms import ascii_text as ascii_text
from .mmcif_terms import detector_model as detector_model
from .mmcif_terms import in_ranges as in_ranges
from .mmcif_terms import microscope_model as microscope_model
from .mmcif_terms import one_line as one_line
from .mmcif_terms import pdb_author as pdb_author
from .mmcif_terms import refusal as refusal
from .mmcif_terms import software as software
from .registry import Artefact, per_dataset

CIF_TYPE = "chemical/x-mmcif"
LABEL = "PDBx/mmCIF for OneDep"

#: The dictionary (_dictionary.title, _dictionary.version) the tables below are taken from and the files conform to.
DICTIONARY = ("mmcif_pdbx.dic", "5.362")

# ------------------------------------------------------------------------------------------------ dictionary facts
# Transcribed from DICTIONARY; tests/test_mmcif.py compares each table with the real dictionary file.


# ------------------------------------------------------------------------------------------------ ASCII text


# ------------------------------------------------------------------------------------------------ mappings


# ------------------------------------------------------------------------------------------------ the categories


def categories(ctx: SiteContext, d: Dataset) -> tuple[dict[str, dict[str, list[Any]]], list[Problem]]:
    """The mmCIF categories as ``{'_em_imaging.': {'item': [values …]}}`` (None = unknown), and messages."""
    refused = refusal(d)
    if refused:
        return {}, [problem(d, "technique", refused)]
    e = _Entry(d)
    put, out = e.put, e.out

    method, state = METHODS[d.technique]
    entry = re.sub(r"[^A-Za-z0-9_.-]", "_", d.id)[:_WRAP] or "entry"  # ids are slugs; a hostile one stays a code
    put("entry", {"id": entry})
    put("audit_conform", {"dict_name": DICTIONARY[0], "dict_version": DICTIONARY[1]})
    put("em_experiment", {"entry_id": entry, "id": "1", "entity_assembly_id": "1",
                          "reconstruction_method": method, "aggregation_state": state})
    mw = d.sample.molecular_weight_kDa
    molwt = e.number("_em_entity_assembly_molwt.value", mw / 1000 if mw else None, "sample.molecular_weight_kDa",
                     "Molecular weight (MDa)", "_em_entity_assembly")
    organism = d.sample.organism
    source = organism and {
        "id": "1", "entity_assembly_id": "1",
        "organism": e.text(organism.name, "sample.organism.name", "_em_entity_assembly_naturalsource.organism"),
        "ncbi_tax_id": e.number("_em_entity_assembly_naturalsource.ncbi_tax_id", organism.taxon_id,
                                "sample.organism.taxon_id", "NCBI taxonomy id", "_em_entity_assembly")}
    put("em_entity_assembly", {"id": "1", "parent_id": "0",
                               "name": e.text(d.sample.name, "sample.name", "_em_entity_assembly.name"),
                               "type": "CELL" if state == "CELL" else "COMPLEX",
                               "details": e.details("_em_entity_assembly", "sample")})
    if molwt:
        put("em_entity_assembly_molwt", {"entity_assembly_id": "1", "id": "1", "experimental_flag": "NO",
                                         "units": "MEGADALTONS", "value": molwt})
    if source:
        put("em_entity_assembly_naturalsource", source)
    vitrified = _vitrified(d)
    prep = d.sample.preparation
    put("em_specimen", {
        "experiment_id": "1", "id": "1",
        "vitrification_applied": None if vitrified is None else ("YES" if vitrified else "NO"),
        "staining_applied": "YES" if prep == "negative-staining" else "NO",
        "embedding_applied": "YES" if prep in ("chemical-fixation", "freeze-substitution") else "NO",
        "shadowing_applied": "NO",
        "details": e.text(d.sample.preparation_details, "sample.preparation_details", "_em_specimen.details"),
    })
    if vitrified is None:
        e.warn("sample.preparation", "does not say whether the specimen was vitrified; "
               "em_specimen.vitrification_applied is left unknown", "set sample.preparation")
    if vitrified:
        put("em_vitrification", _vitrification(e, entry))

    inst, acq = d.instrument, d.acquisition
    imaging: dict[str, Any] = {"entry_id": entry, "id": "1", "specimen_id": "1"}
    # microscope_model is mandatory and has no catch-all: unknown ('?') for OneDep to ask, named in details.
    imaging["microscope_model"] = microscope_model(d)
    if imaging["microscope_model"] is None and not inst.microscope:
        e.warn("instrument.microscope", "is missing; em_imaging.microscope_model is left unknown for OneDep to ask",
               "add instrument.microscope")
    elif imaging["microscope_model"] is None:
        e.warn("instrument.microscope", f"'{_shown(inst.microscope)}' has no PDBx/mmCIF microscope name "
               "here; em_imaging.microscope_model is left unknown for OneDep to ask, the microscope is named in "
               "em_imaging.details")
        e.note("_em_imaging", f"Microscope: {' '.join(filter(None, (inst.manufacturer, inst.microscope)))}")
    imaging["mode"] = "DIFFRACTION" if d.technique == "microed" else "BRIGHT FIELD"
    imaging["illumination_mode"] = "FLOOD BEAM"
    if inst.acceleration_voltage_kV is None:
        out.append(problem(d, "instrument.acceleration_voltage_kV", "is missing: OneDep requires the accelerating "
                           "voltage", "add instrument.acceleration_voltage_kV"))
    imaging["accelerating_voltage"] = e.number("_em_imaging.accelerating_voltage", inst.acceleration_voltage_kV,
                                               "instrument.acceleration_voltage_kV", "Accelerating voltage (kV)")
    imaging["nominal_cs"] = e.number("_em_imaging.nominal_cs", inst.cs_mm, "instrument.cs_mm", "Cs (mm)")
    imaging["nominal_magnification"] = e.number("_em_imaging.nominal_magnification", acq.magnification,
                                                "acquisition.magnification", "Nominal magnification")
    if acq.defocus_range_um and len(acq.defocus_range_um) == 2:
        low, high = sorted(acq.defocus_range_um)
        for item, um in (("nominal_defocus_min", low), ("nominal_defocus_max", high)):
            imaging[item] = e.number(f"_em_imaging.{item}", um * 1000, "acquisition.defocus_range_um",
                                     f"{item.replace('_', ' ').capitalize()} (nm)")
    if acq.tilt_range_deg and len(acq.tilt_range_deg) == 2:
        for item, deg in zip(("tilt_angle_min", "tilt_angle_max"), sorted(acq.tilt_range_deg), strict=True):
            imaging[item] = e.number(f"_em_imaging.{item}", deg, "acquisition.tilt_range_deg", item)
    imaging["temperature"] = e.number("_em_imaging.temperature", acq.temperature_K, "acquisition.temperature_K",
                                      "Temperature (K)")
    imaging["details"] = e.details("_em_imaging", "instrument.energy_filter",
                                   f"Energy filter: {inst.energy_filter}" if inst.energy_filter else None)
    put("em_imaging", imaging)
    if d.technique == "microed" and acq.camera_length_mm is not None:
        length = e.number("_em_diffraction.camera_length", acq.camera_length_mm, "acquisition.camera_length_mm",
                          "Camera length (mm)")
        if length is not None:
            put("em_diffraction", {"id": "1", "imaging_id": "1", "camera_length": length})

    recording: dict[str, Any] = {"id": "1", "imaging_id": "1"}
    det = detector_model(d)
    if det:
        recording["film_or_detector_model"] = det
    if det == "OTHER":
        e.warn("instrument.detector", f"'{_shown(inst.detector)}' has no PDBx/mmCIF detector name here; "
               "em_image_recording.film_or_detector_model is OTHER and the detector is named in its details")
    if inst.detector_mode in DETECTOR_MODES:
        recording["detector_mode"] = DETECTOR_MODES[inst.detector_mode]
    recording["avg_electron_dose_per_image"] = e.number(
        "_em_image_recording.avg_electron_dose_per_image", acq.total_dose_e_per_A2, "acquisition.total_dose_e_per_A2",
        "Total dose (e-/A2)")
    key = "num_diffraction_images" if d.technique == "microed" else "num_real_images"
    recording[key] = e.number(f"_em_image_recording.{key}", _image_count(d), "data.image_sets", "Images recorded")
    recording["details"] = e.details("_em_image_recording", "instrument.detector",
                                     f"Detector: {inst.detector}" if det == "OTHER" else None)
    put("em_image_recording", recording)
    put("em_image_processing", {"id": "1", "image_recording_id": "1"})
    rows = _software_rows(e)
    if rows:
        put("em_software", rows)

    proc = d.processing
    if proc and (proc.resolution_A or proc.particles or proc.symmetry):
        point_group = proc.symmetry if proc.symmetry and POINT_GROUP.fullmatch(proc.symmetry) else None
        recon: dict[str, Any] = {"entry_id": entry, "id": "1", "image_processing_id": "1"}
        recon["resolution"] = e.number("_em_3d_reconstruction.resolution", proc.resolution_A,
                                       "processing.resolution_A", "Resolution (A)")
        if proc.particles and d.technique in ("single-particle", "helical", "subtomogram-averaging"):
            recon["num_particles"] = e.number("_em_3d_reconstruction.num_particles", proc.particles,
                                              "processing.particles", "Particles")
        if d.technique == "microed":
            recon["symmetry_type"] = "3D CRYSTAL"
        elif d.technique == "2d-crystallography":
            recon["symmetry_type"] = "2D CRYSTAL"
        elif d.technique == "helical":
            recon["symmetry_type"] = "HELICAL"
        elif point_group:
            recon["symmetry_type"] = "POINT"
        recon["actual_pixel_size"] = e.number("_em_3d_reconstruction.actual_pixel_size", _map_pixel_size(d),
                                              "data.image_sets", "Pixel size (A)")
        recon["details"] = e.details("_em_3d_reconstruction", "processing")
        put("em_3d_reconstruction", recon)
        if point_group and d.technique in ("single-particle", "subtomogram-averaging"):
            put("em_single_particle_entity", {"entry_id": entry, "id": "1", "image_processing_id": "1",
                                              "point_symmetry": point_group})
        helical = _helical(e, proc.symmetry) if d.technique == "helical" and proc.symmetry else None
        if helical:
            put("em_helical_entity", helical)

    put("audit_author", [_person(e, a.name, f"authors[{n - 1}].name", a.orcid, f"authors[{n - 1}].orcid") |
                         {"pdbx_ordinal": str(n)} for n, a in enumerate(d.authors, 1)])
    cite: dict[str, Any] = {"id": "primary"}
    found = primary_publication(d)
    if found:
        i, pub = found
        here = f"related.publications[{i}]"
        if not pub.title:
            out.append(problem(d, f"{here}.title", "is missing: the PDB citation needs the article's title",
                               f"add {here}.title"))
        doi = pub.doi if pub.doi and len(pub.doi) < _WRAP * 4 and CODE.fullmatch(pub.doi) and \
            CITATION_DOI.fullmatch(pub.doi) else None
        if pub.doi and not doi:
            e.warn(f"{here}.doi", f"DOI {_shown(pub.doi)} has characters _citation.pdbx_database_id_DOI does "
                   "not take; it is left out of the citation")
        cite.update(title=e.text(pub.title or "", f"{here}.title", "_citation.title"),
                    journal_abbrev=e.text(pub.journal, f"{here}.journal", "_citation.journal_abbrev")
                    or "To Be Published",
                    year=e.number("_citation.year", pub.year, f"{here}.year", "Year"),
                    pdbx_database_id_DOI=doi,
                    pdbx_database_id_PubMed=e.number("_citation.pdbx_database_id_PubMed", pub.pmid, f"{here}.pmid",
                                                     "PubMed"))
    else:
        e.warn("related.publications", "no article given: the citation is 'To Be Published' with the dataset's "
               "title", "add the article under related.publications once there is one")
        cite.update(title=e.text(d.title, "title", "_citation.title"), journal_abbrev="To Be Published", year=None,
                    pdbx_database_id_DOI=None, pdbx_database_id_PubMed=None)
    cite["details"] = e.details("_citation", "related.publications")
    put("citation", cite)
    names = f"related.publications[{found[0]}].authors[{{}}]" if found and found[1].authors else "authors[{}].name"
    put("citation_author", [{"citation_id": "primary"} | _person(e, name, names.format(n - 1), orcid, None) |
                            {"ordinal": str(n)} for n, (name, orcid) in enumerate(citation_authors(d), 1)])
    return e.cats, list(dict.fromkeys(out))  # a text cut in two items is one message


# ------------------------------------------------------------------------------------------------ the file


def document(ctx: SiteContext, d: Dataset) -> tuple[str, list[Problem]]:
    """The PDBx/mmCIF text ('' when refused or incomplete) and the messages."""
    cats, out = categories(ctx, d)
    if not cats or errors(out):
        return "", out
    doc = cif.Document()
    block = doc.add_new_block(re.sub(r"[^A-Za-z0-9_-]", "_", cats["_entry."]["id"][0]))
    for name, items in cats.items():
        rows = len(next(iter(items.values())))
        block.set_mmcif_category(name, {item: [cif_value(f"{name}{item}", v, rows > 1) for v in values]
                                        for item, values in items.items()}, raw=True)
    return doc.as_string(cif.Style.Pdbx), out


@per_dataset(60)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    text, _messages = document(ctx, d)
    if not text:
        return []
    return [Artefact(f"datasets/{d.id}/em.cif", text, LABEL, CIF_TYPE)]
