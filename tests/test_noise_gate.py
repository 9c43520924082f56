"""Telling white noise from a camera's (runtime/noise_kind.py), and the pairs it chooses in."""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc

import cv2
import numpy as np
import pytest
from skimage import data

import edgeae.runtime as rt
from edgeae.core.errors import UserError
from edgeae.runtime import gated
from edgeae.runtime.gated import EVERY, STRONG_FROM, NoiseGated
from edgeae.runtime.noise_kind import (
    CORRELATED_ABOVE,
    MEASURED_PIXELS,
    NoiseMeter,
    middle,
    scale_ratio,
)
from edgeae.runtime.pretrained import GATED, pretrained_path, pretrained_paths
from edgeae.train.camera import PRESETS, CameraNoise
from edgeae.train.clips import clip_from_still

from conftest import run_cli

CLEAN = data.camera()[::2, ::2]  # 256x256 gray, bundled with scikit-image


def gaussian(sigma: float, seed: int = 0, image: np.ndarray = CLEAN) -> np.ndarray:
    noisy = image + np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def camera(level: str, seed: int = 0, image: np.ndarray = CLEAN) -> np.ndarray:
    peak, read = PRESETS[level]
    noisy = CameraNoise((peak, peak), (read, read))(
        image[None, ..., None].astype(np.float32) / 255, np.random.default_rng(seed))[0, ..., 0]
    return np.rint(noisy * 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_white_noise_is_told_from_every_camera_preset(sigma):
    """The cut sits between them with room on both sides on an image the cut was not chosen on."""
    assert scale_ratio(gaussian(sigma)) < CORRELATED_ABOVE - 0.3
    for level in PRESETS:
        assert scale_ratio(camera(level)) > CORRELATED_ABOVE + 0.2, level


def test_the_ratio_is_one_for_pure_white_noise_and_the_same_in_any_pixel_type():
    noise = np.random.default_rng(1).normal(128, 20, (240, 320))
    assert scale_ratio(noise.astype(np.float32) / 255) == pytest.approx(1.0, abs=0.05)
    blurred = cv2.GaussianBlur(noise, (0, 0), 1.0)  # neighbours correlated, as demosaicing does
    assert scale_ratio(blurred.astype(np.float32) / 255) > 2.5
    frame = camera("dim")
    as_float, as_16 = frame.astype(np.float32) / 255, frame.astype(np.uint16) * 257
    colour = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    for other in (as_float, as_16, colour, frame[..., None]):
        assert scale_ratio(other) == pytest.approx(scale_ratio(frame), rel=1e-3)


@pytest.mark.parametrize("shape", [(480, 640), (480, 640, 3)])
def test_a_stream_measures_its_frames_in_kept_arrays(shape):
    """After its first frame a NoiseMeter makes no frame-sized array (numpy's casting buffer
    of 64 kB aside), as the rest of a live loop's hot path."""
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    meter = NoiseMeter()
    first = meter.ratio(frame)
    tracemalloc.start()
    again = meter.ratio(frame)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert again == first == scale_ratio(frame)
    assert peak < frame.size * 4 / 10, peak  # a tenth of one float copy of the frame


def test_a_large_photo_is_measured_on_its_middle_in_bounded_memory():
    """A 12-megapixel colour photo's whole would take 0.2 GB of buffers for one number."""
    photo = cv2.resize(cv2.cvtColor(camera("dim"), cv2.COLOR_GRAY2BGR), (4000, 3000),
                       interpolation=cv2.INTER_NEAREST)
    tracemalloc.start()
    ratio = scale_ratio(photo)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    crop = middle(photo)
    assert crop.shape[0] * crop.shape[1] <= MEASURED_PIXELS < 1.01 * crop.size / 3
    assert ratio == scale_ratio(crop.copy()) and peak < 24 * MEASURED_PIXELS, peak
    small = camera("dim")
    assert middle(small) is small


def test_spreads_measure_how_strong_the_noise_is():
    """White noise's spread at either scale is its median absolute value, 0.6745 sigma; a
    camera's grows as the light falls, on the same scene."""
    noise = np.random.default_rng(2).normal(0, 20, (480, 640)).astype(np.float32) / 255
    fine, coarse = NoiseMeter().spreads(noise)
    assert fine == pytest.approx(0.6745 * 20, rel=0.03)
    assert coarse == pytest.approx(0.6745 * 20, rel=0.05)
    levels = [NoiseMeter().spreads(camera(level))[0] for level in PRESETS]
    assert list(PRESETS) == ["bright", "indoor", "dim", "night"]
    assert levels == sorted(levels) and levels[-1] > 2 * levels[0], levels
    assert NoiseMeter().spreads(np.zeros((3, 50), np.uint8)) is None


def test_the_flattest_blocks_see_white_noise_under_a_textured_scene():
    """Measured whole, a nearly clean image's own texture reads as correlated noise; on its
    flattest quarter of blocks the faint white noise shows. A camera's grain reads as
    correlated either way, and a frame of fewer than 4 blocks is measured whole."""
    sky = np.full((256, 256), 120.0)
    sky[:, 64:] = cv2.GaussianBlur(np.random.default_rng(5).normal(120, 40, (256, 192)),
                                   (0, 0), 1.0)  # fine texture on three quarters, one flat
    nearly_clean = gaussian(2, image=sky)
    whole, flat = NoiseMeter("whole"), NoiseMeter("flat")
    assert whole.ratio(nearly_clean) > CORRELATED_ABOVE > flat.ratio(nearly_clean) + 0.3
    for level in PRESETS:
        assert flat.ratio(camera(level)) > CORRELATED_ABOVE, level
    small = camera("dim")[:60, :60]
    assert flat.ratio(small) == whole.ratio(small)
    with pytest.raises(ValueError, match="where must be one of"):
        NoiseMeter("middle")


def test_a_frame_too_small_to_measure_counts_as_white():
    assert scale_ratio(np.zeros((3, 50), np.uint8)) == 1.0
    assert scale_ratio(np.zeros((1, 1, 3), np.uint8)) < CORRELATED_ABOVE


def open_pair(name: str) -> NoiseGated:
    return NoiseGated(*(rt.load(pretrained_path(m, "onnxruntime"), task="denoise")
                        for m in GATED[name]), names=GATED[name])


def test_each_frame_goes_to_the_model_its_noise_suits_bit_for_bit():
    pair, alone = open_pair("live-auto"), {m: rt.load(pretrained_path(m, "onnxruntime"))
                                           for m in GATED["live-auto"]}
    for frame, kind, model in ((camera("dim"), "correlated", "live-camera"),
                               (gaussian(25), "white", "live")):
        pair.reset()
        np.testing.assert_array_equal(pair.denoise(frame), alone[model].denoise(frame))
        assert pair.chosen == kind
    assert pair.counts == {"white": 1, "correlated": 1, "strong": 0}


def panning(level: str, frames: int = 12) -> list[np.ndarray]:
    """A camera panning over CLEAN with an object moving, through the camera noise at `level`."""
    clip = clip_from_still(CLEAN[..., None], frames, (128, 160), np.random.default_rng(1),
                           objects=1).frames[..., 0]
    return [camera(level, seed, image=f) for seed, f in enumerate(clip)]


def test_strong_grain_on_a_stream_goes_to_the_recurrent_member_from_its_second_frame():
    """As `live-camera-video` alone from that frame, bit for bit; the first frame (a still) and
    fainter grain stay with `live-camera`."""
    pair = open_pair("live-auto")
    alone = {m: rt.load(pretrained_path(m, "onnxruntime"), task="denoise")
             for m in ("live-camera", "live-camera-video")}
    night = panning("night")
    assert NoiseMeter().spreads(night[0])[0] >= STRONG_FROM
    pair.reset()
    chosen, outputs = [], []
    for frame in night:
        outputs.append(pair.denoise(frame))
        chosen.append(pair.chosen)
    assert chosen == ["correlated"] + ["strong"] * (len(night) - 1)
    np.testing.assert_array_equal(outputs[0], alone["live-camera"].denoise(night[0]))
    alone["live-camera-video"].reset()
    for frame, out in zip(night[1:], outputs[1:]):
        np.testing.assert_array_equal(out, alone["live-camera-video"].denoise(frame))
    bright = panning("bright")
    assert NoiseMeter().spreads(bright[0])[0] < STRONG_FROM
    pair.reset()
    for frame in bright:
        pair.denoise(frame)
        assert pair.chosen == "correlated"
    assert pair.temporal and pair.counts["strong"] == len(night) - 1


def test_only_the_third_member_of_a_pair_may_be_temporal():
    video, live = (rt.load(pretrained_path(m, "onnxruntime"), task="denoise")
                   for m in ("live-camera-video", "live"))
    with pytest.raises(UserError, match="only its third may be temporal"):
        NoiseGated(live, video)
    assert not open_pair("quality-auto").temporal


def test_a_pair_without_its_third_members_file_on_a_backend_is_two(caplog):
    """ncnn runs single-frame models only: `live-auto` there is `live` and `live-camera`."""
    from edgeae.runtime import pretrained

    pretrained._say_missing.cache_clear()  # said once a process: this test's own line
    caplog.set_level("WARNING", "edgeae")
    paths = pretrained_paths("live-auto", "ncnn", "fp32")
    assert [p.name for p in paths] == ["live_fp32.param", "live-camera_fp32.param"]
    assert pretrained_paths("live-auto", "ncnn", "fp32") == paths
    assert caplog.text.count("live-camera-video ships no file for this backend") == 1


def test_a_pair_refuses_what_its_models_refuse_in_one_line():
    pair = open_pair("live-auto")
    for frame, message in ((None, "no frame"), (np.zeros((0, 4), np.uint8), "empty"),
                           (np.full((8, 8), 200.0), "float frames hold pixels in")):
        with pytest.raises(UserError, match=message):
            pair.denoise(frame)
    pair.denoise(gaussian(25))
    refused = [lambda: pair.denoise(gaussian(25), color="BGR"),
               lambda: pair.denoise(gaussian(25), out=np.empty((3, 3), np.uint8)),
               lambda: pair.denoise(np.zeros((16, 16, 4), np.uint8))]
    for call in refused:  # neither counted nor measured into the stream's noise
        with pytest.raises(UserError):
            call()
    assert pair.counts == {"white": 1, "correlated": 0, "strong": 0} and pair._seen == 1


def test_a_stream_keeps_its_choice_between_measured_frames_and_a_reset_starts_again():
    pair = open_pair("live-auto")
    pair.denoise(camera("night"))
    assert pair.chosen == "correlated"  # a stream's first frame: nothing before it to average
    for seed in range(1, EVERY):  # not measured: a stream's noise does not change frame to frame
        pair.denoise(gaussian(25, seed))
        assert pair.chosen == "strong"
    pair.reset()
    pair.denoise(gaussian(25))
    assert pair.chosen == "white"


def test_colour_planes_and_tiles_reach_every_member():
    pair = open_pair("live-auto")
    assert {m.colour_planes for m in pair.models.values()} == {"opponent", "luma-chroma"}
    pair.colour_planes, pair.tile_pixels = "rgb", 20_000
    assert [(m.colour_planes, m.tile_pixels) for m in pair.models.values()] == [("rgb", 20_000)] * 3
    frame = cv2.cvtColor(camera("dim"), cv2.COLOR_GRAY2BGR)
    frame[..., 2] = camera("dim", seed=3)  # a colour frame, denoised in tiles, plane by plane
    out = pair.denoise(frame)
    assert out.shape == frame.shape and pair.chosen == "correlated"


def test_denoise_with_a_pair_picks_per_photo(tmp_path, caplog, monkeypatch):
    clean = data.camera()[::4, ::4]
    cv2.imwrite(str(tmp_path / "camera.png"), camera("dim", image=clean))
    cv2.imwrite(str(tmp_path / "white.png"), gaussian(25, image=clean))
    caplog.set_level("INFO", "edgeae")
    monkeypatch.setattr(gated, "_last_said", [])  # said once a process: this test's own lines
    code, out, err = run_cli("denoise", tmp_path / "camera.png", tmp_path / "white.png",
                             "--pretrained", "quality-auto", "--backend", "onnxruntime",
                             "--out", tmp_path / "out")
    assert code == 0, err
    said = caplog.text
    assert "quality-camera_fp32.onnx denoises" in said and "quality_fp32.onnx denoises" in said
    for name, model in (("camera", "quality-camera"), ("white", "quality")):
        alone = rt.load(pretrained_path(model, "onnxruntime")).denoise(
            cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_GRAYSCALE))
        np.testing.assert_array_equal(
            cv2.imread(str(tmp_path / "out" / f"{name}.png"), cv2.IMREAD_GRAYSCALE), alone)


