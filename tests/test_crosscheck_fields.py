"""Every declared acquisition and instrument value against the files that record it, on real instrument files.

The real files are ``../shared/realdata/`` (an EPU 3.9 session of a Titan Krios, the TS_01 tilt series mdoc of
EMPIAR-10164 with SerialEM frame-set mdocs, an EPU 2.9 MRC with an FEI extended header, an EMDB map); the vendor
formats (DM, EMD, SER) come as the header facts their readers record in a manifest. A wrong value is an error at
its YAML line that names the contradicting file; the right one is silent; the pre-fill of ``openem add`` takes the
Data images, not the navigation images, and the result validates.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from types import MappingProxyType

import mrcfile
import numpy as np
import pytest
import yaml

from openem_build.authoring.add import add_dataset
from openem_build.authoring.prefill import prefill
from openem_build.cli import main
from openem_build.data import headers
from openem_build.data.headers import read_headers
from openem_build.infra.context import SiteContext
from openem_build.records.crosscheck import crosscheck
from openem_build.records.load import load_catalogue
from openem_build.records.model import Manifest, ManifestFile
from openem_build.records.problems import ERROR
from openem_build.records.yamlsafe import parse
from openem_build.render import empiar, pages

from .annex_helpers import catalogue, full_document, git
from .conftest import write_dataset

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "realdata"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "catalogue"


def real(relative: str) -> Path:
    path = REAL / relative
    if not path.exists():
        pytest.skip(f"{path} not found: the real instrument files live in ../shared/realdata (absent here; CI has "
                    "them)")
    return path


def facts(relative: str) -> dict:
    """The header facts a manifest records for one real file."""
    found = read_headers(relative, real(relative))
    assert found is not None
    return found


def problems_of(text: str, files: dict) -> list[tuple[int, str, str, str]]:
    doc = parse(text)
    return [(p.line, p.field, p.severity, p.message) for p in crosscheck(doc.data, files, doc, "d.yaml")]


def line(text: str, pattern: str) -> int:
    return next(i for i, row in enumerate(text.splitlines(), 1) if re.search(pattern, row))


# ------------------------------------------------------------------------------------------ EPU session


def epu_session() -> dict:
    root = real("epu-session")
    return {p.relative_to(root).as_posix(): read_headers(p.relative_to(root).as_posix(), p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_prefill_of_a_real_epu_session_takes_the_data_images():
    filled = prefill(epu_session())
    # The Data images (165,000×, ~14.3 e⁻/Å², 1.5–2.7 µm), not GridSquare (470×, 50 µm) or FoilHole (11,500×) images.
    assert filled.values["acquisition"] == {
        "magnification": 165000, "pixel_size_A": 1.05588, "total_dose_e_per_A2": 14.3, "frames_per_movie": 50,
        "defocus_range_um": [1.5, 2.7], "software": "EPU 3.9.1.8206"}
    assert filled.values["instrument"] == {"manufacturer": "Thermo Fisher Scientific", "detector": "BioQuantum K3",
                                           "detector_mode": "counting", "energy_filter": "20 eV slit",
                                           "acceleration_voltage_kV": 300}
    data = "Images-Disc1/GridSquare_8999138/Data/FoilHole_9015883_Data_9017347_6_20250108_154915.xml (and 3 more files)"
    assert filled.sources["acquisition.total_dose_e_per_A2"] == data
    assert filled.notes == []  # the Data images agree within every tolerance


def test_prefill_names_files_that_disagree_and_does_not_break_ties():
    files = epu_session()
    data = sorted(p for p in files if "/Data/" in p and p.endswith(".xml"))
    for p in data[:2]:  # two of the four Data images now record 200 kV and 30 e⁻/Å²
        files[p] = {**files[p], "acquisition": {**files[p]["acquisition"], "acceleration_voltage_kV": 200.0,
                                                "dose_e_per_A2": 30.0}}
    filled = prefill(files)
    assert "acceleration_voltage_kV" not in filled.values["instrument"]
    assert "total_dose_e_per_A2" not in filled.values["acquisition"]
    assert filled.notes == [
        f"instrument.acceleration_voltage_kV: the files disagree (200 kV in {data[0]} (and 1 more file); 300 kV in "
        f"{data[2]} (and 1 more file)) and none is the most common: not filled, set it yourself",
        f"acquisition.total_dose_e_per_A2: the files disagree (30 e⁻/Å² in {data[0]} (and 1 more file); 14.06 e⁻/Å² "
        f"in {data[2]} (and 1 more file)) and none is the most common: not filled, set it yourself"]
    files[data[2]] = {**files[data[2]], "acquisition": {**files[data[2]]["acquisition"], "dose_e_per_A2": 31.0}}
    filled = prefill(files)
    # The most common value, said to come from only the files that record it; the others named.
    assert filled.values["acquisition"]["total_dose_e_per_A2"] == 30  # the median of 30, 30 and 31
    assert filled.sources["acquisition.total_dose_e_per_A2"] == f"{data[0]} (and 2 more files)"
    assert filled.notes[-1] == (f"acquisition.total_dose_e_per_A2: the files disagree (30 e⁻/Å² in {data[0]} (and 2 "
                                f"more files); 14.15 e⁻/Å² in {data[3]}); 30 e⁻/Å², the value of most files, was "
                                "taken: check")


EPU_YAML = """\
instrument:
  detector: BioQuantum K3
  acceleration_voltage_kV: 300
