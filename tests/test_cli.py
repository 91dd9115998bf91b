"""The ``openem`` command line: exit codes, output formats, ``new`` and ``schema``, and no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openem_build.authoring.scaffold import SCHEMA_COMMENT
from openem_build.cli import main

from .conftest import ROOT, write_dataset
from .test_validate import BASE, IDENT, edit

F = f"datasets/{IDENT}/dataset.yaml"
TYPO = ("technique: single-particle", "technique: singel-particle")
TYPO_MESSAGE = ("'singel-particle' is not one of the allowed values (single-particle, helical, "
                "subtomogram-averaging, tomography, microed, 2d-crystallography, fib-sem, sbf-sem, "
                "array-tomography, tem, stem, sem, edx, eels) — did you mean 'single-particle'?")
TYPO_TEXT = f"{F}:24:12: technique: {TYPO_MESSAGE}"
CONSOLE_SCRIPT = Path(sys.executable).parent / "openem"


@pytest.fixture(autouse=True)
def _not_on_github(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.fixture
def root(tmp_path: Path, monkeypatch) -> Path:
    """An empty catalogue (the repository's facilities, no datasets), which is also the current folder."""
    (tmp_path / "datasets").mkdir()
    shutil.copy(ROOT / "datasets" / "facilities.yaml", tmp_path / "datasets" / "facilities.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# --- validate --------------------------------------------------------------------------------------------


def test_validate_valid_catalogue_exits_0(root, capsys):
    write_dataset(root, BASE, IDENT)
    code, out, err = run(capsys, "validate")
    assert (code, out) == (0, "")
    assert err == "Checked 1 dataset: 0 errors, 0 warnings — valid.\n"


def test_validate_invalid_catalogue_exits_1(root, capsys):
    write_dataset(root, edit(TYPO), IDENT)
    code, out, err = run(capsys, "validate")
    assert code == 1
    assert out == TYPO_TEXT + "\n"
    assert err == "Checked 1 dataset: 1 error, 0 warnings — invalid.\n"


def test_validate_from_a_subfolder_finds_the_catalogue(root, capsys, monkeypatch):
    write_dataset(root, edit(TYPO), IDENT)
    monkeypatch.chdir(root / "datasets" / IDENT)
    code, out, _ = run(capsys, "validate")
    assert (code, out) == (1, TYPO_TEXT + "\n")


def test_validate_without_a_catalogue_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "validate")
    assert (code, out) == (2, "")
    assert err == (f"openem: no catalogue found at or above {tmp_path} (looked for "
                   "datasets/facilities.yaml); run from the catalogue's folder or pass --root\n")


def test_validate_with_a_wrong_root_is_a_usage_error(tmp_path, capsys):
    code, _, err = run(capsys, "--root", str(tmp_path), "validate")
    assert code == 2
    assert err == f"openem: {tmp_path} is not a catalogue: it has no datasets/facilities.yaml\n"


def test_validate_with_root_option(root, capsys, monkeypatch, tmp_path_factory):
    write_dataset(root, BASE, IDENT)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert run(capsys, "--root", str(root), "validate")[0] == 0


def test_validate_json_format(root, capsys):
    write_dataset(root, edit(TYPO, ("license: CC-BY-4.0", "license: GPL-2.0")), IDENT)
    code, out, err = run(capsys, "validate", "--format", "json")
    assert code == 1
    assert err == ""  # nothing but JSON anywhere a program might read
    assert json.loads(out) == [
        {"path": F, "line": 7, "column": 10, "field": "license", "severity": "warning",
         "message": "'GPL-2.0' is a deprecated SPDX identifier",
         "hint": "use its current identifier from https://spdx.org/licenses/"},
        {"path": F, "line": 24, "column": 12, "field": "technique", "severity": "error",
         "message": "'singel-particle' is not one of the allowed values (single-particle, helical, "
                    "subtomogram-averaging, tomography, microed, 2d-crystallography, fib-sem, sbf-sem, "
                    "array-tomography, tem, stem, sem, edx, eels)",
         "hint": "did you mean 'single-particle'?"},
    ]


def test_validate_json_of_a_valid_catalogue_is_an_empty_list(root, capsys):
    write_dataset(root, BASE, IDENT)
    code, out, _ = run(capsys, "validate", "--format", "json")
    assert (code, json.loads(out)) == (0, [])


def test_validate_github_format(root, capsys):
    write_dataset(root, edit(TYPO, ("license: CC-BY-4.0", "license: GPL-2.0")), IDENT)
    code, out, _ = run(capsys, "validate", "--format", "github")
    assert code == 1
    assert out.splitlines() == [
        f"::warning file={F},line=7,col=10,title=license::'GPL-2.0' is a deprecated SPDX identifier — use "
        "its current identifier from https://spdx.org/licenses/",
        f"::error file={F},line=24,col=12,title=technique::{TYPO_MESSAGE}",
    ]


def test_github_format_escapes_newlines_and_commas(root, capsys):
    (root / "datasets" / "new-folder").mkdir()
    (root / "datasets" / "new-folder,2").mkdir()
    code, out, _ = run(capsys, "validate", "--format", "github")
    assert code == 1
    assert out.splitlines() == [
        "::error file=datasets/new-folder,title=openem::the folder has no dataset.yaml — add "
        "datasets/new-folder/dataset.yaml (see `openem new new-folder`)",
        "::error file=datasets/new-folder%2C2,title=openem::the folder has no dataset.yaml — add "
        "datasets/new-folder,2/dataset.yaml (see `openem new new-folder,2`)",
    ]


def test_github_actions_selects_github_format(root, capsys, monkeypatch):
    write_dataset(root, edit(TYPO), IDENT)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, _ = run(capsys, "validate")
    assert code == 1
    assert out.startswith(f"::error file={F},line=24,col=12,title=technique::'singel-particle' is not one")
    # an explicit --format wins
    assert run(capsys, "validate", "--format", "text")[1] == TYPO_TEXT + "\n"


def test_strict_fails_on_warnings(root, capsys):
    write_dataset(root, edit(("license: CC-BY-4.0", "license: GPL-2.0")), IDENT)
    code, out, err = run(capsys, "validate")
    assert code == 0
    assert out == (f"{F}:7:10: warning: license: 'GPL-2.0' is a deprecated SPDX identifier — use its current "
                   "identifier from https://spdx.org/licenses/\n")
    assert err == "Checked 1 dataset: 0 errors, 1 warning — valid.\n"
    code, out2, _ = run(capsys, "validate", "--strict")
    assert (code, out2) == (1, out)


def test_validate_a_single_path(root, capsys):
    write_dataset(root, BASE, IDENT)
    write_dataset(root, edit(TYPO, ("id: spa-test-2024", "id: broken-one")), "broken-one")
    broken = "datasets/broken-one/dataset.yaml:24:12: technique: 'singel-particle' is not one of"
    # the whole catalogue: the broken dataset fails it
    code, out, _ = run(capsys, "validate")
    assert code == 1 and out.startswith(broken)
    # only the valid one, as a file or as a folder
    for path in (F, f"datasets/{IDENT}", str(root / F)):
        code, out, err = run(capsys, "validate", path)
        assert (code, out) == (0, ""), path
        assert err == "Checked 1 dataset: 0 errors, 0 warnings — valid.\n"
    # only the broken one
    code, out, _ = run(capsys, "validate", "datasets/broken-one")
    assert code == 1
    assert out.startswith(broken) and out.count("\n") == 1


def test_validate_a_path_that_does_not_exist(root, capsys):
    code, out, _ = run(capsys, "validate", "datasets/nope/dataset.yaml")
    assert code == 1
    assert out == ("datasets/nope/dataset.yaml: the file does not exist — create it, e.g. with "
                   "`openem new <id>`\n")


# --- new -------------------------------------------------------------------------------------------------


def test_new_writes_a_stub_with_the_schema_comment(root, capsys):
    code, out, _ = run(capsys, "new", "fresh-dataset")
    assert code == 0
    path = root / "datasets" / "fresh-dataset" / "dataset.yaml"
    text = path.read_text("utf-8")
    assert text.startswith("# yaml-language-server: $schema=../../openem_build/schema/dataset.schema.json\n")
    assert text.splitlines()[0] == SCHEMA_COMMENT
    assert 'id: "fresh-dataset"' in text.splitlines()
    assert out == ("wrote datasets/fresh-dataset/dataset.yaml: fill in every TODO, then run "
                   "`openem validate datasets/fresh-dataset/dataset.yaml`\n")


def test_the_schema_comment_points_at_the_packaged_schema():
    target = SCHEMA_COMMENT.split("$schema=", 1)[1]
    assert (ROOT / "datasets" / "x" / target).resolve() == (ROOT / "openem_build/schema/dataset.schema.json")


def test_fresh_stub_fails_only_with_placeholder_errors(root, capsys):
    assert run(capsys, "new", "fresh-dataset")[0] == 0
    code, out, _ = run(capsys, "validate", "--format", "json")
    assert code == 1
    found = json.loads(out)
    assert found, "a fresh stub must not validate"
    assert {p["severity"] for p in found} == {"error"}
    assert [p for p in found if not p["message"].startswith("still holds the placeholder")] == []
    assert {p["hint"] for p in found} == {
        "replace it with the real value (the comment above it says what goes here)"}
    fields = [p["field"] for p in found]
    for required in ("title", "description", "dates.published", "contact.email", "facility", "technique"):
        assert required in fields
    assert all(p["path"] == "datasets/fresh-dataset/dataset.yaml" and p["line"] > 0 for p in found)


def test_new_refuses_to_overwrite(root, capsys):
    path = write_dataset(root, BASE, IDENT)
    before = path.read_bytes()
    code, out, err = run(capsys, "new", IDENT)
    assert (code, out) == (2, "")
    assert err == f"openem: {F} exists already; choose another id or edit that file\n"
    assert path.read_bytes() == before


@pytest.mark.parametrize("ident", ["Bad_Id", "ab", "UPPER-case", "../escape", "a/b", "x" * 65, "ünï"])
def test_new_refuses_invalid_ids(root, capsys, ident):
    code, out, err = run(capsys, "new", ident)
    assert (code, out) == (2, "")
    assert err == (f"openem: '{ident}' is not a valid id: use 3 to 64 lowercase letters, digits and hyphens, "
                   "starting with a letter or digit\n")
    assert sorted(p.name for p in (root / "datasets").iterdir()) == ["facilities.yaml"]
    assert not (root / "escape").exists()


def test_new_outside_a_catalogue(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "new", "fresh-dataset")
    assert code == 2
    assert err.startswith("openem: no catalogue found at or above")
    assert list(tmp_path.iterdir()) == []


# --- schema ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dataset", "facilities"])
def test_schema_prints_the_packaged_schema(capsys, name):
    args = ["schema"] if name == "dataset" else ["schema", "--name", name]
    code, out, _ = run(capsys, *args)
    assert code == 0
    packaged = json.loads((ROOT / "openem_build" / "schema" / f"{name}.schema.json").read_text("utf-8"))
    assert json.loads(out) == packaged


def test_schema_works_outside_a_catalogue(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "schema")
    assert code == 0 and json.loads(out)["title"] == "OpenEM dataset"


# --- bad input never gives a traceback -------------------------------------------------------------------


@pytest.mark.parametrize("content", [
    b"\x00\x01\x02binary\xff\xfe",
    b"\xff\xfe\x00a\x00:\x00 \x001\x00",  # UTF-16
    b"",
    b"id: [unclosed\n",
    b"- a list\n",
    b"just text\n",
    b"a: &x 1\nb: *x\n",
    b"a: !!python/object/apply:os.system ['false']\n",
    b"id: x\n" + b"  " * 40 + b"\n",
    b"x: " + b"[" * 10000,
    b"a: 1\n" * 300000,
])
def test_bad_files_give_located_messages_and_exit_1(root, capsys, content):
    path = root / "datasets" / IDENT / "dataset.yaml"
    path.parent.mkdir()
    path.write_bytes(content)
    code, out, _ = run(capsys, "validate")
    assert code == 1
    assert out.startswith(f"{F}")


def test_broken_facilities_file_is_reported(root, capsys):
    (root / "datasets" / "facilities.yaml").write_bytes(b"scopem-eth: [\n")
    write_dataset(root, BASE, IDENT)
    code, out, _ = run(capsys, "validate")
    assert code == 1
    assert out.startswith("datasets/facilities.yaml:")
    assert F not in out  # no cascade of "facility not listed" errors


@pytest.mark.parametrize("args", [["validate", "--format", "xml"], [], ["new"], ["nonsense"],
                                  ["validate", "--bogus"]])
def test_argument_errors_exit_2(capsys, args):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: openem" in err and "Traceback" not in err


def _console(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"} | (env or {})
    return subprocess.run([str(CONSOLE_SCRIPT), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_console_script_validates(root):
    assert CONSOLE_SCRIPT.exists()
    write_dataset(root, BASE, IDENT)
    ok = _console("validate", cwd=root)
    assert (ok.returncode, ok.stdout) == (0, "")
    assert ok.stderr == "Checked 1 dataset: 0 errors, 0 warnings — valid.\n"
    write_dataset(root, edit(TYPO), IDENT)
    bad = _console("validate", cwd=root)
    assert (bad.returncode, bad.stdout) == (1, TYPO_TEXT + "\n")
    gh = _console("validate", cwd=root, env={"GITHUB_ACTIONS": "true"})
    assert gh.returncode == 1 and gh.stdout.startswith(f"::error file={F},line=24,col=12,")


@pytest.mark.parametrize(("args", "code"), [
    (["validate"], 2),  # no catalogue here
    (["validate", "--format", "xml"], 2),
    ([], 2),
    (["new", "Bad_Id"], 2),
    (["schema", "--name", "nope"], 2),
])
def test_console_script_usage_errors_without_traceback(tmp_path, args, code):
    result = _console(*args, cwd=tmp_path)
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


def test_console_script_bad_bytes_without_traceback(root):
    path = root / "datasets" / IDENT / "dataset.yaml"
    path.parent.mkdir()
    path.write_bytes(b"id: caf\xe9\n\x00")
    result = _console("validate", cwd=root)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == f"{F}:1:8: byte 0xe9 is not valid UTF-8 — save the file as UTF-8\n"
