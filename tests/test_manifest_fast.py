"""The fast paths of manifest validation give exactly what the plain checks give.

:func:`openem_build.manifest.parse` proves a valid manifest valid with checks over whole columns and leaves
anything else to the entry-by-entry checks; :func:`check_against_yaml` finds image-set members by bisection. This
file keeps a copy of the implementations before those fast paths (the reference) and compares both on many
generated, damaged manifests: the same record, the same problems (message, line, column, field, order).
"""

from __future__ import annotations

import difflib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import Any

import pytest

from openem_build import manifest as M
from openem_build.data import headers as header_facts
from openem_build.data.annex import BACKEND_ALGORITHMS, DIGEST_LENGTH, KeyInfo
from openem_build.model import CHECKSUM_PREFERENCE, Manifest, ManifestFile
from openem_build.problems import Problem
from openem_build.validate import is_placeholder
from openem_build.yamlsafe import Located, lookup
from openem_build.yamlsafe import parse as parse_yaml

SHOWN = "datasets/x/manifest.json"

# ------------------------------------------------------------------------------------------ the reference
# Copied from openem_build/manifest.py and openem_build/data/annex.py before the fast paths; do not optimise.

_KEY = re.compile(r"(?P<backend>[A-Z0-9_]+)(?P<fields>(?:-[a-zA-Z][0-9]+)*)--(?P<name>.+)", re.S)
_HEX = re.compile(r"[0-9a-f]+")
_RANK = {a: i for i, a in enumerate(CHECKSUM_PREFERENCE)}
_CONTROL_IN_PATH = re.compile(r"[\x00-\x1f\x7f]")


def ref_parse_key(key: str) -> KeyInfo | None:
    m = _KEY.fullmatch(key)
    if not m:
        return None
    backend = m["backend"]
    size = None
    for part in m["fields"].split("-")[1:]:
        if part[0] == "s":
            size = int(part[1:])
    base = backend if backend in BACKEND_ALGORITHMS else backend[:-1] if backend.endswith("E") else ""
    algo = BACKEND_ALGORITHMS.get(base)
    checksums: tuple[tuple[str, str], ...] = ()
    if algo:
        name = m["name"]
        digest = name.split(".", 1)[0] if base != backend else name
        if len(digest) == DIGEST_LENGTH[algo] and _HEX.fullmatch(digest):
            checksums = ((algo, digest),)
    return KeyInfo(backend, size, checksums)


