"""Strict JSON for the files beside the YAML (``manifest.json``, ``previews.json``), with positions.

:func:`load_json` refuses what :func:`json.loads` would let through or not locate: a key twice in one object,
NaN and Infinity, numbers of thousands of digits, nesting deeper than any format here needs. :class:`JsonDoc`
says where (line, column) a value or key is, for located problems.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .problems import Problem

#: The deepest a manifest (or previews.json) may nest: the format needs 6 levels; deeper is refused, located,
#: before anything recurses into it (json.loads itself gives up at about 1,000).
MAX_DEPTH = 20


class JsonDoc:
    """A parsed JSON document that can say where (line, column) a value or key is, for error messages.

    ``data`` is the parsed value; when not given, the text is parsed on first use (a document read by another
    parser, that is only located in)."""

    def __init__(self, text: str, data: Any = None):
        self.text, self._data = text, data

    @property
    def data(self) -> Any:
        if self._data is None:
            self._data = json.loads(self.text)
        return self._data

    def where(self, pointer: Sequence[str | int], key: bool = False) -> tuple[int, int]:
        """1-based line and column of the value at ``pointer`` (of its key with ``key``); the nearest enclosing
        value when the pointer does not exist."""
        text, decoder = self.text, json.JSONDecoder()
        ws = re.compile(r"[ \t\n\r]*")
        i = ws.match(text, 0).end()
        found = i
        try:
            for n, part in enumerate(pointer):
                last = n == len(pointer) - 1
                if text[i] == "{" and isinstance(part, str):
                    j = ws.match(text, i + 1).end()
                    hit = None
                    while text[j] == '"':
                        start = j
                        name, j = json.decoder.scanstring(text, j + 1)
                        j = ws.match(text, j).end() + 1  # the colon
                        j = ws.match(text, j).end()
                        if name == part:
                            hit = start if (key and last) else j
                            break
                        _, j = decoder.raw_decode(text, j)
                        j = ws.match(text, j).end()
                        if text[j] == ",":
                            j = ws.match(text, j + 1).end()
                    if hit is None:
                        break
                    i = found = hit
                elif text[i] == "[" and isinstance(part, int):
                    j = ws.match(text, i + 1).end()
                    for _ in range(part):
                        if text[j] == "]":
                            break
                        _, j = decoder.raw_decode(text, j)
                        j = ws.match(text, j).end()
                        if text[j] == ",":
                            j = ws.match(text, j + 1).end()
                    if text[j] == "]":
                        break
                    i = found = j
                else:
                    break
        except (ValueError, IndexError):
            pass
        line = text.count("\n", 0, found) + 1
        return line, found - (text.rfind("\n", 0, found) + 1) + 1


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    merged = dict(pairs)
    if len(merged) == len(pairs):  # the usual case, checked at C speed
        return merged
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError(f"the key {k!r} appears twice in one object")
        seen[k] = v
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:]|NaN|-?Infinity|-?\d{4300,}')
_LOCATE_LIMIT = 64 << 20  # texts longer than this are not scanned for where a problem is


def _locate(text: str, depth: int) -> tuple[int, int, str] | None:
    """Where ``text`` breaks a rule json.loads does not locate: nesting deeper than ``depth``, a NaN or Infinity
    literal, a key twice in one object, a number too long to read. (line, column, what), or None."""
    if len(text) > _LOCATE_LIMIT:
        return None
    keys: list[set[str] | None] = []  # per open bracket: the keys of an object so far, None for an array
    last = None
    for m in _TOKENS.finditer(text):
        token = m.group()
        found = None
        if token in "[{":
            keys.append(set() if token == "{" else None)
            if len(keys) > depth:
                found = f"nested more than {depth} levels deep"
        elif token in "]}":
            if keys:
                keys.pop()
        elif token == ":":
            if last is not None and keys and keys[-1] is not None:
                try:
                    name = json.loads(last.group())
                except ValueError:
                    name = last.group()
                if name in keys[-1]:
                    m, found = last, f"the key {name!r} appears twice in one object"
                keys[-1].add(name)
        elif token[0] in "NI-" and not token[-1].isdigit():
            found = f"{token} is not a JSON number"
        elif token[0] != '"':
            found = "a number of more than 4,300 digits"
        if found:
            start = m.start()
            return text.count("\n", 0, start) + 1, start - (text.rfind("\n", 0, start) + 1) + 1, found
        last = m if token[0] == '"' else None
    return None


def _deeper(value: Any, depth: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``depth`` levels deep (without recursion)."""
    level = [value]
    for _ in range(depth + 1):
        level = [x for v in level if isinstance(v, (dict, list)) for x in (v.values() if isinstance(v, dict) else v)]
        if not level:
            return False
    return any(isinstance(v, (dict, list)) for v in level)


def load_json(text: str, shown: str, hint: str, *, depth: int = MAX_DEPTH) -> tuple[Any, Problem | None]:
    """Strict JSON for files beside the YAML: the value, or None and a located problem. Refused: syntax errors,
    duplicate keys, NaN and Infinity (not JSON), numbers of thousands of digits, and nesting deeper than
    ``depth`` (which nothing here needs and recursive code would not survive)."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return None, Problem(shown, exc.lineno, exc.colno, "", f"not valid JSON: {exc.msg}", hint)
    except (ValueError, RecursionError) as exc:
        where = _locate(text, depth)
        if where is not None:
            return None, Problem(shown, where[0], where[1], "", f"not valid JSON: {where[2]}", hint)
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        return None, Problem(shown, 0, 0, "", f"not valid JSON: {reason}", hint)
    if _deeper(data, depth):
        line, col, what = _locate(text, depth) or (0, 0, f"nested more than {depth} levels deep")
        return None, Problem(shown, line, col, "", f"not valid JSON: {what}", hint)
    return data, None
