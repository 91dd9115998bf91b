"""Each dataset's landing page and files, rendered outside MkDocs' serial page loop, across processes.

A dataset page is the same for every dataset but its content: the plugin renders it here with the theme's own
template and template context (as MkDocs' ``_build_page`` would, plugin events included; or, when that gives
the same pages, by filling each dataset's parts into the theme's page rendered once: see ``shell.py``),
together with the dataset's files (JSON-LD, citations, DataCite, exports, linkset). With more than one CPU the
datasets are split over forked worker processes, which write their files straight into the site folder and send
back only the content-free list of labelled files the catalogue-wide outputs need.
"""

from __future__ import annotations

import contextlib
import functools
import html
import logging
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.commands.build import get_context
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc

from ..infra import progress
from ..infra.context import SiteContext
from ..infra.parallel import fork_map, workers
from ..infra.sitewrite import NamedFile, write_bytes
from ..records.model import Dataset
from ..render import citation, pages
from ..render import outputs as A
from . import pagecache, shell

log = logging.getLogger("mkdocs.plugins.openem")

#: Below this many datasets the pages are rendered in this process (starting workers costs more).
PARALLEL_MIN = 200


@dataclass
class Job:
    """What rendering a dataset page needs from the build (workers inherit it when they are forked)."""

    ctx: SiteContext
    config: MkDocsConfig
    nav: Any
    env: Any  # the theme's jinja2 Environment, after the plugins' on_env
    files: Files
    site: Path
    #: Site paths MkDocs writes itself after the pages: an artefact there is written last (deferred).
    taken: frozenset[str]
    #: Outputs of earlier builds, reused for datasets whose inputs did not change; None: no cache.
    pages: pagecache.PageStore | None = None
    #: The theme's page around a dataset page, when filling it in gives the same pages (see shell.py).
    shell: shell.Shell | None = None
    #: Whether this process has yet to compare a page filled into the shell with one rendered in full (forked
    #: workers inherit their own copy of the job, so each compares its first page).
    unproven: bool = False
    #: Whether the site holds the Mol* viewer (molstar.py): landing pages then show maps in 3D.
    viewer: bool = False
    #: The site this build replaces (``openem build``): its files that hold the same bytes are linked, not
    #: written again (see :func:`place`).
    previous: Path | None = None


@dataclass(frozen=True)
class Done:
    """What the build keeps of one rendered dataset."""

    id: str
    labelled: list[A.Artefact]  # without content
    deferred: list[A.Artefact]  # with content, for the plugin to write at the end
    cached: bool = False  # taken from the page cache
    bytes: int = 0  # written into the site


def page_uri(d: Dataset) -> str:
    """The dataset page's source path, as if it were a Markdown page of the site."""
    return f"datasets/{d.id}/index.md"


def page_url(d: Dataset) -> str:
    return f"datasets/{d.id}/"


