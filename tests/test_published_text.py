"""Text checks apply to the text as it will be published (issue 19), and no text can break an XML file.

Validation sees each text as written, with its character references decoded (as Markdown, the HTML sanitiser or
a consumer would) and, for the Markdown description, as the HTML and plain text made of it. Every XML writer
(DataCite, OAI-PMH, DCAT RDF/XML, sitemap) removes what XML 1.0 cannot hold, through one shared helper, so even
text that never went through validation gives files every parser reads.
"""

from __future__ import annotations

import dataclasses
import html
import json
import unicodedata

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from rdflib import Graph, Literal, URIRef

from openem_build.infra.context import SiteContext
from openem_build.records import manifest as M
from openem_build.records import textcheck
from openem_build.records.load import load_catalogue
from openem_build.records.markdown import to_html, to_text
from openem_build.records.model import Catalogue
from openem_build.records.validate import check_text
from openem_build.records.yamlsafe import parse
from openem_build.render import datacite, dcat, oai, sitemap, xmltext
from openem_build.render.citation import one_line

from .conftest import ROOT

#: Every character XML 1.0 cannot hold: C0 controls but tab, LF, CR; U+FFFE, U+FFFF; lone surrogates (and a
#: surrogate pair written as two code units, which Python keeps as two lone ones).
NOT_XML = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r") + "\ufffe\uffff\ud800\udfff\ud83d\ude00"
CATALOGUE = load_catalogue(ROOT).catalogue
DC = "{http://purl.org/dc/elements/1.1/}"
KERNEL = "{http://datacite.org/schema/kernel-4}"
#: How the poisoned title below reads in every XML file (one line: controls are spaces there, then removed).
TITLE = "P oisoned title"


def poisoned(text: str) -> str:
    """``text`` with every character XML cannot hold put in after its first letter."""
    return text[:1] + NOT_XML + text[1:]


# ------------------------------------------------------------------------------------------ the XML writers


@pytest.fixture(scope="module")
def ctx() -> SiteContext:
    """The example catalogue with one entry (and its facility, and the site's name) full of what XML cannot hold,
    as if it had never been validated."""
    d = CATALOGUE.datasets[0]
    # (not the description: Markdown's sanitiser, written in Rust, cannot take a lone surrogate at all; validation
    # refuses them in every form, and the rest of NOT_XML is in it)
    description = "P" + NOT_XML.replace("\ud800\udfff\ud83d\ude00", "") + "oisoned *description*, long enough."
    bad = dataclasses.replace(
        d, title=poisoned("Poisoned title"), description=description,
        keywords=(poisoned("keyword"),), authors=tuple(dataclasses.replace(p, name=poisoned(p.name))
                                                       for p in d.authors),
        sample=dataclasses.replace(d.sample, name=poisoned("Sample")))
    facility = dataclasses.replace(CATALOGUE.facilities[d.facility], name=poisoned("Facility"))
    catalogue = Catalogue((bad, *CATALOGUE.datasets[1:]), {**CATALOGUE.facilities, d.facility: facility},
                          CATALOGUE.root)
    return SiteContext(catalogue, site_url="https://example.org/", site_name=poisoned("Site"))


def test_the_poison_is_everything_xml_cannot_hold() -> None:
    for c in NOT_XML:
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(f"<a>&#{ord(c)};</a>".encode())
    assert xmltext.clean(poisoned("abc")) == "abc"
    assert xmltext.NOT_XML.findall("\t\n\r\x7f\x85\u202e\ufffd\U00010000\U0010ffff") == []


