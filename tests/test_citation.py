"""Citations: text form, and BibTeX / RIS / CSL-JSON parsed back with a parser for each format."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import bibtexparser
import pytest
import rispy
from bibtexparser.middlewares import LatexDecodingMiddleware
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.records.markdown import to_text
from openem_build.records.model import Dataset, Dates, Person
from openem_build.render import citation

ROOT = Path(__file__).resolve().parent.parent

HOSTILE_TITLE = 'Odd "title" with {braces}, a } and \\ backslash, 100% & $5 #1 a_b ~x^2 </script>\nER  - x'
HOSTILE_PEOPLE = (
    Person(name="Ölçer-Ångström, Şükrü Jean-Pierre"),
    Person(name="van der Berg, Anna and Co"),
    Person(name="O'Brien {}\\, Zoë\r\nTY  - JOUR"),
    Person(name="山田, 太郎"),
)


@pytest.fixture(scope="module")
def ctx() -> SiteContext:
    return SiteContext(load_catalogue(ROOT).catalogue, site_url="https://example.org/cat/")


@pytest.fixture(scope="module")
def example(ctx: SiteContext) -> Dataset:
    return ctx.catalogue.datasets[0]


@pytest.fixture(scope="module")
def hostile(example: Dataset) -> Dataset:
    return dataclasses.replace(
        example, title=HOSTILE_TITLE, authors=HOSTILE_PEOPLE, version="2.0-rc.1",
        keywords=("a,b", "x%y", "naïve"), doi="10.5281/zenodo.1234_5",
        description="Line one\nER  - injected\n\n</script><script>alert(1)</script> \u2028 sep",
        dates=Dates(published=date(2025, 1, 31)))


def _decoder() -> LatexNodes2Text:
    """A LaTeX→text decoder that also knows the text-mode macros BibTeX output uses for ASCII specials."""
    db = get_default_latex_context_db()
    db.add_context_category("openem-test", prepend=True, macros=[
        MacroTextSpec("textbraceleft", "{"), MacroTextSpec("textbraceright", "}"),
        MacroTextSpec("textasciicircum", "^"), MacroTextSpec("textbackslash", "\\"),
        MacroTextSpec("textasciitilde", "~")])
    return LatexNodes2Text(latex_context=db, math_mode="verbatim", keep_braced_groups=False)


def _parse_bibtex(text: str):
    library = bibtexparser.parse_string(text, append_middleware=[
        LatexDecodingMiddleware(decoder=_decoder())])
    assert not library.failed_blocks, [b.error for b in library.failed_blocks]
    assert len(library.entries) == 1
    return library.entries[0]


# ------------------------------------------------------------------------------------------------------- text


def test_text_form(ctx: SiteContext, example: Dataset) -> None:
    got = citation.text(ctx, example)
    assert got == (
        "Keller, Lena; Brunner, Marco (2024). Cryo-EM movies of mouse heavy-chain apoferritin at 1.52 Å, "
        "Titan Krios G4 with Falcon 4i. Version 1.0. OpenEM – Swiss network of electron-microscopy "
        "facilities. https://example.org/cat/datasets/apoferritin-krios-2024/")


def test_text_uses_doi_when_registered(ctx: SiteContext, example: Dataset) -> None:
    got = citation.text(ctx, dataclasses.replace(example, doi="10.5072/openem.x", title="Ends with a dot."))
    assert got.endswith(". Ends with a dot. Version 1.0. OpenEM – Swiss network of electron-microscopy "
                        "facilities. https://doi.org/10.5072/openem.x")


def test_text_is_one_line(ctx: SiteContext, hostile: Dataset) -> None:
    got = citation.text(ctx, hostile)
    assert "\n" not in got and "\r" not in got
    assert got.startswith("Ölçer-Ångström, Şükrü Jean-Pierre; van der Berg, Anna and Co; ")
    assert "(2025)." in got and got.endswith("https://doi.org/10.5281/zenodo.1234_5")


def test_publisher_falls_back_to_institution(ctx: SiteContext, example: Dataset) -> None:
    bare = dataclasses.replace(ctx, publisher="")
    assert citation.publisher(bare, example) == "ETH Zurich"
    assert "ETH Zurich." in citation.text(bare, example)


# ----------------------------------------------------------------------------------------------------- BibTeX


def test_bibtex_example(ctx: SiteContext, example: Dataset) -> None:
    entry = _parse_bibtex(citation.bibtex(ctx, example))
    assert entry.entry_type == "misc"
    assert entry.key == "openem:apoferritin-krios-2024"
    assert entry["author"] == "Keller, Lena and Brunner, Marco"
    assert entry["title"] == example.title
    assert entry["year"] == "2024"
    assert entry["version"] == "1.0"
    assert entry["url"] == "https://example.org/cat/datasets/apoferritin-krios-2024/"
    assert "doi" not in entry.fields_dict


def test_bibtex_hostile_round_trip(ctx: SiteContext, hostile: Dataset) -> None:
    raw = citation.bibtex(ctx, hostile)
    # Balanced braces, as BibTeX counts them (backslashes do not escape braces for BibTeX).
    depth = 0
    for ch in raw:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    assert "</script>" in raw  # harmless in BibTeX; escaped where the page embeds it
    entry = _parse_bibtex(raw)
    assert entry["title"] == " ".join(HOSTILE_TITLE.split())
    assert entry["author"] == ("Ölçer-Ångström, Şükrü Jean-Pierre and van der Berg, Anna and Co and "
                               "O'Brien {}\\, Zoë TY - JOUR and 山田, 太郎")
    assert entry["doi"] == "10.5281/zenodo.1234_5"
    assert entry["keywords"] == "a,b, x%y, naïve"
    assert entry["version"] == "2.0-rc.1"


def test_bibtex_and_in_names_is_protected(ctx: SiteContext, hostile: Dataset) -> None:
    raw = citation.bibtex(ctx, hostile)
    author = bibtexparser.parse_string(raw).entries[0]["author"]
    # Split the way BibTeX does: on " and " at brace depth 0.
    names, depth, start = [], 0, 0
    for i, ch in enumerate(author):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and author[i:i + 5] == " and ":
            names.append(author[start:i])
            start = i + 5
    names.append(author[start:])
    assert len(names) == len(HOSTILE_PEOPLE)


def test_bibtex_non_ascii_is_latex_encoded(ctx: SiteContext, hostile: Dataset) -> None:
    raw = citation.bibtex(ctx, hostile)
    assert r'{\"O}l{\c{c}}er' in raw
    assert "山田" in raw  # no LaTeX form: kept as UTF-8


# -------------------------------------------------------------------------------------------------------- RIS


def test_ris_example(ctx: SiteContext, example: Dataset) -> None:
    (rec,) = rispy.loads(citation.ris(ctx, example))
    assert rec["type_of_reference"] == "DATA"
    assert rec["authors"] == ["Keller, Lena", "Brunner, Marco"]
    assert rec["title"] == example.title
    assert rec["year"] == "2024"
    assert rec["publisher"].startswith("OpenEM")
    assert rec["urls"] == ["https://example.org/cat/datasets/apoferritin-krios-2024/"]
    assert rec["keywords"] == list(example.keywords)


def test_ris_hostile_cannot_inject(ctx: SiteContext, hostile: Dataset) -> None:
    raw = citation.ris(ctx, hostile)
    lines = raw.splitlines()
    assert lines[0] == "TY  - DATA" and lines[-1] == "ER  - "
    assert sum(line.startswith("TY  - ") for line in lines) == 1
    assert sum(line.startswith("ER  - ") for line in lines) == 1
    for ch in ("\r", "\u2028", "\u2029", "\x85"):
        assert ch not in raw
    (rec,) = rispy.loads(raw)
    assert rec["title"] == " ".join(HOSTILE_TITLE.split())
    assert rec["authors"][0] == "Ölçer-Ångström, Şükrü Jean-Pierre"
    assert rec["authors"][2] == "O'Brien {}\\, Zoë TY - JOUR"
    assert rec["doi"] == "10.5281/zenodo.1234_5"
    assert rec["urls"] == ["https://doi.org/10.5281/zenodo.1234_5"]
    assert rec["edition"] == "Version 2.0-rc.1"


# --------------------------------------------------------------------------------------------------- CSL-JSON


def test_abstracts_are_plain_text_not_markdown(ctx: SiteContext, example: Dataset) -> None:
    """RIS and CSL-JSON abstracts: the description's text without Markdown markup (`*…*`, `**…**`, lists)."""
    marked = dataclasses.replace(example, description="*Example entry.*\n\nMovies of **apoferritin**, see "
                                 "[EMDB](https://www.ebi.ac.uk/emdb/).\n\n- first\n- second")
    (rec,) = rispy.loads(citation.ris(ctx, marked))
    (item,) = json.loads(citation.csl_json(ctx, marked))
    assert item["abstract"] == "Example entry.\nMovies of apoferritin, see EMDB.\n\nfirst\nsecond"
    assert rec["abstract"] == "Example entry. Movies of apoferritin, see EMDB. first second"
    for text in (rec["abstract"], item["abstract"]):
        assert "*" not in text and "[" not in text and "- first" not in text
    (item,) = json.loads(citation.csl_json(ctx, example))  # the example's own italic first line
    assert example.description.startswith("*") and item["abstract"].startswith("Example entry: an illustration")