acquisition:
  magnification: 165000
  pixel_size_A: 1.05588
  total_dose_e_per_A2: 14.3
  frames_per_movie: 50
  defocus_range_um: [1.5, 2.7]
data:
  image_sets:
    - name: EPU metadata
      directory: Images-Disc1
      category: metadata
      format: xml
"""


def test_the_right_values_of_a_real_epu_session_pass_and_each_wrong_one_is_an_error_at_its_line():
    files = epu_session()
    assert problems_of(EPU_YAML, files) == []
    within = (EPU_YAML.replace("300", "300.4").replace("1.05588", "1.06").replace("14.3", "15.5")
              .replace("[1.5, 2.7]", "[1.45, 2.75]"))
    assert problems_of(within, files) == []  # within every tolerance: nothing, not a warning
    first = "Images-Disc1/GridSquare_8999138/Data/FoilHole_9015883_Data_9017347_6_20250108_154915.xml"
    wrong = {
        "acceleration_voltage_kV: 300": ("acceleration_voltage_kV: 200", "instrument.acceleration_voltage_kV",
                                         f"200 kV differs from the 300 kV recorded in {first} (and 3 more files)"),
        "pixel_size_A: 1.05588": ("pixel_size_A: 1.2", "acquisition.pixel_size_A",
                                  f"pixel size 1.2 Å differs from the 1.05588 Å the acquisition metadata of {first} "
                                  "(and 3 more files) record"),
        "detector: BioQuantum K3": ("detector: Falcon 4i", "instrument.detector",
                                    f"detector 'Falcon 4i' is not the 'BioQuantum K3' recorded in {first} (and 3 more "
                                    "files)"),
        "total_dose_e_per_A2: 14.3": ("total_dose_e_per_A2: 40", "acquisition.total_dose_e_per_A2",
                                      "total dose 40 e⁻/Å² differs from the 14.06–14.56 e⁻/Å² recorded in "
                                      f"{first} (and 3 more files) (more than 10% apart)"),
        "magnification: 165000": ("magnification: 130000", "acquisition.magnification",
                                  f"magnification 130000 differs from the nominal 165000 recorded in {first} (and 3 "
                                  "more files)"),
        "defocus_range_um: [1.5, 2.7]": ("defocus_range_um: [0.8, 2]", "acquisition.defocus_range_um",
                                         f"defocus range 0.8–2 µm does not include the 2.7 µm recorded in {first} "
                                         "(and 1 more file)"),
        "frames_per_movie: 50": ("frames_per_movie: 40", "acquisition.frames_per_movie",
                                 f"40 frames per movie differs from the 50 frames recorded in {first} (and 3 more "
                                 "files)"),
    }
    for right, (bad, field, message) in wrong.items():
        text = EPU_YAML.replace(right, bad)
        assert problems_of(text, files) == [(line(text, re.escape(bad)), field, ERROR, message)], field


def test_openem_add_on_a_copy_of_the_real_epu_session_prefills_the_data_images_and_validates(tmp_path: Path, capsys):
    source = tmp_path / "epu-session"
    shutil.copytree(real("epu-session"), source)
    root = catalogue(tmp_path / "catalogue")
    ident = "epu-session-2025"
    result = add_dataset(root, str(source), ident, url="https://data.example.org/epu.git", read_headers=read_headers)
    text = (result.folder / "dataset.yaml").read_text("utf-8")
    data = ("read from Images-Disc1/GridSquare_8999138/Data/FoilHole_9015883_Data_9017347_6_20250108_154915.xml (and "
            "3 more files) by `openem add`: check")
    for expected in [f"  total_dose_e_per_A2: 14.3  # {data}", f"  defocus_range_um: [1.5, 2.7]  # {data}",
                     f"  magnification: 165000  # {data}", f"  pixel_size_A: 1.05588  # {data}",
                     f'  detector: "BioQuantum K3"  # {data}']:
        assert expected in text.splitlines(), expected
    assert "# Note:" not in text
    # A person completes what the files cannot say; the pre-filled values stay as they are, and the entry is valid.
    stub = yaml.safe_load(text)
    doc = full_document(ident, stub["data"])
    for s in doc["data"]["image_sets"]:
        if s["category"] == "TODO":
            s.update(name="EPU navigation and exposure thumbnails", category="other")
    doc["instrument"] = {**doc["instrument"], **stub["instrument"]}
    doc["acquisition"] = {**doc["acquisition"], **stub["acquisition"]}
    doc["dates"].update(collected=stub["dates"]["collected"], published="2025-06-03")
    doc["processing"]["resolution_A"] = 2.9  # (above Nyquist for 1.056 Å pixels)
    doc["title"] = "Apoferritin from a real EPU session at 2.9 Å"
    write_dataset(root, doc)
    assert [p.text() for p in load_catalogue(root).problems] == []

    # A wrong voltage, pixel size, detector and dose: `openem validate` names each YAML line and a Data image.
    yml = f"datasets/{ident}/dataset.yaml"
    doc["instrument"].update(acceleration_voltage_kV=200, detector="Falcon 4i")
    doc["acquisition"].update(pixel_size_A=0.83, total_dose_e_per_A2=7.5)
    write_dataset(root, doc)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "wrong values")
    assert main(["--root", str(root), "validate", "--no-cache"]) == 1
    out = capsys.readouterr().out
    written = (root / yml).read_text("utf-8")
    for pattern, field in [(r"^  acceleration_voltage_kV: 200$", "instrument.acceleration_voltage_kV"),
                           (r"^  detector: Falcon 4i$", "instrument.detector"),
                           (r"^  pixel_size_A: 0.83$", "acquisition.pixel_size_A"),
                           (r"^  total_dose_e_per_A2: 7.5$", "acquisition.total_dose_e_per_A2")]:
        found = [row for row in out.splitlines() if f": {field}: " in row]
        assert len(found) == 1 and found[0].startswith(f"{yml}:{line(written, pattern)}:"), (field, out)
        assert "/Data/FoilHole_9015883_Data_9017347_6_20250108_154915.xml" in found[0]
        assert "FoilHoles/" not in found[0] and "GridSquare_2025" not in found[0] and " — " in found[0]


# ------------------------------------------------------------------------------------------ SerialEM


TS_YAML = """\
acquisition:
  magnification: 105000
  pixel_size_A: 5.4
  frames_per_movie: 8
  defocus_range_um: [3.5, 4.5]
  tilt_range_deg: [-60, 60]
  tilt_step_deg: 3
  tilt_scheme: dose-symmetric
