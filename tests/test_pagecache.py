"""The page cache (openem_build.site.pagecache): a build after a one-entry edit renders that entry only, and gives
the same bytes as a build without the cache; theme changes, damaged entries and hostile entries never give stale
or foreign output."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import pytest

from openem_build.records import cache
from openem_build.render import outputs as A
from openem_build.site import pagecache
from openem_build.site.build import build_site

from .test_synth import _synth

N = 6


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)
    root = tmp_path / "catalogue"
    _synth().write(N, root)
    return root


def _tree(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def _rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the datasets whose files are made (not taken from the cache) from now on."""
    made: list[str] = []
    for_dataset = A.for_dataset

    def counting(ctx, d, parts=False):
        made.append(d.id)
        return for_dataset(ctx, d, parts)

    monkeypatch.setattr(A, "for_dataset", counting)
    return made


def _entries(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "cache" / pagecache.PAGES).rglob("*")
                  if p.is_file() and not p.name.startswith("."))


def test_an_unchanged_catalogue_is_built_from_the_cache_with_the_same_bytes(
        catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = _rendered(monkeypatch)
    first = _tree(build_site(catalogue, tmp_path / "one"))
    assert len(made) == N and len(_entries(tmp_path)) == N
    made.clear()
    second = _tree(build_site(catalogue, tmp_path / "two"))
    assert made == []
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []
    monkeypatch.setenv(cache.ENV_SWITCH, "off")
    third = _tree(build_site(catalogue, tmp_path / "three"))
    assert made != [] and third == first


def test_an_edit_renders_that_entry_and_a_theme_change_renders_all(
        catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = _rendered(monkeypatch)
    build_site(catalogue, tmp_path / "one")
    made.clear()
    edited = sorted((catalogue / "datasets").glob("*/dataset.yaml"))[2]
    edited.write_text(edited.read_text("utf-8").replace("\ntitle: ", "\ntitle: Edited ", 1), "utf-8")
    site = build_site(catalogue, tmp_path / "two")
    assert made == [edited.parent.name]
    assert "<h1 id=\"title\">Edited " in (site / "datasets" / edited.parent.name / "index.html").read_text("utf-8")
    made.clear()
    main_html = catalogue / "overrides" / "main.html"
    main_html.write_text(main_html.read_text("utf-8") + "\n{# a theme change #}\n", "utf-8")
    build_site(catalogue, tmp_path / "three")
    assert sorted(made) == sorted(p.name for p in (catalogue / "datasets").iterdir() if p.is_dir())


def test_a_build_from_the_cache_makes_only_the_edited_entry_s_dcat_statements(
        catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue's DCAT files take the other entries' blocks from their kept parts (none left in the site)."""
    from openem_build.render import dcat

    first = build_site(catalogue, tmp_path / "one")
    edited = sorted((catalogue / "datasets").glob("*/dataset.yaml"))[1]
    edited.write_text(edited.read_text("utf-8").replace("\ntitle: ", "\ntitle: Edited ", 1), "utf-8")
    made: list[str] = []
    add = dcat.add_dataset
    monkeypatch.setattr(dcat, "add_dataset", lambda g, ctx, d, cat: made.append(d.id) or add(g, ctx, d, cat))
    site = build_site(catalogue, tmp_path / "two")
    assert made == [edited.parent.name]
    assert b"Edited " in (site / "dcat" / "catalog.ttl").read_bytes()
    assert (site / "dcat" / "catalog.rdf").read_bytes() != (first / "dcat" / "catalog.rdf").read_bytes()
    assert not any(p.name == A.PARTS.strip("/") for p in [*site.rglob("*"), *first.rglob("*")])


def test_a_rebuild_links_the_unchanged_files_of_the_site_it_replaces(
        catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files that hold the same bytes in the replaced site are hard links to them; an edited entry's changed
    files, and a file of the old site that no longer holds what the build makes, are written anew."""
    site = build_site(catalogue, tmp_path / "site")
    inode = {p.relative_to(site).as_posix(): p.stat().st_ino for p in site.rglob("*") if p.is_file()}
    folders = sorted(p.name for p in (catalogue / "datasets").iterdir() if p.is_dir())
    edited, kept = folders[0], folders[1]
    tampered = site / "datasets" / kept / "citation.bib"
    good = tampered.read_bytes()
    tampered.write_bytes(good.replace(b"@", b"!", 1))  # (the same size, other bytes, the same file)
    path = catalogue / "datasets" / edited / "dataset.yaml"
    path.write_text(path.read_text("utf-8").replace("\ntitle: ", "\ntitle: Edited ", 1), "utf-8")
    again = build_site(catalogue, tmp_path / "site")
    now = {p.relative_to(again).as_posix(): p.stat().st_ino for p in again.rglob("*") if p.is_file()}
    linked = {path for path in now if inode.get(path) == now[path]}
    assert f"datasets/{kept}/index.html" in linked and f"datasets/{kept}/metadata.jsonld" in linked
    assert f"datasets/{edited}/index.html" not in linked and f"datasets/{edited}/metadata.jsonld" not in linked
    assert f"datasets/{kept}/citation.bib" not in linked and tampered.read_bytes() == good
    monkeypatch.setenv(cache.ENV_SWITCH, "off")
    assert _tree(again) == _tree(build_site(catalogue, tmp_path / "fresh"))


def test_only_a_staging_folder_of_openem_build_names_a_replaced_site(tmp_path: Path) -> None:
    from openem_build.site.build import replaced_site

    (tmp_path / "site").mkdir()
    (tmp_path / "public").symlink_to(tmp_path / "site")
    assert replaced_site(tmp_path / ".site.building-k2j4") == tmp_path / "site"
    assert replaced_site(tmp_path / ".public.building-k2j4") is None  # (a link: not followed)
    assert replaced_site(tmp_path / ".other.building-k2j4") is None
    assert replaced_site(tmp_path / "site") is None and replaced_site(tmp_path / ".building-x") is None


def test_damaged_and_hostile_entries_are_misses(catalogue: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    good = _tree(build_site(catalogue, tmp_path / "one"))
    entries = _entries(tmp_path)
    # A flipped byte: the checksum fails.
    damaged = bytearray(entries[0].read_bytes())
    damaged[-1] ^= 0xFF
    entries[0].write_bytes(bytes(damaged))
    # A well-formed entry (valid checksum) whose file would land outside the site folder.
    meta = {"labelled": [], "files": [["../../outside.html", 4], ["datasets/x/index.html", 2]]}
    body = zlib.compress(json.dumps(meta).encode() + b"\n" + b"evilok")
    entries[1].write_bytes(pagecache._MAGIC + hashlib.sha256(body).digest() + body)
    made = _rendered(monkeypatch)
    again = _tree(build_site(catalogue, tmp_path / "two"))
    assert len(made) == 2
    assert again == good
    assert not (tmp_path / "outside.html").exists() and not list(tmp_path.rglob("outside.html"))


def test_entries_are_data_with_checked_paths(tmp_path: Path) -> None:
    store = pagecache.PageStore(tmp_path, "theme")
    labelled = [A.Artefact("datasets/a/citation.bib", "", "BibTeX", "application/x-bibtex")]
    store.put("ab" * 32, pagecache.Entry(labelled, [("datasets/a/index.html", b"<html>"),
                                                    ("datasets/a/citation.bib", b"@misc{}")]))
    entry = store.get("ab" * 32)
    assert entry is not None and entry.labelled == labelled
    assert entry.files == [("datasets/a/index.html", b"<html>"), ("datasets/a/citation.bib", b"@misc{}")]
    assert store.get("cd" * 32) is None
    for bad in ("/etc/passwd", "a/../../b", "a//b", "a\\b", "", "./a"):
        assert not pagecache._safe(bad), bad
    # Keys follow every input: the same record and context give the same key, another theme another.
    assert store.key({"x": 1}, ("f",)) == store.key({"x": 1}, ("f",))
    assert store.key({"x": 1}, ("f",)) != pagecache.PageStore(tmp_path, "other").key({"x": 1}, ("f",))
    assert store.key({"x": 1}, ("f",)) != store.key({"x": 2}, ("f",))


def test_entries_of_the_right_shape_with_wrong_types_are_misses(catalogue: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Well-formed entries (valid checksum, JSON header) whose parts have the wrong types, or that lack the
    dataset's own page, are misses: the build renders those datasets again and has every page."""
    good = _tree(build_site(catalogue, tmp_path / "one"))
    entries = _entries(tmp_path)
    page = "datasets/x/index.html"
    poisoned = [
        ({"labelled": [], "files": []}, b""),  # nothing at all: the dataset would have no page
        ({"labelled": [[1, "BibTeX", "text/x-bibtex"]], "files": [[page, 2]]}, b"ok"),  # a number as a path
        ({"labelled": [], "files": [[page, True]]}, b"o"),  # true as a size
        ({"labelled": [], "files": [[page, 2]]}, b"ok"),  # another dataset's page only
        ([[], [[page, 2]]], b"ok"),  # a list, not a mapping
        ({"labelled": [["datasets/x/citation.bib", "BibTeX", "t"]], "files": [[page, 2]]}, b"ok"),  # unlisted
    ]
    for path, (meta, payload) in zip(entries, poisoned, strict=True):
        body = zlib.compress(json.dumps(meta).encode() + b"\n" + payload)
        path.write_bytes(pagecache._MAGIC + hashlib.sha256(body).digest() + body)
    made = _rendered(monkeypatch)
    again = _tree(build_site(catalogue, tmp_path / "two"))
    assert len(made) == N
    assert again == good
