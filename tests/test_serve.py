"""`mkdocs serve` (as `make serve` runs it): an edited dataset title is served after the rebuild; an invalid edit
is reported, located, without stopping the server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EXAMPLE, example_document, write_dataset

MKDOCS = str(Path(sys.executable).parent / "mkdocs")
OTHER = "yeast-cryoet-2023"
LIMIT = 180.0  # seconds for any one step; generous, this is no timing test


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        return ""


def _until(check: Callable[[], bool], what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        if check():
            return
        assert proc.poll() is None, f"mkdocs serve exited:\n{log.read_text('utf-8', 'replace')}"
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text('utf-8', 'replace')}")


@pytest.mark.parametrize("dirty", [True, False], ids=["dirty", "clean"])
def test_serve_shows_edits_and_survives_invalid_ones(catalogue: Path, tmp_path: Path, dirty: bool) -> None:
    assert (catalogue / "datasets" / OTHER / "dataset.yaml").is_file()
    port = _port()
    base = f"http://127.0.0.1:{port}/"
    page, other = f"{base}datasets/{EXAMPLE}/", f"{base}datasets/{OTHER}/"
    log = tmp_path / "serve.log"
    cmd = [MKDOCS, "serve", "-a", f"127.0.0.1:{port}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd + (["--dirty"] if dirty else []), cwd=catalogue, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            doc = example_document()
            _until(lambda: doc["title"] in _get(page), "the first build", proc, log)
            other_before = _get(other)
            assert other_before

            time.sleep(1.1)  # let the file's time move past the first build
            doc["title"] = "A freshly edited title for the live preview"
            write_dataset(catalogue, doc)
            _until(lambda: doc["title"] in _get(page), "the edited title", proc, log)
            _until(lambda: doc["title"] in _get(f"{base}browse/"), "the edited title on Browse", proc, log)
            assert OTHER in _get(other)

            time.sleep(1.1)
            path = catalogue / "datasets" / EXAMPLE / "dataset.yaml"
            text = path.read_text("utf-8")
            path.write_text(text.replace("title: ", "title: [unclosed ", 1), encoding="utf-8")
            shown = f"datasets/{EXAMPLE}/dataset.yaml:"
            _until(lambda: "the catalogue is invalid" in log.read_text("utf-8", "replace")
                   and shown in log.read_text("utf-8", "replace"), "the located error", proc, log)
            time.sleep(1.0)
            assert proc.poll() is None  # (MkDocs holds page requests until the build succeeds again)

            time.sleep(1.1)
            doc["title"] = "Valid again after the broken edit"
            write_dataset(catalogue, doc)
            _until(lambda: doc["title"] in _get(page), "the title after the fix", proc, log)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_rebuild_runs_without_the_cyclic_collector_which_collects_its_garbage_after_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from openem_build.site import dirty

    monkeypatch.setattr(dirty, "COLLECT_AFTER_S", 0.2)
    plugin = dirty.ServeState()  # (the plugin's bookkeeping of `mkdocs serve`)
    plugin.frozen = True  # (what the first load of a serve session sets)
    try:
        plugin.pause_collector()  # a rebuild starts
        assert not gc.isenabled()
        plugin.collect_later()  # it ended: garbage collected a moment later, then the collector is back
        assert not gc.isenabled()
        deadline = time.monotonic() + 10
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gc.isenabled()

        plugin.pause_collector()
        plugin.collect_later()
        plugin.pause_collector()  # the next rebuild starts before the collection: it stays paused
        time.sleep(0.5)
        assert not gc.isenabled()
        plugin.shutdown()  # `mkdocs serve` stops: nothing pending, the collector back on
        assert gc.isenabled()
    finally:
        gc.enable()


def _server(root: Path) -> object:
    from mkdocs.livereload import LiveReloadServer

    return LiveReloadServer(builder=lambda: None, host="127.0.0.1", port=_port(), root=str(root))


def _wants_rebuild(server: object, change: Callable[[], None]) -> bool:
    """Whether ``change`` makes the server want a rebuild within 5 s (what MkDocs' own callback records)."""
    server._want_rebuild = False  # type: ignore[attr-defined]
    change()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if server._want_rebuild:  # type: ignore[attr-defined]
            return True
        time.sleep(0.05)
    return False


def test_the_server_hears_edits_as_file_events_not_by_polling(tmp_path: Path) -> None:
    """The watches MkDocs made before the plugin's on_serve and those it makes after (the catalogue) move to
    the native observer; an edit deep in the catalogue still asks for a rebuild; stop and join end both."""
    from watchdog.observers.polling import PollingObserver

    from openem_build.site import watching

    docs, datasets = tmp_path / "docs", tmp_path / "datasets" / "x"
    docs.mkdir()
    datasets.mkdir(parents=True)
    server = _server(tmp_path / "site")
    server.watch(str(docs))
    assert watching.use_native_events(server) is server
    server.watch(str(tmp_path / "datasets"))
    observer = server.observer
    assert isinstance(observer, watching.NativeFirst)
    assert not isinstance(observer.native, PollingObserver)
    assert set(observer._on.values()) == {observer.native} and len(observer._on) == 2
    observer.start()
    try:
        assert _wants_rebuild(server, lambda: (datasets / "dataset.yaml").write_text("title: a\n"))
        assert _wants_rebuild(server, lambda: (docs / "index.md").write_text("# x\n"))
        server.unwatch(str(docs))
        assert len(observer._on) == 1
    finally:
        observer.stop()
        observer.join()
    # Already serving, or not MkDocs' server: left as it is.
    other = object()
    assert watching.use_native_events(other) is other
    started = _server(tmp_path / "site")
    started.observer.start()
    try:
        assert watching.use_native_events(started) is started and isinstance(started.observer, PollingObserver)
    finally:
        started.observer.stop()
        started.observer.join()


def test_a_watch_the_system_refuses_is_polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inotify watch limit (ENOSPC from inotify_add_watch) or a file system without events: that watch is
    polled, as MkDocs polls every watch, and an edit still asks for a rebuild."""
    import errno

    from openem_build.site import watching

    server = _server(tmp_path / "site")
    watching.use_native_events(server)
    observer = server.observer

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(observer.native, "schedule", refuse)
    server.watch(str(tmp_path))
    assert list(observer._on.values()) == [observer.polling]
    observer.start()
    try:
        assert _wants_rebuild(server, lambda: (tmp_path / "dataset.yaml").write_text("title: b\n"))
    finally:
        observer.stop()
        observer.join()
