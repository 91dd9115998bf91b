"""``openem build``: the complete site, built aside and swapped in only when every step succeeded.

Next to the site (``site/``), in its parent folder while a build runs: ``.site.lock``, held by the one build of
the site that runs (another waits); ``.site.building-*``, the site being built; ``.site.old-*``, the previous site
while it is swapped out; ``.site.trash-*``, being deleted. The swap is one step where the system can exchange two
folders' names (Linux's renameat2); elsewhere it is two renames, and a build killed between them leaves the previous
site as ``.site.old-*``, which the next build puts back before anything else. So whatever is killed when,
``site/`` is a complete site, or the previous one is there to be put back; what killed builds leave is cleared by
the next one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..infra import progress
from ..infra.context import SettingsError, build_date, source_date_epoch

T = TypeVar("T")
log = logging.getLogger("openem")


class BuildError(Exception):
    """The build failed; the message says why (located validation messages included)."""


def build_site(root: Path, site_dir: Path | None = None, config: str = "mkdocs.yml", site_url: str | None = None
               ) -> Path:
    """Build the site of the catalogue at ``root`` into ``site_dir`` (default ``root/site``), for ``site_url``
    (default: mkdocs.yml's; every absolute URL follows it, the store's included).

    The previous site stays untouched unless the new one is complete. A failure (a full disk or any other
    OSError included) is a BuildError whose message names the path.
    """
    root = root.absolute()
    target = (site_dir or root / "site").absolute()
    config_file = root / config
    if not config_file.is_file():
        raise BuildError(f"{config_file} does not exist")
    try:
        day = build_date(root)
        # Dates written by MkDocs (sitemap) follow SOURCE_DATE_EPOCH: pin it to the commit for reproducible output.
        if source_date_epoch() is None:
            os.environ["SOURCE_DATE_EPOCH"] = str(int((day - day.__class__(1970, 1, 1)).total_seconds()))
    except SettingsError as exc:
        raise BuildError(str(exc)) from None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _lock(target):
            _recover(target)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{_BUILDING}", dir=target.parent))
            try:
                _readable(staging)
                _build_into(root, config_file, staging, site_url)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _swap(staging, target)
    except OSError as exc:
        raise BuildError(f"build failed: {_where(exc)}; {target} is as it was") from None
    log.info("site written to %s", target)
    return target


_BUILDING = ".building-"


def replaced_site(staging: Path) -> Path | None:
    """The site a build into ``staging`` will replace, when ``staging`` is a staging folder of
    :func:`build_site` and that site exists (while the build holds its lock, nothing else changes it)."""
    name = staging.name
    cut = name.rfind(_BUILDING)
    if not name.startswith(".") or cut < 2:
        return None
    target = staging.parent / name[1:cut]
    return target if target.is_dir() and not target.is_symlink() else None


def _build_into(root: Path, config_file: Path, staging: Path, site_url: str | None) -> None:
    """MkDocs' build, then the search index, into ``staging``; BuildError when either fails."""
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


