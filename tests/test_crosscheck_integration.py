"""What the files say, wired end to end with real DataLad and git-annex (nothing mocked): ``openem add`` reads MRC
headers, SerialEM ``.mdoc`` and EPU XML into the manifest and pre-fills ``dataset.yaml``; ``openem validate``
checks the declared pixel size and voltage against them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import yaml

from openem_build.authoring.add import add_dataset
from openem_build.cli import main
from openem_build.data.headers import read_headers
from openem_build.records.load import load_catalogue
from openem_build.records.manifest import read

from .annex_helpers import catalogue, data_folder, full_document, git, write_mrc
from .conftest import write_dataset
from .test_instrument_metadata import epu_xml, tilt_series_mdoc

IDENT = "apoferritin-checked-2025"
YML = f"datasets/{IDENT}/dataset.yaml"
URL = "https://data.example.org/apoferritin-checked-2025.git"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _stack(path: Path, shape: tuple[int, int, int], voxel: float, seed: int, *, volume: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.random.default_rng(seed).normal(size=shape).astype(np.float32))
        if not volume:
            m.set_image_stack()
        m.voxel_size = voxel


def line_of(root: Path, pattern: str, after: str | None = None) -> int:
    lines = (root / YML).read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(after, line)) if after else 0
    return next(i for i, line in enumerate(lines[start:], start + 1) if re.search(pattern, line))


# ------------------------------------------------------------------------------------------ validation

@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue whose entry was added with `openem add` from MRC files plus EPU and SerialEM metadata, then
    completed by a person from the stub's data section."""
    base = tmp_path_factory.mktemp("crosscheck")
    folder = data_folder(base / "data")  # maps 1.1 Å, micrographs 0.55 Å
    _write(folder / "metadata" / "FoilHole_1_Data.xml", epu_xml())  # 300 kV, 0.73 Å
    _write(folder / "serialem" / "TS_01.mrc.mdoc", tilt_series_mdoc(pixel="0.73"))  # 300 kV
    root = catalogue(base / "catalogue")
    said: list[str] = []
    result = add_dataset(root, str(folder), IDENT, url=URL, read_headers=read_headers, log=said.append)
    stub = yaml.safe_load((result.folder / "dataset.yaml").read_text("utf-8"))
    # The EPU file and the mdoc disagree on the magnification: `openem add` says so, naming both, and fills nothing.
    assert ("pre-fill: acquisition.magnification: the files disagree (165000 in metadata/FoilHole_1_Data.xml; 64000 "
            "in serialem/TS_01.mrc.mdoc) and none is the most common: not filled, set it yourself") in said
    doc = full_document(IDENT, stub["data"])
    doc["acquisition"].update(stub["acquisition"])  # what the files say, as pre-filled
    for disputed in ("magnification", "total_dose_e_per_A2", "frames_per_movie"):
        # The EPU file and the mdoc record different ones: the stub names both files and leaves it to a person.
        assert any(note.startswith(f"# Note: acquisition.{disputed}: the files disagree")
                   for note in (result.folder / "dataset.yaml").read_text("utf-8").splitlines())
        doc["acquisition"].pop(disputed, None)
    write_dataset(root, doc)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Describe it")
    return root


