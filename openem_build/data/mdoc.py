"""SerialEM ``.mdoc`` files: tilt series, montages and frame sets.

An mdoc is ``key = value`` lines: global keys first, then sections that start with ``[ZValue = n]`` (one per
image), ``[MontSection = n]`` (montage overviews) or ``[FrameSet = n]``; ``[T = …]`` lines are titles.
"""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

MAX_BYTES = 64 << 20
_SECTION = re.compile(r"^\[\s*(\w+)\s*=\s*(.*?)\s*\]$")
_PAIR = re.compile(r"^([A-Za-z][\w.]*)\s*=\s*(.*)$")
_TILT_AXIS = re.compile(r"Tilt axis angle\s*=\s*(-?[\d.]+)")


@dataclass
class Section:
    kind: str  # ZValue, MontSection, FrameSet, …
    index: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Mdoc:
    """The parsed file: global keys, titles and sections, as text."""

    globals: dict[str, str] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def parse(text: str, problems: list[str]) -> Mdoc:
    """Parse mdoc text; lines that are neither ``key = value`` nor ``[…]`` are reported, not fatal."""
    doc = Mdoc()
    current: dict[str, str] = doc.globals
    bad: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if section := _SECTION.match(line):
            kind, value = section.groups()
            if kind == "T":
                doc.titles.append(" ".join(value.split()))
                continue
            doc.sections.append(Section(kind, value))
            current = doc.sections[-1].values
        elif pair := _PAIR.match(line):
            key, value = pair.groups()
            if key in current:
                problems.append(f"line {number}: {key} is given twice in the same section; the last is used")
            current[key] = value.strip()
        else:
            bad.append(number)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        problems.append(f"line{'s' if len(bad) > 1 else ''} {shown}: neither `key = value` nor `[section]`; "
                        "ignored")
    return doc


