"""schema.org JSON-LD for dataset landing pages and the catalogue (Google Dataset Search, harvesters)."""

from __future__ import annotations

from itertools import islice
from typing import Any

from ..data.store import git_url, parse_clone_url
from ..infra import jsontext
from ..infra.context import SiteContext
from ..infra.urls import archive_url, doi_url, http_only
from ..records.licenses import license_url
from ..records.manifest import media_type
from ..records.markdown import to_text
from ..records.model import Dataset, Person
from .jsonld_images import image_properties
from .registry import Artefact, per_dataset

COAR_OPEN = "http://purl.org/coar/access_right/c_abf2"
COAR_EMBARGOED = "http://purl.org/coar/access_right/c_f1cf"
#: Files listed one by one in ``distribution`` (like Signposting's items): the DataLad dataset holds them all.
MAX_FILES = 50

TECHNIQUE_LABELS = {
    "single-particle": "Single-particle cryo-electron microscopy",
    "helical": "Helical reconstruction (cryo-EM)",
    "subtomogram-averaging": "Subtomogram averaging",
    "tomography": "Electron cryo-tomography",
    "microed": "Microcrystal electron diffraction (MicroED)",
    "2d-crystallography": "2D electron crystallography",
    "fib-sem": "Focused ion beam scanning electron microscopy (FIB-SEM)",
    "sbf-sem": "Serial block-face scanning electron microscopy",
    "array-tomography": "Array tomography",
    "tem": "Transmission electron microscopy",
    "stem": "Scanning transmission electron microscopy",
    "sem": "Scanning electron microscopy",
    "edx": "Energy-dispersive X-ray spectroscopy",
    "eels": "Electron energy-loss spectroscopy",
}


def script_json(value: Any) -> str:
    """JSON safe inside an HTML ``<script>`` element: no ``</script>``, ``<!--`` or raw line separators."""
    text = jsontext.dumps(value)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _person(p: Person) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": "Person", "name": p.display_name, "familyName": p.family}
    if p.given:
        out["givenName"] = p.given
    if p.orcid_url:
        out["@id"] = p.orcid_url
        out["identifier"] = p.orcid_url
        out["sameAs"] = p.orcid_url  # (what Google's and F-UJI's readers of creators look for)
    if p.affiliations:
        out["affiliation"] = [_org(a.name, a.ror) for a in p.affiliations]
    return out


def _org(name: str, ror: str | None, url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": "Organization", "name": name}
    if ror:
        out["@id"] = ror
        out["identifier"] = ror
    if url:
        out["url"] = url
    return out


def dataset_jsonld(ctx: SiteContext, d: Dataset) -> dict[str, Any]:
    """A schema.org ``Dataset`` for one entry."""
    fac = ctx.facility(d)
    url = ctx.dataset_url(d)
    out: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": d.doi_url or url,
        "name": d.title,
        "description": to_text(d.description)[:5000],
        "url": url,
        "version": d.version,
        "license": license_url(d.license),
        "isAccessibleForFree": not d.is_embargoed,
        "creator": [_person(p) for p in d.authors],
        "publisher": _org(ctx.publisher, ctx.publisher_ror, ctx.site_url),
        "provider": _org(fac.name, fac.ror, fac.url),
        "datePublished": d.dates.published.isoformat(),
        "keywords": list(d.keywords),
        "measurementTechnique": TECHNIQUE_LABELS.get(d.technique, d.technique),
        "includedInDataCatalog": {"@type": "DataCatalog", "name": ctx.site_name, "url": ctx.site_url},
    }
    identifiers: list[Any] = []
    same_as: list[str] = []
    if d.doi:
        identifiers.append({"@type": "PropertyValue", "propertyID": "DOI", "value": d.doi, "url": doi_url(d.doi)})
        same_as.append(doi_url(d.doi))
    identifiers.append(url)
    out["identifier"] = identifiers
    if same_as or d.related.empiar:
        out["sameAs"] = same_as + [archive_url(a) for a in d.related.empiar]
    if d.related.emdb or d.related.pdb:
        out["isBasedOn"] = [archive_url(a) for a in (*d.related.emdb, *d.related.pdb)]
    if d.dates.modified:
        out["dateModified"] = d.dates.modified.isoformat()
    if d.dates.collected:
        out["temporalCoverage"] = d.dates.collected.isoformat()
    # The access level as a COAR access right (machine-readable: what F-UJI and OpenAIRE look for), then in words.
    if d.is_embargoed:
        until = f" until {d.embargo_until.isoformat()}" if d.embargo_until else ""
        out["conditionsOfAccess"] = [COAR_EMBARGOED, f"The files are under embargo{until}; the metadata are public. "
                                     f"Ask the contact ({d.contact.email}) about earlier access."]
    else:
        out["conditionsOfAccess"] = [COAR_OPEN, f"Open access: anyone may download the files, under {d.license}."]
    citations = [doi_url(p.doi) for p in d.related.publications if p.doi]
    if citations:
        out["citation"] = citations
    if d.funding:
        out["funder"] = [_org(f.funder, f.ror) for f in d.funding]
    variables = _variables(d)
    if variables:
        out["variableMeasured"] = variables
    about = {"@type": "Thing", "name": d.sample.name}
    if d.sample.organism:
        about["description"] = d.sample.organism.name
        if d.sample.organism.taxon_id:
            about["sameAs"] = f"http://purl.obolibrary.org/obo/NCBITaxon_{d.sample.organism.taxon_id}"
    out["about"] = about
    out.update(image_properties(ctx, d))
    out["distribution"] = _distribution(ctx, d)
    return out


