"""Where is the defect? Patch maps beside the reconstruction error's map (issue 21, part 1).

Protocol of BENCHMARKS.md's localisation table (`benchmarks/anomaly.py --pixel`): 64x64 gray
crops of Train400, 2,880 from 360 images to fit, 160 from the other 40 to test, each test crop
given one pasted defect (a patch of another crop, a bright scratch or a blob; masks known); and
Fashion-MNIST, per class: trained on the class's training images, tested on its test images with
the same pasted defects.

- Reconstruction error (today's maps): on Train400 the detector anomaly.py's localisation found
  best on these crops (dense 256-128-32), on Fashion-MNIST the default detector; their smoothed
  squared error.
- Patch maps (`edgeae train detector --score-maps patch`, through the product's own code): every
  patch's descriptor (runtime/features.py) compared with a memory of training patches chosen by
  greedy coreset; the map is each location's distance to its nearest training patch, resized to
  pixels and smoothed. Image AUROC by the detector's score (today's global HOG k-NN) and by the
  map's maximum.

The patch settings (neighbourhood, brightness weight, smoothing, memory size) are chosen on
validation defects pasted on crops of the last 40 fit images (their crops left out of the memory
while choosing; never the test crops): the best validation pixel AUROC, then the smallest memory
within BANK_SLACK of it. Cells of 4 pixels with 8 direction bins: 8-pixel cells lost every
pairing of the first run (results/localise.json at commit 3d9c6f3). Fashion-MNIST takes the
Train400 choice unchanged (a default for unseen data). Milliseconds per 256x256 frame through
the runtime come from `edgeae benchmark` (onnxruntime, fp32 and int8, 2 threads). Patches
are compared on every number of their descriptors while choosing; benchmarks/patch_dims.py
then chooses, on the same validation crops, how many of the memory's principal axes the
product compares them on. `--dims N` runs the test detectors (Train400 and Fashion-MNIST) on N
axes with the setting chosen (0, the default: every number, as the first runs did).

    .venv/bin/python benchmarks/localise.py --data ../shared/data \
        --out benchmarks/results/localise.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from anomaly import ARCHITECTURES, auroc, paste_defects, pixel_level, train400_crops
from provenance import finished, provenance, write_result
from splits import split_validation

from edgeae.core.manifest import PatchMapConfig, ScoreConfig
from edgeae.core.metrics import pixel_metrics
from edgeae.runtime.features import PatchMemory
from edgeae.runtime.scoring import anomaly_scores, patch_maps
from edgeae.train.detector import DEFAULT_SCORE, Detector, array_source
from edgeae.train.thresholds import patch_memory

GRID = {"context": (0, 1), "intensity": (0.0, 1.0, 3.0), "smooth": (2.0, 4.0),
        "bank": (1024, 4096, 16384)}
BANK_SLACK = 0.01  # a smaller memory is taken when its validation pixel AUROC is this close
VALIDATION_IMAGES, CROPS_PER_IMAGE = 40, 8
BASELINE = "dense 256-128-32"
EDGEAE = Path(sys.executable).with_name("edgeae")


def patch_config(setting: dict) -> ScoreConfig:
    """The detector score configuration of one patch setting (the rest as the default's)."""
    patch = PatchMapConfig(context=setting["context"], intensity=setting["intensity"],
                           bank=setting["bank"], dims=setting.get("dims", 0),
                           stride=setting.get("stride", 1))
    return DEFAULT_SCORE.model_copy(update={"maps": "patch", "smooth": setting["smooth"],
                                            "patch": patch})


def localisation(maps_of, clean: np.ndarray, seed: int) -> dict:
    """Pixel AUROC, PRO and image AUROC (map maximum) of a map function on pasted defects."""
    broken, masks = paste_defects(clean, seed)
    broken_maps = maps_of(broken)
    result = pixel_metrics(list(broken_maps), list(masks))
    peaks = np.r_[maps_of(clean).reshape(len(clean), -1).max(1),
                  broken_maps.reshape(len(broken), -1).max(1)]
    result["image_auroc_map_max"] = auroc(peaks, np.r_[np.zeros(len(clean)), np.ones(len(broken))])
    return result


def choose_setting(fit: np.ndarray, seed: int) -> tuple[dict, list[dict]]:
    """Every GRID setting on the validation crops; the chosen one (module docstring), all rows.

    The greedy coreset is nested (its first k picks are the k-coreset), so one memory of the
    largest size serves every size.
    """
    held = VALIDATION_IMAGES * CROPS_PER_IMAGE
    bank_crops, validation = fit[:-held], fit[-held:]
    rows = []
    for context, intensity in itertools.product(GRID["context"], GRID["intensity"]):
        largest = patch_config({"context": context, "intensity": intensity, "smooth": 0,
                                "bank": max(GRID["bank"])})
        memory = patch_memory(largest.patch, array_source(bank_crops),
                              np.arange(len(bank_crops)), seed).astype(np.float32)
        for bank, smooth in itertools.product(GRID["bank"], GRID["smooth"]):
            setting = {"context": context, "intensity": intensity, "smooth": smooth, "bank": bank}
            config = patch_config(setting)
            searched = PatchMemory(memory[:bank])
            scores = localisation(lambda x, m=searched, c=config: patch_maps(x, m, c),
                                  validation, seed + 1)
            rows.append({**setting, **scores})
            print(f"validation {setting}: {scores}", flush=True)
    best = max(rows, key=lambda r: (r["pixel_auroc"], r["pro"]))
    close = [r for r in rows if all(r[k] == best[k] for k in ("context", "intensity", "smooth"))
             and r["pixel_auroc"] >= best["pixel_auroc"] - BANK_SLACK]
    chosen = min(close, key=lambda r: r["bank"])
    return {k: chosen[k] for k in GRID}, rows


def both_maps(det: Detector, clean: np.ndarray, seed: int) -> dict:
    """Patch maps of a patch detector and the error maps of its own autoencoder, on defects."""
    patch = pixel_level(det, clean, seed)
    patch |= localisation(det.anomaly_map, clean, seed)
    error_config = det.scorer.manifest.score.model_copy(update={"maps": "error"})

    def error_maps(x: np.ndarray) -> np.ndarray:
        return anomaly_scores(x, det.scorer.reconstruct(x), error_config)[1]

    return {"reconstruction error": localisation(error_maps, clean, seed), "patch maps": patch}


def frame_ms(model_dir: Path, work: Path) -> dict:
    """`edgeae benchmark`'s median and p99 ms per 256x256 frame (score with its map), ONNX."""
    out = work / f"bench-{model_dir.name}"
    subprocess.run([str(EDGEAE), "benchmark", str(model_dir), "--backends", "onnx",
                    "--precisions", "fp32,int8", "--sizes", "256x256", "--threads", "2",
                    "--out", str(out), "--overwrite"], check=True, capture_output=True)
    rows = json.loads((out / "benchmark.json").read_text())["rows"]
    return {f"{r['backend']} {r['precision']}": {"p50": r["ms_p50"], "p99": r["ms_p99"]}
            for r in rows if r["backend"] != "keras"}


def train400(args: argparse.Namespace, work: Path) -> dict:
    """The choice on validation crops, then both map kinds on the test crops, and their speed."""
    fit, test = train400_crops(args.data, args.seed)
    setting, validation = choose_setting(fit, args.seed)
    started = time.perf_counter()
    patch_det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed,
                         score=patch_config({**setting, "dims": args.dims}),
                         **ARCHITECTURES[BASELINE]).fit(
        fit, out=work / "patch", overwrite=True)
    train_s = time.perf_counter() - started
    baseline = Detector(epochs=args.epochs, batch_size=64, seed=args.seed,
                        **ARCHITECTURES[BASELINE]).fit(fit, out=work / "error", overwrite=True)
    error = pixel_level(baseline, test, args.seed) | localisation(baseline.anomaly_map, test,
                                                                  args.seed)
    patch = pixel_level(patch_det, test, args.seed) | localisation(patch_det.anomaly_map, test,
                                                                   args.seed)
    return {"fit_crops": len(fit), "test_crops": len(test),
            "validation_crops": VALIDATION_IMAGES * CROPS_PER_IMAGE, "validation": validation,
            "chosen": setting, "patch_detector_train_s": round(train_s, 1),
            "patch_memory_mb": round((work / "patch" / "patches.npy").stat().st_size / 2**20, 2),
            "test": {f"reconstruction error ({BASELINE})": error, "patch maps": patch},
            "ms_per_256x256_frame": {"reconstruction error": frame_ms(work / "error", work),
                                     "patch maps": frame_ms(work / "patch", work)}}


