"""`mkdocs serve` told of edits by the operating system's file events instead of polling the catalogue.

MkDocs (1.6) watches with watchdog's ``PollingObserver``: every half second it walks every watched folder and
stats every file. With ``datasets/`` watched that is 10,000 folders and their files at N = 10,000, walked
without pause on a thread that holds the interpreter's lock half the time, so a rebuild after an edit ran at
half speed. :func:`use_native_events` gives the server an observer that schedules each watch on watchdog's
native observer (inotify on Linux, FSEvents on macOS, …), started at once so that a refusal (the inotify watch
limit, a file system without events) shows when the watch is made; such a watch falls back to polling.

Speed-up, measured (benchmarks/README.md, "Live preview"): at N = 10,000 the time from saving a
``dataset.yaml`` to the reloaded page, 8.5–9.9 s → 3.4–6.9 s on the AMD machine of the issue-22 run.
"""

from __future__ import annotations

import logging
from typing import Any

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("mkdocs.plugins.openem")


class NativeFirst:
    """What MkDocs' server asks of its observer (schedule, unschedule, start, stop, join), each watch on the
    native observer where the system allows it, else on the polling one."""

    def __init__(self, native: BaseObserver, polling: BaseObserver) -> None:
        self.native, self.polling = native, polling
        self._on: dict[ObservedWatch, BaseObserver] = {}

    def schedule(self, handler: Any, path: str, recursive: bool = False) -> ObservedWatch:
        try:
            watch = self.native.schedule(handler, path, recursive=recursive)
            self._on[watch] = self.native
        except OSError as exc:  # e.g. "inotify watch limit reached": polled, as MkDocs does
            log.info("openem: %s is polled for changes (no file events: %s)", path, exc)
            watch = self.polling.schedule(handler, path, recursive=recursive)
            self._on[watch] = self.polling
        return watch

    def unschedule(self, watch: ObservedWatch) -> None:
        self._on.pop(watch, self.polling).unschedule(watch)

    def start(self) -> None:
        if not self.polling.is_alive():
            self.polling.start()

    def stop(self) -> None:
        self.native.stop()
        if self.polling.is_alive():
            self.polling.stop()

    def join(self, timeout: float | None = None) -> None:
        self.native.join(timeout)
        if self.polling.is_alive():
            self.polling.join(timeout)


def use_native_events(server: Any) -> Any:
    """Give MkDocs' live-reload ``server`` a :class:`NativeFirst` observer, moving the watches it already has;
    the server unchanged where it is not the one this was made for (another MkDocs, already serving)."""
    polling = getattr(server, "observer", None)
    watched = getattr(server, "_watched_paths", None)
    if not isinstance(polling, PollingObserver) or polling.is_alive() or not isinstance(watched, dict) \
            or not callable(getattr(server, "watch", None)) or not callable(getattr(server, "unwatch", None)):
        return server
    native = Observer()
    if isinstance(native, PollingObserver):  # (no native events on this system)
        return server
    native.start()
    counts = dict(watched)
    for path, count in counts.items():
        for _ in range(count):
            server.unwatch(path)
    server.observer = NativeFirst(native, polling)
    for path, count in counts.items():
        for _ in range(count):
            server.watch(path)
    return server
