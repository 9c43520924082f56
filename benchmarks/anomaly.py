"""One-class anomaly detection on Fashion-MNIST and MNIST-10k: edgeae against the usual baselines.

Protocol of ../shared/data/README.md: for each class c, train only on x_train[y_train == c],
score all of x_test, anomalies = every other class; AUROC per class and the mean. Side by side
in one run, per class:

- edgeae's Detector with each model in ARCHITECTURES and every score in SCORES (reconstruction
  errors pooled in several ways, the HOG k-NN distance, and both added) computed from the same
  fitted model; the default is the (model, score) with the best mean AUROC over both datasets'
  validation splits (10% of every class of x_train, held out from training), never x_test;
- that model exported to int8 TFLite and scored by the runtime (--int8), with that score;
- the tutorial's anomaly recipe: a dense 32-16-8 autoencoder trained with MAE, threshold mean +
  1 std of the training loss (accuracy, precision, recall at it, as the tutorial reports);
- PCA reconstruction error (95% of the variance), IsolationForest and OneClassSVM
  (scikit-learn, defaults) on raw pixels, and PyOD's AutoEncoder (defaults) when PyOD is
  installed (`pip install pyod`, which needs PyTorch);
- with --pixel, localisation: the chosen detector's maps on the class's test images with one
  pasted defect each (a patch of another image, a scratch, a blob; masks known), pixel AUROC and
  PRO; and every model trained on 64x64 crops of Train400 and tested on crops of held-out
  images with such defects.

    python benchmarks/anomaly.py --data ../shared/data --out benchmarks/results/anomaly.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402
from splits import split_validation  # noqa: E402  (benchmarks/splits.py, beside this script)

import edgeae  # noqa: E402
import edgeae.runtime as rt  # noqa: E402
from edgeae.core.files import write_text  # noqa: E402
from edgeae.core.manifest import Manifest  # noqa: E402
from edgeae.core.metrics import detection_metrics, pixel_metrics  # noqa: E402
from edgeae.core.modeldir import ModelDir  # noqa: E402
from edgeae.export.artifacts import ExportOptions, export_model  # noqa: E402
from edgeae.runtime.batch import BATCH  # noqa: E402
from edgeae.runtime.scoring import anomaly_scores, combined_scores, knn_scores  # noqa: E402
from edgeae.train.detector import DEFAULT_SCORE, Detector, as_images  # noqa: E402

DATASETS = {"fashion-mnist": "fashion_mnist.npz", "mnist-10k": "mnist_10k.npz"}
# Every model is fitted with edgeae's default score (HOG 5-NN, whose threshold the accuracy,
# precision and recall use): its k-NN memory (HOG descriptors of the training images) and the
# standardisation of its parts then serve every score below, all from the same fit.
FIT_SCORE = DEFAULT_SCORE
FITTED = "HOG 5-NN"  # the entry of SCORES that is FIT_SCORE itself
RECONSTRUCTION = {"knn": 0, "error": "squared", "smooth": 0.0, "pool": "mean"}
SCORES = {  # name -> how the fitted score configuration changes
    "mse (tutorial)": RECONSTRUCTION,
    "mae": RECONSTRUCTION | {"error": "absolute"},
    "max": RECONSTRUCTION | {"pool": "max"},
    "top 1%": RECONSTRUCTION | {"pool": "top:0.01"},
    "top 5%": RECONSTRUCTION | {"pool": "top:0.05"},
    "smooth 1 + max": RECONSTRUCTION | {"smooth": 1.0, "pool": "max"},
    "smooth 1 + top 5%": RECONSTRUCTION | {"smooth": 1.0, "pool": "top:0.05"},
    "smooth 2 + top 10%": RECONSTRUCTION | {"smooth": 2.0, "pool": "top:0.1"},
    "HOG 5-NN": {"combine": "knn"},  # the nearest training images' HOG descriptors alone
    "HOG 5-NN + smooth 2 + top 10%": {"combine": "both"},  # each standardised, summed
}
ARCHITECTURES = {  # name -> registered model and its parameters; validation ties go to the first
    "dense 64": {"model": "dense", "latent_dim": 64},  # the tutorial's first, edgeae's default
    "dense 8": {"model": "dense", "latent_dim": 8},
    "dense 32": {"model": "dense", "latent_dim": 32},
    "conv": {"model": "conv"},  # the tutorial's conv denoiser: a 7x7x8 code for 28x28 images
    "dense 256-128-32": {"model": "dense", "latent_dim": 32, "hidden": (256, 128)},
}
BASELINES = ("PCA (95% variance)", "IsolationForest", "OneClassSVM", "PyOD AutoEncoder")


def auroc(scores: np.ndarray, anomalous: np.ndarray) -> float:
    """scikit-learn's AUROC, as a plain float."""
    return float(roc_auc_score(anomalous, scores))


