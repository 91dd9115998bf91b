"""Registering dataset DOIs with DataCite's REST API: ``openem doi reserve|publish|update <id>``.

- The endpoint is configurable and defaults to DataCite's *test* API; the repository id and password come
  only from the environment (``DATACITE_REPOSITORY_ID``, ``DATACITE_PASSWORD``), never from repository files.
  They are sent only to the endpoint's origin (scheme, host and port), only over https (plain http only to
  127.0.0.1, localhost or [::1], for a local stand-in), never through a proxy in the clear, and no redirect is
  followed (:class:`DataCiteAPI`).
- A DOI's name is the record's ``doi`` when it has one, else ``<prefix>/openem.<id>``; either must be in the
  form :mod:`.doiname` accepts, and one this catalogue may register for that dataset: under the prefix only
  the dataset's own derived DOI, and none that another dataset of the catalogue names (:func:`check_claim`).
- Every command first asks the API for the DOI's state, then plans the requests (:func:`plan`, pure), so
  running a command twice changes nothing. A registered or findable DOI is never re-pointed to another URL
  without ``force``, and nothing here ever deletes or hides a DOI.
- The dataset's YAML gets its ``doi:`` line only after the API confirmed the DOI exists, as one inserted
  line: the rest of the file (comments, quoting, order) is left exactly as it was.
- Versions follow Zenodo: the YAML's ``doi`` is the *concept* DOI (all versions, resolving to the landing
  page, which shows the latest) and each version has a derived DOI ``<concept>.v<version>`` (never written
  to the YAML). ``publish`` registers the current version's DOI beside the concept (IsVersionOf the concept,
  IsNewVersionOf the nearest earlier registered version) and lists every registered version on the concept
  (HasVersion); ``update`` updates both; ``reserve`` drafts the concept only. The versions are those the site
  publishes: from the first-parent history of the commit checked out, each record validated (:mod:`.history`,
  so a pull request's own commits never name a version). DOIs of older versions are only read, never
  written: they keep their URL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..infra.context import DEFAULT_SITE_URL, PUBLISHER, SiteContext
from ..records import doiname
from ..records.history import Version
from ..records.model import Dataset
from ..render import datacite
from .api import DataCiteAPI, DOIError, Request, Settings, check_claim, doi_name
from .plan import Plan, _listed_versions, _names, plan, version_doi, version_history, version_links, write_doi

# ------------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    doi: str
    message: str
    requests: tuple[Request, ...] = ()
    sent: bool = False
    yaml_updated: bool = False
    state: str | None = None
    #: The DOI of the dataset's current version (``<concept>.v<version>``).
    version_doi: str | None = None


def _plan_all(command: str, ctx: SiteContext, d: Dataset, concept: str, history: Sequence[Version],
              concept_now: Mapping[str, Any] | None, versions_now: Mapping[str, Mapping[str, Any] | None], *,
              force: bool = False) -> tuple[Plan, Plan]:
    """The plans for the concept DOI and for the current version's DOI (in that order).

    ``versions_now`` maps version strings to their DOI's attributes at DataCite (None or absent: not
    registered). Only the concept and the *current* version's DOI are ever written.
    """
    current = version_doi(concept, d.version)
    if command == "reserve":
        p = plan(command, ctx, d, concept, concept_now, force=force)
        return p, Plan((), f"version DOI {current} not reserved (`openem doi publish {d.id}` registers it)")
    names = _names(history, d.version)
    registered = [n for n in names if versions_now.get(n) is not None]
    # The concept lists every version DOI registered (or being registered now), and keeps any it already
    # lists that the git history does not know (history rewritten, or a run outside git).
    ours = [version_doi(concept, n) for n in names if n in registered or (command == "publish" and n == d.version)]
    known = {v.casefold() for v in ours}
    extra = [v for v in _listed_versions(concept_now) if v.casefold() not in known]
    concept_plan = plan(command, ctx, d, concept, concept_now, force=force,
                        versions=datacite.Versions(versions=tuple(extra + ours)))
    if command == "update" and versions_now.get(d.version) is None:
        return concept_plan, Plan((), f"version DOI {current} is not registered (`openem doi publish {d.id}` "
                                      "registers it)")
    now = versions_now.get(d.version)
    links = version_links(concept, history, d.version, registered=registered)
    # A neighbour the DOI already names but git does not know (a run outside git) is kept, not dropped.
    links = dataclasses.replace(links, previous=links.previous or _related_doi(now, "IsNewVersionOf"),
                                newer=links.newer or _related_doi(now, "IsPreviousVersionOf"))
    return concept_plan, plan(command, ctx, d, current, now, force=force, versions=links)


def _related_doi(current: Mapping[str, Any] | None, relation: str) -> str | None:
    for r in (current or {}).get("relatedIdentifiers") or []:
        if isinstance(r, dict) and r.get("relationType") == relation and r.get("relatedIdentifier"):
            return str(r["relatedIdentifier"])
    return None


def _joined(*plans: Plan) -> Plan:
    return Plan(tuple(r for p in plans for r in p.requests), "; ".join(p.message for p in plans))


def _send(api: DataCiteAPI, request: Request, doi: str) -> dict[str, Any]:
    answer = api.send(request)
    if str(answer.get("doi", doi)).lower() != doi.lower():
        raise DOIError(f"DataCite answered with DOI {answer.get('doi')} instead of {doi}")
    return answer


def run(command: str, ctx: SiteContext, d: Dataset, settings: Settings, *, root: Path, dry_run: bool = False,
        force: bool = False, api: DataCiteAPI | None = None) -> Outcome:
    """Carry out ``command`` for dataset ``d`` of the catalogue at ``root``: the concept DOI first, then the
    current version's DOI (see the module's docstring).

    Everything is planned before anything is sent, so a refusal sends nothing. A dry run sends nothing:
    with credentials it still reads the DOIs' states to plan exactly; without, it plans from the YAML (no
    ``doi``: nothing registered yet; else the concept and the earlier versions' DOIs are findable, and the
    current version's DOI is too for ``update`` but not yet for ``publish``).
    """
    concept = doi_name(d, settings.prefix)
    current = version_doi(concept, d.version)
    if not settings.prefix and not dry_run:
        raise DOIError("set DATACITE_PREFIX (or pass --prefix) to the prefix DataCite assigned to the "
                       "repository: only DOIs under it are registered")
    check_claim(d, concept, settings.prefix, ctx.catalogue.datasets)
    if problem := doiname.syntax_problem(current):
        raise DOIError(f"{current!r} {problem}")
    api = api or DataCiteAPI(settings)
    history = version_history(root, d)
    names = _names(history, d.version)
    if dry_run and not settings.has_credentials:
        # The YAML names a DOI only once DataCite confirmed it: assume it is findable at the landing page.
        url = ctx.dataset_url(d)
        earlier = names[:names.index(d.version) + (command == "update")] if d.doi else []
        assumed_versions = {n: {"state": "findable", "url": url} for n in earlier}
        listed = [{"relatedIdentifier": version_doi(concept, n), "relatedIdentifierType": "DOI",
                   "relationType": "HasVersion"} for n in earlier]
        assumed = {"state": "findable", "url": url, "relatedIdentifiers": listed} if d.doi else None
        p = _joined(*_plan_all(command, ctx, d, concept, history, assumed, assumed_versions, force=force))
        return Outcome(concept, "dry run without credentials (DataCite was not asked for the DOIs' states): "
                       + _would(p), p.requests, version_doi=current)
    if not settings.has_credentials:
        raise DOIError("set DATACITE_REPOSITORY_ID and DATACITE_PASSWORD to the DataCite repository's "
                       "credentials (environment variables only; never put them in a file of the repository)")
    concept_now = api.get(concept)
    versions_now = {} if command == "reserve" else {n: api.get(version_doi(concept, n)) for n in names}
    concept_plan, version_plan = _plan_all(command, ctx, d, concept, history, concept_now, versions_now,
                                           force=force)
    both = _joined(concept_plan, version_plan)
    if dry_run:
        return Outcome(concept, "dry run: " + _would(both), both.requests,
                       state=(concept_now or {}).get("state"), version_doi=current)
    answer: dict[str, Any] = dict(concept_now or {})
    for request in concept_plan.requests:
        try:
            answer = _send(api, request, concept)
        except DOIError as exc:
            raise DOIError(f"{exc}; nothing else was sent and the YAML was left unchanged") from None
    state = answer.get("state")
    updated = False
    # Here DataCite has confirmed the concept DOI exists (it answered the GET or the write).
    if d.source and not d.doi:
        updated = write_doi(root / d.source, concept)
    done = concept_plan.message + (f"; wrote doi: {concept} into {d.source}" if updated else "")
    for request in version_plan.requests:
        try:
            _send(api, request, current)
        except DOIError as exc:
            raise DOIError(f"{exc} (the concept DOI was handled first: {done}; run the command again to "
                           f"retry {current})") from None
    return Outcome(concept, f"{done}; {version_plan.message}", both.requests, sent=bool(both.requests),
                   yaml_updated=updated, state=state, version_doi=current)


def _would(p: Plan) -> str:
    if not p.requests:
        return p.message
    return f"would send {len(p.requests)} request{'s' * (len(p.requests) != 1)} ({p.message})"


# ------------------------------------------------------------------------------------------------ context


class _ConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring the Python tags some of its extensions use."""


_ConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def site_context(root: Path, catalogue: Any, config: str = "mkdocs.yml") -> SiteContext:
    """The SiteContext the site is built with: site_url and the openem plugin's publisher from mkdocs.yml."""
    site_url, publisher, publisher_ror, site_name = DEFAULT_SITE_URL, PUBLISHER, None, "OpenEM catalogue"
    path = root / config
    if path.is_file():
        try:
            cfg = yaml.load(path.read_text("utf-8"), Loader=_ConfigLoader) or {}
        except yaml.YAMLError as exc:
            raise DOIError(f"cannot read {path}: {exc}") from None
        site_url = cfg.get("site_url") or site_url
        site_name = cfg.get("site_name") or site_name
        for plugin in cfg.get("plugins") or []:
            if isinstance(plugin, dict) and isinstance(plugin.get("openem"), dict):
                publisher = plugin["openem"].get("publisher") or publisher
                publisher_ror = plugin["openem"].get("publisher_ror") or publisher_ror
    return SiteContext(catalogue, site_url=site_url, publisher=publisher, publisher_ror=publisher_ror,
                       site_name=site_name)


