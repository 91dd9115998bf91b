"""PDBx/mmCIF export for OneDep: written by gemmi, parsed back, checked against the PDBx/mmCIF dictionary.

gemmi ships no PDBx/mmCIF dictionary, so the items this export writes are transcribed below from
mmcif_pdbx_v50.dic (item names, types and enumerations, the enumerations abridged to the values relevant
here where the dictionary lists dozens) and turned into a small DDL2 dictionary that gemmi's own validator
(``gemmi.cif.Ddl``) applies: unknown categories or items, values not matching their type's regular
expression and values outside an enumeration all fail.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from gemmi import cif

from openem_build.context import SiteContext
from openem_build.load import load_catalogue
from openem_build.model import Affiliation, Person, Publication, Related, Sample
from openem_build.render import mmcif

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "catalogue"

# ------------------------------------------------------------------------------------------ the dictionary

#: _item_type_list regular expressions of mmcif_pdbx_v50.dic. The dictionary's character classes are ASCII;
#: they are widened by non-ASCII letters here on purpose, because the catalogue keeps names such as
#: "Čech, Tomáš" as written (OneDep accepts UTF-8 and transliterates where the archive needs ASCII).
_U = "\u0080-\uffff"
TYPES = {
    "code": rf"""[][_,.;:"&<>()/\{{}}'`~!@#$%A-Za-z0-9*|+{_U}-]*""",
    "line": rf"""[][ \t_(),.;:"&<>/\{{}}'`~!@#$%?+=*A-Za-z0-9|^{_U}-]*""",
    "text": rf"""[][ \n\t()_,.;:"&<>/\{{}}'`~!@#$%?+=*A-Za-z0-9|^{_U}-]*""",
    "int": r"[+-]?[0-9]+",
    "float": r"-?(([0-9]+)[.]?|([0-9]*[.][0-9]+))([(][0-9]+[)])?([eE][+-]?[0-9]+)?",
    "orcid_id": r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]",
    "ucode": r"""[][_,.;:"&<>()/\{}'`~!@#$%A-Za-z0-9*|+-]*""",
}
YES_NO = ("YES", "NO")
#: category → {item: (type, enumeration or ())}, from mmcif_pdbx_v50.dic.
ITEMS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "entry": {"id": ("code", ())},
    "em_experiment": {
        "entry_id": ("code", ()), "id": ("code", ()), "entity_assembly_id": ("code", ()),
        "reconstruction_method": ("line", ("CRYSTALLOGRAPHY", "HELICAL", "SINGLE PARTICLE",
                                           "SUBTOMOGRAM AVERAGING", "TOMOGRAPHY")),
        "aggregation_state": ("line", ("2D ARRAY", "3D ARRAY", "CELL", "FILAMENT", "HELICAL ARRAY", "PARTICLE",
                                       "TISSUE")),
    },
    "em_entity_assembly": {
        "id": ("code", ()), "parent_id": ("int", ()), "name": ("text", ()), "details": ("text", ()),
        "source": ("line", ("NATURAL", "RECOMBINANT", "MULTIPLE SOURCES", "SYNTHETIC")),
        "type": ("line", ("CELL", "COMPLEX", "ORGANELLE OR CELLULAR COMPONENT", "TISSUE", "VIRUS")),
        "entity_id_list": ("text", ()), "synonym": ("line", ()), "oligomeric_details": ("text", ()),
    },
    "em_entity_assembly_molwt": {
        "entity_assembly_id": ("code", ()), "id": ("code", ()), "experimental_flag": ("code", YES_NO),
        "units": ("line", ("MEGADALTONS", "KILODALTONS/NANOMETER")), "value": ("float", ()),
    },
    "em_entity_assembly_naturalsource": {
        "id": ("code", ()), "entity_assembly_id": ("code", ()), "organism": ("line", ()),
        "ncbi_tax_id": ("code", ()), "strain": ("line", ()), "cell": ("line", ()), "tissue": ("line", ()),
    },
    "em_specimen": {
        "experiment_id": ("code", ()), "id": ("code", ()), "concentration": ("float", ()),
        "details": ("text", ()), "embedding_applied": ("code", YES_NO), "shadowing_applied": ("code", YES_NO),
        "staining_applied": ("code", YES_NO), "vitrification_applied": ("code", YES_NO),
    },
    "em_vitrification": {
        "entry_id": ("code", ()), "id": ("code", ()), "specimen_id": ("code", ()),
        "cryogen_name": ("line", ("ETHANE", "ETHANE-PROPANE", "FREON 12", "FREON 22", "HELIUM", "METHANE",
                                  "NITROGEN", "OTHER", "PROPANE")),
        "humidity": ("float", ()), "chamber_temperature": ("float", ()), "temp": ("float", ()),
        "instrument": ("line", ("EMS-002 RAPID IMMERSION FREEZER", "FEI VITROBOT MARK I", "FEI VITROBOT MARK II",
                                "FEI VITROBOT MARK III", "FEI VITROBOT MARK IV", "GATAN CRYOPLUNGE 3",
                                "HOMEMADE PLUNGER", "LEICA EM CPC", "LEICA EM GP", "LEICA KF80", "LEICA PLUNGER",
                                "REICHERT-JUNG PLUNGER", "SPOTITON", "OTHER")),
        "method": ("text", ()), "details": ("text", ()), "time_resolved_state": ("text", ()),
        "citation_id": ("code", ()),
    },
    "em_imaging": {
        "entry_id": ("code", ()), "id": ("code", ()), "specimen_id": ("code", ()),
        "accelerating_voltage": ("int", ()), "nominal_cs": ("float", ()),
        "nominal_magnification": ("int", ()), "calibrated_magnification": ("int", ()),
        "nominal_defocus_min": ("float", ()), "nominal_defocus_max": ("float", ()),
        "calibrated_defocus_min": ("float", ()), "calibrated_defocus_max": ("float", ()),
        "tilt_angle_min": ("float", ()), "tilt_angle_max": ("float", ()), "temperature": ("float", ()),
        "recording_temperature_minimum": ("float", ()), "recording_temperature_maximum": ("float", ()),
        "electron_source": ("line", ()), "alignment_procedure": ("line", ()), "cryogen": ("line", ()),
        "mode": ("line", ("BRIGHT FIELD", "DARK FIELD", "DIFFRACTION", "OTHER")),
        "illumination_mode": ("line", ("FLOOD BEAM", "SPOT SCAN", "OTHER")),
        "microscope_model": ("line", mmcif.MICROSCOPES + ("FEI MORGAGNI", "FEI TITAN", "ZEISS LIBRA120PLUS")),
        "specimen_holder_model": ("line", ()), "details": ("text", ()), "date": ("yyyy-mm-dd", ()),
    },
    "em_image_recording": {
        "id": ("code", ()), "imaging_id": ("code", ()), "avg_electron_dose_per_image": ("float", ()),
        "average_exposure_time": ("float", ()), "details": ("text", ()),
        "detector_mode": ("line", ("COUNTING", "INTEGRATING", "OTHER", "SUPER-RESOLUTION")),
        "film_or_detector_model": ("line", (
            "DECTRIS SINGLA (1k x 1k)", "DIRECT ELECTRON APOLLO (4k x 4k)", "DIRECT ELECTRON DE-64 (8k x 8k)",
            "FEI CETA (4k x 4k)", "FEI FALCON I (4k x 4k)", "FEI FALCON II (4k x 4k)", "FEI FALCON III (4k x 4k)",
            "FEI FALCON IV (4k x 4k)", "GATAN K2 (4k x 4k)", "GATAN K2 BASE (4k x 4k)", "GATAN K2 IS (4k x 4k)",
            "GATAN K2 QUANTUM (4k x 4k)", "GATAN K2 SUMMIT (4k x 4k)", "GATAN K3 (6k x 4k)",
            "GATAN K3 BIOQUANTUM (6k x 4k)", "GENERIC CCD", "OTHER", "TFS FALCON 4i (4k x 4k)",
            "TVIPS TEMCAM-F416 (4k x 4k)")),
        "num_diffraction_images": ("int", ()), "num_grids_imaged": ("int", ()), "num_real_images": ("int", ()),
    },
    "em_image_processing": {"id": ("code", ()), "image_recording_id": ("code", ()), "details": ("text", ())},
    "em_software": {
        "id": ("code", ()), "name": ("line", ()), "version": ("line", ()), "details": ("text", ()),
        "category": ("line", ("CLASSIFICATION", "CRYSTALLOGRAPHY MERGING", "CTF CORRECTION",
                              "DIFFRACTION INDEXING", "FINAL EULER ASSIGNMENT", "IMAGE ACQUISITION",
                              "INITIAL EULER ASSIGNMENT", "LATTICE DISTORTION CORRECTION", "LAYERLINE INDEXING",
                              "MASKING", "MODEL FITTING", "MODEL REFINEMENT", "MOLECULAR REPLACEMENT", "OTHER",
                              "PARTICLE SELECTION", "RECONSTRUCTION", "SERIES ALIGNMENT",
                              "SYMMETRY DETERMINATION", "VOLUME SELECTION")),
        "image_processing_id": ("code", ()), "imaging_id": ("code", ()), "fitting_id": ("code", ()),
    },
    "em_3d_reconstruction": {
        "entry_id": ("code", ()), "id": ("code", ()), "image_processing_id": ("code", ()),
        "resolution": ("float", ()), "resolution_method": ("line", ()), "num_particles": ("int", ()),
        "num_class_averages": ("int", ()), "actual_pixel_size": ("float", ()), "nominal_pixel_size": ("float", ()),
        "symmetry_type": ("line", ("2D CRYSTAL", "3D CRYSTAL", "HELICAL", "POINT")),
        "algorithm": ("line", ()), "details": ("text", ()), "method": ("line", ()),
    },
    "em_single_particle_entity": {
        "entry_id": ("code", ()), "id": ("code", ()), "image_processing_id": ("code", ()),
        "point_symmetry": ("code", ()),
    },
    "em_helical_entity": {
        "id": ("code", ()), "image_processing_id": ("code", ()), "angular_rotation_per_subunit": ("float", ()),
        "axial_rise_per_subunit": ("float", ()), "axial_symmetry": ("line", ()), "details": ("text", ()),
    },
    "audit_author": {"name": ("line", ()), "pdbx_ordinal": ("int", ()), "identifier_ORCID": ("orcid_id", ()),
                     "address": ("text", ())},
    "citation": {
        "id": ("code", ()), "title": ("text", ()), "journal_abbrev": ("line", ()), "year": ("int", ()),
        "journal_volume": ("line", ()), "page_first": ("line", ()), "page_last": ("line", ()),
        "country": ("line", ()), "journal_id_ISSN": ("line", ()), "pdbx_database_id_DOI": ("code", ()),
        "pdbx_database_id_PubMed": ("int", ()), "book_publisher": ("text", ()),
    },
    "citation_author": {"citation_id": ("code", ()), "name": ("line", ()), "ordinal": ("int", ()),
                        "identifier_ORCID": ("orcid_id", ())},
}
TYPES["yyyy-mm-dd"] = r"[0-9]?[0-9]?[0-9][0-9]-[0-9]?[0-9]-[0-9][0-9]"
NUMBERS = {"int", "float"}
#: _category_key.name of each category (mmcif_pdbx_v50.dic).
KEYS = {
    "entry": ("id",), "em_experiment": ("entry_id", "id"), "em_entity_assembly": ("id",),
    "em_entity_assembly_molwt": ("entity_assembly_id", "id"),
    "em_entity_assembly_naturalsource": ("entity_assembly_id", "id"), "em_specimen": ("experiment_id", "id"),
    "em_vitrification": ("specimen_id", "id"), "em_imaging": ("entry_id", "id"),
    "em_image_recording": ("imaging_id", "id"), "em_image_processing": ("image_recording_id", "id"),
    "em_software": ("id",), "em_3d_reconstruction": ("entry_id", "id"), "em_single_particle_entity": ("entry_id", "id"),
    "em_helical_entity": ("id",), "audit_author": ("pdbx_ordinal",), "citation": ("id",),
    "citation_author": ("citation_id", "name", "ordinal"),
}


