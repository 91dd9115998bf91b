"""MRC header extraction (openem_build.data.mrc, .headers) and the pixel-size cross-checks.

Every fixture is a real MRC file written with mrcfile in a temporary directory; broken files are made by
patching or truncating valid ones.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from mrcfile.dtypes import get_ext_header_dtype

from openem_build.authoring.prefill import prefill
from openem_build.data import headers, mrc
from openem_build.records.crosscheck import crosscheck
from openem_build.records.problems import ERROR, WARNING
from openem_build.records.yamlsafe import parse


def write(path: Path, data: np.ndarray, voxel: float | tuple[float, float, float] | None = None,
          stack: bool = False, origin: tuple[float, float, float] | None = None) -> Path:
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(data)
        if stack:
            m.set_image_stack()
        if voxel is not None:
            m.voxel_size = voxel
        if origin is not None:
            m.header.origin = origin
        m.add_label("OpenEM test fixture")
    return path


def patch(path: Path, offset: int, raw: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(raw)


def f32(value: float) -> float:
    return float(str(np.float32(value)))


# --- well-formed files ------------------------------------------------------------------------


def test_single_image(tmp_path: Path) -> None:
    data = np.arange(30 * 40, dtype=np.float32).reshape(30, 40) / 7
    path = write(tmp_path / "mic.mrc", data, voxel=0.73)
    meta, problems = mrc.extract(path)
    assert problems == []
    assert meta["size_bytes"] == 1024 + 30 * 40 * 4
    labels = meta["mrc"].pop("labels")
    assert labels[0].startswith("Created by mrcfile.py") and labels[1] == "OpenEM test fixture"
    assert meta["mrc"] == {
        "dimensions": [40, 30, 1], "kind": "image", "space_group": 0,
        "space_group_meaning": "0: a single image (2D)", "images": 1, "volumes": 0, "mode": 2,
        "dtype": "float32", "byte_order": "little", "voxel_size_A": [0.73, 0.73, 0.73],
        "cell_A": [f32(40 * 0.73), f32(30 * 0.73), 0.73], "cell_angles_deg": [90.0, 90.0, 90.0],
        "sampling": [40, 30, 1], "origin_A": [0.0, 0.0, 0.0], "start": [0, 0, 0], "axis_order": "XYZ",
        "version": 20141, "extended_header": {"type": "", "bytes": 0},
        "stats": {"min": 0.0, "max": f32(data.max()), "mean": f32(data.mean(dtype=np.float32)),
                  "rms": f32(data.std(dtype=np.float32))},
        "data_offset": 1024, "data_bytes": 4800,
    }
    assert "acquisition" not in meta


def test_image_stack(tmp_path: Path) -> None:
    path = write(tmp_path / "particles.mrcs", np.zeros((5, 16, 24), dtype=np.int16), voxel=1.1, stack=True)
    meta, problems = mrc.extract(path)
    assert problems == []
    h = meta["mrc"]
    assert (h["dimensions"], h["kind"], h["space_group"], h["images"], h["volumes"]) == \
        ([24, 16, 5], "image-stack", 0, 5, 0)
    assert h["space_group_meaning"] == "0: a stack of 5 images"
    assert (h["mode"], h["dtype"], h["data_bytes"]) == (1, "int16", 5 * 16 * 24 * 2)
    assert h["voxel_size_A"][:2] == [1.1, 1.1]


def test_volume(tmp_path: Path) -> None:
    data = np.random.default_rng(1).normal(size=(10, 12, 14)).astype(np.float32)
    path = write(tmp_path / "map.map", data, voxel=(1.1, 1.2, 1.3), origin=(10.5, -2.0, 3.25))
    meta, problems = mrc.extract(path)
    assert problems == []
    h = meta["mrc"]
    assert (h["dimensions"], h["kind"], h["space_group"], h["volumes"], h["images"]) == \
        ([14, 12, 10], "volume", 1, 1, 0)
    assert h["space_group_meaning"] == "1 (P1): a single volume"
    assert h["voxel_size_A"] == [1.1, 1.2, 1.3]
    assert h["origin_A"] == [10.5, -2.0, 3.25]
    assert h["stats"]["min"] == f32(data.min()) and h["stats"]["max"] == f32(data.max())
    json.dumps(meta, allow_nan=False)  # JSON-serialisable, without NaN


def test_volume_stack_and_big_endian(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.mrc", np.zeros((2, 3, 4, 5), dtype=">f4"), voxel=2.0)
    meta, problems = mrc.extract(path)
    assert problems == []
    h = meta["mrc"]
    assert (h["kind"], h["space_group"], h["volumes"], h["byte_order"]) == ("volume-stack", 401, 2, "big")
    assert h["space_group_meaning"] == "401: a stack of 2 volumes (space group 1)"
    assert h["dimensions"] == [5, 4, 6] and h["sampling"] == [5, 4, 3]


def test_unset_statistics_and_voxel_size(tmp_path: Path) -> None:
    path = write(tmp_path / "raw.mrc", np.zeros((4, 4), dtype=np.float32))
    with mrcfile.open(path, "r+") as m:
        m.reset_header_stats()  # MRC2014 way of saying "unknown": dmax < dmin, dmean < both, rms < 0
    meta, problems = mrc.extract(path)
    assert meta["mrc"]["stats"] == {"min": None, "max": None, "mean": None, "rms": None}
    assert meta["mrc"]["voxel_size_A"] == [None, None, None]
    assert problems == ["voxel size is not set (cell dimensions are 0)"]


# --- extended headers -------------------------------------------------------------------------


def test_fei_extended_header(tmp_path: Path) -> None:
    dtype = get_ext_header_dtype(b"FEI2", "<")
    ext = np.zeros(3, dtype=dtype)
    ext["Metadata size"] = dtype.itemsize
    ext["Metadata version"] = 2
    ext["Microscope type"] = b"Krios G4"
    ext["Application"] = b"EPU"
    ext["Application version"] = b"3.6"
    ext["HT"] = 300000.0
    ext["Pixel size X"] = ext["Pixel size Y"] = 7.3e-11
    ext["Dose"] = 5.0e20
    ext["Magnification"] = 165000
    ext["Applied defocus"] = -1.5e-6
    ext["Camera name"] = b"BM-Falcon"
    ext["Detector commercial name"] = b"Falcon 4i"
    ext["Slit inserted"] = True
    ext["Slit width"] = 10
    path = tmp_path / "fei.mrc"
    with mrcfile.new(path) as m:
        m.set_data(np.zeros((3, 8, 8), dtype=np.float32))
        m.set_extended_header(ext)
        m.header.exttyp = b"FEI2"
        m.voxel_size = 0.73
    meta, problems = mrc.extract(path)
    assert problems == []
    assert meta["mrc"]["extended_header"] == {"type": "FEI2", "bytes": 3 * dtype.itemsize}
    assert meta["mrc"]["data_offset"] == 1024 + 3 * dtype.itemsize
    assert meta["acquisition"] == {
        "microscope": "Krios G4", "acceleration_voltage_kV": 300.0, "pixel_size_A": 0.73,
        "magnification": 165000, "dose_e_per_A2": 5.0, "applied_defocus_um": 1.5, "tilt_angle_deg": 0.0,
        "camera": "BM-Falcon", "software": "EPU 3.6", "detector": "Falcon 4i", "energy_filter_slit_eV": 10.0,
    }


def test_fei_extended_header_too_short(tmp_path: Path) -> None:
    path = tmp_path / "short.mrc"
    with mrcfile.new(path) as m:
        m.set_data(np.zeros((8, 8), dtype=np.float32))
        m.set_extended_header(np.zeros(100, dtype="V1"))
        m.header.exttyp = b"FEI1"
        m.voxel_size = 1.0
    meta, problems = mrc.extract(path)
    size = get_ext_header_dtype(b"FEI1").itemsize
    assert problems == [f"extended header type FEI1 needs at least {size} bytes per image, but only 100 could "
                        "be read; its metadata were not interpreted"]
    assert "acquisition" not in meta


def test_serialem_tilt_angles(tmp_path: Path) -> None:
    tilts = [0.0, 3.0, -3.0, -6.02, 6.0]
    path = tmp_path / "ts.st"
    with mrcfile.new(path) as m:
        m.set_data(np.zeros((5, 8, 8), dtype=np.int16))
        m.set_image_stack()
        m.set_extended_header(np.frombuffer(np.round(np.array(tilts) * 100).astype("<i2").tobytes(), "V1"))
        m.header.exttyp = b"SERI"
        m.voxel_size = 2.0
    patch(path, 128, struct.pack("<hh", 2, 1))  # nint = 2 bytes per section, nreal = flag 1: tilt angle
    meta, problems = mrc.extract(path)
    assert problems == []
    assert meta["acquisition"] == {"tilt_angles_deg": tilts}


# --- non-conforming files ---------------------------------------------------------------------


def test_wrong_map_id(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.mrc", np.zeros((4, 6, 8), dtype=np.float32), voxel=1.0)
    patch(path, 208, b"XYZW")
    meta, problems = mrc.extract(path)
    assert problems == ["map ID is b'XYZW' instead of b'MAP ' (bytes 209–212): not an MRC file, or an old or "
                        "corrupt one (its header is read as if it were MRC)"]
    assert meta["mrc"]["dimensions"] == [8, 6, 4]


def test_truncated_file(tmp_path: Path) -> None:
    path = write(tmp_path / "cut.mrc", np.zeros((10, 20, 30), dtype=np.float32), voxel=1.0)
    with open(path, "r+b") as f:
        f.truncate(1024 + 2 * 20 * 30 * 4 + 100)
    meta, problems = mrc.extract(path)
    assert problems == ["the file is truncated: its header declares 24,000 bytes of data (30 × 20 × 10, "
                        "float32) after 1,024 bytes of headers, but only 4,900 are present (2 of 10 sections "
                        "complete)"]
    assert meta["size_bytes"] == 1024 + 4900


def test_header_smaller_than_file(tmp_path: Path) -> None:
    path = write(tmp_path / "lies.mrc", np.zeros((10, 20, 30), dtype=np.float32), voxel=1.0)
    patch(path, 8, struct.pack("<i", 4))  # nz = 4 instead of 10
    meta, problems = mrc.extract(path)
    assert meta["mrc"]["dimensions"] == [30, 20, 4]
    assert problems == ["the file is 14,400 bytes longer than its header declares (1,024 bytes of headers + "
                        "30 × 20 × 4 float32 = 10,624 bytes, file 25,024 bytes): the header's dimensions, mode "
                        "or extended-header size are wrong"]


def test_header_claims_huge_extended_header_without_reading_it(tmp_path: Path) -> None:
    path = write(tmp_path / "ext.mrc", np.zeros((4, 8, 8), dtype=np.float32), voxel=1.0)
    patch(path, 92, struct.pack("<i", 2**31 - 1))  # nsymbt: a 2 GB extended header
    tracemalloc.start()
    meta, problems = mrc.extract(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20  # a bounded read, not a 2 GB buffer
    assert meta["mrc"]["extended_header"] == {"type": "", "bytes": 2**31 - 1}
    assert problems == [
        "the header declares a 2,147,483,647-byte extended header, but the file holds only 1,024 bytes after "
        "the main header",
        "the file is truncated: its header declares 1,024 bytes of data (8 × 8 × 4, float32) after "
        "2,147,484,671 bytes of headers, but only 0 are present (0 of 4 sections complete)",
    ]


def test_invalid_mode_space_group_stamp_and_axes(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.mrc", np.zeros((2, 4, 4), dtype=np.float32), voxel=1.0)
    patch(path, 12, struct.pack("<i", 7))  # mode
    patch(path, 64, struct.pack("<iii", 1, 1, 3))  # mapc, mapr, maps
    patch(path, 88, struct.pack("<i", 999))  # ispg
    patch(path, 212, bytes([0x12, 0x34, 0, 0]))  # machine stamp
    meta, problems = mrc.extract(path)
    assert meta["mrc"]["mode"] == 7 and meta["mrc"]["dtype"] is None
    assert problems == [
        "machine stamp 0x12 0x34 0x00 0x00 is neither little-endian (0x44 0x44) nor big-endian (0x11 0x11); "
        "read as little-endian",
        "mode 7 is not an MRC2014 mode (0, 1, 2, 3, 4, 6, 12 or 101): the data type is unknown",
        "space group 999 is not valid in MRC2014 (0 for images and image stacks, 1–230 for volumes, 401–630 "
        "for volume stacks)",
        "axis order (mapc, mapr, maps) = (1, 1, 3) is not a permutation of 1, 2, 3",
    ]


def test_machine_stamp_contradicting_byte_order(tmp_path: Path) -> None:
    path = write(tmp_path / "swapped.mrc", np.zeros((2, 4, 4), dtype=">f4"), voxel=1.0)
    patch(path, 212, bytes([0x44, 0x44, 0, 0]))  # says little-endian; the header is big-endian
    meta, problems = mrc.extract(path)
    assert meta["mrc"]["byte_order"] == "big" and meta["mrc"]["dimensions"] == [4, 4, 2]
    assert problems == ["machine stamp 0x44 0x44 0x00 0x00 says little-endian, but the header only makes sense "
                        "as big-endian; read as big-endian"]


def test_not_an_mrc_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.mrc"
    path.write_bytes(b"hello")
    assert mrc.extract(path) == ({"size_bytes": 5}, [
        "the file is 5 bytes, shorter than the 1024-byte MRC header: not an MRC file, or an empty or "
        "truncated one"])
    junk = tmp_path / "junk.mrc"
    junk.write_bytes(bytes(range(256)) * 8)
    meta, problems = mrc.extract(junk)  # garbage, reported field by field, never an exception
    assert problems and problems[0].startswith("map ID is")


def test_sparse_multi_gigabyte_file_costs_kilobytes(tmp_path: Path) -> None:
    path = write(tmp_path / "big.mrc", np.zeros((1, 4096, 4096), dtype=np.float32), voxel=1.0)
    patch(path, 8, struct.pack("<i", 600))  # 600 sections of 64 MiB: 40 GB
    with open(path, "r+b") as f:
        f.truncate(1024 + 600 * 4096 * 4096 * 4)  # sparse: no data is written
    tracemalloc.start()
    meta, problems = mrc.extract(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert problems == [] and meta["size_bytes"] == 1024 + 600 * 4096 * 4096 * 4
    assert peak < 256 * 1024


# --- the dispatcher ---------------------------------------------------------------------------


def test_headers_extract_dispatches_and_never_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "a.rec", np.zeros((3, 4, 5), dtype=np.int8), voxel=10.0)
    result = headers.extract(path)
    assert result.type == "mrc" and result.problems == ()
    assert result.as_json()["mrc"]["kind"] == "volume" and "problems" not in result.as_json()
    assert headers.FileMetadata.from_json(result.as_json()) == result
    directory = tmp_path / "folder.mrc"
    directory.mkdir()
    broken = headers.extract(directory)
    assert broken.type == "mrc" and broken.problems == ("cannot be read: Is a directory",)
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert headers.extract(other).as_json() == {"type": "unknown", "size_bytes": 1}
    assert headers.read_headers("notes.txt", other) is None


# --- cross-checks against dataset.yaml --------------------------------------------------------

DOC = """\
acquisition:
  pixel_size_A: 0.73
