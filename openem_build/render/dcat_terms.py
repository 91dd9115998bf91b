"""The controlled-vocabulary terms the DCAT files use, with the classes and schemes DCAT-AP 3 expects of them.

DCAT-AP's range shapes check the class of every value (``dct:license`` a ``dct:LicenseDocument``, ``dct:format``
a ``dct:MediaTypeOrExtent``, ``dcat:mediaType`` a ``dct:MediaType`` …) and its vocabulary shapes check that EU
terms are ``skos:inScheme`` their authority table. A harvester need not fetch the EU vocabularies to see that:
each term is typed where it is used, so the catalogue is valid on its own (tests/test_dcat_shapes.py runs the
official shapes without network).
"""

from __future__ import annotations

from rdflib import Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SKOS, XSD

from ..records.manifest import MEDIA_TYPES
from .datacite import XML_TYPE as DATACITE_TYPE

EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"
DCATAP = Namespace("http://data.europa.eu/r5r/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
SCHEMA = Namespace("http://schema.org/")
#: The namespaces the files bind (their prefixes).
PREFIXES = (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD), ("adms", ADMS), ("skos", SKOS),
            ("owl", OWL), ("rdfs", RDFS), ("xsd", XSD), ("dcatap", DCATAP), ("prov", PROV))
PUBLISHER_TYPES = URIRef("http://purl.org/adms/publishertype/1.0")
LICENCE_TYPES = URIRef("http://purl.org/adms/licencetype/1.0")
#: ADMS publisher types: every organisation publishing or making OpenEM data is a research one; people are people.
ACADEMIA = URIRef("http://purl.org/adms/publishertype/Academia-ScientificOrganisation")
PERSON = URIRef("http://purl.org/adms/publishertype/PrivateIndividual(s)")
STABLE = URIRef(EU + "planned-availability/STABLE")
WKT = URIRef("http://www.opengis.net/ont/geosparql#wktLiteral")

#: EU file-type term and IANA media type of the site's metadata formats (by media type).
METADATA_FORMATS = {
    "application/json": "JSON",
    "application/ld+json": "JSON_LD",
    DATACITE_TYPE: "XML",
    "text/turtle": "RDF_TURTLE",
    "application/rdf+xml": "RDF_XML",
}
#: EU file-type term of the data formats (image-set formats) that have one; the rest are binary data (BIN).
DATA_FORMATS = {"tiff": "TIFF", "tif": "TIFF", "ome-tiff": "TIFF", "png": "PNG", "jpeg": "JPEG", "xml": "XML",
                "hdf5": "HDF", "emd": "HDF"}
#: Media types the EU file-type terms of data formats have at IANA (HDF5's is not registered there).
_REGISTERED = {"image/tiff", "image/png", "image/jpeg", "application/xml"}


#: Titles of the concept schemes used (DCAT-AP wants a dct:title on each).
SCHEME_TITLES = {
    EU + "data-theme": "Data theme", EU + "language": "Language", EU + "frequency": "Frequency",
    EU + "access-right": "Access right", EU + "file-type": "File type", EU + "country": "Country",
    EU + "planned-availability": "Planned availability", str(PUBLISHER_TYPES): "Publisher type",
    str(LICENCE_TYPES): "Licence type",
}
#: English labels of the EU and ADMS terms used (their prefLabel in the authority tables).
LABELS = {
    "data-theme/TECH": "Science and technology", "language/ENG": "English", "frequency/IRREG": "irregular",
    "access-right/PUBLIC": "public", "access-right/RESTRICTED": "restricted", "country/CHE": "Switzerland",
    "planned-availability/STABLE": "stable", "file-type/JSON_LD": "JSON-LD", "file-type/RDF_TURTLE": "RDF Turtle",
    "file-type/RDF_XML": "RDF/XML", "file-type/BIN": "Binary data",
    "Academia-ScientificOrganisation": "Academia/Scientific organisation",
    "PrivateIndividual(s)": "Private Individual(s)",
    "Attribution": "Attribution", "PublicDomain": "Public domain", "NonCommercialUseOnly": "Non-commercial use only",
    "NoDerivativeWork": "No derivative work", "ViralEffect-ShareAlike": "Viral effect (a.k.a. Share-alike)",
}