def fashion(args: argparse.Namespace, setting: dict, work: Path) -> dict:
    """Per class: a default detector with the chosen patch maps; both map kinds on its test."""
    data = np.load(args.data / "fashion_mnist.npz")
    x_fit, y_fit, _, _ = split_validation(data["x_train"], data["y_train"], args.seed)
    x_test, y_test = data["x_test"], data["y_test"]
    per_class = {}
    for c in range(args.classes):
        det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed,
                       score=patch_config({**setting, "dims": args.dims})).fit(
            x_fit[y_fit == c], out=work / f"f{c}", overwrite=True)
        per_class[c] = both_maps(det, x_test[y_test == c][..., None].astype(np.float32) / 255,
                                 args.seed + c)
        print(f"fashion class {c}: {per_class[c]}", flush=True)
    return {"classes": args.classes, "mean over classes": mean_of(list(per_class.values())),
            "per_class": per_class}


def mean_of(results: list[dict]) -> dict:
    """The mean of each number every result has (nested dictionaries too)."""
    keys = [k for k in results[0] if all(k in r for r in results)]
    return {k: mean_of([r[k] for r in results]) if isinstance(results[0][k], dict)
            else float(np.mean([r[k] for r in results])) for k in keys}


def main() -> None:
    """Train400 (choice, test, speed), then Fashion-MNIST with the same choice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--epochs", type=int, default=20, help="the detectors' training epochs")
    parser.add_argument("--classes", type=int, default=10, help="Fashion-MNIST classes (0..N-1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dims", type=int, default=0,
                        help="principal axes the test detectors' patch maps compare on "
                             "(default 0: every number)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/localise.json"))
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/localise.py", *sys.argv[1:]]))
    with tempfile.TemporaryDirectory() as tmp:
        crops = train400(args, Path(tmp))
        fashion_mnist = fashion(args, crops["chosen"], Path(tmp))
    write_result({"provenance": finished(run), "grid": GRID, "bank_slack": BANK_SLACK,
                  "dims": args.dims, "train400": crops, "fashion-mnist": fashion_mnist}, args.out)


if __name__ == "__main__":
    main()