def ddl_document() -> cif.Document:
    """The DDL2 dictionary of ITEMS as CIF text read by gemmi, for gemmi.cif.Ddl."""
    q = cif.quote
    lines = ["data_mmcif_pdbx_em_subset.dic", "_datablock.id mmcif_pdbx_em_subset.dic", "loop_",
             "_item_type_list.code", "_item_type_list.primitive_code", "_item_type_list.construct"]
    for code, regex in TYPES.items():
        # a text field (;…;) must start its own line
        lines += [f"{code} {'numb' if code in NUMBERS else 'char'}", q(regex)]
    for category, items in ITEMS.items():
        lines += [f"save_{category}", f"_category.id {category}", "_category.mandatory_code no", "loop_",
                  "_category_key.name", *(q(f"_{category}.{k}") for k in KEYS[category]), "save_"]
        for item, (kind, enum) in items.items():
            lines += [f"save__{category}.{item}", f"_item.name {q(f'_{category}.{item}')}",
                      f"_item.category_id {category}", "_item.mandatory_code no", f"_item_type.code {kind}"]
            if enum:
                lines += ["loop_", "_item_enumeration.value"] + [q(v) for v in enum]
            lines.append("save_")
    return cif.read_string("\n".join(lines) + "\n")


def ddl_problems(text: str) -> list[str]:
    """What gemmi's DDL2 validator (plus an integer check, which gemmi leaves out) finds wrong with ``text``."""
    messages: list[str] = []
    ddl = cif.Ddl(logger=messages.append, use_mandatory=False, use_unique_keys=True)
    ddl.read_ddl(ddl_document())
    ok = ddl.validate_cif(cif.read_string(text))
    for block in cif.read_string(text):
        for category, items in ITEMS.items():
            for item, (kind, _enum) in items.items():
                for raw in block.find_values(f"_{category}.{item}") if kind == "int" else ():
                    if not cif.is_null(raw) and not re.fullmatch(TYPES["int"], raw):
                        messages.append(f"_{category}.{item}: {raw} is not an integer")
    return messages if messages or ok else ["invalid (no message)"]


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def catalogue():
    # The frozen example records (tests/fixtures/catalogue/README.md): these mappings are tested on them.
    return load_catalogue(FIXTURES).catalogue


