"""`edgeae adapt`: frame-to-frame pairs from real optical flow, and tuning a real model on them."""

from __future__ import annotations

import dataclasses
import json
from typing import get_args

import cv2
import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.images import to_uint8
from edgeae.core.manifest import SCHEMA_VERSION, LossSpace, Targets, Warp
from edgeae.core.modeldir import ModelDir
from edgeae.export.options import Tolerances
from edgeae.runtime.backends import OnnxSession
from edgeae.runtime.pretrained import NAMES, PRETRAINED_DIR
from edgeae.train.camera import PRESETS, CameraNoise
from edgeae.train.clips import clip_from_still
from edgeae.train.frame_pairs import (
    AVERAGED_IN,
    NEIGHBOURS,
    WARPS,
    FlowAligner,
    FramePairs,
    frame_pairs,
    paired_frames,
)
from edgeae.train.settings import BRIGHTNESS_MODELS

from conftest import run_cli, write_folder, write_video


def texture(size: int = 160, seed: int = 0) -> np.ndarray:
    """A uint8 gray still with detail at several scales (something the flow can follow)."""
    rng = np.random.default_rng(seed)
    layers = [cv2.resize(rng.random((size // s, size // s), np.float32), (size, size),
                         interpolation=cv2.INTER_CUBIC) for s in (32, 8, 4)]
    image = sum(layers) / len(layers)
    image = (image - image.min()) / np.ptp(image)
    return np.rint(image * 255).astype(np.uint8)[..., None]


def noisy_footage(folder, n: int = 14, size: tuple[int, int] = (64, 64), level: str = "night"):
    """A panning clip of `texture()` through the camera noise model, as PNG frames."""
    rng = np.random.default_rng(1)
    clean = clip_from_still(texture(), n, size, rng, objects=1).frames
    peak, read = PRESETS[level]
    camera = CameraNoise((peak, peak), (read, read))
    noisy = [np.clip(camera.one(f.astype(np.float32) / 255, rng) * 255 + 0.5, 0, 255)
             for f in clean]
    return write_folder(folder, np.stack(noisy).astype(np.uint8))


def test_the_flow_aligns_the_next_frame_and_masks_what_moved_on_its_own():
    still = texture()
    first = still[40:104, 40:104, 0]
    shift = np.float32([[1, 0, 2.5], [0, 1, -1.25]])  # the camera moves by (-2.5, 1.25) px
    second = cv2.warpAffine(still[..., 0], shift, still.shape[1::-1])[40:104, 40:104].copy()
    second[8:24, 8:24] = 255  # an object that appears in the second frame only
    warped, mask = FlowAligner("cubic").align(first, second, second[..., None])
    inside = mask.astype(bool)
    error = np.abs(warped[..., 0].astype(float) - first)
    assert inside.mean() > 0.6
    assert np.median(error[inside]) < 4 and np.median(error[~inside]) > np.median(error[inside])
    assert mask[10:22, 10:22].mean() < 0.2  # the new object is left out of the loss


def sampled_at(fine: np.ndarray, dx: int, dy: int, factor: int = 4) -> np.ndarray:
    """`fine` moved by (dx, dy) of its pixels, then area-sampled down by `factor`: a camera
    frame moved by a fraction of a pixel, as sharp as any other (no interpolation in it)."""
    h, w = (side // factor - 4 for side in fine.shape[:2])
    window = fine[8 + dy:8 + dy + h * factor, 8 + dx:8 + dx + w * factor]
    return cv2.resize(window, (w, h), interpolation=cv2.INTER_AREA)


def test_a_cubic_warp_keeps_more_of_the_next_frame_than_a_bilinear_one():
    """The target's blur is what adapt learns: bicubic resampling must lose less detail."""
    assert set(WARPS) == set(get_args(Warp))  # a row for every warp the settings offer
    fine = cv2.resize(texture(160)[..., 0], (640, 640), interpolation=cv2.INTER_CUBIC)
    first, second = sampled_at(fine, 0, 0), sampled_at(fine, 6, -2)  # (1.5, -0.5) px
    errors = {}
    for warp in WARPS:
        warped, mask = FlowAligner(warp).align(first, second, second[..., None])
        inside = mask.astype(bool)
        assert inside.mean() > 0.6
        errors[warp] = np.abs(warped[..., 0].astype(float) - first)[inside].mean()
    assert errors["cubic"] < 0.85 * errors["linear"], errors


def test_a_clip_pans_over_its_still_with_objects_moving_on_their_own():
    still = texture(200)
    clip = clip_from_still(still, 12, (48, 64), np.random.default_rng(0), objects=2)
    assert clip.frames.shape == (12, 48, 64, 1) and clip.frames.dtype == np.uint8
    assert clip.moving.shape == (12, 48, 64) and clip.moving.any(axis=(1, 2)).all()
    centres = [np.argwhere(m).mean(axis=0) for m in clip.moving]
    assert np.abs(np.diff(centres, axis=0)).sum(axis=1).max() > 0.5  # the objects move
    steps = np.abs(np.diff(clip.frames.astype(float), axis=0)).mean(axis=(1, 2, 3))
    assert (steps > 0.2).all() and (steps < 40).all()  # smooth: every frame moves a little
    plain = clip_from_still(still, 12, (48, 64), np.random.default_rng(0))
    assert not plain.moving.any()
    with pytest.raises(ValueError, match="too small"):
        clip_from_still(still, 12, (190, 190), np.random.default_rng(0))


@pytest.mark.parametrize("space", get_args(LossSpace))
def test_the_loss_is_the_masked_squared_error_in_its_space(space):
    """Linear light: both sides through the sRGB curve undone; outputs past [0, 1] stay finite."""
    import tensorflow as tf

    from edgeae.train.adapt import LOSS_SPACES, masked_loss
    from edgeae.train.camera import srgb_to_linear

    assert set(LOSS_SPACES) == set(get_args(LossSpace))  # a row for every space the manifest names

    rng = np.random.default_rng(0)
    target, mask = rng.random((2, 8, 8, 1), np.float32), rng.random((2, 8, 8, 1)) < 0.7
    out = tf.Variable(rng.uniform(-0.2, 1.2, (2, 8, 8, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = masked_loss(space)(np.concatenate([target, mask], -1).astype(np.float32), out)
    to_space = srgb_to_linear if space == "linear" else (lambda x: x)
    error = np.square(to_space(np.clip(out.numpy(), 0, 1) if space == "linear" else out.numpy())
                      - to_space(target))
    expected = [error[i][mask[i]].mean() for i in range(2)]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    assert np.isfinite(tape.gradient(loss, out).numpy()).all()


def test_a_brightness_anchor_adds_the_blurred_error_against_its_output():
    """The extra term is the weighted mean square of the Gaussian-blurred difference (zeros past
    the border, as OpenCV's constant border), so a constant offset costs and fine detail little."""
    from edgeae.train.adapt import BRIGHTNESS_BLUR, BRIGHTNESS_WEIGHT, masked_loss

    sigma, weight = BRIGHTNESS_BLUR, BRIGHTNESS_WEIGHT
    rng = np.random.default_rng(0)
    target, mask = rng.random((2, 24, 24, 1), np.float32), rng.random((2, 24, 24, 1)) < 0.7
    out = rng.random((2, 24, 24, 1), np.float32)
    anchor = out - np.array([0.02, 0.0], np.float32)[:, None, None, None]  # the first: 5 levels
    anchor[1] += np.where(np.indices((24, 24)).sum(0) % 2, 0.05, -0.05)[..., None]  # detail
    plain = masked_loss("srgb")(np.concatenate([target, mask], -1).astype(np.float32), out)
    y = np.concatenate([target, anchor, mask], -1).astype(np.float32)
    anchored = masked_loss("srgb", anchored=True)(y, out).numpy() - plain.numpy()
    taps = cv2.getGaussianKernel(2 * int(np.ceil(3 * sigma)) + 1, sigma)
    blurred = [cv2.sepFilter2D((out - anchor)[i, ..., 0], -1, taps, taps,
                               borderType=cv2.BORDER_CONSTANT) for i in range(2)]
    expected = [weight * np.mean(b ** 2) for b in blurred]
    np.testing.assert_allclose(anchored, expected, rtol=1e-4, atol=1e-7)  # float32 round-off
    assert expected[0] > 1000 * expected[1]  # an offset is held, a checkerboard passes nearly free


def test_pairs_are_consecutive_frames_with_a_mask_each():
    frames = [np.full((32, 32, 1), v, np.uint8) for v in (10, 20, 30)]
    pairs = frame_pairs(frames, [f[..., 0] for f in frames], "cubic")
    assert len(pairs) == 2 and pairs.inputs.shape == pairs.targets.shape == (2, 32, 32, 1)
    assert pairs.masks.shape == (2, 32, 32, 1) and set(np.unique(pairs.masks)) <= {0, 1}
    assert (pairs.inputs[1] == 20).all() and (pairs.targets[1] == 30).all()  # no motion
    both = frame_pairs(frames, [f[..., 0] for f in frames], "cubic", "both")
    assert len(both) == 3 and [int(both.inputs[t].mean()) for t in range(3)] == [10, 20, 30]
    # the ends have one neighbour each; the middle frame learns from the mean of its two
    assert [int(both.targets[t].mean()) for t in range(3)] == [20, 20, 20]


def test_targets_two_frames_apart_pair_every_frame_with_a_neighbour_two_away():
    frames = [np.full((32, 32, 1), v, np.uint8) for v in (10, 20, 30, 40, 50, 60)]
    far = frame_pairs(frames, [f[..., 0] for f in frames], "cubic", "both-2")
    assert [int(far.targets[t].mean()) for t in range(6)] == [30, 40, 30, 40, 30, 40]
    assert paired_frames(3, "both-2") == [0, 2]  # the middle frame has no neighbour two away
    three = frame_pairs(frames[:3], [f[..., 0] for f in frames[:3]], "cubic", "both-2")
    assert len(three) == 2 and [int(three.targets[t].mean()) for t in range(2)] == [30, 10]


def test_on_h264_footage_targets_two_frames_apart_share_less_of_the_inputs_noise():
    """H.264 copies a frame's noise into the next; the frames two away carry less of it."""
    from edgeae.train.h264 import h264_roundtrip

    clean = clip_from_still(texture(), 12, (64, 96), np.random.default_rng(0), objects=0).frames
    rng = np.random.default_rng(0)
    noisy = np.clip(clean / 255 + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32)
    coded = to_uint8(h264_roundtrip(noisy, 23))
    guides = [f[..., 0] for f in clean]  # the flow's best case, so only the noise differs

    def shared(targets):  # correlation of the input's noise with the target's, on the mask
        pairs, quiet = (frame_pairs(list(f), guides, "cubic", targets) for f in (coded, clean))
        on = pairs.masks[..., 0] > 0
        noise = [(a.astype(float) - b)[..., 0][on] for a, b in
                 ((pairs.inputs, quiet.inputs), (pairs.targets, quiet.targets))]
        return np.corrcoef(*noise)[0, 1]

    near, far = shared("both"), shared("both-2")
    assert near > 0.2 and far < 0.5 * near, (near, far)  # measured 0.31 and 0.09


@pytest.mark.parametrize("space", get_args(LossSpace))
def test_two_neighbours_are_averaged_in_the_losss_own_space(space):
    """Linear light's loss must see the mean of the two frames' linear light, not a darker one."""
    from edgeae.train.camera import linear_to_srgb, srgb_to_linear

    assert set(AVERAGED_IN) == set(get_args(LossSpace))
    frames = [np.full((32, 32, 1), v, np.uint8) for v in (40, 100, 220)]
    middle = frame_pairs(frames, [f[..., 0] for f in frames], "cubic", "both", space).targets[1]
    expected = {"srgb": 130, "linear": round(255 * float(linear_to_srgb(
        (srgb_to_linear(np.float32(40 / 255)) + srgb_to_linear(np.float32(220 / 255))) / 2)))}
    assert (middle == expected[space]).all() and expected["linear"] > 160  # 40 and 220: 163


def test_averaging_both_neighbours_halves_the_targets_noise_and_keeps_more_pixels():
    """Noise is independent between frames: the mean of two aligned frames has half its variance."""
    assert set(NEIGHBOURS) == set(get_args(Targets))  # a row for every target the settings offer
    clean = clip_from_still(texture(), 8, (64, 64), np.random.default_rng(0), objects=1).frames
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + rng.normal(0, 12, f.shape) + 0.5, 0, 255).astype(np.uint8)
             for f in clean]
    guides = [f[..., 0] for f in clean]  # a perfect denoiser's frames: the flow's best case
    nearest, both = (frame_pairs(noisy, guides, "cubic", t) for t in ("next", "both"))
    assert (len(nearest), len(both)) == (7, 8)  # every frame has a neighbour with "both"

    def error(pairs, frames):  # mean squared error against the clean frames 1-6, on the mask
        squared = (pairs.targets[frames].astype(float) - clean[1:7]) ** 2 * pairs.masks[frames]
        return squared.sum() / pairs.masks[frames].sum()

    ratio = error(both, slice(1, 7)) / error(nearest, slice(1, 7))
    assert ratio < 0.65, ratio  # measured 0.55 (noise variance 144 -> 72, plus the flow's error)
    assert both.coverage() > nearest.coverage() + 0.02  # measured 0.970 vs 0.921


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_denoiser_rebuilt_in_keras_matches_its_onnx_file(name):
    """Every shipped model, live-video's fusion layers too, rebuilt from its fp32 ONNX file."""
    from edgeae.train.from_artifact import keras_from_onnx

    path = PRETRAINED_DIR / f"{name}_fp32.onnx"
    model, manifest = keras_from_onnx(path, Tolerances().fp32_max_abs_diff)
    frame = texture(64)[None].astype(np.float32) / 255  # a temporal model's: every frame
    frame = np.concatenate([frame] * manifest.input.frames, axis=-1)
    expected = OnnxSession(path, 1).run(frame)
    np.testing.assert_allclose(np.asarray(model(frame)), expected,
                               atol=Tolerances().fp32_max_abs_diff)
    assert manifest.params.size == {"live": "small", "quality": "medium",
                                    "live-video": "small", "live-camera": "small",
                                    "quality-camera": "medium", "live-stream": "small",
                                    "live-camera-video": "small"}[name]


@pytest.mark.parametrize("shipped", ["live", *BRIGHTNESS_MODELS])
def test_the_passes_before_training_run_the_shipped_file_of_their_precision(shipped, tmp_path):
    """The flow's guides and the brightness anchors come from the file `passes` names."""
    from edgeae.train.adapt import PASS_ENGINES, Start, denoised_guides, held_to
    from edgeae.train.frame_pairs import as_gray_u8

    frames = [np.asarray(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))[..., None]
              for p in sorted(noisy_footage(tmp_path).glob("*.png"))[:4]]
    start = Start(None, None, f"pretrained:{shipped}", "", shipped)
    found = {}
    for precision, engines in PASS_ENGINES.items():
        engine = next(rt.BACKENDS[e] for e in engines if rt.BACKENDS[e].available())
        session = engine.open(PRETRAINED_DIR / f"{shipped}_{precision}.onnx", None)
        expected = [as_gray_u8(session.run(f[None].astype(np.float32) / 255)[0]) for f in frames]
        found[precision] = denoised_guides(start, frames, precision)
        pairs = frame_pairs(frames, found[precision], "cubic")
        anchors = held_to(shipped, precision, pairs)[0].anchors[..., 0]
        # the same file in a session of its own: a float32 sum's order can round one level apart
        for got in (np.stack(found[precision]), anchors):
            assert np.abs(got.astype(int) - np.stack(expected[:len(got)])).max() <= 1
    # a different file: close (the int8 gate), and further apart than the one level allowed above
    difference = np.abs(np.stack(found["int8"]).astype(int) - np.stack(found["fp32"]))
    assert difference.mean() < 2 and difference.max() > 1, (difference.mean(), difference.max())


@pytest.mark.parametrize("targets", get_args(Targets))
def test_a_start_that_is_the_brightness_model_denoises_the_footage_once(targets, tmp_path,
                                                                         caplog):
    """Its pass for the flow gives each pair the anchor the brightness pass would."""
    import dataclasses
    import logging

    from edgeae.runtime.pretrained import pretrained_manifest
    from edgeae.train.adapt import Start, held_to, training_pairs
    from edgeae.train.settings import AdaptSettings

    frames = [np.asarray(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))[..., None]
              for p in sorted(noisy_footage(tmp_path).glob("*.png"))]
    start = Start(None, pretrained_manifest("live-camera"), "pretrained:live-camera", "",
                  "live-camera")
    settings = AdaptSettings(brightness="live-camera", targets=targets)
    with caplog.at_level(logging.INFO, logger="edgeae.train.adapt"):
        *parts, brightness = training_pairs(start, frames, settings)
    assert brightness.model == "live-camera" and brightness.losses is None
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "for the brightness" not in logged and "gives its outputs" in logged, logged
    for pairs in parts:
        alone = held_to("live-camera", settings.passes, dataclasses.replace(pairs, anchors=None))
        # one level apart at most, as in the test above; a neighbour's output is further off
        assert np.abs(pairs.anchors.astype(int) - alone[0].anchors).max() <= 1


def test_the_band_loss_ignores_a_darker_mean_and_sees_missing_detail():
    """What "choose" compares: detail a few pixels across, not the footage's brightness."""
    from edgeae.train.adapt import band_loss

    target = np.clip(texture(seed=3)[None] * 0.6 + 60, 0, 255).astype(np.uint8)  # (1, H, W, 1)
    mask = np.ones(target.shape, np.uint8)
    # 2 levels darker: as far as an H.264 clip's brightness moved live-camera (1.0-2.1 levels)
    darker = np.clip(target.astype(int) - 2, 0, 255).astype(np.uint8)
    smoothed = cv2.GaussianBlur(target[0], (0, 0), 1.0)[None, ..., None]
    loss = {name: band_loss(FramePairs(target, target, mask, anchors), "linear")
            for name, anchors in (("same", target), ("darker", darker), ("smoothed", smoothed))}
    # measured: 7e-7 against 1.5e-5
    assert loss["same"] == 0 and loss["darker"] < 0.1 * loss["smoothed"], loss


def test_choose_takes_the_camera_model_the_held_out_footage_finds_nearest(tmp_path):
    """Each candidate's anchors on the held-out pairs, and the one with the lower band loss."""
    from edgeae.train.adapt import Start, band_loss, held_to, training_pairs
    from edgeae.train.settings import BRIGHTNESS_MODELS, AdaptSettings

    frames = [np.asarray(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))[..., None]
              for p in sorted(noisy_footage(tmp_path).glob("*.png"))]
    start = Start(None, None, "pretrained:live", "", "live")
    train, val, brightness = training_pairs(start, frames, AdaptSettings(brightness="choose"))
    assert set(brightness.losses) == set(BRIGHTNESS_MODELS)
    assert brightness.model == min(brightness.losses, key=brightness.losses.get)
    for name, loss in brightness.losses.items():
        held = held_to(name, "int8", dataclasses.replace(val, anchors=None))[0]
        assert band_loss(held, "linear") == pytest.approx(loss, rel=0.05)  # a level apart at most
    chosen = held_to(brightness.model, "int8", dataclasses.replace(train, anchors=None))[0]
    assert np.abs(train.anchors.astype(int) - chosen.anchors).max() <= 1


def test_the_passes_say_what_to_install_where_no_engine_runs_them(monkeypatch):
    """No engine of PASS_ENGINES installed: one line naming the package, not a StopIteration."""
    import dataclasses

    from edgeae.core.errors import UserError
    from edgeae.train.adapt import PASS_ENGINES, pass_model

    for name in PASS_ENGINES["int8"]:
        monkeypatch.setitem(rt.BACKENDS, name,
                            dataclasses.replace(rt.BACKENDS[name], module="edgeae_absent_engine"))
    with pytest.raises(UserError, match="pip install onnxruntime"):
        pass_model("live", "int8")


def test_adapt_tunes_live_to_night_footage_and_the_result_exports(tmp_path, caplog):
    footage = noisy_footage(tmp_path / "footage")
    out = tmp_path / "live_cam"
    code, stdout, err = run_cli("adapt", "--pretrained", "live", "--data", footage, "--out", out,
                                "--minutes", "1", "--max-epochs", "2", "--batch-size", "4",
                                "--patch-size", "48")
    assert code == 0, err
    manifest = ModelDir.open(out).manifest
    a = manifest.training.adaptation
    assert manifest.training.self_supervised == "frame-to-frame" and a.start == "pretrained:live"
    assert a.loss_space == "linear" and a.flow.endswith("; cubic warp")  # the defaults
    assert a.targets == "both" and a.brightness in BRIGHTNESS_MODELS  # "auto": chosen (gray)
    assert a.brightness == min(a.brightness_losses, key=a.brightness_losses.get)
    assert a.passes == "int8"
    # 10 frames give 10 training pairs, 3 held out give 3, and one frame between them is unused
    assert (a.frames, a.train_pairs, a.val_pairs) == (14, 10, 3)
    assert 0.5 < a.mask_coverage <= 1
    assert a.kept and a.val_loss_after < 0.9 * a.val_loss_before, a  # measured 0.0089 -> 0.0061
    assert a.keep == "content" and a.content_after > a.content_before, a  # live leaves noise in
    assert "adapted: held-out loss" in stdout and ", content " in stdout
    assert "camera noise" not in err
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "edgeae.train.adapt")
    for stage in ("read the footage in", "denoised 14 frames for the flow (int8 files) in",
                  "computed the optical flow between 14 frames in",
                  f"brightness from {a.brightness}: its held-out output is nearest the footage",
                  f"denoised the pairs with {a.brightness} for the brightness (int8 files) in"):
        assert stage in logged, stage  # where the minutes went, where no progress bar shows
    assert json.loads((out / "manifest.json").read_text())["schema_version"] == SCHEMA_VERSION
    code, _, err = run_cli("export", out, "--format", "tflite", "--precision", "fp32",
                           "--out", tmp_path / "export")
    assert code == 0, err
    model = rt.load(tmp_path / "export" / "model_fp32.tflite")
    assert model.manifest.training.adaptation == a
    assert model.denoise(np.zeros((50, 70, 1), np.uint8)).shape == (50, 70, 1)


