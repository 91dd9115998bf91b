"""The catalogue as DCAT-AP CH / DCAT-AP 3 RDF (``dcat/catalog.ttl`` and ``dcat/catalog.rdf``), built with rdflib.

One ``dcat:Catalog`` lists a ``dcat:Dataset`` per entry; each dataset has a ``dcat:Distribution`` for its files
(the DataLad dataset, under the dataset's licence) and one per metadata format (CC0). Properties follow the
Swiss profile (opendata.swiss): mandatory dct:title, dct:description (``@en``), dct:identifier
(``<id>@<organisation>``), dct:publisher, dcat:contactPoint (vCard), dcat:distribution with dcat:accessURL
and dct:license / dct:rights; recommended dct:issued, dct:modified, dcat:theme, dcat:keyword, dcat:landingPage,
dct:language, dct:accessRights, dct:accrualPeriodicity, dct:format, dcat:mediaType and dcat:downloadURL.
Values are typed as DCAT-AP 3.0.1's shapes expect (see ``dcat_terms``): the official shapes find no violation.
Provenance: ``data.provenance`` as dct:provenance, the data collection as a prov:Activity. Each dataset's
statements are also written on their own, ``datasets/<id>/dcat.ttl`` (:func:`artefacts`).

Every node has an IRI (no blank nodes), so two builds of one commit serialise to identical files.
"""

from __future__ import annotations

import io
import re
from itertools import islice
from typing import BinaryIO

from rdflib import XSD, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SKOS

from ..infra import jsontext
from ..infra.context import SiteContext
from ..infra.urls import doi_url
from ..records.licenses import license_url
from ..records.markdown import to_text
from ..records.model import Dataset
from . import dcat_terms as terms
from . import dcat_text as text
from .citation import one_line, publisher
from .datacite import XML_TYPE as DATACITE_TYPE
from .dcat_terms import ADMS, PREFIXES, VCARD
from .jsonld import MAX_FILES, TECHNIQUE_LABELS
from .registry import Artefact, Parts, Streamed, part_path, per_catalogue, per_dataset

DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")  # new in DCAT 3, not in rdflib's DCAT namespace
CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
#: The organisation slug opendata.swiss appends to dataset identifiers (``<id>@<slug>``).
ORGANISATION_SLUG = "openem"
#: opendata.swiss terms of use (dct:rights), from the SPDX licence.
TERMS = "https://opendata.swiss/terms-of-use#"

TURTLE_TYPE = "text/turtle"
_IRI_UNSAFE = re.compile(r'[\x00-\x20<>"{}|^`\\\x7f-\x9f]')
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


def _iri(text: str) -> URIRef:
    """An IRI from a value of a pull request: characters Turtle forbids in an IRI are percent-encoded."""
    return URIRef(_IRI_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), text))


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
    g.add((node, FOAF.homepage, terms.document(g, URIRef(ctx.site_url))))
    terms.agent_type(g, node, terms.ACADEMIA)
    return node


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
    g.add((contact, RDF.type, VCARD.Kind))
    g.add((contact, VCARD.fn, Literal(one_line(d.contact.name))))
    g.add((contact, VCARD.hasEmail, _iri("mailto:" + d.contact.email)))
    g.add((ds, DCTERMS.issued, Literal(d.dates.published.isoformat(), datatype=XSD.date)))
    if d.dates.modified:
        g.add((ds, DCTERMS.modified, Literal(d.dates.modified.isoformat(), datatype=XSD.date)))
    g.add((ds, DCAT.theme, terms.eu(g, "data-theme", "TECH")))  # Science and technology
    for k in d.keywords:
        g.add((ds, DCAT.keyword, _en(one_line(k))))
    g.add((ds, DCAT.keyword, _en(TECHNIQUE_LABELS.get(d.technique, d.technique))))
    g.add((ds, DCAT.landingPage, terms.document(g, ds)))
    g.add((ds, DCTERMS.language, terms.eu(g, "language", "ENG", DCTERMS.LinguisticSystem)))
    g.add((ds, DCTERMS.accrualPeriodicity, terms.eu(g, "frequency", "IRREG", DCTERMS.Frequency)))
    g.add((ds, DCAT_VERSION, Literal(d.version)))  # DCAT 3 / DCAT-AP 3
    g.add((ds, OWL.versionInfo, Literal(d.version)))  # DCAT-AP CH 2
    g.add((ds, DCTERMS.accessRights, terms.eu(g, "access-right", "RESTRICTED" if d.is_embargoed else "PUBLIC",
                                               DCTERMS.RightsStatement)))
    for i, p in enumerate(d.authors, start=1):
        person = URIRef(p.orcid_url) if p.orcid_url else URIRef(f"{url}#author-{i}")
        g.add((ds, DCTERMS.creator, person))
        g.add((person, RDF.type, FOAF.Person))
        g.add((person, RDF.type, FOAF.Agent))
        terms.agent_type(g, person, terms.PERSON)
        g.add((person, FOAF.name, Literal(one_line(p.display_name))))
    for pub in d.related.publications:
        if pub.doi:
            g.add((ds, DCTERMS.isReferencedBy, URIRef(doi_url(pub.doi))))
    if d.dates.collected:
        period = URIRef(url + "#collected")
        g.add((ds, DCTERMS.temporal, period))
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        g.add((period, DCAT.startDate, Literal(d.dates.collected.isoformat(), datatype=XSD.date)))
        g.add((period, DCAT.endDate, Literal(d.dates.collected.isoformat(), datatype=XSD.date)))
    _acquisition(g, ctx, d, ds)
    provenance = d.data.provenance
    if provenance:  # where the files come from (FAIR R1.2; F-UJI reads dct:provenance)
        node = URIRef(url + "#provenance")
        g.add((ds, DCTERMS.provenance, node))
        g.add((node, RDF.type, DCTERMS.ProvenanceStatement))
        g.add((node, RDFS.label, _en(one_line(provenance.statement))))
        if provenance.url:
            g.add((node, RDFS.seeAlso, _iri(provenance.url)))
    _distributions(g, ctx, d, ds)
    return ds


