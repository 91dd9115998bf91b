"""The persistent cache of validation results (openem_build.records.cache): an unchanged entry is served from it, every
kind of input change re-checks exactly the entries it affects, results are the same with and without it, a
damaged entry is a miss, the off switches neither read nor write it, and a cache folder inside the catalogue is
refused."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from openem_build.cli import main
from openem_build.data.previews import encode_png
from openem_build.records import cache, load
from openem_build.records.load import load_catalogue

from .test_synth import _synth

ROOT = Path(__file__).resolve().parent.parent


SYNTH = _synth()
N = 5


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_DIR, str(folder))
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)
    cache.stats.reset()
    return folder


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The dataset files ``load_dataset`` is called for (folder names), in order."""
    calls: list[str] = []
    real = load.load_dataset

    def counting(path: Path, root: Path, facilities: dict | None):
        calls.append(path.parent.name)
        return real(path, root, facilities)

    monkeypatch.setattr(load, "load_dataset", counting)
    return calls


def _catalogue(folder: Path, n: int = N, git: bool = False) -> tuple[Path, list[str]]:
    ids = SYNTH.write(n, folder, git=git)
    return folder, ids


def _add_previews(root: Path, ident: str) -> None:
    entry = root / "datasets" / ident
    (entry / "previews").mkdir()
    png = encode_png(np.zeros((64, 64), dtype=np.uint8))
    (entry / "previews" / "a.png").write_bytes(png)
    doc = {"previews_version": 1, "commit": None, "previews": [
        {"file": "a.png", "kind": "XY", "width": 64, "height": 64, "bytes": len(png), "alt": "a slice",
         "source": "maps/a.mrc"},
        {"file": "b.png", "kind": "XY", "width": 64, "height": 64, "bytes": len(png), "alt": "missing",
         "source": "maps/b.mrc"}]}
    (entry / "previews.json").write_text(json.dumps(doc), encoding="utf-8")


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / cache.RESULTS).glob("??/*") if p.is_file())


def _same(a: load.LoadResult, b: load.LoadResult) -> None:
    """Identical results: problems (and their order), documents, and every field of every record, including
    those left out of ``==`` (raw, source, manifest, previews)."""
    assert a.problems == b.problems
    assert a.documents == b.documents
    assert a.catalogue.root == b.catalogue.root and dict(a.catalogue.facilities) == dict(b.catalogue.facilities)
    assert len(a.catalogue.datasets) == len(b.catalogue.datasets)
    for x, y in zip(a.catalogue.datasets, b.catalogue.datasets, strict=True):
        for f in dataclasses.fields(x):
            assert getattr(x, f.name) == getattr(y, f.name), f.name
        assert dict(x.raw) == dict(y.raw)
        if x.manifest is not None:
            assert list(x.manifest.files) == list(y.manifest.files)
            assert (x.manifest.commit, x.manifest.datalad_id, x.manifest.source) == \
                (y.manifest.commit, y.manifest.datalad_id, y.manifest.source)
        assert pickle.dumps(x) == pickle.dumps(y)


# ------------------------------------------------------------------------------------------ hits

def test_a_second_load_is_served_from_the_cache_and_is_the_same(tmp_path, cache_dir, checked):
    root, ids = _catalogue(tmp_path / "cat")
    _add_previews(root, ids[1])  # one warning (a listed PNG is missing)
    (root / "datasets" / ids[2] / "dataset.yaml").write_text("id: [unclosed\n", encoding="utf-8")  # an error
    first = load_catalogue(root)
    assert sorted(checked) == sorted(ids) and cache.stats.writes == N and cache.stats.hits == 0
    assert len(_entries(cache_dir)) == N
    assert any(p.severity == "warning" for p in first.problems) and not first.ok
    checked.clear()
    cache.stats.reset()
    second = load_catalogue(root)
    assert checked == [] and cache.stats.hits == N and cache.stats.writes == 0
    _same(first, second)
    _same(second, load_catalogue(root, disk_cache=False))
    # Only some files: the same entries.
    checked.clear()
    only = load_catalogue(root, [root / "datasets" / ids[0]])
    assert checked == [] and len(only.catalogue.datasets) == 1