@pytest.mark.parametrize("noise, kept, keep, cautioned", [
    ("gaussian:0-55|camera:20-2000,0.5-6,70-100", True, "loss", True),  # live-camera's
    ("gaussian:0-55|camera:20-2000,0.5-6,70-100", True, "content", False),  # Q judged it
    ("gaussian:0-55|camera:20-2000,0.5-6,70-100", False, "loss", False),  # nothing changed
    ("gaussian:0-55", True, "loss", False), (None, True, "loss", False)])
def test_a_camera_model_tuning_kept_by_the_loss_alone_comes_with_a_caution(noise, kept, keep,
                                                                           cautioned):
    """Its held-out loss fell while PSNR fell on a simulated camera: the user must judge."""
    from edgeae.app.commands.adapt import camera_start_caution
    from edgeae.core.manifest import Adaptation

    a = Adaptation(start="pretrained:live-camera", start_sha256="0" * 64, footage="clip.mp4",
                   frames=60, train_pairs=47, val_pairs=11, mask_coverage=0.9, flow="DIS",
                   val_loss_before=0.002, val_loss_after=0.001, kept=kept, keep=keep)
    caution = camera_start_caution("pretrained:live-camera", noise, a)
    assert (caution is not None) == cautioned
    assert caution is None or "pretrained:live-camera already learned camera noise" in caution


