"""The JSON Schema check of a catalogue document: the schemas, a fast validity test for the common case, and every
schema error explained at its YAML line and column."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from .problems import ERROR, Problem
from .schemafast import Unsupported, compile_check
from .yamlsafe import Located, Pointer, lookup

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"


_UNITS = {"_kV": "kV", "_A": "Å", "_um": "µm", "_deg": "°", "_K": "K", "_kDa": "kDa", "_mm": "mm",
          "_nm": "nm", "_e_per_A2": "e⁻/Å²"}


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


@cache
def _fast(name: str) -> Any:
    """The compiled yes/no check of schema ``name`` (see :mod:`.schemafast`); None when it cannot be compiled."""
    try:
        return compile_check(schema(name), _formats.conforms)
    except (Unsupported, KeyError, TypeError, re.error):
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
    # (no text holds "TODO" once upper-cased, as nearly always: then no text is a placeholder)
    todo = {pointer for pointer, text in _strings(doc.data) if is_placeholder(text)} \
        if "TODO" in " ".join(texts(doc.data)).upper() else set()
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


def texts(value: object) -> list[str]:
    """Every text in ``value`` (what :func:`_strings` yields, without the pointers), in one flat pass.

    Speed-up, measured (benchmarks/README.md, sixth round): the placeholder check asks about all of a
    document's ~80 texts at once and walks them with their pointers only when one holds "TODO"; that walk
    alone took ~0.1 ms per entry, ~15 % of the schema check (~1 s of CPU at N = 10,000 on a loaded machine)."""
    out: list[str] = []
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return out