def test_results_checked_in_worker_processes_are_stored_as_their_pickles(tmp_path, cache_dir, monkeypatch):
    """Across worker processes, each result comes back as its pickle, which the cache stores as it is: a second
    load is served from the cache and equals a load without it."""
    root, ids = _catalogue(tmp_path / "cat")
    (root / "datasets" / ids[2] / "dataset.yaml").write_text("id: [unclosed\n", encoding="utf-8")  # an error
    monkeypatch.setenv("OPENEM_JOBS", "2")
    monkeypatch.setattr(load, "PARALLEL_MIN", 1)
    put = cache.Session.put
    made: list[bool] = []

    def recording(self, key, value, data=None):
        made.append(data is not None)
        return put(self, key, value, data)

    monkeypatch.setattr(cache.Session, "put", recording)
    first = load_catalogue(root)
    assert cache.stats.writes == N and len(_entries(cache_dir)) == N
    assert made == [True] * N  # (none pickled again in this process)
    cache.stats.reset()
    second = load_catalogue(root)
    assert cache.stats.hits == N and cache.stats.writes == 0
    _same(first, second)
    _same(second, load_catalogue(root, disk_cache=False))


def test_records_from_the_cache_read_their_manifest_files(tmp_path, cache_dir):
    root, _ids = _catalogue(tmp_path / "cat")
    load_catalogue(root)
    for record in load_catalogue(root).catalogue.datasets:
        assert record.manifest is not None and len(list(record.manifest.files)) > 0


# ------------------------------------------------------------------------------------------ what invalidates

def _edit_yaml(root: Path, ident: str) -> None:
    path = root / "datasets" / ident / "dataset.yaml"
    path.write_text(path.read_text("utf-8").replace("title: ", "title: Edited ", 1), encoding="utf-8")


def _edit_manifest(root: Path, ident: str) -> None:
    path = root / "datasets" / ident / "manifest.json"
    path.write_text(path.read_text("utf-8").replace('"files": [', '"files":  [', 1), encoding="utf-8")


def _edit_previews_json(root: Path, ident: str) -> None:
    path = root / "datasets" / ident / "previews.json"
    path.write_text(path.read_text("utf-8").replace("a slice", "another slice"), encoding="utf-8")


def _edit_png(root: Path, ident: str) -> None:
    (root / "datasets" / ident / "previews" / "a.png").write_bytes(b"\x89PNG second")


def _add_png(root: Path, ident: str) -> None:
    (root / "datasets" / ident / "previews" / "b.png").write_bytes(b"\x89PNG")


def _link_yaml(root: Path, ident: str) -> None:
    path = root / "datasets" / ident / "dataset.yaml"
    target = root / "datasets" / ident / "real.yaml"
    path.rename(target)
    path.symlink_to("real.yaml")


def _delete_manifest(root: Path, ident: str) -> None:
    (root / "datasets" / ident / "manifest.json").unlink()


def _link_data(root: Path, ident: str) -> None:
    """The subdataset folder replaced by a link out of the catalogue (an error the cached result did not have)."""
    elsewhere = root.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (root / "datasets" / ident / "data").symlink_to(elsewhere)


def _link_out(root: Path, ident: str) -> None:
    (root / "datasets" / ident / "notes.txt").symlink_to("/etc/hostname")


@pytest.mark.parametrize("change", [_edit_yaml, _edit_manifest, _edit_previews_json, _edit_png, _add_png,
                                    _link_yaml, _delete_manifest, _link_data, _link_out])
def test_an_entry_change_rechecks_that_entry_only(tmp_path, cache_dir, checked, change):
    root, ids = _catalogue(tmp_path / "cat")
    for ident in ids[:2]:
        _add_previews(root, ident)
    load_catalogue(root)
    checked.clear()
    change(root, ids[1])
    after = load_catalogue(root)
    assert checked == [ids[1]]
    checked.clear()
    _same(after, load_catalogue(root, disk_cache=False))
    assert sorted(checked) == sorted(ids)


def test_touching_a_file_without_changing_it_rechecks_nothing(tmp_path, cache_dir, checked):
    root, ids = _catalogue(tmp_path / "cat")
    load_catalogue(root)
    checked.clear()
    path = root / "datasets" / ids[0] / "dataset.yaml"
    path.write_bytes(path.read_bytes())
    os.utime(path, None)
    load_catalogue(root)
    assert checked == []


