"""What an OSC-EM value may be: the techniques and units understood, the notes kept, and the checks of one value
against the schema."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema

from ..records import yamlsafe
from ..records.validate import schema as openem_schema

#: OSC-EM acquisition.technique → OpenEM technique.
TECHNIQUES = {"spa": "single-particle", "subtomo": "subtomogram-averaging", "cellular_tomo": "tomography",
              "env_tomo": "tomography"}


_TILT_TECHNIQUES = {"subtomo", "cellular_tomo", "env_tomo"}


#: The longest note (values quoted in notes come from the file).
NOTE_LENGTH = 300


# Unit → factor to the OpenEM unit (keys compared without spaces, case-sensitively: mm is not Mm).
_LENGTH_A = {"Å": 1, "A": 1, "Angstrom": 1, "angstrom": 1, "nm": 10, "pm": 0.01, "m": 1e10, "um": 1e4, "µm": 1e4}


_VOLTAGE_KV = {"kV": 1, "V": 1e-3, "MV": 1e3}


_CS_MM = {"mm": 1, "m": 1e3, "um": 1e-3, "µm": 1e-3}


_DEFOCUS_UM = {"um": 1, "µm": 1, "nm": 1e-3, "Å": 1e-4, "A": 1e-4, "m": 1e6}


_MASS_KDA = {"Da": 1e-3, "kDa": 1, "MDa": 1e3, "g/mol": 1e-3}


_ANGLE_DEG = {"°": 1, "deg": 1, "degree": 1, "degrees": 1, "": 1}


_SLIT_EV = {"eV": 1}


_DOSE = re.compile(r"^(?:e-?|1|el)/(?:Å|A)(?:\^?2|²)$")


@dataclass
class Imported:
    """What an OSC-EM file says, in OpenEM's terms."""

    shown: str  # the file, as messages name it
    schema: str  # the OSC-EM schema it was checked against
    #: OpenEM dotted field → value (``instrument.microscope``, ``sample.organism.name``, ``technique`` …).
    values: dict[str, Any] = field(default_factory=dict)
    authors: list[dict[str, Any]] = field(default_factory=list)
    funding: list[dict[str, Any]] = field(default_factory=list)
    #: OSC-EM values not used, and why; deviations from the OSC-EM schema.
    notes: list[str] = field(default_factory=list)


def clip(note: str) -> str:
    """A note of at most NOTE_LENGTH characters: the values quoted in it come from the file."""
    return note if len(note) <= NOTE_LENGTH else note[: NOTE_LENGTH - 1] + "…"


def unprintable(value: Any) -> bool:
    """Whether text in ``value`` holds control, format (bidirectional overrides …), surrogate or unassigned
    characters, which have no place in a dataset.yaml."""
    if isinstance(value, str):
        return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Cn") for c in value)
    if isinstance(value, Mapping):
        return any(unprintable(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(unprintable(v) for v in value)
    return False


def is_number(value: Any) -> bool:
    """A number arithmetic can use: not a bool, not NaN or infinite, not an integer of hundreds of digits (which
    strict JSON and safe YAML still allow, and no float holds)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) if isinstance(value, float) else abs(value) < 10**300


def kind(value: Any) -> str:
    return {list: "list", str: "text", int: "number", float: "number", bool: "true/false"}.get(type(value),
                                                                                            "empty value")


def _get(doc: Any, *path: str | int) -> Any:
    return yamlsafe.lookup(doc, *path)


@cache
def _field_validator(dotted: str) -> jsonschema.protocols.Validator | None:
    """A validator of one OpenEM field (``instrument.microscope``), from the dataset schema."""
    root = openem_schema("dataset")
    node: Any = root
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return jsonschema.validators.validator_for(root)(root).evolve(schema=node)


def acceptable(dotted: str, value: Any) -> str | None:
    """Why OpenEM's schema refuses ``value`` for field ``dotted``, or None when it accepts it."""
    validator = _field_validator(dotted)
    if validator is None:
        return "no such OpenEM field"
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    return error.message if error else None
