"""What ``openem add`` checks before it starts: the id, the clone URL, the catalogue, where the source lies."""

from __future__ import annotations

import re
from pathlib import Path

from ..data import annex, submodules
from ..records import manifest as M
from ..records.load import DATASETS
from ..records.validate import schema


class AddError(Exception):
    """``openem add`` cannot (or must not) go ahead; the message says why and what to do."""


def is_url(source: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", source) or re.match(r"^[\w.-]+@[\w.-]+:", source))


def check_id(ident: str) -> None:
    pattern = schema("dataset")["properties"]["id"]["pattern"]
    if not re.fullmatch(pattern.strip("^$"), ident):
        raise AddError(f"'{ident}' is not a valid id: use 3 to 64 lowercase letters, digits and hyphens, starting "
                       "with a letter or digit")


def check_url(url: str) -> None:
    pattern = schema("dataset")["properties"]["data"]["properties"]["datalad"]["pattern"]
    if not re.fullmatch(pattern.strip("^$"), url):
        raise AddError(f"{url!r} cannot be a catalogue's clone URL: use an https:// (or ria+https://, ssh://) "
                       "URL without spaces or shell characters")


def check_catalogue(root: Path, ident: str) -> None:
    if not annex.is_repo(root):
        raise AddError(f"the catalogue {root} is not a git repository (a DataLad dataset): clone it with "
                       "`datalad clone` first")
    if not (root / DATASETS).is_dir():
        raise AddError(f"{root} has no {DATASETS}/ folder: run from the catalogue's root or pass --root")
    rel = f"{DATASETS}/{ident}"
    if (root / rel).exists() or (root / rel).is_symlink() or annex.git(root, "ls-files", "--", rel).strip():
        raise AddError(f"{rel} exists already: choose another id, or remove that entry first")
    if f"{rel}/{M.SUBDATASET}" in submodules.read_gitmodules(root):
        raise AddError(f".gitmodules already has an entry for {rel}/{M.SUBDATASET}: remove it first")
    if annex.git(root, "status", "--porcelain", "--", submodules.GITMODULES).strip():
        raise AddError(".gitmodules has uncommitted changes: commit or discard them first")


def inside(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or b in a.parents