def concept(g, iri: URIRef, in_scheme: URIRef, *classes: URIRef) -> URIRef:
    """``iri`` as a SKOS concept of ``in_scheme`` (and of each of ``classes``), with its label."""
    g.add((iri, RDF.type, SKOS.Concept))
    for cls in classes:
        g.add((iri, RDF.type, cls))
    key = str(iri).removeprefix(EU) if str(iri).startswith(EU) else str(iri).rsplit("/", 1)[-1]
    g.add((iri, SKOS.prefLabel, Literal(LABELS.get(key, key.rsplit("/", 1)[-1]), lang="en")))
    g.add((iri, SKOS.inScheme, scheme(g, in_scheme)))
    return iri


def eu(g, table: str, code: str, *classes: URIRef) -> URIRef:
    """A term of an EU authority table (``language``/``ENG``, ``file-type``/``JSON`` …), typed."""
    return concept(g, URIRef(f"{EU}{table}/{code}"), URIRef(EU + table), *classes)


def scheme(g, node: URIRef) -> URIRef:
    """A concept scheme (an EU authority table, an ADMS vocabulary), with its title."""
    g.add((node, RDF.type, SKOS.ConceptScheme))
    g.add((node, DCTERMS.title, Literal(SCHEME_TITLES[str(node)], lang="en")))
    return node


def switzerland(g) -> URIRef:
    """Switzerland as a ``dct:Location``: the EU country term, with its bounding box and geographic centre."""
    node = eu(g, "country", "CHE", DCTERMS.Location)
    g.add((node, DCAT.bbox, Literal("POLYGON((5.956 45.818,10.492 45.818,10.492 47.808,5.956 47.808,5.956 45.818))",
                                    datatype=WKT)))
    g.add((node, DCAT.centroid, Literal("POINT(8.2265 46.8011)", datatype=WKT)))  # Älggi-Alp
    return node


def document(g, iri: URIRef) -> URIRef:
    """A web page (landing page, home page) as a ``foaf:Document``."""
    g.add((iri, RDF.type, FOAF.Document))
    return iri


def agent_type(g, node: URIRef, kind: URIRef) -> None:
    """The ADMS publisher type of an agent (DCAT-AP recommends one on every ``foaf:Agent``)."""
    g.add((node, DCTERMS.type, concept(g, kind, PUBLISHER_TYPES)))


def licence(g, url: str, spdx: str) -> URIRef:
    """A licence as a ``dct:LicenseDocument`` with its ADMS licence types (from its SPDX identifier)."""
    node = URIRef(url)
    g.add((node, RDF.type, DCTERMS.LicenseDocument))
    g.add((node, RDFS.label, Literal(spdx)))
    for kind in licence_types(spdx):
        g.add((node, DCTERMS.type, concept(g, URIRef("http://purl.org/adms/licencetype/" + kind), LICENCE_TYPES)))
    return node


def licence_types(spdx: str) -> list[str]:
    """ADMS licence types of an SPDX licence (empty when none is known)."""
    if spdx in ("CC0-1.0", "PDDL-1.0"):
        return ["PublicDomain"]
    kinds = []
    if spdx.startswith(("CC-BY", "ODC-By", "ODbL", "CDLA-")):
        kinds.append("Attribution")
    if "-NC" in spdx:
        kinds.append("NonCommercialUseOnly")
    if "-ND" in spdx:
        kinds.append("NoDerivativeWork")
    if "-SA" in spdx or spdx.startswith(("ODbL", "CDLA-Sharing")):
        kinds.append("ViralEffect-ShareAlike")
    return kinds


def rights(g, iri: URIRef) -> URIRef:
    """A rights statement (opendata.swiss terms of use)."""
    g.add((iri, RDF.type, DCTERMS.RightsStatement))
    return iri


def media(g, dist: URIRef, media_type: str, file_type: str | None) -> None:
    """``dcat:mediaType`` (IANA, when registered there) and ``dct:format`` (EU file type) of a distribution."""
    if media_type:
        node = URIRef(IANA + media_type)
        g.add((node, RDF.type, DCTERMS.MediaType))
        g.add((dist, DCAT.mediaType, node))
    if file_type:
        g.add((dist, DCTERMS.format, eu(g, "file-type", file_type, DCTERMS.MediaTypeOrExtent)))


def data_format(formats: list[str]) -> tuple[str, str]:
    """(IANA media type or "", EU file type) of a DataLad dataset holding image sets of ``formats``: one format's
    own when they share one, else binary data."""
    kinds = {DATA_FORMATS.get(f, "BIN") for f in formats}
    if len(kinds) != 1 or kinds == {"BIN"}:
        return "application/octet-stream", "BIN"
    (kind,) = kinds
    types = {MEDIA_TYPES.get(f, "") for f in formats}
    media_type = types.pop() if len(types) == 1 else ""
    return (media_type if media_type in _REGISTERED else ""), kind