def _acquisition(g: Graph, ctx: SiteContext, d: Dataset, ds: URIRef) -> None:
    """The data collection as a PROV activity (prov:wasGeneratedBy), associated with the facility's institution."""
    fac = ctx.facility(d)
    act = URIRef(ctx.dataset_url(d) + "#acquisition")
    g.add((ds, PROV.wasGeneratedBy, act))
    g.add((act, RDF.type, PROV.Activity))
    on = f" on a {one_line(d.instrument.microscope)}" if d.instrument.microscope else ""
    g.add((act, RDFS.label, _en(f"{TECHNIQUE_LABELS.get(d.technique, d.technique)}{on} at {one_line(fac.name)}")))
    institution = URIRef(fac.ror)
    g.add((act, PROV.wasAssociatedWith, institution))
    g.add((institution, RDF.type, FOAF.Organization))
    g.add((institution, RDF.type, FOAF.Agent))
    g.add((institution, FOAF.name, _en(one_line(fac.institution))))
    terms.agent_type(g, institution, terms.ACADEMIA)


def _data_distribution(g: Graph, ctx: SiteContext, d: Dataset, ds: URIRef, issued: Literal) -> None:
    url = ctx.dataset_url(d)
    data = URIRef(url + "#data")
    g.add((ds, DCAT.distribution, data))
    g.add((data, RDF.type, DCAT.Distribution))
    g.add((data, DCTERMS.title, _en("DataLad dataset (git-annex)")))
    how = (f"Clone with `datalad clone {d.data.datalad}`, then `datalad get` the files you need."
           if d.data.datalad else "")
    formats = sorted({s.format for s in d.data.image_sets})
    if formats:
        how += (" " if how else "") + "File formats: " + ", ".join(formats) + "."
    if d.is_embargoed:
        until = f" until {d.embargo_until.isoformat()}" if d.embargo_until else ""
        how = f"Access restricted: the files are under embargo{until}; the metadata are public. " + how
    g.add((data, DCTERMS.description, _en(how.strip())))
    g.add((data, DCAT.accessURL, _iri(d.data.datalad) if d.data.datalad else URIRef(url)))
    manifest = getattr(d, "manifest", None)
    files = manifest.files if manifest is not None else ()
    for f in islice((f for f in files if f.download_urls), MAX_FILES):
        g.add((data, DCAT.downloadURL, _iri(ctx.rebase(f.download_urls[0]))))
    g.add((data, DCTERMS.license, terms.licence(g, license_url(d.license), d.license)))
    rights = terms_of_use(d.license)
    if rights is not None:
        g.add((data, DCTERMS.rights, terms.rights(g, rights)))
    g.add((data, DCTERMS.issued, issued))
    _available(g, data)
    terms.media(g, data, *terms.data_format(formats))
    if manifest is not None and manifest.files and manifest.sizes_complete:
        g.add((data, DCAT.byteSize, Literal(manifest.total_size, datatype=XSD.nonNegativeInteger)))
    if d.is_embargoed and d.embargo_until:
        embargo = URIRef(url + "#embargo")
        g.add((data, DCTERMS.accessRights, embargo))
        g.add((embargo, RDF.type, DCTERMS.RightsStatement))
        g.add((embargo, RDFS.label, _en(f"Embargoed until {d.embargo_until.isoformat()}")))
        g.add((embargo, DCTERMS.available, Literal(d.embargo_until.isoformat(), datatype=XSD.date)))


