"""Anomaly detection: an autoencoder trained on normal images, a score and a threshold.

Training scores the normal images it learned from (and the held-out ones) with the runtime's
own scoring (runtime/scoring.py), keeps their statistics in the manifest and sets the threshold
by a strategy (runtime/threshold.py), so every exported artifact and the device decide alike.

    >>> det = Detector(threshold="percentile:99", epochs=10).fit(normal_images)
    >>> det.predict(frames)        # 0 normal, 1 anomaly
    >>> det.anomaly_score(frames)  # higher = more anomalous
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeae.core.architectures import checked_config
from edgeae.core.images import to_unit_float
from edgeae.core.manifest import ScoreConfig
from edgeae.runtime.batch import BATCH
from edgeae.runtime.models import AnomalyScorer, Score
from edgeae.runtime.threshold import training_threshold

log = logging.getLogger(__name__)

# Chosen by benchmarks/anomaly.py on validation splits of Fashion-MNIST and MNIST-10k (best mean
# AUROC over both; BENCHMARKS.md): the mean cosine distance of an image's HOG descriptor to its
# 5 nearest training images'. The tutorial's dense autoencoder (64-d code) still gives the
# anomaly maps: its error smoothed (Gaussian, 2 px), which "both" adds as its top 10% mean.
DEFAULT_MODEL = "dense"
DEFAULT_SCORE = ScoreConfig(smooth=2.0, pool="top:0.1", knn=5, combine="knn")
# A discriminative detector's (--model draem): its predicted mask, smoothed by 2 px, and the
# mean of its top 1% as the image score. Chosen by benchmarks/draem.py on validation crops with
# pasted defects (the best pixel AUROC, 0.955, then image AUROC; BENCHMARKS.md).
MASK_SCORE = ScoreConfig(maps="mask", smooth=2.0, pool="top:0.01")


def default_score(architecture: str, params: dict[str, Any] | None = None) -> ScoreConfig:
    """The score a detector of this model gets where none is given.

    MASK_SCORE for a mask predictor, DEFAULT_SCORE for the rest; the CLI lays the options the
    user gave over it. Needs no Keras.
    """
    mask = checked_config(architecture, params or {}).predicts_mask()
    return MASK_SCORE if mask else DEFAULT_SCORE


def as_images(x: np.ndarray) -> np.ndarray:
    """NHWC float32 in [0, 1] from uint8, uint16 or float [0, 1] arrays (N, H, W[, C]).

    Checked as `--data` arrays are (core/data.py): 0-255 floats, NaN, other types and shapes
    are one-line errors, not images trained on as white or black.
    """
    from edgeae.core.data import check_image_array

    x = to_unit_float(check_image_array(np.asarray(x), "the array"))
    return x[..., None] if x.ndim == 3 else x


def array_source(x: np.ndarray):
    """Images (N, H, W[, C]) as a training source: 16-bit kept, the rest as 8-bit, in RAM."""
    from edgeae.core.data import ArrayImages, Preprocess

    x = np.asarray(x)
    images = x if x.dtype == np.uint16 else np.rint(as_images(x) * 255).clip(0, 255).astype(
        np.uint8)
    return ArrayImages(images, Preprocess(), "array", "array")


class Detector:
    """An autoencoder anomaly detector with scikit-learn's conventions.

    `fit` takes normal images only. `anomaly_score` is higher for anomalies; `score_samples`
    and `decision_function` keep scikit-learn's signs (higher = more normal; negative =
    anomaly). `predict` gives 0 (normal) or 1 (anomaly), as the tutorial's labels.
    """

    def __init__(self, model: str = DEFAULT_MODEL, threshold: str | None = None,
                 score: ScoreConfig | None = None, epochs: int = 20, batch_size: int = 32,
                 seed: int = 0, **params: Any) -> None:
        if threshold is not None:  # None: DEFAULT_THRESHOLD, or a mask predictor's own
            training_threshold(threshold)  # fail early on a bad spec, or one fit cannot set
        self.model, self.threshold, self.score = model, threshold, score  # None: the model's
        self.epochs, self.batch_size, self.seed, self.params = epochs, batch_size, seed, params
        self.model_dir: Path | None = None
        self._scorer: AnomalyScorer | None = None

    def fit(self, x: np.ndarray, out: str | Path | None = None, overwrite: bool = False,
            verbose: int = 0) -> Detector:
        """Train on normal images into the model directory `out` (a temporary one if None)."""
        from edgeae.train.fit import TrainSettings, train

        out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="edgeae-det-"))
        settings = TrainSettings(task="detector", architecture=self.model, params=self.params,
                                 epochs=self.epochs, batch_size=self.batch_size, seed=self.seed,
                                 threshold=self.threshold,
                                 score=self.score or default_score(self.model, self.params))
        train(array_source(x), out, settings, overwrite=overwrite, verbose=verbose)
        return self._open(out)

    @classmethod
    def load(cls, model_dir: str | Path) -> Detector:
        """A trained detector from its model directory."""
        return cls()._open(Path(model_dir))

    def _open(self, model_dir: Path) -> Detector:
        from edgeae.train.keras_backend import open_model

        self.model_dir = model_dir
        self._scorer = open_model(model_dir, use="score")
        manifest = self._scorer.manifest
        self.threshold, self.score = manifest.threshold_strategy, manifest.score
        return self

    @property
    def scorer(self) -> AnomalyScorer:
        """The fitted model's scorer; an error before `fit`."""
        if self._scorer is None:
            raise RuntimeError("this Detector is not fitted yet: call fit(X) or Detector.load()")
        return self._scorer

    @property
    def threshold_(self) -> float | None:
        """The decision threshold in score units."""
        return self.scorer.threshold

    def anomaly_score(self, x: np.ndarray) -> np.ndarray:
        """(N,) scores, higher = more anomalous."""
        return self.scores(x).score

    def anomaly_map(self, x: np.ndarray) -> np.ndarray:
        """(N, H, W) per-pixel anomaly maps at the input's resolution."""
        return self.scores(x).heatmap

    def score_samples(self, x: np.ndarray) -> np.ndarray:
        """scikit-learn's sign: higher = more normal."""
        return -self.anomaly_score(x)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """scikit-learn's sign: negative for anomalies (threshold - score)."""
        return self.threshold_ - self.anomaly_score(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """0 for normal, 1 for anomaly (score above the threshold)."""
        return (self.anomaly_score(x) > self.threshold_).astype(np.int64)

    def set_threshold(self, strategy: str, x: np.ndarray | None = None,
                      y: np.ndarray | None = None) -> float:
        """Change the threshold without retraining; best-f1 needs labelled x, y."""
        from edgeae.runtime.threshold import apply_threshold

        scores = self.anomaly_score(x) if x is not None else None
        apply_threshold(self.model_dir, strategy, scores, y)
        return self._open(self.model_dir).threshold_

    def evaluate(self, x: np.ndarray, y: np.ndarray, masks: np.ndarray | None = None) -> dict:
        """Image metrics at the threshold and over all thresholds; pixel ones given masks.

        `y` is 1 for anomalies; `masks` (N, H, W) are non-zero on defects.
        """
        from edgeae.core.metrics import detection_metrics, pixel_metrics

        scores, maps, _ = self.scores(x)
        result = detection_metrics(scores, np.asarray(y), self.threshold_)
        if masks is not None:
            result["pixel"] = pixel_metrics(maps, np.asarray(masks))
        return result

    def scores(self, x: np.ndarray) -> Score:
        """The runtime's Score of every image: scores, maps and decisions (arrays of N)."""
        images = as_images(x)
        parts = [self.scorer.score_batch(images[i:i + BATCH]) for i in range(0, len(images), BATCH)]
        scores = np.concatenate([p.score for p in parts])
        return Score(scores, np.concatenate([p.heatmap for p in parts]),
                     self.scorer.decide(scores))
