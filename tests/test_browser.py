"""What a reader sees, in a real headless Chromium (Debian's ``chromium``) driven by Playwright."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator

import pytest
import yaml

from openem_build.build import build_site

from .conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require_chromium() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is required in CI (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI runs these tests")


@pytest.fixture(scope="module")
def served_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("catalogue")
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    site = build_site(root)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


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