data:
  image_sets:
    - name: Tilt series metadata
      directory: mdoc
      category: metadata
      format: mdoc
"""


def tilt_series_files() -> dict:
    return {f"mdoc/{name}": facts(f"mdoc/{name}")
            for name in ("TS_01.mrc.mdoc", "frame_set_single.mdoc", "frame_set_multiple.mdoc")}


def test_the_tilt_series_mdoc_describes_the_data_not_the_frame_sets():
    filled = prefill(tilt_series_files())
    assert filled.values["acquisition"] == {
        "pixel_size_A": 5.4, "magnification": 105000, "software": "SerialEM", "tilt_step_deg": 3,
        "tilt_scheme": "dose-symmetric", "tilt_range_deg": [-60, 60], "defocus_range_um": [4, 4],
        "frames_per_movie": 8}
    assert set(filled.sources.values()) == {"mdoc/TS_01.mrc.mdoc"}
    # The frame sets' 33,000×, 1.28 Å, 7.66 e⁻/Å² of one exposure say nothing here: no note, no check.
    assert filled.notes == [] and problems_of(TS_YAML, tilt_series_files()) == []


def test_wrong_tilt_series_values_are_errors_at_their_lines():
    files = tilt_series_files()
    ts = "mdoc/TS_01.mrc.mdoc"
    wrong = {
        "tilt_step_deg: 3": ("tilt_step_deg: 2", "acquisition.tilt_step_deg",
                             f"tilt step 2° differs from the 3° of the tilt series in {ts}"),
        "tilt_range_deg: [-60, 60]": ("tilt_range_deg: [-54, 54]", "acquisition.tilt_range_deg",
                                      f"tilt range -54–54° does not include the -60–60° recorded in {ts}"),
        "tilt_scheme: dose-symmetric": ("tilt_scheme: bidirectional", "acquisition.tilt_scheme",
                                        f"tilt scheme bidirectional differs from the dose-symmetric order of the tilt "
                                        f"angles in {ts}"),
        "pixel_size_A: 5.4": ("pixel_size_A: 4.4", "acquisition.pixel_size_A",
                              f"pixel size 4.4 Å differs from the 5.4 Å the acquisition metadata of {ts} record"),
        "magnification: 105000": ("magnification: 81000", "acquisition.magnification",
                                  f"magnification 81000 differs from the nominal 105000 recorded in {ts}"),
        "frames_per_movie: 8": ("frames_per_movie: 12", "acquisition.frames_per_movie",
                                f"12 frames per movie differs from the 8 frames recorded in {ts}"),
        "defocus_range_um: [3.5, 4.5]": ("defocus_range_um: [1, 3]", "acquisition.defocus_range_um",
                                         f"defocus range 1–3 µm does not include the 4 µm recorded in {ts}"),
    }
    for right, (bad, field, message) in wrong.items():
        text = TS_YAML.replace(right, bad)
        assert problems_of(text, files) == [(line(text, re.escape(bad)), field, ERROR, message)], field
    # A declared range wider than every tilt series: the ends must be where the series' span ends.
    text = TS_YAML.replace("[-60, 60]", "[-70, 70]")
    assert problems_of(text, files) == [
        (6, "acquisition.tilt_range_deg", ERROR, f"tilt range -70–70° differs from the -60–60° the files record "
         f"(from {ts})")]


def test_without_tilt_series_a_frame_set_mdoc_describes_its_movie():
    files = {"frames/frame_set_single.mdoc": facts("mdoc/frame_set_single.mdoc")}
    filled = prefill(files)
    assert filled.values["acquisition"]["total_dose_e_per_A2"] == 7.7
    text = "instrument:\n  acceleration_voltage_kV: 300\nacquisition:\n  total_dose_e_per_A2: 20\n"
    assert problems_of(text, files) == [
        (4, "acquisition.total_dose_e_per_A2", ERROR, "total dose 20 e⁻/Å² differs from the 7.66 e⁻/Å² recorded in "
         "frames/frame_set_single.mdoc (more than 10% apart)")]


# ------------------------------------------------------------------------------------------ MRC


MIC_YAML = """\
instrument:
  detector: Falcon 3EC
  acceleration_voltage_kV: 300
