"""The official OSC-EM JSON Schemas (vendored in ``openem_build/schema/oscem/``, BSD-3-Clause) and what a document
breaks of them: both the OSC-EM export (:mod:`openem_build.render.oscem`) and the reader of OSC-EM files
(:mod:`openem_build.data.oscem`) check against them."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema" / "oscem"


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The official OSC-EM JSON Schema ``name`` (spa, subtomo, cellular_tomo, env_tomo, general)."""
    return json.loads((SCHEMA_DIR / f"oscem_schemas_{name}.schema.json").read_text("utf-8"))


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    doc = schema(name)
    cls = jsonschema.validators.validator_for(doc)
    cls.check_schema(doc)
    return cls(doc)


def schema_errors(name: str, doc: Mapping[str, Any]) -> list[str]:
    """Where ``doc`` breaks OSC-EM schema ``name``: ``path: message`` lines, sorted; empty when valid."""
    validator = _validator(name)
    if validator.is_valid(doc):  # (the common case, a third faster than collecting no errors)
        return []
    out = []
    for e in validator.iter_errors(doc):
        where = ".".join(str(p) for p in e.absolute_path) or "(document)"
        out.append(f"{where}: {e.message}")
    return sorted(out)
