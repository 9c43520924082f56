"""How densely a patch map describes a frame: every block, or every 2nd, 3rd, 4th down and across.

A patch map's cost is mostly its nearest-patch search, one query per HOG block (63x63 of them in
a 256x256 frame). Describing every s-th block down and across and interpolating the map between
them (PatchMapConfig.stride; the memory still holds every block of the training images) cuts
the queries, their descriptors and their search to 1 / s^2. On localise.py's validation crops
with pasted defects, with the product's search (patch_dims.py's choice: 4,096 patches on 64
axes), each stride in STRIDES is scored; the rule, fixed before the run: the largest stride
whose validation pixel AUROC is within PIXEL_SLACK of every block's and whose PRO is within
PRO_SLACK of it. The test crops then give a detector trained with each of TESTED and the chosen
stride, and the cost: the maps alone on one 256x256 frame, interleaved in one process,
and `edgeae benchmark` per 256x256 frame through the runtime.

    .venv/bin/python benchmarks/patch_stride.py --data ../shared/data \
        --out benchmarks/results/patch-stride.json        # about 15 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from anomaly import ARCHITECTURES, train400_crops
from draem import test_scores
from localise import (
    BASELINE,
    CROPS_PER_IMAGE,
    VALIDATION_IMAGES,
    frame_ms,
    localisation,
    patch_config,
)
from patch_dims import map_ms
from provenance import finished, provenance, write_result

from edgeae.runtime.features import PatchMemory
from edgeae.runtime.scoring import patch_maps
from edgeae.train.detector import Detector, array_source
from edgeae.train.thresholds import patch_memory

STRIDES = (1, 2, 3, 4)
TESTED = (1, 2)  # every block, and the cheapest step from it, whatever validation chooses
PIXEL_SLACK, PRO_SLACK = 0.005, 0.01


def choose(fit: np.ndarray, setting: dict, seed: int) -> tuple[int, list[dict]]:
    """Each stride on the validation crops with one memory; the chosen stride and all rows."""
    held = VALIDATION_IMAGES * CROPS_PER_IMAGE
    base = patch_config(setting)
    memory = patch_memory(base.patch, array_source(fit[:-held]), np.arange(len(fit) - held),
                          seed).astype(np.float32)
    searched = PatchMemory(memory, setting["dims"])
    rows = []
    for stride in STRIDES:
        config = patch_config({**setting, "stride": stride})
        scores = localisation(lambda x, c=config: patch_maps(x, searched, c), fit[-held:],
                              seed + 1)
        rows.append({"stride": stride, **scores})
        print(f"validation stride {stride}: {scores}", flush=True)
    every = rows[0]
    close = [r for r in rows if r["pixel_auroc"] >= every["pixel_auroc"] - PIXEL_SLACK
             and r["pro"] >= every["pro"] - PRO_SLACK]
    return max(r["stride"] for r in close), rows


def test(args: argparse.Namespace, setting: dict, chosen: int, work: Path) -> dict:
    """A detector for each TESTED stride and the chosen one: test maps and cost."""
    fit, test_crops = train400_crops(args.data, args.seed)
    results, scorers, speed = {}, {}, {}
    for stride in sorted({*TESTED, chosen}):
        name = f"stride {stride}"
        out = work / name.replace(" ", "-")
        det = Detector(epochs=args.epochs, batch_size=64, seed=args.seed,
                       score=patch_config({**setting, "stride": stride}),
                       **ARCHITECTURES[BASELINE]).fit(fit, out=out, overwrite=True)
        scorers[name] = det.scorer
        results[name] = test_scores(det.scorer.score_batch, test_crops, args.seed)
        print(f"test {name}: {results[name]}", flush=True)
        speed[name] = frame_ms(out, work)
    return {"test": results, "map_ms": map_ms(scorers, args.seed),
            "ms_per_256x256_frame": speed}


def main() -> None:
    """Choose the stride on validation for the product's patch search, then test and time it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    results = Path(__file__).parent / "results"
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--localise", type=Path, default=results / "localise.json",
                        help="the patch setting localise.py chose")
    parser.add_argument("--dims", type=Path, default=results / "patch-dims.json",
                        help="the search patch_dims.py chose")
    parser.add_argument("--epochs", type=int, default=20, help="the detector's training epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/patch-stride.json"))
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/patch_stride.py", *sys.argv[1:]]))
    setting = {**json.loads(args.localise.read_text())["train400"]["chosen"],
               **json.loads(args.dims.read_text())["chosen"]}
    fit, _ = train400_crops(args.data, args.seed)
    chosen, validation = choose(fit, setting, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tested = test(args, setting, chosen, Path(tmp))
    write_result({"provenance": finished(run), "setting": setting, "strides": STRIDES,
                  "slack": {"pixel_auroc": PIXEL_SLACK, "pro": PRO_SLACK},
                  "validation": validation, "chosen": chosen, **tested}, args.out)


if __name__ == "__main__":
    main()
