"""The example entries' data files (examples/): copies of real files, and simulations that must come out
byte-for-byte the same on every machine, since the catalogue commits their checksums."""

from __future__ import annotations

import filecmp
import hashlib
import importlib.util
import io
import math
import re
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from openem_build.data import mdoc as mdoc_reader
from openem_build.data.headers import read_headers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FILES = EXAMPLES / "files"
SHARED = ROOT.parent / "shared" / "realdata"

_spec = importlib.util.spec_from_file_location("openem_examples_simulate", EXAMPLES / "simulate.py")
assert _spec is not None and _spec.loader is not None
simulate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(simulate)

MICROGRAPHS = [
    "micrographs/FoilHole_31008451_Data_31002087_12_20240312_101407.mrc",
    "micrographs/FoilHole_31008451_Data_31002094_12_20240312_101410.mrc",
    "micrographs/FoilHole_31008477_Data_31002087_13_20240312_101448.mrc",
    "micrographs/FoilHole_31008477_Data_31002094_13_20240312_101451.mrc",
]
#: md5 of every simulated file, as written by examples/simulate.py (numpy 2.4 / mrcfile 1.5.4 and numpy 1.26 /
#: mrcfile 1.4.3 on x86-64 Linux gave these). A machine that makes other bytes must fail here, loudly.
SIMULATED_MD5 = {
    "TS_01.mrc": "0b4746659a2b3c46737e712f71897b77",
    MICROGRAPHS[0]: "a4750c5abe27461cf1eb960c2be0f125",
    MICROGRAPHS[1]: "2605f1c0868489223b143d15b7d9a579",
    MICROGRAPHS[2]: "27d751610e9750b13dc1d88494d32e8b",
    MICROGRAPHS[3]: "a0c4ee5be0f8247eda472ba9d89404e7",
    "sbf-sem_stack.mrc": "6cf5ae35d047f51b7f0acfe5676d6447",
}
#: The real files copied into examples/files, by md5 (the epu-session folder as the md5 of its "path md5" lines).
REAL_MD5 = {
    "EMD-3197.map": "b166961b51e1e11486af9ee48852fd2d",
    "TS_01.mrc.mdoc": "079d8fb219dfa4a16f3c88e6f4bb889d",
    "epu-session": "ff2ddc61241921e2b5047a6a56532236",
    "epu-session.LICENSE-Apache-2.0.txt": "3b83ef96387f14655fc854ddc3c6bd57",  # apache.org's LICENSE-2.0.txt
}
REAL_SOURCES = {
    "EMD-3197.map": "maps/EMD-3197.map",
    "TS_01.mrc.mdoc": "mdoc/TS_01.mrc.mdoc",
    "epu-session": "epu-session",
}
DIFFERENT_BYTES = ("this machine's simulation makes other bytes than the ones whose md5 the catalogue commits: "
                   "report the platform, numpy and mrcfile versions (do not just paste the new checksum)")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def tree_md5(folder: Path) -> str:
    lines = "".join(f"{p.relative_to(folder.parent).as_posix()} {md5(p)}\n"
                    for p in sorted(folder.rglob("*")) if p.is_file())
    return hashlib.md5(lines.encode()).hexdigest()


def relative_files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The simulated files, each writer called on its own."""
    out = tmp_path_factory.mktemp("first")
    paths = [simulate.tilt_series(simulate.MDOC, out / "TS_01.mrc"), *simulate.micrographs(out / "micrographs"),
             simulate.sbf_stack(out / "sbf-sem_stack.mrc")]
    return {p.relative_to(out).as_posix(): p for p in paths}


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The simulated files again, in another folder, as `python examples/simulate.py OUT` writes them."""
    out = tmp_path_factory.mktemp("second")
    paths = simulate.write_all(out)
    assert relative_files(out) == {p.relative_to(out).as_posix(): p for p in paths}
    return relative_files(out)


def test_writers_return_what_they_wrote(first: dict[str, Path]) -> None:
    assert sorted(first) == sorted(SIMULATED_MD5)
    assert all(p.is_file() for p in first.values())


def test_written_twice_byte_identical(first: dict[str, Path], second: dict[str, Path]) -> None:
    assert sorted(first) == sorted(second)
    for name in first:
        assert filecmp.cmp(first[name], second[name], shallow=False), f"{name} differs between two runs"


@pytest.mark.parametrize("name", sorted(SIMULATED_MD5))
def test_md5_is_the_committed_one(first: dict[str, Path], name: str) -> None:
    assert md5(first[name]) == SIMULATED_MD5[name], f"{name}: {DIFFERENT_BYTES}"


def _open(path: Path) -> mrcfile.mrcfile.MrcFile:
    return mrcfile.open(path, mode="r")


