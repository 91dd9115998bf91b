"""Spectra (EELS, EDX) drawn as labelled line plots, as grey levels for :func:`.previews.encode_png`.

matplotlib's Agg renderer draws into a pixel buffer (no file, so no metadata or timestamps are written), with
the fonts matplotlib ships: the same spectrum always gives the same pixels, and the PNG is encoded by
:mod:`.previews` like every other preview.
"""

from __future__ import annotations

import numpy as np

#: Plot size in pixels (width, height).
SIZE = (640, 400)
DPI = 100


def _label(text: str) -> str:
    """Text as matplotlib shows it literally (no mathtext between dollar signs)."""
    return text.replace("$", r"\$")


def spectrum(energy: np.ndarray, counts: np.ndarray, *, xlabel: str, ylabel: str, title: str) -> np.ndarray:
    """uint8 grey levels (height × width) of a line plot of ``counts`` against ``energy``, axes labelled."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(SIZE[0] / DPI, SIZE[1] / DPI), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    finite = np.isfinite(counts)
    ax.plot(np.asarray(energy, dtype=np.float64)[finite], np.asarray(counts, dtype=np.float64)[finite],
            color="black", linewidth=1.0)
    ax.set_xlabel(_label(xlabel))
    ax.set_ylabel(_label(ylabel))
    ax.set_title(_label(title), fontsize=10)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    if finite.any():
        ax.set_xlim(float(np.min(energy)), float(np.max(energy)))
    fig.tight_layout()
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.float64)
    grey = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
    return np.clip(np.floor(grey + 0.5), 0, 255).astype(np.uint8)
