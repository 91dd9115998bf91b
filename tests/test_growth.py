"""The checks of a pull request take time close to linear in its size (issue 19).

Each test grows one part of an entry (a list, a text, nesting, image sets, manifest rows) from n to 8n and
fails when checking the entry (``load_dataset``: parsing, schema, text and structural checks, the manifest and
previews against the YAML) grows much more than 8-fold (tests/growth.py measures; no wall-clock limit). Inputs
go past the schema's limits on purpose: a document the schema rejects is still checked in full, and must be
rejected quickly. Every array and every text field of the dataset schema is covered; the lists below are
compared with the schema, so a new field needs a case here.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from openem_build.records import validate
from openem_build.records.load import load_dataset, load_facilities
from openem_build.records.manifest import dumps as manifest_dumps
from openem_build.records.model import Manifest, ManifestFile

from .conftest import FROZEN, ROOT, example_document
from .growth import Work, assert_linear

IDENT = "growth-entry"
FACILITIES = load_facilities(ROOT)[0]
_counter = itertools.count()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("growth")


def entry(base: Path, doc: dict | str, files: dict[str, str | bytes] | None = None) -> Work:
    """A one-entry catalogue of its own under ``base`` holding ``doc`` (a mapping or YAML text) and ``files``
    (paths relative to the entry's folder); the work of checking the entry."""
    root = base / f"c{next(_counter)}"
    folder = root / "datasets" / IDENT
    folder.mkdir(parents=True)
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1 << 30)
    (folder / "dataset.yaml").write_text(text, "utf-8")
    for name, content in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, "utf-8")
    facilities = FACILITIES
    path = folder / "dataset.yaml"

    def work() -> object:
        return load_dataset(path, root, facilities)

    return work


def document() -> dict:
    doc = example_document()
    doc["id"] = IDENT
    del doc["data"]["datalad"]  # (no manifest beside it unless a test writes one)
    return doc


# ------------------------------------------------------------------------------------------ the schema's fields

def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return validate.schema("dataset")["$defs"][ref.rsplit("/", 1)[-1]] if ref else node


