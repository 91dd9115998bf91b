"""Previews of an entry (openem_build.data.gallery): choosing files, deterministic PNGs and previews.json, loading the
list, the landing page's figures and the JSON-LD ``image``/``thumbnailUrl``."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from bs4 import BeautifulSoup
from mkdocs.exceptions import PluginError

from openem_build.data import gallery
from openem_build.data import previews as P
from openem_build.records.load import load_catalogue
from openem_build.records.problems import ERROR, WARNING
from openem_build.site.build import build_site

from .conftest import EXAMPLE, ROOT

ENTRY = f"datasets/{EXAMPLE}"


def _volume(path: Path, shape: tuple[int, int, int], voxel: float, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    ball = ((z - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 + (x - shape[2] / 2) ** 2 < (min(shape) / 3) ** 2)
    noise = np.random.default_rng(seed).normal(scale=0.2, size=shape).astype(np.float32)
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(ball.astype(np.float32) + noise)
        m.voxel_size = voxel


def _image(path: Path, shape: tuple[int, int], voxel: float, seed: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.random.default_rng(seed).normal(size=shape).astype(np.float32))
        m.voxel_size = voxel


@pytest.fixture
def content(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    _volume(data / "maps" / "map_full.mrc", (20, 24, 28), 1.1)
    _volume(data / "maps" / "map_half1.mrc", (20, 24, 28), 1.1, seed=2)
    _image(data / "micrographs" / "mic_0001.mrc", (40, 48), 0.73)
    (data / "movies").mkdir()  # (movies/m.eer is listed, but its content is not here: not fetched)
    return data


SETS = [("movies", "movies", "eer"), ("micrographs", "micrographs", "mrc"), ("maps", "maps", "mrc")]
PATHS = ["maps/map_full.mrc", "maps/map_half1.mrc", "micrographs/mic_0001.mrc", "movies/m.eer"]


def test_choose_takes_the_first_file_of_each_set_maps_first_and_only_local_content():
    assert gallery.choose(SETS, PATHS, lambda p: True) == ["maps/map_full.mrc", "micrographs/mic_0001.mrc",
                                                           "movies/m.eer"]
    assert gallery.choose(SETS, PATHS, lambda p: p not in ("maps/map_full.mrc", "movies/m.eer")) == [
        "maps/map_half1.mrc", "micrographs/mic_0001.mrc"]
    assert gallery.choose(SETS, PATHS, lambda p: False) == []
    many = [(f"t{i}", "tomograms", "rec") for i in range(5)]
    assert gallery.choose(many, [f"t{i}/a.rec" for i in range(5)], lambda p: True, limit=3) == [
        "t0/a.rec", "t1/a.rec", "t2/a.rec"]
    assert gallery.stem("maps/a b/ç.mrc") == "maps--a_b--_.mrc"


def test_previews_are_written_with_the_entry_and_regenerated_byte_identically(catalogue: Path, content: Path):
    folder = catalogue / ENTRY
    made, notes = gallery.write(folder, content, SETS, PATHS, "a" * 40)
    assert made == ["maps/map_full.mrc", "micrographs/mic_0001.mrc"] and notes == []
    first = {p.name: p.read_bytes() for p in sorted((folder / "previews").iterdir())}
    listing = (folder / "previews.json").read_text("utf-8")
    assert sorted(first) == ["maps--map_full.mrc.projection.png", "maps--map_full.mrc.xy.png",
                             "maps--map_full.mrc.xz.png", "maps--map_full.mrc.yz.png",
                             "micrographs--mic_0001.mrc.image.png"]
    doc = json.loads(listing)
    assert doc["commit"] == "a" * 40
    assert doc["previews"][-1] == {
        "file": "micrographs--mic_0001.mrc.image.png", "kind": "image", "width": 288, "height": 240,
        "bytes": len(first["micrographs--mic_0001.mrc.image.png"]),
        "alt": "The image micrographs/mic_0001.mrc (48 × 40 pixels of 0.73 Å).", "source": "micrographs/mic_0001.mrc",
        "caption": "micrographs/mic_0001.mrc: image"}
    # Again: the same bytes, and nothing left over from the first run (no staging folders).
    gallery.write(folder, content, SETS, PATHS, "a" * 40)
    assert {p.name: p.read_bytes() for p in sorted((folder / "previews").iterdir())} == first
    assert (folder / "previews.json").read_text("utf-8") == listing
    assert sorted(p.name for p in folder.iterdir()) == sorted({"dataset.yaml", "previews", "previews.json"} | {
        name for name in ("manifest.json",) if (ROOT / ENTRY / name).exists()})
    # Without local content the previews are kept as they are.
    assert gallery.write(folder, content, [("movies", "movies", "eer")], PATHS) == (None, [])
    assert (folder / "previews.json").read_text("utf-8") == listing


def test_loading_reads_the_list_and_reports_what_is_wrong(catalogue: Path, content: Path):
    folder = catalogue / ENTRY
    gallery.write(folder, content, SETS, PATHS)
    d = load_catalogue(catalogue).catalogue.by_id[EXAMPLE]
    assert [(p.file, p.kind, p.width, p.height, p.source) for p in d.previews][-2:] == [
        ("maps--map_full.mrc.projection.png", "projection", 280, 240, "maps/map_full.mrc"),
        ("micrographs--mic_0001.mrc.image.png", "image", 288, 240, "micrographs/mic_0001.mrc")]
    assert d.previews[0].caption == "maps/map_full.mrc — central XY slice"

    doc = json.loads((folder / "previews.json").read_text("utf-8"))
    doc["previews"][1]["file"] = "../../escape.png"
    (folder / "previews" / doc["previews"][2]["file"]).unlink()
    (folder / "previews.json").write_text(gallery.dumps(doc), encoding="utf-8")
    previews, problems = gallery.read(folder, catalogue)
    assert len(previews) == 3
    shown = f"{ENTRY}/previews.json"
    hint = f"regenerate the previews with `openem manifest {EXAMPLE}` instead of editing previews.json by hand"
    assert [(p.path, p.line, p.col, p.field, p.severity, p.message, p.hint) for p in problems] == [
        (shown, 6, 14, "previews[1].file", ERROR, "file '../../escape.png' is not the name of a PNG file in "
         "previews/ (letters, digits, '.', '_' and '-', ending in .png, each listed once)", hint),
        (shown, 7, 14, "previews[2].file", WARNING, f"{ENTRY}/previews/maps--map_full.mrc.yz.png is missing (or its "
         "content is not present); the page leaves the preview out", hint),
    ]
    result = load_catalogue(catalogue)
    assert not result.ok and EXAMPLE not in result.catalogue.by_id
    (folder / "previews.json").write_text("{oops", encoding="utf-8")
    assert [p.text() for p in gallery.read(folder, catalogue)[1]] == [
        f"{shown}:1:2: not valid JSON: Expecting property name enclosed in double quotes — {hint}"]


def test_landing_page_shows_the_previews_and_json_ld_lists_them(catalogue: Path, content: Path, tmp_path: Path):
    gallery.write(catalogue / ENTRY, content, SETS, PATHS)
    site = build_site(catalogue, tmp_path / "site")
    page = BeautifulSoup((site / "datasets" / EXAMPLE / "index.html").read_text("utf-8"), "lxml")
    section = page.select_one('section[aria-labelledby="previews"]')
    assert section is not None and section.h2.get_text() == "Previews"
    figures = section.select("figure")
    assert len(figures) == 5
    img = figures[-1].img
    assert (img["src"], img["width"], img["height"]) == ("previews/micrographs--mic_0001.mrc.image.png", "288", "240")
    assert img["alt"] == "The image micrographs/mic_0001.mrc (48 × 40 pixels of 0.73 Å)."
    assert figures[-1].figcaption.get_text() == "micrographs/mic_0001.mrc — image"
    for fig in figures:
        built = site / "datasets" / EXAMPLE / fig.img["src"]
        assert built.read_bytes() == (catalogue / ENTRY / fig.img["src"]).read_bytes()

    ld = json.loads((site / "datasets" / EXAMPLE / "metadata.jsonld").read_text("utf-8"))
    base = ld["url"]
    assert ld["thumbnailUrl"] == base + "thumbnails/320.png"  # (the representative preview, render/thumbs.py)
    assert ld["image"][0]["contentUrl"] == base + "previews/maps--map_full.mrc.xy.png"
    assert ld["image"][-1] == {"@type": "ImageObject",
                               "contentUrl": base + "previews/micrographs--mic_0001.mrc.image.png",
                               "caption": "The image micrographs/mic_0001.mrc (48 × 40 pixels of 0.73 Å).",
                               "encodingFormat": "image/png", "width": 288, "height": 240}
    head = page.find("script", type="application/ld+json")
    assert json.loads(head.string)["thumbnailUrl"] == ld["thumbnailUrl"]
    # Entries without previews have no section and no image in their JSON-LD.
    other = next(p for p in (site / "datasets").iterdir() if p.name != EXAMPLE and (p / "metadata.jsonld").exists())
    assert "image" not in json.loads((other / "metadata.jsonld").read_text("utf-8"))


def _png_with(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (P.PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_every_listed_preview_image_is_checked(catalogue: Path, content: Path, tmp_path: Path):
    """Each listed PNG must be what previews.json says: a regular file of the recorded size, at most
    MAX_PNG_BYTES, a whole PNG image of the recorded width and height. Anything else is an error located at its
    entry; and the build checks each file again as it copies it."""
    folder = catalogue / ENTRY
    gallery.write(folder, content, SETS, PATHS)
    assert [p for p in gallery.read(folder, catalogue)[1]] == []
    doc = json.loads((folder / "previews.json").read_text("utf-8"))
    names = [p["file"] for p in doc["previews"]]
    image = folder / "previews" / names[-1]  # the micrograph's, 48 × 40 shown 6× (288 × 240)
    good = image.read_bytes()
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    bomb = _png_with(48, 40, b"\0" * (20 << 20))  # (20 MiB of image data in a 48 × 40 image)

    def problems_after(change) -> list[str]:
        current = json.loads(json.dumps(doc))
        change(current)
        (folder / "previews.json").write_text(gallery.dumps(current), encoding="utf-8")
        previews, found = gallery.read(folder, catalogue)
        image.unlink()
        image.write_bytes(good)
        assert len(previews) == len(names) - len(found)
        return [f"{p.field}: {p.message}" for p in found if p.severity == ERROR]

    where = f"previews[{len(names) - 1}].file: {ENTRY}/previews/{names[-1]}"
    shown = problems_after(lambda d: d["previews"][-1].update(bytes=10))
    assert shown == [f"{where} is {len(good):,} bytes, but previews.json records 10"]
    shown = problems_after(lambda d: d["previews"][-1].update(width=50))
    assert shown == [f"{where} is 288 × 240 pixels, but previews.json records 50 × 240"]

    def replace(data: bytes, size: int | None = None):
        def change(d: dict) -> None:
            image.write_bytes(data)
            if size is not None:
                os.truncate(image, size)
            d["previews"][-1]["bytes"] = os.path.getsize(image) if size is None else 10
        return change

    assert problems_after(replace(html)) == [f"{where} is not a PNG image (it does not start with the PNG "
                                             "signature)"]
    assert problems_after(replace(b"\0" * 16, 300 << 20)) == [  # 300 MiB of zeros (sparse) recorded as 10 bytes
        f"{where} is 314,572,800 bytes, more than the {P.MAX_PNG_BYTES:,} a preview may be"]
    assert problems_after(replace(bomb)) == [f"{where} is a PNG image whose data decompress to more than its size "
                                             "(a decompression bomb)"]
    assert problems_after(replace(good[:-20] + good[-12:])) == [f"{where} is a damaged PNG image (chunk "
                                                                "b'IDAT' fails its check)"]

    def fifo(d: dict) -> None:
        image.unlink()
        os.mkfifo(image)
    assert problems_after(fifo) == [f"{where} is not a regular file"]  # (and reading it did not block)

    # What the build publishes is what was checked: a file changed after validation stops it.
    (folder / "previews.json").write_text(gallery.dumps(doc), encoding="utf-8")
    loaded = load_catalogue(catalogue)
    assert loaded.ok
    assert gallery.copy_to_site(loaded.catalogue, tmp_path / "site") == sum(len(d.previews) for d in
                                                                          loaded.catalogue.datasets)
    assert (tmp_path / "site" / ENTRY / "previews" / names[-1]).read_bytes() == good
    image.write_bytes(html)
    with pytest.raises(PluginError, match=f"{ENTRY}/previews/{names[-1]} is not a PNG image"):
        gallery.copy_to_site(loaded.catalogue, tmp_path / "again")
    image.unlink()
    image.symlink_to("/etc/passwd")
    with pytest.raises(PluginError, match="cannot be read"):
        gallery.copy_to_site(loaded.catalogue, tmp_path / "again")
