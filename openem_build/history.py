"""Version history of every dataset, read from the catalogue's git history (an I/O edge).

A dataset's version changes when its ``version:`` changes. For each version we keep the day it first
appeared, the last catalogue commit that still described it, and the record as it stood then, so that older
versions stay reachable on the site (``datasets/<id>/versions/<version>.json``).
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .yamlsafe import YamlError, decode, parse

VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")
_PATH = re.compile(r"^datasets/([a-z0-9][a-z0-9-]{2,63})/dataset\.yaml$")


@dataclass(frozen=True)
class Version:
    """One version of a dataset as the catalogue's history shows it."""

    version: str
    first_seen: date
    commit: str  # the last catalogue commit describing this version
    record: Any  # the dataset.yaml data at that commit


def histories(root: Path) -> dict[str, tuple[Version, ...]]:
    """Every dataset's versions, oldest first; empty when ``root`` is not a git repository."""
    try:
        log = _git(root, "log", "--reverse", "--format=%x00%H %cs", "--name-only", "--no-renames",
                   "--", "datasets/*/dataset.yaml")
    except (OSError, subprocess.SubprocessError):
        return {}
    touched: dict[str, list[tuple[str, date]]] = defaultdict(list)
    for chunk in log.split("\x00")[1:]:
        head, *paths = chunk.strip().split("\n")
        commit, _, day = head.partition(" ")
        for path in paths:
            m = _PATH.match(path.strip())
            if m:
                touched[m.group(1)].append((commit, date.fromisoformat(day)))
    if not touched:
        return {}
    requests = [(ident, commit, d) for ident, commits in sorted(touched.items()) for commit, d in commits]
    blobs = _read_blobs(root, [f"{commit}:datasets/{ident}/dataset.yaml" for ident, commit, _ in requests])
    out: dict[str, list[Version]] = defaultdict(list)
    for (ident, commit, day), blob in zip(requests, blobs, strict=True):
        if blob is None:
            continue  # deleted in that commit
        try:
            data = parse(decode(blob)).data
        except YamlError:
            continue
        if not isinstance(data, dict):
            continue
        version = str(data.get("version", "1.0"))
        if not VERSION.match(version):
            continue
        versions = out[ident]
        if versions and versions[-1].version == version:
            versions[-1] = Version(version, versions[-1].first_seen, commit, data)
        elif any(v.version == version for v in versions):
            continue  # a version number reused later: keep the first
        else:
            versions.append(Version(version, day, commit, data))
    return {ident: tuple(v) for ident, v in sorted(out.items())}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          timeout=300).stdout


def _read_blobs(root: Path, names: list[str]) -> list[bytes | None]:
    """The content of ``commit:path`` objects, read through one ``git cat-file --batch``."""
    proc = subprocess.run(["git", "-C", str(root), "cat-file", "--batch"], input="\n".join(names).encode() + b"\n",
                          capture_output=True, check=True, timeout=300)
    data, pos, out = proc.stdout, 0, []
    for _ in names:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) == 2 and header[1] == b"missing":
            out.append(None)
            continue
        size = int(header[2])
        out.append(data[pos:pos + size])
        pos += size + 1
    return out
