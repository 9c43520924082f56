"""Anomaly detection: scores, threshold strategies, metrics, the Detector API and its commands."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.errors import UserError
from edgeae.core.manifest import PatchMapConfig, ScoreConfig
from edgeae.core.metrics import detection_metrics, pixel_metrics
from edgeae.export.options import Tolerances
from edgeae.runtime.scoring import anomaly_scores
from edgeae.runtime.threshold import (
    QUANTILE_LEVELS,
    best_f1_threshold,
    parse_threshold,
    resolve_threshold,
    score_stats,
)
from edgeae.train.detector import Detector

from conftest import blobs, run_cli, train_cli, write_folder


def defects(images: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Copies with a bright 5x5 square of noise pasted somewhere, and the square's masks."""
    rng = np.random.default_rng(seed)
    out, masks = images.copy(), np.zeros(images.shape[:3], np.uint8)
    for img, mask in zip(out, masks):
        y, x = rng.integers(0, images.shape[1] - 5, 2)
        img[y:y + 5, x:x + 5] = rng.integers(128, 256, (5, 5, images.shape[3]))
        mask[y:y + 5, x:x + 5] = 255
    return out, masks


@pytest.mark.parametrize("spec, canonical", [
    ("mean+1std", "mean+1std"), ("MEAN + 2.5std", "mean+2.5std"),
    ("percentile:99", "percentile:99"), ("contamination:0.05", "contamination:0.05"),
    ("best-f1", "best-f1"), ("fixed:0.012", "fixed:0.012")])
def test_threshold_specs_are_canonical(spec, canonical):
    assert str(parse_threshold(spec)) == canonical


@pytest.mark.parametrize("spec", ["mean", "percentile:101", "contamination:0.9", "top:3", ""])
def test_bad_threshold_spec_is_one_line_exit_2(spec, gray_folder, tmp_path):
    with pytest.raises(UserError):
        parse_threshold(spec)
    code, _, err = run_cli("train", "detector", "--data", gray_folder, "--threshold", spec,
                           "--out", tmp_path / "det")
    assert code == 2 and "threshold" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "det").exists()


def test_threshold_strategies_follow_their_definitions():
    rng = np.random.default_rng(0)
    train, val = rng.gamma(2.0, 1.0, 5000), rng.gamma(2.0, 1.1, 800)
    stats = score_stats(train, val)
    assert resolve_threshold(parse_threshold("mean+1std"), stats) == pytest.approx(
        train.mean() + train.std())
    assert resolve_threshold(parse_threshold("mean+2std"), stats) == pytest.approx(
        train.mean() + 2 * train.std())
    assert resolve_threshold(parse_threshold("percentile:99"), stats) == pytest.approx(
        np.percentile(val, 99))  # held-out normal scores, not training ones
    assert resolve_threshold(parse_threshold("contamination:0.05"), stats) == pytest.approx(
        np.percentile(train, 95))
    assert resolve_threshold(parse_threshold("fixed:3.5"), stats) == 3.5
    between = resolve_threshold(parse_threshold("percentile:97.25"), stats)
    assert np.percentile(val, 97) <= between <= np.percentile(val, 97.5)
    assert len(QUANTILE_LEVELS) == len(stats.train_quantiles) == 201
    with pytest.raises(UserError, match="labelled"):
        resolve_threshold(parse_threshold("best-f1"), stats)
    with pytest.raises(UserError, match="statistics"):
        resolve_threshold(parse_threshold("mean+1std"), None)


def test_best_f1_threshold_maximises_f1_without_splitting_ties():
    scores = np.array([0.1, 0.2, 0.2, 0.3, 0.7, 0.8, 0.9, 0.25])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    t = best_f1_threshold(scores, labels)
    predicted = scores > t
    f1 = 2 * np.sum(predicted & (labels == 1)) / (predicted.sum() + labels.sum())
    for cut in np.unique(scores):  # no cut between the distinct scores does better
        p = scores > cut
        assert 2 * np.sum(p & (labels == 1)) / (p.sum() + labels.sum()) <= f1 + 1e-12
    assert 0.2 < t < 0.25  # flags 0.25 (the hard anomaly) and the 0.3 normal: F1 0.89
    with pytest.raises(UserError, match="both"):
        best_f1_threshold(scores, np.zeros(8))


@pytest.mark.parametrize(("images", "match"), [
    (np.full((8, 16, 16), 200.0, np.float32), "floats in \\[200, 200\\].*divide by 255"),
    (np.full((8, 16, 16), np.nan, np.float32), "NaN or inf"),
    (np.zeros((8, 16, 16), np.int64), "dtype int64"),
])
def test_the_python_api_checks_arrays_as_data_does(images, match, tmp_path):
    """0-255 floats trained a detector on white images, NaN on black ones, without a word."""
    with pytest.raises(UserError, match=match):
        Detector(epochs=1, batch_size=4).fit(images, out=tmp_path / "det")
    assert not (tmp_path / "det").exists()



def test_training_a_detector_on_labelled_sub_folders_warns(detector_data, tmp_path, caplog):
    code, _, err = run_cli("train", "detector", "--data", detector_data["root"] / "test",
                           "--epochs", "1", "--out", tmp_path / "det")
    assert code == 0, err
    assert "has 2 sub-folders (defect, good): the detector learns every image" in caplog.text


def test_scores_pool_error_maps():
    rng = np.random.default_rng(0)
    x = rng.random((3, 12, 10, 2)).astype(np.float32)
    y = x + rng.normal(0, 0.1, x.shape).astype(np.float32)
    y[1, 2:4, 3:5] += 0.8  # a small defect in image 1
    per_pixel = np.square(y - x).mean(axis=3)
    mean, maps = anomaly_scores(x, y)
    np.testing.assert_allclose(mean, np.mean((y - x) ** 2, axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(maps, per_pixel, rtol=1e-6)
    peak, _ = anomaly_scores(x, y, ScoreConfig(pool="max"))
    np.testing.assert_allclose(peak, per_pixel.reshape(3, -1).max(axis=1), rtol=1e-6)
    top, _ = anomaly_scores(x, y, ScoreConfig(pool="top:0.1"))  # the 12 highest of 120 pixels
    expected = np.sort(per_pixel.reshape(3, -1), axis=1)[:, -12:].mean(axis=1)
    np.testing.assert_allclose(top, expected, rtol=1e-6)
    assert top[1] / top[0] > mean[1] / mean[0]  # top-k pooling stresses small defects
    smooth, smooth_maps = anomaly_scores(x, y, ScoreConfig(smooth=1.5, error="absolute"))
    assert smooth_maps.std() < np.abs(y - x).mean(axis=3).std()
    np.testing.assert_allclose(smooth, np.abs(y - x).mean(axis=(1, 2, 3)), rtol=0.05)


def test_detection_and_pixel_metrics():
    m = detection_metrics(np.array([0.1, 0.2, 0.8, 0.9, 0.3]), np.array([0, 0, 1, 1, 1]), 0.5)
    assert m["auroc"] == 1.0 and m["aupr"] == 1.0
    assert m["accuracy"] == 0.8 and m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[2, 0], [1, 2]]
    one_class = detection_metrics(np.array([0.1, 0.2]), np.array([0, 0]), 0.5)
    assert one_class["auroc"] is None and "only normal" in one_class["note"]
    assert one_class["accuracy"] == 1.0

    masks = np.zeros((2, 20, 20), bool)
    masks[0, 2:5, 2:5] = masks[0, 10:18, 10:18] = masks[1, 5:7, 5:7] = True
    perfect = pixel_metrics(masks.astype(np.float32), masks)
    assert perfect["pixel_auroc"] == 1.0 and perfect["pro"] == pytest.approx(1.0, abs=0.01)
    missed_small = masks.astype(np.float32)
    missed_small[0, 2:5, 2:5] = missed_small[1, 5:7, 5:7] = 0  # two of three regions missed
    partial = pixel_metrics(missed_small, masks)
    assert partial["pro"] < 0.6 < partial["pixel_auroc"]  # PRO weighs every region equally
    sizes = partial["by_defect_size"]  # regions of 1%, 2.25% and 16% of their 20x20 image
    assert list(sizes) == ["small (up to 1%)", "medium (1-5%)", "large (over 5%)"]
    assert [v["regions"] for v in sizes.values()] == [1, 1, 1]
    assert sizes["large (over 5%)"]["pixel_auroc"] == 1.0 == sizes["large (over 5%)"]["pro"]
    small = sizes["small (up to 1%)"]
    assert small["pixel_auroc"] == 0.5 and small["pro"] < 0.2  # missed: ranked as normal
    assert pixel_metrics(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)))["pro"] is None


