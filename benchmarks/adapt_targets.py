"""The next frame, or the previous and the next averaged: which target makes `edgeae adapt` better?

Frame-to-frame training's target is a neighbouring frame warped onto the current one by the
optical flow (train/frame_pairs.py). With the next frame alone the target carries a whole
frame's noise and every error of one flow. Warping the previous frame too and averaging the
two where the flow trusts them (`AdaptSettings.targets`, train/frame_pairs.py NEIGHBOURS) halves
the target's noise, and the two flows' errors, on opposite sides of the motion, partly cancel;
more pixels are kept too, since a pixel needs only one trusted neighbour. For each light level,
`adapt` runs once per target from `live` on the same noisy frames for a fixed number of epochs
(adapt_loss_space.py's protocol, the default cubic warp), and the PSNR on the held-out tail is
measured against the pristine and the rendered frames. Beside it, how far each target is from
the truth: the clean frames, warped and averaged as adapt does the noisy ones, against the clean
current frame on the mask (PSNR), and the share of pixels the mask keeps.

Two clips, as adapt_loss_space.py: the validation clip (a held-out Train400 image) decides, the
test clip (camera.py's, Set12's 08.png) only reports. The rule, fixed before any run: "both"
becomes the default if on the validation clip its mean PSNR gain against the pristine frames
over the levels is higher than "next"'s and it is nowhere more than 0.1 dB lower.

    .venv/bin/python benchmarks/adapt_targets.py --data ../shared/data \
        --out benchmarks/results/adapt_targets.json       # about 15 minutes on 2 cores
"""

from __future__ import annotations

import numpy as np
from adapt_loss_space import compare, start_guides

from edgeae.train.frame_pairs import NEIGHBOURS, frame_pairs
from edgeae.train.settings import AdaptSettings

START = "live"  # adapting `live-camera` lowers PSNR whatever the target (adapt_keep_test.py)
WARP = "cubic"  # adapt's default (benchmarks/adapt_warp.py)


def target_error(clean: np.ndarray, level: str) -> dict[str, dict]:
    """Per target: PSNR of the clean frames' target against the clean frame, and mask coverage.

    The clean frames are warped and averaged along adapt's flow (between `live`'s denoised
    noisy frames) and its mask, so only the flow's and the warp's errors remain.
    """
    guides = start_guides(START, clean, level, "fp32")  # the default when it was run
    out = {}
    for targets in NEIGHBOURS:
        pairs = frame_pairs(list(clean), guides, WARP, targets, AdaptSettings().loss_space)
        squared = (pairs.targets.astype(np.float64) - pairs.inputs) ** 2 * pairs.masks
        mse = squared.sum() / pairs.masks.sum()
        out[targets] = {"psnr": round(float(10 * np.log10(255 ** 2 / mse)), 2),
                        "coverage": round(pairs.coverage(), 3)}
    return out


def main() -> None:
    """Measure both clips at each level with each value; write the rows and the choice."""
    compare(__doc__, "adapt_targets.py", START, "targets", tuple(NEIGHBOURS),
            ("target_error", target_error))


if __name__ == "__main__":
    main()