def ref_order_checksums(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    merged = dict(pairs)
    if len(merged) < 2:
        return tuple(merged.items())
    return tuple(sorted(merged.items(), key=lambda kv: (_RANK.get(kv[0], len(_RANK)), kv[0])))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    merged = dict(pairs)
    if len(merged) == len(pairs):
        return merged
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError(f"the key {k!r} appears twice in one object")
        seen[k] = v
    return seen


def _field(pointer: Iterable[str | int]) -> str:
    out = ""
    for part in pointer:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _safe_path(path: str) -> bool:
    if not path or path.startswith("/") or _CONTROL_IN_PATH.search(path):
        return False
    parts = path.split("/")
    return "" not in parts and "." not in parts and ".." not in parts


def ref_parse(text: str, shown: str) -> tuple[Manifest | None, M.JsonDoc | None, list[Problem]]:
    hint = "regenerate it with `openem manifest <id>` instead of editing it by hand"
    # (strict JSON — duplicate keys, NaN, depth — is one shared step before either path, not a fast path)
    data, broken = M.load_json(text, shown, hint)
    if broken is not None:
        return None, None, [broken]
    doc = M.JsonDoc(text, data)
    problems: list[Problem] = []

    def add(pointer: tuple[str | int, ...], message: str, fix: str = hint, key: bool = False) -> None:
        line, col = doc.where(pointer, key=key)
        problems.append(Problem(shown, line, col, _field(pointer), message, fix))

    algos, file_fields, top_fields, key_rx, url_rx, commit_rx = M._rules()
    algo_names = algos.keys()
    if not isinstance(data, dict):
        add((), "must be a JSON object with commit and files")
        return None, doc, problems
    for name in sorted(set(data) - top_fields):
        add((name,), f"unknown field '{name}'", f"known fields: {', '.join(sorted(top_fields))}", key=True)
    if data.get("manifest_version") != M.MANIFEST_VERSION:
        add(("manifest_version",),
            f"manifest_version must be {M.MANIFEST_VERSION}, not {data.get('manifest_version')!r}")
    commit = data.get("commit")
    if not (isinstance(commit, str) and commit_rx.fullmatch(commit)):
        add(("commit",), f"commit must be a full 40-character commit hash, not {commit!r}")
    ident = data.get("datalad_id")
    if ident is not None and not (isinstance(ident, str) and re.fullmatch(r"[0-9a-f-]{36}", ident)):
        add(("datalad_id",), f"datalad_id must be a DataLad dataset id (a UUID), not {ident!r}")
    files = data.get("files")
    if not isinstance(files, list):
        add(("files",), "files must be a list of file entries")
        return None, doc, problems
    records: list[ManifestFile] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(files):
        if len(problems) > M.MAX_REPORTED:
            break
        here = ("files", i)
        if not isinstance(entry, dict):
            add(here, "each file entry must be a JSON object")
            continue
        unknown = entry.keys() - file_fields
        for name in sorted(unknown):
            add((*here, name), f"unknown field '{name}'", f"known fields: {', '.join(sorted(file_fields))}",
                key=True)
        path = entry.get("path")
        if not isinstance(path, str) or not _safe_path(path):
            add((*here, "path"), f"path {path!r} is not a relative path inside the dataset",
                "paths use / separators, no leading /, no empty, '.' or '..' parts and no control characters")
            continue
        if path in seen:
            add((*here, "path"), f"'{path}' is listed twice (also files[{seen[path]}])")
        seen.setdefault(path, i)
        size = entry.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 1 << 63):
            add((*here, "size"), f"size must be a whole number of bytes (at most 2⁶³ − 1) or null, not "
                f"{header_facts.brief(size)}")
            size = None
        key = entry.get("key")
        if key is not None and not (isinstance(key, str) and key_rx.fullmatch(key)):
            add((*here, "key"), f"{key!r} is not a git-annex key")
            key = None
        sums = []
        given = algo_names & entry.keys()
        for algo, rx in (algos.items() if given else ()):
            if algo not in given:
                continue
            value = entry.get(algo)
            if value is None:
                continue
            if not (isinstance(value, str) and rx.fullmatch(value)):
                add((*here, algo), f"{algo} must be the lowercase hex digest, not {value!r}")
            else:
                sums.append((algo, value))
        urls = entry.get("urls", [])
        if not isinstance(urls, list) or (urls and not all(isinstance(u, str) and url_rx.fullmatch(u)
                                                          for u in urls)):
            add((*here, "urls"), "urls must be a list of URLs without spaces or quotes")
            urls = []
        headers = entry.get("headers")
        if headers is not None and not isinstance(headers, dict):
            add((*here, "headers"), "headers must be a JSON object")
            headers = None
        for pointer, message, named in header_facts.problems(headers) if headers else ():  # (the shared check)
            add((*here, "headers", *pointer), message, "header facts are read from the files: regenerate them "
                "with `openem manifest <id>` instead of editing them by hand", key=named)
        if key is not None:
            info = ref_parse_key(key)
            if info and info.size is not None and size is not None and info.size != size:
                add((*here, "size"), f"size {size} differs from the size in the key ({info.size})")
            for algo, value in info.checksums if info else ():
                if dict(sums).get(algo, value) != value:
                    add((*here, algo), f"the {algo} checksum differs from the one in the key ({value})")
        records.append(ManifestFile(path, size, key, ref_order_checksums(sums), tuple(urls),
                                    MappingProxyType(headers) if headers else None))
    if len(problems) > M.MAX_REPORTED:
        problems = problems[:M.MAX_REPORTED]
        problems.append(Problem(shown, 0, 0, "", "more problems not shown: the file is badly damaged", hint))
    if problems:
        return None, doc, problems
    manifest = Manifest(tuple(sorted(records, key=lambda f: f.path)), commit, ident, source=shown)
    return manifest, doc, problems


