"""DataCite metadata of a dataset: the REST API's JSON attributes and Metadata Schema 4.5 XML.

The JSON (:func:`attributes`) follows DataCite's JSON schema as shipped in the ``datacite`` package, which
is also what the REST API takes in ``data.attributes``; the XML is written from it by that package's
kernel-4.5 serialiser. A record using a value that only kernel 4.6 knows (contributor type Translator,
identifier types CSTR/RRID, relation types HasTranslation/IsTranslationOf) is declared as kernel 4.6, a
superset of 4.5 in the same namespace.

Pure functions of ``(SiteContext, Dataset)``: nothing here reads files, the network or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datacite import schema45
from lxml import etree

from ..infra.context import SiteContext
from ..infra.urls import archive_url
from ..records.licenses import license_name, license_url
from ..records.markdown import to_text
from ..records.model import Affiliation, Dataset, Person
from . import xmltext
from .citation import one_line, publisher
from .jsonld import TECHNIQUE_LABELS
from .registry import Artefact, per_dataset

XML_TYPE = "application/vnd.datacite.datacite+xml"
SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
KERNEL_NS = "http://datacite.org/schema/kernel-4"

ORCID = {"nameIdentifierScheme": "ORCID", "schemeUri": "https://orcid.org"}
ROR_SCHEME = "https://ror.org"

#: Values that exist only from kernel 4.6 on.
_V46_CONTRIBUTOR_TYPES = {"Translator"}
_V46_IDENTIFIER_TYPES = {"CSTR", "RRID"}
_V46_RELATION_TYPES = {"HasTranslation", "IsTranslationOf"}


@dataclass(frozen=True)
class Versions:
    """How one version's DOI relates to the others (the Zenodo model).

    ``concept`` is the DOI standing for all versions (it resolves to the latest); ``previous`` is the DOI of
    the version this one replaces. Both optional: a dataset with a single version has neither.
    """

    concept: str | None = None
    previous: str | None = None
    newer: str | None = None
    #: For the concept DOI's own record: the DOIs of every version.
    versions: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------ pieces


def _affiliation(a: Affiliation) -> dict[str, Any]:
    out: dict[str, Any] = {"name": one_line(a.name)}
    if a.ror:
        out.update(affiliationIdentifier=a.ror, affiliationIdentifierScheme="ROR", schemeUri=ROR_SCHEME)
    return out


def _person(p: Person) -> dict[str, Any]:
    family, given = one_line(p.family), one_line(p.given)
    out: dict[str, Any] = {"name": f"{family}, {given}" if given else family, "nameType": "Personal"}
    if given:
        out["givenName"] = given
    out["familyName"] = family
    if p.orcid:
        out["nameIdentifiers"] = [{"nameIdentifier": f"https://orcid.org/{p.orcid}", **ORCID}]
    affiliations = _unique([_affiliation(a) for a in p.affiliations])
    if affiliations:
        out["affiliation"] = affiliations
    return out


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` without repeats, in order (DataCite's JSON schema wants unique array items)."""
    seen: list[dict[str, Any]] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _publisher(ctx: SiteContext, d: Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {"name": one_line(publisher(ctx, d)), "lang": "en"}
    ror = ctx.publisher_ror if ctx.publisher else ctx.facility(d).ror
    if ror:
        out.update(publisherIdentifier=ror, publisherIdentifierScheme="ROR", schemeUri=ROR_SCHEME + "/")
    return out


def _subjects(ctx: SiteContext, d: Dataset) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"subject": one_line(k), "lang": "en"} for k in d.keywords]
    out.append({"subject": TECHNIQUE_LABELS.get(d.technique, d.technique),
                "subjectScheme": "OpenEM technique", "schemeUri": ctx.url("schema/dataset.schema.json"),
                "classificationCode": d.technique, "lang": "en"})
    organism = d.sample.organism
    if organism:
        item: dict[str, Any] = {"subject": one_line(organism.name), "subjectScheme": "NCBI Taxonomy",
                                "schemeUri": "https://www.ncbi.nlm.nih.gov/taxonomy"}
        if organism.taxon_id:
            item["classificationCode"] = str(organism.taxon_id)
            item["valueUri"] = f"http://purl.obolibrary.org/obo/NCBITaxon_{organism.taxon_id}"
        out.append(item)
    return _unique(out)


