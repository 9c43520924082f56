"""Which dense optical flow aligns noisy camera footage best for `edgeae adapt`'s targets?

Issue 18 names OpenCV's DIS and Farneback; `adapt` uses DIS's medium preset
(train/frame_pairs.py). This measures the choice without any training: on clips of the 40
Train400 images `edgeae train` holds out (validation; Set12 is not used), made by the clip
generator and put through the camera noise model at each light level, the flow is computed
between consecutive frames denoised by `live` (as `adapt` computes it), pixels are kept by
the same forward-backward check, and the clean next frame, warped bicubically onto the clean
current one, is compared with it. That PSNR is how well the target lines up; it is reported on
each method's own mask, and on the pixels every method keeps, so that a stricter mask cannot
buy a better figure.

    python benchmarks/adapt_flow.py --data ../shared/data --out benchmarks/results/adapt_flow.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from camera import noisy_frames
from camera_denoisers import measured_images
from provenance import finished, provenance, write_result

from edgeae.core.progress import progress
from edgeae.runtime.backends import OnnxSession
from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.clips import clip_from_still
from edgeae.train.frame_pairs import FlowAligner, as_gray_u8, resample

FRAMES, SIZE, OBJECTS = 30, (96, 128), 1
LEVELS = ("indoor", "dim", "night")
Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]


def dis(preset: int, **settings: float) -> Flow:
    """OpenCV's DIS flow at `preset`, with setters (e.g. PatchSize=12) applied."""
    engine = cv2.DISOpticalFlow_create(preset)
    for name, value in settings.items():
        getattr(engine, "set" + name)(value)
    return lambda a, b: engine.calc(a, b, None)


def farneback(winsize: int, poly_n: int, sigma: float) -> Flow:
    """OpenCV's Farneback flow: 3 levels of a 0.5 pyramid, 3 iterations."""
    return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, winsize, 3, poly_n,
                                                     sigma, 0)


MEDIUM = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
METHODS: dict[str, Flow] = {
    "DIS medium (adapt's)": dis(MEDIUM),
    "DIS medium, 15 refinement iterations, alpha 40": dis(
        MEDIUM, VariationalRefinementIterations=15, VariationalRefinementAlpha=40.0),
    "DIS medium, 12x12 patches, stride 4": dis(MEDIUM, PatchSize=12, PatchStride=4),
    "Farneback, window 15, poly_n 5": farneback(15, 5, 1.2),
    "Farneback, window 21, poly_n 7": farneback(21, 7, 1.5),
    "Farneback, window 31, poly_n 7": farneback(31, 7, 1.5),
}


def clips(images: list[np.ndarray]) -> list[np.ndarray]:
    """One seeded clip (FRAMES, H, W, 1) per image (the next seed where the path does not fit)."""
    out = []
    for k, image in enumerate(images):
        for seed in range(20):
            try:
                rng = np.random.default_rng(1000 + 37 * k + seed)
                out.append(clip_from_still(image[..., None], FRAMES, SIZE, rng,
                                           objects=OBJECTS).frames)
                break
            except ValueError:
                continue
    return out


def pair_errors(guides: list[np.ndarray], clean: np.ndarray, t: int,
                aligner: FlowAligner) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per method: squared error of the warped clean target, its 0/1 mask, flow seconds."""
    out = {}
    for name, flow in METHODS.items():
        start = time.perf_counter()
        forward, backward = flow(guides[t], guides[t + 1]), flow(guides[t + 1], guides[t])
        seconds = time.perf_counter() - start
        map_x, map_y, mask = aligner.trusted(forward, backward)
        warped = resample(clean[t + 1], map_x, map_y, "cubic")[..., 0].astype(np.float64)
        out[name] = ((warped - clean[t][..., 0]) ** 2, mask.astype(np.float64), seconds)
    return out


def level_row(level: str, clean_clips: list[np.ndarray], model: OnnxSession) -> dict:
    """Every method's alignment at one light level, pooled over all clips' frame pairs."""
    sums = {name: np.zeros(6) for name in METHODS}  # own sq, own kept, common sq, kept, px, s
    aligner = FlowAligner("cubic")
    for index, clean in enumerate(progress(clean_clips, desc=level)):
        noisy = noisy_frames(clean, level, seed=index)
        guides = [as_gray_u8(model.run(f[None].astype(np.float32) / 255)[0]) for f in noisy]
        for t in range(FRAMES - 1):
            per = pair_errors(guides, clean, t, aligner)
            common = np.prod([mask for _, mask, _ in per.values()], axis=0)
            for name, (error, mask, seconds) in per.items():
                sums[name] += [(error * mask).sum(), mask.sum(), (error * common).sum(),
                               common.sum(), mask.size, seconds]
    pairs = len(clean_clips) * (FRAMES - 1)
    return {name: {"psnr_own_mask_db": psnr(s[0], s[1]), "kept": s[1] / s[4],
                   "psnr_common_mask_db": psnr(s[2], s[3]), "common_kept": s[3] / s[4],
                   "ms_per_pair": 1e3 * s[5] / pairs} for name, s in sums.items()}


def psnr(squared: float, count: float) -> float:
    """PSNR (dB, 8-bit peak) of a pooled squared error over `count` pixels."""
    return float(10 * np.log10(255.0 ** 2 * count / squared))


def main() -> None:
    """Measure every method at every light level and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/adapt_flow.json"))
    args = parser.parse_args()
    run = provenance("python benchmarks/adapt_flow.py " + " ".join(sys.argv[1:]))
    images, _ = measured_images(args.data, "validation")
    clean_clips = clips(images)
    model = OnnxSession(PRETRAINED_DIR / "live_fp32.onnx", 2)
    rows = {level: level_row(level, clean_clips, model) for level in LEVELS}
    write_result({"provenance": finished(run), "clips": len(clean_clips), "frames": FRAMES,
                  "size": list(SIZE), "levels": rows}, args.out)


if __name__ == "__main__":
    main()
