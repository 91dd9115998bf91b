"""What every renderer needs besides the records: where the site lives and which day it is."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import yaml

from ..records.history import Version
from ..records.model import Catalogue, Dataset, Facility

DEFAULT_SITE_URL = "https://catalogue.openem.ch/"
PUBLISHER = "OpenEM – Swiss network of electron-microscopy facilities"
#: Where the OpenEM store is published when mkdocs.yml does not say: next to the site.
DEFAULT_STORE_URL = "store/"
#: Sets the site URL of one build or `mkdocs serve` (as `openem build --site-url` does).
SITE_URL_ENV = "OPENEM_SITE_URL"


class SettingsError(ValueError):
    """mkdocs.yml (or the environment) gives a site or store setting that cannot work; the message says which."""


@dataclass(frozen=True)
class Settings:
    """The catalogue's site-wide settings, from ``mkdocs.yml`` (``site_url``, ``site_name``, and the ``openem``
    plugin's options)."""

    site_url: str = DEFAULT_SITE_URL
    site_name: str = "OpenEM catalogue"
    publisher: str = PUBLISHER
    publisher_ror: str | None = None
    #: Where `openem publish` writes the store: a folder (relative to the catalogue) or s3://bucket/prefix.
    store: str | None = None
    #: The store's public URL; relative: under the site, and the site build serves it from ``store``.
    store_url: str = DEFAULT_STORE_URL
    store_endpoint: str | None = None

    @property
    def store_public_url(self) -> str:
        """The store's absolute public URL (no trailing slash)."""
        return urljoin(self.site_url, self.store_url).rstrip("/")

    @property
    def store_served_by_site(self) -> bool:
        return not urlsplit(self.store_url).scheme


class _ConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring the Python tags some of its extensions use."""


_ConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def check_site_url(url: str) -> str:
    """``url`` as a site URL (http(s), ending in '/'), or SettingsError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment or \
            re.search(r"[\s'\"<>`\\]", url):
        raise SettingsError(f"{url!r} is not a site URL: give an http(s) URL such as https://catalogue.example.org/")
    return url if url.endswith("/") else url + "/"


def read_settings(root: Path, config: str = "mkdocs.yml") -> Settings:
    """The settings in ``root/config`` (defaults where it is silent or absent)."""
    path = root / config
    if not path.is_file():
        return Settings()
    try:
        cfg = yaml.load(path.read_text("utf-8"), Loader=_ConfigLoader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from None
    if not isinstance(cfg, dict):
        raise SettingsError(f"{path} is not a MkDocs configuration")
    options: dict = {}
    for plugin in cfg.get("plugins") or []:
        if isinstance(plugin, dict) and isinstance(plugin.get("openem"), dict):
            options = plugin["openem"]
    values = {"site_url": cfg.get("site_url"), "site_name": cfg.get("site_name"), **{
        k: options.get(k) for k in ("publisher", "publisher_ror", "store", "store_url", "store_endpoint")}}
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise SettingsError(f"{path}: {name} must be text, not {value!r}")
    found = Settings(**{k: v for k, v in values.items() if v})
    return Settings(**{**found.__dict__, "site_url": check_site_url(found.site_url)})


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
    #: The site's own URL (mkdocs.yml) when this build is served at another one (``--site-url``, `mkdocs serve`):
    #: absolute URLs under it, the store's included, are rebased to ``site_url``.
    canonical_url: str | None = None
    #: The OpenEM store's canonical public URL (no trailing slash), when the catalogue has one.
    store_url: str | None = None

    def rebase(self, url: str) -> str:
        """``url`` as this build serves it: what lies under the site's own address moves with the site."""
        base = self.canonical_url
        if not base or base == self.site_url or not url:
            return url
        for prefix in ("", "ria+"):
            if url.startswith(prefix + base):
                return prefix + self.site_url + url[len(prefix + base):]
            if url.startswith(prefix + base.rstrip("/")) and url[len(prefix + base.rstrip("/")):][:1] in ("#", ""):
                return prefix + self.site_url.rstrip("/") + url[len(prefix + base.rstrip("/")):]
        return url

    def url(self, path: str = "") -> str:
        """Absolute URL of a site path such as ``datasets/x/``."""
        return self.site_url.rstrip("/") + "/" + path.lstrip("/")

    def dataset_path(self, dataset: Dataset) -> str:
        return f"datasets/{dataset.id}/"

    def dataset_url(self, dataset: Dataset) -> str:
        return self.url(self.dataset_path(dataset))

    def facility(self, dataset: Dataset) -> Facility:
        return self.catalogue.facilities[dataset.facility]


#: The latest ``SOURCE_DATE_EPOCH`` taken (2106-02-07T06:28:15Z): MkDocs writes it into the gzip header of
#: sitemap.xml.gz, which holds 32 bits.
MAX_EPOCH = 2**32 - 1


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH``: the seconds since 1970-01-01 UTC, or None when it is unset or empty.

    As the specification (reproducible-builds.org) asks, a malformed value is an error, never guessed at: only
    ASCII digits, no sign, fraction or blanks, and at most :data:`MAX_EPOCH`. Raises SettingsError (one line).
    """
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    # [0-9], not \d (which takes other scripts' digits); the length first, so int() never reads a huge string.
    if len(value) <= len(str(MAX_EPOCH)) and re.fullmatch(r"[0-9]+", value) and int(value) <= MAX_EPOCH:
        return int(value)
    shown = repr(value[:40] + ("…" if len(value) > 40 else ""))
    raise SettingsError(f"SOURCE_DATE_EPOCH={shown} is not a time: give the seconds since 1970-01-01 UTC in digits "
                        f"(0 to {MAX_EPOCH}, i.e. up to 2106-02-07; e.g. `git log -1 --format=%ct`), or unset it "
                        "to date the build by the last commit")


def build_date(root: Path) -> date:
    """The day a build describes: ``SOURCE_DATE_EPOCH``, else the last commit, else 1970-01-01.

    Never the wall clock, so that two builds of one commit are identical. A malformed ``SOURCE_DATE_EPOCH``
    raises SettingsError (see :func:`source_date_epoch`).
    """
    epoch = source_date_epoch()
    if epoch is not None:
        return datetime.fromtimestamp(epoch, UTC).date()
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if re.fullmatch(r"[0-9]{1,12}", out) and int(out) <= MAX_EPOCH:  # (a crafted commit may claim any time)
        return datetime.fromtimestamp(int(out), UTC).date()
    return date(1970, 1, 1)
