"""Running git, git-annex and DataLad (an I/O edge): processes, repository queries, staging, DataLad's create,
save and clone.

git and git-annex run as subprocesses; DataLad is used through its Python API for create, save and clone. What a
commit's files are lives in :mod:`openem_build.data.annexfiles`, what a key says in
:mod:`openem_build.data.annexkeys`, subdatasets in :mod:`openem_build.data.submodules`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path


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


def json_lines(data: Iterable[bytes]) -> Iterator[dict]:
    """The JSON objects among ``data``'s lines (git-annex's ``--json`` output)."""
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


# --------------------------------------------------------------------------------------------- staging and removing

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