def test_the_content_measure_falls_with_blur_and_with_noise_and_needs_no_reference():
    """Zhu and Milanfar's Q: highest for the sharp clean photo, lower blurred or noisy."""
    from skimage.data import camera  # a photograph scikit-image ships

    from edgeae.core.metrics import coherence_threshold, content_blocks, paired_content

    assert coherence_threshold() == pytest.approx(0.3223, abs=1e-4)  # 8x8 tiles, alpha 0.001
    rng = np.random.default_rng(0)
    _, coherence = content_blocks(rng.normal(size=(512, 512)))
    assert np.mean(coherence > coherence_threshold()) <= 0.001  # white noise: next to no edges
    sharp = camera().astype(np.float64)
    for worse in (cv2.GaussianBlur(sharp, (0, 0), 0.8), sharp + rng.normal(0, 8, sharp.shape)):
        q_sharp, q_worse = paired_content([sharp, sharp], [worse, worse])
        assert q_worse < 0.95 * q_sharp, (q_sharp, q_worse)  # measured 0.92 and 0.82
    colour = np.repeat(sharp[..., None], 3, axis=-1)  # channels are averaged
    assert paired_content([colour], [sharp]) == pytest.approx(paired_content([sharp], [sharp]))
    flat = np.full((64, 64), 128.0)
    assert all(np.isnan(paired_content([flat], [flat])))  # no edge anywhere: Q cannot judge