def _float(values: dict[str, str], key: str, where: str, problems: list[str]) -> float | None:
    text = values.get(key)
    if text is None or text == "":
        return None
    try:
        number = float(text.split()[0])
    except ValueError:
        problems.append(f"{where}: {key} = {text!r} is not a number")
        return None
    if number != number or number in (float("inf"), float("-inf")):
        problems.append(f"{where}: {key} = {text!r} is not a finite number")
        return None
    return number


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    compact = " ".join(text.split())
    for fmt in ("%d-%b-%y %H:%M:%S", "%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(compact, fmt)
        except ValueError:
            pass
    return None


def _mode(values: list[Any]) -> Any:
    """The most common value (the first seen wins ties), or None."""
    return Counter(values).most_common(1)[0][0] if values else None


def tilt_scheme(angles: list[float]) -> str | None:
    """Guess the tilt scheme from tilt angles in acquisition order."""
    if len(angles) < 3:
        return None
    steps = [b - a for a, b in zip(angles, angles[1:], strict=False)]
    if all(s > 0 for s in steps) or all(s < 0 for s in steps):
        return "unidirectional"
    start = angles[0]
    sides = [1 if a > start + 0.1 else -1 for a in angles[1:] if abs(a - start) > 0.1]
    changes = sum(1 for a, b in zip(sides, sides[1:], strict=False) if a != b)
    if changes == 1:
        return "bidirectional"
    if changes >= 3:
        return "dose-symmetric"
    return None


def _step(angles: list[float]) -> float | None:
    ordered = sorted(set(round(a, 2) for a in angles))
    if len(ordered) < 2:
        return None
    step = statistics.median(b - a for a, b in zip(ordered, ordered[1:], strict=False))
    return round(step, 1) if step >= 1 else round(step, 2)


def summarise(doc: Mdoc, problems: list[str]) -> dict[str, Any]:
    """The ``mdoc`` description and the normalised ``acquisition`` values of a parsed file."""
    g = doc.globals
    kinds = [s.kind for s in doc.sections]
    image_kind = "ZValue" if "ZValue" in kinds else "FrameSet"
    images = [s for s in doc.sections if s.kind == image_kind]
    montage = g.get("Montage", "0").strip() not in ("", "0") or "MontSection" in kinds

    def each(key: str) -> list[float]:
        out = []
        for s in images:
            value = _float(s.values, key, f"[{s.kind} = {s.index}]", problems)
            if value is not None:
                out.append(value)
        return out

    size = g.get("ImageSize", "").split()
    info: dict[str, Any] = {
        "image_file": g.get("ImageFile") or None,
        "image_size": [int(v) for v in size] if len(size) == 2 and all(v.isdigit() for v in size) else None,
        "data_mode": int(g["DataMode"]) if g.get("DataMode", "").lstrip("-").isdigit() else None,
        "sections": len(images),
        "section_type": images[0].kind if images else None,
        "montage": montage,
        "titles": doc.titles,
    }
    for title in doc.titles:
        if axis := _TILT_AXIS.search(title):
            info["tilt_axis_angle_deg"] = float(axis.group(1))
            break
    if montage:
        pieces = [s for s in images if "PieceCoordinates" in s.values]
        info["pieces"] = len(pieces)
        info["montage_sections"] = len({s.values["PieceCoordinates"].split()[-1] for s in pieces
                                        if s.values["PieceCoordinates"].split()}) or None

    acq: dict[str, Any] = {"software": "SerialEM"}
    voltage = _float(g, "Voltage", "global", problems)
    voltages = each("Voltage")
    acq["acceleration_voltage_kV"] = voltage if voltage is not None else _mode(voltages)
    pixel = _float(g, "PixelSpacing", "global", problems)
    acq["pixel_size_A"] = pixel if pixel is not None else _mode(each("PixelSpacing"))
    mags = [int(m) for m in each("Magnification") if m > 0]
    acq["magnification"] = _mode(mags)
    acq["frames"] = _mode([int(n) for n in each("NumSubFrames") if n > 0])

    stamped = [(s, _when(s.values.get("DateTime"))) for s in images]
    order = list(range(len(images)))
    if stamped and all(t is not None for _, t in stamped):
        order.sort(key=lambda i: stamped[i][1])  # type: ignore[arg-type, return-value]
    times = [t for _, t in stamped if t is not None]
    if times:
        acq["collected"] = min(times).isoformat()

    angles_by_image: list[float | None] = [
        _float(s.values, "TiltAngle", f"[{s.kind} = {s.index}]", problems) for s in images]
    angles = [angles_by_image[i] for i in order if angles_by_image[i] is not None]
    if len({round(a, 1) for a in angles}) > 1 and not montage:  # type: ignore[arg-type]
        acq["tilt_angles_deg"] = [round(a, 2) for a in angles]  # type: ignore[arg-type]
        acq["tilt_range_deg"] = [round(min(angles), 1), round(max(angles), 1)]  # type: ignore[type-var]
        acq["tilt_step_deg"] = _step(angles)  # type: ignore[arg-type]
        acq["tilt_scheme"] = tilt_scheme(angles)  # type: ignore[arg-type]

    doses = each("ExposureDose")
    if doses and any(d > 0 for d in doses):
        acq["total_dose_e_per_A2"] = round(sum(doses), 2)
    targets = each("TargetDefocus")
    if targets:  # SerialEM writes underfocus as negative µm; the catalogue counts it positive
        acq["defocus_range_um"] = [round(-max(targets), 2), round(-min(targets), 2)]
    return {"mdoc": info, "acquisition": {k: v for k, v in acq.items() if v is not None}}


def extract(path: Path) -> tuple[dict[str, Any], list[str]]:
    """JSON-serialisable metadata and problems of one ``.mdoc`` file (never raises for a bad file)."""
    problems: list[str] = []
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        return {}, [f"cannot be read: {exc.strerror or exc}"]
    if len(raw) > MAX_BYTES:
        problems.append(f"the file is larger than {MAX_BYTES >> 20} MB; only its start was read")
        raw = raw[:MAX_BYTES]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    doc = parse(text, problems)
    if not doc.globals and not doc.sections:
        problems.append("no `key = value` lines: not a SerialEM .mdoc file")
        return {"size_bytes": size}, problems
    out = {"size_bytes": size, **summarise(doc, problems)}
    if not out["mdoc"]["sections"] and not out["mdoc"]["montage"]:
        problems.append("no [ZValue = …] or [FrameSet = …] sections: the file describes no images")
    return out, problems
