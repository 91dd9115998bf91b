"""Landing pages in a real headless Chromium (Debian's ``chromium``, via Playwright), at 1400 px and 390 px: the 3D
view of a map with Mol* (bundled into the site, the map loaded from the store the site serves, no request outside
127.0.0.1), no Mol* on a page without a map, the preview gallery's viewer by keyboard, and the file table's sorting
and filter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from openem_build.site import molstar
from openem_build.site.build import build_site

from .conftest import ROOT, git_catalogue, serve

pytestmark = pytest.mark.browser

MAP_ENTRY = "chlamy-ribosome-sta-2025"  # maps/EMD-3197.map (20 × 20 × 20) in the example store
NO_MAP = "apoferritin-krios-2024"  # micrographs only
MANY_FILES = "trpv1-nanodisc-krios-2023"  # 22 files of several formats


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _catalogue_with_store(dest: Path) -> Path:
    """The example catalogue with its store: the one `make examples` made, else made here (examples/build.py)."""
    if (ROOT / "store" / "ria-layout-version").is_file():
        for name in ("datasets", "docs", "overrides"):
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("data"))
        shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
        shutil.copytree(ROOT / "store", dest / "store", copy_function=_link_or_copy, symlinks=True)
        return dest
    root = git_catalogue(dest)
    proc = subprocess.run([sys.executable, str(root / "examples" / "build.py"), "--root", str(root)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if molstar.find(ROOT) is None:
        if os.environ.get("CI"):
            pytest.fail("the Mol* bundle is required in CI (`make npm` installs it)")
        pytest.skip("the Mol* bundle is not installed (`make npm` installs it)")
    root = _catalogue_with_store(tmp_path_factory.mktemp("catalogue"))
    yield from serve(build_site(root, tmp_path_factory.mktemp("site") / "site"))


def _guarded_page(browser, base: str, width: int):
    """A page whose every request is seen: those to 127.0.0.1 go through, any other is refused and recorded."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    outside: list[str] = []
    responses: dict[str, int] = {}
    errors: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname != "127.0.0.1":
            outside.append(url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    page.on("response", lambda resp: responses.__setitem__(resp.url, resp.status))
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, outside, responses, errors


@pytest.mark.parametrize("width", [1400, 390])
def test_a_map_is_shown_in_molstar_from_the_store_with_nothing_from_other_hosts(browser, served: str,
                                                                               width: int) -> None:
    page, outside, responses, errors = _guarded_page(browser, served, width)
    page.goto(f"{served}datasets/{MAP_ENTRY}/")
    viewer = page.locator("[data-openem-mapviewer]")
    page.wait_for_function("() => ['loaded', 'error'].includes("
                           "document.querySelector('[data-openem-mapviewer]').getAttribute('data-state'))",
                           timeout=90_000)
    assert viewer.get_attribute("data-state") == "loaded", page.inner_text(".openem-mapviewer__status")
    assert int(viewer.get_attribute("data-volumes")) == 1
    assert viewer.get_attribute("data-loaded") == "maps/EMD-3197.map"
    canvas = page.locator(".openem-mapviewer__stage canvas").first
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 200
    # The map came from the store the site serves (its download link in the file table), and Mol* from the site.
    link = page.locator("tr[data-path='maps/EMD-3197.map'] a[download]").get_attribute("href")
    map_url = page.evaluate("href => new URL(href, document.baseURI).href", link)
    assert "/store/" in map_url and responses.get(map_url) == 200
    assert responses.get(f"{served}assets/molstar/molstar.js") == 200
    assert outside == [] and errors == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.close()


def test_a_page_without_a_map_loads_nothing_of_molstar(browser, served: str) -> None:
    page, outside, responses, errors = _guarded_page(browser, served, 1400)
    page.goto(f"{served}datasets/{NO_MAP}/")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-openem-mapviewer]").count() == 0
    assert not [u for u in responses if "molstar" in u or "mapviewer" in u]
    assert page.evaluate("typeof window.molstar") == "undefined"
    assert outside == [] and errors == []
    page.close()


