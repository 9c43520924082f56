"""Threshold strategies: turn the normal images' anomaly scores into a decision threshold.

A strategy is a spec string, stored in the manifest with the threshold it gave, so the
threshold can be recomputed or changed later without the training images or retraining:

    mean+1std          the tutorial's: mean + K standard deviations of the training scores
    percentile:99      that percentile of held-out normal scores (training scores if none)
    contamination:0.05 expect that fraction of anomalies: the (1 - R) quantile of training scores
    best-f1            the threshold with the best F1 on a labelled validation set
    fixed:0.012        this value
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.files import cached_sha256, write_text
from edgeae.core.manifest import Manifest, ScoreStats, manifest_path_for
from edgeae.core.modeldir import MANIFEST_FILE
from edgeae.runtime.artifact import read_manifest

log = logging.getLogger(__name__)

# each form and the scores it reads: percentile:99 and contamination:0.01 differ, as held-out
# normal images score higher than the training images the model fitted
FORMS = {
    "mean+Kstd": "mean + K standard deviations of the training scores",
    "percentile:P": "the P-th percentile of held-out normal scores (training scores if none)",
    "contamination:R": "the (1 - R) quantile of the training scores",
    "best-f1": "the best F1 on labelled images",
    "fixed:V": "this value",
}
QUANTILE_LEVELS = np.linspace(0.0, 100.0, 201)  # every 0.5%, as ScoreStats stores them
_UNSIGNED = r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
_NUMBER = rf"({_UNSIGNED})"
_PATTERNS = {
    "mean+std": re.compile(rf"^mean\+{_NUMBER}std$"),
    "percentile": re.compile(rf"^percentile:{_NUMBER}$"),
    "contamination": re.compile(rf"^contamination:{_NUMBER}$"),
    "best-f1": re.compile(r"^best-f1$"),
    "fixed": re.compile(rf"^fixed:(-?{_UNSIGNED})$"),
}
_LIMITS = {"percentile": (0.0, 100.0), "contamination": (0.0, 0.5)}


@dataclass(frozen=True)
class ThresholdSpec:
    """A parsed strategy; `str()` gives its canonical spec."""

    kind: str
    value: float | None = None

    def __str__(self) -> str:
        if self.kind == "mean+std":
            return f"mean+{self.value:g}std"
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"

    @property
    def needs_labels(self) -> bool:
        """best-f1 needs labelled scores; the others only the stored statistics."""
        return self.kind == "best-f1"


def training_threshold(strategy: str) -> ThresholdSpec:
    """The strategy a detector's training sets its threshold by: any but best-f1.

    best-f1 needs labelled images, which training does not have: Detector(threshold="best-f1")
    had trained, then failed naming a CLI option.
    """
    spec = parse_threshold(strategy)
    if spec.needs_labels:
        raise UserError("best-f1 needs labelled images: train with another strategy, then run "
                        "`edgeae threshold MODEL --strategy best-f1 --data LABELLED/`")
    return spec


def described_forms(*forms: str) -> str:
    """`forms` (default all) with the scores each reads, for --help."""
    return "; ".join(f"{form}: {FORMS[form]}" for form in forms or FORMS)


def parse_threshold(spec: str) -> ThresholdSpec:
    """Parse a strategy spec; a bad one is a one-line UserError listing the valid forms."""
    text = spec.strip().lower().replace(" ", "")
    for kind, pattern in _PATTERNS.items():
        match = pattern.match(text)
        if match is None:
            continue
        value = float(match.group(1)) if match.groups() else None
        lo, hi = _LIMITS.get(kind, (-np.inf, np.inf))
        if value is not None and not lo <= value <= hi:
            raise UserError(f"threshold {spec!r}: {kind} must be within [{lo:g}, {hi:g}]")
        return ThresholdSpec(kind, value)
    raise UserError(f"cannot parse threshold {spec!r}; use one of {', '.join(FORMS)} "
                    "(e.g. mean+1std, percentile:99, contamination:0.05, fixed:0.012)")


def score_stats(train_scores: np.ndarray, val_scores: np.ndarray | None = None) -> ScoreStats:
    """The statistics a threshold is set from: training mean/std and quantiles of both sets."""
    train = np.asarray(train_scores, np.float64)
    val = None if val_scores is None or not len(val_scores) else np.asarray(val_scores, np.float64)
    return ScoreStats(
        n_train=len(train), train_mean=float(train.mean()), train_std=float(train.std()),
        train_quantiles=np.percentile(train, QUANTILE_LEVELS).tolist(),
        n_val=0 if val is None else len(val),
        val_quantiles=None if val is None else np.percentile(val, QUANTILE_LEVELS).tolist())


def resolve_threshold(spec: ThresholdSpec, stats: ScoreStats | None,
                      scores: np.ndarray | None = None, labels: np.ndarray | None = None) -> float:
    """The threshold `spec` gives; best-f1 needs `scores` and 0/1 `labels` (1 = anomaly)."""
    if spec.kind == "fixed":
        return float(spec.value)
    if spec.kind == "best-f1":
        if scores is None or labels is None:
            raise UserError("best-f1 needs a labelled validation set: pass --labelled DIR")
        return best_f1_threshold(np.asarray(scores), np.asarray(labels))
    if stats is None:
        raise UserError(f"threshold {spec} needs the normal images' score statistics, which this "
                        "model lacks: retrain it as a detector, or use fixed:V or best-f1")
    if spec.kind == "mean+std":
        return stats.train_mean + spec.value * stats.train_std
    if spec.kind == "percentile":
        quantiles = stats.val_quantiles or stats.train_quantiles
        return float(np.interp(spec.value, QUANTILE_LEVELS, quantiles))
    return float(np.interp(100.0 * (1.0 - spec.value), QUANTILE_LEVELS, stats.train_quantiles))


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold with the highest F1 for "score > threshold means anomaly" (1 = anomaly).

    Scores sorted from the highest: flagging the top k gives tp = cumsum(labels)[k - 1]; cuts
    fall only between distinct scores, halfway, so ties are never split.
    """
    scores = np.asarray(scores, np.float64)
    if len(np.unique(labels)) < 2:
        raise UserError("best-f1 needs both normal and anomalous images in the labelled set")
    order = np.argsort(-scores, kind="stable")
    ranked, anomalous = scores[order], np.asarray(labels)[order].astype(bool)
    f1 = 2 * np.cumsum(anomalous) / (np.arange(1, len(ranked) + 1) + anomalous.sum())
    cut_after = np.append(ranked[:-1] > ranked[1:], True)
    i = int(np.argmax(np.where(cut_after, f1, -1.0)))
    if i + 1 < len(ranked):
        return float((ranked[i] + ranked[i + 1]) / 2)
    return float(np.nextafter(ranked[-1], -np.inf))