def test_datacite_xml_parses_and_keeps_the_text(ctx: SiteContext) -> None:
    d = ctx.catalogue.datasets[0]
    root = etree.fromstring(datacite.xml(ctx, d).encode("utf-8"))
    assert root.findtext(f"{KERNEL}titles/{KERNEL}title") == TITLE
    assert root.findtext(f"{KERNEL}subjects/{KERNEL}subject") == "k eyword"
    assert "oisoned description, long enough." in root.findtext(f"{KERNEL}descriptions/{KERNEL}description")
    names = [e.text for e in root.iter(f"{KERNEL}creatorName")]
    assert names == [xmltext.clean(one_line(p.name)) for p in d.authors]
    # The same metadata go to the REST API as JSON: nothing there that DataCite's XML could not hold.
    assert xmltext.NOT_XML.search(repr(datacite.attributes(ctx, d))) is None


def test_oai_pmh_parses_and_keeps_the_text(ctx: SiteContext) -> None:
    (dc, resource) = (etree.fromstring(a.content if isinstance(a.content, bytes) else a.content.encode())
                      for a in oai.record_artefacts(ctx, ctx.catalogue.datasets[0]))
    assert TITLE in {e.text for e in dc.iter(f"{DC}title")}
    assert xmltext.clean(one_line(poisoned("Facility"))) in {e.text for e in dc.iter(f"{DC}contributor")}
    assert resource.tag == "{http://datacite.org/schema/kernel-4}resource"
    index = json.loads(oai.artefacts(ctx)[0].content)
    assert index["repositoryName"] == "Site" and xmltext.NOT_XML.search(json.dumps(index, ensure_ascii=False)) is None
    assert xmltext.clean(one_line(poisoned("Facility"))) in {s["setName"] for s in index["sets"]}


def test_dcat_rdf_xml_and_turtle_parse_and_say_the_same(ctx: SiteContext) -> None:
    turtle, rdfxml = dcat.serialise(ctx)
    etree.fromstring(rdfxml)
    g_xml = Graph().parse(data=rdfxml, format="xml")
    g_ttl = Graph().parse(data=turtle, format="turtle")
    assert set(g_xml) == set(g_ttl)
    d = ctx.catalogue.datasets[0]
    title = Literal(TITLE, lang="en")
    assert (URIRef(ctx.dataset_url(d)), URIRef("http://purl.org/dc/terms/title"), title) in g_xml