def test_the_gallery_viewer_works_with_the_keyboard(browser, served: str) -> None:
    page, outside, _responses, errors = _guarded_page(browser, served, 1400)
    page.goto(f"{served}datasets/{MAP_ENTRY}/")
    thumbs = page.locator("ul.openem-gallery img")
    assert thumbs.count() == 4
    # The 20 × 20 slices are previews of 260 × 260 pixels (enlarged 13× in the PNG), shown at that natural size:
    # square pixels (pixelated) only when shown above it (an older, smaller preview; the viewer below).
    for i in range(4):
        img = thumbs.nth(i)
        img.scroll_into_view_if_needed()
        page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=img.element_handle())
        shown, natural, rendering = img.evaluate(
            "e => [e.getBoundingClientRect().width, e.naturalWidth, getComputedStyle(e).imageRendering]")
        assert shown >= 256 and natural >= 256
        assert rendering == ("pixelated" if shown > natural else "auto"), (shown, natural, rendering)
    links = page.locator("a.openem-preview__open")
    links.first.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.openem-lightbox")
    assert dialog.evaluate("d => d.open")
    assert "central XY slice" in page.inner_text("#openem-lightbox-caption")
    big = page.locator(".openem-lightbox__img")
    # Enlarged by a whole factor (260 px → 520 px or more), its pixels square.
    assert big.bounding_box()["width"] >= 520 and big.evaluate("e => getComputedStyle(e).imageRendering") == "pixelated"
    assert page.evaluate("document.activeElement.closest('dialog') !== null")  # the focus is in the dialog
    page.keyboard.press("ArrowRight")
    assert page.inner_text(".openem-lightbox__count") == "2 of 4"
    assert "central XZ slice" in page.inner_text("#openem-lightbox-caption")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.inner_text(".openem-lightbox__count") == "4 of 4"
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    # The focus returns to the preview shown last.
    last = links.nth(3).get_attribute("href")
    page.wait_for_function("href => document.activeElement.getAttribute('href') === href", arg=last)
    # In a window too small for its natural size a preview is shown smaller, smoothed (not pixelated).
    page.set_viewport_size({"width": 240, "height": 700})
    links.first.focus()
    page.keyboard.press("Enter")
    assert dialog.evaluate("d => d.open")
    shown, natural, rendering = big.evaluate(
        "e => [e.getBoundingClientRect().width, e.naturalWidth || 260, getComputedStyle(e).imageRendering]")
    assert shown < natural and rendering == "auto", (shown, natural, rendering)
    page.keyboard.press("Escape")
    assert outside == [] and errors == []
    page.close()


