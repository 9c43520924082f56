"""A discriminative autoencoder (DRAEM) beside today's maps, on pasted defects (issue 21 part 2).

The protocol of benchmarks/localise.py: 64x64 gray crops of Train400, 2,880 from 360 images to
fit, 160 from the other 40 to test, each test crop given one pasted defect (a patch of another
crop, a bright scratch or a blob; masks known). `edgeae train detector --model draem` trains,
through the product's own code, on the fit crops less the last 40 images' (320 validation
crops): the reconstructive U-Net restores crops with synthetic anomalies pasted in
(train/anomalies.py: Perlin masks filled with other crops), the segmentation U-Net predicts the
masks. Neither ever sees the test crops or the benchmark's defect kinds while training.

The map's smoothing and pooling (the detector's default MASK_SCORE) are chosen on the
validation crops with pasted defects (never the test crops): the best validation pixel AUROC,
ties by image AUROC. The test then gives pixel AUROC, PRO and image AUROC through the Keras
model and through the exported fp32 and int8 artifacts run by the runtime (onnxruntime,
OpenVINO), and `edgeae benchmark` ms per 256x256 frame (2 threads). The decision thresholds
(THRESHOLDS, from the normal training crops' scores as `train` sets them) are scored on the
validation crops and on the test crops, each clean and with its pasted defect. Then
Fashion-MNIST (`--fashion-classes`): a draem per class beside localise.py's maps (`fashion`).

    .venv/bin/python benchmarks/draem.py --data ../shared/data \
        --out benchmarks/results/draem.json          # about 50 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from anomaly import auroc, paste_defects, train400_crops
from localise import CROPS_PER_IMAGE, VALIDATION_IMAGES, frame_ms, mean_of
from provenance import finished, provenance, write_result
from splits import split_validation

from edgeae.core.manifest import ScoreConfig
from edgeae.core.metrics import detection_metrics, pixel_metrics
from edgeae.runtime import load
from edgeae.runtime.models import AnomalyScorer
from edgeae.runtime.threshold import parse_threshold, resolve_threshold
from edgeae.train.detector import MASK_SCORE, Detector, array_source
from edgeae.train.thresholds import MASK_THRESHOLD

GRID = {"smooth": (0.0, 2.0, 4.0, 8.0), "pool": ("max", "top:0.01")}
# decision thresholds from the normal images' score statistics (the manifest's), as `train` sets
THRESHOLDS = ("mean+1std", "mean+2std", "mean+3std", "percentile:95", "percentile:99",
              "fixed:0.5")
FASHION_PATCH = 24  # the largest multiple of 8 inside a 28x28 image
EDGEAE = Path(sys.executable).with_name("edgeae")
ARTIFACTS = ("model_fp32.onnx", "model_int8.onnx", "model_fp32.xml", "model_int8.xml")


def fit_draem(images: np.ndarray, budget: dict, seed: int, out: Path) -> tuple[Detector, float]:
    """`edgeae train detector --model draem` on `images` (as the API trains it); seconds.

    `budget`: epochs, batch_size, minutes (0: no limit) and patch_size (None: whole images);
    optionally learning_rate, initial_weights (a model.keras to continue from) and patience
    (train's early stopping, which halves the rate after half as many flat epochs; None: off).
    A detector already in `out` is loaded instead, with its own training time.
    """
    from edgeae.train.callbacks import TimeLimit
    from edgeae.train.fit import TrainSettings, train

    if (out / "manifest.json").is_file():
        det = Detector.load(out)
        return det, det.scorer.manifest.training.seconds
    rate = budget.get("learning_rate") or TrainSettings.learning_rate
    settings = TrainSettings(task="detector", architecture="draem", epochs=budget["epochs"],
                             batch_size=budget["batch_size"], seed=seed, learning_rate=rate,
                             initial_weights=budget.get("initial_weights"),
                             patience=budget.get("patience") or budget["epochs"],
                             patch_size=budget["patch_size"],
                             score=MASK_SCORE)
    started = time.perf_counter()
    train(array_source(images), out, settings, overwrite=True, verbose=2,
          callbacks=[TimeLimit(budget["minutes"])] if budget["minutes"] else [])
    return Detector.load(out), time.perf_counter() - started


def scored_as(scorer: AnomalyScorer, config: ScoreConfig) -> AnomalyScorer:
    """The same model's scorer with another map smoothing and pooling."""
    return AnomalyScorer(scorer.session, scorer.manifest.model_copy(update={"score": config}))


def choose_score(det: Detector, validation: np.ndarray, seed: int) -> tuple[dict, list[dict]]:
    """Every GRID setting on the validation crops with pasted defects; the chosen one, all rows."""
    rows = []
    for smooth, pool in itertools.product(GRID["smooth"], GRID["pool"]):
        scorer = scored_as(det.scorer, MASK_SCORE.model_copy(update={"smooth": smooth,
                                                                       "pool": pool}))
        result = test_scores(lambda x, s=scorer: s.score_batch(x), validation, seed)
        rows.append({"smooth": smooth, "pool": pool, **result})
        print(f"validation smooth {smooth} pool {pool}: {result}", flush=True)
    best = max(rows, key=lambda r: (round(r["pixel_auroc"], 3), r["image_auroc"]))
    return {"smooth": best["smooth"], "pool": best["pool"]}, rows


def test_scores(score_batch, clean: np.ndarray, seed: int) -> dict:
    """Pixel AUROC, PRO and image AUROC (the score, the map maximum) on pasted defects."""
    broken, masks = paste_defects(clean, seed)
    scored, normal = score_batch(broken), score_batch(clean)
    result = pixel_metrics(list(scored.heatmap), list(masks))
    labels = np.r_[np.zeros(len(clean)), np.ones(len(broken))]
    result["image_auroc"] = auroc(np.r_[normal.score, scored.score], labels)
    peaks = [maps.reshape(len(maps), -1).max(1) for maps in (normal.heatmap, scored.heatmap)]
    result["image_auroc_map_max"] = auroc(np.concatenate(peaks), labels)
    return result


def decisions(scorer: AnomalyScorer, clean: np.ndarray, seed: int) -> dict:
    """Each THRESHOLDS strategy on `clean` crops and their copies with pasted defects.

    Precision, recall and F1 for "defective", and the false-alarm rate on the clean crops.
    """
    broken, _ = paste_defects(clean, seed)
    scores = np.r_[scorer.score_batch(clean).score, scorer.score_batch(broken).score]
    labels = np.r_[np.zeros(len(clean)), np.ones(len(broken))]
    rows = {}
    for spec in THRESHOLDS:
        threshold = resolve_threshold(parse_threshold(spec), scorer.manifest.score_stats)
        m = detection_metrics(scores, labels, threshold)
        rows[spec] = {"threshold": threshold, "false_alarms": float(
            np.mean(scores[labels == 0] > threshold)),
            **{k: m[k] for k in ("precision", "recall", "f1")}}
    return rows


def artifacts(model_dir: Path, work: Path, config: ScoreConfig, test: np.ndarray,
              seed: int) -> dict:
    """The test through each exported artifact, run by the runtime (no TensorFlow)."""
    export = work / "export"
    subprocess.run([str(EDGEAE), "export", str(model_dir), "--format", "all",
                    "--precision", "fp32,int8", "--out", str(export), "--overwrite"],
                   check=True, capture_output=True)
    results = {}
    for name in ARTIFACTS:
        scorer = scored_as(load(export / name, task="score"), config)
        results[name] = test_scores(scorer.score_batch, test, seed)
    return results


def fashion(args: argparse.Namespace, config: ScoreConfig, work: Path) -> dict:
    """Per class: a draem detector on the class's fit images; its masks on its test images.

    The fit images and the pasted defects (seed + class) are benchmarks/localise.py's, so its
    Fashion-MNIST rows sit beside these; the map's smoothing and pooling are the Train400
    validation choice, as localise.py takes its patch setting. 28x28 is not a multiple of 8, so
    draem trains on 24x24 patches (the runtime pads whole images by reflection).
    """
    data = np.load(args.data / "fashion_mnist.npz")
    x_fit, y_fit, _, _ = split_validation(data["x_train"], data["y_train"], args.seed)
    x_test, y_test = data["x_test"], data["y_test"]
    budget = {"epochs": args.fashion_epochs, "batch_size": 64, "patch_size": FASHION_PATCH,
              "minutes": args.fashion_minutes}
    per_class = {}
    for c in range(args.fashion_classes):
        det, seconds = fit_draem(x_fit[y_fit == c], budget, args.seed, work / f"fashion{c}")
        scorer = scored_as(det.scorer, config)
        per_class[c] = test_scores(scorer.score_batch, x_test[y_test == c][..., None].astype(
            np.float32) / 255, args.seed + c) | {"train_s": round(seconds, 1), "epochs_run":
                                                 det.scorer.manifest.training.epochs_run}
        print(f"fashion class {c}: {per_class[c]}", flush=True)
    return {"classes": args.fashion_classes, **budget, "mean over classes": mean_of(
        list(per_class.values())), "per_class": per_class}


def main() -> None:
    """Train on the fit crops less validation, choose the score there, test, export, time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, help="default: edgeae train's")
    parser.add_argument("--patience", type=int, help="early stopping as `edgeae train` does it "
                        "(its default is 5); without it every epoch runs at a fixed rate")
    parser.add_argument("--initial-weights", help="continue from a detector's model.keras "
                        "(e.g. a lower learning rate after a first run's plateau)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fashion-classes", type=int, default=10,
                        help="Fashion-MNIST classes 0..N-1 to train a draem for (0: none)")
    parser.add_argument("--fashion-epochs", type=int, default=12)
    parser.add_argument("--fashion-minutes", type=float, default=5.0,
                        help="each Fashion-MNIST class's training time budget")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/draem.json"))
    parser.add_argument("--work", type=Path, help="keep the trained detector and exports here "
                        "(default: a temporary folder); one already there is measured again")
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/draem.py", *sys.argv[1:]]))
    fit, test = train400_crops(args.data, args.seed)
    held = VALIDATION_IMAGES * CROPS_PER_IMAGE
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        budget = {"epochs": args.epochs, "batch_size": args.batch_size,
                  "minutes": args.minutes, "patch_size": None,
                  "learning_rate": args.learning_rate, "initial_weights": args.initial_weights,
                  "patience": args.patience}
        det, seconds = fit_draem(fit[:-held], budget, args.seed, work / "draem")
        chosen, validation = choose_score(det, fit[-held:], args.seed + 1)
        config = MASK_SCORE.model_copy(update=chosen)
        keras = scored_as(det.scorer, config)
        keras_test = test_scores(keras.score_batch, test, args.seed)
        # the manifest's own score, which its score statistics (and so thresholds) describe
        thresholds = {"validation": decisions(det.scorer, fit[-held:], args.seed + 1),
                      "test": decisions(det.scorer, test, args.seed)}
        runtime = artifacts(work / "draem", work, config, test, args.seed)
        speed = frame_ms(work / "draem", work)
        fashion_mnist = fashion(args, config, work) if args.fashion_classes else None
    training = det.scorer.manifest.training
    write_result({"provenance": finished(run), "grid": GRID, "fit_crops": len(fit) - held,
                  "validation_crops": held, "test_crops": len(test),
                  "train_s": round(seconds, 1), "epochs_run": training.epochs_run,
                  "best_val_loss": training.best_val_loss, "validation": validation,
                  "chosen": chosen, "default": {"smooth": MASK_SCORE.smooth,
                                                "pool": MASK_SCORE.pool},
                  "test": {"keras, chosen score": keras_test, **runtime},
                  "default_threshold": MASK_THRESHOLD,
                  "thresholds": thresholds,
                  "ms_per_256x256_frame": speed, "fashion-mnist": fashion_mnist}, args.out)


if __name__ == "__main__":
    main()
