"""What the site may publish of each record on the day it is built: embargoes.

An embargoed entry publishes its metadata only, until the day its embargo ends: its record is replaced, before
any renderer sees it, by a view without its files (manifest, previews), its DataLad URL and its commit, in the
record's own document and in the records of its older versions. Every output is made from these views, so no
page, feed, export or index can show what the view does not hold. From ``embargo_until`` on (the build's date,
from ``SOURCE_DATE_EPOCH`` or git: see ``context.build_date``) the entry is published in full.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

from .history import Version
from .model import Catalogue, Dataset

#: What an embargoed record's document loses (data.<field>).
WITHHELD = ("datalad", "commit")


def is_embargoed(d: Dataset, today: date) -> bool:
    """Whether ``d``'s files are closed on ``today``."""
    return d.status == "embargoed" and (d.embargo_until is None or today < d.embargo_until)


def withhold(record: Any) -> Any:
    """A record document (``dataset.yaml`` data) without what points at the files."""
    if not isinstance(record, Mapping):
        return record
    out = copy.deepcopy(dict(record))
    data = out.get("data")
    if isinstance(data, Mapping):
        out["data"] = {k: v for k, v in data.items() if k not in WITHHELD}
    return out


def public(d: Dataset, today: date) -> Dataset:
    """The view of ``d`` that may be published on ``today``."""
    if d.status != "embargoed":
        return d
    if not is_embargoed(d, today):
        raw = dict(d.raw)
        raw["status"] = "published"
        return dataclasses.replace(d, status="published", raw=MappingProxyType(raw))
    return dataclasses.replace(d, data=dataclasses.replace(d.data, datalad=None, commit=None), manifest=None,
                               previews=(), raw=MappingProxyType(withhold(d.raw)))


def rebased(d: Dataset, rebase: Callable[[str], str]) -> Dataset:
    """``d`` with its DataLad URL as the build serves it (see ``SiteContext.rebase``)."""
    url = d.data.datalad
    if not url or rebase(url) == url:
        return d
    raw = copy.deepcopy(dict(d.raw))
    raw["data"] = {**raw["data"], "datalad": rebase(url)}
    return dataclasses.replace(d, data=dataclasses.replace(d.data, datalad=rebase(url)), raw=MappingProxyType(raw))


def public_site(catalogue: Catalogue, histories: Mapping[str, tuple[Version, ...]], today: date,
                rebase: Callable[[str], str] | None = None, memo: dict[str, tuple[Any, Dataset]] | None = None
                ) -> tuple[Catalogue, dict[str, tuple[Version, ...]]]:
    """The catalogue and version histories as the site built on ``today`` may show them (with DataLad URLs as
    ``rebase`` serves them).

    ``memo`` (kept by the caller between builds) gives the same view object for the same record, day and
    rebasing, so that `mkdocs serve --dirty` still sees an unchanged entry as unchanged."""
    def view(d: Dataset) -> Dataset:
        key = (d, today, rebase(d.data.datalad) if rebase and d.data.datalad else None)
        if memo is not None:
            last = memo.get(d.id)
            if last is not None and last[0][0] is d and last[0][1:] == key[1:]:
                return last[1]
        shown = public(d, today)
        if rebase is not None:
            shown = rebased(shown, rebase)
        if memo is not None:
            memo[d.id] = (key, shown)
        return shown

    datasets = tuple(map(view, catalogue.datasets))
    closed = {d.id for d in catalogue.datasets if is_embargoed(d, today)}
    shown = {ident: tuple(dataclasses.replace(v, record=withhold(v.record)) for v in versions)
             if ident in closed else versions for ident, versions in histories.items()}
    return Catalogue(datasets, catalogue.facilities, catalogue.root), shown