def test_sitemap_parses() -> None:
    text = sitemap.sitemap_xml([(f"https://example.org/{poisoned('page')}/", None), ("https://example.org/", None)])
    locs = [e.text for e in etree.fromstring(text.encode("utf-8")).iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert locs == ["https://example.org/page/", "https://example.org/"]


@pytest.mark.parametrize("text", ["a & b < c > d \" ' e", "tab\there\nline\rcr", poisoned("x & <y>")])
def test_escapes_read_back_as_the_clean_text(text: str) -> None:
    root = etree.fromstring(f'<a b="{xmltext.escape_attribute(text)}">{xmltext.escape_text(text)}</a>'.encode())
    assert root.get("b") == xmltext.clean(text)
    assert root.text == xmltext.clean(text)


# ------------------------------------------------------------------------------------------ validation

#: Texts that are refused as written, after decoding, or once the Markdown is rendered: (text, what the message
#: starts with). They go into a one-line field and into the description.
REFUSED = [
    ("a &#27;[31m b", "contains the control character U+001B"),
    ("a &#x1b; b", "contains the control character U+001B"),
    ("a &#X1B; b", "contains the control character U+001B"),
    ("a &#0000027; b", "contains the control character U+001B"),
    ("a &#27 b", "contains the control character U+001B"),  # (no ';': HTML decodes it all the same)
    ("a &#1; b", "contains the control character U+0001"),
    ("a &#11; b", "contains the control character U+000B"),
    ("a &#0; b", "contains the control character U+0000"),
    ("a &#x85; b", "contains the control character U+0085"),  # (what an XML parser makes of it)
    ("a &#xFFFE; b", "contains the noncharacter U+FFFE"),
    ("a &#x10FFFF; b", "contains the noncharacter U+10FFFF"),
    ("a &#xD800; b", "contains the lone surrogate U+D800"),
    ("a &#x202E; b", "contains a bidirectional-override character (U+202E"),
    ("a &#8238; b", "contains a bidirectional-override character (U+202E"),
    ("a &rlm; b", "contains a bidirectional-override character (U+200F"),
    ("a &lrm; b", "contains a bidirectional-override character (U+200E"),
    ("a &#x200B; b", "contains the invisible character U+200B"),
    ("a &#x200b b", "contains the invisible character U+200B"),
    ("a &ZeroWidthSpace; b", "contains the invisible character U+200B"),
    ("a &NegativeThinSpace; b", "contains the invisible character U+200B"),
    ("a &NoBreak; b", "contains the invisible character U+2060"),
    ("a &InvisibleTimes; b", "contains the invisible character U+2062"),
    ("a &shy; b", "contains the invisible character U+00AD"),
    ("a &shy b", "contains the invisible character U+00AD"),  # (a legacy name: no ';' needed)
    ("a&zwj;b", "contains the invisible character U+200D"),
    ("a &#xFEFF; b", "contains the invisible character U+FEFF"),
    ("a &#xE0041; b", "contains the invisible character U+E0041"),
    ("a &amp;#27; b", "contains the control character U+001B (written as '&amp;#27;')"),
    ("a &amp;amp;#x202E; b", "contains a bidirectional-override character (U+202E, written as '&amp;amp;#x202E;')"),
    ("a &#38;#27; b", "contains the control character U+001B"),
    ("a &#x26;#x200B; b", "contains the invisible character U+200B"),
    ("a &amp;&num;27; b", "contains the control character U+001B (written as '&amp;&num;27;')"),
    ("a &" + "amp;" * 12 + "#27; b", "holds character references nested more than 8 levels deep"),
    ("a \x1b b", "contains the control character U+001B"),
    ("a \u202e b", "contains a bidirectional-override character"),
    ("a \u2066 b", "contains a bidirectional-override character"),
    ("a \u061c b", "contains a bidirectional-override character"),
    ("a \u200b b", "contains the invisible character U+200B"),
    ("a \u2064 b", "contains the invisible character U+2064"),
    ("a \u180e b", "contains the invisible character U+180E"),
    ("a \u034f b", "contains the invisible character U+034F"),
    ("a \u3164 b", "contains the invisible character U+3164"),
    ("a \ufe0f b", "contains the invisible character U+FE0F"),  # (a variation selector with no character)
    ("a \u2764\ufe0f\ufe0f b", "contains the invisible character U+FE0F"),  # (two in a row)
    ("a\u200db", "contains the invisible character U+200D"),  # (a joiner between ASCII letters joins nothing)
    ("a \U000e0100 b", "contains the invisible character U+E0100"),
    ("a \ufdd0 b", "contains the noncharacter U+FDD0"),
    ("a \U0001fffe b", "contains the noncharacter U+1FFFE"),
]
#: Only the description is Markdown: these are fine as written in a one-line field (nothing decodes them there
#: into anything but themselves), refused in the description.
REFUSED_AS_MARKDOWN = [
    ("a &\\#27; b", "contains the control character U+001B (once the Markdown is rendered)"),
    ("a &\\#x202E; b", "contains a bidirectional-override character (U+202E, once the Markdown is rendered)"),
    ("a &<!-- -->#27; b", "contains the control character U+001B (once the Markdown is rendered)"),
    ("a &<b></b>#x200B; b", "contains the invisible character U+200B (once the Markdown is rendered)"),
    ("a &*#27;* b", "contains the control character U+001B (once the Markdown is rendered)"),
]
ACCEPTED = [
    "AT&T, R&D, Smith & Sons, a&b",
    "&amp; &lt;script&gt; &#60;b&#62; &copy; &#169; &#x2705; &amp;amp; &euro",
    "Cryo-EM \u2764\ufe0f \U0001f469\u200d\U0001f52c \U0001f3f3\ufe0f\u200d\U0001f308 keycap 1\ufe0f\u20e3",
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u0915\u094d\u200d\u0937 \u845b\U000e0100",
    "Å ångström µm e⁻/Å² 30 °C \u00a0no-break \u2009thin \u3000ideographic",
    "line\u2028separator",
    "&#" + "9" * 5000 + "; is no character at all",  # (decoded as U+FFFD, as HTML does)
]


def _problems(field: str, value: str) -> list[str]:
    doc = parse(yaml.safe_dump({field: value} if field != "keywords" else {"keywords": ["x", value]},
                               allow_unicode=True, width=100000))
    return [f"{p.line}:{p.col}: {p.field}: {p.message}" for p in check_text(doc, "dataset.yaml")]


@pytest.mark.parametrize("field", ["title", "keywords", "description"])
@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_refused_in_every_form(field: str, text: str, message: str) -> None:
    found = _problems(field, text)
    shown = "keywords[1]" if field == "keywords" else field
    assert any(p.split(": ", 2)[1] == shown and p.split(": ", 2)[2].startswith(message) for p in found), found


@pytest.mark.parametrize(("text", "message"), REFUSED_AS_MARKDOWN)
def test_refused_once_the_markdown_is_rendered(text: str, message: str) -> None:
    (found,) = _problems("description", text)
    assert found.split(": ", 2)[2].startswith(message)


@pytest.mark.parametrize("text", ACCEPTED)
@pytest.mark.parametrize("field", ["title", "keywords", "description"])
def test_accepted(field: str, text: str) -> None:
    assert _problems(field, text) == []


def test_line_breaks_are_fine_in_the_description_also_as_references() -> None:
    assert _problems("description", "one\ntwo\tthree&NewLine;four&#10;five&Tab;six&#13;") == []
    assert _problems("title", "one&#10;two") == [
        "1:8: title: contains the control character U+000A (written as '&#10;')"]


def test_every_format_character_is_refused_unless_allow_listed() -> None:
    allowed = {"\u200c", "\u200d"}  # (only between non-ASCII letters or symbols: see textcheck)
    for code in range(0x110000):
        c = chr(code)
        if unicodedata.category(c) == "Cf" and c not in allowed:
            assert textcheck.findings(f"x{c}y"), hex(code)
            assert textcheck.findings(f"x&#x{code:x};y"), hex(code)
    for c in allowed:
        assert textcheck.findings(f"x{c}y") and not textcheck.findings(f"\u0645{c}\u062e")


# A string of fragments that make and break references, for the property below.
_FRAGMENTS = st.sampled_from([
    "&", "#", "x", "X", ";", "amp;", "amp", "#38;", "#x26;", "27", "1b", "1B", "202E", "200b", "d800", "fffe",
    "85", "0", "NewLine;", "rlm", "zwj;", "shy", "ZeroWidthSpace;", "lt;", "nbsp;", "\\", "*", "`", "<!-- -->",
    "<b>", "</b>", "[x](http://a \"", "\")", "\n", " ", "a", "é", "\u200d", "\U0001f469", "\u0645", "\ufe0f",
])


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, min_size=1, max_size=24).map("".join))
def test_what_passes_the_check_publishes_nothing_it_refuses(text: str) -> None:
    """A description the check accepts gives HTML and plain text, even decoded once more by a consumer, without
    anything the check refuses, and nothing an XML writer would have to remove."""
    if textcheck.findings(text, multiline=True, markdown=True):
        return
    for published in (to_html(text), to_text(text)):
        for form in (published, html.unescape(published), textcheck.decoded(published) or ""):
            assert textcheck.findings(form, multiline=True) == [], (text, form)
            assert xmltext.NOT_XML.search(form) is None, (text, form)
    if "\n" not in text and not textcheck.findings(text):  # as a one-line field, decoded by a consumer
        assert xmltext.NOT_XML.search(textcheck.decoded(text) or "") is None


