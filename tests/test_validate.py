"""Every validation rule: one failing case each, with the message, its location and its field path.

The tests start from BASE, a small valid dataset whose line numbers the assertions use, and break one
thing at a time. The catalogue is a temporary folder holding only the repository's facilities.yaml, so
other example datasets never interfere.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from openem_build.records.load import load_catalogue
from openem_build.records.problems import ERROR, WARNING, Problem

from .conftest import ROOT, write_dataset
from .mutants import mutants

IDENT = "spa-test-2024"
F = f"datasets/{IDENT}/dataset.yaml"
BASE = """\
# yaml-language-server: $schema=../../openem_build/schema/dataset.schema.json
id: spa-test-2024
title: Cryo-EM movies of a test complex on a Titan Krios
description: >-
  A small but complete example record used by the tests of the OpenEM catalogue; it is valid as written
  and each test breaks exactly one thing in it.
license: CC-BY-4.0
dates:
  collected: "2024-03-12"
  published: "2024-06-03"
status: published
authors:
  - name: "Keller, Lena"
    orcid: 0000-0002-1825-0097
    affiliations:
      - name: ETH Zurich
        ror: https://ror.org/05a28rw58
  - name: "Brunner, Marco"
    orcid: 0000-0001-5109-3700
contact:
  name: ScopeM data desk
  email: data@example.org
facility: scopem-eth
technique: single-particle
sample:
  name: Test complex
instrument:
  microscope: Titan Krios G4
  acceleration_voltage_kV: 300
acquisition:
  pixel_size_A: 0.73
  defocus_range_um: [0.6, 1.8]
processing:
  resolution_A: 1.9
related:
  emdb: [EMD-19999]
  empiar: [EMPIAR-10200]
  pdb: [7A4M, pdb_00007a4m]
data:
  datalad: https://datasets.example.org/spa-test-2024.git
  image_sets:
    - name: Raw movies
      directory: movies
      category: movies
      format: eer
    - name: Final map
      directory: maps
      category: maps
      format: mrc
"""
TECHNIQUES = ("single-particle, helical, subtomogram-averaging, tomography, microed, 2d-crystallography, "
              "fib-sem, sbf-sem, array-tomography, tem, stem, sem, edx, eels")
DATE_HINT = "write the date as YYYY-MM-DD, e.g. 2025-03-14, in quotes or not"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty catalogue: the repository's facilities and no datasets."""
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "facilities.yaml", tmp_path / "datasets" / "facilities.yaml")
    return tmp_path


def edit(*changes: tuple[str, str], text: str = BASE) -> str:
    """BASE with each (old, new) replaced; ``old`` must occur exactly once, so line numbers stay known."""
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def check(root: Path, text: str, ident: str = IDENT) -> list[Problem]:
    write_dataset(root, text, ident)
    return load_catalogue(root).problems


def lines(problems: list[Problem]) -> list[str]:
    return [p.text() for p in problems]


def only(root: Path, text: str, severity: str = ERROR) -> Problem:
    """The one problem ``text`` has (anything else fails the test)."""
    found = check(root, text)
    assert len(found) == 1, lines(found)
    assert found[0].severity == severity
    return found[0]


def test_base_is_valid(root):
    result = (write_dataset(root, BASE, IDENT), load_catalogue(root))[1]
    assert lines(result.problems) == []
    assert [d.id for d in result.catalogue.datasets] == [IDENT]


def test_packaged_examples_validate_without_errors():
    result = load_catalogue(ROOT)
    assert [p.text() for p in result.problems if p.severity == ERROR] == []
    assert result.documents, "the repository should ship at least one example dataset"
    assert len(result.catalogue.datasets) == len(result.documents)


# --- schema: required, unknown, enum, type ---------------------------------------------------------------


def test_missing_required_field_hint_has_an_example(root):
    p = only(root, edit(("title: Cryo-EM movies of a test complex on a Titan Krios\n", "")))
    assert p.text() == (f"{F}:2:1: missing required field 'title' — add `title:`, e.g. 'Cryo-EM movies "
                        "of human apoferritin at 1.2 Å' (A descriptive title, as it should appear in a "
                        "citation.)")
    assert (p.line, p.col, p.field) == (2, 1, "")