acquisition:
  magnification: 120000
  pixel_size_A: 0.6666
  total_dose_e_per_A2: 41
  defocus_range_um: [1.5, 2.5]
data:
  image_sets:
    - name: Micrographs
      directory: micrographs
      category: micrographs
      format: mrc
"""


def test_an_epu_mrc_with_an_fei_extended_header_is_checked_value_by_value():
    files = {"micrographs/epu2.9_example.mrc": facts("micrographs/epu2.9_example.mrc")}
    assert problems_of(MIC_YAML, files) == []  # "Falcon 3EC" and the header's "BM-Falcon" are one detector family
    f = "micrographs/epu2.9_example.mrc"
    wrong = {
        "acceleration_voltage_kV: 300": ("acceleration_voltage_kV: 200", "instrument.acceleration_voltage_kV",
                                         f"200 kV differs from the 300 kV recorded in {f}"),
        "detector: Falcon 3EC": ("detector: Gatan K3", "instrument.detector",
                                 f"detector 'Gatan K3' is not the 'BM-Falcon' recorded in {f}"),
        "total_dose_e_per_A2: 41": ("total_dose_e_per_A2: 20", "acquisition.total_dose_e_per_A2",
                                    f"total dose 20 e⁻/Å² differs from the 41.17 e⁻/Å² recorded in {f} (more than "
                                    "10% apart)"),
        "defocus_range_um: [1.5, 2.5]": ("defocus_range_um: [0.5, 1.5]", "acquisition.defocus_range_um",
                                         f"defocus range 0.5–1.5 µm does not include the 2.2 µm recorded in {f}"),
    }
    for right, (bad, field, message) in wrong.items():
        text = MIC_YAML.replace(right, bad)
        assert problems_of(text, files) == [(line(text, re.escape(bad)), field, ERROR, message)], field
    # A pixel size 14 % off the header: an error at the line, not a warning.
    text = MIC_YAML.replace("pixel_size_A: 0.6666", "pixel_size_A: 0.76")
    (problem,) = problems_of(text, files)
    assert problem[:3] == (line(text, "- name: Micrographs"), "data.image_sets[0].pixel_size_A", ERROR)
    assert problem[3] == (f"pixel size 0.76 Å (acquisition.pixel_size_A) differs from the voxel size 0.666551 Å in "
                          f"the MRC header of {f}")


# ------------------------------------------------------------------------------------------ vendor formats

#: Header facts as the DM, EMD and SER readers record them in a manifest (acquisition values and an image block).
STEM = {
    "stem/test_STEM_image.dm3": {"type": "dm", "acquisition": {
        "acceleration_voltage_kV": 200.0, "pixel_size_A": 2.16, "voxel_size_A": [2.16, 2.16], "magnification": 1000000,
        "detector": "HAADF", "dwell_time_us": 2.0}, "image": {"dimensions": [64, 64], "dtype": "float32",
                                                               "kind": "image"}},
    "stem/fei_emd_image.emd": {"type": "emd", "acquisition": {
        "acceleration_voltage_kV": 200.0, "pixel_size_A": 2.16, "detector": "HAADF", "magnification": 1000000},
        "image": {"dimensions": [64, 64], "dtype": "uint16", "kind": "image"}},
}
TEM = {
    "tem/64x64_TEM_images_acquire_1.ser": {"type": "ser", "acquisition": {
        "acceleration_voltage_kV": 200.0, "pixel_size_A": 6.2, "camera": "BM-Ceta", "magnification": 1000000,
        "exposure_time_s": 0.5}, "image": {"dimensions": [64, 64, 2], "dtype": "int16", "kind": "image-stack"}},
}

VENDOR_YAML = """\
instrument:
  detector: HAADF
  acceleration_voltage_kV: 200
