"""Formats without a real file in ../shared/realdata, written here with their own libraries (tifffile, mrcfile):
EER movies, TIFF movies, TVIPS TIFF, gzip-compressed maps, IMOD tilt series; the header schema's new facts;
which files an entry previews; the EMPIAR label of compressed sets."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from types import SimpleNamespace

import mrcfile
import numpy as np
import pytest
import tifffile

from openem_build.data import gallery, headers, previews
from openem_build.data.previews import contrast, enlarge
from openem_build.records.model import ManifestFile
from openem_build.render import empiar

from .test_previews import decode_png

EER_XML = (b'<metadata><item name="numberOfFrames">5</item><item name="exposureTime" unit="s">2.5</item>'
           b'<item name="commercialName">Falcon 4i</item><item name="totalDose" unit="e/pixel">40.5</item>'
           b'<item name="serialNumber">1234</item></metadata>')


def _eer(path: Path, frames: int = 5, xml: bytes = EER_XML) -> Path:
    data = np.random.default_rng(0).integers(0, 2, (frames, 32, 48), dtype=np.uint8)
    tags = [(65001, 7, len(xml), xml, True)] if xml else []
    tifffile.imwrite(path, data, bigtiff=True, extratags=tags)
    return path


def test_eer_movie_gives_frames_size_and_its_xml_metadata(tmp_path: Path):
    facts = headers.extract(_eer(tmp_path / "movie.eer"))
    assert facts.type == "eer" and facts.problems == ()
    assert facts.data["image"] == {"dimensions": [48, 32, 5], "dtype": "uint8", "kind": "movie"}
    assert facts.acquisition == {"frames": 5, "exposure_time_s": 2.5, "detector": "Falcon 4i"}
    assert facts.data["eer"] == {"total_dose_e_per_pixel": 40.5, "serial_number": "1234"}
    assert headers.problems(headers.read_headers("movie.eer", tmp_path / "movie.eer")) == []
    wrong = headers.extract(_eer(tmp_path / "six.eer", frames=6))
    assert wrong.problems == ("the EER metadata say 5 frames, but the file holds 6 pages",)
    bare = headers.extract(_eer(tmp_path / "bare.eer", xml=b""))
    assert bare.problems[0].startswith("no EER metadata (tag 65001 holds no <metadata> XML)")
    (tmp_path / "text.eer").write_text("not a TIFF")
    assert headers.extract(tmp_path / "text.eer").problems[0].startswith("could not be read: TiffFileError")


def test_tiff_movie_and_its_middle_frame(tmp_path: Path):
    data = np.zeros((5, 20, 30), dtype=np.uint16)
    data[2, :, 15:] = 1000  # only the middle frame has a bright right half
    tifffile.imwrite(tmp_path / "movie.tif", data)
    facts = headers.extract(tmp_path / "movie.tif")
    assert facts.data["image"] == {"dimensions": [30, 20, 5], "dtype": "uint16", "kind": "image-stack"}
    assert facts.acquisition == {"frames": 5}
    (preview,), notes = previews.make_previews(tmp_path / "movie.tif")
    assert notes == [] and preview.caption == "movie.tif: frame 3 of 5"
    pixels = decode_png(preview.png)[0]
    assert (preview.width, preview.height) == (270, 180)  # 30 × 20 shown 9×
    assert pixels[:, : 15 * 9].max() == 0 and pixels[:, 15 * 9 :].min() == 255


def test_tvips_tiff_is_read_through_rosettasciio(tmp_path: Path):
    v1 = np.zeros(1, dtype=tifffile.TIFF.TVIPS_HEADER_V1)
    v1["Version"] = 2
    v2 = np.zeros(1, dtype=tifffile.TIFF.TVIPS_HEADER_V2)
    v2["Magic"], v2["TemHighTension"], v2["TemMagnification"] = 0xAAAAAAAA, 200000, 50000
    v2["PixelSizeX"] = v2["PixelSizeY"] = 0.25  # nm
    v2["CameraType"] = np.frombuffer("TemCam-F416".encode("utf-16-le").ljust(160, b"\0"), dtype="V160")
    blob = v1.tobytes() + v2.tobytes()
    data = np.random.default_rng(0).integers(0, 1000, (64, 80), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "t.tif", data, extratags=[(37706, 4, len(blob) // 4, blob, True)])
    facts = headers.extract(tmp_path / "t.tif")
    assert facts.data["vendor"] == "tvips" and facts.data["image"]["dimensions"] == [80, 64]
    acq = facts.acquisition
    assert (acq["acceleration_voltage_kV"], acq["magnification"], acq["camera"], acq["pixel_size_A"]) == (
        200.0, 50000, "TemCam-F416", 2.5)
    (preview,), _ = previews.make_previews(tmp_path / "t.tif")
    assert (preview.width, preview.height) == (320, 256)


def _volume(shape: tuple[int, int, int]) -> np.ndarray:
    return np.random.default_rng(1).normal(size=shape).astype(np.float32)


def test_gzip_map_is_read_streamed_and_previewed(tmp_path: Path):
    data = _volume((12, 14, 16))
    path = tmp_path / "emd_1.map.gz"
    with mrcfile.new(path, compression="gzip") as m:
        m.set_data(data)
        m.voxel_size = (1.5, 1.5, 3.0)
    facts = headers.extract(path)
    assert facts.type == "mrc" and facts.problems == ()
    assert facts.data["compression"] == "gzip" and facts.data["size_bytes"] == path.stat().st_size
    assert facts.data["mrc"]["voxel_size_A"] == [1.5, 1.5, 3.0]
    assert facts.data["image"] == {"dimensions": [16, 14, 12], "dtype": "float32", "kind": "volume"}
    made = {p.kind: p for p in previews.make_previews(path)[0]}
    assert np.array_equal(decode_png(made["XY"].png)[0], enlarge(np.flipud(contrast(data[6]))))
    assert np.array_equal(decode_png(made["YZ"].png)[0], enlarge(np.flipud(contrast(data[:, :, 8]))))


def test_damaged_compressed_maps_give_problems(tmp_path: Path):
    good = tmp_path / "a.map.gz"
    with mrcfile.new(good, compression="gzip") as m:
        m.set_data(_volume((8, 8, 8)))
        m.voxel_size = 2.0
    packed = good.read_bytes()
    cut = tmp_path / "cut.map.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    assert headers.extract(cut).problems == ()  # (the header is there; the data cannot be checked)
    made, notes = previews.make_previews(cut)
    assert made == [] and notes[0].startswith("no preview: reading the data failed")
    noise = tmp_path / "noise.mrc.bz2"
    noise.write_bytes(b"BZh9" + bytes(range(256)) * 4)
    assert headers.extract(noise).problems[0].startswith("cannot be read as bzip2-compressed data")
    assert previews.make_previews(noise)[0] == []
    # A header that claims a 2 GB extended header and 10^12 voxels: bounded reads, no preview, no exception.
    header = bytearray(gzip.decompress(packed)[:1024])
    header[0:12] = struct.pack("<3i", 10000, 10000, 10000)
    header[92:96] = struct.pack("<i", 2_000_000_000)
    liar = tmp_path / "liar.map.gz"
    liar.write_bytes(gzip.compress(bytes(header) + b"\0" * 4096))
    facts = headers.extract(liar)
    assert facts.data["mrc"]["dimensions"] == [10000, 10000, 10000]
    made, notes = previews.make_previews(liar)
    assert made == [] and "more than the" in notes[0]


def test_tilt_series_gives_a_montage_of_tilts(tmp_path: Path):
    data = np.zeros((12, 20, 20), dtype=np.float32)
    for z in range(12):
        data[z, :, : z + 2] = 1.0  # each tilt its own width of bright columns
    path = tmp_path / "ts.st"
    with mrcfile.new(path) as m:
        m.set_data(data)
        m.header.ispg = 0
    assert headers.extract(path).data["image"]["kind"] == "tilt-series"
    (preview,), notes = previews.make_previews(path)
    assert notes == [] and preview.kind == "montage"
    assert preview.caption == "ts.st: montage of 9 of 12 tilts (images 1, 2, 4, 5, 7, 8, 9, 11, 12)"
    pixels = decode_png(preview.png)[0]
    assert max(preview.width, preview.height) >= previews.MIN_PX
    # 3 × 3 tiles of 20 px with gaps of 2 px (64 px), enlarged 4×: tile 1 shows 2 bright columns, tile 2 three.
    assert (preview.width, preview.height) == (256, 256)
    assert pixels[:80, :8].min() == 255 and pixels[:80, 8:80].max() == 0 and pixels[:80, 80:88].max() == 0
    assert pixels[:80, 88:100].min() == 255 and pixels[:80, 100:168].max() == 0


@pytest.mark.parametrize("name", ["x.bcf", "x.dm4", "x.emd", "x.ser", "x.eer", "x.tif"])
def test_garbage_in_every_format_gives_problems_not_exceptions(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"\0\1garbage" * 100)
    facts = headers.extract(path)
    assert facts.type == headers.file_type(path) and facts.problems and facts.problems[0].startswith("could not")
    assert headers.problems(headers.sanitise(facts.as_json())) == []
    made, notes = previews.make_previews(path)
    assert made == [] and notes and notes[0].startswith("no preview")


def test_spectrum_plot_png_is_deterministic_and_has_no_metadata(tmp_path: Path):
    from openem_build.data import plots

    x = np.linspace(0, 1000, 500)
    pixels = plots.spectrum(x, np.exp(-x / 200), xlabel="Energy loss (eV)", ylabel="Counts", title="$x$ test")
    png = previews.encode_png(pixels)
    assert png == previews.encode_png(plots.spectrum(x, np.exp(-x / 200), xlabel="Energy loss (eV)",
                                                     ylabel="Counts", title="$x$ test"))
    assert decode_png(png)[1] == [b"IHDR", b"IDAT", b"IEND"] and pixels.shape == (400, 640)
    assert pixels.std() > 10


@pytest.mark.parametrize(("acquisition", "words"), [
    ({"dwell_time_us": -1}, "out of range"), ({"camera_length_mm": "550"}, "must be a number"),
    ({"exposure_time_s": 0}, "out of range"), ({"voxel_size_A": [1.0]}, "it must have at least 2"),
    ({"voxel_size_A": [1.0, 2.0, 3.0, 4.0]}, "it must have at most 3")])
def test_new_acquisition_facts_are_checked(acquisition: dict, words: str):
    (problem,) = headers.problems({"type": "dm", "acquisition": acquisition})
    assert words in problem[1]
    assert headers.sanitise({"type": "dm", "acquisition": acquisition})["problems"][0].startswith(
        f"header fact acquisition.{next(iter(acquisition))}")
    good = {"type": "dm", "acquisition": {"voxel_size_A": [0.8, 0.8, 1.6], "camera_length_mm": 550.0,
                                          "dwell_time_us": 3.5, "exposure_time_s": 0.02}}
    assert headers.problems(good) == []


def test_image_block_is_checked():
    assert headers.problems({"image": {"kind": "hologram"}})[0][1].startswith("'hologram' is not one of image")
    huge = {"type": "tiff", "image": {"dimensions": [10**6, 10**6, 10**6, 10], "kind": "image"}}
    assert headers.problems(huge) == [(("image", "dimensions"), "the dimensions multiply to 1e+19 voxels, more "
                                       "than 1e+15", False)]
    assert headers.sanitise(huge)["image"] == {"kind": "image"}


def test_entries_preview_new_formats_and_a_second_file_of_2d_sets():
    sets = [("maps", "maps", "map"), ("mics", "micrographs", "mrc"), ("eels", "spectra", "dm4"),
            ("tia", "micrographs", "ser")]
    paths = ["maps/a.map.gz", "mics/m1.mrc", "mics/m2.mrc", "mics/m3.mrc", "eels/s1.dm4", "eels/s2.dm4",
             "tia/x.emi", "tia/x_1.ser"]
    assert gallery.choose(sets, paths, lambda p: True) == [
        "maps/a.map.gz", "mics/m1.mrc", "tia/x_1.ser", "eels/s1.dm4", "mics/m2.mrc", "eels/s2.dm4"]


def test_empiar_labels_compressed_sets_as_such():
    files = [ManifestFile("maps/a.map.gz"), ManifestFile("maps/b.map.gz")]
    assert empiar.compression_of(files) == "GZIP"
    assert empiar.compression_of([*files, ManifestFile("maps/c.map")]) is None

    image_set = SimpleNamespace(directory="maps", format="map")
    manifest = SimpleNamespace(files=(*files, ManifestFile("maps/notes.txt")))
    assert [f.path for f in empiar.set_files(manifest, image_set)] == ["maps/a.map.gz", "maps/b.map.gz"]


def test_previews_json_keeps_the_caption(tmp_path: Path):
    path = tmp_path / "content" / "maps" / "m.map"
    path.parent.mkdir(parents=True)
    with mrcfile.new(path) as m:
        m.set_data(_volume((6, 6, 6)))
    doc, notes = gallery.generate(tmp_path / "content", ["maps/m.map"], tmp_path / "out")
    assert notes == [] and doc["previews"][0]["caption"] == "maps/m.map: central XY slice, Z = 4 of 6"
    assert json.loads(gallery.dumps(doc)) == doc


def test_the_image_set_says_what_an_mrc_stack_is(tmp_path: Path):
    """An .mrc image stack in a tilt-series set gets a montage, in a volume-images set (serial block-face)
    central slices and a projection; elsewhere its middle image."""
    path = tmp_path / "stack.mrc"
    with mrcfile.new(path) as m:
        m.set_data(_volume((10, 16, 16)))
        m.header.ispg = 0
    assert [p.kind for p in previews.make_previews(path)[0]] == ["image"]
    assert [p.kind for p in previews.make_previews(path, category="tilt-series")[0]] == ["montage"]
    assert [p.kind for p in previews.make_previews(path, category="volume-images")[0]] == [
        "XY", "XZ", "YZ", "projection"]
    (tmp_path / "entry").mkdir()
    content = tmp_path / "content"
    (content / "ts").mkdir(parents=True)
    path.rename(content / "ts" / "TS_01.mrc")
    made, notes = gallery.write(tmp_path / "entry", content, [("ts", "tilt-series", "mrc")], ["ts/TS_01.mrc"])
    listing = json.loads((tmp_path / "entry" / "previews.json").read_text("utf-8"))
    assert made == ["ts/TS_01.mrc"] and [p["kind"] for p in listing["previews"]] == ["montage"]


def test_montage_caption_names_the_tilt_angles_of_the_mdoc_beside(tmp_path: Path):
    from .test_instrument_metadata import tilt_series_mdoc

    angles = [0.0, 3.0, -3.0, -6.0, 6.0]
    path = tmp_path / "TS_01.mrc"
    with mrcfile.new(path) as m:
        m.set_data(_volume((5, 16, 16)))
        m.header.ispg = 0
    (tmp_path / "TS_01.mrc.mdoc").write_text(tilt_series_mdoc(tilts=angles), encoding="utf-8")
    (preview,), _ = previews.make_previews(path, category="tilt-series")
    assert preview.caption == ("TS_01.mrc: montage of 5 of 5 tilts, from \N{MINUS SIGN}5.99° to +5.99° "
                               "(tilts -0.01°, 3.01°, -3.01°, -5.99°, 5.99°)")


def test_an_entry_montage_takes_the_angles_of_its_own_mdoc_only(tmp_path: Path):
    """An mdoc beside the tilt series (an annexed file is a link into the dataset) labels the montage; one that
    links out of the dataset is not read."""
    from .test_instrument_metadata import tilt_series_mdoc

    content = tmp_path / "content"
    (content / "ts").mkdir(parents=True)
    (content / ".store").mkdir()
    with mrcfile.new(content / "ts" / "TS_01.mrc") as m:
        m.set_data(_volume((5, 16, 16)))
    text = tilt_series_mdoc(tilts=[0.0, 3.0, -3.0, -6.0, 6.0])
    outside = tmp_path / "elsewhere.mdoc"
    outside.write_text(text, encoding="utf-8")
    (content / "ts" / "TS_01.mrc.mdoc").symlink_to(outside)
    paths = ["ts/TS_01.mrc", "ts/TS_01.mrc.mdoc"]
    sets = [("ts", "tilt-series", "mrc")]
    (tmp_path / "entry").mkdir()

    def caption() -> str:
        gallery.write(tmp_path / "entry", content, sets, paths)
        return json.loads((tmp_path / "entry" / "previews.json").read_text("utf-8"))["previews"][0]["caption"]

    assert caption().endswith("(images 1, 2, 3, 4, 5)")
    (content / ".store" / "x.mdoc").write_text(text, encoding="utf-8")
    (content / "ts" / "TS_01.mrc.mdoc").unlink()
    (content / "ts" / "TS_01.mrc.mdoc").symlink_to("../.store/x.mdoc")
    assert caption().endswith("(tilts -0.01°, 3.01°, -3.01°, -5.99°, 5.99°)")
