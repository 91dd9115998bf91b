"""Property tests (hypothesis): random text in every text field, and random bytes as a whole file.

Loading and validating never raise: whatever a pull request holds ends as a list of located problems. For every
document that validates, every output parses (HTML, JSON-LD, DataCite XML, Turtle, RDF/XML, OAI-PMH, BibTeX,
RIS, CSL-JSON, mmCIF, EMPIAR JSON) and keeps the string where its format can. The renderers are called directly
on a one-dataset catalogue (no MkDocs build), so each example costs milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from gemmi import cif
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rdflib import Literal, URIRef

from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.records.problems import Problem
from openem_build.render.citation import one_line
from openem_build.render.xmltext import clean_all as _xml_safe

from .conftest import ROOT, example_document
from .hostile import html_problems, parse_all, render_all

IDENT = "property-entry"
#: Examples per test; raise it for a long hunt: OPENEM_PROPERTY_EXAMPLES=5000 pytest tests/test_properties.py
EXAMPLES = int(os.environ.get("OPENEM_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 60, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: Characters that break some output format, mixed into otherwise arbitrary text.
NASTY = list('<>&"\'{}\\$`;|()[]#%~^_*!=:/.,- \n\r\t\u2028\u2029\u202e\u200b\x00\x1b\x85\ufeff\ufffe') + [
    "]]>", "</script>", '"""', "javascript:", "$(touch PWNED)", " and ", "\\end{document}", "&amp;", "<!--"]
TEXT = st.lists(st.one_of(st.sampled_from(NASTY), st.characters(codec="utf-8")), max_size=30).map("".join)

#: Every free-text field, with a prefix that meets its minimum length (so that most examples validate and
#: reach the renderers).
FIELDS: dict[str, str] = {
    "title": "Title text ",
    "description": "A description that is long enough for the schema's minimum length of fifty. ",
    "keywords[0]": "kw",
    "authors[0].affiliations[0].name": "Af",
    "sample.name": "Sa",
    "sample.organism.name": "Or",
    "sample.preparation_details": "",
    "instrument.microscope": "",
    "processing.symmetry": "",
    "data.image_sets[0].name": "Im",
    "data.image_sets[0].details": "",
    "contact.name": "Co",
    "funding[0].funder": "Fu",
    "funding[0].award": "",
    "funding[0].award_title": "",
    "related.publications[0].title": "",
    "related.related_identifiers[0].identifier": "https://example.org/",
    "data.image_sets[0].directory": "d",
}


def _assign(doc: Any, path: str, value: Any) -> None:
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    for part in parts[:-1]:
        doc = doc[part]
    doc[parts[-1]] = value


def _base() -> dict:
    doc = example_document()
    doc["id"] = IDENT
    doc["related"]["publications"] = [{"doi": "10.1234/abc", "relation": "IsSupplementTo", "title": "x"}]
    doc["related"]["related_identifiers"] = [{"identifier": "https://example.org/x", "identifier_type": "URL",
                                              "relation_type": "References"}]
    return doc


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("properties")
    (path / "datasets" / IDENT).mkdir(parents=True)
    shutil.copy(ROOT / "datasets" / "facilities.yaml", path / "datasets" / "facilities.yaml")
    return path


def _load(root: Path, data: bytes):
    (root / "datasets" / IDENT / "dataset.yaml").write_bytes(data)
    result = load_catalogue(root)  # must not raise, whatever the file holds
    assert all(isinstance(p, Problem) for p in result.problems)
    for p in result.problems:
        assert p.path.startswith(f"datasets/{IDENT}") and p.message, p
        p.text(), p.github(), json.dumps(p.as_json())
    return result


def _bibtex_names(value: str) -> list[str]:
    """The names of a BibTeX author list, split like BibTeX does: at " and " outside braces."""
    names, depth, start, i = [], 0, 0, 0
    while i < len(value):
        if value[i] == "{":
            depth += 1
        elif value[i] == "}":
            depth -= 1
        elif depth == 0 and value[i:i + 5].lower() == " and ":
            names.append(value[start:i])
            start = i = i + 5
            continue
        i += 1
    return [*names, value[start:]]


