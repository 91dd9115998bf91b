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
import fcntl
import functools
import hashlib
import http.server
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from . import annex, ingest

STORE_LAYOUT = "1\n"
DATASET_LAYOUT = "2\n"
REMOTE = "openem-store"  # the ORA special remote's name in published datasets
PRIVATE = ".openem"  # in a folder store: locks and staged uploads (never to be served)
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)
_PART = 64 << 20  # bytes per part of an S3 multipart upload (memory per upload)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Log = Callable[[str], None]
Advance = Callable[[int, int], None]  # (files done, bytes done) since the last call


class StoreError(RuntimeError):
    """Publishing to (or reading from) the store failed; the message says why and what to do."""


def _quiet(_message: str) -> None:
    pass


# ----------------------------------------------------------------------------------------------- addresses

def dataset_dir(dsid: str) -> str:
    """A dataset's folder in a RIA store, from its DataLad id."""
    if not _UUID.fullmatch(dsid):
        raise StoreError(f"{dsid!r} is not a DataLad dataset id")
    return f"{dsid[:3]}/{dsid[3:]}"


def clone_url(public_url: str, dsid: str) -> str:
    """What ``datalad clone`` takes for a dataset in the store at ``public_url``."""
    return f"ria+{public_url.rstrip('/')}#{dsid}"


def git_url(public_url: str, dsid: str) -> str:
    """The plain git URL of the dataset's repository (what ``.gitmodules`` records as ``url``)."""
    return f"{public_url.rstrip('/')}/{dataset_dir(dsid)}"


def parse_clone_url(url: str) -> tuple[str, str] | None:
    """(store's http(s) base URL, dataset id) of a ``ria+http(s)://…#<id>`` URL, else None."""
    m = re.fullmatch(r"ria\+(https?://[^#]+?)/?#([0-9a-f-]{36})", url)
    if not m or not _UUID.fullmatch(m[2]):
        return None
    return m[1], m[2]


def object_url(public_url: str, dsid: str, location: str) -> str:
    """The plain download URL of one key's content; ``location`` is ``<hashdirmixed><key>/<key>``."""
    return annex.ria_object_url(public_url, dsid, location)


key_locations = annex.key_locations


@dataclass(frozen=True)
class Store:
    """Where ``publish`` writes (a folder, or ``s3://bucket/prefix``) and the base URL readers use.

    ``served_by_site``: the folder is private and the site build copies its public datasets next to the site
    (a small store on the catalogue's own static host); otherwise ``location`` itself is what the public reads.
    """

    location: str
    public_url: str
    endpoint: str | None = None  # S3 endpoint URL (S3-compatible storage other than AWS)
    served_by_site: bool = False

    def __post_init__(self) -> None:
        scheme = urlsplit(self.public_url).scheme
        if scheme not in ("http", "https") or any(c in self.public_url for c in " #?'\"<>`\\"):
            raise StoreError(f"the store's public URL must be a plain http(s) URL, not {self.public_url!r}")
        if self.is_s3:
            if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?", self.location):
                raise StoreError(f"{self.location!r} is not an S3 location (s3://bucket/prefix)")
        elif not Path(self.location).is_absolute():
            raise StoreError(f"the store folder must be an absolute path, not {self.location!r}")

    @property
    def is_s3(self) -> bool:
        return self.location.startswith("s3://")

    def clone_url(self, dsid: str) -> str:
        return clone_url(self.public_url, dsid)

    def git_url(self, dsid: str) -> str:
        return git_url(self.public_url, dsid)

    def target(self) -> _Target:
        if self.is_s3:
            bucket, _, prefix = self.location[len("s3://"):].partition("/")
            return _S3Target(bucket, prefix.strip("/"), self.endpoint)
        return _FolderTarget(Path(self.location))


# ----------------------------------------------------------------------------------------------- targets

class _Area(Protocol):
    """One dataset's folder in the store, written invisibly first and made visible at the end."""

    def sizes(self, under: str) -> dict[str, int]: ...

    def read(self, rel: str) -> bytes | None: ...

    def put(self, rel: str, data: bytes) -> None: ...

    def upload(self, rel: str, source: Path, check: Callable[[BinaryIO], BinaryIO]) -> int: ...

    def git_files(self) -> dict[str, bytes]: ...

    def reveal(self, pointers: list[tuple[str, bytes]]) -> None: ...

    def discard_other(self, keep: set[str]) -> None: ...