def test_missing_nested_required_field_is_located_at_its_parent(root):
    p = only(root, edit(('  published: "2024-06-03"\n', "")))
    assert p.text() == (f"{F}:9:3: dates: missing required field 'published' — add `published:`, e.g. "
                        "'2024-09-30' (Day the dataset was (or will be) published in the catalogue.)")


def test_unknown_key_did_you_mean(root):
    found = check(root, edit(("  microscope: Titan", "  micrsocope: Titan")))
    assert lines(found) == [f"{F}:28:3: instrument.micrsocope: unknown field 'micrsocope' — did you mean "
                            "'microscope'?"]


def test_unknown_top_level_key_also_reports_the_missing_one(root):
    found = check(root, edit(("title: Cryo", "titel: Cryo")))
    assert lines(found) == [
        f"{F}:2:1: missing required field 'title' — add `title:`, e.g. 'Cryo-EM movies of human apoferritin "
        "at 1.2 Å' (A descriptive title, as it should appear in a citation.)",
        f"{F}:3:1: titel: unknown field 'titel' — did you mean 'title'?",
    ]


def test_unknown_key_without_a_close_match_lists_the_known_fields(root):
    p = only(root, edit(("  name: Test complex\n", "  name: Test complex\n  zzz: 1\n")))
    assert p.text() == (f"{F}:27:3: sample.zzz: unknown field 'zzz' — known fields here: grid, material, "
                        "molecular_weight_kDa, name, organism, preparation, preparation_details")


@pytest.mark.parametrize("typo", ["single_particle", "singel-particle", "Single Particle"])
def test_enum_with_suggestion(root, typo):
    p = only(root, edit(("technique: single-particle", f"technique: {typo}")))
    assert p.text() == (f"{F}:24:12: technique: '{typo}' is not one of the allowed values ({TECHNIQUES}) — "
                        "did you mean 'single-particle'?")


def test_enum_without_a_close_match_has_no_suggestion(root):
    p = only(root, edit(("status: published", "status: secret")))
    assert p.text() == f"{F}:11:9: status: 'secret' is not one of the allowed values (published, embargoed)"


@pytest.mark.parametrize(("old", "new", "where", "shown"), [
    ("status: published", "status: yes", "11:9: status", "true/false true"),
    ("  microscope: Titan Krios G4", "  microscope: no", "28:15: instrument.microscope", "true/false false"),
    ("  name: Test complex", "  name: 1984", "26:9: sample.name", "a number 1984"),
])
def test_type_mismatch_gives_the_quote_hint_once(root, old, new, where, shown):
    p = only(root, edit((old, new)))
    assert p.text() == (f"{F}:{where}: must be text, not {shown} — put the value in quotes (YAML reads "
                        "yes/no/on/off as true/false and bare digits as numbers)")


def test_type_mismatch_list_expected(root):
    p = only(root, edit(("  emdb: [EMD-19999]", "  emdb: EMD-19999")))
    assert p.text() == (f"{F}:36:9: related.emdb: must be a list, not text 'EMD-19999' — write a list, one "
                        "item per line starting with '- '")


def test_document_that_is_not_a_mapping(root):
    p = only(root, "- just\n- a list\n")
    assert p.text() == (f"{F}:1:1: the file must hold a mapping of fields, not a list — start from "
                        "`openem new <id>` or copy an example")


# --- patterns --------------------------------------------------------------------------------------------

