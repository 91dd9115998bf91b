"""The DCAT files against the official DCAT-AP 3.0.1 SHACL shapes (SEMICeu), loaded from ../shared, no network.

``dcat.serialise`` gives the bytes the build writes to ``dcat/catalog.ttl`` and ``dcat/catalog.rdf``
(tests/test_harvest.py checks the built site's files with the same shapes).
"""

from __future__ import annotations

from collections import Counter

import pytest
import rdflib
from rdflib.namespace import DCAT, DCTERMS, RDF, SKOS

from openem_build.infra.context import SiteContext
from openem_build.records.load import load_catalogue
from openem_build.render import dcat, dcat_terms

from .conftest import ROOT

SHAPES = ROOT.parent / "shared" / "reference" / "dcat-ap-3.0.1"
#: The shapes a DCAT-AP 3.0.1 catalogue must meet: base, range (classes of values), deprecated URIs.
MANDATORY = ("shapes.ttl", "range.ttl", "deprecateduris.ttl")
SH = rdflib.Namespace("http://www.w3.org/ns/shacl#")
SITE_URL = "https://catalogue.openem.ch/"


def shapes(*names: str) -> rdflib.Graph:
    if not (SHAPES / "shapes.ttl").is_file():
        pytest.skip(f"{SHAPES} absent: the official DCAT-AP 3.0.1 shapes are not available here")
    graph = rdflib.Graph()
    for name in names:
        graph.parse(SHAPES / name, format="turtle")
    return graph


def results(data: rdflib.Graph, shape_graph: rdflib.Graph) -> Counter:
    """(severity, path, focus node) of each top-level result of pyshacl with ``shape_graph`` (no inference)."""
    from pyshacl import validate

    _conforms, report, _text = validate(data, shacl_graph=shape_graph, allow_warnings=True)
    top = set(report.objects(None, SH.result))
    return Counter((str(report.value(r, SH.resultSeverity)).rsplit("#", 1)[-1],
                    str(report.value(r, SH.resultPath)), str(report.value(r, SH.focusNode))) for r in top)


@pytest.fixture(scope="module")
def graphs() -> dict[str, rdflib.Graph]:
    result = load_catalogue(ROOT)
    assert result.ok
    turtle, rdfxml = dcat.serialise(SiteContext(result.catalogue, site_url=SITE_URL))
    return {"ttl": rdflib.Graph().parse(data=turtle, format="turtle"),
            "rdf": rdflib.Graph().parse(data=rdfxml, format="xml")}


@pytest.mark.parametrize("kind", ["ttl", "rdf"])
def test_no_violation_of_the_official_shapes(graphs, kind: str) -> None:
    assert results(graphs[kind], shapes(*MANDATORY)) == Counter()


@pytest.mark.parametrize("kind", ["ttl", "rdf"])
def test_controlled_vocabularies_have_no_violation(graphs, kind: str) -> None:
    """The EU vocabularies' shapes: every term in its authority table. What is left are warnings about the
    publishers, which are not EU corporate bodies (Swiss institutions)."""
    found = results(graphs[kind], shapes("mdr-vocabularies.shape.ttl"))
    assert {(sev, path) for sev, path, _node in found} <= {("Warning", str(DCTERMS.publisher))}


def test_recommended_properties_only_spatial_is_missing(graphs) -> None:
    """Of the recommended properties, only the datasets' dct:spatial is missing: a sample has no place."""
    found = results(graphs["ttl"], shapes("shapes_recommended.ttl"))
    datasets = {str(s) for s in graphs["ttl"].subjects(RDF.type, DCAT.Dataset)}
    assert {(sev, path) for sev, path, _node in found} == {("Warning", str(DCTERMS.spatial))}
    assert {node for _sev, _path, node in found} == datasets


def test_the_shapes_catch_untyped_values(graphs) -> None:
    """A licence not typed dct:LicenseDocument, a format not dct:MediaTypeOrExtent: range violations (what the
    shapes written by hand let through)."""
    g = rdflib.Graph()
    for triple in graphs["ttl"]:
        g.add(triple)
    g.remove((rdflib.URIRef("https://creativecommons.org/licenses/by/4.0/"), RDF.type, DCTERMS.LicenseDocument))
    g.remove((rdflib.URIRef(dcat_terms.EU + "file-type/JSON"), RDF.type, DCTERMS.MediaTypeOrExtent))
    found = {(sev, path) for sev, path, _node in results(g, shapes(*MANDATORY))}
    assert found == {("Violation", str(DCTERMS.license)), ("Violation", str(DCTERMS.format))}


def test_the_shapes_catch_a_missing_mandatory_property(graphs) -> None:
    g = rdflib.Graph()
    for triple in graphs["ttl"]:
        g.add(triple)
    some = rdflib.URIRef(f"{SITE_URL}datasets/apoferritin-krios-2024/")
    g.remove((some, DCTERMS.description, None))
    found = results(g, shapes(*MANDATORY))
    assert set(found) == {("Violation", str(DCTERMS.description), str(some))}


