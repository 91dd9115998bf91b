"""What a dataset page tells the search index beyond its text: its thumbnail and a summary of its description.

Search results show a dataset's thumbnail and a snippet of its description (assets/openem/search.js), not
Pagefind's excerpt, which is cut from wherever the words matched (badges, author lists). Both go in attributes
of hidden elements inside the indexed article (templates/dataset.html), so neither adds words to the index.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from ..records.markdown import to_text
from ..records.model import Dataset
from . import thumbs

#: The value of the Pagefind filter ``kind`` on dataset pages (other pages: ``Page``, overrides/main.html).
KIND = "Dataset"
#: Characters of the description kept for a result's snippet (cut at a word).
SUMMARY_CHARS = 280


def summary(d: Dataset) -> str:
    """The start of the description as plain text, cut at a word within :data:`SUMMARY_CHARS`."""
    text = " ".join(to_text(d.description).split())
    if len(text) <= SUMMARY_CHARS:
        return text
    cut = text[:SUMMARY_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + " …"


def dataset_meta(d: Dataset) -> Markup:
    """Hidden elements carrying the Pagefind filter ``kind`` and the metadata ``summary``, ``image`` (Pagefind's
    image metadata: the site-relative path of the 160 px thumbnail), ``image_h`` (its height) and ``image_alt``."""
    parts = [f'<span hidden data-pagefind-filter="kind:{KIND}"></span>',
             f'<span hidden data-pagefind-meta="summary[data-summary]" data-summary="{escape(summary(d))}"></span>']
    t = thumbs.thumb(d)
    if t is not None:
        width = thumbs.WIDTHS[0]
        parts.append(f'<span hidden data-pagefind-meta="image[data-src], image_h[data-h], image_alt[data-alt]" '
                     f'data-src="{escape(t.files[0][1])}" data-h="{t.height(width)}" data-alt="{escape(t.alt)}">'
                     "</span>")
    return Markup("".join(parts))
