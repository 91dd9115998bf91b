"""git-annex keys, read without running anything: backend, size and checksum (``MD5E-s1024--<md5>.mrc``).

Pure functions and tables; the manifest rows and the file lists (:mod:`openem_build.data.annexfiles`) use them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..records.filerecord import CHECKSUM_PREFERENCE

#: git-annex backend (without the "E" extension suffix) → checksum algorithm name used in manifests.
BACKEND_ALGORITHMS: Mapping[str, str] = {
    "MD5": "md5", "SHA1": "sha1", "SHA224": "sha224", "SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512",
    "SHA3_224": "sha3-224", "SHA3_256": "sha3-256", "SHA3_384": "sha3-384", "SHA3_512": "sha3-512",
    "BLAKE2B160": "blake2b-160", "BLAKE2B224": "blake2b-224", "BLAKE2B256": "blake2b-256",
    "BLAKE2B384": "blake2b-384", "BLAKE2B512": "blake2b-512", "BLAKE2S160": "blake2s-160",
    "BLAKE2S224": "blake2s-224", "BLAKE2S256": "blake2s-256", "BLAKE3": "blake3",
}
#: Hex digest length of each algorithm.
DIGEST_LENGTH: Mapping[str, int] = {
    "md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128, "sha3-224": 56,
    "sha3-256": 64, "sha3-384": 96, "sha3-512": 128, "blake2b-160": 40, "blake2b-224": 56, "blake2b-256": 64,
    "blake2b-384": 96, "blake2b-512": 128, "blake2s-160": 40, "blake2s-224": 56, "blake2s-256": 64, "blake3": 64,
}
#: What files kept in git (not in the annex) are hashed with.
GIT_FILE_ALGORITHMS = ("sha256", "md5")

_KEY = re.compile(r"(?P<backend>[A-Z0-9_]+)(?P<fields>(?:-[a-zA-Z][0-9]{1,20})*)--(?P<name>.+)", re.S)
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class KeyInfo:
    """What a git-annex key says about its content: backend, size and checksum (when the backend hashes)."""

    backend: str
    size: int | None
    checksums: tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=64)  # a few backends in practice; hostile keys make many
def backend_algorithm(backend: str) -> tuple[str | None, bool]:
    """The checksum algorithm a key backend names (None for WORM, URL, …) and whether its keys end with the
    file's extension (``MD5E``: the digest is the name up to the first dot)."""
    base = backend if backend in BACKEND_ALGORITHMS else backend[:-1] if backend.endswith("E") else ""
    algo = BACKEND_ALGORITHMS.get(base)
    return algo, algo is not None and base != backend


def parse_key(key: str) -> KeyInfo | None:
    """Split a git-annex key such as ``MD5E-s1024--d41d8cd98f00b204e9800998ecf8427e.mrc``; None if malformed."""
    m = _KEY.fullmatch(key)
    if not m:
        return None
    backend, fields, name = m.groups()
    size = None
    if fields:
        for part in fields.split("-")[1:]:
            if part[0] == "s":
                size = int(part[1:])
    algo, extension = backend_algorithm(backend)
    checksums: tuple[tuple[str, str], ...] = ()
    if algo:
        digest = name.split(".", 1)[0] if extension else name
        if len(digest) == DIGEST_LENGTH[algo] and _HEX.fullmatch(digest):
            checksums = ((algo, digest),)
    return KeyInfo(backend, size, checksums)


_RANK = {a: i for i, a in enumerate(CHECKSUM_PREFERENCE)}


def order_checksums(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    merged = dict(pairs)
    if len(merged) < 2:
        return tuple(merged.items())
    return tuple(sorted(merged.items(), key=lambda kv: (_RANK.get(kv[0], len(_RANK)), kv[0])))
