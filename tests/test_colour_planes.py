"""Colour frames through a gray denoiser: the ways (runtime/colour.py), their defaults, the CLI."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest
from skimage import data

import edgeae.runtime as rt
from edgeae.core.errors import UserError
from edgeae.core.manifest import Adaptation, TrainingSummary
from edgeae.runtime.colour import COLOUR_WAYS, LumaChroma, Opponent, RgbPlanes
from edgeae.runtime.models import Denoiser
from edgeae.runtime.pretrained import pretrained_path
from edgeae.train.camera import PRESETS, CameraNoise

from conftest import run_cli

TRAINING = {"loss": "mse", "epochs": 1, "epochs_run": 1, "batch_size": 1,
            "learning_rate": 1e-3, "seed": 0}


@pytest.mark.parametrize(("noise", "learned"), [
    ("gaussian:0-55", "gaussian"), ("gaussian:25+clip", "gaussian"),
    ("gaussian:0-55|camera:bright-night,70-100", "camera"), ("camera:dim+h264:23", "camera"),
    ("jpeg:30-90", "other"), ("gaussian:5|speckle:0.1", "other"), (None, None)])
def test_the_manifest_says_which_noise_a_denoiser_learned(noise, learned):
    assert TrainingSummary(**TRAINING, noise=noise).learned_noise() == learned


def test_an_adapted_denoiser_learned_its_cameras_noise():
    adaptation = Adaptation(start="pretrained:live", start_sha256="0" * 64, footage="a.mp4",
                            frames=10, train_pairs=8, val_pairs=1, mask_coverage=0.9,
                            flow="dis", val_loss_before=1.0, val_loss_after=0.5, kept=True)
    assert TrainingSummary(**TRAINING, adaptation=adaptation).learned_noise() == "camera"


def identity(batch: np.ndarray) -> np.ndarray:
    """A model that changes nothing (a copy, as a model's output buffer is its own)."""
    return np.array(batch)


def colour_ramp(h: int = 48, w: int = 64) -> np.ndarray:
    """A uint8 BGR frame whose colour changes across it."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.dstack([255 * x / w, 255 * y / h, 128 + 100 * np.sin(x / 5)]).astype(np.uint8)


@pytest.mark.parametrize("color", ["bgr", "rgb"])
def test_rgb_and_opponent_planes_give_back_what_the_model_gives_back(color):
    frame = colour_ramp()
    np.testing.assert_array_equal(RgbPlanes().denoise(frame, color, np.empty_like(frame),
                                                      identity), frame)
    back = Opponent().denoise(frame, color, np.empty_like(frame), identity)
    assert np.abs(back.astype(int) - frame).max() <= 1  # the planes held as 8-bit levels
    unit = frame.astype(np.float32) / 255
    np.testing.assert_allclose(Opponent().denoise(unit, color, np.empty_like(unit), identity),
                               unit, atol=1e-5)


def test_opponent_planes_are_luminance_and_two_colour_differences():
    seen = []
    frame = np.zeros((4, 4, 3), np.float32)
    frame[..., 2] = 1.0  # red in BGR
    Opponent().denoise(frame, "bgr", np.empty_like(frame),
                       lambda b: seen.append(np.array(b)) or np.array(b))
    np.testing.assert_allclose(seen[0][:, 0, 0, 0], [1 / 3, 1.0, 0.75], atol=1e-6)


@pytest.mark.parametrize("color", ["bgr", "rgb"])
def test_luma_chroma_keeps_a_frame_whose_chroma_is_flat(color):
    frame = np.dstack([np.tile(np.linspace(40, 220, 64), (48, 1))] * 3).astype(np.uint8)
    frame[..., 0] = np.clip(frame[..., 0].astype(int) + 20, 0, 255)  # a tint, the same all over
    back = LumaChroma().denoise(frame, color, np.empty_like(frame), identity)
    assert np.abs(back.astype(int) - frame).max() <= 2


def test_luma_chroma_calls_the_model_once_on_the_luminance():
    calls = []
    frame = colour_ramp()
    LumaChroma().denoise(frame, "bgr", np.empty_like(frame),
                         lambda b: calls.append(b.shape) or np.array(b))
    assert calls == [(1, 48, 64, 1)]
    luma = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)[..., 0]
    seen = []
    LumaChroma().denoise(frame, "bgr", np.empty_like(frame),
                         lambda b: seen.append(np.array(b)) or np.array(b))
    np.testing.assert_array_equal(seen[0][0, ..., 0], luma)


@pytest.fixture(scope="module")
def models() -> dict[str, Denoiser]:
    return {name: rt.load(pretrained_path(name, None, "int8"))
            for name in ("live", "live-camera")}


def noisy_photo(setting: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's `chelsea` (RGB) and a noisy BGR uint8 copy: camera `dim` or sigma 25."""
    clean = data.chelsea()
    unit = clean.astype(np.float32) / 255
    rng = np.random.default_rng(0)
    if setting == "dim":
        peak, read = PRESETS["dim"]
        noisy = CameraNoise((peak, peak), (read, read)).one(unit, rng)
    else:
        noisy = unit + rng.normal(0, 25 / 255, unit.shape).astype(np.float32)
    noisy8 = np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)
    return clean, cv2.cvtColor(noisy8, cv2.COLOR_RGB2BGR)