@pytest.fixture(scope="module")
def ctx(catalogue):
    return SiteContext(catalogue)


def parse(text: str) -> cif.Block:
    doc = cif.read_string(text)
    assert len(doc) == 1
    return doc[0]


def value(block: cif.Block, tag: str) -> str | None:
    raw = block.find_value(tag)
    return None if raw is None or cif.is_null(raw) else cif.as_string(raw)


def column(block: cif.Block, tag: str) -> list[str | None]:
    return [None if cif.is_null(v) else cif.as_string(v) for v in block.find_values(tag)]


REFUSED = {"tem", "stem", "sem", "edx", "eels", "fib-sem", "sbf-sem", "array-tomography"}


# ------------------------------------------------------------------------------------------ tests


def test_the_dictionary_subset_rejects_what_it_should():
    found = " ".join(ddl_problems("data_x\n_em_imaging.mode 'PHASE PLATE'\n_em_imagng.id 1\n"))
    assert "'PHASE PLATE' is not one of the allowed values" in found and "unknown tag _em_imagng.id" in found
    assert "300kV" in " ".join(ddl_problems("data_x\n_em_imaging.accelerating_voltage 300kV\n"))
    assert "0000-0002" in " ".join(ddl_problems("data_x\n_audit_author.identifier_ORCID 0000-0002\n"))


