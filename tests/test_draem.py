"""The discriminative detector (`--model draem`): synthetic anomalies, training, maps, engines."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from test_detect import stripes, write_stripe_case

import edgeae.runtime as rt
from edgeae.core.formats import FORMATS
from edgeae.core.metrics import pixel_metrics
from edgeae.runtime.backends import int8_sums_saturate
from edgeae.train.anomalies import (
    NORMAL_FRACTION,
    THRESHOLD,
    anomaly_mask,
    paste_anomalies,
    perlin_noise,
    texture_crop,
)
from edgeae.train.detector import MASK_SCORE, Detector
from edgeae.train.fit import TrainSettings, with_mask_score
from edgeae.train.thresholds import MASK_THRESHOLD

from conftest import run_cli, train_cli, write_folder


def test_perlin_noise_is_smooth_gradient_noise_of_its_scale():
    rng = np.random.default_rng(0)
    coarse, fine = perlin_noise((64, 64), (2, 2), rng), perlin_noise((64, 64), (16, 16), rng)
    assert np.abs(coarse).max() <= 1.0 and np.abs(fine).max() <= 1.0
    assert coarse[0, 0] == pytest.approx(0.0, abs=1e-12)  # zero at every grid corner
    assert fine[4, 4] == pytest.approx(0.0, abs=1e-12)  # 16 cells of 4 pixels

    def neighbour_correlation(noise: np.ndarray) -> float:
        return float(np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1])

    assert neighbour_correlation(coarse) > 0.99 > neighbour_correlation(fine) > 0.7


def test_pasted_anomalies_change_only_their_masks_and_leave_half_the_images_normal():
    images = stripes(200, seed=0).astype(np.float32) / 255
    pasted, masks = paste_anomalies(images, np.array([3, 4]))
    again, _ = paste_anomalies(images, np.array([3, 4]))
    np.testing.assert_array_equal(pasted, again)  # seeded
    assert set(np.unique(masks)) <= {0.0, 1.0} and masks.shape == (200, 48, 48, 1)
    np.testing.assert_array_equal(pasted[masks == 0], images[masks == 0])
    assert (np.abs(pasted - images)[masks == 1] > 0).mean() > 0.5  # a texture, not a copy
    with_anomaly = masks.reshape(200, -1).max(axis=1) > 0
    assert abs(with_anomaly.mean() - (1 - NORMAL_FRACTION)) < 0.12
    areas = masks.reshape(200, -1).mean(axis=1)[with_anomaly]
    assert areas.min() < 0.02 and areas.max() > 0.1  # blobs of many sizes
    single = anomaly_mask((48, 64), np.random.default_rng(1))
    assert single.shape == (48, 64) and THRESHOLD > 0
    textures = np.zeros((3, 48, 48, 1), np.float32)  # black: re-toned, at most 0.3 bright
    filled, masks = paste_anomalies(images, np.array([3, 4]), textures)
    inside = (filled - images * (1 - masks))[masks == 1]  # texture share + image share
    assert inside.size and (inside <= 0.3 + images[masks == 1].max()).all()
    np.testing.assert_array_equal(masks, paste_anomalies(images, np.array([3, 4]))[1])


def test_texture_crops_fill_any_shape_from_any_image():
    rng = np.random.default_rng(0)
    wide = rng.random((30, 200, 3)).astype(np.float32)
    crop = texture_crop(wide, (48, 64), rng)
    assert crop.shape == (48, 64, 3) and crop.dtype == np.float32
    assert texture_crop(rng.random((8, 8, 1)).astype(np.float32), (32, 32), rng).shape == (
        32, 32, 1)  # smaller than the crop: scaled up


@pytest.mark.slow
def test_anomaly_source_textures_train_and_are_recorded(tmp_path, caplog):
    write_folder(tmp_path / "normal", stripes(40, seed=0))
    write_folder(tmp_path / "textures", (np.random.default_rng(0).random((5, 90, 70, 3)) * 255
                                         ).astype(np.uint8))  # colour, another size
    (tmp_path / "textures" / "broken.png").write_bytes(b"not a png")
    det = train_cli(tmp_path / "det", "detector", tmp_path / "normal", "--model", "draem",
                    "--size", "tiny", "--epochs", "1", "--batch-size", "8",
                    "--anomaly-source", tmp_path / "textures")
    manifest = json.loads((det / "manifest.json").read_text())
    assert manifest["training"]["anomaly_source"] == str(tmp_path / "textures")
    assert caplog.text.count("broken.png") == 1  # scanned once: every file had been decoded 5x


@pytest.mark.slow
@pytest.mark.parametrize("model, threshold, expected", [
    ("draem", None, MASK_THRESHOLD),  # its own default
    ("draem", "mean+2std", "mean+2std"),  # the user's, kept
    ("conv", None, None),  # training falls back to DEFAULT_THRESHOLD
])
def test_a_mask_predictor_gets_its_own_default_threshold(model, threshold, expected):
    settings = TrainSettings(task="detector", architecture=model, threshold=threshold)
    assert with_mask_score(settings).threshold == expected


def test_a_mask_predictors_score_takes_only_what_the_user_changed():
    """`--score-smooth 0` on a draem changes its smoothing, not its pooling or k-NN part."""
    from edgeae.train.detector import DEFAULT_SCORE

    for given, expected in [(DEFAULT_SCORE, MASK_SCORE), (TrainSettings().score, MASK_SCORE),
                            (DEFAULT_SCORE.model_copy(update={"smooth": 0.0}),
                             MASK_SCORE.model_copy(update={"smooth": 0.0}))]:
        settings = TrainSettings(task="detector", architecture="draem", score=given)
        assert with_mask_score(settings).score == expected


def test_draem_learns_where_defects_are_and_runs_in_every_engine(tmp_path):
    broken, masks = write_stripe_case(tmp_path, 160)
    det = train_cli(tmp_path / "det", "detector", tmp_path / "normal", "--model", "draem",
                    "--size", "tiny", "--epochs", "12", "--batch-size", "16")
    manifest = json.loads((det / "manifest.json").read_text())
    assert manifest["score"]["maps"] == "mask" and manifest["score"]["knn"] == 0
    assert manifest["score"]["smooth"] == MASK_SCORE.smooth
    assert manifest["threshold_strategy"] == MASK_THRESHOLD
    code, _, err = run_cli("evaluate", "--model", det, "--data", tmp_path / "test", "--masks",
                           tmp_path / "masks", "--out", tmp_path / "metrics.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["pixel"]["pixel_auroc"] > 0.95, metrics["pixel"]  # 0.991 when written
    assert metrics["auroc"] > 0.95, metrics  # 1.0

    # on x86 without VNNI OpenVINO's int8 kernels saturate: the IR's int8 file failed its gate
    # there (0.0067 pixel AUROC lost on an AMD EPYC with AVX2 only) until the export halved
    # every layer's weights on such a CPU (NNCF's overflow fix); onnxruntime multiplies exactly
    # (its exact kernels there)
    int8_formats = ("tflite", "onnx", "openvino")  # --format all
    code, _, err = run_cli("export", det, "--format", "all", "--precision", "fp32,int8", "--out",
                           tmp_path / "export")
    assert code == 0, err
    onnx_int8 = json.loads((tmp_path / "export" / "model_int8.onnx.json").read_text())["artifact"]
    assert onnx_int8["quantization"]["activation_ranges"] == "cover"  # the pasted anomalies'
    # the export checks the ONNX file in OpenVINO too, which saturates it the same way there
    # (0.071 pixel AUROC lost): it is quantized again with 7-bit weights
    assert onnx_int8["quantization"]["overflow_fix"] is (True if int8_sums_saturate() else None)
    ir_int8 = json.loads((tmp_path / "export" / "model_int8.xml.json").read_text())["artifact"]
    assert ir_int8["quantization"]["overflow_fix"] is int8_sums_saturate()
    report = json.loads((tmp_path / "export" / "parity.json").read_text())["artifacts"]
    int8 = [r for r in report if r["precision"] == "int8"]  # gated by their masks' pixel AUROC
    assert len(int8) == len(int8_formats), int8
    assert all(r["gate"] == "AUROC drop <= 0.005" for r in int8), int8
    assert all(r["n_labelled"] == r["n_samples"] * broken[0].size for r in report), report
    keras = Detector.load(det).scores(broken)
    float_auroc = pixel_metrics(keras.heatmap, masks)["pixel_auroc"]
    for name in ("model_fp32.tflite", "model_fp32.onnx", "model_fp32.xml"):
        fp32 = rt.load(tmp_path / "export" / name).score_batch(broken)
        np.testing.assert_allclose(fp32.heatmap, keras.heatmap, atol=1e-4)
    for name in (f"model_int8{FORMATS[f].suffix}" for f in int8_formats):
        scorer = rt.load(tmp_path / "export" / name)
        int8_auroc = pixel_metrics(scorer.score_batch(broken).heatmap, masks)["pixel_auroc"]
        assert int8_auroc > float_auroc - 0.01, (name, int8_auroc, float_auroc)
        frame = scorer.score(cv2.cvtColor(broken[0], cv2.COLOR_GRAY2BGR))  # a camera's frame
        assert 0.0 <= frame.heatmap.min() and frame.heatmap.max() <= 1.0
        assert masks[0][np.unravel_index(np.argmax(frame.heatmap), masks[0].shape)]
        assert scorer.heat_scale == 1.0  # a probability, drawn hottest at 1
        restored = scorer.reconstruct(broken[:2])
        assert restored.shape == broken[:2].shape  # the reconstruction, without the mask
    code, _, err = run_cli("report", det, "--out", tmp_path / "report.html")
    assert code == 0 and "anomaly map" in (tmp_path / "report.html").read_text(), err


@pytest.mark.parametrize("args, message", [
    (("autoencoder", "--model", "draem"), "train it with `edgeae train detector --model draem`"),
    (("detector", "--score-maps", "mask"), "needs a model that predicts one: --model draem"),
    (("detector", "--model", "draem", "--loss", "mae"), "drop --loss"),
    (("detector", "--anomaly-source", "{textures}"), "add --model draem or drop it"),
    (("detector", "--model", "draem", "--anomaly-source", "{empty}"), "no images found in it"),
    (("detector", "--model", "draem", "--anomaly-source", "{missing}"), "no such file"),
])
def test_draem_misuse_is_one_line_exit_2(args, message, gray_folder, tmp_path):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty", missing=tmp_path / "missing", textures=gray_folder)
            for a in args]
    code, _, err = run_cli("train", args[0], "--data", gray_folder, "--out", tmp_path / "m",
                           *args[1:])
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "m").exists()  # refused before any work
