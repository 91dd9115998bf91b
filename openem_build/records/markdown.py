"""Markdown from pull requests to safe HTML: Python-Markdown, then an allow-list sanitiser (nh3)."""

from __future__ import annotations

import html as _html
from functools import cache, lru_cache

import markdown as md
import nh3

_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5",
         "h6", "hr", "sub", "sup", "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd"}
_ATTRS = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


@lru_cache(maxsize=1 << 16)  # pure: every renderer of a dataset asks for the same description
def to_html(text: str) -> str:
    """Render a description: headings demoted below the page's own, raw HTML removed or neutralised,
    links restricted to http(s) and mailto and marked nofollow."""
    html = _converter("extra", "sane_lists").reset().convert(text)
    # The page title is the only h1 and sections use h2: demote the description's headings.
    for level in (2, 1):
        html = html.replace(f"<h{level}", f"<h{level + 2}").replace(f"</h{level}>", f"</h{level + 2}>")
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRS, url_schemes={"http", "https", "mailto"},
                     link_rel="nofollow noopener noreferrer", strip_comments=True)


@lru_cache(maxsize=1 << 16)
def to_text(text: str) -> str:
    """Plain text of a description (for meta tags and JSON-LD)."""
    return _html.unescape(nh3.clean(_converter("extra").reset().convert(text), tags=set())).strip()


@cache
def _converter(*extensions: str) -> md.Markdown:
    """One Markdown instance per set of extensions, reset before each use (building one is slow)."""
    return md.Markdown(extensions=list(extensions), output_format="html")
