"""The people, names and citation of an EMPIAR deposition, with the problems that stop it (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..infra.context import SiteContext
from ..records.model import Dataset, Person
from ..records.problems import ERROR, WARNING, Problem

_NAME_FORBIDDEN = re.compile(r'[0-9!"£$%^&*()]')


_EMPIAR_DOI = re.compile(r"^10.[0-9]{4,9}/[-._;()/:A-z0-9]+$")


def problem(d: Dataset, field: str, message: str, hint: str = "", severity: str = ERROR) -> Problem:
    """A message about one field of the dataset's YAML (no line: renderers do not see source positions)."""
    return Problem(d.source or f"datasets/{d.id}/dataset.yaml", 0, 0, field, message, hint, severity)


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == ERROR]


def initials(given: str) -> str:
    """'Yi-Wei' → 'YW', 'Anna Maria' → 'AM', 'J. R. R.' → 'JRR' (EMPIAR's author format)."""
    return "".join(part[0].upper() for part in re.split(r"[\s.\-‐]+", given) if part and part[0].isalpha())


def _safe(value: str) -> str:
    """A name part that stays inside EMPIAR's Python-tuple string: typographic apostrophe, one line."""
    return " ".join(value.replace("'", "’").replace("\\", " ").split())


def tuple_code(code: str, other: str = "") -> str:
    """EMPIAR's code notation: ``('T1', '')`` or ``('OT', 'SOMETHING')``."""
    return f"('{code}', '{_safe(other)}')"


def orcid_ok(orcid: str) -> bool:
    """ISO 7064 11,2 check digit of an ORCID iD (EMPIAR checks it)."""
    digits = orcid.replace("-", "")
    if not re.fullmatch(r"\d{15}[\dX]", digits):
        return False
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def _family_given(name: str) -> tuple[str, str]:
    p = Person(name=name)
    return p.family, p.given


def _author(d: Dataset, name: str, orcid: str | None, order: int, field: str,
            out: list[Problem]) -> dict[str, Any]:
    family, given = _family_given(name)
    if _NAME_FORBIDDEN.search(family + given):
        out.append(problem(d, field, f"'{name}' contains digits or one of !\"£$%^&*() — EMPIAR does not accept "
                           "them in names", "write the name without them"))
    if len(family) > 60:
        out.append(problem(d, field, "the family name is longer than EMPIAR's 60 characters"))
    entry: dict[str, Any] = {"name": f"('{_safe(family)}', '{initials(given)[:20]}')", "order_id": order,
                             "author_orcid": None}
    if orcid:
        if orcid_ok(orcid):
            entry["author_orcid"] = orcid
        else:
            out.append(problem(d, field.rsplit(".", 1)[0] + ".orcid" if field.endswith(".name") else field,
                               f"ORCID iD {orcid} has a wrong check digit; EMPIAR verifies it",
                               "copy the iD from orcid.org"))
    return entry


def _person_fields(d: Dataset, name: str, field: str, out: list[Problem]) -> dict[str, str]:
    family, given = _family_given(name)
    if _NAME_FORBIDDEN.search(family + given):
        out.append(problem(d, field, f"'{name}' contains digits or one of !\"£$%^&*() — EMPIAR does not accept "
                           "them in names", "write the name without them"))
    return {"first_name": given[:60], "last_name": family[:60]}


def _country(d: Dataset, code: str | None, field: str, who: str, out: list[Problem]) -> str | None:
    if code == "UK":
        out.append(problem(d, field, "'UK' is not an ISO 3166-1 code", "write GB for the United Kingdom"))
        return None
    if not code:
        out.append(problem(d, field, f"is missing: EMPIAR requires the country of the {who}",
                           f"add {field}: CH (a two-letter ISO 3166-1 code)"))
    return code


def _corresponding(ctx: SiteContext, d: Dataset, out: list[Problem]) -> dict[str, Any] | None:
    marked = [(i, a) for i, a in enumerate(d.authors) if a.corresponding]
    if not marked:
        out.append(problem(d, "authors", "no author is marked as corresponding: EMPIAR requires a corresponding "
                           "author with e-mail, organisation and country",
                           "add corresponding: true and email: to one author"))
        return None
    i, a = marked[0]
    here = f"authors[{i}]"
    entry: dict[str, Any] = {"author_orcid": a.orcid if a.orcid and orcid_ok(a.orcid) else None,
                             **_person_fields(d, a.name, f"{here}.name", out), "middle_name": None}
    if not a.email:
        out.append(problem(d, f"{here}.email", "is missing: EMPIAR requires an e-mail for the corresponding author",
                           f"add {here}.email: name@example.org"))
    else:
        entry["email"] = a.email
    if not a.affiliations:
        out.append(problem(d, f"{here}.affiliations", "is missing: EMPIAR requires the corresponding author's "
                           "organisation", f"add {here}.affiliations with the organisation's name (and ror)"))
        return None
    aff = a.affiliations[0]
    entry["organization"] = aff.name[:255]
    country, city = _affiliation_place(ctx, d, a)
    code = _country(d, country, f"{here}.affiliations[0].country", "corresponding author's organisation", out)
    if code:
        entry["country"] = code
    if city:
        entry["town_or_city"] = city[:60]
    return entry


