"""What each header ``type`` is called in text meant for people (the stub's comments), in a fixed order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Header ``type`` → its name, in the order they are listed.
NAMES = {"mrc": "MRC", "mdoc": "SerialEM .mdoc", "epu": "EPU XML", "xml": "XML", "dm": "Gatan DM3/DM4",
         "emd": "Velox EMD", "tia": "TIA SER/EMI", "bcf": "Bruker BCF", "tiff": "TIFF", "eer": "EER"}


def formats_read(headers: Iterable[Mapping[str, Any] | None]) -> str:
    """The names of the formats among header facts, in :data:`NAMES` order ("MRC, SerialEM .mdoc, …")."""
    seen = {h.get("type") for h in headers if isinstance(h, Mapping)}
    return ", ".join(name for kind, name in NAMES.items() if kind in seen)
