"""manifest.json: reading and writing, the git-annex listing behind it, and every check against dataset.yaml,
the catalogue's .gitmodules and the installed subdataset (real DataLad and git-annex)."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from openem_build.add import add_dataset
from openem_build.cli import main
from openem_build.data import annex
from openem_build.data.headers import read_headers
from openem_build.load import load_catalogue
from openem_build.manifest import (
    MANIFEST_FILE,
    check_checksums,
    compare,
    datalad_commands,
    dumps,
    format_of,
    from_repo,
    guess_image_sets,
    parse,
    set_members,
    tree,
)
from openem_build.model import Manifest, ManifestFile

from .annex_helpers import catalogue, data_folder, full_document, git, md5
from .conftest import write_dataset

IDENT = "apoferritin-test-2025"
URL = "https://data.example.org/apoferritin-test-2025.git"
SUB = f"datasets/{IDENT}/data"
MAN = f"datasets/{IDENT}/{MANIFEST_FILE}"
YML = f"datasets/{IDENT}/dataset.yaml"
C1, C2 = "1" * 40, "2" * 40


# ------------------------------------------------------------------------------------------ pure parts

def test_keys_give_size_and_checksum():
    info = annex.parse_key("MD5E-s1024--0123456789abcdef0123456789abcdef.mrc")
    assert (info.backend, info.size, info.checksums) == ("MD5E", 1024, (("md5", "0123456789abcdef0123456789abcdef"),))
    sha = "a" * 64
    assert annex.parse_key(f"SHA256E-s5--{sha}.tar.gz").checksums == (("sha256", sha),)
    assert annex.parse_key(f"SHA256-s5--{sha}").checksums == (("sha256", sha),)
    assert annex.parse_key("SHA256E-s5-S1048576-C2--" + sha + ".mrc").size == 5
    worm = annex.parse_key("WORM-s12-m1700000000--movie.tif")
    assert (worm.size, worm.checksums) == (12, ())
    assert annex.parse_key("URL--http&c%%example.org%a.mrc").size is None
    assert annex.parse_key("MD5E-s3--tooshort.mrc").checksums == ()
    assert annex.parse_key("not a key") is None


def test_formats_and_image_set_members():
    assert [format_of(p) for p in ("a/x.mrc", "x.MRCS", "m.tif", "m.tiff", "s.ome.tif", "v.zarr/0/1", "d.mrc.bz2",
                                   "n.txt", "g.eer", "t.st")] == [
        "mrc", "mrcs", "tif", "tiff", "ome-tiff", "zarr", "mrc", "other", "eer", "st"]
    m = Manifest(tuple(ManifestFile(p, 1) for p in (
        "tilts/TS_01/a.tif", "tilts/TS_01/b.tif", "tilts/TS_02/a.tif", "tilts/TS_02/ts.mdoc",
        "vol/a.zarr/.zattrs", "vol/a.zarr/0/0", "vol/b.zarr/0/0", "maps/m.mrc", "readme.md")), C1)
    assert set_members(m, "tilts", "tiff") == ["tilts/TS_01/a.tif", "tilts/TS_01/b.tif", "tilts/TS_02/a.tif"]
    assert set_members(m, "vol", "zarr") == ["vol/a.zarr", "vol/b.zarr"]
    assert set_members(m, "tilts/", "other") == set_members(m, "tilts", None)
    guessed = {(g.directory, g.format): (g.count, g.category) for g in guess_image_sets(m)}
    assert guessed == {("maps", "mrc"): (1, "maps"), ("tilts", "tif"): (3, "tilt-series"),
                       ("tilts", "mdoc"): (1, "tilt-series"), ("vol", "zarr"): (2, None)}
    root = tree(m)
    assert [f.name for f in root.folders] == ["maps", "tilts", "vol"] and root.file_count == 9
    assert [f.path for f in root.files] == ["readme.md"]
    assert root.folders[1].folders[0].path == "tilts/TS_01" and root.folders[1].size == 4


def _manifest() -> Manifest:
    return Manifest((
        ManifestFile("maps/a.mrc", 3000, "MD5E-s3000--" + "a" * 32 + ".mrc", (("md5", "a" * 32),),
                     ("https://example.org/a.mrc",), {"mrc": {"dimensions": [8, 8, 8]}}),
        ManifestFile("notes é.txt", 6, None, (("sha256", "b" * 64), ("md5", "c" * 32))),
    ), C1, "9b5d9dd1-aaf5-4653-aea7-da7209a15459")


def test_dumps_is_canonical_and_parses_back():
    m = _manifest()
    text = dumps(m)
    assert text.splitlines()[:3] == ["{", '  "manifest_version": 1,', f'  "commit": "{C1}",']
    assert text.splitlines()[5] == ('    {"path": "maps/a.mrc", "size": 3000, "key": "MD5E-s3000--' + "a" * 32
                                    + '.mrc", "md5": "' + "a" * 32 + '", "urls": ["https://example.org/a.mrc"], '
                                    '"headers": {"mrc": {"dimensions": [8, 8, 8]}}},')
    back, doc, problems = parse(text, MAN)
    assert problems == [] and back == m and back.source == MAN
    assert back.by_path["maps/a.mrc"].headers["mrc"]["dimensions"] == [8, 8, 8]
    assert back.by_path["notes é.txt"].checksum == ("sha256", "b" * 64)
    assert dumps(back) == text
    assert doc.where(("files", 1, "path")) == (7, 14)
    assert doc.where(("commit",)) == (3, 13)
    assert doc.where(("files", 1, "urls"), key=True) == (7, text.splitlines()[6].index('"urls"') + 1)
    assert doc.where(("files", 7)) == (5, 12)  # no such entry: the list itself
    assert m.total_size == 3006 and m.sizes_complete


def _at(text: str, marker: str) -> str:
    """``path:line:col`` of the first character of ``marker`` in ``text``."""
    i = text.index(marker)
    return f"{MAN}:{text.count(chr(10), 0, i) + 1}:{i - text.rfind(chr(10), 0, i)}"


@pytest.mark.parametrize(("edit", "marker", "expected"), [
    (lambda t: t.replace('"size": 3000,', '"size": 3000'), '"key": "MD5E', "not valid JSON: Expecting ',' delimiter"),
    (lambda t: t.replace('"md5": "' + "a" * 32, '"md5": "' + "A" * 32), '"AAAA',
     "files[0].md5: md5 must be the lowercase hex digest"),
    (lambda t: t.replace('"size": 3000', '"size": 3001'), "3001",
     "files[0].size: size 3001 differs from the size in the key (3000)"),
    (lambda t: t.replace('"notes é.txt"', '"../../etc/passwd"'), '"../..',
     "files[1].path: path '../../etc/passwd' is not a relative path inside the dataset"),
    (lambda t: t.replace('"notes é.txt"', '"maps/a.mrc"'), '"maps/a.mrc", "size": 6',
     "files[1].path: 'maps/a.mrc' is listed twice (also files[0])"),
    (lambda t: t.replace('"urls": []', '"urls": [], "colour": 1'), '"colour"', "files[1].colour: unknown field"),
    (lambda t: t.replace('"urls": ["https://example.org/a.mrc"]', '"urls": ["javascript alert(1)"]'), '["javas',
     "files[0].urls: urls must be a list of URLs"),
    (lambda t: t.replace(f'"commit": "{C1}"', '"commit": "HEAD"'), '"HEAD"', "commit: commit must be a full"),
    (lambda t: t.replace('"manifest_version": 1,', '"manifest_version": 1, "manifest_version": 2,'), None,
     "not valid JSON: the key 'manifest_version' appears twice"),
])
def test_damaged_manifests_give_located_problems(edit, marker, expected):
    text = edit(dumps(_manifest()))
    manifest, _doc, problems = parse(text, MAN)
    assert manifest is None
    where = _at(text, marker) if marker else MAN
    assert any(p.text().startswith(f"{where}: {expected}") for p in problems), [p.text() for p in problems]


def test_files_without_checksum_give_a_warning():
    m = Manifest((*_manifest().files, ManifestFile("movie.tif", 12, "WORM-s12-m1700000000--movie.tif")), C1)
    text = dumps(m)
    back, doc, problems = parse(text, MAN)
    assert problems == []
    (warning,) = check_checksums(back, doc)
    where = _at(text, '"movie.tif"')
    assert warning.text() == (
        f"{where}: warning: files[1]: 1 file has no checksum (e.g. 'movie.tif', key "
        "WORM-s12-m1700000000--movie.tif): users cannot verify what they download — move the content to a "
        "checksum backend in the DataLad dataset (`git annex migrate --backend=MD5E .`), save, and run "
        "`openem manifest <id>`")
    assert check_checksums(_manifest(), parse(dumps(_manifest()), MAN)[1]) == []


def test_datalad_commands_are_quoted():
    assert datalad_commands(URL, IDENT, ["maps/a b.mrc"]) == [
        f"datalad clone {URL} {IDENT}", f"cd {IDENT}", "datalad get 'maps/a b.mrc'"]
    assert datalad_commands(URL, IDENT)[-1] == "datalad get ."


def test_compare_names_each_difference():
    a = _manifest()
    b = Manifest((a.files[0].__class__(**{**a.files[0].__dict__, "urls": ()}),
                  ManifestFile("new.mrc", 1, "MD5E-s1--" + "d" * 32 + ".mrc", (("md5", "d" * 32),))), C2, a.datalad_id)
    kinds = [(d.kind, d.path) for d in compare(a, b)]
    assert kinds == [("commit", ""), ("missing", "new.mrc"), ("extra", "notes é.txt"), ("urls", "maps/a.mrc")]
    assert compare(a, a) == []


# ------------------------------------------------------------------------------------------ git-annex listing

def test_list_files_reads_keys_git_blobs_and_urls(tmp_path: Path):
    import datalad.api as dl

    ds = tmp_path / "ds"
    dl.create(path=str(ds), result_renderer="disabled")
    with (ds / ".gitattributes").open("a") as fh:
        fh.write("*.txt annex.largefiles=nothing\n")
    data_folder(ds)
    (ds / "maps" / "worm.mrc").write_bytes(b"worm content")
    git(ds, "annex", "add", "--backend=WORM", "maps/worm.mrc")
    dl.save(dataset=str(ds), message="data", result_renderer="disabled")
    git(ds, "annex", "unlock", "micrographs/mic_0001.mrc")
    dl.save(dataset=str(ds), message="unlock", result_renderer="disabled")
    annex.register_urls(ds, {"maps/map_full.mrc": ["https://example.org/full.mrc", "s3://bucket/full.mrc"]})

    commit, files = annex.list_files(ds)
    by = {f.path: f for f in files}
    assert commit == annex.head(ds)
    assert sorted(by) == ["maps/map_full.mrc", "maps/map_half1.mrc", "maps/map_half2.mrc", "maps/worm.mrc",
                          "micrographs/mic_0001.mrc", "micrographs/mic_0002.mrc", "notes.txt"]  # no .datalad/…
    note = by["notes.txt"]  # kept in git: hashed from the blob
    assert note.key is None and note.checksum_of("md5") == md5(ds / "notes.txt")
    assert note.checksum == ("sha256", __import__("hashlib").sha256((ds / "notes.txt").read_bytes()).hexdigest())
    assert by["maps/map_full.mrc"].urls == ("https://example.org/full.mrc", "s3://bucket/full.mrc")
    assert by["maps/map_full.mrc"].web_urls == ("https://example.org/full.mrc",)
    assert by["micrographs/mic_0001.mrc"].checksum_of("md5") == md5(ds / "micrographs" / "mic_0001.mrc")
    assert by["maps/worm.mrc"].key.startswith("WORM-") and by["maps/worm.mrc"].checksum is None
    assert by["maps/worm.mrc"].size == len(b"worm content")
    # An older commit can be listed too, and the DataLad id comes from that commit.
    first = git(ds, "rev-list", "--max-parents=0", "HEAD").strip()
    assert from_repo(ds, first).files == () and from_repo(ds, first).datalad_id == annex.datalad_id(ds)


# ------------------------------------------------------------------------------------------ validation

@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue with one complete entry whose data is a registered, installed subdataset."""
    base = tmp_path_factory.mktemp("registered")
    root = catalogue(base / "catalogue")
    # As `openem add` does: headers read, so that the stub's image sets carry the pixel sizes the files state.
    result = add_dataset(root, str(data_folder(base / "data")), IDENT, url=URL, read_headers=read_headers)
    stub = yaml.safe_load((result.folder / "dataset.yaml").read_text("utf-8"))
    write_dataset(root, full_document(IDENT, stub["data"]))
    git(root, "commit", "-q", "-am", "Describe it")
    return root


