"""The files of a dataset's commit and the URLs git-annex knows for them, from git and git-annex metadata only.

The file list of a commit (``git ls-tree``), each annexed file's key (``git annex find --branch``), its size and
checksum (parsed from the key, :mod:`openem_build.data.annexkeys`) and the URLs git-annex knows for it (``git annex
whereis --json``, and the download URL in each RIA store over http(s) that holds it). Nothing here downloads
content. Files kept in git itself are hashed from their blobs, which every clone has.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..records.filerecord import ManifestFile
from .annex import AnnexError, git, has_annex, json_lines, resolve, run, run_lines
from .annexkeys import GIT_FILE_ALGORITHMS, order_checksums, parse_key

WEB_UUID = "00000000-0000-0000-0000-000000000001"

_ANNEX_LINK = re.compile(r"(?:^|/)\.git/annex/objects/(?:[^/]+/){2,3}(?P<key>[^/]+)$")
_ANNEX_POINTER = b"/annex/objects/"


def is_internal(path: str) -> bool:
    """DataLad's and git's own files (``.datalad/``, ``.gitattributes``, …), not part of the data."""
    parts = PurePosixPath(path).parts
    return any(p == ".datalad" or p.startswith(".git") for p in parts)


@dataclass(frozen=True, slots=True)
class _TreeEntry:
    mode: str
    kind: str
    oid: str
    size: int | None
    path: str


def _tree(repo: Path, commit: str) -> list[_TreeEntry]:
    out = run(["git", "ls-tree", "-r", "-z", "-l", "--full-tree", commit], repo).stdout
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, oid, size = meta.decode().split()
        entries.append(_TreeEntry(mode, kind, oid, int(size) if size.isdigit() else None,
                                  path.decode("utf-8", "surrogateescape")))
    return entries


def _blobs(repo: Path, oids: Sequence[str]) -> dict[str, bytes]:
    """Contents of git blobs, in one ``git cat-file --batch``."""
    if not oids:
        return {}
    out = run(["git", "cat-file", "--batch"], repo, input="".join(f"{o}\n" for o in oids).encode()).stdout
    found: dict[str, bytes] = {}
    pos = 0
    for oid in oids:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        size = int(header[2])
        found[oid] = out[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
    return found


def annexed_keys(repo: Path, commit: str) -> dict[str, str]:
    """path → git-annex key for every annexed file of ``commit`` (content present or not)."""
    if not has_annex(repo):
        return {}
    out = run_lines(["git", "annex", "find", f"--branch={commit}", "--include=*", "--json"], repo)
    return {rec["file"]: rec["key"] for rec in json_lines(out) if rec.get("key") and rec.get("file")}


def ria_object_url(store_url: str, dsid: str, location: str) -> str:
    """The plain download URL of a key's content in a RIA store served over http(s): ``location`` is the key's
    ``<hashdirmixed><key>/<key>`` under ``annex/objects/`` of the dataset's folder ``<id[:3]>/<id[3:]>``."""
    return f"{store_url.rstrip('/')}/{dsid[:3]}/{dsid[3:]}/annex/objects/{location}"