def _contributors(ctx: SiteContext, d: Dataset) -> list[dict[str, Any]]:
    fac = ctx.facility(d)
    out: list[dict[str, Any]] = [{"name": one_line(d.contact.name), "contributorType": "ContactPerson"}]
    for p in d.authors:
        out += [{**_person(p), "contributorType": role} for role in p.roles]
    for pi in d.principal_investigators:
        person = _person(Person(name=pi.name, orcid=pi.orcid,
                                affiliations=(Affiliation(pi.organisation),) if pi.organisation else ()))
        out.append({**person, "contributorType": "ProjectLeader"})
    out.append({"name": one_line(fac.name), "nameType": "Organizational",
                "contributorType": "HostingInstitution",
                "affiliation": [_affiliation(Affiliation(fac.institution, fac.ror))]})
    return _unique(out)


def _dates(d: Dataset) -> list[dict[str, Any]]:
    out = [{"date": d.dates.published.isoformat(), "dateType": "Issued"}]
    if d.dates.collected:
        out.append({"date": d.dates.collected.isoformat(), "dateType": "Collected"})
    if d.dates.modified:
        out.append({"date": d.dates.modified.isoformat(), "dateType": "Updated"})
    if d.is_embargoed and d.embargo_until:
        out.append({"date": d.embargo_until.isoformat(), "dateType": "Available",
                    "dateInformation": "End of the embargo"})
    return out


def _related(d: Dataset, doi: str | None, versions: Versions | None) -> list[dict[str, Any]]:
    def rel(identifier: str, kind: str, relation: str) -> dict[str, Any]:
        return {"relatedIdentifier": identifier, "relatedIdentifierType": kind, "relationType": relation}

    out: list[dict[str, Any]] = []
    for pub in d.related.publications:
        if pub.doi:
            out.append(rel(pub.doi, "DOI", pub.relation))
        if pub.pmid:
            out.append(rel(str(pub.pmid), "PMID", pub.relation))
    # Maps and models derived from these data; EMPIAR entries are copies of (part of) them elsewhere.
    out += [rel(archive_url(a), "URL", "IsSourceOf") for a in (*d.related.emdb, *d.related.pdb)]
    out += [rel(archive_url(a), "URL", "IsIdenticalTo") for a in d.related.empiar]
    # The files themselves: the same data packaged as a DataLad dataset (git-annex).
    if d.data.datalad:
        out.append(rel(d.data.datalad, "URL", "IsVariantFormOf"))
    out += [rel(r.identifier, r.identifier_type, r.relation_type) for r in d.related.related_identifiers]
    if versions:
        if versions.concept and versions.concept.lower() != (doi or "").lower():
            out.append(rel(versions.concept, "DOI", "IsVersionOf"))
        out += [rel(v, "DOI", "HasVersion") for v in versions.versions]
        if versions.previous:
            out.append(rel(versions.previous, "DOI", "IsNewVersionOf"))
        if versions.newer:
            out.append(rel(versions.newer, "DOI", "IsPreviousVersionOf"))
    return _unique(out)


def _sizes(d: Dataset) -> list[str]:
    out: list[str] = []
    manifest = d.manifest
    if manifest is not None and manifest.files:
        out.append(f"{len(manifest.files)} files")
        if manifest.sizes_complete:
            out.append(f"{manifest.total_size} bytes")
    out += [f"{s.count} files ({one_line(s.name)})" for s in d.data.image_sets if s.count is not None]
    return list(dict.fromkeys(out))


def _formats(d: Dataset) -> list[str]:
    return list(dict.fromkeys(s.format for s in d.data.image_sets))


def _rights(d: Dataset) -> list[dict[str, Any]]:
    out = [{"rights": license_name(d.license), "rightsUri": license_url(d.license),
            "rightsIdentifier": d.license, "rightsIdentifierScheme": "SPDX",
            "schemeUri": "https://spdx.org/licenses/", "lang": "en"}]
    if d.is_embargoed:
        out.append({"rights": "Embargoed access", "rightsUri": "info:eu-repo/semantics/embargoedAccess",
                    "lang": "en"})
    else:
        out.append({"rights": "Open access", "rightsUri": "info:eu-repo/semantics/openAccess", "lang": "en"})
    return out


