"""What the commands print cannot start a line of its own or be read as a GitHub Actions workflow command.

Folder names, file names, ids and YAML values come from contributors. A real folder named
``x\\n::error file=x::forged`` and YAML values with line breaks and ``##[…]`` go through ``openem validate`` (every
format) and ``openem build``; the only workflow commands in the output are the annotations of ``--format github``,
escaped by GitHub's rules.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from openem_build.records import problems as P
from openem_build.records.load import load_catalogue

from .conftest import write_dataset
from .test_validate import IDENT, edit

FORGED = "x\n::error file=x::forged"
# Folder names and values that would end a line for the runner (\n, \r), for Python or a terminal (U+2028, NEL),
# or be the runner's older command form anywhere in a line (##[).
FOLDERS = [FORGED, "y\r::warning file=y::forged-cr", "z\u2028::notice::forged-ls", "w\x85::error::nel",
           "v ##[error]forged-old-form"]
VALUE = "spa\n::error::f\r::add-mask::x ##[group]b\x1b[2K"


def runner_lines(text: str) -> list[str]:
    """The lines as the GitHub runner reads them (it ends a line at \\r or \\n), and as Python splits them."""
    return re.split(r"\r\n|\r|\n", text) + text.splitlines()


def is_command(line: str) -> bool:
    """Whether the runner would take ``line`` for a workflow command (actions/runner ActionCommand: TryParseV2
    after TrimStart, TryParse finding "##[" anywhere)."""
    return line.lstrip().startswith("::") or "##[" in line


@pytest.fixture
def hostile(catalogue: Path) -> Path:
    """The example catalogue with hostile folders and a hostile YAML value."""
    for name in FOLDERS:
        (catalogue / "datasets" / name).mkdir()
    write_dataset(catalogue, edit(("technique: single-particle", f"technique: {json.dumps(VALUE)}")), IDENT)
    return catalogue


def openem(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command, so that what reaches its standard output and error is what a CI log gets."""
    full = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"} | {"SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run([sys.executable, "-m", "openem_build.cli", *args], cwd=root, env=full | (env or {}),
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_validate_prints_no_forged_line_in_any_format(hostile: Path, fmt: str) -> None:
    done = openem(hostile, "validate", "--format", fmt)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert not any(is_command(t) for t in runner_lines(done.stderr))
    found = load_catalogue(hostile, disk_cache=False).problems
    assert {p.path for p in found} >= {f"datasets/{name}" for name in FOLDERS}
    if fmt == "github":
        # Exactly the annotations, one line each, GitHub's escapes in them; nothing else is a command.
        assert done.stdout == "".join(p.github() + "\n" for p in found)
        lines = done.stdout.splitlines()
        assert len(re.split(r"\r\n|\r|\n", done.stdout.rstrip("\n"))) == len(lines) == len(found)
        assert all(re.match(r"::(error|warning) file=[^:,]*(,line=\d+,col=\d+)?,title=[^:,]*::", t) for t in lines)
        assert "file=datasets/x%0A%3A%3Aerror file=x%3A%3Aforged,title=openem::" in done.stdout
        assert "title=technique::'spa\\n::error::f\\r::add-mask::x ##[group]" in done.stdout
    else:
        assert not any(is_command(t) for t in runner_lines(done.stdout))
    if fmt == "json":
        # The values as they are, in JSON's own escapes.
        assert {d["path"] for d in json.loads(done.stdout)} == {p.path for p in found}
    if fmt == "text":
        assert "datasets/x\\n::error file=x::forged: the folder has no dataset.yaml" in done.stdout
        assert "technique: 'spa\\n::error::f\\r::add-mask::x ##\\[group]b\\x1b[2K' is not one of" in done.stdout
        assert "datasets/v ##\\[error]forged-old-form: the folder has no dataset.yaml" in done.stdout
        assert "\x1b" not in done.stdout


def test_build_prints_no_forged_line(hostile: Path) -> None:
    done = openem(hostile, "build")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "datasets/x\\n::error file=x::forged: the folder has no dataset.yaml" in done.stderr
    for text in (done.stdout, done.stderr):
        assert not any(is_command(t) for t in runner_lines(text)), text
    # The build's message is one entry: its head, then the located problems indented under it.
    head, *rest = done.stderr.splitlines()
    assert head.startswith("openem: build failed") and rest and all(t.startswith("  ") for t in rest)


def test_mkdocs_warnings_about_hostile_file_names_forge_nothing(catalogue: Path) -> None:
    (catalogue / "docs" / f"notes{FORGED}.md").write_text("# Notes\n\n[a link](nowhere.md)\n")
    done = openem(catalogue, "build")
    assert done.returncode == 0, done.stderr
    assert "contains a link 'nowhere.md'" in done.stderr  # MkDocs did warn, naming the file
    for text in (done.stdout, done.stderr):
        assert not any(is_command(t) for t in runner_lines(text)), text


@pytest.mark.parametrize("args", [
    ["manifest", FORGED],
    ["publish", FORGED],
    ["doi", "publish", FORGED, "--dry-run"],
    ["new", FORGED],
    ["add", f"/nonexistent/{FORGED}", "--id", "new-entry"],
    ["export", "empiar", FORGED],
    ["--root", f"/nonexistent/{FORGED}", "validate"],
    ["validate", f"datasets/{FORGED}/dataset.yaml"],
])
def test_other_commands_print_hostile_arguments_on_one_line(hostile: Path, args: list[str]) -> None:
    done = openem(hostile, *args)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    for text in (done.stdout, done.stderr):
        assert not any(is_command(t) for t in runner_lines(text)), text


def test_a_malformed_source_date_epoch_is_shown_on_one_line(catalogue: Path) -> None:
    done = openem(catalogue, "build", env={"SOURCE_DATE_EPOCH": "1\n::error file=x::forged"})
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.rstrip("\n")]
    assert "SOURCE_DATE_EPOCH='1\\n::error file=x::forged' is not a time" in done.stderr


