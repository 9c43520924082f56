"""The runtime on frames: any frame size, tiles, scoring, and `edgeae run` on real video."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.errors import UserError
from edgeae.runtime.capture import (
    Backoff,
    CaptureOptions,
    Source,
    SourceStats,
    frames,
    parse_source,
)
from edgeae.runtime.threads import candidates, pick
from edgeae.runtime.tiles import ramp, tile_starts

from conftest import (
    REPO,
    blobs,
    run_cli,
    train_cli,
    turned_by_exif,
    write_folder,
    write_video,
)

DEFECTS = range(25, 30)


def camera_clip(n: int = 40, h: int = 48, w: int = 64, seed: int = 0,
                defects: range = DEFECTS) -> np.ndarray:
    """RGB frames of a soft disc moving across a dark scene with sensor noise; frames in
    DEFECTS also show a bright square (the anomaly)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        cy, cx = h / 2 + 8 * np.sin(i / 6), 10 + (w - 20) * i / n
        disc = np.clip(1.5 - np.hypot(yy - cy, xx - cx) / 7, 0, 1)
        frame = 200 * disc[..., None] * np.array([0.9, 0.8, 1.0])
        if i in defects:
            frame[6:18, 44:56] = 255
        out[i] = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255)
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.avi", camera_clip())


def test_tile_cover_and_weights():
    assert tile_starts(10, 16, 2) == [0]
    starts = tile_starts(70, 16, 2)
    assert starts[0] == 0 and starts[-1] == 70 - 16
    assert all(b - a <= 14 for a, b in zip(starts, starts[1:]))  # overlap >= 2 everywhere
    weights = ramp(16, 2)
    assert weights.min() > 0 and weights.max() == 1.0 and weights[0] == weights[-1]


def test_denoise_any_frame_size_and_colour(conv_tflite):
    model = rt.load(conv_tflite, task="denoise")
    gray = camera_clip(1, h=37, w=53)[0, ..., 1]
    out = model.denoise(gray)
    assert out.shape == gray.shape and out.dtype == np.uint8
    bgr = cv2.cvtColor(camera_clip(1)[0], cv2.COLOR_RGB2BGR)
    colour = model.denoise(bgr)  # a gray model denoises each colour plane on its own
    assert colour.shape == bgr.shape
    for plane in range(3):
        np.testing.assert_array_equal(colour[..., plane], model.denoise(bgr[..., plane]))


def test_denoise_into_reused_buffers(conv_tflite):
    model = rt.load(conv_tflite, task="denoise")
    clip = cv2.cvtColor(camera_clip(2)[1], cv2.COLOR_RGB2BGR), camera_clip(2)[0]
    out = np.empty_like(clip[0])
    assert model.denoise(clip[0], out=out) is out
    buffers = model._input, model._unit, model._output
    for frame in (clip[1], clip[0]):  # another frame of the same shape reuses every buffer
        expected = model.denoise(frame)
        np.testing.assert_array_equal(model.denoise(frame, out=out), expected)
    assert all(a is b for a, b in zip(buffers, (model._input, model._unit, model._output)))
    with pytest.raises(UserError, match="out must match the frame"):
        model.denoise(clip[0], out=np.empty(clip[0].shape[:2], np.uint8))


def test_fixed_shape_artifact_runs_over_blended_tiles(conv_dir, conv_tflite, tmp_path,
                                                      caplog):
    code, _, err = run_cli("export", conv_dir, "--input-size", "16x16", "--out", tmp_path)
    assert code == 0, err
    code, _, err = run_cli("denoise", write_folder(tmp_path / "in", blobs(1, size=32)),
                           "--model", tmp_path / "model_fp32_16x16.tflite", "--out",
                           tmp_path / "out")
    assert code == 0 and "takes 16x16 images only: larger ones run in overlapping" in caplog.text
    tiled = rt.load(tmp_path / "model_fp32_16x16.tflite", task="denoise")
    whole = rt.load(conv_tflite, task="denoise")
    frame = camera_clip(1)[0, ..., 0]  # 48x64: 20 overlapping 16x16 tiles
    a, b = tiled.denoise(frame).astype(int), whole.denoise(frame).astype(int)
    assert a.shape == frame.shape
    # tile borders see less context than the whole frame, but no seam stands out
    assert np.abs(a - b).mean() < 3 and np.abs(a - b).max() < 64