def _plain(name: str) -> str:
    name = name.lower()
    for suffix in M._COMPRESSION:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _under(path: str, directory: str) -> bool:
    directory = directory.strip("/")
    return directory in ("", ".") or path == directory or path.startswith(directory + "/")


def ref_set_members(manifest: Manifest, directory: str, fmt: str | None) -> list[str]:
    directory = directory.strip("/")
    if directory in ("", "."):
        inside = [f.path for f in manifest.files]
    else:
        inside = [f.path for f in manifest.files if f.path == directory or f.path.startswith(directory + "/")]
    if fmt in M.FOLDER_FORMATS:
        roots = set()
        for path in inside:
            parts = path.split("/")
            for i, part in enumerate(parts[:-1]):
                if part.lower().endswith(M.FORMAT_EXTENSIONS[fmt]):
                    roots.add("/".join(parts[: i + 1]))
                    break
        return sorted(roots)
    if fmt not in M.FORMAT_EXTENSIONS:
        return inside
    return [p for p in inside if _plain(p.rsplit("/", 1)[-1]).endswith(M.FORMAT_EXTENSIONS[fmt])]


def _groups(members: Sequence[str], directory: str) -> int:
    depth = 0 if directory.strip("/") in ("", ".") else directory.strip("/").count("/") + 1
    return len({"/".join(p.split("/")[: depth + 1]) for p in members if p.count("/") > depth})


def ref_check_against_yaml(doc: Located, shown: str, manifest: Manifest, ident: str = "<id>") -> list[Problem]:
    located = M._located
    d = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Problem] = []
    mshown = manifest.source or M.MANIFEST_FILE
    regenerate = f"if the files changed, save them in the DataLad dataset and run `openem manifest {ident}`"
    top = sorted({f.path.split("/", 1)[0] for f in manifest.files if "/" in f.path})
    sets = lookup(d, "data", "image_sets")
    for i, image_set in enumerate(sets if isinstance(sets, list) else []):
        directory, fmt, count = (lookup(image_set, k) for k in ("directory", "format", "count"))
        here = ("data", "image_sets", i)
        if not isinstance(directory, str) or is_placeholder(directory):
            continue
        if not any(_under(f.path, directory) for f in manifest.files):
            close = difflib.get_close_matches(directory.strip("/"), top, n=1, cutoff=0.75)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"folders in the dataset: {', '.join(top[:12])}" if top else regenerate)
            problems.append(located(shown, doc, (*here, "directory"),
                                    f"no file listed in {mshown} lies in '{directory}'", hint))
            continue
        known_fmt = isinstance(fmt, str) and (fmt in M.FORMAT_EXTENSIONS)
        members = ref_set_members(manifest, directory, fmt if known_fmt else None)
        if known_fmt and not members:
            found = Counter(M.format_of(f.path) for f in manifest.files if _under(f.path, directory))
            listing = ", ".join(f"{k} ×{v}" for k, v in found.most_common(4))
            problems.append(located(shown, doc, (*here, "format"),
                                    f"'{directory}' holds no {fmt} file in {mshown} (it holds: {listing})",
                                    f"set format to what the files are, e.g. '{found.most_common(1)[0][0]}'"))
            continue
        if isinstance(count, int) and not isinstance(count, bool):
            n = len(members)
            if count not in (n, _groups(members, directory)):
                what = f"{fmt} {'folder' if fmt in M.FOLDER_FORMATS else 'file'}" if known_fmt else "file"
                problems.append(located(shown, doc, (*here, "count"),
                                        f"count is {count} but {mshown} lists {n} {what}{'s' * (n != 1)} in "
                                        f"'{directory}'", f"set `count: {n}`, or {regenerate}"))
    commit = lookup(d, "data", "commit")
    if isinstance(commit, str) and not is_placeholder(commit) and manifest.commit and commit != manifest.commit:
        problems.append(located(shown, doc, ("data", "commit"),
                                f"{commit} is not the commit {mshown} describes ({manifest.commit})",
                                f"set `commit: \"{manifest.commit}\"`, or check out {commit} in the subdataset "
                                f"and run `openem manifest {ident}`"))
    return problems


