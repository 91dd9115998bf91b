"""manifest.json: reading and writing, the git-annex listing behind it, and every check against dataset.yaml,
the catalogue's .gitmodules and the installed subdataset (real DataLad and git-annex)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from openem_build.authoring.add import add_dataset
from openem_build.cli import main
from openem_build.data import annex, annexfiles, annexkeys
from openem_build.data.headers import read_headers
from openem_build.records.load import load_catalogue
from openem_build.records.manifest import (
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
from openem_build.records.model import Manifest, ManifestFile

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
    info = annexkeys.parse_key("MD5E-s1024--0123456789abcdef0123456789abcdef.mrc")
    assert (info.backend, info.size, info.checksums) == ("MD5E", 1024, (("md5", "0123456789abcdef0123456789abcdef"),))
    sha = "a" * 64
    assert annexkeys.parse_key(f"SHA256E-s5--{sha}.tar.gz").checksums == (("sha256", sha),)
    assert annexkeys.parse_key(f"SHA256-s5--{sha}").checksums == (("sha256", sha),)
    assert annexkeys.parse_key("SHA256E-s5-S1048576-C2--" + sha + ".mrc").size == 5
    worm = annexkeys.parse_key("WORM-s12-m1700000000--movie.tif")
    assert (worm.size, worm.checksums) == (12, ())
    assert annexkeys.parse_key("URL--http&c%%example.org%a.mrc").size is None
    assert annexkeys.parse_key("MD5E-s3--tooshort.mrc").checksums == ()
    assert annexkeys.parse_key("not a key") is None


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
    (lambda t: t.replace('"manifest_version": 1,', '"manifest_version": 1, "manifest_version": 2,'),
     '"manifest_version": 2', "not valid JSON: the key 'manifest_version' appears twice"),
])
def test_damaged_manifests_give_located_problems(edit, marker, expected):
    text = edit(dumps(_manifest()))
    manifest, _doc, problems = parse(text, MAN)
    assert manifest is None
    where = _at(text, marker) if marker else MAN
    assert any(p.text().startswith(f"{where}: {expected}") for p in problems), [p.text() for p in problems]


# ------------------------------------------------------------------------------------------ rows and strict JSON

def _text(*rows: str, head: str = "") -> str:
    """A manifest in the layout `openem manifest` writes, with the JSON ``rows`` as its files."""
    lines = ",\n".join(f"    {r}" for r in rows)
    return (f'{{\n  "manifest_version": 1,\n  "commit": "{C1}",{head}\n  "datalad_id": null,\n  "files": [\n'
            f"{lines}\n  ]\n}}\n")


ROW = '{"path": "maps/a.mrc", "size": 3000, "key": "MD5E-s3000--' + "a" * 32 + '.mrc", "md5": "' + "a" * 32 + '"}'


@pytest.mark.parametrize(("text", "marker", "expected"), [
    # strict JSON: what json.loads would let through or msgspec would silently resolve
    (_text('{"size": 5, "path": "a", "size": 5}'), None, "not valid JSON: the key 'size' appears twice in one object"),
    # (the ':' written as an escape in the path balances the count of ':' of the dropped "size")
    (_text('{"size": 5, "path": "a\\u003ab", "size": 6}'), None, "not valid JSON: the key 'size' appears twice"),
    (_text(ROW, '{"path": "b", "headers": {"type": "mrc", "type": "mrc"}}'), None,
     "not valid JSON: the key 'type' appears twice in one object"),
    (_text(ROW, head='\n  "commit": "' + C2 + '",'), None, "not valid JSON: the key 'commit' appears twice"),
    (_text('{"path": "a", "size": NaN}'), "NaN", "not valid JSON: NaN is not a JSON number"),
    (_text('{"path": "a", "headers": {"size_bytes": -Infinity}}'), "-Infinity",
     "not valid JSON: -Infinity is not a JSON number"),
    (_text('{"path": "a", "size": 1' + "0" * 5000 + "}"), "1000", "not valid JSON: a number of more than 4,300 digits"),
    (_text('{"path": "a", "headers": {"size_bytes": 1' + "0" * 5000 + "}}"), "1000",
     "not valid JSON: a number of more than 4,300 digits"),
    (_text('{"path": "a", "headers": {"x": ' + "[" * 30 + "]" * 30 + "}}"), None,
     "not valid JSON: nested more than 20 levels deep"),
    (_text('{"path": "a", "headers": {"x": ' + "[" * 3000 + "]" * 3000 + "}}"), None,
     "not valid JSON: nested more than 20 levels deep"),
    ("\ufeff" + _text(ROW), None, "not valid JSON: Unexpected UTF-8 BOM"),
    (_text(ROW) + "x", None, "not valid JSON: Extra data"),
    # the top level
    (_text(ROW).replace('"manifest_version": 1', '"manifest_version": 1.0'), "1.0",
     "manifest_version: manifest_version must be 1, not 1.0"),
    (_text(ROW).replace('"manifest_version": 1', '"manifest_version": true'), "true",
     "manifest_version: manifest_version must be 1, not True"),
    (_text(ROW).replace('"datalad_id": null', '"datalad_id": "x"'), '"x"',
     "datalad_id: datalad_id must be a DataLad dataset id (a UUID), not 'x'"),
    (_text(ROW).replace('"files": [', '"files": {"a": [').replace("  ]\n}", "  ]}\n}"), '{"a"',
     "files: files must be a list of file entries"),
    (_text(ROW, head='\n  "colour": 1,'), '"colour"', "colour: unknown field 'colour' — known fields: commit, "),
    # each value of a row
    (_text('{"path": "a", "size": true}'), "true", "files[0].size: size must be a whole number of bytes (at most "
     "2⁶³ − 1) or null, not true"),
    (_text('{"path": "a", "size": -1}'), "-1", "files[0].size: size must be a whole number"),
    (_text('{"path": "a", "size": 9223372036854775808}'), "922", "files[0].size: size must be a whole number"),
    (_text('{"path": "a", "size": 1.5}'), "1.5", "files[0].size: size must be a whole number of bytes (at most "
     "2⁶³ − 1) or null, not 1.5"),
    (_text('{"path": "a\\n"}'), '"a\\n"', "files[0].path: path 'a\\n' is not a relative path inside the dataset"),
    (_text('{"path": "a/./b"}'), '"a/./b"', "files[0].path: path 'a/./b' is not a relative path"),
    (_text('{"path": "/a"}'), '"/a"', "files[0].path: path '/a' is not a relative path"),
    (_text('{"path": "a/"}'), '"a/"', "files[0].path: path 'a/' is not a relative path"),
    (_text('{"path": ""}'), '""', "files[0].path: path '' is not a relative path"),
    (_text('{"size": 1}'), '{"size"', "files[0].path: path None is not a relative path"),
    (_text('{"path": "' + "a" * 4097 + '"}'), '"aaa', "files[0].path: path is 4097 characters long; a path may "
     "have at most 4096"),
    (_text('{"path": "a", "md5": "' + "a" * 31 + '\\n"}'), '"aaa', "files[0].md5: md5 must be the lowercase hex"),
    (_text('{"path": "a", "sha3-256": "' + "A" * 64 + '"}'), '"AAA', "files[0].sha3-256: sha3-256 must be the "
     "lowercase hex digest"),
    (_text('{"path": "a", "key": "MD5E-s1--a b"}'), '"MD5E', "files[0].key: 'MD5E-s1--a b' is not a git-annex key"),
    (_text('{"path": "a", "key": "MD5E-s' + "9" * 5000 + '--x"}'), '"MD5E', "files[0].key: 'MD5E-s999"),
    (_text('{"path": "a", "urls": ["https://x\\ny"]}'), '["https', "files[0].urls: urls must be a list of URLs"),
    (_text('{"path": "a", "urls": "https://x"}'), '"https', "files[0].urls: urls must be a list of URLs"),
    (_text('{"path": "a", "headers": []}'), "[]}", "files[0].headers: headers must be a JSON object"),
    (_text('{"path": "a", "Path": "b"}'), '"Path"', "files[0].Path: unknown field 'Path' — known fields: blake2b"),
    (_text('"a"'), '"a"', "files[0]: each file entry must be a JSON object"),
    # what no type says
    (_text(ROW, ROW), '"maps/a.mrc", "size": 3000, "key": "MD5E-s3000--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.mrc", '
     '"md5": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n', "files[1].path: 'maps/a.mrc' is listed twice (also files[0])"),
    (_text(ROW.replace('"md5": "' + "a" * 32, '"md5": "' + "b" * 32)), '"bbb',
     "files[0].md5: the md5 checksum differs from the one in the key (" + "a" * 32 + ")"),
    (_text(ROW.replace('"size": 3000', '"size": 12')), "12,", "files[0].size: size 12 differs from the size in "
     "the key (3000)"),
    (_text('{"path": "a", "size": 5, "key": "SHA256-s5--' + "0" * 64 + '.mrc", "sha256": "' + "1" * 64 + '"}'),
     None, None),  # (no extension for SHA256 keys: the name is no digest, so nothing to compare)
    (_text('{"path": "a", "size": 5, "key": "SHA256E-s0005--' + "0" * 64 + '.mrc", "sha256": "' + "0" * 64 + '"}'),
     None, None),  # (the same size, written otherwise)
    (_text('{"path": "a", "key": "MD5E-s1--\\ud800"}'), None, "not valid JSON: "),  # (json reads it, msgspec not)
    (_text('{"path": "a", "urls": ["https://example.org/\\u202egnp"]}'), '["https', "files[0].urls: a URL contains a "
     "bidirectional-override character"),
])
def test_rows_and_strict_json(text, marker, expected):
    """Every rule of the format, each with its located message; the last rows of the table are valid."""
    manifest, _doc, problems = parse(text, MAN)
    if expected is None:
        assert problems == [] and manifest is not None
        return
    assert manifest is None
    where = _at(text, marker) if marker else None
    texts = [p.text() for p in problems]
    assert any(t.startswith(f"{where}: {expected}" if where else MAN) and expected in t for t in texts), texts


def test_what_msgspec_refuses_itself_and_what_is_checked_beside_it():
    """The strict-JSON rules, at the first step (the compiled decode): NaN, a number of thousands of digits and deep
    nesting are refused by msgspec itself; a key twice in one object is not (it keeps the last one), so
    members_dropped finds it, also when an escaped ':' would balance the count."""
    import msgspec

    from openem_build.records.manifest_types import DECODER, members_dropped

    for text in (_text('{"path": "a", "size": NaN}'), _text('{"path": "a", "size": 1' + "0" * 5000 + "}"),
                 _text('{"path": "a", "headers": {"x": ' + "[" * 3000 + "]" * 3000 + "}}")):
        with pytest.raises((msgspec.DecodeError, msgspec.ValidationError, RecursionError)):
            DECODER.decode(text)
    assert not members_dropped(_text(ROW), DECODER.decode(_text(ROW)))
    for text in (_text('{"path": "a", "size": 5, "size": 6}'), _text('{"path": "a:b", "path": "c"}'),
                 _text('{"path": "a", "headers": {"type": "mrc", "type": "mdoc"}}'),
                 _text('{"size": 5, "path": "a\\u003ab", "size": 6}')):
        doc = DECODER.decode(text)  # (accepted: the last value of the key is kept)
        assert members_dropped(text, doc), text


def test_every_problem_of_a_damaged_manifest_is_reported_in_order():
    text = _text('{"path": "a", "size": -1, "md5": "x", "colour": 1}', '{"path": "../b"}',
                 '{"path": "a", "urls": [1], "headers": {"type": "exe"}}')
    manifest, _doc, problems = parse(text, MAN)
    assert manifest is None
    assert [(p.field, p.line) for p in problems] == [
        ("files[0].colour", 6), ("files[0].size", 6), ("files[0].md5", 6), ("files[1].path", 7),
        ("files[2].path", 8), ("files[2].urls", 8), ("files[2].headers.type", 8)]
    rows = [json.dumps({"path": f"/{i}"}) for i in range(40)]
    _m, _d, many = parse(_text(*rows), MAN)
    assert len(many) == 26 and many[-1].message == "more problems not shown: the file is badly damaged"


def test_valid_manifests_of_every_shape_parse_to_their_records():
    """What `openem manifest` writes (and hand-made layouts of it) reads back as the same records: one or several
    checksums, keys of every backend, files kept in git, fields left out, escapes, headers deep in the file."""
    files = (
        ManifestFile("a:b/c.mrc", 1, "SHA256E-s1--" + "1" * 64 + ".mrc", (("sha256", "1" * 64), ("md5", "2" * 32)),
                     ("https://example.org/a:b/c.mrc", "s3://bucket/k")),
        ManifestFile("big.tif", 10**12, "WORM-s1000000000000-m1700000000--big.tif"),
        ManifestFile("chunked.mrc", 5, "SHA256E-s5-S1048576-C2--" + "3" * 64 + ".mrc", (("sha256", "3" * 64),)),
        ManifestFile("git.txt", 6, None, (("sha256", "4" * 64), ("md5", "5" * 32))),
        ManifestFile("q\"uote\\.mrc", None, "URL--http&c%%example.org%a.mrc"),
        ManifestFile("é/Σ.mrc", 0, "MD5E-s0--" + "6" * 32 + ".mrc", (("md5", "6" * 32),), (),
                     {"type": "mrc", "mrc": {"dimensions": [4, 4, 4]}, "acquisition": {"software": "k: 1"}}),
        *(ManifestFile(f"z/{i:04d}.mrc", i, f"BLAKE2B256E-s{i}--{i:064x}.mrc", (("blake2b-256", f"{i:064x}"),))
          for i in range(200)),
    )
    files = tuple(sorted(files, key=lambda f: f.path))  # (as parse gives them)
    m = Manifest(files, C1, "9b5d9dd1-aaf5-4653-aea7-da7209a15459")
    text = dumps(m)
    back, _doc, problems = parse(text, MAN)
    assert problems == [] and back == m
    assert [f.headers for f in back.files] == [f.headers for f in files]
    data = json.loads(text)
    for layout in (json.dumps(data), json.dumps(data, indent=3, ensure_ascii=True),
                   json.dumps({**data, "files": data["files"][::-1]})):
        again, _doc, problems = parse(layout, MAN)
        assert problems == [] and again == m, layout[:200]
    minimal = parse(_text('{"path": "x"}'), MAN)[0]
    assert minimal.files == (ManifestFile("x"),) and parse(_text(), MAN)[0].files == ()


def test_validated_files_are_read_again_the_same(tmp_path: Path):
    from openem_build.records.manifest import ManifestChanged, load_files

    m = _manifest()
    path = tmp_path / MANIFEST_FILE
    path.write_text(dumps(m), encoding="utf-8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_files(str(path), digest) == m.files
    assert [f.headers for f in load_files(str(path), digest)] == [f.headers for f in m.files]
    path.write_text(dumps(m).replace("3000", "3001"), encoding="utf-8")
    load_files.cache_clear()  # (it keeps the last few manifests it read)
    with pytest.raises(ManifestChanged, match="changed after it was validated"):
        load_files(str(path), digest)


def test_the_row_types_say_what_the_schema_says():
    """manifest_types (what parse checks) and schema/manifest.schema.json (what the format documents) agree: the
    same fields, patterns (``$`` there, ``\\Z`` here), lengths and ranges."""
    import msgspec

    from openem_build.records.manifest_types import MAX_SIZE, ROW_TYPES, TOP_TYPES, FileRow
    from openem_build.records.validate import schema

    s = schema("manifest")
    props = s["$defs"]["file"]["properties"]
    assert list(ROW_TYPES) == list(props) and set(TOP_TYPES) == set(s["properties"])
    assert [f.encode_name for f in msgspec.structs.fields(FileRow) if f.required] == ["path"]

    def meta(kind):
        info = msgspec.inspect.type_info(kind)
        if isinstance(info, msgspec.inspect.UnionType):
            (info,) = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return info

    for name, spec in props.items():
        info = meta(ROW_TYPES[name])
        if name == "urls":
            assert info.item_type.pattern.replace("\\Z", "$") == spec["items"]["pattern"]
            assert info.item_type.max_length == spec["items"]["maxLength"]
        elif name == "path":  # (stricter: no empty, '.' or '..' part, no leading '/')
            assert (info.min_length, info.max_length) == (spec["minLength"], spec["maxLength"])
        elif name == "size":
            assert (info.ge, info.le) == (spec["minimum"], spec["maximum"]) == (0, MAX_SIZE)
        elif spec.get("pattern"):
            assert info.pattern.replace("\\Z", "$") == spec["pattern"], name
    assert meta(TOP_TYPES["commit"]).pattern.replace("\\Z", "$") == s["properties"]["commit"]["pattern"]


DIRS = ["", ".", "/", "maps", "maps/", "/maps", "tilts", "tilts/TS_01", "vol", "Σ", "a:b", "nowhere", "map"]
MEMBER_PATHS = ["maps/a.mrc", "maps/b.MRC.gz", "maps0/a.mrc", "maps", "maps/c.mrcs", "maps-x/a.mrc", "map",
                "tilts/TS_01/a.tif", "tilts/TS_01/b.TIFF.zst", "tilts/TS_02/a.tif", "tilts/ts.mdoc", "vol/a.zarr/0/0",
                "vol/b.ZARR/.zattrs", "vol/c.ome.zarr/0", "Σ/αΣ.mrc", "a:b/c.st", "top.mrc", "x/y.OME.TIFF"]


@pytest.mark.parametrize(("directory", "fmt", "members"), [
    ("maps", "mrc", ["maps/a.mrc", "maps/b.MRC.gz"]),  # (not maps0/, maps-x/ nor .mrcs; any case, compressed)
    ("maps/", "mrc", ["maps/a.mrc", "maps/b.MRC.gz"]),
    ("/maps", "mrcs", ["maps/c.mrcs"]),
    ("map", "mrc", []),  # (the file 'map' is in the set's folder, but no mrc file)
    ("", "mrc", ["Σ/αΣ.mrc", "maps/a.mrc", "maps/b.MRC.gz", "maps0/a.mrc", "maps-x/a.mrc", "top.mrc"]),
    ("tilts", "tiff", ["tilts/TS_01/a.tif", "tilts/TS_01/b.TIFF.zst", "tilts/TS_02/a.tif"]),
    ("tilts/TS_01", "tif", ["tilts/TS_01/a.tif", "tilts/TS_01/b.TIFF.zst"]),
    ("vol", "zarr", ["vol/a.zarr", "vol/b.ZARR", "vol/c.ome.zarr"]),
    ("vol", "ome-zarr", ["vol/c.ome.zarr"]),
    ("x", "ome-tiff", ["x/y.OME.TIFF"]),
    ("a:b", None, ["a:b/c.st"]),
    ("tilts", "other", ["tilts/TS_01/a.tif", "tilts/TS_01/b.TIFF.zst", "tilts/TS_02/a.tif", "tilts/ts.mdoc"]),
])
def test_image_set_members(directory, fmt, members):
    paths = sorted(MEMBER_PATHS)
    for order in (paths, paths[::-1]):
        m = Manifest(tuple(ManifestFile(p) for p in order), C1)
        assert sorted(set_members(m, directory, fmt)) == sorted(members)


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
    annexfiles.register_urls(ds, {"maps/map_full.mrc": ["https://example.org/full.mrc", "s3://bucket/full.mrc"]})

    commit, files = annexfiles.list_files(ds)
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
    annexfiles.register_urls(cat / SUB, {"maps/map_full.mrc": "https://mirror.example.org/full.mrc"})
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


# ------------------------------------------------------------------------------------------ header facts

BAD_HEADERS = [  # (headers, field under files[0].headers, words of the message)
    ({"mrc": {"dimensions": [[1], [2], [3]]}}, "mrc.dimensions[0]", "must be a whole number, not a list of 1 item"),
    ({"mrc": {"dimensions": [10**30, 1, 1]}}, "mrc.dimensions[0]", "is out of range: it must be from 1 to"),
    ({"mrc": {"dimensions": [0, 4, 4]}}, "mrc.dimensions[0]", "is out of range"),
    ({"mrc": {"dimensions": [4, 4, 4, 4, 4]}}, "mrc.dimensions", "has 5 items; it must have at most 4"),
    ({"mrc": {"dimensions": [10**7, 10**7, 10**7]}}, "mrc.dimensions", "multiply to 1e+21 voxels"),
    ({"mrc": {"dimensions": [True, 4, 4]}}, "mrc.dimensions[0]", "must be a whole number, not true"),
    ({"mrc": {"voxel_size_A": [-1.0, 1.0, 1.0]}}, "mrc.voxel_size_A[0]", "is out of range"),
    ({"mrc": {"voxel_size_A": [1e300, 1.0, 1.0]}}, "mrc.voxel_size_A[0]", "is out of range"),
    ({"mrc": {"voxel_size_A": ["1.0", 1.0, 1.0]}}, "mrc.voxel_size_A[0]", "must be a number or null, not '1.0'"),
    ({"mrc": {"kind": "volume\n"}}, "mrc.kind", "is not one of image, image-stack, volume, volume-stack"),
    ({"mrc": {"labels": ["x" * 81]}}, "mrc.labels[0]", "is 81 characters long; it must be at most 80"),
    ({"mrc": {"labels": ["a\u202eb"]}}, "mrc.labels[0]", "contains the character U+202E"),
    ({"mrc": {"axis_order": "XYZ\n"}}, "mrc.axis_order", "is 4 characters long"),
    ({"mrc": {"stats": {"min": "low"}}}, "mrc.stats.min", "must be a number or null"),
    ({"mrc": {"stats": {"min": 1.0, "median": 2.0}}}, "mrc.stats.median", "unknown header fact 'median'"),
    ({"size_bytes": -1}, "size_bytes", "is out of range"),
    ({"size_bytes": True}, "size_bytes", "must be a whole number, not true"),
    ({"type": "exe"}, "type", "'exe' is not one of mrc, mdoc, epu, xml, dm, emd, tia, bcf, tiff, eer, unknown"),
    ({"problems": "one"}, "problems", "must be a list, not 'one'"),
    ({"problems": [1]}, "problems[0]", "must be text, not 1"),
    ({"mdoc": {"montage": 1}}, "mdoc.montage", "must be true or false, not 1"),
    ({"mdoc": {"image_size": [8]}}, "mdoc.image_size", "has 1 items; it must have at least 2"),
    ({"mdoc": {"image_file": ["a"]}}, "mdoc.image_file", "must be one line of text"),
    ({"epu": {"binning": 0}}, "epu.binning", "is out of range: it must be above 0"),
    ({"acquisition": {"magnification": 1.5}}, "acquisition.magnification", "must be a whole number, not 1.5"),
    ({"acquisition": {"tilt_angles_deg": [0.0, "@1e999"]}}, "acquisition.tilt_angles_deg[1]", "inf is out of range"),
    ({"acquisition": {"detector_mode": {"a": 1}}}, "acquisition.detector_mode", "an object of 1 field is not one"),
    ({"acquisition": {"collected": "2024\u2028"}}, "acquisition.collected", "contains the character U+2028"),
    ({"xml": {"root": 5}}, "xml.root", "must be text, not 5"),
    ({"payload": {"deep": [1, 2]}}, "payload", "unknown header fact 'payload'"),
]


def _with_headers(headers: object) -> str:
    entry = {"path": "maps/a.mrc", "size": 10, "key": None, "urls": [], "headers": headers}
    # ("@1e999": a number JSON can write and Python reads as infinity)
    return json.dumps({"manifest_version": 1, "commit": C1, "files": [entry]}, indent=1).replace('"@1e999"', "1e999")


@pytest.mark.parametrize(("headers", "field", "words"), BAD_HEADERS)
def test_header_facts_are_checked_for_type_and_range(headers, field, words):
    text = _with_headers(headers)
    manifest, _doc, problems = parse(text, MAN)
    assert manifest is None
    (problem,) = [p for p in problems if p.field == f"files[0].headers.{field}"]
    assert words in problem.message and problem.line > 1 and problem.hint.startswith("header facts are read")


def test_a_lone_surrogate_is_a_located_problem_not_a_crash():
    """JSON may escape half a UTF-16 pair ("\\ud800"), which msgspec cannot encode when it words its error: a
    value of the wrong type that is such text is reported like any other."""
    text = _with_headers({"type": "mrc"}).replace('"size": 10', '"size": "\\ud800"')
    manifest, _doc, problems = parse(text, MAN)
    assert manifest is None
    (problem,) = problems
    assert problem.field == "files[0].size" and problem.message.startswith("size must be a whole number") \
        and problem.line > 1


def test_header_facts_of_every_extractor_are_valid(tmp_path: Path):
    """What each extractor writes into a manifest passes the checks: the examples' manifests, an MRC volume and
    image, a SerialEM .mdoc and an EPU XML file (through read_headers, as `openem manifest` reads them)."""
    from openem_build.data import headers

    from .annex_helpers import write_mrc
    from .test_instrument_metadata import epu_xml, tilt_series_mdoc

    seen = 0
    for path in sorted((Path(__file__).parent.parent / "datasets").glob("*/manifest.json")):
        for entry in json.loads(path.read_text("utf-8"))["files"]:
            if entry.get("headers"):
                assert headers.problems(entry["headers"]) == [], (path, entry["path"])
                seen += 1
    write_mrc(tmp_path / "v.mrc", (8, 8, 8), 1.1, 0)
    write_mrc(tmp_path / "i.mrc", (1, 8, 8), 0.7, 1)
    (tmp_path / "t.mdoc").write_text(tilt_series_mdoc(), encoding="utf-8")
    (tmp_path / "e.xml").write_text(epu_xml(), encoding="utf-8")
    for name in ("v.mrc", "i.mrc", "t.mdoc", "e.xml"):
        facts = read_headers(name, tmp_path / name)
        assert facts and headers.problems(facts) == [], name
    assert seen > 5


def test_extracted_headers_are_kept_within_what_a_manifest_records(tmp_path: Path):
    """An MRC header that lies (10^9 pixels a row, a negative cell, control characters in a label) gives
    header facts without the facts that are out of range, and a note on each: `openem manifest` never writes a
    manifest that validation refuses."""
    import mrcfile
    import numpy as np

    from openem_build.data import headers

    path = tmp_path / "lying.mrc"
    with mrcfile.new(path) as m:
        m.set_data(np.zeros((4, 4), np.float32))
        m.header.nx, m.header.mx = 1_000_000_000, 1_000_000_000
        m.header.cella.x = -5.0
        m.header.label[0] = b"ok \x1b[2J"
        m.header.nlabl = 1
    facts = read_headers("lying.mrc", path)
    assert facts is not None and headers.problems(facts) == []
    assert "dimensions" not in facts["mrc"] and "voxel_size_A" not in facts["mrc"]
    assert facts["mrc"]["kind"] == "image"
    notes = [p for p in facts["problems"] if "left out" in p]
    assert sorted(n.split(" (")[0] for n in notes) == ["header fact image.dimensions", "header fact mrc.dimensions",
                                                       "header fact mrc.voxel_size_A"]
    assert parse(_with_headers(facts), MAN)[2] == []
    # Whatever an extractor gives, sanitise keeps only what validates (or nothing).
    for value in ({"mrc": {"dimensions": [1, 2]}, "problems": ["a\nb"]}, {"x": 1}, {"mrc": [1]},
                  {"acquisition": {"pixel_size_A": float("nan"), "software": "s\x00"}, "type": "epu"},
                  {"mrc": {"dimensions": [10**7] * 3}}, {"problems": [str(i) for i in range(500)]}):
        kept = headers.sanitise(value)
        assert kept is None or headers.problems(kept) == [], value


def test_the_header_types_agree_with_json_schema():
    """The msgspec types of the header facts (made from the schema) say exactly what jsonschema says, on valid
    facts and on every damage of them (types swapped, ranges left, unknown keys)."""
    import random

    from openem_build.data import header_types, headers

    valid = [json.loads(p.read_text("utf-8"))["files"] for p in
             sorted((Path(__file__).parent.parent / "datasets").glob("*/manifest.json"))]
    samples = [e["headers"] for files in valid for e in files if e.get("headers")]
    swaps = [None, True, False, 0, -1, 1.5, 1e20, "", "x", "a\x01", [], [1], {}, {"k": 1}, 10**7, 2**63, -2**31 - 1,
             2**64 + 1, 10**400, "\ud800", "x" * 301]
    rng = random.Random(0)

    def leaves(value, pointer=()):
        yield pointer
        if isinstance(value, dict):
            for k, v in value.items():
                yield from leaves(v, (*pointer, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from leaves(v, (*pointer, i))

    checked = 0
    for sample in samples:
        for pointer in list(leaves(sample))[1:]:
            for new in rng.sample(swaps, 6) + ["extra"]:
                value = json.loads(json.dumps(sample))
                parent = value
                for part in pointer[:-1]:
                    parent = parent[part]
                if new == "extra" and isinstance(parent, dict):
                    parent["not_a_fact"] = 1
                else:
                    parent[pointer[-1]] = new
                want = not list(headers._validator().iter_errors(value))
                assert header_types.fits(value) == want, (pointer, new)
                assert header_types.all_fit([sample, value]) == want, (pointer, new)
                checked += 1
    assert checked > 500


def test_the_header_types_are_made_from_the_schema():
    """Every object of headers.schema.json is a Struct with exactly its properties, and a keyword the translation
    does not know is refused rather than ignored."""
    import msgspec

    from openem_build.data import header_types
    from openem_build.records.validate import schema

    root = schema("headers")
    top = header_types.types()
    assert [f.name for f in msgspec.structs.fields(top)] == list(root["properties"])
    mrc = msgspec.inspect.type_info(top).fields
    mrc = next(f.type for f in mrc if f.name == "mrc")
    assert isinstance(mrc, msgspec.inspect.StructType)  # (UNSET, what a value may leave out, is no type here)
    assert [f.name for f in mrc.fields] == list(root["$defs"]["mrc"]["properties"])
    with pytest.raises(header_types.Unsupported, match="const"):
        header_types._type({"type": "string", "const": "x"}, root, "X")
    with pytest.raises(header_types.Unsupported, match="additionalProperties"):
        header_types._type({"type": "object", "properties": {}}, root, "X")


# ------------------------------------------------------------------------------------------ links out

def test_a_symlinked_subdataset_is_never_read(cat: Path, tmp_path: Path, capsys):
    """datasets/<id>/data as a link to a DataLad dataset elsewhere: validation refuses it without listing that
    dataset, and neither `openem manifest`, from_repo nor the previews read it."""
    from openem_build.data import gallery

    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(cat / SUB), elsewhere)
    (elsewhere / "secret.txt").write_text("a file of another repository\n")
    annex.save(elsewhere, "more")
    (cat / SUB).symlink_to(elsewhere, target_is_directory=True)
    found = problems_of(cat)
    assert f"{SUB}: is a symbolic link: the subdataset must be a folder of the catalogue (validation and `openem " \
           "manifest` would read whatever it points to) — remove the link and register the subdataset with " \
           f"`datalad clone -d . <url> {SUB}`" in found
    assert not any("secret.txt" in p or "stale manifest" in p for p in found), found
    before = (cat / MAN).read_bytes()
    assert main(["--root", str(cat), "manifest", IDENT]) == 1
    assert "is a symbolic link: not read" in capsys.readouterr().err
    assert (cat / MAN).read_bytes() == before
    with pytest.raises(annex.AnnexError, match="is a symbolic link"):
        from_repo(cat / SUB)
    folder = cat / "datasets" / IDENT
    previews = {p.name: p.read_bytes() for p in (folder / "previews").iterdir()}  # (made by `openem add`)
    made, notes = gallery.write(folder, cat / SUB, [("maps", "maps", "mrc")], ["maps/map_full.mrc"])
    assert made is None and notes == [f"{cat / SUB} is a symbolic link: no previews made"]
    assert {p.name: p.read_bytes() for p in (folder / "previews").iterdir()} == previews


def test_content_linked_out_of_the_dataset_is_not_read(cat: Path, tmp_path: Path):
    """A file of the installed subdataset whose content link is turned to a file outside the dataset: its header
    is not read and no preview is made of it (the other files are)."""
    from openem_build.data import gallery

    from .annex_helpers import write_mrc

    outside = tmp_path / "outside.mrc"
    write_mrc(outside, (4, 4, 4), 9.0, 7)
    link = cat / SUB / "maps" / "map_full.mrc"
    assert link.is_symlink()  # (annexed content: a link into .git/annex/objects, which is read)
    link.unlink()
    link.symlink_to(outside)
    manifest = from_repo(cat / SUB, read_headers=read_headers)
    assert manifest.by_path["maps/map_full.mrc"].headers is None
    assert manifest.by_path["maps/map_half1.mrc"].headers["mrc"]["dimensions"] == [16, 16, 16]
    folder = cat / "datasets" / IDENT
    made, _notes = gallery.write(folder, cat / SUB, [("maps", "maps", "mrc")],
                                 ["maps/map_full.mrc", "maps/map_half1.mrc"])
    assert made == ["maps/map_half1.mrc"]


def test_headers_at_the_edges_of_their_ranges_validate_and_build(tmp_path: Path):
    """Whatever validation accepts, the build builds: header facts at the ends of every range (the largest
    images, the smallest voxels, long labels, the extreme float32 statistics) give a site and an EMPIAR file."""
    from openem_build.site.build import build_site

    from .conftest import EXAMPLE, ROOT

    root = tmp_path / "catalogue"
    for name in ("datasets", "docs", "overrides"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    path = root / "datasets" / EXAMPLE / MANIFEST_FILE
    manifest = parse(path.read_text("utf-8"), MAN)[0]
    edge = {"dimensions": [10**7, 10**7, 1], "kind": "image", "mode": -2**31, "dtype": None,
            "voxel_size_A": [0.73, 0.73, None], "cell_A": [3.4e38, -3.4e38, None], "sampling": [2**31 - 1, 1, 0],
            "labels": ["é" * 80, ""], "stats": {"min": -3.4e38, "max": 3.4e38, "mean": None, "rms": 0.0},
            "extended_header": {"type": "FEI2", "bytes": -1}, "axis_order": "??Z", "data_bytes": 2**63 - 1}
    facts = {"type": "mrc", "size_bytes": 2**63 - 1, "mrc": edge, "problems": ["ü" * 2000],
             "acquisition": {"tilt_angles_deg": [-360, 360.0], "magnification": 10**8, "frames": 10**6}}
    files = tuple(replace(f, headers=facts) for f in manifest.files)
    path.write_text(dumps(replace(manifest, files=files)), encoding="utf-8")
    # (The edge facts contradict the entry's magnification and frames: the cross-checks would say so.)
    entry = root / "datasets" / EXAMPLE / "dataset.yaml"
    text = entry.read_text("utf-8")
    for declared in ("  magnification: 165000\n", "  frames_per_movie: 1096\n"):
        assert declared in text
        text = text.replace(declared, "")
    entry.write_text(text, encoding="utf-8")
    result = load_catalogue(root)
    assert [p.text() for p in result.problems if p.severity == "error"] == []
    site = build_site(root, tmp_path / "site")
    sets = json.loads((site / "datasets" / EXAMPLE / "empiar.json").read_text("utf-8"))["imagesets"]
    assert any(s.get("image_width") == 10**7 for s in sets)