@pytest.fixture(scope="module")
def detector_data(tmp_path_factory) -> dict:
    """Normal blobs to train on; a labelled test folder (good/, defect/) with defect masks."""
    root = tmp_path_factory.mktemp("detect")
    normal = blobs(160, seed=0)
    test_normal = blobs(24, seed=5)
    broken, masks = defects(blobs(24, seed=6))
    write_folder(root / "normal", normal)
    write_folder(root / "test" / "good", test_normal)
    write_folder(root / "test" / "defect", broken)
    for i, mask in enumerate(masks):
        (root / "masks" / "defect").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "masks" / "defect" / f"img_{i:03d}.png"), mask)
    return {"root": root, "normal": normal, "test_normal": test_normal, "broken": broken,
            "masks": masks}


@pytest.mark.slow
def test_detector_api_fits_normal_images_and_keeps_sklearn_signs(detector_data, tmp_path):
    normal, broken = detector_data["normal"], detector_data["broken"]
    det = Detector(epochs=30, batch_size=16).fit(normal, out=tmp_path / "det")  # the defaults
    manifest = json.loads((tmp_path / "det" / "manifest.json").read_text())
    assert manifest["task"] == "detector" and manifest["threshold_strategy"] == "mean+1std"
    assert manifest["architecture"] == "dense" and manifest["score"]["pool"] == "top:0.1"
    assert (manifest["score"]["knn"], manifest["score"]["combine"]) == (5, "knn")
    assert manifest["score"]["hog_cell"] == 16 // 7 and (tmp_path / "det" / "memory.npy").exists()
    stats = manifest["score_stats"]
    assert det.threshold_ == pytest.approx(stats["train_mean"] + stats["train_std"])
    assert stats["n_train"] + stats["n_val"] == len(normal)

    x = np.concatenate([detector_data["test_normal"], broken])
    y = np.r_[np.zeros(24), np.ones(24)]
    scores = det.anomaly_score(x)
    np.testing.assert_allclose(det.score_samples(x), -scores)
    np.testing.assert_array_equal(det.predict(x), (det.decision_function(x) < 0).astype(int))
    assert det.anomaly_map(x).shape == (48, 16, 16)
    metrics = det.evaluate(x, y, masks=np.concatenate([np.zeros((24, 16, 16)),
                                                       detector_data["masks"]]))
    assert metrics["auroc"] > 0.85, metrics  # 0.93 when written
    assert metrics["pixel"]["pixel_auroc"] > 0.85, metrics["pixel"]  # 0.94

    assert det.set_threshold("contamination:0.25") == pytest.approx(
        stats["train_quantiles"][150])  # the 75th percentile of the training scores
    assert Detector.load(tmp_path / "det").threshold_ == det.threshold_
    assert det.set_threshold("best-f1", x, y) == Detector.load(tmp_path / "det").threshold_
    assert det.evaluate(x, y)["f1"] >= metrics["f1"]


