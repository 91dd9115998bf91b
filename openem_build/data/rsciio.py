"""Header facts of the materials-science formats, read with RosettaSciIO (HyperSpy's IO library).

Gatan DigitalMicrograph (``.dm3``, ``.dm4``), Thermo Fisher Velox EMD (``.emd``), FEI TIA (``.ser`` with its
``.emi``), Bruker ``.bcf`` and TIFF files with FEI, Zeiss or TVIPS tags are read with ``lazy=True``: the
readers parse the tags and give a dask array whose data are never touched here, so a header read costs memory
in proportion to the tags, not to the file. What RosettaSciIO reports is then put into the catalogue's words:

- the axes (calibrated by the file) give the ``image`` block (dimensions in file order x, y, …, data type and
  what the data are: image, image-stack, spectrum, spectrum-image, volume) and the pixel size per axis in Å;
- RosettaSciIO's ``mapping`` (the table HyperSpy applies to fill ``metadata.Acquisition_instrument``) gives the
  voltage, magnification, camera length, dwell time, exposure and microscope;
- a few vendor tags it does not map (:data:`_EXTRA`) give the detector, camera and, where missing, the rest.

:func:`signals` gives the same lazy signals to the previews.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: File suffix → RosettaSciIO plugin module (``.tif``/``.tiff`` only for files with vendor tags: see tiff.py).
PLUGINS = {".dm3": "rsciio.digitalmicrograph", ".dm4": "rsciio.digitalmicrograph", ".emd": "rsciio.emd",
           ".ser": "rsciio.tia", ".emi": "rsciio.tia", ".bcf": "rsciio.bruker", ".tif": "rsciio.tiff",
           ".tiff": "rsciio.tiff"}
#: headers ``type`` of each suffix.
TYPES = {".dm3": "dm", ".dm4": "dm", ".emd": "emd", ".ser": "tia", ".emi": "tia", ".bcf": "bcf", ".tif": "tiff",
         ".tiff": "tiff"}
#: Length units → ångström per unit.
_LENGTH = {"m": 1e10, "cm": 1e8, "mm": 1e7, "µm": 1e4, "um": 1e4, "μm": 1e4, "nm": 10.0, "Å": 1.0, "A": 1.0,
           "pm": 0.01}
_ENERGY = {"eV", "keV"}
#: Vendor tags RosettaSciIO reads but does not map: original-metadata path → (acquisition key, how to convert).
_EXTRA: dict[str, tuple[tuple[str, str, float], ...]] = {
    "dm": (("ImageList.TagGroup0.ImageTags.Acquisition.Device.Name", "camera", 0),
           ("ImageList.TagGroup0.ImageTags.EELS Spectrometer.Instrument name", "detector", 0),
           ("ImageList.TagGroup0.ImageTags.Acquisition.Parameters.High Level.Exposure (s)", "exposure_time_s", 1),
           ("ImageList.TagGroup0.ImageTags.SI.Acquisition.Pixel time (s)", "dwell_time_us", 1e6),
           ("ImageList.TagGroup0.ImageTags.Microscope Info.Name", "microscope", 0)),
    "emd": (("Scan.DwellTime", "dwell_time_us", 1e6), ("Optics.AccelerationVoltage", "acceleration_voltage_kV", 1e-3),
            ("BinaryResult.Detector", "detector", 0)),
    "tia": (("ObjectInfo.ExperimentalConditions.MicroscopeConditions.AcceleratingVoltage",
             "acceleration_voltage_kV", 1e-3),),
    "tiff": (("fei_metadata.Detectors.Name", "detector", 0), ("CZ_SEM.dp_detector_channel", "detector", 0),
             ("TVIPS.CameraType", "camera", 0)),
}
#: HyperSpy metadata path (under Acquisition_instrument.TEM or .SEM) → (acquisition key, scale).
_MAPPED = (("beam_energy", "acceleration_voltage_kV", 1.0), ("magnification", "magnification", 1.0),
           ("camera_length", "camera_length_mm", 1.0), ("dwell_time", "dwell_time_us", 1e6),
           ("Detector.Camera.exposure", "exposure_time_s", 1.0), ("Detector.EELS.exposure", "exposure_time_s", 1.0),
           ("Detector.Camera.Name", "camera", 0), ("Detector.Camera.name", "camera", 0),
           ("Detector.EELS.spectrometer", "detector", 0), ("Detector.EDS.detector_type", "detector", 0),
           ("microscope", "microscope", 0))


def plugin(path: Path) -> Any:
    """The RosettaSciIO plugin module that reads ``path``."""
    return importlib.import_module(PLUGINS[path.suffix.lower()])


def signals(path: Path) -> list[dict[str, Any]]:
    """RosettaSciIO's signal dictionaries of a file, read lazily (data as dask arrays, not loaded)."""
    logging.getLogger("rsciio").setLevel(logging.ERROR)  # (its remarks on vendor quirks would flood a listing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(plugin(path).file_reader(str(path), lazy=True))


def lookup(tree: Any, dotted: str) -> Any:
    """The value at a dotted path of nested dictionaries (None when absent)."""
    for part in dotted.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return None
        tree = tree[part]
    return tree


def mapped_metadata(signal: Mapping[str, Any]) -> dict[str, Any]:
    """HyperSpy's ``metadata`` of a signal: its own, plus its ``mapping`` of the original metadata applied (as
    HyperSpy does when it loads a file)."""
    out: dict[str, Any] = _copy(signal.get("metadata") or {})
    original = signal.get("original_metadata") or {}
    for source, (target, convert) in (signal.get("mapping") or {}).items():
        value = lookup(original, source)
        if value is None:
            continue
        if convert is not None:
            try:
                value = convert(value)
            except Exception:  # (a vendor value RosettaSciIO's own converter cannot read)
                continue
        if value is None:
            continue
        node = out
        *parents, leaf = target.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[leaf] = value
    return out


