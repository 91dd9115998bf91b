"""``openem publish``: put an entry's DataLad dataset into the OpenEM store and point the entry at it (an I/O edge).

Before anything is sent, the entry's ``manifest.json`` must describe the installed subdataset
``datasets/<id>/data`` exactly (same commit, same files and keys), and its content must be there. Then
:func:`openem_build.data.store.publish` writes the dataset into the store and checks it by cloning from the
store's public URL. Only then is the catalogue changed, in one commit: ``data.datalad`` becomes the store's clone
URL, ``.gitmodules`` records it for the subdataset, and the manifest lists each file's download URL. A failure at
any point leaves the catalogue as it was, and the store as it was or holding the new version complete.

An embargoed entry is refused for a store the public reads directly; a store the site serves (``store_url``
relative) may hold it, since the site build serves no embargoed dataset.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..infra.context import Settings, SettingsError, build_date, read_settings
from ..infra.progress import Progress
from ..records import manifest as M
from ..records.load import DATASET_FILE, DATASETS, read_yaml
from ..records.yamlsafe import lookup
from . import annex, submodules
from .headers import read_headers
from .store import PublishResult, Store, StoreError
from .store import publish as publish_dataset

Log = Callable[[str], None]
ENV_STORE, ENV_STORE_URL, ENV_ENDPOINT = "OPENEM_STORE", "OPENEM_STORE_URL", "OPENEM_S3_ENDPOINT"


class PublishError(Exception):
    """``openem publish`` cannot go ahead or failed; the message says why and what to do."""


@dataclass(frozen=True)
class Published:
    store: PublishResult
    catalogue_commit: str | None  # None: nothing changed, or not committed (``commit=False``)
    changed: tuple[str, ...]  # catalogue files changed


def _quiet(_message: str) -> None:
    pass


def store_for(root: Path, settings: Settings | None = None, *, location: str | None = None,
              public_url: str | None = None, endpoint: str | None = None, environ: dict | None = None) -> Store:
    """The store the catalogue publishes to: mkdocs.yml's ``store``/``store_url``/``store_endpoint``, overridden
    by ``OPENEM_STORE``/``OPENEM_STORE_URL``/``OPENEM_S3_ENDPOINT`` and then by the arguments."""
    env = os.environ if environ is None else environ
    try:
        settings = settings or read_settings(root)
    except SettingsError as exc:
        raise PublishError(str(exc)) from None
    where = location or env.get(ENV_STORE) or settings.store
    if not where:
        raise PublishError("no store is configured: set `store:` in the openem plugin's options in mkdocs.yml, or "
                           f"{ENV_STORE}, or pass --store (a folder, or s3://bucket/prefix)")
    if not where.startswith("s3://"):
        where = str((root / where).absolute()) if not Path(where).is_absolute() else where
    url = public_url or env.get(ENV_STORE_URL)
    served = False
    if url is None:
        url, served = settings.store_public_url, settings.store_served_by_site
    try:
        return Store(where, url.rstrip("/"), endpoint=endpoint or env.get(ENV_ENDPOINT) or settings.store_endpoint,
                     served_by_site=served)
    except StoreError as exc:
        raise PublishError(str(exc)) from None


def publish_entry(root: Path, ident: str, store: Store, *, verify: str = "content", commit: bool = True,
                  today: date | None = None, log: Log = _quiet, progress: Progress | None = None) -> Published:
    """Publish ``datasets/<ident>/data`` into ``store`` and update the entry; see the module documentation."""
    root = root.absolute()
    folder = root / DATASETS / ident
    data = folder / M.SUBDATASET
    rel = f"{DATASETS}/{ident}"
    if not (folder / DATASET_FILE).is_file():
        raise PublishError(f"no dataset '{ident}' in {root / DATASETS}")
    if not (data.is_dir() and annex.is_repo(data)):
        raise PublishError(f"{rel}/{M.SUBDATASET} is not installed here: publish from the catalogue where `openem "
                           f"add` made it, or install it with its content (`datalad get -d . {rel}/{M.SUBDATASET}`)")
    doc, problems = read_yaml(folder / DATASET_FILE, root)
    if doc is None:
        raise PublishError("; ".join(p.text() for p in problems))
    embargo = lookup(doc.data, "embargo_until")
    day = today or build_date(root)
    if lookup(doc.data, "status") == "embargoed" and not store.served_by_site:
        until = str(embargo) if embargo else None
        if until is None or not re.fullmatch(r"\d{4}-\d\d-\d\d", until) or date.fromisoformat(until) > day:
            raise PublishError(f"{ident} is embargoed{f' until {until}' if until else ''}: its files must not be in "
                               f"a store the public reads ({store.public_url}) before then. Publish it on or after "
                               "that day (keep the files on your facility's storage until then)")
    mpath = folder / M.MANIFEST_FILE
    recorded, _doc, mproblems = M.read(mpath, root) if mpath.is_file() else (None, None, [])
    if recorded is None:
        hint = "; ".join(p.text() for p in mproblems) or f"{rel}/{M.MANIFEST_FILE} is missing"
        raise PublishError(f"{hint}: run `openem manifest {ident}` first")
    try:
        actual = M.from_repo(data, commit=recorded.commit or "HEAD")
    except annex.AnnexError as exc:
        raise PublishError(f"cannot list the files of {rel}/{M.SUBDATASET}: {exc}") from None
    serious = [d for d in M.compare(recorded, actual) if d.kind != "urls"]
    if serious:
        raise PublishError(f"{rel}/{M.MANIFEST_FILE} does not describe {rel}/{M.SUBDATASET}: {serious[0].text}"
                           f"{f' (and {len(serious) - 1} more)' if len(serious) > 1 else ''}: run `openem manifest "
                           f"{ident}` and check the entry again")
    progress = progress or Progress()
    try:
        annexed = [f for f in recorded.files if f.key]
        with progress.phase("sending", len(annexed), sum(f.size or 0 for f in annexed)) as phase:
            result = publish_dataset(store, data, recorded.commit or "HEAD", log=log if not progress.enabled else
                                     _quiet, verify=verify, advance=phase.advance)
    except (StoreError, annex.AnnexError) as exc:
        raise PublishError(str(exc)) from None
    changed, made = _point_entry(root, ident, store, result, recorded, commit, log)
    return Published(result, made, changed)


def _point_entry(root: Path, ident: str, store: Store, result: PublishResult, recorded: M.Manifest, commit: bool,
                 log: Log) -> tuple[tuple[str, ...], str | None]:
    """Point the entry at the store: data.datalad, .gitmodules, the manifest's URLs; committed together."""
    rel = f"{DATASETS}/{ident}"
    folder = root / rel
    data = folder / M.SUBDATASET
    sub_path = f"{rel}/{M.SUBDATASET}"
    files = {f"{rel}/{DATASET_FILE}": folder / DATASET_FILE, f"{rel}/{M.MANIFEST_FILE}": folder / M.MANIFEST_FILE,
             submodules.GITMODULES: root / submodules.GITMODULES}
    before = {name: path.read_bytes() if path.is_file() else None for name, path in files.items()}
    head_before = annex.git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).strip() or None
    try:
        fresh = M.from_repo(data, commit=result.commit, read_headers=read_headers, previous=recorded)
        M.write(folder / M.MANIFEST_FILE, fresh)
        text = (folder / DATASET_FILE).read_text("utf-8")
        (folder / DATASET_FILE).write_text(with_datalad_url(text, result.clone_url), encoding="utf-8")
        _register(root, sub_path, store.git_url(result.dsid), result.clone_url, result.dsid)
        changed = tuple(name for name, path in files.items()
                        if (path.read_bytes() if path.is_file() else None) != before[name])
        if not changed:
            return (), None
        annex.git(root, "add", "--", *changed)
        if not commit:
            return changed, None
        annex.git(root, "commit", "-q", "-m", f"Publish {ident} to the OpenEM store (openem publish)", "--",
                  *changed)
        made = annex.head(root)
        log(f"committed {made[:12]} to the catalogue: {', '.join(changed)}")
        return changed, made
    except BaseException:
        for name, path in files.items():
            with contextlib.suppress(OSError):
                if before[name] is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(before[name])
        with contextlib.suppress(annex.AnnexError):
            head_now = annex.git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).strip() or None
            if head_before and head_now != head_before:
                annex.git(root, "reset", "--soft", "-q", head_before)
            tracked = [n for n in files if annex.git(root, "ls-files", "--", n).strip()]
            if tracked:
                annex.git(root, "reset", "-q", "--", *tracked)
        raise


