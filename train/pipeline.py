"""tf.data pipelines that stream an ImageSource from disk into (input, target) batches.

Images are decoded in parallel by index, so memory stays flat however large the folder is.
Randomness (shuffle order, patch crops, noise) comes from the seed, so a run is repeatable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from edgeae.core.data import ImageSource, image_shape
from edgeae.core.errors import UserError
from edgeae.core.manifest import CameraTruth
from edgeae.train.noise import apply_noise_to_frames, camera_truth
from edgeae.train.noise_spec import Noise, gaussian_sigma, parse_noise
from edgeae.train.settings import check_image_count

log = logging.getLogger(__name__)

BLIND_SPOT_FRACTION = 0.02  # Noise2Void masks a few percent of pixels per patch
CROP_SHUFFLE_BUFFER = 2048  # crops mixed across images (64x64 gray: 32 MiB)
RECORRUPTION_ALPHA = 0.5  # R2R's input gets alpha * z more noise, its target z / alpha less
CACHE_SHUFFLE_BYTES = 256 * 2**20  # cached images are mixed in a buffer of at most this size
CACHE_SCALE = 65535.0  # cached as uint16: exact for 8- and 16-bit images, half of float32's size
# Temporal clips shown as a still (the noisy current frame K times), as the runtime shows a run's
# first frame and the frame after a scene cut: the model learns to denoise those alone too.
STILL_FRACTION = 0.1


@dataclass(frozen=True)
class PipelineConfig:
    """Batching and augmentation shared by the training and validation streams."""

    batch_size: int = 32
    seed: int = 0
    patch_size: int | None = None
    patches_per_image: int = 1  # training crops drawn from each image per epoch
    noise: str | None = None  # denoisers: a noise spec (train/noise.py), fresh every batch
    # noisy images only: "blind-spot" masking, or "recorrupted" by the Gaussian `noise` they hold
    self_supervised: str | None = None
    cache: Path | None = None  # a folder to keep decoded images in after the first epoch
    frames: int = 1  # > 1: temporal clips of this many frames, stacked on the channel axis
    recurrent: bool = False  # clips aligned as the runtime aligns them; every frame a target
    anomalies: bool = False  # synthetic anomalies pasted in; targets: clean image and mask
    anomaly_source: str | None = None  # a folder of textures to fill them with (else the images)
    camera_truth: CameraTruth = "pristine"  # rendered: camera-noised stills' targets differ


def split_indices(n: int, val_fraction: float, seed: int, tail_gap: int | None = None,
                  min_train: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, deterministic train / validation split of range(n).

    `tail_gap` (a video's frames, whose neighbours are near copies): validation is the last
    frames instead of a random pick, less the first `tail_gap` of them (a clip of K frames
    ending there would reach back into the training frames). At least `min_train` images are
    left to train on (a task's row says how many it needs).
    """
    check_image_count(n, min_train)
    n_val = min(n - min_train, max(1, int(round(n * val_fraction))))
    if tail_gap is not None:
        start = n - n_val
        if n_val <= tail_gap:
            log.warning("only the last %d of %d frames validate, fewer than a clip of %d: the "
                        "validation clips reach back into training frames (give a longer "
                        "video, or a smaller --every)", n_val, n, tail_gap + 1)
        return np.arange(start), np.arange(min(start + tail_gap, n - 1), n)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _reader(read, shape: tuple[int | None, ...], dtype: tf.DType = tf.float32):
    """Wrap a numpy reader of indices as a tf.data map function with a known output shape."""

    def decode(indices: tf.Tensor) -> tf.Tensor:
        images = tf.numpy_function(read, [indices], dtype, stateful=False)
        images.set_shape(shape)
        return images

    return decode


