"""The sweep behind the detector's default k-NN score, on validation splits only.

The default anomaly score (train/detector.py DEFAULT_SCORE, runtime/features.py,
runtime/scoring.py) is the mean distance of an image's HOG descriptor to its k nearest training
images' descriptors. Its settings (orientation bins, cell size, k, metric) are chosen here, per
the protocol of ../shared/data/README.md restricted to x_train:

- 10% of every class of x_train is held out as the validation split, with the same seeded split
  as benchmarks/anomaly.py (`split_validation`, seed 0); x_test is never read;
- for each class c: the memory is the HOG descriptors of x_train[y == c] minus its held-out
  part; the queries are the whole validation split (anomalies = the other classes);
- per setting, the mean validation AUROC over the classes, per dataset and over both.

HOG is edgeae's own (runtime/features.py, equal to scikit-image's with L2-Hys 2x2-cell blocks).
Metrics: cosine (unit-length descriptors, the product's) and Euclidean (raw descriptors).
No network is trained: the HOG k-NN score does not use one.

    nice -n 19 .venv/bin/python benchmarks/detector_sweep.py --data ../shared/data \
        --out benchmarks/results/detector_sweep.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from splits import split_validation  # benchmarks/splits.py, beside this script

from edgeae.runtime.features import hog_features, unit_rows

DATASETS = {"fashion-mnist": "fashion_mnist.npz", "mnist-10k": "mnist_10k.npz"}
DEFAULT = {"orientations": 4, "cell": 4, "k": 5, "metric": "cosine"}  # DEFAULT_SCORE, 28x28


def machine() -> dict:
    """CPU model, cores, Python and library versions, for the table's caption."""
    import sklearn

    import edgeae
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if line.startswith("Model name"))
    except (StopIteration, OSError):
        cpu = platform.processor()
    import os
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "edgeae": edgeae.__version__}


def hog(x: np.ndarray, cell: int, orientations: int, chunk: int = 4000) -> np.ndarray:
    """HOG descriptors of (N, 28, 28) images in [0, 1], in chunks to bound memory."""
    return np.concatenate([hog_features(x[i:i + chunk], cell, orientations)
                           for i in range(0, len(x), chunk)])


def knn_means(bank: np.ndarray, queries: np.ndarray, ks: list[int], metric: str) -> dict:
    """{k: (N,) mean distance to the k nearest bank rows} for every k, from one partition."""
    kmax = min(max(ks), len(bank))
    out = {k: np.empty(len(queries)) for k in ks}
    if metric == "cosine":
        bank_u = unit_rows(bank)
    else:
        bank_sq = np.square(bank).sum(1)
    for i in range(0, len(queries), 2000):
        q = queries[i:i + 2000]
        if metric == "cosine":
            d = 1.0 - unit_rows(q) @ bank_u.T
        else:
            d = np.sqrt(np.maximum(np.square(q).sum(1)[:, None] + bank_sq[None] - 2 * q @ bank.T,
                                   0.0))
        nearest = np.sort(np.partition(d, kmax - 1, axis=1)[:, :kmax], axis=1)
        cum = np.cumsum(nearest, axis=1)
        for k in ks:
            out[k][i:i + 2000] = cum[:, min(k, kmax) - 1] / min(k, kmax)
    return out