@pytest.mark.parametrize("after, content, kept", [
    (0.5, None, True), (1.5, None, False),  # the loss test
    (0.5, (30.0, 31.0), True), (0.5, (30.0, 29.0), False), (1.5, (30.0, 31.0), False),
    (0.5, (float("nan"), float("nan")), True)])  # no edge to judge: the loss decides
def test_the_content_test_vetoes_a_lower_loss_that_took_content(after, content, kept):
    from edgeae.core.manifest import KeepTest
    from edgeae.train.adapt import Tuning
    from edgeae.train.settings import KEEP_TESTS

    assert Tuning(1.0, after, 3, content).kept is kept
    assert Tuning(1.0, after, 3, content).saved_loss == (after if kept else 1.0)
    assert tuple(KEEP_TESTS) == get_args(KeepTest)  # the table and the manifest's names agree


def test_a_tuning_that_learns_to_blur_lowers_the_loss_and_is_not_kept(tmp_path, denoiser_dir):
    """Targets blurred by 1.5 px: the loss falls as the model learns the blur, Q falls too."""
    from edgeae.train.adapt import tune
    from edgeae.train.frame_pairs import FramePairs
    from edgeae.train.keras_backend import load_keras
    from edgeae.train.settings import AdaptSettings

    stills = np.stack([texture(64, seed) for seed in range(6)])
    blurred = np.stack([cv2.GaussianBlur(x, (0, 0), 1.5)[..., None] for x in stills])
    pairs = FramePairs(stills, blurred, np.ones_like(stills))
    model = load_keras(ModelDir.open(denoiser_dir))
    start = model.get_weights()
    settings = AdaptSettings(max_epochs=3, steps_per_epoch=10, batch_size=4, patch_size=32,
                             learning_rate=1e-3, keep="content")
    tuning = tune(model, pairs.subset(slice(0, 4)), pairs.subset(slice(4, 6)), settings,
                  tmp_path / "history.csv", verbose=0)
    assert tuning.after < 0.8 * tuning.before, tuning  # the loss alone would keep it
    assert tuning.content[1] < tuning.content[0] and not tuning.kept, tuning
    assert all(np.array_equal(x, y) for x, y in zip(start, model.get_weights()))


