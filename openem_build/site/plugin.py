"""The MkDocs plugin: loads and validates the catalogue, adds a page per dataset, writes the artefacts."""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from ..data import annex, gallery, store
from ..infra.context import (
    DEFAULT_STORE_URL,
    PUBLISHER,
    SITE_URL_ENV,
    SettingsError,
    SiteContext,
    build_date,
    check_site_url,
    read_settings,
)
from ..records import access
from ..records.load import load_catalogue
from ..records.manifest import ManifestChanged
from ..records.problems import ERROR
from ..records.validate import schema
from ..render import listing, pages, sitemap
from ..render import outputs as A
from . import landing, molstar, pagecache, thumbnails, watching
from .build import replaced_site
from .dirty import ServeState

log = logging.getLogger("mkdocs.plugins.openem")

FIELD_REFERENCE_MARKER = "<!-- openem:field-reference -->"


class OpenEMConfig(base.Config):
    root = c.Optional(c.Type(str))
    """The catalogue's root folder (holding datasets/); default: the folder of mkdocs.yml."""
    publisher = c.Type(str, default=PUBLISHER)
    publisher_ror = c.Optional(c.Type(str))
    store = c.Optional(c.Type(str))
    """Where `openem publish` writes the OpenEM store: a folder (relative to the catalogue) or s3://bucket/prefix."""
    store_url = c.Type(str, default=DEFAULT_STORE_URL)
    """The store's public URL; a relative one is under the site, which then serves the store's public datasets."""
    store_endpoint = c.Optional(c.Type(str))
    """The S3 endpoint URL, for S3-compatible storage other than AWS."""


