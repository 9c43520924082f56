"""Temporal denoisers: clips for training, the model, its export, and the runtime's frame history.

A tiny temporal U-Net is trained through the CLI on clips a moving camera makes from natural
photos (scikit-image's), exported and run by the real engines; the history's restarts are
checked on real video files: a scene cut inside one, and a stream that reconnects.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

import edgeae.runtime as rt
from edgeae.runtime.capture import Source
from edgeae.runtime.history import (
    FrameHistory,
    RecurrentHistory,
    StillFrames,
    global_motion,
    global_shift,
    shift_planes,
    shrunk,
    translation,
    warp_planes,
)
from edgeae.runtime.loop import RunOptions, run
from edgeae.train.clips import clip_from_still, still_clip, video_clip
from tests.conftest import run_cli, train_cli, write_folder, write_video

K = 3


def _photos() -> list[np.ndarray]:
    """Gray natural photos from scikit-image (shipped with it, no download)."""
    return [data.camera(), data.moon(), data.coins(), cv2.cvtColor(data.astronaut(),
                                                                   cv2.COLOR_RGB2GRAY)]


def _clip(photo: np.ndarray, n: int, seed: int, size=(48, 64)) -> np.ndarray:
    """n gray uint8 frames of a camera panning over `photo`, with one object moving."""
    rng = np.random.default_rng(seed)
    return clip_from_still(photo[..., None], n, size, rng, objects=1).frames[..., 0]


def test_still_frames_repeat_the_image():
    x = np.random.default_rng(0).random((2, 8, 8, 1), dtype=np.float32)
    stacked = StillFrames(K).stack(x)
    assert stacked.shape == (2, 8, 8, K)
    assert all(np.array_equal(stacked[..., k:k + 1], x) for k in range(K))


def test_history_keeps_the_frames_before_oldest_first():
    history = FrameHistory(K, find_cuts=False)
    frames = [np.full((1, 4, 4, 1), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)]
    assert np.allclose(history.stack(frames[0])[0, 0, 0], [0.1] * 3)  # starts as a still
    history.stack(frames[1])
    first = history.stack(frames[2])
    assert np.allclose(first[0, 0, 0], [0.1, 0.2, 0.3])
    buffer = first.ctypes.data
    assert np.allclose(history.stack(frames[3])[0, 0, 0], [0.2, 0.3, 0.4])
    assert history.stack(frames[3]).ctypes.data == buffer  # one buffer, shifted in place
    history.reset()
    assert np.allclose(history.stack(frames[0])[0, 0, 0], [0.1] * 3)
    assert np.allclose(history.stack(np.zeros((1, 6, 4, 1), np.float32))[0, 0, 0], 0)  # new size


def test_scene_cut_threshold_separates_motion_from_cuts():
    """On real photos with sigma-25 noise: a panning camera is no cut, a cut to another photo
    is one (photos other than those the thresholds were chosen on, a larger frame)."""
    rng = np.random.default_rng(0)
    colour = (data.rocket(), data.hubble_deep_field(), data.immunohistochemistry())
    photos = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in colour] + [data.cell()]
    for i, photo in enumerate(photos):
        frames = _clip(photo, 6, i, size=(240, 320)).astype(np.float32) / 255
        frames += rng.normal(0, 25 / 255, frames.shape).astype(np.float32)
        other = _clip(photos[(i + 1) % len(photos)], 1, i, size=(240, 320))[0] / 255
        history = FrameHistory(K)
        for frame in frames:
            history.stack(frame[None, :, :, None])
        assert history.cuts == 0
        history.stack(other.astype(np.float32)[None, :, :, None])
        assert history.cuts == 1


def test_global_shift_lines_up_a_panning_camera():
    """A noisy pan of (3.4, -1.7) pixels is found to within 0.25 px, and moving the first frame
    by it lines it up with the second; a flat frame gives no shift."""
    from edgeae.train.clips import aligned_to_last

    rng = np.random.default_rng(0)
    photo = cv2.resize(data.camera(), (1024, 1024)).astype(np.float32) / 255
    m = np.float32([[1, 0, 3.4], [0, 1, -1.7]])
    moved = cv2.warpAffine(photo, m, (1024, 1024), flags=cv2.INTER_LINEAR)
    a, b = (f[300:780, 200:840] + rng.normal(0, 0.1, (480, 640)).astype(np.float32)
            for f in (photo, moved))
    dx, dy = global_shift(a, b)
    assert abs(dx - 3.4) < 0.25 and abs(dy + 1.7) < 0.25
    out = np.empty((1, 480, 640, 1), np.float32)
    lined = shift_planes(photo[300:780, 200:840][None, :, :, None], dx, dy, out)[0, 20:-20, 20:-20]
    clean_b = moved[300:780, 200:840][20:-20, 20:-20, None]
    before = np.abs(photo[320:760, 220:820, None] - clean_b).mean()
    assert np.abs(lined - clean_b).mean() < 0.01 < before
    flat = np.full((48, 64), 0.5, np.float32)
    assert np.allclose(global_shift(flat, flat), 0, atol=1e-3)
    clip = np.stack([photo[300:364, 200:264], moved[300:364, 200:264]], axis=-1)
    assert np.abs(aligned_to_last(clip, 2)[8:-8, 8:-8, 0] - clip[8:-8, 8:-8, 1]).mean() < 0.02


def test_a_still_scene_has_no_shift_at_any_camera_size():
    """Where OpenCV padded a shrunk side to an odd DFT length, identical frames measured half a
    pixel apart, 4-5 px a frame at the Pi cameras' 1296x972, 1332x990 and 1640x1232; a real
    pan is still found at those sizes."""
    photo = cv2.resize(data.camera(), (1700, 1300)).astype(np.float32) / 255
    for h, w in ((972, 1296), (990, 1332), (1232, 1640), (160, 224), (125, 160), (480, 640)):
        still = photo[:h, :w]
        assert np.allclose(global_shift(still, still), 0, atol=1e-3), (h, w)
        panned = photo[:h, 24:w + 24]  # the scene moved 24 px left
        dx, dy = global_shift(still, panned)
        assert abs(dx + 24) < max(1, w / 300) and abs(dy) < max(1, h / 300), (h, w, dx, dy)


def test_recurrent_history_moves_its_last_output_keeping_its_detail():
    """The last output is moved with a sub-pixel pan by bicubic resampling (BENCHMARKS.md, "The
    recurrent history's resampling"): nearer the true moved image than bilinear's."""
    hi = cv2.resize(data.camera(), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    hi = hi.astype(np.float32) / 255

    def view(x: int, y: int) -> np.ndarray:  # 4x area-shrunk: a shift of 1/4 px per hi-res px
        return cv2.resize(hi[y:y + 960, x:x + 1280], (320, 240), interpolation=cv2.INTER_AREA)

    a, b = view(500, 500), view(494, 502)  # the scene moved by (1.5, -0.5) px
    history = RecurrentHistory()
    history.stack(a[None, :, :, None])
    history.remember(a[None, :, :, None])
    moved = history.stack(b[None, :, :, None])[0, 8:-8, 8:-8, 0]
    dx, dy = global_shift(a, b)
    assert abs(dx - 1.5) < 0.25 and abs(dy + 0.5) < 0.25
    bilinear = shift_planes(a[None, :, :, None], dx, dy, np.empty((1, 240, 320, 1), np.float32),
                            cv2.INTER_LINEAR)[0, 8:-8, 8:-8, 0]
    truth = b[8:-8, 8:-8]
    assert np.abs(moved - truth).mean() < 0.8 * np.abs(bilinear - truth).mean()


def test_global_motion_follows_a_turn_and_a_zoom_and_falls_back_to_the_shift():
    """A noisy 480x640 view turned by 1.5 degrees and zoomed by 2% about a point off its centre:
    the fitted similarity moves the last view onto this one, where the shift alone cannot; a
    flat scene (no corners) gets the phase correlation's shift (0 here)."""
    rng = np.random.default_rng(0)
    photo = cv2.resize(data.camera(), (1024, 1024)).astype(np.float32) / 255
    truth = cv2.getRotationMatrix2D((530.0, 520.0), 1.5, 1.02)
    turned = cv2.warpAffine(photo, truth, (1024, 1024), flags=cv2.INTER_LINEAR)
    a, b = (f[300:780, 200:840] + rng.normal(0, 0.1, (480, 640)).astype(np.float32)
            for f in (photo, turned))
    m = global_motion(shrunk(a), shrunk(b), a.shape)
    inner = (slice(40, -40), slice(40, -40))
    clean_b = turned[300:780, 200:840][inner]
    last = photo[300:780, 200:840][None, :, :, None]
    moved = warp_planes(last, m, np.empty_like(last))[0, :, :, 0][inner]
    shifted = shift_planes(last, *global_shift(a, b), np.empty_like(last))[0, :, :, 0][inner]
    assert np.abs(moved - clean_b).mean() < 0.4 * np.abs(shifted - clean_b).mean()
    flat = np.full((120, 160), 0.5, np.float32)
    assert np.allclose(global_motion(flat, flat, (480, 640)), translation(0.0, 0.0), atol=1e-3)


def test_recurrent_history_follows_the_light():
    """A fade: the last output is scaled by how much brighter the frame is, above the range's
    low end ([-1, 1] models too); a last frame too dark to measure leaves it as it was."""
    photo = cv2.resize(data.camera(), (160, 120)).astype(np.float32) / 255
    for lo in (0.0, -1.0):
        values = photo * (1 - lo) + lo  # the photo in the model's range
        history = RecurrentHistory((lo, 1.0), find_cuts=False)  # the fade is not taken for one
        history.stack(values[None, :, :, None])
        history.remember(values[None, :, :, None])
        faded = (photo * 0.8) * (1 - lo) + lo
        moved = history.stack(faded[None, :, :, None])[0, :, :, 0]
        assert np.abs(moved - faded).max() < 0.005 * (1 - lo), lo  # unmatched: 0.2 * (1 - lo)
    dark = np.full((1, 120, 160, 1), 0.01, np.float32)
    history = RecurrentHistory(find_cuts=False)
    history.stack(dark)
    history.remember(dark)
    assert np.allclose(history.stack(dark * 3)[..., 0], dark[..., 0])


def test_live_video_follows_a_colour_fade_plane_by_plane():
    """A colour frame reaches `live-video` as three planes, two of them chroma centred on mid
    gray: each plane's history is scaled by its own light. Scaled by the luma's, the chroma went
    wrong at every faded frame, and matching lost 0.4 dB to no matching at all."""
    from edgeae.runtime import history
    from edgeae.runtime.pretrained import pretrained_path

    rng = np.random.default_rng(3)
    gray = cv2.resize(data.camera(), (160, 120)).astype(np.float32)
    scene = np.stack([gray, np.roll(gray, 20, 1) * 0.8 + 20, 255 - gray * 0.7], -1)
    light = [1.0] * 6 + [1 - 0.04 * i for i in range(1, 13)]
    frames = [np.clip(scene * a + rng.normal(0, 20, scene.shape), 0, 255).astype(np.uint8)
              for a in light]
    model = rt.load(pretrained_path("live-video", precision="int8"), num_threads=1)

    def faded_psnr(matched: bool) -> float:
        history.RecurrentHistory.match_brightness = matched
        model.reset()
        outs = [model.denoise(f).astype(np.float64) for f in frames]
        return float(np.mean([10 * np.log10(255 ** 2 / np.mean((o - np.clip(scene * a, 0, 255))
                                                                ** 2))
                              for o, a in zip(outs[6:], light[6:])]))

    try:
        off, on = faded_psnr(False), faded_psnr(True)
    finally:
        history.RecurrentHistory.match_brightness = True
    assert on > off + 0.3, (on, off)


def test_training_clips_from_stills_and_videos():
    rng = np.random.default_rng(0)
    photo = data.camera()[::4, ::4, None].astype(np.float32) / 255  # 128x128
    clip = still_clip(photo, K, 64, rng)
    assert clip.shape == (64, 64, K) and clip.dtype == np.float32
    assert 0.0 <= clip.min() and clip.max() <= 1.0
    assert not np.allclose(clip[..., 0], clip[..., -1])  # the camera or objects moved
    small = photo[:80, :80]  # room for little motion: the camera slows down, never fails
    assert still_clip(small, 5, 64, rng, max_speed=10).shape == (64, 64, 5)
    video = [np.full((10, 12, 1), i / 10, np.float32) for i in range(5)]
    window = video_clip(video.__getitem__, 1, K, 8, rng)
    assert np.allclose(window[0, 0], [0.0, 0.0, 0.1])  # frame 0 repeats before the start


@pytest.fixture(scope="module", params=["3", "recurrent"])
def temporal_artifacts(tmp_path_factory, request):
    """A tiny temporal U-Net (3 frames, or recurrent) trained through the CLI on photo crops,
    exported fp32 and int8."""
    root = tmp_path_factory.mktemp("temporal")
    rng = np.random.default_rng(0)
    crops = [p[y:y + 96, x:x + 96] for p in _photos()
             for y, x in rng.integers(0, 300, (4, 2))]
    folder = write_folder(root / "photos", np.stack(crops)[..., None])
    model = train_cli(root / "model", "denoiser", folder, "--model", "unet", "--size", "tiny",
                      "--temporal", request.param, "--patch-size", "32", "--patches-per-image", "4",
                      "--noise", "gaussian:10-40", "--epochs", "2", "--batch-size", "8")
    code, out, err = run_cli("export", model, "--format", "all",
                             "--precision", "fp32,int8", "--out", root / "export")
    assert code == 0, err + out
    return model, root / "export"


def test_temporal_model_trains_exports_and_records_its_frames(temporal_artifacts):
    model, export = temporal_artifacts
    manifest = json.loads((model / "manifest.json").read_text())
    recurrent = manifest["params"].get("recurrent", False)
    frames = 2 if recurrent else K
    assert manifest["input"]["frames"] == manifest["params"]["frames"] == frames
    assert manifest["input"].get("recurrent", False) == recurrent
    report = json.loads((export / "parity.json").read_text())  # gated on clips
    files = {"model_fp32.tflite", "model_fp32.onnx", "model_int8.tflite", "model_int8.onnx",
             "model_fp32.xml", "model_int8.xml"}
    assert {a["file"] for a in report["artifacts"] if a["passed"]} == files
    for name in sorted(files):
        loaded = rt.load(export / name, task="denoise")
        assert loaded.temporal and loaded.manifest.input.frames == frames


def test_still_image_through_a_temporal_model_is_repeatable(temporal_artifacts):
    """A still is K copies of itself: denoising it twice, or after other frames and a reset,
    gives the same image; a Reconstructor (task "reconstruct") takes every image as a still."""
    _, export = temporal_artifacts
    model = rt.load(export / "model_fp32.onnx", task="denoise")
    still = _clip(data.camera(), 1, 0)[0]
    first = model.denoise(still).copy()
    for frame in _clip(data.moon(), 4, 1):
        model.denoise(frame)
    model.reset()
    assert np.array_equal(model.denoise(still), first)
    stills = rt.load(export / "model_fp32.onnx", task="reconstruct")
    assert np.array_equal(stills.reconstruct(np.stack([still, still]))[1], first)


def test_a_denoisers_reconstruct_takes_each_image_as_a_still_and_keeps_the_history(
        temporal_artifacts):
    """A batch of unrelated images had been stacked with the batch before, image by image."""
    _, export = temporal_artifacts
    model = rt.load(export / "model_fp32.onnx", task="denoise")
    stills = rt.load(export / "model_fp32.onnx", task="reconstruct")
    first, second = _clip(data.camera(), 2, 0), _clip(data.moon(), 2, 1)
    model.reconstruct(first)
    np.testing.assert_array_equal(model.reconstruct(second), stills.reconstruct(second))
    video = _clip(data.astronaut()[..., 0], 2, 2)
    model.reset()
    model.denoise(video[0])
    expected = model.denoise(video[1]).copy()
    model.reset()
    model.denoise(video[0])
    model.reconstruct(second)  # same size: between two frames, the video's history stays
    np.testing.assert_array_equal(model.denoise(video[1]), expected)


def test_history_restarts_when_the_frame_size_changes_even_inside_the_padding(
        temporal_artifacts):
    """Frames padded to the same model input are still another size: the history restarts."""
    _, export = temporal_artifacts
    model = rt.load(export / "model_fp32.onnx", task="denoise")
    multiple = model.manifest.input.size_multiple
    big = _clip(data.camera(), 3, 0)
    small = big[-1][:-(multiple - 1), :-(multiple - 1)]  # pads back to big's input shape
    for frame in big:
        model.denoise(frame)
    after = model.denoise(small).copy()
    model.reset()
    assert np.array_equal(after, model.denoise(small))


def test_history_restarts_at_a_scene_cut_in_a_video_file(temporal_artifacts, tmp_path):
    """A real video with a cut before frame 8: the run finds one restart, and the frame after
    the cut comes out as that frame alone would, while the next one uses the frame before."""
    _, export = temporal_artifacts
    frames = np.concatenate([_clip(data.camera(), 8, 0), _clip(data.coins(), 6, 1)])
    video = write_video(tmp_path / "cut.avi", np.repeat(frames[..., None], 3, axis=-1))
    model = rt.load(export / "model_int8.tflite", task="denoise")
    summary = run(model, Source("video", str(video)), RunOptions(gray=True))
    assert summary.frames == len(frames) and summary.restarts == 1 and model.scene_cuts == 1
    decoded = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) / np.float32(255)
               for f in rt.frames(str(video))]
    model, alone = (rt.load(export / "model_fp32.onnx", task="denoise") for _ in range(2))
    outs = [model.denoise(f).copy() for f in decoded]
    assert model.scene_cuts == 1
    assert np.array_equal(outs[8], alone.denoise(decoded[8]))
    alone.reset()
    assert not np.allclose(outs[9], alone.denoise(decoded[9]), atol=1e-3)  # the frame before


