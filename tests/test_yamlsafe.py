"""The safe, located YAML reader: what it accepts, what it refuses, and where it says the problem is."""

from __future__ import annotations

import shutil
import time

import pytest
import yaml

from openem_build.records import yamlsafe
from openem_build.records.load import load_catalogue
from openem_build.records.yamlsafe import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    LibyamlLoader,
    PurePythonLoader,
    YamlError,
    decode,
    parse,
)

from .conftest import EXAMPLE, ROOT, frozen_document, write_dataset
from .test_hostile import CASES as HOSTILE
from .test_hostile import _text as hostile_text

TAG_HINT = "remove the tag: only plain text, numbers, true/false, lists and mappings are read"


def refused(text: str | bytes) -> YamlError:
    """The YamlError raised for ``text`` (bytes go through ``decode`` first, as files do)."""
    with pytest.raises(YamlError) as info:
        parse(decode(text) if isinstance(text, bytes) else text)
    return info.value


def where(exc: YamlError) -> tuple[int, int]:
    return exc.line, exc.col


# --- positions -------------------------------------------------------------------------------------------


def test_positions_of_values_and_keys():
    doc = parse("# comment\nid: abc\nsample:\n  name: x\n  list: [a, 'b']\nitems:\n  - k: 1\n    j: 2\n")
    assert doc.data == {"id": "abc", "sample": {"name": "x", "list": ["a", "b"]},
                        "items": [{"k": 1, "j": 2}]}
    # values
    assert doc.positions[()] == (2, 1)
    assert doc.positions[("id",)] == (2, 5)
    assert doc.positions[("sample", "name")] == (4, 9)
    assert doc.positions[("sample", "list", 0)] == (5, 10)
    assert doc.positions[("sample", "list", 1)] == (5, 13)
    assert doc.positions[("items", 0)] == (7, 5)
    assert doc.positions[("items", 0, "j")] == (8, 8)
    # keys
    assert doc.key_positions[("id",)] == (2, 1)
    assert doc.key_positions[("sample", "name")] == (4, 3)
    assert doc.key_positions[("items", 0, "j")] == (8, 5)


def test_where_prefers_key_and_falls_back_to_the_nearest_ancestor():
    doc = parse("a:\n  b: 1\n")
    assert doc.where(("a", "b")) == (2, 6)
    assert doc.where(("a", "b"), key=True) == (2, 3)
    # a field that is missing is reported where its parent mapping is
    assert doc.where(("a", "missing")) == (2, 3)
    assert doc.where(("nothing", "here")) == (1, 1)


def test_positions_count_characters_not_bytes():
    doc = parse("title: Å résumé\nnext: 1\nthird: ångström\n")
    assert doc.positions[("third",)] == (3, 8)


# --- aliases, tags, keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "pos", "pointer"), [
    ("a: &x 1\nb: *x\n", (2, 4), ("b",)),  # an alias of a scalar
    ("a: &x {k: 1}\nb: *x\n", (2, 4), ("b",)),  # of a mapping
    ("a: &x [1]\nb:\n  - *x\n", (3, 5), ("b", 0)),  # of a list, inside a list
    ("a: &x [*x]\n", (1, 8), ("a", 0)),  # recursive
])
def test_aliases_are_refused_where_the_alias_is(text, pos, pointer):
    exc = refused(text)
    assert exc.message == "YAML aliases (*name) are not allowed"
    assert exc.hint == "write the value out in full"
    assert where(exc) == pos
    assert exc.pointer == pointer