ORCID_HINT = "write it as 0000-0000-0000-0000 (16 digits, the last may be X), without https://orcid.org/"
ROR_HINT = "use the full URL from ror.org, e.g. https://ror.org/05a28rw58"
DOI_HINT = "write the bare DOI starting with 10., e.g. 10.1038/s41586-020-2833-4"
EMDB_HINT = "write it as EMD- followed by 4 or 5 digits, e.g. EMD-12345"
EMPIAR_HINT = "write it as EMPIAR- followed by 5 digits, e.g. EMPIAR-10200"
PDB_HINT = "write a 4-character id such as 7A4M, or the extended form pdb_00007a4m"
ID_HINT = "use 3 to 64 characters: lowercase letters, digits and hyphens, starting with a letter or digit"
DIR_HINT = ("use a relative path inside the dataset, such as movies or data/tomograms, without .. or a "
            "leading /")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    orcid: 0000-0002-1825-0097", "    orcid: https://orcid.org/0000-0002-1825-0097",
     f"14:12: authors[0].orcid: 'https://orcid.org/0000-0002-1825-0097' is not in the expected form — "
     f"{ORCID_HINT}"),
    ("    orcid: 0000-0002-1825-0097", "    orcid: 0000-0002-1825-009",
     f"14:12: authors[0].orcid: '0000-0002-1825-009' is not in the expected form — {ORCID_HINT}"),
    ("        ror: https://ror.org/05a28rw58", "        ror: 05a28rw58",
     f"17:14: authors[0].affiliations[0].ror: '05a28rw58' is not in the expected form — {ROR_HINT}"),
    ("        ror: https://ror.org/05a28rw58", "        ror: https://ror.org/05a28rw5l",
     f"17:14: authors[0].affiliations[0].ror: 'https://ror.org/05a28rw5l' is not in the expected form — "
     f"{ROR_HINT}"),
    ("license: CC-BY-4.0\n", "license: CC-BY-4.0\ndoi: https://doi.org/10.5281/zenodo.1234\n",
     f"8:6: doi: 'https://doi.org/10.5281/zenodo.1234' is not in the expected form — {DOI_HINT}"),
    ("  emdb: [EMD-19999]", "  emdb: [EMD-123]",
     f"36:10: related.emdb[0]: 'EMD-123' is not in the expected form — {EMDB_HINT}"),
    ("  emdb: [EMD-19999]", "  emdb: [EMD-19999, EMD-123456]",
     f"36:21: related.emdb[1]: 'EMD-123456' is not in the expected form — {EMDB_HINT}"),
    ("  empiar: [EMPIAR-10200]", "  empiar: [EMPIAR-1020]",
     f"37:12: related.empiar[0]: 'EMPIAR-1020' is not in the expected form — {EMPIAR_HINT}"),
    ("  pdb: [7A4M, pdb_00007a4m]", "  pdb: [7A4, pdb_00007a4m]",
     f"38:9: related.pdb[0]: '7A4' is not in the expected form — {PDB_HINT}"),
    ("  pdb: [7A4M, pdb_00007a4m]", "  pdb: [7A4M, pdb_7a4m]",
     f"38:15: related.pdb[1]: 'pdb_7a4m' is not in the expected form — {PDB_HINT}"),
    ("id: spa-test-2024", "id: Spa_Test_2024",
     f"2:5: id: 'Spa_Test_2024' is not in the expected form — {ID_HINT}"),
    ("id: spa-test-2024", "id: ab", f"2:5: id: 'ab' is not in the expected form — {ID_HINT}"),
    ("      directory: movies", "      directory: ../movies",
     f"43:18: data.image_sets[0].directory: '../movies' is not in the expected form — {DIR_HINT}"),
    ("      directory: movies", "      directory: movies/../../etc",
     f"43:18: data.image_sets[0].directory: 'movies/../../etc' is not in the expected form — {DIR_HINT}"),
    ("      directory: movies", "      directory: /movies",
     f"43:18: data.image_sets[0].directory: '/movies' is not in the expected form — {DIR_HINT}"),
])
def test_pattern_hints(root, old, new, expected):
    p = only(root, edit((old, new)))
    assert p.text() == f"{F}:{expected}"


@pytest.mark.parametrize(("old", "new"), [
    ("  pdb: [7A4M, pdb_00007a4m]", "  pdb: [1abc, pdb_00001abc]"),
    ("      directory: movies", "      directory: data/movies..raw"),
    ("    orcid: 0000-0002-1825-0097", "    orcid: 0000-0002-9079-593X"),
])
def test_valid_forms_pass(root, old, new):
    assert lines(check(root, edit((old, new)))) == []


def test_orcid_checksum(root):
    p = only(root, edit(("    orcid: 0000-0002-1825-0097", "    orcid: 0000-0002-1825-0098")))
    assert p.text() == (f"{F}:14:12: authors[0].orcid: '0000-0002-1825-0098' fails the ORCID checksum — copy "
                        "the iD from the person's ORCID record; a digit is probably mistyped")


def test_orcid_checksum_of_principal_investigator(root):
    p = only(root, edit(("contact:\n", "principal_investigators:\n  - name: \"Keller, Lena\"\n"
                                       "    orcid: 0000-0002-1825-0098\ncontact:\n")))
    assert p.text() == (f"{F}:22:12: principal_investigators[0].orcid: '0000-0002-1825-0098' fails the ORCID "
                        "checksum — copy the iD from the person's ORCID record; a digit is probably mistyped")


