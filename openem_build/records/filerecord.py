"""One file of a dataset as a manifest lists it, and the order of checksum algorithms.

It imports nothing of the package: the git-annex adapter makes these records too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Checksum algorithms in the order a landing page prefers them (strongest and most common first).
CHECKSUM_PREFERENCE = ("sha256", "sha512", "sha384", "sha224", "sha3-256", "sha3-512", "sha3-384", "sha3-224",
                       "blake2b-256", "blake2b-512", "blake2b-384", "blake2b-224", "blake2b-160", "blake2s-256",
                       "blake2s-224", "blake2s-160", "blake3", "sha1", "md5")


@dataclass(frozen=True)
class ManifestFile:
    """One file of a dataset's DataLad dataset, as listed in ``datasets/<id>/manifest.json``."""

    path: str  # relative to the DataLad dataset's root, POSIX separators
    size: int | None = None  # bytes; None when git-annex does not know it (URL/WORM keys without size)
    key: str | None = None  # git-annex key; None for a file stored in git itself
    #: (algorithm, lowercase hex) pairs, e.g. (("md5", "…"),), in CHECKSUM_PREFERENCE order.
    checksums: tuple[tuple[str, str], ...] = ()
    #: Every URL git-annex knows for the content (web remote and other special remotes), sorted.
    urls: tuple[str, ...] = ()
    #: Facts read from the file's header (e.g. MRC dimensions), when extracted.
    headers: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        """The folder holding the file, '' at the dataset's root."""
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @property
    def checksum(self) -> tuple[str, str] | None:
        """The preferred (algorithm, hex digest) pair to show, or None when no checksum is known."""
        return self.checksums[0] if self.checksums else None

    def checksum_of(self, algorithm: str) -> str | None:
        return dict(self.checksums).get(algorithm)

    @property
    def web_urls(self) -> tuple[str, ...]:
        """The URLs a browser can download directly (http and https)."""
        return tuple(u for u in self.urls if u.startswith(("https://", "http://")))

    @property
    def download_urls(self) -> tuple[str, ...]:
        """:attr:`web_urls`, a RIA store's own copy first (``…/annex/objects/…``: the store the entry lives in, which
        serves every file), then the others."""
        web = self.web_urls
        return tuple(sorted(web, key=lambda u: "/annex/objects/" not in u)) if len(web) > 1 else web
