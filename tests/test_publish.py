"""``openem publish``: an entry's DataLad dataset into the store, then the entry pointed at it in one commit; the
catalogue unchanged whenever it cannot or must not go ahead. Real DataLad, git-annex and a folder store."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

from openem_build.authoring.add import add_dataset
from openem_build.cli import main
from openem_build.data import annexfiles, submodules
from openem_build.data import publish as P
from openem_build.data.headers import read_headers
from openem_build.data.store import Store
from openem_build.infra.context import Settings
from openem_build.records.load import load_catalogue
from openem_build.records.manifest import read

from .annex_helpers import catalogue, data_folder, full_document, git
from .conftest import write_dataset

IDENT = "apoferritin-test-2025"


@pytest.fixture
def added(tmp_path: Path) -> Path:
    """A catalogue with one complete entry made by `openem add` from a plain folder (not yet published)."""
    root = catalogue(tmp_path / "catalogue")
    (root / "mkdocs.yml").write_text("site_name: t\nsite_url: https://cat.example.org/\nplugins:\n  - openem:\n"
                                     "      store: store\n", encoding="utf-8")
    git(root, "add", "mkdocs.yml")
    git(root, "commit", "-q", "-m", "config")
    add_dataset(root, str(data_folder(tmp_path / "run")), IDENT, read_headers=read_headers)
    stub = yaml.safe_load((root / "datasets" / IDENT / "dataset.yaml").read_text("utf-8"))
    write_dataset(root, full_document(IDENT, stub["data"]))
    git(root, "commit", "-q", "-am", "Describe the dataset")
    return root


def state(root: Path) -> tuple[str, str, bytes, bytes, bytes]:
    folder = root / "datasets" / IDENT
    return (git(root, "rev-parse", "HEAD"), git(root, "status", "--porcelain"), (root / ".gitmodules").read_bytes(),
            (folder / "dataset.yaml").read_bytes(), (folder / "manifest.json").read_bytes())


def test_publish_points_the_entry_at_the_store_in_one_commit(added: Path, capsys) -> None:
    before = git(added, "rev-parse", "HEAD").strip()
    assert main(["--root", str(added), "publish", IDENT]) == 0
    out = capsys.readouterr().out
    manifest, _doc, problems = read(added / "datasets" / IDENT / "manifest.json", added)
    assert problems == [] and manifest is not None
    dsid = manifest.datalad_id
    url = f"ria+https://cat.example.org/store#{dsid}"
    assert yaml.safe_load((added / "datasets" / IDENT / "dataset.yaml").read_text("utf-8"))["data"]["datalad"] == url
    sub = submodules.read_gitmodules(added)[f"datasets/{IDENT}/data"]
    assert (sub.url, sub.datalad_url, sub.datalad_id) == (f"https://cat.example.org/store/{dsid[:3]}/{dsid[3:]}",
                                                          url, dsid)
    for f in manifest.files:
        if f.key:
            assert f.urls == (f"https://cat.example.org/store/{dsid[:3]}/{dsid[3:]}/annex/objects/"
                              f"{annexfiles.key_locations(added / 'datasets' / IDENT / 'data', [f.key])[f.key]}",)
    # One commit, named in the output; nothing else changed; the entry validates.
    assert git(added, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    assert git(added, "log", "-1", "--format=%s").strip() == f"Publish {IDENT} to the OpenEM store (openem publish)"
    assert git(added, "rev-parse", "--short=12", "HEAD").strip() in out
    assert git(added, "status", "--porcelain").strip() == ""
    assert [p.text() for p in load_catalogue(added, disk_cache=False).problems] == []
    # The store holds the dataset; publishing again sends nothing and changes nothing.
    assert (added / "store" / dsid[:3] / dsid[3:] / "HEAD").is_file()
    after = state(added)
    assert main(["--root", str(added), "publish", IDENT]) == 0
    assert "0 sent" in capsys.readouterr().out and state(added) == after


def test_an_embargoed_entry_is_refused_by_a_public_store(added: Path, tmp_path: Path) -> None:
    path = added / "datasets" / IDENT / "dataset.yaml"
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc.update(status="embargoed", embargo_until="2099-01-01")
    write_dataset(added, doc)
    git(added, "commit", "-q", "-am", "embargo")
    before = state(added)
    public = Store(str(tmp_path / "public-store"), "https://data.example.org/store")
    with pytest.raises(P.PublishError, match="embargoed until 2099-01-01"):
        P.publish_entry(added, IDENT, public, today=date(2026, 12, 1))
    assert state(added) == before and not (tmp_path / "public-store").exists()
    # The store the site serves may hold it (the site serves no embargoed dataset).
    served = P.store_for(added)
    assert served.served_by_site
    P.publish_entry(added, IDENT, served, today=date(2026, 12, 1), commit=False)


def test_a_manifest_that_does_not_describe_the_dataset_is_refused(added: Path) -> None:
    path = added / "datasets" / IDENT / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data["files"] = data["files"][1:]
    path.write_text(json.dumps(data), encoding="utf-8")
    git(added, "commit", "-q", "-am", "damage the manifest")
    before = state(added)
    with pytest.raises(P.PublishError, match="does not describe"):
        P.publish_entry(added, IDENT, P.store_for(added))
    assert state(added) == before and not (added / "store").exists()


def test_a_failure_while_pointing_the_entry_leaves_the_catalogue_as_it_was(added: Path, monkeypatch) -> None:
    before = state(added)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(P, "_register", broken)
    with pytest.raises(OSError, match="disk full"):
        P.publish_entry(added, IDENT, P.store_for(added))
    assert state(added) == before


def test_store_settings_come_from_mkdocs_yml_the_environment_and_the_arguments(tmp_path: Path) -> None:
    settings = Settings(site_url="https://cat.example.org/", store="store")
    s = P.store_for(tmp_path, settings, environ={})
    assert (s.location, s.public_url, s.served_by_site) == (str(tmp_path / "store"), "https://cat.example.org/store",
                                                           True)
    s = P.store_for(tmp_path, settings, environ={P.ENV_STORE: "s3://bucket/x", P.ENV_STORE_URL: "https://s3.example"
                                                 ".org/bucket/x", P.ENV_ENDPOINT: "https://s3.example.org"})
    assert (s.location, s.public_url, s.endpoint, s.served_by_site) == (
        "s3://bucket/x", "https://s3.example.org/bucket/x", "https://s3.example.org", False)
    s = P.store_for(tmp_path, settings, location="/srv/store", public_url="https://data.example.org/store/",
                    environ={P.ENV_STORE: "s3://bucket/x"})
    assert (s.location, s.public_url) == ("/srv/store", "https://data.example.org/store")
    with pytest.raises(P.PublishError, match="no store is configured"):
        P.store_for(tmp_path, Settings(), environ={})
    with pytest.raises(P.PublishError, match="plain http"):
        P.store_for(tmp_path, settings, public_url="ftp://x.example.org/", environ={})


@pytest.mark.parametrize(("text", "expected"), [
    ("id: x\ndata:\n  datalad: TODO  # publish it\n  image_sets: []\n",
     'id: x\ndata:\n  datalad: "ria+https://s.example/store#u"\n  image_sets: []\n'),
    ("data:\n    # datalad: old\n    image_sets: []\nother:\n  datalad: keep\n",
     'data:\n    datalad: "ria+https://s.example/store#u"\n    image_sets: []\nother:\n  datalad: keep\n'),
    ("data:\n  image_sets: []\n", 'data:\n  datalad: "ria+https://s.example/store#u"\n  image_sets: []\n'),
    ("data:  # the files\n  provenance:\n    statement: datalad: no\n  datalad: x\n",
     'data:  # the files\n  provenance:\n    statement: datalad: no\n  datalad: "ria+https://s.example/store#u"\n'),
])
def test_only_the_datalad_line_changes(text: str, expected: str) -> None:
    assert P.with_datalad_url(text, "ria+https://s.example/store#u") == expected


def test_no_data_section_is_a_clear_error() -> None:
    with pytest.raises(P.PublishError, match="no top-level `data:`"):
        P.with_datalad_url("id: x\n", "ria+https://s.example/store#u")


def test_validate_checks_that_url_gitmodules_and_manifest_agree(added: Path) -> None:
    assert main(["--root", str(added), "publish", IDENT, "--verify", "no"]) == 0
    path = added / "datasets" / IDENT / "dataset.yaml"
    text = path.read_text("utf-8")
    dsid = read(added / "datasets" / IDENT / "manifest.json", added)[0].datalad_id
    other = "0" * 8 + "-0000-4000-8000-" + "0" * 12

    def problems() -> list[str]:
        return [p.text() for p in load_catalogue(added, disk_cache=False).problems]

    # Another dataset's id in data.datalad: both the manifest and .gitmodules disagree, located at the line.
    path.write_text(text.replace(f"#{dsid}", f"#{other}"), encoding="utf-8")
    found = problems()
    assert any(f"names the DataLad dataset {other}, but .gitmodules records {dsid}" in p for p in found), found
    assert any(f"lists the files of {dsid}" in p for p in found), found
    assert all(p.startswith(f"datasets/{IDENT}/dataset.yaml:") for p in found if other in p)
    # Another store in .gitmodules.
    path.write_text(text, encoding="utf-8")
    git(added, "config", "-f", ".gitmodules", f"submodule.datasets/{IDENT}/data.datalad-url",
        f"ria+https://elsewhere.example.org/store#{dsid}")
    git(added, "config", "-f", ".gitmodules", f"submodule.datasets/{IDENT}/data.url", "https://elsewhere.example.org/x")
    assert any("differs from the URL .gitmodules records" in p for p in problems())