def _distributions(g: Graph, ctx: SiteContext, d: Dataset, ds: URIRef) -> None:
    url = ctx.dataset_url(d)
    issued = Literal(d.dates.published.isoformat(), datatype=XSD.date)
    # The files: a DataLad dataset, under the dataset's own licence (under embargo: where they will be).
    if d.data.datalad or d.is_embargoed:
        _data_distribution(g, ctx, d, ds, issued)
    # The metadata, as files of the site (CC0, like all OpenEM metadata).
    for key, title, path, media_type, what in (
        ("json", "Metadata (JSON)", f"api/{d.id}.json", "application/json",
         "The catalogue record as JSON (the catalogue's JSON API, in the format of its JSON Schema)."),
        ("jsonld", "Metadata (schema.org JSON-LD)", f"datasets/{d.id}/metadata.jsonld", "application/ld+json",
         "The catalogue record as a schema.org Dataset in JSON-LD."),
        ("datacite", "Metadata (DataCite XML)", f"datasets/{d.id}/datacite.xml", DATACITE_TYPE,
         "The catalogue record in the DataCite Metadata Schema (kernel 4), as registered with its DOI."),
    ):
        dist = URIRef(f"{url}#metadata-{key}")
        link = URIRef(ctx.url(path))
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCTERMS.title, _en(title)))
        g.add((dist, DCAT.accessURL, link))
        g.add((dist, DCAT.downloadURL, link))
        g.add((dist, DCTERMS.description, _en(what)))
        g.add((dist, DCTERMS.license, terms.licence(g, CC0, "CC0-1.0")))
        g.add((dist, DCTERMS.rights, terms.rights(g, URIRef(TERMS + "terms_open"))))
        g.add((dist, DCTERMS.issued, issued))
        _available(g, dist)
        terms.media(g, dist, media_type, terms.METADATA_FORMATS[media_type])


def _available(g: Graph, dist: URIRef) -> None:
    """Planned availability: the site keeps every published version (stable)."""
    g.add((dist, terms.DCATAP.availability, terms.concept(g, terms.STABLE, URIRef(terms.EU + "planned-availability"))))


def _catalog_node(ctx: SiteContext) -> URIRef:
    return URIRef(ctx.url("dcat/catalog"))


def _catalog(g: Graph, ctx: SiteContext) -> URIRef:
    """The catalogue's own statements; returns its node."""
    catalog = _catalog_node(ctx)
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, _en(ctx.site_name)))
    g.add((catalog, DCTERMS.description, _en(
        "The open, FAIR catalogue of electron-microscopy data from Swiss EM facilities.")))
    g.add((catalog, DCTERMS.publisher, _publisher(g, ctx, None)))
    g.add((catalog, FOAF.homepage, terms.document(g, URIRef(ctx.site_url))))
    g.add((catalog, DCTERMS.language, terms.eu(g, "language", "ENG", DCTERMS.LinguisticSystem)))
    g.add((catalog, DCTERMS.license, terms.licence(g, CC0, "CC0-1.0")))
    published = [d.dates.published for d in ctx.catalogue.datasets]
    if published:
        g.add((catalog, DCTERMS.issued, Literal(min(published).isoformat(), datatype=XSD.date)))
    g.add((catalog, DCTERMS.modified, Literal(ctx.build_date.isoformat(), datatype=XSD.date)))
    g.add((catalog, DCAT.themeTaxonomy, terms.scheme(g, URIRef(terms.EU + "data-theme"))))
    # The catalogue covers the Swiss EM facilities (a dataset's sample has no place, so datasets have none).
    g.add((catalog, DCTERMS.spatial, terms.switzerland(g)))
    return catalog