acquisition:
  magnification: 1000000
data:
  image_sets:
    - name: STEM images
      directory: stem
      category: micrographs
      format: dm3
      pixel_size_A: 2.16
"""


def test_vendor_format_header_facts_are_checked_per_image_set():
    assert problems_of(VENDOR_YAML, STEM) == []
    wrong = {
        "acceleration_voltage_kV: 200": ("acceleration_voltage_kV: 300", "instrument.acceleration_voltage_kV",
                                         "300 kV differs from the 200 kV recorded in stem/fei_emd_image.emd (and 1 "
                                         "more file)"),
        "pixel_size_A: 2.16": ("pixel_size_A: 0.5", "data.image_sets[0].pixel_size_A",
                               "pixel size 0.5 Å differs from the 2.16 Å the acquisition metadata of "
                               "stem/fei_emd_image.emd (and 1 more file) record"),
        "detector: HAADF": ("detector: Orius SC200", "instrument.detector",
                            "detector 'Orius SC200' is not the 'HAADF' recorded in stem/fei_emd_image.emd (and 1 more "
                            "file)"),
        "magnification: 1000000": ("magnification: 800000", "acquisition.magnification",
                                   "magnification 800000 differs from the nominal 1000000 recorded in "
                                   "stem/fei_emd_image.emd (and 1 more file)"),
    }
    for right, (bad, field, message) in wrong.items():
        text = VENDOR_YAML.replace(right, bad)
        assert problems_of(text, STEM) == [(line(text, re.escape(bad)), field, ERROR, message)], field
    # A TEM camera (SER) in a set of its own: its camera and pixel size.
    tem = VENDOR_YAML.replace("HAADF", "Ceta 16M").replace("stem", "tem").replace("dm3", "ser").replace("2.16", "6.2")
    assert problems_of(tem, TEM) == []
    text = tem.replace("pixel_size_A: 6.2", "pixel_size_A: 5.1")
    assert problems_of(text, TEM) == [
        (12, "data.image_sets[0].pixel_size_A", ERROR, "pixel size 5.1 Å differs from the 6.2 Å the acquisition "
         "metadata of tem/64x64_TEM_images_acquire_1.ser record")]
    assert problems_of(tem.replace("Ceta 16M", "K3"), TEM) == [
        (2, "instrument.detector", ERROR, "detector 'K3' is not the 'BM-Ceta' recorded in "
         "tem/64x64_TEM_images_acquire_1.ser")]


# ------------------------------------------------------------------------------------------ anisotropic voxels


def write_volume(path: Path, voxel: tuple[float, float, float], shape: tuple[int, int, int] = (6, 8, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.arange(np.prod(shape), dtype=np.float32).reshape(shape))
        m.voxel_size = voxel
    return path


MAP_YAML = """\
acquisition:
  pixel_size_A: 0.84