def test_scorer_gives_score_decision_and_heat_map(conv_tflite):
    model = rt.load(conv_tflite, task="score")
    i = DEFECTS[0]
    normal, defect = camera_clip(defects=range(0))[i, ..., 0], camera_clip()[i, ..., 0]
    assert model.score(normal).is_anomaly is None  # no threshold known yet
    model.threshold = (model.score(normal).score + model.score(defect).score) / 2
    a, b = model.score(normal), model.score(defect)
    assert a.heatmap.shape == normal.shape and a.heatmap.dtype == np.float32
    assert (a.is_anomaly, b.is_anomaly) == (False, True)
    # the heat map points at the square (the frames differ only there)
    y, x = np.unravel_index(np.argmax(b.heatmap - a.heatmap), b.heatmap.shape)
    assert 4 <= y <= 20 and 42 <= x <= 58


def test_a_gray_detector_scores_a_colour_frames_gray(conv_tflite):
    """The gray a colour image becomes in training (OpenCV's weights), so the threshold holds:
    scoring the three colour planes apart and averaging scored a colourful scene higher (15%
    on photo crops in a scratch run, 5 more normal images of 40 over the threshold)."""
    model = rt.load(conv_tflite, task="score")
    gray = camera_clip(defects=range(0))[DEFECTS[0], ..., 0]
    colour = np.dstack([gray, 255 - gray, gray // 2])  # BGR planes unlike each other
    calls = []
    run = model.session.run
    model.session.run = lambda batch: calls.append(batch.shape) or run(batch)
    a = model.score(colour)
    assert [shape[0] for shape in calls] == [1]  # one model call: the gray image
    # its gray made of [0, 1] floats, as training makes it (of uint8 it was rounded to a level)
    rgb = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB)
    unit_gray = cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2GRAY)
    b = model.score(unit_gray)
    assert a.score == b.score and np.array_equal(a.heatmap, b.heatmap)
    as_rgb = model.score(np.ascontiguousarray(colour[..., ::-1]), color="rgb")
    assert as_rgb.score == a.score
    unit = colour.astype(np.float64) / 255  # OpenCV converts no float64: made float32 first
    gray_unit = cv2.cvtColor(unit.astype(np.float32), cv2.COLOR_BGR2GRAY)
    assert model.score(unit).score == model.score(gray_unit).score


@pytest.fixture(scope="module")
def small_detector(tmp_path_factory, gray_folder) -> Path:
    """A conv detector trained at 16x16 (no k-NN: its score is the reconstruction's), exported."""
    root = tmp_path_factory.mktemp("small_detector")
    train_cli(root / "det", "detector", gray_folder, "--model", "conv", "--epochs", "3",
              "--score-knn", "0")
    code, _, err = run_cli("export", root / "det", "--format", "tflite", "--precision", "fp32",
                           "--out", root / "export")
    assert code == 0, err
    return root / "export" / "model_fp32.tflite"


def test_a_detector_scores_frames_at_its_training_size_as_edgeae_score_does(
        small_detector, tmp_path, caplog):
    """Its threshold was set on 16x16 images: a 48x64 frame is scored resized to that, as
    `edgeae score` resizes it, so a frame gets one score whichever path it takes."""
    frames_ = camera_clip(4)[..., 0]
    folder = write_folder(tmp_path / "frames", frames_)
    code, _, err = run_cli("score", "--model", small_detector, "--data", folder,
                           "--out", tmp_path / "scores.csv")
    assert code == 0, err
    rows = (tmp_path / "scores.csv").read_text().splitlines()[1:]
    cli = {row.split(",")[0]: float(row.split(",")[1]) for row in rows}
    model = rt.load(small_detector, task="score")
    assert model.score_size == (16, 16)
    for name, frame in zip(sorted(p.name for p in folder.rglob("*.png")), frames_):
        result = model.score(frame)
        assert result.score == pytest.approx(cli[name], rel=1e-5)
        assert result.heatmap.shape == frame.shape  # drawn over the frame itself
        # the same pixels, to the bit (an ulp apart, an edge's HOG cell had flipped a decision)
        assert model.score_batch(frame[None]).score[0] == result.score
    resized = model.score(frames_[0]).score
    model.score_size = None  # each frame at its own size: another score
    own_size = model.score(frames_[0]).score
    assert own_size != pytest.approx(resized, rel=1e-3)
    assert model.score_batch(frames_[:1]).score[0] == own_size
    with pytest.raises(UserError, match="score_size must be"):
        model.score_size = (0, 16)
    caplog.clear()
    code, out, err = run_cli("run", "--model", small_detector, "--source", folder,
                             "--task", "score", "--score-size", "frame")
    assert code == 0 and json.loads(out)["frames"] == 4, err
    assert "scoring frames resized" not in caplog.text
    code, out, err = run_cli("run", "--model", small_detector, "--source", folder,
                             "--task", "score")
    assert code == 0, err
    assert "scoring frames resized to 16x16, the size the detector was trained at" in caplog.text