def scored_by(manifest: Manifest, name: str) -> Manifest:
    """The fitted manifest with the score SCORES[name]."""
    return manifest.model_copy(update={"score": manifest.score.model_copy(update=SCORES[name])})


def edgeae_scores(det: Detector, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every score in SCORES for x, from the same fitted detector.

    The runtime's scoring path (`AnomalyScorer.score_batch`) taken apart: x is reconstructed
    once and its k-NN distances found once, then each score pools and combines those parts
    (the k-NN part is the same for every score that uses it), so ten scores cost one pass.
    """
    images = as_images(x)
    scorer = det.scorer
    reconstruction = np.concatenate([scorer.reconstruct(images[i:i + BATCH])
                                     for i in range(0, len(images), BATCH)])
    knn = knn_scores(images, scorer.memory, scorer.manifest.score)
    out = {}
    for name in SCORES:
        config = scored_by(scorer.manifest, name).score
        parts, _ = anomaly_scores(images, reconstruction, config)
        out[name] = combined_scores(parts, knn, config) if config.knn else parts
    return out


def tutorial_recipe(x_fit: np.ndarray, x_test: np.ndarray, anomalous: np.ndarray,
                    epochs: int, seed: int) -> dict:
    """The tutorial's dense 32-16-8 autoencoder, MAE, threshold = mean + 1 std of train loss."""
    keras.utils.set_random_seed(seed)
    d = x_fit.shape[1] * x_fit.shape[2]
    flat_fit, flat_test = x_fit.reshape(len(x_fit), d), x_test.reshape(len(x_test), d)
    model = keras.Sequential([keras.Input((d,))] + [
        keras.layers.Dense(n, activation="relu") for n in (32, 16, 8, 16, 32)] + [
        keras.layers.Dense(d, activation="sigmoid")])
    model.compile(optimizer="adam", loss="mae")
    start = time.perf_counter()
    model.fit(flat_fit, flat_fit, epochs=epochs, batch_size=512, verbose=0)
    seconds = time.perf_counter() - start
    train_loss = np.mean(np.abs(model.predict(flat_fit, verbose=0) - flat_fit), axis=1)
    threshold = float(train_loss.mean() + train_loss.std())
    scores = np.mean(np.abs(model.predict(flat_test, verbose=0) - flat_test), axis=1)
    metrics = detection_metrics(scores, anomalous, threshold)
    return {key: metrics[key] for key in ("auroc", "accuracy", "precision", "recall")} | {
        "train_s": round(seconds, 1)}


def sklearn_baselines(x_fit: np.ndarray, x_test: np.ndarray, anomalous: np.ndarray,
                      seed: int) -> dict:
    """AUROC and fit time of PCA reconstruction error, IsolationForest and OneClassSVM."""
    fit, test = x_fit.reshape(len(x_fit), -1), x_test.reshape(len(x_test), -1)
    results = {}
    start = time.perf_counter()
    pca = PCA(n_components=0.95, svd_solver="full").fit(fit)
    error = np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2, axis=1)
    results["PCA (95% variance)"] = {"auroc": auroc(error, anomalous),
                                     "train_s": round(time.perf_counter() - start, 1)}
    for name, model in (("IsolationForest", IsolationForest(random_state=seed)),
                        ("OneClassSVM", OneClassSVM())):
        start = time.perf_counter()
        model.fit(fit)
        results[name] = {"auroc": auroc(-model.score_samples(test), anomalous),
                         "train_s": round(time.perf_counter() - start, 1)}
    if importlib.util.find_spec("pyod") is not None:  # benchmark-only, needs PyTorch
        from pyod.models.auto_encoder import AutoEncoder

        start = time.perf_counter()
        model = AutoEncoder(random_state=seed, verbose=0).fit(fit)  # PyOD's defaults
        results["PyOD AutoEncoder"] = {"auroc": auroc(model.decision_function(test), anomalous),
                                       "train_s": round(time.perf_counter() - start, 1)}
    return results