@pytest.fixture
def cat(described: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "catalogue"
    shutil.copytree(described, copy, symlinks=True)
    return copy


def test_manifest_carries_compact_headers_and_the_entry_is_valid(cat: Path):
    manifest, _doc, problems = read(cat / "datasets" / IDENT / "manifest.json", cat)
    assert problems == [] and manifest is not None
    # 2D images and stacks keep only what is used downstream; volumes keep the whole header.
    assert manifest.by_path["micrographs/mic_0001.mrc"].headers == {
        "type": "mrc", "size_bytes": 5120,
        "mrc": {"dimensions": [32, 32, 1], "kind": "image", "mode": 2, "dtype": "float32",
                "voxel_size_A": [0.55, 0.55, 0.55]},
        "image": {"dimensions": [32, 32], "dtype": "float32", "kind": "image"}}
    volume = manifest.by_path["maps/map_full.mrc"].headers["mrc"]
    assert volume["kind"] == "volume" and volume["voxel_size_A"] == [1.1, 1.1, 1.1] and "labels" in volume
    epu = manifest.by_path["metadata/FoilHole_1_Data.xml"].headers
    assert epu["type"] == "epu" and epu["acquisition"]["acceleration_voltage_kV"] == 300.0
    assert manifest.by_path["serialem/TS_01.mrc.mdoc"].headers["acquisition"]["pixel_size_A"] == 0.73
    assert manifest.by_path["notes.txt"].headers is None
    assert [p.text() for p in load_catalogue(cat).problems] == []


def test_validate_names_both_values_and_the_file(cat: Path, capsys):
    doc = yaml.safe_load((cat / YML).read_text("utf-8"))
    index = {s["directory"]: i for i, s in enumerate(doc["data"]["image_sets"])}
    doc["data"]["image_sets"][index["micrographs"]]["pixel_size_A"] = 0.6
    del doc["data"]["image_sets"][index["maps"]]["pixel_size_A"]  # maps now claim acquisition.pixel_size_A
    doc["instrument"]["acceleration_voltage_kV"] = 200
    write_dataset(cat, doc)

    assert main(["--root", str(cat), "validate"]) == 1
    out = capsys.readouterr().out.splitlines()
    mic = line_of(cat, r"^\s+pixel_size_A: 0.6$")
    maps = line_of(cat, r"^\s+- name: Reconstructed 3D maps$")
    volt = line_of(cat, r"^\s+acceleration_voltage_kV: 200$")
    m, v = index["micrographs"], index["maps"]
    assert out == [
        f"{YML}:{volt}:28: instrument.acceleration_voltage_kV: 200 kV differs from the 300 kV recorded in "
        "metadata/FoilHole_1_Data.xml (and 1 more file) — check the voltage; the instrument's metadata files record "
        "what the data were taken at",
        f"{YML}:{maps}:5: data.image_sets[{v}].pixel_size_A: pixel size 0.73 Å (acquisition.pixel_size_A) "
        "differs from the voxel size 1.1 Å in the MRC header of maps/map_full.mrc (and 2 more files) — add "
        "`pixel_size_A: 1.1` to image set 'Reconstructed 3D maps' if its files differ from the recorded pixel size; "
        "otherwise correct acquisition.pixel_size_A",
        f"{YML}:{mic}:19: data.image_sets[{m}].pixel_size_A: pixel size 0.6 Å (data.image_sets[{m}].pixel_size_A) "
        "differs from the voxel size 0.55 Å in the MRC header of micrographs/mic_0001.mrc (and 1 more file) — "
        "correct pixel_size_A (the headers say `pixel_size_A: 0.55`), or the voxel size in the headers (IMOD "
        "`alterheader -del`, Python `mrcfile`) if they are wrong",
    ]


def test_a_damaged_file_is_reported_with_its_image_set(cat: Path):
    """A file that is not what its header says: a located warning, the build goes on."""
    data = cat / "datasets" / IDENT / "data"
    git(data, "annex", "unlock", "micrographs/mic_0002.mrc")
    path = data / "micrographs" / "mic_0002.mrc"
    raw = path.read_bytes()
    path.write_bytes(raw[:1024 + 32 * 4 * 10])  # 10 of 32 rows
    git(data, "add", "micrographs/mic_0002.mrc")
    git(data, "commit", "-q", "-m", "truncate")
    assert main(["--root", str(cat), "manifest", IDENT]) == 0
    git(cat, "add", "-A")
    git(cat, "commit", "-q", "-m", "new version")
    doc = yaml.safe_load((cat / YML).read_text("utf-8"))
    doc["data"]["commit"] = json.loads((cat / "datasets" / IDENT / "manifest.json").read_text())["commit"]
    write_dataset(cat, doc)
    index = [s["directory"] for s in doc["data"]["image_sets"]].index("micrographs")
    line = line_of(cat, r"^\s+- name: Micrographs")
    assert [p.text() for p in load_catalogue(cat).problems] == [
        f"{YML}:{line}:5: warning: data.image_sets[{index}]: micrographs/mic_0002.mrc: the file is truncated: its "
        "header declares 4,096 bytes of data (32 × 32 × 1, float32) after 1,024 bytes of headers, but only 1,280 "
        "are present (0 of 1 sections complete) — fix or replace the file, or mention the problem in the image "
        "set's details"]


# ------------------------------------------------------------------------------------------ pre-fill

def test_add_prefills_the_stub_from_epu_xml_and_mrc_movies(tmp_path: Path):
    folder = tmp_path / "spa"
    for i in (1, 2):
        _write(folder / "metadata" / f"FoilHole_{i}_Data.xml", epu_xml(defocus=f"-{0.4 + 0.8 * i:.1f}E-06"))
        _stack(folder / "movies" / f"FoilHole_{i}_Data_fractions.mrcs", (40, 16, 16), 0.73, i)
    write_mrc(folder / "micrographs" / "mic_0001.mrc", (1, 32, 32), 0.73, 3)
    root = catalogue(tmp_path / "catalogue")
    result = add_dataset(root, str(folder), "spa-test-2025", url=URL, read_headers=read_headers)
    text = (result.folder / "dataset.yaml").read_text("utf-8")
    epu = "read from metadata/FoilHole_1_Data.xml (and 1 more file) by `openem add`: check"
    for line in [
        "instrument:",
        f'  manufacturer: "Thermo Fisher Scientific"  # {epu}',
        f'  detector: "Falcon 4i"  # {epu}',
        f'  detector_mode: "counting"  # {epu}',
        f'  energy_filter: "10 eV slit"  # {epu}',
        f"  acceleration_voltage_kV: 300  # {epu}",
        "acquisition:",
        f"  magnification: 165000  # {epu}",
        f"  pixel_size_A: 0.73  # {epu}",
        f"  total_dose_e_per_A2: 50  # {epu}",
        "  frames_per_movie: 40  # read from movies/FoilHole_1_Data_fractions.mrcs (and 1 more file) by "
        "`openem add`: check",
        f"  defocus_range_um: [1.2, 2]  # {epu}",
        f'  software: "EPU 3.6.0.6389"  # {epu}',
        '  collected: "2024-03-12"  # read from metadata/FoilHole_1_Data.xml by `openem add`: check',
        "      pixel_size_A: 0.73  # read from the headers of movies/FoilHole_1_Data_fractions.mrcs (and 1 more "
        "file): check",
        "      frames_per_image: 40  # read from the headers of movies/FoilHole_1_Data_fractions.mrcs (and 1 more "
        "file): check",
        "      pixel_size_A: 0.73  # read from the headers of micrographs/mic_0001.mrc: check",
    ]:
        assert line in text.splitlines(), line
    stub = yaml.safe_load(text)
    assert stub["instrument"] == {"manufacturer": "Thermo Fisher Scientific", "detector": "Falcon 4i",
                                  "detector_mode": "counting", "energy_filter": "10 eV slit",
                                  "acceleration_voltage_kV": 300}
    assert stub["acquisition"] == {"magnification": 165000, "pixel_size_A": 0.73, "total_dose_e_per_A2": 50,
                                   "frames_per_movie": 40, "defocus_range_um": [1.2, 2], "software": "EPU 3.6.0.6389"}
    assert stub["dates"] == {"collected": "2024-03-12", "published": "TODO"}
    sets = {s["directory"]: s for s in stub["data"]["image_sets"]}
    assert sets["movies"] == {"name": "Multi-frame micrographs (movies)", "directory": "movies",
                              "category": "movies", "format": "mrcs", "count": 2, "pixel_size_A": 0.73,
                              "frames_per_image": 40}
    assert "pixel_size_A" not in sets["metadata"]  # EPU XML describe the acquisition, not a set of images
    # What a person must fill stays TODO; the microscope (EPU names only the scope's computer) stays commented.
    assert stub["title"] == stub["facility"] == stub["sample"]["name"] == "TODO"
    assert '  # microscope: "Titan Krios G4"' in text.splitlines()
    # A person fills in the rest: the pre-filled values agree with the files.
    doc = full_document("spa-test-2025", stub["data"])
    doc["instrument"], doc["acquisition"] = stub["instrument"], stub["acquisition"]
    write_dataset(root, doc)
    assert [p.text() for p in load_catalogue(root).problems] == []


def test_add_prefills_a_tomography_stub_from_mdoc_and_makes_previews(tmp_path: Path):
    folder = tmp_path / "tomo"
    _write(folder / "tilt_series" / "TS_01.mrc.mdoc", tilt_series_mdoc())
    _write(folder / "tilt_series" / "TS_02.mrc.mdoc", tilt_series_mdoc("TS_02", start_minute=30))
    _stack(folder / "tilt_series" / "TS_01.st", (9, 24, 24), 2.678, 1)
    _stack(folder / "tomograms" / "TS_01.rec", (12, 24, 24), 10.712, 2, volume=True)
    root = catalogue(tmp_path / "catalogue")
    result = add_dataset(root, str(folder), "tomo-test-2025", url=URL, read_headers=read_headers)
    text = (result.folder / "dataset.yaml").read_text("utf-8")
    mdoc = "read from tilt_series/TS_01.mrc.mdoc (and 1 more file) by `openem add`: check"
    for line in [
        f"  acceleration_voltage_kV: 300  # {mdoc}",
        f"  magnification: 64000  # {mdoc}",
        f"  pixel_size_A: 2.678  # {mdoc}",
        f"  total_dose_e_per_A2: 27.9  # {mdoc}",
        f"  frames_per_movie: 10  # {mdoc}",
        f"  defocus_range_um: [3.5, 4]  # {mdoc}",
        f"  tilt_range_deg: [-12, 12]  # {mdoc}",
        f"  tilt_step_deg: 3  # {mdoc}",
        f'  tilt_scheme: "dose-symmetric"  # {mdoc}',
        f'  software: "SerialEM"  # {mdoc}',
        '  collected: "2024-03-12"  # read from tilt_series/TS_01.mrc.mdoc by `openem add`: check',
        "      pixel_size_A: 2.678  # read from the headers of tilt_series/TS_01.st: check",
        "      pixel_size_A: 10.712  # read from the headers of tomograms/TS_01.rec: check",
    ]:
        assert line in text.splitlines(), line
    stub = yaml.safe_load(text)
    assert stub["acquisition"]["tilt_range_deg"] == [-12, 12] and stub["instrument"] == {
        "acceleration_voltage_kV": 300}

    # Previews: the tomogram first (three central slices and a projection, enlarged 11× to at least 256 px), then
    # a montage of the tilt series (9 of its 12 tilts: 3 × 3 tiles of 24 px, 2-px gaps, enlarged 4×).
    entry = result.folder
    listing = json.loads((entry / "previews.json").read_text("utf-8"))
    assert [(p["file"], p["kind"], p["width"], p["height"], p["source"]) for p in listing["previews"]] == [
        ("tomograms--TS_01.rec.xy.png", "XY", 264, 264, "tomograms/TS_01.rec"),
        ("tomograms--TS_01.rec.xz.png", "XZ", 264, 132, "tomograms/TS_01.rec"),
        ("tomograms--TS_01.rec.yz.png", "YZ", 264, 132, "tomograms/TS_01.rec"),
        ("tomograms--TS_01.rec.projection.png", "projection", 264, 264, "tomograms/TS_01.rec"),
        ("tilt_series--TS_01.st.montage.png", "montage", 304, 304, "tilt_series/TS_01.st"),
    ]
    assert listing["previews"][0]["alt"] == ("Central XY slice (Z = 7 of 12) through the tomogram tomograms/TS_01.rec "
                                             "(24 × 24 × 12 voxels of 10.712 Å).")
    assert listing["commit"] == result.manifest.commit
    for p in listing["previews"]:
        png = (entry / "previews" / p["file"]).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) == p["bytes"]
    # Committed with the entry, in git itself (not git-annex): a plain clone shows them.
    tracked = git(root, "ls-files", "-s", "datasets/tomo-test-2025/previews").splitlines()
    assert len(tracked) == 5 and all(line.startswith("100644") for line in tracked)
    assert git(root, "status", "--porcelain") == ""


