"""Resampling the next frame bilinearly or bicubically: which makes `edgeae adapt` tune better?

Frame-to-frame training's target is the next frame warped onto the current one by the optical
flow (train/frame_pairs.py). Bilinear resampling averages each target pixel from up to four
neighbours, so the target is a blurred frame, and a network tuned toward it learns to blur
(the loss prefers a blurred clean frame to the clean frame: BENCHMARKS.md, "The bias,
measured"). Bicubic resampling (`AdaptSettings.warp`, train/frame_pairs.py WARPS) keeps more of
the frame's detail. For each light level, `adapt` runs once per warp from `live` on the same
noisy frames for a fixed number of epochs (adapt_loss_space.py's protocol), and the PSNR on the
held-out tail is measured against the pristine and the rendered frames. Beside it, how blurred
each warp's target is: the clean next frames, warped as adapt warps the noisy ones, are matched
best by the clean frames blurred by how much, and by how many dB better than unblurred.

Two clips, as adapt_loss_space.py: the validation clip (a held-out Train400 image) decides, the
test clip (camera.py's, Set12's 08.png) only reports. The rule, fixed before any run: cubic
becomes the default if on the validation clip its mean PSNR gain against the pristine frames
over the levels is higher than linear's and it is nowhere more than 0.1 dB lower.

    .venv/bin/python benchmarks/adapt_warp.py --data ../shared/data \
        --out benchmarks/results/adapt_warp.json       # about 15 minutes on 2 cores
"""

from __future__ import annotations

import cv2
import numpy as np
from adapt_loss_space import compare, start_guides

from edgeae.train.frame_pairs import WARPS, FlowAligner, resample

BLURS = (0.0, 0.3, 0.5, 0.7, 1.0)  # Gaussian sigmas (px) the clean frame is blurred by
START = "live"  # adapting `live-camera` lowers PSNR whatever the target (adapt_keep_test.py)


def target_blur(clean: np.ndarray, level: str) -> dict[str, dict]:
    """Per warp: the blur of the clean frame that best matches adapt's target, and by how much.

    The clean next frames are warped as adapt warps the noisy ones (its flow between `live`'s
    denoised frames, its mask) and compared with the clean frames blurred by each of BLURS:
    `blur` is the best sigma (px), `lead` its PSNR (dB) over the unblurred frame's.
    """
    guides = start_guides(START, clean, level, "fp32")  # the default when it was run
    aligner = FlowAligner("linear")  # its flow and mask only: each warp resamples below
    squared, kept = dict.fromkeys(WARPS, 0.0), 0
    for t in range(len(clean) - 1):
        map_x, map_y, mask = aligner.correspondence(guides[t], guides[t + 1])
        frame, kept = clean[t][..., 0].astype(np.float64), kept + int(mask.sum())
        blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), s) if s else frame for s in BLURS])
        for warp in WARPS:  # one flow, each warp's resampling of the next frame
            warped = resample(clean[t + 1], map_x, map_y, warp)[..., 0]
            squared[warp] = squared[warp] + ((warped - blurred) ** 2 * mask).sum(axis=(1, 2))
    out = {}
    for warp, error in squared.items():
        psnr = 10 * np.log10(255 ** 2 * kept / error)
        best = int(np.argmax(psnr))
        out[warp] = {"blur": BLURS[best], "lead": round(float(psnr[best] - psnr[0]), 2)}
    return out


def main() -> None:
    """Measure both clips at each level with each value; write the rows and the choice."""
    compare(__doc__, "adapt_warp.py", START, "warp", tuple(WARPS), ("target_blur", target_blur))


if __name__ == "__main__":
    main()