def psnr_of(model: Denoiser, way: str, clean: np.ndarray, noisy: np.ndarray) -> float:
    model.colour_planes = way
    return cv2.PSNR(cv2.cvtColor(model.denoise(noisy), cv2.COLOR_BGR2RGB), clean)


def test_a_camera_model_serves_a_colour_cameras_frame_by_luma_and_chroma(models):
    """The colour camera's chroma noise, which plane by plane left (BENCHMARKS.md: +7.6 dB)."""
    model = models["live-camera"]
    assert model.colour_planes == "luma-chroma"
    clean, noisy = noisy_photo("dim")
    by_planes, by_luma = psnr_of(model, "rgb", clean, noisy), psnr_of(model, "luma-chroma",
                                                                        clean, noisy)
    assert by_luma > by_planes + 5.0, (by_luma, by_planes)


def test_a_gaussian_model_serves_colour_noise_in_opponent_planes(models):
    model = models["live"]
    assert model.colour_planes == "opponent"
    clean, noisy = noisy_photo("sigma 25")
    assert psnr_of(model, "opponent", clean, noisy) >= psnr_of(model, "rgb", clean, noisy) + 0.1


def test_any_other_gray_denoiser_keeps_plane_by_plane(models):
    manifest = models["live"].manifest
    jpeg = manifest.model_copy(update={"training": manifest.training.model_copy(
        update={"noise": "jpeg:30-90"})})
    assert Denoiser(models["live"].session, jpeg).colour_planes == "rgb"