def test_openem_manifest_remakes_the_previews_byte_identically(cat: Path, capsys):
    entry = cat / "datasets" / IDENT
    before = {p.relative_to(entry).as_posix(): p.read_bytes()
              for p in [entry / "previews.json", *sorted((entry / "previews").iterdir())]}
    assert sorted(before) == ["previews.json", *(f"previews/{n}" for n in (
        "maps--map_full.mrc.projection.png", "maps--map_full.mrc.xy.png", "maps--map_full.mrc.xz.png",
        "maps--map_full.mrc.yz.png", "micrographs--mic_0001.mrc.image.png", "micrographs--mic_0002.mrc.image.png"))]
    shutil.rmtree(entry / "previews")
    assert main(["--root", str(cat), "manifest", IDENT]) == 0
    assert (f"previews of maps/map_full.mrc, micrographs/mic_0001.mrc, micrographs/mic_0002.mrc in datasets/{IDENT}"
            "/previews/") in \
        capsys.readouterr().err
    after = {p.relative_to(entry).as_posix(): p.read_bytes()
             for p in [entry / "previews.json", *sorted((entry / "previews").iterdir())]}
    assert after == before
    assert git(cat, "status", "--porcelain") == ""
    previews = load_catalogue(cat).catalogue.by_id[IDENT].previews
    assert [p.source for p in previews] == ["maps/map_full.mrc"] * 4 + ["micrographs/mic_0001.mrc",
                                                                      "micrographs/mic_0002.mrc"]


