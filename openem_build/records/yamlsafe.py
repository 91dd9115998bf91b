"""Safe YAML reading that remembers where every value came from.

Untrusted pull requests are read here, so the reader composes the YAML node graph (no object
construction at all), then builds plain data itself: only the standard scalar, list and mapping tags,
no aliases (which also rules out "billion laughs"), no duplicate keys, bounded depth and size, integers of at
most 640 digits, no ``\\u`` escape of a surrogate or beyond U+10FFFF. Dates stay strings so that the schema, not
YAML 1.1's resolver, decides what a valid date is. libyaml's loader and PyYAML's pure-Python one (where libyaml
is missing) accept and refuse the same documents, with the same messages at the same places.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1 << 20
MAX_DEPTH = 32
#: Integers have at most this many digits: any Python writes such a number out as text (640 is the smallest
#: limit ``sys.set_int_max_str_digits`` accepts; beyond Python's default of 4,300, str() raises).
MAX_INT_DIGITS = sys.int_info.str_digits_check_threshold
_INT_LIMIT = 10 ** MAX_INT_DIGITS

Pointer = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_ALLOWED_SCALARS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_INT = "tag:yaml.org,2002:int"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_SURROGATE = re.compile("[\ud800-\udfff]")
# One escape of a double-quoted scalar (inside one, every backslash starts an escape).
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|.)", re.DOTALL)
_BAD_ESCAPE = "found invalid Unicode character escape code"  # (libyaml's words)
_CANNOT_START = re.compile(r"^found character .+ that cannot start any token$", re.DOTALL)


class _StrictEscapes:
    """Refuse ``\\u``/``\\U`` escapes of surrogates or beyond U+10FFFF, as libyaml does, with its message at its
    position (the first hex digit). PyYAML's pure-Python scanner turns ``"\\ud800"`` into a lone surrogate, which
    no UTF-8 output can hold, and raises a bare ValueError for ``"\\U00110000"``."""

    def scan_flow_scalar_non_spaces(self, double: bool, start_mark: yaml.Mark) -> list[str]:
        state = (self.pointer, self.index, self.line, self.column)
        try:
            chunks = super().scan_flow_scalar_non_spaces(double, start_mark)  # type: ignore[misc]
        except (ValueError, OverflowError):  # chr() of the code: the reader stands at its first hex digit
            raise yaml.scanner.ScannerError("while parsing a quoted scalar", start_mark, _BAD_ESCAPE,
                                            self.get_mark()) from None
        if double and any(_SURROGATE.search(c) for c in chunks):
            for m in _ESCAPE.finditer(self.buffer, state[0], self.pointer):
                code = m.group(1) or m.group(2)
                if code and 0xD800 <= int(code, 16) <= 0xDFFF:
                    # Back to where this run began, then forward to the escape: the reader counts the lines.
                    self.pointer, self.index, self.line, self.column = state
                    self.forward(m.start() - state[0] + 2)
                    raise yaml.scanner.ScannerError("while parsing a quoted scalar", start_mark, _BAD_ESCAPE,
                                                    self.get_mark())
        return chunks


def _without_timestamps(loader: type) -> type:
    """``loader`` without the timestamp resolver (dates stay text)."""
    loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return loader


@_without_timestamps
class PurePythonLoader(_StrictEscapes, yaml.SafeLoader):
    """PyYAML's own SafeLoader (where libyaml is missing), refusing what libyaml refuses."""


LibyamlLoader: type | None = (_without_timestamps(type("LibyamlLoader", (yaml.CSafeLoader,), {}))
                              if hasattr(yaml, "CSafeLoader") else None)
#: The loader :func:`parse` uses by default: libyaml's when PyYAML has it (faster), else the pure-Python one.
_Loader: type = LibyamlLoader or PurePythonLoader

_scalar = yaml.constructor.SafeConstructor()


class YamlError(Exception):
    """A YAML document that cannot be accepted, with 1-based line and column."""

    def __init__(self, message: str, line: int = 0, col: int = 0, hint: str = "",
                 pointer: Pointer = ()):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.hint = hint
        self.pointer = pointer