# ------------------------------------------------------------------------------------------ generated manifests

C1 = "1" * 40
UUID = "9b5d9dd1-aaf5-4653-aea7-da7209a15459"
NAMES = ["movies/m_0001.eer", "movies/m_0002.tiff", "maps/a.mrc", "maps/b.MRC.gz", "tilts/TS_01/a.tif",
         "tilts/TS_01/ts.mdoc", "vol/a.zarr/0/0", "vol/a.zarr/.zattrs", "notes é.txt", "Σ/αΣ.mrc", "README",
         "a:b/c:d.mrc", "deep/er/st/ill/x.st", "x.zst", "q\"uote.mrc", "back\\slash.mrc", "sp ace/f.mrc"]


def _hex(rng: random.Random, algo: str) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(DIGEST_LENGTH[algo]))


def _row(rng: random.Random, path: str) -> dict[str, Any]:
    """One valid entry, of the kinds git-annex and git give."""
    size = rng.choice([0, 1, 12, 3000, 10**12])
    kind = rng.choice(["MD5E", "MD5E", "SHA256E", "SHA256E", "SHA256", "WORM", "URL", "git", "chunked", "noext",
                       "two"])
    ext = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    row: dict[str, Any] = {"path": path, "size": size}
    if kind in ("MD5E", "noext"):
        md5 = _hex(rng, "md5")
        row |= {"key": f"MD5E-s{size}--{md5}{ext if kind == 'MD5E' else ''}", "md5": md5}
    elif kind in ("SHA256E", "two"):
        sha = _hex(rng, "sha256")
        row |= {"key": f"SHA256E-s{size}--{sha}{ext}", "sha256": sha}
        if kind == "two":
            row["md5"] = _hex(rng, "md5")
    elif kind == "SHA256":
        sha = _hex(rng, "sha256")
        row |= {"key": f"SHA256-s{size}--{sha}", "sha256": sha}
    elif kind == "chunked":
        sha = _hex(rng, "sha256")
        row |= {"key": f"SHA256E-s{size}-S1048576-C2--{sha}{ext}", "sha256": sha}
    elif kind == "WORM":
        row |= {"key": f"WORM-s{size}-m1700000000--{path.rsplit('/', 1)[-1].replace(' ', '_')}"}
    elif kind == "URL":
        row |= {"key": "URL--http&c%%example.org%a.mrc", "size": None}
    else:  # kept in git
        row |= {"key": None, "sha256": _hex(rng, "sha256"), "md5": _hex(rng, "md5")}
    row["urls"] = rng.choice([[], [f"https://example.org/{path.replace(' ', '%20').replace(chr(92), '')}"],
                              ["s3://bucket/k", "http://example.org/a:b"]])
    if "\"" in path or "\\" in path:
        row["urls"] = []
    if rng.random() < 0.3:
        row["headers"] = rng.choice([{"mrc": {"dimensions": [8, 8, 8], "voxel_size_A": [1.5, 1.5, 1.5]}},
                                     {"type": "mdoc", "mdoc": {"titles": ["a: b"], "image_size": [8, 8]},
                                      "acquisition": {"software": "k:1"}}, {}])
    return row


def _manifest(rng: random.Random) -> dict[str, Any]:
    paths = rng.sample(NAMES, rng.randint(1, 8))
    head: dict[str, Any] = {"manifest_version": 1, "commit": C1}
    if rng.random() < 0.8:
        head["datalad_id"] = UUID if rng.random() < 0.9 else None
    return head | {"files": [_row(rng, p) for p in sorted(paths)]}


