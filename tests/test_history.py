"""Version history from git: the landing page lists versions and older records stay reachable, and only
what the maintainers merged onto the built branch, checked as a current record is, counts as a version."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from openem_build import doi as D
from openem_build.records.history import histories, read
from openem_build.records.load import load_catalogue
from openem_build.site.build import build_site

from .conftest import EXAMPLE, record_subdatasets

#: The contributor's own entry in the pull requests below; EXAMPLE is the victim's.
OWN = "aqpz-2d-crystals-2022"


def git(root: Path, *args: str, when: str | None = None, committed: str | None = None) -> str:
    """``git`` in ``root``; ``when`` sets both dates, ``committed`` the committer date alone (as a forger does)."""
    env = {**os.environ}
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    if committed:
        env["GIT_COMMITTER_DATE"] = committed
    return subprocess.run(["git", "-C", str(root), "-c", "commit.gpgsign=false", *args], check=True,
                          capture_output=True, text=True, env=env).stdout


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
    # A dataset with a single version lists that one version (as Zenodo does), and nothing older.
    other = next(p.name for p in (catalogue / "datasets").iterdir() if p.is_dir() and p.name != EXAMPLE)
    rows = BeautifulSoup((site / "datasets" / other / "index.html").read_text("utf-8"), "lxml").select(
        ".openem-versions tbody tr")
    assert len(rows) == 1 and "(this version)" in rows[0].get_text(" ", strip=True)


def test_no_history_outside_git(tmp_path: Path) -> None:
    assert histories(tmp_path) == {}


# ------------------------------------------------------------------------------- what the history trusts


def yaml_of(root: Path, ident: str = EXAMPLE) -> Path:
    return root / "datasets" / ident / "dataset.yaml"


def edit(root: Path, ident: str, old: str, new: str) -> None:
    path = yaml_of(root, ident)
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def main_branch(root: Path) -> None:
    """``main`` with the catalogue as it is, committed on 2024-06-03."""
    git(root, "init", "-q", "-b", "main")
    record_subdatasets(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "catalogue", when="2024-06-03T12:00:00+00:00")


def poisoning_branch(root: Path) -> str:
    """The red-team's pull request: the victim's record edited (a valid 9.9, then a 9.10 with an unknown field
    and a forged title) under forged committer dates, then put back byte for byte, so that the net diff shows
    only the contributor's own entry (at 2.0). Returns the victim's record as it was."""
    original = yaml_of(root).read_text("utf-8")
    git(root, "checkout", "-qb", "pr")
    edit(root, EXAMPLE, 'version: "1.0"', 'version: "9.9"')
    edit(root, EXAMPLE, "title: \"Cryo-EM", "title: \"Superseded: see")
    git(root, "commit", "-qam", "9.9", committed="2023-01-01T12:00:00+00:00")
    edit(root, EXAMPLE, 'version: "9.9"', 'version: "9.10"\ninjected: "<script>alert(1)</script>"')
    git(root, "commit", "-qam", "9.10", committed="2099-01-01T12:00:00+00:00")
    yaml_of(root).write_text(original, "utf-8")
    git(root, "commit", "-qam", "put back", committed="2023-01-02T12:00:00+00:00")
    edit(root, OWN, 'version: "1.0"', 'version: "2.0"')
    git(root, "commit", "-qam", "own entry 2.0", committed="2023-01-03T12:00:00+00:00")
    git(root, "checkout", "-q", "main")
    return original


def test_edit_and_revert_in_a_merged_pull_request_plants_no_version(catalogue: Path, caplog) -> None:
    main_branch(catalogue)
    original = poisoning_branch(catalogue)
    git(catalogue, "merge", "-q", "--no-ff", "pr", "-m", "Merge pull request #7", when="2024-09-01T12:00:00+00:00")
    assert yaml_of(catalogue).read_text("utf-8") == original  # (the net diff: the contributor's own entry)
    merge = git(catalogue, "rev-parse", "HEAD").strip()

    with caplog.at_level(logging.INFO):
        found = histories(catalogue)
    victim = found[EXAMPLE]
    assert [(v.version, v.first_seen) for v in victim] == [("1.0", date(2024, 6, 3))]
    assert victim[0].record["title"].startswith("Cryo-EM") and "injected" not in victim[0].record
    # The contributor's own new version is the merge's: its day and commit, not the branch's forged ones.
    own = found[OWN]
    assert [(v.version, v.first_seen, v.commit) for v in own][1] == ("2.0", date(2024, 9, 1), merge)
    # The branch's commits were never read: no finding about the 9.10 record either.
    assert read(catalogue).problems == () and "9.10" not in caplog.text
    # `openem doi` relates the DOIs of the same versions.
    d = next(d for d in load_catalogue(catalogue).catalogue.datasets if d.id == EXAMPLE)
    assert [v.version for v in D.version_history(catalogue, d)] == ["1.0"]
    assert D.version_links("10.80001/openem.x", D.version_history(catalogue, d), "1.0").newer is None

    site = build_site(catalogue)
    folder = site / "datasets" / EXAMPLE
    assert not (folder / "versions" / "9.9.json").exists() and not (folder / "versions" / "9.10.json").exists()
    assert sorted(p.name for p in (folder / "versions").iterdir()) == ["1.0.json"]
    page = (folder / "index.html").read_text("utf-8")
    assert "9.9" not in page and "9.10" not in page and "Superseded" not in page
    (only,) = BeautifulSoup(page, "lxml").select(".openem-versions tbody tr")  # one version: one row
    assert "(this version)" in only.get_text(" ", strip=True)
    rows = BeautifulSoup((site / "datasets" / OWN / "index.html").read_text("utf-8"), "lxml").select(
        ".openem-versions tbody tr")
    assert [[td.get_text(" ", strip=True) for td in tr.find_all("td")][:2] for tr in rows] == [
        ["2.0 (this version)", "2024-09-01"], ["1.0", "2024-06-03"]]


def test_a_squash_merge_is_one_change_of_the_day_it_was_merged(catalogue: Path) -> None:
    main_branch(catalogue)
    poisoning_branch(catalogue)
    git(catalogue, "merge", "-q", "--squash", "pr")
    git(catalogue, "commit", "-qm", "Own entry 2.0 (#7)", when="2024-09-02T12:00:00+00:00")
    found = histories(catalogue)
    assert [v.version for v in found[EXAMPLE]] == ["1.0"]
    assert [(v.version, v.first_seen) for v in found[OWN]] == [("1.0", date(2024, 6, 3)),
                                                                ("2.0", date(2024, 9, 2))]


def test_a_fast_forwarded_pull_request_plants_no_version_and_no_earlier_day(catalogue: Path) -> None:
    """Merged by fast-forward (which the maintainers must not do: docs/security.md), the branch's commits are
    on the chain: the edited and reverted version was withdrawn, and no commit predates main's last one."""
    main_branch(catalogue)
    poisoning_branch(catalogue)
    git(catalogue, "merge", "-q", "--ff-only", "pr")
    found = read(catalogue)
    assert [v.version for v in found.versions[EXAMPLE]] == ["1.0"]
    assert found.versions[EXAMPLE][0].first_seen == date(2024, 6, 3)
    # 2.0's commit says 2023-01-03, before main's 2024-06-03: it cannot claim to be older than main. (A date
    # forged into the future, 2099 here, carries forward: one reason pull requests are never fast-forwarded.)
    (first, second) = found.versions[OWN]
    assert first.first_seen == date(2024, 6, 3) and second.version == "2.0"
    assert second.first_seen >= date(2024, 6, 3)
    # The 9.10 record with its unknown field was on the chain: reported, never published.
    (problem,) = found.problems
    assert problem.message.startswith("version 9.10 is not published")
    assert "unknown field 'injected'" in problem.message


