"""The MkDocs plugin: loads and validates the catalogue, adds a page per dataset, writes the artefacts."""

from __future__ import annotations

import gc
import html
import json
import logging
import subprocess
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
from .load import LoadCache, load_catalogue
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


class _PageFile(File):
    """A generated page; under ``mkdocs serve --dirty`` one whose dataset did not change reports not modified,
    so MkDocs keeps its page from the previous build instead of rendering it again."""

    modified = True

    def is_modified(self) -> bool:
        return self.modified


class OpenEMPlugin(BasePlugin[OpenEMConfig]):
    """Generated pages are rendered straight to HTML (no Markdown round trip) and kept out of the nav.

    Defining ``on_startup`` keeps one instance for all the builds of a ``mkdocs serve``: it then reuses the
    records of unchanged dataset files (``LoadCache``) and, with ``--dirty``, rebuilds only the pages and files
    of the datasets that changed (``_built``) plus the catalogue-wide pages; catalogue-wide files are then
    written by the first build only.
    """

    def __init__(self) -> None:
        self.ctx: SiteContext | None = None
        self._pages: dict[str, tuple[str, Any]] = {}
        self._artefacts: dict[str, list[A.Artefact]] = {}  # the labelled ones, without content (A.share)
        self._deferred: list[A.Artefact] = []
        self._sitemap_pages: list[tuple[str, str | None]] = []
        self._serve = False
        self._dirty = False
        self._cache: LoadCache | None = None
        # Under `mkdocs serve --dirty`: per dataset id, the record, context and labelled artefacts last built.
        self._built: dict[str, tuple[Any, tuple, list[A.Artefact]]] = {}
        self._rebuild = False
        self._changed: dict[str, bool] = {}
        self._history: tuple[str, Any] | None = None
        self._size_memo: dict[str, tuple[Any, int]] = {}
        self._frozen = False
        self._files_done = False

    def on_startup(self, *, command: str, dirty: bool) -> None:
        self._serve = command == "serve"
        self._dirty = self._serve and dirty
        self._cache = LoadCache() if self._serve else None

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        root = Path(self.config.root or Path(config.config_file_path).parent).absolute()
        self._files_done = False
        result = load_catalogue(root, cache=self._cache)
        if self._serve and not self._frozen:
            # The records of a large catalogue (their manifests: millions of objects) live for the whole
            # session: keep them out of the collector's full passes, which would otherwise add seconds to
            # rebuilds. Once only, so that at most the first load's garbage is never collected.
            gc.freeze()
            self._frozen = True
        for p in result.problems:
            if p.severity != ERROR:
                log.info(p.text())
        if not result.ok:
            messages = "\n".join(p.text() for p in result.problems if p.severity == ERROR)
            raise PluginError(f"the catalogue is invalid:\n{messages}")
        self.ctx = SiteContext(result.catalogue, site_url=config.site_url or DEFAULT_SITE_URL,
                               build_date=build_date(root), publisher=self.config.publisher,
                               publisher_ror=self.config.publisher_ror, site_name=config.site_name,
                               histories=self._histories(root))
        # Under `mkdocs serve`, editing a dataset YAML triggers a rebuild.
        datasets = str(root / "datasets")
        if datasets not in config.watch:
            config.watch.append(datasets)
        return config

    def _histories(self, root: Path) -> Any:
        """history.histories, made again under `mkdocs serve` only when the commit checked out changed."""
        if not self._serve:
            return history.histories(root)
        head = _head(root)
        if self._history is None or self._history[0] != head:
            self._history = (head, history.histories(root))
        return self._history[1]

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        assert self.ctx is not None
        ctx = self.ctx
        self._pages = {}

        def add(src_uri: str, kind: str, obj: Any = None) -> None:
            if files.get_file_from_path(src_uri) is None:
                page = _PageFile.generated(config, src_uri, content="")
                if kind == "dataset" and not changed.get(obj.id, True):
                    page.modified = False
                files.append(page)
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
        # A dirty rebuild under serve leaves a dataset alone when its record and context are the last built.
        changed: dict[str, bool] = {}
        built: dict[str, tuple[Any, tuple, list[A.Artefact]]] = {}
        for d in ctx.catalogue.datasets:
            key = (ctx.site_url, ctx.build_date, ctx.publisher, ctx.publisher_ror, ctx.site_name,
                   ctx.histories.get(d.id))
            last = self._built.get(d.id) if self._dirty else None
            changed[d.id] = last is None or last[0] is not d or last[1] != key
            if not changed[d.id]:
                assert last is not None
                self._artefacts[d.id] = A.share(ctx, d, last[2])
                built[d.id] = last
            else:
                built[d.id] = (d, key, [])
        for d in ctx.catalogue.datasets:
            add(f"datasets/{d.id}/index.md", "dataset", d)
        # Each dataset's files are made once and written now (into the build's own, freshly cleaned site
        # folder), so their texts are not all held until the end; the page, the API and the linksets use the
        # content-free list kept by A.share. A path MkDocs itself writes later is kept for on_post_build,
        # so that the artefact still wins, as it always did.
        site = Path(config.site_dir)
        taken = {f.dest_uri for f in files}
        for d in ctx.catalogue.datasets:
            if not changed[d.id]:
                continue
            made = A.for_dataset(ctx, d)
            for art in made:
                if art.path in taken:
                    self._deferred.append(art)
                else:
                    _write(site, art)
            self._artefacts[d.id] = A.share(ctx, d, made)
            if self._dirty:
                built[d.id] = (d, built[d.id][1], self._artefacts[d.id])
        self._rebuild = self._dirty and bool(self._built)
        self._changed = changed
        if self._dirty:
            self._built = built
        self._sitemap_pages = [(f.url, f.abs_src_path) for f in files.documentation_pages()]
        self._files_done = True
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

    def on_build_error(self, *, error: Exception) -> None:
        # A build that failed after on_files may have left pages of changed datasets unwritten: rebuild all next
        # time. (An invalid catalogue fails in on_config, before anything is written, and keeps the fast path.)
        if self._files_done:
            self._built = {}

    def _sizes(self) -> dict[str, int]:
        assert self.ctx is not None
        sizes = {}
        memo: dict[str, tuple[Any, int]] = {}
        for d in self.ctx.catalogue.datasets:
            manifest = getattr(d, "manifest", None)
            if manifest is not None:
                last = self._size_memo.get(d.id)
                size = last[1] if last is not None and last[0] is d else sum(f.size or 0 for f in manifest.files)
                sizes[d.id] = size
                memo[d.id] = (d, size)
        self._size_memo = memo  # (the same record is the same size: reused by the next page and rebuild)
        return sizes

    def on_post_build(self, config: MkDocsConfig) -> None:
        assert self.ctx is not None
        site = Path(config.site_dir)
        # (Each dataset's own files were written in on_files, apart from these.)
        outputs = list(self._deferred)
        if self._rebuild:
            log.info("catalogue-wide files (API, DCAT, linksets, sitemap, OAI-PMH) are kept from the first build "
                     "of this `mkdocs serve --dirty`; `openem build` makes them all")
        else:
            outputs += A.for_catalogue(self.ctx)
            # Sitemap (replacing MkDocs' own sitemap.xml and .gz) and OAI-PMH: dated from git, so built here.
            outputs += sitemap.dated_artefacts(self.ctx, self._sitemap_pages)
        for art in outputs:
            _write(site, art)
        self._deferred = []
        A.forget()
        # Preview PNGs: copied file by file from datasets/<id>/previews/ (never all held in memory).
        catalogue = self.ctx.catalogue
        if self._rebuild:
            catalogue = catalogue.__class__(tuple(d for d in catalogue.datasets if self._changed.get(d.id, True)),
                                            catalogue.facilities, catalogue.root)
        gallery.copy_to_site(catalogue, site)


def _head(root: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _write(site: Path, art: A.Artefact) -> None:
    target = site / art.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(art.content.encode("utf-8") if isinstance(art.content, str) else art.content)
