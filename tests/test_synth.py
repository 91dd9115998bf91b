"""The benchmark's synthetic catalogue stays valid and deterministic (so the harness cannot rot); no timings."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from openem_build.records.load import load_catalogue
from openem_build.records.problems import ERROR

ROOT = Path(__file__).resolve().parent.parent


def _synth():
    spec = importlib.util.spec_from_file_location("openem_bench_synth", ROOT / "benchmarks" / "synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in (folder / "datasets").rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_synthetic_catalogue_is_valid_and_deterministic(tmp_path: Path) -> None:
    synth = _synth()
    ids = synth.write(20, tmp_path / "a")
    assert len(ids) == len(set(ids)) == 20
    result = load_catalogue(tmp_path / "a")
    assert [p.text() for p in result.problems if p.severity == ERROR] == []
    assert len(result.catalogue.datasets) == 20
    assert len({d.technique for d in result.catalogue.datasets}) >= 10
    assert len({d.facility for d in result.catalogue.datasets}) >= 3
    assert all(d.manifest is not None and d.manifest.files for d in result.catalogue.datasets)
    sizes = [len(json.loads(p.read_text("utf-8"))["files"]) for p in (tmp_path / "a").glob("datasets/*/manifest.json")]
    assert min(sizes) >= 3
    assert (tmp_path / "a" / "mkdocs.yml").is_file() and (tmp_path / "a" / "overrides").is_dir()

    synth.write(20, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
