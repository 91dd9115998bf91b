"""The hostile corpus (tests/hostile/*.yaml): what a pull request may contain, and what the catalogue does with it.

Every case is refused with a located message (``outcome: reject``: all of them are loaded in one catalogue,
which must also fail to build), or built with everything escaped (``outcome: render``: all of them in one site,
asserted on the built files). Further guarantees: the build is atomic (a late failure leaves the last good site
byte for byte), never writes into ``datasets/``, is reproducible for every output type, and the CI workflows
give pull requests no secrets. See tests/hostile/README.md for the case list.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
import rispy
import yaml
from bs4 import BeautifulSoup
from lxml import etree
from rdflib import Graph, Literal, URIRef

from openem_build.records.load import load_catalogue
from openem_build.records.yamlsafe import MAX_BYTES
from openem_build.render import outputs as A
from openem_build.site.build import BuildError, build_site

from .conftest import ROOT, frozen_document
from .hostile import html_problems

CORPUS = Path(__file__).parent / "hostile"
CASES = {p.stem: yaml.safe_load(p.read_text("utf-8")) for p in sorted(CORPUS.glob("*.yaml"))}
REJECT = sorted(n for n, c in CASES.items() if c["outcome"] == "reject")
RENDER = sorted(n for n, c in CASES.items() if c["outcome"] == "render")
PAYLOAD = "PWNED"  # every command in the corpus is `touch PWNED`: its absence proves nothing ran


# ------------------------------------------------------------------------------------------ making the entries

def _assign(doc: Any, path: str, value: Any) -> None:
    """``doc[path] = value`` for a dotted path with list indices (``authors[0].name``)."""
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    for part in parts[:-1]:
        if isinstance(part, str) and part not in doc:
            doc[part] = {}
        doc = doc[part]
    doc[parts[-1]] = value


def _text(name: str, case: dict) -> bytes:
    folder = case.get("folder", name)
    doc = frozen_document()
    doc["id"] = folder
    for path, value in case.get("set", {}).items():
        _assign(doc, path, value)
    text = case["raw"] if "raw" in case else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10000)
    for old, new in case.get("replace", {}).items():
        assert old in text, (name, old)
        text = text.replace(old, new)
    data = (text + case.get("yaml", "")).encode("utf-8")
    kind = case.get("bytes")
    if kind == "huge":
        data += b"# " + b"x" * MAX_BYTES + b"\n"
    elif kind in ("latin1", "nul", "esc"):
        data = data.replace(b"title: ", b"title: " + {"latin1": b"caf\xe9 ", "nul": b"\x00", "esc": b"\x1b"}[kind], 1)
    elif kind == "bom":
        data = b"\xef\xbb\xbf" + data
    elif kind == "crlf":
        data = data.replace(b"\n", b"\r\n")
    return data


def materialise(root: Path, name: str, case: dict, outside: Path) -> Path:
    """Write case ``name`` as ``datasets/<folder>/`` under ``root``; links to ``outside`` for folder links."""
    folder = root / "datasets" / case.get("folder", name)
    links = case.get("link", {})
    if "." in links:  # the dataset folder itself is a link to a folder outside the repository
        target = outside / name
        target.mkdir(parents=True)
        (target / "dataset.yaml").write_bytes(_text(name, case))
        folder.symlink_to(target, target_is_directory=True)
        return folder
    folder.mkdir(parents=True)
    if "dataset.yaml" not in links:
        (folder / "dataset.yaml").write_bytes(_text(name, case))
    for rel, content in case.get("files", {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content, encoding="utf-8")
    for rel, target in links.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, folder / rel)
    return folder


def _catalogue(root: Path, names: list[str], outside: Path) -> Path:
    (root / "datasets").mkdir(parents=True)
    shutil.copy(ROOT / "datasets" / "facilities.yaml", root / "datasets" / "facilities.yaml")
    for name in names:
        materialise(root, name, CASES[name], outside)
    return root


def _position(text: str, markers: str | list[str], after: bool) -> tuple[int, int]:
    """Line and column of the last of ``markers``, each searched from the one before (its end with ``after``)."""
    i = 0
    for marker in [markers] if isinstance(markers, str) else markers:
        i = text.index(marker, i) + len(marker)
    i -= 0 if after else len(marker)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def expected_prefix(root: Path, name: str) -> tuple[str, str]:
    """``path:line:col: field: `` of the problem a rejected case must produce, and its message."""
    case = CASES[name]
    expect = case["expect"]
    folder = f"datasets/{case.get('folder', name)}"
    rel = expect.get("file", "dataset.yaml")
    shown = f"{folder}/{rel}" if rel else folder
    where = shown
    if "at" in expect or "after" in expect:
        source = (root / shown).read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
        line, col = _position(source, expect.get("at") or expect["after"], "after" in expect)
        where += f":{line}:{col}"
    prefix = where + ": " + (expect["field"] + ": " if expect.get("field") else "")
    return prefix, expect["message"]


# ------------------------------------------------------------------------------------------ refused

@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("reject") / "catalogue"
    outside = tmp_path_factory.mktemp("outside")
    _catalogue(root, REJECT, outside)
    # The real entry, so that look-alike ids have something to collide with.
    shutil.copytree(ROOT / "datasets" / "apoferritin-krios-2024", root / "datasets" / "apoferritin-krios-2024")
    cwd = os.getcwd()
    os.chdir(root)  # a payload that ran would leave PWNED here
    try:
        result = load_catalogue(root)
    finally:
        os.chdir(cwd)
    return root, result


def test_corpus_is_large_and_listed_in_the_readme() -> None:
    assert len(CASES) >= 40 and len(REJECT) >= 30 and len(RENDER) >= 10
    readme = (CORPUS / "README.md").read_text("utf-8")
    for name in CASES:
        assert f"`{name}`" in readme, name
    for name, case in CASES.items():
        assert case["outcome"] in ("reject", "render") and case["about"], name


@pytest.mark.parametrize("name", REJECT)
def test_hostile_entry_is_refused_with_a_located_message(rejected: tuple[Path, list], name: str) -> None:
    root, result = rejected
    prefix, message = expected_prefix(root, name)
    texts = [p.text() for p in result.problems if p.severity == "error"]
    assert any(t.startswith(prefix) and message in t[len(prefix):] for t in texts), \
        (prefix, message, [t for t in texts if f"/{CASES[name].get('folder', name)}" in t])
    assert not (root / PAYLOAD).exists() and not Path(PAYLOAD).exists()


def test_refused_entries_never_reach_the_catalogue(rejected: tuple[Path, list]) -> None:
    root, result = rejected
    assert not result.ok
    assert [d.id for d in result.catalogue.datasets] == ["apoferritin-krios-2024"]


def test_refused_entries_fail_the_build_and_write_no_site(rejected: tuple[Path, list], tmp_path: Path) -> None:
    root, _ = rejected
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for name in ("docs", "overrides"):
        if not (root / name).exists():
            shutil.copytree(ROOT / name, root / name)
    with pytest.raises(BuildError) as err:
        build_site(root, tmp_path / "site")
    assert "datasets/yaml-python-object-apply/dataset.yaml:" in str(err.value)
    assert not (tmp_path / "site").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left behind


# ------------------------------------------------------------------------------------------ rendered, escaped

def _tree_hash(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict]:
    root = tmp_path_factory.mktemp("render") / "catalogue"
    _catalogue(root, RENDER, tmp_path_factory.mktemp("outside"))
    for name in ("docs", "overrides"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    before = _tree_hash(root / "datasets")
    result = load_catalogue(root)
    assert result.ok, [p.text() for p in result.problems if p.severity == "error"]
    site = build_site(root, root / "site")
    after = _tree_hash(root / "datasets")
    docs = {d.id: d for d in result.catalogue.datasets}
    return root, site, docs, {"before": before, "after": after}


def _strings(case: dict) -> list[str]:
    """The hostile strings a render case writes (every string leaf of its edits but the Markdown description)."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk({k: v for k, v in case.get("set", {}).items() if k != "description"})
    return out


