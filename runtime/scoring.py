"""Anomaly scores from reconstructions: a per-pixel error map, smoothed, pooled to one number.

One implementation (numpy and OpenCV only) serves training, which sets the threshold from the
normal images' scores, export's parity check, the runtime and `edgeae score` / `evaluate`, so
a threshold means the same thing everywhere. Higher scores are more anomalous.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeae.runtime.manifest import ScoreConfig

DEFAULT = ScoreConfig()  # the tutorial's per-image MSE


def error_maps(inputs: np.ndarray, outputs: np.ndarray,
               config: ScoreConfig = DEFAULT) -> np.ndarray:
    """(N, H, W) float32 per-pixel reconstruction error of NHWC batches in [0, 1]."""
    diff = np.asarray(outputs, np.float32) - np.asarray(inputs, np.float32)
    error = np.square(diff) if config.error == "squared" else np.abs(diff)
    maps = error.mean(axis=3)
    if config.smooth > 0:
        for m in maps:  # in place, one image at a time
            cv2.GaussianBlur(m, (0, 0), config.smooth, dst=m, borderType=cv2.BORDER_REFLECT)
    return maps


def pool_maps(maps: np.ndarray, config: ScoreConfig = DEFAULT) -> np.ndarray:
    """(N,) float64 scores of (N, H, W) error maps by the config's pooling."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    if config.pool == "mean":
        return flat.mean(axis=1)
    if config.pool == "max":
        return flat.max(axis=1)
    k = max(1, int(round(float(config.pool.split(":")[1]) * flat.shape[1])))
    return np.partition(flat, flat.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def anomaly_scores(inputs: np.ndarray, outputs: np.ndarray,
                   config: ScoreConfig = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N,), maps (N, H, W)) of a batch and its reconstruction."""
    maps = error_maps(inputs, outputs, config)
    return pool_maps(maps, config), maps
