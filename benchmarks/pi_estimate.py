"""Raspberry Pi 4 and 5 frames/s, estimated (no board here): MACs per frame over published rates.

The multiply-accumulates per frame come from the model (`edgeae benchmark`'s count: the padded
frame for fully convolutional models); the rates from published fp32 XNNPACK figures:

- Pi 4 (BCM2711, 4x Cortex-A72): google/XNNPACK's README, "Raspberry Pi" table (2020-02-12,
  `end2end_bench`, 4 threads, fp32): MobileNet v1 1.0 (569 M MACs at 224x224) in 75 ms, i.e.
  7.6 GMAC/s (MobileNet v2, 300 M in 44 ms, gives 6.8; v1's dense 1x1 convolutions are closer
  to the U-Nets' 3x3 ones).
- Pi 5 (BCM2712, 4x Cortex-A76): Raspberry Pi's launch post ("Introducing: Raspberry Pi 5",
  2023-09-28) gives "a 2-3x increase in CPU performance relative to Raspberry Pi 4": 2-3 x 7.6.
- ncnn, a faster engine: Tencent/ncnn's benchmark README (4 threads, fp32) runs ResNet-18 (1.82
  G MACs at 224x224) in 123 ms on a Pi 4 and 20.0 ms on a Pi 5: 14.8 and 91 GMAC/s. These
  are the better figures for an engine tuned for ARM; XNNPACK's are the LiteRT ones.

Network arithmetic only: capture, pre/post-processing and memory stalls are not counted, so a
board will be slower. int8 is not estimated (no published XNNPACK int8 rate for these boards).

    .venv/bin/python benchmarks/pi_estimate.py --out benchmarks/results/pi_estimate.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from provenance import finished, provenance, write_result  # noqa: E402

PI4_GMACS = 569e-3 / 75e-3  # MobileNet v1 1.0: 569 M MACs in 75 ms on 4 A72 cores
PI5_SPEEDUP = (2.0, 3.0)
RESNET18_GMACS = 1.82  # per 224x224 image
NCNN_MS = {"pi4": 123.0, "pi5": 20.0}  # ResNet-18, 4 threads, fp32 (Tencent/ncnn benchmark)
ROWS = [  # label, shipped name or unet size, frame (height, width)
    ("pretrained `live` (unet small)", "live", (480, 640)),
    ("pretrained `live`", "live", (240, 320)),
    ("pretrained `quality` (unet medium)", "quality", (480, 640)),
    ("unet `tiny`", "tiny", (240, 320)),
]


def macs_for(name: str, frame: tuple[int, int]) -> tuple[float, float]:
    """(MACs per pixel, MACs per padded frame) of a shipped model, or of a U-Net size."""
    from edgeae.app.benchmark import macs_per_frame, model_macs_per_pixel
    from edgeae.core.architectures import config_for
    from edgeae.runtime.artifact import read_manifest
    from edgeae.runtime.pretrained import pretrained_path

    if name in ("live", "quality"):
        manifest = read_manifest(pretrained_path(name))
    else:  # an unshipped size: the live manifest with another size
        live = read_manifest(pretrained_path("live"))
        manifest = live.model_copy(update={"params": config_for("unet", {"size": name})})
    per_pixel = model_macs_per_pixel(manifest)
    return per_pixel, macs_per_frame(manifest, per_pixel, frame)


def main() -> None:
    """Estimate every row; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pi_estimate.json"))
    args = parser.parse_args()
    rows = []
    for label, name, (h, w) in ROWS:
        per_pixel, per_frame = macs_for(name, (h, w))
        rows.append({"model": label, "frame": f"{w}x{h}", "macs_per_pixel": round(per_pixel),
                     "gmacs_per_frame": per_frame / 1e9,
                     "pi4_fps": PI4_GMACS * 1e9 / per_frame,
                     "pi5_fps": [s * PI4_GMACS * 1e9 / per_frame for s in PI5_SPEEDUP],
                     **{f"{board}_ncnn_fps": RESNET18_GMACS / (ms / 1e3) * 1e9 / per_frame
                        for board, ms in NCNN_MS.items()}})
    command = " ".join(["python benchmarks/pi_estimate.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "pi4_gmacs": PI4_GMACS,
                  "pi5_speedup": PI5_SPEEDUP,
                  "ncnn_gmacs": {b: RESNET18_GMACS / (ms / 1e3) for b, ms in NCNN_MS.items()},
                  "rows": rows}, args.out)


if __name__ == "__main__":
    main()