class _Target(Protocol):
    def ensure_layout(self) -> None: ...

    def area(self, ddir: str) -> contextlib.AbstractContextManager[_Area]: ...

    def copy_out(self, ddir: str, dest: Path) -> bool: ...


class _Verify:
    """A reader that hashes what passes through it and, at the end, checks size and checksum against a key."""

    def __init__(self, raw: BinaryIO, key: str, what: str, advance: Advance | None = None):
        info = annex.parse_key(key)
        self.raw, self.what, self.advance = raw, what, advance
        self.size = info.size if info else None
        algo = info.checksums[0] if info and info.checksums else None
        self.expected = algo[1] if algo else None
        self.hash = hashlib.new(_hashlib_name(algo[0])) if algo else None
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        if self.hash is not None:
            self.hash.update(data)
        if self.advance is not None:
            self.advance(0, len(data))
        return data

    def check(self) -> None:
        if self.size is not None and self.count != self.size:
            raise StoreError(f"{self.what}: {self.count} bytes where the key says {self.size}: the local copy is "
                             "damaged or changed (check it with `git annex fsck`)")
        if self.hash is not None and self.hash.hexdigest() != self.expected:
            raise StoreError(f"{self.what}: the content does not match its checksum: the local copy is damaged or "
                             "changed (check it with `git annex fsck`)")