def image_batches(source: ImageSource, indices: np.ndarray, cfg: PipelineConfig,
                  training: bool) -> tf.data.Dataset:
    """Batches of float32 NHWC images; shuffled and freshly cropped each epoch when training.

    Without crops, indices are batched first and each batch is read in one call (one Python
    round trip per batch, not per image); batches are decoded in parallel. With crops, each image
    is decoded once per epoch and gives all its `patches_per_image` crops, which a bounded
    shuffle buffer then mixes across images: decoding, not the network, is what limits training
    on a few large images. With `cfg.cache`, images are decoded in the first epoch only
    (cached_images).
    """
    if cfg.frames > 1:
        return clip_batches(source, indices, cfg, training)
    out_shape = image_shape(source, cfg.patch_size)
    if cfg.cache is not None:
        images = cached_images(source, indices, cfg, training)
        if cfg.patch_size is None:
            return images.batch(cfg.batch_size)
    else:
        ds = tf.data.Dataset.from_tensor_slices(indices.astype(np.int64))
        if training:
            ds = ds.shuffle(len(indices), seed=cfg.seed, reshuffle_each_iteration=True)
        if cfg.patch_size is None:
            read = _reader(source.read_batch, (None, *out_shape))
            return ds.batch(cfg.batch_size).map(read, num_parallel_calls=tf.data.AUTOTUNE,
                                                deterministic=True)
        read = _reader(lambda i: source.read(int(i)), (*(source.size or (None, None)),
                                                       source.channels))
        images = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    per_image = cfg.patches_per_image  # validation too: one crop per image is a noisy loss
    repeated = images.flat_map(lambda img: tf.data.Dataset.from_tensors(img).repeat(per_image))
    seeds = tf.data.Dataset.random(seed=cfg.seed, rerandomize_each_iteration=training)
    crops = tf.data.Dataset.zip(repeated, seeds.batch(2)).map(
        lambda img, s: tf.image.stateless_random_crop(img, out_shape, seed=s),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if per_image > 1:  # validation's order is fixed, but mixed too (its first crops are samples)
        crops = crops.shuffle(min(len(indices) * per_image, CROP_SHUFFLE_BUFFER),
                              seed=cfg.seed + 2, reshuffle_each_iteration=training)
    # flat_map hides the count; Keras plans each epoch by it (and warns when it is unknown)
    crops = crops.apply(tf.data.experimental.assert_cardinality(len(indices) * per_image))
    return crops.batch(cfg.batch_size)


def clip_batches(source: ImageSource, indices: np.ndarray, cfg: PipelineConfig,
                  training: bool) -> tf.data.Dataset:
    """Batches of clean (P, P, K * C) clips, `patches_per_image` per image and epoch.

    A video's clips are K consecutive frames ending at each index; a still's are made by a
    camera moving over it (train/clips.py: still_clip). Validation's clips are the same every
    epoch.
    """
    from edgeae.train.clips import aligned_to_last, still_clip, video_clip

    k, size = cfg.frames, cfg.patch_size  # a size is given (train/settings.check_settings)
    smallest = min(source.smallest or source.size or (0, 0))
    needed = size if source.kind == "video" else int(np.ceil(1.25 * size))
    if smallest < needed:
        raise UserError(f"--patch-size {size} needs images of at least {needed} pixels a side "
                        f"for temporal clips (a still must leave room for the camera to move); "
                        f"the smallest in {source.name} is {smallest}")

    def make(index: np.ndarray, seed: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(seed.astype(np.uint64))
        if source.kind == "video":
            clip = video_clip(source.read, int(index), k, size, rng)
        else:
            clip = still_clip(source.read(int(index)), k, size, rng)
        return aligned_to_last(clip, k) if cfg.recurrent else clip

    per_image = cfg.patches_per_image
    ds = tf.data.Dataset.from_tensor_slices(indices.astype(np.int64))
    if training:
        ds = ds.shuffle(len(indices), seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.flat_map(lambda i: tf.data.Dataset.from_tensors(i).repeat(per_image))
    seeds = tf.data.Dataset.random(seed=cfg.seed, rerandomize_each_iteration=training)
    shape = (size, size, k * source.channels)
    clips = tf.data.Dataset.zip(ds, seeds.batch(2)).map(
        lambda i, s: tf.ensure_shape(tf.numpy_function(make, [i, s], tf.float32), shape),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if per_image > 1:
        clips = clips.shuffle(min(len(indices) * per_image, CROP_SHUFFLE_BUFFER // k),
                              seed=cfg.seed + 2, reshuffle_each_iteration=training)
    clips = clips.apply(tf.data.experimental.assert_cardinality(len(indices) * per_image))
    return clips.batch(cfg.batch_size)


CACHE_KEY_SAMPLES = 8  # images whose pixels the cache's name depends on


def cached_images(source: ImageSource, indices: np.ndarray, cfg: PipelineConfig,
                  training: bool) -> tf.data.Dataset:
    """Single images, decoded in the first epoch and read from `cfg.cache` after it.

    The cache is tf.data's file cache, kept as uint16, in a sub-folder named by a fingerprint
    of the data (files, their sizes and times, a few images' pixels, preprocessing) and the
    images' order: another run on the same data reuses it, changed data gets a new one.
    Images are cached in one seeded random order; training mixes them again each epoch in a
    shuffle buffer of at most CACHE_SHUFFLE_BYTES.
    """
    order = (np.random.default_rng(cfg.seed).permutation(indices) if training
             else np.asarray(indices)).astype(np.int64)
    folder = Path(cfg.cache) / cache_key(source, order)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.lockfile"):  # left by a run that stopped mid-way through
        stale.unlink()
    ds = tf.data.Dataset.from_tensor_slices(order)
    if source.size is not None:  # decoded a batch per Python call, as without a cache
        ds, read, shape = ds.batch(cfg.batch_size), source.read_batch, (None, *source.size)
    else:
        read, shape = (lambda i: source.read(int(i))), (None, None)
    stored = ds.map(_reader(lambda i: np.rint(read(i) * CACHE_SCALE).astype(np.uint16),
                            (*shape, source.channels), tf.uint16),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if source.size is not None:  # unbatched, the count is known again (Keras plans epochs by it)
        stored = stored.unbatch().apply(tf.data.experimental.assert_cardinality(len(order)))
    stored = stored.cache(str(folder / "images"))
    if training:
        h, w = source.size or source.smallest or (1, 1)
        buffer = max(1, min(len(order), CACHE_SHUFFLE_BYTES // (2 * h * w * source.channels)))
        stored = stored.shuffle(buffer, seed=cfg.seed, reshuffle_each_iteration=True)
    return stored.map(lambda x: tf.cast(x, tf.float32) / CACHE_SCALE,
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def cache_key(source: ImageSource, order: np.ndarray) -> str:
    """A short hash of what the cached images depend on: the data, its preprocessing, order.

    With the decoded pixels of a few images at evenly spaced places in `order`: a file list
    alone missed what the source was read with (a built-in dataset's --data-dir, a video's
    --every), and another dataset of as many images reused the first one's cache.
    """
    paths = getattr(source, "paths", None) or [Path(source.name.split(":")[0])]
    files = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in map(Path, paths)
             if p.is_file()]
    sampled = hashlib.sha256()
    picks = np.linspace(0, len(order) - 1, CACHE_KEY_SAMPLES).astype(int) if len(order) else []
    for i in np.unique(order[picks]):
        sampled.update(np.ascontiguousarray(source.read(int(i))).tobytes())
    described = json.dumps([source.name, source.kind, source.channels, source.size, files,
                            hashlib.sha256(order.tobytes()).hexdigest(), sampled.hexdigest()])
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def training_pairs(images: tf.data.Dataset, cfg: PipelineConfig, training: bool) -> tf.data.Dataset:
    """What `fit` consumes: (input, target) pairs, or (input, target, weight) for blind spots.

    An autoencoder rebuilds its input; a supervised denoiser gets a noisy copy of the clean
    image; a self-supervised one gets the noisy image with random pixels masked and is scored
    only there (blind-spot), or a recorrupted pair of it (recorrupted). Training randomness is
    redrawn every epoch; validation's is the same every epoch so its loss is comparable across
    epochs.
    """
    seeds = tf.data.Dataset.random(seed=cfg.seed + 1, rerandomize_each_iteration=training)
    if cfg.self_supervised == "blind-spot":
        pairs = tf.data.Dataset.zip(images, seeds.batch(2)).map(blind_spot_batch)
    elif cfg.self_supervised == "recorrupted":
        sigma = gaussian_sigma(cfg.noise) / 255.0
        pairs = tf.data.Dataset.zip(images, seeds.batch(2)).map(
            lambda y, s: recorrupted_batch(y, s, sigma))
    elif cfg.anomalies:
        streams = [images, seeds.batch(2)]
        if cfg.anomaly_source:
            streams.append(texture_batches(cfg, tuple(images.element_spec.shape[1:]), training))
        pairs = tf.data.Dataset.zip(*streams).map(anomaly_pair)
    elif cfg.noise is not None and cfg.frames > 1:
        noise = parse_noise(cfg.noise)
        pairs = tf.data.Dataset.zip(images, seeds.batch(2)).map(
            lambda x, s: temporal_pair(noise, x, s, cfg.frames, every_frame=cfg.recurrent))
    elif cfg.noise is not None:
        noise = parse_noise(cfg.noise)
        truth = camera_truth if cfg.camera_truth == "rendered" else lambda _, x, s: x
        pairs = tf.data.Dataset.zip(images, seeds.batch(2)).map(
            lambda x, s: (noise(x, s), truth(noise, x, s)))
    else:
        pairs = images.map(lambda x: (x, x))
    return pairs.prefetch(tf.data.AUTOTUNE)


def anomaly_pair(clean: tf.Tensor, seed: tf.Tensor,
                 textures: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """(images with synthetic anomalies, clean images and the masks on the channel axis).

    A discriminative detector's pair (train/anomalies.py): it restores the clean image and
    predicts the mask, its output's last channel. `textures` fill the anomalies when given.
    """
    from edgeae.train.anomalies import paste_anomalies

    args = [clean, seed] if textures is None else [clean, seed, textures]
    pasted, masks = tf.numpy_function(paste_anomalies, args, (tf.float32, tf.float32),
                                      stateful=False)
    pasted = tf.ensure_shape(pasted, clean.shape)
    masks = tf.ensure_shape(masks, (*clean.shape[:3], 1))
    return pasted, tf.concat([clean, masks], axis=-1)


def texture_batches(cfg: PipelineConfig, shape: tuple[int, int, int],
                    training: bool) -> tf.data.Dataset:
    """Endless batches of random texture crops of `shape` from `cfg.anomaly_source`, seeded."""
    from edgeae.train.anomalies import anomaly_textures, texture_crop

    source = anomaly_textures(cfg.anomaly_source, shape[2])

    def read(seed: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(seed.astype(np.uint64))
        picks = rng.integers(0, len(source), cfg.batch_size)
        return np.stack([texture_crop(source.read(int(i)), shape[:2], rng) for i in picks])

    seeds = tf.data.Dataset.random(seed=cfg.seed + 3, rerandomize_each_iteration=training)
    return seeds.batch(2).map(
        lambda s: tf.ensure_shape(tf.numpy_function(read, [s], tf.float32, stateful=False),
                                  (cfg.batch_size, *shape)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def temporal_pair(noise: Noise, clips: tf.Tensor, seed: tf.Tensor, frames: int,
                  every_frame: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
    """(noisy clips, clean last frame) of clean (N, H, W, K * C) clips.

    Every frame gets fresh noise at its clip's level; STILL_FRACTION of the clips are shown as
    a still instead: the noisy last frame repeated K times. `every_frame` (a recurrent model,
    whose unrolled training restores every frame and starts from a still itself): (noisy clips,
    clean clips).
    """
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    noisy = apply_noise_to_frames(noise, clips, frames, s[0])
    if every_frame:
        return noisy, clips
    c = clips.shape[-1] // frames
    current = noisy[..., -c:]
    still = tf.random.stateless_uniform([tf.shape(clips)[0], 1, 1, 1], seed=s[1]) < STILL_FRACTION
    noisy = tf.where(still, tf.tile(current, [1, 1, 1, frames]), noisy)
    return noisy, clips[..., -c:]


def blind_spot_batch(noisy: tf.Tensor, seed: tf.Tensor,
                     fraction: float = BLIND_SPOT_FRACTION,
                     radius: int = 2) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Noise2Void masking of a NHWC batch: (masked input, noisy target, per-pixel weight).

    `fraction` of each image's pixels are picked at random coordinates and replaced by a random
    other pixel within `radius` (reflected at the border, so never the pixel itself). The weight
    is 1 exactly at the picked coordinates (scattered from them, not found by comparing values),
    so the loss only sees pixels the network could not copy from its input.
    """
    shape = tf.shape(noisy)
    b, h, w = shape[0], shape[1], shape[2]
    n = tf.maximum(1, tf.cast(tf.cast(h * w, tf.float32) * fraction, tf.int32))
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    ys = tf.random.stateless_uniform([b, n], seed=s[0], maxval=h, dtype=tf.int32)
    xs = tf.random.stateless_uniform([b, n], seed=s[1], maxval=w, dtype=tf.int32)
    side = 2 * radius + 1
    k = tf.random.stateless_uniform([b, n], seed=s[2], maxval=side * side - 1, dtype=tf.int32)
    k += tf.cast(k >= side * side // 2, tf.int32)  # skip the centre offset
    ny = _reflect(ys + k // side - radius, h)
    nx = _reflect(xs + k % side - radius, w)
    batch = tf.broadcast_to(tf.range(b)[:, None], [b, n])
    at = tf.reshape(tf.stack([batch, ys, xs], -1), [-1, 3])
    source = tf.reshape(tf.stack([batch, ny, nx], -1), [-1, 3])
    masked = tf.tensor_scatter_nd_update(noisy, at, tf.gather_nd(noisy, source))
    weight = tf.scatter_nd(at, tf.ones([b * n]), [b, h, w])
    return masked, noisy, tf.minimum(weight, 1.0)  # a coordinate drawn twice still counts once


def recorrupted_batch(noisy: tf.Tensor, seed: tf.Tensor, sigma: float,
                      alpha: float = RECORRUPTION_ALPHA) -> tuple[tf.Tensor, tf.Tensor]:
    """Recorrupted-to-Recorrupted pairs (Pang et al., CVPR 2021) of a noisy NHWC batch.

    With y = x + n, n ~ N(0, sigma^2) and a fresh z ~ N(0, sigma^2), the input y + alpha * z and
    the target y - z / alpha carry independent noise, so the expected loss against the target
    equals the loss against the clean x plus a constant: supervised training without x.
    """
    z = sigma * tf.random.stateless_normal(tf.shape(noisy), seed=tf.cast(seed, tf.int64))
    return noisy + alpha * z, noisy - z / alpha


def _reflect(i: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """Indices mirrored back into [0, size) (no repeat of the edge pixel)."""
    i = tf.abs(i)
    return tf.where(i >= size, 2 * (size - 1) - i, i)