def test_adapt_keeps_the_starting_weights_when_tuning_does_not_help(tmp_path, denoiser_dir):
    """A zero learning rate cannot beat the start: the written model is the starting one."""
    footage = noisy_footage(tmp_path / "footage", size=(32, 32), level="indoor")
    out = tmp_path / "same"
    code, stdout, err = run_cli("adapt", "--model", denoiser_dir, "--data", footage, "--out", out,
                                "--max-epochs", "1", "--learning-rate", "1e-30",
                                "--patch-size", "16", "--warp", "linear", "--targets", "next",
                                "--passes", "fp32")
    assert code == 0, err
    a = ModelDir.open(out).manifest.training.adaptation
    assert not a.kept and a.start == str(denoiser_dir) and "kept the starting weights" in stdout
    assert a.flow.endswith("; linear warp") and a.passes == "fp32"  # the options reach the record
    assert a.targets == "next" and (a.train_pairs, a.val_pairs) == (9, 2)  # the last has none
    from edgeae.train.keras_backend import load_keras

    before = load_keras(ModelDir.open(denoiser_dir)).get_weights()
    after = load_keras(ModelDir.open(out)).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(before, after))


def test_adapt_refuses_bad_input_before_any_work(tmp_path, conv_dir):
    few = noisy_footage(tmp_path / "few", n=5, size=(32, 32))
    cases = [(("--pretrained", "live", "--data", few), "adapt needs at least 6"),
             (("--model", conv_dir, "--data", few), "not a denoiser"),
             (("--pretrained", "live", "--data", tmp_path / "nothing"), "no such file")]
    for args, message in cases:
        code, _, err = run_cli("adapt", *args, "--out", tmp_path / "out")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    code, _, err = run_cli("adapt", "--pretrained", "live", "--data", few, "--out",
                           tmp_path / "taken")
    assert code == 2 and "--overwrite" in err
    assert not (tmp_path / "out").exists()


