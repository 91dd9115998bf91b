"""The safe, located YAML reader: what it accepts, what it refuses, and where it says the problem is."""

from __future__ import annotations

import time

import pytest

from openem_build.yamlsafe import MAX_BYTES, MAX_DEPTH, YamlError, decode, parse

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
