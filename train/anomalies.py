"""Synthetic anomalies for discriminative detectors (DRAEM's recipe), in numpy.

A mask is Perlin noise of a random scale, thresholded, so anomalies come as irregular blobs of
many sizes; it is filled with a texture cut from another image of the batch (the training
images shuffled) or from a folder of textures (`--anomaly-source`, DRAEM used DTD's), flipped,
turned and re-toned, blended in at a random opacity. Half of the
images are left normal, so the mask's "nothing here" is learned too. The pipeline (train/
pipeline.py: anomaly_pairs) streams these through tf.data with seeds of its own.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from edgeae.core.data import FolderImages, ImageSource, Preprocess
from edgeae.core.errors import UserError
from edgeae.core.images import image_files

NORMAL_FRACTION = 0.5  # images left without an anomaly
MAX_SCALE_EXPONENT = 5  # Perlin grid cells per side: 2**0 .. 2**5 (DRAEM's range), each axis
THRESHOLD = 0.5  # noise above this is the anomaly (DRAEM's)
OPACITY = (0.0, 0.8)  # beta: how much of the normal image shows through the pasted texture


def perlin_noise(shape: tuple[int, int], cells: tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
    """(h, w) 2-D Perlin gradient noise with `cells` (rows, columns) grid cells, about [-1, 1].

    Random unit gradients at the grid's corners; each pixel blends their dot products with its
    offsets by the quintic fade 6t^5 - 15t^4 + 10t^3 (Perlin, 2002).
    """
    (h, w), (ry, rx) = shape, cells
    angles = rng.uniform(0.0, 2.0 * np.pi, (ry + 1, rx + 1))
    grads = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    y = np.arange(h) * (ry / h)
    x = np.arange(w) * (rx / w)
    iy, ix = y.astype(int), x.astype(int)
    fy, fx = (y - iy)[:, None], (x - ix)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        g = grads[iy[:, None] + dy, ix[None, :] + dx]
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    def fade(t: np.ndarray) -> np.ndarray:
        return t * t * t * (t * (t * 6 - 15) + 10)

    uy, ux = fade(fy), fade(fx)
    top = corner(0, 0) + ux * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + ux * (corner(1, 1) - corner(1, 0))
    return np.sqrt(2.0) * (top + uy * (bottom - top))


def anomaly_mask(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(h, w) float32 0/1 mask: Perlin noise of a random scale per axis, thresholded."""
    h, w = shape
    cells = tuple(min(2 ** int(rng.integers(0, MAX_SCALE_EXPONENT + 1)), max(1, side // 2))
                  for side in shape)
    noise = perlin_noise((h, w), cells, rng)
    if rng.random() < 0.5:  # flipped, so blobs do not all start at the grid's origin
        noise = noise[::-1] if rng.random() < 0.5 else noise[:, ::-1]
    return (noise > THRESHOLD).astype(np.float32)


def retoned(texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A texture flipped, turned and re-toned (gain, offset, maybe inverted), in [0, 1]."""
    if texture.shape[0] == texture.shape[1]:
        texture = np.rot90(texture, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        texture = texture[:, ::-1]
    texture = texture * rng.uniform(0.5, 1.5) + rng.uniform(-0.3, 0.3)
    if rng.random() < 0.3:
        texture = 1.0 - texture
    return np.clip(texture, 0.0, 1.0)


def texture_crop(image: np.ndarray, shape: tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
    """A random (h, w) crop of a texture image scaled so its shorter side is 1-2x max(h, w)."""
    h, w = shape
    scale = max(h, w) * rng.uniform(1.0, 2.0) / min(image.shape[:2])
    size = (max(w, round(image.shape[1] * scale)), max(h, round(image.shape[0] * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA).reshape(
        size[1], size[0], image.shape[2])
    y, x = rng.integers(0, size[1] - h + 1), rng.integers(0, size[0] - w + 1)
    return resized[y:y + h, x:x + w]


def paste_anomalies(images: np.ndarray, seed: np.ndarray,
                    textures: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images with anomalies, (N, H, W, 1) masks) of a float NHWC batch in [0, 1].

    Each image's texture is one of `textures` (NHWC, the images' size), else another image of
    the batch (the next one, so a batch of one pastes itself re-toned). Seeded: the same `seed`
    gives the same anomalies.
    """
    rng = np.random.default_rng(np.asarray(seed).astype(np.uint64))
    out = np.array(images, np.float32, copy=True)
    masks = np.zeros((*images.shape[:3], 1), np.float32)
    for i in range(len(images)):
        if rng.random() < NORMAL_FRACTION:
            continue
        m = anomaly_mask(images.shape[1:3], rng)[..., None]
        source = images[(i + 1) % len(images)] if textures is None else textures[i % len(textures)]
        texture = retoned(source, rng)
        beta = rng.uniform(*OPACITY)
        out[i] = images[i] * (1 - m) + ((1 - beta) * texture + beta * images[i]) * m
        masks[i] = m
    return out, masks


def anomaly_textures(folder: str | Path, channels: int) -> ImageSource:
    """The images of an --anomaly-source folder; none, or no such folder, is a UserError.

    Scanned once per process: the command's check, the training and each dataset had decoded
    every file again (five passes over a 5,600-image DTD).
    """
    return _scanned_textures(str(folder), channels)


@functools.lru_cache(maxsize=4)
def _scanned_textures(folder: str, channels: int) -> ImageSource:
    if not Path(folder).is_dir():
        raise UserError(f"--anomaly-source {folder}: not a folder of images")
    if not image_files(Path(folder)):
        raise UserError(f"--anomaly-source {folder}: no images found in it (.png, .jpg, .bmp, "
                        ".tif, recursively); point it at a folder of texture images")
    try:
        return FolderImages(Path(folder), Preprocess(channels))
    except UserError as exc:  # none of them readable: the scan says why
        raise UserError(f"--anomaly-source {folder}: {exc}") from None