def _text(data: Any, rng: random.Random) -> str:
    """``data`` as JSON: mostly in the layout of manifest.dumps (one entry per line), sometimes otherwise."""
    if rng.random() < 0.15 or not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return json.dumps(data, indent=rng.choice([None, 1]), ensure_ascii=rng.random() < 0.5)
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in data.items() if k != "files"]
    rows = [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) for r in data["files"]]
    lines += ['  "files": ['] + [f"    {r}," for r in rows[:-1]] + [f"    {r}" for r in rows[-1:]] + ["  ]"]
    return "\n".join(lines) + "\n}\n"


BAD_VALUES = {
    "path": [1, None, [], {"a": 1}, True, "", "/abs", "a//b", "a/", ".", "./a", "a/.", "..", "a/../b", "a\nb",
             "a\x7fb", "a\tb", "a\u2028b", "a\u00a0b", "..a/b..", "ok/é", "x.mrc"],
    "size": [-1, True, False, 1.5, "12", None, 10**30, 0, 3000, 12, -0],
    "key": [5, "", "not a key", "MD5E-s10--", "MD5E-s10--a b", "MD5E-s10--a/b", "MD5E-s10--a\x01b", "MD5E--x",
            "MD5E-s12--" + "0" * 32 + ".mrc", "MD5E-s3000--" + "f" * 32, "SHA256E-s12--" + "A" * 64 + ".mrc",
            "SHA256E-s3000--" + "0" * 64 + ".tif", "MD5E-s1-m5--" + "1" * 32 + ".mrc", "SHA256E-s0012--x.mrc",
            "SHA256E-s3000--" + "0" * 63 + ".mrc", "SHA256E-sNone--" + "0" * 64, "md5e-s1--x", "MD5E-s12--é.mrc",
            "SHA256-s12--" + "0" * 64 + ".mrc", "BLAKE2B256E-s12--" + "0" * 64 + ".mrc", "WORM-s3000--x", None],
    "md5": ["A" * 32, "a" * 31, None, 5, "g" * 32, "0" * 32, "a" * 33, "a" * 31 + "\n"],
    "sha256": ["0" * 64, None, "0" * 63 + "X", [], "0" * 64 + " "],
    "urls": [None, "x", [1], ["javascript alert(1)"], ["ftp://x"], ["https://a b"], ["https://a\u00a0b"],
             ["s3://bucket/key"], ["https:"], [], ["https://ok", "https://ok"], ["http://a\"b"], ["HTTPS://X"],
             ["https://\u2028"], ["https://é"], ["1http://x"], ["https://x<y"]],
    "headers": [[], "x", {}, {"a": {"b": 1}}, {"a": "x:y", "b": [1, 2, {"c": "d:e"}]}, None, 5,
                {"mrc": {"dimensions": [[1], [2], [3]]}}, {"mrc": {"dimensions": [10**30, 1, 1]}},
                {"mrc": {"dimensions": [10**7, 10**7, 10**7]}}, {"size_bytes": True}, {"mrc": {"labels": ["a\u202eb"]}},
                {"type": "mrc", "mrc": {"dimensions": [4, 4, 4], "voxel_size_A": [1.0, 1.0, 1.0]}}],
}


def _mutate(data: dict[str, Any], rng: random.Random) -> None:
    files = data["files"] if isinstance(data.get("files"), list) else []
    rows = [r for r in files if isinstance(r, dict)]
    what = rng.randrange(10)
    if what < 4 and rows:
        row = rng.choice(rows)
        field = rng.choice(list(BAD_VALUES))
        row[field] = rng.choice(BAD_VALUES[field])
    elif what == 5:
        rng.choice([*rows, data])[rng.choice(["colour", "sha1", "Path", "blake3"])] = rng.choice([1, "x", None])
    elif what == 4 and any(isinstance(r.get("key"), str) for r in rows):  # a key right up to its extension
        row = rng.choice([r for r in rows if isinstance(r.get("key"), str)])
        if rng.random() < 0.5:
            row["key"] += rng.choice([" x", "/x", "\x01", "\u2028", "\x7f", "é", ".gz"])
        else:
            row["size"], row["key"] = None, re.sub(r"-s\d+", "-sNone", row["key"], count=1)
    elif what == 6 and rows:
        a, b = rng.randrange(len(files)), rng.randrange(len(files))
        if rng.random() < 0.5:
            files[a], files[b] = files[b], files[a]  # unsorted
        else:
            files[a] = rng.choice(rows) | {"path": rng.choice(rows).get("path")}  # a path twice
    elif what == 7:
        field = rng.choice(["manifest_version", "commit", "datalad_id", "files"])
        data[field] = rng.choice([2, "1", 1.0, True, None, "HEAD", "A" * 40, "1" * 39, [], {}, "x" * 36,
                                  UUID.upper(), [1, 2], "0" * 40])
    elif what == 8:
        del data[rng.choice([k for k in data if k != "files"] or ["files"])]
    elif files:
        files.append(rng.choice([1, "x", None, [], {}, {"path": "zz/new.mrc"}, {"size": 1}]))