def _where(exc: OSError) -> str:
    """``path: No space left on device (ENOSPC)``: an OSError as one line, its path first."""
    paths = " → ".join(os.fsdecode(p) for p in (exc.filename, exc.filename2) if p is not None)
    code = f" ({errno.errorcode[exc.errno]})" if exc.errno in errno.errorcode else ""
    what = f"{exc.strerror or exc}{code}"
    return f"{paths}: {what}" if paths else what


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

    from ..infra.parallel import can_fork

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


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Hold ``.<site>.lock`` next to ``target`` for the whole build: one build of a site at a time, another waits.

    An flock: the system releases it when the process ends, however it ends, so a killed build never leaves it
    held. The holder's process id is in the file, for the message of one that waits. The holder removes the file
    at the end; one that waited on the removed file then locks the new one instead.
    """
    path = target.with_name(f".{target.name}.lock")
    said = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 20, 0).decode("ascii", "replace").strip()
                if not said:
                    log.warning("another build of %s is running%s: waiting for it to end", target,
                                f" (process {holder})" if holder.isdigit() else "")
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    _held.add(fd)
    try:
        with contextlib.suppress(OSError):  # only for the message above: a full disk must not stop the build
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):  # removed while held: see above
            path.unlink()
        _held.discard(fd)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed, or replaced, by the previous holder)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


#: The lock files this process holds. A forked process (MkDocs' build apart, the plugin's page workers) closes its
#: copies: a worker left running by a killed build must not keep the site locked.
_held: set[int] = set()


def _close_held() -> None:
    for fd in _held:
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_held)


def _siblings(target: Path, kind: str) -> list[Path]:
    """The folders ``.<site>.<kind>-*`` next to ``target``."""
    prefix = f".{target.name}.{kind}-"
    with os.scandir(target.parent) as entries:
        return [target.parent / e.name for e in entries if e.name.startswith(prefix)]


def _recover(target: Path) -> None:
    """Undo what killed builds left (this build holds the lock: no other one runs). The previous site back in place
    if a swap was cut short; staging folders and old sites to the trash; the trash deleted."""
    olds = sorted(_siblings(target, "old"), key=_stamp)
    if olds and not os.path.lexists(target):
        olds.pop().rename(target)
        log.warning("put the previous site back in %s: a build was stopped while it swapped the site", target)
    for path in olds + _siblings(target, "building"):
        _trash(path, target)
    for path in _siblings(target, "trash"):
        _remove_later(path)


def _stamp(old: Path) -> int:
    """When ``old`` (``.site.old-<ns>-<pid>``) was swapped out, for the choice of the newest."""
    head = old.name.rpartition(".old-")[2].split("-")[0]
    return int(head) if head.isdigit() else -1


def _readable(folder: Path) -> None:
    """Give the staging folder (``mkdtemp`` makes it private) the permissions a folder made with ``mkdir`` gets,
    so that a web server running as another user can read the site."""
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)


def _swap(new: Path, target: Path) -> None:
    """Put the complete site ``new`` in the place of ``target``; the previous site then goes to the trash."""
    if not os.path.lexists(target):
        new.rename(target)
    elif _exchange(new, target):
        _trash(new, target)  # now the previous site
    else:
        old = target.with_name(f".{target.name}.old-{time.time_ns()}-{os.getpid()}")
        target.rename(old)
        # Killed here, there is no site/ but the previous one as .site.old-*: the next build puts it back first.
        try:
            new.rename(target)
        except OSError:
            old.rename(target)
            raise
        _trash(old, target)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names of ``a`` and ``b`` in one step (renameat2 with RENAME_EXCHANGE); False where the system or
    the file system cannot (then nothing was done)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):  # not here: two renames instead
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """The C library's renameat2 (Linux, glibc 2.28 or newer), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _trash(path: Path, target: Path) -> None:
    """Rename ``path`` to ``.<site>.trash-*`` (out of the names recovery looks at), then delete it in the
    background. The site is complete by then: a failure here only leaves the folder for the next build."""
    bin_ = target.with_name(f".{target.name}.trash-{secrets.token_hex(6)}")
    try:
        path.rename(bin_)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
        return
    _remove_later(bin_)


def _remove_later(path: Path) -> None:
    """Delete ``path`` in a detached process. The previous site is out of sight already, and deleting it (a
    gigabyte in 100,000 files at 10,000 datasets) took seconds that nobody needs to wait for.

    Speed-up, measured (benchmarks/README.md, fourth round, N = 10,000): ~9 s of a rebuild (of ~51 s warm)."""
    if path.is_symlink() or not path.is_dir():  # (what a user put in the site's place)
        with contextlib.suppress(OSError):
            path.unlink()
        return
    try:
        subprocess.Popen([sys.executable, "-c", "import shutil, sys; shutil.rmtree(sys.argv[1], ignore_errors=True)",
                          str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
