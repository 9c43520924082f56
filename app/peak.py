"""The device's own limit beside every benchmark row: a convolution probe per engine and precision.

A row's GMAC/s says how fast an engine ran the model. The probe, a plain stack of 3x3
convolutions (the operation every engine is tuned for: four layers of 320 channels at 24x24),
exported to the same format and precision and run by the same engine with the same threads, says
what that engine achieves on this machine; a row's share of it shows how much of the achievable
rate the model gets (small or memory-bound layers, resizes and concatenations get less). Wide
layers are where every engine measured ran closest to its best (benchmarks/probe_width.py); the
64-channel probe before 2026-12-07 ran int8 10-28% slower, and `live` beat it. The probe is
built and converted with the export's own converters (so int8 is calibrated the same way).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeae.core.formats import FORMATS

PROBE_SHAPE = (24, 24, 320)  # (h, w, channels): 2.1 G multiply-accumulates per run
PROBE_LAYERS = 4


def probe_macs(shape: tuple[int, int, int]) -> int:
    """The probe's multiply-accumulates per run at `shape` (h, w, channels)."""
    h, w, c = shape
    return PROBE_LAYERS * 9 * c * c * h * w


PROBE_MACS = probe_macs(PROBE_SHAPE)
CALIBRATION = 16


def probe_model():
    """The Keras probe: PROBE_LAYERS 3x3 ReLU convolutions keeping PROBE_SHAPE."""
    import keras

    inputs = keras.Input(PROBE_SHAPE, name="image")
    x = inputs
    for i in range(PROBE_LAYERS):
        x = keras.layers.Conv2D(PROBE_SHAPE[2], 3, padding="same", activation="relu",
                                name=f"probe{i}")(x)
    return keras.Model(inputs, x, name="probe")


def probe_input(seed: int = 0) -> np.ndarray:
    """One batch of the probe's input."""
    return np.random.default_rng(seed).random((1, *PROBE_SHAPE), dtype=np.float32)


def write_probes(work: Path, pairs: set[tuple[str, str]], seed: int = 0) -> dict:
    """The probe exported for each (format, precision) in `pairs`: (format, precision) -> path."""
    from edgeae.export.artifacts import converter_class
    from edgeae.export.options import Calibration, ExportOptions

    model, written = probe_model(), {}
    calibration = np.random.default_rng(seed).random((CALIBRATION, *PROBE_SHAPE),
                                                     dtype=np.float32)
    for fmt in dict.fromkeys(f for f, _ in sorted(pairs) if FORMATS[f].exported):
        converter = converter_class(fmt)(model, PROBE_SHAPE, ExportOptions())
        try:
            for precision in (p for f, p in sorted(pairs) if f == fmt):
                path = Path(work) / f"probe_{precision}{FORMATS[fmt].suffix}"
                converter.convert(precision, Calibration(calibration)).write_to(path)
                written[(fmt, precision)] = path
        finally:
            converter.close()
    return written


def peak_columns(row_gmacs: float, probe_ms: float | None) -> dict[str, float]:
    """The probe's GMAC/s on this engine and the row's percentage of it (none without one)."""
    if not probe_ms:
        return {}
    peak = PROBE_MACS / (probe_ms / 1e3) / 1e9
    return {"peak_gmacs_per_s": float(f"{peak:.4g}"),
            "pct_of_peak": round(100 * row_gmacs / peak, 1)}
