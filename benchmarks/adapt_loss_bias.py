"""Does `adapt`'s held-out loss rank a perfect denoiser first? It scores known outputs on it.

`adapt` keeps its tuning when the masked frame-to-frame loss on the held-out tail (each frame
against the next noisy frame, warped onto it by the flow) falls below the starting model's.
Noise is independent between frames, so that loss is the distance to the *warped clean* next
frame plus a constant, and the warp (bilinear, sub-pixel) blurs. This script builds the
held-out pairs exactly as `adapt` does (benchmarks/camera.py's clips and noise, the start
model's denoised frames as the flow's guides, the same centred crops) and scores outputs whose
quality is known: the clean frames themselves, the clean frames blurred (Gaussian sigma 0.5,
0.8, 1.2 px), and the start model's output. No training; a minute on 2 cores.

    .venv/bin/python benchmarks/adapt_loss_bias.py --data ../shared/data \
        --out benchmarks/results/adapt_loss_bias.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from camera import FRAMES, SMALL_UNETS, STILL, noisy_frames, start_onnx, still_clip
from provenance import provenance, write_result

from edgeae.runtime.backends import OnnxSession
from edgeae.train.adapt import split_frames, validation_crops
from edgeae.train.frame_pairs import FramePairs, as_gray_u8, frame_pairs
from edgeae.train.settings import AdaptSettings

BLURS = (0.5, 0.8, 1.2)  # Gaussian sigma in pixels
MULTIPLE = 4  # the shipped U-Nets' side multiple, as adapt crops


def held_out_loss(pairs: FramePairs, outputs: list[np.ndarray]) -> float:
    """The loss adapt keeps by, of float HW1 `outputs` (full frames) on the held-out crops."""
    _, h, w, _ = pairs.inputs.shape
    top, left = (outputs[0].shape[0] - h) // 2, (outputs[0].shape[1] - w) // 2
    crops = np.stack([x[top:top + h, left:left + w] for x in outputs])
    mask = pairs.masks.astype(np.float64)
    targets = pairs.targets.astype(np.float64) / 255
    return float(np.sum(mask * (crops - targets) ** 2) / np.sum(mask))


def measure(clean: np.ndarray, level: str, start: str) -> dict:
    """The held-out loss of the clean, blurred-clean and start-model outputs at one level."""
    noisy = noisy_frames(clean, level)
    tail = range(FRAMES)[split_frames(FRAMES, AdaptSettings().holdout)[1]]
    session = OnnxSession(start_onnx(start), None)
    denoised = [session.run(noisy[i][None].astype(np.float32) / 255)[0] for i in tail]
    pairs = validation_crops(frame_pairs([noisy[i] for i in tail],
                                         [as_gray_u8(d) for d in denoised]), MULTIPLE)
    truth = [clean[i].astype(np.float64) / 255 for i in tail[:-1]]
    losses = {"clean frames": held_out_loss(pairs, truth)}
    for sigma in BLURS:
        blurred = [cv2.GaussianBlur(x, (0, 0), sigma)[..., None] for x in truth]
        losses[f"clean blurred {sigma:g} px"] = held_out_loss(pairs, blurred)
    losses[start] = held_out_loss(pairs, [d.astype(np.float64) for d in denoised[:-1]])
    return {"level": level, "start": start, "loss": {k: round(v, 6) for k, v in losses.items()}}


def main() -> None:
    """Each level and start model; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--levels", default="dim,night,indoor", help="camera presets")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    still = cv2.imread(str(args.data / "set12" / STILL), cv2.IMREAD_GRAYSCALE)[..., None]
    clean = still_clip(still)
    rows = [measure(clean, level, start)
            for level in args.levels.split(",") for start in SMALL_UNETS]
    command = " ".join(["python benchmarks/adapt_loss_bias.py", *sys.argv[1:]])
    write_result({"provenance": provenance(command), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