def _register(root: Path, sub_path: str, git_url: str, clone_url: str, dsid: str) -> None:
    """``.gitmodules`` records the store for the subdataset, as ``datalad clone -d .`` of a RIA URL does."""
    file = str(root / submodules.GITMODULES)
    current = submodules.read_gitmodules(root).get(sub_path)
    name = current.name if current else sub_path
    annex.git(root, "config", "--file", file, f"submodule.{name}.path", sub_path)
    annex.git(root, "config", "--file", file, f"submodule.{name}.url", git_url)
    annex.git(root, "config", "--file", file, f"submodule.{name}.datalad-url", clone_url)
    annex.git(root, "config", "--file", file, f"submodule.{name}.datalad-id", dsid)


_DATA = re.compile(r"^data:\s*(#.*)?$")
_DATALAD = re.compile(r"^(?P<indent>[ \t]+)(?:#\s*)?datalad:.*$")


def with_datalad_url(text: str, url: str) -> str:
    """``dataset.yaml``'s text with ``data.datalad`` set to ``url``; every other line stays as it was."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _DATA.match(line.rstrip("\r\n"))), None)
    if start is None:
        raise PublishError("dataset.yaml has no top-level `data:` section to record the store's URL in")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i][:1].isspace()
                and not lines[i].lstrip().startswith("#")), len(lines))
    value = f'"{url}"'
    for i in range(start + 1, end):
        m = _DATALAD.match(lines[i].rstrip("\r\n"))
        if m and len(m["indent"]) == _indent(lines, start, end):
            lines[i] = f"{m['indent']}datalad: {value}\n"
            return "".join(lines)
    indent = " " * _indent(lines, start, end)
    lines.insert(start + 1, f"{indent}datalad: {value}\n")
    return "".join(lines)


def _indent(lines: list[str], start: int, end: int) -> int:
    """The indentation of the keys of the section between ``start`` and ``end`` (2 when it has none)."""
    for line in lines[start + 1:end]:
        stripped = line.lstrip(" ")
        if stripped.strip() and not stripped.startswith("#"):
            return len(line) - len(stripped)
    return 2
