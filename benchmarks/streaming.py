r"""Training on folders larger than memory: peak memory and images/s as the folder grows.

Generates folders of 128x128 gray PNGs (soft discs on gradients, seeded) of --sizes images,
then for each: (1) decode only: one pass of the training input pipeline (tf.data, parallel
decoding) with no model; (2) `edgeae train autoencoder` for one epoch (conv model, batch 64) in
a fresh process that reports its own peak resident memory (getrusage) when done. Memory should
stay flat from 10k to 50k images: the pipeline streams from disk.

    python benchmarks/streaming.py --work /var/tmp/edgeae-streaming --sizes 10000 50000 \\
        --out benchmarks/results/streaming.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SIZE = 128


def make_folder(folder: Path, n: int) -> Path:
    """`n` seeded 128x128 PNGs (reused when the folder already holds them)."""
    if folder.is_dir() and len(list(folder.glob("*.png"))) == n:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    ramp = np.linspace(0, 60, SIZE)[None, :]
    for i in range(n):
        img = np.full((SIZE, SIZE), 40.0) + ramp
        for _ in range(3):
            c = tuple(int(v) for v in rng.integers(16, SIZE - 16, 2))
            cv2.circle(img, c, int(rng.integers(6, 30)), float(rng.integers(120, 255)), -1)
        cv2.imwrite(str(folder / f"{i:06d}.png"), cv2.GaussianBlur(img, (0, 0), 2).astype(np.uint8))
    return folder


def decode_pass(folder: Path, batch: int = 64) -> dict:
    """Seconds and images/s of one pass of the training input pipeline, without a model."""
    from edgeae.train.pipeline import PipelineConfig, image_batches
    from edgeae.train.sources import load_data

    source = load_data(str(folder)).train
    start = time.perf_counter()
    count = sum(int(x.shape[0]) for x in image_batches(
        source, np.arange(len(source)), PipelineConfig(batch_size=batch), training=True))
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 1), "images_per_second": round(count / seconds, 1)}


CHILD = ("import resource, sys; from edgeae.cli import main; code = main(sys.argv[1:]); "
         "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
         "sys.exit(code)")


def train_epoch(folder: Path, out: Path) -> dict:
    """One epoch of `edgeae train autoencoder` in a child process: time and peak memory."""
    run = subprocess.run([sys.executable, "-c", CHILD, "train", "autoencoder", "--data",
                          str(folder), "--epochs", "1", "--batch-size", "64", "--out", str(out)],
                         check=True, capture_output=True, text=True)
    peak = int(run.stderr.strip().splitlines()[-1].split()[1])
    training = json.loads((out / "manifest.json").read_text())["training"]
    n_train = json.loads((out / "manifest.json").read_text())["data"]["n_train"]
    return {"train_seconds": training["seconds"],
            "images_per_second": round(n_train / training["seconds"], 1),
            "peak_rss_mb": round(peak / 1024, 1)}


def main() -> None:
    """Parse arguments, measure each folder size, print and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="where the folders are made")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {"image": f"{SIZE}x{SIZE} gray PNG", "model": "conv autoencoder, batch 64",
              "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": platform.platform(), "cpus": os.cpu_count(), "folders": {}}
    for n in args.sizes:
        folder = make_folder(args.work / f"images-{n}", n)
        with tempfile.TemporaryDirectory(prefix="edgeae-stream-") as tmp:
            row = {"decode_only": decode_pass(folder), **train_epoch(folder, Path(tmp) / "m")}
        row["decode_share_of_epoch"] = round(row["decode_only"]["seconds"] /
                                             row["train_seconds"], 2)
        result["folders"][str(n)] = row
        print(n, row, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
