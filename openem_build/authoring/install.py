"""Moving a staged entry into ``datasets/<id>``, registering its subdataset and committing: all or nothing."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..data import annex, gallery, submodules
from ..records import manifest as M
from ..records.load import DATASET_FILE, DATASETS
from ..records.model import Manifest


def install(root: Path, staged: Path, ident: str, url: str, manifest: Manifest, commit: bool) -> str | None:
    """Move the staged entry into ``datasets/<id>``, register the subdataset and commit; all or nothing."""
    rel = f"{DATASETS}/{ident}"
    target = root / rel
    sub_path = f"{rel}/{M.SUBDATASET}"
    gitmodules = root / submodules.GITMODULES
    before = gitmodules.read_bytes() if gitmodules.is_file() else None
    tracked = bool(annex.git(root, "ls-files", "--", submodules.GITMODULES).strip())
    head_before = annex.git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
    others = bool(annex.git(root, "diff", "--cached", "--name-only", check=False).strip())  # staged by the user
    moved = False
    try:
        os.rename(staged, target)
        moved = True
        submodules.register_subdataset(root, sub_path, url, manifest.datalad_id, manifest.commit or "")
        previews = [p for p in (f"{rel}/{gallery.PREVIEWS_FILE}", f"{rel}/{gallery.PREVIEWS_DIR}")
                    if (root / p).exists()]
        annex.add(root, [f"{rel}/{DATASET_FILE}", f"{rel}/{M.MANIFEST_FILE}", *previews])
        if not commit:
            return None
        message = f"Add dataset {ident} (openem add)"
        if others:  # (only the entry: git reads its files again, through git-annex's filter)
            annex.git(root, "commit", "-q", "-m", message, "--", submodules.GITMODULES, rel)
        else:  # the index holds the entry alone, as staged: nothing is read again (the manifest may be ~20 MB)
            annex.git(root, *annex.NO_FILTER, "commit", "-q", "-m", message)
        return annex.head(root)
    except BaseException:
        _rollback(root, rel, target if moved else None, before, tracked, head_before)
        raise


def _rollback(root: Path, rel: str, target: Path | None, gitmodules_before: bytes | None, tracked: bool,
              head_before: str | None) -> None:
    """Undo what ``install`` did, step by step; each step is tried even when an earlier one fails."""
    gitmodules = root / submodules.GITMODULES

    def undo_commit() -> None:
        head_now = annex.git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
        if head_now != head_before:
            if head_before:
                annex.git(root, "reset", "--soft", "-q", head_before)
            else:  # the commit was the repository's first
                annex.git(root, "update-ref", "-d", "HEAD")

    def restore_gitmodules() -> None:
        if gitmodules_before is None:
            gitmodules.unlink(missing_ok=True)
            annex.git(root, "update-index", "--force-remove", "--", submodules.GITMODULES)
        else:
            gitmodules.write_bytes(gitmodules_before)
            if tracked:
                annex.git(root, "add", "--", submodules.GITMODULES)

    def unstage() -> None:
        staged = [p for p in annex.git(root, "ls-files", "-z", "--", rel).split("\0") if p]
        if staged:
            annex.git(root, "update-index", "-z", "--force-remove", "--stdin",
                      input="".join(f"{p}\0" for p in staged).encode())

    def remove() -> None:
        if target is not None:
            annex.remove_tree(target)

    for step in (undo_commit, restore_gitmodules, unstage, remove):
        with contextlib.suppress(Exception):  # keep undoing; the original error is what the caller sees
            step()