def test_adapt_records_from_a_source_and_keeps_frames_only_when_asked(tmp_path, denoiser_dir):
    footage = noisy_footage(tmp_path / "footage", n=12, size=(32, 32), level="dim")
    video = write_video(tmp_path / "clip.avi", np.stack([
        np.repeat(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)[..., None], 3, -1)
        for p in sorted(footage.glob("*.png"))]))
    common = ("adapt", "--model", denoiser_dir, "--max-epochs", "1", "--patch-size", "16")
    code, _, err = run_cli(*common, "--source", video, "--frames", "10", "--out",
                           tmp_path / "a", "--keep-frames", tmp_path / "kept")
    assert code == 0, err
    a = ModelDir.open(tmp_path / "a").manifest.training.adaptation
    assert a.frames == 10 and a.footage == f"--source {video}"
    kept = sorted((tmp_path / "kept").glob("*.png"))
    assert len(kept) == 10 and cv2.imread(str(kept[0]), cv2.IMREAD_UNCHANGED).shape == (32, 32)
    assert len({cv2.imread(str(p)).tobytes() for p in kept}) == 10  # each its own frame
    before = set(tmp_path.iterdir())
    code, _, err = run_cli(*common, "--source", video, "--frames", "8", "--out", tmp_path / "b")
    assert code == 0, err
    assert set(tmp_path.iterdir()) - before == {tmp_path / "b"}  # no frames left anywhere
    code, _, err = run_cli(*common, "--data", footage, "--keep-frames", tmp_path / "k2",
                           "--out", tmp_path / "c")
    assert code == 2 and "--keep-frames keeps what --source records" in err