def render(job: Job, datasets: Sequence[Dataset]) -> list[Done]:
    """Render the landing page and files of every dataset in ``datasets`` into ``job.site``, in order."""
    # (Making the shell renders two pages in full: worth it from a few pages on.)
    job.shell = shell.make(functools.partial(_full_page, job)) if len(datasets) > 3 and _only_ours(job) else None
    job.unproven = job.shell is not None
    with progress.current().phase("pages", len(datasets), in_bytes=True) as phase:
        if len(datasets) < PARALLEL_MIN:
            out = []
            for d in datasets:
                out.append(render_one(job, d))
                phase.advance(1, out[-1].bytes)
            return out
        size = max(20, len(datasets) // (workers() * 8))
        chunks = [datasets[i:i + size] for i in range(0, len(datasets), size)]
        out = [done for part in fork_map(_render_chunk, chunks, job) for done in part]
        phase.advance(len(out), sum(d.bytes for d in out))
        return out


def _render_chunk(chunk: Sequence[Dataset], job: Job) -> list[Done]:
    return [render_one(job, d) for d in chunk]


def write_catalogue_files(site: Path, makers: Sequence[Callable[[], Sequence[A.Artefact | A.Streamed]]]) -> None:
    """Make and write the catalogue-wide files: the last maker's (the largest) in this process while one forked
    worker makes the others', when there is a CPU to spare.

    One worker, not one per maker: every maker reads every record, and CPython's reference counting then
    dirties (copies) each page of the inherited heap a worker reads, so each worker ends up with its own copy
    of the records (~150 MB per 10,000 datasets).
    """
    fork_map(_make_and_write_all, [makers[:-1], makers[-1:]], site)


def _make_and_write_all(makers: Sequence[Callable[[], Sequence[A.Artefact | A.Streamed]]], site: Path) -> None:
    for maker in makers:
        _make_and_write(maker, site)


def _make_and_write(maker: Callable[[], Sequence[A.Artefact | A.Streamed]], site: Path) -> None:
    for art in maker():
        if isinstance(art, A.Streamed):
            write_streamed(site, art)
        else:
            write(site, art)


def write_streamed(site: Path, streamed: A.Streamed) -> None:
    """Write the files of ``streamed`` into the site folder as they are made."""
    targets = [site / path for path in streamed.paths]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        files = {path: stack.enter_context(NamedFile(target)) for path, target in zip(streamed.paths, targets,
                                                                                      strict=True)}
        streamed.write(files)  # type: ignore[arg-type]  (NamedFile: a binary file's write, naming it on failure)


def render_one(job: Job, d: Dataset) -> Done:
    """One dataset: its files written (or deferred), then its landing page through the theme; taken from the
    page cache instead when it holds the outputs of the same inputs."""
    ctx = job.ctx
    store = job.pages
    key = store.key(d, (ctx.facility(d), ctx.histories.get(d.id))) if store is not None else None
    if key is not None and store is not None:
        hit = store.get(key)
        if hit is not None and not any(path in job.taken for path, _ in hit.files):
            for path, data in hit.files:
                place(job, path, data)
            return Done(d.id, hit.labelled, [], cached=True, bytes=_published(hit.files))
    made = A.for_dataset(ctx, d, parts=True)
    deferred = []
    written: list[tuple[str, bytes]] = []
    for art in made:
        if art.path in job.taken:
            deferred.append(art)
        else:
            data = _bytes(art)
            place(job, art.path, data)
            written.append((art.path, data))
    labelled = [A.Artefact(a.path, "", a.label, a.media_type) for a in made if a.label]
    del made
    # MkDocs' theme prints page titles without escaping: hand it escaped text.
    title, head = html.escape(d.title), pages.dataset_head(ctx, d, labelled)
    body = pages.dataset_page(ctx, d, labelled, citation.text(ctx, d), viewer=job.viewer)
    file = File.generated(job.config, page_uri(d), content="")
    if job.shell is None:
        themed = theme_page(job, file, _meta(title, head), body)
    else:
        themed = job.shell.fill(title, head, body, d.id)
        if job.unproven:  # this process's first page: also in full
            job.unproven = False
            full = theme_page(job, file, _meta(title, head), body)
            if themed != full:
                log.info("openem: dataset pages rendered one by one through the theme (it shows more of a page's "
                         "content than the parts filled in)")
                job.shell, themed = None, full
    output = themed.encode("utf-8", errors="xmlcharrefreplace")
    place(job, file.dest_uri, output)
    written.append((file.dest_uri, output))
    if key is not None and store is not None and not deferred:
        store.put(key, pagecache.Entry(labelled, written))
    return Done(d.id, labelled, deferred, bytes=_published(written))


def _published(files: list[tuple[str, bytes]]) -> int:
    """The bytes of ``files`` that are the site's (not parts of catalogue-wide files)."""
    return sum(len(data) for path, data in files if not A.is_part(path))


class KeptParts(Mapping[str, bytes]):
    """The parts of catalogue-wide files the datasets' producers wrote into the site folder (``A.PARTS``), read
    when asked for: a catalogue producer takes one dataset's at a time."""

    def __init__(self, site: Path) -> None:
        self.folder = site / A.PARTS

    def __getitem__(self, path: str) -> bytes:
        if not A.is_part(path) or ".." in path.split("/"):
            raise KeyError(path)
        try:
            return (self.folder.parent / path).read_bytes()
        except OSError:
            raise KeyError(path) from None

    def __iter__(self) -> Iterator[str]:
        base = self.folder.parent
        return (p.relative_to(base).as_posix() for p in sorted(self.folder.rglob("*")) if p.is_file())

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def remove(self) -> None:
        """Remove the parts from the site folder."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _meta(title: str, head: str) -> dict[str, Any]:
    return {
        "title": title,
        # Generated pages have their own structure: give them the full width.
        "hide": ["navigation", "toc"],
        # overrides/main.html: which pages the search index reads whole (see openem_build/site/search.py).
        "openem_kind": "dataset",
        "openem_head": head,
    }


def _full_page(job: Job, title: str, head: str, body: str, id: str) -> str:  # noqa: A002
    """A dataset page with these parts, rendered through the theme (what :func:`shell.make` compares with)."""
    return theme_page(job, File.generated(job.config, f"datasets/{id}/index.md", content=""), _meta(title, head),
                      body)


_PAGE_EVENTS = ("pre_page", "page_content", "page_context", "post_page")


def _only_ours(job: Job) -> bool:
    """Whether this plugin is the only one that sees pages being rendered: another one might change a page
    according to its content, which a shell filled in would not show."""
    ours = [plugin for plugin in job.config.plugins.values() if plugin.__class__.__module__ == __package__ + ".plugin"]
    return all(getattr(method, "__self__", None) in ours
               for event in _PAGE_EVENTS for method in job.config.plugins.events.get(event, []))


def theme_page(job: Job, file: File, meta: dict[str, Any], content: str) -> str:
    """The page ``file`` with ``content`` (HTML) through the theme's ``main.html``, as MkDocs builds a page:
    the same template context and the plugins' ``pre_page``, ``page_content``, ``page_context`` and
    ``post_page`` events (there is no Markdown to read or convert)."""
    config = job.config
    page = Page(None, file, config)
    config._current_page = page
    try:
        page = config.plugins.on_pre_page(page, config=config, files=job.files)
        page.markdown = ""
        page.meta = meta
        page.toc = get_toc([])
        page.content = config.plugins.on_page_content(content, page=page, config=config, files=job.files)
        page.active = True
        context = get_context(job.nav, job.files, config, page)
        template = job.env.get_template(page.meta.get("template", "main.html"))
        context = config.plugins.on_page_context(context, page=page, config=config, nav=job.nav)
        return config.plugins.on_post_page(template.render(context), page=page, config=config)
    finally:
        page.active = False
        config._current_page = None


def place(job: Job, path: str, data: bytes) -> None:
    """Put ``data`` at ``path`` in the site: a hard link to the replaced site's file when that is a regular file
    of the same bytes, else a new file. The replaced site keeps its files untouched until the swap (no file of
    the site is written twice, so no write goes through a link).

    Measured at N = 10,000 (benchmarks/README.md, "Issue 22, second round"): a warm build wrote 2.3 GB into
    ~250,000 new files; dataset pages and files from the cache 31.1 → 10.8 s, the warm build 85 → 58 s."""
    target = job.site / path
    if job.previous is not None:
        old = job.previous / path
        try:
            if (stat.S_ISREG((info := os.lstat(old)).st_mode) and info.st_size == len(data)
                    and old.read_bytes() == data):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(old, target, follow_symlinks=False)
                return
        except OSError:  # (no such file, another file system, a race: written as new)
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(target, data)


def write(site: Path, art: A.Artefact) -> bytes:
    """Write ``art`` into the site folder; returns the bytes written."""
    target = site / art.path
    target.parent.mkdir(parents=True, exist_ok=True)
    data = _bytes(art)
    write_bytes(target, data)
    return data


def _bytes(art: A.Artefact) -> bytes:
    return art.content.encode("utf-8") if isinstance(art.content, str) else art.content