def _hashlib_name(algo: str) -> str:
    return {"sha3-224": "sha3_224", "sha3-256": "sha3_256", "sha3-384": "sha3_384", "sha3-512": "sha3_512",
            "blake2b-512": "blake2b", "blake2s-256": "blake2s"}.get(algo, algo)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _FolderTarget:
    def __init__(self, root: Path):
        self.root = root

    def ensure_layout(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            marker = self.root / "ria-layout-version"
            if not marker.exists():
                _atomic_write(marker, STORE_LAYOUT.encode())
            ignore = self.root / ".gitignore"
            if not ignore.exists() and any((p / ".git").exists() for p in self.root.absolute().parents):
                # A store inside a git work tree (the catalogue's own, say) must never be added to it.
                _atomic_write(ignore, b"# The OpenEM store: data, never part of the repository around it.\n*\n")
        except OSError as exc:
            raise StoreError(f"cannot write the store folder {self.root}: {exc.strerror}") from exc
        if marker.read_text().strip() != STORE_LAYOUT.strip():
            raise StoreError(f"{self.root} is a RIA store of another layout version ({marker.read_text().strip()})")

    @contextlib.contextmanager
    def area(self, ddir: str) -> Iterator[_FolderArea]:
        locks = self.root / PRIVATE / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / (ddir.replace("/", "") + ".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StoreError(f"another publish of this dataset is running in {self.root}; wait for it to "
                                 "end") from None
            yield _FolderArea(self.root, ddir)

    def copy_out(self, ddir: str, dest: Path) -> bool:
        src = self.root / ddir
        if not (src / "HEAD").is_file():
            return False
        _link_tree(src, dest / ddir)
        return True


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _link_tree(src: Path, dest: Path) -> None:
    """A copy of the folder ``src`` at ``dest``: hard links where the file system allows, else copies."""
    for folder, _dirs, names in os.walk(src):
        here = Path(folder)
        out = dest / here.relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            source, target = here / name, out / name
            if target.exists():
                st, tt = source.stat(), target.stat()
                if (st.st_ino, st.st_dev) == (tt.st_ino, tt.st_dev) or (st.st_size, st.st_mtime_ns) == (
                        tt.st_size, tt.st_mtime_ns):
                    continue  # (the copy of an earlier build under `mkdocs serve`)
                target.unlink()
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


class _FolderArea:
    """Writes go to ``.openem/staging/<id>/`` and move into the dataset's folder in :meth:`reveal`."""

    def __init__(self, root: Path, ddir: str):
        self.root, self.live = root, root / ddir
        self.staging = root / PRIVATE / "staging" / ddir.replace("/", "")

    def sizes(self, under: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for base in (self.live, self.staging):
            top = base / under
            for folder, _dirs, names in os.walk(top):
                for name in names:
                    if name.startswith(".") and name.endswith(".part"):
                        continue
                    path = Path(folder) / name
                    with contextlib.suppress(OSError):
                        out[path.relative_to(base).as_posix()] = path.stat().st_size
        return out

    def read(self, rel: str) -> bytes | None:
        try:
            return (self.live / rel).read_bytes()
        except OSError:
            return None

    def put(self, rel: str, data: bytes) -> None:
        _atomic_write(self.staging / rel, data)

    def upload(self, rel: str, source: Path, check: Callable[[BinaryIO], BinaryIO]) -> int:
        target = self.staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        with open(source, "rb") as raw, open(part, "wb") as out:
            reader = check(raw)
            while chunk := reader.read(_CHUNK):
                if chunk == _ZEROS[:len(chunk)]:
                    out.seek(len(chunk), os.SEEK_CUR)  # a hole stays a hole (sparse files: no disk for zeros)
                else:
                    out.write(chunk)
            out.truncate()
            reader.check()  # type: ignore[attr-defined]
            out.flush()
            if out.tell() >= _CHUNK:  # (small files are synced all at once before anything is revealed)
                os.fsync(out.fileno())
        os.chmod(part, 0o444)
        os.replace(part, target)
        return target.stat().st_size

    def git_files(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        if not (self.live / "HEAD").is_file():
            return out
        for folder, dirs, names in os.walk(self.live):
            here = Path(folder)
            rel_here = here.relative_to(self.live).as_posix()
            if rel_here in ("annex", "archives") or rel_here.startswith(("annex/", "archives/")):
                dirs[:] = []
                continue
            for name in names:
                rel = (here / name).relative_to(self.live).as_posix()
                out[rel] = (here / name).read_bytes()
        return out

    def discard_other(self, keep: set[str]) -> None:
        """Delete what is staged but not in ``keep`` (whole content files by their path in the dataset's folder):
        what an interrupted run left that this one does not need, its unfinished files among it."""
        for folder, _dirs, names in os.walk(self.staging, topdown=False):
            here = Path(folder)
            for name in names:
                if (here / name).relative_to(self.staging).as_posix() not in keep:
                    with contextlib.suppress(OSError):
                        os.unlink(here / name)
            if here != self.staging:
                with contextlib.suppress(OSError):
                    here.rmdir()  # when empty

    def reveal(self, pointers: list[tuple[str, bytes]]) -> None:
        """Make the staged files visible: content and git objects first, then ``pointers`` in their order."""
        os.sync()  # everything staged is on disk before anything points at it (one sync, not one per file)
        for rel, data in pointers:
            _atomic_write(self.staging / rel, data)
        if not self.live.exists():
            # A new dataset: everything arrives in one rename.
            self.live.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.staging, self.live)
            _fsync_dir(self.live.parent)
            return
        last = {rel for rel, _ in pointers}
        staged = sorted(p.relative_to(self.staging).as_posix() for p in self.staging.rglob("*")
                        if p.is_file() and not p.name.endswith(".part"))
        for rel in [r for r in staged if r not in last] + [rel for rel, _ in pointers]:
            dest = self.live / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / rel, dest)
        _fsync_dir(self.live)
        shutil.rmtree(self.staging, ignore_errors=True)


class _S3Target:
    """An S3 bucket (any S3-compatible service): objects are written straight to their final keys, pointers
    last; S3 makes each object visible whole or not at all."""

    def __init__(self, bucket: str, prefix: str, endpoint: str | None):
        self.bucket, self.prefix, self.endpoint = bucket, prefix, endpoint

    @functools.cached_property
    def client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise StoreError("publishing to S3 needs boto3 (pip install boto3)") from exc
        # A session of its own: credentials are read from the environment as it is now, not as boto3's default
        # session found them at the first use in this process.
        return boto3.session.Session().client("s3", endpoint_url=self.endpoint, config=Config(
            retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}))

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except NoCredentialsError:
            raise StoreError("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile "
                             "with AWS_PROFILE) in the environment") from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(kwargs.get("Key", "")) from None
            raise StoreError(f"S3 {method} on bucket {self.bucket!r} failed: {code or exc}") from None
        except BotoCoreError as exc:
            raise StoreError(f"S3 {method} on bucket {self.bucket!r} failed: {exc}") from None

    def ensure_layout(self) -> None:
        try:
            self.call("head_object", Key=self.key("ria-layout-version"))
        except FileNotFoundError:
            self.call("put_object", Key=self.key("ria-layout-version"), Body=STORE_LAYOUT.encode())

    @contextlib.contextmanager
    def area(self, ddir: str) -> Iterator[_S3Area]:
        yield _S3Area(self, ddir)

    def copy_out(self, ddir: str, dest: Path) -> bool:
        return False