def _check_outputs(result) -> None:
    """Every output of the one valid dataset parses and keeps its strings."""
    event("valid: rendered and parsed")
    (d,) = result.catalogue.datasets
    ctx = SiteContext(result.catalogue)
    out = render_all(ctx, d)
    parsed = parse_all(out)
    assert html_problems(out.page) == [] and html_problems(out.head) == []
    page, head = parsed["page"], parsed["head"]
    assert page.find("h1").get_text() == d.title
    assert head.find("meta", attrs={"name": "citation_title"})["content"] == d.title
    assert [m["content"] for m in head.find_all("meta", attrs={"name": "citation_author"})] == \
        [p.name for p in d.authors]
    for ld in (parsed["jsonld"], parsed["head_jsonld"]):
        assert ld["name"] == d.title and ld["keywords"] == list(d.keywords)
        assert ld["about"]["name"] == d.sample.name
        assert [o["name"] for o in ld["creator"][0].get("affiliation", [])] == \
            [a.name for a in d.authors[0].affiliations]
    flat = _xml_safe(one_line(d.title))
    ns = "{http://datacite.org/schema/kernel-4}"
    assert parsed["datacite"].find(f"{ns}titles/{ns}title").text == flat
    for g in (parsed["turtle"], parsed["rdfxml"]):
        title = Literal(one_line(d.title), lang="en")
        assert (URIRef(ctx.dataset_url(d)), URIRef("http://purl.org/dc/terms/title"), title) in g
    assert parsed["ris"]["title"] == one_line(d.title)
    assert parsed["ris"].get("keywords", []) == [one_line(k) for k in d.keywords if one_line(k)]
    assert parsed["csl"][0]["title"] == one_line(d.title)
    entry = parsed["bibtex"]
    assert entry.key == f"openem:{IDENT}"
    assert {f.key for f in entry.fields} <= {"author", "title", "year", "publisher", "version", "doi", "url",
                                             "keywords", "copyright", "language"}
    assert len(_bibtex_names(entry.fields_dict["author"].value)) == len(d.authors)
    dc = parsed["oai"].iter("{http://purl.org/dc/elements/1.1/}title")
    assert flat in {t.text for t in dc}
    for path, content in out.artefacts.items():
        text = content if isinstance(content, str) else content.decode("utf-8")
        if path.endswith((".json", ".jsonld")):
            json.loads(text)
        elif path.endswith(".cif"):
            cif.read_string(text)


@SETTINGS
@given(field=st.sampled_from(sorted(FIELDS)), value=TEXT)
def test_random_text_in_any_field_is_a_problem_or_renders_everywhere(root: Path, field: str, value: str) -> None:
    doc = _base()
    _assign(doc, field, FIELDS[field] + value)
    result = _load(root, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8"))
    if result.ok:
        _check_outputs(result)


@SETTINGS
@given(family=TEXT, given_=TEXT)
def test_random_author_names_are_a_problem_or_render_everywhere(root: Path, family: str, given_: str) -> None:
    doc = _base()
    doc["authors"][0]["name"] = f"F{family}, G{given_}"
    result = _load(root, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8"))
    if result.ok:
        _check_outputs(result)


@SETTINGS
@given(values=st.fixed_dictionaries({k: TEXT for k in ("title", "sample.name", "contact.name",
                                                          "data.image_sets[0].name", "keywords[0]")}))
def test_random_text_in_several_fields_at_once(root: Path, values: dict[str, str]) -> None:
    doc = _base()
    for field, value in values.items():
        _assign(doc, field, FIELDS[field] + value)
    result = _load(root, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8"))
    if result.ok:
        _check_outputs(result)


@SETTINGS
@given(data=st.one_of(st.binary(max_size=400), TEXT.map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_random_bytes_as_dataset_yaml_never_raise(root: Path, data: bytes) -> None:
    result = _load(root, data)
    assert not result.ok


@SETTINGS
@given(cut=st.integers(min_value=0, max_value=4000), junk=st.sampled_from(
    [b"", b"\x00", b"\xff", b"&", b"*", b"!", b"\t", b"---\n", b": :", b"[", b"{", b"'", b'"', b"%YAML 1.1\n"]))
def test_truncated_or_spliced_documents_never_raise(root: Path, cut: int, junk: bytes) -> None:
    text = yaml.safe_dump(_base(), allow_unicode=True, sort_keys=False).encode("utf-8")
    cut = min(cut, len(text))
    result = _load(root, text[:cut] + junk + text[cut:])
    if result.ok:
        _check_outputs(result)
