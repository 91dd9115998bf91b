"""Subdatasets in the catalogue: ``.gitmodules`` entries and the gitlinks git's index records for them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .annex import AnnexError, git, run

GITMODULES = ".gitmodules"
GITLINK_MODE = "160000"


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

