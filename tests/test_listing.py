"""What `openem add` works out in passes over a file list (openem_build/listing.py) equals what it worked out
from the whole list in memory: image-set guesses, set members' counts, first files and pixel sizes, the
``dataset.yaml`` stub, the choice of previews and ``manifest.json``, byte for byte. Random file lists compare the
two ways; a real add of a plain folder (DataLad, git-annex, MRC files with headers) compares its entry with
the one the in-memory path makes from the same dataset."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from openem_build.authoring import entryfiles as A
from openem_build.authoring import listing
from openem_build.authoring.add import add_dataset
from openem_build.authoring.entryfiles import stub_text
from openem_build.data import annex, gallery, ingest, spill
from openem_build.data.headers import read_headers
from openem_build.records import manifest as M
from openem_build.records.model import Manifest

from .annex_helpers import catalogue, data_folder, write_mrc
from .test_instrument_metadata import epu_xml, tilt_series_mdoc

FOLDERS = ["maps", "Movies", "tilts/TS_01", "tilts/TS_02", "vol", "frames/a", "frames/b", "metadata", "micrographs",
           "tomograms", "x.zarr", "Aligned"]
NAMES = ["a.mrc", "B.MRC", "c.mrc.gz", "d.tif", "e.tiff", "f.ome.tiff", "g.eer", "h.mdoc", "i.xml", "j.txt",
         "k.zarr/0/0", "l.ome.zarr/.zattrs", "m.rec", "n.st", "o.map", "p.img", "q.mrcs", "r.star"]
PIXELS = [None, 0.5, 1.0, 1.1, 0, 2.2]


def _headers(rng: random.Random) -> dict | None:
    kind = rng.randrange(4)
    value = rng.choice(PIXELS)
    if kind == 0 or value is None:
        return None
    if kind == 1:
        return {"mrc": {"voxel_size_A": [value, value, value], "kind": "image"}}
    if kind == 2:
        return {"acquisition": {"pixel_size_A": value}, "type": "mrc"}
    return {"mrc": {"voxel_size_A": [value, value * 2, 1]}}


def _spill(tmp: Path, rng: random.Random, n: int) -> spill.Spill:
    """The rows of a random dataset of about ``n`` files, as `openem add` leaves them."""
    paths = set()
    while len(paths) < n:
        where = rng.choice([*FOLDERS, "", "", "deep/er/still"])
        name = rng.choice(NAMES).replace("a.", f"a{rng.randrange(5)}.")
        paths.add(f"{where}/{name}" if where else name)
    rows = spill.Spill(tmp / f"rows-{rng.random()}.sqlite")
    rows.add_sources(ingest.Source(p, 100 + i, 0, i, 0) for i, p in enumerate(sorted(paths)))
    rows.set_reads(ingest.Read(p, 0, f"{i:032x}", _headers(rng)) for i, p in enumerate(sorted(paths)))
    rows.set_keys((f"MD5E-s{100 + i}--{i:032x}", "l", p) for i, p in enumerate(sorted(paths)))
    return rows


@pytest.mark.parametrize("seed", range(40))
def test_passes_over_a_listing_give_what_the_whole_list_gives(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rows = _spill(tmp_path, rng, rng.choice([1, 5, 30, 120]))
    streamed = spill.Listing(rows, "a" * 40, "1" * 8 + "-1111-1111-1111-" + "1" * 12)
    manifest = Manifest(tuple(streamed.files()), streamed.commit, streamed.datalad_id)
    assert [f.path for f in manifest.files] == sorted(f.path for f in manifest.files)
    assert (streamed.count, streamed.total_size) == (len(manifest.files), manifest.total_size)
    guessed = M.guess_image_sets(manifest)
    for limit in (200, 2):
        assert listing.guess_image_sets(streamed, limit) == M.guess_image_sets(manifest, limit)
        assert listing.guess_image_sets(listing.MemoryListing(manifest), limit) == M.guess_image_sets(manifest, limit)
    sets = [(s.directory, s.format) for s in guessed] + [(d, f) for d in (".", "tilts", "x.zarr", "frames/a")
                                                         for f in ("mrc", "zarr", "ome-zarr", None, "tiff")]
    for (directory, fmt), facts in zip(sets, listing.set_facts(streamed, sets), strict=True):
        members = M.set_members(manifest, directory, fmt)
        assert facts.count == len(members), (directory, fmt)
        assert facts.first == (members[0] if members else None), (directory, fmt)
        if fmt not in M.FOLDER_FORMATS:
            assert facts.pixel == A.header_pixel_size(manifest, members), (directory, fmt)
    # The stub and the previews' choice: the same text and files from the rows as from the manifest.
    assert stub_text("x-dataset", streamed, None) == stub_text("x-dataset", manifest, None)
    infos = [(s.directory, s.category, s.format) for s in guessed]
    available = [lambda p: True, lambda p: rng.random() < 0.5 or p.endswith("0.mrc")]
    for ok in available:
        picks = {p: ok(p) for p in (f.path for f in manifest.files)}
        assert (gallery.choose_under(infos, streamed.under, picks.__getitem__)
                == gallery.choose(infos, [f.path for f in manifest.files], picks.__getitem__))
    # manifest.json, written from the rows as they come.
    out = tmp_path / "manifest.json"
    M.write_sorted(out, streamed.commit, streamed.datalad_id, streamed.files())
    assert out.read_text("utf-8") == M.dumps(manifest)
    rows.close()


def test_an_empty_listing_writes_an_empty_manifest(tmp_path: Path) -> None:
    out = tmp_path / "manifest.json"
    M.write_sorted(out, "a" * 40, None, iter(()))
    assert out.read_text("utf-8") == M.dumps(Manifest((), "a" * 40, None))


def test_a_plain_folder_gives_the_entry_the_whole_list_gave(tmp_path: Path) -> None:
    """`openem add` of a plain folder, from its rows on disk: manifest.json, dataset.yaml and previews are what
    the listing of the new dataset in memory (the way every entry was made before) gives."""
    source = data_folder(tmp_path / "session")
    for i in range(3):
        write_mrc(source / "Movies" / f"grid{i}" / f"m_{i}.mrc", (4, 8, 8), 0.83, i)
    for i in (1, 2):  # (EPU and SerialEM metadata: the pre-fill's other sources)
        (source / "metadata" / f"FoilHole_{i}_Data.xml").parent.mkdir(exist_ok=True)
        (source / "metadata" / f"FoilHole_{i}_Data.xml").write_text(epu_xml(defocus=f"-{0.4 + 0.8 * i:.1f}E-06"))
    (source / "serialem").mkdir()
    (source / "serialem" / "TS_01.mrc.mdoc").write_text(tilt_series_mdoc(pixel="0.73"))
    (source / "notes" / "a.txt").parent.mkdir()
    (source / "notes" / "a.txt").write_text("x")
    (source / "z.ome.zarr" / "0").mkdir(parents=True)
    (source / "z.ome.zarr" / "0" / "0").write_bytes(b"\0" * 10)
    root = catalogue(tmp_path / "catalogue")
    result = add_dataset(root, str(source), "plain-folder", read_headers=read_headers)
    folder = result.folder
    data = folder / M.SUBDATASET
    before = M.from_repo(data, read_headers=read_headers, content=source)  # (what add listed before)
    assert (folder / M.MANIFEST_FILE).read_text("utf-8") == M.dumps(before)
    assert (folder / "dataset.yaml").read_text("utf-8") == stub_text("plain-folder", before, None)
    text = (folder / "dataset.yaml").read_text("utf-8")
    assert "pixel_size_A: 0.83" in text and "acceleration_voltage_kV: 300" in text  # (header facts went through)
    previews = gallery.read(folder, root)[0]
    sets = [(s.directory, s.category, s.format) for s in M.guess_image_sets(before)]
    assert previews and list(dict.fromkeys(p.source for p in previews)) == gallery.choose(
        sets, [f.path for f in before.files], lambda p: True)
    # Staged in the catalogue's git (without git-annex's filter, which held it whole): the same blob as the file.
    staged = annex.git(root, "ls-files", "-s", "--", "datasets/plain-folder/manifest.json").split()[1]
    assert staged == annex.git(root, "hash-object", "--no-filters", str(folder / M.MANIFEST_FILE)).strip()
    assert annex.git(root, "annex", "find", "--include=*", "datasets/plain-folder").strip() == ""
    # The result's manifest reads the written file when its files are used.
    assert result.manifest.files == before.files and result.manifest.commit == before.commit
    assert result.files == len(before.files) and result.bytes == before.total_size
