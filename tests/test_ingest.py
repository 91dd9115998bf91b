"""Terabyte contributions: `openem add` of a plain folder without a second copy (hard links, else in place),
each file read once and an interrupted add resumed without reading finished files again, progress on a
terminal and none in CI, and S3 uploads that show damaged content nowhere. Real DataLad, git-annex and files."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from openem_build.authoring.add import add_dataset
from openem_build.data import annex, annexfiles, gallery, ingest
from openem_build.data import store as S
from openem_build.data.headers import read_headers
from openem_build.records.manifest import read

from .annex_helpers import catalogue as new_catalogue
from .annex_helpers import data_folder, full_document, git
from .conftest import ROOT, write_dataset

IDENT = "apoferritin-test-2025"
OPENEM = str(Path(sys.executable).parent / "openem")
#: Size of the "several GB" folder of the extra-disk test (OPENEM_TEST_GIB to change it).
GIB = float(os.environ.get("OPENEM_TEST_GIB", "3"))


def _fill(path: Path, size: int, seed: int) -> None:
    """A real (not sparse) file: a random MiB repeated, with the offset mixed in so no two MiB are alike."""
    block = hashlib.sha256(str(seed).encode()).digest() * (1 << 15)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for offset in range(0, size, len(block)):
            out.write((offset.to_bytes(8, "little") + block[8:])[: size - offset])


def _blocks_outside(root: Path, originals: set[tuple[int, int]]) -> int:
    """Bytes the folder takes on disk, not counting files that are the same inodes as ``originals``."""
    total, seen = 0, set()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            ident = (st.st_dev, st.st_ino)
            if ident in originals or ident in seen:
                continue
            seen.add(ident)
            total += st.st_blocks * 512
    return total


def test_the_default_add_takes_no_second_copy_of_gigabytes(tmp_path: Path) -> None:
    root = new_catalogue(tmp_path / "catalogue")
    source = tmp_path / "session"
    size = int(GIB * (1 << 30))
    parts = [size // 2, size - size // 2]
    for i, n in enumerate(parts):
        _fill(source / "movies" / f"movie_{i:03d}.tiff", n, i)
    data_folder(source / "maps")
    before_modes = {p: (p.stat().st_mode, p.stat().st_mtime_ns) for p in source.rglob("*") if p.is_file()}
    # What the add allocates: the blocks of every file under the catalogue (new dataset, its annex) and the
    # session folder (anything the add might put beside the originals), each inode once, the originals' own
    # inodes (taken before the add: a copy put in their place would count) left out. Not the disk's free
    # space, which other processes writing to the same disk change meanwhile.
    originals = {(p.stat().st_dev, p.stat().st_ino) for p in source.rglob("*") if p.is_file()}
    before = _blocks_outside(tmp_path, originals)
    result = add_dataset(root, str(source), IDENT, read_headers=read_headers)
    assert result.way == "link"
    extra = _blocks_outside(tmp_path, originals) - before
    assert extra < 0.05 * size, f"{extra} bytes more on disk for {size} bytes of data"
    assert originals <= {(p.stat().st_dev, p.stat().st_ino) for p in source.rglob("*") if p.is_file()}
    # Nothing of the originals changed, and the dataset's content is theirs.
    assert {p: (p.stat().st_mode, p.stat().st_mtime_ns) for p in source.rglob("*") if p.is_file()} == before_modes
    manifest, _doc, problems = read(root / "datasets" / IDENT / "manifest.json", root)
    assert problems == [] and manifest is not None
    movie = manifest.by_path["movies/movie_000.tiff"]
    assert movie.size == parts[0] and movie.key == f"MD5E-s{parts[0]}--{movie.checksum_of('md5')}.tiff"
    data = root / "datasets" / IDENT / "data"
    assert (data / "movies" / "movie_000.tiff").resolve().stat().st_ino == \
        (source / "movies" / "movie_000.tiff").stat().st_ino
    assert annex.git(data, "annex", "fsck", "--fast", "-q", "movies").strip() == ""


@pytest.fixture
def other_file_system(tmp_path: Path) -> Path:
    """A folder on another file system than the temporary one (tmpfs), where hard links cannot reach."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev):
        pytest.skip("no second file system (/dev/shm) to add from")
    folder = Path(os.path.realpath(shm)) / f"openem-test-{os.getpid()}-{tmp_path.name}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_across_file_systems_the_content_stays_in_place_and_is_published_from_there(tmp_path: Path,
                                                                                      other_file_system: Path):
    root = new_catalogue(tmp_path / "catalogue")
    source = data_folder(other_file_system / "run")
    (source / "big.bin").write_bytes(os.urandom(3 << 20))
    result = add_dataset(root, str(source), IDENT, read_headers=read_headers)
    assert result.way == "in-place"
    data = root / "datasets" / IDENT / "data"
    objects = data / ".git" / "annex" / "objects"
    assert not [p for p in objects.rglob("*") if p.is_file()] if objects.exists() else True
    remotes = annexfiles.special_remotes(data)
    assert any(c.get("name") == ingest.SOURCE_REMOTE and c.get("type") == "directory" for c in remotes.values())
    assert annex.git(data, "config", f"remote.{ingest.SOURCE_REMOTE}.annex-directory").strip() == str(source)
    assert str(source) not in annex.git(data, "cat-file", "-p", "git-annex:remote.log")  # never published
    manifest = read(root / "datasets" / IDENT / "manifest.json", root)[0]
    assert manifest is not None and manifest.by_path["maps/map_full.mrc"].headers  # header facts, read once
    # Published straight from the originals, checked against their keys, and read back from the store.
    store = S.Store(str(tmp_path / "store"), "https://data.example.org/store", served_by_site=True)
    published = S.publish(store, data, verify="content")
    assert published.uploaded == len(manifest.files)
    live = tmp_path / "store" / S.dataset_dir(published.dsid)
    for f in manifest.files:
        location = annexfiles.key_locations(data, [f.key])[f.key]
        assert hashlib.md5((live / "annex" / "objects" / location).read_bytes()).hexdigest() == f.checksum_of("md5")


