"""Site search (Pagefind): the index of the built site, and what a reader gets in a real headless Chromium."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from bs4 import BeautifulSoup

from openem_build.render.jsonld import TECHNIQUE_LABELS
from openem_build.site.build import build_site
from openem_build.site.search import BUNDLE, SHARDS_FILE, VOCABULARY_PAGE, index_site

from .conftest import EXAMPLE, ROOT, serve


def _datasets() -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text("utf-8"))
            for p in sorted((ROOT / "datasets").glob("*/dataset.yaml"))}


def _facility_labels() -> dict[str, str]:
    doc = yaml.safe_load((ROOT / "datasets" / "facilities.yaml").read_text("utf-8"))
    items = doc["facilities"] if isinstance(doc, dict) and "facilities" in doc else doc
    if isinstance(items, dict):
        items = [dict(v, id=k) for k, v in items.items()]
    return {f["id"]: f.get("short_name") or f["name"] for f in items}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalogue")
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    return build_site(root)


def _fragments(site: Path, bundle: str = BUNDLE) -> list[dict]:
    out = []
    for path in sorted((site / bundle / "fragment").glob("*.pf_fragment")):
        data = gzip.decompress(path.read_bytes())
        out.append(json.loads(data.removeprefix(b"pagefind_dcd")))
    return out


# ---- the index, read as files ----

def test_bundle_replaces_materials_single_index(site: Path) -> None:
    entry = json.loads((site / "pagefind" / "pagefind-entry.json").read_text("utf-8"))
    assert entry["languages"]["en"]["page_count"] >= len(_datasets())
    assert (site / "pagefind" / "pagefind.js").is_file()
    assert not (site / "search" / "search_index.json").exists()
    assert (site / "search" / "index.html").is_file()
    assert not (site / "pagefind" / "playground").exists()


def test_dataset_pages_carry_their_metadata_as_filters(site: Path) -> None:
    labels = _facility_labels()
    by_url = {f["url"]: f for f in _fragments(site)}
    for ident, d in _datasets().items():
        frag = by_url[f"/datasets/{ident}/"]
        assert frag["meta"]["title"] == d["title"]
        filters = frag["filters"]
        assert filters["facility"] == [labels[d["facility"]]]
        assert filters["technique"] == [TECHNIQUE_LABELS.get(d["technique"], d["technique"])]
        assert filters["year"] == [str(d["dates"]["published"])[:4]]
        assert filters["licence"] == [d.get("license", "CC-BY-4.0")]
        assert filters["status"] == [d.get("status", "published").capitalize()]
        if (d.get("sample") or {}).get("organism"):
            assert filters["organism"] == [d["sample"]["organism"]["name"]]
        if (d.get("instrument") or {}).get("detector"):
            assert filters["detector"] == [d["instrument"]["detector"]]


def test_every_dataset_page_has_the_filter_only_word(site: Path) -> None:
    # search.js searches this word when only filters are chosen: one index chunk instead of all of them.
    js = (site / "assets" / "openem" / "search.js").read_text("utf-8")
    word = js.split('var ALL = "', 1)[1].split('"', 1)[0]
    fragments = [f for f in _fragments(site) if f["url"].startswith("/datasets/")]
    assert len(fragments) == len(_datasets())
    assert all(word in f["content"] for f in fragments)
    assert not any(word in f["content"] for f in _fragments(site) if not f["url"].startswith("/datasets/"))


def test_other_pages_are_searchable_and_lists_are_not(site: Path) -> None:
    urls = {f["url"] for f in _fragments(site)}
    assert {"/", "/about/", "/contributing/", "/facilities/"} <= urls
    assert not {"/browse/", "/search/"} & urls
    # Browse and the facility tables repeat dataset titles: they stay out of the index.
    for f in _fragments(site):
        if f["url"].startswith("/facilities/"):
            assert not any(d["title"] in f["content"] for d in _datasets().values()), f["url"]


def test_a_small_catalogue_is_one_bundle(site: Path) -> None:
    assert json.loads((site / BUNDLE / SHARDS_FILE).read_text("utf-8")) == {"bundles": [BUNDLE + "/"]}
    assert not list(site.glob(BUNDLE + "-*"))


@pytest.fixture(scope="module")
def sharded(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same site indexed in shards of at most 4 dataset pages (a large catalogue's layout, in small)."""
    copy = tmp_path_factory.mktemp("sharded") / "site"
    shutil.copytree(site, copy)
    index_site(copy, shard_pages=4)
    return copy