@pytest.fixture(scope="module")
def colour_tflite(tmp_path_factory) -> Path:
    """A colour autoencoder (one epoch on colour blobs) as float32 TFLite."""
    root = tmp_path_factory.mktemp("colour")
    data = write_folder(root / "rgb", blobs(16, channels=3))
    model = train_cli(root / "colour", "autoencoder", data, "--epochs", "1")
    code, _, err = run_cli("export", model, "--format", "tflite", "--precision", "fp32",
                           "--out", root / "export")
    assert code == 0, err
    return root / "export" / "model_fp32.tflite"


def test_gray_frames_are_refused_for_a_colour_model(colour_tflite, tmp_path):
    """A colour model fed gray frames sees what it never learned: one line, before any work."""
    data = write_folder(tmp_path / "rgb", blobs(4, channels=3))
    code, _, err = run_cli("run", "--model", colour_tflite, "--source", data, "--gray",
                           "--output", tmp_path / "out")
    assert code == 2 and "--gray reads gray frames and model_fp32.tflite takes colour" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_frames_opencv_cannot_convert_are_denoised_and_a_bad_colour_order_refused(
        colour_tflite):
    """float64 or float16 frames, Fortran order, views: OpenCV's conversions take none of them
    (they raised cv2.error); the result is the same frame's, in the frame's own dtype. A colour
    order other than 'bgr' or 'rgb' was silently taken as RGB."""
    model = rt.load(colour_tflite, task="denoise")
    frame = blobs(1, size=24, channels=3)[0]
    expected = model.denoise(frame)
    assert np.array_equal(model.denoise(np.asfortranarray(frame)), expected)
    into_view = np.empty((24, 24, 3), np.uint8).transpose(1, 0, 2)
    assert np.array_equal(model.denoise(frame, out=into_view), expected)
    unit = model.denoise(frame.astype(np.float32) / 255)
    for dtype in (np.float64, np.float16):
        result = model.denoise(frame.astype(dtype) / 255)
        assert result.dtype == dtype and np.abs(result - unit).max() < 1e-3
    for order in ("BGR", "xyz"):
        with pytest.raises(UserError, match="color must be 'bgr'"):
            model.denoise(frame, color=order)
        with pytest.raises(UserError, match="color must be 'bgr'"):
            rt.load(colour_tflite, task="score").score(frame, color=order)


def test_score_batch_takes_rgb_as_training_loads_it_and_bgr_when_told(colour_tflite):
    """score() takes OpenCV's BGR, score_batch training's RGB: the same frames had scored
    differently through the two, with nothing to say which order score_batch wanted."""
    scorer = rt.load(colour_tflite, task="score")
    bgr = blobs(3, size=16, channels=3, seed=4)
    one_by_one = [scorer.score(frame) for frame in bgr]
    told = scorer.score_batch(bgr, color="bgr")
    np.testing.assert_allclose(told.score, [r.score for r in one_by_one], rtol=1e-5)
    np.testing.assert_allclose(told.heatmap, [r.heatmap for r in one_by_one], atol=1e-6)
    assert list(one_by_one[0].per_image()) == [one_by_one[0]]  # a frame's: itself
    np.testing.assert_array_equal(scorer.score_batch(bgr[..., ::-1]).heatmap, told.heatmap)
    alone = scorer.score_batch(bgr[0], color="bgr")  # one HxWx3 image: told too
    np.testing.assert_allclose(alone.heatmap[0], told.heatmap[0], atol=1e-6)
    assert np.abs(scorer.score_batch(bgr).heatmap - told.heatmap).max() > 1e-3
    with pytest.raises(UserError, match=r"no frame \(None\)"):
        scorer.score_batch(None)
    with pytest.raises(UserError, match="color must be 'bgr'"):
        scorer.score_batch(bgr, color="BGR")