_CHILD = textwrap.dedent("""
    import builtins, json, os, signal, sys
    from pathlib import Path
    from openem_build.data import ingest
    from openem_build.authoring.add import add_dataset
    from openem_build.data.headers import read_headers
    root, source, log, kill_after = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    real_open = builtins.open
    def logged(file, mode="r", *args, **kwargs):
        path = os.path.realpath(os.fspath(file)) if isinstance(file, (str, bytes, os.PathLike)) else ""
        if isinstance(path, str) and path.startswith(source) and "r" in mode and "+" not in mode:
            with real_open(log, "a") as out:
                out.write(path + "\\n")
        return real_open(file, mode, *args, **kwargs)
    builtins.open = logged
    real_add = ingest.Journal.add
    done = []
    def add(self, src, read):
        real_add(self, src, read)
        done.append(src.rel)
        if kill_after and len(done) >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    ingest.Journal.add = add
    add_dataset(root, source, "apoferritin-test-2025", read_headers=read_headers)
""")


def _run_child(root: Path, source: Path, log: Path, kill_after: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run([sys.executable, "-c", _CHILD, str(root), os.path.realpath(source), str(log),
                           str(kill_after)], capture_output=True, text=True, env=env, cwd=ROOT, check=False)


def _entry_files(root: Path) -> dict:
    manifest = read(root / "datasets" / IDENT / "manifest.json", root)[0]
    assert manifest is not None
    return {f.path: (f.key, f.size, dict(f.headers) if f.headers else None) for f in manifest.files}


def test_an_interrupted_add_resumes_without_reading_finished_files_again(tmp_path: Path) -> None:
    source = data_folder(tmp_path / "run")
    for i in range(24):
        _fill(source / "movies" / f"m{i:02d}.tiff", 300_000 + i, i)
    root = new_catalogue(tmp_path / "catalogue")
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    killed = _run_child(root, source, first, kill_after=10)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # Killed half-way: the catalogue is as it was, and what was read is in the journal.
    assert not (root / "datasets" / IDENT).exists() and git(root, "status", "--porcelain").strip() == ""
    journal = root / ".git" / "openem-add" / f"{IDENT}.journal"
    finished = {json.loads(line)["rel"] for line in journal.read_text().splitlines()}
    assert len(finished) >= 10
    done = _run_child(root, source, second, kill_after=0)
    assert done.returncode == 0, done.stderr
    reread = {Path(p).relative_to(os.path.realpath(source)).as_posix() for p in second.read_text().splitlines()}
    # (The previews, made at the end of every add, read their few files' data: not a checksum pass. They are
    # tried on the files gallery.choose picks, whether or not a preview comes of them.)
    doc = yaml.safe_load((root / "datasets" / IDENT / "dataset.yaml").read_text("utf-8"))
    reread -= set(gallery.choose(gallery.sets_of(doc), sorted(reread | finished), lambda p: True))
    assert not (reread & finished), f"read again: {sorted(reread & finished)}"
    assert not journal.exists()  # gone with the completed entry
    # The same entry as an uninterrupted add makes.
    other = new_catalogue(tmp_path / "other")
    add_dataset(other, str(source), IDENT, read_headers=read_headers)
    assert _entry_files(root) == _entry_files(other)


def _pty_run(args: list[str], cwd: Path) -> str:
    """Output of a command run under a pseudo-terminal."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["COLUMNS"] = "120"
    proc = subprocess.Popen(args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(60)
    os.close(master)
    return out.decode("utf-8", "replace")


def test_progress_on_a_terminal_and_plain_output_in_ci(tmp_path: Path, catalogue: Path) -> None:
    source = data_folder(tmp_path / "run")
    _fill(source / "movies" / "m.tiff", 20 << 20, 1)
    cat = new_catalogue(tmp_path / "cat")
    shown = _pty_run([OPENEM, "--root", str(cat), "add", str(source), "--id", IDENT], tmp_path)
    assert "reading" in shown and "\r" in shown and re.search(r"\d+(\.\d+)?\s?[kKMG]i?B", shown), shown[-2000:]
    assert re.search(r"B/s", shown)  # the rate
    assert "added datasets/" in shown  # and the summary
    built = _pty_run([OPENEM, "--root", str(catalogue), "build"], tmp_path)
    assert "pages" in built and re.search(r"\d+(\.\d+)?\s?[kKMG]i?B", built) and "\r" in built, built[-2000:]
    assert "site written to" in built
    # In CI (or without a terminal): no progress bars, no control characters, the summary still there.
    cat2 = new_catalogue(tmp_path / "cat2")
    env = {**os.environ, "CI": "true"}
    plain = subprocess.run([OPENEM, "--root", str(cat2), "add", str(source), "--id", IDENT], capture_output=True,
                           text=True, env=env, check=False)
    assert plain.returncode == 0, plain.stderr
    for text in (plain.stdout, plain.stderr):
        assert "\r" not in text and "\x1b" not in text
    assert "added datasets/" in plain.stdout
    quiet = subprocess.run([OPENEM, "--root", str(catalogue), "build", "--progress", "-d", str(tmp_path / "s")],
                           capture_output=True, text=True, env=env, check=False)
    assert quiet.returncode == 0 and "pages:" in quiet.stderr and "B/s" in quiet.stderr  # --progress overrides
    quiet = subprocess.run([OPENEM, "--root", str(catalogue), "build", "--quiet", "-d", str(tmp_path / "s")],
                           capture_output=True, text=True, check=False)
    assert quiet.returncode == 0 and "\r" not in quiet.stderr and "site written to" in quiet.stderr


def test_copy_mode_copies(tmp_path: Path) -> None:
    root = new_catalogue(tmp_path / "catalogue")
    source = data_folder(tmp_path / "run")
    result = add_dataset(root, str(source), IDENT, mode="copy")
    assert result.way == "copy"
    data = root / "datasets" / IDENT / "data"
    target = (data / "maps" / "map_full.mrc").resolve()
    assert target.stat().st_ino != (source / "maps" / "map_full.mrc").stat().st_ino
    assert target.read_bytes() == (source / "maps" / "map_full.mrc").read_bytes()


def test_a_complete_entry_from_an_in_place_add_validates(tmp_path: Path, other_file_system: Path) -> None:
    from openem_build.records.load import load_catalogue

    root = new_catalogue(tmp_path / "catalogue")
    add_dataset(root, str(data_folder(other_file_system / "run")), IDENT, read_headers=read_headers)
    stub = yaml.safe_load((root / "datasets" / IDENT / "dataset.yaml").read_text("utf-8"))
    data = {k: v for k, v in stub["data"].items() if k != "datalad"}  # (not published yet)
    write_dataset(root, full_document(IDENT, data))
    git(root, "commit", "-q", "-am", "describe")
    found = [p.text() for p in load_catalogue(root, disk_cache=False).problems]
    assert [p for p in found if "warning" not in p] == [], found
    assert any("does not say where" in p for p in found)  # until `openem publish`


def test_nothing_under_a_git_folder_is_added_and_add_says_what_it_left_out(tmp_path: Path, capsys) -> None:
    from openem_build.cli import main

    root = new_catalogue(tmp_path / "catalogue")
    source = data_folder(tmp_path / "run")
    hooks = source / "notes" / ".git" / "hooks"
    hooks.mkdir(parents=True)
    (source / "notes" / ".git" / "config").write_text("[core]\n\tfsmonitor = touch PWNED\n")
    (hooks / "post-checkout").write_text("#!/bin/sh\ntouch PWNED\n")
    (source / "notes" / ".gitmodules").write_text('[submodule "x"]\n\tpath = x\n\turl = ../x\n')
    (source / "notes" / "a.git").write_text("a file that only looks like git's\n")
    (source / ".DS_Store").write_bytes(b"\0\1")
    assert main(["--root", str(root), "add", str(source), "--id", IDENT]) == 0
    err = capsys.readouterr().err
    assert "left out: notes/.git/ (a git repository's own files)" in err
    assert "left out: notes/.gitmodules (git's own file)" in err and "left out: .DS_Store" in err
    data = root / "datasets" / IDENT / "data"
    listed = {f.path for f in read(root / "datasets" / IDENT / "manifest.json", root)[0].files}
    assert not [p for p in listed if ".git" in p.split("/")[:-1] or p.endswith("/.gitmodules")]
    assert "notes/a.git" in listed
    assert not (data / "notes" / ".git").exists() and not (data / "notes" / ".gitmodules").exists()
    assert annex.git(root, "status", "--porcelain").strip() == "" and not list(tmp_path.rglob("PWNED"))
