"""Categories of image sets from their files' header facts (openem_build.records.headercategory),
and ``openem add`` on a copy of the real materials-science files in ``../shared/realdata/materials/``
(DM3/DM4, Velox EMD, TIA SER/EMI,
FEI and Zeiss TIFF): real categories instead of TODO, and previews of each kind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from openem_build.authoring.add import add_dataset
from openem_build.data.headers import read_headers
from openem_build.records import headercategory
from openem_build.records.manifest import guess_image_sets
from openem_build.records.model import Manifest, ManifestFile

from .annex_helpers import catalogue
from .test_previews import decode_png

MATERIALS = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata" / "materials"


def image(kind: str, **extra: object) -> dict:
    return {"type": extra.pop("type", "dm"), "image": {"kind": kind, **extra}}


@pytest.mark.parametrize(("headers", "category"), [
    (image("spectrum", signal_type="EELS"), "spectra"),
    (image("spectrum-image", signal_type="EDS_TEM"), "spectra"),
    (image("image", axes=[{"units": "1/nm"}, {"units": "1/nm"}]), "diffraction-images"),
    (image("image", signal_type="electron_diffraction"), "diffraction-images"),
    (image("image", axes=[{"units": "nm"}, {"units": "nm"}]), "micrographs"),
    (image("movie", type="eer"), "movies"),
    (image("image-stack", type="tiff"), "movies"),
    (image("tilt-series", type="mrc"), "tilt-series"),
    (image("image", type="mrc"), None),  # (an MRC image may be a class average or a projection: its folder decides)
    (image("volume", type="mrc"), None),
    ({"type": "epu"}, None),
])
def test_one_file_suggests_a_category(headers: dict, category: str | None):
    found = headercategory.of_file(headers)
    assert (found[0] if found else None) == category


def test_a_set_takes_the_category_most_files_suggest_and_the_first_file_breaks_ties():
    spectrum, picture = image("spectrum"), image("image")
    assert headercategory.guess([("b.dm3", picture), ("a.dm3", spectrum), ("c.dm3", picture)]) == (
        "micrographs", "the file headers (2 images, 1 spectrum)")
    assert headercategory.guess([("b.dm3", picture), ("a.dm3", spectrum), ("c.dm3", None)]) == (
        "spectra", "the file headers (1 spectrum, 1 image)")
    assert headercategory.guess([("a.dm3", None), ("b.xml", {"type": "epu"})]) == (None, "")
    # The folder name wins over the headers; the headers over the format.
    files = (ManifestFile("eels/a.dm4", size=1, headers=image("image")),
             ManifestFile("x/b.dm4", size=1, headers=image("spectrum")),
             ManifestFile("m/c.eer", size=1, headers=image("image-stack", type="tiff")))
    sets = {s.directory: (s.category, s.basis) for s in guess_image_sets(Manifest(files=files))}
    assert sets == {"eels": ("spectra", "the folder name"), "x": ("spectra", "the file headers (1 spectrum)"),
                    "m": ("movies", "the file headers (1 image stack)")}


def test_openem_add_on_the_real_materials_files_guesses_categories_and_previews_each_kind(tmp_path: Path):
    if not MATERIALS.is_dir():
        pytest.skip(f"{MATERIALS} not found: the real instrument files live in ../shared/realdata (absent here; CI "
                    "has them)")
    source = tmp_path / "materials"
    shutil.copytree(MATERIALS, source)
    root = catalogue(tmp_path / "catalogue")
    result = add_dataset(root, str(source), "materials-2026", url="https://data.example.org/m.git",
                         read_headers=read_headers)
    text = (result.folder / "dataset.yaml").read_text("utf-8")
    assert ("# Values marked `read from …` come from the files' headers and metadata (Gatan DM3/DM4, Velox EMD, "
            "TIA SER/EMI, TIFF): check them.") in text.splitlines()
    rows = text.splitlines()
    for fmt, comment in [
            ("dm3", "spectra  # guessed from the file headers (1 spectrum, 1 image, 1 diffraction pattern): check"),
            ("dm4", "spectra  # guessed from the file headers (1 spectrum image): check"),
            ("emd", "micrographs  # guessed from the file headers (1 image): check"),
            ("ser", "micrographs  # guessed from the file headers (1 image): check"),
            ("tif", "micrographs  # guessed from the file headers (2 images): check")]:
        at = rows.index(f"      format: {fmt}")
        assert rows[at - 1] == f"      category: {comment}", fmt
    stub = yaml.safe_load(text)
    assert all(s["category"] != "TODO" for s in stub["data"]["image_sets"])

    listing = json.loads((result.folder / "previews.json").read_text("utf-8"))
    shown = {(p["source"], p["kind"]) for p in listing["previews"]}
    assert {("test-EELS_spectrum.dm3", "spectrum"), ("EELS_SI.dm4", "spectrum"), ("EELS_SI.dm4", "map"),
            ("fei_emd_image.emd", "image"), ("64x64_TEM_images_acquire_1.ser", "image")} <= shown
    for p in listing["previews"]:
        pixels = decode_png((result.folder / "previews" / p["file"]).read_bytes())[0]
        assert max(pixels.shape) >= 256 and pixels.max() > pixels.min(), p["file"]