def test_shards_split_the_pages_without_losing_or_repeating_one(site: Path, sharded: Path) -> None:
    n = len(_datasets())
    bundles = json.loads((sharded / BUNDLE / SHARDS_FILE).read_text("utf-8"))["bundles"]
    assert bundles == [BUNDLE + "/"] + [f"{BUNDLE}-{i}/" for i in range(1, -(-n // 4))]
    urls = [f["url"] for b in bundles for f in _fragments(sharded, b.rstrip("/"))]
    vocabulary = "/" + VOCABULARY_PAGE
    assert urls.count(vocabulary) == len(bundles)  # one in each shard
    assert sorted(u for u in urls if u != vocabulary) == sorted(f["url"] for f in _fragments(site))
    words = [f for f in _fragments(sharded, bundles[-1].rstrip("/")) if f["url"] == vocabulary][0]
    assert words["filters"] == {"openem": ["vocabulary"]}
    # It holds the words of pages in other shards, and none of the file tables Pagefind leaves out.
    assert "apoferritin" in words["content"].lower() and "contributing" in words["content"].lower()
    assert "openemdatasetpage" not in words["content"]
    assert ".eer" not in words["content"]
    per_shard = [sum(f["url"].startswith("/datasets/") for f in _fragments(sharded, b.rstrip("/"))) for b in bundles]
    assert max(per_shard) <= 4 and min(per_shard) >= 3, per_shard  # even groups
    # Every shard's dataset fragments carry the sort keys search.js merges by.
    for f in _fragments(sharded, bundles[-1].rstrip("/")):
        if f["url"].startswith("/datasets/"):
            assert {"published", "sort_title", "sort_size", "sort_resolution"} <= set(f["meta"]), f["url"]
    # No staging folder is left next to the site.
    assert not [p for p in sharded.parent.iterdir() if p.name.startswith(".pagefind-shard-")]
    # Indexing again gives the same bundles.
    index_site(sharded, shard_pages=4)
    again = json.loads((sharded / BUNDLE / SHARDS_FILE).read_text("utf-8"))["bundles"]
    assert again == bundles


def test_sharded_index_is_reproducible(sharded: Path, tmp_path: Path) -> None:
    other = tmp_path / "site"
    shutil.copytree(sharded, other)
    index_site(other, shard_pages=4)

    def tree(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and p.relative_to(root).parts[0].startswith(BUNDLE)}

    assert tree(other) == tree(sharded)
    index_site(other, shard_pages=100)
    assert not list(other.glob(BUNDLE + "-*"))
    assert json.loads((other / BUNDLE / SHARDS_FILE).read_text("utf-8")) == {"bundles": [BUNDLE + "/"]}


@pytest.mark.parametrize("suffix", [".pf_meta", ".pf_filter", SHARDS_FILE, "index.html"])
def test_a_write_that_runs_out_of_room_names_the_search_file(sharded: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """A full disk fails a write after its file was opened, with an OSError without a file name: every write of
    the index (staged copies, canonical chunks, the shard list) names its file, for the build's one-line message."""
    import errno

    other = tmp_path / "site"
    shutil.copytree(sharded, other)
    real = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if self.name.endswith(suffix):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError) as failed:
        index_site(other, shard_pages=4)
    assert failed.value.errno == errno.ENOSPC and str(failed.value.filename).endswith(suffix)


def test_visible_content_is_unchanged_by_search_attributes(site: Path) -> None:
    page = BeautifulSoup((site / "datasets" / EXAMPLE / "index.html").read_text("utf-8"), "lxml")
    article = page.find("article", class_="openem-dataset")
    assert article.has_attr("data-pagefind-body")
    assert "resolution[data-search-resolution]" in article["data-pagefind-sort"]
    # The filters are attributes of the article, or of hidden elements (render/searchmeta.py): nothing shown.
    inner = article.find_all(attrs={"data-pagefind-filter": True})
    assert all(el.has_attr("hidden") and not el.get_text(strip=True) for el in inner)
    assert all(el.has_attr("hidden") for el in article.find_all(attrs={"data-pagefind-meta": True}))


# ---- in a browser ----

@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    yield from serve(site)


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context()
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"pageerror: {e}"))
    yield pg
    context.close()


def _settled(page) -> None:
    page.wait_for_selector("form.openem-search--ready")
    page.wait_for_function("!document.getElementById('openem-search').hasAttribute('aria-busy')")


def _all_results(page) -> list[str]:
    """Dataset ids (or page paths) of every result, in order, clicking 'More results' as needed."""
    _settled(page)
    while page.locator("#openem-search-more").is_visible():
        n = page.locator(".openem-result").count()
        page.click("#openem-search-more")
        page.wait_for_function(f"document.querySelectorAll('.openem-result').length > {n}")
    hrefs = page.eval_on_selector_all("a.openem-result__title", "els => els.map(e => e.getAttribute('href'))")
    return [h.rstrip("/").split("/")[-1] if "/datasets/" in h else h for h in hrefs]



@pytest.mark.browser
def test_header_box_finds_a_sample_first(page, served: str) -> None:
    page.goto(served + "about/")
    page.fill("#openem-header-q", "apoferritin")
    page.press("#openem-header-q", "Enter")
    page.wait_for_url("**/search/?q=apoferritin")
    results = _all_results(page)
    assert results[0] == EXAMPLE
    assert page.locator("#openem-search-q").input_value() == "apoferritin"
    first = page.locator(".openem-result").first
    assert "apoferritin" in first.locator("mark").first.inner_text().lower()  # a snippet with the match
    assert "Single-particle" in first.locator(".openem-result__meta").inner_text()
    assert page.errors == []


@pytest.mark.browser
def test_facets_narrow_to_the_right_set_and_the_url_is_shareable(page, served: str, browser) -> None:
    datasets = _datasets()
    labels = _facility_labels()
    facility, _ = Counter(d["facility"] for d in datasets.values()).most_common(1)[0]
    in_facility = {i for i, d in datasets.items() if d["facility"] == facility}
    technique, _ = Counter(datasets[i]["technique"] for i in in_facility).most_common(1)[0]
    both = {i for i in in_facility if datasets[i]["technique"] == technique}
    assert len(in_facility) > len(both) >= 1

    page.goto(served + "search/")
    _settled(page)
    chunks: list[str] = []
    page.on("request", lambda r: chunks.append(r.url) if "/pagefind/index/" in r.url else None)
    page.check(f"input[name=facility][value='{labels[facility]}']")
    assert set(_all_results(page)) == in_facility
    assert len(chunks) <= 1, chunks  # a filter-only search does not load the whole word index
    assert "openemdatasetpage" not in page.locator("#openem-search-results").inner_text()
    count = page.locator(f"input[name=facility][value='{labels[facility]}'] ~ .openem-facet__count").inner_text()
    assert int(count) == len(in_facility)
    page.check(f"input[name=technique][value='{TECHNIQUE_LABELS[technique]}']")
    assert set(_all_results(page)) == both
    page.select_option("#openem-search-sort", "newest")
    ordered = _all_results(page)
    published = [str(datasets[i]["dates"]["published"]) for i in ordered]
    assert sorted(ordered) == sorted(both) and published == sorted(published, reverse=True)
    params = parse_qs(urlparse(page.url).query)
    assert params == {"facility": [labels[facility]], "technique": [TECHNIQUE_LABELS[technique]], "sort": ["newest"]}

    # The shared URL, opened in a fresh browser context, gives the same results in the same order.
    other = browser.new_context().new_page()
    other.goto(page.url)
    assert _all_results(other) == ordered
    assert other.locator(f"input[name=facility][value='{labels[facility]}']").is_checked()
    assert other.locator("#openem-search-sort").input_value() == "newest"
    other.context.close()
    assert page.errors == []


@pytest.mark.browser
def test_text_and_filter_combine(page, served: str) -> None:
    datasets = _datasets()
    page.goto(served + "search/?q=krios")
    krios = set(_all_results(page))
    expected = {i for i, d in datasets.items() if "krios" in (d.get("instrument") or {}).get("microscope", "").lower()}
    assert expected <= krios
    page.goto(served + "search/?q=krios&year=2023")
    narrowed = set(_all_results(page))
    assert narrowed and narrowed == {i for i in krios if i in datasets and
                                     str(datasets[i]["dates"]["published"]).startswith("2023")}
    assert page.errors == []


@pytest.mark.browser
def test_keyboard(page, served: str) -> None:
    page.goto(served)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "openem-header-q"
    page.keyboard.type("tomography")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=tomography")
    _settled(page)
    assert page.evaluate("document.activeElement.id") in ("openem-search-q", "")
    page.focus("#openem-search-q")
    page.keyboard.press("ArrowDown")
    first = page.evaluate("document.activeElement.getAttribute('data-result-index')")
    assert first == "0"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.getAttribute('data-result-index')") == "1"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.id") == "openem-search-q"
    page.keyboard.press("ArrowDown")
    href = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url("**" + href)
    assert page.errors == []