def test_history_restarts_when_a_looped_file_starts_again(temporal_artifacts, tmp_path):
    """`run --loop`: the file's last frame is no frame before its first, so every pass starts
    the history again and comes out as the first pass did, frame for frame."""
    _, export = temporal_artifacts
    frames = _clip(data.camera(), 5, 0)
    folder = write_folder(tmp_path / "frames", frames[..., None])
    model = rt.load(export / "model_int8.tflite", task="denoise")
    out = tmp_path / "out"
    summary = run(model, Source("folder", str(folder)),
                  RunOptions(gray=True, loop=True, duration=1.5, output=out, overlay=False))
    written = sorted(out.glob("*.png"))
    assert len(written) >= 2 * len(frames) and model.scene_cuts == 0
    assert summary.restarts == (summary.frames - 1) // len(frames)
    for first, again in zip(written, written[len(frames):2 * len(frames)]):
        assert np.array_equal(cv2.imread(str(first)), cv2.imread(str(again)))


def test_history_restarts_when_a_stream_reconnects(temporal_artifacts, tmp_path):
    """A stream (a video over file://) that ends is reopened; each reconnect restarts the
    history, so the frames before the gap are never mixed with the ones after it."""
    _, export = temporal_artifacts
    video = write_video(tmp_path / "loop.avi",
                        np.repeat(_clip(data.camera(), 6, 0)[..., None], 3, axis=-1))
    model = rt.load(export / "model_fp32.onnx", task="denoise")
    summary = run(model, Source("stream", f"file://{video}"), RunOptions(gray=True, duration=3))
    assert summary.reconnects >= 1
    assert summary.restarts >= summary.reconnects


