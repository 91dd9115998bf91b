"""The catalogue as DCAT-AP CH / DCAT-AP 3 RDF (``dcat/catalog.ttl`` and ``dcat/catalog.rdf``), built with rdflib.

One ``dcat:Catalog`` lists a ``dcat:Dataset`` per entry; each dataset has a ``dcat:Distribution`` for its files
(the DataLad dataset, under the dataset's licence) and one per metadata format (CC0). Properties follow the
Swiss profile (opendata.swiss): mandatory dct:title, dct:description (``@en``), dct:identifier
(``<id>@<organisation>``), dct:publisher, dcat:contactPoint (vCard), dcat:distribution with dcat:accessURL
and dct:license / dct:rights; recommended dct:issued, dct:modified, dcat:theme, dcat:keyword, dcat:landingPage,
dct:language, dct:accessRights, dct:accrualPeriodicity, dct:format, dcat:mediaType and dcat:downloadURL.

Every node has an IRI (no blank nodes), so two builds of one commit serialise to identical files.
"""

from __future__ import annotations

from rdflib import XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, RDFS, SKOS

from ..artefacts import Artefact
from ..context import SiteContext
from ..licenses import license_url
from ..model import Dataset
from .citation import one_line, publisher
from .jsonld import TECHNIQUE_LABELS
from .markdown import to_text

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
SCHEMA = Namespace("http://schema.org/")
EU = "http://publications.europa.eu/resource/authority/"
THEME_TECH = URIRef(EU + "data-theme/TECH")  # Science and technology
LANG_EN = URIRef(EU + "language/ENG")
ACCESS_PUBLIC = URIRef(EU + "access-right/PUBLIC")
ACCESS_RESTRICTED = URIRef(EU + "access-right/RESTRICTED")
FREQUENCY_IRREGULAR = URIRef(EU + "frequency/IRREG")
DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")  # new in DCAT 3, not in rdflib's DCAT namespace
IANA = "https://www.iana.org/assignments/media-types/"
CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
#: The organisation slug opendata.swiss appends to dataset identifiers (``<id>@<slug>``).
ORGANISATION_SLUG = "openem"
#: opendata.swiss terms of use (dct:rights), from the SPDX licence.
TERMS = "https://opendata.swiss/terms-of-use#"

TURTLE_TYPE = "text/turtle"
RDFXML_TYPE = "application/rdf+xml"


def terms_of_use(spdx: str) -> URIRef | None:
    """The opendata.swiss terms-of-use category closest to a licence, when there is one."""
    if spdx in ("CC0-1.0", "PDDL-1.0"):
        return URIRef(TERMS + "terms_open")
    if "-NC" in spdx:
        return URIRef(TERMS + "terms_by_ask")
    if spdx.startswith(("CC-BY-", "ODC-By", "ODbL", "CDLA-Permissive")):
        return URIRef(TERMS + "terms_by")
    return None


def _en(text: str) -> Literal:
    return Literal(text, lang="en")


def _publisher(g: Graph, ctx: SiteContext, d: Dataset | None) -> URIRef:
    """The publisher: the OpenEM network (site-wide), else the dataset's facility's institution."""
    if ctx.publisher or d is None:
        name = ctx.publisher or ctx.site_name
        node = URIRef(ctx.publisher_ror) if ctx.publisher_ror else URIRef(ctx.url("#publisher"))
    else:
        fac = ctx.facility(d)
        name, node = one_line(publisher(ctx, d)), URIRef(fac.ror)
    g.add((node, RDF.type, FOAF.Organization))
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, _en(name)))
    g.add((node, FOAF.homepage, URIRef(ctx.site_url)))
    return node


def _media(g: Graph, dist: URIRef, media_type: str) -> None:
    g.add((dist, DCAT.mediaType, URIRef(IANA + media_type)))
    kind = "JSON" if media_type.endswith("json") else "XML" if media_type.endswith("xml") else None
    if media_type == "application/ld+json":
        kind = "JSON_LD"
    elif media_type == "text/turtle":
        kind = "RDF_TURTLE"
    if kind:
        g.add((dist, DCTERMS.format, URIRef(EU + "file-type/" + kind)))