def _copy(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, Mapping) else v for k, v in tree.items()}


def number(value: Any) -> float | None:
    """A finite number from a vendor value (numbers, numeric text such as '0.062500')."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def magnification(value: Any) -> int | None:
    """A magnification from a number or vendor text ('50.00 K X' → 50000, '1.2 M X' → 1200000)."""
    if isinstance(value, str):
        m = re.match(r"^\s*([0-9.]+)\s*([kKmM]?)\s*[xX×]?\s*$", value)
        if not m:
            return None
        scale = {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
        value = float(m.group(1)) * scale
    n = number(value)
    return int(round(n)) if n and n >= 1 else None


def _significant(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _convert(key: str, value: Any, scale: float) -> Any:
    if isinstance(value, tuple | list) and len(value) >= 2 and isinstance(value[0], str):
        value = value[1]  # (Zeiss CZ_SEM values are (label, value[, unit]))
    if scale == 0:
        return _text(value)
    if key == "magnification":
        return magnification(value)
    n = number(value)
    return None if n is None else _significant(n * scale)


def acquisition(kind: str, signal: Mapping[str, Any]) -> dict[str, Any]:
    """Acquisition values in the catalogue's vocabulary from a RosettaSciIO signal dictionary."""
    meta = mapped_metadata(signal)
    instrument = lookup(meta, "Acquisition_instrument") or {}
    out: dict[str, Any] = {}
    for branch in ("TEM", "SEM"):
        node = instrument.get(branch) if isinstance(instrument, Mapping) else None
        for path, key, scale in _MAPPED:
            value = lookup(node, path)
            if value is not None and key not in out:
                converted = _convert(key, value, scale)
                if converted is not None:
                    out[key] = converted
    original = signal.get("original_metadata") or {}
    for path, key, scale in _EXTRA.get(kind, ()):
        if key not in out:
            converted = _convert(key, lookup(original, path), scale)
            if converted is not None:
                out[key] = converted
    date, time = lookup(meta, "General.date"), lookup(meta, "General.time")
    if isinstance(date, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", date):
        out["collected"] = f"{date}T{time}" if isinstance(time, str) and re.fullmatch(r"\d\d:\d\d:\d\d", time) \
            else date
    if kind == "emd" and "detector" not in out:
        out["detector"] = _text(lookup(meta, "General.title"))
    spatial = _spatial_sizes(signal.get("axes") or [])
    if spatial:
        out["voxel_size_A"] = spatial
        if len(spatial) >= 2 and math.isclose(spatial[0], spatial[1], rel_tol=1e-6):
            out["pixel_size_A"] = spatial[0]
    return {k: v for k, v in out.items() if v is not None}


def _spatial_sizes(axes: list[Mapping[str, Any]]) -> list[float]:
    """Å per pixel of the spatial axes, in file order (x first), when every one is calibrated in a length unit."""
    sizes = []
    for ax in reversed(axes):  # (RosettaSciIO lists axes in numpy order: the last one is x)
        unit = str(ax.get("units") or "")
        scale = number(ax.get("scale"))
        if unit in _LENGTH and scale:
            sizes.append(_significant(abs(scale) * _LENGTH[unit]))
    return sizes


def image(signal: Mapping[str, Any]) -> dict[str, Any]:
    """The ``image`` block: dimensions (x first), data type, what the data are, and the calibrated axes."""
    data = signal.get("data")
    shape = tuple(int(n) for n in getattr(data, "shape", ()))
    axes = list(signal.get("axes") or [])
    units = [str(a.get("units") or "") for a in axes]
    energy = sum(u in _ENERGY for u in units)
    spatial = sum(u in _LENGTH for u in units)
    if energy:
        kind = "spectrum-image" if len(shape) > 1 else "spectrum"
    elif len(shape) <= 2:
        kind = "image"
    elif len(shape) == 3 and spatial == 3:
        kind = "volume"
    else:
        kind = "image-stack"
    out: dict[str, Any] = {"dimensions": list(reversed(shape)), "dtype": str(getattr(data, "dtype", "")) or None,
                           "kind": kind}
    described = []
    for ax in reversed(axes):
        entry = {"name": _text(ax.get("name")) or "", "size": int(ax.get("size") or 0),
                 "units": _text(ax.get("units")) or ""}
        scale, offset = number(ax.get("scale")), number(ax.get("offset"))
        if scale is not None:
            entry["scale"] = _significant(scale)
        if offset is not None:
            entry["offset"] = _significant(offset)
        described.append(entry)
    if described:
        out["axes"] = described
    signal_type = _text(lookup(signal.get("metadata") or {}, "Signal.signal_type"))
    if signal_type:
        out["signal_type"] = signal_type
    return {k: v for k, v in out.items() if v is not None}


def _usable(found: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for s in found:
        if isinstance(s, Mapping) and getattr(s.get("data"), "shape", None) is not None:
            yield s


def extract(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Header facts and problems of one file RosettaSciIO reads (never raises for a bad file)."""
    kind = TYPES[path.suffix.lower()]
    problems: list[str] = []
    found = list(_usable(signals(path)))
    if not found:
        return {}, ["RosettaSciIO found no data in the file"]
    first = found[0]
    out: dict[str, Any] = {"image": image(first)}
    facts = acquisition(kind, first)
    if facts:
        out["acquisition"] = facts
    if len(found) > 1:
        out["signals"] = len(found)
    return out, problems
