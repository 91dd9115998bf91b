"""``openem add`` with real DataLad and git-annex: from a published dataset to a verified ``datalad get``,
from a plain folder without touching it, and all-or-nothing on failure."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup

from openem_build.authoring import add as add_module
from openem_build.authoring.add import AddError, add_dataset
from openem_build.authoring.entryfiles import stub_text
from openem_build.cli import main
from openem_build.data import annex, submodules
from openem_build.data.headers import read_headers
from openem_build.records.load import load_catalogue
from openem_build.records.manifest import MANIFEST_FILE, read
from openem_build.records.model import Manifest, ManifestFile
from openem_build.records.validate import is_placeholder
from openem_build.site.build import build_site

from .annex_helpers import (
    MRC_FILES,
    README,
    allow_localhost_env,
    catalogue,
    clean,
    data_folder,
    datalad_dataset,
    full_document,
    git,
    md5,
    publish,
    snapshot,
    web_server,
)
from .conftest import ROOT, write_dataset

IDENT = "apoferritin-test-2025"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory):
    """A web server on 127.0.0.1 that git-annex may download from."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in allow_localhost_env().items():
            mp.setenv(key, value)
        with web_server(tmp_path_factory.mktemp("www")) as server:
            yield server


@pytest.fixture(scope="module")
def published(web, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A facility's DataLad dataset of MRC files and its public clone URL (content only via web URLs)."""
    source = datalad_dataset(tmp_path_factory.mktemp("facility") / "apoferritin")
    return source, publish(source, web, "apoferritin")


@pytest.fixture
def cat(tmp_path: Path) -> Path:
    return catalogue(tmp_path / "catalogue")


def state(root: Path) -> tuple[str, str, str, list[str], bytes | None]:
    """Everything `openem add` could change in a catalogue."""
    gitmodules = root / ".gitmodules"
    return (git(root, "rev-parse", "HEAD"), git(root, "status", "--porcelain", "--ignored"),
            git(root, "ls-files", "--stage"), sorted(p.name for p in (root / "datasets").iterdir()),
            gitmodules.read_bytes() if gitmodules.exists() else None)


def test_add_published_dataset_then_clone_and_get_as_a_user(cat: Path, published, web, tmp_path: Path):
    source, url = published
    assert main(["--root", str(cat), "add", url, "--id", IDENT]) == 0

    folder = cat / "datasets" / IDENT
    assert clean(cat), git(cat, "status", "--porcelain")
    assert git(cat, "log", "-1", "--format=%s").strip() == f"Add dataset {IDENT} (openem add)"
    # Registered as a DataLad subdataset with the public URL.
    assert git(cat, "config", "-f", ".gitmodules", f"submodule.datasets/{IDENT}/data.url").strip() == url
    import datalad.api as dl
    subs = dl.subdatasets(dataset=str(cat), result_renderer="disabled")
    assert [Path(s["path"]) for s in subs] == [folder / "data"]
    assert submodules.gitlink(cat, f"datasets/{IDENT}/data") == annex.head(source)

    # The manifest: every file, with size, key, md5 from the key and the registered web URL; no content fetched.
    manifest, _doc, problems = read(folder / MANIFEST_FILE, cat)
    assert problems == [] and manifest is not None
    assert manifest.commit == annex.head(source)
    assert manifest.datalad_id == annex.datalad_id(source)
    assert [f.path for f in manifest.files] == sorted([*MRC_FILES, README])
    for f in manifest.files:
        assert f.size == (source / f.path).stat().st_size
        assert f.checksum == ("md5", md5(source / f.path))
        assert f.key and f.key.startswith("MD5E-s")
        assert f.web_urls == (f"{web.url}/content/apoferritin/{f.path}",)
    assert manifest.total_size == sum((source / p).stat().st_size for p in [*MRC_FILES, README])
    assert not any(r.startswith("/content/") for r in web.requests), "openem add must not download content"

    # The stub: data section filled in from the files, everything else TODO.
    stub = yaml.safe_load((folder / "dataset.yaml").read_text("utf-8"))
    assert stub["id"] == IDENT and stub["data"]["datalad"] == url and stub["data"]["commit"] == manifest.commit
    sets = {s["directory"]: s for s in stub["data"]["image_sets"]}
    assert sets["maps"] == {"name": "Reconstructed 3D maps", "directory": "maps", "category": "maps",
                                 "format": "mrc", "count": 3}
    assert sets["micrographs"]["count"] == 2 and sets["micrographs"]["category"] == "micrographs"
    assert is_placeholder(stub["title"])
    problems = load_catalogue(cat).problems
    assert any("placeholder" in p.message for p in problems), "the stub must not pass before a person fills it in"
    assert not [p.text() for p in problems if p.field.startswith("data") or p.path.endswith(MANIFEST_FILE)]

    # A person completes the entry; the catalogue is then valid and carries the manifest for the landing page.
    write_dataset(cat, full_document(IDENT, stub["data"]))
    git(cat, "commit", "-q", "-am", "Describe the dataset")
    result = load_catalogue(cat)
    assert [p.text() for p in result.problems if p.severity == "error"] == []
    assert result.catalogue.by_id[IDENT].manifest == manifest

    # The landing page lists the file with the checksum and web URL of the manifest.
    for name in ("docs", "overrides"):
        shutil.copytree(ROOT / name, cat / name)
    shutil.copy(ROOT / "mkdocs.yml", cat / "mkdocs.yml")
    site = build_site(cat, tmp_path / "site")
    page = BeautifulSoup((site / "datasets" / IDENT / "index.html").read_text("utf-8"), "lxml")
    assert f"datalad clone {url} {IDENT}" in page.select_one("pre.openem-commands").get_text()
    row = page.select_one('tr[data-path="maps/map_half1.mrc"]')
    page_md5 = row.select_one("code.openem-checksum").get_text().removeprefix("md5:")
    assert row.a["href"] == f"{web.url}/content/apoferritin/maps/map_half1.mrc"

    # A user elsewhere: clone the published catalogue, get one listed file, check it against the manifest.
    public = tmp_path / "public-catalogue.git"
    git(tmp_path, "clone", "-q", "--bare", str(cat), str(public))
    user = tmp_path / "user"
    dl.clone(source=str(public), path=str(user), result_renderer="disabled")
    wanted = manifest.by_path["maps/map_half1.mrc"]
    dl.get(path=str(user / "datasets" / IDENT / "data" / wanted.path), dataset=str(user),
           result_renderer="disabled")
    got = user / "datasets" / IDENT / "data" / wanted.path
    assert md5(got) == wanted.checksum_of("md5") == page_md5 == md5(source / wanted.path)
    assert got.stat().st_size == wanted.size
    assert git(user / "datasets" / IDENT / "data", "remote", "get-url", "origin").strip() == url
    assert f"/content/apoferritin/{wanted.path}" in web.requests  # delivered by the web URL in the manifest


def test_add_plain_folder_copies_and_never_touches_the_originals(cat: Path, tmp_path: Path):
    original = data_folder(tmp_path / "from-the-microscope")
    before = snapshot(original)
    public = "https://data.example.org/apoferritin-test-2025.git"
    assert main(["--root", str(cat), "add", str(original), "--id", IDENT, "--url", public]) == 0
    assert snapshot(original) == before
    assert not (original / ".git").exists() and not (original / ".datalad").exists()

    folder = cat / "datasets" / IDENT
    data = folder / "data"
    assert clean(cat)
    assert annex.is_dataset(data) and annex.changes(data) == []
    manifest, _doc, problems = read(folder / MANIFEST_FILE, cat)
    assert problems == [] and manifest is not None
    assert {f.path: f.checksum_of("md5") for f in manifest.files} == {
        rel: md5(original / rel) for rel in [*MRC_FILES, README]}
    # Content is in git-annex (a symlink into .git/annex), not in git.
    assert all(f.key for f in manifest.files)
    assert (data / "maps" / "map_full.mrc").is_symlink()
    # Headers were read from the content (MRC dimensions and voxel size).
    headers = manifest.by_path["maps/map_full.mrc"].headers
    assert headers and headers["mrc"]["dimensions"] == [16, 16, 16]
    assert headers["mrc"]["voxel_size_A"][0] == pytest.approx(1.1, abs=1e-3)
    stub = yaml.safe_load((folder / "dataset.yaml").read_text("utf-8"))
    assert stub["data"]["datalad"] == public
    pixel = {s["directory"]: s.get("pixel_size_A") for s in stub["data"]["image_sets"]}
    assert pixel == {"maps": pytest.approx(1.1, abs=1e-3), "micrographs": pytest.approx(0.55, abs=1e-3)}
    assert git(cat, "config", "-f", ".gitmodules", f"submodule.datasets/{IDENT}/data.url").strip() == public
    # The new data dataset did not learn the staging path it was made in.
    assert "openem-add" not in git(data, "annex", "info", "--fast")


def test_add_folder_without_url_leaves_the_url_to_fill(cat: Path, tmp_path: Path):
    original = data_folder(tmp_path / "data")
    result = add_dataset(cat, str(original), IDENT, read_headers=None)
    assert result.url is None and clean(cat)
    text = (result.folder / "dataset.yaml").read_text("utf-8")
    assert yaml.safe_load(text)["data"]["datalad"] == "TODO"
    problems = [p.text() for p in load_catalogue(cat).problems if p.field == "data.datalad"]
    assert any("placeholder" in p for p in problems), problems


def test_add_reuses_a_local_datalad_dataset_without_changing_it(cat: Path, published):
    source, _url = published
    head, status = annex.head(source), annex.changes(source)
    result = add_dataset(cat, str(source), IDENT, url="https://data.example.org/a.git", read_headers=read_headers)
    assert annex.head(source) == head and annex.changes(source) == status == []
    assert result.manifest.commit == head
    # Headers come from the original's content; the catalogue's clone holds none.
    assert result.manifest.by_path["maps/map_full.mrc"].headers["mrc"]["dimensions"] == [16, 16, 16]
    assert not (result.folder / "data" / "maps" / "map_full.mrc").exists()


def test_add_refuses_a_dirty_dataset_and_an_existing_entry(cat: Path, tmp_path: Path):
    import datalad.api as dl

    dirty = tmp_path / "dirty"
    dl.create(path=str(dirty), result_renderer="disabled")
    (dirty / "unsaved.mrc").write_bytes(b"x" * 10)
    before = state(cat)
    with pytest.raises(AddError, match="unsaved changes"):
        add_dataset(cat, str(dirty), IDENT)
    assert state(cat) == before and (dirty / "unsaved.mrc").read_bytes() == b"x" * 10

    write_dataset(cat, "id: taken-2025\n", "taken-2025")
    before = state(cat)
    with pytest.raises(AddError, match="exists already"):
        add_dataset(cat, str(data_folder(tmp_path / "d")), "taken-2025")
    assert state(cat) == before
    assert main(["--root", str(cat), "add", str(tmp_path / "d"), "--id", "taken-2025"]) == 2


def test_add_refuses_links_out_of_the_folder(cat: Path, tmp_path: Path):
    original = data_folder(tmp_path / "data")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for publication")
    (original / "leak.txt").symlink_to(secret)
    before = state(cat)
    with pytest.raises(AddError, match="outside the folder"):
        add_dataset(cat, str(original), IDENT)
    assert state(cat) == before


def test_add_commits_only_the_entry_when_other_changes_are_staged(cat: Path, tmp_path: Path):
    (cat / "notes.md").write_text("a draft, staged but not for this commit\n")
    git(cat, "add", "notes.md")
    add_dataset(cat, str(data_folder(tmp_path / "data")), IDENT)
    committed = git(cat, "show", "--name-only", "--format=", "HEAD").split()
    assert "notes.md" not in committed and f"datasets/{IDENT}/manifest.json" in committed
    assert git(cat, "diff", "--cached", "--name-only").split() == ["notes.md"]


def test_add_refuses_a_file_name_that_is_not_utf8(cat: Path, tmp_path: Path):
    original = data_folder(tmp_path / "data")
    with open(os.path.join(os.fsencode(original / "maps"), b"caf\xe9.txt"), "wb") as f:
        f.write(b"latin-1 name")
    before = state(cat)
    with pytest.raises(AddError, match=r"maps/caf\ufffd\.txt \(a name that is not UTF-8 text"):
        add_dataset(cat, str(original), IDENT)
    assert state(cat) == before and _no_staging_left(cat)


def test_add_refuses_a_folder_inside_a_datalad_dataset(cat: Path, published):
    source, _url = published
    before = state(cat)
    with pytest.raises(AddError, match="pass that dataset's root folder instead"):
        add_dataset(cat, str(source / "maps"), IDENT)
    assert state(cat) == before


def test_add_from_an_unreachable_url_changes_nothing(cat: Path, web):
    before = state(cat)
    with pytest.raises(AddError, match="datalad clone failed"):
        add_dataset(cat, f"{web.url}/no-such-dataset.git", IDENT)
    assert state(cat) == before and _no_staging_left(cat)


def _no_staging_left(root: Path) -> bool:
    """No staged dataset is left behind (the journal of what was read may stay: a rerun reads only the rest)."""
    staging = root / ".git" / add_module.STAGING
    return not staging.exists() or all(p.is_file() and p.suffix == ".journal" for p in staging.iterdir())


@pytest.mark.parametrize("where", ["write_entry", "register_subdataset", "commit-hook", "interrupt"])
def test_add_failure_leaves_the_catalogue_as_it_was(cat: Path, tmp_path: Path, monkeypatch, where: str):
    original = data_folder(tmp_path / "data")
    # An existing subdataset entry must survive the rollback byte for byte.
    (cat / ".gitmodules").write_text('[submodule "other"]\n\tpath = other\n\turl = https://example.org/o.git\n')
    git(cat, "add", ".gitmodules")
    git(cat, "commit", "-q", "-m", "gitmodules")
    before = state(cat)

    def boom(*_args, **_kwargs):
        raise RuntimeError("injected failure")

    if where == "write_entry":  # before anything reaches the catalogue
        monkeypatch.setattr(add_module, "write_entry", boom)
    elif where == "register_subdataset":  # after the move into datasets/ and a half-written .gitmodules
        real = submodules.register_subdataset

        def half(root, path, *args):
            real(root, path, *args)
            raise RuntimeError("injected failure")
        monkeypatch.setattr(submodules, "register_subdataset", half)
    elif where == "commit-hook":  # the very last step fails: a pre-commit hook refuses
        hook = cat / ".git" / "hooks" / "pre-commit"
        hook.write_text("#!/bin/sh\necho refused by hook >&2\nexit 1\n")
        hook.chmod(0o755)
        before = state(cat)
    else:  # Ctrl-C while the files are being listed
        def interrupt(*_args, **_kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(add_module.M, "from_repo", interrupt)
        monkeypatch.setattr(add_module.Prepared, "listing", interrupt)  # (a plain folder: from its rows)

    expected = {"interrupt": KeyboardInterrupt, "commit-hook": AddError}.get(where, RuntimeError)
    with pytest.raises(expected, match="refused by hook" if where == "commit-hook" else None):
        add_dataset(cat, str(original), IDENT)
    assert state(cat) == before
    assert clean(cat) and not (cat / "datasets" / IDENT).exists() and _no_staging_left(cat)


def test_stub_text_without_image_sets_keeps_todo_and_parses():
    manifest = Manifest((ManifestFile("readme.txt", 3, None, (("md5", "0" * 32),)),), "a" * 40)
    doc = yaml.safe_load(stub_text("x-dataset", manifest, None))
    assert doc["data"]["image_sets"] == [{"name": "TODO", "directory": "TODO", "category": "TODO",
                                          "format": "TODO"}]
    assert doc["data"]["commit"] == "a" * 40


def test_catalogue_gitattributes_keep_metadata_in_git(cat: Path):
    """The repository's .gitattributes: YAML/JSON/Markdown stay in git whatever their size; big binaries go to
    git-annex."""
    folder = cat / "datasets" / "big"
    folder.mkdir()
    (folder / MANIFEST_FILE).write_text(json.dumps({"files": ["x" * 100] * 5000}))  # ~500 KiB of JSON
    (folder / "dataset.yaml").write_text("id: big\n" + "# padding\n" * 40000)
    (folder / "preview.png").write_bytes(os.urandom(400 * 1024))
    import datalad.api as dl
    dl.save(dataset=str(cat), path=[str(folder)], result_renderer="disabled")
    annexed = set(git(cat, "annex", "find", "--include=*", "datasets/big").split())
    assert annexed == {"datasets/big/preview.png"}
    own = (Path(__file__).parent.parent / ".datalad" / "config").read_text().split("= ")[1].strip()
    assert annex.datalad_id(cat) == own