def paste_defects(images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of NHWC images in [0, 1], each with one local defect, and the defects' masks.

    In turn: a patch pasted from another image (a sixth of the side), a bright scratch (a line
    a third to a half of the side long) and a blob (a filled ellipse of random brightness).
    """
    rng = np.random.default_rng(seed)
    out, masks = images.copy(), np.zeros(images.shape[:3], np.uint8)
    n, h, w, _ = images.shape
    for i in range(n):
        mask = masks[i]
        kind = i % 3
        if kind == 0:
            s = max(3, h // 6)
            y, x = rng.integers(0, h - s, 2)
            sy, sx = rng.integers(0, h - s, 2)
            out[i, y:y + s, x:x + s] = images[(i + 1 + rng.integers(n - 1)) % n, sy:sy + s,
                                              sx:sx + s]
            mask[y:y + s, x:x + s] = 1
        elif kind == 1:
            length = rng.uniform(h / 3, h / 2)
            angle = rng.uniform(0, np.pi)
            y0, x0 = rng.uniform(h / 4, 3 * h / 4, 2)
            end = (int(x0 + length * np.cos(angle)), int(y0 + length * np.sin(angle)))
            cv2.line(mask, (int(x0), int(y0)), end, 1, max(1, h // 28))
            out[i][mask.astype(bool)] = 1.0
        else:
            centre = tuple(int(v) for v in rng.integers(h // 5, 4 * h // 5, 2))
            axes = tuple(int(v) for v in rng.integers(max(1, h // 14), max(2, h // 7) + 1, 2))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            out[i][mask.astype(bool)] = rng.uniform(0.3, 1.0)
    return out, masks


def pixel_level(det: Detector, clean: np.ndarray, seed: int) -> dict:
    """Pixel AUROC and PRO of the detector's maps on pasted defects.

    Also the image AUROC of the defective copies against the same images without defects.
    """
    broken, masks = paste_defects(clean, seed)
    result = pixel_metrics(list(det.anomaly_map(broken)), list(masks))
    labels = np.r_[np.zeros(len(clean)), np.ones(len(broken))]
    result["image_auroc"] = auroc(det.anomaly_score(np.concatenate([clean, broken])), labels)
    return result


def train400_crops(data: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """64x64 gray crops in [0, 1]: 8 from each of 360 Train400 images, 4 from each other one.

    (fit, test): the 40 test images are a seeded random pick, none of them cropped for fit.
    """
    files = sorted((data / "train400").glob("*.png"))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))

    def crops(indices: np.ndarray, per_image: int) -> np.ndarray:
        out = []
        for i in indices:
            image = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
            for _ in range(per_image):
                y, x = rng.integers(0, image.shape[0] - 64, 2)
                out.append(image[y:y + 64, x:x + 64, None])
        return np.stack(out)

    return crops(order[40:], 8), crops(order[:40], 4)


def train400_pixel_level(data: Path, args: argparse.Namespace, work: Path) -> dict:
    """Every model trained on 64x64 crops of 360 Train400 images, tested on the other 40.

    Defects are pasted on the test crops; pixel AUROC and PRO per model, default score.
    """
    fit, test = train400_crops(data, args.seed)
    results = {}
    for arch, params in ARCHITECTURES.items():
        det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed, **params).fit(
            fit, out=work / f"train400-{arch.replace(' ', '-')}", overwrite=True)
        results[arch] = pixel_level(det, test, args.seed)
        print(f"train400 crops {arch}: {results[arch]}", flush=True)
    return {"train_crops": len(fit), "test_crops": len(test), "models": results}


def int8_auroc(model_dir: Path, score: str, x_test: np.ndarray, anomalous: np.ndarray) -> float:
    """The model exported to int8 TFLite with the score SCORES[score], scored by the runtime."""
    manifest = scored_by(ModelDir.open(model_dir).manifest, score)
    write_text(model_dir / "manifest.json", manifest.to_json(), overwrite=True)
    export_model(ModelDir.open(model_dir), model_dir / "export",
                 ExportOptions(formats=("tflite",), precisions=("int8",), allow_drift=True,
                               overwrite=True))  # measured here by AUROC, not gated
    scorer = rt.load(model_dir / "export" / "model_int8.tflite", "litert", task="score")
    scores = np.concatenate([scorer.score_batch(x_test[i:i + 256]).score
                             for i in range(0, len(x_test), 256)])
    return auroc(scores, anomalous)


def fit_edgeae(x_fit: np.ndarray, x_test: np.ndarray, x_val: np.ndarray, anomalous: np.ndarray,
               val_anomalous: np.ndarray, args: argparse.Namespace, out: Path) -> dict:
    """Every (architecture, score) of edgeae on one class: validation and test AUROC, times."""
    results = {}
    for arch, params in ARCHITECTURES.items():
        start = time.perf_counter()
        det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed, score=FIT_SCORE,
                       **params).fit(x_fit, out=out / arch.replace(" ", "-"), overwrite=True)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        fitted = det.anomaly_score(x_test)  # the fitted score, as `edgeae score` computes it
        score_ms = 1000 * (time.perf_counter() - start) / len(x_test)
        test_scores = edgeae_scores(det, x_test)
        np.testing.assert_allclose(test_scores[FITTED], fitted, atol=1e-4)  # the same path
        val_scores = edgeae_scores(det, x_val)
        results[arch] = {
            "train_s": round(train_s, 1), "score_ms_per_image": round(score_ms, 4),
            "at_threshold (HOG 5-NN, mean+1std)": detection_metrics(
                test_scores["HOG 5-NN"], anomalous, det.threshold_),
            "scores": {name: {"val_auroc": auroc(val_scores[name], val_anomalous),
                              "auroc": auroc(test_scores[name], anomalous)}
                       for name in SCORES}}
    return results


def bench_dataset(path: Path, args: argparse.Namespace, work: Path) -> dict:
    """Every method on every class of one dataset; edgeae's default chosen on validation."""
    data = np.load(path)
    x_train, y_train = data["x_train"].astype(np.float32) / 255, data["y_train"]
    x_test, y_test = data["x_test"].astype(np.float32) / 255, data["y_test"]
    x_fit, y_fit, x_val, y_val = split_validation(x_train, y_train, args.seed)
    classes = [int(c) for c in np.unique(y_train)][:args.classes]
    rows: dict = {}
    for c in classes:
        normal = x_fit[y_fit == c]
        row = {"edgeae": fit_edgeae(normal, x_test, x_val, y_test != c, y_val != c, args,
                                    work / f"{path.stem}-{c}"),
               "tutorial recipe": tutorial_recipe(normal, x_test, y_test != c,
                                                  args.tutorial_epochs, args.seed)}
        row |= sklearn_baselines(normal, x_test, y_test != c, args.seed)
        rows[c] = row
        best = {a: max(r["scores"].values(), key=lambda s: s["val_auroc"])["auroc"]
                for a, r in row["edgeae"].items()}
        print(f"{path.stem} class {c}: edgeae " + ", ".join(
            f"{a} {v:.3f}" for a, v in best.items()) + "; " + ", ".join(
            f"{k} {row[k]['auroc']:.3f}" for k in ("tutorial recipe", *BASELINES) if k in row),
              flush=True)
    combos = [(a, s) for a in ARCHITECTURES for s in SCORES]

    def mean_over_classes(arch: str, score: str, key: str) -> float:
        return float(np.mean([rows[c]["edgeae"][arch]["scores"][score][key] for c in classes]))

    arch, score = max(combos, key=lambda a_s: mean_over_classes(*a_s, "val_auroc"))
    summary = {"chosen (by validation AUROC)": f"{arch}, {score}",
               "mean_val_auroc": {f"{a}, {s}": mean_over_classes(a, s, "val_auroc")
                                  for a, s in combos},
               "mean_test_auroc": {f"edgeae {a}, {s}": mean_over_classes(a, s, "auroc")
                                   for a, s in combos}}
    for method in ("tutorial recipe", *BASELINES):
        if method in rows[classes[0]]:
            summary["mean_test_auroc"][method] = float(np.mean([rows[c][method]["auroc"]
                                                                for c in classes]))
    if args.int8:
        key = "edgeae int8 tflite (chosen)"
        for c in classes:
            rows[c][key] = int8_auroc(work / f"{path.stem}-{c}" / arch.replace(" ", "-"),
                                      score, x_test, y_test != c)
        summary["mean_test_auroc"][key] = float(np.mean([rows[c][key] for c in classes]))
    if args.pixel:
        for c in classes:
            det = Detector.load(work / f"{path.stem}-{c}" / arch.replace(" ", "-"))
            det.scorer.manifest = scored_by(det.scorer.manifest, score)
            rows[c]["pixel (chosen)"] = pixel_level(det, x_test[y_test == c][..., None]
                                                    if x_test.ndim == 3 else x_test[y_test == c],
                                                    args.seed + c)
        summary["pixel (chosen), mean over classes"] = {
            k: float(np.mean([rows[c]["pixel (chosen)"][k] for c in classes]))
            for k in ("pixel_auroc", "pro", "image_auroc")}
    return {"summary": summary, "per_class": rows}


def main() -> None:
    """Parse arguments, run, print the summary and write the JSON."""
    from provenance import cpu_model, provenance  # benchmarks/provenance.py, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--classes", type=int, default=10, help="first N classes only")
    parser.add_argument("--epochs", type=int, default=20, help="edgeae detector epochs")
    parser.add_argument("--tutorial-epochs", type=int, default=20)
    parser.add_argument("--int8", action="store_true", help="also export and score int8 TFLite")
    parser.add_argument("--pixel", action="store_true",
                        help="also pixel AUROC and PRO on pasted defects (and Train400 crops)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/anomaly.json"))
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="edgeae-anomaly-") as work:
        result = {name: bench_dataset(args.data / DATASETS[name], args, Path(work))
                  for name in args.datasets}
        if args.pixel:
            result["train400-crops"] = {"summary": train400_pixel_level(args.data, args,
                                                                        Path(work))}
    result["run"] = {"started": started,
                     "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "load_average_1_5_15": {"before": load_before,
                                             "after": [round(v, 2) for v in os.getloadavg()]},
                     "command": " ".join(["python", *sys.argv]), "cpu": cpu_model(),
                     "machine": platform.platform(), "cpus": os.cpu_count(),
                     "python": platform.python_version(), "numpy": np.__version__,
                     "keras": keras.__version__, "edgeae": edgeae.__version__,
                     "versions": provenance()["versions"],
                     "args": {k: str(v) for k, v in vars(args).items()},
                     "timed_score": FITTED}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v["summary"] for k, v in result.items() if k != "run"}, indent=2))


if __name__ == "__main__":
    main()
