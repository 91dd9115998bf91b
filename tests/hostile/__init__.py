"""Helpers of the hostile corpus (tests/test_hostile.py) and the property tests (tests/test_properties.py).

:func:`render_all` renders every output of one dataset with the pure renderers (no MkDocs build);
:func:`parse_all` parses each the way a reader or harvester would, and returns what it read back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import bibtexparser
import rispy
from bs4 import BeautifulSoup
from lxml import etree
from rdflib import Graph

from openem_build.infra.context import SiteContext
from openem_build.records.model import Dataset
from openem_build.render import citation, datacite, dcat, jsonld, oai, pages
from openem_build.render import outputs as A

#: Elements a dataset page may contain: the templates' own; anything else was injected.
PAGE_TAGS = {"html", "body", "p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1",
             "h2", "h3", "h4", "h5", "h6", "hr", "sub", "sup", "table", "thead", "tbody", "tr", "th", "td", "dl",
             "dt", "dd", "article", "span", "img", "div", "section", "aside", "small", "time", "figure",
             "figcaption", "details", "summary", "head", "script", "meta", "link"}
#: Attributes the templates write; an ``on*`` handler, ``style`` or ``srcdoc`` would be injected.
FORBIDDEN_ATTRS = ("style", "srcdoc", "formaction")


@dataclass
class Outputs:
    """Every rendered text of one dataset (and of its one-dataset catalogue)."""

    page: str
    head: str
    jsonld: str
    bibtex: str
    ris: str
    csl: str
    datacite: str
    turtle: str
    rdfxml: str
    oai: str
    artefacts: dict[str, str | bytes] = field(default_factory=dict)


def render_all(ctx: SiteContext, d: Dataset) -> Outputs:
    links = A.for_dataset(ctx, d)
    turtle, rdfxml = dcat._serialise(ctx)
    dc = next((a.content for a in links if a.path == oai.record_path(d.id, "oai_dc")), b"")
    return Outputs(
        page=pages.dataset_page(ctx, d, links, citation.text(ctx, d)),
        head=pages.dataset_head(ctx, d, links),
        jsonld=json.dumps(jsonld.dataset_jsonld(ctx, d), ensure_ascii=False),
        bibtex=citation.bibtex(ctx, d),
        ris=citation.ris(ctx, d),
        csl=citation.csl_json(ctx, d),
        datacite=datacite.xml(ctx, d),
        turtle=turtle,
        rdfxml=rdfxml,
        oai=dc.decode("utf-8") if isinstance(dc, bytes) else dc,
        artefacts={a.path: a.content for a in links},
    )


#: The site's own scripts a dataset page loads (the landing page's gallery and file table, the Mol* map viewer):
#: empty elements whose src is a fixed asset of the site, never one a record could name.
OWN_SCRIPTS = re.compile(r"^(?:\.\./)*assets/openem/(?:landing|mapviewer)\.js$")


def _own_script(el: Any) -> bool:
    return (not el.string and set(el.attrs) <= {"src", "defer"} and isinstance(el.get("src"), str)
            and bool(OWN_SCRIPTS.match(el["src"])))


def html_problems(markup: str) -> list[str]:
    """What in an HTML fragment was not written by our templates: foreign elements, handlers, script links."""
    soup = BeautifulSoup(markup, "lxml")
    found = []
    for el in soup.find_all(True):
        if el.name not in PAGE_TAGS:
            found.append(f"element <{el.name}>")
        for name, value in el.attrs.items():
            if name.startswith("on") or name in FORBIDDEN_ATTRS:
                found.append(f"attribute {name} on <{el.name}>")
            text = " ".join(value) if isinstance(value, list) else str(value)
            if name in ("href", "src", "action") and text.strip().lower().replace("\t", "").startswith(
                    ("javascript:", "data:", "vbscript:")):
                found.append(f"{name}={text!r} on <{el.name}>")
        if el.name == "script" and el.get("type") != "application/ld+json" and not _own_script(el):
            found.append("executable <script>")
    return found


def parse_all(out: Outputs) -> dict[str, Any]:
    """Parse every output; raise if one does not parse. Returns the parsed objects by format."""
    parsed: dict[str, Any] = {}
    parsed["page"] = BeautifulSoup(out.page, "lxml")
    parsed["head"] = BeautifulSoup(out.head, "lxml")
    scripts = parsed["head"].find_all("script", type="application/ld+json")
    assert len(scripts) == 1, "one JSON-LD script in the head"
    parsed["head_jsonld"] = json.loads(scripts[0].string)
    parsed["jsonld"] = json.loads(out.jsonld)
    library = bibtexparser.parse_string(out.bibtex)
    assert not library.failed_blocks, [b.error for b in library.failed_blocks]
    assert len(library.entries) == 1, "exactly one BibTeX entry"
    parsed["bibtex"] = library.entries[0]
    records = rispy.loads(out.ris)
    assert len(records) == 1, "exactly one RIS record"
    parsed["ris"] = records[0]
    parsed["csl"] = json.loads(out.csl)
    parsed["datacite"] = etree.fromstring(out.datacite.encode("utf-8"))
    g = Graph()
    g.parse(data=out.turtle, format="turtle")
    parsed["turtle"] = g
    g2 = Graph()
    g2.parse(data=out.rdfxml, format="xml")
    parsed["rdfxml"] = g2
    if out.oai:
        parsed["oai"] = etree.fromstring(out.oai.encode("utf-8"))
    return parsed
