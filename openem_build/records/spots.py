"""Where a dataset document gives its id and DOI, kept for the cross-dataset checks."""

from __future__ import annotations

from dataclasses import dataclass

from .yamlsafe import Located


@dataclass(frozen=True)
class Spots:
    """Where a dataset document gives its id and DOI: all the cross-dataset checks need of it, kept instead of
    the whole located document (small to keep and to send back from worker processes)."""

    spots: tuple[tuple[tuple[str, ...], tuple[int, int]], ...]

    @classmethod
    def of(cls, doc: Located) -> Spots:
        return cls(tuple((pointer, doc.where(pointer)) for pointer in _SPOTS))

    def where(self, pointer: tuple[str, ...]) -> tuple[int, int]:
        return dict(self.spots).get(pointer, (1, 1))


_SPOTS = (("id",), ("doi",))
