"""An OAI-PMH static repository (``oai/static.xml``) with ``oai_dc`` and ``oai_datacite`` records.

The format is the Open Archives "Static Repository" (one XML file: Identify, ListMetadataFormats and one
ListRecords per metadata format). Any OAI-PMH static repository gateway can serve it to harvesters (DataCite,
OpenAIRE, BASE …), which then see an ordinary OAI-PMH endpoint. ``oai_datacite`` records carry the DataCite
kernel-4 ``resource`` element itself (as in the OpenAIRE guidelines for data archives), the same XML as
``datasets/<id>/datacite.xml``.

Datestamps are days (granularity ``YYYY-MM-DD``): the day a dataset's files last changed in git, handed in
by the build (:func:`artefacts`), else ``dates.modified`` or ``dates.published``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import BinaryIO
from urllib.parse import urlsplit

from lxml import etree

from ..artefacts import Streamed
from ..context import SiteContext
from ..licenses import license_name, license_url
from ..model import Dataset
from ..urls import doi_url
from . import datacite, xmltext
from .citation import one_line, publisher
from .jsonld import TECHNIQUE_LABELS
from .markdown import to_text

PATH = "oai/static.xml"
SR_NS = "http://www.openarchives.org/OAI/2.0/static-repository"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
ID_NS = "http://www.openarchives.org/OAI/2.0/oai-identifier"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI = f"{{{XSI_NS}}}schemaLocation"
#: Where harvesting problems are reported. Must be a real mailbox before registering with a gateway.
ADMIN_EMAIL = "catalogue@openem.ch"
#: The static repository gateway serving the file, when one is registered: the OAI-PMH base URL is then the
#: gateway's URL followed by the file's URL without ``http(s)://`` (OAI static repository specification).
GATEWAY: str | None = None

FORMATS = (
    ("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC_NS),
    ("oai_datacite", "http://schema.datacite.org/meta/kernel-4/metadata.xsd", datacite.KERNEL_NS),
)


def repository_identifier(ctx: SiteContext) -> str:
    return urlsplit(ctx.site_url).hostname or "catalogue.openem.ch"


def oai_identifier(ctx: SiteContext, d: Dataset) -> str:
    return f"oai:{repository_identifier(ctx)}:{d.id}"


def base_url(ctx: SiteContext, gateway: str | None = GATEWAY) -> str:
    url = ctx.url(PATH)
    if gateway:
        return gateway.rstrip("/") + "/" + url.split("://", 1)[-1]
    return url


def datestamp(d: Dataset, dates: Mapping[str, date] | None = None) -> date:
    day = (dates or {}).get(d.id)
    return day or d.dates.modified or d.dates.published


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


def datacite_resource(ctx: SiteContext, d: Dataset) -> etree._Element:
    """The DataCite kernel-4 ``resource`` of a dataset (the same XML as ``datasets/<id>/datacite.xml``)."""
    text = datacite.xml(ctx, d)
    return etree.fromstring(text.encode("utf-8"))


def write_repository(ctx: SiteContext, out: BinaryIO, dates: Mapping[str, date] | None = None, *,
                     admin_email: str = ADMIN_EMAIL, gateway: str | None = GATEWAY) -> None:
    """The whole static repository as UTF-8 XML, written into ``out`` record by record (``etree.xmlfile``): a
    tree of every record in both formats took about 1.4 GB at 10,000 datasets; one record's tree is held now."""
    datasets = ctx.catalogue.datasets
    stamps = {d.id: datestamp(d, dates) for d in datasets}
    nsmap = {None: SR_NS, "oai": OAI_NS, "xsi": XSI_NS}

    identify = etree.Element(f"{{{SR_NS}}}Identify", nsmap=nsmap)
    _sub(identify, OAI_NS, "repositoryName", ctx.site_name)
    _sub(identify, OAI_NS, "baseURL", base_url(ctx, gateway))
    _sub(identify, OAI_NS, "protocolVersion", "2.0")
    _sub(identify, OAI_NS, "adminEmail", admin_email)
    earliest = min(stamps.values(), default=ctx.build_date)
    _sub(identify, OAI_NS, "earliestDatestamp", earliest.isoformat())
    _sub(identify, OAI_NS, "deletedRecord", "no")
    _sub(identify, OAI_NS, "granularity", "YYYY-MM-DD")
    description = _sub(identify, OAI_NS, "description")
    ident = etree.SubElement(description, f"{{{ID_NS}}}oai-identifier", nsmap={None: ID_NS})
    ident.set(XSI, f"{ID_NS} http://www.openarchives.org/OAI/2.0/oai-identifier.xsd")
    _sub(ident, ID_NS, "scheme", "oai")
    _sub(ident, ID_NS, "repositoryIdentifier", repository_identifier(ctx))
    _sub(ident, ID_NS, "delimiter", ":")
    sample = datasets[0].id if datasets else "dataset-id"
    _sub(ident, ID_NS, "sampleIdentifier", f"oai:{repository_identifier(ctx)}:{sample}")

    formats = etree.Element(f"{{{SR_NS}}}ListMetadataFormats", nsmap=nsmap)
    for prefix, schema, namespace in FORMATS:
        fmt = _sub(formats, OAI_NS, "metadataFormat")
        _sub(fmt, OAI_NS, "metadataPrefix", prefix)
        _sub(fmt, OAI_NS, "schema", schema)
        _sub(fmt, OAI_NS, "metadataNamespace", namespace)

    builders = {"oai_dc": dublin_core, "oai_datacite": datacite_resource}
    with etree.xmlfile(out, encoding="UTF-8") as xf:
        xf.write_declaration()
        schemas = (f"{SR_NS} http://www.openarchives.org/OAI/2.0/static-repository.xsd "
                   f"{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd")
        with xf.element(f"{{{SR_NS}}}Repository", {XSI: schemas}, nsmap=nsmap):
            xf.write("\n")
            for part in (identify, formats):
                etree.cleanup_namespaces(part, keep_ns_prefixes=["oai", "xsi"])
                xf.write(part, pretty_print=True)
            # The OAI-PMH schema wants at least one record per ListRecords: an empty catalogue lists none.
            for prefix, _schema, _ns in FORMATS if datasets else ():
                with xf.element(f"{{{SR_NS}}}ListRecords", metadataPrefix=prefix):
                    xf.write("\n")
                    for d in datasets:
                        record = etree.Element(f"{{{OAI_NS}}}record", nsmap={"oai": OAI_NS})
                        header = _sub(record, OAI_NS, "header")
                        _sub(header, OAI_NS, "identifier", oai_identifier(ctx, d))
                        _sub(header, OAI_NS, "datestamp", stamps[d.id].isoformat())
                        _sub(record, OAI_NS, "metadata").append(builders[prefix](ctx, d))
                        etree.cleanup_namespaces(record, keep_ns_prefixes=["oai"])
                        xf.write(record, pretty_print=True)
                xf.write("\n")


def artefacts(ctx: SiteContext, dates: Mapping[str, date] | None = None) -> list[Streamed]:
    """``oai/static.xml`` (``dates``: dataset id → the day its files last changed, from git), streamed into the
    site (~115 MB at 10,000 datasets)."""
    return [Streamed((PATH,), lambda files: write_repository(ctx, files[PATH], dates), ("application/xml",))]
