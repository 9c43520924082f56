"""Parity: how far an exported artifact's outputs are from the Keras model's on held-out inputs.

Float artifacts must match Keras closely (max absolute difference); quantized artifacts are
judged by what users see, the PSNR of the output against its target (the clean image for a
denoiser, the input for an autoencoder), next to the Keras model's PSNR on the same inputs.
Given a labelled set of normal and anomalous images, anomaly scores (the detector's score, as
the runtime computes it) are compared too: their correlation with Keras's, and the AUROC each
achieves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from edgeae.core.manifest import ParityInfo
from edgeae.export.options import psnr_drop
from edgeae.runtime.backends import Session


def mean_psnr(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean per-image PSNR in dB of NHWC outputs against targets in [0, 1]."""
    with np.errstate(divide="ignore"):
        values = [peak_signal_noise_ratio(t, np.clip(o, 0, 1), data_range=1.0)
                  for o, t in zip(outputs, targets)]
    return float(np.mean(np.minimum(values, 100.0)))  # identical images give inf


def run_batched(session: Session, inputs: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Outputs of `session` on NHWC float32 `inputs`, in batches."""
    parts = [np.array(session.run(np.ascontiguousarray(inputs[i:i + batch_size])), np.float32)
             for i in range(0, len(inputs), batch_size)]
    return np.concatenate(parts)


def measure(reference: np.ndarray, candidate: np.ndarray, targets: np.ndarray) -> ParityInfo:
    """Differences between the candidate's and the reference's outputs, and both PSNRs."""
    diff = np.abs(candidate.astype(np.float64) - reference)
    return ParityInfo(n_samples=len(targets), max_abs_diff=float(diff.max()),
                      mean_abs_diff=float(diff.mean()), psnr_db=mean_psnr(candidate, targets),
                      keras_psnr_db=mean_psnr(reference, targets))


def detection_parity(keras_scores: np.ndarray, scores: np.ndarray,
                     labels: np.ndarray) -> dict[str, float | int]:
    """Score correlation with Keras and both AUROCs (labels: 1 anomaly, 0 normal)."""
    from sklearn.metrics import roc_auc_score

    return {"n_labelled": len(labels),
            "score_correlation": _correlation(keras_scores, scores),
            "auroc": float(roc_auc_score(labels, scores)),
            "keras_auroc": float(roc_auc_score(labels, keras_scores))}


def _correlation(first: np.ndarray, second: np.ndarray) -> float | None:
    """Pearson's r, or None where a constant side leaves it undefined.

    numpy's NaN, with a RuntimeWarning, went into parity.json as invalid JSON. Equal constants
    agree fully.
    """
    if np.ptp(first) == 0 or np.ptp(second) == 0:
        return 1.0 if np.array_equal(first, second) else None
    with np.errstate(invalid="ignore"):  # NaN scores: no correlation, and no NaN in the JSON
        r = float(np.corrcoef(first, second)[0, 1])
    return r if np.isfinite(r) else None


@dataclass(frozen=True)
class ReportRow:
    """One artifact's line in the parity report."""

    file: str
    format: str
    precision: str
    size_bytes: int
    parity: ParityInfo
    gate: str
    failure: str | None

    def to_dict(self) -> dict:
        """JSON-ready form, with the drops spelled out."""
        p = self.parity
        drops = {"psnr_drop_db": psnr_drop(p)}
        if p.auroc is not None:
            drops["auroc_drop"] = p.keras_auroc - p.auroc
        return {"file": self.file, "format": self.format, "precision": self.precision,
                "size_bytes": self.size_bytes, **p.model_dump(exclude_none=True), **drops,
                "gate": self.gate, "failure": self.failure, "passed": self.failure is None}


def format_table(rows: list[ReportRow], keras_bytes: int) -> str:
    """The report as an aligned text table, Keras first; AUROC columns with a labelled set."""
    labelled = bool(rows) and rows[0].parity.auroc is not None
    header = ["artifact", "size KiB", "max|diff|", "mean|diff|", "PSNR dB", "drop dB"]
    header += ["AUROC", "corr"] if labelled else []
    lines = [[*header, "gate", "result"]]
    if rows:
        first = rows[0].parity
        keras = ["model.keras", f"{keras_bytes / 1024:.1f}", "-", "-",
                 f"{first.keras_psnr_db:.2f}", "-"]
        lines.append(keras + ([f"{first.keras_auroc:.4f}", "-"] if labelled else []) +
                     ["reference", ""])
    for r in rows:
        p = r.parity
        cells = [r.file, f"{r.size_bytes / 1024:.1f}", f"{p.max_abs_diff:.2e}",
                 f"{p.mean_abs_diff:.2e}", f"{p.psnr_db:.2f}", f"{psnr_drop(p):+.2f}"]
        corr = "-" if p.score_correlation is None else f"{p.score_correlation:.4f}"
        cells += [f"{p.auroc:.4f}", corr] if labelled else []
        lines.append(cells + [r.gate, "ok" if r.failure is None else "FAILED: " + r.failure])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in lines)
