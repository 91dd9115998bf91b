"""Shared fixtures: a private copy of the example catalogue, and an environment fit for git and DataLad."""

from __future__ import annotations

import os
import shutil
import sys
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