def _num(value: float) -> str:
    return f"{value:g}"


def technical_info(d: Dataset) -> str:
    """Instrument, acquisition and processing facts as one paragraph of plain text."""
    ins, acq, proc, smp = d.instrument, d.acquisition, d.processing, d.sample
    parts: list[str] = []
    if ins.microscope:
        made = f" ({ins.manufacturer})" if ins.manufacturer else ""
        parts.append(f"Microscope: {ins.microscope}{made}")
    if ins.acceleration_voltage_kV is not None:
        parts.append(f"acceleration voltage {_num(ins.acceleration_voltage_kV)} kV")
    if ins.cs_mm is not None:
        parts.append(f"Cs {_num(ins.cs_mm)} mm")
    if ins.detector:
        mode = f" ({ins.detector_mode} mode)" if ins.detector_mode else ""
        pitch = f", {_num(ins.detector_pixel_size_um)} µm pixels" if ins.detector_pixel_size_um is not None else ""
        parts.append(f"detector: {ins.detector}{mode}{pitch}")
    if ins.energy_filter:
        parts.append(f"energy filter: {ins.energy_filter}")
    facts = [
        ("magnification", acq.magnification, ""),
        ("pixel size", acq.pixel_size_A, " Å"),
        ("total dose", acq.total_dose_e_per_A2, " e⁻/Å²"),
        ("frames per movie", acq.frames_per_movie, ""),
        ("tilt step", acq.tilt_step_deg, "°"),
        ("slice thickness", acq.slice_thickness_nm, " nm"),
        ("camera length", acq.camera_length_mm, " mm"),
        ("temperature", acq.temperature_K, " K"),
    ]
    parts += [f"{name} {_num(value)}{unit}" for name, value, unit in facts if value is not None]
    if acq.defocus_range_um:
        parts.append("defocus " + " to ".join(_num(v) for v in acq.defocus_range_um) + " µm")
    if acq.tilt_range_deg:
        parts.append("tilt range " + " to ".join(_num(v) for v in acq.tilt_range_deg) + "°")
    if acq.tilt_scheme:
        parts.append(f"tilt scheme: {acq.tilt_scheme}")
    if acq.software:
        parts.append(f"acquisition software: {acq.software}")
    if smp.preparation:
        parts.append(f"specimen preparation: {smp.preparation}")
    if proc:
        if proc.software:
            parts.append("processing software: " + ", ".join(proc.software))
        if proc.resolution_A is not None:
            parts.append(f"resolution {_num(proc.resolution_A)} Å")
        if proc.symmetry:
            parts.append(f"symmetry {proc.symmetry}")
        if proc.particles is not None:
            parts.append(f"{proc.particles} particles")
    return one_line("; ".join(parts) + ".") if parts else ""


def _descriptions(d: Dataset) -> list[dict[str, Any]]:
    out = [{"description": to_text(d.description) or one_line(d.description), "descriptionType": "Abstract",
            "lang": "en"}]
    tech = technical_info(d)
    if tech:
        out.append({"description": tech, "descriptionType": "TechnicalInfo", "lang": "en"})
    if d.sample.preparation_details:
        out.append({"description": one_line(d.sample.preparation_details), "descriptionType": "Methods",
                    "lang": "en"})
    return out


def _funding(d: Dataset) -> list[dict[str, Any]]:
    out = []
    for f in d.funding:
        item: dict[str, Any] = {"funderName": one_line(f.funder)}
        if f.ror:
            item.update(funderIdentifier=f.ror, funderIdentifierType="ROR")
        elif f.crossref_funder_id:
            item.update(funderIdentifier=f.crossref_funder_id, funderIdentifierType="Crossref Funder ID")
        if f.award:
            item["awardNumber"] = one_line(f.award)
        if f.award_title:
            item["awardTitle"] = one_line(f.award_title)
        out.append(item)
    return _unique(out)


# ------------------------------------------------------------------------------------------------- public


