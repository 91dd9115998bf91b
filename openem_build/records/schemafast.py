"""A compiled yes/no check of a document against a JSON Schema: Python source generated once from the schema.

Most documents are valid, so :func:`openem_build.records.schemacheck.check_schema` first asks this check and
runs jsonschema only to explain what is wrong. The check is True only when jsonschema finds no error at all
(False: ask jsonschema). It knows the keywords the catalogue's schemas use; a schema with any other raises
:class:`Unsupported` (every document then goes through jsonschema).

Speed-up, measured (benchmarks/README.md, sixth round): the schema's ~300 keywords as straight-line Python
statements (one function per ``$defs`` entry, ``anyOf`` branch and ``if`` condition) instead of a closure and a
generator per keyword and value: the schema check of an entry 0.48–0.86 → 0.13–0.14 ms of CPU (with the
placeholder scan's test of all texts at once; ~5 s at N = 10,000 on the loaded machine measured).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {"title", "description", "examples", "default", "$schema", "$id", "$defs", "$comment"}
_TYPES = {"string": "str", "object": "dict", "array": "list", "null": "NoneType"}
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


class Unsupported(Exception):
    """A schema keyword the compiled check does not know."""


def _enum(value: Any, options: tuple) -> bool:
    return any(type(o) is type(value) and o == value for o in options)


class _Compiler:
    def __init__(self, root: dict[str, Any], conforms: Callable[[Any, str], bool]) -> None:
        self.root = root
        self.names: dict[str, Any] = {"_enum": _enum, "_conforms": conforms, "NoneType": type(None)}
        self.functions: list[str] = []
        self.defs: dict[str, str] = {}
        self.count = 0

    def constant(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def function(self, node: Any, exact: bool = False) -> str:
        """The name of a new function checking ``node``."""
        self.count += 1
        name = f"f{self.count}"
        lines = [f"def {name}(v0):"]
        self.block(node, "v0", 1, lines, exact)
        lines.append("    return True")
        self.functions.append("\n".join(lines))
        return name

    def block(self, node: Any, v: str, indent: int, out: list[str], exact: bool = False) -> None:
        """Statements that ``return False`` when the value in variable ``v`` fails ``node``."""
        pad = "    " * indent
        if node is True or node == {}:
            return
        if not isinstance(node, dict):
            raise Unsupported(repr(node))
        depth = int(v[1:]) + 1
        x = f"v{depth}"
        for key, want in node.items():
            if key in _ANNOTATIONS or key.startswith("x-"):
                continue
            if key == "type":
                tests = []
                for name in want if isinstance(want, list) else [want]:
                    if name in _TYPES:
                        tests.append(f"type({v}) is {_TYPES[name]}")
                    elif name == "boolean":
                        tests.append(f"{v} is True or {v} is False")
                    elif name == "integer" and not exact:
                        tests.append(f"type({v}) is int")
                    elif name == "number" and not exact:
                        tests.append(f"type({v}) is int or type({v}) is float")
                    else:
                        raise Unsupported(f"type {name}")
                out.append(f"{pad}if not ({' or '.join(tests)}): return False")
            elif key == "properties":
                out.append(f"{pad}if type({v}) is dict:")
                out.append(f"{pad}    pass")
                for prop, sub in want.items():
                    k = self.constant(prop)
                    out.append(f"{pad}    if {k} in {v}:")
                    out.append(f"{pad}        {x} = {v}[{k}]")
                    self.block(sub, x, indent + 2, out, exact)
            elif key == "required":
                need = " or ".join(f"{self.constant(k)} not in {v}" for k in want) or "False"
                out.append(f"{pad}if type({v}) is dict and ({need}): return False")
            elif key == "additionalProperties" and not exact:
                if "patternProperties" in node:
                    raise Unsupported(key)
                known = self.constant(frozenset(node.get("properties", ())))
                if want is False:
                    out.append(f"{pad}if type({v}) is dict and not {known}.issuperset({v}): return False")
                else:
                    out.append(f"{pad}if type({v}) is dict:")
                    out.append(f"{pad}    for k{depth}, {x} in {v}.items():")
                    out.append(f"{pad}        if k{depth} not in {known}:")
                    out.append(f"{pad}            pass")
                    self.block(want, x, indent + 3, out)
            elif key in ("enum", "const"):
                options = tuple(want) if key == "enum" else (want,)
                if all(type(o) is str for o in options):
                    out.append(f"{pad}if not (type({v}) is str and {v} in {self.constant(frozenset(options))}): "
                               "return False")
                elif exact:
                    raise Unsupported(key)
                else:
                    out.append(f"{pad}if not _enum({v}, {self.constant(options)}): return False")
            elif key == "pattern" and not exact:
                rx = self.constant(re.compile(want))
                out.append(f"{pad}if type({v}) is str and {rx}.search({v}) is None: return False")
            elif key == "format" and not exact:
                out.append(f"{pad}if not _conforms({v}, {self.constant(want)}): return False")
            elif key in ("minLength", "maxLength") and not exact:
                op = "<" if key == "minLength" else ">"
                out.append(f"{pad}if type({v}) is str and len({v}) {op} {int(want)}: return False")
            elif key in _BOUNDS and not exact:
                b = self.constant(want)
                out.append(f"{pad}if (type({v}) is int or type({v}) is float) and not ({v} {_BOUNDS[key]} {b}): "
                           "return False")
            elif key == "items" and not exact:
                out.append(f"{pad}if type({v}) is list:")
                out.append(f"{pad}    for {x} in {v}:")
                out.append(f"{pad}        pass")
                self.block(want, x, indent + 2, out)
            elif key in ("minItems", "maxItems", "minProperties", "maxProperties") and not exact:
                kind = "dict" if key.endswith("Properties") else "list"
                op = ">" if key.startswith("max") else "<"
                out.append(f"{pad}if type({v}) is {kind} and len({v}) {op} {int(want)}: return False")
            elif key == "uniqueItems" and not exact:
                if want:
                    out.append(f"{pad}if type({v}) is list and not (all(type(i) is str for i in {v}) and "
                               f"len(set({v})) == len({v})): return False")
            elif key == "propertyNames" and not exact:
                out.append(f"{pad}if type({v}) is dict:")
                out.append(f"{pad}    for {x} in {v}:")
                out.append(f"{pad}        pass")
                self.block(want, x, indent + 2, out)
            elif key == "anyOf" and not exact:
                subs = [self.function(s) for s in want]
                out.append(f"{pad}if not ({' or '.join(f'{s}({v})' for s in subs) or 'False'}): return False")
            elif key == "if" and not exact:
                cond = self.function(want, exact=True)
                out.append(f"{pad}if {cond}({v}):")
                out.append(f"{pad}    pass")
                self.block(node.get("then", True), v, indent + 1, out)
                out.append(f"{pad}else:")
                out.append(f"{pad}    pass")
                self.block(node.get("else", True), v, indent + 1, out)
            elif key in ("then", "else") and not exact:
                continue  # (with "if")
            elif key == "$ref" and not exact and want.startswith("#/$defs/"):
                name = want[len("#/$defs/"):]
                if name not in self.defs:
                    self.defs[name] = f"d{len(self.defs)}"  # (named first: a definition may refer to itself)
                    target = self.root["$defs"][name]
                    self.count += 1
                    lines = [f"def {self.defs[name]}(v0):"]
                    self.block(target, "v0", 1, lines)
                    lines.append("    return True")
                    self.functions.append("\n".join(lines))
                out.append(f"{pad}if not {self.defs[name]}({v}): return False")
            else:
                raise Unsupported(key)


def compile_check(schema: dict[str, Any], conforms: Callable[[Any, str], bool]) -> Check:
    """The compiled check of ``schema`` (``conforms(value, format)``: the format checker's test); raises
    :class:`Unsupported` for a keyword it does not know."""
    compiler = _Compiler(schema, conforms)
    top = compiler.function(schema)
    namespace = dict(compiler.names)
    exec(compile("\n\n".join(compiler.functions), "<schema check>", "exec"), namespace)  # noqa: S102
    return namespace[top]
