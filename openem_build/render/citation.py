"""Citations of a dataset: DataCite's recommended text form, BibTeX, RIS and CSL-JSON.

Pure functions of ``(SiteContext, Dataset)``. Every format is built so that no field value can break out of
its slot: BibTeX values are LaTeX-escaped with balanced braces, RIS values never contain a line break, and
CSL-JSON is plain JSON that is also safe to embed in an HTML ``<script>`` element.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from pylatexenc.latexencode import UnicodeToLatexEncoder

from ..infra import jsontext
from ..infra.context import SiteContext
from ..records.markdown import to_text
from ..records.model import Dataset, Person
from .registry import Artefact, per_dataset

BIBTEX_TYPE = "application/x-bibtex"
RIS_TYPE = "application/x-research-info-systems"
CSL_JSON_TYPE = "application/vnd.citationstyles.csl+json"

# ---------------------------------------------------------------------------------------------- shared parts


def publisher(ctx: SiteContext, d: Dataset) -> str:
    """Who publishes the dataset: the OpenEM network, else the facility's institution."""
    if ctx.publisher:
        return ctx.publisher
    return ctx.facility(d).institution


def identifier_url(ctx: SiteContext, d: Dataset) -> str:
    """The DOI as a URL, or the landing page when the dataset has no DOI yet."""
    return d.doi_url or ctx.dataset_url(d)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: str) -> str:
    """``value`` with every line break, tab and control character turned into a space, spaces collapsed."""
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", value)).split())


def _sentence(value: str) -> str:
    """``value`` ending with exactly one full stop (none added after ``?``, ``!`` or ``.``)."""
    value = one_line(value)
    return value if value.endswith((".", "?", "!")) else value + "."


# ----------------------------------------------------------------------------------------------------- text


def _author_text(p: Person) -> str:
    family, given = one_line(p.family), one_line(p.given)
    return f"{family}, {given}" if given else family


def text(ctx: SiteContext, d: Dataset) -> str:
    """DataCite's recommended citation: ``Creators (Year). Title. Version X. Publisher. Identifier``.

    Plain text (escape it where it goes into HTML). The identifier is the DOI URL, or the landing page URL
    while the dataset has no DOI.
    """
    creators = "; ".join(_author_text(p) for p in d.authors)
    parts = [f"{creators} ({d.year}).", _sentence(d.title), f"Version {one_line(d.version)}.",
             _sentence(publisher(ctx, d)), identifier_url(ctx, d)]
    return " ".join(parts)


# --------------------------------------------------------------------------------------------------- BibTeX

# ASCII characters special to LaTeX or BibTeX. Braces become macros, not ``\{``, because BibTeX counts
# braces without regard to backslashes: ``\{`` alone would unbalance the entry.
_LATEX_ASCII = {
    "\\": r"{\textbackslash}",
    "{": r"{\textbraceleft}",
    "}": r"{\textbraceright}",
    "%": r"{\%}",
    "&": r"{\&}",
    "$": r"{\$}",
    "#": r"{\#}",
    "_": r"{\_}",
    "~": r"{\textasciitilde}",
    "^": r"{\textasciicircum}",
}
_LATEX_ASCII_RE = re.compile("|".join(re.escape(c) for c in _LATEX_ASCII))
# Non-ASCII characters become brace-protected LaTeX macros ({\"O}) where one exists, so classic BibTeX
# sorts and abbreviates names correctly; characters without one (CJK …) stay UTF-8.
_LATEX_NON_ASCII = UnicodeToLatexEncoder(non_ascii_only=True, replacement_latex_protection="braces-all",
                                         unknown_char_policy="keep", unknown_char_warning=False)


def latex_escape(value: str) -> str:
    """``value`` on one line as LaTeX text that BibTeX can hold between braces."""
    escaped = _LATEX_ASCII_RE.sub(lambda m: _LATEX_ASCII[m.group(0)], one_line(value))
    return _LATEX_NON_ASCII.unicode_to_latex(escaped)


_URL_UNSAFE = re.compile(r"[\s{}\\\"<>^`|%]")


def _url_field(value: str) -> str:
    """A URL or DOI for a verbatim field: characters that could break BibTeX or LaTeX percent-encoded."""
    value = one_line(value)
    # %-encode only when the value holds a brace, backslash or space; otherwise keep it exactly.
    if re.search(r"[{}\\\s]", value):
        value = _URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=""), value)
    return value