def test_temporal_needs_a_supervised_unet(gray_folder, tmp_path, caplog):
    code, _, err = run_cli("train", "denoiser", "--data", gray_folder, "--out", tmp_path / "m",
                           "--temporal", "3", "--self-supervised", "--model", "unet",
                           "--patch-size", "8")
    assert code == 2 and "temporal" in err
    code, _, err = run_cli("train", "denoiser", "--data", gray_folder, "--out", tmp_path / "n",
                           "--temporal", "3", "--model", "conv")
    assert code == 2 and "frames" in err
    levels = np.arange(0, 240, 20, dtype=np.uint8)[:, None, None, None]
    video = write_video(tmp_path / "clip.avi", np.broadcast_to(levels, (12, 32, 32, 3)))
    code, _, err = run_cli("train", "denoiser", "--data", video, "--out", tmp_path / "v",
                           "--temporal", "8", "--model", "unet", "--every", "5")
    assert code == 2 and "pass --patch-size" in err, err  # said first: no warning on the split
    assert "validate" not in caplog.text


def test_video_metrics_see_flicker_and_ghosts():
    """Perfect output: no flicker; fresh noise every frame flickers, a frozen output lags
    (flicker too, as the scene moves); a ghost inside the moving mask shows in moving_psnr."""
    from edgeae.core.metrics import video_metrics

    rng = np.random.default_rng(0)
    clip = clip_from_still(data.camera()[..., None], 6, (64, 80), rng, objects=1)
    clean = clip.frames[..., 0].astype(np.float64)
    with pytest.warns(RuntimeWarning, match="divide by zero"):  # scikit-image: PSNR infinite
        perfect = video_metrics(clean, clean, clip.moving)
    assert perfect["psnr"] == np.inf and perfect["flicker"] == 0
    assert perfect["ssim"] == pytest.approx(1.0)
    noisy = clean + rng.normal(0, 5, clean.shape)
    shimmer = video_metrics(noisy, clean, clip.moving)
    assert shimmer["flicker"] > 5 and 33 < shimmer["psnr"] < 36
    frozen = video_metrics(np.repeat(clean[:1], 6, axis=0), clean, clip.moving)
    assert frozen["flicker"] > 1 and frozen["moving_psnr"] < frozen["psnr"]


