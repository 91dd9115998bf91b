"""OSC-EM in and out: every example entry exported as OSC-EM JSON valid against the official schema of its technique,
the report naming what OSC-EM has no place for, and OSC-EM files (the project's own examples) pre-filling an
``openem add`` of a real folder into a real DataLad dataset whose entry validates; hostile OSC-EM files refused
with a clear message."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from openem_build import cli
from openem_build.authoring.oscem_prefill import annotate, merge
from openem_build.authoring.prefill import Prefill
from openem_build.data import oscem as reader
from openem_build.data import oscem_schema
from openem_build.doi.register import site_context
from openem_build.records.load import load_catalogue
from openem_build.render import citation, oscem, pages
from openem_build.render import outputs as artefacts

from .annex_helpers import catalogue as annex_catalogue
from .annex_helpers import data_folder, git
from .conftest import ROOT
from .mutants import mutants

OFFICIAL = ROOT.parent / "shared" / "reference" / "oscem"
needs_shared = pytest.mark.skipif(not (OFFICIAL / "jsonschema").is_dir(), reason="../shared/reference/oscem is "
                                  "absent (a fresh clone): the official OSC-EM schemas and examples live there")
#: The MicroED example: diffraction patterns, whose pixel size is a reciprocal-space sampling (Å⁻¹).
DIFFRACTION = "lysozyme-microed-2025"
SCHEMA_OF = {"single-particle": "spa", "helical": "spa", "subtomogram-averaging": "subtomo",
             "tomography": "cellular_tomo"}


@pytest.fixture(scope="module")
def loaded():
    result = load_catalogue(ROOT)
    assert [p.text() for p in result.problems if p.severity == "error"] == []
    return result.catalogue, site_context(ROOT, result.catalogue)


def official_validator(name: str) -> jsonschema.protocols.Validator:
    doc = json.loads((OFFICIAL / "jsonschema" / f"oscem_schemas_{name}.schema.json").read_text("utf-8"))
    return jsonschema.Draft201909Validator(doc, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)


# ------------------------------------------------------------------------------------------------ export


@needs_shared
def test_the_vendored_schemas_are_the_official_ones():
    vendored = Path(oscem_schema.SCHEMA_DIR)
    names = sorted(p.name for p in (OFFICIAL / "jsonschema").glob("*.json"))
    assert names == sorted(p.name for p in vendored.glob("*.json"))
    for name in names:
        assert (vendored / name).read_bytes() == (OFFICIAL / "jsonschema" / name).read_bytes()
    assert (vendored / "LICENSE").read_bytes() == (OFFICIAL / "LICENSE").read_bytes()  # BSD-3: keep the notice


@needs_shared
def test_every_example_entry_exports_oscem_valid_against_the_official_schema(loaded):
    catalogue, ctx = loaded
    assert len(catalogue.datasets) >= 15
    for d in catalogue.datasets:
        doc, report = oscem.document(ctx, d)
        assert doc is not None, [p.text() for p in report]
        name = SCHEMA_OF.get(d.technique, "general")
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in official_validator(name).iter_errors(doc)]
        assert errors == [], d.id
        if name != "general":
            assert doc["acquisition"]["technique"] == name
        # The values are the entry's.
        assert doc["instrument"]["microscope"]["model"] == d.instrument.microscope
        assert doc["instrument"]["acceleration_voltage"] == {
            "value": d.instrument.acceleration_voltage_kV, "unit": "kV",
            "valueSI": d.instrument.acceleration_voltage_kV * 1000, "unitSI": "V"}
        if d.id != DIFFRACTION:
            size = doc["acquisition"]["pixel_size"]
            assert (size["value"], size["unit"], size["unitSI"]) == (d.acquisition.pixel_size_A, "Å", "m")
            assert size["valueSI"] == pytest.approx(d.acquisition.pixel_size_A * 1e-10, rel=1e-12)
        assert doc["acquisition"]["date_time"] == f"{d.dates.collected.isoformat()}T00:00:00Z"
        assert oscem.dumps(doc) == oscem.dumps(oscem.document(ctx, d)[0])  # reproducible


def test_values_mapped_with_their_units(loaded):
    catalogue, ctx = loaded
    tomo, _ = oscem.document(ctx, catalogue.by_id["yeast-cryoet-2023"])
    a = tomo["acquisition"]
    assert a["tilt_axis_angle"] == 85.3  # from the SerialEM .mdoc header in the manifest
    assert a["tilt_angle"]["increment"] == {"value": 3, "unit": "°"}
    assert a["dose_per_movie"]["value"] == round(140 / 41, 6)  # the series' 140 e⁻/Å² over 41 tilts
    assert a["nominal_defocus"]["minimal"]["value"] == -5000 and a["nominal_defocus"]["maximal"]["value"] == -3000
    assert tomo["sample"]["specimen_env"]["organism"] == ["Saccharomyces cerevisiae"]
    spa, _ = oscem.document(ctx, catalogue.by_id["trpv1-nanodisc-krios-2023"])
    assert spa["acquisition"]["binning_camera"] == {"height": 2, "width": 2}  # the EPU XML headers
    assert spa["acquisition"]["energy_filter"]["width_energy_filter"]["value"] == 20
    assert spa["acquisition"]["pixel_size"] == {"value": 1.056, "unit": "Å", "valueSI": 1.056e-10, "unitSI": "m"}
    assert spa["processing"]["volumes"][0]["vol_resolution"]["unit"] == "Å"
    sem, _ = oscem.document(ctx, catalogue.by_id["arabidopsis-trichome-sem-2025"])
    assert (sem["instrument"]["operating_mode"], sem["instrument"]["imaging"]) == ("SEM", "SecondaryElectrons")


def test_the_report_names_every_field_osc_em_has_no_place_for(loaded):
    catalogue, ctx = loaded
    d = catalogue.by_id["apoferritin-krios-2024"]
    doc, report = oscem.document(ctx, d)
    assert doc is not None and all(p.severity == oscem.NOTE for p in report)
    summary = next(p.message for p in report if p.field == "")
    for field in ("title", "description", "keywords", "license", "related.emdb", "processing.symmetry",
                  "principal_investigators", "data.image_sets", "sample.organism.taxon_id", "contact.email"):
        assert f" {field}," in summary or summary.endswith(f" {field}"), field
    by_field = {p.field: p.message for p in report}
    assert "organisation type" in by_field["authors"]
    assert "free text" in by_field["sample.grid"]
    assert "exported empty" in by_field["acquisition.binning_camera"]
    # Every field of the entry is either in the document or named.
    assert "acquisition.pixel_size_A" not in summary and "instrument.electron_source" not in summary


def test_missing_required_values_give_plain_messages_and_no_document(loaded):
    catalogue, ctx = loaded
    d = catalogue.by_id["chlamy-ribosome-sta-2025"]
    bare = dataclasses.replace(d, instrument=dataclasses.replace(d.instrument, electron_source=None),
                               acquisition=dataclasses.replace(d.acquisition, tilt_axis_angle_deg=None),
                               dates=dataclasses.replace(d.dates, collected=None))
    doc, report = oscem.document(ctx, bare)
    assert doc is None
    errors = {p.field: p.text() for p in report if p.severity == "error"}
    assert set(errors) == {"instrument.electron_source", "acquisition.tilt_axis_angle_deg", "dates.collected"}
    assert errors["instrument.electron_source"] == (
        "datasets/chlamy-ribosome-sta-2025/dataset.yaml: instrument.electron_source: is missing: OSC-EM requires the "
        "electron source — add instrument.electron_source: FEG (or cold FEG, LaB6, tungsten)")
    assert oscem.artefacts(ctx, bare) == []


def test_the_site_file_is_a_labelled_dataset_artefact(loaded):
    catalogue, ctx = loaded
    d = catalogue.by_id["apoferritin-krios-2024"]
    made = [a for a in artefacts.for_dataset(ctx, d) if a.path == f"datasets/{d.id}/oscem.json"]
    assert len(made) == 1 and made[0].label == oscem.LABEL and made[0].media_type == "application/json"
    assert json.loads(made[0].content) == oscem.document(ctx, d)[0]
    labelled = artefacts.links(ctx, d)
    assert any(a.path.endswith("/oscem.json") for a in labelled)
    # The landing page lists it among its machine-readable files, and its head as a describedby link.
    page = pages.dataset_page(ctx, d, labelled, citation.text(ctx, d))
    assert '<a href="oscem.json" type="application/json">OSC-EM metadata (JSON)</a>' in page
    assert (f'<link rel="describedby" href="{ctx.url(f"datasets/{d.id}/oscem.json")}" type="application/json">'
            in pages.dataset_head(ctx, d, labelled))
    d = catalogue.by_id[DIFFRACTION]
    refused = dataclasses.replace(d, acquisition=dataclasses.replace(d.acquisition, camera_length_mm=None))
    assert any(a.path.endswith("/oscem.json") for a in artefacts.for_dataset(ctx, d))
    assert not any(a.path.endswith("/oscem.json") for a in artefacts.for_dataset(ctx, refused))
    assert "`oscem.json`" in (ROOT / "docs" / "api.md").read_text("utf-8")


def without_camera_length(catalogue: Path) -> Path:
    """The catalogue copy with the MicroED entry's camera length removed (OSC-EM then has no pixel size for it)."""
    path = catalogue / "datasets" / DIFFRACTION / "dataset.yaml"
    text = path.read_text("utf-8")
    assert "  camera_length_mm: 1700\n" in text
    path.write_text(text.replace("  camera_length_mm: 1700\n", ""), "utf-8")
    return catalogue


