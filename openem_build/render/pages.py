"""HTML of the landing pages and the field reference, from autoescaped Jinja2 templates (lists: listing.py)."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from ..infra.context import SiteContext
from ..infra.urls import archive_url, doi_url, http_only
from ..records.licenses import license_name, license_url
from ..records.markdown import to_html, to_text
from ..records.model import Dataset, ManifestFile
from ..records.validate import schema
from . import citation, diffraction, mapview, previewgallery, searchmeta, signposting, versions
from .citation import one_line
from .empiar import set_files
from .filefacts import facts
from .jsonld import TECHNIQUE_LABELS, catalogue_jsonld, dataset_jsonld, script_json
from .pixelsize import set_pixel
from .registry import Artefact
from .units import pixel_size

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def human_size(n: int | None) -> str:
    """Bytes in decimal units, as archives show them (1.2 GB)."""
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def file_rows(files: Iterable[ManifestFile], href: Callable[[str], str] = str, technique: str | None = None) -> Markup:
    """The rows of a file table (``templates/dataset.html``): path (a download link, ``href`` of the file's URL,
    when it has a web URL, saved under the file's own name), format, dimensions and pixel size (from the header
    facts, pixel sizes in ``technique``'s unit), size and checksum. Cells that sort by something other than their
    text carry it in ``data-sort`` (``landing.js``). Made here rather than in the template's loop, which took
    most of a page's time for the up to thousands of files a page lists."""
    out = []
    for f in files:
        path, web, checksum = escape(f.path), f.download_urls, f.checksum
        name = (f'<a href="{escape(href(web[0]))}" download="{escape(f.name)}">{path}</a>' if web
                else f"<code>{path}</code>")
        check = f'<code class="openem-checksum">{escape(checksum[0])}:{escape(checksum[1])}</code>' if checksum else ""
        fact = facts(f, technique)
        pixel_key = f"{fact.pixel_A:.6f}" if fact.pixel_A is not None else ""
        out.append(f'<tr data-path="{path}"><td>{name}</td><td>{escape(fact.format)}</td>'
                   f'<td data-sort="{fact.voxels}">{escape(fact.dimensions)}</td>'
                   f'<td data-sort="{pixel_key}">{escape(fact.pixel)}</td>'
                   f'<td data-sort="{f.size if f.size is not None else ""}">{escape(human_size(f.size))}</td>'
                   f"<td>{check}</td></tr>\n")
    return Markup("".join(out))


def num(value: float | int | None) -> str:
    """A number without a needless trailing ``.0``."""
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


@cache
def env() -> jinja2.Environment:
    # HTML templates are autoescaped; the Markdown field reference is built from our own schema.
    e = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                           autoescape=jinja2.select_autoescape(disabled_extensions=("md",), default=True),
                           undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                           keep_trailing_newline=True)
    e.filters.update(size=human_size, file_rows=file_rows, num=num, doi_url=doi_url, archive_url=archive_url,
                     http_only=http_only, license_name=license_name, license_url=license_url, shell=shlex.quote,
                     technique=lambda t: TECHNIQUE_LABELS.get(t, t), pixel=pixel_size,
                     reciprocal_sampling=diffraction.sampling_per_A,
                     enum_title=_enum_title, oneline=one_line)
    e.tests["http_only"] = lambda url: bool(http_only(url))
    return e


def _enum_title(value: str | None, *pointer: str) -> str:
    node: dict[str, Any] = schema("dataset")
    for part in pointer:
        node = node["properties"][part] if part != "[]" else node["items"]
    titles = node.get("x-enum-titles", {})
    return titles.get(value, value or "")


def _manifest(d: Dataset) -> Any:
    return getattr(d, "manifest", None)


def _tree(files: Sequence[Any]) -> list[tuple[str, list[Any], int]]:
    """Files grouped by top-level folder: (folder, files, bytes), sorted by folder."""
    groups: dict[str, list[Any]] = {}
    for f in sorted(files, key=lambda f: f.path):
        folder = f.path.split("/", 1)[0] if "/" in f.path else "."
        groups.setdefault(folder, []).append(f)
    return [(k, v, sum(x.size or 0 for x in v)) for k, v in sorted(groups.items())]


