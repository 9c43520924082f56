"""Photos whose sides are not a multiple of the model's: padding by reflection vs by repetition.

The shipped denoisers' U-Nets need sides that are multiples of 8 (`live`) or 4 (`quality`); the
runtime pads a frame up to that and crops the result back. Until 2026-11-30 it repeated the last
row and column ("edge"); it now mirrors the image ("reflect", `runtime.tiles`). For each photo
this measures, at sigma 25 (seeded Gaussian noise, rounded and clipped to uint8 as a camera
delivers it), the PSNR of:

- `reflect`: the odd-size photo through the runtime as it is today;
- `edge`: the same photo padded by repetition first (np.pad "edge"), as the runtime did before;
- `cropped`: the photo cropped to a multiple of 16 (no padding at all), the issue's yardstick.

Photos: the 20 Train400 images the shipped denoisers held out for validation (180x180, the
permutation of train/pretrain.py's seed 0), at their own size and cropped to 179x163; and Set12
(a test set: measured, never chosen on) cropped to 481x321 (BSD68's size) and 251x173.

    .venv/bin/python benchmarks/odd_sizes.py --data ../shared/data \
        --out benchmarks/results/odd_sizes.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result
from skimage.metrics import peak_signal_noise_ratio

import edgeae.runtime as rt
from edgeae.runtime.pretrained import pretrained_path

SIGMA, SEED, VAL_IMAGES = 25, 0, 20
NAMES, PRECISIONS, BACKENDS = ("live", "quality"), ("fp32", "int8"), ("litert", "onnxruntime")


def read_sets(data: Path) -> dict[str, list[np.ndarray]]:
    """Photo sets by name: uint8 gray images at the sizes this benchmark measures."""
    train400 = sorted((data / "train400").glob("*.png"))
    held_out = np.random.default_rng(SEED).permutation(len(train400))[:VAL_IMAGES]
    val = [cv2.imread(str(train400[i]), cv2.IMREAD_GRAYSCALE) for i in held_out]
    set12 = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(data.glob("set12/*.png"))]
    return {"train400-val 180x180": val,
            "train400-val 179x163": [im[:179, :163] for im in val],
            "set12 481x321": [im[:481, :321] for im in set12 if min(im.shape) >= 481],
            "set12 251x173": [im[:251, :173] for im in set12 if max(im.shape) < 481]}


def noisy_copy(clean: np.ndarray, seed: int) -> np.ndarray:
    """The photo plus sigma * N(0, 1), rounded and clipped to uint8."""
    noise = np.random.default_rng(seed).normal(0, SIGMA, clean.shape)
    return np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


def edge_padded(model: rt.Denoiser, noisy: np.ndarray) -> np.ndarray:
    """The runtime as it was: the frame padded by repeating its last row and column."""
    m = model.input_spec.size_multiple
    h, w = noisy.shape
    padded = np.pad(noisy, ((0, -h % m), (0, -w % m)), mode="edge")
    return model.denoise(padded)[:h, :w]


def psnr(clean: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB of uint8 images."""
    return float(peak_signal_noise_ratio(clean, image, data_range=255))


def measure(model: rt.Denoiser, images: list[np.ndarray]) -> dict:
    """Mean PSNR of each padding over `images`, and of their crops to a multiple of 16."""
    found: dict[str, list[float]] = {"noisy": [], "edge": [], "reflect": [], "cropped": []}
    for i, clean in enumerate(images):
        noisy = noisy_copy(clean, SEED + i)
        h, w = clean.shape[0] // 16 * 16, clean.shape[1] // 16 * 16
        found["noisy"].append(psnr(clean, noisy))
        found["edge"].append(psnr(clean, edge_padded(model, noisy)))
        found["reflect"].append(psnr(clean, model.denoise(noisy)))
        crop = np.ascontiguousarray(noisy[:h, :w])
        found["cropped"].append(psnr(clean[:h, :w], model.denoise(crop)))
    return {k: round(float(np.mean(v)), 3) for k, v in found.items()}


def main() -> None:
    """Every shipped artifact on every photo set; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/odd_sizes.json"))
    args = parser.parse_args()
    sets = read_sets(args.data)
    rows = []
    for name in NAMES:
        for precision in PRECISIONS:
            for backend in BACKENDS:
                model = rt.load(pretrained_path(name, backend, precision), backend=backend,
                                num_threads=args.threads)
                for set_name, images in sets.items():
                    rows.append({"model": name, "precision": precision, "backend": backend,
                                 "photos": set_name, "count": len(images),
                                 **measure(model, images)})
                    print(rows[-1], file=sys.stderr)
    command = " ".join(["python benchmarks/odd_sizes.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "sigma": SIGMA, "rows": rows},
                 args.out)


if __name__ == "__main__":
    main()
