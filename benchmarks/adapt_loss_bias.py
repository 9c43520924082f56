"""Does `adapt`'s held-out loss rank a perfect denoiser first? It scores known outputs on it.

`adapt` keeps its tuning when the masked frame-to-frame loss on the held-out tail (each frame
against the next noisy frame, warped onto it by the flow) falls below the starting model's.
Noise is independent between frames, so that loss is the distance to the *warped clean* next
frame plus a constant, and the warp (bilinear, sub-pixel) blurs. This script builds the
held-out pairs exactly as `adapt` does (benchmarks/camera.py's clips and noise, the start
model's denoised frames as the flow's guides, the same centred crops) and scores outputs whose
quality is known: the clean frames themselves and the start model's output, each as they are
and blurred (Gaussian sigma 0.5, 0.8, 1.2 px), and the rendered frames (the clean frames through
the camera model with its noise turned off: what the camera's frames average to). A probe
repeats it on the pixels whose flow is a whole-pixel shift, the next frame sampled at the
nearest pixel (no interpolation at all), to see whether the warp's interpolation is what
favours blur; a second turns the warp round: each output is resampled onto the next frame's
pixels and compared with that frame as the camera gave it, so no noisy frame is resampled. No
training; a minute on 2 cores.

    .venv/bin/python benchmarks/adapt_loss_bias.py --data ../shared/data \
        --out benchmarks/results/adapt_loss_bias.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from camera import (
    FRAMES,
    SMALL_UNETS,
    STILL,
    noisy_frames,
    rendered_frames,
    size_multiple,
    still_clip,
)
from provenance import finished, provenance, write_result

from edgeae.runtime.backends import OnnxSession
from edgeae.runtime.pretrained import rebuild_source
from edgeae.train.adapt import split_frames, validation_crops
from edgeae.train.frame_pairs import FlowAligner, FramePairs, as_gray_u8, frame_pairs, resample
from edgeae.train.settings import AdaptSettings

BLURS = (0.5, 0.8, 1.2)  # Gaussian sigma in pixels
EXACT = 0.1  # px: the probe keeps pixels whose flow is this close to a whole-pixel shift


def masked_loss(targets: np.ndarray, masks: np.ndarray, outputs: list[np.ndarray]) -> float:
    """Masked MSE of float HW1 `outputs` against uint8 `targets`, each cropped to their centre."""
    _, h, w, _ = targets.shape
    top, left = (outputs[0].shape[0] - h) // 2, (outputs[0].shape[1] - w) // 2
    crops = np.stack([x[top:top + h, left:left + w] for x in outputs])
    mask = masks.astype(np.float64)
    return float(np.sum(mask * (crops - targets.astype(np.float64) / 255) ** 2) / np.sum(mask))


def exact_pixel_pairs(noisy: list[np.ndarray], guides: list[np.ndarray]) -> FramePairs:
    """The held-out pairs where the flow is a whole-pixel shift: targets with no interpolation.

    adapt's pairs (its flow, its consistency mask), kept only where the flow is within EXACT
    of a whole-pixel shift, with the next frame sampled at the nearest pixel. Full frames.
    """
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # the aligner's preset
    h, w = guides[0].shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    pairs = frame_pairs(noisy, guides, AdaptSettings().warp)
    for t in range(len(pairs)):
        flow = dis.calc(guides[t], guides[t + 1], None)
        map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
        whole = (np.abs(map_x - np.round(map_x)) <= EXACT) & (np.abs(map_y - np.round(map_y))
                                                              <= EXACT)
        pairs.masks[t, ..., 0] &= whole
        pairs.targets[t] = cv2.remap(noisy[t + 1], map_x, map_y, cv2.INTER_NEAREST,
                                     borderMode=cv2.BORDER_REPLICATE).reshape(noisy[t].shape)
    return pairs


class OutputWarped:
    """Pairs scored the other way round: each output resampled onto the next frame's pixels.

    The next noisy frame is the target as the camera gave it (no resampling, so none of its
    noise is averaged away and nothing blurs it); the flow from the next frame back, with
    adapt's consistency mask on the next frame's pixels, says where to sample the output.
    """

    def __init__(self, noisy: list[np.ndarray], guides: list[np.ndarray]) -> None:
        aligner = FlowAligner(AdaptSettings().warp)
        self.targets = np.stack(noisy[1:])
        self.maps, masks = [], []
        for t in range(len(noisy) - 1):
            forward, backward = aligner.flows(guides[t], guides[t + 1])
            map_x, map_y, mask = aligner.trusted(backward, forward)
            self.maps.append((map_x, map_y))
            masks.append(mask[..., None])
        self.masks = np.stack(masks)

    def aligned(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        """Each output (float HW1) resampled onto the next frame's pixels."""
        return [resample(out.astype(np.float32), *maps, AdaptSettings().warp)
                for out, maps in zip(outputs, self.maps, strict=True)]


