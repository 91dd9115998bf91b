"""Acceptance: a new contributor copies an example, makes three typical mistakes and runs `openem validate`.

They must get exactly three messages, each naming the file, line and column, the field, what is wrong and
how to fix it, and nothing else (no noise from the rest of the catalogue).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from openem_build.cli import main

from .conftest import EXAMPLE

NEW = "my-first-dataset-2025"
NEW_FILE = f"datasets/{NEW}/dataset.yaml"
TECHNIQUES = ("single-particle, helical, subtomogram-averaging, tomography, microed, 2d-crystallography, "
              "fib-sem, sbf-sem, array-tomography, tem, stem, sem, edx, eels")


def _replace_first(lines: list[str], startswith: str, old: str, new: str) -> tuple[int, int]:
    """Change ``old`` to ``new`` on the first line starting with ``startswith``.

    Returns the line and the column of the changed value, as the contributor's editor shows them."""
    for i, line in enumerate(lines):
        if line.lstrip().startswith(startswith) and old in line:
            lines[i] = line.replace(old, new, 1)
            return i + 1, line.index(old) + 1
    raise AssertionError(f"the example has no line {startswith!r} with {old!r}")


def _value(lines: list[str], key: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in lines if line.lstrip().startswith(key))


def _contribute(catalogue: Path) -> list[str]:
    """What the contributor does; returns the three lines `openem validate` must print."""
    source = (catalogue / "datasets" / EXAMPLE / "dataset.yaml").read_text("utf-8")
    lines = source.split("\n")
    # A new dataset has its own id, and no DOI yet (the build registers one).
    _replace_first(lines, "id:", EXAMPLE, NEW)
    lines = [line for line in lines if not line.startswith("doi:")]
    orcid = _value(lines, "orcid:").strip("'\"")
    typo_orcid = orcid[:-2] + orcid[-1] + orcid[-2]  # the last two digits swapped
    assert typo_orcid != orcid
    technique = _value(lines, "technique:")
    assert technique == "single-particle", "the scenario expects a single-particle example"
    kv = _value(lines, "acceleration_voltage_kV:")
    volts = str(int(float(kv) * 1000))

    orcid_at = _replace_first(lines, "orcid:", orcid, typo_orcid)
    technique_at = _replace_first(lines, "technique:", "single-particle", "single-partcle")
    kv_at = _replace_first(lines, "acceleration_voltage_kV:", kv, volts)

    folder = catalogue / "datasets" / NEW
    folder.mkdir()
    (folder / "dataset.yaml").write_text("\n".join(lines), encoding="utf-8")

    def at(pos: tuple[int, int]) -> str:
        return f"{NEW_FILE}:{pos[0]}:{pos[1]}"

    return [
        f"{at(orcid_at)}: authors[0].orcid: '{typo_orcid}' fails the ORCID checksum — copy the iD from the "
        "person's ORCID record; a digit is probably mistyped",
        f"{at(technique_at)}: technique: 'single-partcle' is not one of the allowed values ({TECHNIQUES}) — "
        "did you mean 'single-particle'?",
        f"{at(kv_at)}: instrument.acceleration_voltage_kV: {volts} kV is out of range: it must be at most "
        "3000 kV — check the value; the field is in kV, not V",
    ]


def _datasets(catalogue: Path) -> int:
    return sum(1 for p in (catalogue / "datasets").iterdir() if p.is_dir())


def test_three_mistakes_give_exactly_three_located_actionable_messages(catalogue, capsys, monkeypatch):
    expected = _contribute(catalogue)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.chdir(catalogue)
    code = main(["validate"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == sorted(expected, key=lambda t: int(t.split(":")[1]))
    assert err == f"Checked {_datasets(catalogue)} datasets: 3 errors, 0 warnings — invalid.\n"


def test_the_same_from_the_console_script_on_the_new_file_only(catalogue):
    expected = _contribute(catalogue)
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    result = subprocess.run([str(Path(sys.executable).parent / "openem"), "validate", NEW_FILE],
                            cwd=catalogue, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == sorted(expected, key=lambda t: int(t.split(":")[1]))
    assert result.stderr == "Checked 1 dataset: 3 errors, 0 warnings — invalid.\n"


def test_fixing_the_three_mistakes_makes_the_catalogue_valid(catalogue, capsys, monkeypatch):
    _contribute(catalogue)
    path = catalogue / NEW_FILE
    text = path.read_text("utf-8")
    example = (catalogue / "datasets" / EXAMPLE / "dataset.yaml").read_text("utf-8")
    fixed = [line for line in example.split("\n") if not line.startswith("doi:")]
    fixed[next(i for i, line in enumerate(fixed) if line.startswith("id:"))] = f"id: {NEW}"
    path.write_text("\n".join(fixed), encoding="utf-8")
    assert text != path.read_text("utf-8")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.chdir(catalogue)
    code = main(["validate", NEW_FILE])
    out, err = capsys.readouterr()
    assert (code, out) == (0, "")
    assert err.endswith("— valid.\n")
