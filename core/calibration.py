"""Calibration images for int8 export, chosen to cover the range of inputs a model will see.

Int8 quantization fixes each tensor's range from the images it is calibrated on. A random pick
can miss the darkest and brightest scenes and then clip them on the device, so the pick is
stratified by mean brightness: sort a pool of training images by brightness and take them at
evenly spaced ranks, always including both extremes.
"""

from __future__ import annotations

import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.images import cropped_to_multiple
from edgeae.core.manifest import Manifest, needed_side_files

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

    if manifest.input.frames > 1:  # single images fed as K-frame inputs: a converter traceback
        raise UserError(f"--calibration reads single images and this model takes "
                        f"{manifest.input.frames} frames at once; leave it out (the model "
                        "directory's own calibration clips are used)")
    size = input_size or manifest.input.fixed_size
    source = load_data(spec, Preprocess(manifest.input.channels, size)).train
    if source.size is None:
        raise UserError(f"calibration images in {spec} differ in size; pass --input-size HxW "
                        "to resize them")
    pool = min(len(source), 4 * n)
    indices = np.sort(np.random.default_rng(seed).choice(len(source), pool, replace=False))
    return cropped_to_multiple(source.read_batch(indices), manifest.input.size_multiple)


def stand_in_images(data: str, manifest: Manifest, name: str):
    """--calibration's images standing in for artifact `name`'s training images, checked.

    Exporting from an exported file rebuilds its model from them: a held-out part checks the
    new artifacts, the rest calibrates int8. Read lazily (an ImageSource), and checked before
    TensorFlow is imported, so a wrong --calibration is one line.
    """
    from edgeae.core.data import Preprocess, load_data

    if manifest.input.frames > 1 or needed_side_files(manifest):
        kind = "video model" if manifest.input.frames > 1 else "detector with files beside it"
        raise UserError(f"{name} is a {kind}: export it from its model directory")
    source = load_data(data, Preprocess(manifest.input.channels, manifest.input.fixed_size)).train
    if source.size is None:
        raise UserError(f"the images in {data} differ in size; pass images of one size (e.g. "
                        "a camera's frames) to export from an ONNX file")
    if len(source) < 2:
        raise UserError(f"--calibration {data} holds 1 image; exporting from {name} needs at "
                        "least 2 (some are held out to check the new artifacts), better a "
                        "hundred or more frames like those it will see")
    return source
