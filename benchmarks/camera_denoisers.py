"""The shipped denoisers on a camera's noise and on Gaussian noise, beside OpenCV's NLM.

Issue 18 asks the shipped denoisers to work on a real camera before any `edgeae adapt`, and to
keep their Gaussian figures. Set12 (gray, full size) goes through each setting, one seeded
stream per setting:

- the camera noise model (train/camera.py) at every light level, without and with JPEG 85
  (what a camera's frames are: rounded to 8 bits);
- the Gaussian protocol of benchmarks/denoise.py (sigma 15, 25, 50; unclipped).

Each shipped model named by --models runs through the runtime (onnxruntime, 2 threads, the
shipped ONNX file) in each shipped precision; OpenCV's non-local means runs at its best strength
h for each setting, chosen on 8 Train400 images (never on Set12) from a grid. Cells are mean PSNR
(dB) and SSIM (scikit-image, data range 255) over the 12 images.

    .venv/bin/python benchmarks/camera_denoisers.py --data ../shared/data \
        --out benchmarks/results/camera_denoisers.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from denoise import add_noise, nlm, read_gray, runtime_denoiser, scores
from provenance import provenance, write_result

from edgeae.runtime.pretrained import pretrained_path
from edgeae.train.camera import PRESETS, CameraNoise

JPEG = 85.0
SIGMAS = (15, 25, 50)
NLM_GRID = (2, 3, 5, 8, 11, 14, 18, 22, 27, 33, 40, 50, 60)
TUNING_IMAGES = 8  # Train400's last 8, for NLM's strength
PRECISIONS = ("fp32", "int8")
Noise = Callable[[list[np.ndarray], int], list[np.ndarray]]  # clean 0-255, seed -> noisy 0-255


def camera_noise(level: str, jpeg: float | None) -> Noise:
    """A camera at light `level` (and JPEG quality `jpeg`): 8-bit frames, as a camera gives."""
    peak, read = PRESETS[level]
    camera = CameraNoise((peak, peak), (read, read), (jpeg, jpeg) if jpeg else None)

    def noisy(images: list[np.ndarray], seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [np.rint(camera.one((img / 255.0)[..., None].astype(np.float32), rng)[..., 0]
                        * 255.0).astype(np.float64) for img in images]

    return noisy


def gaussian_noise(sigma: float) -> Noise:
    """benchmarks/denoise.py's protocol: clean + sigma * N(0, 1), unclipped."""
    return lambda images, seed: add_noise(images, sigma, seed)


def settings() -> dict[str, Noise]:
    """Setting label -> its noise: every light level without and with JPEG, then Gaussian."""
    found = {}
    for jpeg in (None, JPEG):
        for level in PRESETS:
            found[level + (f", JPEG {jpeg:g}" if jpeg else "")] = camera_noise(level, jpeg)
    found.update({f"gaussian {s}": gaussian_noise(s) for s in SIGMAS})
    return found


def best_nlm_h(train_images: list[np.ndarray], noise: Noise) -> float:
    """NLM's strength with the best mean PSNR on Train400 images through the same noise."""
    noisy = noise(train_images, 1)
    psnr = {h: scores(train_images, [nlm(h)(z) for z in noisy])["psnr_db"] for h in NLM_GRID}
    return max(psnr, key=psnr.get)


def measure(label: str, noise: Noise, clean: list[np.ndarray], train_images: list[np.ndarray],
            models: dict) -> dict:
    """One setting: noisy, NLM at its best h, and every model; PSNR and SSIM means."""
    noisy = noise(clean, 0)
    h = best_nlm_h(train_images, noise)
    row = {"noisy": scores(clean, noisy), "nlm": {"h": h, **scores(clean, [nlm(h)(z)
                                                                           for z in noisy])}}
    for name, denoise in models.items():
        row[name] = scores(clean, [denoise(z) for z in noisy])
    print(label, {k: round(v["psnr_db"], 2) for k, v in row.items()}, flush=True)
    return {k: {m: v for m, v in r.items() if m != "psnr_per_image"} for k, r in row.items()}


def main() -> None:
    """Measure every setting and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--models", default="live,live-camera,quality",
                        help="shipped models, comma-separated")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/camera_denoisers.json"))
    args = parser.parse_args()
    clean = read_gray(args.data / "set12")
    train_images = read_gray(args.data / "train400")[-TUNING_IMAGES:]
    models = {f"{name} {precision}": runtime_denoiser(
        pretrained_path(name, "onnxruntime", precision), "onnxruntime")
        for name in args.models.split(",") for precision in PRECISIONS}
    rows = {label: measure(label, noise, clean, train_images, models)
            for label, noise in settings().items()}
    command = "python benchmarks/camera_denoisers.py " + " ".join(sys.argv[1:])
    write_result({"provenance": provenance(command), "models": list(models), "settings": rows},
                 args.out)


if __name__ == "__main__":
    main()