def test_billion_laughs_is_refused_fast():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    exc = refused("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 1.0
    assert exc.message == "YAML aliases (*name) are not allowed"
    assert where(exc) == (2, 8)  # the first *a
    assert exc.pointer == ("b", 0)


def test_an_anchor_without_alias_is_harmless():
    assert parse("a: &x 1\n").data == {"a": 1}


@pytest.mark.parametrize(("text", "tag", "pos"), [
    ("a: !!python/object/apply:os.system ['touch {marker}']\n",
     "tag:yaml.org,2002:python/object/apply:os.system", (1, 4)),
    ("!!python/object/apply:os.system ['touch {marker}']\n",
     "tag:yaml.org,2002:python/object/apply:os.system", (1, 1)),
    ("a: !!python/name:os.system ''\nb: 1\n", "tag:yaml.org,2002:python/name:os.system", (1, 4)),
    ("a:\n  b: !custom 3\n", "!custom", (2, 6)),
    ("a: !!binary aGVsbG8=\n", "tag:yaml.org,2002:binary", (1, 4)),
    ("a: !!set {x}\n", "tag:yaml.org,2002:set", (1, 4)),
    ("a: !!timestamp 2024-01-01\n", "tag:yaml.org,2002:timestamp", (1, 4)),
])
def test_custom_tags_are_refused_never_executed(tmp_path, text, tag, pos):
    marker = tmp_path / "pwned"
    exc = refused(text.replace("{marker}", str(marker)))
    assert exc.message == f"the YAML tag '{tag}' is not allowed"
    assert exc.hint == TAG_HINT
    assert where(exc) == pos
    assert not marker.exists()


@pytest.mark.parametrize(("text", "pos"), [
    ("a: &x {k: 1}\nb:\n  <<: *x\n", (3, 3)),
    ("b:\n  <<: {k: 1}\n", (2, 3)),
    ("? [a, b]\n: 1\n", (1, 3)),
])
def test_merge_and_complex_keys_are_refused(text, pos):
    exc = refused(text)
    assert exc.message == "only plain text keys are allowed (no merge keys or complex keys)"
    assert exc.hint == "write each field name as plain text"
    assert where(exc) == pos


def test_keys_are_text_even_when_yaml_would_read_them_otherwise():
    assert parse("yes: 1\n2: b\n").data == {"yes": 1, "2": "b"}


def test_duplicate_key_names_the_first_line():
    exc = refused("a: 1\nb: 2\na: 3\n")
    assert exc.message == "duplicate key 'a' (first at line 1)"
    assert exc.hint == "keep one of the two"
    assert where(exc) == (3, 1)
    assert exc.pointer == ("a",)


def test_duplicate_nested_key():
    exc = refused("x:\n  y: 0\n  a: 1\n  a: 2\n")
    assert exc.message == "duplicate key 'a' (first at line 3)"
    assert where(exc) == (4, 3)
    assert exc.pointer == ("x", "a")


# --- nesting and size ------------------------------------------------------------------------------------


def test_nesting_up_to_the_limit_is_fine():
    # MAX_DEPTH levels of mappings below the top one, the last holding a scalar
    text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH - 1)) + "  " * (MAX_DEPTH - 1) + "v: 1\n"
    assert parse(text).data["k0"]["k1"]


def test_deep_block_nesting_is_refused():
    text = "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v: 1\n"
    exc = refused(text)
    assert exc.message == "the YAML is nested too deeply"
    assert exc.hint == f"use at most {MAX_DEPTH} levels"
    assert exc.line == MAX_DEPTH + 2  # the first value below the limit


def test_pathological_flow_nesting_is_refused_without_crashing():
    exc = refused("a: " + "[" * 20000 + "]" * 20000 + "\n")
    assert "nested too deeply" in exc.message
    assert exc.hint == f"use at most {MAX_DEPTH} levels"
    assert exc.line == 1


def test_huge_file_is_refused_before_parsing():
    raw = b"a: " + b"x" * MAX_BYTES + b"\n"
    with pytest.raises(YamlError) as info:
        decode(raw)
    assert info.value.message == f"the file is {len(raw):,} bytes, more than the 1,048,576 allowed"
    assert info.value.hint == "keep metadata short; long texts belong in the data, not the YAML"


def test_file_just_under_the_limit_is_read():
    raw = b"a: " + b"x" * (MAX_BYTES - 10) + b"\n"
    assert len(parse(decode(raw)).data["a"]) == MAX_BYTES - 10


# --- encodings and characters ----------------------------------------------------------------------------


def test_non_utf8_byte_is_located():
    exc = refused(b"a: 1\nname: caf\xe9\n")
    assert exc.message == "byte 0xe9 is not valid UTF-8"
    assert exc.hint == "save the file as UTF-8"
    assert where(exc) == (2, 10)


def test_non_utf8_column_counts_from_the_line_start_after_multibyte_text():
    exc = refused("a: ü\nb: ".encode() + b"\xff\n")
    assert where(exc) == (2, 4)


def test_bom_is_accepted_and_positions_are_unchanged():
    doc = parse(decode(b"\xef\xbb\xbfa: 1\nb: x\n"))
    assert doc.data == {"a": 1, "b": "x"}
    assert doc.positions[("b",)] == (2, 4)


def test_crlf_line_ends_are_accepted():
    doc = parse(decode(b"a: 1\r\nb:\r\n  c: text\r\n"))
    assert doc.data == {"a": 1, "b": {"c": "text"}}
    assert doc.positions[("b", "c")] == (3, 6)


