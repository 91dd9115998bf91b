"""Every real instrument file in ../shared/realdata/: its header facts agree with the reference reader of its
format (mrcfile, RosettaSciIO, mdocfile) and it gets a preview that shows something (at least 256 px, not
blank; for maps, the data's own central slices and projection). Damaged copies of each give problems, never an
exception."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from openem_build.data import headers, previews
from openem_build.data.previews import contrast, enlarge

from .conftest import ROOT
from .test_previews import decode_png

REALDATA = ROOT.parent / "shared" / "realdata"
pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared is absent (no ../shared/realdata): the "
                                "real instrument files are not there to read")


def _files(*types: str) -> list[Path]:
    if not REALDATA.is_dir():
        return []
    return sorted(p for p in REALDATA.rglob("*") if p.is_file() and headers.file_type(p) in types)


MRC = _files("mrc")
RSCIIO = _files("dm", "emd", "tia", "tiff", "bcf")
MDOC = _files("mdoc")
PREVIEWED = [p for p in MRC + RSCIIO if p.suffix != ".emi"]
_LENGTH = {"m": 1e10, "mm": 1e7, "µm": 1e4, "um": 1e4, "nm": 10.0}


def _name(p: Path) -> str:
    return p.name


# ------------------------------------------------------------------------------------------ header facts

@pytest.mark.parametrize("path", MRC, ids=_name)
def test_mrc_headers_agree_with_mrcfile(path: Path):
    import mrcfile

    facts = headers.extract(path)
    assert facts.type == "mrc" and facts.problems == ()
    with mrcfile.open(path, permissive=True, header_only=True) as m:  # (mrcfile opens .gz and .bz2 itself)
        h = m.header
        dims = [int(h.nx), int(h.ny), int(h.nz)]
        voxel = [float(m.voxel_size.x), float(m.voxel_size.y), float(m.voxel_size.z)]
        ext = m.indexed_extended_header if int(h.nsymbt) else None
        dtype = str(mrcfile.utils.dtype_from_mode(h.mode))
    assert facts.data["mrc"]["dimensions"] == dims
    assert facts.data["image"]["dimensions"] == (dims[:2] if dims[2] == 1 else dims)
    assert facts.data["image"]["dtype"] == facts.data["mrc"]["dtype"] == dtype
    for ours, theirs in zip(facts.data["mrc"]["voxel_size_A"], voxel, strict=True):
        assert ours is None and theirs == 0 or math.isclose(ours, theirs, rel_tol=1e-5)
    if path.name.endswith(".bz2"):
        assert facts.data["compression"] == "bzip2" and facts.data["size_bytes"] == path.stat().st_size
    if ext is not None and len(ext):
        rec = ext[0]
        acq = facts.acquisition
        assert acq["acceleration_voltage_kV"] == pytest.approx(float(rec["HT"]) / 1000)
        assert acq["pixel_size_A"] == pytest.approx(float(rec["Pixel size X"]) * 1e10, rel=1e-5)
        assert acq["magnification"] == round(float(rec["Magnification"]))
        assert acq["dose_e_per_A2"] == pytest.approx(float(rec["Dose"]) * 1e-20, rel=1e-3)


def _hyperspy_metadata(signal: dict) -> dict:
    """HyperSpy's metadata of a RosettaSciIO signal: the mapping applied (written here independently)."""
    out: dict = {}
    for source, (target, convert) in (signal.get("mapping") or {}).items():
        node = signal["original_metadata"]
        for part in source.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        try:
            value = convert(node) if convert else node
        except Exception:
            continue
        if value is None:
            continue
        here = out
        for part in target.split(".")[:-1]:
            here = here.setdefault(part, {})
        here[target.split(".")[-1]] = value
    return out


