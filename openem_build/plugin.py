"""The MkDocs plugin: loads and validates the catalogue, adds a page per dataset, writes the artefacts."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from . import artefacts as A
from . import gallery, history
from .context import DEFAULT_SITE_URL, PUBLISHER, SiteContext, build_date
from .load import load_catalogue
from .problems import ERROR
from .render import citation, pages, sitemap
from .validate import schema

log = logging.getLogger("mkdocs.plugins.openem")
FIELD_REFERENCE_MARKER = "<!-- openem:field-reference -->"


class OpenEMConfig(base.Config):
    root = c.Optional(c.Type(str))
    """The catalogue's root folder (holding datasets/); default: the folder of mkdocs.yml."""
    publisher = c.Type(str, default=PUBLISHER)
    publisher_ror = c.Optional(c.Type(str))


class OpenEMPlugin(BasePlugin[OpenEMConfig]):
    """Generated pages are rendered straight to HTML (no Markdown round trip) and kept out of the nav."""

    def __init__(self) -> None:
        self.ctx: SiteContext | None = None
        self._pages: dict[str, tuple[str, Any]] = {}
        self._artefacts: dict[str, list[A.Artefact]] = {}  # the labelled ones, without content (A.share)
        self._deferred: list[A.Artefact] = []
        self._sitemap_pages: list[tuple[str, str | None]] = []

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        root = Path(self.config.root or Path(config.config_file_path).parent).absolute()
        result = load_catalogue(root)
        for p in result.problems:
            if p.severity != ERROR:
                log.info(p.text())
        if not result.ok:
            messages = "\n".join(p.text() for p in result.problems if p.severity == ERROR)
            raise PluginError(f"the catalogue is invalid:\n{messages}")
        self.ctx = SiteContext(result.catalogue, site_url=config.site_url or DEFAULT_SITE_URL,
                               build_date=build_date(root), publisher=self.config.publisher,
                               publisher_ror=self.config.publisher_ror, site_name=config.site_name,
                               histories=history.histories(root))
        # Under `mkdocs serve`, editing a dataset YAML triggers a rebuild.
        datasets = str(root / "datasets")
        if datasets not in config.watch:
            config.watch.append(datasets)
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        assert self.ctx is not None
        ctx = self.ctx
        self._pages = {}

        def add(src_uri: str, kind: str, obj: Any = None) -> None:
            if files.get_file_from_path(src_uri) is None:
                files.append(File.generated(config, src_uri, content=""))
            self._pages[src_uri] = (kind, obj)

        # The schemas are site files in their own right (stable URLs, linkable from Markdown pages).
        for name in ("dataset", "facilities"):
            uri = f"schema/{name}.schema.json"
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, content=json.dumps(
                    schema(name), ensure_ascii=False, indent=2) + "\n"))
        add("index.md", "home")
        add("browse.md", "browse")
        add("search.md", "search")
        add("facilities/index.md", "facilities")
        for fac in ctx.catalogue.facilities.values():
            add(f"facilities/{fac.id}.md", "facility", fac)
        self._artefacts = {}
        self._deferred = []
        for d in ctx.catalogue.datasets:
            add(f"datasets/{d.id}/index.md", "dataset", d)
        # Each dataset's files are made once and written now (into the build's own, freshly cleaned site
        # folder), so their texts are not all held until the end; the page, the API and the linksets use the
        # content-free list kept by A.share. A path MkDocs itself writes later is kept for on_post_build,
        # so that the artefact still wins, as it always did.
        site = Path(config.site_dir)
        taken = {f.dest_uri for f in files}
        for d in ctx.catalogue.datasets:
            made = A.for_dataset(ctx, d)
            for art in made:
                if art.path in taken:
                    self._deferred.append(art)
                else:
                    _write(site, art)
            self._artefacts[d.id] = A.share(ctx, d, made)
        self._sitemap_pages = [(f.url, f.abs_src_path) for f in files.documentation_pages()]
        return files

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        entry = self._pages.get(page.file.src_uri)
        if entry is None:
            if FIELD_REFERENCE_MARKER in markdown:
                markdown = markdown.replace(FIELD_REFERENCE_MARKER, pages.field_reference())
            return markdown
        kind, obj = entry
        titles = {"home": None, "browse": "Browse datasets", "facilities": "Facilities", "search": "Search"}
        # MkDocs' theme prints page titles without escaping: hand it escaped text.
        title = obj.title if kind == "dataset" else obj.name if kind == "facility" else titles[kind]
        if title:
            page.meta["title"] = html.escape(title)
        # Generated pages have their own structure: give them the full width.
        page.meta["hide"] = ["navigation", "toc"]
        # overrides/main.html: which pages the search index reads whole (see openem_build/search.py).
        page.meta["openem_kind"] = kind
        if kind == "dataset":
            page.meta["openem_head"] = pages.dataset_head(self.ctx, obj, self._artefacts[obj.id])
        elif kind == "home":
            page.meta["openem_head"] = pages.home_head(self.ctx)
        return ""

    def on_page_content(self, html_: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        entry = self._pages.get(page.file.src_uri)
        if entry is None:
            return html_
        ctx = self.ctx
        assert ctx is not None
        kind, obj = entry
        if kind == "dataset":
            return pages.dataset_page(ctx, obj, self._artefacts[obj.id], citation.text(ctx, obj))
        if kind == "home":
            return pages.home_page(ctx, self._sizes())
        if kind == "browse":
            return pages.browse_page(ctx, self._sizes())
        if kind == "search":
            from .search import search_page

            return search_page(ctx)
        if kind == "facilities":
            return pages.facilities_page(ctx)
        return pages.facility_page(ctx, obj)

    def _sizes(self) -> dict[str, int]:
        assert self.ctx is not None
        sizes = {}
        for d in self.ctx.catalogue.datasets:
            manifest = getattr(d, "manifest", None)
            if manifest is not None:
                sizes[d.id] = sum(f.size or 0 for f in manifest.files)
        return sizes

    def on_post_build(self, config: MkDocsConfig) -> None:
        assert self.ctx is not None
        site = Path(config.site_dir)
        # (Each dataset's own files were written in on_files, apart from these.)
        outputs = self._deferred + A.for_catalogue(self.ctx)
        # Sitemap (replacing MkDocs' own sitemap.xml and .gz) and OAI-PMH: dated from git, so built here.
        outputs += sitemap.dated_artefacts(self.ctx, self._sitemap_pages)
        for art in outputs:
            _write(site, art)
        self._deferred = []
        A.forget()
        # Preview PNGs: copied file by file from datasets/<id>/previews/ (never all held in memory).
        gallery.copy_to_site(self.ctx.catalogue, site)


def _write(site: Path, art: A.Artefact) -> None:
    target = site / art.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(art.content.encode("utf-8") if isinstance(art.content, str) else art.content)