def _text_mutations(text: str, rng: random.Random) -> str:
    """Damage the JSON text itself: duplicate keys, escapes, broken syntax."""
    what = rng.randrange(12)
    rows = [i for i, line in enumerate(text.split("\n")) if line.startswith("    {")]
    lines = text.split("\n")
    if what < 4 and rows:  # a key twice in one entry, the dropped value with or without ':'
        i = rng.choice(rows)
        pair = rng.choice(['"size": 1, ', '"path": "a:b", ', '"urls": ["https://x:y"], ', '"key": null, ',
                           '"md5": "' + "a" * 32 + '", ', '"path": "x\\u003a", ', '"headers": {}, '])
        lines[i] = lines[i].replace("{", "{" + pair, 1)
    elif what == 4:  # a top-level key twice
        lines.insert(1, rng.choice(['  "commit": "' + C1 + '",', '  "manifest_version": 1,',
                                    '  "files": [],', '  "datalad_id": null,']))
    elif what == 5 and rows:  # a key twice inside headers
        i = rng.choice(rows)
        lines[i] = lines[i].replace('"urls"', '"headers": {"a": 1, "a": "b:c"}, "urls"', 1)
    elif what == 6 and rows:  # a ':' written as an escape, balancing a dropped key in the count of ':'
        i = rng.choice(rows)
        lines[i] = lines[i].replace('"path": "', '"path": "\\u003a', 1).replace("{", '{"size": 5, ', 1)
    elif what == 7 and rows:  # escapes that are harmless
        i = rng.choice(rows)
        lines[i] = lines[i].replace('"path": "', rng.choice(['"path": "\\u00e9', '"path": "\\/', '"path": "\\t',
                                                             '"path": "\\"']), 1)
    elif what == 8:
        cut = rng.randrange(len(text))
        return text[:cut] + rng.choice(["", "}", ",", "\x00", "]]"]) + text[cut + 1:]
    elif what == 9:
        return rng.choice(["\ufeff" + text, text + "x", text.replace("1,", "NaN,", 1), "[" * 5000 + "]" * 5000,
                           text.replace('"size": 0', '"size": 1' + "0" * 5000, 1), "", "null", '"x"'])
    elif what == 10 and rows:  # very many problems
        i = rng.choice(rows)
        lines[i:i + 1] = [lines[i].replace('"path": "', f'"path": "/{n}', 1).rstrip(",") + "," for n in range(40)]
    return "\n".join(lines)


def _outcome(parse, text: str) -> tuple:
    """What ``parse`` gives, in comparable form (headers and sources are not part of record equality)."""
    try:
        manifest, doc, problems = parse(text, SHOWN)
    except Exception as exc:  # the reference may raise (a key with a huge size): the fast path must too
        return ("raised", type(exc))
    files = None if manifest is None else [(f, f.headers) for f in manifest.files]
    source = None if manifest is None else manifest.source
    return manifest, files, source, None if doc is None else doc.data, problems


def _cases(seed: int, n: int) -> Iterable[str]:
    rng = random.Random(seed)
    for _ in range(n):
        data = _manifest(rng)
        if rng.random() < 0.85:
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                _mutate(data, rng)
        text = _text(data, rng)
        if rng.random() < 0.3:
            text = _text_mutations(text, rng)
        yield text