@pytest.mark.parametrize(("text", "pos"), [
    ("a:\n\tb: 1\n", (2, 1)),
    ("a: 1\n\tb: 1\n", (2, 1)),
    ("a:\n  b: 1\n\tc: 2\n", (3, 1)),
    ("a:\n  b:\n  \tc: 1\n", (3, 3)),
])
def test_tabs_in_indentation_give_the_spaces_hint(text, pos):
    exc = refused(text)
    assert exc.message.startswith("invalid YAML: ")
    assert exc.hint == "indent with spaces, not tabs"
    assert where(exc) == pos


def test_ordinary_syntax_error_is_located():
    exc = refused("a: [1, 2\nb: 3\n")
    assert exc.message.startswith("invalid YAML: ")
    assert exc.hint == "fix the YAML syntax"
    assert exc.line >= 1 and exc.col >= 1


@pytest.mark.parametrize("raw", [b"", b"\n\n", b"# only a comment\n", b"\xef\xbb\xbf"])
def test_empty_file(raw):
    exc = refused(raw)
    assert exc.message == "the file is empty"
    assert exc.hint == "start from `openem new <id>` or copy an example"
    assert where(exc) == (1, 1)


def test_nul_character_is_located():
    exc = refused(b"a: 1\nb: x\x00y\n")
    assert exc.message == "the file contains a NUL character"
    assert exc.hint == "save the file as plain UTF-8 text"
    assert where(exc) == (2, 5)


def test_raw_control_character_is_located():
    exc = refused("a: 1\ntitle: Cryo\x07-EM\n")
    assert exc.message == "the file contains the control character U+0007"
    assert exc.hint == "remove it; write special characters as escapes in double quotes"
    assert where(exc) == (2, 12)


# --- scalar values ---------------------------------------------------------------------------------------


def test_dates_stay_strings_even_impossible_ones():
    doc = parse("a: 2024-01-02\nb: 2024-02-30\nc: 2024-01-02T10:00:00Z\n")
    assert doc.data == {"a": "2024-01-02", "b": "2024-02-30", "c": "2024-01-02T10:00:00Z"}


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf", "+.Inf"])
def test_nan_and_infinity_are_refused(value):
    exc = refused(f"a: 1\nb: {value}\n")
    assert exc.message == f"'{value}' is not a finite number"
    assert exc.hint == "write a real number, or leave the field out"
    assert where(exc) == (2, 4)
    assert exc.pointer == ("b",)


def test_plain_scalars_follow_yaml_core_types():
    assert parse("a: yes\nb: 1.5\nc: 7\nd: ~\ne: '7'\n").data == {
        "a": True, "b": 1.5, "c": 7, "d": None, "e": "7"}


def test_multiple_documents_are_refused():
    exc = refused("a: 1\n---\nb: 2\n")
    assert exc.message == "invalid YAML: the file holds more than one document"
    assert exc.hint == "keep one document per file (remove the extra ---)"
    assert where(exc) == (2, 1)


def test_one_document_with_explicit_markers_is_fine():
    doc = parse("---\na: 1\n...\n")
    assert doc.data == {"a": 1}
    assert doc.positions[("a",)] == (2, 4)


# --- the same with or without libyaml --------------------------------------------------------------------

LOADERS = [pytest.param(PurePythonLoader, id="pure-python"),
           pytest.param(LibyamlLoader, id="libyaml",
                        marks=pytest.mark.skipif(LibyamlLoader is None, reason="PyYAML built without libyaml"))]
BAD_ESCAPE = "invalid YAML: found invalid Unicode character escape code"


def refused_by(text: str, loader: type) -> YamlError:
    with pytest.raises(YamlError) as info:
        parse(text, loader)
    return info.value


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(("text", "marker"), [
    ('a: "\\ud800"\n', "\\ud800"),
    ('a: "xy \\udfff z"\n', "\\udfff"),
    ('a: "\\ud83d\\ude00"\n', "\\ud83d"),  # a JSON-style pair: in YAML two lone surrogates
    ('a: "ok \\u00e9 \\U0000DC00"\n', "\\U0000DC00"),
    ('a: "\\U00110000"\n', "\\U00110000"),  # beyond Unicode (the pure-Python reader: a bare ValueError)
    ('a: "\\UFFFFFFFF"\n', "\\UFFFFFFFF"),  # (the pure-Python reader: OverflowError)
    ('a:\n  - "first line\n    then \\\n    \\ud800"\n', "\\ud800"),  # after line breaks, one escaped
    ('"k\\ud800": 1\n', "\\ud800"),  # in a key
    ('{a: "fine", b: "\\ud800"}\n', "\\ud800"),  # in a flow mapping
])
def test_escapes_of_surrogates_and_beyond_unicode_are_refused_where_they_are(loader, text, marker):
    exc = refused_by(text, loader)
    assert exc.message == BAD_ESCAPE
    assert "surrogates (D800–DFFF)" in exc.hint
    i = text.index(marker) + 2  # libyaml's position: the first hex digit
    assert where(exc) == (text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1)