# ------------------------------------------------------------------------------------------ manifest.json

_HEAD = '{"manifest_version": 1, "commit": "' + "a" * 40 + '", "datalad_id": null, "files": [\n'


@pytest.mark.parametrize(("path", "message"), [
    ("movies/a\\u202egnp.mrc", "contains a bidirectional-override character"),
    ("movies/a\u202egnp.mrc", "contains a bidirectional-override character"),
    ("movies/a\\u2066b.mrc", "contains a bidirectional-override character"),
    ("movies/a&#x202E;gnp.mrc", "contains a bidirectional-override character (U+202E, written as '&#x202E;')"),
    ("movies/a\\u200bb.mrc", "contains the invisible character U+200B"),
    ("movies/a\u200bb.mrc", "contains the invisible character U+200B"),
    ("movies/a&ZeroWidthSpace;b.mrc", "contains the invisible character U+200B"),
    ("movies/a\\u00adb.mrc", "contains the invisible character U+00AD"),
    ("movies/a\\ufffeb.mrc", "contains the noncharacter U+FFFE"),
    ("movies/a\\ud800b.mrc", "contains the lone surrogate U+D800"),
])
def test_manifest_paths_are_checked_like_text(path: str, message: str) -> None:
    text = _HEAD + '  {"path": "' + path + '", "size": 1, "key": null, "urls": []}\n]}\n'
    manifest, _doc, problems = M.parse(text, "manifest.json")
    assert manifest is None
    (problem,) = problems
    assert (problem.line, problem.col, problem.field) == (2, 12, "files[0].path")
    assert message in problem.message