def test_facilities_and_code_changes_recheck_everything(tmp_path, cache_dir, checked, monkeypatch):
    root, ids = _catalogue(tmp_path / "cat")
    load_catalogue(root)
    checked.clear()
    facilities = root / "datasets" / "facilities.yaml"
    facilities.write_text(facilities.read_text("utf-8") + "# a comment\n", encoding="utf-8")
    load_catalogue(root)
    assert sorted(checked) == sorted(ids)
    checked.clear()
    load_catalogue(root)
    assert checked == []
    monkeypatch.setattr(cache, "code_version", lambda: "another version of openem_build")
    load_catalogue(root)
    assert sorted(checked) == sorted(ids)


def test_the_code_version_covers_the_sources_python_and_libraries():
    assert cache.code_version() == cache.code_version()
    assert {"jsonschema", "PyYAML"} <= set(cache.LIBRARIES)
    assert len(cache.code_version()) == 64


def test_a_moved_catalogue_is_checked_again(tmp_path, cache_dir, checked):
    root, ids = _catalogue(tmp_path / "cat")
    load_catalogue(root)
    checked.clear()
    moved = root.rename(tmp_path / "elsewhere")  # records and messages hold absolute paths
    result = load_catalogue(moved)
    assert sorted(checked) == sorted(ids)
    assert all(d.manifest.files.path.startswith(str(moved)) for d in result.catalogue.datasets)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def test_git_inputs_recheck_exactly_the_affected_entries(tmp_path, cache_dir, checked):
    from openem_build.data import submodules

    root, ids = _catalogue(tmp_path / "cat", n=4, git=True)
    commits = {}
    for ident in ids[:3]:
        commits[ident] = json.loads((root / "datasets" / ident / "manifest.json").read_text("utf-8"))["commit"]
        submodules.register_subdataset(root, f"datasets/{ident}/data", f"https://datasets.example.openem.ch/{ident}.git",
                                  None, commits[ident])
    first = load_catalogue(root)
    assert not any("data" in p.path for p in first.problems if p.path.endswith(".gitmodules"))
    checked.clear()
    load_catalogue(root)
    assert checked == []

    # .gitmodules: a changed URL re-checks that subdataset's entry only (the others' records are unchanged).
    _git(root, "config", "-f", ".gitmodules", f"submodule.datasets/{ids[0]}/data.url", "https://elsewhere.org/x.git")
    after = load_catalogue(root)
    assert checked == [ids[0]]
    assert any("differs from the URL .gitmodules records" in p.message for p in after.problems)
    checked.clear()
    # git's index: another commit for one gitlink.
    other = "1" * 40
    _git(root, "update-index", "--cacheinfo", f"160000,{other},datasets/{ids[1]}/data")
    after = load_catalogue(root)
    assert checked == [ids[1]]
    assert any("stale manifest" in p.message for p in after.problems)
    checked.clear()
    # A new registration: that entry only.
    submodules.register_subdataset(root, f"datasets/{ids[3]}/data", "https://datasets.example.openem.ch/x.git", None,
                              other)
    load_catalogue(root)
    assert checked == [ids[3]]
    checked.clear()
    # A damaged .gitmodules: every registered entry reports it.
    (root / ".gitmodules").write_text("[submodule\n", encoding="utf-8")
    broken = load_catalogue(root)
    assert sorted(checked) == sorted(ids)
    _same(broken, load_catalogue(root, disk_cache=False))
    checked.clear()
    load_catalogue(root)
    assert checked == []


def test_an_installed_subdataset_is_checked_every_time(tmp_path, cache_dir, checked):
    root, ids = _catalogue(tmp_path / "cat")
    (root / "datasets" / ids[0] / "data" / ".git").mkdir(parents=True)
    load_catalogue(root)
    checked.clear()
    load_catalogue(root)
    assert checked == [ids[0]]
    assert len(_entries(cache_dir)) == N - 1


def test_links_missing_files_and_folders_give_distinct_keys(tmp_path):
    root, ids = _catalogue(tmp_path / "cat", n=1)
    session = cache.Session(tmp_path / "cache", root.absolute())
    folder = root.absolute() / "datasets" / ids[0]
    path = folder / "dataset.yaml"
    text = path.read_bytes()
    (folder / "copy.yaml").write_bytes(text)
    keys = {}
    keys["file"] = session.key(path)
    path.unlink()
    keys["missing"] = session.key(path)
    path.symlink_to("copy.yaml")
    keys["link"] = session.key(path)
    path.unlink()
    path.symlink_to("gone.yaml")
    keys["dangling link"] = session.key(path)
    path.unlink()
    path.mkdir()
    keys["folder"] = session.key(path)
    path.rmdir()
    path.write_bytes(text)
    assert session.key(path) == keys["file"]
    (folder / "manifest.json").rename(folder / "m.json")
    keys["no manifest"] = session.key(path)
    (folder / "manifest.json").mkdir()
    keys["manifest folder"] = session.key(path)
    (folder / "manifest.json").rmdir()
    (folder / "manifest.json").symlink_to("m.json")
    keys["manifest link"] = session.key(path)
    assert None not in keys.values() and len(set(keys.values())) == len(keys), keys
    os.mkfifo(folder / "previews")
    assert session.key(path) is None  # a special file: never cached


