"""H.264 noise (train/h264.py): real libx264 through PyAV, coding a clip as a camera streams it."""

from __future__ import annotations

import numpy as np
import pytest

from edgeae.core.errors import UserError
from edgeae.train.h264 import h264_roundtrip
from edgeae.train.noise_spec import parse_noise

FRAMES = 6


def static_noisy_clip(channels: int = 1, size: tuple[int, int] = (48, 64),
                      sigma: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy): a still ramp seen FRAMES times, fresh Gaussian noise in every frame."""
    ramp = np.linspace(0.2, 0.8, size[1], dtype=np.float32)
    clean = np.broadcast_to(ramp[None, None, :, None], (FRAMES, *size, channels)).copy()
    noise = np.random.default_rng(0).normal(0.0, sigma, clean.shape)
    return clean, np.clip(clean + noise, 0.0, 1.0).astype(np.float32)


def frame_change(frames: np.ndarray) -> float:
    """Mean absolute change between consecutive frames: of a still scene, only its noise's."""
    return float(np.abs(np.diff(frames, axis=0)).mean())


def test_a_clip_coded_as_one_stream_carries_its_noise_from_frame_to_frame():
    _, noisy = static_noisy_clip()
    stream = h264_roundtrip(noisy, 35)
    alone = np.concatenate([h264_roundtrip(frame[None], 35) for frame in noisy])
    # measured: 0.056 noisy, 0.040 each frame coded alone, 0.018 as one stream
    assert frame_change(alone) > 0.6 * frame_change(noisy)  # intra-coded: its own noise
    assert frame_change(stream) < 0.6 * frame_change(alone)  # predicted: copied forward
    np.testing.assert_array_equal(stream, h264_roundtrip(noisy, 35))  # one thread: repeatable


def test_a_higher_crf_codes_further_from_the_input_on_the_8_bit_grid():
    _, noisy = static_noisy_clip()
    errors = [float(np.abs(h264_roundtrip(noisy, crf) - noisy).mean()) for crf in (0, 23, 40)]
    assert errors[0] < 0.004 < errors[1] < errors[2]  # CRF 0: lossless but for 4:2:0 range
    coded = h264_roundtrip(noisy, 23)
    assert coded.dtype == np.float32
    np.testing.assert_allclose(coded * 255, np.rint(coded * 255), atol=1e-4)


@pytest.mark.parametrize("channels", [1, 3])
def test_odd_sides_and_colour_come_back_the_same_shape(channels):
    _, noisy = static_noisy_clip(channels, size=(31, 45))
    coded = h264_roundtrip(noisy, 28)
    assert coded.shape == noisy.shape and 0 <= coded.min() and coded.max() <= 1
    assert np.abs(coded - noisy).mean() < 0.05


def test_the_spec_chains_after_the_camera_and_checks_its_values():
    spec = parse_noise("camera:dim+h264:23-35")
    assert str(spec) == "camera:80,3,0+h264:23-35,1" and parse_noise(str(spec)) == spec
    assert str(parse_noise("h264:30,8")) == "h264:30,8"
    with pytest.raises(UserError, match="h264 values must satisfy 0 <= LO <= HI <= 51"):
        parse_noise("h264:52")
    with pytest.raises(UserError, match="h264 takes a CRF, then an optional stream length"):
        parse_noise("h264")
    for length in ("0", "4-8", "2.5", "33"):
        with pytest.raises(UserError, match="stream length is a whole number of frames, 1-32"):
            parse_noise(f"h264:23,{length}")
    panned = parse_noise("camera:dim+h264:18-30,4,0-4")
    assert str(panned).endswith("h264:18-30,4,0-4") and parse_noise(str(panned)) == panned
    assert parse_noise("h264:30,8,0") == parse_noise("h264:30,8")
    with pytest.raises(UserError, match="pan is a speed in pixels a frame, at most 16"):
        parse_noise("h264:23,4,17")
    with pytest.raises(UserError, match="optional stream length in frames and pan speed"):
        parse_noise("h264:23,4,1,1")


def test_without_pyav_the_spec_says_how_to_get_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "av" else real(name, *a))
    with pytest.raises(UserError, match="pip install av"):
        parse_noise("gaussian:25+h264:28")


