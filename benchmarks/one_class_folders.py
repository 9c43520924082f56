"""Write the one-class protocol of ../shared/data/README.md as folders `edgeae` commands read.

train/          x_train of the normal class only (what a detector learns)
test/good/      x_test of the normal class
test/anomaly/   x_test of every other class

python benchmarks/one_class_folders.py --data ../shared/data/fashion_mnist.npz --normal 0 \
        --out benchmarks/results/edge/fashion0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def write_pngs(folder: Path, images: np.ndarray) -> None:
    """One PNG per image, numbered."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        cv2.imwrite(str(folder / f"{i:05d}.png"), img)


def main() -> None:
    """Parse arguments and write the three folders (skipped when they exist)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="an npz with x/y train/test")
    parser.add_argument("--normal", type=int, required=True, help="the normal class")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if (args.out / "test" / "anomaly").is_dir():
        print(f"{args.out} exists; reusing it")
        return
    d = np.load(args.data)
    write_pngs(args.out / "train", d["x_train"][d["y_train"] == args.normal])
    write_pngs(args.out / "test" / "good", d["x_test"][d["y_test"] == args.normal])
    write_pngs(args.out / "test" / "anomaly", d["x_test"][d["y_test"] != args.normal])
    print(f"wrote {args.out}/train, test/good, test/anomaly")


if __name__ == "__main__":
    main()