#: UN/CEFACT Recommendation 20 common code for the ångström (``AD`` is the byte).
ANGSTROM = "A11"


def _variables(d: Dataset) -> list[dict[str, Any]]:
    facts = [
        ("Pixel size", d.acquisition.pixel_size_A, "Å", ANGSTROM),
        ("Acceleration voltage", d.instrument.acceleration_voltage_kV, "kV", "KVT"),
        ("Total electron dose", d.acquisition.total_dose_e_per_A2, "e⁻/Å²", None),
        ("Resolution", d.processing.resolution_A if d.processing else None, "Å", ANGSTROM),
    ]
    out = []
    for name, value, unit, code in facts:
        if value is None:
            continue
        item: dict[str, Any] = {"@type": "PropertyValue", "name": name, "value": value, "unitText": unit}
        if code:
            item["unitCode"] = code
        out.append(item)
    return out


def _distribution(ctx: SiteContext, d: Dataset) -> list[dict[str, Any]]:
    """The DataLad dataset and each file with a download URL (the first :data:`MAX_FILES`), then the metadata."""
    dist: list[dict[str, Any]] = []
    manifest = getattr(d, "manifest", None)
    if d.data.datalad:
        clone: dict[str, Any] = {
            "@type": "DataDownload",
            "name": "DataLad dataset (git-annex)",
            "contentUrl": _repository_url(ctx, d),
            "encodingFormat": "application/x-git",
            "description": f"datalad clone {d.data.datalad}",
        }
        if manifest is not None and manifest.total_size:
            clone["contentSize"] = f"{manifest.total_size} B"
        dist.append(clone)
        files = manifest.files if manifest is not None else ()
        for f in islice((f for f in files if f.download_urls), MAX_FILES):
            item: dict[str, Any] = {"@type": "DataDownload", "name": f.path,
                                    "contentUrl": ctx.rebase(f.download_urls[0]),
                                    "encodingFormat": media_type(f.path)}
            if f.size is not None:
                item["contentSize"] = f"{f.size} B"
            dist.append(item)
    dist.append({"@type": "DataDownload", "name": "Metadata (JSON)", "encodingFormat": "application/json",
                 "contentUrl": ctx.url(f"datasets/{d.id}/dataset.json")})
    return dist


def _repository_url(ctx: SiteContext, d: Dataset) -> str:
    """An http(s) URL of the DataLad dataset, as ``contentUrl`` wants: the git repository in the store (plain git
    clones it over HTTP), else the DataLad URL when it is one, else the landing page."""
    url = d.data.datalad or ""
    parsed = parse_clone_url(url)
    if parsed:
        return ctx.rebase(git_url(*parsed))
    return http_only(url) or ctx.dataset_url(d)


def catalogue_jsonld(ctx: SiteContext) -> dict[str, Any]:
    """A schema.org ``DataCatalog`` listing every dataset (for the home page)."""
    return {
        "@context": "https://schema.org/",
        "@type": "DataCatalog",
        "@id": ctx.site_url,
        "name": ctx.site_name,
        "url": ctx.site_url,
        "description": "The open catalogue of electron-microscopy data from Swiss EM facilities.",
        "publisher": _org(ctx.publisher, ctx.publisher_ror, ctx.site_url),
        "dataset": [{"@type": "Dataset", "@id": d.doi_url or ctx.dataset_url(d), "name": d.title,
                     "url": ctx.dataset_url(d)} for d in ctx.catalogue.datasets],
    }


@per_dataset(20)
def artefacts(ctx: SiteContext, d: Dataset) -> list[Artefact]:
    text = jsontext.dumps(dataset_jsonld(ctx, d), indent=2) + "\n"
    return [Artefact(f"datasets/{d.id}/metadata.jsonld", text, "JSON-LD (schema.org)", "application/ld+json")]
