"""The site's JSON encoder: byte for byte what ``json.dumps`` wrote before, on awkward and random values."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import pytest

from openem_build.infra import jsontext

AWKWARD = {
    "floats": [5e21, -1.8e-06, 1e-05, 9.9e-05, 0.0001, 1e16, 1234567890123456.0, 1.2345678901234568e17, -0.0, 0.1,
               5e-324, 1.7976931348623157e308, 100.0, 2.5],
    "ints": [0, -1, 2**63, -(2**64), 10**40],
    "text": ["é ü 山田", "\u2028\u2029", "\x00\x1f\x7f", '"quoted" \\ / </script> <!-- &', "",
             "\ud7ff\ue000\U0001f600"],
    "empty": [{}, [], {"x": {}}, [[]]],
    "order": {"z": 1, "a": 2, "m": {"2": None, "1": True, "0": False}},
    "tuple": (1, "two", (3.0,)),
}


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 5)
    if kind == 0:
        x = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        return x if math.isfinite(x) else 1.5
    if kind == 1:
        return float(f"{rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30):.{rng.randint(1, 17)}g}")
    if kind == 2:
        return rng.randint(-(10**20), 10**20)
    if kind == 3:
        return "".join(chr(rng.choice([rng.randrange(0x20), rng.randrange(0x20, 0x7f), rng.randrange(0x80, 0xd800),
                                       0x2028, 0x1f600])) for _ in range(rng.randrange(6)))
    if kind == 4:
        return rng.choice([None, True, False])
    if kind in (5, 6):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {str(_random_value(rng, 3)): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


@pytest.mark.parametrize("indent", [None, 1, 2, 4])
def test_same_bytes_as_json_dumps(indent: int | None) -> None:
    separators = (",", ":") if indent is None else None
    rng = random.Random(22)
    for value in [AWKWARD, *(_random_value(rng) for _ in range(2000))]:
        assert jsontext.dumps(value, indent=indent) == json.dumps(value, ensure_ascii=False, indent=indent,
                                                                   separators=separators)


def test_key_order_and_text_kept() -> None:
    assert jsontext.dumps({"b": 1, "a": "é\u2028"}) == '{"b":1,"a":"é\u2028"}'
    assert jsontext.dumps({"b": [], "a": {}}, indent=2) == '{\n  "b": [],\n  "a": {}\n}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [1.0, math.nan]}])
@pytest.mark.parametrize("indent", [None, 2])
def test_nan_and_infinity_refused(bad: Any, indent: int | None) -> None:
    with pytest.raises(ValueError):
        jsontext.dumps(bad, indent=indent)


def test_what_json_cannot_hold_refused() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"when": object()}, indent=2)
    with pytest.raises(ValueError, match="indent"):
        jsontext.dumps([1], indent=0)