@pytest.mark.browser
def test_without_javascript_the_forms_lead_to_browse(browser, served: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(served + "search/")
    assert "browse all datasets" in page.locator("noscript").inner_text().lower() or \
        page.locator("a[href$='browse/']").count()
    page.fill("#openem-header-q", "apoferritin")
    page.press("#openem-header-q", "Enter")
    page.wait_for_url("**/browse/?text=apoferritin")
    assert page.locator("#openem-browse tbody tr").count() == len(_datasets())
    context.close()


@pytest.fixture(scope="module")
def served_sharded(sharded: Path) -> Iterator[str]:
    yield from serve(sharded)


def _facet_counts(page) -> dict[str, int]:
    return page.evaluate("""() => Object.fromEntries(Array.from(
        document.querySelectorAll('fieldset[data-facet] input[type=checkbox]'),
        b => [b.name + '=' + b.value, Number(b.parentNode.querySelector('.openem-facet__count').textContent)]))""")


@pytest.mark.browser
def test_a_sharded_index_answers_as_one(page, site: Path, served: str, served_sharded: str) -> None:
    """Every query, filter and order gives the same results from four shards as from one index."""
    datasets = _datasets()
    keys = {f["url"].rstrip("/").split("/")[-1]: f["meta"] for f in _fragments(site)
            if f["url"].startswith("/datasets/")}
    queries = ["search/?q=apoferritin", "search/?q=krios", "search/?q=tomography&year=2023",
               "search/?sort=title", "search/?sort=newest", "search/?sort=size", "search/?sort=resolution",
               "search/?q=cryo&sort=title"]
    for query in queries:
        page.goto(served + query)
        one = _all_results(page)
        counts = _facet_counts(page)
        page.goto(served_sharded + query)
        sharded = _all_results(page)
        assert one, query
        assert sorted(sharded) == sorted(one), query
        assert _facet_counts(page) == counts, query
        if "sort=" in query:  # the same order, ties aside (the examples have no sizes: all tie)
            name = parse_qs(urlparse(query).query)["sort"][0]
            meta = {"newest": "published", "title": "sort_title", "size": "sort_size",
                    "resolution": "sort_resolution"}[name]
            assert [keys[i][meta] for i in sharded] == [keys[i][meta] for i in one], query
    page.goto(served_sharded + "search/?sort=title")
    titles = [datasets[i]["title"].lower() for i in _all_results(page)]
    assert titles == sorted(titles) and len(titles) == len(datasets)
    assert page.errors == []


@pytest.mark.browser
def test_search_says_so_when_the_shard_list_is_missing(page, sharded: Path, tmp_path: Path) -> None:
    broken = tmp_path / "site"
    shutil.copytree(sharded, broken)
    (broken / BUNDLE / SHARDS_FILE).unlink()
    for url in serve(broken):
        page.goto(url + "search/?q=apoferritin")
        page.wait_for_function("document.getElementById('openem-search-status').textContent.includes('could not')")
        assert "openem-shards.json" in page.locator("#openem-search-status").inner_text()
        assert page.locator("#openem-search-status a[href$='/browse/']").count() == 1


def test_a_shards_vocabulary_holds_the_other_shards_words_but_not_markup(tmp_path: Path) -> None:
    from openem_build.site.search import _stage

    site = tmp_path / "site"
    pages = {
        "x": '<h1>Zebrafish &amp; <em>lateral</em> line</h1><img src="a.png" alt="neuromast hair-cells">',
        "y": "<h1>Zebrafish retina</h1>",
    }
    for name, body in pages.items():
        (site / "datasets" / name).mkdir(parents=True)
        (site / "datasets" / name / "index.html").write_text(
            '<html><body><nav>chrome</nav><article class="openem-dataset" data-pagefind-body data-x="attrvalue">'
            f'{body}<h3 id="files">Files</h3><table class="openem-files"><tr><td>movie_0001.eer</td></tr></table>'
            '</section></article><footer>footer</footer></body></html>', "utf-8")
    stages = [tmp_path / "stage-1", tmp_path / "stage-2"]
    vocabularies = _stage(site, [(stages[0], ["datasets/x/index.html"]), (stages[1], ["datasets/y/index.html"])])

    def words(page: bytes) -> set[bytes]:
        return set(page.split(b"<div", 1)[1].split(b">", 1)[1].split(b"</div>")[0].split())

    # Each shard gets the words only the other has: text and alt text, no markup, attributes or file tables.
    assert words(vocabularies[0]) == {b"retina"}
    assert words(vocabularies[1]) == {b"&amp;", b"lateral", b"line", b"neuromast", b"hair-cells"}
    copy = (stages[0] / "datasets" / "x" / "index.html").read_bytes()
    assert b"chrome" not in copy and b"movie_0001" not in copy and b"<h1>Zebrafish" in copy