def _get_sets(d: Dataset) -> list[tuple[str, str]]:
    """(directory, names of its image sets) for the page's `datalad get` lines, one line per directory."""
    out: dict[str, list[str]] = {}
    for s in d.data.image_sets:
        out.setdefault(s.directory.strip("/") or ".", []).append(s.name)
    return [(directory, "; ".join(names)) for directory, names in out.items()]


def dataset_page(ctx: SiteContext, d: Dataset, links: Sequence[Artefact], citation_text: str,
                 viewer: bool = False) -> str:
    """The body of a dataset's landing page; ``viewer``: whether the site holds the Mol* bundle (molstar.py), so
    that maps are shown in 3D."""
    manifest = _manifest(d)
    files = list(manifest.files) if manifest is not None else []
    affiliations: list[tuple[str, str | None]] = []
    for person in d.authors:
        for a in person.affiliations:
            if (a.name, a.ror) not in affiliations:
                affiliations.append((a.name, a.ror))
    def href(url: str) -> str:
        # A file in the store the site serves is linked relative to the page: the link works wherever the
        # site's folder is served, as the page's own links do.
        url = ctx.rebase(url)
        return "../../" + url[len(ctx.site_url):] if url.startswith(ctx.site_url) else url

    version_doi = versions.current_doi(d)
    all_maps = mapview.maps(d, files) if viewer and not d.is_embargoed else []
    return env().get_template("dataset.html").render(
        ctx=ctx, d=d, base="../../", href=href, facility=ctx.facility(d), description=to_html(d.description),
        links=[a for a in links if a.label], affiliations=affiliations, files=files, tree=_tree(files),
        total_size=manifest.total_size if files else None, citation=citation_text,
        web_files=any(f.download_urls for f in files), get_sets=_get_sets(d),
        set_pixels=[set_pixel(d, s, set_files(manifest, s)) for s in d.data.image_sets],
        clone_dir=d.id, versions=versions.rows(d, ctx.histories.get(d.id, ())), version_doi=version_doi,
        version_citation=citation.text(ctx, dataclasses.replace(d, doi=version_doi)) if version_doi else None,
        # (All versions: the text without the one version's number; citation.text writes " Version X.")
        all_versions_citation=citation_text.replace(f" Version {one_line(d.version)}.", "", 1),
        gallery=previewgallery.shown(d.previews, files), maps=[m for m in all_maps if m.url and not m.too_large],
        large_maps=[m for m in all_maps if m.url and m.too_large], mapview=mapview,
        landing_url=ctx.dataset_url(d), search_meta=searchmeta.dataset_meta(d))


def dataset_head(ctx: SiteContext, d: Dataset, links: Sequence[Artefact]) -> str:
    """What goes in the landing page's ``<head>``: JSON-LD, citation meta tags, Signposting links."""
    items = signposting.typed_items(ctx, d)
    return env().get_template("dataset_head.html").render(
        ctx=ctx, d=d, jsonld=script_json(dataset_jsonld(ctx, d)), summary=to_text(d.description)[:300],
        links=[a for a in links if a.label], facility=ctx.facility(d), items=items)


def home_head(ctx: SiteContext) -> str:
    return f'<script type="application/ld+json">{script_json(catalogue_jsonld(ctx))}</script>\n'


def field_reference() -> str:
    """Markdown reference of every dataset.yaml field, generated from the JSON Schema."""
    root = schema("dataset")
    rows: list[tuple[str, dict[str, Any], bool]] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        required = set(node.get("required", ()))
        for name, prop in node.get("properties", {}).items():
            if "$ref" in prop:
                prop = root["$defs"][prop["$ref"].split("/")[-1]]
            path = f"{prefix}{name}"
            rows.append((path, prop, name in required))
            if prop.get("type") == "object":
                walk(prop, path + ".")
            items = prop.get("items", {})
            if "$ref" in items:
                items = root["$defs"][items["$ref"].split("/")[-1]]
            if prop.get("type") == "array" and items.get("type") == "object":
                walk(items, path + "[].")

    walk(root, "")
    return env().get_template("field_reference.md").render(
        rows=rows, dumps=lambda value: json.dumps(value, ensure_ascii=False))
