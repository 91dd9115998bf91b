"""The parts of a PDBx/mmCIF entry: the record's values with their problems, the vitrification, software and helical
rows, and CIF values (pure)."""

from __future__ import annotations

import math
import re
import textwrap
from typing import Any

from gemmi import cif

from ..records.model import Dataset
from ..records.problems import WARNING, Problem
from .empiar import problem
from .mmcif_terms import (
    _WRAP,
    CRYOGENS,
    LONGEST,
    LONGEST_TEXT,
    MANDATORY_UNKNOWN,
    NUMBERS,
    ORCID,
    TEXT_ITEMS,
    VITRIFICATION_INSTRUMENTS,
    _num,
    _range_text,
    _shown,
    ascii_text,
    in_ranges,
    pdb_author,
    software,
)


class _Entry:
    """The categories of one export, and the messages about them."""

    def __init__(self, d: Dataset) -> None:
        self.d = d
        self.out: list[Problem] = []
        self.cats: dict[str, dict[str, list[Any]]] = {}
        self.notes: dict[str, list[str]] = {}

    def warn(self, field: str, message: str, hint: str = "") -> None:
        self.out.append(problem(self.d, field, message, hint, WARNING))

    def put(self, name: str, rows: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Category ``name`` from its rows; an item no row knows is left out unless it is mandatory ('?')."""
        rows = [rows] if isinstance(rows, dict) else rows
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        items = {k: [r.get(k) for r in rows] for k in keys}
        items = {k: v for k, v in items.items() if any(x is not None for x in v) or f"_{name}.{k}" in MANDATORY_UNKNOWN}
        if items:
            self.cats[f"_{name}."] = items

    def text(self, value: str | None, field: str, tag: str) -> str | None:
        """Free text as ASCII; one longer than ``tag`` can hold (one CIF line, or LONGEST_TEXT) is cut, with a
        warning."""
        if value is None:
            return None
        written = ascii_text(value)
        limit = LONGEST_TEXT if tag in TEXT_ITEMS else LONGEST
        if len(written) > limit:
            self.warn(field, f"is longer than the {limit} characters written to {tag}; it is cut there")
            written = written[:limit - 4] + " ..."
        return written or None

    def number(self, tag: str, value: float | None, field: str, label: str, keep_in: str | None = None) -> str | None:
        """``value`` as ``tag`` takes it; None when out of range, with a warning, the value kept in the details
        of ``keep_in`` (default: the item's own category)."""
        if value is None:
            return None
        kind, ranges, deposition = NUMBERS[tag]
        if not math.isfinite(value):
            self.warn(field, f"{value} is not a number {tag} can hold; it is left out")
            return None
        if kind in ("int", "positive_int"):
            value = round(value)
        if (kind == "positive_int" and value < 1) or not in_ranges(value, ranges) or not in_ranges(value, deposition):
            allowed = "1 or more" if kind == "positive_int" else " and ".join(
                filter(None, (ranges and _range_text(ranges), deposition and f"{_range_text(deposition)} for OneDep")))
            self.warn(field, f"{_num(value)} is outside the range {tag} takes ({allowed}); it is left out of that "
                      "item and kept in the details")
            self.note(keep_in or tag.split(".")[0], f"{label}: {_num(value)}")
            return None
        return _num(value)

    def note(self, category: str, text: str) -> None:
        """Something the dictionary has no item or value for, for the category's details text."""
        self.notes.setdefault(category, []).append(ascii_text(text))

    def details(self, category: str, field: str, *texts: str | None) -> str | None:
        """The category's details text: ``texts`` (from ``field``) and the notes made for it."""
        notes = self.notes.pop(category, [])
        parts = [p for p in (*(self.text(t, field, f"{category}.details") for t in texts if t), *notes) if p]
        if len(parts) > 1:
            return self.text("; ".join(p.rstrip(".; ") for p in parts), field, f"{category}.details")
        return parts[0] if parts else None


def _vitrification(e: _Entry, entry: str) -> dict[str, Any]:
    d = e.d
    text = ascii_text(d.sample.preparation_details or "").lower()
    out: dict[str, Any] = {"entry_id": entry, "id": "1", "specimen_id": "1"}
    for value, pattern in CRYOGENS:
        if re.search(pattern, text):
            out["cryogen_name"] = value
            break
    for value, pattern in VITRIFICATION_INSTRUMENTS:
        if re.search(pattern, text):
            out["instrument"] = value
            break
    humidity = re.search(r"(\d{1,3}(?:\.\d+)?)\s*%\s*(?:relative\s+)?humidity"
                         r"|humidity\s*(?:of\s*)?(\d{1,3}(?:\.\d+)?)\s*%", text)
    if humidity:
        out["humidity"] = e.number("_em_vitrification.humidity", float(humidity.group(1) or humidity.group(2)),
                                   "sample.preparation_details", "Humidity (%)")
    out["details"] = e.details("_em_vitrification", "sample.preparation_details", d.sample.preparation_details)
    return out


def _software_rows(e: _Entry) -> list[dict[str, Any]]:
    d = e.d
    listed: list[tuple[str, str, str, str]] = []
    if d.acquisition.software:
        listed.append(("acquisition.software", d.acquisition.software, "IMAGE ACQUISITION", "imaging_id"))
    for n, item in enumerate(d.processing.software if d.processing else ()):
        listed.append((f"processing.software[{n}]", item, "OTHER", "image_processing_id"))
    rows = []
    for n, (field, value, category, link) in enumerate(listed, 1):
        name, version = software(value)
        written = ascii_text(value)
        row: dict[str, Any] = {"id": str(n), "category": category, "name": name,
                               "version": e.text(version, field, "_em_software.version"), link: "1"}
        if name is None:
            e.warn(field, f"'{_shown(value)}' is not in the PDBx/mmCIF list of EM software; em_software.name is left "
                   "unknown for OneDep to ask and the program is named in em_software.details",
                   "write the program's usual name and version, e.g. 'RELION 5.0'")
        if name is None or written.lower() != " ".join(filter(None, (name, version))).lower():
            row["details"] = e.text(value, field, "_em_software.details")
        rows.append(row)
    keys = ("id", "category", "name", "version", "details", "imaging_id", "image_processing_id")
    return [{k: r.get(k) for k in keys} for r in rows]


def _helical(e: _Entry, symmetry: str) -> dict[str, Any] | None:
    rise = re.search(r"rise\s*[:=]?\s*(-?[0-9]+(?:\.[0-9]+)?)", symmetry, re.I)
    twist = re.search(r"twist\s*[:=]?\s*(-?[0-9]+(?:\.[0-9]+)?)", symmetry, re.I)
    if not (rise and twist):
        return None
    axial = re.search(r"\b([CD][1-9][0-9]*)\b", symmetry)
    row = {"id": "1", "image_processing_id": "1",
           # No point group about the helical axis named: the helix has none beyond its screw (C1).
           "axial_symmetry": axial.group(1) if axial else "C1",
           "axial_rise_per_subunit": e.number("_em_helical_entity.axial_rise_per_subunit", float(rise.group(1)),
                                              "processing.symmetry", "Rise (A)"),
           "angular_rotation_per_subunit": e.number("_em_helical_entity.angular_rotation_per_subunit",
                                                    float(twist.group(1)), "processing.symmetry", "Twist (deg)")}
    row["details"] = e.details("_em_helical_entity", "processing.symmetry", symmetry)
    return row


def _person(e: _Entry, name: str, field: str, orcid: str | None, orcid_field: str | None) -> dict[str, Any]:
    written = pdb_author(name)
    if written is None:
        e.warn(field, f"'{_shown(name)}' cannot be written in the PDB's author form 'Family, I.' (family name, "
               "comma, initials); the name is left unknown for OneDep to ask", "write it as 'Family, Given'")
    if orcid and not ORCID.fullmatch(orcid):
        if orcid_field:
            e.warn(orcid_field, f"'{_shown(orcid)}' is not an ORCID iD; it is left out")
        orcid = None
    return {"name": written, "identifier_ORCID": orcid}


def _image_count(d: Dataset) -> int | None:
    """Images recorded: the raw set (movies, micrographs, diffraction images or tilt movies)."""
    for category in ("diffraction-images", "movies", "micrographs"):
        sets = [s for s in d.data.image_sets if s.category == category and s.count is not None]
        if sets:
            return sum(s.count for s in sets if s.count is not None)
    return None


def _map_pixel_size(d: Dataset) -> float | None:
    maps = [s for s in d.data.image_sets if s.category == "maps" and s.pixel_size_A]
    return maps[0].pixel_size_A if maps else None


def _text_field(text: str) -> str:
    """A CIF text field holding ``text``: lines of about 80 characters, broken between words (a word too long
    for a CIF line is split), none starting with ';' (which would end the field)."""
    lines = [chunk for line in textwrap.wrap(text, _WRAP, break_long_words=False, break_on_hyphens=False)
             for chunk in textwrap.wrap(line, LONGEST)] or [""]
    return ";" + "\n".join(f" {line}" if n and line.startswith(";") else line for n, line in enumerate(lines)) + "\n;"


def cif_value(tag: str, value: str | None, in_loop: bool) -> str:
    """``value`` (ASCII already) as CIF 1.1 source: ``?`` for unknown, quoted as needed, and in a text field
    when it would make a line longer than CIF allows (or, in a loop, longer than a row's share of one)."""
    if value is None:
        return "?"
    quoted = cif.quote(value)
    if len(quoted) <= (_WRAP if in_loop else LONGEST) and "\n" not in quoted:
        return quoted
    if tag in TEXT_ITEMS and len(value) > LONGEST:
        return _text_field(value)
    return f";{value}\n;"  # one line in a text field: a value of a one-line item is never longer than LONGEST