def _fields(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every field, arrays as ``name[]`` (``authors[].affiliations[]``)."""
    node = _resolve(node)
    for name, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        here = f"{path}.{name}" if path else name
        if sub.get("type") == "array":
            yield here + "[]", sub
            items = _resolve(sub.get("items", {}))
            yield from _fields(items, here + "[]")
            if items.get("type") == "string":
                yield here + "[][item]", items
        else:
            yield here, sub
            yield from _fields(sub, here)


def schema_arrays() -> set[str]:
    return {path for path, node in _fields(validate.schema("dataset")) if path.endswith("[]")}


def schema_strings() -> set[str]:
    return {path for path, node in _fields(validate.schema("dataset")) if node.get("type") == "string"}


def place(doc: dict, path: str, value: Any) -> None:
    """``doc[path] = value`` for a schema path: ``x[]`` steps into the first item (made when missing),
    ``[item]`` names that item itself."""
    parts = path.split(".")
    node: Any = doc
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        name = part.removesuffix("[][item]").removesuffix("[]")
        if last and not part.endswith("[][item]"):
            node[name] = value
            return
        if part.endswith("[]") or part.endswith("[][item]"):
            items = node.get(name)
            if not isinstance(items, list) or not items:
                node[name] = items = [value if last else {}]
            if last:
                items[0] = value
                return
            if not isinstance(items[0], dict):
                items[0] = {}
            node = items[0]
        else:
            if not isinstance(node.get(name), dict):
                node[name] = {}
            node = node[name]


ROLES = validate.schema("dataset")["$defs"]["person"]["properties"]["roles"]["items"]["enum"]

#: For every array of the schema: its i-th item, distinct and of the right form where the schema allows it.
ARRAYS: dict[str, Callable[[int], Any]] = {
    "keywords[]": lambda i: f"keyword {i}",
    "authors[]": lambda i: {"name": f"Muster{i}, Anna", "affiliations": [{"name": f"Institute {i}"}]},
    "authors[].affiliations[]": lambda i: {"name": f"Institute {i}", "ror": "https://ror.org/05a28rw58"},
    "authors[].roles[]": lambda i: ROLES[i % len(ROLES)],
    "principal_investigators[]": lambda i: {"name": f"Pi{i}, Anna", "organisation": "ETH Zurich"},
    "funding[]": lambda i: {"funder": f"Funder {i}", "award": str(i)},
    "acquisition.defocus_range_um[]": lambda i: (i % 100) / 10,
    "acquisition.tilt_range_deg[]": lambda i: i % 90 - 45,
    "acquisition.voxel_size_A[]": lambda i: 0.5 + i % 100,
    "data.image_sets[].voxel_size_A[]": lambda i: 0.5 + i % 100,
    "processing.software[]": lambda i: f"Tool {i}",
    "related.publications[]": lambda i: {"doi": f"10.1234/x{i}", "title": f"Paper {i}"},
    "related.publications[].authors[]": lambda i: f"Author{i}, Anna",
    "related.emdb[]": lambda i: f"EMD-{10000 + i % 90000}",
    "related.pdb[]": lambda i: f"pdb_{i:08d}",
    "related.empiar[]": lambda i: f"EMPIAR-{10000 + i % 90000}",
    "related.related_identifiers[]": lambda i: {"identifier": f"https://example.org/{i}", "identifier_type": "URL",
                                               "relation_type": "References"},
    "data.image_sets[]": lambda i: {"name": f"Set {i}", "directory": f"set{i}", "category": "micrographs",
                                    "format": "mrc"},
}


def test_every_array_of_the_schema_has_a_growth_case() -> None:
    assert set(ARRAYS) == schema_arrays()


def _array_doc(path: str, items: list) -> dict:
    doc = document()
    place(doc, path.removesuffix("[]"), items)
    return doc


def _one_side_of_the_limit(path: str, n: int, factor: int = 8) -> int:
    """``n``, or past the array's ``maxItems`` when that lies between n and ``factor`` × n: a valid document
    passes the compiled schema check while an invalid one is explained by jsonschema at several times the cost
    per item, so sizes on both sides would measure two different (each linear) paths, not growth."""
    limit = dict(_fields(validate.schema("dataset")))[path].get("maxItems")
    return limit + 1 if limit is not None and n <= limit < factor * n else n


def test_sizes_straddle_no_limit() -> None:
    assert _one_side_of_the_limit("authors[]", 100) == 501  # maxItems 500
    assert _one_side_of_the_limit("keywords[]", 100) == 100  # maxItems 30: both sizes past it
    assert _one_side_of_the_limit("data.image_sets[]", 100) == 201


@pytest.mark.parametrize("path", sorted(ARRAYS))
def test_a_long_list_is_checked_in_linear_time(base: Path, path: str) -> None:
    make = ARRAYS[path]
    n = _one_side_of_the_limit(path, 100)
    assert_linear(lambda n: entry(base, _array_doc(path, [make(i) for i in range(n)])), n, path)


@pytest.mark.parametrize("path", sorted(ARRAYS))
def test_a_long_list_of_mappings_is_checked_in_linear_time(base: Path, path: str) -> None:
    """The red-team case: jsonschema compared every pair of a uniqueItems list that does not sort (12 s for
    2,000 mappings in processing.software, 192 s for 8,000)."""
    assert_linear(lambda n: entry(base, _array_doc(path, [{"tool": f"x{i}", "n": i} for i in range(n)])), 150, path)


@pytest.mark.parametrize("path", ["keywords[]", "processing.software[]", "related.emdb[]", "authors[].roles[]"])
def test_a_long_list_of_numbers_that_hash_alike_is_checked_in_linear_time(base: Path, path: str) -> None:
    """Python hashes whole numbers by their value modulo 2**61 - 1, unsalted: numbers chosen to share one hash
    would make a set of them quadratic; the uniqueness check hashes salted text instead."""
    modulus = (1 << 61) - 1
    assert_linear(lambda n: entry(base, _array_doc(path, [k * modulus for k in range(1, n + 1)])), 250, path)


def test_the_schema_limits_every_list_text_mapping_and_number() -> None:
    """maxItems on every array, maxLength on every free string, maxProperties on every open mapping, a maximum on
    every number, in all three schemas; real entries are far from them."""
    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            kinds = node.get("type") if isinstance(node.get("type"), list) else [node.get("type")]
            if "array" in kinds and "maxItems" not in node:
                yield f"{where}: array without maxItems"
            if "string" in kinds and "maxLength" not in node and "enum" not in node:
                yield f"{where}: string without maxLength"
            if "object" in kinds and node.get("additionalProperties", True) is not False \
                    and "maxProperties" not in node:
                yield f"{where}: open mapping without maxProperties"
            if {"integer", "number"} & set(kinds) and "maximum" not in node and "exclusiveMaximum" not in node:
                yield f"{where}: number without maximum"  # (huge whole numbers broke renderers)
            for key, sub in node.items():
                yield from walk(sub, f"{where}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                yield from walk(sub, f"{where}/{i}")

    missing = [m for name in ("dataset", "facilities", "manifest") for m in walk(validate.schema(name), name)]
    assert missing == []
    examples = [*(ROOT / "datasets").glob("*/dataset.yaml"), *FROZEN.glob("datasets/*/dataset.yaml")]
    assert len(examples) > 10
    for path in examples:
        _within_half(yaml.safe_load(path.read_text("utf-8")), validate.schema("dataset"), str(path))


def _within_half(value: Any, node: dict[str, Any], where: str) -> None:
    """Every list and text of an example entry uses at most half of its limit."""
    node = _resolve(node)
    if isinstance(value, dict):
        for key, sub in value.items():
            _within_half(sub, node.get("properties", {}).get(key, {}), f"{where}.{key}")
    elif isinstance(value, list):
        if "maxItems" in node and node.get("minItems") != node["maxItems"]:
            assert len(value) * 2 <= node["maxItems"], where
        for i, sub in enumerate(value):
            _within_half(sub, node.get("items", {}), f"{where}[{i}]")
    elif isinstance(value, str) and "maxLength" in node and "pattern" not in node:
        assert len(value) * 2 <= node["maxLength"], where


# ------------------------------------------------------------------------------------------ long texts

#: Texts that stress what reads them: plain letters, separators the patterns look for (the name's ", ", the
#: DOI's "/", the e-mail's "@" and "."), and characters that the text checks and the Unicode folding look at.
FILLS: dict[str, Callable[[int], str]] = {
    "letters": lambda n: "a" * n,
    "mixed": lambda n: ("a, b/c.d@e-f:1 é\u00a0ß\u2028Ⅷ\u200b" * (n // 24 + 1))[:n],
}


@pytest.mark.parametrize("fill", sorted(FILLS))
@pytest.mark.parametrize("path", sorted(schema_strings()))
def test_a_long_text_in_any_field_is_checked_in_linear_time(base: Path, path: str, fill: str) -> None:
    def prepare(n: int) -> Work:
        doc = document()
        place(doc, path, FILLS[fill](n))
        return entry(base, doc)

    assert_linear(prepare, 4000, path)


def test_many_unknown_fields_are_checked_in_linear_time(base: Path) -> None:
    """Unknown keys each get a "did you mean" from the known ones."""
    def prepare(n: int) -> Work:
        doc = document()
        doc["sample"].update({f"nam{i}": i for i in range(n)})
        return entry(base, doc)

    assert_linear(prepare, 250, "unknown fields in sample")


def test_a_long_key_is_checked_in_linear_time(base: Path) -> None:
    def prepare(n: int) -> Work:
        doc = document()
        doc["sample"]["name" * (n // 4)] = "x"
        return entry(base, doc)

    assert_linear(prepare, 4000, "a long unknown key")


def test_a_long_line_of_yaml_is_checked_in_linear_time(base: Path) -> None:
    """One flow-style line holding the whole list."""
    def prepare(n: int) -> Work:
        text = yaml.safe_dump(document(), sort_keys=False, allow_unicode=True)
        line = "keywords: [" + ", ".join(f"k{i}" for i in range(n)) + "]"
        return entry(base, re.sub(r"(?m)^keywords: .*$", line, text))

    assert_linear(prepare, 500, "a long line")


# ------------------------------------------------------------------------------------------ nesting

#: Levels of nesting the YAML reader allows below a field at the top of the document (yamlsafe.MAX_DEPTH is 32).
DEEP = 28


def _deep(leaf: Any, kind: str) -> Any:
    for _ in range(DEEP):
        leaf = [leaf] if kind == "list" else {"a": leaf}
    return leaf


@pytest.mark.parametrize("kind", ["list", "mapping"])
@pytest.mark.parametrize("where", ["keywords", "processing.software", "sample.extra", "authors"])
def test_many_deep_values_are_checked_in_linear_time(base: Path, where: str, kind: str) -> None:
    """n values each nested as deep as allowed: in a uniqueItems list, under an unknown key, in a list of
    mappings."""
    def prepare(n: int) -> Work:
        doc = document()
        place(doc, where, [_deep(i, kind) for i in range(n)])
        return entry(base, doc)

    assert_linear(prepare, 40, f"{where}: deep {kind}s")


def test_the_nesting_allowed_is_what_the_tests_use(base: Path) -> None:
    doc = document()
    doc["keywords"] = [_deep(1, "list")]
    _record, _doc, problems = entry(base, doc)()
    assert not any("nested too deeply" in p.message for p in problems)


# ------------------------------------------------------------------------------------------ facilities

@pytest.mark.parametrize("kind", ["facilities", "mappings"])
def test_a_long_facilities_file_is_checked_in_linear_time(base: Path, kind: str) -> None:
    """datasets/facilities.yaml, which a pull request may extend: many facilities, or many entries of the wrong
    kind (past its limit too)."""
    registry = yaml.safe_load((ROOT / "datasets" / "facilities.yaml").read_text("utf-8"))
    first = next(iter(registry.values()))

    def prepare(n: int) -> Work:
        root = base / f"c{next(_counter)}"
        (root / "datasets").mkdir(parents=True)
        doc = {f"facility-{i}": dict(first, name=f"Facility {i}") if kind == "facilities" else [{"x": i}]
               for i in range(n)}
        (root / "datasets" / "facilities.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
        return lambda: load_facilities(root)

    assert_linear(prepare, 150, f"facilities.yaml ({kind})")


# ------------------------------------------------------------------------------------------ image sets and manifests

def _manifest(paths: list[str], headers: bool = True) -> str:
    files = []
    for path in paths:
        digest = hashlib.md5(path.encode()).hexdigest()
        head = {"type": "mrc", "size_bytes": 4096, "mrc": {"dimensions": [64, 64, 1], "kind": "image", "mode": 2,
                                                           "dtype": "float32", "voxel_size_A": [0.73, 0.73, 0.73]}}
        files.append(ManifestFile(path, 4096, f"MD5E-s4096--{digest}.mrc", (("md5", digest),),
                                  (f"https://example.org/{digest}.mrc",), head if headers else None))
    return manifest_dumps(Manifest(tuple(sorted(files, key=lambda f: f.path)), "a" * 40, None))


def _sets(n: int) -> list[dict]:
    return [{"name": f"Set {i}", "directory": f"set{i}", "category": "micrographs", "format": "mrc", "count": 1,
             "pixel_size_A": 0.73} for i in range(n)]


def test_many_image_sets_against_a_manifest_are_checked_in_linear_time(base: Path) -> None:
    """Image sets, each matched against the manifest (folders, formats, counts, headers); past the schema's
    limit too. The manifest stays the same."""
    manifest = _manifest([f"set{i}/m{j}.mrc" for i in range(100) for j in range(5)])

    def prepare(n: int) -> Work:
        doc = document()
        doc["data"]["image_sets"] = _sets(n)
        return entry(base, doc, {"manifest.json": manifest})

    assert_linear(prepare, 50, "image sets")


@pytest.mark.parametrize("headers", [True, False], ids=["headers", "no-headers"])
def test_a_manifest_with_many_rows_is_checked_in_linear_time(base: Path, headers: bool) -> None:
    """Rows of manifest.json against a few image sets (the headers are compared with the YAML too)."""
    def prepare(n: int) -> Work:
        doc = document()
        doc["data"]["image_sets"] = _sets(4)
        return entry(base, doc, {"manifest.json": _manifest([f"set{i % 5}/m{i}.mrc" for i in range(n)], headers)})

    assert_linear(prepare, 500, "manifest rows")


@pytest.mark.parametrize("damage", ["negative-size", "duplicate-path", "bad-key", "unsorted"])
def test_a_damaged_manifest_with_many_rows_is_checked_in_linear_time(base: Path, damage: str) -> None:
    def prepare(n: int) -> Work:
        doc = document()
        doc["data"]["image_sets"] = _sets(4)
        data = json.loads(_manifest([f"set{i % 4}/m{i:06d}.mrc" for i in range(n)], headers=False))
        rows = data["files"]
        for i, row in enumerate(rows):
            if damage == "negative-size":
                row["size"] = -1
            elif damage == "duplicate-path":
                row["path"] = rows[i - i % 2]["path"]
            elif damage == "bad-key":
                row["key"] = "not a key " * 3
        if damage == "unsorted":
            rows.reverse()
        return entry(base, doc, {"manifest.json": json.dumps(data, indent=1)})

    assert_linear(prepare, 500, f"manifest rows ({damage})")


def test_a_previews_file_with_many_bad_rows_is_checked_in_linear_time(base: Path) -> None:
    """Each problem of previews.json is located by reading the file from its start: a cap on the problems keeps
    that linear."""
    def prepare(n: int) -> Work:
        return entry(base, document(), {"previews.json": json.dumps({"previews_version": 1, "previews": [1] * n})})

    assert_linear(prepare, 100, "previews rows")


def test_image_sets_missing_from_a_growing_manifest_are_checked_in_linear_time(base: Path) -> None:
    """For an image set whose folder the manifest lacks, the manifest's folders are searched for a close name."""
    def prepare(n: int) -> Work:
        doc = document()
        doc["data"]["image_sets"] = [dict(s, directory=f"other{i}") for i, s in enumerate(_sets(n))]
        return entry(base, doc, {"manifest.json": _manifest([f"d{i}/m{i}.mrc" for i in range(20 * n)], False)})

    assert_linear(prepare, 10, "image sets not in the manifest")


def test_image_sets_and_manifest_rows_growing_together_are_checked_in_linear_time(base: Path) -> None:
    def prepare(n: int) -> Work:
        doc = document()
        doc["data"]["image_sets"] = _sets(n)
        return entry(base, doc, {"manifest.json": _manifest([f"set{i % n}/m{i}.mrc" for i in range(8 * n)])})

    assert_linear(prepare, 60, "image sets with their files", attempts=1)


def test_a_document_the_schema_rejects_is_still_fully_located(base: Path) -> None:
    """The growth cases are real rejections: a list past its limit says so at its line."""
    doc = document()
    doc["processing"]["software"] = [{"tool": i} for i in range(60)]
    _record, located, problems = entry(base, copy.deepcopy(doc))()
    assert located is not None
    messages = {p.message for p in problems if p.field == "processing.software"}
    assert "has 60 items; it must have at most 50" in messages
    assert all(p.line > 0 for p in problems if p.field.startswith("processing.software"))