@pytest.fixture
def cat(registered: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "catalogue"
    shutil.copytree(registered, copy, symlinks=True)
    return copy


def problems_of(root: Path) -> list[str]:
    return [p.text() for p in load_catalogue(root).problems]


def line_of(root: Path, rel: str, pattern: str) -> int:
    lines = (root / rel).read_text("utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if re.search(pattern, line))


def edit_yaml(root: Path, change) -> None:
    doc = yaml.safe_load((root / YML).read_text("utf-8"))
    change(doc)
    write_dataset(root, doc)


def test_complete_entry_is_valid_and_carries_its_manifest(cat: Path):
    result = load_catalogue(cat)
    assert [p.text() for p in result.problems] == []
    manifest = result.catalogue.by_id[IDENT].manifest
    assert manifest is not None and manifest.commit == annex.head(cat / SUB)
    assert [f.path for f in manifest.files][:2] == ["maps/map_full.mrc", "maps/map_half1.mrc"]
    assert all(f.checksum and f.checksum[0] == "md5" for f in manifest.files)


def test_stale_manifest_after_a_new_commit(cat: Path):
    sub = cat / SUB
    (sub / "extra.txt").write_text("added later\n")
    annex.save(sub, "more")
    git(cat, "add", SUB)
    git(cat, "commit", "-q", "-m", "new version of the data")
    new = annex.head(sub)
    assert problems_of(cat) == [
        f"{MAN}:3:13: commit: stale manifest: it describes commit {json.loads((cat / MAN).read_text())['commit']} "
        f"but the catalogue records {SUB} at {new} — run `openem manifest {IDENT}` (install the subdataset first "
        f"with `datalad get -n {SUB}`) and commit it together with the subdataset: `datalad save -d . "
        f"datasets/{IDENT}`"]
    assert main(["--root", str(cat), "manifest", IDENT, "--check"]) == 1
    assert main(["--root", str(cat), "manifest", IDENT]) == 0
    assert main(["--root", str(cat), "manifest", IDENT, "--check"]) == 0
    # data.commit in the YAML still names the old version: located there.
    line = line_of(cat, YML, r"^\s+commit:")
    assert [p for p in problems_of(cat)] == [
        f"{YML}:{line}:11: data.commit: {json.loads(git(cat, 'show', f'HEAD:{MAN}'))['commit']} is not the commit "
        f"{MAN} describes ({new}) — set `commit: \"{new}\"`, or check out "
        f"{json.loads(git(cat, 'show', f'HEAD:{MAN}'))['commit']} in the subdataset and run `openem manifest {IDENT}`"]
    edit_yaml(cat, lambda d: d["data"].update(commit=new))
    assert problems_of(cat) == []
    manifest = load_catalogue(cat).catalogue.by_id[IDENT].manifest
    assert manifest.by_path["extra.txt"].size == len("added later\n")
    # Headers of unchanged files survive regeneration.
    assert manifest.by_path["maps/map_full.mrc"].headers["mrc"]["dimensions"] == [16, 16, 16]


def test_stale_manifest_when_installed_subdataset_moved_on(cat: Path):
    sub = cat / SUB
    (sub / "extra.txt").write_text("not yet recorded in the catalogue\n")
    annex.save(sub, "more")
    found = problems_of(cat)
    assert len(found) == 1 and found[0].startswith(f"{MAN}:3:13: commit: stale manifest: it describes commit ")
    assert f"but the installed subdataset {SUB} is at {annex.head(sub)}" in found[0]


def test_hand_edited_manifest_is_stale(cat: Path):
    manifest = parse((cat / MAN).read_text("utf-8"), MAN)[0]
    (cat / MAN).write_text(dumps(replace(manifest, files=tuple(f for f in manifest.files if f.path != "notes.txt"))))
    assert problems_of(cat) == [
        f"{MAN}:5:12: files: stale manifest: it does not match {SUB} at commit {annex.head(cat / SUB)}: "
        f"'notes.txt' is in the dataset but not in the manifest — run `openem manifest {IDENT}` (install the "
        f"subdataset first with `datalad get -n {SUB}`) and commit it together with the subdataset: "
        f"`datalad save -d . datasets/{IDENT}`"]


def test_new_urls_make_a_warning(cat: Path):
    annex.register_urls(cat / SUB, {"maps/map_full.mrc": "https://mirror.example.org/full.mrc"})
    found = load_catalogue(cat).problems
    assert [(p.severity, p.path, p.line) for p in found] == [("warning", MAN, 5)]
    assert "URLs in the manifest are out of date for 1 file" in found[0].message
    assert main(["--root", str(cat), "manifest", IDENT]) == 0
    assert load_catalogue(cat).catalogue.by_id[IDENT].manifest.by_path["maps/map_full.mrc"].web_urls == (
        "https://mirror.example.org/full.mrc",)


def test_missing_subdataset(cat: Path):
    git(cat, "rm", "-q", "--cached", SUB)
    git(cat, "config", "-f", ".gitmodules", "--remove-section", f"submodule.{SUB}")
    git(cat, "commit", "-q", "-am", "lose the subdataset")
    line = line_of(cat, YML, r"^\s+datalad:")
    assert problems_of(cat) == [
        f"{YML}:{line}:12: data.datalad: missing subdataset: {SUB} is not registered in .gitmodules, so "
        f"`datalad get` cannot deliver the files {MAN} lists — register it with `datalad clone -d . {URL} {SUB}`"]


def test_registered_but_not_recorded_and_url_mismatch(cat: Path):
    git(cat, "config", "-f", ".gitmodules", f"submodule.{SUB}.url", "https://elsewhere.example.org/x.git")
    git(cat, "add", ".gitmodules")
    git(cat, "rm", "-q", "--cached", SUB)
    found = problems_of(cat)
    line = line_of(cat, YML, r"^\s+datalad:")
    assert found == [
        f"{YML}:{line}:12: data.datalad: differs from the URL .gitmodules records for {SUB} "
        f"(https://elsewhere.example.org/x.git) — make them the same, e.g. `git config -f .gitmodules "
        f"submodule.{SUB}.url {URL}` (`openem publish {IDENT}` records its store's URL in both)",
        f"{YML}:{line}:12: data.datalad: missing subdataset: .gitmodules lists {SUB} but the catalogue does not "
        f"record it — register it with `datalad clone -d . {URL} {SUB}`, or `datalad save -d . {SUB}` if it is "
        "there"]


def test_registered_subdataset_without_manifest(cat: Path):
    (cat / MAN).unlink()
    assert problems_of(cat) == [f"{MAN}: missing: {SUB} is a registered subdataset but the entry has no manifest"
                                f" — install it (`datalad get -n {SUB}`) and run `openem manifest {IDENT}`"]


def test_stale_manifest_detected_without_the_subdataset_installed(cat: Path):
    """The build machine has no data: the pinned commit (gitlink) alone shows a stale manifest."""
    annex.remove_tree(cat / SUB)
    (cat / SUB).mkdir()
    assert problems_of(cat) == []
    git(cat, "update-index", "--cacheinfo", f"160000,{C2},{SUB}")
    recorded = json.loads((cat / MAN).read_text())["commit"]
    assert [p.split(" — ")[0] for p in problems_of(cat)] == [
        f"{MAN}:3:13: commit: stale manifest: it describes commit {recorded} but the catalogue records {SUB} at {C2}"]


def test_image_set_folder_absent_from_manifest(cat: Path):
    def change(d):
        d["data"]["image_sets"].append({"name": "Tomograms", "directory": "tomograms", "category": "tomograms",
                                        "format": "mrc", "count": 2})
        d["data"]["image_sets"][0]["directory"] = "map"
    edit_yaml(cat, change)
    lines = (cat / YML).read_text("utf-8").splitlines()
    map_line = next(i for i, t in enumerate(lines, 1) if t.strip() == "directory: map")
    tomo_line = next(i for i, t in enumerate(lines, 1) if t.strip() == "directory: tomograms")
    assert problems_of(cat) == [
        f"{YML}:{map_line}:16: data.image_sets[0].directory: no file listed in {MAN} lies in 'map' — did you "
        "mean 'maps'?",
        f"{YML}:{tomo_line}:16: data.image_sets[2].directory: no file listed in {MAN} lies in 'tomograms' — "
        "folders in the dataset: maps, micrographs"]


def test_wrong_count_and_format(cat: Path):
    def change(d):
        d["data"]["image_sets"][0]["count"] = 4
        d["data"]["image_sets"][1]["format"] = "tiff"
    edit_yaml(cat, change)
    lines = (cat / YML).read_text("utf-8").splitlines()
    count = next(i for i, t in enumerate(lines, 1) if t.strip() == "count: 4")
    fmt = next(i for i, t in enumerate(lines, 1) if t.strip() == "format: tiff")
    assert problems_of(cat) == [
        f"{YML}:{count}:12: data.image_sets[0].count: count is 4 but {MAN} lists 3 mrc files in 'maps' — set "
        f"`count: 3`, or if the files changed, save them in the DataLad dataset and run `openem manifest {IDENT}`",
        f"{YML}:{fmt}:13: data.image_sets[1].format: 'micrographs' holds no tiff file in {MAN} (it holds: mrc ×2)"
        " — set format to what the files are, e.g. 'mrc'"]


def test_malformed_manifest_is_located(cat: Path):
    text = (cat / MAN).read_text("utf-8").replace('"files": [', '"files": [,', 1)
    (cat / MAN).write_text(text)
    assert problems_of(cat) == [f"{MAN}:5:13: not valid JSON: Expecting value — regenerate it with `openem "
                                "manifest <id>` instead of editing it by hand"]


def test_manifest_command_needs_the_installed_subdataset(cat: Path, capsys):
    annex.remove_tree(cat / SUB)
    assert main(["--root", str(cat), "manifest", IDENT]) == 2
    assert f"{SUB} is not installed: install it with `datalad get -n {SUB}`" in capsys.readouterr().err
    assert git(cat, "status", "--porcelain", "--", MAN) == ""


def test_plain_copy_of_the_catalogue_skips_registration_checks(cat: Path, tmp_path: Path):
    """Outside a git work tree (e.g. a copied folder) only the manifest-vs-YAML checks can run."""
    plain = tmp_path / "plain"
    shutil.copytree(cat / "datasets", plain / "datasets", symlinks=True, ignore=shutil.ignore_patterns("data"))
    assert problems_of(plain) == []
