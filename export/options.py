"""What an export is asked for and how strictly it is judged: options and the parity gate.

TensorFlow-free, so the command line can show and check these defaults without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from edgeae.core.formats import PRECISIONS
from edgeae.core.manifest import ParityInfo, weights_path_for

IoType = Literal["uint8", "int8", "float32"]  # a full-integer TFLite artifact's input and output
IO_TYPES: tuple[str, ...] = IoType.__args__
DEFAULT_OPSET = 17
MAX_OPSET = 18  # the newest tf2onnx 1.17 converts to (19-21 failed after TensorFlow loaded)


@dataclass(frozen=True)
class Tolerances:
    """The export gate; the defaults are the documented ones (see `edgeae export --help`)."""

    fp32_max_abs_diff: float = 1e-4
    fp16_max_abs_diff: float = 2e-3
    bf16_max_abs_diff: float = 2.5e-2  # bfloat16 keeps 8 significant bits: ~0.4% per operation
    int8_psnr_drop_db: float = 0.3
    int8_auroc_drop: float = 0.005

    def failure(self, precision: str, parity: ParityInfo, masks: bool = False) -> str | None:
        """Why `parity` fails the gate for `precision`, or None when it passes.

        `masks`: a mask predictor's, gated by the AUROC of its masks alone (export's PastedMasks).
        """
        row = PRECISIONS[precision]
        if not np.isfinite(parity.max_abs_diff):  # NaN fails no comparison: catch it here
            return (f"the outputs hold NaN or infinity ({precision}); was training diverging? "
                    "(its history.csv shows the loss)")
        if row.gate == "max_abs_diff":
            limit = getattr(self, row.tolerance)
            if parity.max_abs_diff > limit:
                return f"max abs diff {parity.max_abs_diff:.3g} > {limit:g} ({precision})"
            return None
        drop = psnr_drop(parity)
        if not masks and drop > self.int8_psnr_drop_db:
            return (f"PSNR drop {_shown_above(drop, self.int8_psnr_drop_db, 2)} dB > "
                    f"{self.int8_psnr_drop_db:g} dB ({precision})")
        auroc_drop = None if parity.auroc is None else parity.keras_auroc - parity.auroc
        if auroc_drop is not None and auroc_drop > self.int8_auroc_drop:
            return (f"AUROC drop {_shown_above(auroc_drop, self.int8_auroc_drop, 4)} > "
                    f"{self.int8_auroc_drop:g} ({precision})")
        return None

    def describe(self, precision: str, masks: bool = False, labelled: bool = False) -> str:
        """The gate for `precision` in words, for the report table.

        A mask predictor's int8 gate is its masks' AUROC; detection parity on a labelled set
        (--labelled) adds an AUROC drop to the PSNR drop.
        """
        row = PRECISIONS[precision]
        if row.gate == "max_abs_diff":
            return f"max|diff| <= {getattr(self, row.tolerance):g}"
        auroc = f"AUROC drop <= {self.int8_auroc_drop:g}"
        if masks:
            return auroc
        return f"PSNR drop <= {self.int8_psnr_drop_db:g} dB" + (f", {auroc}" if labelled else "")


def _shown_above(value: float, limit: float, decimals: int) -> str:
    """`value` with the fewest decimals, `decimals` or more, that show it above `limit`.

    A tolerance of 0.0001 dB failed with "PSNR drop 0.00 dB > 0.0001 dB".
    """
    while round(value, decimals) <= limit and decimals < 12:
        decimals += 1
    return f"{value:.{decimals}f}"


def psnr_drop(parity: ParityInfo) -> float:
    """Keras PSNR minus the artifact's: positive when the artifact is worse."""
    return float(parity.keras_psnr_db - parity.psnr_db)


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how strictly to check it."""

    formats: tuple[str, ...] = ("tflite",)
    precisions: tuple[str, ...] = ("fp32",)
    input_size: tuple[int, int] | None = None  # a fixed-shape variant; None keeps the model's
    part: str = "model"  # "decoder" / "encoder": one half of a VAE, for generating on a device
    calibration: np.ndarray | None = None  # NHWC float32 clean images; None: the model dir's
    calibration_source: str = "model directory (training images)"
    calibration_samples: int = 200
    # A labelled set for detection parity: NHWC float32 images and labels (1 anomaly, 0 normal)
    labelled: tuple[np.ndarray, np.ndarray] | None = None
    int8_io: IoType = "uint8"
    per_channel: bool = True
    int8_ranges: str = "cover"  # export/onnx.py ACTIVATION_RANGES
    int8_bias_correction: bool = False  # ONNX static int8 by NNCF, biases corrected
    opset: int = DEFAULT_OPSET
    tolerances: Tolerances = field(default_factory=Tolerances)
    allow_drift: bool = False
    overwrite: bool = False
    seed: int = 0


@dataclass(frozen=True)
class Calibration:
    """What int8 conversion sees: model inputs made from training images, and what they restore.

    `targets` (the clean images the outputs should match) lets a converter measure what its
    quantization costs on these training images; None where outputs are not images (a VAE's
    parts) or for a probe.
    """

    inputs: np.ndarray
    targets: np.ndarray | None = None
    # inputs with synthetic anomalies pasted in (a mask predictor's): the int8 ranges must cover
    # the activations the anomalies make, not those of a typical input
    pasted_anomalies: bool = False
    ranges: str = "cover"  # how ONNX static int8 pools the inputs' ranges (ACTIVATION_RANGES)
    bias_correction: bool = False  # ONNX static int8 with NNCF's full bias correction


@dataclass(frozen=True)
class Converted:
    """A converted artifact's bytes: its file, and the weights beside it (an IR's .bin)."""

    data: bytes
    weights: bytes | None = None

    @property
    def size(self) -> int:
        """Bytes on disk, both files together."""
        return len(self.data) + len(self.weights or b"")

    def write_to(self, path: Path) -> Path:
        """Both files at `path` (and its weights path), plainly: for temporary copies."""
        path = Path(path)
        path.write_bytes(self.data)
        if self.weights is not None:
            weights_path_for(path).write_bytes(self.weights)
        return path