def _code(page: BeautifulSoup) -> list[str]:
    """The text of every script element that a browser would run (JSON-LD data blocks are not run)."""
    return [s.get_text() for s in page.find_all("script") if s.get("type") != "application/ld+json"]


def _commands(block: str, cwd: Path) -> list[list[str]]:
    """Run the copied `datalad` commands in bash with datalad, cd and git replaced by recorders."""
    script = ("datalad() { printf '%s\\0' datalad \"$@\" >> calls; printf '\\n' >> calls; }\n"
              "git() { printf '%s\\0' git \"$@\" >> calls; printf '\\n' >> calls; }\n"
              "cd() { printf '%s\\0' cd \"$@\" >> calls; printf '\\n' >> calls; }\n" + block + "\n")
    subprocess.run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd, check=True, timeout=30,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})
    raw = (cwd / "calls").read_text("utf-8")
    return [line.rstrip("\0").split("\0") for line in raw.split("\0\n") if line]


@pytest.mark.parametrize("name", RENDER)
def test_hostile_entry_is_rendered_escaped(built: tuple[Path, Path, dict, dict], name: str, tmp_path: Path) -> None:
    root, site, docs, _ = built
    case = CASES[name]
    d = docs[name]
    base = site / "datasets" / name
    html = (base / "index.html").read_text("utf-8")
    page = BeautifulSoup(html, "lxml")

    # HTML: nothing injected in the article or the head; texts read back exactly.
    article = page.select_one("article.openem-dataset")
    assert html_problems(str(article)) == []
    head_extra = [m for m in page.head.find_all(True) if m.name not in ("meta", "link", "script", "title", "style")]
    assert head_extra == [], head_extra
    assert [s for s in _code(page) if "alert(" in s] == []
    assert not page.find_all(lambda el: any(a.startswith("on") for a in el.attrs))
    assert not [a for a in page.find_all(href=True) if a["href"].strip().lower().startswith(("javascript:", "data:"))]
    assert page.find("h1").get_text() == d.title
    assert page.find("meta", attrs={"name": "citation_title"})["content"] == d.title
    assert [m["content"] for m in page.find_all("meta", attrs={"name": "citation_author"})] == \
        [p.name for p in d.authors]
    if d.keywords:
        assert page.find("meta", attrs={"name": "citation_keywords"})["content"] == "; ".join(d.keywords)
    # Every one-line string of the case is read back (as text or attribute value) exactly as written.
    shown = page.get_text() + "\0".join(str(v) for el in page.find_all(True) for v in el.attrs.values())
    for s in _strings(case):
        if "\n" not in s and "\u2028" not in s and "](" not in s:
            assert s in shown, s

    # JSON-LD (in the page and as a file) parses and keeps the strings.
    (ld,) = [json.loads(s.string) for s in page.find_all("script", type="application/ld+json")]
    assert ld == json.loads((base / "metadata.jsonld").read_text("utf-8"))
    assert ld["name"] == d.title and ld["keywords"] == list(d.keywords)
    assert [c["name"] for c in ld["creator"]] == [p.display_name for p in d.authors]
    assert ld["about"]["name"] == d.sample.name
    assert json.loads((base / "dataset.json").read_text("utf-8"))["title"] == d.title

    # DataCite XML parses and carries the title.
    xml = etree.parse(str(base / "datacite.xml"))
    titles = xml.findall(".//{http://datacite.org/schema/kernel-4}title")
    assert titles[0].text == " ".join(d.title.split())

    # BibTeX: one entry, nothing else; RIS: one record.
    library = bibtexparser.parse_file(str(base / "citation.bib"))
    assert not library.failed_blocks and len(library.entries) == 1 and len(library.blocks) == 1
    assert library.entries[0].key == f"openem:{name}"
    ris = rispy.loads((base / "citation.ris").read_text("utf-8"))
    assert len(ris) == 1 and ris[0]["title"] == " ".join(d.title.split())
    assert ris[0].get("keywords", []) == [" ".join(k.split()) for k in d.keywords]
    csl = json.loads((base / "citation.json").read_text("utf-8"))
    assert csl[0]["title"] == " ".join(d.title.split())

    # The commands block: run as copied, it calls exactly datalad clone/get, cd and git with the intended
    # arguments, and nothing else runs.
    block = page.select_one("pre.openem-commands").get_text()
    calls = _commands(block, tmp_path)
    expected = [["datalad", "clone", d.data.datalad, d.id], ["cd", d.id]]
    if d.data.commit:
        expected.append(["git", "checkout", d.data.commit])
    expected += [["datalad", "get", s.directory.rstrip("/") + "/"] for s in d.data.image_sets]
    expected.append(["datalad", "get", "."])
    assert calls == expected
    assert not (tmp_path / PAYLOAD).exists()
    for line in block.splitlines():
        code, _, comment = line.partition("   # ")
        assert shlex.split(code) and "\n" not in comment


