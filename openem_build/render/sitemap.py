"""``sitemap.xml`` (sitemaps.org 0.9) and ``robots.txt``.

Every page's ``lastmod`` comes from the git history of the files it is made of (a dataset's page: the newest
commit touching ``datasets/<id>/``), never from the build time. The git query is :func:`git_dates`, an edge
function the MkDocs plugin calls once per build; everything else here is pure.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from ..infra.context import SiteContext
from ..records.model import Catalogue
from . import xmltext
from .registry import Artefact, Parts, Streamed, per_catalogue

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


# ------------------------------------------------------------------------------------------------------ edge


def git_dates(root: Path | str, paths: Sequence[str] = ("datasets", "docs")) -> dict[str, date]:
    """The day (UTC) of the newest commit touching each file under ``paths``, keyed by path relative to ``root``.

    One ``git log`` call for the whole tree. Empty when ``root`` is not in a git work tree or has no history.
    """
    cmd = ["git", "-c", "core.quotepath=off", "-C", str(root), "log", "--format=%x00%ct", "--name-only",
           "--relative", "--no-renames", "--", *paths]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    if proc.returncode != 0:
        return {}
    return parse_git_log(proc.stdout)


def parse_git_log(text: str) -> dict[str, date]:
    """Parse ``git log --format=%x00%ct --name-only`` output (newest commit first) into path → day."""
    out: dict[str, date] = {}
    current: date | None = None
    for line in text.splitlines():
        if line.startswith("\x00"):
            stamp = line[1:].strip()
            current = datetime.fromtimestamp(int(stamp), UTC).date() if stamp.isdigit() else None
        elif line.strip() and current is not None:
            out.setdefault(line.strip(), current)  # the first (newest) commit wins
    return out


# ------------------------------------------------------------------------------------------------------ pure


def dataset_dates(catalogue: Catalogue, files: Mapping[str, date]) -> dict[str, date]:
    """Dataset id → the day its files last changed in git; without history, ``dates.modified`` or ``published``."""
    newest: dict[str, date] = {}
    for path, day in files.items():
        parts = path.split("/")
        if len(parts) >= 3 and parts[0] == "datasets":
            ident = parts[1]
            if ident not in newest or day > newest[ident]:
                newest[ident] = day
    return {d.id: newest.get(d.id) or d.dates.modified or d.dates.published for d in catalogue.datasets}


def page_dates(ctx: SiteContext, pages: Iterable[tuple[str, str | None]], files: Mapping[str, date],
               ) -> list[tuple[str, date | None]]:
    """``(page URL path, source path relative to the catalogue root or None)`` → ``(absolute URL, lastmod)``.

    Dataset pages take their dataset's day; facility pages the newest of their datasets (or of
    ``datasets/facilities.yaml``); the home, browse and facilities index pages the newest dataset; pages from
    ``docs/`` their own file's git day. Pages with no known day get no ``lastmod``.
    """
    cat = ctx.catalogue
    by_dataset = dataset_dates(cat, files)
    newest_all = max(by_dataset.values(), default=None)
    facilities_day = files.get("datasets/facilities.yaml")
    by_facility: dict[str, date] = {}
    for d in cat.datasets:
        day = by_dataset[d.id]
        if d.facility not in by_facility or day > by_facility[d.facility]:
            by_facility[d.facility] = day
    out: list[tuple[str, date | None]] = []
    for url, source in pages:
        url = "" if url in (".", "./") else url  # MkDocs' URL of the home page
        path = url.strip("/")
        parts = path.split("/") if path else []
        day: date | None = None
        if len(parts) == 2 and parts[0] == "datasets" and parts[1] in cat.by_id:
            day = by_dataset[parts[1]]
        elif len(parts) == 2 and parts[0] == "facilities" and parts[1] in cat.facilities:
            day = _newest(by_facility.get(parts[1]), facilities_day)
        elif path in ("", "browse", "facilities", "index.html", "browse/index.html", "facilities/index.html"):
            day = _newest(newest_all, facilities_day if path.startswith("facilities") else None)
        elif source:
            day = files.get(source)
        out.append((ctx.url(url), day))
    return sorted(out, key=lambda item: item[0])


def _newest(*days: date | None) -> date | None:
    known = [d for d in days if d is not None]
    return max(known) if known else None


def sitemap_xml(entries: Iterable[tuple[str, date | None]]) -> str:
    """A sitemaps.org ``urlset`` from ``(absolute URL, lastmod)`` pairs, in the order given."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<urlset xmlns="{SITEMAP_NS}">']
    for loc, lastmod in entries:
        lines.append("  <url>")
        lines.append(f"    <loc>{xmltext.escape_text(loc)}</loc>")
        if lastmod is not None:
            lines.append(f"    <lastmod>{lastmod.isoformat()}</lastmod>")
        lines.append("  </url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots_txt(ctx: SiteContext) -> str:
    return f"User-agent: *\nAllow: /\n\nSitemap: {ctx.url('sitemap.xml')}\n"


def artefacts(ctx: SiteContext, pages: Iterable[tuple[str, str | None]], files: Mapping[str, date],
              ) -> list[Artefact]:
    """``sitemap.xml`` and its gzip twin (both replace the ones MkDocs writes), from the site's pages."""
    text = sitemap_xml(page_dates(ctx, pages, files))
    # mtime=0: the same sitemap gives byte-identical .gz files (reproducible builds).
    packed = gzip.compress(text.encode("utf-8"), mtime=0)
    return [Artefact("sitemap.xml", text, media_type="application/xml"),
            Artefact("sitemap.xml.gz", packed, media_type="application/gzip")]


@per_catalogue(40)
def catalogue_artefacts(ctx: SiteContext, parts: Parts | None = None) -> list[Artefact]:
    """``robots.txt`` pointing at the sitemap."""
    return [Artefact("robots.txt", robots_txt(ctx), media_type="text/plain")]


def source_path(abs_path: str | None, root: str | Path) -> str | None:
    """A page's source file relative to the catalogue root (POSIX), or None for generated pages."""
    if not abs_path:
        return None
    try:
        return Path(abs_path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None


def dated_artefacts(ctx: SiteContext, pages: Iterable[tuple[str, str | None]]) -> list[Artefact | Streamed]:
    """Edge (called by the MkDocs plugin): the files whose dates come from git — the sitemap and OAI-PMH's index.

    ``pages``: ``(URL path, absolute source path or None)`` of every page. Runs ``git log`` twice.
    """
    from ..records import changes
    from . import oai

    root = ctx.catalogue.root or "."
    files = git_dates(root)
    sources = [(url, source_path(src, root)) for url, src in pages]
    # (OAI-PMH datestamps are seconds, from the trusted first-parent history: changes.py.)
    return artefacts(ctx, sources, files) + oai.artefacts(ctx, changes.times(root),
                                                          changes.deleted_record(root))