@pytest.mark.parametrize("way", list(COLOUR_WAYS))
@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (7, 2, 3), (33, 47, 3)])
def test_every_way_takes_any_frame_size_and_both_colour_orders(models, way, shape):
    model = models["live-camera"]
    model.colour_planes = way
    frame = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    out = model.denoise(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    as_rgb = model.denoise(np.ascontiguousarray(frame[..., ::-1]), color="rgb")
    assert np.abs(as_rgb[..., ::-1].astype(int) - out).max() <= 1
    unit = model.denoise(frame.astype(np.float64) / 255)
    assert unit.shape == frame.shape and unit.dtype == np.float64


@pytest.mark.parametrize("way", list(COLOUR_WAYS))
def test_float_frames_denoise_as_well_as_8_bit_ones(models, way):
    """Float frames keep their planes as floats, 8-bit ones as 8-bit levels: within 0.1 dB."""
    model = models["live"]
    model.colour_planes = way
    clean, noisy = noisy_photo("sigma 25")
    as_levels = model.denoise(noisy)
    as_floats = np.clip(np.rint(model.denoise(noisy.astype(np.float32) / 255) * 255), 0, 255)
    psnr = [cv2.PSNR(cv2.cvtColor(x.astype(np.uint8), cv2.COLOR_BGR2RGB), clean)
            for x in (as_levels, as_floats)]
    assert abs(psnr[0] - psnr[1]) <= 0.1, psnr


@pytest.mark.parametrize("way", list(COLOUR_WAYS))
def test_a_large_colour_frame_in_tiles_is_the_whole_frames(models, way):
    model = rt.load(pretrained_path("live-camera", None, "int8"))
    model.colour_planes = way
    _, noisy = noisy_photo("dim")
    whole = model.denoise(noisy)
    model.tile_pixels = 96 * 96
    np.testing.assert_array_equal(model.denoise(noisy), whole)


def test_the_ways_reuse_their_buffers(models):
    model = models["live-camera"]
    model.colour_planes = "luma-chroma"
    frame = colour_ramp()
    out = np.empty_like(frame)
    model.denoise(frame, out=out)
    kept = model._colour._buffer.names()
    assert model.denoise(frame, out=out) is out
    assert all(model._colour._buffer.names()[name] is array for name, array in kept.items())


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_luma_chroma_allocates_nothing_frame_after_frame(dtype):
    """The edge's rule: after a size's first frame, only Python's small change, no arrays."""
    frame = cv2.resize(data.chelsea(), (640, 480))
    frame = frame if dtype == np.uint8 else (frame / 255).astype(dtype)
    luma = np.empty((1, 480, 640, 1), dtype)
    way, out = LumaChroma(), np.empty_like(frame)

    def model(batch: np.ndarray) -> np.ndarray:
        np.copyto(luma, batch)
        return luma

    way.denoise(frame, "bgr", out, model)
    tracemalloc.start()
    try:
        way.denoise(frame, "bgr", out, model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < frame.nbytes / 10


def test_an_unknown_way_is_one_line(models):
    with pytest.raises(UserError, match="unknown colour planes 'lab'; use one of rgb, opponent"):
        models["live"].colour_planes = "lab"


def test_a_colour_model_refuses_colour_planes(models):
    manifest = models["live"].manifest
    colour = manifest.model_copy(update={"input": manifest.input.model_copy(
        update={"channels": 3})})
    model = Denoiser(models["live"].session, colour)
    with pytest.raises(UserError, match="this model takes colour frames itself"):
        model.colour_planes = "rgb"


def test_a_temporal_model_denoises_colour_frames_in_its_planes():
    model = rt.load(pretrained_path("live-video", None, "int8"))
    assert model.colour_planes == "opponent"
    _, noisy = noisy_photo("sigma 25")
    first, second = model.denoise(noisy), model.denoise(noisy)
    assert first.shape == second.shape == noisy.shape and not np.array_equal(first, noisy)


def test_denoise_and_run_take_colour_planes(tmp_path):
    _, noisy = noisy_photo("dim")
    cv2.imwrite(str(tmp_path / "cat.png"), noisy)
    for way in ("rgb", "luma-chroma"):
        code, _, err = run_cli("denoise", "--pretrained", "live-camera", "--colour-planes", way,
                               str(tmp_path / "cat.png"), "--out", str(tmp_path / way))
        assert code == 0, err
    by_planes = cv2.imread(str(tmp_path / "rgb" / "cat.png"))
    by_luma = cv2.imread(str(tmp_path / "luma-chroma" / "cat.png"))
    assert not np.array_equal(by_planes, by_luma)
    code, _, err = run_cli("run", "--pretrained", "live", "--source", str(tmp_path / "rgb"),
                           "--task", "score", "--colour-planes", "rgb")
    assert code == 2 and "--colour-planes is how a gray model denoises" in err
    code, _, err = run_cli("run", "--pretrained", "live", "--source", str(tmp_path / "rgb"),
                           "--gray", "--colour-planes", "rgb")
    assert code == 2 and "--gray reads gray frames" in err


@pytest.mark.parametrize("way", list(COLOUR_WAYS))
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_a_gray_frame_stored_as_colour_is_denoised_once_as_gray(models, way, dtype,
                                                                 monkeypatch):
    """A gray video or an IR camera's frames: the colour planes took three planes' work, and
    the opponent ones left a tint (up to 5 levels between channels). MJPEG's decoded planes are
    a few levels apart: within GRAY_SPREAD they are gray."""
    model = models["live"]
    model.colour_planes = way
    calls, run = [], model.session.run
    monkeypatch.setattr(model.session, "run", lambda x: calls.append(x.shape) or run(x))
    camera = data.camera()[:96, :128].astype(np.float32)
    noisy = np.clip(camera + np.random.default_rng(0).normal(0, 20, camera.shape), 0, 255)
    gray = np.rint(noisy).astype(np.uint8)
    gray = gray if dtype == np.uint8 else gray.astype(np.float32) / 255
    colour = np.repeat(gray[..., None], 3, axis=2)
    out = model.denoise(colour)
    assert calls == [(1, 96, 128, 1)]  # one gray plane
    assert np.array_equal(out, np.repeat(model.denoise(gray)[..., None], 3, axis=2))
    white = 255 if dtype == np.uint8 else 1.0
    noisy_planes = colour.copy()  # as MJPEG decodes a gray video: planes 2-3 levels apart
    noisy_planes[::2, ::3, 2] = np.clip(noisy_planes[::2, ::3, 2] + white * 3 / 255, 0, white)
    calls.clear()
    assert np.ptp(model.denoise(noisy_planes), axis=2).max() == 0 and len(calls) == 1
    colour[5, 7, 1] = (colour[5, 7, 0] + white / 2) % white  # colour: the planes' way again
    calls.clear()
    model.denoise(colour)
    assert calls == [(1, 96, 128, 1)] if way == "luma-chroma" else calls == [(3, 96, 128, 1)]
