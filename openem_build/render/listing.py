"""The pages that list datasets: Home, Browse, Facilities and each facility's page (records in, HTML out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..infra.context import SiteContext
from ..records.model import Dataset, Facility
from . import thumbs
from .jsonld import TECHNIQUE_LABELS
from .pages import env

#: Browse's filters, in display order: (URL parameter, label).
BROWSE_FILTERS = (("technique", "Technique"), ("facility", "Facility"), ("organism", "Organism"), ("year", "Year"),
                  ("license", "Licence"))


def _newest(datasets: Sequence[Dataset]) -> list[Dataset]:
    return sorted(datasets, key=lambda d: (-d.dates.published.toordinal(), d.id))


def organism(d: Dataset) -> str:
    """What Browse's organism filter says of ``d``."""
    if d.sample.organism:
        return d.sample.organism.name
    return d.sample.material and "Material (non-biological)" or "Not specified"


def facets(ctx: SiteContext, datasets: Sequence[Dataset]) -> dict[str, list[tuple[str, str, int]]]:
    """Per Browse filter: (value, label, datasets) for every value some dataset has (none with 0)."""
    def facet(values: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
        counts = Counter(values)
        return sorted(((v, label, n) for (v, label), n in counts.items()), key=lambda t: t[1].casefold())

    return {
        "technique": facet([(d.technique, TECHNIQUE_LABELS.get(d.technique, d.technique)) for d in datasets]),
        "facility": facet([(d.facility, ctx.catalogue.facilities[d.facility].label) for d in datasets]),
        "organism": facet([(organism(d), organism(d)) for d in datasets]),
        "year": sorted(facet([(str(d.year), str(d.year)) for d in datasets]), reverse=True),
        "license": facet([(d.license, d.license) for d in datasets]),
    }


def claims(datasets: Sequence[Dataset]) -> dict[str, int]:
    """What the Home page says of the catalogue, counted from it."""
    return {
        "datasets": len(datasets),
        "facilities": len({d.facility for d in datasets}),
        "doi": sum(1 for d in datasets if d.doi),
        "files": sum(1 for d in datasets if d.data.datalad),
        "embargoed": sum(1 for d in datasets if d.is_embargoed),
    }


def home_page(ctx: SiteContext, sizes: dict[str, int]) -> str:
    datasets = ctx.catalogue.datasets
    techniques = Counter(d.technique for d in datasets)
    newest = _newest(datasets)
    return env().get_template("home.html").render(
        ctx=ctx, base="", newest=newest[:6], with_files=[d for d in newest if d.data.datalad][:4],
        counts=claims(datasets),
        total_size=sum(sizes.values()) if sizes else None, thumb=thumbs.thumb, img=thumbs.img,
        techniques=sorted(techniques.items(), key=lambda kv: (-kv[1], kv[0])))


def browse_page(ctx: SiteContext, sizes: dict[str, int]) -> str:
    datasets = _newest(ctx.catalogue.datasets)
    return env().get_template("browse.html").render(
        ctx=ctx, datasets=datasets, base="../", sizes=sizes, facets=facets(ctx, datasets), filters=BROWSE_FILTERS,
        organism=organism, thumb=thumbs.thumb, img=thumbs.img)


def facilities_page(ctx: SiteContext) -> str:
    counts = Counter(d.facility for d in ctx.catalogue.datasets)
    return env().get_template("facilities.html").render(
        ctx=ctx, base="../", facilities=sorted(ctx.catalogue.facilities.values(), key=lambda f: f.name),
        counts=counts)


def facility_page(ctx: SiteContext, fac: Facility) -> str:
    datasets = _newest([d for d in ctx.catalogue.datasets if d.facility == fac.id])
    return env().get_template("facility.html").render(ctx=ctx, base="../../", fac=fac, datasets=datasets,
                                                      thumb=thumbs.thumb, img=thumbs.img)