def add_dataset(g: Graph, ctx: SiteContext, d: Dataset, catalog: URIRef) -> URIRef:
    url = ctx.dataset_url(d)
    ds = URIRef(url)
    g.add((catalog, DCAT.dataset, ds))
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.title, _en(one_line(d.title))))
    g.add((ds, DCTERMS.description, _en(to_text(d.description) or one_line(d.description))))
    g.add((ds, DCTERMS.identifier, Literal(f"{d.id}@{ORGANISATION_SLUG}")))
    if d.doi:
        other = URIRef(url + "#doi")
        g.add((ds, ADMS.identifier, other))
        g.add((other, RDF.type, ADMS.Identifier))
        g.add((other, SKOS.notation, Literal(d.doi)))
        g.add((other, ADMS.schemaAgency, _en("DataCite")))
        g.add((ds, OWL.sameAs, URIRef(d.doi_url)))  # type: ignore[arg-type]
    g.add((ds, DCTERMS.publisher, _publisher(g, ctx, d)))
    contact = URIRef(url + "#contact")
    g.add((ds, DCAT.contactPoint, contact))
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, Literal(one_line(d.contact.name))))
    g.add((contact, VCARD.hasEmail, URIRef("mailto:" + d.contact.email)))
    g.add((ds, DCTERMS.issued, Literal(d.dates.published.isoformat(), datatype=XSD.date)))
    if d.dates.modified:
        g.add((ds, DCTERMS.modified, Literal(d.dates.modified.isoformat(), datatype=XSD.date)))
    g.add((ds, DCAT.theme, THEME_TECH))
    for k in d.keywords:
        g.add((ds, DCAT.keyword, _en(one_line(k))))
    g.add((ds, DCAT.keyword, _en(TECHNIQUE_LABELS.get(d.technique, d.technique))))
    g.add((ds, DCAT.landingPage, ds))
    g.add((ds, DCTERMS.language, LANG_EN))
    g.add((ds, DCTERMS.accrualPeriodicity, FREQUENCY_IRREGULAR))
    g.add((ds, DCAT_VERSION, Literal(d.version)))  # DCAT 3 / DCAT-AP 3
    g.add((ds, OWL.versionInfo, Literal(d.version)))  # DCAT-AP CH 2
    g.add((ds, DCTERMS.accessRights, ACCESS_RESTRICTED if d.is_embargoed else ACCESS_PUBLIC))
    for i, p in enumerate(d.authors, start=1):
        person = URIRef(p.orcid_url) if p.orcid_url else URIRef(f"{url}#author-{i}")
        g.add((ds, DCTERMS.creator, person))
        g.add((person, RDF.type, FOAF.Person))
        g.add((person, FOAF.name, Literal(one_line(p.display_name))))
    for pub in d.related.publications:
        if pub.doi:
            g.add((ds, DCTERMS.isReferencedBy, URIRef(f"https://doi.org/{pub.doi}")))
    if d.dates.collected:
        period = URIRef(url + "#collected")
        g.add((ds, DCTERMS.temporal, period))
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        g.add((period, DCAT.startDate, Literal(d.dates.collected.isoformat(), datatype=XSD.date)))
        g.add((period, DCAT.endDate, Literal(d.dates.collected.isoformat(), datatype=XSD.date)))
    _distributions(g, ctx, d, ds)
    return ds


