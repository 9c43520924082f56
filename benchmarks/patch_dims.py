"""How many patches patch maps remember and on how many principal axes they compare them.

benchmarks/localise.py chose the patch setting (neighbourhood, brightness weight, smoothing,
memory size) on the full descriptors (306 numbers for its choice). Here, on the same validation
crops with pasted defects and the same memory (the fit crops less the last 40 images'), the
memory and the descriptors are also projected on the memory's first `dims` principal axes
(runtime/features.py: PatchMemory; 0: the full descriptors), for every memory size and number
of axes in GRID: the best validation pixel AUROC, then the cheapest search within SLACK of it
(BANK_SLACK, localise.py's rule for the memory size), the cost being rows times numbers
compared. The test crops then give localise.py's search (4,096 patches, all numbers) and the
chosen one, each in a detector trained with it, and the cost: the maps alone on one 256x256
frame, both interleaved in one process, and `edgeae benchmark` per 256x256 frame through the
runtime.

    .venv/bin/python benchmarks/patch_dims.py --data ../shared/data \
        --out benchmarks/results/patch-dims.json        # about 15 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from anomaly import ARCHITECTURES, train400_crops
from draem import test_scores
from localise import (
    BANK_SLACK,
    BASELINE,
    CROPS_PER_IMAGE,
    VALIDATION_IMAGES,
    frame_ms,
    localisation,
    patch_config,
)
from provenance import finished, provenance, write_result

from edgeae.runtime.features import PatchMemory
from edgeae.runtime.models import AnomalyScorer
from edgeae.runtime.scoring import patch_maps
from edgeae.train.detector import Detector, array_source
from edgeae.train.thresholds import patch_memory

GRID = {"bank": (1024, 4096, 16384), "dims": (0, 32, 48, 64, 96, 128, 160, 192)}
SLACK = BANK_SLACK
TIMED_RUNS = 30


def choose(fit: np.ndarray, setting: dict, seed: int) -> tuple[dict, list[dict]]:
    """Every GRID pair on the validation crops with localise.py's memory; the chosen, all rows.

    The best pixel AUROC, then the cheapest search within SLACK of it: memory rows times the
    numbers compared. The greedy coreset is nested, so one memory of the largest size serves
    every size; each size's axes come from its own rows, as the product computes them.
    """
    held = VALIDATION_IMAGES * CROPS_PER_IMAGE
    config = patch_config({**setting, "bank": max(GRID["bank"])})
    memory = patch_memory(config.patch, array_source(fit[:-held]), np.arange(len(fit) - held),
                          seed).astype(np.float32)
    rows = []
    for bank, dims in itertools.product(GRID["bank"], GRID["dims"]):
        searched = PatchMemory(memory[:bank], dims)
        scores = localisation(lambda x, m=searched: patch_maps(x, m, config), fit[-held:],
                              seed + 1)
        rows.append({"bank": bank, "dims": dims, **scores})
        print(f"validation bank {bank} dims {dims}: {scores}", flush=True)
    best = max(r["pixel_auroc"] for r in rows)
    close = [r for r in rows if r["pixel_auroc"] >= best - SLACK]
    chosen = min(close, key=lambda r: (r["bank"] * (r["dims"] or memory.shape[1]),
                                       -r["pixel_auroc"]))
    return {k: chosen[k] for k in GRID}, rows


def map_ms(scorers: dict[str, AnomalyScorer], seed: int) -> dict:
    """Median and p99 ms of each scorer's patch maps of one 256x256 frame, interleaved."""
    frame = np.random.default_rng(seed).random((1, 256, 256, 1), dtype=np.float32)
    times = {name: [] for name in scorers}
    for _ in range(TIMED_RUNS + 2):
        for name, scorer in scorers.items():
            started = time.perf_counter()
            patch_maps(frame, scorer.patch_memory, scorer.manifest.score)
            times[name].append(1e3 * (time.perf_counter() - started))
    return {name: {"p50": statistics.median(t[2:]), "p99": float(np.percentile(t[2:], 99))}
            for name, t in times.items()}


def label(search: dict) -> str:
    """A row's name: its memory size and axes."""
    axes = f"{search['dims']} axes" if search["dims"] else "all numbers"
    return f"{search['bank']:,} patches, {axes}"


def test(args: argparse.Namespace, setting: dict, chosen: dict, work: Path) -> dict:
    """A detector with localise.py's search and one with the chosen; test maps and cost each."""
    fit, test_crops = train400_crops(args.data, args.seed)
    searches = {"localise.py": {"bank": setting["bank"], "dims": 0}, "chosen": chosen}
    results, scorers, speed = {}, {}, {}
    for name, search in searches.items():
        out = work / name.replace(".", "-")
        det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed,
                       score=patch_config({**setting, **search}),
                       **ARCHITECTURES[BASELINE]).fit(fit, out=out, overwrite=True)
        scorers[label(search)] = det.scorer
        results[label(search)] = test_scores(det.scorer.score_batch, test_crops, args.seed)
        print(f"test {label(search)}: {results[label(search)]}", flush=True)
        speed[label(search)] = frame_ms(out, work)
    return {"test": results, "map_ms": map_ms(scorers, args.seed),
            "ms_per_256x256_frame": speed}


def main() -> None:
    """Choose dims on validation for localise.json's setting, then test and time it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--localise", type=Path, default=Path(__file__).parent / "results" /
                        "localise.json", help="the patch setting localise.py chose")
    parser.add_argument("--epochs", type=int, default=20, help="the detector's training epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/patch-dims.json"))
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/patch_dims.py", *sys.argv[1:]]))
    setting = json.loads(args.localise.read_text())["train400"]["chosen"]
    fit, _ = train400_crops(args.data, args.seed)
    chosen, validation = choose(fit, setting, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tested = test(args, setting, chosen, Path(tmp))
    write_result({"provenance": finished(run), "setting": setting, "grid": GRID,
                  "slack": SLACK, "validation": validation, "chosen": chosen, **tested},
                 args.out)


if __name__ == "__main__":
    main()