# ------------------------------------------------------------------------------------------ damage and races

def test_damaged_entries_are_misses(tmp_path, cache_dir, checked):
    root, ids = _catalogue(tmp_path / "cat")
    first = load_catalogue(root)
    entries = _entries(cache_dir)
    entries[0].write_bytes(entries[0].read_bytes()[:-20])  # truncated
    entries[1].write_bytes(b"not a cache entry")
    blob = bytearray(entries[2].read_bytes())
    blob[-5] ^= 0xFF  # one flipped bit
    entries[2].write_bytes(bytes(blob))
    entries[3].write_bytes(b"")
    entries[4].chmod(0)
    checked.clear()
    cache.stats.reset()
    again = load_catalogue(root)
    damaged = 5 if os.geteuid() != 0 else 4  # (root reads a file without permissions)
    assert len(checked) == damaged and cache.stats.hits == N - damaged
    _same(first, again)


def _poisoned(values: list[tuple]) -> list:
    """Cached results of the right shape (and checksum) with wrong types or contents, one per entry."""
    from openem_build.records.model import ManifestFiles
    from openem_build.records.problems import Problem

    (record, spots, problems), (other, other_spots, _), *_ = values
    manifest = record.manifest
    foreign = dataclasses.replace(manifest, files=ManifestFiles(other.manifest.files.path, *[
        getattr(other.manifest.files, a) for a in ("digest", "count", "total_size", "sizes_complete")]))
    return [
        ([record], spots, problems),  # a list where the record goes
        (record, spots, tuple(problems)),  # a tuple of problems, not a list
        (None, None, []),  # no record, and no error to say why: the entry would vanish from the site
        (dataclasses.replace(record, title=b"bytes"), spots, problems),  # bytes instead of text
        (dataclasses.replace(record, authors=list(record.authors)), spots, problems),  # a list of authors
        (other, other_spots, []),  # another entry's record
        (dataclasses.replace(record, manifest=foreign), spots, problems),  # another entry's files
        (record, spots, [Problem("x", "1", 0, "", "m")]),  # a line number as text
        {"record": record, "spots": spots, "problems": problems},  # a mapping
        (dataclasses.replace(record, raw={**record.raw, "x": {1, 2}}), spots, problems),  # a set in the document
    ]


def test_entries_of_the_right_shape_with_wrong_types_are_misses(tmp_path, cache_dir, checked):
    """A cache can only ever cost time: a value that does not check out, deeply, is a miss, checked again."""
    from openem_build.site.build import build_site

    n = 10
    root, ids = _catalogue(tmp_path / "cat", n=n)
    first = load_catalogue(root)
    session = cache.open_session(root.absolute())
    paths = [(root / "datasets" / i / "dataset.yaml").absolute() for i in ids]
    keys = session.keys(paths)
    values = [session.get(k) for k in keys]
    assert all(cache.valid_result(v, p, root.absolute()) for v, p in zip(values, paths, strict=True))

    def poison() -> None:
        for key, bad in zip(keys, _poisoned(values), strict=True):
            assert session.put(key, bad) and session.get(key) is not None  # (well-formed entries)

    poison()
    checked.clear()
    cache.stats.reset()
    again = load_catalogue(root)
    assert cache.stats.hits == 0 and sorted(checked) == sorted(ids)
    _same(first, again)
    # A build from a poisoned cache has every dataset's page.
    poison()
    site = build_site(root, tmp_path / "site")
    assert all((site / "datasets" / i / "index.html").is_file() for i in ids)


def test_an_entry_changed_while_it_is_checked_is_not_stored(tmp_path, cache_dir, monkeypatch):
    root, ids = _catalogue(tmp_path / "cat", n=2)
    real = load.load_dataset
    victim = root / "datasets" / ids[0] / "dataset.yaml"

    def editing(path: Path, root: Path, facilities: dict | None):
        out = real(path, root, facilities)
        if path.parent.name == ids[0]:  # an editor saves while the check runs
            victim.write_text(victim.read_text("utf-8") + "# saved\n", encoding="utf-8")
        return out

    monkeypatch.setattr(load, "load_dataset", editing)
    load_catalogue(root)
    assert cache.stats.writes == 1 and len(_entries(cache_dir)) == 1


