"""onnxruntime's int8 kernels on an x86 CPU without VNNI: fast (saturating) or exact.

Without VNNI, onnxruntime's x86 int8 convolutions multiply uint8 activations by int8 weights
and add pairs of products in 16 bits (U8S8), which saturates on large values; its session option
`session.x64quantprecision` makes them multiply uint8 by uint8 instead (U8U8), exactly and more
slowly. The runtime turns it on where the CPU would saturate (runtime/backends.py
`int8_sums_saturate`). This measures, for each shipped denoiser with an int8 ONNX file, side by
side in one run through the runtime (`edgeae.runtime.load`, 2 threads):

- quality: mean PSNR on Set12 (gray, full size) at Gaussian sigma 25 (seeded, 8-bit input);
- speed: ms per 640x480 gray frame (`denoise`, pre- and post-processing included), median and
  p99 of `--repeats` calls after a warm-up call (`denoise.py`'s `timed`);

for onnxruntime fp32, its int8 file with the fast and with the exact kernels (the runtime's
choice overridden to measure the other), OpenVINO running the same int8 file, and the int8
TFLite file through LiteRT. On a CPU with VNNI both kernels are the same and so are their rows.
`live-video` is left out: it is recurrent, and a still's PSNR is `live`'s (BENCHMARKS.md, video).

    .venv/bin/python benchmarks/int8_kernels.py --data ../shared/data \
        --out benchmarks/results/int8_kernels.json       # about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
from denoise import timed
from provenance import finished, provenance, write_result
from skimage.metrics import peak_signal_noise_ratio

import edgeae.runtime as rt
from edgeae.runtime import backends
from edgeae.runtime.pretrained import pretrained_path

MODELS = ("live", "live-camera", "quality")
SIGMA = 25
# (row label, backend, precision, exact int8 kernels: None keeps the runtime's choice)
VARIANTS = (("onnxruntime fp32", "onnxruntime", "fp32", None),
            ("onnxruntime int8, fast kernels (U8S8)", "onnxruntime", "int8", False),
            ("onnxruntime int8, exact kernels (U8U8)", "onnxruntime", "int8", True),
            ("OpenVINO int8 (the same ONNX file)", "openvino", "int8", None),
            ("LiteRT int8 (TFLite file)", "litert", "int8", None))


def noisy_set12(data: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean, noisy) uint8 pairs of Set12 at sigma 25, one seeded stream."""
    rng = np.random.default_rng(SIGMA)
    pairs = []
    for path in sorted((data / "set12").glob("*.png")):
        clean = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        noisy = np.clip(np.rint(clean + rng.normal(0, SIGMA, clean.shape)), 0, 255)
        pairs.append((clean, noisy.astype(np.uint8)))
    return pairs


def load(model: str, backend: str, precision: str, exact: bool | None, threads: int):
    """The runtime's denoiser, with onnxruntime's int8 kernels forced where `exact` says."""
    path = pretrained_path(model, backend, precision)
    if exact is None:
        return rt.load(path, backend=backend, num_threads=threads), path
    with mock.patch.object(backends, "int8_sums_saturate", lambda: exact):
        return rt.load(path, backend=backend, num_threads=threads), path


def measure(model: str, variant: tuple, pairs: list, frame: np.ndarray, args) -> dict:
    """One row: PSNR on Set12 and ms per 640x480 frame."""
    label, backend, precision, exact = variant
    denoiser, path = load(model, backend, precision, exact, args.threads)
    psnr = np.mean([peak_signal_noise_ratio(clean, denoiser.denoise(noisy), data_range=255)
                    for clean, noisy in pairs])
    return {"model": model, "variant": label, "artifact": path.name,
            "psnr_db": round(float(psnr), 4), "ms": timed(denoiser.denoise, frame, args.repeats)}


def main() -> None:
    """Measure every (model, variant) row in this process and write the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per row")
    parser.add_argument("--out", type=Path, help="benchmarks/results/int8_kernels.json")
    args = parser.parse_args()
    run = provenance()
    pairs = noisy_set12(args.data)
    frame = cv2.resize(pairs[7][1], (640, 480), interpolation=cv2.INTER_NEAREST)
    rows = []
    for model in MODELS:
        for variant in VARIANTS:
            rows.append(measure(model, variant, pairs, frame, args))
            print(rows[-1], flush=True)
    write_result({"provenance": finished(run), "sigma": SIGMA, "threads": args.threads,
                  "repeats": args.repeats, "int8_sums_saturate": backends.int8_sums_saturate(),
                  "rows": rows}, args.out)


if __name__ == "__main__":
    main()