def attributes(ctx: SiteContext, d: Dataset, *, doi: str | None = None,
               versions: Versions | None = None) -> dict[str, Any]:
    """The DataCite metadata as the REST API's ``data.attributes`` (without ``event`` and ``url``).

    ``doi`` overrides the record's own (for a DOI about to be registered).
    """
    doi = doi or d.doi
    out: dict[str, Any] = {}
    if doi:
        out["doi"] = doi
    out |= {
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Electron microscopy data: "
                  + TECHNIQUE_LABELS.get(d.technique, d.technique)},
        "creators": [_person(p) for p in d.authors],
        "titles": [{"title": one_line(d.title), "lang": "en"}],
        "publisher": _publisher(ctx, d),
        "publicationYear": str(d.year),
        "subjects": _subjects(ctx, d),
        "contributors": _contributors(ctx, d),
        "dates": _dates(d),
        "language": "en",
        "alternateIdentifiers": [{"alternateIdentifier": ctx.dataset_url(d),
                                  "alternateIdentifierType": "URL"}],
        "relatedIdentifiers": _related(d, doi, versions),
        "sizes": _sizes(d),
        "formats": _formats(d),
        "version": d.version,
        "rightsList": _rights(d),
        "descriptions": _descriptions(d),
        "fundingReferences": _funding(d),
        "schemaVersion": SCHEMA_VERSION,
    }
    # (the same metadata go to the REST API as JSON, and DataCite keeps them as XML)
    return xmltext.clean_all({k: v for k, v in out.items() if v not in ([], None, "")})


def kernel_version(attrs: dict[str, Any]) -> str:
    """``4.6`` when the metadata use a value that only kernel 4.6 defines, else ``4.5``."""
    if any(c.get("contributorType") in _V46_CONTRIBUTOR_TYPES for c in attrs.get("contributors", [])):
        return "4.6"
    for r in attrs.get("relatedIdentifiers", []):
        if r["relatedIdentifierType"] in _V46_IDENTIFIER_TYPES or r["relationType"] in _V46_RELATION_TYPES:
            return "4.6"
    return "4.5"


def payload(ctx: SiteContext, d: Dataset, *, doi: str, event: str | None = None, url: str | None = None,
            versions: Versions | None = None) -> dict[str, Any]:
    """A complete JSON:API request body for ``POST /dois`` or ``PUT /dois/<doi>``.

    ``event`` is ``publish`` (findable), ``register`` or ``hide``; ``None`` keeps or makes a draft.
    """
    attrs = attributes(ctx, d, doi=doi, versions=versions)
    prefix, _, suffix = doi.partition("/")
    attrs = {"doi": doi, "prefix": prefix, "suffix": suffix, **attrs}
    if event:
        attrs["event"] = event
    attrs["url"] = url or ctx.dataset_url(d)
    return {"data": {"id": doi, "type": "dois", "attributes": attrs}}


def xml(ctx: SiteContext, d: Dataset, *, doi: str | None = None, versions: Versions | None = None) -> str:
    """DataCite XML (kernel 4.5, or 4.6 where the record needs it).

    Without a DOI the identifier is the landing page's URL (``identifierType="URL"``).
    """
    attrs = attributes(ctx, d, doi=doi, versions=versions)
    root = schema45.dump_etree(attrs)
    # The package's 4.5 serialiser leaves out subject/@classificationCode (new in 4.5): add it back.
    # (Its elements carry no namespace in the tree; serialised under the root's default namespace.)
    subjects = root.find("subjects")
    if subjects is None:
        subjects = root.find(f"{{{KERNEL_NS}}}subjects")
    if subjects is not None:
        for elem, subject in zip(subjects, attrs["subjects"], strict=True):
            if subject.get("classificationCode"):
                elem.set("classificationCode", subject["classificationCode"])
    version = kernel_version(attrs)
    root.set("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation",
             f"{KERNEL_NS} http://schema.datacite.org/meta/kernel-{version}/metadata.xsd")
    if "doi" not in attrs:
        ident = etree.Element(f"{{{KERNEL_NS}}}identifier", identifierType="URL")
        ident.text = xmltext.clean(ctx.dataset_url(d))
        root.insert(0, ident)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8").decode("utf-8")


@per_dataset(40)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    """``datasets/<id>/datacite.xml``."""
    return [Artefact(ctx.dataset_path(d) + "datacite.xml", xml(ctx, d), "DataCite XML", XML_TYPE)]