def test_load_refuses_a_path_that_is_none_and_a_frame_size_that_is_not_one(colour_tflite):
    with pytest.raises(UserError, match="path must be an artifact's file path"):
        rt.load(None)
    for size in ((0, -1), (True, 96)):
        with pytest.raises(UserError, match=r"frame_size must be \(height, width\)"):
            rt.load(colour_tflite, backend="auto", frame_size=size)
    shape = np.zeros((24, 32)).shape  # numpy's integers, as a frame's shape gives them
    size, threads = (np.int64(shape[0]), np.int64(shape[1])), np.int64(1)
    model = rt.load(colour_tflite, backend="auto", frame_size=size, num_threads=threads)
    assert model.reconstruct(blobs(1, size=24, channels=3)[0]).shape == (24, 24, 3)
    assert rt.load(colour_tflite, backend="litert", num_threads=threads).session is not None


def test_run_gray_denoises_one_plane_per_frame(conv_tflite, clip, tmp_path):
    frames = {}
    for flag in ([], ["--gray"]):
        out = tmp_path / f"frames{len(flag)}"
        code, stdout, err = run_cli("run", "--model", conv_tflite, "--source", clip, "--task",
                                    "denoise", "--output", out, "--no-overlay", *flag)
        assert code == 0, err
        assert json.loads(stdout)["frames"] == 40
        frames[bool(flag)] = cv2.imread(str(sorted(out.iterdir())[5]))
    colour, gray = frames[False].astype(int), frames[True].astype(int)
    assert (colour[..., 0] != colour[..., 2]).any()  # per colour plane: planes differ
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_run_denoises_a_video_into_a_complete_file(conv_tflite, clip, tmp_path):
    out = tmp_path / "clean.avi"
    code, stdout, err = run_cli("run", "--model", conv_tflite, "--source", clip, "--task",
                                "denoise", "--output", out, "--side-by-side")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["frames"] == 40 and summary["dropped"] == 0 and summary["stopped_by"] == "end"
    assert summary["fps"] > 0 and 0 < summary["model_ms"]["p50"] <= summary["model_ms"]["p99"]
    video = cv2.VideoCapture(str(out))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    assert int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == 2 * 64  # input | output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    code, _, err = run_cli("run", "--model", conv_tflite, "--source", clip, "--output", out)
    assert code == 2 and "already exists; pass --overwrite" in err


def test_a_video_stops_before_its_disk_fills_and_is_checked_once_finished(clip, tmp_path,
                                                                          monkeypatch):
    """OpenCV's writer says nothing of a failed write: on a full disk an mp4 lost its index
    (unplayable) and an AVI kept 7 readable frames of 100, and the run said all were written."""
    from edgeae.runtime import loop

    video = loop.VideoOutput(tmp_path / "v.avi", 10.0, overwrite=False)
    frame = np.zeros((48, 64, 3), np.uint8)
    for _ in range(20):
        video.write(frame, 0.0)
    free = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(loop.shutil, "disk_usage", lambda _: free._replace(free=1 << 20))
    with pytest.raises(UserError, match="after 32 frames: less than 32 MiB free on its disk"):
        for _ in range(20):
            video.write(frame, 0.0)
    video.close()  # what was written is a whole, playable video
    assert int(cv2.VideoCapture(str(tmp_path / "v.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == 32
    # a file the disk stopped growing (here a size limit): the run fails, no file is left.
    # The whole video is 22-25 kB (its frames/s overlay varies by run): 10 kB cuts it off.
    code = subprocess.run(
        [sys.executable, "-c", "import resource, signal, sys\n"
         "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
         "resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))\n"
         "from edgeae.app.cli import main\nsys.exit(main(sys.argv[1:]))",
         "run", "--pretrained", "live", "--gray", "--source", str(clip), "--output",
         str(tmp_path / "cut.mp4")], capture_output=True, text=True, cwd=tmp_path)
    assert code.returncode == 2 and "cannot be read back" in code.stderr, code.stderr
    assert not list(tmp_path.glob("*cut*"))


def _threshold_between(model, clip_frames: np.ndarray) -> float:
    scores = np.array([model.score(cv2.cvtColor(f, cv2.COLOR_RGB2BGR)).score
                       for f in clip_frames])
    normal = np.delete(scores, list(DEFECTS))
    assert scores[list(DEFECTS)].min() > normal.max()  # the clip is separable at all
    return float((scores[list(DEFECTS)].min() + normal.max()) / 2)


def test_run_scores_defects_into_rate_limited_events(conv_artifacts, clip, tmp_path):
    artifact = conv_artifacts / "model_int8.tflite"
    # the video codec is lossy: score what the decoder gives, as the run will
    decoded = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames(str(clip))])
    threshold = _threshold_between(rt.load(artifact, task="score"), decoded)
    events = tmp_path / "events.jsonl"
    code, stdout, err = run_cli("run", "--model", artifact, "--source", clip, "--task", "score",
                                "--threshold", threshold, "--events", events,
                                "--event-interval", "0", "--output", tmp_path / "frames")
    assert code == 0, err
    summary = json.loads(stdout)
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["frame"] for e in lines] == list(DEFECTS) and summary["events"] == len(DEFECTS)
    assert summary["anomalies"] == len(DEFECTS)
    assert all(e["score"] > threshold and e["anomaly"] for e in lines) and "time" in lines[0]
    assert all(44 <= e["peak"]["x"] < 56 and 6 <= e["peak"]["y"] < 18 for e in lines), lines
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 40
    code, stdout, _ = run_cli("run", "--model", artifact, "--source", clip, "--task", "score",
                              "--threshold", threshold, "--events", events, "--overwrite")
    assert code == 0 and json.loads(stdout)["events"] == 1  # one per second at the most
    assert len(events.read_text().splitlines()) == 1  # --overwrite started the log afresh
    with open(events, "a") as log:
        log.write('{"id": "cut sho')  # a run killed mid-line
    code, stdout, _ = run_cli("run", "--model", artifact, "--source", clip, "--task", "score",
                              "--threshold", threshold, "--events", events)
    assert code == 0 and json.loads(stdout)["events"] == 1  # a restart goes on with the log
    lines = events.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["frame"] == DEFECTS[0]
    # a file's events are limited in its own time (10 frames/s: the defects span 0.4 s), not
    # in wall time, where at 8 frames/s they spanned 0.5 s and gave a second event
    code, stdout, _ = run_cli("run", "--model", artifact, "--source", clip, "--task", "score",
                              "--threshold", threshold, "--max-fps", "8", "--event-interval",
                              "0.45", "--events", tmp_path / "paced.jsonl")
    assert code == 0 and json.loads(stdout)["events"] == 1