def _affiliation_place(ctx: SiteContext, d: Dataset, a: Person) -> tuple[str | None, str | None]:
    """Country (and city) of a person's first affiliation: stated, or known from a PI or the facility."""
    aff = a.affiliations[0]
    facility = ctx.catalogue.facilities.get(d.facility)
    same_facility = facility is not None and ((aff.ror and aff.ror == facility.ror)
                                              or aff.name.casefold() == facility.institution.casefold())
    city = facility.city if same_facility and facility else None
    if aff.country:
        return aff.country, city
    for pi in d.principal_investigators:
        if pi.country and ((a.orcid and pi.orcid == a.orcid) or pi.name == a.name
                           or (pi.organisation or "").casefold() == aff.name.casefold()):
            return pi.country, city
    if same_facility and facility:
        return facility.country, city
    return None, None


def _principal_investigators(d: Dataset, out: list[Problem]) -> list[dict[str, Any]]:
    if not d.principal_investigators:
        out.append(problem(d, "principal_investigators", "is missing: EMPIAR requires at least one principal "
                           "investigator with organisation, country and e-mail",
                           "add principal_investigators with name, email, organisation and country"))
        return []
    pis = []
    for i, pi in enumerate(d.principal_investigators):
        here = f"principal_investigators[{i}]"
        entry: dict[str, Any] = {"author_orcid": pi.orcid if pi.orcid and orcid_ok(pi.orcid) else None,
                                 **_person_fields(d, pi.name, f"{here}.name", out), "middle_name": None}
        if pi.orcid and not orcid_ok(pi.orcid):
            out.append(problem(d, f"{here}.orcid", f"ORCID iD {pi.orcid} has a wrong check digit; EMPIAR verifies "
                               "it", "copy the iD from orcid.org"))
        if pi.organisation:
            entry["organization"] = pi.organisation[:255]
        else:
            out.append(problem(d, f"{here}.organisation", "is missing: EMPIAR requires an organisation for each "
                               "principal investigator", f"add {here}.organisation: the institution's name"))
        if pi.email:
            entry["email"] = pi.email
        else:
            out.append(problem(d, f"{here}.email", "is missing: EMPIAR requires an e-mail for each principal "
                               "investigator", f"add {here}.email: name@example.org"))
        code = _country(d, pi.country, f"{here}.country", "principal investigator's organisation", out)
        if code:
            entry["country"] = code
        pis.append(entry)
    return pis


def primary_publication(d: Dataset) -> tuple[int, Any] | None:
    """The article the data supplement (first IsSupplementTo/IsDescribedBy, else the first listed)."""
    pubs = list(enumerate(d.related.publications))
    for i, p in pubs:
        if p.relation in ("IsSupplementTo", "IsDescribedBy"):
            return i, p
    return pubs[0] if pubs else None


def citation_authors(d: Dataset) -> list[tuple[str, str | None]]:
    """(name "Family, Given", ORCID) of the primary citation: the article's authors, else the dataset's.

    An article author who is also a dataset author (same name) gets that author's ORCID iD.
    """
    found = primary_publication(d)
    if found and found[1].authors:
        orcids = {a.name: a.orcid for a in d.authors}
        return [(name, orcids.get(name)) for name in found[1].authors]
    return [(a.name, a.orcid) for a in d.authors]


def _citation(ctx: SiteContext, d: Dataset, out: list[Problem]) -> dict[str, Any] | None:
    found = primary_publication(d)
    cite: dict[str, Any] = {"editors": [], "book_chapter_title": None, "publisher": None,
                            "publication_location": None, "journal": None, "journal_abbreviation": None,
                            "issue": None, "volume": None, "first_page": None, "last_page": None,
                            "language": "English", "country": None, "details": None}
    if found:
        i, pub = found
        here = f"related.publications[{i}]"
        if not pub.title:
            out.append(problem(d, f"{here}.title", "is missing: EMPIAR requires the title of the citation",
                               f"add {here}.title: the article's title"))
            return None
        if not pub.authors:
            out.append(problem(d, f"{here}.authors", "not given: the EMPIAR citation lists the dataset's authors",
                               f"add {here}.authors if the article's authors differ", WARNING))
        cite.update(j_or_nj_citation=True, published=bool(pub.doi or pub.pmid), title=pub.title,
                    journal=pub.journal, year=pub.year,
                    doi=_doi(d, pub.doi, f"{here}.doi", out), pubmedid=str(pub.pmid) if pub.pmid else None)
        where = f"{here}.authors" if pub.authors else "authors"
    else:
        out.append(problem(d, "related.publications", "no article given: the EMPIAR citation is the dataset "
                           "itself (a non-journal citation)", "add the article under related.publications "
                           "once there is one", WARNING))
        cite.update(j_or_nj_citation=False, published=d.status == "published", title=d.title, year=d.year,
                    doi=_doi(d, d.doi, "doi", out), pubmedid=None, publisher=(ctx.publisher or None),
                    details=f"Dataset in the {ctx.site_name}: {ctx.dataset_url(d)}")
        if cite["publisher"] and len(cite["publisher"]) > 80:
            cite["publisher"] = cite["publisher"][:80]
        where = "authors"
    authors = citation_authors(d)
    cite["authors"] = [_author(d, name, orcid, n, f"{where}[{n}]" + (".name" if where == "authors" else ""), out)
                       for n, (name, orcid) in enumerate(authors)]
    return cite


def _doi(d: Dataset, doi: str | None, field: str, out: list[Problem]) -> str | None:
    if not doi:
        return None
    if len(doi) > 80 or not _EMPIAR_DOI.match(doi):
        out.append(problem(d, field, f"DOI {doi} has characters or a length EMPIAR's form does not accept; it is "
                           "left out of the citation", severity=WARNING))
        return None
    return doi