#: An old 0.9 record, changed by (old text, new text), and what the warning about it says.
INVALID = {
    "unknown field": ('version: "0.9"', 'version: "0.9"\nlegacy_notes: "x"', "unknown field 'legacy_notes'"),
    "id of another entry": (f"id: {EXAMPLE}", f"id: {OWN}", "differs from the folder"),
    "facility unknown then": ("facility: scopem-eth", "facility: nowhere-lab",
                              "is not listed in datasets/facilities.yaml"),
    "bidirectional override": ('title: "Cryo-EM', 'title: "Cryo\u202e-EM', "bidirectional-override"),
    "missing a required field": ("facility: scopem-eth\n", "", "missing required field 'facility'"),
    "not safe YAML": ('version: "0.9"', 'version: !!python/object:os.system "0.9"', "tag"),
    "a version that is a path": ('version: "0.9"', 'version: "../../9.9"', "not in the expected form"),
    "not a mapping": ("", "", "must hold a mapping"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_old_record_that_fails_validation_is_not_a_version(catalogue: Path, case: str) -> None:
    """Committed on main before the checks caught it (or before they existed): left out, with a located warning
    naming the commit and file (as `git show` reads them), line and reason; no traceback."""
    git(catalogue, "init", "-q", "-b", "main")
    record_subdatasets(catalogue)
    original = yaml_of(catalogue).read_text("utf-8")
    old, new, expected = INVALID[case]
    if case == "not a mapping":
        yaml_of(catalogue).write_text("- version: '0.9'\n", "utf-8")
    else:
        edit(catalogue, EXAMPLE, 'version: "1.0"', 'version: "0.9"')
        edit(catalogue, EXAMPLE, old, new)
    git(catalogue, "add", "-A")
    git(catalogue, "commit", "-qm", "old", when="2024-01-10T12:00:00+00:00")
    first = git(catalogue, "rev-parse", "HEAD").strip()
    yaml_of(catalogue).write_text(original, "utf-8")
    git(catalogue, "commit", "-qam", "1.0", when="2024-06-03T12:00:00+00:00")

    found = read(catalogue)
    assert [(v.version, v.first_seen) for v in found.versions[EXAMPLE]] == [("1.0", date(2024, 6, 3))]
    (problem,) = found.problems
    assert problem.severity == "warning" and problem.path == f"{first[:12]}:datasets/{EXAMPLE}/dataset.yaml"
    named = "this record" if case in ("not safe YAML", "a version that is a path", "not a mapping") else \
        "version 0.9"
    assert problem.message.startswith(f"{named} is not published as a version of the dataset")
    assert expected in problem.message and problem.line > 0
    assert git(catalogue, "show", problem.path) != ""


def test_an_invalid_old_record_is_not_published_on_the_site(catalogue: Path, caplog) -> None:
    git(catalogue, "init", "-q", "-b", "main")
    record_subdatasets(catalogue)
    original = yaml_of(catalogue).read_text("utf-8")
    edit(catalogue, EXAMPLE, 'version: "1.0"', 'version: "0.9"\ninjected: "<script>alert(1)</script>"')
    git(catalogue, "add", "-A")
    git(catalogue, "commit", "-qm", "old", when="2024-01-10T12:00:00+00:00")
    yaml_of(catalogue).write_text(original, "utf-8")
    git(catalogue, "commit", "-qam", "1.0", when="2024-06-03T12:00:00+00:00")
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.openem"):
        site = build_site(catalogue)
    assert sorted(p.name for p in (site / "datasets" / EXAMPLE / "versions").iterdir()) == ["1.0.json"]
    assert "<script>alert" not in (site / "datasets" / EXAMPLE / "index.html").read_text("utf-8")
    assert "version 0.9 is not published as a version of the dataset" in caplog.text
    assert "unknown field 'injected'" in caplog.text


def test_a_reverted_version_on_main_is_withdrawn(catalogue: Path) -> None:
    main_branch(catalogue)
    edit(catalogue, EXAMPLE, 'version: "1.0"', 'version: "2.0"')
    git(catalogue, "commit", "-qam", "2.0", when="2024-07-01T12:00:00+00:00")
    edit(catalogue, EXAMPLE, 'version: "2.0"', 'version: "1.0"')
    git(catalogue, "commit", "-qam", "back to 1.0", when="2024-07-02T12:00:00+00:00")
    head = git(catalogue, "rev-parse", "HEAD").strip()
    (only,) = histories(catalogue)[EXAMPLE]
    assert (only.version, only.first_seen, only.commit) == ("1.0", date(2024, 6, 3), head)
    # Bumped again later, 2.0 is a version of its new day.
    edit(catalogue, EXAMPLE, 'version: "1.0"', 'version: "2.0"')
    git(catalogue, "commit", "-qam", "2.0 again", when="2024-08-01T12:00:00+00:00")
    assert [(v.version, v.first_seen) for v in histories(catalogue)[EXAMPLE]] == [
        ("1.0", date(2024, 6, 3)), ("2.0", date(2024, 8, 1))]
