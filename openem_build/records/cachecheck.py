"""Whether a value read back from the validation cache is what a check returns, checked deeply (see
:mod:`.cache`): anything else is a miss."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cachekey import _GONE as _GONE
from .cachekey import LIBRARIES as LIBRARIES
from .cachekey import GitView as GitView
from .cachekey import _content as _content
from .cachekey import _gitlinks as _gitlinks
from .cachekey import _settings as _settings
from .cachekey import _status as _status
from .cachekey import code_version as code_version
from .cachekey import file_state as file_state
from .cachekey import folder_state as folder_state
from .cachekey import links_state as links_state

_HEX64 = frozenset("0123456789abcdef")

Check = Callable[[Any], bool]


_PLAIN_DEPTH = 64  # (YAML documents are far shallower: yamlsafe refuses deep nesting)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> bool:
    """Whether ``value`` is plain data as parsed documents hold it: text, numbers, booleans, null, lists and
    (read-only) mappings with text keys, nested at most _PLAIN_DEPTH deep. Iterative (no recursion)."""
    from types import MappingProxyType

    level = [value]
    for _ in range(_PLAIN_DEPTH):
        below = []
        for v in level:
            t = type(v)
            if t in _SCALARS:
                continue
            if t is list or t is tuple:
                below += v
            elif t is dict or t is MappingProxyType:
                if not all(type(k) is str for k in v):
                    return False
                below += v.values()
            else:
                return False
        if not below:
            return True
        level = below
    return False


def _as_dict(value: Any) -> dict:
    from types import MappingProxyType

    if type(value) is MappingProxyType:
        return dict(value)
    raise TypeError(type(value).__name__)


def _json_ready(value: Any) -> bool:
    """Whether JSON can hold ``value`` (text, finite numbers, booleans, null, lists, mappings), as the outputs made
    from a parsed document need; at C speed, without recursion in Python."""
    try:
        json.dumps(value, default=_as_dict, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _lazy_files(value: Any) -> bool:
    from .model import ManifestFiles

    return (type(value) is ManifestFiles and type(value.path) is str and os.path.isabs(value.path)
            and type(value.digest) is str and len(value.digest) == 64 and set(value.digest) <= _HEX64
            and type(value.count) is int and value.count >= 0 and type(value.total_size) is int
            and value.total_size >= 0 and type(value.sizes_complete) is bool)


def _headers(value: Any) -> bool:
    from types import MappingProxyType

    from ..data.headers import is_valid

    return value is None or (type(value) in (dict, MappingProxyType) and _plain(value) and is_valid(dict(value)))


def _simple(hint: Any) -> frozenset[type] | None:
    """The exact types a value of ``hint`` may have when that settles it (no contents to look into), else None."""
    import types
    import typing
    from datetime import date

    if hint is type(None) or hint in (str, int, bool, date):
        return frozenset({hint})
    if hint is float:
        return frozenset({int, float})  # (a YAML number without a point is an int)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [_simple(a) for a in typing.get_args(hint)]
        return frozenset().union(*parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return None


@functools.cache
def _checker(hint: Any) -> Check:
    """A predicate for "``value`` has type ``hint``", deeply: each field of a record its declared type, each item
    of a tuple or list, each key and value of a mapping (exact types: what the loader builds, never a subclass)."""
    import dataclasses
    import types
    import typing
    from collections import abc

    from . import model

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    simple = _simple(hint)
    if simple is not None:
        return lambda v: type(v) in simple
    if hint is Any:
        return _plain
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:  # (X | None: the usual union)
            sub = _checker(rest[0])
            return lambda v: v is None or sub(v)
        subs = tuple(_checker(a) for a in args)
        return lambda v: any(s(v) for s in subs)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        kinds = _simple(args[0])
        if kinds is not None:
            return lambda v: type(v) is tuple and all(type(x) in kinds for x in v)
        item = _checker(args[0])
        return lambda v: type(v) is tuple and all(map(item, v))
    if origin is tuple:
        subs = tuple(_checker(a) for a in args)
        return lambda v: type(v) is tuple and len(v) == len(subs) and all(s(x) for s, x in zip(subs, v, strict=True))
    if origin is list:
        item = _checker(args[0])
        return lambda v: type(v) is list and all(map(item, v))
    if origin in (abc.Mapping, dict):
        kinds = frozenset({dict, types.MappingProxyType})
        if args == (str, Any):  # (a parsed document: whatever JSON can write, checked at C speed)
            return lambda v: type(v) in kinds and _json_ready(v)
        key, val = (_checker(a) for a in args)
        return lambda v: type(v) in kinds and all(map(key, v.keys())) and all(map(val, v.values()))
    if origin is abc.Sequence and args == (model.ManifestFile,):  # (Manifest.files: a tuple, or read on use)
        item = _checker(model.ManifestFile)
        return lambda v: (type(v) is tuple and all(map(item, v))) or _lazy_files(v)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        # One generated function per record type, with the simple fields' type tests written out (several times
        # faster than a predicate per field; records are most of what a cached result holds).
        names: dict[str, Any] = {"cls": hint}
        tests = []
        for i, (name, field_hint) in enumerate(model._fields(hint)):
            kinds = _simple(field_hint)
            if kinds is not None:
                names[f"k{i}"] = kinds
                tests.append(f"type(d[{name!r}]) in k{i}")
            else:
                special = (hint, name) == (model.ManifestFile, "headers")
                # (looked up when called: a record type may refer to itself)
                names[f"c{i}"] = _headers if special else _Deferred(field_hint)
                tests.append(f"c{i}(d[{name!r}])")
        body = " and ".join(tests) or "True"
        code = (f"def check(v):\n    if type(v) is not cls:\n        return False\n    d = v.__dict__\n"
                f"    return {body}\n")
        exec(compile(code, f"<check {hint.__name__}>", "exec"), names)  # (the text is ours: names and indices)
        return names["check"]
    raise TypeError(f"no check for {hint!r}")  # a new field type: teach _checker (tests load every example)


class _Deferred:
    """The check of a type, compiled when first used (so that record types may refer to each other)."""

    def __init__(self, hint: Any) -> None:
        self.hint = hint
        self.check: Check | None = None

    def __call__(self, value: Any) -> bool:
        if self.check is None:
            self.check = _checker(self.hint)
        return self.check(value)


def valid_result(value: Any, path: Path, root: Path) -> bool:
    """Whether ``value`` is what checking the dataset file ``path`` can give (see the module's description);
    never raises."""
    from .model import Dataset
    from .paths import MANIFEST_FILE
    from .problems import ERROR, WARNING, Problem, relpath
    from .spots import Spots

    try:
        if type(value) is not tuple or len(value) != 3:
            return False
        record, spots, problems = value
        if not (_checker(list[Problem])(problems) and _checker(Spots | None)(spots)):
            return False
        if not all(p.severity in (ERROR, WARNING) for p in problems):
            return False
        failed = any(p.severity == ERROR for p in problems)
        if record is None:
            return failed  # (no record: the check found an error)
        if failed or spots is None or not _checker(Dataset)(record) or record.source != relpath(path, root):
            return False
        files = record.manifest.files if record.manifest is not None else ()
        return not _lazy_files(files) or files.path == os.path.join(os.path.dirname(path), MANIFEST_FILE)
    except Exception:  # (whatever a damaged value does when looked at: a miss)
        return False
