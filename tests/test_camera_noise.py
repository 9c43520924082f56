"""The camera noise model keeps the statistics train/camera.py claims, on flat and real images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from edgeae.core.errors import UserError
from edgeae.train.camera import (
    PRESETS,
    CameraNoise,
    demosaic,
    mosaic,
    rendering,
    sensor_noise,
    srgb_to_linear,
)


def flat(level: float, channels: int = 1, size: int = 128) -> np.ndarray:
    return np.full((1, size, size, channels), level, np.float32)


def noise_of(camera: CameraNoise, level: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    """The camera's output on a flat image minus its mean, border pixels left out."""
    out = camera(flat(level, channels), np.random.default_rng(seed))[0, 4:-4, 4:-4]
    return out - out.mean(axis=(0, 1))


@pytest.mark.parametrize("level", [0.05, 0.2, 0.5])
def test_raw_variance_is_shot_plus_read_noise(level):
    peak, read = 80.0, 3.0 / 255
    raw = sensor_noise(np.full((256, 256), level, np.float32), peak, read,
                       np.random.default_rng(0))
    assert raw.var() == pytest.approx(level / peak + read ** 2, rel=0.05)


def test_noise_variance_grows_with_brightness_in_linear_light():
    peak, read = PRESETS["dim"]
    camera = CameraNoise((peak, peak), (read, read))
    variances = [srgb_to_linear(np.clip(camera(flat(v), np.random.default_rng(1)), 0, 1))
                 [0, 4:-4, 4:-4].var() for v in (0.1, 0.3, 0.5, 0.7)]
    assert all(a * 1.5 < b for a, b in zip(variances, variances[1:])), variances


def test_demosaicing_correlates_neighbours_and_colour_correction_the_channels():
    camera = CameraNoise((80, 80), (3, 3))
    gray = noise_of(camera, 0.4)[..., 0]
    assert np.corrcoef(gray[:, :-1].ravel(), gray[:, 1:].ravel())[0, 1] > 0.3
    colour = noise_of(camera, 0.4, channels=3)
    assert np.corrcoef(colour[..., 0].ravel(), colour[..., 1].ravel())[0, 1] < -0.2
    white = np.random.default_rng(0).normal(size=gray.shape)  # what Gaussian noise gives
    assert abs(np.corrcoef(white[:, :-1].ravel(), white[:, 1:].ravel())[0, 1]) < 0.05


def test_the_mosaic_is_rggb_and_demosaicing_restores_its_colours():
    rgb = np.empty((32, 32, 3), np.float32)
    rgb[:] = (0.9, 0.3, 0.1)
    raw = mosaic(rgb)
    assert raw[0, 0] == pytest.approx(0.9) and raw[1, 1] == pytest.approx(0.1)
    assert raw[0, 1] == raw[1, 0] == pytest.approx(0.3)
    np.testing.assert_allclose(demosaic(raw)[4:-4, 4:-4], rgb[4:-4, 4:-4], atol=1e-4)


def test_darker_presets_are_noisier_and_a_seed_repeats_itself():
    image = data.camera()[::2, ::2, None].astype(np.float32) / 255
    errors = []
    for name, (peak, read) in PRESETS.items():
        camera = CameraNoise((peak, peak), (read, read), jpeg=(85, 85))
        noisy = camera(image[None], np.random.default_rng(3))
        again = camera(image[None], np.random.default_rng(3))
        np.testing.assert_array_equal(noisy, again)
        assert noisy.shape == (1, *image.shape) and noisy.dtype == np.float32
        assert 0 <= noisy.min() and noisy.max() <= 1, name
        errors.append(float(np.mean((noisy[0] - image) ** 2)))
    assert errors == sorted(errors), dict(zip(PRESETS, errors))


def test_camera_noise_spec_in_training():
    import tensorflow as tf

    from edgeae.train.noise_spec import parse_noise

    spec = parse_noise("camera:indoor-night,70-95")
    assert str(spec) == "camera:20-400,1.5-6,70-95" and parse_noise(str(spec)) == spec
    assert str(parse_noise("camera:dim")) == "camera:80,3,0"  # JPEG 0: none
    images = tf.constant(np.tile(flat(0.5, 3, 32), (2, 1, 1, 1)))
    first = spec(images, tf.constant([1, 2]))
    assert first.shape == images.shape
    np.testing.assert_array_equal(first, spec(images, tf.constant([1, 2])))
    assert not np.array_equal(first, spec(images, tf.constant([1, 3])))
    for bad, why in (("camera:dusk", "unknown light level"), ("camera:0,3", "photon peak"),
                     ("camera:dim,101", "JPEG quality"), ("camera:80,300", "read noise"),
                     ("camera:dim,85,3", "a light level or PEAK,READ")):
        with pytest.raises(UserError, match=why):
            parse_noise(bad)