@pytest.mark.parametrize("seed", range(4))
def test_parse_matches_the_reference_on_damaged_manifests(seed: int) -> None:
    valid = 0
    for text in _cases(seed, 700):
        got, want = _outcome(M.parse, text), _outcome(ref_parse, text)
        assert got == want, text
        if isinstance(want[0], Manifest) and want[0].files and "\\u" not in text:  # the fast path takes these
            valid += 1
            assert M._parse_valid(text, SHOWN) is not None, text
    assert valid > 100


def test_duplicate_keys_hidden_by_an_escaped_colon_are_found() -> None:
    # the dropped "size" would leave one ':' too many, and the \u003a adds one to the strings: counts agree
    text = _text(_manifest(random.Random(1)), random.Random(2))
    line = next(x for x in text.split("\n") if x.startswith("    {"))
    damaged = text.replace(line, line.replace('{"path": "', '{"size": 5, "path": "\\u003a', 1))
    manifest, _doc, problems = M.parse(damaged, SHOWN)
    assert manifest is None and "appears twice" in problems[0].message
    assert _outcome(M.parse, damaged) == _outcome(ref_parse, damaged)


@pytest.mark.parametrize("damage", ["", '"a": 1, "a": 2, ', '"a": "b:c", "a": 2, ', '"x": {"y": 1, "y": 1}, '])
def test_headers_far_down_a_long_manifest(damage: str) -> None:
    # the first entries decide how duplicate keys are looked for: here they have no headers, later ones have
    rng = random.Random(3)
    rows = [_row(rng, f"d/{i:04d}.mrc") for i in range(60)]
    for row in rows:
        row.pop("headers", None)
    for row in rows[40:]:
        row["headers"] = {"mrc": {"dimensions": [8, 8, 8], "space_group_meaning": "a: b"}}
    text = _text({"manifest_version": 1, "commit": C1, "files": rows}, random.Random(0))
    text = text.replace('"headers": {', '"headers": {' + damage, 1 if damage else 0)
    assert text.find('"headers"') > 4096
    want = _outcome(ref_parse, text)
    assert _outcome(M.parse, text) == want
    assert (M._parse_valid(text, SHOWN) is not None) == (not damage)


@pytest.mark.parametrize("text", [
    '{"manifest_version": 1, "commit": "' + C1 + '", "files": []}',
    '{"manifest_version": 1, "commit": "' + C1 + '", "files": [{"path": "a", "md5": "' + "a" * 31 + '"}, '
    '{"path": "b", "md5": "' + "b" * 31 + '"}]}',
    '{"manifest_version": 1, "commit": "' + C1 + '", "files": [{"path": "a", "size": 1, "size": 1}]}',
    '{"manifest_version": 1, "commit": "' + C1 + '", "files": [{"path": "a", "size": null, "key": "MD5E-s5--'
    + "0" * 32 + '", "md5": "' + "1" * 32 + '"}]}',
    '{"manifest_version": 1, "commit": "' + C1 + '", "files": [{"path": "b"}, {"path": "a", "key": "SHA256E-s'
    + "9" * 5000 + '--x"}]}',
    '{"manifest_version": 1, "commit": "' + C1 + '", "files": [{"path": "a", "headers": {"x": ' + "[" * 3000
    + "]" * 3000 + "}}]}",
])
def test_edge_cases_match_the_reference(text: str) -> None:
    assert _outcome(M.parse, text) == _outcome(ref_parse, text)


def test_the_string_tests_of_the_fast_path_cover_the_patterns() -> None:
    """The facts the fast path relies on instead of regular expressions."""
    space = re.compile(r"\s")
    for c in map(chr, range(sys.maxunicode + 1)):
        if c.isspace() or space.match(c) or _CONTROL_IN_PATH.match(c):
            assert c == " " or not c.isprintable(), hex(ord(c))  # unprintable: whitespace but ' ', controls
    for exts in M.FORMAT_EXTENSIONS.values():
        assert not any(e.endswith(M._COMPRESSION) for e in exts)
    for algo, rx in M._rules()[0].items():  # _all_hex: every checksum is lowercase hex of one length
        assert re.fullmatch(r"\^\[0-9a-f\]\{\d+\}\$", rx.pattern), (algo, rx.pattern)


