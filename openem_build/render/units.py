"""Pixel sizes in the unit readers of each technique expect: ångström for cryo-EM, cryo-ET and electron
crystallography, nanometres for volume EM, SEM and the materials techniques (an SBF-SEM voxel of 80 Å reads as
8 nm), and sub-ångström pixels of those in picometres. Every pixel size a landing page shows goes through
:func:`pixel_size`."""

from __future__ import annotations

from collections.abc import Sequence

#: Techniques whose pixel sizes are given in ångström; every other technique's in nanometres.
ANGSTROM_TECHNIQUES = frozenset({"single-particle", "helical", "subtomogram-averaging", "tomography", "microed",
                                 "2d-crystallography"})


def unit(technique: str | None) -> str:
    """``"Å"`` or ``"nm"``: the unit of pixel sizes for ``technique``."""
    return "Å" if technique in ANGSTROM_TECHNIQUES else "nm"


def _number(value: float) -> str:
    # Four significant digits, no trailing zeros and no exponent (0.0412, 1.06, 8, 1250).
    text = f"{value:.4g}"
    if "e" in text:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text


def pixel_size(value_A: float | Sequence[float | None] | None, technique: str | None) -> str:
    """A pixel (or voxel) size given in ångström, in the technique's unit: ``0.73 Å``, ``8 nm``; a voxel whose
    sides differ as ``8 × 8 × 40 nm``. Empty text when nothing is known."""
    if value_A is None:
        return ""
    values = [value_A] if isinstance(value_A, int | float) else [v for v in value_A if v is not None]
    if not values:
        return ""
    name = unit(technique)
    scale = 1.0 if name == "Å" else 0.1
    if name == "nm" and max(float(v) for v in values) < 1.0:
        name, scale = "pm", 100.0  # (atomic-resolution STEM: 12 pm rather than 0.012 nm)
    shown = [_number(float(v) * scale) for v in values]
    if len(set(shown)) == 1:
        shown = shown[:1]
    return f"{' × '.join(shown)} {name}"
