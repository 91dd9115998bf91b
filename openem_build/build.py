"""``openem build``: the complete site, built aside and swapped in only when every step succeeded."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from . import progress
from .context import build_date

T = TypeVar("T")


class BuildError(Exception):
    """The build failed; the message says why (located validation messages included)."""


def build_site(root: Path, site_dir: Path | None = None, config: str = "mkdocs.yml", site_url: str | None = None
               ) -> Path:
    """Build the site of the catalogue at ``root`` into ``site_dir`` (default ``root/site``), for ``site_url``
    (default: mkdocs.yml's; every absolute URL follows it, the store's included).

    The previous site stays untouched unless the new one is complete.
    """
    root = root.absolute()
    target = (site_dir or root / "site").absolute()
    config_file = root / config
    if not config_file.is_file():
        raise BuildError(f"{config_file} does not exist")
    # Dates written by MkDocs (sitemap) follow SOURCE_DATE_EPOCH: pin it to the commit for reproducible output.
    if not os.environ.get("SOURCE_DATE_EPOCH"):
        day = build_date(root)
        os.environ["SOURCE_DATE_EPOCH"] = str(int((day - day.__class__(1970, 1, 1)).total_seconds()))
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.old-*"):  # a deletion that was cut short
        _remove_later(stale)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        apart = len(list((root / "datasets").glob("*/dataset.yaml"))) >= APART_MIN
        failure = _apart(_mkdocs_build, str(config_file), str(staging), site_url) if apart else \
            _mkdocs_build(str(config_file), str(staging), site_url)
        if failure is None:
            # The search index reads the finished HTML (Pagefind, offline, deterministic): see search.py.
            from .search import SearchIndexError, index_site

            try:
                start = time.perf_counter()
                with progress.current().phase("search index"):
                    stats = index_site(staging)
                logging.getLogger("mkdocs.plugins.openem").info(
                    f"openem: search index of {stats.pages} pages made in {time.perf_counter() - start:.1f} s")
            except SearchIndexError as exc:
                failure = str(exc)
        if failure is not None:
            raise BuildError("build failed: " + failure)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap(staging, target)
    logging.getLogger("openem").info("site written to %s", target)
    return target


#: From this many datasets on, MkDocs' build runs in a forked process (see :func:`_apart`).
APART_MIN = 200


def _mkdocs_build(config_file: str, staging: str, site_url: str | None = None) -> str | None:
    """MkDocs' build of the site into ``staging``: None, or why it failed (the errors MkDocs logged)."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError, PluginError

    # MkDocs logs a plugin's error and raises a bare Abort: keep the message.
    errors = _ErrorLog()
    mkdocs_log = logging.getLogger("mkdocs")
    mkdocs_log.addHandler(errors)
    try:
        cfg = load_config(config_file=config_file, site_dir=staging, **({"site_url": site_url} if site_url else {}))
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            build(cfg)
        finally:
            cfg.plugins.on_shutdown()
    except (PluginError, Abort, ConfigurationError) as exc:
        return "\n".join(errors.messages) or str(exc) or type(exc).__name__
    finally:
        mkdocs_log.removeHandler(errors)
    return None


def _apart(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a forked process, so that what it held goes back to the system when it ends.

    MkDocs' build holds the records and the theme (~450 MB at 10,000 datasets), none of which the search
    index needs: built apart, Pagefind then runs next to a small process. In this process where forking is
    unsafe (other threads) or impossible.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from .parallel import can_fork

    if not can_fork():
        return fn(*args)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            return pool.submit(fn, *args).result()
    except BrokenProcessPool:
        raise BuildError("build failed: the build process ended unexpectedly (out of memory?)") from None


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _swap(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` with two renames, so a reader never sees a half-written site."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        _remove_later(old)


def _remove_later(path: Path) -> None:
    """Delete ``path`` in a detached process. The previous site is out of sight already, and deleting it (a
    gigabyte in 100,000 files at 10,000 datasets) took seconds that nobody needs to wait for."""
    try:
        subprocess.Popen([sys.executable, "-c", "import shutil, sys; shutil.rmtree(sys.argv[1], ignore_errors=True)",
                          str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
