r"""Images per second of `edgeae denoise` and `edgeae score` over an archive, per worker count.

Writes --images noisy 8-bit gray PNGs (random 256x256 crops of Set12 with Gaussian noise,
sigma 25) into a temporary folder, then times each whole command (process start, model loads,
decode, inference, encode, atomic writes) once per worker count, into fresh outputs. With N
workers each gets cores / N inference threads. `denoise` runs the pretrained live model;
`score` runs a conv detector trained for a few epochs on the first 200 images and exported at
the same precision, writing the CSV and a heat-map PNG per image.

    python benchmarks/archive.py --set12 ../shared/data/set12 --images 400 --workers 1 2 \
        --out benchmarks/results/archive.json
"""

from __future__ import annotations

import argparse
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


def edgeae(*args: str) -> float:
    """Run an edgeae command to completion; its wall-clock seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgeae", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def export_detector(archive: Path, work: Path, precision: str) -> Path:
    """A conv detector trained on 200 of the archive's images, exported at `precision`."""
    normal = work / "normal"
    normal.mkdir()
    for path in sorted(archive.iterdir())[:200]:
        (normal / path.name).symlink_to(path)
    edgeae("train", "detector", "--data", str(normal), "--model", "conv", "--epochs", "3",
           "--out", str(work / "det"))
    edgeae("export", str(work / "det"), "--precision", precision, "--allow-drift", "--out",
           str(work / "det-export"))
    return work / "det-export" / f"model_{precision}.tflite"


def main() -> None:
    """Parse arguments, time each task and worker count, print and write JSON."""
    from provenance import finished, provenance, write_result  # benchmarks/provenance.py

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set12", type=Path, required=True)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tasks", nargs="+", choices=("denoise", "score"),
                        default=["denoise", "score"])
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/archive.json"))
    args = parser.parse_args()
    stamp = provenance()
    result = {"images": args.images, "size": "256x256 gray PNG", "precision": args.precision,
              "runs": {}}
    with tempfile.TemporaryDirectory(prefix="edgeae-archive-") as tmp:
        work = Path(tmp)
        archive = work / "archive"
        write_archive(args.set12, archive, args.images)
        commands = {
            "denoise": lambda n: ("denoise", str(archive), "--pretrained", "live",
                                  "--precision", args.precision, "--out", str(work / f"clean{n}")),
        }
        if "score" in args.tasks:
            detector = export_detector(archive, work, args.precision)
            commands["score"] = lambda n: ("score", "--model", str(detector), "--data",
                                           str(archive), "--out", str(work / f"scores{n}.csv"),
                                           "--maps", str(work / f"maps{n}"))
        for task in args.tasks:
            for workers in args.workers:
                seconds = edgeae(*commands[task](workers), "--workers", str(workers))
                run = {"seconds": round(seconds, 2),
                       "images_per_second": round(args.images / seconds, 1)}
                result["runs"][f"{task} x{workers}"] = run
                print(task, workers, run, flush=True)
    write_result({**result, "provenance": finished(stamp)}, args.out)


if __name__ == "__main__":
    main()