def test_run_decides_at_the_threshold_edgeae_threshold_wrote(conv_artifacts, clip, tmp_path):
    for name in ("model_int8.tflite", "model_int8.tflite.json"):  # a copy: the fixture is shared
        shutil.copy(conv_artifacts / name, tmp_path / name)
    artifact = tmp_path / "model_int8.tflite"
    decoded = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames(str(clip))])
    threshold = _threshold_between(rt.load(artifact, task="score"), decoded)
    code, _, err = run_cli("threshold", artifact, "--strategy", f"fixed:{threshold!r}")
    assert code == 0, err
    events = tmp_path / "events.jsonl"
    code, stdout, err = run_cli("run", "--model", artifact, "--source", clip, "--task", "score",
                                "--events", events, "--event-interval", "0")  # no --threshold
    assert code == 0, err
    assert [json.loads(line)["frame"] for line in events.read_text().splitlines()] == list(DEFECTS)


def test_live_source_keeps_the_newest_frame_and_reconnects(clip):
    """A real stream (the clip over file://) that ends is a lost connection: it is reopened
    with back-off; a slow consumer gets the newest frame and the skipped ones are counted."""
    stats, stop = SourceStats(), threading.Event()
    got = 0
    for frame in frames(Source("stream", f"file://{clip}"), stats, stop, Backoff(0.01, 0.05)):
        assert frame.shape == (48, 64, 3)
        got += 1
        time.sleep(0.02)  # slower than the decoder
        if stats.reconnects >= 2 or got > 400:
            stop.set()
    assert stats.reconnects >= 2 and stats.dropped > 0 and stats.frames == got


def test_folder_source(conv_tflite, tmp_path):
    folder = write_folder(tmp_path / "in", camera_clip(5))
    code, stdout, err = run_cli("run", "--model", conv_tflite, "--source", folder,
                                "--output", tmp_path / "out", "--max-fps", "100")
    assert code == 0, err
    assert json.loads(stdout)["frames"] == 5
    assert len(list((tmp_path / "out").glob("*.png"))) == 5
    image = next(folder.rglob("*.png"))  # --events over one of the input images: refused
    before = image.read_bytes()
    code, _, err = run_cli("run", "--model", conv_tflite, "--source", folder, "--task", "score",
                           "--events", image, "--overwrite")
    assert code == 2 and "is an image of the --source folder" in err
    assert image.read_bytes() == before