def test_an_entry_changed_and_changed_back_while_it_is_checked_is_not_stored(tmp_path, cache_dir, monkeypatch):
    root, ids = _catalogue(tmp_path / "cat", n=2)
    real = load.load_dataset
    victim = root / "datasets" / ids[0] / "dataset.yaml"
    original = victim.read_bytes()

    def editing(path: Path, root: Path, facilities: dict | None):
        if path.parent.name == ids[0]:  # the check reads other content than the key was made of
            time.sleep(0.05)  # (past the file system's clock tick)
            victim.write_bytes(original.replace(b"title: ", b"title: Other ", 1))
            out = real(path, root, facilities)
            victim.write_bytes(original)
            return out
        return real(path, root, facilities)

    monkeypatch.setattr(load, "load_dataset", editing)
    load_catalogue(root)
    assert cache.stats.writes == 1 and len(_entries(cache_dir)) == 1


def test_a_facilities_change_during_the_run_stores_nothing(tmp_path, cache_dir, monkeypatch):
    root, _ids = _catalogue(tmp_path / "cat", n=2)
    real = load.load_dataset
    facilities = root / "datasets" / "facilities.yaml"

    def editing(path: Path, root: Path, known: dict | None):
        facilities.write_text(facilities.read_text("utf-8") + "# saved\n", encoding="utf-8")
        return real(path, root, known)

    monkeypatch.setattr(load, "load_dataset", editing)
    load_catalogue(root)
    assert cache.stats.writes == 0 and _entries(cache_dir) == []


# ------------------------------------------------------------------------------------------ off switches

def test_openem_cache_off_neither_reads_nor_writes(tmp_path, cache_dir, checked, monkeypatch):
    root, ids = _catalogue(tmp_path / "cat")
    monkeypatch.setenv(cache.ENV_SWITCH, "off")
    load_catalogue(root)
    assert not cache_dir.exists()
    monkeypatch.delenv(cache.ENV_SWITCH)
    load_catalogue(root)
    checked.clear()
    monkeypatch.setenv(cache.ENV_SWITCH, "OFF")
    load_catalogue(root)
    assert sorted(checked) == sorted(ids)


def test_validate_no_cache_neither_reads_nor_writes(tmp_path, cache_dir, checked, capsys):
    root, ids = _catalogue(tmp_path / "cat")
    assert main(["--root", str(root), "validate", "--no-cache"]) == 0
    assert not cache_dir.exists()
    assert main(["--root", str(root), "validate"]) == 0
    assert len(_entries(cache_dir)) == N
    checked.clear()
    assert main(["--root", str(root), "validate", "--no-cache"]) == 0
    assert sorted(checked) == sorted(ids)
    checked.clear()
    assert main(["--root", str(root), "validate"]) == 0
    assert checked == []
    assert capsys.readouterr().err.count(f"Checked {N} datasets") == 4


def test_build_no_cache_switches_the_cache_off_for_the_plugin(tmp_path, monkeypatch):
    import openem_build.site.build as build_module

    seen = []

    def fake_build(root, site_dir=None, config="mkdocs.yml", site_url=None):
        seen.append(os.environ.get(cache.ENV_SWITCH))
        return tmp_path / "site"

    monkeypatch.setattr(build_module, "build_site", fake_build)
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)
    root, _ids = _catalogue(tmp_path / "cat", n=1)
    assert main(["--root", str(root), "build", "--no-cache"]) == 0
    assert main(["--root", str(root), "build"]) == 0
    assert seen == ["off", None]
    assert cache.ENV_SWITCH not in os.environ  # (restored)


# ------------------------------------------------------------------------------------------ where it lives

