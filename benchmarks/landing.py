"""Landing-page weight: what a reader's browser downloads for each dataset page of a built site, with and without
the 3D map viewer (Mol*).

    .venv/bin/python benchmarks/landing.py [--site site] [--time]

For each ``datasets/<id>/index.html``: the page, what it links to on the site (style sheets, scripts, preview
images; lazy images count: a reader who scrolls gets them), and, on a page with a map, Mol* (``molstar.js`` and
``.css``, loaded by ``mapviewer.js``) and the map itself from the store. Files are counted once per page, as a
first visit without a cache downloads them. ``--time`` also loads each page in headless Chromium (127.0.0.1) and
prints the time to the load event and, on map pages, until the map is shown.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup


def _local(site: Path, page_url: str, ref: str) -> Path | None:
    url = urljoin(page_url, ref)
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    path = (site / parts.path.lstrip("/")).resolve()
    if path.is_dir():
        path = path / "index.html"
    return path if path.is_file() and site.resolve() in path.parents else None


def weigh(site: Path, ident: str) -> dict[str, int]:
    """Bytes of one landing page by kind: html, css, js, images, viewer (Mol*), map."""
    page = site / "datasets" / ident / "index.html"
    url = f"/datasets/{ident}/"
    soup = BeautifulSoup(page.read_text("utf-8"), "lxml")
    out = {"html": page.stat().st_size, "css": 0, "js": 0, "images": 0, "viewer": 0, "map": 0}
    seen: set[Path] = set()

    def add(kind: str, ref: str | None) -> None:
        path = _local(site, url, ref) if ref else None
        if path is not None and path not in seen:
            seen.add(path)
            out[kind] += path.stat().st_size

    for link in soup.select("link[rel~=stylesheet]"):
        add("css", link.get("href"))
    for script in soup.select("script[src]"):
        add("js", script.get("src"))
    for img in soup.select("img[src]"):
        add("images", img.get("src"))
    viewer = soup.select_one("[data-openem-mapviewer]")
    if viewer is not None:
        for name in ("molstar.js", "molstar.css"):
            add("viewer", viewer["data-molstar"] + name)
        choice = viewer.select_one(".openem-mapviewer__choice[data-auto], option[data-auto]")
        if choice is not None:
            add("map", choice.get("value"))
    return out


def _timings(site: Path, idents: list[str]) -> dict[str, tuple[float, float | None]]:
    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            for ident in idents:
                page = browser.new_page()
                start = time.perf_counter()
                page.goto(f"{base}/datasets/{ident}/", wait_until="load")
                loaded = time.perf_counter() - start
                shown = None
                if page.locator("[data-openem-mapviewer] [data-auto]").count():
                    page.wait_for_selector("[data-openem-mapviewer][data-state=loaded]", timeout=120_000)
                    shown = time.perf_counter() - start
                out[ident] = (loaded, shown)
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=Path("site"))
    parser.add_argument("--time", action="store_true", help="also time each page in headless Chromium")
    args = parser.parse_args()
    idents = sorted(p.parent.name for p in (args.site / "datasets").glob("*/index.html"))
    times = _timings(args.site, idents) if args.time else {}
    print(f"{'dataset':42} {'html':>8} {'css':>8} {'js':>8} {'images':>9} {'viewer':>9} {'map':>9} "
          f"{'without':>9} {'with':>10}" + ("   load s  map s" if times else ""))
    for ident in idents:
        w = weigh(args.site, ident)
        without = w["html"] + w["css"] + w["js"] + w["images"]
        line = (f"{ident:42} {w['html']:>8,} {w['css']:>8,} {w['js']:>8,} {w['images']:>9,} {w['viewer']:>9,} "
                f"{w['map']:>9,} {without:>9,} {without + w['viewer'] + w['map']:>10,}")
        if ident in times:
            loaded, shown = times[ident]
            line += f"   {loaded:6.2f} " + (f"{shown:6.2f}" if shown is not None else "     -")
        print(line)


if __name__ == "__main__":
    main()
