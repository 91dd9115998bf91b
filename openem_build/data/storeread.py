"""Reading the store back: checking a publish by cloning it from the public URL, serving a folder store, copying it,
and relocating a clone's URL."""

from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from . import annex, annexfiles
from .storeplace import REMOTE, Log, StoreError, _quiet, clone_url, dataset_dir
from .storetargets import Store


def check_published(store: Store, dsid: str, commit: str, *, content: bool = True, log: Log = _quiet) -> None:
    """Clone the dataset from the store's public URL as a reader would, and check that it is at ``commit`` and
    that every annexed file's content can be had (``content``: downloaded and checked against its key).

    A store the site build serves is not public yet: it is read through a server on 127.0.0.1 instead.
    """
    with contextlib.ExitStack() as stack:
        base = store.public_url
        if store.served_by_site and not store.is_s3:
            base = stack.enter_context(serve_folder(Path(store.location)))
        if base != store.public_url:
            # The clone's git-annex then reaches the store at once, instead of first trying (and retrying, for
            # seconds) the public URL its git-annex branch records.
            stack.enter_context(_git_config({f"remote.{REMOTE}.ora-url": f"ria+{base}"}))
        stack.enter_context(_quiet_datalad())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="openem-verify-")))
        clone = tmp / "clone"
        log(f"checking: datalad clone {clone_url(base, dsid)}")
        try:
            annex.clone(clone_url(base, dsid), clone)
        except annex.AnnexError as exc:
            raise StoreError(f"the published dataset cannot be cloned from {clone_url(base, dsid)}: {exc}") from None
        head = annex.head(clone)
        if head != commit:
            raise StoreError(f"a clone from the store is at {head[:12]}, not at the published {commit[:12]}")
        if not annexfiles.annexed_keys(clone, commit):
            return
        if base != store.public_url:
            _trust_remote(clone)  # cloned through another URL than the recorded one: see _ora_remote
        if content:
            steps = [["get", "-q", "."], ["fsck", "-q", "."]]
        else:
            steps = [["fsck", "-q", "--fast", f"--from={REMOTE}", "."]]
        for step in steps:
            proc = annex.run(["git", "annex", *step], clone, check=False)
            if proc.returncode != 0:
                raise StoreError(f"a clone from the store does not get every file's content: {_first_error(proc)}")
        if content:
            absent = annex.git(clone, "annex", "find", "--not", "--in=here", ".").split("\n")[0].strip()
            if absent:
                raise StoreError(f"a clone from the store does not get every file's content: not {absent}")
        annex.remove_tree(clone)


