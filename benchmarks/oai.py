"""How the OAI-PMH endpoint (`openem oai serve`) copes with a large catalogue: a full harvest over HTTP.

For each N, writes the OAI part of a site for N datasets (``oai/index.json`` and the records, made by the build's
own renderers from copies of an example entry), starts the endpoint on 127.0.0.1 and harvests it as a harvester
does: ``ListIdentifiers`` and ``ListRecords`` in both formats, page by page through the resumption tokens, and
``GetRecord`` of every 100th record. Prints the time to load the index, the harvest times and requests per
second, and the server process's peak memory. Run by hand:

    .venv/bin/python benchmarks/oai.py --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import resource
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openem_build.infra.context import SiteContext  # noqa: E402
from openem_build.records.load import load_catalogue  # noqa: E402
from openem_build.records.model import Catalogue  # noqa: E402
from openem_build.render import oai  # noqa: E402
from openem_build.site.oaiserve import OAIApp, make_http_server  # noqa: E402

TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]*)</resumptionToken>")


def write_site(n: int, out: Path) -> None:
    """The OAI part of a site of ``n`` datasets, copies of the first example entry under new ids."""
    example = load_catalogue(ROOT).catalogue
    base = example.datasets[0]
    ctx = SiteContext(example, site_url="https://catalogue.openem.ch/")
    records = {a.path.rsplit("/", 1)[-1]: a.content for a in oai.record_artefacts(ctx, base)}
    datasets = tuple(dataclasses.replace(base, id=f"bench-{k:06d}") for k in range(n))
    big = SiteContext(Catalogue(datasets, example.facilities, example.root), site_url=ctx.site_url)
    start = datetime(2024, 1, 1)
    times = {d.id: start + timedelta(minutes=k) for k, d in enumerate(datasets)}
    (out / "oai").mkdir(parents=True)
    (out / oai.INDEX).write_text(oai.artefacts(big, times)[0].content, encoding="utf-8")  # type: ignore[arg-type]
    for d in datasets:
        folder = out / "oai" / "records" / d.id
        folder.mkdir(parents=True)
        for name, content in records.items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def harvest(url: str, verb: str, prefix: str) -> tuple[int, int]:
    """(requests, bytes) of a whole list, following the resumption tokens."""
    query = {"verb": verb, "metadataPrefix": prefix}
    requests = size = 0
    while True:
        with urllib.request.urlopen(url + "?" + urllib.parse.urlencode(query), timeout=120) as response:
            body = response.read()
        requests, size = requests + 1, size + len(body)
        found = TOKEN.search(body)
        if not found or not found.group(1):
            return requests, size
        query = {"verb": verb, "resumptionToken": found.group(1).decode()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000", help="comma-separated N (default 1000)")
    p.add_argument("--page-size", type=int, default=100)
    args = p.parse_args()
    print(f"{'N':>7} {'load s':>7} {'verb':<16} {'prefix':<13} {'s':>7} {'req':>5} {'req/s':>6} {'MB':>7}")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            site = Path(tmp)
            write_site(n, site)
            t0 = time.perf_counter()
            app = OAIApp(site, page_size=args.page_size)
            load = time.perf_counter() - t0
            server = make_http_server(app, "127.0.0.1", 0, log=False)
            url = f"http://127.0.0.1:{server.server_address[1]}/"
            threading.Thread(target=server.serve_forever, daemon=True).start()
            try:
                for verb in ("ListIdentifiers", "ListRecords"):
                    for prefix in ("oai_dc", "oai_datacite"):
                        t0 = time.perf_counter()
                        count, size = harvest(url, verb, prefix)
                        took = time.perf_counter() - t0
                        print(f"{n:>7} {load:>7.2f} {verb:<16} {prefix:<13} {took:>7.2f} {count:>5} "
                              f"{count / took:>6.1f} {size / 1e6:>7.1f}", flush=True)
                t0 = time.perf_counter()
                for k in range(0, n, 100):
                    q = urllib.parse.urlencode({"verb": "GetRecord", "metadataPrefix": "oai_dc",
                                                "identifier": f"oai:catalogue.openem.ch:bench-{k:06d}"})
                    urllib.request.urlopen(url + "?" + q, timeout=60).read()
                took = time.perf_counter() - t0
                count = len(range(0, n, 100))
                print(f"{n:>7} {load:>7.2f} {'GetRecord':<16} {'oai_dc':<13} {took:>7.2f} {count:>5} "
                      f"{count / took:>6.1f}", flush=True)
            finally:
                server.shutdown()
                server.server_close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (server and client, largest N): {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