def test_csl_json_example(ctx: SiteContext, example: Dataset) -> None:
    (item,) = json.loads(citation.csl_json(ctx, example))
    assert item["type"] == "dataset"
    assert item["author"] == [{"family": "Keller", "given": "Lena"}, {"family": "Brunner", "given": "Marco"}]
    assert item["issued"] == {"date-parts": [[2024, 6, 3]]}
    assert item["title"] == example.title
    assert "DOI" not in item


def test_csl_json_hostile(ctx: SiteContext, hostile: Dataset) -> None:
    raw = citation.csl_json(ctx, hostile)
    assert "</script>" not in raw and "\u2028" not in raw
    (item,) = json.loads(raw)
    assert item["title"] == " ".join(HOSTILE_TITLE.split())
    assert item["author"][0] == {"family": "Ölçer-Ångström", "given": "Şükrü Jean-Pierre"}
    assert item["author"][3] == {"family": "山田", "given": "太郎"}
    # (plain text: the raw HTML of the Markdown is dropped, as in every other plain-text channel)
    assert item["abstract"] == to_text(hostile.description) and "<" not in item["abstract"]
    assert item["abstract"].startswith("Line one\nER  - injected")
    assert item["DOI"] == "10.5281/zenodo.1234_5"


# -------------------------------------------------------------------------------------------------- artefacts


def test_artefacts(ctx: SiteContext, example: Dataset) -> None:
    arts = {a.path: a for a in citation.artefacts(ctx, example)}
    assert set(arts) == {f"datasets/{example.id}/citation.{ext}" for ext in ("bib", "ris", "json")}
    assert {a.label for a in arts.values()} == {"BibTeX", "RIS", "CSL-JSON"}
    assert all(a.media_type and isinstance(a.content, str) for a in arts.values())
    assert citation.artefacts(ctx, example) == citation.artefacts(ctx, example)  # pure and stable
