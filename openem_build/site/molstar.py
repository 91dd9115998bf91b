"""The Mol* viewer bundled into the site (an I/O edge): the prebuilt ``molstar.js`` and ``molstar.css`` of the
npm package ``molstar`` (``node_modules/molstar/build/viewer/``, installed by ``npm ci`` from the catalogue's
``package.json``), copied into ``site/assets/molstar/`` with the package's licence. Nothing is fetched from
another host: landing pages with a map load these copies (``overrides/assets/openem/mapviewer.js``).

Without the package (no npm on the machine) the build still succeeds: pages then say that this build has no 3D
viewer, and the build says so once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("mkdocs.plugins.openem")

#: Where the bundle goes in the site, relative to its root.
SITE_DIR = "assets/molstar"
FILES = ("molstar.js", "molstar.css")
#: A folder holding molstar.js and molstar.css, instead of node_modules/molstar/build/viewer.
ENV = "OPENEM_MOLSTAR_DIR"
_PACKAGE = Path(__file__).resolve().parent.parent.parent  # (a source checkout: its node_modules)
_said: set[str] = set()


def find(root: Path) -> Path | None:
    """The folder of the viewer bundle: $OPENEM_MOLSTAR_DIR, else ``node_modules/molstar/build/viewer`` in the
    catalogue ``root`` or in the source checkout of this package; None when none holds both files."""
    override = os.environ.get(ENV)
    candidates = [Path(override)] if override else [
        base / "node_modules" / "molstar" / "build" / "viewer" for base in (root, _PACKAGE)]
    for folder in candidates:
        if all((folder / name).is_file() and not (folder / name).is_symlink() for name in FILES):
            return folder
    if "missing" not in _said:
        _said.add("missing")
        log.warning("openem: the Mol* viewer (npm package molstar) is not installed: landing pages are built "
                    "without the 3D map viewer (`npm ci` in the catalogue's folder installs it; `make site` runs it "
                    "when npm is there)")
    return None


def version(folder: Path) -> str:
    """The bundle's package version (for the page cache's key), or empty text."""
    try:
        return str(json.loads((folder.parent.parent / "package.json").read_text("utf-8")).get("version", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def copy_to_site(folder: Path, site: Path) -> None:
    """Copy the bundle (and the package's licence) into ``site/assets/molstar/``."""
    target = site / SITE_DIR
    target.mkdir(parents=True, exist_ok=True)
    pairs = [(folder / name, target / name) for name in FILES]
    licence = folder.parent.parent / "LICENSE"
    if licence.is_file():
        pairs.append((licence, target / "LICENSE.txt"))
    for source, dest in pairs:
        # (Under `mkdocs serve --dirty` every rebuild comes here: an unchanged copy is left as it is.)
        have, want = (dest.stat() if dest.is_file() else None), source.stat()
        if have is None or (have.st_size, have.st_mtime_ns) != (want.st_size, want.st_mtime_ns):
            shutil.copy2(source, dest)