def test_camera_noise_streams_through_the_training_pipeline():
    from edgeae.core.data import ArrayImages, Preprocess
    from edgeae.train.pipeline import PipelineConfig, image_batches, training_pairs

    from conftest import blobs

    source = ArrayImages(blobs(16, size=32), Preprocess(), "blobs", "npy")
    cfg = PipelineConfig(batch_size=8, seed=1, noise="camera:dim,85")
    idx = np.arange(16)

    def first_noisy(training: bool) -> np.ndarray:
        pairs = training_pairs(image_batches(source, idx, cfg, training), cfg, training)
        return next(iter(pairs))[0].numpy()

    val = first_noisy(training=False)
    assert val.shape == (8, 32, 32, 1) and 0 <= val.min() and val.max() <= 1
    np.testing.assert_array_equal(first_noisy(training=False), val)  # validation: fixed noise
    ds = training_pairs(image_batches(source, idx, cfg, True), cfg, True)
    assert not np.array_equal(next(iter(ds))[0].numpy(), next(iter(ds))[0].numpy())


def test_the_rendering_is_the_noiseless_camera_and_keeps_only_its_blur():
    image = data.camera()[::4, ::4, None].astype(np.float32) / 255  # 128x128, textured
    rendered = rendering(image[None])[0]
    noiseless = CameraNoise((1e9, 1e9), (0.0, 0.0))  # any white balance: it cancels
    for seed in range(3):
        np.testing.assert_allclose(noiseless.one(image, np.random.default_rng(seed)), rendered,
                                   atol=2e-3)
    np.testing.assert_allclose(rendering(flat(0.4))[0], flat(0.4)[0], atol=1e-3)  # no blur
    assert np.abs(rendered - image).mean() > 0.005  # the demosaicing blurs texture
    colour = np.repeat(image, 3, axis=-1)[None]
    assert rendering(colour).shape == colour.shape


def test_camera_truth_renders_exactly_the_images_that_drew_camera_noise():
    import tensorflow as tf

    from edgeae.train.noise import camera_truth
    from edgeae.train.noise_spec import parse_noise

    images = tf.constant(np.random.default_rng(0).random((16, 24, 24, 1)), tf.float32)
    mixture = parse_noise("clip|camera:bright")  # clip leaves these images as they are
    assert mixture.has_camera and not parse_noise("gaussian:5").has_camera
    for seed in ([1, 2], [3, 4]):
        noisy, truth = (f(mixture, images, tf.constant(seed)) for f in (
            lambda m, x, s: m(x, s), camera_truth))
        untouched = np.all(noisy.numpy() == images.numpy(), axis=(1, 2, 3))
        assert 0 < untouched.sum() < len(untouched)  # both specs drawn
        np.testing.assert_array_equal(truth.numpy()[untouched], images.numpy()[untouched])
        np.testing.assert_allclose(truth.numpy()[~untouched],
                                   rendering(images.numpy()[~untouched]), atol=1e-6)
    np.testing.assert_array_equal(camera_truth(parse_noise("gaussian:5"), images,
                                               tf.constant([1, 2])), images)


def test_train_denoiser_learns_the_rendering_when_asked(tmp_path, gray_folder):
    import json

    from conftest import run_cli

    common = ("train", "denoiser", "--data", gray_folder, "--model", "unet", "--size", "tiny",
              "--patch-size", "16", "--epochs", "1", "--batch-size", "4")
    for args, why in ((["--noise", "gaussian:25"], "a camera step"),
                      (["--noise", "camera:dim", "--temporal", "3"], "single-frame")):
        code, _, err = run_cli(*common, *args, "--camera-truth", "rendered",
                               "--out", str(tmp_path / "bad"))
        assert code == 2 and why in err and "Traceback" not in err
    out = tmp_path / "rendered"
    code, _, err = run_cli(*common, "--noise", "gaussian:0-55|camera:bright-night",
                           "--camera-truth", "rendered", "--out", str(out))
    assert code == 0, err
    training = json.loads((out / "manifest.json").read_text())["training"]
    assert training["camera_truth"] == "rendered"


# PSNR gained over the Gaussian-only model on scikit-image's camera at 256x256 (measured:
# live-camera +2.1 dB dim, +4.6 night)
MARGIN = {"dim": 1.5, "night": 3.0}


@pytest.mark.parametrize("level", ["dim", "night"])
@pytest.mark.parametrize("name", ["live"])
def test_a_shipped_camera_denoiser_removes_the_grain_its_gaussian_model_leaves(name, level):
    """`NAME-camera` learned the camera model's noise; NAME (Gaussian only) takes it for texture.

    Margins well below benchmarks/camera_denoisers.py's Set12 figures (BENCHMARKS.md).
    """
    from skimage.metrics import peak_signal_noise_ratio

    import edgeae.runtime as rt
    from edgeae.runtime.pretrained import pretrained_path

    clean = data.camera()[::2, ::2, None]  # 256x256 gray, bundled with scikit-image
    peak, read = PRESETS[level]
    noisy = CameraNoise((peak, peak), (read, read))(clean[None].astype(np.float32) / 255,
                                                      np.random.default_rng(0))[0]
    noisy = np.rint(noisy * 255).astype(np.uint8)
    psnr = {model: peak_signal_noise_ratio(
        clean, rt.load(pretrained_path(model, "onnxruntime")).denoise(noisy), data_range=255)
        for model in (name, f"{name}-camera")}
    before = peak_signal_noise_ratio(clean, noisy, data_range=255)
    assert psnr[f"{name}-camera"] > psnr[name] + MARGIN[level] > before + MARGIN[level], psnr
