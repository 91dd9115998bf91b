"""Version history from git: the landing page lists versions and older records stay reachable."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

from bs4 import BeautifulSoup

from openem_build.build import build_site
from openem_build.history import histories

from .conftest import EXAMPLE, record_subdatasets


def git(root: Path, *args: str, when: str | None = None) -> None:
    env = None
    if when:
        import os

        env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def test_versions_from_git_history(catalogue: Path) -> None:
    git(catalogue, "init", "-q")
    record_subdatasets(catalogue)
    git(catalogue, "add", "-A")
    git(catalogue, "commit", "-qm", "v1", when="2024-06-03T12:00:00+00:00")
    yml = catalogue / "datasets" / EXAMPLE / "dataset.yaml"
    text = yml.read_text("utf-8")
    yml.write_text(text.replace("keywords: [", "keywords: [corrected, "), "utf-8")
    git(catalogue, "commit", "-qam", "fix keywords", when="2024-07-01T12:00:00+00:00")
    yml.write_text(yml.read_text("utf-8").replace('version: "1.0"', 'version: "2.0"'), "utf-8")
    git(catalogue, "commit", "-qam", "v2", when="2025-01-15T12:00:00+00:00")

    versions = histories(catalogue)[EXAMPLE]
    assert [(v.version, v.first_seen) for v in versions] == [("1.0", date(2024, 6, 3)), ("2.0", date(2025, 1, 15))]
    # The 1.0 record is the last one before 2.0 (with the corrected keywords).
    assert versions[0].record["keywords"][0] == "corrected"

    site = build_site(catalogue)
    page = BeautifulSoup((site / "datasets" / EXAMPLE / "index.html").read_text("utf-8"), "lxml")
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")]
            for tr in page.select(".openem-versions tbody tr")]
    assert [r[0] for r in rows] == ["2.0 (this version)", "1.0"]
    assert [r[1] for r in rows] == ["2025-01-15", "2024-06-03"]
    old = json.loads((site / "datasets" / EXAMPLE / "versions" / "1.0.json").read_text("utf-8"))
    assert old["version"] == "1.0" and old["record"]["version"] == "1.0"
    assert old["record"]["keywords"][0] == "corrected"
    link = page.select_one('.openem-versions a[href="versions/1.0.json"]')
    assert link is not None
    # A dataset with a single version shows no version table.
    other = next(p.name for p in (catalogue / "datasets").iterdir() if p.is_dir() and p.name != EXAMPLE)
    assert BeautifulSoup((site / "datasets" / other / "index.html").read_text("utf-8"), "lxml").select_one(
        ".openem-versions") is None


def test_no_history_outside_git(tmp_path: Path) -> None:
    assert histories(tmp_path) == {}
