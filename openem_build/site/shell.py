"""The theme's page around a dataset page, rendered once per build and filled in for each dataset.

Every dataset page sits at the same depth of the site with the same template, navigation and metadata keys, so
the theme renders the same page around each one but for four parts: the title, the extra ``<head>``, the
article and the page's address (its id). Rendering MkDocs' template context and Material's ``main.html`` took
about a fifth of a page's time; filling the parts into a page rendered once with marks in their place takes
almost none.

The marks prove it: :func:`make` gives up (and the build renders each page in full) when the theme shows any
part in a form other than the one handed to it (escaped again, shortened, tested), or when a second page with
other parts, rendered in full, differs from the filled one. A theme may still decide something on what a part
holds (Material adds a heading to an article without one): the build also renders the first real page of each
process in full, and gives up the shell when it differs (``landing.render_one``).

Speed-up, measured (benchmarks/README.md, fifth round, N = 10,000): MkDocs' template context and Material's
templates took a fifth of a dataset page's time; with the shell (and the file rows made in Python) a page with
its files takes 5.0 instead of 6.0 ms of CPU, ~17 % of the dataset-pages phase (34 s of a 91 s cold build).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: What the first page is rendered with: the title as the theme gets it (already escaped), HTML for the head
#: and the article with characters a theme might escape, and an id in the schema's form. The article starts
#: with its heading, as a dataset page's does (Material adds one to a page without).
SLOTS = {
    "title": "OPENEM-SLOT-TITLE &amp; &lt;b&gt; &quot;x&quot; &#x27;",
    "head": '<meta name="openem-slot-head" content="a &amp; b">\n',
    "body": '<h1 id="title">OPENEM-SLOT-BODY</h1>\n<p><b>&amp;</b> &lt;</p>\n',
    "id": "openem-slot-id",
}
#: The second page, rendered in full and compared with the filled shell.
CHECK = {
    "title": "OPENEM-SLOT-CHECK Zebrafish &amp; mouse",
    "head": '<link rel="openem-slot-check" href="https://example.org/?a=1&amp;b=2">',
    "body": '<h1 id="title">OPENEM-SLOT-CHECK</h1>\n<div>\n  <em>a longer article</em>, of other words\n</div>',
    "id": "openem-slot-check-0",
}
_RESIDUE = re.compile("openem-slot", re.IGNORECASE)
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Shell:
    """A rendered page split at its parts: literal text and slot names, alternating, literal first and last."""

    parts: tuple[str, ...]

    def fill(self, title: str, head: str, body: str, id: str) -> str:  # noqa: A002 - the dataset's id
        """The page of a dataset with these parts; ``id`` in the schema's form (lowercase, digits, hyphens)."""
        if not _ID.fullmatch(id):
            raise ValueError(f"not a dataset id: {id!r}")
        values = {"title": title, "head": head, "body": body, "id": id}
        return "".join([part if i % 2 == 0 else values[part] for i, part in enumerate(self.parts)])


def make(render: Callable[..., str]) -> Shell | None:
    """The shell of the pages ``render(title=…, head=…, body=…, id=…)`` renders in full; None when filling it
    in cannot be shown to give the same pages."""
    page = render(**SLOTS)
    names = {value: name for name, value in SLOTS.items()}
    marks = re.compile("|".join(re.escape(v) for v in sorted(names, key=len, reverse=True)))
    parts: list[str] = []
    last = 0
    for found in marks.finditer(page):
        parts += [page[last:found.start()], names[found.group()]]
        last = found.end()
    parts.append(page[last:])
    if any(_RESIDUE.search(literal) for literal in parts[::2]):
        return None  # a part shown in another form: only a full rendering gives it
    shell = Shell(tuple(parts))
    return shell if shell.fill(**CHECK) == render(**CHECK) else None