@dataclass
class Located:
    """Plain data plus the position of every value (and of every mapping key)."""

    data: object
    positions: dict[Pointer, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Pointer, tuple[int, int]] = field(default_factory=dict)

    def where(self, pointer: Pointer, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``pointer`` (or of its key), else of the nearest ancestor."""
        if key and pointer in self.key_positions:
            return self.key_positions[pointer]
        p = tuple(pointer)
        while p:
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), (1, 1))


def lookup(data: Any, *pointer: str | int) -> Any:
    """The value at ``pointer`` in plain data, or None where the path does not exist."""
    for part in pointer:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return None
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def decode(raw: bytes) -> str:
    """UTF-8 text (a BOM is accepted and dropped); raise YamlError at the first bad byte."""
    if len(raw) > MAX_BYTES:
        raise YamlError(f"the file is {len(raw):,} bytes, more than the {MAX_BYTES:,} allowed",
                        hint="keep metadata short; long texts belong in the data, not the YAML")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise YamlError(f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", line, col,
                        hint="save the file as UTF-8") from None
    if "\x00" in text:
        before = text[: text.index("\x00")]
        raise YamlError("the file contains a NUL character", before.count("\n") + 1,
                        len(before) - (before.rfind("\n") + 1) + 1, hint="save the file as plain UTF-8 text")
    return text


def parse(text: str, loader: type | None = None) -> Located:
    """Parse one YAML document into plain data with positions; raise YamlError when it is unacceptable.

    ``loader``: :data:`PurePythonLoader` or :data:`LibyamlLoader` (default: libyaml's where available); both
    accept and refuse the same documents."""
    loader = loader or _Loader
    surrogate = _SURROGATE.search(text)  # (never from decode(); libyaml could not even encode it)
    if surrogate:
        before = text[: surrogate.start()]
        raise YamlError(f"the file contains the lone surrogate U+{ord(surrogate.group()):04X}",
                        before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1,
                        hint="save the file as UTF-8 text")
    try:
        # The composer hands back the anchor's node for an alias, so the alias itself is found in the events.
        # Without an anchor (&) no alias composes, and without --- there is no second document whose composer
        # error could come before a syntax error: then the events need not be read twice (same result).
        first_alias = next((e.start_mark for e in yaml.parse(text, Loader=loader)
                            if isinstance(e, yaml.AliasEvent)), None) if "&" in text or "---" in text else None
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        # (libyaml's words: the pure-Python scanner also names the character)
        problem = _CANNOT_START.sub("found character that cannot start any token", problem)
        hint = "fix the YAML syntax"
        lines = text.splitlines()
        bad = lines[line - 1] if 0 < line <= len(lines) else ""
        if "\t" in problem or "tab" in problem or "\t" in bad[: len(bad) - len(bad.lstrip(" \t"))]:
            hint = "indent with spaces, not tabs"
        elif "nesting depth" in problem:
            problem, hint = "the YAML is nested too deeply", f"use at most {MAX_DEPTH} levels"
        elif "expected a single document" in (exc.context or ""):
            problem = "the file holds more than one document"
            hint = "keep one document per file (remove the extra ---)"
        elif problem == _BAD_ESCAPE:
            hint = ("write the character itself, or escape a real code point: \\u and \\U cannot name "
                    "surrogates (D800–DFFF) or go beyond 10FFFF")
        raise YamlError(f"invalid YAML: {problem}", line, col, hint) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        raise YamlError(f"the file contains the control character U+{exc.character:04X}",
                        before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1,
                        hint="remove it; write special characters as escapes in double quotes") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", hint="fix the YAML syntax") from None
    except RecursionError:
        raise YamlError("the YAML is nested too deeply", hint=f"use at most {MAX_DEPTH} levels") from None
    if node is None:
        raise YamlError("the file is empty", 1, 1, hint="start from `openem new <id>` or copy an example")
    located = Located(None)
    try:
        located.data = _build(node, (), located, set(), 0)
    except YamlError as exc:
        if first_alias is not None and exc.message.startswith("YAML aliases"):
            exc.line, exc.col = first_alias.line + 1, first_alias.column + 1
        raise
    if first_alias is not None:  # pragma: no cover - _build meets every alias as a repeated node
        raise YamlError("YAML aliases (*name) are not allowed", first_alias.line + 1, first_alias.column + 1,
                        hint="write the value out in full")
    return located


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, pointer: Pointer, out: Located, seen: set[int], depth: int) -> object:
    """Plain data of ``node``, its positions recorded in ``out``.

    Speed-up, measured (benchmarks/README.md, sixth round): text scalars (most values) and their positions
    taken in the loop of their mapping or list, without a call each: the located build of an entry
    0.26–0.35 → 0.20–0.22 ms of CPU (~10 % of reading the YAML; ~1 s at N = 10,000 on this loaded machine)."""
    if id(node) in seen:
        # The composer hands back the same node object for every alias of an anchor.
        raise YamlError("YAML aliases (*name) are not allowed", *_pos(node),
                        hint="write the value out in full", pointer=pointer)
    if depth > MAX_DEPTH:
        raise YamlError("the YAML is nested too deeply", *_pos(node),
                        hint=f"use at most {MAX_DEPTH} levels", pointer=pointer)
    positions = out.positions
    mark = node.start_mark
    positions[pointer] = (mark.line + 1, mark.column + 1)
    seen.add(id(node))
    kind = type(node)
    if kind is _ScalarNode or (kind is not _SequenceNode and isinstance(node, yaml.ScalarNode)):
        return _build_scalar(node, pointer)
    inline = depth < MAX_DEPTH  # (a child is then not too deep)
    if kind is _SequenceNode or isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            raise _tag_error(node, pointer)
        items: list[object] = []
        for i, child in enumerate(node.value):
            if inline and type(child) is _ScalarNode and child.tag == _STR and id(child) not in seen:
                mark = child.start_mark  # (a text: no call)
                positions[(*pointer, i)] = (mark.line + 1, mark.column + 1)
                seen.add(id(child))
                items.append(child.value)
            else:
                items.append(_build(child, (*pointer, i), out, seen, depth + 1))
        return items
    if node.tag != _MAP:
        raise _tag_error(node, pointer)
    key_positions = out.key_positions
    result: dict[str, object] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            raise YamlError("only plain text keys are allowed (no merge keys or complex keys)",
                            *_pos(key_node), hint="write each field name as plain text", pointer=pointer)
        if key_node.tag not in _KEY_TAGS:
            raise _tag_error(key_node, pointer)
        key = str(key_node.value)
        child = (*pointer, key)
        if key in result:
            first = key_positions[child]
            raise YamlError(f"duplicate key '{key}' (first at line {first[0]})", *_pos(key_node),
                            hint="keep one of the two", pointer=child)
        mark = key_node.start_mark
        key_positions[child] = (mark.line + 1, mark.column + 1)
        if inline and type(value_node) is _ScalarNode and value_node.tag == _STR and id(value_node) not in seen:
            mark = value_node.start_mark  # (a text: no call)
            positions[child] = (mark.line + 1, mark.column + 1)
            seen.add(id(value_node))
            result[key] = value_node.value
        else:
            result[key] = _build(value_node, child, out, seen, depth + 1)
    return result


_ScalarNode, _SequenceNode = yaml.ScalarNode, yaml.SequenceNode
_KEY_TAGS = frozenset({_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
                       "tag:yaml.org,2002:float"})


def _build_scalar(node: yaml.ScalarNode, pointer: Pointer) -> object:
    if node.tag not in _ALLOWED_SCALARS:
        raise _tag_error(node, pointer)
    if node.tag == _STR:
        return node.value
    if node.tag == _INT:
        return _integer(node, pointer)
    value = _scalar.construct_object(node)
    if isinstance(value, float) and not math.isfinite(value):
        raise YamlError(f"'{node.value}' is not a finite number", *_pos(node),
                        hint="write a real number, or leave the field out", pointer=pointer)
    return value


def _integer(node: yaml.ScalarNode, pointer: Pointer) -> int:
    """A YAML integer of at most :data:`MAX_INT_DIGITS` digits (in any base YAML 1.1 knows)."""
    # The text is bounded first: int() refuses decimal text of more than 4,300 digits with a bare ValueError,
    # and a sexagesimal one (1:59:59:…) of thousands of parts takes quadratic time to build.
    value = None
    if len(node.value) <= 4 * MAX_INT_DIGITS:
        try:
            value = _scalar.construct_object(node)
        except ValueError:
            value = None
    if value is None or abs(value) >= _INT_LIMIT:
        shown = node.value if len(node.value) <= 20 else node.value[:20] + "…"
        raise YamlError(f"the number {shown} is too large (more than {MAX_INT_DIGITS} digits)", *_pos(node),
                        hint="write a smaller number, or put the value in quotes if it is text", pointer=pointer)
    return value


def _tag_error(node: yaml.Node, pointer: Pointer) -> YamlError:
    return YamlError(f"the YAML tag '{node.tag}' is not allowed", *_pos(node),
                     hint="remove the tag: only plain text, numbers, true/false, lists and mappings are read",
                     pointer=pointer)
