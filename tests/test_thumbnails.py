"""Each entry's representative image and its thumbnails, and the listing pages that show them (built site, read as
HTML): Home, Browse, facility pages, the search metadata of dataset pages."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from PIL import Image

from openem_build.records.load import load_catalogue
from openem_build.render import thumbs
from openem_build.site import thumbnails
from openem_build.site.build import build_site

from .conftest import ROOT, example_document, write_dataset

MAP = "chlamy-ribosome-sta-2025"  # an example entry with four previews of a map: XY, XZ, YZ and projection


def _docs() -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text("utf-8"))
            for p in sorted((ROOT / "datasets").glob("*/dataset.yaml"))}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalogue")
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    return build_site(root)


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text("utf-8"), "lxml")


def test_the_build_chooses_a_central_xy_slice_and_the_yaml_may_name_another(catalogue: Path) -> None:
    chosen = load_catalogue(catalogue).catalogue.by_id[MAP]
    assert thumbs.choose(chosen).kind == "XY"
    doc = example_document(MAP)
    doc["thumbnail"] = "previews/maps--EMD-3197.map.projection.png"
    write_dataset(catalogue, doc)
    result = load_catalogue(catalogue)
    assert result.ok, [p.text() for p in result.problems]
    named = result.catalogue.by_id[MAP]
    assert named.thumbnail == doc["thumbnail"]
    assert thumbs.choose(named).kind == "projection"
    assert thumbs.thumb(named).files == ((160, f"datasets/{MAP}/thumbnails/160.png"),
                                             (320, f"datasets/{MAP}/thumbnails/320.png"))


@pytest.mark.parametrize(("value", "message"), [
    ("previews/maps--EMD-3197.map.zz.png", "is not one of this entry's previews"),
    ("previews/../dataset.yaml", "thumbnail"),
    ("../../etc/passwd.png", "thumbnail"),
    ("/tmp/x.png", "thumbnail"),
])
def test_a_thumbnail_must_be_one_of_the_entrys_previews(catalogue: Path, value: str, message: str) -> None:
    doc = example_document(MAP)
    doc["thumbnail"] = value
    write_dataset(catalogue, doc)
    result = load_catalogue(catalogue)
    assert not result.ok
    (problem,) = [p for p in result.problems if p.field == "thumbnail"]
    assert problem.path == f"datasets/{MAP}/dataset.yaml" and problem.line > 1
    assert message in problem.text()


def test_thumbnails_are_written_at_two_widths_the_same_every_time(catalogue: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENEM_CACHE_DIR", str(tmp_path / "cache"))
    result = load_catalogue(catalogue)
    with_previews = [d for d in result.catalogue.datasets if d.previews]
    assert len(with_previews) >= 3
    first = tmp_path / "site1"
    assert thumbnails.write_to_site(result.catalogue, first) == 2 * len(with_previews)
    for d in with_previews:
        for width in thumbs.WIDTHS:
            data = (first / "datasets" / d.id / "thumbnails" / f"{width}.png").read_bytes()
            with Image.open(io.BytesIO(data)) as im:
                preview = thumbs.choose(d)
                assert im.width == width and im.height == round(width * preview.height / preview.width)
    # Again, from the cache this time, and with the cache off: the same bytes.
    second, third = tmp_path / "site2", tmp_path / "site3"
    thumbnails.write_to_site(result.catalogue, second)
    monkeypatch.setenv("OPENEM_CACHE", "off")
    thumbnails.write_to_site(result.catalogue, third)
    files = sorted(p.relative_to(first) for p in first.rglob("*.png"))
    assert files == sorted(p.relative_to(third) for p in third.rglob("*.png"))
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes() == (third / rel).read_bytes()


def _imgs(page: BeautifulSoup, selector: str) -> list:
    found = page.select(selector)
    for img in found:
        assert img["loading"] == "lazy" and img["width"].isdigit() and img["height"].isdigit()
        assert len(img["alt"]) > 10
    return found


def test_listing_pages_show_thumbnails_that_exist(site: Path) -> None:
    home = soup(site / "index.html")
    cards = _imgs(home, ".openem-cards img")
    assert cards and all("srcset" in img.attrs for img in cards)
    browse = soup(site / "browse" / "index.html")
    rows = _imgs(browse, "#openem-browse img")
    facility = soup(site / "facilities" / "scopem-eth" / "index.html")
    gallery = _imgs(facility, ".openem-gallery img")
    assert gallery
    for page, images in (("browse", rows), ("", cards), ("facilities/scopem-eth", gallery)):
        for img in images:
            for src in [img["src"], *(s.split()[0] for s in img.get("srcset", "").split(",") if s.strip())]:
                target = (site / page / src).resolve()
                assert target.is_file(), src
    # Every public entry with previews has its thumbnail in its Browse row.
    shown = {img.find_parent("tr").a["href"].split("/")[-2] for img in rows}
    public = {i for i, d in _docs().items() if d["status"] != "embargoed" and (ROOT / "datasets" / i / "previews.json")
              .is_file()}
    assert shown == public


def test_dataset_pages_give_search_their_thumbnail_and_summary(site: Path) -> None:
    article = soup(site / "datasets" / MAP / "index.html").select_one("article.openem-dataset")
    meta = {span["data-pagefind-meta"]: span for span in article.select("span[hidden][data-pagefind-meta]")}
    summary = meta["summary[data-summary]"]["data-summary"]
    assert summary.startswith("Example entry: an illustration") and len(summary) <= 282
    thumb = meta["image[data-src], image_h[data-h], image_alt[data-alt]"]
    assert thumb["data-src"] == f"datasets/{MAP}/thumbnails/160.png" and (site / thumb["data-src"]).is_file()
    assert article.select_one("span[data-pagefind-filter='kind:Dataset']") is not None
    docs_page = soup(site / "contributing" / "index.html")
    assert docs_page.select_one("[data-pagefind-body][data-pagefind-filter='kind:Page']") is not None


def test_home_counts_are_true(site: Path) -> None:
    docs = _docs()
    counts = {li.contents[-1].strip(): li.strong.get_text() for li in soup(site / "index.html").select(
        ".openem-counts li")}
    assert counts["datasets"] == str(len(docs))
    assert counts["with a DOI"] == str(sum(1 for d in docs.values() if d.get("doi")))
    text = soup(site / "index.html").select_one(".openem-lead").get_text()
    assert "Every dataset has a landing page with a citation and DOI" not in text


def test_facility_page_has_instruments_contact_and_data_steward(site: Path) -> None:
    facilities = yaml.safe_load((ROOT / "datasets" / "facilities.yaml").read_text("utf-8"))
    for fid, fac in facilities.items():
        page = soup(site / "facilities" / fid / "index.html")
        people = page.select_one(".openem-facility__people").get_text(" ")
        assert fac["contact"]["email"] in people and fac["data_steward"]["name"] in people
        rows = [[td.get_text(" ", strip=True) for td in tr.select("td")] for tr in page.select(
            ".openem-instruments tbody tr")]
        assert [r[0] for r in rows] == [i["name"] for i in fac["instruments"]]
        assert page.select_one(".openem-instruments table").get("class") is None  # Material's table style


def test_browse_filters_offer_no_value_without_datasets(site: Path) -> None:
    browse = soup(site / "browse" / "index.html")
    for select in browse.select("select[data-facet]"):
        for option in select.select("option[value]"):
            if option["value"]:
                assert not option.get_text().endswith("(0)"), option
    assert browse.select_one("#openem-browse").get("class") is None


def test_facilities_schema_accepts_people_and_instruments_and_rejects_unknown_fields(catalogue: Path) -> None:
    path = catalogue / "datasets" / "facilities.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["scopem-eth"]["instruments"][0]["serial"] = "123"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    result = load_catalogue(catalogue)
    assert any("serial" in p.text() and p.path.endswith("facilities.yaml") for p in result.problems)
    schema = json.loads((ROOT / "openem_build" / "schema" / "facilities.schema.json").read_text("utf-8"))
    props = schema["additionalProperties"]["properties"]
    assert {"contact", "data_steward", "instruments"} <= set(props)


def test_an_entry_without_mrc_files_gets_a_preview_of_its_first_raster_image(tmp_path: Path) -> None:
    from openem_build.data import gallery

    content = tmp_path / "data"
    (content / "epu" / "Data").mkdir(parents=True)
    ramp = Image.linear_gradient("L").resize((1024, 700))
    ramp.save(content / "epu" / "Data" / "b.jpg", quality=90)
    ramp.save(content / "epu" / "Data" / "a.tif")
    (content / "epu" / "EpuSession.dm").write_text("<xml/>")
    sets = [("epu", "metadata", "xml"), ("epu", "other", "jpeg")]
    paths = ["epu/EpuSession.dm", "epu/Data/a.tif", "epu/Data/b.jpg"]
    chosen = gallery.choose(sets, paths, lambda p: True)
    assert chosen == ["epu/Data/a.tif"]  # the first image by path (the set says jpeg; TIFF is also an image)
    out = tmp_path / "entry"
    out.mkdir()
    made, notes = gallery.write(out, content, sets, paths)
    assert made == ["epu/Data/a.tif"] and not notes
    doc = json.loads((out / "previews.json").read_text("utf-8"))
    (entry,) = doc["previews"]
    assert entry["kind"] == "image" and (entry["width"], entry["height"]) == (512, 350)
    assert "epu/Data/a.tif" in entry["alt"] and "binned 2×" in entry["alt"]
    first = (out / "previews" / entry["file"]).read_bytes()
    gallery.write(out, content, sets, paths)
    assert (out / "previews" / entry["file"]).read_bytes() == first
    previews, problems = gallery.read(out, tmp_path)
    assert not problems and previews[0].source == "epu/Data/a.tif"
    # With an MRC map among the files, it is the one previewed, as before.
    assert gallery.choose([("maps", "maps", "mrc"), *sets], ["maps/m.mrc", *paths], lambda p: True) == ["maps/m.mrc"]