def test_manifest_urls_are_checked_like_text() -> None:
    text = _HEAD + '  {"path": "a.mrc", "size": 1, "key": null, "urls": ["https://example.org/\\u202egnp"]}\n]}\n'
    manifest, _doc, problems = M.parse(text, "manifest.json")
    assert manifest is None
    assert [(p.field, p.message) for p in problems] == [
        ("files[0].urls", "a URL contains a bidirectional-override character, which can disguise text")]


@pytest.mark.parametrize("path", ["movies/é ü.mrc", "movies/R&D.mrc", "movies/a&amp;b.mrc", "movies/\U0001f9ec.mrc"])
def test_ordinary_manifest_paths_are_fine(path: str) -> None:
    text = _HEAD + '  {"path": "' + path + '", "size": 1, "key": null, "urls": ["https://example.org/?a=1&b=2"]}\n]}\n'
    manifest, _doc, problems = M.parse(text, "manifest.json")
    assert problems == [] and [f.path for f in manifest.files] == [path]


def test_the_format_character_table_is_the_unicode_database():
    """The table of category Cf that spares each process a scan of every code point is the database's own."""
    assert textcheck.format_ranges("scan") == textcheck.format_ranges()
    assert unicodedata.unidata_version != "14.0.0" or textcheck.format_ranges() is textcheck._FORMAT_RANGES_14


@pytest.mark.parametrize("text, field", [
    ("plain", "title"), ("two\nlines", "title"), ("two\nlines", "description"), ("tab\there", "details"),
    ("zero\u200bwidth", "description"), ("Å and µ", "title"), ("R&amp;D", "title"), ("&#27;", "name"),
    ("\u202eevil", "title"), ("TODO: fill", "title"), ("emoji \u2764\ufe0f", "title"), ("cr\r", "title"),
])
def test_check_text_of_a_whole_document_is_that_of_each_text(text, field):
    """The one test of all texts of a document (what nearly every document passes) passes only when the
    text-by-text check finds nothing, and does pass for plain text."""
    from openem_build.records import validate

    doc = parse(yaml.safe_dump({"title": "A", "data": {"image_sets": [{field: text}]}, field: text}))
    each = [f for _p, t in validate._strings(doc.data)
            for f in textcheck.findings(t, multiline=_p[-1] in validate._MULTILINE_FIELDS)]
    assert not (validate._all_plain(doc.data) and each)
    assert validate._all_plain(doc.data) or "&" in text or not text.isascii() or not text.isprintable()
    assert bool(check_text(doc, "x.yaml")) == bool(each)