def _common_header(path: Path) -> None:
    """What every simulated file's header says, whatever its content: fixed values, exact statistics."""
    report = io.StringIO()
    assert mrcfile.validate(str(path), print_file=report), report.getvalue()
    with _open(path) as mrc:
        h = mrc.header
        assert int(h.ispg) == 0 and int(h.nsymbt) == 0 and bytes(h.exttyp) == bytes(4)
        assert int(h.nversion) == 20141 and bytes(h.map) == b"MAP "
        assert list(h.machst) == [0x44, 0x44, 0, 0]  # little-endian on every machine
        assert int(h.nlabl) == 1 and mrc.get_labels() == [simulate.LABEL.ljust(80)]
        assert (int(h.mapc), int(h.mapr), int(h.maps)) == (1, 2, 3)
        assert int(h.mz) == 1 and (int(h.mx), int(h.my)) == (int(h.nx), int(h.ny))
        data = mrc.data
        assert float(h.dmin) == float(data.min()) and float(h.dmax) == float(data.max())
        assert float(h.dmean) == pytest.approx(float(data.mean(dtype=np.float64)), rel=1e-6)
        assert float(h.rms) == pytest.approx(float(data.std(dtype=np.float64)), rel=1e-6)
    assert path.stat().st_size == 1024 + data.nbytes


@pytest.mark.parametrize("name", sorted(SIMULATED_MD5))
def test_header_fixed_valid_and_exact(first: dict[str, Path], name: str) -> None:
    _common_header(first[name])


def test_tilt_series_matches_its_mdoc(first: dict[str, Path]) -> None:
    path = first["TS_01.mrc"]
    head, sections = simulate.read_mdoc(FILES / "TS_01.mrc.mdoc")
    nx, ny = (int(v) for v in head["ImageSize"].split())
    assert (nx, ny, len(sections), head["PixelSpacing"], head["DataMode"]) == (924, 958, 41, "5.4", "1")
    assert head["ImageFile"] == path.name
    with _open(path) as mrc:
        assert mrc.data.shape == (41, 958, 924) and mrc.data.dtype == np.dtype("<i2") and int(mrc.header.mode) == 1
        assert (int(mrc.header.nx), int(mrc.header.ny), int(mrc.header.nz)) == (nx, ny, len(sections))
        assert tuple(mrc.voxel_size.item()) == (np.float32(5.4),) * 3
        data = mrc.data.astype(np.int64)
    # The project's own readers agree: the MRC header says what the mdoc says.
    facts = read_headers("tiltseries/TS_01.mrc", path)
    assert facts == {"type": "mrc", "size_bytes": path.stat().st_size,
                     "mrc": {"dimensions": [924, 958, 41], "kind": "image-stack", "mode": 1, "dtype": "int16",
                             "voxel_size_A": [5.4, 5.4, 5.4]},
                     "image": {"dimensions": [924, 958, 41], "dtype": "int16", "kind": "image-stack"}}
    described, problems = mdoc_reader.extract(FILES / "TS_01.mrc.mdoc")
    assert problems == []
    assert described["mdoc"]["image_size"] == facts["mrc"]["dimensions"][:2]
    assert described["mdoc"]["sections"] == facts["mrc"]["dimensions"][2]
    assert described["mdoc"]["data_mode"] == facts["mrc"]["mode"]
    assert described["acquisition"]["pixel_size_A"] == facts["mrc"]["voxel_size_A"][0]
    # Not blank, every tilt a different image, and thicker (darker) at high tilt, as in the real series.
    stds = data.std(axis=(1, 2))
    assert (stds > 20).all()
    assert len({hashlib.md5(section.tobytes()).digest() for section in data}) == 41
    tilts = [float(s["TiltAngle"]) for s in sections]
    means = data.mean(axis=(1, 2))
    assert means[tilts.index(max(tilts))] < means[0] - 100 and means[tilts.index(min(tilts))] < means[0] - 100


def test_micrographs(first: dict[str, Path]) -> None:
    names = [n for n in first if n.startswith("micrographs/")]
    assert names == MICROGRAPHS
    pattern = re.compile(r"^FoilHole_\d+_Data_\d+_\d+_20240312_\d{6}\.mrc$")
    digests = set()
    for name in names:
        path = first[name]
        assert pattern.match(path.name), path.name
        with _open(path) as mrc:
            data = mrc.data
            assert data.shape == (1024, 1024) and data.dtype == np.dtype("<f4") and int(mrc.header.mode) == 2
            assert int(mrc.header.nz) == 1
            assert tuple(mrc.voxel_size.item()) == (np.float32(0.73),) * 3
            scaled = data.astype(np.float64) * simulate.MICROGRAPH_SCALE
            assert (scaled == np.round(scaled)).all()  # integers / 4096, exact in float32
            assert float(data.std()) > 1
            digests.add(hashlib.md5(data.tobytes()).digest())
        assert read_headers(name, path) == {
            "type": "mrc", "size_bytes": 1024 + 1024 * 1024 * 4,
            "mrc": {"dimensions": [1024, 1024, 1], "kind": "image", "mode": 2, "dtype": "float32",
                    "voxel_size_A": [0.73, 0.73, 0.73]},
            "image": {"dimensions": [1024, 1024], "dtype": "float32", "kind": "image"}}
    assert len(digests) == len(names)


