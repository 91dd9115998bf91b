"""The manifest decoder without per-value patterns plus ``patterns_hold`` accepts exactly the rows the patterned
row types accept: random paths, keys, URLs and checksums made of the characters the patterns care about."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec

from openem_build.records.manifest_read import _algorithms
from openem_build.records.manifest_rows import parse
from openem_build.records.manifest_types import DECODER, ROW_TYPES, fits, patterns_hold

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PIECES = {
    "path": ["a", "b.mrc", "/", "/", ".", "..", "é", " ", "-", ":", "\n", "\x00", "\x1f", "\x7f", "\u2028"],
    "key": ["MD5E", "WORM", "A_1", "-s5", "-m17", "-S1", "--", "-", "x", ".mrc", "/", " ", "\n", "\x7f", "é", "a",
            "-a", "-s"],
    "urls": ["https", "s3", "x+y.z-1", "1", ":", "//", "a", "/b", " ", "\n", "\t", '"', "'", "<", "`", "\\", "é",
             "\u2028", "%20"],
    "md5": ["0", "9", "a", "f", "F", "g", "\n", "é", " "],
}


def _string(rng: random.Random, name: str) -> str:
    if name == "md5":  # (around the right length)
        return "".join(rng.choice(PIECES[name][:4]) for _ in range(rng.choice([31, 32, 32, 32, 33]) - 1)) + \
            rng.choice(PIECES[name])
    return "".join(rng.choice(PIECES[name]) for _ in range(rng.randrange(1 if name == "key" else 0, 7)))


def _row(rng: random.Random, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {"path": _string(rng, "path") if rng.random() < 0.3 else f"ok/{i}.mrc"}
    if rng.random() < 0.6:
        row["key"] = _string(rng, "key") if rng.random() < 0.3 else f"MD5E-s1--{'0' * 32}.mrc"
    if rng.random() < 0.5:
        row["md5"] = _string(rng, "md5")
    if rng.random() < 0.5:
        row["urls"] = [_string(rng, "urls") if rng.random() < 0.3 else "https://example.org/a"
                       for _ in range(rng.randrange(3))]
    return row


def _strict(rows: list[dict[str, Any]]) -> bool:
    return all(fits(value, ROW_TYPES[name]) for row in rows for name, value in row.items())


def _loose(rows: list[dict[str, Any]]) -> bool:
    text = json.dumps({"manifest_version": 1, "commit": COMMIT, "files": rows})
    try:
        files = DECODER.decode(text).files
    except msgspec.ValidationError:
        return False
    return patterns_hold(files, _algorithms(files))


def test_same_acceptance_as_the_patterns() -> None:
    rng = random.Random(22)
    accepted = 0
    for n in range(6000):
        rows = [_row(rng, i) for i in range(1 + n % 3)]
        strict = _strict(rows)
        assert _loose(rows) == strict, rows
        accepted += strict
    assert 600 < accepted < 5400  # (both kinds were tried)
    crafted = {"key": ["MD5E-s1--a\nMD5E-s2--b"], "urls": ["https://a\nhttps://b"], "path": ["a\nb", "a/./b"]}
    for name in PIECES:  # each pattern alone, on many more values (two valid ones joined by '\n' among them)
        for value in [*crafted.get(name, []), *(_string(rng, name) for _ in range(3000))]:
            row = {"path": "p", name: [value] if name == "urls" else value} if name != "path" else {"path": value}
            assert _loose([row]) == _strict([row]), row


def test_a_value_refused_by_its_pattern_is_reported_as_before() -> None:
    """(The same problems as when the decoder checked the patterns itself.)"""
    text = json.dumps({"manifest_version": 1, "commit": COMMIT, "files": [
        {"path": "a/"}, {"path": "b", "key": "MD5E-s1--x\ny"}, {"path": "c", "md5": "0" * 31 + "G"},
        {"path": "d", "urls": ["https://a", "no scheme"]}, {"path": "e\x7f"}]}, indent=1)
    manifest, _doc, problems = parse(text, "m.json")
    assert manifest is None
    assert [(p.field, p.line, p.message) for p in problems] == [
        ("files[0].path", 6, "path 'a/' is not a relative path inside the dataset"),
        ("files[1].key", 10, "'MD5E-s1--x\\ny' is not a git-annex key"),
        ("files[2].md5", 14, f"md5 must be the lowercase hex digest, not '{'0' * 31}G'"),
        ("files[3].urls", 18, "urls must be a list of URLs without spaces or quotes"),
        ("files[4].path", 24, "path 'e\\x7f' is not a relative path inside the dataset")]
