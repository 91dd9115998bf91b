"""A landing page's content (issue 21): the preview gallery, the 3D view of maps, the file table's header facts,
pixel sizes in the technique's unit, and the versions with their DOIs and citations; read from the built HTML."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from datetime import date
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from openem_build.infra.context import SiteContext
from openem_build.records.history import Version
from openem_build.records.load import load_catalogue
from openem_build.records.model import Manifest, ManifestFile, Preview
from openem_build.render import filefacts, mapview, pages, previewgallery, versions
from openem_build.render.units import pixel_size
from openem_build.site import molstar
from openem_build.site.build import build_site

from .conftest import ROOT

MAP_ENTRY = "chlamy-ribosome-sta-2025"  # one 20 × 20 × 20 map, four previews of 20 × 20 pixels, a DOI
NO_DOI = "apoferritin-krios-2024"  # micrographs only, no DOI
HAS_BUNDLE = molstar.find(ROOT) is not None


def _copy(dest: Path) -> Path:
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    return dest


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(_copy(tmp_path_factory.mktemp("catalogue")))


def page(site: Path, ident: str) -> BeautifulSoup:
    return BeautifulSoup((site / "datasets" / ident / "index.html").read_text("utf-8"), "lxml")


@pytest.fixture(scope="module")
def ctx() -> SiteContext:
    return SiteContext(load_catalogue(ROOT, disk_cache=False).catalogue, site_url="https://example.org/cat/")


# ------------------------------------------------------------------------------------------ pixel sizes

@pytest.mark.parametrize(("value", "technique", "shown"), [
    (0.73, "single-particle", "0.73 Å"),
    (5.4, "tomography", "5.4 Å"),
    (80, "sbf-sem", "8 nm"),  # volume EM in nanometres, not "80 Å"
    ([80.0, 80.0, 400.0], "sbf-sem", "8 × 8 × 40 nm"),
    ([11.4, 11.4, 11.4], "subtomogram-averaging", "11.4 Å"),
    (480, "sem", "48 nm"),
    (0.12, "stem", "12 pm"),  # atomic-resolution STEM
    (1.0558, "microed", "1.056 Å"),
    (None, "sem", ""),
])
def test_pixel_sizes_are_given_in_the_unit_of_the_technique(value, technique: str, shown: str) -> None:
    assert pixel_size(value, technique) == shown


# ------------------------------------------------------------------------------------------ file facts

def _mrc(path: str, size: int, dims: list[int], kind: str, voxel: list[float], dtype: str = "float32",
         url: str | None = None) -> ManifestFile:
    headers = {"type": "mrc", "size_bytes": size,
               "mrc": {"dimensions": dims, "kind": kind, "mode": 2, "dtype": dtype, "voxel_size_A": voxel}}
    return ManifestFile(path, size, f"MD5E-s{size}--x", (("md5", "0" * 32),),
                        (url or f"https://example.org/store/{path}",), headers=headers)


def test_file_facts_come_from_the_header_facts() -> None:
    volume = filefacts.facts(_mrc("maps/a.map", 33024, [20, 20, 20], "volume", [11.4] * 3), "subtomogram-averaging")
    assert (volume.format, volume.dimensions, volume.pixel, volume.voxels) == (
        "MRC volume (float32)", "20 × 20 × 20", "11.4 Å", 8000)
    image = filefacts.facts(_mrc("m/x.mrc", 4195328, [1024, 1024, 1], "image", [0.73] * 3), "single-particle")
    assert (image.dimensions, image.pixel) == ("1,024 × 1,024", "0.73 Å")
    stack = filefacts.facts(_mrc("raw/s.mrc", 4195328, [256, 256, 64], "image-stack", [80.0, 80.0, 400.0], "int8"),
                            "sbf-sem")
    assert (stack.format, stack.dimensions, stack.pixel) == ("MRC image stack (int8)", "256 × 256, 64 images", "8 nm")
    mdoc = ManifestFile("ts/TS_01.mrc.mdoc", 20443, headers={
        "type": "mdoc", "mdoc": {"image_size": [924, 958], "sections": 41}, "acquisition": {"pixel_size_A": 5.4}})
    assert filefacts.facts(mdoc, "tomography") == filefacts.Facts("SerialEM mdoc", "924 × 958, 41 images", "5.4 Å",
                                                                  924 * 958 * 41, 5.4)
    assert filefacts.facts(ManifestFile("movies/a.tiff", 10), "tem").format == "TIFF"
    assert filefacts.facts(ManifestFile("maps/b.map.gz", 10), "tem").format == "MAP.GZ"
    assert filefacts.facts(ManifestFile("README", 10), "tem") == filefacts.Facts("")


def test_file_rows_show_format_dimensions_and_pixel_size_with_sort_keys() -> None:
    rows = str(pages.file_rows([_mrc("raw/s.mrc", 4195328, [256, 256, 64], "image-stack", [80.0, 80.0, 400.0])],
                               technique="sbf-sem"))
    cells = BeautifulSoup(rows, "lxml").find_all("td")
    assert [c.get_text() for c in cells[:5]] == ["raw/s.mrc", "MRC image stack (float32)", "256 × 256, 64 images",
                                                  "8 nm", "4.2 MB"]
    assert [c.get("data-sort") for c in cells[2:5]] == [str(256 * 256 * 64), "80.000000", "4195328"]


# ------------------------------------------------------------------------------------------ maps

def test_maps_are_mrc_volumes_and_compressed_maps_of_map_sets(ctx: SiteContext) -> None:
    d = ctx.catalogue.by_id[MAP_ENTRY]
    files = [
        _mrc("maps/b.map", 2000, [10, 10, 10], "volume", [1.0] * 3),
        _mrc("maps/a.mrc", 1000, [10, 10, 1], "image", [1.0] * 3),  # an image, not a map
        ManifestFile("maps/c.map.gz", 500, urls=("https://example.org/c.map.gz",)),  # compressed, in the maps set
        ManifestFile("other/d.map.gz", 500, urls=("https://example.org/d.map.gz",)),  # not in a set of maps
        _mrc("maps/huge.mrc", 300 * 1000**2, [4096, 4096, 4], "volume", [1.0] * 3),
    ]
    found = {m.path: m for m in mapview.maps(d, files)}
    assert sorted(found) == ["maps/b.map", "maps/c.map.gz", "maps/huge.mrc"]
    assert found["maps/c.map.gz"].compressed and found["maps/b.map"].auto and not found["maps/b.map"].too_large
    assert found["maps/huge.mrc"].too_large


def _render(ctx: SiteContext, ident: str, files: list[ManifestFile], previews=(), viewer: bool = True) -> BeautifulSoup:
    d = ctx.catalogue.by_id[ident]
    d = dataclasses.replace(d, manifest=Manifest(tuple(files)), previews=tuple(previews))
    return BeautifulSoup(pages.dataset_page(ctx, d, [], "Cite me.", viewer=viewer), "lxml")


def test_a_map_too_large_for_a_browser_points_at_its_central_slices(ctx: SiteContext) -> None:
    big = _mrc("maps/huge.mrc", 300 * 1000**2, [4096, 4096, 4], "volume", [1.0] * 3)
    slices = [Preview(f"maps--huge.mrc.{k.lower()}.png", k, 64, 64, f"Central {k} slice of maps/huge.mrc",
                      "maps/huge.mrc") for k in ("XY", "XZ")]
    html = _render(ctx, MAP_ENTRY, [big], slices)
    assert html.select_one("[data-openem-mapviewer]") is None  # nothing to load
    note = html.select_one(".openem-mapviewer__too-large")
    assert note is not None and "maps/huge.mrc" in note.get_text() and "too large" in note.get_text()
    assert [a["href"] for a in note.select("a")] == ["#previews", "#preview-1", "#preview-2"]
    assert html.select_one("#preview-1 img")["src"] == "previews/maps--huge.mrc.xy.png"


def test_the_3d_view_needs_the_bundle_and_a_map(ctx: SiteContext) -> None:
    small = _mrc("maps/b.map", 2000, [10, 10, 10], "volume", [1.0] * 3)
    with_viewer = _render(ctx, MAP_ENTRY, [small])
    choice = with_viewer.select_one("[data-openem-mapviewer] .openem-mapviewer__choice")
    assert choice["value"] == "https://example.org/store/maps/b.map" and choice.has_attr("data-auto")
    assert with_viewer.select_one("script[src$='assets/openem/mapviewer.js']") is not None
    assert with_viewer.select_one("#map-3d") is not None
    without = _render(ctx, MAP_ENTRY, [small], viewer=False)  # a build without the Mol* bundle
    assert without.select_one("#map-3d") is None and "mapviewer.js" not in str(without)
    no_map = _render(ctx, MAP_ENTRY, [_mrc("m/x.mrc", 100, [10, 10, 1], "image", [1.0] * 3)])
    assert no_map.select_one("#map-3d") is None and "molstar" not in str(no_map)


# ------------------------------------------------------------------------------------------ gallery

def test_small_previews_are_shown_enlarged_with_square_pixels_and_plots_are_not() -> None:
    shown = previewgallery.shown([
        Preview("a.xy.png", "XY", 20, 20, "Central XY slice", "maps/a.map"),
        Preview("b.image.png", "image", 512, 480, "A micrograph", "m/b.mrc"),
        Preview("c.projection.png", "projection", 100, 40, "Projection", "maps/a.map"),
    ])
    # Every image of data keeps square pixels when shown above its natural size; only older small ones are enlarged.
    assert [(s.width, s.height, s.pixelated, s.enlarged) for s in shown] == [
        (260, 260, True, True), (512, 480, True, False), (300, 120, True, True)]
    plot = previewgallery.shown([Preview("s.spectrum.png", "spectrum", 120, 80, "Sum spectrum", "si/a.emd")])
    assert [(s.width, s.pixelated, s.enlarged) for s in plot] == [(120, False, False)]
    assert [s.anchor for s in shown] == ["preview-1", "preview-2", "preview-3"]
    assert shown[0].caption == "maps/a.map — central XY slice"


# ------------------------------------------------------------------------------------------ versions

def test_versions_say_what_changed_and_name_their_doi(ctx: SiteContext) -> None:
    d = ctx.catalogue.by_id[MAP_ENTRY]  # version 1.1, DOI 10.80476/openem.chlamy-ribosome-sta-2025
    old = {k: v for k, v in d.raw.items() if k != "doi"}
    old = {**old, "version": "1.0", "title": "Old title", "data": {**d.raw["data"], "commit": "a" * 40}}
    history = (Version("1.0", date(2025, 1, 2), "c" * 40, old), Version("1.1", date(2025, 6, 7), "d" * 40, d.raw))
    rows = versions.rows(d, history)
    assert [(r.version, r.day.isoformat(), r.doi, r.current) for r in rows] == [
        ("1.1", "2025-06-07", "10.80476/openem.chlamy-ribosome-sta-2025.v1.1", True),
        ("1.0", "2025-01-02", None, False)]  # (1.0's record had no DOI yet)
    assert rows[1].changes == "First version"
    assert rows[0].changes.startswith("New version of the files") and "title" in rows[0].changes
    # Outside git (no history) the current version is still listed.
    alone = versions.rows(d, ())
    assert [(r.version, r.current, r.record) for r in alone] == [("1.1", True, False)]


def test_the_version_list_and_citations_of_a_dataset_with_a_doi(site: Path) -> None:
    html = page(site, MAP_ENTRY)
    concept, version = "10.80476/openem.chlamy-ribosome-sta-2025", "10.80476/openem.chlamy-ribosome-sta-2025.v1.1"
    rows = html.select(".openem-versions tbody tr")
    assert rows and rows[0].get("aria-current") == "true"
    assert [td.get_text(" ", strip=True) for td in rows[0].select("td")][:3] == [
        "1.1 (this version)", rows[0].select_one("time")["datetime"], version]
    badges = [a["href"] for a in html.select("a.openem-doi-badge")]
    assert badges == [f"https://doi.org/{version}", f"https://doi.org/{concept}"]
    assert html.select_one("#cite-this-version") and html.select_one("#cite-all-versions")
    this = html.select_one("pre.openem-citation-version").get_text()
    every = html.select_one("pre.openem-citation").get_text()
    assert this.rstrip().endswith(f"https://doi.org/{version}") and "Version 1.1." in this
    assert every.rstrip().endswith(f"https://doi.org/{concept}") and "Version 1.1" not in every


def test_a_dataset_without_a_doi_says_how_to_cite_its_landing_page(site: Path) -> None:
    html = page(site, NO_DOI)
    assert html.select_one("a.openem-doi-badge") is None and html.select_one("#cite-this-version") is None
    how = html.select_one(".openem-cite-how").get_text(" ", strip=True)
    assert "no DOI yet" in how and f"https://catalogue.openem.ch/datasets/{NO_DOI}/" in how
    assert html.select(".openem-versions tbody tr td")[2].get_text() == "—"


# ------------------------------------------------------------------------------------------ built pages

def test_the_gallery_of_a_small_map_on_its_page(site: Path) -> None:
    html = page(site, MAP_ENTRY)
    figures = html.select("ul.openem-gallery figure.openem-preview")
    assert len(figures) == 4
    captions = [f.figcaption.get_text(" ", strip=True) for f in figures]
    assert captions[0].startswith("maps/EMD-3197.map — central XY slice") and "projection" in captions[3]
    for f in figures:
        img, link = f.select_one("img"), f.select_one("a.openem-preview__open")
        assert int(img["width"]) >= 256 and "openem-pixelated" in img["class"] and img["alt"]
        assert link["href"] == img["src"] and link.has_attr("data-pixelated")
    assert html.select_one("link[href='../../assets/openem/landing.css']") is not None
    assert (site / "assets" / "openem" / "landing.js").is_file()


def test_the_file_table_shows_header_facts_and_download_links(site: Path) -> None:
    html = page(site, MAP_ENTRY)
    table = html.select_one(".openem-files table[data-openem-sortable]")
    assert [th.get_text() for th in table.select("thead th")] == ["Path", "Format", "Dimensions", "Pixel size",
                                                                  "Size", "Checksum"]
    row = table.select_one("tr[data-path='maps/EMD-3197.map']")
    assert [td.get_text() for td in row.select("td")[:5]] == ["maps/EMD-3197.map", "MRC volume (float32)",
                                                                "20 × 20 × 20", "11.4 Å", "33.0 kB"]
    assert row.select_one("a[download]")["href"].startswith("../../store/")
    tilt = page(site, "yeast-cryoet-2023").select_one("tr[data-path='tiltseries/TS_01.mrc']")
    assert [td.get_text() for td in tilt.select("td")[1:4]] == ["MRC image stack (int16)", "924 × 958, 41 images",
                                                                 "5.4 Å"]


def test_volume_em_pixel_sizes_are_in_nanometres(site: Path) -> None:
    html = page(site, "zebrafish-neuromast-sbfsem-2026")  # 80 Å voxels
    facts = {th.get_text(): th.find_next_sibling("td").get_text() for th in html.select(".openem-facts th")}
    assert facts["Pixel size"] == "8 nm"
    assert "80 Å" not in html.select_one(".openem-image-sets table").get_text()


@pytest.mark.skipif(not HAS_BUNDLE, reason="the Mol* bundle is not installed (`make npm` installs it)")
def test_the_map_page_has_the_3d_view_and_the_site_the_bundle(site: Path) -> None:
    html = page(site, MAP_ENTRY)
    viewer = html.select_one("[data-openem-mapviewer]")
    assert viewer is not None and viewer["data-molstar"] == "../../assets/molstar/"
    link = html.select_one("tr[data-path='maps/EMD-3197.map'] a[download]")["href"]
    assert viewer.select_one(".openem-mapviewer__choice")["value"] == link
    for name in ("molstar.js", "molstar.css", "LICENSE.txt"):
        assert (site / "assets" / "molstar" / name).stat().st_size > 0
    other = (site / "datasets" / NO_DOI / "index.html").read_text("utf-8")
    assert "molstar" not in other and "mapviewer.js" not in other


def test_without_the_bundle_the_build_succeeds_without_the_viewer_and_says_so_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "no-molstar"
    empty.mkdir()
    monkeypatch.setenv(molstar.ENV, str(empty))
    monkeypatch.setattr(molstar, "_said", set())
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.openem"):
        site = build_site(_copy(tmp_path / "catalogue"), tmp_path / "site")
        assert molstar.find(tmp_path) is None
    said = [r for r in caplog.records if "Mol* viewer" in r.getMessage()]
    assert len(said) == 1
    html = page(site, MAP_ENTRY)
    assert html.select_one("#map-3d") is None and not (site / "assets" / "molstar").exists()
    assert html.select("ul.openem-gallery figure")  # the rest of the page as before


def test_a_tilt_series_preview_says_which_image_and_its_tilt(site: Path) -> None:
    # The example's tilt series (41 tilts, dose-symmetric order, its .mdoc beside it) is shown as a montage of 9.
    html = page(site, "yeast-cryoet-2023")
    assert html.select_one("ul.openem-gallery figcaption").get_text(" ", strip=True) == \
        "tiltseries/TS_01.mrc — montage of 9 of 41 tilts, from \N{MINUS SIGN}54° to +60°"
    montage = Preview("m.png", "montage", 10, 10, "Montage of 3 of the 3 images of the tilt series ts/a.mrc, left "
                      "to right and top to bottom: images 1, 2, 3.", "ts/a.mrc")
    preview = Preview("x.png", "image", 10, 10, "Image 2 of 3 (the middle one) of the image stack ts/a.mrc", "ts/a.mrc")
    mdoc = ManifestFile("ts/a.mrc.mdoc", 10, headers={"type": "mdoc", "acquisition": {"tilt_angles_deg": [0, -3, 3]}})
    assert previewgallery.caption(montage) == "ts/a.mrc — montage of 3 of 3 tilts"
    listed = dataclasses.replace(montage, alt=montage.alt.replace("images 1, 2, 3.", "tilts -0.01°, 3.01°, -5.99°."))
    assert previewgallery.caption(listed) == "ts/a.mrc — montage of 3 of 3 tilts, from \N{MINUS SIGN}5.99° to +3.01°"
    assert previewgallery.caption(montage, previewgallery.tilts([mdoc])) == \
        "ts/a.mrc — montage of 3 of 3 tilts, from \N{MINUS SIGN}3° to +3°"
    assert previewgallery.caption(preview, previewgallery.tilts([mdoc])) == \
        "ts/a.mrc — image 2 of 3, tilt \N{MINUS SIGN}3°"
    assert previewgallery.caption(preview) == "ts/a.mrc — image 2 of 3"