@contextlib.contextmanager
def _quiet_datalad() -> Iterator[None]:
    """DataLad's progress messages (clone attempts, remote reconfiguration) kept out of the publisher's output."""
    import datalad  # noqa: F401  (its import sets the logger up: then it can be told to be quiet)

    logger = logging.getLogger("datalad")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _git_config(pairs: Mapping[str, str]) -> Iterator[None]:
    """git configuration for everything this process starts within the block (``GIT_CONFIG_COUNT``)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("GIT_CONFIG_")}
    n = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    for i, (key, value) in enumerate(pairs.items(), n):
        os.environ[f"GIT_CONFIG_KEY_{i}"], os.environ[f"GIT_CONFIG_VALUE_{i}"] = key, value
    os.environ["GIT_CONFIG_COUNT"] = str(n + len(pairs))
    try:
        yield
    finally:
        for k in [k for k in os.environ if k.startswith("GIT_CONFIG_")]:
            del os.environ[k]
        os.environ.update(saved)


def _first_error(proc: Any) -> str:
    """git-annex's first complaint in its output (not the progress messages DataLad's ORA remote logs there)."""
    lines = [line.strip() for line in (proc.stderr + proc.stdout).decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line and not line.startswith("[INFO]")]
    return lines[0] if lines else f"git annex failed ({proc.returncode})"


def _trust_remote(clone: Path) -> None:
    """``git annex verifyremote`` the store's remote in a clone of ours (git-annex 10.2025 and later ask for it;
    earlier versions have no such command, and need nothing)."""
    proc = annex.run(["git", "annex", "verifyremote", REMOTE], clone, check=False)
    m = re.search(r"verifyremote \S+ --safe (\S+)", proc.stdout.decode("utf-8", "replace"))
    if proc.returncode == 0 and m:
        annex.run(["git", "annex", "verifyremote", REMOTE, "--safe", m[1]], clone, check=False)


@contextlib.contextmanager
def serve_folder(folder: Path, port: int = 0) -> Iterator[str]:
    """A static web server on 127.0.0.1 (``port``, or any free one) serving ``folder`` for as long as the block
    runs; yields its URL (no trailing slash)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def copy_public(store: Store, dsids: Iterable[str], dest: Path, url: str | None = None) -> list[str]:
    """Copy (hard-link where possible) the given datasets of a folder store, and its layout file, into ``dest``
    (the store's place in the site); returns the ids copied. Unfinished uploads and locks stay behind.

    ``url``: the copy is served there rather than at the store's public URL (a site built with ``--site-url``,
    `mkdocs serve`): each copy's git-annex branch then records that URL (see :func:`relocate`)."""
    target = store.target()
    dest.mkdir(parents=True, exist_ok=True)
    layout = Path(store.location) / "ria-layout-version"
    if layout.is_file():
        shutil.copyfile(layout, dest / "ria-layout-version")
    copied = [dsid for dsid in sorted(set(dsids)) if target.copy_out(dataset_dir(dsid), dest)]
    if url and url.rstrip("/") != store.public_url.rstrip("/"):
        for dsid in copied:
            relocate(dest / dataset_dir(dsid), url)
    return copied


def relocate(repo: Path, url: str) -> bool:
    """Record ``url`` as the store's address in the git-annex branch of ``repo``, a copy of a store's dataset
    served there; returns whether it changed.

    A clone then enables the store's remote at that address when git-annex is set up, as one from the public
    URL does. (DataLad can reconfigure a clone that came through another address, but git-annex 10.2025 and
    later will not use a remote so reconfigured until someone runs ``git annex verifyremote``.) One commit on
    the git-annex branch, dated like its parent, so the copy is the same whenever it is made; the files written
    replace the copied ones (new files, renamed into place), never the store's own through a hard link."""
    def git(*args: str, data: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
        proc = subprocess.run(["git", f"--git-dir={repo}", *args], input=data, capture_output=True, check=False,
                              env={**annex.tool_env(), **(env or {})})
        if proc.returncode:
            raise StoreError(f"cannot serve {repo.name} at {url}: {proc.stderr.decode('utf-8', 'replace').strip()}")
        return proc.stdout.decode("utf-8", "surrogateescape")

    head = git("rev-parse", "--verify", "-q", "refs/heads/git-annex").strip()
    log = git("cat-file", "blob", f"{head}:remote.log")
    want = f"url=ria+{url.rstrip('/')}"
    lines = [re.sub(r"(?<= )url=\S+", want, line) if " externaltype=ora " in f" {line} " else line
             for line in log.splitlines()]
    text = "\n".join(lines) + "\n"
    if text == log:
        return False
    blob = git("hash-object", "-w", "--stdin", data=text.encode("utf-8", "surrogateescape")).strip()
    tree = [re.sub(r"^(100644 blob )[0-9a-f]{40}(\tremote\.log)$", rf"\g<1>{blob}\g<2>", entry)
            for entry in git("ls-tree", f"{head}^{{tree}}").splitlines()]
    root = git("mktree", data=("\n".join(tree) + "\n").encode("utf-8", "surrogateescape")).strip()
    who = git("log", "-1", "--format=%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI", head).strip().split("\0")
    env = dict(zip(("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME",
                    "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE"), who, strict=True))
    commit = git("commit-tree", root, "-p", head, "-m", f"The store served at {url}", env=env).strip()
    git("update-ref", "refs/heads/git-annex", commit, head)
    git("update-server-info")
    return True


def path_of_url(url: str) -> PurePosixPath:
    return PurePosixPath(urlsplit(url).path)
