"""The noise models of train/noise_spec.py applied in TensorFlow, inside tf.data.

Randomness is stateless: each step draws from its own split of the batch's seed, so the same
seed gives the same noise and tf.data feeds a fresh seed every batch.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from edgeae.train.camera import CameraNoise, rendering
from edgeae.train.h264 import h264_roundtrip
from edgeae.train.noise_spec import Noise, NoiseMixture, NoiseSpec


def apply_noise(spec: NoiseSpec, images: tf.Tensor, seed: tf.Tensor,
                frames: int = 1) -> tf.Tensor:
    """Noisy copies of a float32 NHWC batch in [0, 1]; `seed` is a shape-[2] int tensor.

    `frames` > 1: each image is a clip of that many frames stacked one above the other, which
    a codec step (_CLIP_STEPS) codes as one stream; the other steps see one tall image. A still
    (`frames` 1) through a step that asks for a stream (h264:CRF,FRAMES) becomes one.
    """
    stream = max(step.stream_frames for step in spec.steps)
    if frames == 1 and stream > 1:
        pan = max(step.stream_pan for step in spec.steps)
        return _still_stream(spec, images, seed, stream, pan)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), len(spec.steps))
    x = tf.cast(images, tf.float32)
    for i, step in enumerate(spec.steps):
        apply = _APPLY[step.name]
        if step.name in _CLIP_STEPS:
            apply = functools.partial(apply, frames=frames)
        x = apply(x, step.ranges, seeds[i])
    return x


def _still_stream(spec: NoiseSpec, images: tf.Tensor, seed: tf.Tensor, frames: int,
                  pan: tuple[float, float] = (0.0, 0.0)) -> tf.Tensor:
    """Each still as the last frame of a camera's stream of `frames` frames.

    The still is stacked `frames` times as a clip (panned over at a speed drawn from `pan`,
    pixels a frame, when that is above 0), so every step draws fresh noise for each frame (one
    level per image, as a camera's) and the codec codes the clip as one stream.
    """
    height = tf.shape(images)[1]
    x = tf.cast(images, tf.float32)
    if pan[1] > 0:
        clip = _panned_clip(x, frames, pan, tf.random.experimental.stateless_fold_in(
            tf.cast(seed, tf.int64), 1))
    else:
        clip = tf.tile(x, [1, frames, 1, 1])
    clip = apply_noise(spec, clip, seed, frames)
    return tf.ensure_shape(clip[:, (frames - 1) * height:], images.shape)


def _panned_clip(images: tf.Tensor, frames: int, pan: tuple[float, float],
                 seed: tf.Tensor) -> tf.Tensor:
    """(N, frames * H, W, C): each image seen by a camera panning straight over it.

    Speed drawn from `pan` (pixels a frame) and direction uniformly, per image; frame k is
    shifted by (frames - 1 - k) steps, so the last is the image itself. Bilinear sampling,
    borders reflected (new ground coming into view, as a pan shows).
    """
    shape = tf.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    s = tf.random.experimental.stateless_split(seed, 2)
    speed = pan[0] + (pan[1] - pan[0]) * tf.random.stateless_uniform([n, 1], seed=s[0])
    angle = 2 * np.pi * tf.random.stateless_uniform([n, 1], seed=s[1])
    back = tf.range(frames - 1, -1, -1, dtype=tf.float32)[None]  # steps from the last frame
    dx, dy = (tf.reshape(speed * f(angle) * back, [-1]) for f in (tf.cos, tf.sin))
    one, zero = tf.ones_like(dx), tf.zeros_like(dx)
    transforms = tf.stack([one, zero, dx, zero, one, dy, zero, zero], axis=1)
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.repeat(images, frames, axis=0), transforms=transforms,
        output_shape=tf.stack([h, w]), fill_value=0.0, interpolation="BILINEAR",
        fill_mode="REFLECT")
    return tf.reshape(moved, [n, frames * h, w, c])


def apply_mixture(mixture: NoiseMixture, images: tf.Tensor, seed: tf.Tensor,
                  frames: int = 1) -> tf.Tensor:
    """Each image of the batch through one of the mixture's specs, drawn uniformly.

    `frames` as apply_noise's. Each spec runs only on the images that drew it, so a costly
    one (camera, H.264) costs its share of the batch, not the whole batch.
    """
    seeds, where, parts = _mixture_parts(mixture, images, seed)
    noisy = [apply_noise(spec, part, seeds[i + 1], frames)
             for i, (spec, part) in enumerate(zip(mixture.choices, parts))]
    return tf.ensure_shape(tf.dynamic_stitch(where, noisy), images.shape)


def _mixture_parts(mixture: NoiseMixture, images: tf.Tensor, seed: tf.Tensor):
    """(seeds, where, parts): each spec's seed (after the pick's), and the images that drew it.

    The draw is stateless: the same seed gives the same parts to apply_mixture and camera_truth.
    """
    n = len(mixture.choices)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), n + 1)
    pick = tf.random.stateless_uniform([tf.shape(images)[0]], seed=seeds[0], minval=0,
                                       maxval=n, dtype=tf.int32)
    x = tf.cast(images, tf.float32)
    return seeds, tf.dynamic_partition(tf.range(tf.shape(x)[0]), pick, n), \
        tf.dynamic_partition(x, pick, n)


def camera_truth(noise: Noise, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """What a denoiser learns to give back when camera noise should not teach it deblurring.

    Images whose spec (the one `noise` drew for them with the same `seed`) runs the camera
    pipeline get its noise-free rendering (train/camera.py `rendering`: the demosaicing blur
    kept); the others stay as they are. Stills only.
    """
    if isinstance(noise, NoiseSpec):
        return _rendered(images, seed) if noise.has_camera else tf.cast(images, tf.float32)
    seeds, where, parts = _mixture_parts(noise, images, seed)
    truths = [_rendered(part, seeds[i + 1]) if spec.has_camera else part
              for i, (spec, part) in enumerate(zip(noise.choices, parts))]
    return tf.ensure_shape(tf.dynamic_stitch(where, truths), images.shape)


def _rendered(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    return _numpy_step(lambda images, rng: rendering(images), tf.cast(x, tf.float32), seed)


def apply_noise_to_frames(spec: Noise, clips: tf.Tensor, frames: int,
                          seed: tf.Tensor) -> tf.Tensor:
    """Fresh noise in every frame of (N, H, W, K * C) stacked clips, one level per clip.

    The K frames are laid one above the other as a single tall image, so the noise's per-image
    parameters (sigma, photon level, JPEG quality) hold for the whole clip, as a camera's do,
    while every pixel of every frame gets its own draw; an H.264 step codes the K frames as one
    stream.
    """
    shape = tf.shape(clips)
    n, h, w = shape[0], shape[1], shape[2]
    c = clips.shape[-1] // frames
    tall = tf.reshape(tf.transpose(tf.reshape(clips, [n, h, w, frames, c]), [0, 3, 1, 2, 4]),
                      [n, frames * h, w, c])
    noisy = spec(tall, seed, frames)
    return tf.reshape(tf.transpose(tf.reshape(noisy, [n, frames, h, w, c]), [0, 2, 3, 1, 4]),
                      [n, h, w, frames * c])


def estimate_gaussian_sigma(images: np.ndarray) -> float:
    """The Gaussian noise level (0-255) of noisy images in [0, 1], from their wavelet detail.

    scikit-image's estimate_sigma (Donoho's median absolute deviation of the finest diagonal
    wavelet band) per image and channel; the median over images resists a few textured ones.
    """
    from skimage.restoration import estimate_sigma

    levels = [estimate_sigma(img, channel_axis=-1, average_sigmas=True) for img in images]
    return float(np.median(levels) * 255.0)


def _per_image(x: tf.Tensor, bounds: tuple[float, float], seed: tf.Tensor) -> tf.Tensor:
    """One value per image drawn uniformly from `bounds`, shaped to broadcast over NHWC."""
    lo, hi = bounds
    u = tf.random.stateless_uniform([tf.shape(x)[0], 1, 1, 1], seed=seed)
    return lo + (hi - lo) * u


def _gaussian(x, ranges, seed):
    s = tf.random.experimental.stateless_split(seed, 2)
    sigma = _per_image(x, ranges[0], s[0]) / 255.0
    return x + sigma * tf.random.stateless_normal(tf.shape(x), seed=s[1])


def _poisson_gaussian(x, ranges, seed):
    s = tf.random.experimental.stateless_split(seed, 4)
    peak = _per_image(x, ranges[0], s[0])
    lam = tf.maximum(x, 0.0) * peak
    shot = tf.random.stateless_poisson(tf.shape(x), seed=s[1], lam=lam, dtype=tf.float32)
    read = _per_image(x, ranges[1], s[2]) / 255.0
    return shot / peak + read * tf.random.stateless_normal(tf.shape(x), seed=s[3])


def _salt_pepper(x, ranges, seed):
    s = tf.random.experimental.stateless_split(seed, 3)
    fraction = _per_image(x, ranges[0], s[0])
    hit = tf.random.stateless_uniform(tf.shape(x), seed=s[1]) < fraction
    salt = tf.cast(tf.random.stateless_uniform(tf.shape(x), seed=s[2]) < 0.5, x.dtype)
    return tf.where(hit, salt, x)


def _speckle(x, ranges, seed):
    s = tf.random.experimental.stateless_split(seed, 2)
    sigma = _per_image(x, ranges[0], s[0])
    return x + x * sigma * tf.random.stateless_normal(tf.shape(x), seed=s[1])


def _jpeg(x, ranges, seed):
    lo, hi = (int(round(v)) for v in ranges[0])
    quality = tf.random.stateless_uniform([tf.shape(x)[0]], seed=seed, minval=lo,
                                          maxval=hi + 1, dtype=tf.int32)

    def one(args):
        image, q = args
        return tf.image.adjust_jpeg_quality(tf.clip_by_value(image, 0.0, 1.0), q)

    out = tf.map_fn(one, (x, quality), fn_output_signature=tf.float32)
    return tf.ensure_shape(tf.reshape(out, tf.shape(x)), x.shape)  # map_fn of none: shape [0]


def _numpy_step(func, x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """`x` through `func(images, rng)` in numpy, seeded from `seed`.

    An empty batch (a mixture's spec that no image drew) passes through untouched.
    """

    def run(images, numpy_seed):
        if not len(images):
            return images
        return func(images, np.random.default_rng(numpy_seed.astype(np.uint64)))

    out = tf.numpy_function(run, [x, seed], tf.float32, stateful=False)
    return tf.ensure_shape(out, x.shape)


def _camera(x, ranges, seed):
    peak, read, jpeg = ranges
    return _numpy_step(CameraNoise(peak, read, jpeg if jpeg[0] > 0 else None), x, seed)


def _h264(x, ranges, seed, frames=1):
    lo, hi = (int(round(v)) for v in ranges[0])

    def code_clips(images, rng):
        n, tall, w, c = images.shape
        clips = images.reshape(n, frames, tall // frames, w, c)
        return np.stack([h264_roundtrip(clip, int(rng.integers(lo, hi + 1))).reshape(tall, w, c)
                         for clip in clips])

    return _numpy_step(code_clips, x, seed)


def _clip(x, ranges, seed):
    return tf.clip_by_value(x, 0.0, 1.0)


_APPLY = {"gaussian": _gaussian, "poisson-gaussian": _poisson_gaussian,
          "salt-pepper": _salt_pepper, "speckle": _speckle, "jpeg": _jpeg, "camera": _camera,
          "h264": _h264, "clip": _clip}
_CLIP_STEPS = {"h264"}  # steps that code a clip's frames together, told how many there are