def key_locations(repo: Path, keys: Iterable[str]) -> dict[str, str]:
    """key → ``<hashdirmixed><key>/<key>``, its place under a RIA store's ``annex/objects/`` (git-annex's own
    answer, ``git annex examinekey``)."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    out = run(["git", "annex", "examinekey", "--batch", "--format=${hashdirmixed}${key}/${key}\\n"], repo,
              input="".join(f"{k}\n" for k in ordered).encode()).stdout.decode("utf-8", "surrogateescape")
    found = out.splitlines()
    if len(found) != len(ordered) or any(not line.endswith(f"{k}/{k}") for k, line in zip(ordered, found,
                                                                                           strict=False)):
        raise AnnexError("git annex examinekey did not give a location for every key")
    return dict(zip(ordered, found, strict=True))


def special_remotes(repo: Path) -> dict[str, dict[str, str]]:
    """uuid → configuration of each special remote the git-annex branch knows (``remote.log``)."""
    text = git(repo, "cat-file", "-p", "refs/heads/git-annex:remote.log", check=False)
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        uuid, _, rest = line.partition(" ")
        if uuid:
            out[uuid] = dict(part.split("=", 1) for part in rest.split() if "=" in part)
    return out


def ria_stores(repo: Path) -> dict[str, tuple[str, str]]:
    """uuid → (http(s) base URL, dataset id) of each RIA store (ORA special remote) the git-annex branch knows
    with a web URL: their content has plain download URLs."""
    out = {}
    for uuid, conf in special_remotes(repo).items():
        m = re.fullmatch(r"ria\+(https?://[^\s#?]+?)/?", conf.get("url", ""))
        dsid = conf.get("archive-id", "")
        if conf.get("externaltype") == "ora" and m and re.fullmatch(r"[0-9a-f-]{36}", dsid):
            out[uuid] = (m[1], dsid)
    return out


def _records_urls(repo: Path) -> bool:
    """Whether the git-annex branch, or its journal of changes not yet committed, records any URL (its
    ``*.log.web`` files)."""
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    with contextlib.suppress(OSError):
        if any(e.name.endswith(".log.web") for e in os.scandir(gitdir / "annex" / "journal")):
            return True
    names = run_lines(["git", "ls-tree", "-r", "-z", "--name-only", "refs/heads/git-annex"], repo, check=False)
    return any(name.endswith(b".log.web") for name in _split(names, b"\0"))


def _split(chunks: Iterable[bytes], sep: bytes) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        *parts, rest = (rest + chunk).split(sep)
        yield from parts
    if rest:
        yield rest


def known_urls(repo: Path, commit: str) -> dict[str, tuple[str, ...]]:
    """git-annex key → every URL git-annex has recorded for it (web and other special remotes), and the download
    URL in each RIA store over http(s) that holds it, sorted."""
    if not has_annex(repo):
        return {}
    found: dict[str, set[str]] = {}
    stores = ria_stores(repo)
    if not stores and not _records_urls(repo):
        return {}  # (nothing for `whereis` to tell, which would take minutes for 100,000 files)
    held: dict[str, list[tuple[str, str]]] = {}
    listed = False
    try:
        for rec in json_lines(run_lines(["git", "annex", "whereis", f"--branch={commit}", "--include=*", "--json"],
                                         repo)):
            key = rec.get("key")
            listed = True
            if not key:
                continue
            for where in rec.get("whereis", []) + rec.get("untrusted", []):
                urls = [u for u in where.get("urls", []) if isinstance(u, str)]
                if urls:
                    found.setdefault(key, set()).update(urls)
                if where.get("uuid") in stores:
                    held.setdefault(key, []).append(stores[where["uuid"]])
    except AnnexError:
        if not listed:  # (whereis fails, too, when a file has no known copy: then it has listed the files)
            raise
    if held:
        locations = key_locations(repo, held)
        for key, places in held.items():
            found.setdefault(key, set()).update(ria_object_url(base, dsid, locations[key]) for base, dsid in places)
    return {k: tuple(sorted(v)) for k, v in found.items()}


def list_files(repo: Path, commit: str = "HEAD") -> tuple[str, list[ManifestFile]]:
    """The data files of ``commit`` (default HEAD) of the dataset at ``repo``, sorted by path.

    Returns the resolved commit and one :class:`ManifestFile` per file: annexed files with their key, size and
    checksum from the key and their known URLs; files stored in git with size and sha256/md5 of the blob.
    DataLad's own files and nested subdatasets are left out. No content is downloaded.
    """
    commit = resolve(repo, commit)
    entries = [e for e in _tree(repo, commit) if e.kind == "blob" and not is_internal(e.path)]
    keys = annexed_keys(repo, commit)
    # Without an initialised annex (or for files git-annex did not report), recognise annex links and pointers.
    small = [e.oid for e in entries if e.path not in keys and (e.mode == "120000" or (e.size or 0) < 1024)]
    blobs = _blobs(repo, small)
    for e in entries:
        if e.path in keys or e.oid not in blobs:
            continue
        data = blobs[e.oid]
        if e.mode == "120000":
            m = _ANNEX_LINK.search(data.decode("utf-8", "replace"))
            if m:
                keys[e.path] = m["key"]
        elif data.startswith(_ANNEX_POINTER):
            keys[e.path] = data.strip().rsplit(b"/", 1)[-1].decode("utf-8", "replace")
    urls = known_urls(repo, commit) if keys else {}
    git_files = [e for e in entries if e.path not in keys and e.mode != "120000"]
    contents = _blobs(repo, [e.oid for e in git_files if e.oid not in blobs])
    contents.update(blobs)
    files = []
    for e in entries:
        if e.path in keys:
            key = keys[e.path]
            info = parse_key(key)
            files.append(ManifestFile(e.path, info.size if info else None, key,
                                      info.checksums if info else (), urls.get(key, ())))
        elif e.mode != "120000":  # a symbolic link kept in git points elsewhere; it is not a data file
            data = contents[e.oid]
            sums = order_checksums((a, hashlib.new(a, data).hexdigest()) for a in GIT_FILE_ALGORITHMS)
            files.append(ManifestFile(e.path, len(data), None, sums, ()))
    files.sort(key=lambda f: f.path)
    return commit, files


def register_urls(repo: Path, urls: Mapping[str, str | Iterable[str]]) -> None:
    """Record web URLs for annexed files (path → URL or URLs) without downloading (``git annex registerurl``)."""
    lines = []
    for path, value in sorted(urls.items()):
        key = git(repo, "annex", "lookupkey", "--", path).strip()
        for url in [value] if isinstance(value, str) else value:
            lines.append(f"{key} {url}\n")
    run(["git", "annex", "registerurl", "--batch"], repo, input="".join(lines).encode())
