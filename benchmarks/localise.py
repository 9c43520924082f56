"""Where is the defect? Patch k-NN maps beside the reconstruction error's map (issue 21, part 1).

Protocol of BENCHMARKS.md's localisation table (`benchmarks/anomaly.py --pixel`): 64x64 gray
crops of Train400, 2,880 from 360 images to fit, 160 from the other 40 to test, each test crop
given one pasted defect (a patch of another crop, a bright scratch or a blob; masks known).

- Reconstruction error (today's maps): the detector anomaly.py's localisation found best on
  these crops (dense 256-128-32), trained on the fit crops, its smoothed squared error.
- Patch k-NN (runtime/features.py): every HOG block (2x2 cells) of the fit crops, alone or
  side by side with its 3x3 neighbours (`context` 1), at any location, in a memory bank
  subsampled by greedy coreset selection; a test block's score is its cosine distance to the
  nearest bank block; the map is that per cell, resized to pixels and smoothed; the image
  score is the map's maximum.

The patch settings (cell size, context, smoothing; 8 orientation bins, which beat 4 in every
pairing of a first run) are chosen on validation defects pasted on crops of the last 40 fit
images (their crops left out of the bank while choosing; never the test crops); the chosen
setting's bank is then rebuilt from every fit crop. Pixel
AUROC and PRO (to FPR 0.3, core/metrics.py) on the test crops; image AUROC of defective against
defect-free copies; milliseconds per 256x256 frame for the patch map (HOG, k-NN, map).

    .venv/bin/python benchmarks/localise.py --data ../shared/data \
        --out benchmarks/results/localise.json
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from anomaly import ARCHITECTURES, auroc, paste_defects, pixel_level, train400_crops
from provenance import finished, provenance, write_result

from edgeae.core.metrics import pixel_metrics
from edgeae.runtime.features import (
    greedy_coreset,
    hog_blocks,
    neighbourhood,
    patch_distances,
    pixel_map,
    unit_rows,
)
from edgeae.train.detector import Detector

GRID = {"cell": (4, 8), "orientations": (8,), "context": (0, 1), "smooth": (2.0, 4.0)}
BANK, PRESAMPLE, VALIDATION_IMAGES, CROPS_PER_IMAGE = 16384, 100_000, 40, 8
BASELINE = "dense 256-128-32"


def patch_descriptors(images: np.ndarray, setting: dict) -> np.ndarray:
    """(N, R, C, D) HOG blocks of NHWC images, with their neighbours' when the setting says."""
    blocks = hog_blocks(images, setting["cell"], setting["orientations"])
    return neighbourhood(blocks, setting["context"])


def memory_bank(crops: np.ndarray, setting: dict, seed: int) -> np.ndarray:
    """Unit-length descriptors of `crops`, a random PRESAMPLE of them cut to BANK by coreset."""
    blocks = patch_descriptors(crops, setting)
    rows = unit_rows(blocks.reshape(-1, blocks.shape[-1]))
    rng = np.random.default_rng(seed)
    if len(rows) > PRESAMPLE:
        rows = rows[rng.choice(len(rows), PRESAMPLE, replace=False)]
    return rows[greedy_coreset(rows, BANK, seed)]


def patch_maps(bank: np.ndarray, images: np.ndarray, setting: dict) -> np.ndarray:
    """(N, H, W) patch k-NN maps of NHWC images for one setting."""
    distances = patch_distances(bank, patch_descriptors(images, setting))
    return pixel_map(distances, setting["cell"], images.shape[1:3], setting["smooth"])


def localisation(maps_of, clean: np.ndarray, seed: int) -> dict:
    """Pixel AUROC, PRO and image AUROC (map maximum) of a map function on pasted defects."""
    broken, masks = paste_defects(clean, seed)
    broken_maps = maps_of(broken)
    result = pixel_metrics(list(broken_maps), list(masks))
    peaks = np.r_[maps_of(clean).reshape(len(clean), -1).max(1),
                  broken_maps.reshape(len(broken), -1).max(1)]
    result["image_auroc"] = auroc(peaks, np.r_[np.zeros(len(clean)), np.ones(len(broken))])
    return result


def choose_setting(fit: np.ndarray, seed: int) -> tuple[dict, list[dict]]:
    """Every GRID setting on the validation crops; the best by pixel AUROC, and all rows."""
    held = VALIDATION_IMAGES * CROPS_PER_IMAGE
    bank_crops, validation = fit[:-held], fit[-held:]
    rows = []
    for cell, orientations, context in itertools.product(GRID["cell"], GRID["orientations"],
                                                         GRID["context"]):
        described = {"cell": cell, "orientations": orientations, "context": context}
        bank = memory_bank(bank_crops, described, seed)
        for smooth in GRID["smooth"]:
            setting = {**described, "smooth": smooth}
            scores = localisation(lambda x, b=bank, s=setting: patch_maps(b, x, s), validation,
                                  seed + 1)
            rows.append({**setting, **scores})
            print(f"validation {setting}: {scores}", flush=True)
    best = max(rows, key=lambda r: (r["pixel_auroc"], r["pro"]))
    return {k: best[k] for k in GRID}, rows


def frame_ms(bank: np.ndarray, setting: dict, frame: np.ndarray, repeats: int = 20) -> dict:
    """Median and p99 milliseconds of one frame's patch map."""
    times = []
    for _ in range(repeats + 2):
        start = time.perf_counter()
        patch_maps(bank, frame, setting)
        times.append((time.perf_counter() - start) * 1000)
    times = np.array(times[2:])
    return {"p50": float(np.median(times)), "p99": float(np.percentile(times, 99))}


def main() -> None:
    """Choose the patch setting on validation, then both map kinds on the test crops."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--epochs", type=int, default=20, help="the baseline's training epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/localise.json"))
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/localise.py", *sys.argv[1:]]))
    fit, test = train400_crops(args.data, args.seed)
    setting, validation = choose_setting(fit, args.seed)
    started = time.perf_counter()
    bank = memory_bank(fit, setting, args.seed)
    bank_s = time.perf_counter() - started
    patch = localisation(lambda x: patch_maps(bank, x, setting), test, args.seed)
    with tempfile.TemporaryDirectory() as work:
        det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed,
                       **ARCHITECTURES[BASELINE]).fit(fit, out=Path(work) / "det", overwrite=True)
        baseline = pixel_level(det, test, args.seed)
    frame = np.random.default_rng(args.seed).random((1, 256, 256, 1), dtype=np.float32)
    result = {"provenance": finished(run), "fit_crops": len(fit), "test_crops": len(test),
              "grid": GRID, "bank_size": BANK, "presample": PRESAMPLE,
              "validation": validation, "chosen": setting,
              "test": {f"reconstruction error ({BASELINE})": baseline,
                       "patch k-NN (chosen setting)": patch},
              "bank_build_s": round(bank_s, 1), "bank_mb": round(bank.nbytes / 2**20, 2),
              "patch_map_ms_256x256": frame_ms(bank, setting, frame)}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
