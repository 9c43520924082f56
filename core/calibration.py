"""Calibration images for int8 export, chosen to cover the range of inputs a model will see.

Int8 quantization fixes each tensor's range from the images it is calibrated on. A random pick
can miss the darkest and brightest scenes and then clip them on the device, so the pick is
stratified by mean brightness: sort a pool of training images by brightness and take them at
evenly spaced ranks, always including both extremes.
"""

from __future__ import annotations

import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.manifest import Manifest

CALIBRATION_FILE = "calibration.npy"
MAX_CALIBRATION_IMAGES = 256
MAX_CALIBRATION_BYTES = 64 * 2**20  # keeps calibration.npy small for large images


def calibration_count(image_shape: tuple[int, ...], wanted: int = MAX_CALIBRATION_IMAGES) -> int:
    """How many float32 images of `image_shape` to keep within MAX_CALIBRATION_BYTES."""
    per_image = 4 * int(np.prod(image_shape))
    return max(1, min(wanted, MAX_CALIBRATION_BYTES // per_image))


def covering_subset(images: np.ndarray, n: int) -> np.ndarray:
    """`n` images of an NHWC pool at evenly spaced ranks of mean brightness (extremes included)."""
    if len(images) <= n:
        return images
    order = np.argsort(images.mean(axis=(1, 2, 3)), kind="stable")
    return images[order[np.linspace(0, len(images) - 1, n).round().astype(int)]]


def load_calibration(spec: str, manifest: Manifest, input_size: tuple[int, int] | None,
                     n: int, seed: int = 0) -> np.ndarray:
    """Clean calibration images from `--calibration DATA`, in the model's channels and size."""
    from edgeae.core.data import Preprocess, load_data

    size = input_size or manifest.input.fixed_size
    source = load_data(spec, Preprocess(manifest.input.channels, size)).train
    if source.size is None:
        raise UserError(f"calibration images in {spec} differ in size; pass --input-size HxW "
                        "to resize them")
    pool = min(len(source), 4 * n)
    indices = np.sort(np.random.default_rng(seed).choice(len(source), pool, replace=False))
    return source.read_batch(indices)
