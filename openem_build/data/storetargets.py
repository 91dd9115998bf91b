"""Where a publish writes: a folder store (staged, then moved in) or an S3 bucket (multipart uploads), each checking
what it already holds."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from . import annexkeys
from .storeplace import PRIVATE, STORE_LAYOUT, Advance, StoreError, clone_url, git_url

_CHUNK = 1 << 20


_ZEROS = bytes(_CHUNK)


_PART = 64 << 20  # bytes per part of an S3 multipart upload (memory per upload)


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
        info = annexkeys.parse_key(key)
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