def test_every_example_is_exported_and_valid_or_refused_plainly(ctx, catalogue):
    exported = 0
    for d in catalogue.datasets:
        text, problems = mmcif.document(ctx, d)
        if d.technique in REFUSED:
            assert text == ""
            assert [p.field for p in problems] == ["technique"]
            assert "OneDep (EMDB and PDB) takes" in problems[0].message and d.technique in problems[0].message
            continue
        assert text, (d.id, [p.text() for p in problems])
        assert all(p.severity == "warning" for p in problems)
        assert ddl_problems(text) == [], d.id
        block = parse(text)
        assert value(block, "_entry.id") == d.id
        exported += 1
    assert exported == 7


def test_values_read_back_equal_the_catalogue(ctx, catalogue):
    for d in catalogue.datasets:
        text, _ = mmcif.document(ctx, d)
        if not text:
            continue
        b = parse(text)
        method, state = mmcif.METHODS[d.technique]
        assert value(b, "_em_experiment.reconstruction_method") == method
        assert value(b, "_em_experiment.aggregation_state") == state
        assert float(value(b, "_em_imaging.accelerating_voltage")) == d.instrument.acceleration_voltage_kV
        if d.instrument.cs_mm is not None:
            assert float(value(b, "_em_imaging.nominal_cs")) == d.instrument.cs_mm
        if d.acquisition.defocus_range_um:
            low, high = sorted(d.acquisition.defocus_range_um)
            assert float(value(b, "_em_imaging.nominal_defocus_min")) == pytest.approx(low * 1000)
            assert float(value(b, "_em_imaging.nominal_defocus_max")) == pytest.approx(high * 1000)
        if d.acquisition.total_dose_e_per_A2 is not None:
            assert float(value(b, "_em_image_recording.avg_electron_dose_per_image")) == \
                d.acquisition.total_dose_e_per_A2
        assert column(b, "_audit_author.name") == [a.name for a in d.authors]
        assert column(b, "_audit_author.identifier_ORCID") == [a.orcid for a in d.authors]
        assert column(b, "_citation_author.identifier_ORCID") == [a.orcid for a in d.authors]
        assert value(b, "_em_entity_assembly.name") == d.sample.name
        if d.sample.organism and d.sample.organism.taxon_id:
            assert value(b, "_em_entity_assembly_naturalsource.ncbi_tax_id") == str(d.sample.organism.taxon_id)
        if d.processing and d.processing.resolution_A:
            assert float(value(b, "_em_3d_reconstruction.resolution")) == d.processing.resolution_A
        maps = [s for s in d.data.image_sets if s.category == "maps" and s.pixel_size_A]
        if maps:
            assert float(value(b, "_em_3d_reconstruction.actual_pixel_size")) == maps[0].pixel_size_A