def test_catalogue_wide_outputs_parse_and_keep_the_strings(built: tuple[Path, Path, dict, dict]) -> None:
    _, site, docs, _ = built
    g = Graph().parse(site / "dcat" / "catalog.ttl", format="turtle")
    g2 = Graph().parse(site / "dcat" / "catalog.rdf", format="xml")
    assert len(g) == len(g2)
    titles = {str(o) for o in g.objects(None, URIRef("http://purl.org/dc/terms/title"))}
    for d in docs.values():
        assert " ".join(d.title.split()) in titles, d.id
    assert Literal('"""', lang="en") in set(g.objects(None, URIRef("http://www.w3.org/ns/dcat#keyword")))
    dc_titles = {t.text for path in (site / "oai" / "records").glob("*/oai_dc.xml")
                 for t in etree.parse(str(path)).iter("{http://purl.org/dc/elements/1.1/}title")}
    assert {" ".join(d.title.split()) for d in docs.values()} <= dc_titles
    for name in ("index.html", "browse/index.html", "facilities/index.html"):
        page = BeautifulSoup((site / name).read_text("utf-8"), "lxml")
        assert not [s for s in _code(page) if "alert(" in s], name
        assert not page.find_all(lambda el: any(a.startswith("on") for a in el.attrs)), name
    home = BeautifulSoup((site / "index.html").read_text("utf-8"), "lxml")
    (catalog,) = [json.loads(s.string) for s in home.find_all("script", type="application/ld+json")]
    assert {x["name"] for x in catalog["dataset"]} == {d.title for d in docs.values()}
    for path in site.rglob("*.json"):
        json.loads(path.read_text("utf-8"))
    for path in [*site.rglob("*.xml"), *site.rglob("*.rdf")]:
        etree.parse(str(path))