data:
  image_sets:
    - name: MicroED map
      directory: maps
      category: maps
      format: map
      pixel_size_A: 0.84
"""


def test_an_anisotropic_map_is_declared_per_axis_and_the_hint_s_fix_validates(tmp_path: Path):
    files = {"maps/lysozyme.map": headers.extract(write_volume(tmp_path / "l.map", (0.84, 0.84, 2.1)))}
    doc = parse(MAP_YAML)
    (problem,) = crosscheck(doc.data, files, doc, "d.yaml")
    assert (problem.line, problem.field, problem.severity) == (9, "data.image_sets[0].pixel_size_A", ERROR)
    assert problem.message == ("pixel size 0.84 Å (data.image_sets[0].pixel_size_A) differs from the voxel size "
                               "0.84 × 0.84 × 2.1 Å in the MRC header of maps/lysozyme.map")
    assert problem.hint.startswith("declare the size per axis, `voxel_size_A: [0.84, 0.84, 2.1]`, in image set "
                                   "'MicroED map' in place of pixel_size_A")
    fixed = MAP_YAML.replace("      pixel_size_A: 0.84", "      voxel_size_A: [0.84, 0.84, 2.1]")
    assert problems_of(fixed, files) == []
    # Compared per axis: a wrong z is an error at voxel_size_A.
    wrong = fixed.replace("2.1]", "1.7]")
    assert problems_of(wrong, files) == [
        (9, "data.image_sets[0].voxel_size_A", ERROR, "voxel size 0.84 × 0.84 × 1.7 Å (data.image_sets[0]."
         "voxel_size_A) differs from the voxel size 0.84 × 0.84 × 2.1 Å in the MRC header of maps/lysozyme.map")]
    # Declared once for the acquisition (volume EM: z is the section thickness) it applies to the set too.
    acquisition = ("acquisition:\n  pixel_size_A: 0.84\n  voxel_size_A: [0.84, 0.84, 2.1]\n"
                   + MAP_YAML.split("acquisition:\n  pixel_size_A: 0.84\n")[1].replace("      pixel_size_A: 0.84\n",
                                                                                        ""))
    assert problems_of(acquisition, files) == []
    both = fixed.replace("voxel_size_A: [0.84", "pixel_size_A: 0.9\n      voxel_size_A: [0.84")
    assert problems_of(both, files) == [
        (10, "data.image_sets[0].voxel_size_A", ERROR,
         "voxel size 0.84 × 0.84 × 2.1 Å gives x = 0.84 Å but data.image_sets[0].pixel_size_A says 0.9 Å")]


def test_the_real_emdb_map_per_axis():
    files = {"maps/EMD-3197.map": facts("maps/EMD-3197.map")}
    text = MAP_YAML.replace("0.84", "11.4")
    assert problems_of(text, files) == []
    assert problems_of(text.replace("      pixel_size_A: 11.4", "      voxel_size_A: [11.4, 11.4, 11.4]"), files) == []
    (problem,) = problems_of(text.replace("      pixel_size_A: 11.4", "      voxel_size_A: [11.4, 11.4, 5]"), files)
    assert problem[:3] == (9, "data.image_sets[0].voxel_size_A", ERROR)


def test_binned_sets_without_their_own_size_are_understood(tmp_path: Path):
    files = {"tomograms/ts.rec": headers.extract(write_volume(tmp_path / "t.rec", (10.712,) * 3))}
    text = ("acquisition:\n  pixel_size_A: 2.678\ndata:\n  image_sets:\n    - name: Tomograms\n      directory: "
            "tomograms\n      category: tomograms\n      format: rec\n")
    assert problems_of(text, files) == []  # 4× binned
    (problem,) = problems_of(text.replace("2.678", "3.1"), files)
    assert problem[:3] == (5, "data.image_sets[0].pixel_size_A", ERROR)


# ------------------------------------------------------------------------------------------ shown per image set


def test_each_image_set_shows_and_exports_its_own_pixel_size():
    base = load_catalogue(FIXTURES).catalogue.by_id["apoferritin-krios-2024"]
    ctx = SiteContext(load_catalogue(FIXTURES).catalogue)
    dm = MappingProxyType({"type": "dm", "acquisition": {"pixel_size_A": 2.16},
                           "image": {"dimensions": [64, 64], "dtype": "float32", "kind": "image"}})
    mrc = MappingProxyType({"type": "mrc", "mrc": {"dimensions": [16, 16, 8], "kind": "volume", "dtype": "float32",
                                                   "voxel_size_A": [0.8, 0.8, 1.6], "mode": 2}})
    sets = tuple(s for s in base.data.image_sets if s.category in ("micrographs", "maps"))
    micrographs = dataclasses.replace(next(s for s in sets if s.category == "micrographs"), pixel_size_A=None,
                                      format="dm4", data_type="float32")
    maps = dataclasses.replace(next(s for s in sets if s.category == "maps"), pixel_size_A=None, data_type="float32")
    files = [ManifestFile(f"{micrographs.directory}/m{i}.dm4", 10, headers=dm) for i in range(2)]
    files += [ManifestFile(f"{maps.directory}/map.mrc", 10, headers=mrc)]
    d = dataclasses.replace(base, data=dataclasses.replace(base.data, image_sets=(micrographs, maps)),
                            manifest=Manifest(files=tuple(files)))
    assert d.acquisition.pixel_size_A == 0.73
    html = pages.dataset_page(ctx, d, [], "")
    rows = re.findall(r"<tr><td>(.*?)</tr>", html.split('id="image-sets"')[1].split("</table>")[0])
    assert len(rows) == 2
    assert '<span title="from the file headers">2.16 Å</span>' in rows[0]
    assert '<span title="from the file headers">0.8 × 0.8 × 1.6 Å</span>' in rows[1] and "0.73" not in "".join(rows)
    dep, problems = empiar.deposition(ctx, d)
    assert dep is not None, [p.text() for p in problems]
    assert [(s["pixel_width"], s["pixel_height"]) for s in dep["imagesets"]] == [(2.16, 2.16), (0.8, 0.8)]
    # A set that declares its own size shows that; one whose headers agree with the acquisition shows the latter.
    declared = dataclasses.replace(micrographs, voxel_size_A=(2.16, 2.2))
    d2 = dataclasses.replace(d, data=dataclasses.replace(d.data, image_sets=(declared, maps)))
    assert "2.16 × 2.2 Å</td>" in pages.dataset_page(ctx, d2, [], "")
    assert [s["pixel_height"] for s in empiar.deposition(ctx, d2)[0]["imagesets"]] == [2.2, 0.8]


def test_the_tolerance_table_of_the_guide_states_the_code_s_constants():
    from openem_build.records import fieldchecks as F
    from openem_build.records import voxelchecks as V

    guide = (ROOT / "docs" / "contributing.md").read_text("utf-8")
    table = guide.split("### What the files are checked against")[1].split("\n\n")[2]
    for stated in [f"± {F.VOLTAGE_TOLERANCE_KV:g} kV", f"± {V.VOXEL_TOLERANCE:.0%} per axis",
                   f"± {F.PIXEL_TOLERANCE:.0%} |", f"± {F.MAGNIFICATION_TOLERANCE:.1%}", f"± {F.DOSE_TOLERANCE:.0%}",
                   f"± {F.DEFOCUS_TOLERANCE_UM:g} µm", f"± {F.TILT_RANGE_TOLERANCE_DEG:g}°",
                   f"± {F.TILT_STEP_TOLERANCE_DEG:g}°"]:
        assert stated.replace("%", " %") in table, stated
    assert F.FRAMES_TOLERANCE == V.MRC_FRAMES_TOLERANCE == 0 and "| exact |" in table


@pytest.mark.parametrize("key", ["pixel_size_A", "dose_e_per_A2", "detector", "tilt_step_deg"])
def test_files_that_all_disagree_are_checked_in_linear_time(key: str):
    """A pull request's manifest may give every file its own value: grouping them is one sort, not files × groups."""
    from .growth import assert_linear

    text = ("instrument:\n  detector: Falcon 4i\nacquisition:\n  pixel_size_A: 0.5\n  total_dose_e_per_A2: 1\n"
            "  tilt_step_deg: 0.1\n")
    doc = parse(text)

    def value(i: int) -> object:
        return f"Camera{i}" if key == "detector" else 0.8 * 1.03 ** i  # (each beyond the others' tolerance)

    def prepare(n: int):
        files = {f"m/FoilHole_{i}_Data.xml": {"type": "epu", "acquisition": {key: value(i)}} for i in range(n)}
        return lambda: (crosscheck(doc.data, files, doc, "d.yaml"), prefill(files))

    assert_linear(prepare, 300, key)


