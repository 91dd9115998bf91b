"""The example catalogue as a data user meets it: `examples/build.py` makes the example entries' DataLad datasets
and publishes them into the store, the site serves the store next to its pages on 127.0.0.1, and the commands of
each page's "Get the data" block (real `datalad clone` and `datalad get`), and every file link, deliver exactly
the bytes the manifest and the page describe. The embargoed example publishes nothing of its files before its
date, and everything after it."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml
from bs4 import BeautifulSoup

from openem_build.records.manifest import read
from openem_build.site.build import build_site

from .conftest import ROOT, git_catalogue, serve_on

EXAMPLES = yaml.safe_load((ROOT / "examples" / "datasets.yaml").read_text("utf-8"))
EMBARGOED = "zebrafish-neuromast-sbfsem-2026"
OPEN = sorted(set(EXAMPLES) - {EMBARGOED})


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def catalogue_with_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example catalogue after `examples/build.py`: its example datasets installed and in its store."""
    root = git_catalogue(tmp_path_factory.mktemp("catalogue"))
    proc = subprocess.run([sys.executable, str(root / "examples" / "build.py"), "--root", str(root)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _manifest(root: Path, ident: str):
    manifest, _doc, problems = read(root / "datasets" / ident / "manifest.json", root)
    assert manifest is not None, problems
    return manifest


def test_example_build_is_repeatable_and_leaves_the_catalogue_clean(catalogue_with_data: Path) -> None:
    root = catalogue_with_data
    # The datasets are the ones the catalogue records, and the entries are unchanged.
    assert git(root, "status", "--porcelain", "--ignore-submodules=none", "--untracked-files=no") == ""
    proc = subprocess.run([sys.executable, str(root / "examples" / "build.py"), "--root", str(root)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "publishing" not in proc.stdout  # the second run finds everything in place
    for ident, spec in EXAMPLES.items():
        data = root / "datasets" / ident / "data"
        assert git(data, "rev-parse", "HEAD").strip() == _manifest(root, ident).commit
        assert (root / "store" / spec["datalad_id"][:3] / spec["datalad_id"][3:] / "HEAD").is_file()
    from openem_build.records.load import load_catalogue

    result = load_catalogue(root, disk_cache=False)
    assert [p.text() for p in result.problems] == []  # no warning either: `openem validate --strict` passes


@pytest.fixture(scope="module")
def served(catalogue_with_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The example site built for, and served at, a port on 127.0.0.1."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    site = build_site(catalogue_with_data, tmp_path_factory.mktemp("site") / "site", site_url=url)
    with serve_on(site, port) as base:
        assert base == url
        yield site, url


def _page(site: Path, ident: str) -> BeautifulSoup:
    return BeautifulSoup((site / "datasets" / ident / "index.html").read_text("utf-8"), "lxml")


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.mark.parametrize("ident", OPEN)
def test_the_pages_commands_deliver_the_files_the_manifest_lists(served, catalogue_with_data: Path, ident: str,
                                                                 tmp_path: Path) -> None:
    site, url = served
    page = _page(site, ident)
    commands = page.select_one("pre.openem-commands").get_text()
    assert f"ria+{url}store#" in commands  # the store of this build, not the canonical host
    script = "set -e\n" + commands + "\n"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=_tool_env(), capture_output=True, text=True,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    clone = tmp_path / ident
    manifest = _manifest(catalogue_with_data, ident)
    shown = {row["data-path"]: row.select_one("code.openem-checksum").get_text()
             for row in page.select(".openem-files tr[data-path]")}
    assert set(shown) == {f.path for f in manifest.files}
    for f in manifest.files:
        got = _md5(clone / f.path)
        assert got == f.checksum_of("md5"), f.path
        assert shown[f.path] == f"md5:{got}"


@pytest.mark.parametrize("ident", OPEN)
def test_every_file_link_downloads_the_bytes_the_manifest_names(served, catalogue_with_data: Path,
                                                                ident: str) -> None:
    site, url = served
    page = _page(site, ident)
    manifest = _manifest(catalogue_with_data, ident)
    links = {row["data-path"]: row.select_one("a[download]") for row in page.select(".openem-files tr")
             if row.has_attr("data-path")}
    assert set(links) == {f.path for f in manifest.files}
    for f in manifest.files:
        link = links[f.path]
        assert link is not None and link["href"].startswith("../../store/"), f.path  # works wherever served
        href = urljoin(f"{url}datasets/{ident}/", link["href"])
        assert link["download"] == f.name
        with urllib.request.urlopen(href, timeout=60) as response:
            data = response.read()
        assert hashlib.md5(data).hexdigest() == f.checksum_of("md5"), f.path
        assert len(data) == f.size


def test_json_ld_dcat_and_signposting_name_the_store(served) -> None:
    site, url = served
    ident = "chlamy-ribosome-sta-2025"
    page = _page(site, ident)
    data = [json.loads(s.string) for s in page.find_all("script", type="application/ld+json")][0]
    downloads = [d for d in data["distribution"] if d.get("contentUrl", "").startswith(url + "store/")]
    assert downloads and all(d["encodingFormat"] for d in downloads)
    assert any(d["description"].startswith(f"datalad clone ria+{url}store#") and d["contentUrl"].startswith(
        f"{url}store/") for d in data["distribution"] if d["name"].startswith("DataLad"))
    assert data["isAccessibleForFree"] is True
    items = [link["href"] for link in page.find_all("link", rel="item")]
    assert items and all(i.startswith(url + "store/") for i in items)
    linkset = json.loads((site / "datasets" / ident / "linkset.json").read_text("utf-8"))
    assert {t["href"] for t in linkset["linkset"][0]["item"]} == set(items)
    assert f"{url}store/" in (site / "dcat" / "catalog.ttl").read_text("utf-8")


def _readable(path: Path) -> bytes:
    """A site file's bytes, decompressed when it is gzip or zlib data (search index fragments)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return raw + gzip.decompress(raw)
        except (OSError, EOFError):
            return raw
    if raw[:1] == b"\x78":
        try:
            return raw + zlib.decompress(raw)
        except zlib.error:
            return raw
    return raw


def _secrets_of(root: Path, ident: str) -> set[bytes]:
    """What must not appear while the entry is embargoed: file names and paths, checksums, store addresses."""
    manifest = _manifest(root, ident)
    dsid = EXAMPLES[ident]["datalad_id"]
    out = {dsid.encode(), f"{dsid[:3]}/{dsid[3:]}".encode()}
    for f in manifest.files:
        out |= {f.path.encode(), f.name.encode(), (f.key or "").encode()}
        out |= {value.encode() for _algo, value in f.checksums}
    return {s for s in out if s}


def test_an_embargoed_entry_publishes_nothing_of_its_files(served, catalogue_with_data: Path) -> None:
    site, url = served
    secrets = _secrets_of(catalogue_with_data, EMBARGOED)
    found = []
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        data = _readable(path)
        found += [f"{path.relative_to(site)}: {s.decode()}" for s in secrets if s in data]
    assert found == []
    assert not (site / "datasets" / EMBARGOED / "previews").exists()
    assert not (site / "store" / EXAMPLES[EMBARGOED]["datalad_id"][:3]).exists()
    page = _page(site, EMBARGOED)
    assert page.select_one("pre.openem-commands") is None
    data = [json.loads(s.string) for s in page.find_all("script", type="application/ld+json")][0]
    assert data["isAccessibleForFree"] is False
    coar, text = data["conditionsOfAccess"]
    assert coar == "http://purl.org/coar/access_right/c_f1cf" and "embargo" in text and "2027-03-01" in text
    assert not any(d.get("name", "").startswith("DataLad") for d in data["distribution"])


def test_the_first_build_on_the_embargo_date_publishes_the_entry(catalogue_with_data: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    day = datetime(2027, 3, 1, tzinfo=UTC)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(day.timestamp())))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    site = build_site(catalogue_with_data, tmp_path / "site", site_url=url)
    page = _page(site, EMBARGOED)
    manifest = _manifest(catalogue_with_data, EMBARGOED)
    assert {row["data-path"] for row in page.select(".openem-files tr[data-path]")} == \
        {f.path for f in manifest.files}
    data = [json.loads(s.string) for s in page.find_all("script", type="application/ld+json")][0]
    assert data["isAccessibleForFree"] is True
    with serve_on(site, port):
        f = manifest.files[0]
        link = page.select_one(f'tr[data-path="{f.path}"] a[download]')
        with urllib.request.urlopen(urljoin(f"{url}datasets/{EMBARGOED}/", link["href"]), timeout=60) as response:
            assert hashlib.md5(response.read()).hexdigest() == f.checksum_of("md5")


def test_make_serve_serves_the_store_for_the_pages_commands(catalogue_with_data: Path, tmp_path: Path) -> None:
    """`mkdocs serve --dirty` (what `make serve` runs): the served pages name the served store, and their
    `datalad clone` and `datalad get` work against it."""
    import time

    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    ident = "chlamy-ribosome-sta-2025"
    log = tmp_path / "serve.log"
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    with log.open("wb") as out:
        proc = subprocess.Popen([mkdocs, "serve", "--dirty", "-a", f"127.0.0.1:{port}"], cwd=catalogue_with_data,
                                stdout=out, stderr=subprocess.STDOUT, env=_tool_env())
        try:
            html = ""
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and "openem-commands" not in html:
                assert proc.poll() is None, log.read_text("utf-8", "replace")
                try:
                    with urllib.request.urlopen(f"{base}datasets/{ident}/", timeout=10) as response:
                        html = response.read().decode("utf-8")
                except OSError:
                    time.sleep(0.5)
            page = BeautifulSoup(html, "lxml")
            commands = page.select_one("pre.openem-commands").get_text()
            assert f"ria+{base}store#" in commands
            run = subprocess.run(["bash", "-c", "set -e\n" + commands], cwd=tmp_path, env=_tool_env(),
                                 capture_output=True, text=True, timeout=600, check=False)
            assert run.returncode == 0, run.stderr[-2000:]
            for f in _manifest(catalogue_with_data, ident).files:
                assert _md5(tmp_path / ident / f.path) == f.checksum_of("md5")
        finally:
            proc.terminate()
            proc.wait(30)
