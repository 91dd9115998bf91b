"""Real DataLad / git-annex fixtures for tests/test_manifest.py and tests/test_add.py (nothing mocked).

* MRC files written with mrcfile from numpy arrays,
* a plain data folder and a DataLad dataset built from it,
* a web server on 127.0.0.1 (in a thread) serving file content and a published, content-free (bare) copy of
  the DataLad dataset over git's "dumb" HTTP protocol,
* a catalogue that is itself a DataLad dataset, set up from the repository's own .gitattributes and .datalad/.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import mrcfile
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: path → (shape, voxel size in Å); small enough to be quick, several folders to make image sets.
MRC_FILES = {
    "maps/map_full.mrc": ((16, 16, 16), 1.1),
    "maps/map_half1.mrc": ((16, 16, 16), 1.1),
    "maps/map_half2.mrc": ((16, 16, 16), 1.1),
    "micrographs/mic_0001.mrc": ((1, 32, 32), 0.55),
    "micrographs/mic_0002.mrc": ((1, 32, 32), 0.55),
}
README = "notes.txt"


def run(*args: str | Path, cwd: Path | None = None, check: bool = True) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def git(cwd: Path, *args: str, check: bool = True) -> str:
    return run("git", *args, cwd=cwd, check=check)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_mrc(path: Path, shape: tuple[int, int, int], voxel: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data if shape[0] > 1 else data[0])
        mrc.voxel_size = voxel


def data_folder(path: Path) -> Path:
    """A plain folder of MRC files and a text note, as a facility would hand it over."""
    for seed, (rel, (shape, voxel)) in enumerate(sorted(MRC_FILES.items())):
        write_mrc(path / rel, shape, voxel, seed)
    (path / README).write_text("Apoferritin test data, written by the tests.\n", encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under ``folder`` with its content hash, mode and mtime: to prove nothing changed."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        out[path.relative_to(folder).as_posix()] = (md5(path) if path.is_file() else "", st.st_mode, st.st_mtime_ns)
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.requests.append(self.path)
        super().do_GET()


@dataclass
class WebServer:
    root: Path
    url: str
    requests: list[str] = field(default_factory=list)


@contextmanager
def web_server(root: Path) -> Iterator[WebServer]:
    """A real HTTP server on 127.0.0.1 (random port) serving ``root``, in a background thread."""
    requests: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebServer(root, f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def allow_localhost_env() -> dict[str, str]:
    """git-annex refuses to download from 127.0.0.1 unless told to (annex.security.allowed-ip-addresses)."""
    n = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    return {"GIT_CONFIG_COUNT": str(n + 1), f"GIT_CONFIG_KEY_{n}": "annex.security.allowed-ip-addresses",
            f"GIT_CONFIG_VALUE_{n}": "127.0.0.1"}


def datalad_dataset(path: Path) -> Path:
    """A DataLad dataset holding the files of :func:`data_folder`, all in git-annex."""
    import datalad.api as dl

    dl.create(path=str(path), result_renderer="disabled")
    data_folder(path)
    dl.save(dataset=str(path), message="Add the data", result_renderer="disabled")
    return path


def publish(dataset: Path, web: WebServer, name: str) -> str:
    """Publish ``dataset`` the way a facility might: file content as plain web files (URLs registered in
    git-annex) and a bare git repository without any content, both served by ``web``. Returns the clone URL."""
    content = web.root / "content" / name
    lines = []
    for rel in sorted([*MRC_FILES, README]):
        target = content / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dataset / rel, target)
        key = git(dataset, "annex", "lookupkey", rel).strip()
        lines.append(f"{key} {web.url}/content/{name}/{rel}\n")
    subprocess.run(["git", "annex", "registerurl", "--batch"], cwd=dataset, input="".join(lines), text=True,
                   check=True, capture_output=True)
    bare = web.root / f"{name}.git"
    git(dataset.parent, "clone", "-q", "--bare", str(dataset), str(bare))
    git(bare, "update-server-info")
    return f"{web.url}/{name}.git"


def catalogue(path: Path) -> Path:
    """A catalogue repository: facilities, the repository's own DataLad/annex set-up, one commit."""
    (path / "datasets").mkdir(parents=True)
    shutil.copy(ROOT / "datasets" / "facilities.yaml", path / "datasets" / "facilities.yaml")
    shutil.copy(ROOT / ".gitattributes", path / ".gitattributes")
    shutil.copytree(ROOT / ".datalad", path / ".datalad")
    git(path, "init", "-q")
    git(path, "annex", "init", "-q", "catalogue (tests)")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Catalogue")
    return path


def clean(path: Path) -> bool:
    return git(path, "status", "--porcelain", "--ignore-submodules=none") == ""


def full_document(ident: str, data: dict) -> dict:
    """A complete, valid dataset document (the example entry) with this id and data section."""
    from .conftest import example_document

    doc = example_document()
    doc["id"] = ident
    doc.pop("doi", None)
    doc["data"] = data
    return doc