def test_vendor_volumes_are_compared_per_axis_and_tiff_movies_by_their_frames():
    stack = {"type": "tiff", "acquisition": {"pixel_size_A": 50.0, "voxel_size_A": [50.0, 50.0, 100.0]},
             "image": {"dimensions": [64, 64, 10], "dtype": "uint8", "kind": "volume"}}
    movie = {"type": "tiff", "image": {"dimensions": [64, 64, 40], "dtype": "uint8", "kind": "image-stack"}}
    eer = {"type": "eer", "image": {"dimensions": [64, 64, 1200], "dtype": "uint8", "kind": "image-stack"}}
    files = {"volume/stack.tif": stack, "movies/m1.tif": movie, "eer/m1.eer": eer}
    text = """\
acquisition:
  frames_per_movie: 40
data:
  image_sets:
    - name: FIB-SEM stack
      directory: volume
      category: volume-images
      format: tiff
      pixel_size_A: 50
    - name: Movies
      directory: movies
      category: movies
      format: tiff
    - name: EER movies
      directory: eer
      category: movies
      format: eer
"""
    assert problems_of(text, files) == [
        (9, "data.image_sets[0].pixel_size_A", ERROR,
         "pixel size 50 Å differs in z from the voxel size 50 × 50 × 100 Å that volume/stack.tif record")]
    doc = parse(text)
    hint = crosscheck(doc.data, files, doc, "d.yaml")[0].hint
    assert hint == "declare the size per axis, `voxel_size_A: [50, 50, 100]`"
    fixed = text.replace("      pixel_size_A: 50", "      voxel_size_A: [50, 50, 100]")
    assert problems_of(fixed, files) == []  # (the EER's 1,200 raw frames are not its fractions)
    wrong = fixed.replace("frames_per_movie: 40", "frames_per_movie: 50")
    assert problems_of(wrong, files) == [
        (10, "data.image_sets[1].frames_per_image", ERROR,
         "50 frames per movie (acquisition.frames_per_movie) but the header of movies/m1.tif says 40 frames")]


