"""The reader's site in a real Chromium at a desktop (1400 px) and a phone (390 px) width: no sideways scrolling,
axe-core's WCAG 2.1 AA rules, thumbnails, search on a small screen, keyboard use of the filters."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import yaml

from openem_build.site.build import build_site

from .conftest import ROOT, axe_script, serve

pytestmark = pytest.mark.browser

#: One page of each type: (name, path under the site).
PAGES = (
    ("home", ""),
    ("browse", "browse/"),
    ("search", "search/?q=ribosome"),
    ("dataset", "datasets/chlamy-ribosome-sta-2025/"),
    ("dataset without files", "datasets/lysozyme-microed-2025/"),
    ("facilities", "facilities/"),
    ("facility", "facilities/scopem-eth/"),
    ("docs", "contributing/"),
)
WIDTHS = ((1400, 900), (390, 844))
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: The images of the listing pages (render/thumbs.py img, search.js).
THUMBS = "img.openem-thumb, img.openem-card__image, img.openem-result__image"


@pytest.fixture(scope="module")
def served_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("catalogue")
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    yield from serve(build_site(root))


def _open(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    if "search/" in url:
        page.wait_for_selector("#openem-search-results li")
    page.wait_for_load_state("networkidle")
    return page, errors


def _documents() -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text("utf-8"))
            for p in sorted((ROOT / "datasets").glob("*/dataset.yaml"))}


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=lambda v: str(v))
def test_no_page_type_scrolls_sideways(browser, served_site: str, width: int, height: int) -> None:
    wide = []
    for name, path in PAGES:
        page, errors = _open(browser, served_site + path, width, height)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            wide.append(f"{name} ({path or '/'}) is {scroll} px wide")
        # The site's name in the header is shown whole, not cut to "OpenEM catalo…".
        title = page.locator(".md-header__topic:first-child .md-ellipsis")
        if title.evaluate("e => e.scrollWidth > e.clientWidth"):
            wide.append(f"{name}: the header's title is cut")
        assert not errors, f"{name}: {errors}"
        page.close()
    assert not wide, f"at {width} px: " + "; ".join(wide)


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=lambda v: str(v))
def test_axe_finds_no_wcag21_aa_violation(browser, served_site: str, width: int, height: int) -> None:
    script = axe_script()
    found = []
    for name, path in PAGES:
        page, _ = _open(browser, served_site + path, width, height)
        page.add_script_tag(path=str(script))
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
        assert result["passes"], f"{name}: axe ran no rule"
        for v in result["violations"]:
            targets = [" ".join(map(str, n["target"])) for n in v["nodes"][:3]]
            found.append(f"{name}: {v['id']} ({v['help']}) at {targets}")
        page.close()
    assert not found, f"at {width} px:\n" + "\n".join(found)


def test_first_search_result_on_the_first_screen_of_a_phone(browser, served_site: str) -> None:
    page, _ = _open(browser, served_site + "search/?q=ribosome", 390, 844)
    box = page.locator("#openem-search-results li").first.bounding_box()
    assert box is not None and box["y"] + min(box["height"], 60) <= 844, box
    # The filters are folded on a phone; opening them shows every value that has results, none with 0.
    filters = page.locator("#openem-search-filters")
    assert filters.get_attribute("open") is None
    page.locator("#openem-search-filters > summary").click()
    counts = page.locator(".openem-facet:not([hidden]) .openem-facet__count").all_inner_texts()
    assert counts and all(int(n) > 0 for n in counts)
    page.close()


def _thumbnails_loaded(page) -> list[tuple[str, int]]:
    """(src, naturalWidth) of every thumbnail on the page, each scrolled into view first (they load lazily)."""
    images = page.locator(THUMBS)
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
    page.wait_for_load_state("networkidle")
    page.wait_for_function(f"[...document.querySelectorAll({THUMBS!r})].every(i => i.complete)")
    return page.eval_on_selector_all(THUMBS, "els => els.map(e => [e.currentSrc, e.naturalWidth])")


@pytest.mark.parametrize("path", ["", "browse/", "search/?q=ribosome", "facilities/scopem-eth/"])
def test_thumbnails_load(browser, served_site: str, path: str) -> None:
    for width, height in WIDTHS:
        page, _ = _open(browser, served_site + path, width, height)
        loaded = _thumbnails_loaded(page)
        assert loaded, f"no thumbnail on {path or '/'} at {width} px"
        assert all(w > 0 for _, w in loaded), loaded
        alts = page.eval_on_selector_all(THUMBS, "els => els.map(e => e.alt)")
        assert all(len(a) > 10 for a in alts), alts
        page.close()


def test_every_entry_with_files_shows_a_thumbnail(browser, served_site: str) -> None:
    docs = _documents()
    with_files = sorted(i for i, d in docs.items() if d.get("data", {}).get("datalad") and d["status"] != "embargoed")
    assert len(with_files) >= 4
    page, _ = _open(browser, served_site + "browse/", 1400, 900)
    _thumbnails_loaded(page)
    shown = page.eval_on_selector_all(
        "#openem-browse tbody tr", "rows => rows.filter(r => { const i = r.querySelector('img'); "
        "return i && i.naturalWidth > 0; }).map(r => r.querySelector('a').getAttribute('href'))")
    assert sorted(h.split("/")[-2] for h in shown) == with_files
    page.close()


def test_browse_offers_only_combinations_that_exist(browser, served_site: str) -> None:
    page, _ = _open(browser, served_site + "browse/", 1400, 900)
    page.select_option("select[name=technique]", "single-particle")
    offered = page.eval_on_selector_all("select[name=facility] option:not([value=''])",
                                        "os => os.filter(o => !o.hidden && !o.disabled).map(o => o.value)")
    docs = _documents()
    assert sorted(offered) == sorted({d["facility"] for d in docs.values() if d["technique"] == "single-particle"})
    for facility in offered:  # every one offered gives rows
        page.select_option("select[name=facility]", facility)
        assert page.locator("#openem-browse tbody tr:not([hidden])").count() > 0
    page.close()


def test_search_lists_datasets_apart_from_pages_with_description_snippets(browser, served_site: str) -> None:
    page, _ = _open(browser, served_site + "search/?q=dataset", 1400, 900)
    results = page.locator("#openem-search-results li")
    assert all(href.startswith("/datasets/") or "/datasets/" in href
               for href in page.eval_on_selector_all("#openem-search-results li h3 a", "as => as.map(a => a.href)"))
    docs = _documents()
    first = results.first.locator("h3 a").get_attribute("href").split("/")[-2]
    snippet = " ".join(results.first.locator(".openem-result__excerpt").inner_text().split())
    description = " ".join(docs[first]["description"].replace("*", "").split())
    assert snippet.rstrip(" …")[:60] in description
    page.locator("input[name=kind][value=pages]").check()
    page.wait_for_function("document.querySelector('#openem-search-results a') && "
                           "[...document.querySelectorAll('#openem-search-results h3 a')]"
                           ".every(a => !a.href.includes('/datasets/'))")
    assert "kind=pages" in page.url
    page.close()


def test_filters_work_from_the_keyboard(browser, served_site: str) -> None:
    page, _ = _open(browser, served_site + "search/?q=cryo", 1400, 900)
    before = page.locator("#openem-search-results li").count()
    box = page.locator(".openem-facet[data-facet=technique] input[type=checkbox]").first
    box.focus()
    page.keyboard.press("Space")
    page.wait_for_function("location.search.includes('technique=')")
    page.wait_for_function(f"document.querySelectorAll('#openem-search-results li').length < {before} || "
                           "document.activeElement.type === 'checkbox'")
    assert page.evaluate("document.activeElement.checked") is True  # the focus stays on the box
    page.close()
    # On a phone the folded filters open from the keyboard.
    page, _ = _open(browser, served_site + "search/?q=cryo", 390, 844)
    page.locator("#openem-search-filters > summary").focus()
    page.keyboard.press("Enter")
    assert page.locator("#openem-search-filters").get_attribute("open") is not None
    page.close()


def test_a_chosen_facet_still_offers_its_other_values(browser, served_site: str) -> None:
    """Values of one facet add up ("any"): with one technique chosen, the others are offered with the counts they
    would add, and none with 0."""
    page, _ = _open(browser, served_site + "search/?technique=Single-particle+cryo-electron+microscopy", 1400, 900)
    page.wait_for_selector("#openem-search-results li")
    techniques = page.locator(".openem-facet[data-facet=technique] li")
    values = techniques.locator(".openem-facet__value").all_inner_texts()
    counts = [int(n) for n in techniques.locator(".openem-facet__count").all_inner_texts()]
    assert "Single-particle cryo-electron microscopy" in values and len(values) == len(_documents_techniques())
    assert all(n > 0 for n in counts)
    # The other facets count within the results: only values of single-particle datasets.
    facilities = page.locator(".openem-facet[data-facet=facility] .openem-facet__value").all_inner_texts()
    assert sorted(facilities) == ["DCI Lausanne", "ScopeM"]
    page.close()


def _documents_techniques() -> set[str]:
    return {d["technique"] for d in _documents().values()}


#: The least number of tables on each page type with tables (dataset: key facts, image sets, files, versions).
TABLES = {"browse": 1, "dataset": 4, "dataset without files": 3, "facilities": 1, "facility": 1}
#: What Material's `.md-typeset table:not([class])` sets on a table, read from the computed style.
MATERIAL_TABLE = """() => {
  const look = t => { const s = getComputedStyle(t);
    return [s.fontSize, s.borderTopWidth, s.borderTopStyle, s.borderTopColor, s.borderRadius, s.backgroundColor]; };
  const probe = document.createElement("table");
  probe.innerHTML = "<tbody><tr><td>x</td></tr></tbody>";
  document.querySelector("article.md-typeset").appendChild(probe);
  const material = look(probe);
  probe.remove();
  return { material, tables: [...document.querySelectorAll("article.md-typeset table")].map(t => ({
    where: (t.closest("[class*=openem-], section, aside") || t.parentElement).className,
    material: t.matches(".md-typeset table:not([class])"), look: look(t) })) };
}"""


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=lambda v: str(v))
def test_every_table_has_materials_table_style(browser, served_site: str, width: int, height: int) -> None:
    """Every table of every page type is one Material styles (no class) and has its look: font size, border and
    background as on a plain Markdown table (the probe), on a phone too (Browse turns its rows into cards there)."""
    wrong = []
    for name, path in PAGES:
        page, _ = _open(browser, served_site + path, width, height)
        found = page.evaluate(MATERIAL_TABLE)
        tables = found["tables"]
        if len(tables) < TABLES.get(name, 0):
            wrong.append(f"{name}: {len(tables)} tables, expected at least {TABLES[name]}")
        for t in tables:
            look = t["look"] if width > 390 or name != "browse" else t["look"][:1]
            if not t["material"] or look != found["material"][:len(look)]:
                wrong.append(f"{name}: the table in {t['where']!r} looks {t['look']}, Material's {found['material']}")
        page.close()
    assert found["material"][1] != "0px"  # (the probe has Material's border)
    assert not wrong, f"at {width} px:\n" + "\n".join(wrong)