@pytest.mark.parametrize("path", RSCIIO, ids=_name)
def test_rosettasciio_formats_agree_with_rosettasciio(path: Path):
    from openem_build.data import rsciio

    facts = headers.extract(path)
    assert facts.problems == (), facts.problems
    assert headers.problems(headers.sanitise(facts.as_json())) == []
    signal = rsciio.plugin(path).file_reader(str(path), lazy=True)[0]
    image = facts.data["image"]
    assert image["dimensions"] == list(reversed(signal["data"].shape))
    assert image["dtype"] == str(signal["data"].dtype)
    spatial = [a for a in reversed(signal["axes"]) if a.get("units") in _LENGTH]
    acq = facts.acquisition
    if spatial:
        expected = [abs(float(a["scale"])) * _LENGTH[a["units"]] for a in spatial]
        assert acq["voxel_size_A"] == pytest.approx(expected, rel=1e-5)
        assert acq["pixel_size_A"] == pytest.approx(expected[0], rel=1e-5)
    else:
        assert "pixel_size_A" not in acq and "voxel_size_A" not in acq
    meta = _hyperspy_metadata(signal).get("Acquisition_instrument", {})
    scope = meta.get("TEM") or meta.get("SEM") or {}
    if "beam_energy" in scope:
        assert acq["acceleration_voltage_kV"] == pytest.approx(float(scope["beam_energy"]))
    if "camera_length" in scope:
        assert acq["camera_length_mm"] == pytest.approx(float(scope["camera_length"]))
    if "dwell_time" in scope:
        assert acq["dwell_time_us"] == pytest.approx(float(scope["dwell_time"]) * 1e6)
    if isinstance(scope.get("magnification"), float | int):
        assert acq["magnification"] == round(scope["magnification"])
    if scope.get("microscope"):
        assert acq["microscope"] == " ".join(str(scope["microscope"]).split())


def test_known_values_of_the_real_files():
    """What the files' README says they are, read back."""
    emd = headers.extract(REALDATA / "materials/fei_emd_image.emd")
    assert (emd.type, emd.data["image"]["kind"], emd.acquisition["acceleration_voltage_kV"],
            emd.acquisition["detector"]) == ("emd", "image", 200.0, "HAADF")
    emi = headers.extract(REALDATA / "materials/64x64_TEM_images_acquire.emi").acquisition
    assert emi["acceleration_voltage_kV"] == 200.0 and emi["camera"] == "WA-Orius"
    assert emi["exposure_time_s"] == 0.0625 and emi["magnification"] == 19500
    si = headers.extract(REALDATA / "materials/EELS_SI.dm4")
    assert si.data["image"]["kind"] == "spectrum-image" and si.data["image"]["signal_type"] == "EELS"
    assert si.acquisition["camera_length_mm"] == 550.0 and si.acquisition["detector"] == "GIF Quantum ER"
    eels = headers.extract(REALDATA / "materials/test-EELS_spectrum.dm3").data["image"]
    assert eels["kind"] == "spectrum" and eels["axes"][0]["units"] == "eV"
    zeiss = headers.extract(REALDATA / "materials/test_tiff_Zeiss_SEM_512pix.tif")
    assert (zeiss.data["vendor"], zeiss.acquisition["magnification"], zeiss.acquisition["detector"]) == (
        "zeiss", 50000, "InLens")
    fei = headers.extract(REALDATA / "materials/FEI-Helios-Ebeam-16bits.tif")
    assert (fei.data["vendor"], fei.acquisition["acceleration_voltage_kV"], fei.acquisition["dwell_time_us"],
            fei.acquisition["detector"]) == ("fei", 5.0, 10.0, "ETD")
    stem = headers.extract(REALDATA / "materials/test_STEM_image.dm3").acquisition
    assert stem["dwell_time_us"] == 3.5 and stem["pixel_size_A"] == pytest.approx(2.48538)