def _bibtex_name_part(part: str) -> str:
    escaped = latex_escape(part)
    # The word "and" separates names in BibTeX; brace a part containing it so it stays one name.
    return "{" + escaped + "}" if re.search(r"(?i)(^|\s)and(\s|$)", part) else escaped


def _bibtex_author(p: Person) -> str:
    family, given = p.family, p.given
    return f"{_bibtex_name_part(family)}, {_bibtex_name_part(given)}" if given else _bibtex_name_part(family)


def bibtex_key(d: Dataset) -> str:
    return f"openem:{d.id}"


def bibtex(ctx: SiteContext, d: Dataset) -> str:
    """A BibTeX ``@misc`` entry (the type DataCite itself exports for datasets), UTF-8, LaTeX-escaped."""
    fields: list[tuple[str, str]] = [
        ("author", " and ".join(_bibtex_author(p) for p in d.authors)),
        # Double braces keep the title's capitalisation (Cryo-EM, Å) in styles that lower-case titles.
        ("title", "{" + latex_escape(d.title) + "}"),
        ("year", str(d.year)),
        ("publisher", latex_escape(publisher(ctx, d))),
        ("version", latex_escape(d.version)),
    ]
    if d.doi:
        fields.append(("doi", _url_field(d.doi)))
    fields.append(("url", _url_field(identifier_url(ctx, d))))
    if d.keywords:
        fields.append(("keywords", latex_escape(", ".join(d.keywords))))
    fields.append(("copyright", latex_escape(d.license)))
    fields.append(("language", "en"))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{bibtex_key(d)},\n{body}\n}}\n"


# ------------------------------------------------------------------------------------------------------ RIS


def abstract(d: Dataset) -> str:
    """The description as plain text (its Markdown rendered, markup dropped), as reference managers show it."""
    return to_text(d.description) or d.description.strip()


def ris(ctx: SiteContext, d: Dataset) -> str:
    """A RIS record of type ``DATA``; every value is forced onto its own single line."""
    lines: list[tuple[str, str]] = [("TY", "DATA")]
    lines += [("AU", _author_text(p)) for p in d.authors]
    lines += [
        ("TI", d.title),
        ("PY", str(d.year)),
        ("DA", d.dates.published.strftime("%Y/%m/%d")),
        ("PB", publisher(ctx, d)),
        ("ET", f"Version {d.version}"),
    ]
    if d.doi:
        lines.append(("DO", d.doi))
    lines.append(("UR", identifier_url(ctx, d)))
    lines += [("KW", k) for k in d.keywords]
    lines += [("AB", abstract(d)), ("LA", "en"), ("ID", d.id)]
    out = [f"{tag}  - {one_line(value)}" for tag, value in lines if one_line(value)]
    out.append("ER  - ")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------- CSL-JSON


def csl_item(ctx: SiteContext, d: Dataset) -> dict:
    """The CSL-JSON item (a dict) for the dataset."""
    authors = []
    for p in d.authors:
        name = {"family": one_line(p.family)}
        if p.given:
            name["given"] = one_line(p.given)
        authors.append(name)
    pub = d.dates.published
    item: dict = {
        "id": bibtex_key(d),
        "type": "dataset",
        "title": one_line(d.title),
        "author": authors,
        "issued": {"date-parts": [[pub.year, pub.month, pub.day]]},
        "publisher": one_line(publisher(ctx, d)),
        "version": one_line(d.version),
    }
    if d.doi:
        item["DOI"] = d.doi
    item["URL"] = identifier_url(ctx, d)
    if d.keywords:
        item["keyword"] = ", ".join(one_line(k) for k in d.keywords)
    item["abstract"] = abstract(d)
    item["language"] = "en"
    return item


def csl_json(ctx: SiteContext, d: Dataset) -> str:
    """A CSL-JSON list holding the dataset's item; ``</`` and U+2028/9 escaped so it embeds in HTML."""
    out = jsontext.dumps([csl_item(ctx, d)], indent=2)
    return out.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


# ------------------------------------------------------------------------------------------------ artefacts


@per_dataset(30)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    """``datasets/<id>/citation.bib``, ``citation.ris`` and ``citation.json``."""
    base = ctx.dataset_path(d)
    return [
        Artefact(base + "citation.bib", bibtex(ctx, d), "BibTeX", BIBTEX_TYPE),
        Artefact(base + "citation.ris", ris(ctx, d), "RIS", RIS_TYPE),
        Artefact(base + "citation.json", csl_json(ctx, d), "CSL-JSON", CSL_JSON_TYPE),
    ]
