"""What a ``mkdocs serve`` session keeps between its rebuilds, and what a ``--dirty`` rebuild does again.

MkDocs keeps one plugin instance for all the builds of a ``mkdocs serve`` (the plugin defines ``on_startup``).
:class:`ServeState` is the plugin's memory across them: the records of unchanged dataset files
(:class:`~openem_build.records.load.LoadCache`), the git history while the commit checked out is the same, and,
with ``--dirty``, per dataset the record, context and labelled files last built, so that a rebuild renders only
the datasets whose record or context changed (plus the catalogue-wide pages). It also pauses the cyclic garbage
collector during a rebuild. Under ``mkdocs build`` (and ``openem build``) it keeps nothing.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

from ..records import history
from ..records.load import LoadCache
from ..records.model import Catalogue, Dataset

#: Seconds after a rebuild under `mkdocs serve` at which its garbage is collected (see pause_collector).
COLLECT_AFTER_S = 2.0


def _context_key(ctx: Any, d: Dataset) -> tuple:
    """What of the build's context a dataset's page and files depend on, besides its record."""
    return (ctx.site_url, ctx.build_date, ctx.publisher, ctx.publisher_ror, ctx.site_name, ctx.histories.get(d.id))


class ServeState:
    """The bookkeeping of ``mkdocs serve`` (and ``--dirty``) between rebuilds; empty under a plain build."""

    def __init__(self) -> None:
        self.serve = False
        self.dirty = False
        self.cache: LoadCache | None = None
        #: Under --dirty: per dataset id, the record, context key and labelled artefacts last built.
        self.built: dict[str, tuple[Dataset, tuple, list[Any]]] = {}
        #: Per dataset id of this build: whether its page and files are made again.
        self.changed: dict[str, bool] = {}
        #: Whether this build is a dirty rebuild (catalogue-wide files kept from the first build).
        self.rebuild = False
        self.files_done = False
        self.frozen = False
        self.views: dict[str, Any] = {}  # access.public_site's memo, for the builds of one `mkdocs serve`
        self._history: tuple[str, Any] | None = None
        self._size_memo: dict[str, tuple[Any, int]] = {}
        self._collector: threading.Timer | None = None
        self._collector_lock = threading.Lock()
        self._paused = False

    def start(self, command: str, dirty: bool) -> None:
        """``mkdocs serve`` (with ``--dirty`` or not), or a plain build."""
        self.serve = command == "serve"
        self.dirty = self.serve and dirty
        self.cache = LoadCache() if self.serve else None

    # ------------------------------------------------------------------------------------ around the load

    def before_load(self) -> None:
        """A build starts: nothing of its files is written yet; a rebuild runs with the collector paused."""
        self.files_done = False
        if self.frozen:
            self.pause_collector()

    def after_load(self) -> None:
        """Under serve, the first load's records live for the whole session: keep them out of the collector's
        full passes, which would otherwise add seconds to rebuilds (once only, so that at most the first load's
        garbage is never collected). Part of the serve rebuild's measured 2.7–2.8 → 1.7–2.0 s at N = 10,000
        (benchmarks/README.md, "Live preview")."""
        if self.serve and not self.frozen:
            gc.freeze()
            self.frozen = True

    def histories(self, root: Path, head: str) -> Any:
        """history.histories, made again under `mkdocs serve` only when the commit checked out (``head``)
        changed."""
        if not self.serve:
            return history.histories(root)
        if self._history is None or self._history[0] != head:
            self._history = (head, history.histories(root))
        return self._history[1]

    # ------------------------------------------------------------------------------------ what to rebuild

    def mark(self, ctx: Any) -> None:
        """Which datasets' pages and files this build makes: all, unless a dirty rebuild built the same record
        with the same context last time."""
        changed: dict[str, bool] = {}
        for d in ctx.catalogue.datasets:
            last = self.built.get(d.id) if self.dirty else None
            changed[d.id] = last is None or last[0] is not d or last[1] != _context_key(ctx, d)
        self.changed = changed
        self.files_done = True

    def todo(self, ctx: Any) -> list[Dataset]:
        """The datasets whose page and files this build makes."""
        return [d for d in ctx.catalogue.datasets if self.changed.get(d.id, True)]

    def kept(self, ctx: Any) -> list[tuple[Dataset, list[Any]]]:
        """The datasets left alone, with the labelled artefacts their last build made."""
        out = []
        for d in ctx.catalogue.datasets:
            last = self.built.get(d.id)
            if not self.changed.get(d.id, True) and last is not None:
                out.append((d, last[2]))
        return out

    def record(self, ctx: Any, made: list[tuple[Dataset, list[Any]]]) -> None:
        """What this build made, per dataset (its labelled artefacts), for the next dirty rebuild."""
        built = dict(self.built) if self.dirty else {}
        if self.dirty:
            for d, labelled in made:
                built[d.id] = (d, _context_key(ctx, d), labelled)
        self.rebuild = self.dirty and bool(self.built)
        if self.dirty:
            self.built = {d.id: built[d.id] for d in ctx.catalogue.datasets if d.id in built}

    def changed_only(self, catalogue: Catalogue) -> Catalogue:
        """The catalogue, or on a dirty rebuild only its datasets made again (for the files copied per entry)."""
        if not self.rebuild:
            return catalogue
        return catalogue.__class__(tuple(d for d in catalogue.datasets if self.changed.get(d.id, True)),
                                   catalogue.facilities, catalogue.root)

    def sizes(self, ctx: Any) -> dict[str, int]:
        """Each dataset's total size (Home and Browse show it), reused for the same record."""
        sizes = {}
        memo: dict[str, tuple[Any, int]] = {}
        for d in ctx.catalogue.datasets:
            manifest = getattr(d, "manifest", None)
            if manifest is not None:
                last = self._size_memo.get(d.id)
                size = last[1] if last is not None and last[0] is d else manifest.total_size
                sizes[d.id] = size
                memo[d.id] = (d, size)
        self._size_memo = memo  # (the same record is the same size: reused by the next page and rebuild)
        return sizes

    def failed(self) -> None:
        """A build failed: after on_files it may have left pages of changed datasets unwritten, so rebuild all
        next time. (An invalid catalogue fails before anything is written, and keeps the fast path.)"""
        self.collect_later()
        if self.files_done:
            self.built = {}

    # ------------------------------------------------------------------------------------ the collector

    def pause_collector(self) -> None:
        """No cyclic garbage collection during a rebuild under ``mkdocs serve``: set off over and over by the
        pages a rebuild makes, it took a quarter of the time from saving a file to the reloaded page (measured:
        0.7 s of 2.7 s at 10,000 datasets, benchmarks/README.md). The garbage is collected once the rebuild is
        over (:meth:`collect_later`)."""
        with self._collector_lock:
            if self._collector is not None:
                self._collector.cancel()
                self._collector = None
            gc.disable()
            self._paused = True

    def collect_later(self) -> None:
        """Collect the rebuild's garbage a moment after it, once the browser has reloaded the page."""

        def collect() -> None:
            with self._collector_lock:
                if self._collector is timer:  # (not paused by a rebuild meanwhile)
                    self._collector, self._paused = None, False
                    gc.collect()
                    gc.enable()

        with self._collector_lock:
            if not self._paused or self._collector is not None:
                return
            timer = threading.Timer(COLLECT_AFTER_S, collect)
            timer.daemon = True
            self._collector = timer
            timer.start()

    def shutdown(self) -> None:
        """``mkdocs serve`` stops: nothing pending, the collector back on."""
        with self._collector_lock:
            if self._collector is not None:
                self._collector.cancel()
                self._collector = None
            if self._paused:
                self._paused = False
                gc.enable()