def sweep_dataset(path: Path, args: argparse.Namespace) -> dict:
    """Mean validation AUROC over classes for every setting of one dataset."""
    data = np.load(path)
    x_train, y_train = data["x_train"].astype(np.float32) / 255, data["y_train"]
    x_fit, y_fit, x_val, y_val = split_validation(x_train, y_train, args.seed)
    if args.val_limit and len(x_val) > args.val_limit:  # a seeded subset, every class kept
        keep = np.random.default_rng(args.seed + 1).choice(len(x_val), args.val_limit, False)
        x_val, y_val = x_val[np.sort(keep)], y_val[np.sort(keep)]
    classes = [int(c) for c in np.unique(y_train)][:args.classes]
    fit_rows = np.concatenate([np.flatnonzero(y_fit == c)[:args.memory_limit or None]
                               for c in classes])
    per_setting: dict[str, dict] = {}
    for orientations in args.orientations:
        for cell in args.cells:
            start = time.perf_counter()
            f_fit = hog(x_fit[fit_rows], cell, orientations)  # aligned with fit_rows
            f_val = hog(x_val, cell, orientations)
            hog_s = time.perf_counter() - start
            for metric in args.metrics:
                aurocs = {k: [] for k in args.ks}
                for c in classes:
                    bank = f_fit[y_fit[fit_rows] == c]
                    scores = knn_means(bank, f_val, args.ks, metric)
                    for k in args.ks:
                        aurocs[k].append(float(roc_auc_score(y_val != c, scores[k])))
                for k in args.ks:
                    name = f"orientations {orientations}, cell {cell}, k {k}, {metric}"
                    per_setting[name] = {
                        "orientations": orientations, "cell": cell,
                        "cells_across": 28 // cell, "k": k, "metric": metric,
                        "mean_val_auroc": float(np.mean(aurocs[k])),
                        "val_auroc_per_class": [round(a, 4) for a in aurocs[k]]}
            print(f"{path.stem} orientations {orientations} cell {cell}: best "
                  + ", ".join(f"{m} {max(v['mean_val_auroc'] for v in per_setting.values() if v['metric'] == m and v['orientations'] == orientations and v['cell'] == cell):.4f}"  # noqa: E501
                              for m in args.metrics) + f" (HOG {hog_s:.1f} s)", flush=True)
    best = max(per_setting, key=lambda n: per_setting[n]["mean_val_auroc"])
    return {"classes": classes, "validation_images": int(len(x_val)),
            "memory_images_per_class": int(np.mean([np.sum(y_fit[fit_rows] == c)
                                                     for c in classes])),
            "best": best, "settings": per_setting}


def main() -> None:
    """Parse arguments, sweep, print the summary JSON and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--classes", type=int, default=10, help="first N classes only")
    parser.add_argument("--orientations", type=int, nargs="+", default=[2, 3, 4, 6, 9])
    parser.add_argument("--cells", type=int, nargs="+", default=[3, 4, 5, 7],
                        help="HOG cell sizes in pixels (28x28 images: 9, 7, 5, 4 cells across)")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10, 20])
    parser.add_argument("--metrics", nargs="+", choices=("cosine", "euclidean"),
                        default=["cosine", "euclidean"])
    parser.add_argument("--memory-limit", type=int, default=0,
                        help="at most N training images per class in the memory (0: all)")
    parser.add_argument("--val-limit", type=int, default=0,
                        help="a seeded subset of N validation images (0: the whole split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/detector_sweep.json"))
    args = parser.parse_args()

    started = datetime.now(UTC)
    datasets = {name: sweep_dataset(args.data / DATASETS[name], args) for name in args.datasets}
    names = list(next(iter(datasets.values()))["settings"])
    over_both = {n: float(np.mean([d["settings"][n]["mean_val_auroc"] for d in datasets.values()]))
                 for n in names}
    default = (f"orientations {DEFAULT['orientations']}, cell {DEFAULT['cell']}, "
               f"k {DEFAULT['k']}, {DEFAULT['metric']}")
    ranked = sorted(over_both, key=over_both.get, reverse=True)
    result = {
        "benchmark": "detector_sweep", "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_utc": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "machine": machine(), "split": "validation (10% of each class of x_train); x_test unread",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "default": default,
        "default_mean_val_auroc_over_datasets": over_both.get(default),
        "default_rank": ranked.index(default) + 1 if default in ranked else None,
        "best_over_datasets": ranked[0], "best_mean_val_auroc_over_datasets": over_both[ranked[0]],
        "mean_val_auroc_over_datasets": over_both, "datasets": datasets}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: v for k, v in result.items() if k not in ("mean_val_auroc_over_datasets",
                                                            "datasets")}
    summary["top 10"] = {n: round(over_both[n], 4) for n in ranked[:10]}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
