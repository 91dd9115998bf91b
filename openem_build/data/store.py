"""The OpenEM store: a DataLad RIA store holding each published dataset's git history and annexed content.

The store lives in a folder that any static web server or CDN serves read-only, or in an S3 bucket with public
read access; readers need nothing but DataLad (``datalad clone ria+https://…#<id>``, then ``datalad get``) or a
browser. The layout is the one DataLad's own tools read::

    ria-layout-version                          "1"
    <id[:3]>/<id[3:]>/                          the dataset: a bare git repository, readable over plain HTTP
        ria-layout-version                      "2"
        info/refs, objects/info/packs, HEAD     (what git's "dumb" HTTP clone reads)
        annex/objects/<hashdir>/<key>/<key>     the content, one plain file per git-annex key (hashdirmixed):
                                                also each file's download URL

The git-annex branch in the store registers the store as an ORA special remote (DataLad's RIA remote) with the
public URL and ``autoenable``, and records which keys it holds, so a clone gets content from it without any
configuration. A copy served at another URL (the site built with ``--site-url``, `mkdocs serve`) records that
URL instead (:func:`relocate`); a clone through yet another address (a mirror) is reconfigured by DataLad
itself, and with git-annex 10.2025 or later its user then runs ``git annex verifyremote openem-store`` once, as
git-annex asks.

Publishing writes content first, then git objects, then the pointers (``config``, the refs,
``objects/info/packs``, ``info/refs`` — where HTTP readers switch to the new state), ``HEAD`` last (where a new
dataset becomes clonable from a path): until then a reader sees the previous state or no dataset at all,
however the publish ends. In a folder store everything is staged in ``.openem/staging/<id>/`` (same file
system) and moved in at the end; a new dataset arrives with a single rename. An interrupted publish run again
continues from what it staged or uploaded: content already there (same key, same size) is not read again.

Credentials for S3 come from the environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, or any source
boto3 reads), never from the catalogue, and are never printed.
"""

from __future__ import annotations

import contextlib
import functools
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import annex, annexfiles, annexkeys, ingest
from .storeplace import _UUID as _UUID
from .storeplace import DATASET_LAYOUT as DATASET_LAYOUT
from .storeplace import PRIVATE as PRIVATE
from .storeplace import REMOTE as REMOTE
from .storeplace import STORE_LAYOUT as STORE_LAYOUT
from .storeplace import Advance as Advance
from .storeplace import Log as Log
from .storeplace import StoreError as StoreError
from .storeplace import _quiet as _quiet
from .storeplace import clone_url as clone_url
from .storeplace import dataset_dir as dataset_dir
from .storeplace import git_url as git_url
from .storeplace import object_url as object_url
from .storeplace import parse_clone_url as parse_clone_url
from .storeread import _first_error as _first_error
from .storeread import _git_config as _git_config
from .storeread import _quiet_datalad as _quiet_datalad
from .storeread import _trust_remote as _trust_remote
from .storeread import check_published as check_published
from .storeread import copy_public as copy_public
from .storeread import path_of_url as path_of_url
from .storeread import relocate as relocate
from .storeread import serve_folder as serve_folder
from .storetargets import _CHUNK as _CHUNK
from .storetargets import _PART as _PART
from .storetargets import _ZEROS as _ZEROS
from .storetargets import Store as Store
from .storetargets import _Area as _Area
from .storetargets import _atomic_write as _atomic_write
from .storetargets import _FolderArea as _FolderArea
from .storetargets import _FolderTarget as _FolderTarget
from .storetargets import _fsync_dir as _fsync_dir
from .storetargets import _hashlib_name as _hashlib_name
from .storetargets import _link_tree as _link_tree
from .storetargets import _S3Area as _S3Area
from .storetargets import _S3Target as _S3Target
from .storetargets import _Target as _Target
from .storetargets import _Verify as _Verify

# ----------------------------------------------------------------------------------------------- addresses


key_locations = annexfiles.key_locations


# ----------------------------------------------------------------------------------------------- targets


# ----------------------------------------------------------------------------------------------- publishing

@dataclass(frozen=True)
class PublishResult:
    dsid: str
    commit: str
    clone_url: str
    files: int  # annexed files of the commit
    uploaded: int  # keys transferred by this run
    uploaded_bytes: int
    present: int  # keys the store had already
    #: path → download URL of every annexed file of the commit.
    urls: Mapping[str, str] = field(default_factory=dict)
    verified: str = "no"  # "content", "presence" or "no"


