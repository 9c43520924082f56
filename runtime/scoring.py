"""Anomaly scores from reconstructions: a per-pixel error map, smoothed, pooled to one number.

One implementation (numpy and OpenCV only) serves training, which sets the threshold from the
normal images' scores, export's parity check, the runtime and `edgeae score` / `evaluate`, so
a threshold means the same thing everywhere. Higher scores are more anomalous.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeae.core.errors import UserError, first_line
from edgeae.core.manifest import MEMORY_FILE, Manifest, ScoreConfig
from edgeae.runtime.features import hog_features, knn_distances, unit_rows

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


def descriptors(images: np.ndarray, config: ScoreConfig) -> np.ndarray:
    """(N, D) unit-length HOG descriptors of NHWC images in [0, 1], as the k-NN score uses.

    Images of another size than the training images (a camera's frames) are resized first.
    """
    images = np.asarray(images, np.float32)
    if config.hog_size is not None and images.shape[1:3] != tuple(config.hog_size):
        h, w = config.hog_size
        images = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA).reshape(
            h, w, -1) for im in images])
    return unit_rows(hog_features(images, config.hog_cell, config.hog_orientations))


def knn_scores(images: np.ndarray, memory: np.ndarray, config: ScoreConfig) -> np.ndarray:
    """(N,) mean cosine distance to the k nearest training descriptors in `memory`."""
    queries = descriptors(images, config)
    if queries.shape[1] != memory.shape[1]:
        raise UserError(f"the k-NN memory holds descriptors of {memory.shape[1]} numbers, these "
                        f"images give {queries.shape[1]}: it belongs to another model")
    return knn_distances(memory, queries, config.knn)


def with_knn(reconstruction: np.ndarray, images: np.ndarray, memory: np.ndarray | None,
             config: ScoreConfig) -> np.ndarray:
    """The configured score of `images` from their reconstruction scores.

    Those alone, or combined with the images' k-NN distances to `memory`.
    """
    if not config.knn:
        return reconstruction
    return combined_scores(reconstruction, knn_scores(images, memory, config), config)


def combined_scores(reconstruction: np.ndarray, knn: np.ndarray,
                    config: ScoreConfig) -> np.ndarray:
    """The configured score from its parts, each standardised by its training statistics."""
    r_mean, r_std, k_mean, k_std = config.norm
    z = (knn - k_mean) / k_std
    return z if config.combine == "knn" else z + (reconstruction - r_mean) / r_std


def memory_path(folder: Path, manifest: Manifest) -> Path:
    """Where a k-NN detector's memory is: the file its artifact records, else MEMORY_FILE."""
    artifact = manifest.artifact
    name = artifact.memory.name if artifact is not None and artifact.memory else MEMORY_FILE
    return Path(folder) / name


def read_memory(folder: Path, manifest: Manifest) -> np.ndarray | None:
    """The training descriptors a k-NN score needs, from `folder`, checked; else None.

    Unreadable, pickled, non-float, misshapen or non-finite descriptors are a one-line
    UserError: a memory that does not fit would score every image wrongly without one.
    """
    if not manifest.score.knn:
        return None
    path = memory_path(folder, manifest)
    if not path.is_file():
        raise UserError(f"this detector's k-NN score needs {path}; keep it beside the model "
                        "(edgeae export writes it with the artifacts)")
    remedy = "restore the file trained or exported with this model, or re-export it"
    try:
        memory = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # truncated, pickled, not .npy at all
        raise UserError(f"{path} is unreadable ({first_line(exc)}); {remedy}") from None
    problem = _memory_problem(memory, manifest)
    if problem:
        raise UserError(f"{path} {problem}; {remedy}")
    return memory.astype(np.float32)  # stored as float16


def _memory_problem(memory: np.ndarray, manifest: Manifest) -> str | None:
    """What is wrong with a loaded memory for this model, None when it fits."""
    config = manifest.score
    if not isinstance(memory, np.ndarray) or memory.dtype.kind != "f":
        return f"holds {getattr(memory, 'dtype', type(memory).__name__)}, not float descriptors"
    width = None
    if config.hog_size is not None and config.hog_cell is not None:  # as training sets them
        probe = np.zeros((1, *config.hog_size, manifest.input.channels), np.float32)
        width = descriptors(probe, config).shape[1]
    if memory.ndim != 2 or len(memory) == 0 or memory.shape[1] != (width or memory.shape[1]):
        return (f"holds an array of shape {memory.shape}, not one row of {width or 'D'} "
                "numbers per training image (this model's HOG descriptors)")
    if not np.isfinite(memory).all():
        return "holds values that are not finite (NaN or infinity)"
    return None