def test_sbf_stack(first: dict[str, Path]) -> None:
    path = first["sbf-sem_stack.mrc"]
    with _open(path) as mrc:
        data = mrc.data
        assert data.shape == (64, 256, 256) and data.dtype == np.int8 and int(mrc.header.mode) == 0
        assert tuple(mrc.voxel_size.item()) == (np.float32(80), np.float32(80), np.float32(400))
        data = data.astype(np.int64)
    assert read_headers("raw/sbf.mrc", path) == {
        "type": "mrc", "size_bytes": 1024 + 64 * 256 * 256,
        "mrc": {"dimensions": [256, 256, 64], "kind": "image-stack", "mode": 0, "dtype": "int8",
                "voxel_size_A": [80.0, 80.0, 400.0]},
        "image": {"dimensions": [256, 256, 64], "dtype": "int8", "kind": "image-stack"}}
    # 0–127: the same numbers whether a reader takes mode 0 as signed (MRC2014) or unsigned (old IMOD).
    assert data.min() >= 0 and data.max() <= 127
    assert (data.std(axis=(1, 2)) > 5).all()
    assert float(data.mean()) > 80  # bright background, dark membranes
    # Smooth along z: neighbouring sections are much more alike than distant ones.
    # (Compared on 8 × 8 block means, where the pixel noise has averaged out.)
    blocks = data.reshape(64, 32, 8, 32, 8).mean(axis=(2, 4))
    neighbours = np.abs(blocks[1:] - blocks[:-1]).mean()
    distant = np.abs(blocks[32:] - blocks[:32]).mean()
    assert neighbours < 0.5 * distant


def test_integer_building_blocks() -> None:
    # splitmix64's published first output for seed 0 (state += golden gamma, then mix).
    assert simulate.mix64(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF
    rng = simulate.Rng("test")
    assert [rng.u64() for _ in range(1000)] == simulate.u64_array("test", 1000).tolist()
    values = np.array([0, 1, 2, 3, 4, 15, 16, 17, 10**12, 2**52 - 1, 2**52, 2**52 + 1], dtype=np.int64)
    assert simulate.isqrt(values).tolist() == [math.isqrt(int(v)) for v in values]
    a = np.arange(30, dtype=np.int64).reshape(5, 6) ** 2
    padded = np.pad(a, ((0, 0), (2, 2)), mode="edge")
    assert (simulate.box_sum(a, 2, 1) == sum(padded[:, k:k + 6] for k in range(5))).all()
    for text in ["0.000999877", "-59.9986", "60.0006", "45", "-30.5", "89.999"]:
        c, s = simulate.fixed_cos_sin(text)
        radians = math.radians(float(text))
        assert abs(c - math.cos(radians) * 2**20) <= 0.5 + 1e-6 and abs(s - math.sin(radians) * 2**20) <= 0.5 + 1e-6
    noise = simulate.gaussian_noise("test", (200_000,), 100)
    assert abs(float(noise.mean())) < 1 and 98 < float(noise.std()) < 102


def test_real_files_unchanged() -> None:
    """The copies in examples/files are the files whose md5s the catalogue records."""
    for name, digest in REAL_MD5.items():
        path = FILES / name
        assert (tree_md5(path) if path.is_dir() else md5(path)) == digest, f"examples/files/{name} changed"
    # Only files whose licence allows it: not the GPL-3 test files, not the 33 MB EPU micrograph.
    assert sorted(p.name for p in FILES.iterdir()) == sorted(
        ["EMD-3197.map", "TS_01.mrc.mdoc", "epu-session", "epu-session.LICENSE-Apache-2.0.txt",
         "epu-session.NOTICE.md"])
    attributes = (EXAMPLES / ".gitattributes").read_text(encoding="ascii").splitlines()
    assert "* annex.largefiles=nothing" in attributes and "* -text" in attributes


def test_real_files_identical_to_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (no ../shared/realdata): the copies are checked by their md5s only")
    for name, source in REAL_SOURCES.items():
        copy, original = FILES / name, SHARED / source
        if original.is_dir():
            copies, originals = relative_files(copy), relative_files(original)
            assert sorted(copies) == sorted(originals), f"{name}: not the same files as {original}"
            for rel in originals:
                assert filecmp.cmp(copies[rel], originals[rel], shallow=False), f"{name}/{rel} differs"
        else:
            assert filecmp.cmp(copy, original, shallow=False), f"examples/files/{name} differs from {original}"
