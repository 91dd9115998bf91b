"""When each dataset last changed, to the second, along the catalogue's trusted git history (an I/O edge).

The OAI-PMH datestamps (:mod:`openem_build.render.oai`) come from here. A harvester asks for what changed
since its last visit (``from``), so a datestamp must never be earlier than the change it stands for. As in
:mod:`openem_build.records.history` (see docs/security.md, "What the version history trusts"), only the first-parent
chain of ``HEAD`` counts, each commit compared with its first parent (a merged pull request is one change, at
the time its merge recorded), and times never go back along the chain: a commit dated before an earlier one
takes the earlier one's time.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

_PATH = re.compile(r"^datasets/([a-z0-9][a-z0-9-]{2,63})/")


def parse(log_text: str) -> dict[str, datetime]:
    """``git log --reverse --format=%x00%ct --name-only`` output (oldest commit first) → dataset id → the
    (naive UTC) time of the newest commit touching ``datasets/<id>/``."""
    out: dict[str, datetime] = {}
    latest = 0
    for chunk in log_text.split("\x00")[1:]:
        head, *paths = chunk.strip().split("\n")
        stamp = head.strip()
        latest = max(latest, int(stamp)) if stamp.isdigit() else latest
        for path in paths:
            m = _PATH.match(path.strip())
            if m:
                out[m.group(1)] = datetime.fromtimestamp(latest, UTC).replace(tzinfo=None)
    return out


def times(root: Path | str) -> dict[str, datetime]:
    """Dataset id → when its folder last changed on the first-parent chain of ``HEAD`` (naive UTC, seconds);
    datasets removed from the catalogue included (the time of their removal). Empty outside a git work tree."""
    cmd = ["git", "--no-replace-objects", "-c", "log.showSignature=false", "-c", "core.quotePath=true",
           "-C", str(root), "log", "--first-parent", "--diff-merges=first-parent", "--reverse",
           "--format=%x00%ct", "--name-only", "--no-renames", "HEAD", "--", "datasets"]
    try:
        proc = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace", timeout=300,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse(proc.stdout) if proc.returncode == 0 else {}


def deleted_record(root: Path | str) -> str:
    """What Identify's ``deletedRecord`` can promise for the catalogue at ``root``: ``persistent`` with the whole
    history (a removed entry is remembered for as long as git keeps it), ``transient`` in a shallow clone (which
    forgets removals older than its depth), ``no`` outside a git work tree."""
    cmd = ["git", "-C", str(root), "rev-parse", "--is-shallow-repository"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return "no"
    if proc.returncode != 0:
        return "no"
    return "transient" if proc.stdout.strip() == "true" else "persistent"