def test_openem_export_oscem_writes_the_file_and_prints_the_report(tmp_path: Path, catalogue: Path, capsys):
    out = tmp_path / "trpv1.json"
    assert cli.main(["--root", str(ROOT), "export", "oscem", "trpv1-nanodisc-krios-2023", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "not in the OSC-EM export" in err and "related.emdb" in err and f"wrote {out}" in err
    doc = json.loads(out.read_text("utf-8"))
    assert doc["acquisition"]["technique"] == "spa" and doc["instrument"]["electron_source"] == "FEG"

    root = without_camera_length(catalogue)
    assert cli.main(["--root", str(root), "export", "oscem", DIFFRACTION]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ("acquisition.camera_length_mm: is missing: OSC-EM requires a pixel size, which for diffraction patterns "
            "is the reciprocal-space sampling") in captured.err
    assert "Traceback" not in captured.err

    site = tmp_path / "site"
    assert cli.main(["--root", str(root), "export", "all", "-d", str(site)]) == 0
    written = sorted(p.parent.name for p in site.glob("datasets/*/oscem.json"))
    assert "apoferritin-krios-2024" in written and DIFFRACTION not in written
    assert len(written) == len(load_catalogue(root).catalogue.datasets) - 1


def test_a_diffraction_entry_exports_its_reciprocal_pixel_size_with_its_unit(loaded):
    """MicroED patterns have no pixel size at the specimen: OSC-EM gets the Å⁻¹ a pixel spans, and the report
    says how it was made."""
    catalogue, ctx = loaded
    d = catalogue.by_id[DIFFRACTION]
    doc, report = oscem.document(ctx, d)
    # 14 µm / (1700 mm × 0.025079 Å at 200 kV) = 3.284e-4 Å⁻¹ per pixel.
    assert doc["acquisition"]["pixel_size"] == {"value": 0.0003284, "unit": "1/Å", "valueSI": 3284000, "unitSI": "1/m"}
    note = next(p.message for p in report if p.field == "acquisition.pixel_size")
    assert "reciprocal-space sampling, 0.0003284 Å⁻¹ per pixel" in note and "1700 mm" in note and "14 µm" in note
    summary = next(p.message for p in report if p.field == "")
    assert "camera_length_mm" not in summary and "detector_pixel_size_um" not in summary
    # An entry that states an image-mode pixel size keeps it.
    imaged = dataclasses.replace(d, acquisition=dataclasses.replace(d.acquisition, pixel_size_A=0.9))
    assert oscem.document(ctx, imaged)[0]["acquisition"]["pixel_size"]["unit"] == "Å"
    # Without the detector's pixel size: no document, and the message names the field to add.
    bare = dataclasses.replace(d, instrument=dataclasses.replace(d.instrument, detector_pixel_size_um=None))
    doc, report = oscem.document(ctx, bare)
    assert doc is None
    assert [p.field for p in report if p.severity == "error"] == ["instrument.detector_pixel_size_um"]


def test_electron_wavelengths_are_relativistic():
    from openem_build.render.diffraction import electron_wavelength_A, reciprocal_pixel_per_A

    # Textbook values (Williams & Carter, table 1.1): 100 kV 0.03701 Å, 200 kV 0.02508 Å, 300 kV 0.01969 Å.
    for kv, wavelength in ((100, 0.03701), (200, 0.02508), (300, 0.01969)):
        assert electron_wavelength_A(kv) == pytest.approx(wavelength, abs=5e-5), kv
    assert reciprocal_pixel_per_A(14, 1700, 200) == pytest.approx(0.014 / (1700 * 0.025079), rel=1e-4)


def test_export_messages_go_to_the_stderr_of_each_call(tmp_path: Path, catalogue: Path, monkeypatch, capsys):
    """Not to the stream of the first call (cli.main closes its stream guard on return: a later command
    writing there failed with "I/O operation on closed file")."""
    import io
    import logging
    import sys

    from openem_build.commands import export

    root = without_camera_length(catalogue)
    for run in range(2):
        err = io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        assert export.export_one(root, "oscem", DIFFRACTION, None,
                                 context=lambda r, c: site_context(r, c)) == 1
        assert "acquisition.camera_length_mm" in err.getvalue(), run
    # A build leaves no handler on the loggers it writes to (its stream is closed when main returns).
    before = {n: list(logging.getLogger(n).handlers) for n in ("mkdocs", "openem")}
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    cli.main(["--root", str(tmp_path / "none"), "build", "-d", str(tmp_path / "site")])
    assert {n: list(logging.getLogger(n).handlers) for n in ("mkdocs", "openem")} == before


# ------------------------------------------------------------------------------------------------ import


@needs_shared
@pytest.mark.parametrize("name", ["spa", "general", "subtomo", "cellular_tomo", "env_tomo"])
def test_the_official_examples_read(name: str):
    imported = reader.read(OFFICIAL / "examples" / f"example_valid_{name}.yaml")
    assert not [n for n in imported.notes if n.startswith("not valid OSC-EM")]  # valid: no deviations reported
    assert imported.values["instrument.acceleration_voltage_kV"] == 300
    assert imported.values["dates.collected"] == "2024-01-01"
    assert [a["name"] for a in imported.authors] == ["Doe, John", "Doe, Jane"]
    # Fake ORCID iDs are named, not pre-filled.
    assert not any("orcid" in a for a in imported.authors)
    assert any("'ORCID_123124151231' is not a valid orcid" in n for n in imported.notes)
    if name in ("spa", "subtomo"):
        assert imported.values["sample.name"] == "Ribosome"
        assert imported.values["sample.grid"] == "Quantifoil Au 300 mesh"
        assert imported.values["acquisition.pixel_size_A"] == 1.2
    if name in ("subtomo", "cellular_tomo", "env_tomo"):
        assert imported.values["acquisition.tilt_range_deg"] == [-70.1, 56.4]
        assert imported.values["acquisition.tilt_axis_angle_deg"] == 180


def test_header_facts_win_and_disagreements_are_said():
    imported = reader.convert({"instrument": {"acceleration_voltage": {"value": 200, "unit": "kV"},
                                              "microscope": {"model": "Talos"}, "electron_source": "FEG",
                                              "illumination": "Parallel", "imaging": "BrightField"},
                               "acquisition": {"pixel_size": {"value": 0.1, "unit": "nm"}, "detectors": [],
                                               "date_time": "2024-05-01T10:00:00+02:00", "binning_camera": {}}},
                              "run.json")
    filled = Prefill()
    filled.put("instrument.acceleration_voltage_kV", 300, ["FoilHole_1.xml"])
    notes = merge(filled, imported)
    assert filled.values["instrument"]["acceleration_voltage_kV"] == 300  # the headers' value stays
    assert filled.values["instrument"]["microscope"] == "Talos"  # the headers say nothing: OSC-EM's
    assert filled.values["acquisition"]["pixel_size_A"] == 1.0  # 0.1 nm
    assert filled.values["dates"]["collected"] == "2024-05-01"
    assert notes == ["instrument.acceleration_voltage_kV: the OSC-EM file run.json says 200.0, the file headers "
                     "(FoilHole_1.xml) say 300: the headers' value is pre-filled"]
    text = annotate("# first\ntechnique: TODO\n", imported, notes)
    assert "# Note: instrument.acceleration_voltage_kV: the OSC-EM file run.json says 200.0" in text


def test_extractor_output_reads_despite_its_deviations():
    # The shape the OpenEM network's EPU/SerialEM extractor writes: defocus in nm with the microscope's sign, the
    # tilt axis as a quantity, binning as a bare number, a slit width under "width" (not all of it valid OSC-EM).
    imported = reader.convert({
        "acquisition": {"binning_camera": 1, "calibrated_defocus": {"maximal": {"unit": "nm", "value": -1500.2},
                                                                    "minimal": {"unit": "nm", "value": -2700.9}},
                        "date_time": "2024-09-01T06:01:10+02:00", "detectors": [{"name": "Falcon 4i"}],
                        "dose_per_movie": {"unit": "1/Å^2", "value": 3.5},
                        "energy_filter": {"used": True, "width": {"unit": "eV", "value": 10}},
                        "nominal_magnification": 105000, "pixel_size": {"unit": "Å", "value": 1.68},
                        "tilt_angle": {"increment": {"unit": "°", "value": 3}, "maximal": {"unit": "°", "value": 60},
                                       "minimal": {"unit": "°", "value": -60}},
                        "tilt_axis_angle": {"unit": "°", "value": 84.3}, "technique": "subtomo"},
        "instrument": {"acceleration_voltage": {"unit": "kV", "value": 300}, "electron_source": "FieldEmission",
                       "illumination": "Parallel", "imaging": "BrightField", "microscope": {"model": "TITAN52339260"}}},
        "session.json")
    v = imported.values
    assert v["acquisition.defocus_range_um"] == [1.5002, 2.7009]  # µm, underfocus positive
    assert v["acquisition.tilt_axis_angle_deg"] == 84.3 and v["acquisition.tilt_step_deg"] == 3
    assert v["acquisition.total_dose_e_per_A2"] == 3.5 * 41  # per tilt × 41 tilts
    assert v["instrument.energy_filter"] == "10 eV slit" and v["dates.collected"] == "2024-09-01"
    assert v["technique"] == "subtomogram-averaging" and v["acquisition.magnification"] == 105000
    assert any(n.startswith("not valid OSC-EM (subtomo schema): acquisition.binning_camera") for n in imported.notes)


def test_values_of_the_wrong_form_are_named_not_used():
    imported = reader.convert({"instrument": {"acceleration_voltage": {"value": "three hundred", "unit": "kV"},
                                              "cs": {"value": 2.7, "unit": "furlong"},
                                              "microscope": {"model": ["Titan"]}, "electron_source": "x" * 5000},
                               "acquisition": {"nominal_magnification": 1.5, "date_time": "yesterday",
                                               "frames_per_movie": 10**600,
                                               "tilt_angle": {"minimal": {"value": float("nan"), "unit": "°"}}},
                               "sample": {"grid": {"mesh": 10**600}, "name": "Ribo\u202esome\x7f"},
                               "organizational": {"authors": [{"family_name": "Doe\x00", "given_name": "J"}]}},
                              "bad.yaml")
    assert imported.values == {} and imported.authors == []
    assert max(len(n) for n in imported.notes) <= 300  # a long value is cut in the note
    notes = "\n".join(imported.notes)
    for expected in ("instrument.acceleration_voltage: expected a number, found a text",
                     "instrument.cs: unknown unit 'furlong'", "instrument.microscope.model: expected text",
                     "1.5 cannot be acquisition.magnification", "'yesterday' is not an ISO 8601 date",
                     "acquisition.tilt_angle.minimal: not a finite number", "not valid OSC-EM (general schema)",
                     "acquisition.frames_per_movie: the number is too large",
                     r"'Ribo\u202esome\x7f' cannot be sample.name: it holds control",  # (shown escaped)
                     "organizational.authors[0]: cannot be an OpenEM author: it holds control"):
        assert expected in notes, expected


# -- through `openem add`, on real folders and real DataLad datasets


@pytest.fixture
def cat(tmp_path: Path) -> Path:
    return annex_catalogue(tmp_path / "catalogue")


def complete(stub: dict, ident: str) -> dict:
    """What a person adds to the pre-filled stub: the fields no file can say."""
    doc = dict(stub)
    doc.update(title="Ribosomes imported from OSC-EM",
               description="Test data whose acquisition metadata came from an OSC-EM file of the session.",
               contact={"name": "Data desk", "email": "data@example.org"}, facility="scopem-eth")
    doc["dates"] = {**stub["dates"], "published": "2025-01-06"}
    for s in doc["data"]["image_sets"]:
        s.setdefault("data_type", "float32")
    return doc


@needs_shared
def test_an_osc_em_file_in_the_folder_prefills_an_entry_that_validates(cat: Path, tmp_path: Path, capsys):
    folder = data_folder(tmp_path / "run")
    shutil.copy(OFFICIAL / "examples" / "example_valid_spa.yaml", folder / "oscem-metadata.yaml")
    ident = "ribosome-oscem-2024"
    assert cli.main(["--root", str(cat), "add", str(folder), "--id", ident, "--url",
                     "https://data.example.org/ribosome", "--quiet"]) == 0
    assert "pre-filling from the OSC-EM file oscem-metadata.yaml" in capsys.readouterr().err
    path = cat / "datasets" / ident / "dataset.yaml"
    text = path.read_text("utf-8")
    stub = yaml.safe_load(text)
    assert stub["technique"] == "single-particle"
    assert stub["instrument"] == {"microscope": "Titan", "detector": "Falcon 4i", "detector_mode": "counting",
                                  "acceleration_voltage_kV": 300, "cs_mm": 2.7, "electron_source": "FEG"}
    assert stub["sample"]["name"] == "Ribosome" and stub["sample"]["organism"] == {"name": "yeast"}
    assert stub["dates"]["collected"] == "2024-01-01"
    assert [a["name"] for a in stub["authors"]] == ["Doe, John", "Doe, Jane"]
    assert stub["funding"] == [{"funder": "SNF"}]
    assert "# read from the OSC-EM file oscem-metadata.yaml by `openem add`: check" in text
    # The MRC headers say 0.55 Å: their value is kept, and the OSC-EM file's 1.2 Å is said to disagree.
    assert stub["acquisition"]["pixel_size_A"] == 0.55
    assert "# Note: acquisition.pixel_size_A: the OSC-EM file oscem-metadata.yaml says 1.2" in text
    # What OpenEM has no field for is named in the stub.
    assert "# Not taken from the OSC-EM file: sample.ligands: OpenEM has no field for it" in text

    path.write_text(yaml.safe_dump(complete(stub, ident), sort_keys=False, allow_unicode=True), encoding="utf-8")
    git(cat, "commit", "-q", "-am", "Describe the dataset")
    assert cli.main(["--root", str(cat), "validate", "--no-cache"]) == 0, capsys.readouterr()


@needs_shared
def test_an_osc_em_json_given_with_oscem_prefills_a_tomography_entry(cat: Path, tmp_path: Path, capsys):
    folder = data_folder(tmp_path / "tilts")
    given = tmp_path / "extractor-output.json"  # outside the folder, as JSON
    doc = yaml.safe_load((OFFICIAL / "examples" / "example_valid_subtomo.yaml").read_text("utf-8"))
    given.write_text(json.dumps(doc), encoding="utf-8")
    ident = "ribosome-sta-oscem-2024"
    assert cli.main(["--root", str(cat), "add", str(folder), "--id", ident, "--oscem", str(given), "--url",
                     "https://data.example.org/sta", "--quiet"]) == 0
    path = cat / "datasets" / ident / "dataset.yaml"
    stub = yaml.safe_load(path.read_text("utf-8"))
    assert stub["technique"] == "subtomogram-averaging"
    assert stub["acquisition"]["tilt_range_deg"] == [-70.1, 56.4]
    assert stub["acquisition"]["tilt_axis_angle_deg"] == 180
    path.write_text(yaml.safe_dump(complete(stub, ident), sort_keys=False, allow_unicode=True), encoding="utf-8")
    git(cat, "commit", "-q", "-am", "Describe the dataset")
    assert cli.main(["--root", str(cat), "validate", "--no-cache"]) == 0, capsys.readouterr()
    # The entry exports to OSC-EM again, valid against the schema it came from.
    result = load_catalogue(cat)
    out, _ = oscem.document(site_context(cat, result.catalogue), result.catalogue.by_id[ident])
    assert out is not None and out["acquisition"]["technique"] == "subtomo"
    assert list(official_validator("subtomo").iter_errors(out)) == []


HOSTILE = {
    "not-utf8.json": (b'{"instrument": "\xff"}', "is not valid UTF-8"),
    "nan.json": (b'{"instrument": {"cs": {"value": NaN, "unit": "mm"}}}', "NaN is not a JSON number"),
    "duplicate.json": (b'{"instrument": {}, "instrument": {}}', "appears twice"),
    "deep.json": (b'{"instrument": ' + b"[" * 200 + b"]" * 200 + b"}", "nested"),
    "list.json": (b"[1, 2, 3]", "the top level is a list, not a mapping"),
    "alias.yaml": (b"a: &x [1, 2]\nb: *x\ninstrument: {}\n", "aliases"),
    "tag.yaml": (b"instrument: !!python/object/apply:os.system ['true']\n", "tag"),
    "two.yaml": (b"instrument: {}\n---\nacquisition: {}\n", "more than one document"),
    "other.yaml": (b"title: not OSC-EM\nauthors: []\n", "not an OSC-EM document: unknown top-level keys"),
    "huge.json": (b'{"instrument": {"x": "' + b"a" * (2 << 20) + b'"}}', "more than the"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_osc_em_files_give_a_clear_error_and_change_nothing(cat: Path, tmp_path: Path, capsys, name: str):
    content, expected = HOSTILE[name]
    bad = tmp_path / name
    bad.write_bytes(content)
    folder = tmp_path / "run"
    (folder / "maps").mkdir(parents=True)
    (folder / "maps" / "notes.txt").write_text("data\n", encoding="utf-8")
    head = git(cat, "rev-parse", "HEAD")
    assert cli.main(["--root", str(cat), "add", str(folder), "--id", "hostile-oscem", "--oscem", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if name in line)
    assert expected in line, err
    assert git(cat, "rev-parse", "HEAD") == head and not (cat / "datasets" / "hostile-oscem").exists()


def test_a_broken_osc_em_file_among_the_files_stops_the_add(cat: Path, tmp_path: Path, capsys):
    folder = data_folder(tmp_path / "run")
    (folder / "session.oscem.json").write_text('{"instrument": {"cs": 2.7,}}', encoding="utf-8")
    (folder / "unrelated.json").write_text("[not json", encoding="utf-8")  # another file: not OSC-EM, ignored
    head = git(cat, "rev-parse", "HEAD")
    assert cli.main(["--root", str(cat), "add", str(folder), "--id", "broken-oscem", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "session.oscem.json:1:" in err and "not valid JSON" in err and "--oscem" in err
    assert "Traceback" not in err and git(cat, "rev-parse", "HEAD") == head


@needs_shared
def test_the_official_invalid_example_is_refused_by_name(cat: Path, tmp_path: Path, capsys):
    folder = data_folder(tmp_path / "run")
    invalid = OFFICIAL / "examples" / "EMDataset-invalid-001.yaml"
    assert cli.main(["--root", str(cat), "add", str(folder), "--id", "invalid-oscem", "--oscem", str(invalid)]) == 2
    err = capsys.readouterr().err
    assert ("EMDataset-invalid-001.yaml: not an OSC-EM document: unknown top-level keys 'authors', 'grants'" in err
            and "Traceback" not in err)
    assert not (cat / "datasets" / "invalid-oscem").exists()


def test_the_compiled_osc_em_check_passes_only_what_the_official_schema_passes(loaded):
    """The export's fast yes/no check (records/schemafast.py on the official schemas): True for every example's
    document, and never True where jsonschema finds an error (each value swapped for others, a field added)."""
    import random

    from openem_build.data import oscem_schema
    from openem_build.render import oscem_map

    catalogue, ctx = loaded
    docs = [(oscem_map.schema_name(d.technique), oscem.document(ctx, d)[0]) for d in catalogue.datasets]
    assert all(oscem_schema._fast(name)(doc) for name, doc in docs)
    swaps = [None, True, 0, -1, 1.5, "", "x", [], {}, {"a": 1}, "2024-01-01"]
    rng = random.Random(3)
    checked = passed = 0
    for name, doc in docs[::3]:
        fast, full = oscem_schema._fast(name), oscem_schema._validator(name)
        for pointer, new, value in mutants(doc, swaps, rng, 2):
            checked += 1
            if fast(value):
                passed += 1
                assert full.is_valid(value), (name, pointer, new)
            else:
                assert oscem_schema.schema_errors(name, value) or full.is_valid(value)
    assert checked > 500 and passed > 50
