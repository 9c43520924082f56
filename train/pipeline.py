"""tf.data pipelines that stream an ImageSource from disk into (input, target) batches.

Images are decoded in parallel by index, so memory stays flat however large the folder is.
Randomness (shuffle order, patch crops, noise) comes from the seed, so a run is repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from edgeae.errors import UserError
from edgeae.train.sources import ImageSource


@dataclass(frozen=True)
class PipelineConfig:
    """Batching and augmentation shared by the training and validation streams."""

    batch_size: int = 32
    seed: int = 0
    patch_size: int | None = None
    noise_factor: float | None = None  # denoisers: clip(x + f * N(0, 1), 0, 1), fresh per batch


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, deterministic train / validation split of range(n)."""
    if n < 2:
        raise UserError(f"need at least 2 images to hold one out for validation, got {n}")
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def image_shape(source: ImageSource, patch_size: int | None) -> tuple[int, int, int]:
    """The (h, w, c) of the images the model sees; explains what to pass when sizes differ."""
    if patch_size is not None:
        smallest = source.smallest or (0, 0)
        if min(smallest) < patch_size:
            raise UserError(f"--patch-size {patch_size} is larger than the smallest image "
                            f"({smallest[0]}x{smallest[1]}) in {source.name}")
        return patch_size, patch_size, source.channels
    if source.size is None:
        sizes = getattr(source, "distinct_sizes", [])[:3]
        shown = ", ".join(f"{h}x{w}" for h, w in sizes)
        raise UserError(f"images in {source.name} have different sizes ({shown} ...); pass "
                        "--image-size HxW to resize them or --patch-size N to train on crops")
    return (*source.size, source.channels)


def _reader(read, shape: tuple[int | None, ...]):
    """Wrap a numpy reader of indices as a tf.data map function with a known output shape."""

    def decode(indices: tf.Tensor) -> tf.Tensor:
        images = tf.numpy_function(read, [indices], tf.float32, stateful=False)
        images.set_shape(shape)
        return images

    return decode


def image_batches(source: ImageSource, indices: np.ndarray, cfg: PipelineConfig,
                  training: bool) -> tf.data.Dataset:
    """Batches of float32 NHWC images; shuffled and freshly cropped each epoch when training.

    Without crops, indices are batched first and each batch is read in one call (one Python
    round trip per batch, not per image); batches are decoded in parallel.
    """
    out_shape = image_shape(source, cfg.patch_size)
    ds = tf.data.Dataset.from_tensor_slices(indices.astype(np.int64))
    if training:
        ds = ds.shuffle(len(indices), seed=cfg.seed, reshuffle_each_iteration=True)
    if cfg.patch_size is None:
        read = _reader(source.read_batch, (None, *out_shape))
        return ds.batch(cfg.batch_size).map(read, num_parallel_calls=tf.data.AUTOTUNE,
                                            deterministic=True)
    read = _reader(lambda i: source.read(int(i)), (*(source.size or (None, None)),
                                                   source.channels))
    seeds = tf.data.Dataset.random(seed=cfg.seed, rerandomize_each_iteration=training)
    ds = tf.data.Dataset.zip(ds.map(read, num_parallel_calls=tf.data.AUTOTUNE,
                                    deterministic=True), seeds.batch(2))
    ds = ds.map(lambda img, s: tf.image.stateless_random_crop(img, out_shape, seed=s),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(cfg.batch_size)


def training_pairs(images: tf.data.Dataset, cfg: PipelineConfig, training: bool) -> tf.data.Dataset:
    """(input, target) pairs: the image itself, or a noisy copy of it for denoisers.

    Training noise is redrawn every epoch; validation noise is the same every epoch so its
    loss is comparable across epochs.
    """
    if cfg.noise_factor is None:
        pairs = images.map(lambda x: (x, x))
    else:
        factor = cfg.noise_factor
        seeds = tf.data.Dataset.random(seed=cfg.seed + 1, rerandomize_each_iteration=training)

        def add_noise(x: tf.Tensor, s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            noise = tf.random.stateless_normal(tf.shape(x), seed=s)
            return tf.clip_by_value(x + factor * noise, 0.0, 1.0), x

        pairs = tf.data.Dataset.zip(images, seeds.batch(2)).map(add_noise)
    return pairs.prefetch(tf.data.AUTOTUNE)