def test_adapt_tunes_on_a_burst_of_one_scene(tmp_path, denoiser_dir):
    """Several shots of one still scene from a steady hand: the flow is trusted nearly everywhere.

    Each shot has fresh camera noise and the camera barely moves (about a tenth of a pixel),
    so every shot pairs with its neighbours and almost no pixel is masked out.
    """
    rng = np.random.default_rng(3)
    clean = clip_from_still(texture(), 8, (64, 64), rng, speed=0.1, turn_degrees=0.0,
                            zoom=0.0).frames
    peak, read = PRESETS["dim"]
    camera = CameraNoise((peak, peak), (read, read))
    shots = np.stack([to_uint8(camera.one(f.astype(np.float32) / 255, rng)) for f in clean])
    assert len({shot.tobytes() for shot in shots}) == len(shots)  # the noise differs shot to shot
    code, stdout, err = run_cli("adapt", "--model", denoiser_dir, "--data",
                                write_folder(tmp_path / "burst", shots), "--out",
                                tmp_path / "out", "--max-epochs", "1", "--patch-size", "16")
    assert code == 0, err
    a = ModelDir.open(tmp_path / "out").manifest.training.adaptation
    assert a.frames == 8 and (a.train_pairs, a.val_pairs) == (5, 2)  # one frame between unused
    assert a.mask_coverage > 0.9  # 0.95 measured; borders and the start's leftover noise