def scored(pairs: FramePairs | OutputWarped, outputs_of: dict[str, list[np.ndarray]]) -> dict:
    """The loss on `pairs` of each named output, sharp and blurred (rendered frames: sharp)."""
    align = pairs.aligned if isinstance(pairs, OutputWarped) else (lambda outs: outs)
    losses = {}
    for name, outputs in outputs_of.items():
        losses[name] = masked_loss(pairs.targets, pairs.masks, align(outputs))
        for sigma in BLURS if name != "rendered" else ():
            blurred = [cv2.GaussianBlur(x[..., 0], (0, 0), sigma)[..., None] for x in outputs]
            losses[f"{name} blurred {sigma:g} px"] = masked_loss(pairs.targets, pairs.masks,
                                                                 align(blurred))
    return {k: round(v, 6) for k, v in losses.items()}


def measure(clean: np.ndarray, level: str, start: str) -> list[dict]:
    """Both pairings at one level: adapt's held-out crops and the exact-pixel probe."""
    noisy = noisy_frames(clean, level)
    tail = range(FRAMES)[split_frames(FRAMES, AdaptSettings().holdout)[1]]
    session = OnnxSession(rebuild_source(start), None)
    denoised = [session.run(noisy[i][None].astype(np.float32) / 255)[0].astype(np.float64)
                for i in tail]
    frames, guides = [noisy[i] for i in tail], [as_gray_u8(d) for d in denoised]
    rendered = rendered_frames(clean)
    outputs_of = {"clean": [clean[i].astype(np.float64) / 255 for i in tail[:-1]],
                  "start model": denoised[:-1],
                  "rendered": [rendered[i].astype(np.float64) / 255 for i in tail[:-1]]}
    held_out = frame_pairs(frames, guides, AdaptSettings().warp)
    pairings = {"adapt's held-out crops": validation_crops(held_out, size_multiple(start)),
                f"whole-pixel flow (within {EXACT:g} px), nearest": exact_pixel_pairs(frames,
                                                                                     guides),
                "output warped onto the next frame": OutputWarped(frames, guides)}
    return [{"level": level, "start": start, "pairs": name, "pixels_kept": round(
        float(pairs.masks.mean()), 4), "loss": scored(pairs, outputs_of)}
            for name, pairs in pairings.items()]


def level_args(doc: str) -> argparse.Namespace:
    """The command line of this and adapt_keep_test.py."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--levels", default="dim,night,indoor", help="camera presets")
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


def run_levels(measure: Callable[[np.ndarray, str, str], list[dict]], args: argparse.Namespace,
               script: str) -> None:
    """`measure` the clip at each level from each start model; write the rows."""
    still = cv2.imread(str(args.data / "set12" / STILL), cv2.IMREAD_GRAYSCALE)[..., None]
    clean = still_clip(still)
    rows = [row for level in args.levels.split(",") for start in SMALL_UNETS
            for row in measure(clean, level, start)]
    command = " ".join([f"python benchmarks/{script}", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "rows": rows}, args.out)


if __name__ == "__main__":
    run_levels(measure, level_args(__doc__), "adapt_loss_bias.py")