def publish(store: Store, dataset: Path, commit: str = "HEAD", *, log: Log = _quiet, verify: str = "content",
            advance: Advance | None = None) -> PublishResult:
    """Put ``commit`` of the DataLad dataset at ``dataset`` (its git history and annexed content) into ``store``.

    Content must be present in ``dataset``, or in the folder a dataset made in place by ``openem add`` records
    (:func:`openem_build.data.ingest.source_copies`), from where it goes straight to the store. Raises
    :class:`StoreError` without changing what the store shows. ``advance(files, bytes)`` reports progress.
    ``verify``: after publishing, clone from the store's public URL and get every file's content and check it
    (``content``), check only that the store has each file (``presence``), or not at all (``no``).
    """
    dataset = dataset.absolute()
    if not annex.is_repo(dataset):
        raise StoreError(f"{dataset} is not a DataLad dataset")
    try:
        commit = annex.resolve(dataset, commit)
    except annex.AnnexError as exc:
        raise StoreError(str(exc)) from None
    dsid = annex.datalad_id(dataset, commit)
    if not dsid or not _UUID.fullmatch(dsid):
        raise StoreError(f"{dataset} has no DataLad dataset id at {commit[:12]} (.datalad/config): make it a "
                         "DataLad dataset with `datalad create --force` and save")
    ddir = dataset_dir(dsid)
    keys = annexfiles.annexed_keys(dataset, commit)  # path → key
    locations = key_locations(dataset, keys.values())
    sources = _content(dataset, set(keys.values()))
    if len(sources) < len(set(keys.values())):
        originals = ingest.source_copies(dataset, {p: k for p, k in keys.items() if k not in sources})
        sources.update({k: v for k, v in originals.items() if k not in sources})
    missing = sorted(p for p, k in keys.items() if k not in sources)
    target = store.target()
    target.ensure_layout()
    uploaded = uploaded_bytes = present = 0
    with target.area(ddir) as area:
        # A history that does not build on the published one is refused before anything is sent (the content
        # of a rewritten history, perhaps rewritten to drop a file, is not to reach the store).
        existing = area.git_files()
        old_head = _store_head(existing)
        if old_head and old_head != commit and not _is_ancestor(dataset, old_head, commit):
            raise _rewritten(dsid, old_head, commit)
        # What an interrupted run staged and this one does not need (content of another commit, git objects and
        # pointers of that run, unfinished files) is not to be shown with this commit.
        area.discard_other({f"annex/objects/{loc}" for loc in locations.values()})
        have = area.sizes("annex/objects")
        first_path = {}
        for p, k in sorted(keys.items()):
            first_path.setdefault(k, p)
        stored: set[str] = set()
        for n, key in enumerate(sorted(locations), 1):
            rel = f"annex/objects/{locations[key]}"
            info = annexkeys.parse_key(key)
            if rel in have and (info is None or info.size is None or have[rel] == info.size):
                present += 1
                stored.add(key)
                if advance:
                    advance(1, have[rel])
                continue
            source = sources.get(key)
            if source is None:
                continue  # reported below, after the rest has been staged
            log(f"[{n}/{len(locations)}] {first_path[key]}")
            uploaded_bytes += area.upload(rel, source, functools.partial(_Verify, key=key, what=first_path[key],
                                                                         advance=advance))
            uploaded += 1
            stored.add(key)
            if advance:
                advance(1, 0)
        if missing:
            absent = [p for p in missing if keys[p] not in stored]
            if absent:
                raise StoreError(f"the content of {len(absent)} file{'s' * (len(absent) != 1)} is not in "
                                 f"{dataset} (e.g. {absent[0]}): get it first (`datalad get .`), then publish "
                                 "again; what was sent so far is kept for the next run")
        if uploaded == 0 and _published_at(existing) == commit:
            log(f"{dsid} is in the store at {commit[:12]} with all its content already")
        else:
            with tempfile.TemporaryDirectory(prefix="openem-publish-") as tmp:
                area.reveal(_git_part(Path(tmp), dataset, commit, dsid, store.public_url, existing, stored, area))
                _learn_store(dataset, Path(tmp) / "out.git")
    log(f"published {len(keys)} files of {dsid} at {commit[:12]} ({uploaded} sent, {present} already there)")
    urls = {p: object_url(store.public_url, dsid, locations[k]) for p, k in sorted(keys.items())}
    result = PublishResult(dsid, commit, store.clone_url(dsid), len(keys), uploaded, uploaded_bytes, present, urls)
    if verify != "no":
        check_published(store, dsid, commit, content=verify == "content", log=log)
        result = PublishResult(**{**result.__dict__, "verified": verify})
    return result


def _store_head(existing: Mapping[str, bytes]) -> str | None:
    """The commit of the store's dataset's HEAD branch (its ref file), from its git files; None for a new one."""
    head = existing.get("HEAD", b"").decode("utf-8", "replace").strip()
    if not head.startswith("ref: "):
        return None
    ref = existing.get(head[len("ref: "):], b"").decode("utf-8", "replace").strip()
    return ref if re.fullmatch(r"[0-9a-f]{40}", ref) else None