def test_adapt_tunes_a_colour_denoiser_on_colour_footage(tmp_path):
    from conftest import blobs, train_cli

    model_dir = train_cli(tmp_path / "rgb", "denoiser", write_folder(
        tmp_path / "rgb_images", blobs(32, channels=3)), "--epochs", "1", "--batch-size", "16")
    rng = np.random.default_rng(2)
    still = np.concatenate([texture(seed=s) for s in (0, 1, 2)], axis=-1)
    noisy = clip_from_still(still, 10, (32, 32), rng).frames.astype(np.float32)
    noisy = np.clip(noisy + rng.normal(0, 20, noisy.shape), 0, 255).astype(np.uint8)
    code, _, err = run_cli("adapt", "--model", model_dir, "--data",
                           write_folder(tmp_path / "footage", noisy), "--out", tmp_path / "out",
                           "--max-epochs", "1", "--patch-size", "16")
    assert code == 0, err
    manifest = ModelDir.open(tmp_path / "out").manifest
    assert manifest.input.channels == 3 and manifest.training.adaptation.frames == 10
    assert manifest.training.adaptation.brightness == "footage"  # "auto": no colour camera model
    code, _, err = run_cli("adapt", "--model", model_dir, "--data", tmp_path / "footage",
                           "--out", tmp_path / "held", "--brightness-from", "live-camera")
    assert code == 2 and "pass --brightness-from footage" in err, err  # a gray model's brightness
    code, _, err = run_cli("adapt", "--model", model_dir, "--data", tmp_path / "footage",
                           "--out", tmp_path / "held", "--brightness-from", "choose")
    assert code == 2 and "chooses among models that denoise 1-channel" in err, err
    samples = ModelDir.open(tmp_path / "out").samples()
    assert samples.shape[-1] == 3 and samples.dtype == np.float32


def test_footage_that_cannot_fit_in_memory_is_refused_before_any_work(tmp_path, monkeypatch):
    """Large footage ran out of memory after minutes of reading, denoising and flow."""
    import edgeae.train.frame_pairs as frame_pairs

    footage = noisy_footage(tmp_path / "clip", n=12, size=(32, 48))
    # the machine's memory is the hardware here: a small one is stood in for. 12 gray frames
    # of 32x48 hold at least 6 bytes a pixel: 110,592 bytes
    monkeypatch.setattr(frame_pairs, "available_memory_bytes", lambda: 110_591)
    code, _, err = run_cli("adapt", "--pretrained", "live", "--data", footage, "--out",
                           tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "12 frames of 32x48 need at least 108 KiB" in err and "--max-frames 11" in err
    monkeypatch.setattr(frame_pairs, "available_memory_bytes", lambda: 20_000)
    code, _, err = run_cli("adapt", "--pretrained", "live", "--data", footage, "--out",
                           tmp_path / "out")
    assert code == 2 and "a smaller --image-size" in err and not (tmp_path / "out").exists()
    video = write_video(tmp_path / "clip.avi", np.zeros((12, 32, 48, 3), np.uint8))
    import edgeae.core.data as data  # a video is judged by its container, before it is read

    monkeypatch.setattr(data, "read_video_frames", lambda *a: pytest.fail("read it all first"))
    code, _, err = run_cli("adapt", "--pretrained", "live", "--data", video, "--out",
                           tmp_path / "out")
    assert code == 2 and "12 frames of 32x48" in err and "a smaller --image-size" in err, err
    monkeypatch.setattr(frame_pairs, "available_memory_bytes", lambda: 110_591)
    code, _, err = run_cli("adapt", "--pretrained", "live", "--source", video, "--frames", "12",
                           "--out", tmp_path / "out")  # refused at the first recorded frame
    assert code == 2 and err.strip().endswith("pass --frames 11"), err
    monkeypatch.setattr(frame_pairs, "available_memory_bytes", lambda: 110_592)  # it just fits
    frame_pairs.check_footage_fits(12, (32, 48), 1, "clip")