def test_folder_of_16_bit_float_transparent_and_turned_images_gives_upright_8_bit_frames(
        tmp_path, caplog):
    """A folder source gives frames as a camera would: 16 bits and [0, 1] floats scaled to 8,
    alpha dropped, a photo turned upright by its EXIF orientation."""
    gray = blobs(1, size=24)[0][..., 0]
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    folder = tmp_path / "stills"
    folder.mkdir()
    for name, image in (("a_8bit", gray), ("b_16bit", gray.astype(np.uint16) * 257),
                        ("c_rgba", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)),
                        ("d_rgb_16bit", colour.astype(np.uint16) * 257)):
        cv2.imwrite(str(folder / f"{name}.png"), image)
    cv2.imwrite(str(folder / "e_float.tif"), gray.astype(np.float32) / 255)
    cv2.imwrite(str(folder / "f_float_0_255.tif"), gray.astype(np.float32))  # no [0, 1] pixels
    cv2.imwrite(str(folder / "f_int16.tif"), gray.astype(np.int16))  # had ended the folder's run
    shown = np.dstack([gray, gray // 2, 255 - gray])[:, :20]  # 24x20: turned, it is 20x24
    turned_by_exif(folder / "g_portrait.png", shown[..., ::-1])  # PIL writes RGB
    got = list(frames(Source("folder", str(folder)), SourceStats()))
    assert [f.dtype for f in got] == [np.uint8] * 6
    np.testing.assert_array_equal(got[1], gray)
    np.testing.assert_array_equal(got[2], colour)
    np.testing.assert_array_equal(got[3], colour)
    np.testing.assert_array_equal(got[4], gray)  # a float TIFF was all 0 and 1 (black)
    np.testing.assert_array_equal(got[5], shown)  # upright, as the photo is shown
    assert "f_float_0_255.tif: float pixels outside [0, 1]" in caplog.text
    assert "f_int16.tif: int16 pixels, which no camera gives" in caplog.text
    gray_frames = list(frames(Source("folder", str(folder)), SourceStats(),
                              options=CaptureOptions(gray=True)))
    assert len(gray_frames) == 6 and all(f.ndim == 2 for f in gray_frames)
    np.testing.assert_array_equal(gray_frames[4], gray)
    assert caplog.text.count("f_float_0_255.tif") == 1  # said once, not per reading
    np.testing.assert_array_equal(gray_frames[5], cv2.cvtColor(shown, cv2.COLOR_BGR2GRAY))
    # a camera by its device path, which a service names (by-id) and may find unplugged
    assert parse_source("/dev/v4l/by-id/usb-cam-video-index0") == Source(
        "camera", "/dev/v4l/by-id/usb-cam-video-index0")
    # one photo alone is that still, upright: FFmpeg had read it as a video, sideways
    alone = folder / "g_portrait.png"
    assert parse_source(str(alone)).kind == "image"
    got = list(frames(str(alone)))
    assert len(got) == 1 and np.array_equal(got[0], shown)
    nameless = tmp_path / "IMG_0001"  # a photo saved without a suffix: still an image
    nameless.write_bytes(alone.read_bytes())
    assert parse_source(str(nameless)).kind == "image"
    assert np.array_equal(next(frames(str(nameless))), shown)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match=r"broken.jpg: not an image OpenCV can read$"):
        list(frames(str(tmp_path / "broken.jpg")))


def test_a_file_is_a_still_or_a_video_by_its_first_bytes_where_its_suffix_does_not_say(
        clip, tmp_path):
    """JPEG's signature starts an MJPEG file too, so it makes a still only without a suffix."""
    ok, jpeg = cv2.imencode(".jpg", blobs(1, size=24)[0])
    for name, data, kind in (("photo", jpeg.tobytes(), "image"),
                             ("frames.mjpeg", jpeg.tobytes(), "video"),
                             ("scan.pnm_", b"P5\n2 2\n255\n" + bytes(4), "image"),
                             ("clip", clip.read_bytes(), "video")):
        (tmp_path / name).write_bytes(data)
        assert parse_source(str(tmp_path / name)).kind == kind, name


def test_run_threads_auto_times_the_loop_per_count_then_plays_every_frame(conv_tflite, clip,
                                                                         tmp_path):
    out = tmp_path / "clean.avi"
    code, stdout, err = run_cli("run", "--model", conv_tflite, "--source", clip, "--task",
                                "denoise", "--threads", "auto", "--output", out)
    assert code == 0, err
    line = next(li for li in err.splitlines() if li.startswith("threads auto: "))
    picked = int(line.split()[2])
    assert picked in candidates()
    for n in candidates():  # every count was timed in the loop
        assert f"{n} thread{'s' * (n > 1)} " in line
    summary = json.loads(stdout)
    assert summary["frames"] == 40 and summary["stopped_by"] == "end"  # trials took none away
    video = cv2.VideoCapture(str(out))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 40  # and wrote nothing


def test_threads_auto_candidates_and_near_ties():
    assert candidates(1) == [1] and candidates(2) == [1, 2] and candidates(4) == [1, 2, 3, 4]
    assert candidates(16) == [1, 2, 4, 8, 15, 16]
    assert pick({1: 10.0, 2: 9.8}) == 1  # within 5%: the smaller count leaves a core free
    assert pick({1: 10.0, 2: 8.0, 4: 7.9}) == 2
    assert pick({1: 7.0, 2: 8.0}) == 1


@pytest.mark.parametrize(("args", "match"), [
    (["--source", "/no/such/clip.mp4"], "no such source"),
    (["--source", ""], "--source is empty"),  # "" had read every image below the folder
    (["--source", "{text}"], "cannot open video file"),
    (["--source", "{clip}", "--display"], "--display needs OpenCV with a GUI"),
    (["--source", "{clip}", "--task", "denoise", "--events", "e.jsonl"], "--events needs"),
    (["--source", "{clip}", "--task", "score", "--events", "{clip}", "--overwrite"],
     "would write over the input"),
    (["--source", "{clip}", "--task", "score", "--events", "o.avi", "--output", "o.avi"],
     "--events and --output both name o.avi"),
    (["--source", "{clip}", "--task", "score", "--events", "{text}"],
     "is no events log (JSON lines), which --events appends to"),
    (["--source", "{clip}", "--output", "out.xyz"], "cannot write video out.xyz"),
    (["--source", "{clip}", "--max-fps", "0"], "must be > 0.0"),
    (["--source", "{clip}", "--threads", "0"], "must be >= 1"),
    (["--source", "{clip}", "--threads", "many"], "--threads"),
])
def test_run_errors_are_one_line_exit_2(args, match, conv_tflite, clip, tmp_path):
    text = tmp_path / "notes.avi"
    text.write_text("not a video")
    args = [a.format(clip=clip, text=text) for a in args]
    code, _, err = run_cli("run", "--model", conv_tflite, *args)
    assert code == 2 and err.count("\n") == 1 and match in err, err


def _wait_for_lines(log: Path, text: str, count: int, within: float = 60) -> None:
    """Until `log` holds `count` lines with `text` in them."""
    deadline = time.monotonic() + within
    while log.read_text().count(text) < count:
        assert time.monotonic() < deadline, f"fewer than {count} '{text}' in {log.read_text()}"
        time.sleep(0.1)


@pytest.mark.parametrize(("signum", "code", "reason"), [
    (signal.SIGINT, 130, "interrupt"),  # Ctrl-C
    (signal.SIGTERM, 0, "terminate"),  # what systemd and docker stop send
])
def test_signals_finalise_the_output_video(signum, code, reason, conv_tflite, clip, tmp_path):
    out, log = tmp_path / "live.avi", tmp_path / "run.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeae", "run", "--model", str(conv_tflite), "--source",
             f"file://{clip}", "--task", "denoise", "--output", str(out), "--max-fps", "50"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    # The clip, read faster than real time, ends and is reopened about twice a second, a frame
    # or two each time: signal after 8 reopenings however long start-up takes on a busy machine.
    _wait_for_lines(log, "reconnected to stream", 8)
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, _ = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2  # the summary is printed and the process gone within 2 s
    assert proc.returncode == code, log.read_text()
    summary = json.loads(stdout)
    assert summary["stopped_by"] == reason and summary["frames"] >= 5
    assert summary["written"] == summary["frames"]
    video = cv2.VideoCapture(str(out))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["written"]
    assert sum(video.read()[0] for _ in range(summary["written"] + 1)) == summary["written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.avi", "run.log"]  # no temporary


@pytest.mark.parametrize(("signum", "code", "reason"), [
    (signal.SIGINT, 130, "interrupt"), (signal.SIGTERM, 0, "terminate")])
def test_a_signal_while_threads_auto_times_its_trials_ends_the_run_as_in_the_loop(
        signum, code, reason, conv_tflite, clip, tmp_path):
    """SIGTERM in the trials exited 130 with no summary, which systemd logged as a failure."""
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeae", "run", "--model", str(conv_tflite), "--source",
             f"file://{clip}", "--task", "denoise", "--threads", "auto"],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)})
    _wait_for_lines(log, "reconnected to stream", 2)  # a trial is under way
    proc.send_signal(signum)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == code, log.read_text()
    assert json.loads(stdout)["stopped_by"] == reason
    assert "threads auto:" not in log.read_text()  # stopped before any pick