@pytest.mark.parametrize("doi", ["10.5281/", "10.12/abc", "doi:10.5281/zenodo.1234", "10.5281/zen odo"])
def test_invalid_doi(root, doi):
    p = only(root, edit(("license: CC-BY-4.0\n", f"license: CC-BY-4.0\ndoi: \"{doi}\"\n")))
    assert p.text() == f"{F}:8:6: doi: '{doi}' is not in the expected form — {DOI_HINT}"


def test_valid_doi(root):
    text = edit(("license: CC-BY-4.0\n", "license: CC-BY-4.0\ndoi: 10.5281/zenodo.1234\n"))
    assert lines(check(root, text)) == []


# --- licence ---------------------------------------------------------------------------------------------


def test_unknown_licence_with_suggestion(root):
    p = only(root, edit(("license: CC-BY-4.0", "license: CC-BY-4")))
    assert p.text() == (f"{F}:7:10: license: 'CC-BY-4' is not an SPDX licence identifier — did you mean "
                        "'CC-BY-4.0'?")


def test_unknown_licence_without_suggestion(root):
    p = only(root, edit(("license: CC-BY-4.0", "license: all rights reserved by the lab")))
    assert p.text() == (f"{F}:7:10: license: 'all rights reserved by the lab' is not an SPDX licence "
                        "identifier — pick one from https://spdx.org/licenses/ (CC-BY-4.0 is the default)")


def test_deprecated_licence_is_a_warning(root):
    p = only(root, edit(("license: CC-BY-4.0", "license: GPL-2.0")), severity=WARNING)
    assert p.text() == (f"{F}:7:10: warning: license: 'GPL-2.0' is a deprecated SPDX identifier — use its "
                        "current identifier from https://spdx.org/licenses/")


# --- dates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["2024-02-30", "2023-02-29", "2024-13-01"])
def test_impossible_date(root, day):
    p = only(root, edit(('  published: "2024-06-03"', f"  published: {day}")))
    assert p.text() == (f"{F}:10:14: dates.published: '{day}' is not a real calendar date (YYYY-MM-DD) — "
                        f"{DATE_HINT}")


def test_date_in_another_form(root):
    p = only(root, edit(('  collected: "2024-03-12"', '  collected: "12.03.2024"')))
    assert p.text() == f"{F}:9:14: dates.collected: '12.03.2024' is not in the expected form — {DATE_HINT}"


def test_unquoted_dates_are_accepted(root):
    assert lines(check(root, edit(('  published: "2024-06-03"', "  published: 2024-06-03")))) == []


def test_collected_after_published(root):
    p = only(root, edit(('  collected: "2024-03-12"', '  collected: "2024-07-01"')))
    assert p.text() == (f"{F}:9:14: dates.collected: collected (2024-07-01) is after published (2024-06-03) "
                        "— data are collected before they are published; check both dates")


def test_modified_before_published(root):
    p = only(root, edit(('  published: "2024-06-03"\n',
                         '  published: "2024-06-03"\n  modified: "2024-01-01"\n')))
    assert p.text() == (f"{F}:11:13: dates.modified: modified (2024-01-01) is before published (2024-06-03) "
                        "— modified is the last change after publication; remove it or correct it")


def test_embargo_before_published(root):
    p = only(root, edit(("status: published", "status: embargoed\nembargo_until: 2024-01-01")))
    assert p.text() == (f"{F}:12:16: embargo_until: embargo_until (2024-01-01) is before published "
                        "(2024-06-03) — an embargo ends after the entry is published")


def test_embargoed_without_embargo_until(root):
    p = only(root, edit(("status: published", "status: embargoed")))
    assert p.text() == (f"{F}:2:1: missing required field 'embargo_until' (required when status is "
                        "embargoed) — add `embargo_until:`, e.g. '2026-12-31' (Day the embargo ends; "
                        "required when status is embargoed.)")


def test_embargo_until_with_status_published_is_a_warning(root):
    p = only(root, edit(("status: published", "status: published\nembargo_until: 2026-01-01")),
             severity=WARNING)
    assert p.text() == (f"{F}:12:16: warning: embargo_until: embargo_until is ignored because status is "
                        "published — remove it, or set `status: embargoed`")


def test_valid_embargo(root):
    text = edit(("status: published", "status: embargoed\nembargo_until: 2026-01-01"))
    assert lines(check(root, text)) == []


