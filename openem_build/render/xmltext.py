"""Text that XML 1.0 can carry: the one helper every XML writer of the site uses (DataCite XML, OAI-PMH, DCAT
RDF/XML, the sitemap).

XML 1.0 has no way at all to hold the C0 control characters other than tab, line feed and carriage return
(not even as ``&#27;``), lone surrogates, or U+FFFE and U+FFFF: a single one makes the whole file unreadable
to every parser. Validation refuses them in entries, as written and as character references
(:mod:`openem_build.records.textcheck`); the writers remove any that still arrive (from a facility name, the site's
settings, a file header …), so no input can break a harvester's file. lxml refuses to write them at all, with
an exception that would stop the build.
"""

from __future__ import annotations

import re
from typing import Any

#: Every character XML 1.0 cannot carry (the complement of its Char production).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT = re.compile(r"[&<>\r]")
_ATTRIBUTE = re.compile(r'[&<>"\n\r\t]')
# (a carriage return, and in attributes tab and line feed, are written as references: a parser would
# normalise them away otherwise)
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return NOT_XML.sub("", text)


def clean_all(value: Any) -> Any:
    """``value`` with every string inside it (mappings, lists and tuples, keys too) :func:`clean`."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean_all(k): clean_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_all(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean_all(v) for v in value)
    return value


def escape_text(text: str) -> str:
    """``text`` as XML character data (for writers that build the XML as text)."""
    return _TEXT.sub(lambda m: _ESCAPES[m.group()], clean(text))


def escape_attribute(text: str) -> str:
    """``text`` as the value of an attribute in double quotes."""
    return _ATTRIBUTE.sub(lambda m: _ESCAPES[m.group()], clean(text))