def test_the_file_table_sorts_and_filters_with_the_keyboard(browser, served: str) -> None:
    page, _outside, _responses, errors = _guarded_page(browser, served, 1400)
    page.goto(f"{served}datasets/{MANY_FILES}/")
    rows = page.locator(".openem-files tbody tr")
    total = rows.count()
    assert total > 10

    def sizes() -> list[int]:
        return page.eval_on_selector_all(".openem-files tbody tr:not([hidden]) td:nth-child(5)",
                                         "tds => tds.map(td => Number(td.dataset.sort))")

    page.get_by_role("button", name="Sort by size").focus()
    page.keyboard.press("Enter")
    assert sizes() == sorted(sizes()) and len(sizes()) == total
    assert page.locator("th[aria-sort=ascending]").inner_text().startswith("Size")
    page.keyboard.press("Enter")
    assert sizes() == sorted(sizes(), reverse=True)
    assert page.locator("th[aria-sort=descending]").count() == 1

    page.get_by_label("Filter the files").fill("epu xml")
    page.wait_for_function("() => document.querySelector('#openem-file-filter-status').textContent !== ''")
    shown = page.eval_on_selector_all(".openem-files tbody tr:not([hidden])",
                                      "trs => trs.map(tr => tr.dataset.path + ' ' + tr.cells[1].textContent)")
    assert shown and len(shown) < total
    assert all("epu" in s.lower() and "xml" in s.lower() for s in shown)
    assert page.inner_text("#openem-file-filter-status") == f"{len(shown)} of {total} files listed match"
    page.get_by_label("Filter the files").fill("")
    page.wait_for_function(f"() => document.querySelectorAll('.openem-files tbody tr:not([hidden])').length"
                           f" === {total}")
    assert errors == []
    page.close()


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A landing page rendered on its own (pages.dataset_page) with the site's landing assets and Mol*: a
    gzip-compressed map and 40 files in two folders (shown as folder groups), served on 127.0.0.1."""
    import dataclasses
    import gzip

    from openem_build.infra.context import SiteContext
    from openem_build.records.load import load_catalogue
    from openem_build.records.model import Manifest, ManifestFile
    from openem_build.render import pages

    bundle = molstar.find(ROOT)
    if bundle is None:
        pytest.skip("the Mol* bundle is not installed (`make npm` installs it)")
    top = tmp_path_factory.mktemp("standalone")
    shutil.copytree(ROOT / "overrides" / "assets" / "openem", top / "assets" / "openem")
    molstar.copy_to_site(bundle, top)
    packed = gzip.compress((ROOT / "examples" / "files" / "EMD-3197.map").read_bytes(), mtime=0)
    (top / "data").mkdir()
    (top / "data" / "EMD-3197.map.gz").write_bytes(packed)
    ctx = SiteContext(load_catalogue(ROOT, disk_cache=False).catalogue, site_url="https://example.org/cat/")
    files = [ManifestFile("maps/EMD-3197.map.gz", len(packed), urls=("https://example.org/cat/data/EMD-3197.map.gz",))]
    files += [ManifestFile(f"{folder}/image_{i:02d}.tif", 1000 * (i + 1), urls=(f"https://example.org/{folder}/{i}",))
              for folder in ("a", "b") for i in range(20)]
    d = dataclasses.replace(ctx.catalogue.by_id[MAP_ENTRY], manifest=Manifest(tuple(files)), previews=())
    body = pages.dataset_page(ctx, d, [], "Cite me.", viewer=True)
    page = top / "datasets" / "x" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>x</title>'
                    '<link rel="stylesheet" href="../../assets/openem/landing.css">'
                    '<script src="../../assets/openem/landing.js" defer></script></head>'
                    f'<body><main class="md-typeset">{body}</main></body></html>', encoding="utf-8")
    yield from serve(top)


def test_a_compressed_map_is_unpacked_in_the_browser_and_shown(browser, standalone: str) -> None:
    page, outside, responses, errors = _guarded_page(browser, standalone, 1400)
    page.goto(f"{standalone}datasets/x/")
    page.wait_for_function("() => ['loaded', 'error'].includes("
                           "document.querySelector('[data-openem-mapviewer]').getAttribute('data-state'))",
                           timeout=90_000)
    viewer = page.locator("[data-openem-mapviewer]")
    assert viewer.get_attribute("data-state") == "loaded", page.inner_text(".openem-mapviewer__status")
    assert viewer.get_attribute("data-loaded") == "maps/EMD-3197.map.gz"
    assert responses.get(f"{standalone}data/EMD-3197.map.gz") == 200
    assert outside == [] and errors == []
    page.close()


def test_the_filter_opens_the_folders_that_hold_matching_files(browser, standalone: str) -> None:
    page, _outside, _responses, errors = _guarded_page(browser, standalone, 390)
    page.goto(f"{standalone}datasets/x/")
    groups = page.locator("details.openem-folder")
    assert groups.count() == 3  # a/, b/ and maps/
    page.get_by_label("Filter the files").fill("b/image_1")
    page.wait_for_function("() => document.querySelector('#openem-file-filter-status').textContent !== ''")
    assert page.inner_text("#openem-file-filter-status") == "10 of 41 files listed match"
    opened = page.eval_on_selector_all("details.openem-folder:not([hidden])",
                                       "ds => ds.map(d => [d.querySelector('summary code').textContent, d.open])")
    assert opened == [["b/", True]]
    shown = page.eval_on_selector_all("details.openem-folder tr[data-path]:not([hidden])",
                                      "trs => trs.map(tr => tr.dataset.path)")
    assert shown == [f"b/image_{i:02d}.tif" for i in range(10, 20)]
    # Sort the open folder's table by size, largest first, by keyboard.
    button = page.locator("details.openem-folder:not([hidden])").get_by_role("button", name="Sort by size", exact=True)
    button.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    sizes = page.eval_on_selector_all("details.openem-folder:not([hidden]) tr[data-path]:not([hidden]) td:nth-child(5)",
                                      "tds => tds.map(td => Number(td.dataset.sort))")
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 10
    assert errors == []
    page.close()
