"""openem_build.data.store with real parts only: DataLad datasets in temporary folders, the real ``datalad`` and
``git-annex`` commands, web servers on 127.0.0.1 and a SeaweedFS S3 server on 127.0.0.1 (tests/s3_helpers.py).

What readers do is done with the real command line (``datalad clone ria+http://…#<id>``, ``datalad get .``) in
fresh folders, and single files are fetched from their plain URLs; interrupted publishes are real child processes
killed with SIGKILL at chosen points.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import traceback
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from openem_build.data import annex, annexfiles, store, storetargets
from openem_build.data.store import PublishResult, Store, StoreError

from .annex_helpers import MRC_FILES, data_folder, git, web_server, write_mrc
from .s3_helpers import S3Server, seaweedfs  # noqa: F401  (seaweedfs: a module-scoped fixture)

BIN = Path(sys.executable).parent
BIG = 9_000_000  # bytes: its key (MD5E-s9000000--…) sorts after every other key, so it is staged last
RAW = "raw/frames.bin"  # > 256 KiB, annexed
README = "README.md"  # kept in git


# ----------------------------------------------------------------------------------------------- helpers

def tool_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def cli(*args: str | Path, cwd: Path, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=tool_env(),
                          timeout=timeout, check=False)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def reader_clone(url: str, where: Path, get: bool = True) -> Path:
    """What a reader does: ``datalad clone <url> x`` in a fresh folder, then ``datalad get .``."""
    where.mkdir(parents=True, exist_ok=True)
    cli(BIN / "datalad", "clone", url, "x", cwd=where)
    if get:
        cli(BIN / "datalad", "get", ".", cwd=where / "x")
    return where / "x"


def md5s(tree: Path) -> dict[str, str]:
    """md5 of every file of a dataset's work tree (annexed content through its link), ``.git`` left out."""
    out = {}
    for folder, dirs, names in os.walk(tree):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder) / name
            out[path.relative_to(tree).as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def visible(root: Path) -> dict[str, str]:
    """What a store shows: every file outside ``.openem/``, with its md5."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(store.PRIVATE + "/"):
            out[rel] = hashlib.md5(path.read_bytes()).hexdigest()
    return out


def snapshot(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every entry of a store (``.openem/`` too, but not its lock files) with md5, mode, mtime and inode."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(f"{store.PRIVATE}/locks/"):
            continue
        st = path.lstat()
        digest = hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[rel] = (digest, st.st_mode, st.st_mtime_ns, st.st_ino)
    return out


def staged(root: Path) -> dict[str, int]:
    """Whole files under ``.openem/staging/`` (relative to their dataset's staging folder) → inode."""
    top = root / store.PRIVATE / "staging"
    out = {}
    for path in sorted(top.rglob("*")) if top.exists() else []:
        if path.is_file() and not path.name.startswith("."):  # not unfinished files (.<key>.part, …)
            out[path.relative_to(top).as_posix().split("/", 1)[1]] = path.stat().st_ino
    return out


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def save(ds: Path, message: str) -> str:
    import datalad.api as dl

    dl.save(dataset=str(ds), message=message, result_renderer="disabled")
    return git(ds, "rev-parse", "HEAD").strip()


def make_dataset(path: Path, *, big: int = 0, seed: int = 0) -> Path:
    """A DataLad dataset: the MRC files and note of annex_helpers (annexed), a binary file > 256 KiB (annexed),
    a README kept in git and, with ``big``, a file of that many random bytes at ``raw/big.bin`` (annexed)."""
    import datalad.api as dl

    dl.create(path=str(path), result_renderer="disabled")
    data_folder(path)
    rng = random.Random(seed)
    (path / RAW).parent.mkdir(parents=True, exist_ok=True)
    (path / RAW).write_bytes(rng.randbytes(300 * 1024))
    if big:
        (path / "raw" / "big.bin").write_bytes(rng.randbytes(big))
    with open(path / ".gitattributes", "a") as attributes:
        attributes.write(f"{README} annex.largefiles=nothing\n")
    (path / README).write_text(f"Test dataset {seed}: apoferritin, written by tests/test_store.py.\n")
    save(path, "Add the data")
    assert README not in annexfiles.annexed_keys(path, "HEAD")
    return path


def dsid_of(ds: Path) -> str:
    ident = annex.datalad_id(ds)
    assert ident
    return ident


def object_file(ds: Path, rel: str) -> Path:
    """The annex object holding the content of the annexed file ``rel`` of ``ds``."""
    key = git(ds, "annex", "lookupkey", rel).strip()
    return ds / git(ds, "annex", "contentlocation", key).strip()


def damage(path: Path) -> bytes:
    """Change an annex object's bytes in place, keeping its size (and its read-only mode); returns the old bytes."""
    old = path.read_bytes()
    os.chmod(path, 0o644)
    try:
        with open(path, "r+b") as out:
            out.seek(len(old) // 2)
            out.write(bytes([old[len(old) // 2] ^ 0xFF]))
    finally:
        os.chmod(path, 0o444)
    assert path.read_bytes() != old and path.stat().st_size == len(old)
    return old


def restore(path: Path, data: bytes) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(data)
    os.chmod(path, 0o444)


def dataset_folder(root: Path, dsid: str) -> Path:
    return root / store.dataset_dir(dsid)


@pytest.fixture(scope="module", autouse=True)
def _environment() -> Iterator[None]:
    """This environment's git-annex and DataLad helpers first on PATH; no S3 credentials unless a test sets them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", tool_env()["PATH"])
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset that the tests only read."""
    return make_dataset(tmp_path_factory.mktemp("source") / "apoferritin", seed=1)


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, small dataset, already in a store when another one is published there."""
    import datalad.api as dl

    path = tmp_path_factory.mktemp("other") / "other"
    dl.create(path=str(path), result_renderer="disabled")
    write_mrc(path / "map.mrc", (8, 8, 8), 1.0, 42)
    save(path, "A map")
    return path


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The public URL of a store that the site serves, before the site has it: a server on 127.0.0.1 that answers
    404 (an address that does not answer at all would cost each check's clone seconds of DataLad's retries)."""
    with web_server(tmp_path_factory.mktemp("site")) as web:
        yield f"{web.url}/store"


def store_with_other(root: Path, other: Path, public_url: str, served_by_site: bool = True) -> Store:
    """A folder store that holds ``other`` already."""
    root.mkdir(parents=True, exist_ok=True)
    folder = Store(str(root), public_url=public_url, served_by_site=served_by_site)
    store.publish(folder, other, verify="no")
    assert (dataset_folder(root, dsid_of(other)) / "HEAD").is_file()
    return folder


# ----------------------------------------------------------------------------------------------- 1, 2: folder

@pytest.fixture(scope="module")
def folder_store(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, object, list]]:
    """``source`` published (and checked by publish itself) into a folder that a web server on 127.0.0.1 serves
    as the store's public URL."""
    root = tmp_path_factory.mktemp("store") / "store"
    root.mkdir()
    with web_server(root) as web:
        folder = Store(str(root), public_url=web.url)
        messages: list[str] = []
        result = store.publish(folder, source, log=messages.append)
        yield folder, web, [result, messages]


def test_folder_store_clone_get_and_urls(folder_store, source: Path, tmp_path: Path) -> None:
    folder, web, (result, messages) = folder_store
    root = Path(folder.location)
    dsid, head = dsid_of(source), git(source, "rev-parse", "HEAD").strip()
    keys = annexfiles.annexed_keys(source, head)
    assert isinstance(result, PublishResult)
    assert (result.dsid, result.commit, result.verified) == (dsid, head, "content")
    assert result.clone_url == f"ria+{web.url}#{dsid}" == folder.clone_url(dsid)
    assert result.files == len(keys) == len(MRC_FILES) + 2 and README not in keys
    assert (result.uploaded, result.present) == (len(set(keys.values())), 0)
    assert result.uploaded_bytes == sum(os.path.getsize(source / p) for p in keys)
    assert any("checking: datalad clone" in m for m in messages)
    # DataLad's RIA layout, and nothing else visible.
    assert (root / "ria-layout-version").read_text() == "1\n"
    ddir = dataset_folder(root, dsid)
    assert (ddir / "ria-layout-version").read_text() == "2\n"
    assert (ddir / "HEAD").read_text() == f"ref: refs/heads/{store._branch(source)}\n"
    assert {p.split("/", 1)[0] for p in visible(root)} == {"ria-layout-version", dsid[:3]}
    assert not [p for p in visible(root) if Path(p).name.startswith(".")]
    assert not staged(root)

    clone = reader_clone(f"ria+http://127.0.0.1:{web.url.rsplit(':', 1)[1]}#{dsid}", tmp_path)
    assert git(clone, "rev-parse", "HEAD").strip() == head
    assert md5s(clone) == md5s(source)
    assert (clone / README).read_text() == (source / README).read_text()
    assert not (clone / README).is_symlink()

    assert sorted(result.urls) == sorted(keys)
    for path, url in result.urls.items():
        assert url.startswith(f"{web.url}/{dsid[:3]}/{dsid[3:]}/annex/objects/")
        assert fetch(url) == (source / path).read_bytes(), path


def test_republish_sends_nothing_and_changes_nothing(folder_store, source: Path) -> None:
    folder, _web, _ = folder_store
    root = Path(folder.location)
    before = snapshot(root)
    messages: list[str] = []
    result = store.publish(folder, source, log=messages.append)
    assert (result.uploaded, result.uploaded_bytes) == (0, 0)
    assert result.present == len(set(annexfiles.annexed_keys(source, "HEAD").values()))
    assert result.verified == "content"
    assert snapshot(root) == before
    assert any("already" in m for m in messages)


def test_site_served_store_checked_locally_then_copied(source: Path, tmp_path: Path) -> None:
    """A private store folder that the site build copies next to the site: publish checks it through a server
    on 127.0.0.1 (another URL than the public one), then readers use the copy at the public URL."""
    site = tmp_path / "site"
    site.mkdir()
    with web_server(site) as web:
        private = tmp_path / "private"
        folder = Store(str(private), public_url=f"{web.url}/store", served_by_site=True)
        result = store.publish(folder, source)
        assert result.verified == "content"
        dsid = result.dsid
        assert store.copy_public(folder, [dsid, str(uuid.uuid4())], site / "store") == [dsid]
        assert not (site / "store" / store.PRIVATE).exists()
        assert visible(site / "store") == visible(private)
        clone = reader_clone(result.clone_url, tmp_path / "reader")
        assert md5s(clone) == md5s(source)
        for path, url in result.urls.items():
            assert fetch(url) == (source / path).read_bytes(), path


# ----------------------------------------------------------------------------------------------- 3: updates

def test_update_keeps_old_versions_and_refuses_rewritten_history(tmp_path: Path) -> None:
    import datalad.api as dl

    ds = make_dataset(tmp_path / "ds", seed=3)
    root = tmp_path / "store"
    root.mkdir()
    with web_server(root) as web:
        folder = Store(str(root), public_url=web.url)
        v1 = store.publish(folder, ds, verify="no")
        old = md5s(ds)
        # An update: a new file, a changed annexed file, a changed file kept in git.
        write_mrc(ds / "maps" / "map_extra.mrc", (8, 8, 8), 1.1, 99)
        (ds / RAW).unlink()
        (ds / RAW).write_bytes(random.Random(4).randbytes(280 * 1024))
        (ds / README).write_text("Second version.\n")
        v2_commit = save(ds, "Add a map, redo the frames")
        v2 = store.publish(folder, ds, verify="presence")
        assert v2.commit == v2_commit != v1.commit and v2.verified == "presence"
        assert (v2.uploaded, v2.present) == (2, v1.files - 1)
        new = md5s(ds)
        assert new != old and "maps/map_extra.mrc" in new

        clone = reader_clone(v2.clone_url, tmp_path / "reader")
        assert git(clone, "rev-parse", "HEAD").strip() == v2.commit
        assert md5s(clone) == new
        git(clone, "checkout", "-q", v1.commit)
        cli(BIN / "datalad", "get", ".", cwd=clone)
        assert md5s(clone) == old
        for path, url in v1.urls.items():  # the old version's URLs still work
            assert hashlib.md5(fetch(url)).hexdigest() == old[path]

        before = snapshot(root)
        # A rewritten history: the published commit dropped, another one in its place.
        git(ds, "reset", "-q", "--hard", "HEAD~1")
        (ds / "secret.bin").write_bytes(b"never to be published " * 20000)
        rewritten = save(ds, "Another second version")
        with pytest.raises(StoreError, match="does not build on"):
            store.publish(folder, ds, verify="no")
        assert snapshot(root) == before
        # Another dataset with the same DataLad id, and a history of its own.
        twin = tmp_path / "twin"
        dl.create(path=str(twin), result_renderer="disabled")
        shutil.copyfile(ds / ".datalad" / "config", twin / ".datalad" / "config")
        (twin / "other.bin").write_bytes(b"another history " * 30000)
        save(twin, "Same id, other history")
        assert dsid_of(twin) == v1.dsid
        with pytest.raises(StoreError, match="does not build on"):
            store.publish(folder, twin, verify="no")
        assert snapshot(root) == before
        # The refused content does not come in with the next accepted publish either.
        git(ds, "reset", "-q", "--hard", v2.commit)
        assert store.publish(folder, ds, verify="no").commit == v2.commit
        assert rewritten != v2.commit
        secret_key = annexfiles.annexed_keys(tmp_path / "ds", rewritten).get("secret.bin")
        assert secret_key and not list(root.rglob(secret_key))
        assert not [p for p in root.rglob("*") if "other.bin" in p.name or "s480000-" in p.name]


# ----------------------------------------------------------------------------------------------- 4: interrupted

CHILD = textwrap.dedent(r'''
    """Publish in a child process, and SIGKILL itself at a chosen point; record which annex objects it reads."""
    import builtins, io, json, os, signal, sys, time
    from pathlib import Path

    from openem_build.data import store

    args = json.loads(sys.argv[1])
    record = open(args["record"], "a", buffering=1)
    objects = os.path.realpath(os.path.join(args["dataset"], ".git", "annex", "objects")) + os.sep
    real_open = builtins.open

    def recording_open(file, mode="r", *rest, **kwargs):
        if isinstance(file, (str, os.PathLike)) and "r" in mode and "+" not in mode:
            path = os.path.realpath(file)
            if path.startswith(objects):
                record.write(json.dumps({"read": path}) + "\n")
        return real_open(file, mode, *rest, **kwargs)

    builtins.open = io.open = recording_open

    def die():
        record.write(json.dumps({"killed": True}) + "\n")
        os.kill(os.getpid(), signal.SIGKILL)

    kill = args.get("kill") or {}
    if kill.get("at") == "read":  # while the content of a key of at least `size` bytes is being staged
        real_read = store._Verify.read

        def read(self, n=-1):
            if (self.size or 0) >= kill["size"] and self.count >= kill["after"]:
                die()
            return real_read(self, n)

        store._Verify.read = read
    elif kill.get("at") == "check":  # content sent, not yet checked against its key
        def check(self):
            die()

        store._Verify.check = check
    elif kill.get("at") == "replace":  # after the n-th os.replace into a matching place, inside reveal
        real_reveal, real_replace = store._FolderArea.reveal, os.replace
        state = {"inside": False, "n": 0}

        def reveal(self, pointers):
            state["inside"] = True
            return real_reveal(self, pointers)

        def replace(src, dst, *rest, **kwargs):
            real_replace(src, dst, *rest, **kwargs)
            rel = os.path.relpath(dst, args["root"])
            if state["inside"] and rel.startswith(kill["under"]) and rel.endswith(kill.get("suffix", "")):
                state["n"] += 1
                if state["n"] == kill["n"]:
                    die()

        store._FolderArea.reveal = reveal
        os.replace = replace
    elif kill.get("at") == "wait":  # hold the dataset's lock: wait in the first upload until told to go on
        real_upload = store._FolderArea.upload

        def upload(self, *a, **k):
            Path(kill["ready"]).touch()
            deadline = time.monotonic() + 120
            while not Path(kill["go"]).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return real_upload(self, *a, **k)

        store._FolderArea.upload = upload

    result = store.publish(store.Store(**args["store"]), Path(args["dataset"]), verify="no")
    record.write(json.dumps({"done": result.commit, "uploaded": result.uploaded}) + "\n")
''')


class Child:
    """Runs CHILD with a store and a dataset; each run's events (reads, kill, end) are returned."""

    def __init__(self, tmp: Path, spec: dict, dataset: Path, root: Path | None = None):
        self.script = tmp / "child.py"
        self.script.write_text(CHILD)
        self.tmp, self.spec, self.dataset = tmp, spec, dataset
        self.root = root or Path(spec["location"])
        self.runs = 0

    def args(self, kill: dict | None) -> tuple[list[str], Path]:
        self.runs += 1
        record = self.tmp / f"record-{self.runs}.jsonl"
        args = {"store": self.spec, "dataset": str(self.dataset), "root": str(self.root), "kill": kill,
                "record": str(record)}
        return [sys.executable, str(self.script), json.dumps(args)], record

    def run(self, kill: dict | None, env: dict[str, str] | None = None) -> tuple[int, list[dict]]:
        argv, record = self.args(kill)
        proc = subprocess.run(argv, capture_output=True, text=True, env=env or tool_env(), timeout=300, check=False)
        events = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        if kill and proc.returncode != -signal.SIGKILL:
            raise AssertionError(f"the child was to be killed at {kill}, it ended with {proc.returncode}:\n"
                                 f"{events}\n{proc.stderr[-3000:]}")
        return proc.returncode, events

    def start(self, kill: dict) -> tuple[subprocess.Popen, Path]:
        argv, record = self.args(kill)
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=tool_env()), record


def reads(events: list[dict]) -> set[str]:
    return {e["read"] for e in events if "read" in e}


def object_paths(ds: Path, commit: str = "HEAD") -> dict[str, str]:
    """annex object path (resolved) → annexed file of ``ds`` at ``commit``."""
    return {str(object_file(ds, p).resolve()): p for p in annexfiles.annexed_keys(ds, commit)}


@pytest.fixture
def record_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths this process opens for reading from now on (builtins.open and io.open)."""
    real_open = builtins.open
    opened: list[str] = []

    def recording_open(file, mode="r", *rest, **kwargs):
        if isinstance(file, (str, os.PathLike)) and "r" in mode and "+" not in mode:
            opened.append(os.path.realpath(file))
        return real_open(file, mode, *rest, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(io, "open", recording_open)
    return opened


def check_clone_fails(url: str, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    proc = cli(BIN / "datalad", "clone", url, "x", cwd=where, check=False)
    assert proc.returncode != 0, proc.stdout
    assert not (where / "x" / ".git").exists()


def test_interrupted_first_publish_leaves_store_as_it_was(other: Path, tmp_path: Path, record_reads) -> None:
    ds = make_dataset(tmp_path / "ds", big=BIG, seed=5)
    root = tmp_path / "store"
    root.mkdir()
    with web_server(root) as web:
        folder = store_with_other(root, other, web.url, served_by_site=False)
        spec = {"location": str(root), "public_url": web.url}
        child = Child(tmp_path, spec, ds)
        dsid, head = dsid_of(ds), git(ds, "rev-parse", "HEAD").strip()
        objects = object_paths(ds)
        big = str(object_file(ds, "raw/big.bin").resolve())
        before = visible(root)

        # Killed while the big file's content is being staged: everything else is staged already.
        _, events = child.run({"at": "read", "size": BIG, "after": 3 << 20})
        assert visible(root) == before
        parts = list((root / store.PRIVATE / "staging").rglob("*.part"))
        assert len(parts) == 1 and 0 < parts[0].stat().st_size < BIG
        first = staged(root)
        assert len(first) == len(objects) - 1 and reads(events) == set(objects)
        check_clone_fails(f"ria+{web.url}#{dsid}", tmp_path / "c0")

        # Killed while the pointer files are written (in staging, before the one rename that shows the dataset).
        for n in (1, 7):
            _, events = child.run({"at": "replace", "under": f"{store.PRIVATE}/staging/", "n": n})
            assert visible(root) == before, n
            assert reads(events) <= {big}, n  # only the content that was not staged whole is read again
            assert all(staged(root)[rel] == ino for rel, ino in first.items()), n
        assert not (root / dsid[:3]).exists()
        check_clone_fails(f"ria+{web.url}#{dsid}", tmp_path / "c1")

        # Run again: it ends the publish, reading nothing again, and moves in what was staged (the same files).
        del record_reads[:]
        result = store.publish(folder, ds, verify="no")
        assert result.commit == head and result.uploaded == 0 and result.present == len(objects)
        assert not set(record_reads) & set(objects)
        live = dataset_folder(root, dsid)
        for rel, ino in first.items():
            assert (live / rel).stat().st_ino == ino, rel
        assert {k: v for k, v in visible(root).items() if k in before} == before
        assert not [p for p in root.rglob("*") if p.name.startswith(".") and store.PRIVATE not in p.parts]
        clone = reader_clone(result.clone_url, tmp_path / "c2")
        assert md5s(clone) == md5s(ds)


def test_interrupted_update_leaves_store_as_it_was(tmp_path: Path, record_reads) -> None:
    ds = make_dataset(tmp_path / "ds", seed=6)
    root = tmp_path / "store"
    root.mkdir()
    with web_server(root) as web:
        folder = Store(str(root), public_url=web.url)
        spec = {"location": str(root), "public_url": web.url}
        v1 = store.publish(folder, ds, verify="no")
        dsid, branch = v1.dsid, store._branch(ds)
        old = md5s(ds)
        write_mrc(ds / "maps" / "map_extra.mrc", (8, 8, 8), 1.1, 77)
        (ds / "raw" / "big.bin").write_bytes(random.Random(7).randbytes(BIG))
        v2 = save(ds, "More data")
        new_objects = {p: f for p, f in object_paths(ds).items() if f in ("maps/map_extra.mrc", "raw/big.bin")}
        big = str(object_file(ds, "raw/big.bin").resolve())
        child = Child(tmp_path, spec, ds)
        before = visible(root)
        live = dataset_folder(root, dsid)
        pointers = ["ria-layout-version", "config", f"refs/heads/{branch}", "refs/heads/git-annex",
                    "objects/info/packs", "info/refs", "HEAD"]

        def reader_sees(commit: str, name: str) -> None:
            clone = reader_clone(f"ria+{web.url}#{dsid}", tmp_path / name)
            assert git(clone, "rev-parse", "HEAD").strip() == commit, name
            assert md5s(clone) == (old if commit == v1.commit else md5s(ds)), name

        # Killed while the new big file is staged.
        _, events = child.run({"at": "read", "size": BIG, "after": 2 << 20})
        assert visible(root) == before
        assert reads(events) == set(new_objects)
        first = staged(root)
        assert len(first) == 1 and next(iter(first)).endswith(".mrc")
        # Killed while the pointers are written in staging: nothing moved in yet.
        _, events = child.run({"at": "replace", "under": f"{store.PRIVATE}/staging/", "n": 7})
        assert visible(root) == before and reads(events) == {big}
        assert all(staged(root)[rel] == ino for rel, ino in first.items())
        # Killed once some new content, then the git objects, then some of the pointers are in (an update cannot
        # arrive in one rename): what was there stays, bar the pointers; what was added is content and packs that
        # nothing points at yet; readers get the previous version whole until info/refs (what git's HTTP clients
        # read) is in, and the new one whole after.
        ddir = store.dataset_dir(dsid)
        points = [("annex/objects/", "", None), ("objects/pack/", ".pack", None), (f"refs/heads/{branch}", "", None),
                  ("objects/info/packs", "", v1.commit), ("info/refs", "", v2)]
        for n, (under, suffix, seen) in enumerate(points):
            _, events = child.run({"at": "replace", "under": f"{ddir}/{under}", "suffix": suffix, "n": 1})
            assert not reads(events), under
            now = visible(root)
            changed = {k for k in before if now.get(k) != before[k]}
            assert changed <= {f"{ddir}/{p}" for p in pointers}, (under, changed)
            added = set(now) - set(before)
            assert all(k.startswith((f"{ddir}/annex/objects/", f"{ddir}/objects/pack/")) for k in added), added
            if seen:
                reader_sees(seen, f"reader-{n}")

        # Run again: it ends the publish without reading anything again; readers get the new version.
        del record_reads[:]
        result = store.publish(folder, ds, verify="no")
        assert result.commit == v2 and result.uploaded == 0
        assert not set(record_reads) & set(object_paths(ds))
        for rel, ino in first.items():
            assert (live / rel).stat().st_ino == ino, rel
        assert not (root / store.PRIVATE / "staging" / dsid.replace("-", "")).exists() or not staged(root)
        reader_sees(v2, "reader-new")
        git(tmp_path / "reader-new" / "x", "checkout", "-q", v1.commit)
        cli(BIN / "datalad", "get", ".", cwd=tmp_path / "reader-new" / "x")
        assert md5s(tmp_path / "reader-new" / "x") == old


def test_content_staged_for_a_dropped_commit_is_not_revealed(tmp_path: Path) -> None:
    """A publish interrupted with a file staged, whose commit is then dropped (say, to take that file out): the
    next publish, of another commit, does not bring the file into the store."""
    ds = make_dataset(tmp_path / "ds", big=BIG, seed=12)
    (ds / "private.bin").write_bytes(random.Random(13).randbytes(70_000))
    save(ds, "Oops")
    private = git(ds, "annex", "lookupkey", "private.bin").strip()
    root = tmp_path / "store"
    spec = {"location": str(root), "public_url": "http://127.0.0.1:9/store", "served_by_site": True}
    Child(tmp_path, spec, ds).run({"at": "read", "size": BIG, "after": 1 << 20})
    assert any(rel.endswith(f"/{private}") for rel in staged(root))
    git(ds, "reset", "-q", "--hard", "HEAD~1")
    result = store.publish(Store(**spec), ds, verify="no")
    assert "private.bin" not in result.urls
    assert not [p for p in root.rglob("*") if private in p.name]
    assert not [p for p in root.rglob("*") if p.name.endswith(".part")]


# ----------------------------------------------------------------------------------------------- 5: S3

@pytest.fixture
def s3_env(seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:  # noqa: F811
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return seaweedfs


def s3_store(server: S3Server, prefix: str) -> Store:
    return Store(f"s3://{server.bucket}/{prefix}", public_url=server.url(prefix), endpoint=server.endpoint)


def test_s3_store(s3_env: S3Server, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    server = s3_env
    bucket = s3_store(server, "openem/store")
    messages: list[str] = []
    result = store.publish(bucket, source, log=messages.append)
    assert result.verified == "content" and result.uploaded == len(set(result.urls.values()))
    assert result.clone_url == f"ria+{server.endpoint}/{server.bucket}/openem/store#{result.dsid}"
    objects = server.objects("openem/store/")
    ddir = f"openem/store/{store.dataset_dir(result.dsid)}"
    assert objects["openem/store/ria-layout-version"] == b"1\n" and objects[f"{ddir}/ria-layout-version"] == b"2\n"
    assert all(k.startswith(f"{ddir}/") or k == "openem/store/ria-layout-version" for k in objects)

    clone = reader_clone(f"ria+http://127.0.0.1:{server.endpoint.rsplit(':', 1)[1]}/{server.bucket}/openem/store"
                         f"#{result.dsid}", tmp_path)
    assert git(clone, "rev-parse", "HEAD").strip() == result.commit
    assert md5s(clone) == md5s(source)
    for path, url in result.urls.items():
        assert url.startswith(f"{server.endpoint}/{server.bucket}/openem/store/")
        assert fetch(url) == (source / path).read_bytes(), path  # anonymous GET

    client = server.client()

    def listing() -> dict[str, tuple[str, object]]:
        page = client.list_objects_v2(Bucket=server.bucket, Prefix="openem/store/")
        return {o["Key"]: (o["ETag"], o["LastModified"]) for o in page.get("Contents", [])}

    listed = listing()
    again = store.publish(bucket, source, log=messages.append, verify="presence")
    assert (again.uploaded, again.uploaded_bytes, again.present) == (0, 0, result.uploaded)
    assert listing() == listed and server.objects("openem/store/") == objects

    # The keys are nowhere: not in the bucket, not in what publish says or prints.
    secrets = (server.access_key.encode(), server.secret_key.encode())
    everything = server.objects()
    assert set(objects) <= set(everything)
    for key, data in everything.items():
        assert not any(s in data or s in key.encode() for s in secrets), key
    assert messages and not any(s.decode() in m for m in messages for s in secrets)
    printed = "".join(capfd.readouterr())
    assert not any(s.decode() in printed for s in secrets)
    # Wrong credentials: a StoreError that names neither key.
    for access, secret in ((server.access_key, "wrong-" + server.secret_key[::-1]),
                           ("AKUNKNOWN" + server.access_key[9:], server.secret_key)):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        log: list[str] = []
        with pytest.raises(StoreError) as caught:
            store.publish(s3_store(server, "openem/other"), source, log=log.append, verify="no")
        text = "".join(traceback.format_exception(caught.value)) + "\n".join(log) + "".join(capfd.readouterr())
        for s in (*secrets, access.encode(), secret.encode()):
            assert s.decode() not in text
        assert "botocore" not in "".join(traceback.format_exception_only(caught.value))
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not server.objects("openem/other/")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="credentials"):
        store.publish(s3_store(server, "openem/other"), source, verify="no")


def test_s3_update_and_refused_history(s3_env: S3Server, tmp_path: Path) -> None:
    server = s3_env
    ds = make_dataset(tmp_path / "ds", seed=8)
    bucket = s3_store(server, "update")
    v1 = store.publish(bucket, ds, verify="no")
    old = md5s(ds)
    write_mrc(ds / "maps" / "map_extra.mrc", (8, 8, 8), 1.1, 5)
    v2 = store.publish(bucket, ds, commit=save(ds, "A map more"), verify="no")
    assert (v2.uploaded, v2.present) == (1, v1.files)
    clone = reader_clone(v2.clone_url, tmp_path / "reader")
    assert md5s(clone) == md5s(ds)
    git(clone, "checkout", "-q", v1.commit)
    cli(BIN / "datalad", "get", ".", cwd=clone)
    assert md5s(clone) == old

    before = server.objects("update/")
    git(ds, "reset", "-q", "--hard", "HEAD~1")
    (ds / "secret.bin").write_bytes(b"not for the store " * 30000)
    save(ds, "Rewritten")
    with pytest.raises(StoreError, match="does not build on"):
        store.publish(bucket, ds, verify="no")
    assert server.objects("update/") == before


# ----------------------------------------------------------------------------------------------- 6, 7: damage

def test_damaged_content_is_refused(other: Path, site_url: str, tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "ds", seed=9)
    root = tmp_path / "store"
    folder = store_with_other(root, other, site_url)
    before = visible(root)
    mic = object_file(ds, "micrographs/mic_0002.mrc")
    good = damage(mic)
    with pytest.raises(StoreError, match="micrographs/mic_0002.mrc") as caught:
        store.publish(folder, ds, verify="no")
    assert "git annex fsck" in str(caught.value)
    assert visible(root) == before
    # An update with a damaged new file: refused too, and the store shows the previous version.
    restore(mic, good)
    v1 = store.publish(folder, ds, verify="no")
    before = visible(root)
    write_mrc(ds / "maps" / "map_extra.mrc", (8, 8, 8), 1.1, 11)
    save(ds, "A map more")
    extra = object_file(ds, "maps/map_extra.mrc")
    good = damage(extra)
    with pytest.raises(StoreError, match="maps/map_extra.mrc"):
        store.publish(folder, ds, verify="no")
    assert visible(root) == before
    assert (dataset_folder(root, v1.dsid) / f"refs/heads/{store._branch(ds)}").read_text().strip() == v1.commit
    # Repaired, it goes in (what was staged of the damaged copy is not used).
    restore(extra, good)
    v2 = store.publish(folder, ds, verify="no")
    assert v2.uploaded == 1
    assert (root / urlsplit(v2.urls["maps/map_extra.mrc"]).path.split("/store/", 1)[1]).read_bytes() == good


def test_damaged_content_is_refused_by_s3(s3_env: S3Server, tmp_path: Path) -> None:
    server = s3_env
    ds = make_dataset(tmp_path / "ds", seed=10)
    bucket = s3_store(server, "damaged")
    mic = object_file(ds, "micrographs/mic_0001.mrc")
    good = damage(mic)
    with pytest.raises(StoreError, match="micrographs/mic_0001.mrc"):
        store.publish(bucket, ds, verify="no")
    location = store.key_locations(ds, [mic.name])[mic.name]
    assert not [k for k in server.objects("damaged/") if k.endswith(location)]
    assert f"{store.dataset_dir(dsid_of(ds))}/HEAD" not in {k[len("damaged/"):] for k in server.objects("damaged/")}
    # Killed between sending the damaged content and checking it: the damaged bytes are not in the store, and
    # the next run refuses the file again.
    spec = {"location": bucket.location, "public_url": bucket.public_url, "endpoint": bucket.endpoint}
    Child(tmp_path, spec, ds, root=tmp_path).run({"at": "check"}, env=tool_env())
    sent = {k: v for k, v in server.objects("damaged/").items() if k.endswith(location)}
    assert all(v == good for v in sent.values())
    with pytest.raises(StoreError, match="micrographs/mic_0001.mrc"):
        store.publish(bucket, ds, verify="no")
    restore(mic, good)
    result = store.publish(bucket, ds, verify="content")
    assert fetch(result.urls["micrographs/mic_0001.mrc"]) == good


def test_check_published_finds_missing_content(source: Path, site_url: str, tmp_path: Path) -> None:
    root = tmp_path / "store"
    folder = Store(str(root), public_url=site_url, served_by_site=True)
    result = store.publish(folder, source, verify="no")
    store.check_published(folder, result.dsid, result.commit, content=True)
    with pytest.raises(StoreError, match="not at the published"):
        store.check_published(folder, result.dsid, git(source, "rev-parse", "HEAD~1").strip(), content=False)
    with pytest.raises(StoreError, match="cannot be cloned"):
        store.check_published(folder, str(uuid.uuid4()), result.commit)
    victim = dataset_folder(root, result.dsid) / "annex" / "objects" / result.urls[RAW].split("/annex/objects/")[1]
    victim.chmod(0o644)
    victim.unlink()
    for content in (True, False):
        with pytest.raises(StoreError, match="does not get every file"):
            store.check_published(folder, result.dsid, result.commit, content=content)
    # A damaged object (same size) is found when the content is checked.
    mrc = dataset_folder(root, result.dsid) / "annex" / "objects" / result.urls["maps/map_full.mrc"].split(
        "/annex/objects/")[1]
    shutil.copyfile(source / RAW, victim)  # the missing one back
    damage(mrc)
    store.check_published(folder, result.dsid, result.commit, content=False)
    with pytest.raises(StoreError, match="does not get every file"):
        store.check_published(folder, result.dsid, result.commit, content=True)


# ----------------------------------------------------------------------------------------------- 8: the lock

def test_concurrent_publish_fails_fast(source: Path, other: Path, site_url: str, tmp_path: Path) -> None:
    root = tmp_path / "store"
    folder = Store(str(root), public_url=site_url, served_by_site=True)
    spec = {"location": str(root), "public_url": folder.public_url, "served_by_site": True}
    ready, go = tmp_path / "ready", tmp_path / "go"
    proc, _record = Child(tmp_path, spec, source).start({"at": "wait", "ready": str(ready), "go": str(go)})
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        before = snapshot(root)
        started = time.monotonic()
        with pytest.raises(StoreError, match="another publish of this dataset is running"):
            store.publish(folder, source, verify="no")
        assert time.monotonic() - started < 10
        assert snapshot(root) == before
        # Another dataset goes into the same store meanwhile.
        assert store.publish(folder, other, verify="no").uploaded == 1
    finally:
        go.touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    store.check_published(folder, dsid_of(source), git(source, "rev-parse", "HEAD").strip())
    assert visible(root)[f"{store.dataset_dir(dsid_of(other))}/HEAD"]


def test_s3_large_files_go_as_multipart_uploads_shown_only_when_checked(s3_env: S3Server, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A file larger than a part is read once and sent in parts, completed only when its checksum checked out:
    damaged content leaves neither an object nor an unfinished upload behind."""
    server = s3_env
    monkeypatch.setattr(storetargets, "_PART", 5 << 20)  # (S3's smallest part): a 12 MiB file goes in 3 parts
    dataset = make_dataset(tmp_path / "big", big=12 << 20, seed=7)
    bucket = s3_store(server, "multipart")
    result = store.publish(bucket, dataset, verify="no")
    big = next(p for p in result.urls if (dataset / p).stat().st_size >= 12 << 20)
    assert fetch(result.urls[big]) == (dataset / big).read_bytes()
    client = server.client()
    assert not client.list_multipart_uploads(Bucket=server.bucket, Prefix="multipart/").get("Uploads")
    # The same content damaged locally (same size): refused, nothing at the final key, no upload left.
    other = make_dataset(tmp_path / "other", big=12 << 20, seed=8)
    target = (other / big).resolve()
    os.chmod(target, 0o644)
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    before = set(server.objects("damaged/"))
    with pytest.raises(store.StoreError, match="does not match its checksum"):
        store.publish(s3_store(server, "damaged"), other, verify="no")
    after = server.objects("damaged/")
    assert not [k for k in set(after) - before if "/annex/objects/" in k and k.endswith(Path(big).suffix)]
    assert not client.list_multipart_uploads(Bucket=server.bucket, Prefix="damaged/").get("Uploads")
