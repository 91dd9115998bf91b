"""A commented ``dataset.yaml`` stub written from the JSON Schema (for ``openem new``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..records.validate import schema

SCHEMA_COMMENT = "# yaml-language-server: $schema=../../openem_build/schema/dataset.schema.json"
PLACEHOLDER = "TODO"


@dataclass
class _Line:
    depth: int
    text: str
    active: bool  # False: written commented out (an optional field to fill or delete)
    doc: bool = False  # a documentation comment rather than a field
    item: bool = False  # carries the "- " marker of a list item


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    return root["$defs"][ref.split("/")[-1]] if ref.startswith("#/$defs/") else node


def _doc(prop: dict[str, Any], required: bool) -> str:
    text = f"{prop.get('title', '')} ({'required' if required else 'optional'}): {prop.get('description', '')}"
    if "enum" in prop:
        text += " One of: " + ", ".join(prop["enum"]) + "."
    elif required and prop.get("examples") and prop.get("type") not in ("object", "array"):
        text += f" Example: {json.dumps(prop['examples'][0], ensure_ascii=False)}"
    return text


def _value(prop: dict[str, Any], required: bool) -> str:
    example = prop.get("examples", [None])[0]
    if required and prop.get("type") == "string":
        return PLACEHOLDER
    if example is None:
        example = [] if prop.get("type") == "array" else PLACEHOLDER
    text = json.dumps(example, ensure_ascii=False)
    return f"{text}  # {PLACEHOLDER}: replace the example" if required else text


def _object(node: dict[str, Any], depth: int, root: dict, active: bool, fixed: dict[str, Any]) -> list[_Line]:
    lines: list[_Line] = []
    required = set(node.get("required", ()))
    for name, prop in node.get("properties", {}).items():
        prop = _resolve(prop, root)
        req = name in required
        on = active and req
        lines.append(_Line(depth, _doc(prop, req), on, doc=True))
        items = _resolve(prop.get("items", {}), root)
        if name in fixed:
            lines.append(_Line(depth, f"{name}: {json.dumps(fixed[name])}", on))
        elif prop.get("type") == "object":
            lines.append(_Line(depth, f"{name}:", on))
            lines += _object(prop, depth + 1, root, on, {})
        elif prop.get("type") == "array" and items.get("type") == "object":
            lines.append(_Line(depth, f"{name}:", on))
            sub = _object(items, depth + 2, root, on, {})
            first = next(i for i, line in enumerate(sub) if not line.doc)
            sub[first].item = True
            lines += sub
        else:
            lines.append(_Line(depth, f"{name}: {_value(prop, req)}", on))
    return lines


def _render(lines: list[_Line]) -> str:
    out = []
    for line in lines:
        pad = "  " * line.depth
        if line.doc:
            out.append(f"{pad}# {line.text}")
            continue
        # Commented-out fields sit where they would stand, so deleting "# " is all it takes to use them.
        marker = "- " if line.item else ""
        base = pad[:-2] if line.item else pad
        out.append(f"{base}{'' if line.active else '# '}{marker}{line.text}")
    return "\n".join(out) + "\n"


def dataset_stub(ident: str) -> str:
    """The text of a new ``dataset.yaml`` for ``ident``: every field documented, required ones marked TODO."""
    root = schema("dataset")
    head = [SCHEMA_COMMENT,
            f"# OpenEM dataset '{ident}'. Replace every TODO, uncomment the optional fields you can fill,",
            "# then run: openem validate", ""]
    return "\n".join(head) + "\n" + _render(_object(root, 0, root, True, {"id": ident}))