def _published_at(existing: Mapping[str, bytes]) -> str | None:
    """The commit the store's dataset shows readers, from its git files; None for a new dataset, and for one
    whose pointers disagree (an update interrupted between its ref files and ``info/refs``, which HTTP readers
    go by: it is to be finished, not taken as done)."""
    commit = _store_head(existing)
    if commit is None:
        return None
    head = existing["HEAD"].decode("utf-8", "replace").strip()[len("ref: "):]
    advertised = {}
    for line in existing.get("info/refs", b"").decode("utf-8", "replace").splitlines():
        oid, _, ref = line.partition("\t")
        advertised[ref.strip()] = oid.strip()
    annex_ref = existing.get("refs/heads/git-annex", b"").decode("utf-8", "replace").strip()
    if advertised.get(head) != commit or advertised.get("refs/heads/git-annex") != annex_ref:
        return None
    return commit


def _is_ancestor(repo: Path, old: str, new: str) -> bool:
    """Whether commit ``old`` is ``new`` or one of its ancestors in ``repo`` (False when ``repo`` lacks it)."""
    return annex.run(["git", "merge-base", "--is-ancestor", old, new], repo, check=False).returncode == 0


def _rewritten(dsid: str, old_head: str, commit: str) -> StoreError:
    return StoreError(f"the store has {dsid} at {old_head[:12]}, which {commit[:12]} does not build on: a published "
                      "history is never rewritten (citations point at its commits); add commits on top of the "
                      "published one instead")


def _content(repo: Path, keys: set[str]) -> dict[str, Path]:
    """key → the file holding its content in ``repo`` (only keys whose content is present)."""
    if not keys or not annex.has_annex(repo):
        return {}
    ordered = sorted(keys)
    out = annex.run(["git", "annex", "contentlocation", "--batch"], repo,
                    input="".join(f"{k}\n" for k in ordered).encode(), check=False).stdout
    lines = out.decode("utf-8", "surrogateescape").split("\n")
    found = {}
    for key, line in zip(ordered, lines, strict=False):
        if line.strip():
            path = (repo / line.strip()).resolve()
            if path.is_file():
                found[key] = path
    return found