def test_worker_processes_say_their_choice_as_the_command_logs(tmp_path):
    """`denoise --workers 2` in its own process: the spawned workers' INFO lines reach stderr in
    the command's format (without their own logging they were dropped)."""
    clean = data.camera()[::4, ::4]
    for name, image in (("a", camera("dim", image=clean)), ("b", gaussian(25, image=clean)),
                        ("c", camera("night", image=clean)), ("d", gaussian(15, image=clean))):
        cv2.imwrite(str(tmp_path / f"{name}.png"), image)
    done = subprocess.run([sys.executable, "-m", "edgeae", "denoise", *(
        str(tmp_path / f"{n}.png") for n in "abcd"), "--pretrained", "live-auto", "--backend",
        "onnxruntime", "--workers", "2", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    said = set(re.findall(r"INFO edgeae.runtime.gated: .* denoises", done.stderr))
    assert said == {"INFO edgeae.runtime.gated: the noise looks like a camera's (correlated): "
                    "live-camera_int8.onnx denoises",
                    "INFO edgeae.runtime.gated: the noise looks white (Gaussian-like): "
                    "live_int8.onnx denoises"}, done.stderr


def test_a_change_of_model_is_said_once_however_many_frames_or_pairs(caplog, monkeypatch):
    monkeypatch.setattr(gated, "_last_said", [])
    caplog.set_level("INFO", "edgeae")
    for _ in range(2):  # e.g. `run --threads auto`'s trial runs, each opening the pair
        pair = open_pair("live-auto")
        for seed in range(3):
            pair.reset()
            pair.denoise(camera("dim", seed))
    pair.reset()
    pair.denoise(gaussian(25))
    said = [r.getMessage() for r in caplog.records if r.name == "edgeae.runtime.gated"]
    assert said == ["the noise looks like a camera's (correlated): live-camera denoises",
                    "the noise looks white (Gaussian-like): live denoises"]


def test_run_refuses_a_pair_for_anything_but_denoising(tmp_path):
    cv2.imwrite(str(tmp_path / "frame.png"), camera("dim"))
    code, _, err = run_cli("run", "--pretrained", "live-auto", "--task", "score",
                           "--source", tmp_path)
    assert code == 2 and "cannot score frames" in err and "Traceback" not in err


def test_run_with_a_pair_denoises_a_cameras_frames_with_its_camera_models(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), camera("night", seed=i))
    code, out, err = run_cli("run", "--pretrained", "live-auto", "--backend", "onnxruntime",
                             "--source", frames, "--output", tmp_path / "out", "--no-overlay")
    assert code == 0, err
    first, then = (rt.load(pretrained_path(m, "onnxruntime"))
                   for m in ("live-camera", "live-camera-video"))
    written = sorted((tmp_path / "out").iterdir())
    assert len(written) == 3  # the first frame by live-camera; strong grain's stream after it
    for i, path in enumerate(written):
        np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE),
                                      (then if i else first).denoise(camera("night", seed=i)))


def test_the_page_and_status_name_every_file_of_a_pair():
    from argparse import Namespace

    from edgeae.app.commands.run import _model_name

    args = Namespace(pretrained="live-auto", backend="onnxruntime", precision=None)
    path = pretrained_path("live", "onnxruntime")
    assert _model_name(args, path) == ("live-auto (live_int8.onnx or live-camera_int8.onnx or "
                                       "live-camera-video_int8.onnx)")
    assert _model_name(Namespace(pretrained="live", backend=None, precision=None),
                       path) == "live_int8.onnx"