def test_specific_examples(ctx, catalogue):
    b = parse(mmcif.document(ctx, catalogue.by_id["apoferritin-krios-2024"])[0])
    assert value(b, "_em_imaging.microscope_model") == "TFS KRIOS"
    assert value(b, "_em_image_recording.film_or_detector_model") == "TFS FALCON 4i (4k x 4k)"
    assert value(b, "_em_single_particle_entity.point_symmetry") == "O"
    assert value(b, "_em_3d_reconstruction.num_particles") == "312000"
    assert value(b, "_em_vitrification.cryogen_name") == "ETHANE"
    assert value(b, "_em_vitrification.instrument") == "FEI VITROBOT MARK IV"
    assert value(b, "_em_entity_assembly_molwt.value") == "0.474"
    assert value(b, "_em_image_recording.num_real_images") == "4820"
    assert value(b, "_citation.journal_abbrev") == "To Be Published"
    software = dict(zip(column(b, "_em_software.name"), column(b, "_em_software.version"), strict=True))
    assert software == {"EPU": "3.6", "RELION": "5.0", "cryoSPARC": "4.5"}
    tau = parse(mmcif.document(ctx, catalogue.by_id["tau-filaments-arctica-2022"])[0])
    assert value(tau, "_em_helical_entity.axial_rise_per_subunit") == "2.37"
    assert value(tau, "_em_helical_entity.angular_rotation_per_subunit") == "179.46"
    assert value(tau, "_em_imaging.microscope_model") == "FEI TALOS ARCTICA"
    microed = parse(mmcif.document(ctx, catalogue.by_id["lysozyme-microed-2025"])[0])
    assert value(microed, "_em_imaging.mode") == "DIFFRACTION"
    assert value(microed, "_em_image_recording.num_diffraction_images") == "5760"
    assert value(microed, "_em_3d_reconstruction.symmetry_type") == "3D CRYSTAL"
    trpv1 = parse(mmcif.document(ctx, catalogue.by_id["trpv1-nanodisc-krios-2023"])[0])
    assert value(trpv1, "_citation.pdbx_database_id_DOI") == "10.5555/openem.example.2023.trpv1"
    assert value(trpv1, "_em_image_recording.film_or_detector_model") == "GATAN K3 BIOQUANTUM (6k x 4k)"


