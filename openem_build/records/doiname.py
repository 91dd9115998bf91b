"""The DOI names the catalogue accepts and the ones it derives (pure: used by validation and ``openem doi``).

- **Syntax** (:data:`DOI`): ``10.<4 to 9 digits>/<suffix>``, the suffix made of ASCII letters, digits and
  ``- . _ ; ( ) : /`` (the characters Crossref and DataCite recommend for DOI suffixes) plus ``+`` (version
  strings may hold it), in ``/``-separated parts none of which is empty, ``.`` or ``..``. So a DOI holds no
  whitespace, control characters, percent-escapes, quotes, ``?``, ``#`` or path dot-segments, and put into a
  request path (each part percent-encoded, :func:`url_path`) it names exactly that DOI.
- **Derivation**: a dataset's DOI is ``<prefix>/openem.<id>`` and its version V's ``<concept>.v<V>``. The
  prefix is DataCite's for the catalogue's repository; it reaches ``openem doi`` only (``DATACITE_PREFIX`` or
  ``--prefix``), never validation, which reads no environment. So validation reserves the suffix form
  ``openem.<id>…`` under *every* prefix for dataset ``<id>`` itself (:func:`claim_problem`), and ``openem doi``,
  which knows the prefix, also refuses any other DOI under it. DOIs of other prefixes (an EMPIAR or Zenodo
  DOI the data already have) stay allowed.
- DOIs are case-insensitive: every comparison here folds case.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

PREFIX = re.compile(r"10\.\d{4,9}")
_CHARS = "A-Za-z0-9._;():+-"
_PART = rf"(?!\.\.?(?:/|$))[{_CHARS}]+"
#: The DOI syntax the catalogue accepts (use with ``fullmatch``).
DOI = re.compile(rf"10\.\d{{4,9}}/{_PART}(?:/{_PART})*")
MAX_LENGTH = 256
#: The suffix of every DOI the catalogue derives starts with this (``openem.<id>``).
OWN = "openem."
_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,63}")
#: What may follow ``openem.<id>`` in a DOI of that dataset: a version (``.v1.0``; version strings as in the schema).
_VERSION_TAIL = re.compile(r"\.v[0-9a-z][0-9a-z.+-]{0,31}")


def derived(prefix: str, ident: str) -> str:
    """The DOI the catalogue derives for dataset ``ident``: ``<prefix>/openem.<id>``."""
    return f"{prefix}/{OWN}{ident}"


def syntax_problem(doi: str) -> str | None:
    """Why ``doi`` is not in the form the catalogue accepts (a phrase to follow the DOI), or None."""
    if len(doi) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    prefix, slash, suffix = doi.partition("/")
    if not slash or not PREFIX.fullmatch(prefix):
        return "does not start with a DOI prefix (10. and 4 to 9 digits, then /)"
    for char in suffix:
        if char.isspace():
            return "contains whitespace"
        if unicodedata.category(char).startswith("C"):
            return f"contains the control character U+{ord(char):04X}"
        if char == "%":
            return "contains a percent-escape: write the DOI itself, not a URL-encoded form"
    for part in suffix.split("/"):
        if part in ("", ".", ".."):
            return (f"contains the path segment '{part}'" if part else
                    "has an empty part (// or a / at either end)")
    bad = next((c for c in suffix if not re.fullmatch(f"[{_CHARS}/]", c)), None)
    if bad is not None:
        return f"contains the character {bad!r}"
    return None if DOI.fullmatch(doi) else "is not a DOI"


def owner(doi: str) -> str | None:
    """The dataset id the suffix form ``openem.<id>…`` reserves ``doi`` for (case-folded), or None."""
    suffix = doi.partition("/")[2].casefold()
    if not suffix.startswith(OWN):
        return None
    return re.split(r"[./]", suffix[len(OWN):], maxsplit=1)[0]


def claim_problem(doi: str, ident: str, prefix: str | None = None) -> str | None:
    """Why dataset ``ident`` may not name ``doi`` as its own (a phrase to follow the DOI), or None.

    ``openem.<id>…`` suffixes (under any prefix) are reserved for dataset ``<id>``, which may name its derived
    DOI and version DOIs of it. With the catalogue's ``prefix``, no other DOI under that prefix is allowed.
    """
    name = owner(doi)
    if name is not None:
        if name != ident:
            if _ID.fullmatch(name):
                return f"is the DOI the catalogue derives for the dataset '{name}'"
            return f"uses the suffix form {OWN}<id>, which the catalogue reserves for its datasets' own DOIs"
        tail = doi.partition("/")[2].casefold()[len(OWN) + len(name):]
        if tail and not _VERSION_TAIL.fullmatch(tail):
            return f"is not a DOI the catalogue derives for this dataset ({OWN}{ident} or {OWN}{ident}.v<version>)"
        return None
    if prefix and doi.partition("/")[0] == prefix:
        return (f"is under the catalogue's prefix {prefix}, where only the DOI derived for this dataset "
                f"({derived(prefix, ident)}) may be named")
    return None


def overlap(a: str, b: str) -> bool:
    """Whether DOIs ``a`` and ``b`` are the same, or one is a version DOI (``.v…``) derived from the other."""
    a, b = a.casefold(), b.casefold()
    return a == b or a.startswith(b + ".v") or b.startswith(a + ".v")


def url_path(doi: str) -> str:
    """``doi`` as a URL path (each ``/``-separated part percent-encoded); ValueError unless it is in :data:`DOI`
    form, so the path can never climb (``..``) or end early (``?``, ``#``)."""
    problem = syntax_problem(doi)
    if problem:
        raise ValueError(f"{doi!r} {problem}")
    return "/".join(quote(part, safe="") for part in doi.split("/"))


def version_doi(concept: str, version: str) -> str:
    """The DOI of one version, derived from the concept DOI: ``<concept>.v<version>``."""
    return f"{concept}.v{version}"
