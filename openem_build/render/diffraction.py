"""What a diffraction pattern's pixel measures: reciprocal-space sampling from the camera length.

A diffraction pattern has no pixel size at the specimen; its pixel spans an angle, and with the electron
wavelength a spatial frequency: ``s = p / (L·λ)`` per pixel for a detector pixel of pitch ``p`` at camera length
``L`` (small angles, as every MicroED program assumes). Pure functions, no I/O.
"""

from __future__ import annotations

import math

from ..records.model import Dataset

# CODATA 2018 (exact or as recommended): Planck constant, electron rest mass, elementary charge, speed of light.
_H = 6.62607015e-34
_M0 = 9.1093837015e-31
_E = 1.602176634e-19
_C = 299792458.0


def electron_wavelength_A(kilovolts: float) -> float:
    """The relativistic wavelength of electrons accelerated through ``kilovolts``, in Å (200 kV → 0.02508 Å)."""
    volts = kilovolts * 1000.0
    momentum = math.sqrt(2 * _M0 * _E * volts * (1 + _E * volts / (2 * _M0 * _C * _C)))
    return _H / momentum * 1e10


def reciprocal_pixel_per_A(detector_pixel_um: float, camera_length_mm: float, kilovolts: float) -> float:
    """The spatial frequency one detector pixel spans in a diffraction pattern, in Å⁻¹ (``p / (L·λ)``)."""
    return (detector_pixel_um * 1e-3) / (camera_length_mm * electron_wavelength_A(kilovolts))


def sampling_per_A(d: Dataset) -> float | None:
    """The reciprocal-space sampling of an entry's diffraction patterns (Å⁻¹ per pixel), when it records the
    camera length, the detector's pixel size and the voltage; else None."""
    i, a = d.instrument, d.acquisition
    if a.camera_length_mm is None or i.detector_pixel_size_um is None or i.acceleration_voltage_kV is None:
        return None
    return reciprocal_pixel_per_A(i.detector_pixel_size_um, a.camera_length_mm, i.acceleration_voltage_kV)
