"""What every renderer needs besides the records: where the site lives and which day it is."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from .history import Version
from .model import Catalogue, Dataset, Facility

DEFAULT_SITE_URL = "https://catalogue.openem.ch/"
PUBLISHER = "OpenEM – Swiss network of electron-microscopy facilities"


@dataclass(frozen=True)
class SiteContext:
    """The catalogue plus site-wide settings. Renderers read nothing else (no files, no clock)."""

    catalogue: Catalogue
    site_url: str = DEFAULT_SITE_URL
    build_date: date = date(1970, 1, 1)
    publisher: str = PUBLISHER
    publisher_ror: str | None = None
    site_name: str = "OpenEM catalogue"
    #: Each dataset's versions from the catalogue's git history (see history.py), oldest first.
    histories: Mapping[str, tuple[Version, ...]] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        """Absolute URL of a site path such as ``datasets/x/``."""
        return self.site_url.rstrip("/") + "/" + path.lstrip("/")

    def dataset_path(self, dataset: Dataset) -> str:
        return f"datasets/{dataset.id}/"

    def dataset_url(self, dataset: Dataset) -> str:
        return self.url(self.dataset_path(dataset))

    def facility(self, dataset: Dataset) -> Facility:
        return self.catalogue.facilities[dataset.facility]


def build_date(root: Path) -> date:
    """The day a build describes: ``SOURCE_DATE_EPOCH``, else the last commit, else 1970-01-01.

    Never the wall clock, so that two builds of one commit are identical.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).date()
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if out.isdigit():
        return datetime.fromtimestamp(int(out), UTC).date()
    return date(1970, 1, 1)
