"""The contributing guide's key shell blocks, run as written in a fresh catalogue: `openem add`, a DataLad
dataset made by hand, and `openem publish`, with nothing but /usr/bin and /bin on PATH (openem finds the
git-annex and DataLad of its own environment). Blocks are marked in docs/contributing.md with
``<!-- check: NAME -->``; the test replaces only the example data folder by a real one."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from openem_build.data import annex, submodules
from openem_build.data import store as S
from openem_build.records.manifest import read

from .annex_helpers import data_folder, full_document
from .conftest import ROOT, git_catalogue, write_dataset

GUIDE = ROOT / "docs" / "contributing.md"
DATA = "/data/2025-05-krios-run"


def blocks() -> dict[str, str]:
    """The guide's marked shell blocks, by name."""
    text = GUIDE.read_text("utf-8")
    return dict(re.findall(r"<!-- check: ([a-z-]+) -->\s*```sh\n(.*?)```", text, re.S))


def test_the_guide_marks_its_key_blocks() -> None:
    found = blocks()
    assert set(found) >= {"setup", "add", "datalad", "publish"}
    assert "make validate" in found["setup"]  # (the clone from GitHub needs the network: checked by CI's own run)
    assert re.search(r"^validate:", (ROOT / "Makefile").read_text("utf-8"), re.M)
    assert not re.search(r"create-sibling-ria[^\n]*ria\+https?://", GUIDE.read_text("utf-8"))


@pytest.fixture
def fresh(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A fresh catalogue with its `.venv` (this environment), a folder of instrument output, and a shell
    environment whose PATH has no venv on it."""
    root = git_catalogue(tmp_path / "catalogue")
    (root / ".venv").symlink_to(Path(sys.prefix))
    data = data_folder(tmp_path / "krios-run")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH="/usr/bin:/bin", HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return root, data, env


def run_block(name: str, root: Path, data: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = "set -euo pipefail\n" + blocks()[name].replace(DATA, str(data))
    proc = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, f"{name} block failed:\n{script}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _complete(root: Path, ident: str) -> None:
    """What a person does between `add` and `publish`: fill in the record."""
    stub = yaml.safe_load((root / "datasets" / ident / "dataset.yaml").read_text("utf-8"))
    write_dataset(root, full_document(ident, stub["data"]))
    subprocess.run(["git", "commit", "-q", "-am", "Describe the dataset"], cwd=root, env=None, check=True)


def test_add_then_publish_as_written(fresh) -> None:
    root, data, env = fresh
    ident = "my-dataset-id"
    added = run_block("add", root, data, env)
    assert "commit" in added.stdout and "in the catalogue" in added.stdout  # it says which commits it makes
    subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%s"], check=True, capture_output=True)
    _complete(root, ident)
    run_block("publish", root, data, env)
    folder = root / "datasets" / ident
    entry = yaml.safe_load((folder / "dataset.yaml").read_text("utf-8"))
    manifest, _doc, problems = read(folder / "manifest.json", root)
    assert problems == [] and manifest is not None
    assert entry["data"]["datalad"] == f"ria+https://catalogue.openem.ch/store#{manifest.datalad_id}"
    sub = submodules.read_gitmodules(root)[f"datasets/{ident}/data"]
    assert sub.datalad_url == entry["data"]["datalad"] and sub.datalad_id == manifest.datalad_id
    assert annex.git(root, "status", "--porcelain", "--untracked-files=no").strip() == ""
    assert "openem publish" in annex.git(root, "log", "-1", "--format=%s")
    # The store, read over HTTP as the site would serve it: every file downloads with its checksum.
    with S.serve_folder(root / "store") as url:
        for f in manifest.files:
            assert f.urls, f.path
            link = f.urls[0].replace("https://catalogue.openem.ch/store", url)
            with urllib.request.urlopen(link, timeout=30) as response:
                assert hashlib.md5(response.read()).hexdigest() == f.checksum_of("md5")


def test_a_datalad_dataset_made_by_hand_as_written(fresh) -> None:
    root, data, env = fresh
    run_block("datalad", root, data, env)
    dataset = Path(env["HOME"]) / "my-dataset"
    assert annex.is_dataset(dataset) and annex.changes(dataset) == []
    manifest, _doc, problems = read(root / "datasets" / "my-dataset-id" / "manifest.json", root)
    assert manifest is not None and manifest.commit == annex.head(dataset)
    assert {f.path for f in manifest.files} >= {p.relative_to(data).as_posix() for p in data.rglob("*.mrc")}
