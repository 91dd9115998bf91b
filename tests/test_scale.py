"""What keeps large catalogues fast and small (issue 10), checked for results, not timings: records without
their manifests' files, dataset pages rendered across worker processes exactly as in one process, and a search
index made in shards that indexes each page as one index does."""

from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path

import pytest

from openem_build.records.load import load_catalogue
from openem_build.records.manifest import ManifestChanged, load_files, parse
from openem_build.records.model import ManifestFiles
from openem_build.site import landing, search
from openem_build.site.build import build_site

from .test_synth import _synth


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scale") / "catalogue"
    _synth().write(24, root)
    return root


def _tree(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_records_hold_no_manifest_files(catalogue: Path) -> None:
    result = load_catalogue(catalogue)
    assert result.ok and len(result.catalogue.datasets) == 24
    for d in result.catalogue.datasets:
        lazy = d.manifest.files
        assert isinstance(lazy, ManifestFiles)
        source = catalogue / "datasets" / d.id / "manifest.json"
        expected, _, problems = parse(source.read_text("utf-8"), f"datasets/{d.id}/manifest.json")
        assert problems == []
        # Read on use, the same files the check saw; counts and totals without reading.
        assert tuple(lazy) == tuple(expected.files)
        assert len(lazy) == len(expected.files) and bool(lazy)
        assert d.manifest.total_size == expected.total_size
        assert d.manifest.sizes_complete == expected.sizes_complete
        assert lazy[0] == expected.files[0]
    # What travels between processes and stays in memory is small, whatever the number of files.
    big = max(result.catalogue.datasets, key=lambda d: len(d.manifest.files))
    assert len(big.manifest.files) > 100
    assert len(pickle.dumps(big.manifest)) < 1000


def test_a_manifest_changed_after_validation_is_never_shown(catalogue: Path, tmp_path: Path) -> None:
    d = load_catalogue(catalogue).catalogue.datasets[0]
    copy = tmp_path / "manifest.json"
    copy.write_bytes(Path(d.manifest.files.path).read_bytes())
    lazy = ManifestFiles(str(copy), d.manifest.files.digest, 1, 0, True)
    assert tuple(lazy) == tuple(d.manifest.files)
    copy.write_bytes(copy.read_bytes().replace(b'"size": ', b'"size": 1', 1))
    assert tuple(lazy) == tuple(d.manifest.files)  # (what was read and checked is kept a while)
    load_files.cache_clear()
    with pytest.raises(ManifestChanged, match="changed after it was validated"):
        tuple(ManifestFiles(str(copy), d.manifest.files.digest, 1, 0, True))
    copy.unlink()
    with pytest.raises(ManifestChanged, match="cannot be read again"):
        tuple(ManifestFiles(str(copy), d.manifest.files.digest + "0", 1, 0, True))


def test_pages_rendered_across_processes_equal_those_rendered_in_one(catalogue: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENEM_JOBS", "1")
    serial = _tree(build_site(catalogue, tmp_path / "serial"))

    pids = tmp_path / "pids"
    render_one = landing.render_one

    def recording(job, d):  # runs in the worker processes
        with open(pids, "a") as out:
            out.write(f"{os.getpid()}\n")
        return render_one(job, d)

    monkeypatch.setenv("OPENEM_JOBS", "2")
    monkeypatch.setattr(landing, "PARALLEL_MIN", 1)
    monkeypatch.setattr(landing, "render_one", recording)
    parallel = _tree(build_site(catalogue, tmp_path / "parallel"))

    seen = pids.read_text().split()
    assert len(seen) == 24 and len(set(seen)) == 2 and str(os.getpid()) in seen  # this process works too
    assert sorted(parallel) == sorted(serial)
    assert [k for k in serial if serial[k] != parallel[k]] == []
    page = parallel["datasets/" + sorted(p.split("/")[1] for p in serial if p.startswith("datasets/"))[0]
                    + "/index.html"].decode()
    assert "<h1" in page and "openem-files" in page and 'type="application/ld+json"' in page


def _fragments(bundle: Path) -> dict[str, dict]:
    out = {}
    for path in bundle.glob("fragment/*.pf_fragment"):
        data = json.loads(gzip.decompress(path.read_bytes()).removeprefix(b"pagefind_dcd"))
        out[data["url"]] = data
    return out


def test_a_sharded_search_index_indexes_each_page_as_one_index_does(catalogue: Path, tmp_path: Path) -> None:
    site = build_site(catalogue, tmp_path / "site")
    whole = _fragments(site / search.BUNDLE)
    page = (site / "datasets" / sorted(d.name for d in (site / "datasets").iterdir() if d.is_dir())[0]
            / "index.html").read_bytes()
    stripped = search._search_copy(page)
    assert b"openem-files" in page and b"openem-files" not in stripped and b'<h3 id="files">Files</h3>' in stripped
    assert len(stripped) < len(page) / 2 and stripped.count(b"</section>") == page.count(b"</section>")
    assert b"data-pagefind-body" in stripped and b"md-header" in page and b"md-header" not in stripped

    search.index_site(site, shard_pages=5)  # 24 dataset pages: 5 shards, file tables left out of the copies
    bundles = json.loads((site / search.BUNDLE / search.SHARDS_FILE).read_text("utf-8"))["bundles"]
    assert len(bundles) == 5
    parts: dict[str, dict] = {}
    for bundle in bundles:
        found = _fragments(site / bundle)
        assert found.pop("/" + search.VOCABULARY_PAGE)["filters"] == {"openem": ["vocabulary"]}
        assert not set(found) & set(parts)
        parts.update(found)
    assert sorted(parts) == sorted(whole)
    for url, fragment in whole.items():
        for key in ("content", "word_count", "filters", "meta", "anchors"):
            assert parts[url].get(key) == fragment.get(key), (url, key)


def test_a_build_apart_equals_one_in_this_process_and_reports_its_errors(catalogue: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from openem_build.site import build as build_module
    from openem_build.site.build import BuildError

    here = _tree(build_site(catalogue, tmp_path / "here"))
    pids = tmp_path / "pids"
    render_one = landing.render_one

    def recording(job, d):
        with open(pids, "a") as out:
            out.write(f"{os.getpid()}\n")
        return render_one(job, d)

    monkeypatch.setattr(landing, "render_one", recording)
    monkeypatch.setattr(build_module, "APART_MIN", 1)
    apart = _tree(build_site(catalogue, tmp_path / "apart"))
    assert str(os.getpid()) not in pids.read_text().split()  # MkDocs' build ran in another process
    assert sorted(apart) == sorted(here) and [k for k in here if here[k] != apart[k]] == []

    broken = sorted((catalogue / "datasets").glob("*/dataset.yaml"))[0]
    text = broken.read_text("utf-8")
    try:
        broken.write_text(text.replace("\ntitle: ", "\ntitle:\n  - not a string\nx_title: ", 1), "utf-8")
        with pytest.raises(BuildError) as err:
            build_site(catalogue, tmp_path / "broken")
    finally:
        broken.write_text(text, "utf-8")
    assert f"datasets/{broken.parent.name}/dataset.yaml:" in str(err.value)
    assert not (tmp_path / "broken").exists() and not list(tmp_path.glob(".broken.building-*"))


def test_the_garbage_collector_is_paused_while_many_records_are_made_and_restored_after() -> None:
    import gc

    from openem_build.infra.parallel import no_gc

    assert gc.isenabled()
    with no_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), no_gc():
        raise RuntimeError("a failed check")
    assert gc.isenabled()  # restored after an error too
    gc.disable()
    try:
        with no_gc():
            pass
        assert not gc.isenabled()  # a collector paused by someone else stays paused
    finally:
        gc.enable()


def test_checks_run_with_the_collector_paused_in_this_process_and_in_workers(catalogue: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from openem_build.records import load

    real = load.load_dataset
    log = tmp_path / "checks.log"

    def recording(path: Path, root: Path, facilities: dict | None) -> tuple:
        with log.open("a") as f:  # (a file: forked workers report through it too)
            f.write(f"{os.getpid()} {gc.isenabled()}\n")
        return real(path, root, facilities)

    monkeypatch.setattr(load, "load_dataset", recording)
    for jobs, parallel_min in (("1", 10_000), ("2", 1)):
        monkeypatch.setenv("OPENEM_JOBS", jobs)
        monkeypatch.setattr(load, "PARALLEL_MIN", parallel_min)
        log.write_text("")
        result = load_catalogue(catalogue, disk_cache=False)
        assert result.ok and len(result.catalogue.datasets) == 24
        checks = [line.split() for line in log.read_text().splitlines()]
        assert len(checks) == 24 and {enabled for _, enabled in checks} == {"False"}
        pids = {int(pid) for pid, _ in checks}
        assert pids == {os.getpid()} if jobs == "1" else os.getpid() not in pids
        assert gc.isenabled()


def test_pages_filled_into_the_theme_shell_equal_pages_rendered_in_full(catalogue: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    from openem_build.site import shell

    monkeypatch.setenv("OPENEM_JOBS", "1")
    monkeypatch.setenv("OPENEM_CACHE", "off")  # (pages from the page cache would not be rendered at all)
    with monkeypatch.context() as patched:
        patched.setattr(landing, "_only_ours", lambda job: False)  # no shell: every page through the theme
        full = _tree(build_site(catalogue, tmp_path / "full"))

    themed = []
    theme_page = landing.theme_page

    def counting(*args, **kwargs):
        themed.append(1)
        return theme_page(*args, **kwargs)

    monkeypatch.setattr(landing, "theme_page", counting)
    filled = _tree(build_site(catalogue, tmp_path / "filled"))
    assert len(themed) == 3  # the shell, its check, and the first page compared: not one per dataset
    assert [k for k in full if full[k] != filled.get(k)] == [] and sorted(full) == sorted(filled)

    # Marks without a heading: Material adds one around them, which the real pages (with theirs) do not get.
    # The first page rendered in full shows the difference; every page is then rendered in full.
    themed.clear()
    for marks in (shell.SLOTS, shell.CHECK):
        monkeypatch.setitem(marks, "body", marks["body"].replace("h1", "p"))
    with caplog.at_level("INFO", logger="mkdocs.plugins.openem"):
        fallback = _tree(build_site(catalogue, tmp_path / "fallback"))
    assert "rendered one by one through the theme" in caplog.text
    assert len(themed) == 3 + 24 - 1
    assert [k for k in full if full[k] != fallback.get(k)] == []