def graph(ctx: SiteContext) -> Graph:
    """The whole catalogue as one rdflib graph (the files are written without it: see ``serialise``)."""
    g = Graph()
    for prefix, ns in PREFIXES:
        g.bind(prefix, ns, override=True)
    catalog = _catalog(g, ctx)
    for d in ctx.catalogue.datasets:
        add_dataset(g, ctx, d, catalog)
    return g


def serialise(ctx: SiteContext) -> tuple[bytes, bytes]:
    """``dcat/catalog.ttl`` and ``dcat/catalog.rdf`` (UTF-8): the triples of ``graph(ctx)``, in a stable order."""
    turtle, rdfxml = io.BytesIO(), io.BytesIO()
    write_files(ctx, turtle, rdfxml)
    return turtle.getvalue(), rdfxml.getvalue()


_PART = "dcat"


def write_files(ctx: SiteContext, turtle: BinaryIO, rdfxml: BinaryIO, parts: Parts | None = None) -> None:
    """:func:`serialise`, written into ``turtle`` and ``rdfxml`` one dataset at a time; each dataset's blocks
    taken from ``parts`` (made with its own files, see :func:`artefacts`) where it holds them."""
    turtle.write(text.HEAD.encode())
    rdfxml.write(text.XML_HEAD.encode())
    # A node shared by several datasets (a person's ORCID iD, the publisher) is described where it first appears;
    # its statements seen before are left out.
    said: set[tuple[str, str]] = set()

    def write(blocks: list[text.Block]) -> None:
        ttl, xml = [], []
        for s, about, own, pairs in blocks:
            if not own:
                pairs = [pair for pair in pairs if (s, pair[0]) not in said]
                said.update((s, pair[0]) for pair in pairs)
            if pairs:
                ttl.append(text.turtle(s, pairs))
                xml.append(text.rdfxml(about, pairs))
        turtle.write("".join(ttl).encode("utf-8"))
        rdfxml.write("".join(xml).encode("utf-8"))

    head = text.Statements()
    catalog = _catalog(head, ctx)  # type: ignore[arg-type]
    write(text.blocks(head, None))
    kept = parts if parts is not None else {}
    for d in ctx.catalogue.datasets:
        blocks = text.decode(kept.get(part_path(_PART, d.id)))
        write(blocks if blocks is not None else _dataset_blocks(ctx, d, catalog))
    rdfxml.write(b"</rdf:RDF>\n")


def _dataset_blocks(ctx: SiteContext, d: Dataset, catalog: URIRef) -> list[text.Block]:
    statements = text.Statements()
    add_dataset(statements, ctx, d, catalog)  # type: ignore[arg-type]
    return text.blocks(statements, ctx.dataset_url(d))


def _own_turtle(ctx: SiteContext, blocks: list[text.Block]) -> str:
    """One dataset's DCAT record (``datasets/<id>/dcat.ttl``): its statements in ``catalog.ttl``, on its own."""
    catalog = text.ttl_term(_catalog_node(ctx))
    return text.HEAD + "".join(text.turtle(s, pairs) for s, _, _, pairs in blocks if s != catalog)


@per_dataset(80)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    """``datasets/<id>/dcat.ttl`` (a typed link for harvesters that read one record, not the whole catalogue),
    and the dataset's blocks of the catalogue's files as its part of them (a build that takes the dataset from
    its cache writes them without making them again). Measured at N = 10,000 (benchmarks/README.md): the
    catalogue-wide files 37.6 → 4.0 s, cold and warm, for ~0.7 ms of CPU more per dataset made."""
    blocks = _dataset_blocks(ctx, d, _catalog_node(ctx))
    return [Artefact(ctx.dataset_path(d) + "dcat.ttl", _own_turtle(ctx, blocks), "DCAT-AP (Turtle)", TURTLE_TYPE),
            Artefact(part_path(_PART, d.id), jsontext.dumps(blocks))]


def _serialise(ctx: SiteContext) -> tuple[str, str]:
    turtle, rdfxml = serialise(ctx)
    return turtle.decode("utf-8"), rdfxml.decode("utf-8")


@per_catalogue(30)
def catalogue_artefacts(ctx: SiteContext, parts: Parts | None = None) -> list[Streamed]:
    """Both files, streamed into the site (~155 MB at 10,000 datasets, not held in memory)."""
    ttl, rdf = "dcat/catalog.ttl", "dcat/catalog.rdf"
    return [Streamed((ttl, rdf), lambda files: write_files(ctx, files[ttl], files[rdf], parts),
                     (TURTLE_TYPE, RDFXML_TYPE))]
