"""The official OSC-EM JSON Schemas (vendored in ``openem_build/schema/oscem/``, BSD-3-Clause) and what a document
breaks of them: both the OSC-EM export (:mod:`openem_build.render.oscem`) and the reader of OSC-EM files
(:mod:`openem_build.data.oscem`) check against them."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from ..records.schemafast import Check, Unsupported, compile_check

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


#: LinkML's annotations at the root of each OSC-EM schema (not JSON Schema keywords; the compiled check skips them).
_LINKML = ("metamodel_version", "version")


@functools.cache
def _fast(name: str) -> Check | None:
    """The compiled yes/no check of OSC-EM schema ``name`` (:mod:`openem_build.records.schemafast`); None when it
    cannot be compiled. Formats are annotations here, as for the validator (no format checker), so none is tested.

    Speed-up, measured: 1.49 → 0.02 ms of CPU per export (3.3 ms per dataset of a build's 12.4 ms of files on the
    AMD machine of benchmarks/README.md's issue-22 run, with the explaining; ~30 s of CPU at N = 10,000)."""
    try:
        return compile_check({k: v for k, v in schema(name).items() if k not in _LINKML}, lambda value, fmt: True)
    except (Unsupported, KeyError, TypeError, re.error):
        return None


def schema_errors(name: str, doc: Mapping[str, Any]) -> list[str]:
    """Where ``doc`` breaks OSC-EM schema ``name``: ``path: message`` lines, sorted; empty when valid."""
    fast = _fast(name)
    if fast is not None and fast(doc):  # (the common case; jsonschema only to explain)
        return []
    out = []
    for e in _validator(name).iter_errors(doc):
        where = ".".join(str(p) for p in e.absolute_path) or "(document)"
        out.append(f"{where}: {e.message}")
    return sorted(out)