@pytest.mark.parametrize("path", MDOC, ids=_name)
def test_mdoc_headers_agree_with_mdocfile(path: Path):
    mdocfile = pytest.importorskip("mdocfile", reason="mdocfile (test extra) is not installed")
    facts = headers.extract(path)
    df = mdocfile.read(path)
    acq = facts.acquisition
    if facts.data["mdoc"]["section_type"] == "ZValue":  # (mdocfile gives the global section a row of its own)
        df = df[df["ZValue"].notna()]
    assert facts.data["mdoc"]["sections"] == len(df)
    if "PixelSpacing" in df and df["PixelSpacing"].notna().all() and "pixel_size_A" in acq:
        assert acq["pixel_size_A"] == pytest.approx(float(df["PixelSpacing"].iloc[0]))
    if "Magnification" in df and "magnification" in acq:
        assert acq["magnification"] == round(float(df["Magnification"].iloc[0]))
    if "tilt_angles_deg" in acq:
        assert acq["tilt_angles_deg"] == pytest.approx([round(float(t), 2) for t in df["TiltAngle"]], abs=0.01)
    if "NumSubFrames" in df and "frames" in acq:
        assert acq["frames"] == int(df["NumSubFrames"].iloc[0])


# ------------------------------------------------------------------------------------------ previews

@pytest.mark.parametrize("path", PREVIEWED, ids=_name)
def test_every_file_gets_a_preview_that_shows_something(path: Path):
    made, notes = previews.make_previews(path)
    assert made and notes == []
    for p in made:
        pixels = decode_png(p.png)[0]
        assert pixels.shape == (p.height, p.width) and max(p.width, p.height) >= previews.MIN_PX
        assert pixels.std() > 1.0, f"{p.kind} preview of {path.name} is blank"
        assert p.caption.startswith(path.name) and p.alt
    assert previews.make_previews(path)[0] == made  # (the same bytes again)


@pytest.mark.parametrize("path", [p for p in MRC if headers.extract(p).data["image"]["kind"] == "volume"],
                         ids=_name)
def test_map_previews_are_the_data_s_central_slices(path: Path):
    import mrcfile

    with mrcfile.open(path, permissive=True) as m:
        data = np.asarray(m.data, dtype=np.float32)
    nz, ny, nx = data.shape
    expected = {"XY": data[nz // 2], "XZ": data[:, ny // 2, :], "YZ": data[:, :, nx // 2],
                "projection": data.sum(axis=0, dtype=np.float64)}
    made = {p.kind: p for p in previews.make_previews(path)[0]}
    assert sorted(made) == sorted(expected)
    for kind, plane in expected.items():
        want = enlarge(np.flipud(contrast(plane)))
        assert np.array_equal(decode_png(made[kind].png)[0], want), kind
    assert made["XY"].caption == f"{path.name}: central XY slice, Z = {nz // 2 + 1} of {nz}"


def test_spectrum_image_gets_a_sum_spectrum_and_a_map():
    made, _ = previews.make_previews(REALDATA / "materials/EELS_SI.dm4")
    assert [p.kind for p in made] == ["spectrum", "map"]
    assert "sum spectrum of 4 positions" in made[0].caption
    assert (made[1].width, made[1].height) == (256, 256)  # 2 × 2 positions, each a 128-pixel square
    pixels = decode_png(made[1].png)[0]
    assert len(np.unique(pixels[::128, ::128])) > 1 and (pixels[:128, :128] == pixels[0, 0]).all()


# ------------------------------------------------------------------------------------------ damaged copies

def _damaged(path: Path, tmp: Path) -> list[Path]:
    data = path.read_bytes()
    out = []
    for name, body in (("half", data[: len(data) // 2]), ("head", data[:100]), ("empty", b""),
                       ("noise", np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()),
                       ("flipped", data[:64] + bytes(b ^ 0xFF for b in data[64:600]) + data[600:])):
        target = tmp / name / path.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(body)
        out.append(target)
    return out


@pytest.mark.parametrize("path", MRC + RSCIIO, ids=_name)
def test_damaged_copies_give_problems_not_exceptions(path: Path, tmp_path: Path):
    for copy in _damaged(path, tmp_path):
        if path.suffix == ".ser":  # (the .emi beside it is read with it)
            shutil.copy(path.with_name("64x64_TEM_images_acquire.emi"), copy.parent)
        facts = headers.extract(copy)
        kept = headers.sanitise(facts.as_json())
        assert kept is None or headers.problems(kept) == []
        made, notes = previews.make_previews(copy)
        if copy.parent.name in ("empty", "noise", "head"):
            assert facts.problems, (copy.parent.name, facts)
            assert not made and notes
