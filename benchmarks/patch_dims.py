"""How many principal axes patch maps compare on (PatchMapConfig.dims), chosen on validation.

benchmarks/localise.py chose the patch setting (neighbourhood, brightness weight, smoothing,
memory size) on the full descriptors (306 numbers for its choice). Here, on the same validation
crops with pasted defects and the same memory (the fit crops less the last 40 images'), the
memory and the descriptors are projected on the memory's first `dims` principal axes
(runtime/features.py: PatchMemory) for each of DIMS, 0 being the full descriptors: the best
validation pixel AUROC, then the fewest axes within DIMS_SLACK of it (BANK_SLACK's rule for
the memory size). The test crops then give the chosen projection beside the full descriptors
(one detector trained with the chosen setting, its maps drawn both ways), and the cost: the
maps alone on one 256x256 frame, both ways interleaved in one process, and `edgeae benchmark`
per 256x256 frame through the runtime for each.

    .venv/bin/python benchmarks/patch_dims.py --data ../shared/data \
        --out benchmarks/results/patch-dims.json        # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import shutil
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

DIMS = (0, 32, 48, 64, 96, 128, 160, 192)
DIMS_SLACK = BANK_SLACK
TIMED_RUNS = 30


def choose_dims(fit: np.ndarray, setting: dict, seed: int) -> tuple[int, list[dict]]:
    """Every DIMS on the validation crops with localise.py's memory; the chosen one, all rows."""
    held = VALIDATION_IMAGES * CROPS_PER_IMAGE
    config = patch_config(setting)
    memory = patch_memory(config.patch, array_source(fit[:-held]), np.arange(len(fit) - held),
                          seed).astype(np.float32)
    rows = []
    for dims in DIMS:
        searched = PatchMemory(memory, dims)
        scores = localisation(lambda x, m=searched: patch_maps(x, m, config), fit[-held:],
                              seed + 1)
        rows.append({"dims": dims, **scores})
        print(f"validation dims {dims}: {scores}", flush=True)
    width = memory.shape[1]
    best = max(r["pixel_auroc"] for r in rows)
    close = [r for r in rows if r["pixel_auroc"] >= best - DIMS_SLACK]
    return min(close, key=lambda r: r["dims"] or width)["dims"], rows


def with_dims(scorer: AnomalyScorer, dims: int) -> AnomalyScorer:
    """The same detector drawing its patch maps on `dims` axes."""
    score = scorer.manifest.score
    manifest = scorer.manifest.model_copy(update={"score": score.model_copy(
        update={"patch": score.patch.model_copy(update={"dims": dims})})})
    return AnomalyScorer(scorer.session, manifest, memory=scorer.memory, patches=scorer.patches)


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


def full_copy(model_dir: Path, out: Path) -> Path:
    """A copy of a patch detector whose manifest says dims 0 (the full descriptors)."""
    shutil.copytree(model_dir, out, dirs_exist_ok=True)
    raw = json.loads((out / "manifest.json").read_text())
    raw["score"]["patch"]["dims"] = 0
    (out / "manifest.json").write_text(json.dumps(raw, indent=2) + "\n")
    return out


def test(args: argparse.Namespace, setting: dict, dims: int, work: Path) -> dict:
    """One detector with the chosen projection; its maps both ways on the test crops; cost."""
    fit, test_crops = train400_crops(args.data, args.seed)
    det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed,
                   score=patch_config({**setting, "dims": dims}),
                   **ARCHITECTURES[BASELINE]).fit(fit, out=work / "patch", overwrite=True)
    results = {}
    scorers = {"full descriptors": with_dims(det.scorer, 0), f"{dims} axes": det.scorer}
    for name, scorer in scorers.items():
        results[name] = test_scores(scorer.score_batch, test_crops, args.seed)
        print(f"test {name}: {results[name]}", flush=True)
    full = full_copy(work / "patch", work / "full")
    return {"test": results, "map_ms": map_ms(scorers, args.seed),
            "ms_per_256x256_frame": {"full descriptors": frame_ms(full, work),
                                     f"{dims} axes": frame_ms(work / "patch", work)}}


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
    dims, validation = choose_dims(fit, setting, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tested = test(args, setting, dims, Path(tmp))
    write_result({"provenance": finished(run), "setting": setting, "dims_grid": DIMS,
                  "slack": DIMS_SLACK, "validation": validation, "chosen": dims, **tested},
                 args.out)


if __name__ == "__main__":
    main()