# ------------------------------------------------------------------------------------------ image sets

DIRS = ["", ".", "/", "maps", "maps/", "/maps", "tilts", "tilts/TS_01", "vol", "Σ", "a:b", "movies", "nowhere",
        "map", "maps-x"]
MEMBER_PATHS = ["maps/a.mrc", "maps/b.MRC.gz", "maps0/a.mrc", "maps0", "maps1/a.mrc", "maps/c.mrc.GZ.gz",
                "maps/d.mrcs", "maps-x/a.mrc", "maps.txt", "maps", "map", "tilts/TS_01/a.tif",
                "tilts/TS_01/b.TIFF.zst", "tilts/TS_02/a.tif", "tilts/ts.mdoc", "vol/a.zarr/0/0", "vol/b.ZARR/.zattrs",
                "vol/c.ome.zarr/0", "Σ/αΣ.mrc", "Σ/x.ſt", "Σ/x.\u212aa", "a:b/c.st", "a:b/c.zst", "a:b/İ.tif",
                "movies/m.eer", "movies/m.EER.bz2", "movies/x.tiff.xz", "README", "top.mrc", "x/y.ome.tif",
                "x/y.OME.TIFF", "x/z.jpeg", "x/z.JPG", "x/z.h5", "x/z.img"]


def test_set_members_match_the_reference() -> None:
    rng = random.Random(0)
    formats = [*M.FORMAT_EXTENSIONS, "other", None]
    for _ in range(300):
        paths = rng.sample(MEMBER_PATHS, rng.randint(1, len(MEMBER_PATHS)))
        manifest = Manifest(tuple(ManifestFile(p) for p in (sorted(paths) if rng.random() < 0.7 else paths)), C1)
        for directory in DIRS:
            for fmt in formats:
                assert M.set_members(manifest, directory, fmt) == ref_set_members(manifest, directory, fmt)


def test_check_against_yaml_matches_the_reference() -> None:
    rng = random.Random(1)
    formats = [*M.FORMAT_EXTENSIONS, "other", "nonsense", 5]
    for _ in range(200):
        paths = rng.sample(MEMBER_PATHS, rng.randint(1, len(MEMBER_PATHS)))
        files = tuple(ManifestFile(p) for p in (sorted(paths) if rng.random() < 0.7 else paths))
        manifest = Manifest(files, C1, source=SHOWN)
        sets = [{"directory": rng.choice([*DIRS, "TODO", 3]), "format": rng.choice(formats),
                 "count": rng.choice([0, 1, 2, 3, 5, True, "2"])} for _ in range(rng.randint(0, 5))]
        doc = parse_yaml(json.dumps({"data": {"image_sets": sets, "commit": rng.choice([C1, "2" * 40])}}))
        want = ref_check_against_yaml(doc, "d.yaml", manifest, "x")
        assert M.check_against_yaml(doc, "d.yaml", manifest, None, "x") == want


def test_a_key_with_an_absurd_size_is_refused_not_a_crash() -> None:
    # int() refuses numbers of more than 4,300 digits: such a key must be reported, never raise.
    from openem_build.data.annex import parse_key

    key = "MD5E-s" + "9" * 5000 + "--d41d8cd98f00b204e9800998ecf8427e.mrc"
    assert parse_key(key) is None
    text = json.dumps({"manifest_version": 1, "commit": "a" * 40, "datalad_id": None,
                       "files": [{"path": "a.mrc", "size": 1, "key": key, "urls": []}]})
    manifest, _, problems = M.parse(text, "m.json")
    assert manifest is None and [p.field for p in problems] == ["files[0].key"]
    assert "is not a git-annex key" in problems[0].message