def _git_part(base: Path, dataset: Path, commit: str, dsid: str, public_url: str, existing: Mapping[str, bytes],
              stored: set[str], area: _Area) -> list[tuple[str, bytes]]:
    """Stage the dataset's git repository for the store (its objects into ``area``), recording that the store
    holds the keys ``stored``; returns the pointer files to write last, in order. Works in the folder ``base``,
    leaving the store's repository as ``base/out.git``."""
    if True:
        work = base / "work.git"
        annex.git(base, "init", "-q", "--bare", str(work))
        branch = _branch(dataset)
        old_head = None
        if existing.get("HEAD"):
            previous = base / "store.git"
            for rel in ("refs/heads", "objects/pack"):
                (previous / rel).mkdir(parents=True, exist_ok=True)
            for rel, data in existing.items():
                (previous / rel).parent.mkdir(parents=True, exist_ok=True)
                (previous / rel).write_bytes(data)
            head = existing["HEAD"].decode().strip()
            if head.startswith("ref: refs/heads/"):
                branch = head[len("ref: refs/heads/"):]
            annex.git(work, "fetch", "-q", str(previous), "+refs/heads/*:refs/remotes/store/*")
            old_head = annex.git(work, "rev-parse", "--verify", "-q", f"refs/remotes/store/{branch}",
                                 check=False).strip() or None
        # Not the source's git-annex branch: the store's says only what the store holds (no contributor's host
        # names, paths or other remotes for every reader's clone to try).
        annex.git(work, "fetch", "-q", str(dataset), f"+{commit}:refs/heads/{branch}")
        if old_head and old_head != commit and not _is_ancestor(work, old_head, commit):
            raise _rewritten(dsid, old_head, commit)
        annex.git(work, "config", "annex.private", "true")
        annex.git(work, "config", "annex.autocommit", "false")
        annex.run(["git", "annex", "init", "-q"], work)
        uuid = _ora_remote(work, base, dsid, public_url, existing)
        lines = "".join(f"{k} {uuid} 1\n" for k in sorted(stored))
        if lines:
            annex.run(["git", "annex", "setpresentkey", "--batch"], work, input=lines.encode())
        annex.run(["git", "annex", "merge", "-q"], work)
        out = base / "out.git"
        annex.git(base, "init", "-q", "--bare", str(out))
        annex.git(out, "fetch", "-q", str(work), f"+refs/heads/{branch}:refs/heads/{branch}",
                  "+refs/heads/git-annex:refs/heads/git-annex")
        annex.git(out, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
        annex.git(out, "repack", "-a", "-d", "-q")
        annex.git(out, "update-server-info")
        refs = {f"refs/heads/{name}": annex.git(out, "rev-parse", f"refs/heads/{name}").strip()
                for name in (branch, "git-annex")}
        for pack in sorted((out / "objects" / "pack").iterdir()):
            rel = f"objects/pack/{pack.name}"
            if rel not in existing:
                area.put(rel, pack.read_bytes())
        config = (f"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
                  f"[datalad \"ora-remote\"]\n\tuuid = {uuid}\n").encode()
        return [("ria-layout-version", DATASET_LAYOUT.encode()), ("config", config),
                *[(ref, f"{oid}\n".encode()) for ref, oid in refs.items()],
                ("objects/info/packs", (out / "objects" / "info" / "packs").read_bytes()),
                ("info/refs", (out / "info" / "refs").read_bytes()),
                ("HEAD", f"ref: refs/heads/{branch}\n".encode())]


def _learn_store(dataset: Path, published: Path) -> None:
    """Merge the store's git-annex branch into the dataset's, so that it knows the store holds its content (its
    manifest then lists the store's download URLs). Not needed for the store itself: failures are ignored."""
    if not annex.has_annex(dataset):
        return
    with contextlib.suppress(annex.AnnexError):
        annex.git(dataset, "fetch", "-q", str(published), f"+refs/heads/git-annex:refs/remotes/{REMOTE}/git-annex")
        annex.run(["git", "annex", "merge", "-q"], dataset)


def _branch(dataset: Path) -> str:
    ref = annex.git(dataset, "symbolic-ref", "-q", "HEAD", check=False).strip()
    return ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else "main"


def _ora_remote(work: Path, base: Path, dsid: str, public_url: str, existing: Mapping[str, bytes]) -> str:
    """The uuid of the store's ORA special remote in ``work``'s git-annex branch, registered there when it is not
    yet, with the public URL.

    Autoenabled: ``git annex init`` in a reader's clone (``datalad clone`` runs it) enables it at the public URL,
    ready to use. Since git-annex 10.2025 a special remote that a clone enables any other way (``datalad clone``
    from another URL than the recorded one, a mirror or 127.0.0.1, reconfigures it so) cannot be used until
    ``git annex verifyremote`` says it is safe; :func:`check_published` does that for its clone."""
    known = None
    config = existing.get("config", b"").decode("utf-8", "replace")
    m = re.search(r"uuid\s*=\s*([0-9a-f-]{36})", config)
    if m:
        known = m[1]
    url = f"ria+{public_url.rstrip('/')}"
    remotes = _remote_log(work)
    if known and known in remotes:
        if remotes[known].get("url") != url or remotes[known].get("autoenable") != "true":
            _with_fake_store(work, base, dsid, ["enableremote", remotes[known].get("name", REMOTE), f"url={url}",
                                                "autoenable=true"], remotes[known].get("name"))
        return known
    _with_fake_store(work, base, dsid, ["initremote", REMOTE, "type=external", "externaltype=ora",
                                        "encryption=none", "autoenable=true", f"url={url}", f"archive-id={dsid}"])
    for uuid, conf in _remote_log(work).items():
        if conf.get("name") == REMOTE and conf.get("archive-id") == dsid:
            return uuid
    raise StoreError("git-annex did not register the store as a special remote")


def _with_fake_store(work: Path, base: Path, dsid: str, args: list[str], name: str | None = None) -> None:
    """Run ``git annex initremote|enableremote`` for the ORA remote while it reads a local stand-in of the store
    (ORA checks the store it is given; the public URL may not be served yet). Only the public URL is recorded."""
    fake = base / "fake-store"
    (fake / dataset_dir(dsid)).mkdir(parents=True, exist_ok=True)
    (fake / "ria-layout-version").write_text(STORE_LAYOUT)
    (fake / dataset_dir(dsid) / "ria-layout-version").write_text(DATASET_LAYOUT)
    local = f"remote.{name or REMOTE}.ora-url=ria+{fake.as_uri()}"
    try:
        annex.run(["git", "-c", local, "annex", *args], work)
    except annex.AnnexError as exc:
        raise StoreError(f"git-annex could not register the store (is DataLad installed? its "
                         f"git-annex-remote-ora must be on PATH): {exc}") from None


def _remote_log(repo: Path) -> dict[str, dict[str, str]]:
    """uuid → configuration of each special remote in the git-annex branch (``remote.log``)."""
    return annexfiles.special_remotes(repo)


# ----------------------------------------------------------------------------------------------- reading