# --- facility and physics --------------------------------------------------------------------------------


def test_unknown_facility_with_suggestion(root):
    p = only(root, edit(("facility: scopem-eth", "facility: scopem-eht")))
    assert p.text() == (f"{F}:23:11: facility: 'scopem-eht' is not listed in datasets/facilities.yaml — "
                        "did you mean 'scopem-eth'?")


def test_unknown_facility_without_suggestion_lists_them(root):
    p = only(root, edit(("facility: scopem-eth", "facility: nowhere")))
    assert p.text().startswith(f"{F}:23:11: facility: 'nowhere' is not listed in datasets/facilities.yaml — "
                               "use one of: bioem-basel, ")
    assert p.text().endswith(", zmb-uzh, or add the facility in the same pull request")


def test_voltage_given_in_volt_for_tem(root):
    p = only(root, edit(("acceleration_voltage_kV: 300", "acceleration_voltage_kV: 300000")))
    assert p.text() == (f"{F}:29:28: instrument.acceleration_voltage_kV: 300000 kV is out of range: it must "
                        "be at most 3000 kV — check the value; the field is in kV, not V")


@pytest.mark.parametrize("kv", ["2000", "5"])
def test_implausible_voltage_for_tem(root, kv):
    p = only(root, edit(("acceleration_voltage_kV: 300", f"acceleration_voltage_kV: {kv}")))
    assert p.text() == (f"{F}:29:28: instrument.acceleration_voltage_kV: {kv} kV is implausible for a "
                        "transmission microscope — TEM voltages lie between 20 and 1000 kV (usually 80–300); "
                        "check the unit (kV, not V)")


def test_implausible_voltage_for_fib_sem(root):
    p = only(root, edit(("technique: single-particle", "technique: fib-sem"),
                        ("acceleration_voltage_kV: 300", "acceleration_voltage_kV: 200")))
    assert p.text() == (f"{F}:29:28: instrument.acceleration_voltage_kV: 200 kV is implausible for fib-sem — "
                        "SEM beams run at 0.1–30 kV; check the value and unit (kV)")


def test_plausible_sem_voltage(root):
    assert lines(check(root, edit(("technique: single-particle", "technique: fib-sem"),
                                  ("acceleration_voltage_kV: 300", "acceleration_voltage_kV: 2")))) == []


PIXEL_HINT = "EM pixel sizes lie between 0.05 Å and 10 µm; the unit is ångström (1 nm = 10 Å)"


def test_pixel_size_out_of_range(root):
    p = only(root, edit(("  pixel_size_A: 0.73", "  pixel_size_A: 0.02")))
    assert p.text() == (f"{F}:31:17: acquisition.pixel_size_A: a pixel size of 0.02 Å is implausible — "
                        f"{PIXEL_HINT}")


@pytest.mark.parametrize("value", ["0.02", "200000"])
def test_image_set_pixel_size_out_of_range(root, value):
    p = only(root, edit(("      format: mrc\n", f"      format: mrc\n      pixel_size_A: {value}\n")))
    assert p.text() == (f"{F}:50:21: data.image_sets[1].pixel_size_A: a pixel size of {value} Å is "
                        f"implausible — {PIXEL_HINT}")


def test_coarse_pixel_size_for_tem_is_a_warning(root):
    p = only(root, edit(("technique: single-particle", "technique: tem"),
                        ("  pixel_size_A: 0.73", "  pixel_size_A: 2000"),
                        ("  resolution_A: 1.9\n", "  resolution_A: 5000\n")), severity=WARNING)
    assert p.text() == (f"{F}:31:17: warning: acquisition.pixel_size_A: a pixel size of 2000 Å (200 nm) is "
                        "unusually coarse for tem — check the unit: the field is in ångström (1 nm = 10 Å)")


def test_coarse_pixel_size_is_fine_for_sem(root):
    text = edit(("technique: single-particle", "technique: sbf-sem"),
                ("acceleration_voltage_kV: 300", "acceleration_voltage_kV: 2"),
                ("  pixel_size_A: 0.73", "  pixel_size_A: 2000"),
                ("  resolution_A: 1.9\n", "  resolution_A: 5000\n"))
    assert lines(check(root, text)) == []


