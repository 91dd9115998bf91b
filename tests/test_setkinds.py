"""Image sets' data types against MRC headers and text, categories against the files, titles against the
resolution: located errors from `openem validate` (setkinds.py, titlecheck.py)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from openem_build.records import setkinds, titlecheck
from openem_build.records.load import load_catalogue
from openem_build.records.model import Manifest, ManifestFile
from openem_build.records.yamlsafe import parse

SETS = """\
title: Test
data:
  image_sets:
    - name: Raw block-face images
      directory: raw
      category: volume-images
      format: {fmt}
      data_type: {dtype}
      details: {details}
"""


def _check(details: str, dtype: str = "uint8", fmt: str = "tiff", manifest=None) -> list:
    doc = parse(SETS.format(details=details, dtype=dtype, fmt=fmt))
    return setkinds.check(doc, manifest, "datasets/x/dataset.yaml")


def _mrc(dtype: str, mode: int) -> Manifest:
    headers = MappingProxyType({"type": "mrc", "mrc": {"dimensions": [8, 8, 4], "mode": mode, "dtype": dtype}})
    return Manifest(files=(ManifestFile("raw/a.mrc", 10, headers=headers), ManifestFile("raw/b.mrc", 10,
                                                                                        headers=headers)))


def test_details_contradicting_the_data_type_is_a_located_error() -> None:
    (p,) = _check("6000 × 4000 pixel slices, 16-bit, in acquisition order.")
    assert (p.path, p.line, p.field, p.severity) == ("datasets/x/dataset.yaml", 9, "data.image_sets[0].details",
                                                     "error")
    assert "16-bit" in p.message and "uint8 (8-bit integer)" in p.message


@pytest.mark.parametrize("details", [
    "8-bit, values 0–127", "recorded with a 12-bit camera", "stored as uint8 (8 bit)", "converted from 16-bit to 8-bit",
    "no depth stated", "unsigned values", "uint8 here; the movies were 16-bit",
])
def test_agreeing_or_unrelated_text_is_fine(details: str) -> None:
    assert _check(details) == []


@pytest.mark.parametrize(("details", "dtype", "claim"), [
    ("32-bit floating point", "uint16", "32-bit"), ("saved as int16", "uint16", "int16"),
    ("floating-point values", "uint16", "floating point"), ("signed integers", "float32", "integer"),
])
def test_contradictions(details: str, dtype: str, claim: str) -> None:
    (p,) = _check(details, dtype)
    assert f"says {claim}," in p.message


def test_data_type_against_the_mrc_headers() -> None:
    (p,) = _check("simulated", dtype="uint8", fmt="mrc", manifest=_mrc("int8", 0))
    assert (p.line, p.field) == (8, "data.image_sets[0].data_type")
    assert "the MRC headers of the set's files say int8" in p.message and "data_type: int8" in p.hint
    assert _check("simulated", dtype="int8", fmt="mrc", manifest=_mrc("int8", 0)) == []
    # the text is held against what the headers say
    (p,) = _check("16-bit stack", dtype="int8", fmt="mrc", manifest=_mrc("int8", 0))
    assert "its MRC headers say int8" in p.message


def test_categories_of_models_reflections_and_coordinates() -> None:
    model = parse("""\
data:
  image_sets:
    - {name: Refined model and map coefficients, directory: model, category: maps, format: other,
       details: PDBx/mmCIF model and MTZ map coefficients.}
    - {name: Filament coordinates, directory: coordinates, category: metadata, format: star}
    - {name: SerialEM metadata, directory: ts, category: metadata, format: mdoc, details: stage coordinates}
    - {name: PHF map, directory: maps, category: maps, format: mrc, details: fitted atomic model 6HRE}
    - {name: Picks, directory: picks, category: particles, format: other}
""")
    files = Manifest(files=(ManifestFile("picks/m1.box", 1),))
    found = setkinds.check(model, files, "d.yaml")
    assert [(p.line, p.field) for p in found] == [(3, "data.image_sets[0].category"),
                                                  (5, "data.image_sets[1].category"),
                                                  (8, "data.image_sets[4].category")]
    assert "atomic models and reflection (MTZ) files, which are not 'maps'" in found[0].message
    assert "not acquisition metadata" in found[1].message and "category: other" in found[1].hint
    assert setkinds.empiar_category({"format": "other"}, ["m/x.cif"]) == ("OT", "atomic models")
    assert setkinds.empiar_category({"format": "mrc", "details": "atomic model"}, ["m/x.mrc"]) is None


@pytest.mark.parametrize(("title", "resolution", "ok"), [
    ("Apoferritin at 1.3 Å, Krios", 1.52, False), ("Apoferritin at 1.52 Å", 1.52, True),
    ("Apoferritin at 1.5 Å", 1.52, True), ("TRPV1 at 3 Å", 3.2, True), ("A 2.9 Å resolution map", 3.4, False),
    ("Resolution of 4 Angstrom", 3.9, True), ("Pixel size 0.73 Å", 3.0, True), ("Tau filaments at 3,1 Å", 3.4, False),
])
def test_title_resolution(title: str, resolution: float, ok: bool) -> None:
    doc = parse(f"title: '{title}'\nprocessing:\n  resolution_A: {resolution}\n")
    found = titlecheck.check(doc, "d.yaml")
    assert (found == []) == ok
    if not ok:
        assert (found[0].line, found[0].field, found[0].severity) == (1, "title", "error")


def test_openem_validate_reports_them(catalogue: Path) -> None:
    """Through the loader: the example entries as they were (16-bit details of an uint8 set, a title at 1.3 Å)."""
    yaml = catalogue / "datasets" / "mouse-cortex-fibsem-2024" / "dataset.yaml"
    yaml.write_text(yaml.read_text("utf-8").replace("data_type: uint16", "data_type: uint8", 1), encoding="utf-8")
    apo = catalogue / "datasets" / "apoferritin-krios-2024" / "dataset.yaml"
    apo.write_text(apo.read_text("utf-8").replace("at 1.52 Å", "at 1.3 Å"), encoding="utf-8")
    result = load_catalogue(catalogue, disk_cache=False)
    texts = sorted(p.text() for p in result.problems)
    assert len(texts) == 2, texts
    assert texts[0].startswith("datasets/apoferritin-krios-2024/dataset.yaml:3:8: title: says 1.3 Å")
    assert texts[1].startswith("datasets/mouse-cortex-fibsem-2024/dataset.yaml:92:16: data.image_sets[0].details: "
                               "says 16-bit")


def test_values_of_the_wrong_type_are_left_to_the_schema() -> None:
    doc = parse("data:\n  image_sets:\n    - {name: [a], directory: d, category: [maps], format: [], details: {x: 1},"
                " data_type: [uint8]}\n")
    assert setkinds.check(doc, None, "d.yaml") == []