data:
  image_sets:
    - name: Micrographs
      directory: micrographs
      category: micrographs
      format: mrc
    - name: Map
      directory: maps
      category: maps
      format: mrc
      pixel_size_A: 1.1
    - name: Movies
      directory: movies
      category: movies
      format: mrcs
      pixel_size_A: 0.73
      frames_per_image: 40
"""


@pytest.fixture
def dataset(tmp_path: Path) -> dict[str, headers.FileMetadata]:
    for name in ("a", "b", "c"):
        write(tmp_path / f"mic_{name}.mrc", np.zeros((8, 8), dtype=np.float32), voxel=1.46)
    write(tmp_path / "map.mrc", np.zeros((4, 4, 4), dtype=np.float32), voxel=1.05)
    write(tmp_path / "movie.mrcs", np.zeros((38, 4, 4), dtype=np.float32), voxel=0.73, stack=True)
    return {"micrographs/mic_a.mrc": headers.extract(tmp_path / "mic_a.mrc"),
            "micrographs/mic_b.mrc": headers.extract(tmp_path / "mic_b.mrc"),
            "micrographs/sub/mic_c.mrc": headers.extract(tmp_path / "mic_c.mrc"),
            "maps/map.mrc": headers.extract(tmp_path / "map.mrc"),
            "movies/movie.mrcs": headers.extract(tmp_path / "movie.mrcs"),
            "README.md": None}


def test_crosscheck_pixel_sizes_and_frames(dataset: dict[str, headers.FileMetadata]) -> None:
    located = parse(DOC)
    problems = crosscheck(located.data, dataset, located, "datasets/x/dataset.yaml")
    # The micrographs are 2× binned against acquisition.pixel_size_A and declare no size of their own: understood.
    assert [(p.line, p.col, p.field, p.severity, p.message, p.hint) for p in problems] == [
        (13, 21, "data.image_sets[1].pixel_size_A", ERROR,
         "pixel size 1.1 Å (data.image_sets[1].pixel_size_A) differs from the voxel size 1.05 Å in the MRC "
         "header of maps/map.mrc",
         "correct pixel_size_A (the headers say `pixel_size_A: 1.05`), or the voxel size in the headers (IMOD "
         "`alterheader -del`, Python `mrcfile`) if they are wrong"),
        (19, 25, "data.image_sets[2].frames_per_image", ERROR,
         "40 frames per movie (data.image_sets[2].frames_per_image) but the MRC header of movies/movie.mrcs says "
         "38 frames", "correct frames_per_image"),
    ]
    assert problems[0].text().startswith("datasets/x/dataset.yaml:13:21: data.image_sets[1].pixel_size_A:")
    # Not an integer ratio: an error at the image set, with the fix.
    odd = parse(DOC.replace("pixel_size_A: 0.73\ndata", "pixel_size_A: 1.28\ndata"))
    (wrong,) = crosscheck(odd.data, {p: m for p, m in dataset.items() if p.startswith("micrographs")}, odd, "d.yaml")
    assert (wrong.line, wrong.field, wrong.severity, wrong.message, wrong.hint) == (
        5, "data.image_sets[0].pixel_size_A", ERROR,
        "pixel size 1.28 Å (acquisition.pixel_size_A) differs from the voxel size 1.46 Å in the MRC header of "
        "micrographs/mic_a.mrc (and 2 more files)",
        "add `pixel_size_A: 1.46` to image set 'Micrographs' if its files differ from the recorded pixel size; "
        "otherwise correct acquisition.pixel_size_A")


def test_crosscheck_tolerance_and_json_input(dataset: dict[str, headers.FileMetadata]) -> None:
    doc = parse(DOC.replace("pixel_size_A: 1.1", "pixel_size_A: 1.055").replace("A: 0.73\ndata", "A: 1.455\ndata")
                .replace("frames_per_image: 40", "frames_per_image: 38"))
    as_stored = {p: m.as_json() if m else None for p, m in dataset.items()}  # as manifest.json holds them
    assert crosscheck(doc.data, as_stored, doc, "d.yaml") == []
    assert crosscheck(doc.data, as_stored, doc, "d.yaml", pixel_tolerance=0.001) != []


def test_crosscheck_counts_and_file_problems(tmp_path: Path, dataset: dict[str, headers.FileMetadata]) -> None:
    broken = write(tmp_path / "cut.mrc", np.zeros((4, 8, 8), dtype=np.float32), voxel=1.0)
    with open(broken, "r+b") as f:
        f.truncate(2000)
    files = {**dataset, "maps/cut.mrc": headers.extract(broken)}
    text = DOC.replace("      format: mrc\n      pixel_size_A: 1.1", "      format: mrc\n      count: 3")
    doc = parse(text)
    problems = crosscheck(doc.data, files, doc.where, "d.yaml", counts=True)
    assert [(p.field, p.message) for p in problems if "count" in p.field] == [
        ("data.image_sets[1].count", "count is 3 but 'maps' holds 2 mrc files")]
    file_problem = [p for p in problems if p.message.startswith("maps/cut.mrc")]
    assert [(p.field, p.severity, p.line) for p in file_problem] == [("data.image_sets[1]", WARNING, 9)]
    assert "the file is truncated" in file_problem[0].message
    limited = crosscheck(doc.data, files, doc, "d.yaml", max_file_problems=0)
    assert limited[-1].message == "1 more file has problems, e.g. maps/cut.mrc"


def test_prefill_from_mrc_headers(dataset: dict[str, headers.FileMetadata]) -> None:
    filled = prefill(dataset, {"micrographs": "micrographs", "maps": "maps", "movies": "movies"})
    # Without instrument metadata the most common 2D voxel size stands for the acquisition's.
    assert filled.values == {"acquisition": {"pixel_size_A": 1.46, "frames_per_movie": 38}}
    assert filled.image_sets == {"maps": {"pixel_size_A": 1.05}, "movies": {"pixel_size_A": 0.73,
                                                                        "frames_per_image": 38}}
    assert filled.sources["acquisition.pixel_size_A"] == "micrographs/mic_a.mrc (and 2 more files)"  # only 1.46 Å


def test_crosscheck_placeholder_voxel_size_is_a_warning(tmp_path: Path) -> None:
    unknown = headers.extract(write(tmp_path / "m.mrc", np.zeros((4, 4, 4), dtype=np.float32), voxel=1.0))
    doc = parse(DOC)
    (problem,) = crosscheck(doc.data, {"maps/m.mrc": unknown}, doc, "d.yaml")
    assert (problem.field, problem.severity) == ("data.image_sets[1].pixel_size_A", WARNING)
    assert problem.message == ("pixel size 1.1 Å (data.image_sets[1].pixel_size_A) differs from the voxel size 1 Å "
                               "in the MRC header of maps/m.mrc (1 Å is what many programs write when the size is "
                               "unknown)")
    assert prefill({"maps/m.mrc": unknown}).image_sets == {}