def test_pixel_size_below_the_schema_minimum(root):
    p = only(root, edit(("  pixel_size_A: 0.73", "  pixel_size_A: 0.001")))
    assert p.text() == (f"{F}:31:17: acquisition.pixel_size_A: 0.001 Å is out of range: it must be at least "
                        "0.01 Å — check the value; the field is in Å")


def test_big_single_particle_pixel_is_a_warning(root):
    p = only(root, edit(("  pixel_size_A: 0.73", "  pixel_size_A: 8"),
                        ("  resolution_A: 1.9", "  resolution_A: 20")), severity=WARNING)
    assert p.text() == (f"{F}:31:17: warning: acquisition.pixel_size_A: 8 Å is a very large pixel size for "
                        "single-particle — single-particle data are usually recorded at 0.4–2 Å per pixel")


def test_resolution_finer_than_nyquist_is_a_warning(root):
    p = only(root, edit(("  resolution_A: 1.9", "  resolution_A: 1.2")), severity=WARNING)
    assert p.text() == (f"{F}:34:17: warning: processing.resolution_A: 1.2 Å is finer than the Nyquist limit "
                        "of the recorded pixel size (2 × 0.73 Å) — check resolution_A and "
                        "acquisition.pixel_size_A (super-resolution pixel size?)")


def test_resolution_at_nyquist_is_fine(root):
    assert lines(check(root, edit(("  resolution_A: 1.9", "  resolution_A: 1.46")))) == []


def test_reversed_defocus_range(root):
    p = only(root, edit(("  defocus_range_um: [0.6, 1.8]", "  defocus_range_um: [1.8, 0.6]")))
    assert p.text() == (f"{F}:32:21: acquisition.defocus_range_um: the range [1.8, 0.6] runs backwards — "
                        "write [0.6, 1.8]")


def test_reversed_tilt_range(root):
    p = only(root, edit(("technique: single-particle", "technique: tomography"),
                        ("  defocus_range_um: [0.6, 1.8]", "  tilt_range_deg: [60, -60]")))
    assert p.text() == (f"{F}:32:19: acquisition.tilt_range_deg: the range [60, -60] runs backwards — "
                        "write [-60, 60]")


# --- uniqueness inside one dataset -----------------------------------------------------------------------


def test_duplicate_image_set_names(root):
    p = only(root, edit(("    - name: Final map", "    - name: Raw movies")))
    assert p.text() == (f"{F}:46:13: data.image_sets[1].name: image set name 'Raw movies' is used twice — "
                        "give image set 1 a name different from image set 0")


def test_duplicate_orcids_among_authors(root):
    p = only(root, edit(("    orcid: 0000-0001-5109-3700", "    orcid: 0000-0002-1825-0097")))
    assert p.text() == (f"{F}:19:12: authors[1].orcid: ORCID 0000-0002-1825-0097 is also given for "
                        "authors[0] — each author has their own ORCID iD")


# --- text ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("escape", "code"),
                         [("\\a", "0007"), ("\\e", "001B"), ("\\n", "000A"), ("\\x7f", "007F")])
def test_control_characters_in_one_line_text(root, escape, code):
    p = only(root, edit(("title: Cryo-EM movies of a test complex on a Titan Krios",
                         f'title: "Cryo-EM movies of a{escape} test complex on a Titan Krios"')))
    assert p.text() == (f"{F}:3:8: title: contains the control character U+{code} — keep this field on one "
                        "line and remove invisible characters")


def test_line_breaks_are_fine_in_description(root):
    assert lines(check(root, edit(("description: >-", "description: |-")))) == []


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f"])
def test_bidi_overrides_in_text(root, char):
    p = only(root, edit(("  name: Test complex", f"  name: Test{char} complex")))
    assert p.text() == (f"{F}:26:9: sample.name: contains a bidirectional-override character, which can "
                        "disguise text — remove it (U+202A–U+202E, U+2066–U+2069)")


@pytest.mark.parametrize("value", ["TODO", '"todo: ask Lena"', '"  TODO later"'])
def test_placeholders(root, value):
    p = only(root, edit(("  name: ScopeM data desk", f"  name: {value}")))
    shown = value.strip('"')
    assert p.text() == (f"{F}:21:9: contact.name: still holds the placeholder '{shown}' — replace it with "
                        "the real value (the comment above it says what goes here)")


