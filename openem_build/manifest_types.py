"""The format of ``manifest.json`` as compiled msgspec types: what :func:`openem_build.manifest.parse` decodes a
manifest into, checking every row in C as it reads.

The types say what each value may be (the patterns, lengths and ranges of ``schema/manifest.schema.json``, which
documents the format; ``tests/test_manifest.py`` checks that both agree). Fields a row may leave out default to
``UNSET``, so that a decoded manifest encodes back to exactly the members its text had (see
:func:`members_dropped`). What a type cannot say (that a key agrees with the size and checksum beside it, that a
path is not listed twice, the character checks of :mod:`openem_build.textcheck`, header facts) is checked by
:mod:`openem_build.manifest` on the decoded rows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .data.annex import DIGEST_LENGTH

#: The largest file size a manifest may state (git-annex's sizes are 64-bit).
MAX_SIZE = (1 << 63) - 1

# (Patterns end with \Z, not $: msgspec matches with re.search, and $ also matches before a final newline.)
#: A relative path inside the dataset: '/'-separated parts, none empty, '.' or '..', no control character.
Path = Annotated[str, Meta(min_length=1, max_length=4096,
                           pattern=r"^(?!\.\.?(?:/|\Z))[^/\x00-\x1f\x7f]+(?:/(?!\.\.?(?:/|\Z))[^/\x00-\x1f\x7f]+)*\Z")]
Size = Annotated[int, Meta(ge=0, le=MAX_SIZE)]
#: A git-annex key: ``BACKEND[-fields]--name`` (e.g. ``MD5E-s1024--<md5>.mrc``).
Key = Annotated[str, Meta(max_length=1024, pattern=r"^[A-Z0-9_]+(-[a-zA-Z][0-9]{1,20})*--[^\x00-\x20/\x7f]+\Z")]
#: A URL of any scheme, without whitespace, quotes, angle brackets, backquotes or backslashes.
Url = Annotated[str, Meta(max_length=4096, pattern=r"""^[A-Za-z][A-Za-z0-9+.-]*:[^\s"'<>`\\]+\Z""")]
Commit = Annotated[str, Meta(pattern=r"^[0-9a-f]{40}\Z")]
DataladId = Annotated[str, Meta(pattern=r"^[0-9a-f-]{36}\Z")]


def _hex(length: int) -> Any:
    """A checksum: ``length`` lowercase hex digits."""
    return Annotated[str, Meta(pattern=f"^[0-9a-f]{{{length}}}\\Z")]


#: Every field of a file row and the type of its value, in the order problems are reported. A checksum may be
#: null (no value known); ``key`` is null for a file kept in git itself.
ROW_TYPES: dict[str, Any] = {
    "path": Path,
    "size": Size | None,
    "key": Key | None,
    **{algo: _hex(length) | None for algo, length in DIGEST_LENGTH.items()},
    "urls": list[Url],
    "headers": dict[str, Any] | None,
}
#: Checksum algorithms, in the order of the file format.
ALGORITHMS = tuple(DIGEST_LENGTH)
#: The fields of the top-level object.
TOP_TYPES: dict[str, Any] = {"manifest_version": Literal[1], "commit": Commit, "datalad_id": DataladId | None,
                             "files": list}


def _row_struct(name: str, types: dict[str, Any]) -> Any:
    """A struct of the row fields ``types``: ``path`` required, every other field may be left out (UNSET).
    Attribute names are the field names with '-' as '_' (``sha3_256`` for ``sha3-256``). gc=False: rows hold no
    reference cycles."""
    return msgspec.defstruct(
        name, [("path", types["path"]), *((field.replace("-", "_"), kind | UnsetType, UNSET)
                                          for field, kind in types.items() if field != "path")],
        rename={field.replace("-", "_"): field for field in types}, forbid_unknown_fields=True, gc=False,
        module=__name__)


#: One row of ``files``.
FileRow = _row_struct("FileRow", ROW_TYPES)
#: A row of a manifest already validated: the same fields without the checks (decoded five times faster).
TrustedRow = _row_struct("TrustedRow", {**dict.fromkeys(ROW_TYPES, str | None), "path": str, "size": int | None,
                                        "urls": list[str], "headers": dict[str, Any] | None})
#: Attribute names of the checksum fields of FileRow, with their algorithms.
CHECKSUM_ATTRIBUTES = tuple((algo.replace("-", "_"), algo) for algo in ALGORITHMS)


class ManifestDoc(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A whole ``manifest.json``."""

    manifest_version: Literal[1]
    commit: Commit
    files: list[FileRow]  # type: ignore[valid-type]
    datalad_id: DataladId | None | UnsetType = UNSET


class TrustedDoc(msgspec.Struct, gc=False):
    """A whole ``manifest.json`` that was validated before."""

    files: list[TrustedRow]  # type: ignore[valid-type]


#: Decodes a manifest's text, checking it against the types above (raises msgspec.DecodeError for broken
#: JSON, msgspec.ValidationError for a value of the wrong type; the first problem only).
DECODER = msgspec.json.Decoder(ManifestDoc)
#: Decodes the text of a manifest known to be valid (the build reading its files again).
TRUSTED_DECODER = msgspec.json.Decoder(TrustedDoc)
_ENCODER = msgspec.json.Encoder()


def fits(value: Any, kind: Any) -> bool:
    """Whether the (JSON-decoded) ``value`` is of the type ``kind`` (one of ROW_TYPES or TOP_TYPES)."""
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return False
    return True


def members_dropped(text: str, doc: ManifestDoc) -> bool:
    """Whether ``text``, which decoded to ``doc``, may have had an object member that decoding dropped: a key
    twice in one object, of which msgspec keeps the last (https://github.com/msgspec/msgspec/issues/648).

    Every ':' of JSON text separates a key from its value or lies in a string. Encoded again, ``doc`` has every
    member it was decoded from once (left-out fields stay out: UNSET) and the same strings, so it has as many
    ':' as ``text`` unless a member was dropped. A ``\\u`` escape can write a ':' the text does not show: then
    the answer is True (may), and the caller checks the hard way.
    """
    return "\\u" in text or _ENCODER.encode(doc).count(b":") != text.count(":")
