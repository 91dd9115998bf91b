"""The header facts a manifest may record (``schema/headers.schema.json``) as compiled msgspec types: checking a
file's ``headers`` is one ``msgspec.convert`` call, in C.

The types are made from the schema when first used (:func:`types`), so the two cannot drift apart: every node
becomes a msgspec type with its constraints (``Meta``: ranges, lengths, patterns), every object a Struct that
refuses unknown fields and leaves out what a value does not give (``UNSET``). A keyword the translation does not
know is refused at once (:class:`Unsupported`); ``tests/test_manifest.py`` checks on every damage of real facts that
the types say exactly what jsonschema says. What a type cannot say, that the dimensions multiply to a bounded
number of voxels, :mod:`openem_build.data.headers` checks on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

_IGNORED = frozenset({"$schema", "$id", "title", "description", "$defs"})
_KEYWORDS = frozenset({"$ref", "type", "enum", "minimum", "exclusiveMinimum", "maximum", "maxLength", "minLength",
                       "pattern", "minItems", "maxItems", "items", "properties", "additionalProperties", "anyOf"})
#: A keyword of a node and of the definition it refers to: the tighter of the two bounds holds.
_TIGHTER = {"maxLength": min, "maxItems": min, "maximum": min, "minLength": max, "minItems": max, "minimum": max}


class Unsupported(ValueError):
    """The schema uses a keyword (or a combination) the translation does not know."""


def _merged(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with the definition its ``$ref`` names folded in (both must hold: the tighter bound is kept)."""
    out = {k: v for k, v in node.items() if k not in _IGNORED}
    unknown = set(out) - _KEYWORDS
    if unknown:
        raise Unsupported(", ".join(sorted(unknown)))
    if "$ref" not in out:
        return out
    target = _merged(root["$defs"][out.pop("$ref").removeprefix("#/$defs/")], root)
    for key, value in out.items():
        if key in target and target[key] != value:
            if key not in _TIGHTER:
                raise Unsupported(f"{key} both beside $ref and in the definition")
            value = _TIGHTER[key](value, target[key])
        target[key] = value
    return target


def _type(node: Mapping[str, Any], root: Mapping[str, Any], name: str) -> Any:
    """The msgspec type of the schema ``node`` (``name``: the Struct name of an object node)."""
    node = _merged(node, root)
    if "anyOf" in node:
        if set(node) != {"anyOf"}:
            raise Unsupported("anyOf beside other keywords")
        return _union([_type(sub, root, name) for sub in node["anyOf"]])
    if "enum" in node:
        if set(node) != {"enum"}:
            raise Unsupported("enum beside other keywords")
        values = [v for v in node["enum"] if v is not None]
        if any(type(v) is not str for v in values):
            raise Unsupported("an enum of other values than text and null")
        kind: Any = Literal[tuple(values)]  # type: ignore[valid-type]
        return kind | None if None in node["enum"] else kind
    names = node.get("type")
    if names is None:
        raise Unsupported("a node without type, enum or anyOf")
    names = names if isinstance(names, list) else [names]
    return _union([_of(n, node, root, name) for n in names])


def _union(kinds: list[Any]) -> Any:
    out = kinds[0]
    for kind in kinds[1:]:
        out = out | kind
    return out


def _of(name: str, node: Mapping[str, Any], root: Mapping[str, Any], struct: str) -> Any:
    """The msgspec type of the values of JSON type ``name`` that ``node`` allows."""
    if name == "null":
        return None
    if name == "boolean":
        return bool
    if name in ("integer", "number"):
        bounds = {"ge": node.get("minimum"), "gt": node.get("exclusiveMinimum"), "le": node.get("maximum")}
        meta = {k: v for k, v in bounds.items() if v is not None}
        base = int if name == "integer" else float
        return Annotated[base, Meta(**meta)] if meta else base
    if name == "string":
        meta = {"min_length": node.get("minLength"), "max_length": node.get("maxLength"),
                "pattern": node.get("pattern")}
        meta = {k: v for k, v in meta.items() if v is not None}
        return Annotated[str, Meta(**meta)] if meta else str
    if name == "array":
        item = _type(node["items"], root, struct + "Item") if "items" in node else Any
        meta = {k: v for k, v in (("min_length", node.get("minItems")), ("max_length", node.get("maxItems")))
                if v is not None}
        return Annotated[list[item], Meta(**meta)] if meta else list[item]  # type: ignore[valid-type]
    if name == "object":
        if node.get("additionalProperties") is not False:
            raise Unsupported("an object without additionalProperties: false")
        fields = [(key, _type(sub, root, struct + key.title().replace("_", "")) | UnsetType, UNSET)
                  for key, sub in node.get("properties", {}).items()]
        # gc=False: header facts hold no reference cycles.
        return msgspec.defstruct(struct, fields, forbid_unknown_fields=True, gc=False, module=__name__)
    raise Unsupported(f"type {name}")


@cache
def types() -> Any:
    """The Struct type of a file's header facts, made from ``schema/headers.schema.json``."""
    from ..records.validate import schema

    root = schema("headers")
    return _type(root, root, "Headers")


def fits(value: Any) -> bool:
    """Whether ``value`` (JSON-decoded) is within the types of the schema (not the voxel bound)."""
    try:
        msgspec.convert(value, types())
    except (msgspec.ValidationError, UnicodeEncodeError):  # (a lone surrogate, which no fact may hold)
        return False
    return True


def all_fit(values: list[Any]) -> bool:
    """Whether every one of ``values`` fits (one call for a whole manifest's header facts)."""
    try:
        msgspec.convert(values, list[types()])  # type: ignore[misc]
    except (msgspec.ValidationError, UnicodeEncodeError):
        return False
    return True