def wait_for_the_writer(proc: subprocess.Popen, out: Path) -> None:
    """Return once the denoised video's temporary file is open in `out`.

    Its first bytes come only when the encoder's 256 kB buffer fills: 30-35 s of `live` on a CPU
    without VNNI, where the writer's open file is all a stopped run has to clean up.
    """
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_video_denoise_stopped_by_a_signal_leaves_no_file(signum, code, tmp_path):
    """`denoise` has a whole video to make, unlike `run` watching a camera: stopped halfway, it
    leaves nothing under the output's name (a rerun would refuse to replace the cut file) and
    exits as a stopped command does."""
    video = write_video(tmp_path / "long.avi", camera_clip(300, 240, 320))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # the shipped U-Net: seconds of frames left when the signal comes (the tiny conv model,
    # with no frame-rate text to draw, finished all 300 first)
    proc = subprocess.Popen([sys.executable, "-m", "edgeae", "denoise", "--pretrained", "live",
                             str(video), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for_the_writer(proc, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] in ("edgeae: interrupted", "edgeae: terminated")
    assert list(out.iterdir()) == []  # neither the video nor a temporary


def test_the_temporaries_a_killed_denoise_left_are_removed_by_the_next_run(tmp_path):
    """SIGKILL cannot be caught: its temporary files stayed, hidden, through every rerun."""
    video = write_video(tmp_path / "long.avi", camera_clip(300, 240, 320))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "edgeae", "denoise", "--pretrained", "live",  # seconds
               str(video), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wait_for_the_writer(proc, out)
    proc.kill()
    proc.communicate(timeout=30)
    assert list(out.iterdir()) and not (out / "long.avi").exists()  # what it left
    write_video(video, camera_clip(3, 240, 320))  # the rerun's work is beside the point
    rerun = subprocess.run(command, capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in out.iterdir()) == ["long.avi"]


def test_run_into_a_folder_again_replaces_the_earlier_frames(conv_tflite, tmp_path):
    """With --overwrite, a shorter second run leaves none of the first run's later frames."""
    frames = tmp_path / "frames"
    for count in (5, 2):
        source = write_folder(tmp_path / f"source{count}", camera_clip(count))
        code, _, err = run_cli("run", "--model", conv_tflite, "--source", source, "--output",
                               frames, "--overwrite")
        assert code == 0, err
    assert sorted(p.name for p in frames.iterdir()) == ["frame_000000.png", "frame_000001.png"]


def test_a_duration_that_ends_before_any_frame_says_why(caplog):
    """A camera that is not there, with a short --duration, exited 0 without a word."""
    code, out, err = run_cli("run", "--pretrained", "live", "--source", "7", "--duration", "1")
    assert code == 0 and json.loads(out)["frames"] == 0, err
    assert "--duration ended before the first frame: cannot open camera 7" in caplog.text


@pytest.mark.parametrize(("words", "needs"), [
    (["--camera-size", "640x480"], "a camera"), (["--fourcc", "MJPG"], "a USB camera"),
    (["--wait-for-source", "3"], "a live source"), (["--read-timeout", "3"], "a stream"),
    (["--queue-max", "5"], "a sink"), (["--status-interval", "9"], "a sink"),
    (["--health-timeout", "3"], "--serve"), (["--event-interval", "0"], "--task score"),
    (["--side-by-side"], "frames to draw on"), (["--no-overlay"], "frames to draw on"),
])
def test_an_option_without_what_it_works_on_is_one_line(words, needs, clip):
    """Each was accepted and did nothing (a video file has no camera size, a run without sinks
    no queue, a denoiser no events)."""
    code, _, err = run_cli("run", "--pretrained", "live", "--source", clip, *words)
    assert code == 2 and f"{words[0]} does nothing without {needs}" in err, err
    assert len(err.strip().splitlines()) == 1