@pytest.mark.parametrize("loader", LOADERS)
def test_valid_escapes_and_an_escaped_backslash_are_read_by_both_loaders(loader):
    doc = parse('a: "\\u00e9 \\U0001F9EC \\x41 \\ud7ff \\ue000 \\U0010FFFD"\nb: "\\\\ud800"\nc: \'\\ud800\'\n',
                loader)
    assert doc.data == {"a": "é 🧬 A \ud7ff \ue000 \U0010fffd", "b": "\\ud800", "c": "\\ud800"}


@pytest.mark.parametrize("loader", LOADERS)
def test_a_lone_surrogate_in_the_text_itself_is_located(loader):
    # (decode() never makes one, but parse() takes any str; libyaml could not even encode it)
    exc = refused_by("a: 1\nb: x\ud800y\n", loader)
    assert exc.message == "the file contains the lone surrogate U+D800"
    assert where(exc) == (2, 5)


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("number", [
    "9" * 4301,  # int() refuses more than 4,300 digits with a bare ValueError
    "-" + "1" * 5000,
    "1" * (MAX_INT_DIGITS + 1),
    "1_000" * 500,  # underscores (YAML 1.1)
    "0x" + "f" * 600,  # hexadecimal: int() reads it, str() of it would fail
    "0b" + "1" * 2200,
    "0" + "7" * 800,  # octal
    "1" + ":59" * 400,  # sexagesimal: 60**400
    "1" + ":1" * 300_000,  # sexagesimal of 300,000 parts (quadratic to build): refused before it is built
])
def test_huge_integers_are_refused_where_they_are(loader, number):
    exc = refused_by(f"a: 1\nb:\n  - 2\n  - {number}\n", loader)
    assert exc.message.startswith("the number ") and exc.message.endswith(
        f" is too large (more than {MAX_INT_DIGITS} digits)")
    assert len(exc.message) < 100
    assert where(exc) == (4, 5) and exc.pointer == ("b", 1)


@pytest.mark.parametrize("loader", LOADERS)
def test_integers_up_to_the_limit_and_long_numbers_as_keys_are_fine(loader):
    big = "9" * MAX_INT_DIGITS
    doc = parse(f"a: {big}\nb: -{big}\n{'1' * 1000}: text\n", loader)  # (YAML keys: 1,024 characters)
    assert doc.data == {"a": int(big), "b": -int(big), "1" * 1000: "text"}


LIBYAML = pytest.mark.skipif(LibyamlLoader is None, reason="PyYAML built without libyaml")


@LIBYAML
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_both_loaders_agree_on_every_hostile_entry(name):
    try:
        text = decode(hostile_text(name, HOSTILE[name]))
    except YamlError:
        return  # (refused before any loader reads it)

    def outcome(loader: type) -> tuple:
        try:
            doc = parse(text, loader)
        except YamlError as exc:
            return "refused", exc.message, exc.line, exc.col, exc.hint, exc.pointer
        return "read", doc.data, doc.positions, doc.key_positions

    assert outcome(PurePythonLoader) == outcome(LibyamlLoader)


def test_without_libyaml_a_surrogate_escape_is_a_located_problem_not_a_crash(monkeypatch, tmp_path):
    """The whole of validation with PyYAML's pure-Python loader (as where libyaml is missing)."""
    monkeypatch.setattr(yamlsafe, "_Loader", PurePythonLoader)
    root = tmp_path / "catalogue"
    (root / "datasets").mkdir(parents=True)
    shutil.copy(ROOT / "datasets" / "facilities.yaml", root / "datasets" / "facilities.yaml")
    text = yaml.safe_dump(frozen_document(), sort_keys=False, allow_unicode=True, width=10000)
    text = text.replace("title: Cryo-EM movies", 'title: "Cryo-EM \\ud800"\nold_title: Cryo-EM movies', 1)
    write_dataset(root, text, EXAMPLE)
    result = load_catalogue(root)
    assert not result.ok
    line = text.splitlines().index('title: "Cryo-EM \\ud800"') + 1
    assert [p.text() for p in result.problems if p.severity == "error"] == [
        f"datasets/{EXAMPLE}/dataset.yaml:{line}:19: {BAD_ESCAPE} — write the character itself, or escape a real "
        "code point: \\u and \\U cannot name surrogates (D800–DFFF) or go beyond 10FFFF"]
