"""Thermo Fisher EPU / Tomo image metadata (``MicroscopeImage`` XML next to every acquired image).

Values are SI in the file (volts, metres, electrons per m²) and converted to the catalogue's units here.
The XML comes from data submitters, so documents with a DOCTYPE (entities) are refused unread.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

MAX_BYTES = 16 << 20
MANUFACTURER = "Thermo Fisher Scientific"
# InstrumentModel often holds the microscope PC's name (TITAN52336320), not a model a reader knows.
_COMPUTER_NAME = re.compile(r"^[A-Z]+\d{5,}$")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node: ET.Element | None, *names: str) -> ET.Element | None:
    """The first descendant path ``names`` (namespace-agnostic), or None."""
    for name in names:
        if node is None:
            return None
        node = next((child for child in node if _local(child.tag) == name), None)
    return node


def _text(node: ET.Element | None, *names: str) -> str | None:
    found = _find(node, *names)
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


def _num(text: str | None, scale: float = 1.0, digits: int = 6) -> float | None:
    if text is None:
        return None
    try:
        value = float(text) * scale
    except ValueError:
        return None
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def _int(value: float | None) -> int | float | None:
    return int(value) if value is not None and value.is_integer() else value


def _custom(node: ET.Element | None) -> dict[str, ET.Element]:
    """``KeyValueOfstringanyType`` pairs of a CustomData or CameraSpecificInput element."""
    out: dict[str, ET.Element] = {}
    for pair in node if node is not None else ():
        key, value = _find(pair, "Key"), _find(pair, "Value")
        if key is not None and key.text and value is not None:
            out[key.text.strip()] = value
    return out


def _value(node: ET.Element | None) -> str | None:
    return node.text.strip() if node is not None and node.text and node.text.strip() else None


def interpret(root: ET.Element, problems: list[str]) -> dict[str, Any]:
    """The ``epu`` description and normalised ``acquisition`` values of a ``MicroscopeImage``."""
    scope = _find(root, "microscopeData")
    camera = _find(scope, "acquisition", "camera")
    custom = _custom(_find(root, "CustomData"))
    camera_input = _custom(_find(camera, "CameraSpecificInput"))

    software = " ".join(filter(None, (_text(scope, "core", "ApplicationSoftware"),
                                      _text(scope, "core", "ApplicationSoftwareVersion")))) or None
    model = _text(scope, "instrument", "InstrumentModel")
    epu: dict[str, Any] = {
        "instrument_model": model,
        "instrument_id": _text(scope, "instrument", "InstrumentID"),
        "camera": _text(camera, "Name"),
        "exposure_time_s": _num(_text(camera, "ExposureTime")),
        "binning": _int(_num(_text(camera, "Binning", "x"))),
        "acquired": _text(scope, "acquisition", "acquisitionDateTime"),
    }

    detector = _value(custom.get("DetectorCommercialName"))
    if detector is None:
        detector = next((_value(v) for k, v in sorted(custom.items())
                         if k.startswith("Detectors[") and k.endswith("].CommercialName")), None)
    counting = _value(camera_input.get("ElectronCountingEnabled"))
    superres = _num(_value(camera_input.get("SuperResolutionFactor")))
    mode = None
    if counting == "true":
        mode = "super-resolution" if superres and superres > 1 and epu["binning"] == 1 else "counting"
    elif counting == "false":
        mode = "integrating"
    fractions = camera_input.get("FractionationSettings")
    frames = None
    if fractions is not None:
        count = next((el.text for el in fractions.iter() if _local(el.tag) == "NumberOffractions"), None)
        frames = int(count) if count and count.strip().isdigit() and int(count) > 0 else None

    voltage = _num(_text(scope, "gun", "AccelerationVoltage"), 1e-3)
    pixel = _num(_text(root, "SpatialScale", "pixelSize", "x", "numericValue"), 1e10)
    slit_in = _text(scope, "optics", "EnergyFilter", "EnergySelectionSlitInserted")
    slit = _num(_text(scope, "optics", "EnergyFilter", "EnergySelectionSlitWidth"))
    dose = _num(_value(custom.get("Dose")), 1e-20, 4)  # electrons per m² → per Å²
    defocus = _num(_value(custom.get("AppliedDefocus")), -1e6, 4)  # m, underfocus negative → µm positive
    tilt = _num(_text(scope, "stage", "Position", "A"))
    magnification = _num(_text(scope, "optics", "TemMagnification", "NominalMagnification"))
    if voltage is not None and not 1 <= voltage <= 3000:
        problems.append(f"AccelerationVoltage {voltage * 1000:g} V is implausible; ignored")
        voltage = None
    if pixel is not None and not 0.001 <= pixel <= 1e6:
        problems.append(f"pixel size {pixel / 1e10:g} m is implausible; ignored")
        pixel = None
    acq: dict[str, Any] = {
        "software": software,
        "manufacturer": MANUFACTURER,
        "microscope": model if model and not _COMPUTER_NAME.match(model) else None,
        "acceleration_voltage_kV": voltage,
        "detector": detector,
        "detector_mode": mode,
        "energy_filter_slit_eV": slit if slit_in == "true" and slit else None,
        "pixel_size_A": pixel,
        "magnification": int(magnification) if magnification and magnification > 0 else None,
        "dose_e_per_A2": dose if dose and dose > 0 else None,
        "defocus_um": defocus,
        "tilt_angle_deg": round(math.degrees(tilt), 2) if tilt is not None else None,
        "frames": frames,
        "collected": epu["acquired"],
    }
    return {"epu": {k: v for k, v in epu.items() if v is not None},
            "acquisition": {k: v for k, v in acq.items() if v is not None}}


def extract(path: Path) -> tuple[dict[str, Any], list[str], str]:
    """Metadata, problems and the file's type (``epu`` for a MicroscopeImage, else ``xml``)."""
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            return {"size_bytes": size}, [f"the XML is larger than {MAX_BYTES >> 20} MB; not read"], "xml"
        raw = path.read_bytes()
    except OSError as exc:
        return {}, [f"cannot be read: {exc.strerror or exc}"], "xml"
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return {"size_bytes": size}, ["the XML declares a DOCTYPE or entities; not read"], "xml"
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        line, col = exc.position
        return {"size_bytes": size}, [f"line {line}, column {col + 1}: not well-formed XML"], "xml"
    if _local(root.tag) != "MicroscopeImage":
        return {"size_bytes": size, "xml": {"root": _local(root.tag)}}, [], "xml"
    problems: list[str] = []
    out = {"size_bytes": size, **interpret(root, problems)}
    if "acceleration_voltage_kV" not in out["acquisition"] and "pixel_size_A" not in out["acquisition"]:
        problems.append("a MicroscopeImage without gun/AccelerationVoltage or SpatialScale/pixelSize: "
                        "the metadata are incomplete")
    return out, problems, "epu"
