"""Random pull requests through the whole pipeline (hypothesis): ``openem validate``, then ``openem build``.

A pull request here is any change under ``datasets/``: the example entry's ``dataset.yaml``, ``manifest.json``
and ``previews.json`` edited structurally (values of other types, huge numbers, deep nesting, odd Unicode,
fields removed or added) or byte by byte, files added at random paths with random bytes (previews, nested
folders, names the loader looks for), files removed, the entry copied to another folder. Whatever it holds:

- neither command raises (in-process, through the CLI's ``main``) nor prints a traceback, and each exits 0 or 1;
- every problem validate reports, and every one a failed build lists, names a file under ``datasets/``
  (and, with a line, one that has that line);
- validate and build agree: when validate passes, the build succeeds and the site has the entry's page; when
  validate rejects, so does the build.

A build takes seconds, so the examples are few and fixed (derandomized): raise them for a long hunt with
OPENEM_FUZZ_EXAMPLES=500 pytest tests/test_pr_fuzz.py (then random, seeded by hypothesis).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from openem_build.cli import main

from .conftest import EXAMPLE, ROOT

EXAMPLES = int(os.environ.get("OPENEM_FUZZ_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 30, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])
SOURCE = ROOT / "datasets" / EXAMPLE


def _base_files() -> dict[str, bytes]:
    """The example entry as a pull request would add it: its files relative to ``datasets/`` (no data)."""
    files = {f"{EXAMPLE}/{p.relative_to(SOURCE).as_posix()}": p.read_bytes()
             for p in sorted(SOURCE.rglob("*")) if p.is_file() and "data" not in p.relative_to(SOURCE).parts[:1]}
    assert {f"{EXAMPLE}/dataset.yaml", f"{EXAMPLE}/manifest.json", f"{EXAMPLE}/previews.json"} <= set(files)
    return files


BASE = _base_files()


class PullRequest:
    """The files under ``datasets/`` after the change (None: removed), and what was done: its repr, which
    hypothesis prints for a failing example (the files would be megabytes)."""

    def __init__(self, files: dict[str, bytes | None], steps: list[str] | None = None) -> None:
        self.files, self.steps = files, steps or []

    def __repr__(self) -> str:
        return "PullRequest(" + "; ".join(self.steps or ["unchanged"]) + ")"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


# ------------------------------------------------------------------------------------------ values

#: Strings the checks and the outputs care about.
ODD_TEXT = ["", " ", "TODO", "todo: fill in", "..", "/", "-rf", "CON", "nul.txt", "a/../b", "\u202eevil", "\u200b",
            "x\u2028y", "é", "𝔘𝔫𝔦", "10.1234/x", "10.1234/ x", "EMD-1", "2024-02-30", "2024-13-01", "https://x",
            "ria+https://example.org/s#00000000-0000-0000-0000-000000000000", "javascript:alert(1)",
            "<script>x</script>", "$(touch PWNED)", "Muster, Anna", "0000-0002-1825-0097",
            "CC-BY-4.0", "GPL-2.0", "single-particle", "movies", "mrc", "\\", "%", "{{ x }}", "]]>", "*x*"]
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.sampled_from([0, -1, 2 ** 63, -(2 ** 63) - 1, (1 << 61) - 1]),
    st.sampled_from([300, 640, 641, 4000]).map(lambda digits: 10 ** digits),  # (huge numbers)
    st.sampled_from([300, 3000, 20000]).map(lambda n: "a" * n),  # (long texts)
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, 1e-320, 0.1, -0.0]),
    st.sampled_from(ODD_TEXT),
    st.text(st.characters(codec="utf-8"), max_size=30),
)
#: Numbers at the edges of what a field, a float or a renderer can take.
EDGE_NUMBERS = st.one_of(
    st.sampled_from([0, 1, -1, 0.5, 2, 90, 1000, 1e-300, 5e-324, 1e6, 1e8, 1e10, 1e15, 2 ** 53 + 1, 10 ** 18, 10 ** 30,
                     1e308, -1e308, 10 ** 600]),
    st.integers(), st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(st.text(max_size=12), kids, max_size=4)),
                      max_leaves=10)


def _paths(value: Any, here: tuple = ()) -> list[tuple]:
    """Every place in a JSON-like value (the root too)."""
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


def _get(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def _edit_structure(draw: st.DrawFn, doc: Any) -> tuple[Any, str]:
    """One structural change of a parsed document: (the new document, what was done)."""
    path = draw(st.sampled_from(_paths(doc)))
    kind = draw(st.sampled_from(["replace", "replace", "delete", "add", "nest", "repeat", "grow"]))
    if kind == "delete" and path:
        parent = _get(doc, path[:-1])
        del parent[path[-1]]
        return doc, f"delete {list(path)}"
    target = _get(doc, path)
    if kind == "add" and isinstance(target, dict | list):
        value = draw(VALUES)
        if isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(["extra", "id", "doi", "status", "files", "previews", "<<"]),
                                 st.text(max_size=12)))
            target[key] = value
            return doc, f"add {list(path)}[{key!r}] = {value!r:.80}"
        target.append(value)
        return doc, f"append to {list(path)}: {value!r:.80}"
    if kind == "nest":
        depth = draw(st.integers(1, 40))
        wrapped = _get(doc, path) if path else doc
        for _ in range(depth):
            wrapped = [wrapped] if draw(st.booleans()) else {"a": wrapped}
        return _put(doc, path, wrapped), f"nest {list(path)} {depth} levels deep"
    if kind == "repeat" and isinstance(target, list) and target:
        times = draw(st.sampled_from([2, 3, 60, 600]))
        target.extend(target[:1] * times)
        return doc, f"repeat the first item of {list(path)} {times} times"
    if kind == "grow":
        times = draw(st.sampled_from([50, 300, 2000]))
        item = draw(VALUES)
        return _put(doc, path, [item] * times if draw(st.booleans()) else
                    [{"item": i, "v": item} for i in range(times)]), f"a list of {times} at {list(path)}"
    value = draw(VALUES)
    return _put(doc, path, value), f"set {list(path)} = {value!r:.80}"


def _put(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


@st.composite
def _edit_bytes(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["insert", "cut", "truncate", "replace-all", "swap-byte"]))
    at = draw(st.integers(0, len(data)))
    if kind == "insert":
        junk = draw(st.one_of(st.binary(max_size=20), st.sampled_from(
            [b"\x00", b"\xff", b"\xef\xbb\xbf", b"\r", b"\t", b"\x1b[2J", b": :", b"- ", b"&a ", b"*a", b"!!python/x ",
             b"{", b"[", b"'", b'"', b"#", b"---\n", b"\n  ", "\u2028".encode(), b"%YAML 1.1\n", b"\\u0000"])))
        return data[:at] + junk + data[at:], f"insert {junk!r} at byte {at}"
    if kind == "cut":
        end = draw(st.integers(at, min(len(data), at + 200)))
        return data[:at] + data[end:], f"cut bytes {at}..{end}"
    if kind == "truncate":
        return data[:at], f"truncate at byte {at}"
    if kind == "swap-byte" and at < len(data):
        byte = draw(st.integers(0, 255))
        return data[:at] + bytes([byte]) + data[at + 1:], f"byte {at} := {byte:#x}"
    new = draw(st.binary(max_size=300))
    return new, f"replace with {new!r:.60}"


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


NAME = st.one_of(
    st.sampled_from(["dataset.yaml", "dataset.yml", "manifest.json", "previews.json", "previews", "data", ".git",
                     ".gitmodules", "index.html", "x.png", "README.md", ".hidden", "CON", "a b", "é", "-rf"]),
    st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12)
    .filter(lambda s: s not in (".", "..") and len(s.encode()) < 200),
)
CONTENT = st.one_of(st.binary(max_size=200), st.sampled_from([b"", b"{}", b"[]", b"null", b"id: x\n"]),
                    st.builds(_png, st.integers(1, 8), st.integers(1, 8)))


def _yaml_text(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1 << 20).encode("utf-8")


@st.composite
def pull_requests(draw: st.DrawFn) -> PullRequest:
    """The example entry changed by one or two random steps (about one in five still valid)."""
    pr = PullRequest(dict(BASE))
    for _ in range(draw(st.integers(1, 2))):
        step = draw(st.sampled_from(["yaml", "yaml", "text", "text", "text", "number", "number", "json", "bytes",
                                     "file", "file", "png", "remove", "copy", "copy"]))
        if step == "number":
            name = f"{EXAMPLE}/dataset.yaml"
            try:
                doc = yaml.safe_load(pr.files[name])  # type: ignore[arg-type]
            except (ValueError, yaml.YAMLError, AttributeError):
                continue
            numbers = [p for p in _paths(doc) if p and type(_get(doc, p)) in (int, float)]
            if not isinstance(doc, dict) or not numbers:
                continue
            path = draw(st.sampled_from(numbers))
            value = draw(EDGE_NUMBERS)
            _put(doc, path, value)
            pr.files[name] = _yaml_text(doc)
            pr.steps.append(f"{name}: set {list(path)} = {value!r:.60}")
        elif step == "text":
            name = f"{EXAMPLE}/dataset.yaml"
            try:
                doc = yaml.safe_load(pr.files[name])  # type: ignore[arg-type]
            except (ValueError, yaml.YAMLError, AttributeError):
                continue
            texts = [p for p in _paths(doc) if p and isinstance(_get(doc, p), str)]
            if not isinstance(doc, dict) or not texts:
                continue
            path = draw(st.sampled_from(texts))
            extra = draw(st.one_of(st.sampled_from(ODD_TEXT), st.text(st.characters(codec="utf-8"), max_size=20)))
            _put(doc, path, _get(doc, path) + extra)
            pr.files[name] = _yaml_text(doc)
            pr.steps.append(f"{name}: append {extra!r:.60} to {list(path)}")
        elif step == "png":
            pngs = sorted(n for n, v in pr.files.items() if v is not None and n.endswith(".png"))
            if not pngs:
                continue
            name = draw(st.sampled_from(pngs))
            pr.files[name] = draw(CONTENT)
            pr.steps.append(f"replace {name} ({len(pr.files[name] or b'')} bytes)")
        elif step in ("yaml", "json"):
            name = f"{EXAMPLE}/dataset.yaml" if step == "yaml" else draw(
                st.sampled_from([f"{EXAMPLE}/manifest.json", f"{EXAMPLE}/previews.json"]))
            current = pr.files.get(name)
            if current is None:
                continue
            try:
                doc = yaml.safe_load(current) if step == "yaml" else json.loads(current)  # type: ignore[arg-type]
            except (ValueError, yaml.YAMLError):
                continue  # (already broken: other steps apply)
            doc, what = draw(_edit_structure(doc))
            try:
                text = _yaml_text(doc) if step == "yaml" else json.dumps(doc, ensure_ascii=draw(st.booleans()),
                                                                         indent=draw(st.sampled_from([None, 1])))
            except (ValueError, RecursionError, yaml.YAMLError):  # (e.g. a number json cannot write)
                continue
            pr.files[name] = text if isinstance(text, bytes) else text.encode("utf-8")
            pr.steps.append(f"{name}: {what}")
        elif step == "bytes":
            name = draw(st.sampled_from(sorted(n for n, v in pr.files.items() if v is not None) or [None]))
            if name is None:
                continue
            pr.files[name], what = draw(_edit_bytes(pr.files[name]))  # type: ignore[arg-type]
            pr.steps.append(f"{name}: {what}")
        elif step == "file":
            parts = draw(st.lists(NAME, min_size=1, max_size=3))
            where = draw(st.sampled_from([EXAMPLE, EXAMPLE, f"{EXAMPLE}/previews", f"{EXAMPLE}/data", "new-entry-x"]))
            name = "/".join([where, *parts])
            pr.files[name] = draw(CONTENT)
            pr.steps.append(f"add {name!r} ({len(pr.files[name] or b'')} bytes)")
        elif step == "remove":
            name = draw(st.sampled_from(sorted(BASE)))
            pr.files[name] = None
            pr.steps.append(f"remove {name}")
        else:
            folder = draw(st.sampled_from(["copy-of-entry", EXAMPLE.upper(), "zz-" + EXAMPLE]))
            for name, data in list(pr.files.items()):
                if name.startswith(f"{EXAMPLE}/"):
                    pr.files[f"{folder}/{name.split('/', 1)[1]}"] = data
            renamed = draw(st.booleans())
            if renamed and pr.files.get(f"{folder}/dataset.yaml"):  # (the copy under its own id: a second entry)
                pr.files[f"{folder}/dataset.yaml"] = re.sub(rb"(?m)^id: .*$", f"id: {folder}".encode(),
                                                            pr.files[f"{folder}/dataset.yaml"], count=1)  # type: ignore[arg-type]
            pr.steps.append(f"copy the entry to datasets/{folder}/" + (" under that id" if renamed else ""))
    return pr


# ------------------------------------------------------------------------------------------ the catalogue

@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalogue without entries: facilities, the documentation pages, the theme, mkdocs.yml."""
    root = tmp_path_factory.mktemp("pr-fuzz") / "template"
    (root / "datasets").mkdir(parents=True)
    shutil.copy(ROOT / "datasets" / "facilities.yaml", root / "datasets" / "facilities.yaml")
    for name in ("docs", "overrides"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    return root


def _write(root: Path, files: dict[str, bytes | None]) -> None:
    """The pull request's files under ``root/datasets``: a file replaces a folder of its name and the other way
    round, as the last commit would have it."""
    for name, data in files.items():
        if data is None:
            continue
        target = root / "datasets" / name
        for parent in reversed(target.relative_to(root).parents[:-1]):
            if (root / parent).is_file():
                (root / parent).unlink()
        if target.is_dir():
            shutil.rmtree(target)
        with contextlib.suppress(OSError):  # (a name the file system refuses: no checkout would have it either)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


_LOCATED = re.compile(r"^(datasets/|\.gitmodules$)")


def check(pr: PullRequest, root: Path) -> None:
    _write(root, pr.files)
    code, out, err = _run("--root", str(root), "validate", "--no-cache", "--format", "json")
    assert code in (0, 1), (code, err)
    assert "Traceback" not in err, err
    problems = json.loads(out)
    for p in problems:
        assert _LOCATED.match(p["path"]) and p["message"], p
        if p["line"]:
            lines = (root / p["path"]).read_bytes().count(b"\n") + 1
            assert 0 < p["line"] <= lines + 1, (p, lines)
    assert (code == 1) == any(p["severity"] == "error" for p in problems), problems
    event("valid: built" if code == 0 else "rejected")
    built, _, err = _run("--root", str(root), "build", "--no-cache")
    assert "Traceback" not in err, err
    assert built == code, (f"validate exited {code}, build {built}", err, problems)
    if built == 1:  # the build lists the problems as text, each on its line: located too
        listed = [line.strip() for line in err.splitlines() if line.startswith("  ")]
        assert listed and all(_LOCATED.match(line) for line in listed), err
    if built == 0:
        ids = {name.split("/", 1)[0] for name, data in pr.files.items() if data is not None and
               name.endswith("/dataset.yaml") and name.count("/") == 1}
        for ident in ids:
            assert (root / "site" / "datasets" / ident / "index.html").is_file(), ident


def _yaml_edit(*edits: tuple[tuple, Any]) -> PullRequest:
    """The example entry with ``dataset.yaml`` changed: (path, value) pairs, mappings made where missing."""
    doc = yaml.safe_load(BASE[f"{EXAMPLE}/dataset.yaml"])
    for path, value in edits:
        node = doc
        for part in path[:-1]:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
        node[path[-1]] = value
    return PullRequest({**BASE, f"{EXAMPLE}/dataset.yaml": _yaml_text(doc)},
                       [f"set {'.'.join(map(str, path))} = {value!r:.60}" for path, value in edits])


def _integers_at_their_maximum() -> PullRequest:
    """The example entry with every whole number it gives (and a few more) at the schema's maximum for the field:
    valid, and every output must be made of it (a renderer once turned such a number into a float). Without the
    manifest, whose file count would disagree."""
    from openem_build.records.validate import schema

    doc = yaml.safe_load(BASE[f"{EXAMPLE}/dataset.yaml"])
    doc["data"]["image_sets"][0]["frames_per_image"] = 1
    doc["related"]["publications"] = [{"pmid": 1, "year": 2000}]
    root = schema("dataset")

    def walk(value: Any, node: dict[str, Any]) -> Any:
        if "$ref" in node:
            node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        if isinstance(value, dict):
            return {k: walk(v, node.get("properties", {}).get(k, {})) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, node.get("items", {})) for v in value]
        return node["maximum"] if type(value) is int and node.get("type") == "integer" else value

    return PullRequest({**BASE, f"{EXAMPLE}/dataset.yaml": _yaml_text(walk(doc, root)),
                        f"{EXAMPLE}/manifest.json": None}, ["every whole number at its maximum, no manifest"])


@SETTINGS
@given(pr=pull_requests())
@example(pr=PullRequest(dict(BASE), ["unchanged"]))
@example(pr=_integers_at_their_maximum())
# The red-team's quadratic case: a uniqueItems list of mappings (now rejected at once for its length).
@example(pr=_yaml_edit((("processing", "software"), [{"tool": i} for i in range(3000)])))
@example(pr=_yaml_edit((("keywords",), [[[[i]]] for i in range(2000)])))
@example(pr=_yaml_edit((("authors",), [{"name": f"A{i}, B"} for i in range(600)])))
@example(pr=_yaml_edit((("related", "emdb"), [f"EMD-{10000 + i}" for i in range(501)])))
# Found by this test: a list as an image set's format made the directory check raise (unhashable).
@example(pr=_yaml_edit((("data", "image_sets", 0, "format"), [])))
def test_a_random_pull_request_is_rejected_with_located_messages_or_builds(template: Path, tmp_path: Path,
                                                                          pr: PullRequest) -> None:
    root = tmp_path / "catalogue"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root)
    try:
        check(pr, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