def test_add_prefills_an_anisotropic_map_per_axis_and_the_entry_validates(tmp_path: Path, capsys):
    """A MicroED map sampled 0.84 × 0.84 × 2.1 Å: `openem add` writes `voxel_size_A` for its set, the completed
    entry validates, and a wrong z is an error at that line."""
    folder = tmp_path / "microed"
    _stack(folder / "maps" / "lysozyme.map", (12, 16, 16), 0.84, 1, volume=True)
    with mrcfile.open(folder / "maps" / "lysozyme.map", "r+") as m:
        m.voxel_size = (0.84, 0.84, 2.1)
    root = catalogue(tmp_path / "catalogue")
    ident = "microed-map-2025"
    result = add_dataset(root, str(folder), ident, url=URL, read_headers=read_headers)
    text = (result.folder / "dataset.yaml").read_text("utf-8")
    assert "      voxel_size_A: [0.84, 0.84, 2.1]  # read from the headers of maps/lysozyme.map: check" in text
    stub = yaml.safe_load(text)
    doc = full_document(ident, stub["data"])
    write_dataset(root, doc)
    assert [p.text() for p in load_catalogue(root).problems] == []
    # The same map declared with one pixel size: an error whose hint is the fix above.
    (maps,) = doc["data"]["image_sets"]
    del maps["voxel_size_A"]
    write_dataset(root, doc)
    (problem,) = load_catalogue(root).problems
    assert (problem.field, problem.severity) == ("data.image_sets[0].pixel_size_A", "error")
    assert "`voxel_size_A: [0.84, 0.84, 2.1]`" in problem.hint
    maps["voxel_size_A"] = [0.84, 0.84, 1.5]
    write_dataset(root, doc)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "wrong z")
    assert main(["--root", str(root), "validate", "--no-cache"]) == 1
    yml = f"datasets/{ident}/dataset.yaml"
    at = next(i for i, row in enumerate((root / yml).read_text("utf-8").splitlines(), 1) if "voxel_size_A" in row)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{yml}:{at + 1}:5: ")  # (the value: a block list on the lines after the key)
    assert first.split(": ", 1)[1].startswith(
        "data.image_sets[0].voxel_size_A: voxel size 0.84 × 0.84 × 1.5 Å (data.image_sets[0].voxel_size_A) differs "
        "from the voxel size 0.84 × 0.84 × 2.1 Å in the MRC header of maps/lysozyme.map — ")