def test_placeholder_in_an_enum_field_is_reported_once(root):
    p = only(root, edit(("technique: single-particle", "technique: TODO")))
    assert p.text() == (f"{F}:24:12: technique: still holds the placeholder 'TODO' — replace it with the "
                        "real value (the comment above it says what goes here)")


# --- files and folders -----------------------------------------------------------------------------------


def test_id_differs_from_folder(root):
    found = check(root, BASE, ident="spa-test-2025")
    assert lines(found) == [
        "datasets/spa-test-2025/dataset.yaml:2:5: id: 'spa-test-2024' differs from the folder name "
        "'spa-test-2025' — set `id: spa-test-2025` or rename the folder to datasets/spa-test-2024/"]


def test_duplicate_doi_across_datasets(root):
    with_doi = "license: CC-BY-4.0\ndoi: 10.5281/zenodo.1234\n"
    write_dataset(root, edit(("license: CC-BY-4.0\n", with_doi)), IDENT)
    write_dataset(root, edit(("license: CC-BY-4.0\n", with_doi.replace("zenodo", "ZENODO")),
                             ("id: spa-test-2024", "id: spa-test-2025")), "spa-test-2025")
    result = load_catalogue(root)
    assert lines(result.problems) == [
        "datasets/spa-test-2025/dataset.yaml:8:6: doi: DOI 10.5281/ZENODO.1234 is already used by "
        f"{F} — each dataset version has its own DOI"]


def test_folder_without_dataset_yaml(root):
    (root / "datasets" / "new-thing").mkdir()
    assert lines(load_catalogue(root).problems) == [
        "datasets/new-thing: the folder has no dataset.yaml — add datasets/new-thing/dataset.yaml "
        "(see `openem new new-thing`)"]


def test_misnamed_dataset_yml(root):
    write_dataset(root, BASE, IDENT).rename(root / "datasets" / IDENT / "dataset.yml")
    assert lines(load_catalogue(root).problems) == [
        f"datasets/{IDENT}: the folder has no dataset.yaml — rename dataset.yml to dataset.yaml"]


def test_directory_named_dataset_yaml(root):
    (root / "datasets" / IDENT / "dataset.yaml").mkdir(parents=True)
    assert lines(load_catalogue(root).problems) == [
        f"{F}: this is a directory, not a file — remove the folder and write the metadata into a file named "
        "dataset.yaml"]