def test_a_pixel_size_and_voxel_size_that_disagree_are_reported_without_file_headers_too():
    from openem_build.records.crosscheck import check_manifest

    text = MAP_YAML.replace("      pixel_size_A: 0.84", "      pixel_size_A: 0.84\n      voxel_size_A: [0.9, 0.9, 2.1]")
    listing = Manifest(files=(ManifestFile("maps/lysozyme.map", 10),))
    assert [(p.line, p.field, p.severity) for p in check_manifest(parse(text), listing, "d.yaml")] == [
        (10, "data.image_sets[0].voxel_size_A", ERROR)]
    assert check_manifest(parse(MAP_YAML), listing, "d.yaml") == []


def test_header_values_of_the_wrong_kind_are_left_out_not_a_traceback():
    odd = {"m/FoilHole_1_Data.xml": {"type": "epu", "acquisition": {
        "magnification": "165000", "acceleration_voltage_kV": True, "detector": 5, "tilt_step_deg": [3],
        "tilt_range_deg": ["a", 1], "dose_e_per_A2": "14", "defocus_um": None, "frames": 2.5,
        "voxel_size_A": [1, "x", 2], "tilt_scheme": 3}}}
    assert problems_of(EPU_YAML + "    - name: More\n      directory: m\n      category: metadata\n      format: xml\n",
                       odd) == []
    assert prefill(odd).values == {}


def test_a_declared_camera_length_is_checked_against_the_real_headers():
    """The real DM4 spectrum image records a camera length of 550 mm: within 5 % nothing, beyond it an error at
    the line of acquisition.camera_length_mm naming the file."""
    files = {"eels/EELS_SI.dm4": facts("materials/EELS_SI.dm4")}
    assert files["eels/EELS_SI.dm4"]["acquisition"]["camera_length_mm"] == 550.0
    text = ("instrument:\n  acceleration_voltage_kV: 200\nacquisition:\n  camera_length_mm: {}\ndata:\n"
            "  image_sets:\n    - name: EELS\n      directory: eels\n      category: spectrum-images\n"
            "      format: dm4\n")
    for close_enough in (550, 530, 575):
        assert [p for p in problems_of(text.format(close_enough), files) if "camera" in p[1]] == [], close_enough
    wrong = text.format(800)
    assert [p for p in problems_of(wrong, files) if "camera" in p[1]] == [
        (4, "acquisition.camera_length_mm", ERROR, "camera length 800 mm differs from the 550 mm recorded in "
         "eels/EELS_SI.dm4")]


def test_prefill_takes_the_camera_length_the_real_headers_record():
    filled = prefill({"eels/EELS_SI.dm4": facts("materials/EELS_SI.dm4")})
    assert filled.values["acquisition"]["camera_length_mm"] == 550
    assert filled.sources["acquisition.camera_length_mm"] == "eels/EELS_SI.dm4"
