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
from edgeae.core.manifest import SIDE_FILES, Manifest, ScoreConfig, needed_side_files
from edgeae.runtime.features import (
    HOG_BLOCK,
    PatchMemory,
    hog_features,
    knn_distances,
    patch_descriptors,
    pixel_map,
    unit_rows,
)

DEFAULT = ScoreConfig()  # the tutorial's per-image MSE


def error_maps(inputs: np.ndarray, outputs: np.ndarray,
               config: ScoreConfig = DEFAULT) -> np.ndarray:
    """(N, H, W) float32 per-pixel reconstruction error of NHWC batches in [0, 1]."""
    diff = np.asarray(outputs, np.float32) - np.asarray(inputs, np.float32)
    error = np.square(diff) if config.error == "squared" else np.abs(diff)
    return smoothed(error.mean(axis=3), config)


def smoothed(maps: np.ndarray, config: ScoreConfig) -> np.ndarray:
    """(N, H, W) float32 maps blurred in place by the config's Gaussian (none at 0)."""
    if config.smooth > 0:
        for m in maps:  # one image at a time
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


def patch_maps(images: np.ndarray, patches: PatchMemory, config: ScoreConfig) -> np.ndarray:
    """(N, H, W) float32 maps of NHWC images in [0, 1]: each patch's distance to the memory.

    A location scores its distance to the nearest of the training `patches` (from any
    location, so a shifted part is not a defect), at cell resolution (every `stride`-th block
    described, the blocks between interpolated), resized and smoothed.
    """
    patch = config.patch
    rows = patch_descriptors(images, patch.cell, patch.orientations, patch.context,
                             patch.intensity, patch.stride)
    return pixel_map(patches.distances(rows), patch.cell, images.shape[1:3], config.smooth,
                     patch.stride)


def patch_search(patches: np.ndarray | None, config: ScoreConfig) -> PatchMemory | None:
    """A detector's training patches ready for patch_maps (on the axes its config says)."""
    return None if patches is None else PatchMemory(patches, config.patch.dims)


def patch_width(config: ScoreConfig) -> int:
    """The numbers in one patch descriptor of this configuration."""
    patch = config.patch
    block = HOG_BLOCK ** 2 * patch.orientations + (2 if patch.intensity else 0)
    return block * (2 * patch.context + 1) ** 2


def mask_maps(outputs: np.ndarray, channels: int, config: ScoreConfig) -> np.ndarray:
    """(N, H, W) float32 maps: a discriminative model's predicted masks, after its `channels`."""
    return smoothed(np.array(outputs[..., channels:].mean(axis=3), np.float32), config)


# ScoreConfig.maps -> the maps of (inputs, outputs, config, patches)
MAPS = {
    "error": lambda inputs, outputs, config, patches: error_maps(
        inputs, outputs[..., :inputs.shape[-1]], config),
    "patch": lambda inputs, outputs, config, patches: patch_maps(inputs, patches, config),
    "mask": lambda inputs, outputs, config, patches: mask_maps(outputs, inputs.shape[-1], config),
}


def anomaly_scores(inputs: np.ndarray, outputs: np.ndarray, config: ScoreConfig = DEFAULT,
                   patches: PatchMemory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N,), maps (N, H, W)) of a batch and the model's outputs for it.

    The maps are as `config.maps` says (MAPS): the reconstruction error, the distances of the
    inputs' patches to the training `patches`, or the mask a discriminative model predicts.
    """
    maps = MAPS[config.maps](inputs, outputs, config, patches)
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


def side_path(folder: Path, manifest: Manifest, kind: str) -> Path:
    """Where a detector's side file (SIDE_FILES) is: as its artifact records, else its default."""
    record = getattr(manifest.artifact, kind) if manifest.artifact is not None else None
    return Path(folder) / (record.name if record else SIDE_FILES[kind].model_dir_name)


def read_side_arrays(folder: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    """Every array this detector's score needs (none for other models), from `folder`, checked.

    Keyed as SIDE_FILES ("memory", "patches"), as AnomalyScorer takes them. Unreadable,
    pickled, non-float, misshapen or non-finite arrays are a one-line UserError: an array that
    does not fit would score every image wrongly without one.
    """
    return {kind: _read_side_array(side_path(folder, manifest, kind), manifest, kind)
            for kind in needed_side_files(manifest)}


def _read_side_array(path: Path, manifest: Manifest, kind: str) -> np.ndarray:
    """One side array as float32, or a UserError saying what is wrong and what to do."""
    if not path.is_file():
        raise UserError(f"this detector's {SIDE_FILES[kind].purpose} needs {path}; keep it beside "
                        "the model (edgeae export writes it with the artifacts)")
    remedy = "restore the file trained or exported with this model, or re-export it"
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # truncated, pickled, not .npy at all
        raise UserError(f"{path} is unreadable ({first_line(exc)}); {remedy}") from None
    problem = _array_problem(array, ROW_WIDTH[kind](manifest), SIDE_FILES[kind].rows)
    if problem:
        raise UserError(f"{path} {problem}; {remedy}")
    return array.astype(np.float32)  # stored as float16


def _memory_width(manifest: Manifest) -> int | None:
    """The numbers in one k-NN memory row; None when training has not fixed the HOG yet."""
    config = manifest.score
    if config.hog_size is None or config.hog_cell is None:
        return None
    probe = np.zeros((1, *config.hog_size, manifest.input.channels), np.float32)
    return descriptors(probe, config).shape[1]


ROW_WIDTH = {"memory": _memory_width, "patches": lambda manifest: patch_width(manifest.score)}


def _array_problem(array: np.ndarray, width: int | None, rows: str) -> str | None:
    """What is wrong with a loaded side array, None when it fits."""
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        return f"holds {getattr(array, 'dtype', type(array).__name__)}, not float descriptors"
    if array.ndim != 2 or len(array) == 0 or array.shape[1] != (width or array.shape[1]):
        return f"holds an array of shape {array.shape}, not {rows} of {width or 'D'} numbers"
    if not np.isfinite(array).all():
        return "holds values that are not finite (NaN or infinity)"
    return None