def test_symlink_pointing_outside_the_repository(root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "dataset.yaml"
    outside.write_text(BASE, encoding="utf-8")
    (root / "datasets" / IDENT).mkdir()
    os.symlink(outside, root / "datasets" / IDENT / "dataset.yaml")
    result = load_catalogue(root)
    assert lines(result.problems) == [
        f"{F}: the file is a symbolic link pointing outside the repository — commit the file itself, not "
        "a link"]
    assert result.catalogue.datasets == ()


def test_relative_symlink_escaping_the_repository(root):
    (root.parent / "escape.yaml").write_text(BASE, encoding="utf-8")
    (root / "datasets" / IDENT).mkdir()
    os.symlink("../../../escape.yaml", root / "datasets" / IDENT / "dataset.yaml")
    assert lines(load_catalogue(root).problems) == [
        f"{F}: the file is a symbolic link pointing outside the repository — commit the file itself, not "
        "a link"]


def test_symlinked_dataset_folder(root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    write_dataset(outside, BASE, IDENT)
    os.symlink(outside / "datasets" / IDENT, root / "datasets" / IDENT)
    assert lines(load_catalogue(root).problems) == [
        f"datasets/{IDENT}: symbolic links are not allowed in datasets/ — commit the folder itself"]


def test_every_error_in_the_catalogue_is_reported_in_one_run(root):
    write_dataset(root, BASE, IDENT)  # valid
    write_dataset(root, edit(("id: spa-test-2024", "id: broken-one"),
                             ("    orcid: 0000-0002-1825-0097", "    orcid: 0000-0002-1825-0098"),
                             ("technique: single-particle", "technique: singel-particle")), "broken-one")
    write_dataset(root, "id: broken-two\ntitle: [unclosed\n", "broken-two")
    write_dataset(root, edit(("id: spa-test-2024", "id: broken-three"), ("status: published", "status: yes"),
                             ("title: Cryo", "titel: Cryo")), "broken-three")
    (root / "datasets" / "broken-four").mkdir()
    write_dataset(root, b"id: broken-five\ntitle: caf\xe9\n".decode("latin-1"), "broken-five")
    (root / "datasets" / "broken-five" / "dataset.yaml").write_bytes(b"id: broken-five\ntitle: caf\xe9\n")
    result = load_catalogue(root)
    found = [(p.path, p.line, p.field) for p in result.problems]
    assert found == [
        ("datasets/broken-five/dataset.yaml", 2, ""),
        ("datasets/broken-four", 0, ""),
        ("datasets/broken-one/dataset.yaml", 14, "authors[0].orcid"),
        ("datasets/broken-one/dataset.yaml", 24, "technique"),
        ("datasets/broken-three/dataset.yaml", 2, ""),
        ("datasets/broken-three/dataset.yaml", 3, "titel"),
        ("datasets/broken-three/dataset.yaml", 11, "status"),
        ("datasets/broken-two/dataset.yaml", 3, ""),
    ]
    assert result.problems[0].message == "byte 0xe9 is not valid UTF-8"
    assert result.problems[-1].message.startswith("invalid YAML: ")
    assert [d.id for d in result.catalogue.datasets] == [IDENT]


def test_broken_facilities_registry_does_not_cascade(root):
    (root / "datasets" / "facilities.yaml").write_text("- not a mapping\n", encoding="utf-8")
    write_dataset(root, BASE, IDENT)
    assert lines(load_catalogue(root).problems) == [
        "datasets/facilities.yaml:1:1: the file must hold a mapping of fields, not a list — start from "
        "`openem new <id>` or copy an example"]


@pytest.mark.parametrize("value", ["5", "[]", "{}", "~", "true", "[1, a]", "{a: 1}"])
@pytest.mark.parametrize("field", ["authors", "technique", "data", "acquisition", "dates", "related",
                                   "license"])
def test_wrong_shapes_are_reported_not_crashed_on(root, field, value):
    text = edit((f"\n{field}:", f"\n{field}: {value}\nold_{field}:"))
    found = check(root, text)
    assert found, "a wrong shape must be reported"
    assert all(p.line > 0 for p in found), lines(found)


@pytest.mark.parametrize("char", ["\u200b", "\u2060", "\ufeff"])
def test_invisible_characters_in_text(root, char):
    p = only(root, edit(("  name: Test complex", f"  name: Test{char} complex")))
    assert p.text() == (f"{F}:26:9: sample.name: contains the invisible character U+{ord(char):04X} — remove it "
                        "(zero-width space or word joiner, often pasted from a web page)")


def test_stray_yaml_file_in_datasets_is_an_error(root):
    (root / "datasets" / "loose.yaml").write_text("id: loose\n", encoding="utf-8")
    result = load_catalogue(root)
    assert [p.text() for p in result.problems] == [
        "datasets/loose.yaml: dataset files belong in a folder of their own — move it to "
        "datasets/loose/dataset.yaml"]


def test_voltage_in_volts_names_the_unit(root):
    p = only(root, edit(("  acceleration_voltage_kV: 300", "  acceleration_voltage_kV: 300000")))
    assert p.hint == "check the value; the field is in kV, not V"


# --- the compiled schema check ------------------------------------------------------------------------------------

def test_the_compiled_schema_check_passes_only_what_jsonschema_passes():
    """schemafast's check of the dataset schema: True for the example entries, and never True for a document
    jsonschema finds an error in (each value of each example swapped for others, and an unknown field added)."""
    import random

    from openem_build.records import schemacheck
    from openem_build.records.yamlsafe import decode, parse

    fast, full = schemacheck._fast("dataset"), schemacheck._validator("dataset")
    assert fast is not None and schemacheck._fast("facilities") is not None
    examples = [parse(decode(p.read_bytes())).data for p in sorted((ROOT / "datasets").glob("*/dataset.yaml"))]
    assert examples and all(fast(d) for d in examples)
    swaps = [None, True, 0, -1, 1.5, 10**6, "", "x", "2024-13-01", "2024-01-01", [], ["a", "a"], [1, 1], {},
             {"a": 1}, "a" * 400, "https://x.org", "not a url", "embargoed", "published"]
    rng = random.Random(7)
    checked = passed = 0
    for doc in examples[:6]:
        for pointer, new, value in mutants(doc, swaps, rng, 3):
            if fast(value):
                passed += 1
                assert not list(full.iter_errors(value)), (pointer, new)
            checked += 1
    assert checked > 500 and passed > 50