HOSTILE = [
    "O'Brien said \"hi\" ' there",
    "; starts with a semicolon",
    "data_sneaky block name",
    "loop_ _atom_site.id # not a comment",
    "Ünïcödé – Å° µl ₁ 漢字",
    "ends with a quote'",
    "_em_imaging.mode 'DARK FIELD'",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_survive_a_gemmi_round_trip(ctx, catalogue, hostile):
    base = catalogue.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(
        base, title=f"{hostile} title", sample=dataclasses.replace(base.sample, name=hostile,
                                                                  preparation_details=hostile),
        authors=(Person(name=f"{hostile}, Given", orcid="0000-0002-1825-0097",
                        affiliations=(Affiliation("X"),)),) + base.authors[1:])
    text, problems = mmcif.document(ctx, d)
    assert text, [p.text() for p in problems]
    b = parse(text)
    assert value(b, "_em_entity_assembly.name") == hostile
    assert value(b, "_em_specimen.details") == hostile
    assert column(b, "_audit_author.name")[0] == f"{hostile}, Given"
    assert value(b, "_citation.title") == f"{hostile} title"
    assert value(b, "_em_imaging.mode") == "BRIGHT FIELD"  # the injected tag is only text
    assert ddl_problems(text) == []


def test_line_breaks_fold_to_spaces_so_no_line_can_start_with_a_semicolon(ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    details = "first line\n;second line starts with a semicolon\n\nthird"
    d = dataclasses.replace(base, sample=dataclasses.replace(base.sample, preparation_details=details))
    b = parse(mmcif.document(ctx, d)[0])
    assert value(b, "_em_specimen.details") == "first line ;second line starts with a semicolon third"


def test_article_details_and_authors_become_the_citation(ctx, catalogue):
    base = catalogue.by_id["trpv1-nanodisc-krios-2023"]
    pub = Publication(doi="10.5555/x.1", pmid=12345678, title="An article", journal="Nat Commun", year=2024,
                      authors=("Rochat, Julien", "Someone, Else"))
    d = dataclasses.replace(base, related=Related(publications=(pub,)))
    b = parse(mmcif.document(ctx, d)[0])
    assert value(b, "_citation.journal_abbrev") == "Nat Commun"
    assert value(b, "_citation.year") == "2024"
    assert value(b, "_citation.pdbx_database_id_PubMed") == "12345678"
    assert column(b, "_citation_author.name") == ["Rochat, Julien", "Someone, Else"]
    assert column(b, "_citation_author.identifier_ORCID") == ["0009-0001-4970-9403", None]


def test_unknown_microscope_is_left_for_onedep_with_a_warning(ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(base, instrument=dataclasses.replace(base.instrument, microscope="Homebuilt 9000"),
                            sample=Sample(name="x sample", preparation=None))
    text, problems = mmcif.document(ctx, d)
    b = parse(text)
    assert value(b, "_em_imaging.microscope_model") is None
    assert "instrument.microscope" in {p.field for p in problems}
    assert ddl_problems(text) == []


def test_missing_voltage_is_an_error_naming_the_field(ctx, catalogue):
    base = catalogue.by_id["apoferritin-krios-2024"]
    d = dataclasses.replace(base, instrument=dataclasses.replace(base.instrument, acceleration_voltage_kV=None))
    text, problems = mmcif.document(ctx, d)
    assert text == ""
    assert any(p.field == "instrument.acceleration_voltage_kV" and p.severity == "error" for p in problems)


def test_mapping_tables_only_produce_enumerated_values():
    assert set(mmcif.MICROSCOPES) <= set(ITEMS["em_imaging"]["microscope_model"][1])
    assert set(mmcif.DETECTORS) <= set(ITEMS["em_image_recording"]["film_or_detector_model"][1])
    assert set(mmcif.DETECTOR_MODES.values()) <= set(ITEMS["em_image_recording"]["detector_mode"][1])