def test_training_clips_are_coded_as_streams_and_stills_as_single_frames():
    import tensorflow as tf

    from edgeae.train.noise import apply_noise_to_frames

    spec = parse_noise("gaussian:12+h264:35")
    clean, _ = static_noisy_clip()
    clips = np.concatenate(list(clean), axis=-1)[None]  # (1, H, W, K): frames on channels
    seed = tf.constant([3, 4])
    noisy = apply_noise_to_frames(spec, tf.constant(clips), FRAMES, seed).numpy()
    assert noisy.shape == clips.shape
    np.testing.assert_array_equal(noisy, apply_noise_to_frames(spec, tf.constant(clips),
                                                               FRAMES, seed).numpy())
    stills = spec(tf.constant(clean), seed).numpy()  # a batch of stills: each coded alone
    # measured over five seeds: the clip's frames change 0.35-0.56 times as much as the stills'
    assert frame_change(np.moveaxis(noisy[0], -1, 0)) < 0.7 * frame_change(stills)


def test_a_still_through_a_stream_step_is_the_last_frame_of_a_still_cameras_stream():
    import tensorflow as tf

    clean, _ = static_noisy_clip()
    still, seed = tf.constant(clean[:2]), tf.constant([5, 6])  # two stills of the same ramp
    last = parse_noise(f"gaussian:12+h264:35,{FRAMES}")(still, seed).numpy()
    assert last.shape == still.shape
    # the same stills stacked FRAMES times as clips (fresh noise in each frame) and coded as
    # streams: the step keeps each clip's last frame
    clips = tf.tile(still, [1, FRAMES, 1, 1])
    coded = parse_noise("gaussian:12+h264:35")(clips, seed, FRAMES).numpy()
    np.testing.assert_array_equal(last, coded[:, -still.shape[1]:])
    intra = parse_noise("gaussian:12+h264:35")(still, seed).numpy()
    assert np.abs(last - intra).mean() > 0.01  # not the still coded alone
    np.testing.assert_array_equal(last, parse_noise(f"gaussian:12+h264:35,{FRAMES}")(
        still, seed).numpy())  # seeded


def smooth_texture(size: int = 96) -> np.ndarray:
    """A (1, size, size, 1) blurred random texture in [0, 1]: phase correlation can track it."""
    import cv2

    field = np.random.default_rng(1).random((size, size)).astype(np.float32)
    return cv2.GaussianBlur(field, (0, 0), 3)[None, ..., None]


def test_a_panned_stream_moves_by_its_speed_and_ends_on_the_still_itself():
    import cv2
    import tensorflow as tf

    from edgeae.train.noise import _panned_clip

    still = smooth_texture()
    for seed in range(3):
        clip = _panned_clip(tf.constant(still), 4, (2.0, 2.0), tf.constant([seed, 7], tf.int64))
        frames = clip.numpy()[0, ..., 0].reshape(4, 96, 96).astype(np.float64)
        np.testing.assert_array_equal(frames[-1], still[0, ..., 0])
        window = cv2.createHanningWindow((96, 96), cv2.CV_64F)
        steps = np.array([cv2.phaseCorrelate(frames[k], frames[k + 1], window)[0]
                          for k in range(3)])
        # measured over these seeds: each step 1.8-2.0 pixels, within 0.1 of its clip's mean
        assert np.all(np.abs(np.hypot(*steps.T) - 2.0) < 0.6)
        assert np.all(np.abs(steps - steps.mean(axis=0)) < 0.5)


def test_a_panned_still_stream_is_coded_from_moved_frames_and_pan_0_is_the_still_stream():
    import tensorflow as tf

    still, seed = tf.constant(np.repeat(smooth_texture(64), 2, axis=0)), tf.constant([5, 6])
    plain = parse_noise(f"gaussian:12+h264:35,{FRAMES}")(still, seed).numpy()
    np.testing.assert_array_equal(plain, parse_noise(f"gaussian:12+h264:35,{FRAMES},0")(
        still, seed).numpy())
    panned = parse_noise(f"gaussian:12+h264:35,{FRAMES},3")(still, seed).numpy()
    assert panned.shape == plain.shape
    np.testing.assert_array_equal(panned, parse_noise(f"gaussian:12+h264:35,{FRAMES},3")(
        still, seed).numpy())  # seeded
    assert np.abs(panned - plain).mean() > 0.005  # predicted from moved frames, not still ones