class OpenEMPlugin(BasePlugin[OpenEMConfig]):
    """Generated pages are rendered straight to HTML (no Markdown round trip) and kept out of the nav; dataset
    pages, the many, are not MkDocs pages at all: ``on_env`` renders them with the theme (landing.py).

    Defining ``on_startup`` keeps one instance for all the builds of a ``mkdocs serve``: what it keeps between
    them, and what a ``--dirty`` rebuild makes again, is :class:`~.dirty.ServeState`'s (``self.state``). The
    plugin itself hands MkDocs its pages and writes the files.
    """

    def __init__(self) -> None:
        self.ctx: SiteContext | None = None
        self.state = ServeState()
        self._pages: dict[str, tuple[str, Any]] = {}
        self._nav: Any = None
        self._deferred: list[A.Artefact] = []
        self._sitemap_pages: list[tuple[str, str | None]] = []
        self._settings: Any = None
        self._molstar: Path | None = None  # the Mol* bundle's folder (molstar.py), when installed

    def on_startup(self, *, command: str, dirty: bool) -> None:
        annex.use_own_tools()
        self.state.start(command, dirty)

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        root = Path(self.config.root or Path(config.config_file_path).parent).absolute()
        self.state.before_load()
        start = time.perf_counter()
        result = load_catalogue(root, cache=self.state.cache)
        self.state.after_load()
        for p in result.problems:
            if p.severity != ERROR:
                log.info(p.text())
        if not result.ok:
            messages = "\n".join(p.text() for p in result.problems if p.severity == ERROR)
            raise PluginError(f"the catalogue is invalid:\n{messages}")
        log.info(f"openem: {len(result.catalogue.datasets)} datasets loaded and validated in "
                 f"{time.perf_counter() - start:.1f} s")
        try:
            settings = read_settings(root, Path(config.config_file_path).name)
            override = os.environ.get(SITE_URL_ENV)
            if override:
                config.site_url = check_site_url(override)
            site_url = check_site_url(config.site_url or settings.site_url)
            today = build_date(root)  # (a malformed SOURCE_DATE_EPOCH: SettingsError)
        except SettingsError as exc:
            raise PluginError(str(exc)) from exc
        ctx = SiteContext(result.catalogue, site_url=site_url, build_date=today, publisher=self.config.publisher,
                          publisher_ror=self.config.publisher_ror, site_name=config.site_name,
                          canonical_url=settings.site_url, store_url=settings.store_public_url)
        # What may be shown on the build's day (embargoes), with the URLs this build serves.
        catalogue, histories = access.public_site(result.catalogue, self._histories(root), today, ctx.rebase,
                                                  self.state.views)
        self.ctx = dataclasses.replace(ctx, catalogue=catalogue, histories=histories)
        self._settings = settings
        # Under `mkdocs serve`, editing a dataset YAML triggers a rebuild.
        datasets = str(root / "datasets")
        if datasets not in config.watch:
            config.watch.append(datasets)
        return config

    def _histories(self, root: Path) -> Any:
        """history.histories, made again under `mkdocs serve` only when the commit checked out changed."""
        return self.state.histories(root, _head(root) if self.state.serve else "")

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
                text = json.dumps(schema(name), ensure_ascii=False, indent=2) + "\n"
                files.append(File.generated(config, uri, content=_rebase_text(ctx, text)))
        add("index.md", "home")
        add("browse.md", "browse")
        add("search.md", "search")
        add("facilities/index.md", "facilities")
        for fac in ctx.catalogue.facilities.values():
            add(f"facilities/{fac.id}.md", "facility", fac)
        # Dataset pages are not MkDocs pages: on_env renders them with their files (landing.py). A dirty
        # rebuild under serve leaves a dataset alone when its record and context are the last built.
        self._sitemap_pages = [(f.url, f.abs_src_path) for f in files.documentation_pages()] + [
            (landing.page_url(d), None) for d in ctx.catalogue.datasets]
        self.state.mark(ctx)
        return files

    def on_nav(self, nav: Any, config: MkDocsConfig, files: Files) -> Any:
        self._nav = nav
        return nav

    def on_env(self, env: Any, config: MkDocsConfig, files: Files) -> Any:
        """Render every (changed) dataset's landing page and files, before MkDocs builds its own pages."""
        assert self.ctx is not None
        ctx = self.ctx
        # Paths MkDocs writes itself after this: an artefact there is written last, in on_post_build.
        taken = frozenset(f.dest_uri for f in files)
        custom = config.theme.custom_dir
        # The Mol* bundle, when installed: pages show maps in 3D only with it (so it is part of the cache's key).
        self._molstar = molstar.find(Path(ctx.catalogue.root))
        viewer = ("molstar", molstar.version(self._molstar)) if self._molstar is not None else None
        store = pagecache.open_store(Path(ctx.catalogue.root), config.config_file_path, [custom] if custom else [],
                                     config.docs_dir, (ctx.site_url, ctx.publisher, ctx.publisher_ror, ctx.site_name,
                                                       ctx.canonical_url, ctx.store_url, viewer))
        job = landing.Job(ctx, config, self._nav, env, files, Path(config.site_dir), taken, store,
                          viewer=self._molstar is not None, previous=replaced_site(Path(config.site_dir)))
        todo = self.state.todo(ctx)
        try:
            start = time.perf_counter()
            done = landing.render(job, todo)
            log.info(f"openem: {len(todo)} dataset pages and their files made in {time.perf_counter() - start:.1f} s "
                     f"({sum(item.cached for item in done)} from the cache)")
        except ManifestChanged as exc:
            raise PluginError(str(exc)) from exc
        A.forget()
        for d, labelled in self.state.kept(ctx):
            A.share(ctx, d, labelled)
        by_id = {d.id: d for d in todo}
        self._deferred = []
        made = []
        for item in done:
            A.share(ctx, by_id[item.id], item.labelled)
            self._deferred += item.deferred
            made.append((by_id[item.id], item.labelled))
        self.state.record(ctx, made)
        return env

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        entry = self._pages.get(page.file.src_uri)
        if entry is None:
            if FIELD_REFERENCE_MARKER in markdown:
                markdown = markdown.replace(FIELD_REFERENCE_MARKER, pages.field_reference())
            return markdown
        kind, obj = entry
        titles = {"home": None, "browse": "Browse datasets", "facilities": "Facilities", "search": "Search"}
        # MkDocs' theme prints page titles without escaping: hand it escaped text.
        title = obj.name if kind == "facility" else titles[kind]
        if title:
            page.meta["title"] = html.escape(title)
        # Generated pages have their own structure: give them the full width.
        page.meta["hide"] = ["navigation", "toc"]
        # overrides/main.html: which pages the search index reads whole (see openem_build/site/search.py).
        page.meta["openem_kind"] = kind
        if kind == "home":
            page.meta["openem_head"] = pages.home_head(self.ctx)
        return ""

    def on_page_content(self, html_: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        entry = self._pages.get(page.file.src_uri)
        if entry is None:  # a page of docs/: its examples name the site's own URLs, which move with it
            return _rebase_text(self.ctx, html_) if self.ctx is not None else html_
        ctx = self.ctx
        assert ctx is not None
        kind, obj = entry
        if kind == "home":
            return listing.home_page(ctx, self.state.sizes(ctx))
        if kind == "browse":
            return listing.browse_page(ctx, self.state.sizes(ctx))
        if kind == "search":
            from .search import search_page

            return search_page(ctx)
        if kind == "facilities":
            return listing.facilities_page(ctx)
        return listing.facility_page(ctx, obj)

    def on_serve(self, server: Any, *, config: MkDocsConfig, builder: Any) -> Any:
        # Edits reach the server as file events, not by walking the catalogue every half second (watching.py).
        return watching.use_native_events(server)

    def on_shutdown(self) -> None:
        self.state.shutdown()

    def on_build_error(self, *, error: Exception) -> None:
        self.state.failed()

    def on_post_build(self, config: MkDocsConfig) -> None:
        assert self.ctx is not None
        site = Path(config.site_dir)
        # (Each dataset's own files were written in on_files, apart from these.)
        for art in self._deferred:
            landing.write(site, art)
        parts = landing.KeptParts(site)
        try:
            if self.state.rebuild:
                log.info("catalogue-wide files (API, DCAT, sitemap, OAI-PMH) are kept from the first build "
                         "of this `mkdocs serve --dirty`; `openem build` makes them all")
            else:
                ctx, pages_ = self.ctx, self._sitemap_pages
                makers = [functools.partial(producer, ctx, parts) for producer in A.catalogue_producers()]
                # Sitemap (replacing MkDocs' own sitemap.xml and .gz) and OAI-PMH: dated from git, so built here.
                makers.append(functools.partial(sitemap.dated_artefacts, ctx, pages_))
                start = time.perf_counter()
                landing.write_catalogue_files(site, makers)
                log.info(f"openem: catalogue-wide files written in {time.perf_counter() - start:.1f} s")
        finally:
            parts.remove()
        self._deferred = []
        A.forget()
        # Preview PNGs: copied file by file from datasets/<id>/previews/ (never all held in memory).
        catalogue = self.state.changed_only(self.ctx.catalogue)
        gallery.copy_to_site(catalogue, site)
        if self._molstar is not None:
            molstar.copy_to_site(self._molstar, site)
        thumbnails.write_to_site(catalogue, site)  # (each entry's representative preview, scaled)
        self._copy_store(Path(self.ctx.catalogue.root), site)
        self.state.collect_later()

    def _copy_store(self, root: Path, site: Path) -> None:
        """A store the site serves (``store_url`` relative): its published datasets that the site may show (none
        under embargo) into the site, hard-linked where the file system allows."""
        settings, ctx = self._settings, self.ctx
        if settings is None or ctx is None or not settings.store or not settings.store_served_by_site:
            return
        folder = Path(settings.store) if Path(settings.store).is_absolute() else root / settings.store
        if not folder.is_dir():
            log.warning(f"openem: the store {folder} does not exist yet: the site serves no data (`openem publish`)")
            return
        served = ctx.rebase(ctx.store_url or "")
        dsids = []
        for d in ctx.catalogue.datasets:
            found = store.parse_clone_url(d.data.datalad) if d.data.datalad else None
            if found and found[0].rstrip("/") == served.rstrip("/"):
                dsids.append(found[1])
        target = store.Store(str(folder.absolute()), ctx.store_url or "", served_by_site=True)
        copied = store.copy_public(target, dsids, site / settings.store_url.strip("/"), url=served)
        log.info(f"openem: {len(copied)} datasets of the store {folder} served at {served}/")


def _rebase_text(ctx: SiteContext, text: str) -> str:
    """``text`` with the site's own URL (mkdocs.yml's) replaced by the one this build serves, where they differ."""
    base = ctx.canonical_url
    if not base or base == ctx.site_url:
        return text
    return text.replace(base, ctx.site_url).replace(base.rstrip("/") + "#", ctx.site_url.rstrip("/") + "#")


def _head(root: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
