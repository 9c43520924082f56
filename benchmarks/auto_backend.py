"""`--backend auto` against every fixed choice, side by side in one run.

For each shipped model and precision: `auto` picks (with an empty cache, so it measures), then
every (file, backend) candidate, auto's pick included, is timed again with more runs at the
same frame size and threads. The target (issue 20): auto's pick within 5% of the best fixed
choice's median. Also records how long the first, measuring start took and the cached one.

    .venv/bin/python benchmarks/auto_backend.py --threads 2 \
        --out benchmarks/results/auto_backend.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import finished, provenance, write_result

from edgeae.runtime.artifact import read_artifact_manifest
from edgeae.runtime.auto import candidates, choose, model_input, run_times_ms
from edgeae.runtime.pretrained import PRETRAINED_DIR

FRAME = (480, 640)


def timed(path: Path, backend: str, batch: np.ndarray, threads: int, runs: int) -> dict:
    """p50 and p99 ms of `runs` runs after two warm-ups."""
    times = run_times_ms(path, backend, batch, threads, runs, warmup=2)
    return {"p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(float(np.percentile(times, 99)), 2)}


def compare(path: Path, threads: int, runs: int) -> dict:
    """Auto's pick and every candidate, timed in one run."""
    with tempfile.TemporaryDirectory() as cache:
        began = time.perf_counter()
        choice = choose(path, FRAME, threads, Path(cache))
        first_s = time.perf_counter() - began
        began = time.perf_counter()
        choose(path, FRAME, threads, Path(cache))
        cached_s = time.perf_counter() - began
    manifest = read_artifact_manifest(path)
    batch = model_input(manifest, FRAME)
    fixed = {f"{b.name} on {f.name}": timed(f, b.name, batch, threads, runs)
             for f, b, _ in candidates(path, manifest)}
    picked = f"{choice.backend} on {Path(choice.path).name}"
    best = min(fixed, key=lambda k: fixed[k]["p50_ms"])
    return {"artifact": path.name, "picked": picked, "best_fixed": best,
            "picked_vs_best": round(fixed[picked]["p50_ms"] / fixed[best]["p50_ms"], 3),
            "first_start_s": round(first_s, 2), "cached_start_s": round(cached_s, 3),
            "fixed": fixed}


def main() -> None:
    """Compare for each shipped artifact; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/auto_backend.json"))
    args = parser.parse_args()
    rows = [compare(PRETRAINED_DIR / name, args.threads, args.runs)
            for name in ("live_int8.tflite", "live_fp32.tflite", "quality_fp32.tflite")]
    command = " ".join(["python benchmarks/auto_backend.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "frame": FRAME,
                  "threads": args.threads, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
