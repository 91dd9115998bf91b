"""Search at scale: the Pagefind index of a synthetic catalogue, and what a browser downloads for a query.

    .venv/bin/python benchmarks/search.py [N] [--out DIR [--reuse]] [--manifests] [--material]

Generates N synthetic datasets with benchmarks/synth.py (default 10,000), builds the site with ``openem build``
(MkDocs, then the Pagefind step), indexes it once more on its own to time the index, then opens the Search
page in headless Chromium (Debian's chromium) and counts the bytes fetched from /pagefind/ for a first query,
a second query, and a filtered, sorted query. ``--material`` also builds with Material's own search plugin, to
compare with the single index it makes every reader download. Prints the numbers; run by hand.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
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
from openem_build.site.search import index_site  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def dir_bytes(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def browse_queries(site: Path, queries: list[str]) -> list[tuple[str, int, int, int, float]]:
    """(query, requests, bytes, results, seconds) per query, in one page session (so later queries reuse
    what earlier ones loaded, as a reader's browser would)."""
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        seen: list[tuple[str, int]] = []

        def on_finished(request: object) -> None:
            if re.search(r"/pagefind(-\d+)?/", request.url):  # every shard's bundle (openem_build/site/search.py)
                sizes = request.sizes()
                seen.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

        page.on("requestfinished", on_finished)
        for i, query in enumerate(queries):
            seen.clear()
            start = time.perf_counter()
            if i == 0:
                page.goto(base + "search/" + query)
            else:
                script = "url => { history.pushState(null, '', url); dispatchEvent(new PopStateEvent('popstate')); }"
                page.evaluate(script, base + "search/" + query)
            page.wait_for_selector("form.openem-search--ready")
            page.wait_for_function("!document.getElementById('openem-search').hasAttribute('aria-busy')")
            page.wait_for_load_state("networkidle")
            elapsed = time.perf_counter() - start
            status = page.locator("#openem-search-status").inner_text()
            results = int(status.split()[0].replace(",", "")) if status[:1].isdigit() else 0
            out.append((query, len(seen), sum(n for _, n in seen), results, elapsed))
        browser.close()
    server.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=10_000)
    parser.add_argument("--out", type=Path, help="work folder (kept); default: a temporary folder")
    parser.add_argument("--manifests", action="store_true", help="generate file manifests too (slower)")
    parser.add_argument("--reuse", action="store_true", help="reuse OUT/catalogue when it exists (with --out)")
    parser.add_argument("--material", action="store_true", help="also measure Material's built-in search index")
    args = parser.parse_args(argv)

    work = args.out or Path(tempfile.mkdtemp(prefix="openem-search-bench-"))
    cat = work / "catalogue"
    if args.reuse and (cat / "datasets").is_dir():
        n = sum(1 for _ in (cat / "datasets").glob("*/dataset.yaml"))
        print(f"catalogue: {n:,} synthetic datasets reused from {cat}")
    else:
        t = time.perf_counter()
        synth.write(args.n, cat, with_manifests=args.manifests)
        print(f"catalogue: {args.n:,} synthetic datasets in {cat} ({time.perf_counter() - t:.1f} s, "
              "benchmarks/synth.py)")

    t = time.perf_counter()
    site = build_site(cat)
    print(f"openem build (MkDocs + Pagefind): {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    stats = index_site(site)
    index_seconds = time.perf_counter() - t
    print(f"Pagefind index alone: {index_seconds:.1f} s for {stats.pages:,} pages "
          f"-> {stats.files:,} files, {mb(stats.bytes)} on the server")
    bundles = sorted(p.name for p in site.glob("pagefind*") if p.is_dir())
    print(f"  {len(bundles)} bundle(s): {', '.join(bundles)}")
    for sub in ("index", "fragment", "filter"):
        n = size = 0
        for bundle in bundles:
            files, nbytes = dir_bytes(site / bundle / sub)
            n, size = n + files, size + nbytes
        print(f"  {sub}/ (all bundles): {n:,} files, {mb(size)}")

    sample = "apoferritin"
    queries = [f"?q={sample}", "?q=krios+k3", "?q=tomography&facility=BioEM+Basel&sort=newest",
               "?technique=Electron+cryo-tomography"]
    print("browser (headless Chromium, one session, bytes fetched from the bundles incl. headers):")
    for query, requests, size, results, seconds in browse_queries(site, queries):
        print(f"  {query:<48} {requests:>3} requests {mb(size):>10}  {results:>6,} results  {seconds:.2f} s")

    if args.material:
        mk = cat / "mkdocs.yml"
        text = mk.read_text("utf-8")
        mk.write_text(text.replace("plugins:\n  - openem\n", "plugins:\n  - search\n  - openem\n"), "utf-8")
        material = build_site(cat, site_dir=work / "site-material")
        index = material / "search" / "search_index.json"
        print(f"Material's search index (one file every reader downloads): {mb(index.stat().st_size)}")
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
