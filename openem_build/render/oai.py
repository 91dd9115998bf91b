"""What the OAI-PMH endpoint (``openem oai serve``, :mod:`openem_build.site.oaiserve`) serves, written into the site.

- ``oai/records/<id>/oai_dc.xml`` and ``oai/records/<id>/oai_datacite.xml``: each dataset's record in both
  metadata formats (a dataset producer, :func:`record_artefacts`). ``oai_datacite`` is the DataCite kernel-4
  ``resource`` itself (as in the OpenAIRE guidelines for data archives), the same XML as
  ``datasets/<id>/datacite.xml``.
- ``oai/index.json`` (:func:`artefacts`): the repository's description, its metadata formats and sets, and one
  entry per record: identifier, datestamp, sets, and whether it was deleted.

Datestamps are seconds (granularity ``YYYY-MM-DDThh:mm:ssZ``): when a dataset's folder last changed on the
catalogue's trusted git history (:mod:`openem_build.records.changes`), handed in by the build, else midnight of
``dates.modified`` or ``dates.published``. A dataset the history knows (it has published versions, see
:mod:`openem_build.records.history`) but the catalogue no longer holds is a deleted record, dated when it was removed;
git keeps them, so ``deletedRecord`` is ``persistent`` (``transient`` when built from a shallow clone). Sets:
``facility:<facility id>`` and ``technique:<technique>``, under the sets ``facility`` and ``technique``.

There is no static repository file (``oai/static.xml``) any more: the static-repository rules want its
``baseURL`` to be a gateway's URL joined with the file's, and no gateway serves it (docs/api.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from ..infra import jsontext
from ..infra.context import SiteContext
from ..infra.urls import doi_url
from ..records.licenses import license_name, license_url
from ..records.markdown import to_text
from ..records.model import Dataset
from . import datacite, xmltext
from .citation import one_line, publisher
from .jsonld import TECHNIQUE_LABELS
from .registry import Artefact, per_dataset

INDEX = "oai/index.json"
RECORDS = "oai/records"
#: What ``oai/index.json`` is (the endpoint refuses an index of another form).
INDEX_FORMAT = "openem-oai-index/1"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI = f"{{{XSI_NS}}}schemaLocation"
#: Where harvesting problems are reported (Identify's adminEmail).
ADMIN_EMAIL = "catalogue@openem.ch"

FORMATS = (
    ("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC_NS),
    ("oai_datacite", "http://schema.datacite.org/meta/kernel-4/metadata.xsd", datacite.KERNEL_NS),
)
#: The parent sets, above ``facility:<id>`` and ``technique:<technique>``.
SET_GROUPS = {"facility": "Facilities", "technique": "Techniques"}
#: One setSpec part (OAI-PMH's setSpecType, without the colon).
_SPEC_PART = re.compile(r"^[A-Za-z0-9\-_.!~*'()]+$")


def repository_identifier(ctx: SiteContext) -> str:
    return urlsplit(ctx.site_url).hostname or "catalogue.openem.ch"


def oai_identifier(ctx: SiteContext, ident: str) -> str:
    """The OAI identifier of the dataset ``ident`` (``oai:<site host>:<id>``)."""
    return f"oai:{repository_identifier(ctx)}:{ident}"


def record_path(ident: str, prefix: str) -> str:
    """Where the site holds the record of dataset ``ident`` in the metadata format ``prefix``."""
    return f"{RECORDS}/{ident}/{prefix}.xml"


def datestamp(when: datetime) -> str:
    """An OAI-PMH datestamp (UTC, seconds) of a naive UTC time."""
    return when.replace(microsecond=0).isoformat() + "Z"


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    """A child element; its text and attributes without what XML cannot carry (lxml would raise)."""
    el = etree.SubElement(parent, f"{{{ns}}}{name}", {k: xmltext.clean(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xmltext.clean(text)
    return el


def dublin_core(ctx: SiteContext, d: Dataset) -> etree._Element:
    """The simple Dublin Core record (``oai_dc:dc``) of a dataset."""
    dc = etree.Element(f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS})
    dc.set(XSI, f"{OAI_DC_NS} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")
    lang = "{http://www.w3.org/XML/1998/namespace}lang"

    def add(name: str, text: str, en: bool = False) -> None:
        el = _sub(dc, DC_NS, name, text)
        if en:
            el.set(lang, "en")

    add("title", one_line(d.title), en=True)
    for p in d.authors:
        add("creator", one_line(p.name))
    for k in d.keywords:
        add("subject", one_line(k), en=True)
    add("subject", TECHNIQUE_LABELS.get(d.technique, d.technique), en=True)
    add("description", to_text(d.description) or one_line(d.description), en=True)
    add("publisher", one_line(publisher(ctx, d)))
    add("contributor", one_line(ctx.facility(d).name))
    add("date", d.dates.published.isoformat())
    add("type", "Dataset")
    for fmt in sorted({s.format for s in d.data.image_sets}):
        add("format", fmt)
    if d.doi_url:
        add("identifier", d.doi_url)
    add("identifier", ctx.dataset_url(d))
    add("language", "en")
    for pub in d.related.publications:
        if pub.doi:
            add("relation", doi_url(pub.doi))
    add("rights", license_url(d.license))
    add("rights", license_name(d.license))
    if d.is_embargoed:
        until = f" until {d.embargo_until.isoformat()}" if d.embargo_until else ""
        add("rights", "info:eu-repo/semantics/embargoedAccess")
        add("rights", f"Access to the files is restricted{until} (embargo); the metadata are public.", en=True)
    else:
        add("rights", "info:eu-repo/semantics/openAccess")
    return dc


@per_dataset(90)
def record_artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    """The dataset's record in each metadata format (``oai/records/<id>/<prefix>.xml``)."""
    dc = etree.tostring(dublin_core(ctx, d), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return [Artefact(record_path(d.id, "oai_dc"), dc, media_type="application/xml"),
            Artefact(record_path(d.id, "oai_datacite"), datacite.xml(ctx, d), media_type="application/xml")]


def _sets(facility: Any, technique: Any) -> list[str]:
    return [f"{group}:{value}" for group, value in (("facility", facility), ("technique", technique))
            if isinstance(value, str) and _SPEC_PART.match(value)]


def index(ctx: SiteContext, times: Mapping[str, datetime] | None = None, deleted_record: str = "persistent",
          ) -> dict[str, Any]:
    """The endpoint's index (``oai/index.json``) as data; ``times``: dataset id → when its folder last changed
    in git (naive UTC), removed datasets included; ``deleted_record``: Identify's promise about them (both from
    :mod:`openem_build.records.changes`)."""
    times = times or {}
    records: list[dict[str, Any]] = []
    for d in ctx.catalogue.datasets:
        when = times.get(d.id) or datetime.combine(d.dates.modified or d.dates.published, time())
        records.append({"identifier": oai_identifier(ctx, d.id), "id": d.id, "datestamp": datestamp(when),
                        "sets": _sets(d.facility, d.technique), "deleted": False})
    current = {d.id for d in ctx.catalogue.datasets}
    for ident, versions in sorted(ctx.histories.items()):
        if ident in current or not versions:
            continue
        last = versions[-1]
        record = last.record if isinstance(last.record, Mapping) else {}
        when = times.get(ident) or datetime.combine(last.first_seen, time())
        records.append({"identifier": oai_identifier(ctx, ident), "id": ident, "datestamp": datestamp(when),
                        "sets": _sets(record.get("facility"), record.get("technique")), "deleted": True})
    records.sort(key=lambda r: (r["datestamp"], r["identifier"]))
    used = sorted({spec for r in records for spec in r["sets"]})
    sets = [{"setSpec": group, "setName": name} for group, name in sorted(SET_GROUPS.items())
            if any(spec.startswith(group + ":") for spec in used)]
    for spec in used:
        group, _, value = spec.partition(":")
        facility = ctx.catalogue.facilities.get(value) if group == "facility" else None
        name = facility.name if facility is not None else TECHNIQUE_LABELS.get(value, value)
        sets.append({"setSpec": spec, "setName": one_line(name)})
    earliest = min((r["datestamp"] for r in records), default=datestamp(datetime.combine(ctx.build_date, time())))
    return xmltext.clean_all({
        "format": INDEX_FORMAT,
        "repositoryName": ctx.site_name,
        "repositoryIdentifier": repository_identifier(ctx),
        "siteURL": ctx.site_url,
        "adminEmail": ADMIN_EMAIL,
        "earliestDatestamp": earliest,
        "granularity": GRANULARITY,
        "deletedRecord": deleted_record,
        "metadataFormats": [{"metadataPrefix": p, "schema": s, "metadataNamespace": n} for p, s, n in FORMATS],
        "sets": sets,
        "records": records,
    })


def artefacts(ctx: SiteContext, times: Mapping[str, datetime] | None = None, deleted_record: str = "persistent",
              ) -> list[Artefact]:
    """``oai/index.json`` (arguments: see :func:`index`)."""
    text = jsontext.dumps(index(ctx, times, deleted_record), indent=1) + "\n"
    return [Artefact(INDEX, text, media_type="application/json")]
