"""The DataLad / git-annex adapter (an I/O edge).

Everything the catalogue needs to know about a dataset's files comes from git and git-annex metadata, never
from the content itself: the file list of a commit (``git ls-tree``), each annexed file's key (``git annex find
--branch``), its size and checksum (parsed from the key: ``MD5E-s1024--<md5>.mrc``) and the URLs git-annex
knows for it (``git annex whereis --json``). Nothing here downloads content. Files kept in git itself are
hashed from their blobs, which every clone has.

git and git-annex run as subprocesses; DataLad is used through its Python API for create, save and clone.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..records.filerecord import CHECKSUM_PREFERENCE, ManifestFile

GITMODULES = ".gitmodules"
WEB_UUID = "00000000-0000-0000-0000-000000000001"
GITLINK_MODE = "160000"

#: git-annex backend (without the "E" extension suffix) → checksum algorithm name used in manifests.
BACKEND_ALGORITHMS: Mapping[str, str] = {
    "MD5": "md5", "SHA1": "sha1", "SHA224": "sha224", "SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512",
    "SHA3_224": "sha3-224", "SHA3_256": "sha3-256", "SHA3_384": "sha3-384", "SHA3_512": "sha3-512",
    "BLAKE2B160": "blake2b-160", "BLAKE2B224": "blake2b-224", "BLAKE2B256": "blake2b-256",
    "BLAKE2B384": "blake2b-384", "BLAKE2B512": "blake2b-512", "BLAKE2S160": "blake2s-160",
    "BLAKE2S224": "blake2s-224", "BLAKE2S256": "blake2s-256", "BLAKE3": "blake3",
}
#: Hex digest length of each algorithm.
DIGEST_LENGTH: Mapping[str, int] = {
    "md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128, "sha3-224": 56,
    "sha3-256": 64, "sha3-384": 96, "sha3-512": 128, "blake2b-160": 40, "blake2b-224": 56, "blake2b-256": 64,
    "blake2b-384": 96, "blake2b-512": 128, "blake2s-160": 40, "blake2s-224": 56, "blake2s-256": 64, "blake3": 64,
}
#: What files kept in git (not in the annex) are hashed with.
GIT_FILE_ALGORITHMS = ("sha256", "md5")

_KEY = re.compile(r"(?P<backend>[A-Z0-9_]+)(?P<fields>(?:-[a-zA-Z][0-9]{1,20})*)--(?P<name>.+)", re.S)
_HEX = re.compile(r"[0-9a-f]+")
_ANNEX_LINK = re.compile(r"(?:^|/)\.git/annex/objects/(?:[^/]+/){2,3}(?P<key>[^/]+)$")
_ANNEX_POINTER = b"/annex/objects/"


class AnnexError(RuntimeError):
    """A git, git-annex or DataLad operation failed; the message says which and why."""


# --------------------------------------------------------------------------------------------- processes

def tool_env() -> dict[str, str]:
    """The environment for git and git-annex: git-annex from the PyPI wheel sits next to this interpreter."""
    env = dict(os.environ)
    here = str(Path(sys.executable).parent)
    if here not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = here + os.pathsep + env.get("PATH", "")
    return env


def use_own_tools() -> None:
    """Put this environment's git-annex and DataLad helpers (``git-annex-remote-ora``, next to this interpreter)
    on PATH for what runs inside this process too: DataLad's API starts them from ``os.environ``."""
    os.environ["PATH"] = tool_env()["PATH"]


