"""Shared fixtures: a private copy of the example catalogue, and an environment fit for git and DataLad."""

from __future__ import annotations

import atexit
import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "apoferritin-krios-2024"

# git-annex comes from its PyPI wheel, installed next to this interpreter.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
# Commits made by tests (DataLad datasets, catalogue copies) need an identity and no user config.
for key, value in {"GIT_AUTHOR_NAME": "OpenEM Tests", "GIT_AUTHOR_EMAIL": "tests@example.org",
                   "GIT_COMMITTER_NAME": "OpenEM Tests", "GIT_COMMITTER_EMAIL": "tests@example.org"}.items():
    os.environ.setdefault(key, value)
# The cache of validation results (openem_build.records.cache) in a temporary folder, never the user's ~/.cache: set at
# import, since modules load catalogues while they are collected; subprocesses inherit it.
os.environ["OPENEM_CACHE_DIR"] = tempfile.mkdtemp(prefix="openem-test-cache-")
os.environ.pop("OPENEM_CACHE", None)
atexit.register(shutil.rmtree, os.environ["OPENEM_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """A writable copy of the repository's catalogue (datasets, docs, theme, mkdocs.yml)."""
    dest = tmp_path / "catalogue"
    dest.mkdir()
    for name in ("datasets", "docs", "overrides"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("data"))
    if (ROOT / "mkdocs.yml").exists():
        shutil.copy(ROOT / "mkdocs.yml", dest / "mkdocs.yml")
    return dest


def record_subdatasets(root: Path) -> None:
    """In a git repository made from a copy of the catalogue (after ``git init``): the example entries'
    subdataset records, ``.gitmodules`` and the gitlinks at the commits the catalogue pins, as a clone has them."""
    import subprocess

    def git(cwd: Path, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout

    if not (ROOT / ".gitmodules").is_file():
        return
    shutil.copy(ROOT / ".gitmodules", root / ".gitmodules")
    for line in git(ROOT, "ls-files", "-s", "--", "datasets").splitlines():
        meta, path = line.split("\t", 1)
        mode, oid, _stage = meta.split()
        if mode == "160000" and (root / path).parent.is_dir():
            (root / path).mkdir(exist_ok=True)  # (an empty folder: a subdataset not installed, as in a clone)
            git(root, "update-index", "--add", "--cacheinfo", f"160000,{oid},{path}")
    git(root, "add", "--", ".gitmodules")


def git_catalogue(dest: Path) -> Path:
    """A git repository holding the catalogue as the working tree has it (datasets, docs, theme, examples,
    mkdocs.yml), subdataset records included, in one commit: a stand-in for a fresh clone."""
    import subprocess

    for name in ("datasets", "docs", "overrides", "examples"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("data", ".data.building",
                                                                                "__pycache__"))
    for name in ("mkdocs.yml", ".gitattributes", "Makefile"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / ".datalad", dest / ".datalad")
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    record_subdatasets(dest)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "Catalogue"], cwd=dest, check=True)
    return dest


FROZEN = Path(__file__).resolve().parent / "fixtures" / "catalogue"


def frozen_document(ident: str = EXAMPLE) -> dict:
    """A parsed dataset.yaml of the frozen example records (tests/fixtures/catalogue/README.md): a stable base for
    tests that change many fields (its entries have three or four image sets and a DataLad URL, no manifest)."""
    return yaml.safe_load((FROZEN / "datasets" / ident / "dataset.yaml").read_text("utf-8"))


def example_document(ident: str = EXAMPLE) -> dict:
    """A parsed example dataset.yaml, for tests to modify."""
    return yaml.safe_load((ROOT / "datasets" / ident / "dataset.yaml").read_text("utf-8"))


def write_dataset(root: Path, doc: dict | str, ident: str | None = None) -> Path:
    """Write ``doc`` (a mapping or raw YAML text) as ``datasets/<ident>/dataset.yaml`` under ``root``."""
    if isinstance(doc, dict):
        ident = ident or doc["id"]
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    else:
        text = doc
    assert ident
    path = root / "datasets" / ident / "dataset.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- a real headless Chromium (Debian's package), driven by Playwright ------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> str:
    """Chromium's path; browser tests fail in CI without it and skip elsewhere."""
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is required in CI (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI runs these tests")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 for as long as the generator runs; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@contextlib.contextmanager
def serve_on(directory: Path, port: int) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1:``port`` for as long as the block runs; yields the base URL."""
    from openem_build.data.store import serve_folder

    with serve_folder(directory, port) as url:
        yield url + "/"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def axe_script() -> Path:
    """axe-core's browser bundle (npm, package.json); ``npm ci`` installs it when node_modules lacks it. Browser
    tests fail in CI without it and skip elsewhere when npm is missing."""
    path = ROOT / "node_modules" / "axe-core" / "axe.min.js"
    if not path.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI"):
                pytest.fail("npm is required in CI to install axe-core (.ci/run installs it)")
            pytest.skip("npm is not installed: axe-core (package.json) cannot be installed")
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, capture_output=True, text=True,
                              timeout=600, check=False)
        if proc.returncode != 0 or not path.is_file():
            pytest.fail(f"npm ci failed to install axe-core:\n{proc.stderr or proc.stdout}")
    return path