@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The warnings the cache logs (to the "openem" logger)."""
    said: list[str] = []
    monkeypatch.setattr(cache, "_warned", set())
    monkeypatch.setattr(cache.log, "warning", lambda fmt, *args: said.append(fmt % args))
    return said


def test_a_cache_folder_inside_the_catalogue_is_refused(tmp_path, monkeypatch, checked, warnings):
    root, ids = _catalogue(tmp_path / "cat")
    inside = root / ".cache" / "openem"
    monkeypatch.setenv(cache.ENV_DIR, str(inside))
    first = load_catalogue(root)
    load_catalogue(root)
    assert not inside.exists() and not (root / ".cache").exists()
    assert sorted(checked) == sorted(ids + ids)
    assert len(warnings) == 1 and "inside the catalogue" in warnings[0]  # once
    _same(first, load_catalogue(root, disk_cache=False))


def test_a_folder_everyone_may_write_to_is_refused(tmp_path, monkeypatch, warnings):
    root, _ids = _catalogue(tmp_path / "cat", n=1)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(cache.ENV_DIR, str(shared))
    load_catalogue(root)
    assert list(shared.iterdir()) == []
    assert len(warnings) == 1 and "everyone may write" in warnings[0]


def test_the_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "explicit"))
    assert cache.location() == tmp_path / "explicit"
    monkeypatch.delenv(cache.ENV_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.location() == tmp_path / "xdg" / "openem"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # not absolute: ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.location() == tmp_path / "home" / ".cache" / "openem"


# ------------------------------------------------------------------------------------------ bounded

def test_entries_are_written_atomically_in_two_digit_folders(tmp_path):
    session = cache.Session(tmp_path / "c", tmp_path)
    key = "ab" + "0" * 62
    assert session.put(key, ("value", [1, 2]))
    assert session.get(key) == ("value", [1, 2])
    assert [p.name for p in (tmp_path / "c" / cache.RESULTS / "ab").iterdir()] == ["0" * 62]
    assert session.get("cd" + "0" * 62) is None


def test_old_entries_are_pruned_at_most_once_a_day(tmp_path, monkeypatch):
    session = cache.Session(tmp_path / "c", tmp_path)
    now = time.time()
    old, recent = "aa" + "1" * 62, "bb" + "2" * 62
    for key in (old, recent):
        session.put(key, key)
    stale = now - (cache.MAX_AGE_DAYS + 1) * 86400
    os.utime(session._entry(old), (stale, stale))
    leftover = session._entry(old).parent / ".tmp-crashed"
    leftover.write_bytes(b"half")
    os.utime(leftover, (now - 7200, now - 7200))
    (tmp_path / "c" / "results-v0").mkdir()  # an older format
    assert session.prune(now) == 2
    assert session.get(old) is None and session.get(recent) == recent
    assert not leftover.exists() and not (tmp_path / "c" / "results-v0").exists()
    os.utime(session._entry(recent), (stale, stale))
    assert session.prune(now + 3600) == 0  # pruned less than a day ago
    assert session.prune(now + cache.PRUNE_EVERY + 1) == 1


def test_the_total_size_is_capped(tmp_path, monkeypatch):
    session = cache.Session(tmp_path / "c", tmp_path)
    now = time.time()
    keys = [f"{i:02x}" + "0" * 62 for i in range(10)]
    for age, key in enumerate(keys):
        session.put(key, "x" * 1000)
        os.utime(session._entry(key), (now - 100 * (10 - age), now - 100 * (10 - age)))
    monkeypatch.setattr(cache, "MAX_BYTES", 5000)
    session.prune(now)
    kept = [k for k in keys if session.get(k) is not None]
    assert kept == keys[-len(kept):] and 0 < len(kept) <= 4  # the most recently used ones


def test_settings_changed_at_run_time_recheck_everything(tmp_path, cache_dir, checked, monkeypatch):
    from openem_build.records import manifest

    root, ids = _catalogue(tmp_path / "cat", n=2, git=True)
    load_catalogue(root)
    checked.clear()
    monkeypatch.setattr(manifest, "MISSING_DATA_SEVERITY", None)
    load_catalogue(root)
    assert sorted(checked) == sorted(ids)


# ------------------------------------------------------------------------------------------ CI

@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_ci_keeps_the_cache_outside_the_checkout_and_saves_it_per_run(name):
    import yaml

    text = (ROOT / ".github" / "workflows" / name).read_text("utf-8")
    (job, *_rest) = yaml.safe_load(text)["jobs"].values()
    steps = job["steps"]
    (step,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache")]
    assert step["with"]["path"] == "~/.cache/openem"  # cache.location() when OPENEM_CACHE_DIR is not set
    assert "github.run_id" in step["with"]["key"] and step["with"]["restore-keys"]
    first_use = min(i for i, s in enumerate(steps) if "make" in str(s.get("run", "")))
    assert steps.index(step) < first_use
    assert "secrets." not in text