def run(args: Sequence[str], cwd: Path | str, *, input: bytes | None = None, check: bool = True,
        timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a command in ``cwd``; raise AnnexError with its stderr when ``check`` and it fails."""
    try:
        proc = subprocess.run(list(args), cwd=str(cwd), input=input, capture_output=True, env=tool_env(),
                              timeout=timeout, check=False, stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise AnnexError(f"`{args[0]}` is not installed or not on PATH") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip() or proc.stdout.decode("utf-8", "replace").strip()
        raise AnnexError(f"`{' '.join(args[:3])}` failed in {cwd}: {err}")
    return proc


def run_lines(args: Sequence[str], cwd: Path | str, *, check: bool = True) -> Iterator[bytes]:
    """The lines a command prints, as it prints them (memory stays flat however long its output);
    AnnexError with its stderr at the end when ``check`` and it failed."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(list(args), cwd=str(cwd), stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL, env=tool_env())
        except FileNotFoundError as exc:
            raise AnnexError(f"`{args[0]}` is not installed or not on PATH") from exc
        assert proc.stdout is not None
        with proc:
            yield from proc.stdout
        if check and proc.returncode != 0:
            err.seek(0)
            raise AnnexError(f"`{' '.join(args[:3])}` failed in {cwd}: {err.read().decode('utf-8', 'replace').strip()}")


def git(cwd: Path | str, *args: str, check: bool = True, input: bytes | None = None) -> str:
    out = run(["git", "-c", "core.quotepath=off", *args], cwd, check=check, input=input).stdout
    return out.decode("utf-8", "surrogateescape")


def _json_lines(data: Iterable[bytes]) -> Iterator[dict]:
    for line in data:
        line = line.strip()
        if line.startswith(b"{"):
            yield json.loads(line)


# --------------------------------------------------------------------------------------------- repositories

def is_repo(path: Path) -> bool:
    """Whether ``path`` is the top of a git work tree (a DataLad dataset is one)."""
    if not (path / ".git").exists():
        return False
    try:
        proc = run(["git", "rev-parse", "--show-toplevel"], path, check=False)
    except AnnexError:  # git itself is missing
        return False
    return proc.returncode == 0 and Path(proc.stdout.decode().strip()).resolve() == path.resolve()


def has_annex(path: Path) -> bool:
    """Whether the repository at ``path`` is a git-annex repository (initialised here)."""
    return bool(git(path, "config", "--get", "annex.uuid", check=False).strip())


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a DataLad dataset (a git repository with a DataLad id or a git-annex)."""
    return is_repo(path) and ((path / ".datalad" / "config").is_file() or has_annex(path))


def head(path: Path) -> str:
    return resolve(path, "HEAD")


def resolve(path: Path, rev: str) -> str:
    """The full commit hash of ``rev`` in the repository at ``path``."""
    out = git(path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).strip()
    if not re.fullmatch(r"[0-9a-f]{40}", out):
        raise AnnexError(f"{path} has no commit {rev!r}")
    return out


def datalad_id(path: Path, commit: str | None = None) -> str | None:
    """The DataLad dataset id (``datalad.dataset.id``), from the work tree or from a commit."""
    if commit is None:
        config = path / ".datalad" / "config"
        if not config.is_file():
            return None
        out = git(path, "config", "--file", str(config), "--get", "datalad.dataset.id", check=False)
    else:
        out = git(path, "config", "--blob", f"{commit}:.datalad/config", "--get", "datalad.dataset.id", check=False)
    return out.strip() or None


def changes(path: Path) -> list[str]:
    """Uncommitted changes and untracked files (``git status --porcelain`` lines); empty when clean."""
    out = git(path, "status", "--porcelain", "--untracked-files=normal", "--ignore-submodules=none")
    return [line for line in out.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------- keys

@dataclass(frozen=True)
class KeyInfo:
    """What a git-annex key says about its content: backend, size and checksum (when the backend hashes)."""

    backend: str
    size: int | None
    checksums: tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=64)  # a few backends in practice; hostile keys make many
def backend_algorithm(backend: str) -> tuple[str | None, bool]:
    """The checksum algorithm a key backend names (None for WORM, URL, …) and whether its keys end with the
    file's extension (``MD5E``: the digest is the name up to the first dot)."""
    base = backend if backend in BACKEND_ALGORITHMS else backend[:-1] if backend.endswith("E") else ""
    algo = BACKEND_ALGORITHMS.get(base)
    return algo, algo is not None and base != backend


def parse_key(key: str) -> KeyInfo | None:
    """Split a git-annex key such as ``MD5E-s1024--d41d8cd98f00b204e9800998ecf8427e.mrc``; None if malformed."""
    m = _KEY.fullmatch(key)
    if not m:
        return None
    backend, fields, name = m.groups()
    size = None
    if fields:
        for part in fields.split("-")[1:]:
            if part[0] == "s":
                size = int(part[1:])
    algo, extension = backend_algorithm(backend)
    checksums: tuple[tuple[str, str], ...] = ()
    if algo:
        digest = name.split(".", 1)[0] if extension else name
        if len(digest) == DIGEST_LENGTH[algo] and _HEX.fullmatch(digest):
            checksums = ((algo, digest),)
    return KeyInfo(backend, size, checksums)


_RANK = {a: i for i, a in enumerate(CHECKSUM_PREFERENCE)}


def order_checksums(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    merged = dict(pairs)
    if len(merged) < 2:
        return tuple(merged.items())
    return tuple(sorted(merged.items(), key=lambda kv: (_RANK.get(kv[0], len(_RANK)), kv[0])))


# --------------------------------------------------------------------------------------------- file lists

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
    return {rec["file"]: rec["key"] for rec in _json_lines(out) if rec.get("key") and rec.get("file")}


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
        for rec in _json_lines(run_lines(["git", "annex", "whereis", f"--branch={commit}", "--include=*", "--json"],
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


# --------------------------------------------------------------------------------------------- DataLad

def _datalad(command: str, **kwargs):
    use_own_tools()
    import datalad.api as dl
    from datalad.support.exceptions import IncompleteResultsError

    try:
        return getattr(dl, command)(result_renderer="disabled", on_failure="stop", **kwargs)
    except IncompleteResultsError as exc:
        details = "; ".join(str(r.get("message", r.get("status"))) for r in exc.failed or []) or str(exc)
        raise AnnexError(f"datalad {command} failed: {details}") from exc
    except Exception as exc:  # DataLad raises many kinds (CommandError, InstallFailedError, …)
        raise AnnexError(f"datalad {command} failed: {exc}") from exc


def create(path: Path, description: str | None = None) -> str:
    """A new DataLad dataset at ``path`` (every file it saves goes to git-annex); returns its id."""
    _datalad("create", path=str(path), description=description)
    ident = datalad_id(path)
    if not ident:
        raise AnnexError(f"datalad create did not give {path} a dataset id")
    return ident


def save(path: Path, message: str) -> str:
    """``datalad save`` everything in the dataset at ``path``; returns the new HEAD."""
    _datalad("save", dataset=str(path), message=message)
    return head(path)


def clone(source: str, path: Path, description: str | None = None) -> str:
    """``datalad clone`` ``source`` (URL or local dataset) to ``path``; returns the clone's HEAD."""
    _datalad("clone", source=source, path=str(path), description=description)
    return head(path)


# --------------------------------------------------------------------------------------------- subdatasets

@dataclass(frozen=True)
class Submodule:
    """One entry of ``.gitmodules``."""

    name: str
    path: str
    url: str | None
    datalad_id: str | None = None
    datalad_url: str | None = None  # what `datalad clone` took (e.g. a ria+https:// URL), when not ``url``


def read_gitmodules(root: Path) -> dict[str, Submodule]:
    """The entries of ``root/.gitmodules``, by path (empty when the file is absent)."""
    file = root / GITMODULES
    if not file.is_file():
        return {}
    proc = run(["git", "config", "--file", str(file), "--list", "--null"], root, check=False)
    if proc.returncode != 0:
        raise AnnexError(f"{GITMODULES} cannot be read: {proc.stderr.decode('utf-8', 'replace').strip()}")
    values: dict[str, dict[str, str]] = {}
    for item in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        name, _, value = item.partition("\n")
        if not name.startswith("submodule.") or name.count(".") < 2:
            continue
        sub, key = name[len("submodule."):].rsplit(".", 1)
        values.setdefault(sub, {})[key] = value
    found = {}
    for sub, conf in values.items():
        if "path" in conf:
            found[conf["path"].strip("/")] = Submodule(sub, conf["path"].strip("/"), conf.get("url"),
                                                       conf.get("datalad-id"), conf.get("datalad-url"))
    return found


def gitlink(root: Path, path: str) -> str | None:
    """The commit the catalogue's index records for the subdataset at ``path``, or None if none is recorded."""
    out = git(root, "ls-files", "--stage", "-z", "--", path, check=False)
    for record in out.split("\0"):
        meta, _, where = record.partition("\t")
        parts = meta.split()
        if where == path and parts and parts[0] == GITLINK_MODE:
            return parts[1]
    return None


#: git options that keep git-annex's filter out of one git command (git-annex's own way to run git so).
NO_FILTER = ("-c", "filter.annex.process=", "-c", "filter.annex.clean=", "-c", "filter.annex.smudge=")


def add(root: Path, paths: Sequence[str]) -> None:
    """``git add`` ``paths``; those git-annex leaves in git anyway (``annex.largefiles=nothing``: the catalogue's
    YAML and JSON) without passing them through git-annex's filter, which holds a file whole (the manifest of
    100,000 files took it ~100 MiB). Git stores the same blob either way."""
    found = git(root, "check-attr", "-z", "annex.largefiles", "--", *paths).split("\0")
    plain = {p for p, _attr, value in zip(found[0::3], found[1::3], found[2::3], strict=False) if value == "nothing"}
    if plain:
        git(root, *NO_FILTER, "add", "--", *sorted(plain))
    rest = [p for p in paths if p not in plain]
    if rest:
        git(root, "add", "--", *rest)


def register_subdataset(root: Path, path: str, url: str, ident: str | None, commit: str) -> None:
    """Record the dataset at ``root/path`` as a subdataset: a ``.gitmodules`` entry and a staged gitlink."""
    file = str(root / GITMODULES)
    name = f"submodule.{path}"
    git(root, "config", "--file", file, f"{name}.path", path)
    git(root, "config", "--file", file, f"{name}.url", url)
    if ident:
        git(root, "config", "--file", file, f"{name}.datalad-id", ident)
    git(root, "update-index", "--add", "--cacheinfo", f"{GITLINK_MODE},{commit},{path}")
    git(root, "add", "--", GITMODULES)


def remove_tree(path: Path) -> None:
    """Delete a folder even when git-annex made its objects read-only."""
    def retry(func, target, *_exc) -> None:
        for p in (Path(target).parent, Path(target)):
            with contextlib.suppress(OSError):
                os.chmod(p, 0o700 if p.is_dir() else 0o600)
        func(target)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=retry)
        else:
            shutil.rmtree(path, onerror=retry)