# --- the pieces ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("writes", "expected"), [
    (["::error::x\n"], "\\::error::x\n"),
    (["ok\n  \t::warning::x\n"], "ok\n  \t\\::warning::x\n"),
    ([":", ":error::x\n"], "\\::error::x\n"),  # a command split over two writes
    (["  ", ":", ":x"], "  \\::x"),
    (["a\r::error::x"], "a\r\\::error::x"),
    (["a\x0c::e", "\u2028::e"], "a\x0c\\::e\u2028\\::e"),
    (["in the ##[error]middle"], "in the ##\\[error]middle"),
    (["#", "#", "[x"], "##\\[x"),
    (["###["], "###\\["),
    (["a: b :: c\n", "progress\r 50%|##   |\r"], "a: b :: c\nprogress\r 50%|##   |\r"),
    ([":"], ":"),
])
def test_the_guard_disarms_commands_however_they_are_written(writes: list[str], expected: str) -> None:
    sink = io.StringIO()
    guard = P.CommandGuard(sink)
    for text in writes:
        guard.write(text)
    guard.finish()
    assert sink.getvalue() == expected


def test_the_guard_writes_the_github_annotations_as_they_are() -> None:
    sink = io.StringIO()
    guard = P.CommandGuard(sink)
    problem = P.Problem(f"datasets/{FORGED}", 0, 0, "", "message\n::error::x", "hint")
    guard.write("Checking")  # a line not ended: the annotation goes on a line of its own
    P.emit([problem], "github", guard)
    guard.write("::error::forged\n")
    guard.finish()
    assert sink.getvalue().splitlines() == [
        "Checking",
        "::error file=datasets/x%0A%3A%3Aerror file=x%3A%3Aforged,title=openem::message%0A::error::x — hint",
        "\\::error::forged"]


def test_clean_and_entry() -> None:
    assert P.clean("a\nb\r\tc\x1b[31m\u202ed\u2028\x85\x7f") == "a\\nb\\r\\tc\\x1b[31m\\u202ed\\u2028\\x85\\x7f"
    assert P.clean("naïve — ok 🙂") == "naïve — ok 🙂"
    assert P.entry("head\nfirst\r\n::error::x") == "head\n  first\\r\n  ::error::x"
    text = P.render([P.Problem("p\u2028", 1, 1, "f", "m ##[error] \x85", "")], "json")
    assert "\u2028" not in text and "\x85" not in text and "##[" not in text
    assert json.loads(text)[0]["path"] == "p\u2028" and json.loads(text)[0]["message"] == "m ##[error] \x85"