def test_the_build_never_writes_into_datasets(built: tuple[Path, Path, dict, dict]) -> None:
    _, _, _, hashes = built
    assert hashes["before"] == hashes["after"]


def test_crlf_and_bom_entries_are_read_like_the_plain_one(built: tuple[Path, Path, dict, dict]) -> None:
    _, _, docs, _ = built
    for name in ("yaml-bom", "yaml-crlf"):
        d = docs[name]
        assert "\r" not in d.description and d.title == frozen_document()["title"]
        assert dict(d.raw, id="x") == dict(docs["yaml-bom"].raw, id="x")


# ------------------------------------------------------------------------------------------ atomic, reproducible

def test_a_late_failure_leaves_the_last_good_site_byte_identical(catalogue: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    site = build_site(catalogue)
    before = _tree_hash(site)
    datasets_before = _tree_hash(catalogue / "datasets")

    def broken(ctx: Any, parts: Any = None) -> list:
        raise RuntimeError("a producer failed after the pages were written")

    # The last catalogue-wide producer runs in on_post_build, after every page is in the staging folder.
    producers = A.catalogue_producers()
    monkeypatch.setattr(A, "catalogue_producers", lambda: [*producers, broken])
    with pytest.raises((BuildError, RuntimeError)):
        build_site(catalogue)
    assert _tree_hash(site) == before
    assert [p.name for p in catalogue.iterdir() if p.name.startswith(".site")] == []
    assert _tree_hash(catalogue / "datasets") == datasets_before


def test_two_builds_are_byte_identical_for_every_output_type(built: tuple[Path, Path, dict, dict], tmp_path: Path,
                                                              monkeypatch) -> None:
    # The hostile catalogue, built a second time into another folder (same SOURCE_DATE_EPOCH: not a git repo,
    # so both builds fall back to the same date).
    root, site, _, _ = built
    again = build_site(root, tmp_path / "again")
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(again)) for p in again.rglob("*") if p.is_file())
    kinds = {Path(f).suffix for f in files}
    assert {".html", ".json", ".jsonld", ".xml", ".bib", ".ris", ".ttl", ".rdf", ".cif", ".txt"} <= kinds, kinds
    assert [f for f in files if (site / f).read_bytes() != (again / f).read_bytes()] == []


# ------------------------------------------------------------------------------------------ CI workflows

WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text("utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_pull_request_workflow_runs_without_secrets_and_with_a_read_only_token() -> None:
    text = (WORKFLOWS / "pr.yml").read_text("utf-8")
    wf = _workflow("pr.yml")
    assert set(wf["on"]) == {"pull_request"}
    assert "pull_request_target" not in text.replace("never use pull_request_target", "")
    assert wf["permissions"] == {"contents": "read"}
    assert "secrets." not in text and "${{ github.token }}" not in text and "GITHUB_TOKEN" not in text
    for job in wf["jobs"].values():
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False


def test_no_workflow_triggered_by_pull_requests_sees_secrets() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        wf = _workflow(path.name)
        triggers = set(wf["on"]) if isinstance(wf["on"], dict | list) else {wf["on"]}
        assert "pull_request_target" not in triggers and "workflow_run" not in triggers, path.name
        if triggers & {"pull_request", "issue_comment"}:
            assert "secrets." not in path.read_text("utf-8"), path.name


def test_doi_workflow_runs_only_on_main_or_by_hand() -> None:
    wf = _workflow("doi.yml")
    assert set(wf["on"]) == {"push", "workflow_dispatch"}
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["permissions"] == {"contents": "read"}
    (job,) = wf["jobs"].values()
    assert "secrets.DATACITE_PASSWORD" in json.dumps(job["env"])
    checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["ref"] == "main"
    deploy = _workflow("deploy.yml")
    assert set(deploy["on"]) == {"push", "workflow_dispatch"} and deploy["on"]["push"]["branches"] == ["main"]
