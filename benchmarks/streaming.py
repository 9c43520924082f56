r"""Training on folders larger than memory: peak memory and images/s as the folder grows.

Generates folders of 128x128 gray PNGs (soft discs on gradients, seeded) of --sizes images,
then for each: (1) decode only: one pass of the training input pipeline (tf.data, parallel
decoding) with no model; (2) `edgeae train autoencoder` for one epoch (conv model, batch 64) in
a fresh process that reports its own peak resident memory (getrusage) when done. Memory should
stay flat from 10k to 50k images: the pipeline streams from disk. With --cache, the disk cache
(`edgeae train --cache DIR`): passes over the smallest folder and over --photos 640x480 JPEGs
(read at 128x128, where decoding costs more) without a cache, while writing it, and from it.

    python benchmarks/streaming.py --work /var/tmp/edgeae-streaming --sizes 10000 50000 \\
        --cache --out benchmarks/results/streaming.json
"""

from __future__ import annotations

import argparse
import json
import os
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


def make_photos(folder: Path, n: int) -> Path:
    """`n` seeded 640x480 JPEGs (quality 90), the 128x128 images scaled up with noise."""
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == n:
        return folder
    small = make_folder(folder.parent / f"images-{n}", n)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for path in sorted(small.glob("*.png")):
        big = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (640, 480))
        big = np.clip(big + rng.normal(0, 8, big.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{path.stem}.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


def decode_pass(folder: Path, batch: int = 64, ds=None) -> dict:
    """Seconds and images/s of one pass of the training input pipeline, without a model."""
    if ds is None:
        ds = pipeline(folder, batch)
    start = time.perf_counter()
    count = sum(int(x.shape[0]) for x in ds)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "images_per_second": round(count / seconds, 1)}


def pipeline(folder: Path, batch: int = 64, cache: Path | None = None):
    """The training input pipeline over a folder (read at SIZE x SIZE), optionally cached."""
    from edgeae.core.data import Preprocess, load_data
    from edgeae.train.pipeline import PipelineConfig, image_batches

    source = load_data(str(folder), Preprocess(size=(SIZE, SIZE))).train
    return image_batches(source, np.arange(len(source)),
                         PipelineConfig(batch_size=batch, cache=cache), training=True)


def cache_passes(folder: Path) -> dict:
    """Passes without the disk cache, while writing it, and reading it; the cache's size."""
    with tempfile.TemporaryDirectory(prefix="edgeae-cache-") as tmp:
        ds = pipeline(folder, cache=Path(tmp))
        row = {"no_cache": decode_pass(folder), "first_pass_writing_cache": decode_pass(
            folder, ds=ds), "cached_pass": decode_pass(folder, ds=ds)}
        row["cache_mb"] = round(sum(f.stat().st_size for f in Path(tmp).rglob("*")) / 2**20)
    row["disk_mb"] = round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20)
    row["speed-up"] = round(row["no_cache"]["seconds"] / row["cached_pass"]["seconds"], 2)
    return row


CHILD = ("import resource, sys; from edgeae.app.cli import main; code = main(sys.argv[1:]); "
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
    from provenance import (  # benchmarks/provenance.py, beside this script
        finished,
        provenance,
        write_result,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="where the folders are made")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--cache", action="store_true", help="also measure the disk cache")
    parser.add_argument("--photos", type=int, default=2000, help="JPEGs for the cache test")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/streaming.json"))
    args = parser.parse_args()
    run = provenance()
    result = {"image": f"{SIZE}x{SIZE} gray PNG", "model": "conv autoencoder, batch 64",
              "folders": {}}
    for n in args.sizes:
        folder = make_folder(args.work / f"images-{n}", n)
        with tempfile.TemporaryDirectory(prefix="edgeae-stream-") as tmp:
            row = {"decode_only": decode_pass(folder), **train_epoch(folder, Path(tmp) / "m")}
        row["decode_share_of_epoch"] = round(row["decode_only"]["seconds"] /
                                             row["train_seconds"], 2)
        result["folders"][str(n)] = row
        print(n, row, flush=True)
    if args.cache:
        smallest = args.work / f"images-{min(args.sizes)}"
        photos = make_photos(args.work / f"photos-{args.photos}", args.photos)
        result["disk_cache"] = {f"{min(args.sizes)} PNGs 128x128": cache_passes(smallest),
                                f"{args.photos} JPEGs 640x480": cache_passes(photos)}
        print(json.dumps(result["disk_cache"]), flush=True)
    write_result({**result, "provenance": finished(run)}, args.out)


if __name__ == "__main__":
    main()