class _S3Area:
    def __init__(self, target: _S3Target, ddir: str):
        self.t, self.ddir = target, ddir

    def _key(self, rel: str) -> str:
        return self.t.key(f"{self.ddir}/{rel}")

    def sizes(self, under: str) -> dict[str, int]:
        out: dict[str, int] = {}
        base = self._key("")
        token = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": self._key(under)}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.t.call("list_objects_v2", **kwargs)
            for item in page.get("Contents", []):
                out[item["Key"][len(base):]] = int(item["Size"])
            if not page.get("IsTruncated"):
                return out
            token = page.get("NextContinuationToken")

    def read(self, rel: str) -> bytes | None:
        try:
            return self.t.call("get_object", Key=self._key(rel))["Body"].read()
        except FileNotFoundError:
            return None

    def put(self, rel: str, data: bytes) -> None:
        self.t.call("put_object", Key=self._key(rel), Body=data)

    def upload(self, rel: str, source: Path, check: Callable[[BinaryIO], BinaryIO]) -> int:
        """Send one key's content to its final key, reading it once. Damaged bytes must never get there, even for
        a moment (an object at its final key, of the right size, counts as stored in any later run): a small file
        is checked in memory before it is sent; a large one goes as a multipart upload, which S3 shows only when
        it is completed, and it is completed only once the whole content checked out."""
        key = self._key(rel)
        part = max(_PART, -(-source.stat().st_size // 9000))  # (S3 takes at most 10,000 parts)
        with open(source, "rb") as raw:
            reader = check(raw)
            chunk = reader.read(part)
            if len(chunk) < part:
                reader.check()  # type: ignore[attr-defined]
                self.t.call("put_object", Key=key, Body=chunk)
                return reader.count  # type: ignore[attr-defined]
            upload = self.t.call("create_multipart_upload", Key=key)["UploadId"]
            try:
                parts, number = [], 1
                while chunk:
                    done = self.t.call("upload_part", Key=key, UploadId=upload, PartNumber=number, Body=chunk)
                    parts.append({"ETag": done["ETag"], "PartNumber": number})
                    number += 1
                    chunk = reader.read(part)
                reader.check()  # type: ignore[attr-defined]
                self.t.call("complete_multipart_upload", Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
            except BaseException:
                with contextlib.suppress(Exception):
                    self.t.call("abort_multipart_upload", Key=key, UploadId=upload)
                raise
            return reader.count  # type: ignore[attr-defined]

    def git_files(self) -> dict[str, bytes]:
        if self.read("HEAD") is None:
            return {}
        out: dict[str, bytes] = {}
        for rel in self.sizes(""):
            if rel.startswith(("annex/", "archives/")):
                continue
            data = self.read(rel)
            if data is not None:
                out[rel] = data
        return out

    def reveal(self, pointers: list[tuple[str, bytes]]) -> None:
        for rel, data in pointers:
            self.put(rel, data)

    def discard_other(self, keep: set[str]) -> None:
        pass  # nothing is staged: content goes to its final key, whole and checked, or not at all


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
    keys = annex.annexed_keys(dataset, commit)  # path → key
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
            info = annex.parse_key(key)
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
    return annex.special_remotes(repo)


# ----------------------------------------------------------------------------------------------- reading

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
        if not annex.annexed_keys(clone, commit):
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