def test_benchmark_and_report_take_a_temporal_model(temporal_artifacts, tmp_path):
    """Benchmark rows (every engine, fp32 and int8) and the report, from the model directory:
    its held-out clips' last frames are the quality set, each a still."""
    model, export = temporal_artifacts
    code, out, err = run_cli("benchmark", model, "--precisions", "fp32,int8", "--backends",
                             "tflite,onnx", "--sizes", "48x64", "--threads", "1", "--repeats",
                             "3", "--out", tmp_path / "bench")
    assert code == 0, err
    rows = json.loads((tmp_path / "bench" / "benchmark.json").read_text())["rows"]
    assert {r["precision"] for r in rows} == {"fp32", "int8"} and all(r["psnr"] > 20 for r in rows)
    code, _, err = run_cli("report", model, "--benchmark", tmp_path / "bench", "--export",
                           export, "--out", tmp_path / "report.html")
    assert code == 0, err


def test_denoise_command_takes_videos_as_video_and_images_as_stills(temporal_artifacts,
                                                                    tmp_path):
    """`edgeae denoise` on a video writes a denoised video of every frame; an image beside it
    is a still, whatever came before."""
    _, export = temporal_artifacts
    frames = _clip(data.camera(), 6, 0)
    video = write_video(tmp_path / "clip.avi", np.repeat(frames[..., None], 3, axis=-1))
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), frames[0])
    model = export / "model_fp32.onnx"
    code, out, err = run_cli("denoise", "--model", model, video, image, "--out", tmp_path / "o")
    assert code == 0, err
    assert "1 image and 1 video (6 frames)" in out
    assert len(list(rt.frames(str(tmp_path / "o" / "clip.avi")))) == len(frames)
    alone = rt.load(model, task="denoise").denoise(frames[0])
    assert np.array_equal(cv2.imread(str(tmp_path / "o" / "still.png"), cv2.IMREAD_GRAYSCALE),
                          alone)


def test_adapt_refuses_a_temporal_model(temporal_artifacts, tmp_path):
    model, _ = temporal_artifacts
    frames = write_folder(tmp_path / "frames", _clip(data.camera(), 4, 0)[..., None])
    code, _, err = run_cli("adapt", "--model", model, "--data", frames, "--out", tmp_path / "a")
    assert code == 2 and "temporal" in err