def _distributions(g: Graph, ctx: SiteContext, d: Dataset, ds: URIRef) -> None:
    url = ctx.dataset_url(d)
    issued = Literal(d.dates.published.isoformat(), datatype=XSD.date)
    # The files: a DataLad dataset, under the dataset's own licence.
    data = URIRef(url + "#data")
    g.add((ds, DCAT.distribution, data))
    g.add((data, RDF.type, DCAT.Distribution))
    g.add((data, DCTERMS.title, _en("DataLad dataset (git-annex)")))
    how = f"Clone with `datalad clone {d.data.datalad}`, then `datalad get` the files you need."
    formats = sorted({s.format for s in d.data.image_sets})
    if formats:
        how += " File formats: " + ", ".join(formats) + "."
    if d.is_embargoed and d.embargo_until:
        how = (f"Access restricted: the files are under embargo until {d.embargo_until.isoformat()}; "
               "the metadata are public. " + how)
    g.add((data, DCTERMS.description, _en(how)))
    g.add((data, DCAT.accessURL, URIRef(d.data.datalad)))
    g.add((data, DCTERMS.license, URIRef(license_url(d.license))))
    terms = terms_of_use(d.license)
    if terms is not None:
        g.add((data, DCTERMS.rights, terms))
    g.add((data, DCTERMS.issued, issued))
    manifest = getattr(d, "manifest", None)
    if manifest is not None and manifest.files and manifest.sizes_complete:
        g.add((data, DCAT.byteSize, Literal(manifest.total_size, datatype=XSD.nonNegativeInteger)))
    if d.is_embargoed and d.embargo_until:
        embargo = URIRef(url + "#embargo")
        g.add((data, DCTERMS.accessRights, embargo))
        g.add((embargo, RDF.type, DCTERMS.RightsStatement))
        g.add((embargo, RDFS.label, _en(f"Embargoed until {d.embargo_until.isoformat()}")))
        g.add((embargo, DCTERMS.available, Literal(d.embargo_until.isoformat(), datatype=XSD.date)))
    # The metadata, as files of the site (CC0, like all OpenEM metadata).
    for key, title, path, media_type in (
        ("json", "Metadata (JSON)", f"api/{d.id}.json", "application/json"),
        ("jsonld", "Metadata (schema.org JSON-LD)", f"datasets/{d.id}/metadata.jsonld", "application/ld+json"),
        ("datacite", "Metadata (DataCite XML)", f"datasets/{d.id}/datacite.xml", "application/xml"),
    ):
        dist = URIRef(f"{url}#metadata-{key}")
        link = URIRef(ctx.url(path))
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCTERMS.title, _en(title)))
        g.add((dist, DCAT.accessURL, link))
        g.add((dist, DCAT.downloadURL, link))
        g.add((dist, DCTERMS.license, URIRef(CC0)))
        g.add((dist, DCTERMS.rights, URIRef(TERMS + "terms_open")))
        g.add((dist, DCTERMS.issued, issued))
        _media(g, dist, media_type)


def graph(ctx: SiteContext) -> Graph:
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD), ("adms", ADMS),
                       ("skos", SKOS), ("owl", OWL), ("rdfs", RDFS), ("xsd", XSD)):
        g.bind(prefix, ns, override=True)
    catalog = URIRef(ctx.url("dcat/catalog"))
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, _en(ctx.site_name)))
    g.add((catalog, DCTERMS.description, _en(
        "The open, FAIR catalogue of electron-microscopy data from Swiss EM facilities.")))
    g.add((catalog, DCTERMS.publisher, _publisher(g, ctx, None)))
    g.add((catalog, FOAF.homepage, URIRef(ctx.site_url)))
    g.add((catalog, DCTERMS.language, LANG_EN))
    g.add((catalog, DCTERMS.license, URIRef(CC0)))
    g.add((catalog, DCTERMS.modified, Literal(ctx.build_date.isoformat(), datatype=XSD.date)))
    g.add((catalog, DCAT.themeTaxonomy, URIRef(EU + "data-theme")))
    for d in ctx.catalogue.datasets:
        add_dataset(g, ctx, d, catalog)
    return g


def _serialise(ctx: SiteContext) -> tuple[str, str]:
    g = graph(ctx)
    return g.serialize(format="turtle"), g.serialize(format="pretty-xml")


def catalogue_artefacts(ctx: SiteContext) -> list[Artefact]:
    turtle, rdfxml = _serialise(ctx)
    return [Artefact("dcat/catalog.ttl", turtle, media_type=TURTLE_TYPE),
            Artefact("dcat/catalog.rdf", rdfxml, media_type=RDFXML_TYPE)]
