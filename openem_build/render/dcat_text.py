"""DCAT's statements written as Turtle and RDF/XML text, subject by subject, without rdflib's serialisers.

The catalogue's files are written one dataset at a time instead of through one rdflib graph of the whole
catalogue (whose serialisers took most of a large build, and whose RDF/XML output order varied between runs).
A dataset's statements are grouped by subject in the order they were made (a :data:`Block` each, every
statement pre-rendered in both syntaxes); a node shared by several datasets (a person's ORCID iD, the publisher)
is described where it first appears and its repeated statements are left out (see ``dcat.write_files``).
Blocks are plain data: a dataset's are kept with its files (as JSON) and written into the catalogue's files by a
later build without being made again.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from rdflib import Literal
from rdflib.namespace import RDF

from ..infra import jsontext
from . import xmltext
from .dcat_terms import PREFIXES


class Statements(list):
    """Stands in for a Graph while the statements of one dataset are made: ``add`` only, in order."""

    def add(self, triple: tuple) -> None:
        self.append(triple)


_RDF_NS = str(RDF)
TYPE = RDF.type
NAMESPACES = tuple((prefix, str(ns)) for prefix, ns in PREFIXES) + (("rdf", _RDF_NS),)
_LOCAL = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TTL_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_TTL_STRING = re.compile(r'[\\"\x00-\x1f\x7f]')
_TTL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


@cache
def _qname(iri: str) -> tuple[str, str, str] | None:
    """(prefix, local name, namespace) of an IRI in one of the bound namespaces, or None."""
    for prefix, ns in NAMESPACES:
        if iri.startswith(ns) and _LOCAL.fullmatch(iri[len(ns):]):
            return prefix, iri[len(ns):], ns
    return None


def _ttl_iri(iri: str) -> str:
    # (without what RDF/XML cannot hold either, so that both files say the same; no UTF-8 holds a surrogate)
    return "<" + _TTL_IRI.sub(lambda m: f"\\u{ord(m.group()):04X}", xmltext.clean(iri)) + ">"


def _ttl_name(iri: str) -> str:
    q = _qname(iri)
    return f"{q[0]}:{q[1]}" if q else _ttl_iri(iri)


def ttl_term(term: Any) -> str:
    if isinstance(term, Literal):
        text = '"' + _TTL_STRING.sub(lambda m: _TTL_ESCAPES.get(m.group()) or f"\\u{ord(m.group()):04X}",
                                     xmltext.clean(str(term))) + '"'
        if term.language:
            return f"{text}@{term.language}"
        return f"{text}^^{_ttl_name(str(term.datatype))}" if term.datatype else text
    return _ttl_iri(str(term))


def _xml_element(iri: str) -> tuple[str, str]:
    """The element name of a property or class, and the namespace declaration it needs (if not bound)."""
    q = _qname(iri)
    if q:
        return f"{q[0]}:{q[1]}", ""
    cut = max(iri.rfind("#"), iri.rfind("/")) + 1
    if not _LOCAL.fullmatch(iri[cut:]):
        raise ValueError(f"{iri} cannot be written in RDF/XML")
    return f"ns0:{iri[cut:]}", f' xmlns:ns0="{xmltext.escape_attribute(iri[:cut])}"'


#: One subject's statements as written: its Turtle term, its ``rdf:about`` value, whether it belongs to the
#: dataset (its URL's fragment) rather than being shared with others, and each (predicate, object) pre-rendered
#: (see :func:`pair`).
Block = tuple[str, str, bool, list[tuple[str, str, str]]]


def grouped(statements: list) -> dict[Any, list]:
    """Statements grouped by subject, in the order subjects first appear, without repeats."""
    out: dict[Any, list] = {}
    for s, p, o in statements:
        pairs = out.setdefault(s, [])
        if (p, o) not in pairs:
            pairs.append((p, o))
    return out


def pair(p: Any, o: Any) -> tuple[str, str, str]:
    """A (predicate, object) as its Turtle text, its RDF/XML element, and the element name it gives its subject's
    node when it is a type RDF/XML can write that way ("" otherwise)."""
    if p == TYPE:
        ttl = "a " + (_ttl_name(str(o)) if not isinstance(o, Literal) else ttl_term(o))
    else:
        ttl = _ttl_name(str(p)) + " " + ttl_term(o)
    q = _qname(str(o)) if p == TYPE and not isinstance(o, Literal) else None
    prop, decl = _xml_element(str(p))
    if not isinstance(o, Literal):
        return ttl, f'    <{prop}{decl} rdf:resource="{xmltext.escape_attribute(str(o))}"/>\n', \
            f"{q[0]}:{q[1]}" if q else ""
    if o.language:
        decl += f' xml:lang="{xmltext.escape_attribute(o.language)}"'
    elif o.datatype:
        decl += f' rdf:datatype="{xmltext.escape_attribute(str(o.datatype))}"'
    return ttl, f"    <{prop}{decl}>{xmltext.escape_text(str(o))}</{prop}>\n", ""


def blocks(statements: list, local: str | None) -> list[Block]:
    """The blocks of ``statements``; subjects under ``local`` (a dataset's URL) are the dataset's own."""
    return [(ttl_term(s), xmltext.escape_attribute(str(s)), local is not None and s.startswith(local),
             [pair(p, o) for p, o in pairs]) for s, pairs in grouped(statements).items()]


def turtle(s: str, pairs: list[tuple[str, str, str]]) -> str:
    return s + "\n    " + " ;\n    ".join(ttl for ttl, _, _ in pairs) + " .\n\n"


def rdfxml(about: str, pairs: list[tuple[str, str, str]]) -> str:
    kind = next((i for i, (_, _, name) in enumerate(pairs) if name), None)
    name = pairs[kind][2] if kind is not None else "rdf:Description"
    lines = "".join(xml for i, (_, xml, _) in enumerate(pairs) if i != kind)
    return f'  <{name} rdf:about="{about}">\n{lines}  </{name}>\n'


_Kept = list[Block]


def decode(data: bytes | None) -> list[Block] | None:
    """A dataset's blocks kept as its part; None when there is none or it is not blocks (they are made again)."""
    if data is None:
        return None
    try:
        return jsontext.loads(data, _Kept)
    except ValueError:
        return None


#: The start of a Turtle file and of an RDF/XML file.
HEAD = "".join(f"@prefix {prefix}: <{ns}> .\n" for prefix, ns in sorted(NAMESPACES)) + "\n"
XML_HEAD = ('<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF\n' + "".join(
    f'  xmlns:{prefix}="{ns}"\n' for prefix, ns in sorted(NAMESPACES)) + ">\n")
