"""The OAI-PMH repository of a built site, for the ``oaipmh`` library's server (:mod:`openem_build.site.oaiserve`).

Everything comes from what ``openem build`` wrote (:mod:`openem_build.render.oai`): ``oai/index.json`` (the
records' identifiers, datestamps, sets and deleted flags) and ``oai/records/<id>/<prefix>.xml``. No database:
the index is read once per build of the site, a record file per record sent.

The library's ``ServerBase`` parses the request (arguments, ``from``/``until`` and their granularity) and writes
the response; this class answers the six verbs in its ``ResumptionOAIPMH`` form, which leaves resumption
tokens to it. A token is the library's (the request's arguments and a cursor, URL-encoded) plus the digest of the
index it was issued for: a token from another build of the site (stale), or one that was not issued at all
(garbled, another cursor, other arguments), is a ``badResumptionToken``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from oaipmh import common, error
from oaipmh.server import decodeResumptionToken, encodeResumptionToken

from ..render import oai

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"
#: The arguments a token carries (``from_``: the library's name for ``from``).
_TOKEN_KEYS = frozenset({"metadataPrefix", "from_", "until", "set", "state"})
_ID_NS = "http://www.openarchives.org/OAI/2.0/oai-identifier"
#: oai-identifier.xsd's repositoryIdentifier: a domain name (a site on an IP address has no such description).
_DOMAIN = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z][a-zA-Z0-9-]*)+$")
# The site's own files, parsed without entities or network access all the same.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class SiteError(ValueError):
    """The folder is not a site built by ``openem build`` with an OAI-PMH index, or its index is damaged."""


@dataclass(frozen=True)
class Entry:
    """One record of the index."""

    identifier: str
    id: str
    datestamp: datetime  # naive UTC
    sets: tuple[str, ...]
    deleted: bool


def _entry(raw: Any, where: str) -> Entry:
    try:
        entry = Entry(str(raw["identifier"]), str(raw["id"]), datetime.strptime(raw["datestamp"], _STAMP),
                      tuple(str(s) for s in raw["sets"]), bool(raw["deleted"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SiteError(f"{where}: a record entry is malformed ({exc}); build the site again") from exc
    if not _ID.match(entry.id):
        raise SiteError(f"{where}: {entry.id!r} is not a dataset id; build the site again")
    return entry


class Repository:
    """The records of the site at ``site``, served at ``base_url``, ``page_size`` to a list response."""

    def __init__(self, site: Path, base_url: str | None = None, page_size: int = 100) -> None:
        path = site / oai.INDEX
        try:
            raw = path.read_bytes()
            data = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise SiteError(f"{path}: cannot be read ({exc}); is {site} a site built by `openem build`?") from exc
        if not isinstance(data, dict) or data.get("format") != oai.INDEX_FORMAT:
            raise SiteError(f"{path}: not an OpenEM OAI-PMH index ({oai.INDEX_FORMAT}); build the site again")
        if page_size < 1:
            raise SiteError(f"the page size must be at least 1, not {page_size}")
        self.site, self.page_size, self.info = site, page_size, data
        self.state = hashlib.sha256(raw).hexdigest()[:16]
        self.base_url = base_url or str(data.get("siteURL", "")).rstrip("/") + "/oai"
        self.entries = [_entry(r, str(path)) for r in data.get("records", [])]
        self.by_identifier = {e.identifier: e for e in self.entries}
        if len(self.by_identifier) != len(self.entries):
            raise SiteError(f"{path}: an identifier is listed twice; build the site again")
        self.formats = [(f["metadataPrefix"], f["schema"], f["metadataNamespace"])
                        for f in data.get("metadataFormats", [])]
        self.prefixes = frozenset(p for p, _, _ in self.formats)
        self.sets = [(s["setSpec"], s["setName"], []) for s in data.get("sets", [])]

    # ------------------------------------------------------------------------------------------ the verbs

    def identify(self) -> common.Identify:
        earliest = datetime.strptime(self.info["earliestDatestamp"], _STAMP)
        found = common.Identify(self.info["repositoryName"], self.base_url, "2.0", [self.info["adminEmail"]],
                                earliest, self.info["deletedRecord"], self.info["granularity"], ["identity"],
                                toolkit_description=False)
        host = str(self.info.get("repositoryIdentifier", ""))
        if _DOMAIN.match(host):
            found.add_description(self._identifier_description(host))
        return found

    def _identifier_description(self, host: str) -> str:
        root = etree.Element(f"{{{_ID_NS}}}oai-identifier", nsmap={None: _ID_NS, "xsi": oai.XSI_NS})
        root.set(oai.XSI, f"{_ID_NS} http://www.openarchives.org/OAI/2.0/oai-identifier.xsd")
        sample = self.entries[0].identifier if self.entries else f"oai:{host}:dataset-id"
        for name, text in (("scheme", "oai"), ("repositoryIdentifier", host), ("delimiter", ":"),
                           ("sampleIdentifier", sample)):
            etree.SubElement(root, f"{{{_ID_NS}}}{name}").text = text
        return etree.tostring(root, encoding="unicode")

    def listMetadataFormats(self, identifier: str | None = None) -> list[tuple[str, str, str]]:  # noqa: N802
        if identifier is not None and identifier not in self.by_identifier:
            raise error.IdDoesNotExistError(f"{identifier} is not an identifier of this repository")
        return self.formats

    def listSets(self, resumptionToken: str | None = None) -> tuple[list[Any], None]:  # noqa: N802, N803
        if resumptionToken is not None:
            raise error.BadResumptionTokenError("this repository issues no resumption tokens for ListSets")
        if not self.sets:
            raise error.NoSetHierarchyError("this repository has no sets (it holds no records)")
        return self.sets, None

    def getRecord(self, identifier: str, metadataPrefix: str) -> tuple[common.Header, Any, None]:  # noqa: N802, N803
        entry = self.by_identifier.get(identifier)
        if entry is None:
            raise error.IdDoesNotExistError(f"{identifier} is not an identifier of this repository")
        self._check_prefix(metadataPrefix)
        return self._record(entry, metadataPrefix)

    def listIdentifiers(self, **kw: Any) -> tuple[list[common.Header], str | None]:  # noqa: N802
        entries, token, _prefix = self._page(kw)
        return [_header(e) for e in entries], token

    def listRecords(self, **kw: Any) -> tuple[list[tuple[common.Header, Any, None]], str | None]:  # noqa: N802
        entries, token, prefix = self._page(kw)
        return [self._record(e, prefix) for e in entries], token

    # ------------------------------------------------------------------------------------------ helpers

    def _check_prefix(self, prefix: str | None) -> str:
        if prefix not in self.prefixes:
            raise error.CannotDisseminateFormatError(
                f"metadataPrefix {prefix!r} is not one of this repository's: {', '.join(sorted(self.prefixes))}")
        return prefix  # type: ignore[return-value]

    def _record(self, entry: Entry, prefix: str) -> tuple[common.Header, Any, None]:
        if entry.deleted:
            return _header(entry), None, None
        path = self.site / oai.record_path(entry.id, prefix)
        return _header(entry), etree.parse(str(path), _PARSER).getroot(), None

    def _page(self, kw: Mapping[str, Any]) -> tuple[list[Entry], str | None, str]:
        """One page of the list the request (or its token) asks for, and the token for the rest: ``""`` (an
        empty token, ending the list) on the last page of a resumed list, None on a list of one page."""
        resumed = "resumptionToken" in kw
        args, cursor = self._decode(kw["resumptionToken"]) if resumed else (dict(kw), 0)
        prefix = self._check_prefix(args.get("metadataPrefix"))
        wanted = args.get("set")
        if wanted is not None and not self.sets:
            raise error.NoSetHierarchyError("this repository has no sets (it holds no records)")
        start, end = args.get("from_"), args.get("until")
        found = [e for e in self.entries
                 if (start is None or e.datestamp >= start) and (end is None or e.datestamp <= end)
                 and (wanted is None or any(s == wanted or s.startswith(wanted + ":") for s in e.sets))]
        if resumed and cursor >= len(found):
            raise error.BadResumptionTokenError("the resumption token points past the end of its list")
        stop = cursor + self.page_size
        if stop < len(found):
            token: str | None = encodeResumptionToken({**args, "state": self.state}, stop)
        else:
            token = "" if resumed else None
        return found[cursor:stop], token, prefix

    def _decode(self, token: str) -> tuple[dict[str, Any], int]:
        """A token's arguments and cursor, or badResumptionToken unless this repository issued it for this index."""
        try:
            args, cursor = decodeResumptionToken(token)
        except Exception as exc:  # (the library raises what its parsers raise: ValueError, DatestampError …)
            raise error.BadResumptionTokenError("the resumption token cannot be read") from exc
        if args.pop("state", None) != self.state:
            raise error.BadResumptionTokenError("the resumption token is not from this build of the repository "
                                                "(expired or changed): start the list again")
        if set(args) - _TOKEN_KEYS or "metadataPrefix" not in args or cursor <= 0:
            raise error.BadResumptionTokenError("the resumption token was not issued by this repository")
        if args["metadataPrefix"] not in self.prefixes:
            raise error.BadResumptionTokenError("the resumption token names an unknown metadataPrefix")
        return args, cursor


def _header(entry: Entry) -> common.Header:
    return common.Header(None, entry.identifier, entry.datestamp, list(entry.sets), entry.deleted)


def metadata_registry(prefixes: Iterable[str]) -> Any:
    """The library's registry of writers: each record's element goes into ``<metadata>`` as the site has it."""
    from oaipmh.metadata import MetadataRegistry

    registry = MetadataRegistry()
    for prefix in prefixes:
        registry.registerWriter(prefix, lambda element, metadata: element.append(metadata))
    return registry
