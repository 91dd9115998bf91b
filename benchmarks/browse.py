"""The Browse page at scale: its weight and how fast it loads and filters, thumbnails included.

    .venv/bin/python benchmarks/browse.py [N] [--out DIR [--reuse]] [--no-previews]

Generates N synthetic datasets with benchmarks/synth.py (default 10,000) and gives each the previews of one of
the repository's example entries (so that every row has a thumbnail, the heaviest case), builds the site with
``openem build``, then opens the Browse page in headless Chromium (Debian's chromium) at 1400 × 900 and reports:
the page's HTML (bytes, and gzip-compressed as a server sends it), what the browser fetched before the load
event (requests, bytes, thumbnails among them: lazy loading fetches only those near the screen), the times to
DOMContentLoaded and load, the time a filter takes to apply, and the thumbnails fetched after scrolling to the
end. Prints the numbers; run by hand.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for p in (REPO, REPO / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import synth  # noqa: E402

from openem_build.site.build import build_site  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def size(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def add_previews(out: Path) -> int:
    """Give every synthetic entry the previews of an example entry (in turn); the number of entries given them."""
    sources = sorted(p.parent for p in (REPO / "datasets").glob("*/previews.json"))
    if not sources:
        return 0
    entries = sorted(p for p in (out / "datasets").iterdir() if (p / "dataset.yaml").is_file())
    for k, entry in enumerate(entries):
        source = sources[k % len(sources)]
        shutil.rmtree(entry / "previews", ignore_errors=True)
        shutil.copytree(source / "previews", entry / "previews")
        shutil.copy(source / "previews.json", entry / "previews.json")
    return len(entries)


def measure(site: Path) -> dict[str, float]:
    from playwright.sync_api import Error, sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/browse/"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out: dict[str, float] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            fetched: list[tuple[str, int]] = []

            def done(request) -> None:
                response = request.response()
                try:
                    n = len(response.body()) if response is not None else 0
                except Error:  # (Chromium drops a large body, Browse's HTML at 10,000 rows, from its inspector cache)
                    n = request.sizes()["responseBodySize"]
                fetched.append((request.url, n))

            page.on("requestfinished", done)
            page.goto(url, wait_until="load")
            timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
            import json

            nav = json.loads(timing)
            out["dom_content_loaded_ms"] = nav["domContentLoadedEventEnd"]
            out["load_ms"] = nav["loadEventEnd"] or nav["duration"]
            out["requests_at_load"] = len(fetched)
            out["bytes_at_load"] = sum(n for _, n in fetched)
            out["thumbs_at_load"] = sum(1 for u, _ in fetched if "/thumbnails/" in u)
            # The filter's own work (browse.js runs it on the change event), then the next frame drawn.
            out["filter_ms"] = page.evaluate("""() => new Promise(done => {
                const s = document.querySelector("select[name=technique]");
                const start = performance.now();
                s.selectedIndex = 1;
                s.dispatchEvent(new Event("change", {bubbles: true}));
                requestAnimationFrame(() => setTimeout(() => done(performance.now() - start), 0));
            })""")
            page.select_option("select[name=technique]", index=0)
            before = len(fetched)
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            page.wait_for_timeout(1500)
            out["thumbs_after_scroll_to_end"] = sum(1 for u, _ in fetched[before:] if "/thumbnails/" in u)
            browser.close()
    finally:
        server.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--out", type=Path, help="where to build (default: a temporary folder, deleted)")
    parser.add_argument("--reuse", action="store_true", help="reuse the catalogue and site already in --out")
    parser.add_argument("--no-previews", action="store_true", help="no thumbnails (rows without pictures)")
    args = parser.parse_args(argv)
    tmp = None if args.out else Path(tempfile.mkdtemp(prefix="openem-browse-"))
    out = args.out or tmp
    assert out is not None
    try:
        site = out / "site"
        if not (args.reuse and (site / "browse" / "index.html").is_file()):
            synth.write(args.n, out)
            given = 0 if args.no_previews else add_previews(out)
            start = time.perf_counter()
            site = build_site(out)
            print(f"{args.n:,} datasets ({given:,} with previews): site built in {time.perf_counter() - start:.1f} s")
        html = (site / "browse" / "index.html").read_bytes()
        thumbs = list(site.glob("datasets/*/thumbnails/*.png"))
        print(f"Browse HTML: {size(len(html))} ({size(len(gzip.compress(html, 6)))} gzip); thumbnail files: "
              f"{len(thumbs):,}, {size(sum(p.stat().st_size for p in thumbs))}")
        m = measure(site)
        print(f"at load: {int(m['requests_at_load'])} requests, {size(m['bytes_at_load'])} "
              f"({int(m['thumbs_at_load'])} thumbnails); DOMContentLoaded {m['dom_content_loaded_ms']:.0f} ms, "
              f"load {m['load_ms']:.0f} ms")
        print(f"a technique filter applied in {m['filter_ms']:.0f} ms; scrolled to the end: "
              f"{int(m['thumbs_after_scroll_to_end'])} more thumbnails fetched")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
