"""What a reader sees, in a real headless Chromium (Debian's ``chromium``) driven by Playwright."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
import yaml

from openem_build.site.build import build_site

from .conftest import ROOT, serve

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def served_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("catalogue")
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    yield from serve(build_site(root))


def _datasets() -> dict[str, dict]:
    return {p.parent.name: yaml.safe_load(p.read_text("utf-8"))
            for p in sorted((ROOT / "datasets").glob("*/dataset.yaml"))}


def test_reader_journey(browser, served_site: str) -> None:
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served_site.rstrip("/"))
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))

    # Home
    page.goto(served_site)
    assert "OpenEM" in page.locator("h1").first.inner_text()
    datasets = _datasets()
    technique = "tomography"
    expected = sorted(i for i, d in datasets.items() if d["technique"] == technique)
    assert expected, "the examples should include a tomography dataset"

    # Browse, filtered by technique
    page.click("nav.md-tabs >> text=Browse")
    page.wait_for_selector("#openem-browse")
    rows = page.locator("#openem-browse tbody tr")
    assert rows.count() == len(datasets)
    page.select_option("select[name=technique]", technique)
    visible = sorted(h.split("/")[-2] for h in page.eval_on_selector_all(
        "#openem-browse tbody tr:not([hidden]) a", "els => els.map(e => e.getAttribute('href'))"))
    assert visible == expected
    assert page.locator("#openem-count").inner_text() == f"{len(expected)} dataset{'s' * (len(expected) != 1)}"
    assert f"technique={technique}" in page.url
    # The filtered URL is shareable: opening it again gives the same rows.
    shared = page.url
    page.goto(shared)
    again = page.eval_on_selector_all("#openem-browse tbody tr:not([hidden]) a",
                                      "els => els.map(e => e.getAttribute('href'))")
    assert sorted(h.split("/")[-2] for h in again) == expected

    # A dataset page
    ident = expected[0]
    page.click(f"#openem-browse a[href$='datasets/{ident}/']")
    page.wait_for_selector("article.openem-dataset")
    assert page.locator("h1").first.inner_text() == datasets[ident]["title"]
    data = json.loads(page.locator("script[type='application/ld+json']").first.text_content())
    assert data["@type"] == "Dataset" and data["name"] == datasets[ident]["title"]

    # Copy the citation with the copy button of its code block
    citation = page.locator("pre.openem-citation code").inner_text().strip()
    page.locator("pre.openem-citation").hover()
    page.locator("pre.openem-citation button[data-md-type=copy]").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == citation
    assert datasets[ident]["title"] in copied

    assert errors == []
    context.close()


def test_browse_text_filter_and_reset(browser, served_site: str) -> None:
    page = browser.new_page()
    page.goto(served_site + "browse/?text=apoferritin")
    visible = page.eval_on_selector_all("#openem-browse tbody tr:not([hidden]) a",
                                        "els => els.map(e => e.getAttribute('href'))")
    assert visible and all("apoferritin" in h for h in visible)
    page.click("#openem-filters button[type=reset]")
    page.wait_for_function("document.querySelectorAll('#openem-browse tbody tr[hidden]').length === 0")
    assert "?" not in page.url
    page.close()
