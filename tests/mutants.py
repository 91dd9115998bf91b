"""Documents with one value changed: for checking a fast yes/no validator against the full one."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Sequence
from typing import Any

#: Where a document gets a field it does not know instead of a value swapped.
EXTRA = "extra"


def leaves(value: Any, pointer: tuple = ()) -> Iterator[tuple]:
    """The pointer of ``value`` and of every value inside it."""
    yield pointer
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from leaves(item, (*pointer, key))


def mutants(doc: Any, swaps: Sequence[Any], rng: random.Random, per_value: int) -> Iterator[tuple[tuple, Any, Any]]:
    """(pointer, new value or EXTRA, the changed copy) for each value of ``doc``: ``per_value`` of ``swaps`` in its
    place, and an unknown field beside it where it sits in a mapping."""
    for pointer in list(leaves(doc))[1:]:
        for new in [*rng.sample(list(swaps), per_value), EXTRA]:
            value = copy.deepcopy(doc)
            parent = value
            for part in pointer[:-1]:
                parent = parent[part]
            if new == EXTRA:
                if not isinstance(parent, dict):
                    continue
                parent["not_a_field"] = 1
            else:
                parent[pointer[-1]] = new
            yield pointer, new, value