@pytest.fixture(scope="module")
def trained_detector(detector_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "det"
    return train_cli(out, "detector", detector_data["root"] / "normal", "--epochs", "12",
                     "--batch-size", "16", "--threshold", "percentile:95", "--score-error",
                     "absolute", "--score-smooth", "0", "--score-pool", "max", "--score-knn", "0")


@pytest.mark.slow
def test_image_size_is_the_size_score_and_evaluate_score_at(trained_detector, detector_data,
                                                           tmp_path):
    """Images were resized to --image-size, then back to the training size: the option only
    added a lossy round trip (README: it chooses another size)."""
    from edgeae.core.images import resize, to_unit_float
    from edgeae.train.keras_backend import open_model

    good = detector_data["root"] / "test" / "good"
    scored = {}
    for size in (None, "24x24"):
        out = tmp_path / f"{size}.csv"
        code, _, err = run_cli("score", "--model", trained_detector, "--data", good, "--out",
                               out, *(("--image-size", size) if size else ()))
        assert code == 0, err
        scored[size] = np.loadtxt(out, delimiter=",", skiprows=1, usecols=1)
    scorer = open_model(trained_detector, None, None, use="score")
    scorer.score_size = (24, 24)
    at_24 = np.stack([resize(to_unit_float(image), (24, 24))  # as --data's reader resizes
                      for image in detector_data["test_normal"]])
    np.testing.assert_allclose(scored["24x24"], scorer.score_batch(at_24).score, rtol=1e-5)
    assert not np.allclose(scored["24x24"], scored[None], rtol=1e-3)


@pytest.mark.slow
def test_score_makes_its_folders_and_refuses_maps_two_images_share(trained_detector,
                                                                   detector_data, tmp_path):
    code, _, err = run_cli("score", "--model", trained_detector, "--data",
                           detector_data["root"] / "test" / "good",
                           "--out", tmp_path / "new" / "folder" / "scores.csv")
    assert code == 0 and (tmp_path / "new" / "folder" / "scores.csv").is_file(), err
    clash = write_folder(tmp_path / "clash", blobs(1, size=16))  # img_000.png, and as a JPEG:
    shutil.copy(clash / "img_000.png", clash / "img_000.jpg")
    code, _, err = run_cli("score", "--model", trained_detector, "--data", clash, "--out",
                           tmp_path / "clash.csv", "--maps", tmp_path / "clash_maps")
    assert code == 2 and "would both write" in err and not (tmp_path / "clash_maps").exists()


def test_detector_commands_score_evaluate_and_rethreshold(trained_detector, detector_data,
                                                          tmp_path):
    root = detector_data["root"]
    info = json.loads(run_cli("info", trained_detector)[1])
    assert info["architecture"] == "dense" and info["params"]["latent_dim"] == 64  # the default
    assert info["threshold_strategy"] == "percentile:95"
    assert {k: info["score"][k] for k in ("error", "smooth", "pool", "knn")} == {
        "error": "absolute", "smooth": 0.0, "pool": "max", "knn": 0}
    assert not (trained_detector / "memory.npy").exists()  # the reconstruction error alone

    code, out, err = run_cli("score", "--model", trained_detector, "--data", root / "test",
                             "--out", tmp_path / "scores.csv", "--maps", tmp_path / "maps")
    assert code == 0, err
    with open(tmp_path / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 48 and json.loads(out)["anomalies"] == sum(
        r["prediction"] == "1" for r in rows)
    flagged = {r["path"].split("/")[0]: 0 for r in rows}
    for r in rows:
        flagged[r["path"].split("/")[0]] += int(r["prediction"])
    assert flagged["defect"] > flagged["good"]
    overlay = cv2.imread(str(tmp_path / "maps" / "defect" / "img_000.png"))
    assert overlay.shape == (16, 16, 3)
    code, _, err = run_cli("score", "--model", trained_detector, "--data", root / "test",
                           "--out", tmp_path / "scores.csv")
    assert code == 2 and "--overwrite" in err

    code, out, err = run_cli("evaluate", "--model", trained_detector, "--data", root / "test",
                             "--masks", root / "masks", "--out", tmp_path / "metrics.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["auroc"] > 0.9 and metrics["pixel"]["pro"] is not None
    assert "auroc" in out and "confusion" in out

    code, out, err = run_cli("threshold", trained_detector, "--strategy", "best-f1",
                             "--data", root / "test")
    assert code == 0, err
    best = json.loads(run_cli("info", trained_detector)[1])
    assert best["threshold_strategy"] == "best-f1"

    code, _, err = run_cli("export", trained_detector, "--format", "all", "--precision",
                           "fp32,int8", "--out", tmp_path / "export", "--labelled", root / "test")
    assert code == 0, err
    code, _, err = run_cli("report", trained_detector, "--export", tmp_path / "export", "--out",
                           tmp_path / "report.html")  # the AUROC parity it measured, and gated
    assert code == 0, err
    page = (tmp_path / "report.html").read_text()
    assert "<th>AUROC</th>" in page and "AUROC drop &lt;= 0.005" in page
    artifact = tmp_path / "export" / "model_int8.tflite"
    scorer = rt.load(artifact)
    assert isinstance(scorer, rt.AnomalyScorer)
    assert scorer.threshold == pytest.approx(best["threshold"])
    assert scorer.manifest.score.pool == "max"
    code, _, err = run_cli("evaluate", "--model", artifact, "--data", root / "test")
    assert code == 0, err
    code, out, err = run_cli("threshold", artifact, "--strategy", "fixed:0.5")
    assert code == 0 and "0.5" in out, err
    assert rt.load(artifact).threshold == 0.5  # the runtime reads the rewritten manifest


def test_evaluate_reads_mvtec_mask_names_and_names_masks_no_image_matched(
        trained_detector, detector_data, tmp_path, caplog):
    """A misnamed mask was skipped in silence: its image counted as free of defects, and the
    pixel metrics were measured over fewer defects than the folder held."""
    root = detector_data["root"]
    args = ("evaluate", "--model", trained_detector, "--data", root / "test", "--masks")
    assert run_cli(*args, root / "masks", "--out", tmp_path / "a.json")[0] == 0
    masks = shutil.copytree(root / "masks", tmp_path / "masks")
    files = sorted((masks / "defect").glob("*.png"))
    for path in files[:5]:  # MVTec AD's names
        path.rename(path.with_name(path.stem + "_mask.png"))
    files[5].rename(masks / "defect" / "005.png")  # matches no image
    caplog.clear()
    assert run_cli(*args, masks, "--out", tmp_path / "b.json")[0] == 0
    assert "1 mask(s) in" in caplog.text and "defect/005.png" in caplog.text
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["pixel"] for n in "ab")
    assert a["pixel_auroc"] != b["pixel_auroc"]  # one defect lost: the warning's point
    (masks / "defect" / "005.png").rename(files[5])
    assert run_cli(*args, masks, "--out", tmp_path / "c.json")[0] == 0
    assert json.loads((tmp_path / "c.json").read_text())["pixel"] == a


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_score_an_archive_in_workers_in_order_and_resume(trained_detector, detector_data,
                                                         tmp_path):
    code, _, err = run_cli("export", trained_detector, "--format", "onnx", "--out",
                           tmp_path / "export")
    assert code == 0, err
    model, test = tmp_path / "export" / "model_fp32.onnx", tmp_path / "test"
    shutil.copytree(detector_data["root"] / "test", test)  # it will grow
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run_cli("score", "--model", model, "--data", test, "--out", one)[0] == 0
    code, out, err = run_cli("score", "--model", model, "--data", test, "--out", two,
                             "--workers", "2", "--maps", tmp_path / "maps")
    assert code == 0 and json.loads(out)["scored"] == 48, err
    assert two.read_bytes() == one.read_bytes()  # same rows, same order, however many workers
    assert len(list((tmp_path / "maps").rglob("*.png"))) == 48

    # an interrupted run: its journal holds the first 20 rows and half of the 21st
    rows = read_rows(one)
    journal = tmp_path / "three.csv.partial"
    digest = hashlib.sha256(model.read_bytes()).hexdigest()  # the model that wrote it
    journal.write_text(f"#model,{digest}\n"
                       + "".join(f"{r['path']},{r['score']}\n" for r in rows[:20])
                       + rows[20]["path"] + ",0.0")
    code, _, err = run_cli("score", "--model", model, "--data", test, "--out",
                           tmp_path / "three.csv")
    assert code == 2 and "--resume" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("score", "--model", model, "--data", test, "--out",
                             tmp_path / "three.csv", "--workers", "2", "--resume")
    summary = json.loads(out)
    assert code == 0 and (summary["scored"], summary["resumed"]) == (28, 20), err
    assert (tmp_path / "three.csv").read_bytes() == one.read_bytes() and not journal.exists()

    # the archive grows: --resume scores only the new images and keeps every earlier row
    write_folder(test / "new", detector_data["broken"][:3])
    code, out, err = run_cli("score", "--model", model, "--data", test, "--out", one,
                             "--resume")
    summary = json.loads(out)
    assert code == 0 and (summary["scored"], summary["resumed"]) == (3, 48), err
    grown = read_rows(one)
    assert [r for r in grown if not r["path"].startswith("new/")] == rows
    assert sum(r["path"].startswith("new/") for r in grown) == 3


def refused(args: list, match: str) -> None:
    """The command exits 2 with one line holding `match`."""
    code, _, err = run_cli(*args)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err


def test_resume_keeps_only_this_models_own_rows(trained_detector, detector_data, tmp_path):
    """--resume took any file at --out for finished rows and rewrote it (a labels CSV became
    scores), mixed in another detector's rows and replaced another run's maps unasked."""
    code, _, err = run_cli("export", trained_detector, "--format", "onnx", "--out",
                           tmp_path / "export")
    assert code == 0, err
    model, test = tmp_path / "export" / "model_fp32.onnx", detector_data["root"] / "test"
    score = ["score", "--model", model, "--data", test, "--resume", "--out"]
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\ngood/a.png,0\n")
    png = tmp_path / "image.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for mine in (labels, png):
        before = mine.read_bytes()
        refused([*score, mine], "is not a scores CSV `edgeae score` wrote")
        assert mine.read_bytes() == before
    other = tmp_path / "other.csv"  # another detector's scores: doubled, as another scale
    assert run_cli("score", "--model", model, "--data", test, "--out", other)[0] == 0
    rows = read_rows(other)
    other.write_text("path,score,prediction\n" + "".join(
        f"{r['path']},{2 * float(r['score']) + 1},{r['prediction']}\n" for r in rows[:5]))
    refused([*score, other], "was scored by another model")
    journal = tmp_path / "j.csv.partial"
    journal.write_text(f"#model,{'0' * 64}\n{rows[0]['path']},0.5\n")
    refused([*score, tmp_path / "j.csv"], "holds another model's scores")
    assert run_cli("score", "--model", model, "--data", test, "--out", tmp_path / "m1.csv",
                   "--maps", tmp_path / "maps")[0] == 0  # another run's maps: kept unless told
    refused([*score, tmp_path / "m2.csv", "--maps", tmp_path / "maps"], "already exists")


@pytest.mark.slow
def test_benchmark_of_a_detector_reports_auroc_per_backend(trained_detector, detector_data,
                                                          tmp_path):
    test = detector_data["root"] / "test"  # defect/ sorts before good/: picks must span both
    code, _, err = run_cli("benchmark", trained_detector, "--precisions", "fp32,int8",
                           "--sizes", "64x48", "--threads", "1", "--repeats", "3", "--data", test,
                           "--limit", "20", "--out", tmp_path / "bench")
    assert code == 0, err
    bench = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert bench["run"]["quality_metric"] == "auroc" and "20 images" in bench["run"]["quality_set"]
    rows = bench["rows"]
    keras = next(r["auroc"] for r in rows if r["backend"] == "keras")
    assert keras > 0.8  # the detector separates defects (0.93 on all 48 when written)
    for r in rows:
        assert r["keras_auroc"] == keras
        # int8: the export gate; measured equal to Keras (0.96) on 2026-11-30
        limit = 1e-6 if r["precision"] == "fp32" else Tolerances().int8_auroc_drop
        assert abs(r["auroc"] - keras) <= limit, r
    only_normal = tmp_path / "only-normal"
    write_folder(only_normal / "good", detector_data["test_normal"])
    code, _, err = run_cli("benchmark", trained_detector, "--backends", "tflite",
                           "--data", only_normal, "--out", tmp_path / "one-class")
    assert code == 2 and "AUROC needs both" in err, err


def test_detector_bad_inputs(trained_detector, detector_data, tmp_path, caplog):
    root = detector_data["root"]
    good = root / "test" / "good"
    code, out, err = run_cli("evaluate", "--model", trained_detector, "--data", good,
                             "--labels", _labels_csv(tmp_path, good, 0))
    assert code == 0 and "only normal" in out, err  # said plainly, not a crash
    short = tmp_path / "short.csv"
    short.write_text("path,label\nimg_000.png,0\n")
    code, _, err = run_cli("evaluate", "--model", trained_detector, "--data",
                           root / "test" / "good", "--labels", short)
    assert code == 2 and "no label for 23 of 24" in err and len(err.strip().splitlines()) == 1
    labels = _labels_csv(tmp_path, good, 0)  # "./" written before a path: the same image
    twice = tmp_path / "twice.csv"
    twice.write_text(labels.read_text().replace("\nimg_", "\n./img_") + "img_000.png,1\n")
    code, _, err = run_cli("evaluate", "--model", trained_detector, "--data", good, "--labels",
                           twice)  # the last row had won unsaid
    assert code == 2 and "labels img_000.png more than once" in err, err
    code, _, err = run_cli("evaluate", "--model", trained_detector, "--data", root / "normal")
    assert code == 2 and "no labels" in err
    big = tmp_path / "bigmasks" / "defect"
    big.mkdir(parents=True)
    for i, mask in enumerate(detector_data["masks"]):
        cv2.imwrite(str(big / f"img_{i:03d}.png"), cv2.resize(mask, (32, 32),
                                                            interpolation=cv2.INTER_NEAREST))
    code, _, err = run_cli("evaluate", "--model", trained_detector, "--data", root / "test",
                           "--masks", tmp_path / "bigmasks")
    assert code == 0, err
    assert "24 mask(s)" in caplog.text and "resized (nearest neighbour)" in caplog.text
    caplog.clear()  # masks the size of their 32x32 images, scored at 16x16: nothing to say
    large = tmp_path / "large"
    for folder, side in (("test", "good"), ("test", "defect")):
        write_folder(large / side, np.stack([cv2.resize(image, (32, 32)) for image in (
            cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(
                (root / folder / side).glob("*.png")))])[..., None])
    code, _, err = run_cli("evaluate", "--model", trained_detector, "--data", large, "--masks",
                           tmp_path / "bigmasks")
    assert code == 0 and "differ in size" not in caplog.text, err
    code, _, err = run_cli("threshold", trained_detector, "--strategy", "best-f1")
    assert code == 2 and "--data" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli("train", "detector", "--data", empty, "--out", tmp_path / "x")
    assert code == 2 and "no images" in err


def _labels_csv(tmp_path: Path, folder: Path, label: int) -> Path:
    path = tmp_path / f"labels{label}.csv"
    names = sorted(p.name for p in folder.iterdir())
    path.write_text("path,label\n" + "".join(f"{n},{label}\n" for n in names))
    return path


def heartbeats(n: int, abnormal: bool, rng: np.random.Generator) -> np.ndarray:
    """ECG-like rows of 140 samples: one sharp beat; abnormal ones grow a late bump."""
    t = np.linspace(0, 1, 140)
    x = rng.normal(3, 0.2, (n, 1)) * np.exp(-((t - 0.3 - rng.normal(0, 0.01, (n, 1))) / 0.03) ** 2)
    x += 0.5 * np.sin(2 * np.pi * t) - 1 + rng.normal(0, 0.05, (n, 140))
    return x + (1.5 * np.exp(-((t - 0.7) / 0.08) ** 2) if abnormal else 0)


@pytest.fixture(scope="module")
def ecg_csv(tmp_path_factory) -> Path:
    """The tutorial's third example in miniature: label 1 = normal, 0 = abnormal (ECG5000's)."""
    rng = np.random.default_rng(0)
    rows = np.concatenate([heartbeats(200, False, rng), heartbeats(60, True, rng)])
    labels = [1] * 200 + [0] * 60
    path = tmp_path_factory.mktemp("ecg") / "ecg.csv"
    lines = [",".join([f"t{i}" for i in range(140)] + ["label"])]
    lines += [",".join(f"{v:.5f}" for v in r) + f",{y}" for r, y in zip(rows, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_series_detector_is_told_its_normal_label_and_not_warned_of_folders(
        ecg_csv, tmp_path, caplog):
    """Without --normal-label it had learned the anomalous rows as normal, and with it the
    labels were taken for sub-folders in a warning that advised --data ecg.csv/normal."""
    code, _, err = run_cli("train", "detector", "--data", ecg_csv, "--label-column", "label",
                           "--out", tmp_path / "d")
    assert code == 2 and "say which with --normal-label" in err, err
    code, _, err = run_cli("train", "detector", "--data", ecg_csv, "--label-column", "label",
                           "--normal-label", "1", "--epochs", "1", "--out", tmp_path / "d")
    assert code == 0, err
    assert "sub-folders" not in caplog.text


def test_a_label_column_outside_a_headerless_csv_is_one_line(tmp_path):
    path = tmp_path / "rows.csv"
    np.savetxt(path, np.random.default_rng(0).random((6, 10)), delimiter=",")
    for column in ("99", "-99"):  # an IndexError had said it
        code, _, err = run_cli("train", "detector", "--data", path, "--label-column", column,
                               "--normal-label", "1", "--out", tmp_path / "d")
        assert code == 2 and f"--label-column {column} is outside" in err, err


@pytest.mark.slow
def test_series_rows_train_evaluate_and_export(ecg_csv, tmp_path):
    det = train_cli(tmp_path / "det", "detector", ecg_csv, "--label-column", "label",
                    "--normal-label", "1", "--epochs", "30")
    info = json.loads(run_cli("info", det)[1])
    data = info["data"]
    assert data["kind"] == "series" and data["image_size"] == [1, 140]
    assert data["n_train"] + data["n_val"] == 200  # the normal rows only
    assert data["label_column"] == "label" and data["normal_label"] == "1"
    values = np.loadtxt(ecg_csv, delimiter=",", skiprows=1)[:, :140]
    assert data["value_range"] == pytest.approx([values.min(), values.max()], abs=1e-9)

    code, _, err = run_cli("evaluate", "--model", det, "--data", ecg_csv, "--out",
                           tmp_path / "keras.json")  # labels and scaling from the manifest
    assert code == 0, err
    keras_metrics = json.loads((tmp_path / "keras.json").read_text())
    assert keras_metrics["n"] == 260 and keras_metrics["n_anomalous"] == 60
    assert keras_metrics["auroc"] > 0.9, keras_metrics
    code, _, err = run_cli("export", det, "--precision", "fp32,int8", "--out",
                           tmp_path / "export")
    assert code == 0, err
    code, _, err = run_cli("evaluate", "--model", tmp_path / "export" / "model_int8.tflite",
                           "--data", ecg_csv, "--out", tmp_path / "int8.json")
    assert code == 0, err
    int8 = json.loads((tmp_path / "int8.json").read_text())
    # the export gate; measured 0.9845 against Keras 0.9889 on 2026-11-30
    assert abs(int8["auroc"] - keras_metrics["auroc"]) <= Tolerances().int8_auroc_drop
    # new rows come without labels: a CSV without the label column, or an array, is scored
    # as the labelled rows are (both were refused for lacking the training CSV's column)
    artifact = tmp_path / "export" / "model_fp32.tflite"
    header = ",".join(f"t{i}" for i in range(140))
    np.savetxt(tmp_path / "new.csv", values, delimiter=",", header=header, comments="")
    np.save(tmp_path / "new.npy", values)
    scored = {}
    for data in (ecg_csv, tmp_path / "new.csv", tmp_path / "new.npy"):
        code, _, err = run_cli("score", "--model", artifact, "--data", data, "--out",
                               tmp_path / f"{data.name}.scores.csv")
        assert code == 0, err
        rows = read_rows(tmp_path / f"{data.name}.scores.csv")
        scored[data.name] = np.array([float(r["score"]) for r in rows])
    assert len(scored["new.csv"]) == 260
    np.testing.assert_allclose(scored["new.csv"], scored[ecg_csv.name], rtol=1e-6)
    np.testing.assert_allclose(scored["new.npy"], scored[ecg_csv.name], rtol=1e-6)
    scorer = rt.load(artifact)  # and from Python: raw rows, scaled by the manifest's range
    np.testing.assert_allclose(scorer.score_rows(values).score, scored[ecg_csv.name], rtol=1e-6)
    assert scorer.score_rows(values[0]).score.shape == (1,)
    with pytest.raises(UserError, match=r"with 140 values each, got shape \(2, 139\)"):
        scorer.score_rows(values[:2, :139])

    np.save(tmp_path / "rows.npy", values[:200])  # an (N, L) array: series without labels
    train_cli(tmp_path / "npy", "detector", tmp_path / "rows.npy", "--epochs", "2")
    assert json.loads(run_cli("info", tmp_path / "npy")[1])["data"]["kind"] == "series"


@pytest.mark.parametrize("options, message", [
    (["--label-column", "beat", "--normal-label", "1"], "no column 'beat'"),
    (["--label-column", "label"], "say which with --normal-label"),
    (["--label-column", "label", "--normal-label", "7"], "no row has label '7'"),
    ([], "non-numeric"),  # the label strings stay in the rows without --label-column
    # given where they read nothing, they were ignored: the anomalies were learned as normal
    (["--normal-label", "1"], "--normal-label needs --label-column"),
    (["--data", "{folder}", "--normal-label", "good"], "is not a .csv (for images, give"),
])
def test_series_bad_inputs_are_one_line_errors(ecg_csv, tmp_path, options, message):
    bad = ecg_csv
    if not options:
        bad = tmp_path / "text.csv"
        bad.write_text("a,b,c\n1,2,x\n3,4,5\n")
    options = [o.format(folder=write_folder(tmp_path / "photos", blobs(4))) for o in options]
    code, _, err = run_cli("train", "detector", "--data", bad, *options, "--out", tmp_path / "d")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_normal_label_matches_its_number_however_the_csv_spells_it():
    from edgeae.core.series import SeriesOptions, series_labels

    # numpy's savetxt writes 1 as 1.000000000000000000e+00, pandas as 1.0: both are label 1
    labels = np.array(["1.000000000000000000e+00", "0.0", "1.0", "1"])
    numeric = SeriesOptions("label", "1")
    assert series_labels(labels, numeric).tolist() == [0, 1, 0, 0]
    words = np.array(["normal", "abnormal", "normal"])
    assert series_labels(words, SeriesOptions("label", "normal")).tolist() == [0, 1, 0]
    with pytest.raises(UserError, match="no row has label '01x'"):
        series_labels(labels, SeriesOptions("label", "01x"))


def test_hog_descriptors_are_scikit_images():
    from skimage.feature import hog

    from edgeae.runtime.features import hog_features, knn_distances, unit_rows

    images = np.concatenate([blobs(6, size=28)[..., 0] / 255.0,
                             np.random.default_rng(0).random((4, 28, 28))]).astype(np.float32)
    for cell, orientations in ((4, 4), (5, 9)):
        expected = [hog(im, orientations=orientations, pixels_per_cell=(cell, cell),
                        cells_per_block=(2, 2), block_norm="L2-Hys") for im in images]
        ours = hog_features(images, cell, orientations)
        np.testing.assert_allclose(ours[:6], expected[:6], atol=1e-6)  # 8-bit pictures
        # random floats, whose gradients are taken on the 16-bit grid: half a level (7.6e-6)
        np.testing.assert_allclose(ours[6:], expected[6:], atol=2e-5)
    bank = unit_rows(hog_features(images))
    assert np.allclose(knn_distances(bank, bank, 1), 0, atol=1e-6)  # each image is in the bank
    loo = knn_distances(bank, bank, 2, skip=1)  # without itself: its 2 nearest others
    others = 1 - np.sort(bank @ bank.T, axis=1)[:, ::-1][:, 1:3].mean(axis=1)
    np.testing.assert_allclose(loo, others, atol=1e-6)


def test_an_edge_an_ulp_from_straight_keeps_its_hog_descriptor():
    """The same pixels an ulp apart (uint8 / 255 two ways) kept a straight edge's gradient in
    the first angle bin or flipped it to the last: a k-NN score jumped by 0.3 (helper repro)."""
    from edgeae.runtime.features import hog_features

    edge = np.zeros((1, 8, 8), np.float32)
    edge[0, :, 4:] = 1.0
    nudged = edge.copy()
    nudged[0, 4, 4] = np.nextafter(np.float32(1), np.float32(0))
    np.testing.assert_allclose(hog_features(nudged, 2, 4), hog_features(edge, 2, 4), atol=1e-6)


def test_greedy_coreset_covers_the_rows_better_than_a_random_pick():
    from edgeae.runtime.features import greedy_coreset

    rng = np.random.default_rng(1)
    # one big cluster and a few rare far-off rows a random pick of 20 would likely miss
    rows = np.concatenate([rng.normal(0, 1, (500, 8)), rng.normal(12, 0.1, (3, 8))])
    chosen = greedy_coreset(rows, 20, seed=0)
    assert len(set(chosen.tolist())) == 20
    assert set(range(500, 503)) & set(chosen.tolist())  # a rare row kept

    def radius(idx):  # the farthest any row is from its nearest chosen row
        d = np.square(rows[:, None] - rows[idx][None]).sum(-1)
        return float(np.sqrt(d.min(1).max()))

    assert radius(chosen) < radius(rng.choice(len(rows), 20, replace=False))
    np.testing.assert_array_equal(greedy_coreset(rows[:5], 20), np.arange(5))
    wide = np.tile(rows, (1, 20))  # 160 numbers a row: chosen through a random projection
    assert set(range(500, 503)) & set(greedy_coreset(wide, 20, seed=0).tolist())


def noisy_stripes(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Six noisy 64x64 stripe images, and the first padded to 66x67 with a turned patch."""
    rng = np.random.default_rng(seed)
    stripes_ = np.tile((np.arange(64) // 4 % 2).astype(np.float32), (64, 1))
    normal = np.clip(stripes_ + rng.normal(0, 0.02, (6, 64, 64)), 0, 1)[..., None]
    broken = np.pad(normal[:1], ((0, 0), (0, 2), (0, 3), (0, 0)), mode="reflect")  # 66x67
    broken[0, 40:52, 8:20] = broken[0, 40:52, 8:20].transpose(1, 0, 2)  # stripes turned
    return normal, broken

def test_patch_map_is_highest_where_the_image_differs_from_the_bank():
    from edgeae.runtime.features import (
        hog_blocks,
        hog_features,
        neighbourhood,
        patch_descriptors,
        patch_distances,
        pixel_map,
    )

    normal, broken = noisy_stripes(2)
    blocks = hog_blocks(normal)
    assert blocks.shape == (6, 15, 15, 16)
    np.testing.assert_allclose(blocks.reshape(6, -1), hog_features(normal))
    for radius in (0, 1):  # each block alone, and beside its 3x3 neighbours
        context = neighbourhood(blocks, radius)
        assert context.shape == (6, 15, 15, 16 * (2 * radius + 1) ** 2)
        middle = (2 * radius + 1) ** 2 // 2 * 16
        np.testing.assert_array_equal(context[..., middle:middle + 16], blocks)  # itself
        rows = patch_descriptors(normal, 4, 4, radius)
        np.testing.assert_allclose(np.linalg.norm(rows, axis=-1), 1, atol=1e-5)
        bank = rows.reshape(-1, rows.shape[-1])
        assert np.abs(patch_distances(bank, rows)).max() < 1e-5  # every patch is in the bank
        distances = patch_distances(bank, patch_descriptors(broken, 4, 4, radius))
        np.testing.assert_allclose(  # half the squared distance of unit rows: cosine distance
            distances[0, 0, 0], 1 - (bank @ patch_descriptors(broken, 4, 4, radius)[0, 0, 0]).max(),
            atol=1e-5)
        maps = pixel_map(distances, 4, (66, 67), smooth=2.0)
        assert maps.shape == (1, 66, 67)
        peak = np.unravel_index(np.argmax(maps[0]), maps[0].shape)
        assert 36 <= peak[0] <= 56 and 4 <= peak[1] <= 24, (radius, peak)



def test_a_strided_patch_map_describes_every_nth_block_and_interpolates_between():
    """Stride s: the full descriptors at blocks 0, s, 2s..., the map exact there and still
    peaking at the defect; stride 1 is the map of every block."""
    from edgeae.runtime.features import (
        every_block,
        patch_descriptors,
        patch_distances,
        pixel_map,
    )

    normal, broken = noisy_stripes(5)
    bank = patch_descriptors(normal, 4, 8, 1, 1.0).reshape(-1, 306)
    every = patch_descriptors(broken, 4, 8, 1, 1.0)
    full = patch_distances(bank, every)
    assert every.shape[1:3] == (15, 15)
    for stride in (2, 3):
        strided = patch_descriptors(broken, 4, 8, 1, 1.0, stride)
        np.testing.assert_allclose(strided, every[:, ::stride, ::stride], atol=1e-6)
        distances = patch_distances(bank, strided)
        spread = every_block(distances, stride, (15, 15))
        np.testing.assert_allclose(spread[:, ::stride, ::stride], distances, atol=1e-6)
        np.testing.assert_allclose(  # one block on: 1/s of the way to the next described
            spread[:, 1, 1], (1 - 1 / stride) ** 2 * distances[:, 0, 0] + (
                (1 - 1 / stride) / stride * (distances[:, 0, 1] + distances[:, 1, 0]))
            + distances[:, 1, 1] / stride ** 2, rtol=1e-5)
        np.testing.assert_array_equal(spread[:, -1, -1], distances[:, -1, -1])  # the edge
        maps = pixel_map(distances, 4, (66, 67), smooth=2.0, stride=stride)
        assert maps.shape == (1, 66, 67)
        peak = np.unravel_index(np.argmax(maps[0]), maps[0].shape)
        assert 36 <= peak[0] <= 56 and 4 <= peak[1] <= 24, (stride, peak)
    np.testing.assert_array_equal(pixel_map(full, 4, (66, 67), 2.0, stride=1),
                                  pixel_map(full, 4, (66, 67), 2.0))


def test_patch_stride_travels_from_the_command_line_into_the_score_configuration(tmp_path):
    from edgeae.app.cli import build_parser
    from edgeae.app.commands.train import _detector_settings
    from edgeae.core.manifest import PATCH_STRIDE

    parser = build_parser()
    base = ["train", "detector", "--data", str(tmp_path), "--out", str(tmp_path / "det"),
            "--score-maps", "patch"]
    settings = _detector_settings(parser.parse_args([*base, "--patch-stride", "2"]))
    assert settings["score"].patch.stride == 2 and settings["score"].maps == "patch"
    assert _detector_settings(parser.parse_args(base))["score"].patch.stride == PATCH_STRIDE
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([*base, "--patch-stride", "9"])
    assert exit_.value.code == 2

def test_score_options_that_would_change_nothing_are_refused_and_draem_keeps_those_given(
        tmp_path):
    """--score-pool with the k-NN score alone and --patch-* without patch maps were accepted
    and changed nothing (judged on the score the data gets); draem took an explicit
    --score-pool top:0.1 (the dense default) for no choice and replaced it with its own
    top:0.01."""
    from edgeae.app.cli import build_parser
    from edgeae.app.commands.train import _detector_settings
    from edgeae.train.detector import MASK_SCORE

    data = write_folder(tmp_path / "normal", blobs(8))
    base = ["train", "detector", "--data", str(data), "--out", str(tmp_path / "det")]
    for options, said in ((["--score-pool", "max"], "--score-pool changes nothing here"),
                          (["--patch-dims", "8"], "--patch-dims changes nothing here"),
                          (["--score-knn", "0", "--score-combine", "both"], "--score-combine"),
                          (["--score-maps", "patch", "--score-error", "absolute"], "(--score-maps"),
                          (["--model", "draem", "--score-maps", "error"], "its predicted mask")):
        code, _, err = run_cli(*base, *options)
        assert code == 2 and said in err and err.count("\n") == 1, (options, err)
    parse = build_parser().parse_args
    score = _detector_settings(parse([*base, "--model", "draem", "--score-pool", "top:0.1"]))[
        "score"]
    assert score == MASK_SCORE.model_copy(update={"pool": "top:0.1"})
    both = _detector_settings(parse([*base, "--score-combine", "both", "--score-pool", "max"]))
    assert (both["score"].pool, both["score"].knn) == ("max", 5)
    # where no k-NN score can be had (series rows, mixed sizes), the pooled map is the score
    from edgeae.app.commands.train import _refuse_idle_score_options
    from edgeae.train.detector import array_source

    args = parse([*base, "--score-pool", "max"])
    rows = array_source(np.zeros((8, 1, 40), np.uint8))  # 1 x 40: no HOG descriptor
    _refuse_idle_score_options(args, _detector_settings(args)["score"], rows)


def test_intensity_lets_patch_maps_see_a_flat_stain_hog_cannot():
    from edgeae.runtime.features import block_intensity, patch_descriptors, patch_distances

    rng = np.random.default_rng(3)
    x = rng.random((2, 16, 20, 1), dtype=np.float32)
    region = x[0, 4:12, 8:16, 0]  # block (1, 2) of 4-pixel cells
    np.testing.assert_allclose(block_intensity(x, 4)[0, 1, 2], [region.mean(), region.std()],
                               rtol=1e-5)
    normal, clean, broken = (0.3 + rng.normal(0, 0.02, (3, 6, 32, 32, 1))).astype(np.float32)
    broken[0, 8:24, 8:24] += 0.5  # a flat stain: inside it the gradients are the normal noise
    inside = {}
    for weight in (0.0, 1.0):
        bank = patch_descriptors(normal, 4, 8, 0, weight).reshape(-1, 34 if weight else 32)
        stain = patch_distances(bank, patch_descriptors(broken[:1], 4, 8, 0, weight))[0, 3, 3]
        plain = patch_distances(bank, patch_descriptors(clean, 4, 8, 0, weight)).max()
        inside[weight] = stain / plain
    assert inside[0.0] < 1 < inside[1.0], inside  # 0.65 and 1.26 when written


def test_a_patch_memory_searches_on_its_principal_axes():
    """All axes: the full distances (a rotation keeps them); fewer: never more than the full
    ones, each memory row still at distance 0 from itself, the defect still the peak."""
    from edgeae.runtime.features import PatchMemory, patch_descriptors, patch_distances

    rng = np.random.default_rng(4)
    stripes_ = np.tile((np.arange(64) // 4 % 2).astype(np.float32), (64, 1))
    normal = np.clip(stripes_ + rng.normal(0, 0.05, (6, 64, 64)), 0, 1)[..., None]
    broken = normal[:1].copy()
    broken[0, 40:52, 8:20] = broken[0, 40:52, 8:20].transpose(1, 0, 2)  # stripes turned
    rows = patch_descriptors(normal, 4, 8, 1, 1.0)
    bank = rows.reshape(-1, rows.shape[-1])  # 306 numbers a row
    queries = patch_descriptors(broken, 4, 8, 1, 1.0)
    full = patch_distances(bank, queries)
    assert PatchMemory(bank).axes is None and PatchMemory(bank, 306).axes is None
    np.testing.assert_allclose(PatchMemory(bank, 305).distances(queries), full, atol=2e-4)
    for dims in (8, 64):
        memory = PatchMemory(bank, dims)
        assert memory.rows.shape == (len(bank), dims) and memory.axes.shape == (306, dims)
        np.testing.assert_allclose(memory.axes.T @ memory.axes, np.eye(dims), atol=1e-5)
        assert np.abs(memory.distances(rows[:2])).max() < 1e-4  # each row is in the memory
        projected = memory.distances(queries)
        assert (projected <= full + 1e-4).all()
        peak = np.unravel_index(np.argmax(projected[0]), projected[0].shape)
        assert 8 <= peak[0] <= 13 and 1 <= peak[1] <= 5, (dims, peak)  # blocks of the defect


@pytest.mark.slow
def test_knn_score_trains_exports_and_runs_in_the_runtime(detector_data, tmp_path):
    normal, broken = detector_data["normal"], detector_data["broken"]
    x = np.concatenate([detector_data["test_normal"], broken])
    y = np.r_[np.zeros(24), np.ones(24)]
    det = Detector(epochs=5, batch_size=16, score=ScoreConfig(knn=3, combine="both")).fit(
        normal, out=tmp_path / "det")
    config = det.scorer.manifest.score
    assert config.knn == 3 and config.norm is not None
    memory = np.load(tmp_path / "det" / "memory.npy")
    assert memory.shape == (det.scorer.manifest.data.n_train, 7 * 7 * 16)  # 2 px cells: 8x8
    stats = det.scorer.manifest.score_stats
    assert abs(stats.train_mean) < 0.5  # standardised parts, training images scored without
    # themselves as neighbours: the training scores are centred, as new normal images' will be
    keras_scores = det.anomaly_score(x)
    assert det.evaluate(x, y)["auroc"] > 0.8  # 0.88 when written (5 epochs)

    code, out, err = run_cli("export", tmp_path / "det", "--format", "all", "--precision",
                             "fp32", "--out", tmp_path / "export")
    assert code == 0, err
    # every file written beside it is named (the memory was not)
    assert f"{tmp_path / 'export'}/model_fp32.onnx (+ model_fp32.memory.npy, model_fp32" in out
    assert (tmp_path / "export" / "model_fp32.memory.npy").read_bytes() == (
        tmp_path / "det" / "memory.npy").read_bytes()  # one copy, named for the artifacts
    tol = Tolerances().fp32_max_abs_diff  # measured within 3e-7 on 2026-11-30
    for name in ("model_fp32.tflite", "model_fp32.onnx"):
        scorer = rt.load(tmp_path / "export" / name)
        scores = scorer.score_batch(x)[0]
        np.testing.assert_allclose(scores, keras_scores, rtol=tol, atol=tol)
        one = scorer.score(cv2.cvtColor(broken[0], cv2.COLOR_GRAY2BGR) if broken.shape[-1] == 1
                           else broken[0])
        assert one.score == pytest.approx(keras_scores[24], rel=tol, abs=tol)
    scorer.threshold = -0.5  # standardised scores: below their training mean is a threshold too
    assert run_cli("threshold", tmp_path / "export" / "model_fp32.onnx", "--strategy",
                   "fixed:-0.5")[0] == 0
    (tmp_path / "export" / "model_fp32.memory.npy").unlink()
    with pytest.raises(UserError, match="memory.npy"):
        rt.load(tmp_path / "export" / "model_fp32.onnx")
    code, _, err = run_cli("benchmark", tmp_path / "det", "--backends", "keras", "--precisions",
                           "fp32", "--sizes", "16x16", "--threads", "1", "--repeats", "2",
                           "--out", tmp_path / "bench")  # the Keras rows find memory.npy too
    assert code == 0, err


def stripes(n: int, seed: int, size: int = 48) -> np.ndarray:
    """n uint8 gray images of vertical stripes (random period and phase): a plain texture."""
    rng = np.random.default_rng(seed)
    x = np.arange(size)
    rows = [0.5 + 0.35 * np.sin(2 * np.pi * (x + rng.uniform(0, 7)) / rng.uniform(5, 7))
            for _ in range(n)]
    images = np.stack([np.tile(r, (size, 1)) for r in rows]) + rng.normal(0, 0.03, (n, size, size))
    return np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)[..., None]


def turned(images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies with a 12x12 square of the stripes turned 90 degrees, and its masks (255)."""
    rng = np.random.default_rng(seed)
    out, masks = images.copy(), np.zeros(images.shape[:3], np.uint8)
    for img, mask in zip(out, masks):
        y, x = rng.integers(4, images.shape[1] - 16, 2)
        img[y:y + 12, x:x + 12] = img[y:y + 12, x:x + 12].transpose(1, 0, 2)
        mask[y:y + 12, x:x + 12] = 255
    return out, masks


def write_stripe_case(root: Path, n_normal: int) -> tuple[np.ndarray, np.ndarray]:
    """normal/ stripes, test/defect with turned squares and test/good, masks/defect under root.

    Returns the defective images and their masks.
    """
    broken, masks = turned(stripes(20, seed=1), seed=2)
    write_folder(root / "normal", stripes(n_normal, seed=0))
    write_folder(root / "test" / "defect", broken)
    write_folder(root / "test" / "good", stripes(20, seed=3))
    write_folder(root / "masks" / "defect", masks)
    return broken, masks


@pytest.mark.slow
def test_patch_maps_point_at_texture_defects_through_export_and_runtime(tmp_path):
    broken, masks = write_stripe_case(tmp_path, 120)
    det = train_cli(tmp_path / "det", "detector", tmp_path / "normal", "--epochs", "3",
                    "--batch-size", "16", "--score-maps", "patch", "--patch-bank", "256")
    patches = np.load(det / "patches.npy")
    assert patches.shape == (256, 34 * 9) and patches.dtype == np.float16  # 3x3 blocks: HOG 32, 2
    code, _, err = run_cli("evaluate", "--model", det, "--data", tmp_path / "test", "--masks",
                           tmp_path / "masks", "--out", tmp_path / "metrics.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    pixel = metrics["pixel"]
    assert pixel["pixel_auroc"] > 0.95 and pixel["pro"] > 0.9, pixel  # 0.997, 0.99 when written
    assert pixel["by_defect_size"]["large (over 5%)"]["regions"] == 20  # 12x12 of 48x48

    code, _, err = run_cli("export", det, "--format", "all", "--precision", "fp32,int8",
                           "--out", tmp_path / "export")
    assert code == 0, err
    keras_maps = Detector.load(det).anomaly_map(broken)
    for name in ("model_fp32.tflite", "model_int8.onnx", "model_fp32.xml"):
        artifact = tmp_path / "export" / name
        scorer = rt.load(artifact)
        assert scorer.manifest.artifact.patches.name == artifact.stem + ".patches.npy"
        np.testing.assert_array_equal(scorer.score_batch(broken).heatmap, keras_maps)
        frame = scorer.score(cv2.cvtColor(broken[0], cv2.COLOR_GRAY2BGR))  # a camera's frame
        assert masks[0][np.unravel_index(np.argmax(frame.heatmap), masks[0].shape)]
    error_config = scorer.manifest.score.model_copy(update={"maps": "error"})
    unit = broken.astype(np.float32) / 255
    _, error_maps = anomaly_scores(unit, scorer.reconstruct(unit), error_config)
    assert pixel_metrics(error_maps, masks)["pixel_auroc"] < pixel["pixel_auroc"] - 0.1  # 0.74

    code, _, err = run_cli("report", det, "--out", tmp_path / "report.html")  # its patch maps
    assert code == 0 and "anomaly map" in (tmp_path / "report.html").read_text(), err
    code, _, err = run_cli("info", tmp_path / "export" / "model_int8.onnx")
    assert code == 0 and "model_int8.patches.npy (size, SHA-256; 256x306 finite)" in err, err
    np.save(det / "patches.npy", np.zeros((256, 100), np.float16))  # another configuration's
    with pytest.raises(UserError, match=r"patches.npy holds an array of shape \(256, 100\)"):
        Detector.load(det)
    (tmp_path / "export" / "model_int8.patches.npy").unlink()
    with pytest.raises(UserError, match="model_int8.patches.npy"):
        rt.load(tmp_path / "export" / "model_int8.onnx")


@pytest.mark.slow
def test_a_score_from_patch_maps_is_calibrated_on_images_outside_the_memory(tmp_path):
    # the map's maximum as the score (no k-NN): a memory covers its own images' patches, so
    # training scores from it would put the threshold below new normal images' (64% flagged)
    score = ScoreConfig(smooth=2.0, pool="max", knn=0, maps="patch",
                        patch=PatchMapConfig(bank=1024))
    det = Detector(epochs=2, batch_size=16, score=score).fit(stripes(200, seed=0),
                                                              out=tmp_path / "det")
    stats = det.scorer.manifest.score_stats
    new_normal = det.anomaly_score(stripes(100, seed=5))
    assert stats.train_mean == pytest.approx(new_normal.mean(), rel=0.2)  # 0.0072 and 0.0073
    assert (new_normal > det.threshold_).mean() < 0.2  # mean+1std: 0.09 when written
    assert (det.anomaly_score(turned(stripes(50, seed=6), seed=7)[0]) > det.threshold_).all()


def test_scores_these_images_cannot_have_fall_back_with_a_warning(caplog):
    from edgeae.train.detector import array_source
    from edgeae.train.thresholds import feasible_score

    score = ScoreConfig(knn=5, maps="patch")
    assert feasible_score(score, array_source(np.zeros((4, 16, 16), np.uint8))) == score
    with caplog.at_level("WARNING"):
        tiny = feasible_score(score, array_source(np.zeros((4, 6, 6), np.uint8)))
    assert (tiny.maps, tiny.knn) == ("error", 0)  # 6 px: under 2 cells of 4 px, and 8 px
    assert "smaller than a patch" in caplog.text and "reconstruction only" in caplog.text


def test_the_manifest_records_the_k_and_dims_the_scores_had(caplog):
    """--score-knn 1000 with 11 images and --patch-dims 5000 were recorded as given."""
    from edgeae.train.detector import array_source
    from edgeae.train.thresholds import feasible_score, with_dims_used

    source = array_source(np.zeros((11, 16, 16), np.uint8))
    score = ScoreConfig(knn=1000)
    with caplog.at_level("WARNING"):
        assert feasible_score(score, source, n_scored=11).knn == 10  # each without itself
    assert "--score-knn 1000 with 11 training images" in caplog.text
    assert feasible_score(ScoreConfig(knn=10), source, n_scored=11).knn == 10
    wide = ScoreConfig(maps="patch", patch={"dims": 5000})
    assert with_dims_used(wide, 288).patch.dims == 0  # 0: every number
    narrow = ScoreConfig(maps="patch", patch={"dims": 64})
    assert with_dims_used(narrow, 288) == narrow


def test_a_series_csv_as_pandas_or_excel_write_it_reads_as_the_plain_one(tmp_path):
    """DataFrame.to_csv of the tutorial's frame heads its columns 0..N-1 (read as a first
    series, whose values 0-140 set the scaling), with index=True adds an index column; Excel's
    CSV UTF-8 starts with a byte-order mark, which made the first row a header."""
    from edgeae.core.series import SeriesOptions, read_series

    rows = np.round(np.random.default_rng(0).normal(size=(5, 4)), 3)
    labels = ["1", "0", "1", "1", "0"]
    plain = "\n".join(",".join([*map(str, r), y]) for r, y in zip(rows, labels, strict=True))
    files = {"plain.csv": plain + "\n", "bom.csv": "\ufeff" + plain + "\n",
             "pandas.csv": "0,1,2,3,4\n" + plain + "\n",
             "index.csv": ",0,1,2,3,4\n" + "\n".join(f"{i},{line}" for i, line in
                                                  enumerate(plain.splitlines())) + "\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        values, read = read_series(tmp_path / name, SeriesOptions(label_column="4"))
        np.testing.assert_array_equal(values, rows, err_msg=name)
        assert list(read) == labels, name


def test_a_labels_csv_excel_saved_reads(tmp_path):
    """Excel's CSV UTF-8 (a byte-order mark, CRLF) was 'not a readable CSV with path and label
    columns': the BOM was part of the first column's name."""
    from edgeae.core.data import load_data
    from edgeae.core.labels import labels_for

    folder = write_folder(tmp_path / "images", blobs(3))
    labels = tmp_path / "labels.csv"
    labels.write_bytes("\ufeffpath,label\r\nimg_000.png,0\r\nimg_001.png,1\r\nimg_002.png,0\r\n"
                       .encode())
    assert labels_for(load_data(str(folder)).train, labels).tolist() == [0, 1, 0]


def test_a_detector_refuses_best_f1_before_it_trains():
    """It trained for seconds, then failed naming --labelled, and left its work folder."""
    from edgeae.train.detector import Detector

    with pytest.raises(UserError, match="best-f1 needs labelled images: train with another"):
        Detector(threshold="best-f1")


@pytest.mark.slow
def test_a_gray_detector_scores_a_colour_frame_as_edgeae_score_does(trained_detector):
    """The frame's gray was made of uint8 pixels, rounded to a level, where training and
    `edgeae score` make it of [0, 1] floats: scores moved by up to 0.35, decisions flipped.
    `score_batch` refused colour images for a gray detector."""
    from edgeae.core.images import convert_channels, to_unit_float
    from edgeae.train.keras_backend import open_model

    rng = np.random.default_rng(3)
    gray = blobs(12, seed=8)[..., 0].astype(np.float32) / 255
    tints = rng.uniform(0.3, 1.0, (12, 1, 1, 3))
    rgb = np.clip(np.rint(gray[..., None] * tints * 255 + rng.uniform(0, 60, (12, 1, 1, 3))),
                  0, 255).astype(np.uint8)
    scorer = open_model(trained_detector, None, None, use="score")
    # training's path (core/data): RGB read as [0, 1] floats, then made gray
    batch = scorer.score_batch(np.stack([convert_channels(to_unit_float(image), 1)
                                         for image in rgb])).score
    frames = [scorer.score(np.ascontiguousarray(image[..., ::-1])).score for image in rgb]
    np.testing.assert_allclose(frames, batch, rtol=1e-5, atol=1e-6)
    # score_batch takes the colour images too, in RGB or OpenCV's order (it had refused them)
    np.testing.assert_array_equal(scorer.score_batch(rgb).score, batch)
    np.testing.assert_array_equal(scorer.score_batch(rgb[..., ::-1], color="bgr").score, batch)
    with pytest.raises(UserError, match="looks like a colour image"):  # or 4 gray of 3 columns?
        scorer.score_batch(rgb[0])
    with pytest.raises(UserError, match="got bool"):  # as score() refuses it; it had scored
        scorer.score_batch(rgb[..., 0] > 127)
    with pytest.raises(UserError, match="score_size must be"):
        scorer.score_size = (True, True)
    np.testing.assert_array_equal(scorer.score_batch(rgb[:1]).score, batch[:1])


def test_hog_features_of_one_picture_stored_three_ways_are_identical():
    """An 8-bit image, its 16-bit copy and x / 255. floats are an ulp apart: diagonal edges'
    angles fell on either side of 45 degrees, and k-NN scores moved by up to 0.23."""
    from sklearn.datasets import load_digits

    from edgeae.runtime.features import hog_features

    images = load_digits().images[:40].astype(np.uint8) * 15  # 0-16 levels: many equal steps
    eight = images.astype(np.float32) * np.float32(1 / 255)
    sixteen = (images.astype(np.uint16) * 257).astype(np.float32) * np.float32(1 / 65535)
    tutorial = (images / 255.0).astype(np.float32)
    reference = hog_features(eight, cell=2)
    np.testing.assert_array_equal(hog_features(sixteen, cell=2), reference)
    np.testing.assert_array_equal(hog_features(tutorial, cell=2), reference)


def test_knn_distances_do_not_depend_on_how_many_queries_come_at_once():
    """float32 products rounded differently by batch size: score --workers 2 wrote other
    digits than one worker (up to 4.4e-6)."""
    from edgeae.runtime.features import knn_distances, unit_rows

    rng = np.random.default_rng(0)
    bank = unit_rows(rng.random((500, 144))).astype(np.float16).astype(np.float32)
    queries = unit_rows(rng.random((40, 144)))
    whole = knn_distances(bank, queries, 5)
    for size in (1, 5, 13):
        parts = np.concatenate([knn_distances(bank, queries[i:i + size], 5)
                                for i in range(0, 40, size)])
        np.testing.assert_array_equal(parts, whole)


def test_new_rows_without_the_training_label_column_score_unlabelled(tmp_path):
    """The tutorial's headerless rows, their label column (an index) left off, were refused:
    "--label-column 140 is outside new_rows.csv's 140 columns"."""
    from edgeae.core.series import SeriesOptions, read_series

    rows = np.round(np.random.default_rng(1).normal(size=(3, 4)), 3)
    (tmp_path / "new.csv").write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    values, labels = read_series(tmp_path / "new.csv", SeriesOptions("4", "1",
                                                                    label_optional=True))
    np.testing.assert_array_equal(values, rows)
    assert labels is None
    with pytest.raises(UserError, match="outside"):  # training's own CSV must hold it
        read_series(tmp_path / "new.csv", SeriesOptions("4", "1"))
