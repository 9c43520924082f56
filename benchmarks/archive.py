r"""Images per second of `edgeae denoise` over an archive, for 1, 2, ... worker processes.

Writes --images noisy 8-bit gray PNGs (random 256x256 crops of Set12 with Gaussian noise,
sigma 25) into a temporary folder, then times the whole command (process start, model loads,
decode, denoise, encode, atomic writes) once per worker count, each into a fresh output folder.
With N workers each gets cores / N inference threads.

    python benchmarks/archive.py --set12 ../shared/data/set12 --images 400 --workers 1 2 \
        --out benchmarks/results/archive.json
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

import cv2
import numpy as np


def write_archive(set12: Path, folder: Path, n: int, size: int = 256) -> None:
    """`n` noisy crops of Set12, seeded."""
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(set12.glob("*.png"))]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        img = images[i % len(images)]
        y, x = (rng.integers(0, s - size + 1) for s in img.shape)
        crop = img[y:y + size, x:x + size].astype(np.float64)
        noisy = np.clip(np.rint(crop + 25 * rng.standard_normal(crop.shape)), 0, 255)
        cv2.imwrite(str(folder / f"{i:05d}.png"), noisy.astype(np.uint8))


def main() -> None:
    """Parse arguments, time each worker count, print and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set12", type=Path, required=True)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {"images": args.images, "size": "256x256 gray PNG", "model": "pretrained live "
              f"{args.precision}", "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": platform.platform(), "cpus": os.cpu_count(), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="edgeae-archive-") as tmp:
        archive = Path(tmp) / "archive"
        write_archive(args.set12, archive, args.images)
        for workers in args.workers:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "edgeae", "denoise", str(archive),
                            "--pretrained", "live", "--precision", args.precision,
                            "--workers", str(workers), "--out", str(Path(tmp) / f"out{workers}")],
                           check=True, capture_output=True)
            seconds = time.perf_counter() - start
            result["runs"][str(workers)] = {"seconds": round(seconds, 2),
                                            "images_per_second": round(args.images / seconds, 1)}
            print(workers, result["runs"][str(workers)], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