def apply_threshold(model: Path, strategy: str, scores: Sequence[float] | None = None,
                    labels: np.ndarray | None = None) -> Manifest:
    """Set a model directory's or artifact's threshold by `strategy`; rewrite its manifest.

    An artifact's manifest JSON beside it is what the runtime reads first, so that file
    changes (created from the embedded copy if it was missing, with the file's digest, which
    the embedded copy cannot hold). The files exported beside it from the same model at the
    same precision that shared its threshold change with it, so every engine decides alike
    (and `--backend auto` may still pick any of them).
    """
    spec = parse_threshold(strategy)
    manifest = read_manifest(model)  # the manifest alone: no model is loaded to change it
    if (part := manifest.part) != "model":  # fixed:V had been written into a decoder's manifests
        raise UserError(f"{model.name} is a VAE {part}, which scores nothing: a threshold is "
                        "set on a whole model's artifact or its model directory")
    value = resolve_threshold(spec, manifest.score_stats,
                              None if scores is None else np.asarray(scores), labels)
    problem = manifest.score.threshold_problem(value)
    if problem:
        raise UserError(f"{spec}: {problem}")
    update = {"threshold": value, "threshold_strategy": str(spec)}
    if model.is_dir():
        updated = manifest.model_copy(update=update)
        write_text(model / MANIFEST_FILE, updated.to_json(), overwrite=True)
        return updated
    from edgeae.runtime.auto import siblings

    sharing = {path: _with_digest(each, path).model_copy(update=update)
               for path, each in siblings(model, manifest).items()}  # `model` among them
    for path, updated in sharing.items():
        write_text(manifest_path_for(path), updated.to_json(), overwrite=True)
    if others := [path.name for path in sharing if path != model]:
        log.info("the same threshold set on %s (the same model and precision beside it)",
                 ", ".join(others))
    return sharing[model]


def _with_digest(manifest: Manifest, path: Path) -> Manifest:
    """An artifact's manifest with its file's size and SHA-256 (an embedded copy has neither)."""
    if manifest.artifact.sha256 is not None:
        return manifest
    return manifest.model_copy(update={"artifact": manifest.artifact.model_copy(update={
        "size_bytes": path.stat().st_size, "sha256": cached_sha256(path)})})