def test_every_distribution_has_format_media_type_and_licence(graphs) -> None:
    g = graphs["ttl"]
    iana = dcat_terms.IANA
    datacite = [d for d in g.subjects(RDF.type, DCAT.Distribution) if str(d).endswith("#metadata-datacite")]
    assert datacite
    for dist in g.subjects(RDF.type, DCAT.Distribution):
        (fmt,) = g.objects(dist, DCTERMS.format)
        assert (fmt, RDF.type, DCTERMS.MediaTypeOrExtent) in g
        assert (fmt, SKOS.inScheme, rdflib.URIRef(dcat_terms.EU + "file-type")) in g
        (licence,) = g.objects(dist, DCTERMS.license)
        assert (licence, RDF.type, DCTERMS.LicenseDocument) in g
        for rights in g.objects(dist, DCTERMS.rights):
            assert (rights, RDF.type, DCTERMS.RightsStatement) in g
        media = [str(m) for m in g.objects(dist, DCAT.mediaType)]
        if dist in datacite:
            assert media == [iana + "application/vnd.datacite.datacite+xml"]
    data = [d for d in g.subjects(RDF.type, DCAT.Distribution) if str(d).endswith("/#data")]
    assert len(data) >= 5  # (the DataLad datasets: format from their files, binary data for MRC)
    assert {str(f).rsplit("/", 1)[-1] for d in data for f in g.objects(d, DCTERMS.format)} == {"BIN"}


def test_data_format_of_a_datalad_dataset() -> None:
    assert dcat_terms.data_format(["tiff", "ome-tiff"]) == ("image/tiff", "TIFF")
    assert dcat_terms.data_format(["hdf5", "emd"]) == ("", "HDF")  # (HDF5 has no IANA media type)
    assert dcat_terms.data_format(["mrc"]) == ("application/octet-stream", "BIN")
    assert dcat_terms.data_format(["tiff", "mrc"]) == ("application/octet-stream", "BIN")


def test_licence_types() -> None:
    assert dcat_terms.licence_types("CC0-1.0") == ["PublicDomain"]
    assert dcat_terms.licence_types("CC-BY-NC-SA-4.0") == ["Attribution", "NonCommercialUseOnly",
                                                           "ViralEffect-ShareAlike"]
    assert dcat_terms.licence_types("CC-BY-4.0") == ["Attribution"]


def test_the_hand_written_shapes_are_gone() -> None:
    assert not (ROOT / "tests" / "schemas" / "dcat-ap-ch-shapes.ttl").exists()


def test_provenance_statements(graphs) -> None:
    """Where the files come from (the record's data.provenance) as dct:provenance (FAIR R1.2)."""
    g = graphs["ttl"]
    node = rdflib.URIRef(f"{SITE_URL}datasets/apoferritin-krios-2024/#provenance")
    assert (rdflib.URIRef(f"{SITE_URL}datasets/apoferritin-krios-2024/"), DCTERMS.provenance, node) in g
    assert (node, RDF.type, DCTERMS.ProvenanceStatement) in g
    assert "simulated by examples/simulate.py" in str(g.value(node, rdflib.RDFS.label))


def test_each_dataset_has_its_own_dcat_record(graphs) -> None:
    """datasets/<id>/dcat.ttl: the dataset's statements of the catalogue, on their own, valid alone, with the data
    collection as a PROV activity (what FAIR assessors read as formal provenance)."""
    from rdflib.namespace import PROV

    result = load_catalogue(ROOT)
    ctx = SiteContext(result.catalogue, site_url=SITE_URL)
    official = shapes(*MANDATORY)
    whole = graphs["ttl"]
    for d in result.catalogue.datasets:
        art = dcat.artefacts(ctx, d)[0]
        assert (art.path, art.media_type, art.label) == (f"datasets/{d.id}/dcat.ttl", "text/turtle",
                                                         "DCAT-AP (Turtle)")
        one = rdflib.Graph().parse(data=art.content, format="turtle")
        assert results(one, official) == Counter(), d.id
        assert all(triple in whole for triple in one), d.id  # (the same statements as in the catalogue)
        ds = rdflib.URIRef(ctx.dataset_url(d))
        (act,) = one.objects(ds, PROV.wasGeneratedBy)
        assert (act, RDF.type, PROV.Activity) in one
        assert str(one.value(act, PROV.wasAssociatedWith)) == ctx.facility(d).ror
    apo = rdflib.URIRef(f"{SITE_URL}datasets/apoferritin-krios-2024/#acquisition")
    assert "on a Titan Krios G4" in str(whole.value(apo, rdflib.RDFS.label))
