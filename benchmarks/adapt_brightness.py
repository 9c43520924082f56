"""An adapted model's brightness from the footage alone, or held to `live-camera`'s: which wins?

Frame-to-frame training learns the mean of the camera's noisy frames, which is darker than the
scene (BENCHMARKS.md, "Which truth?"): at `night` `live` adapted comes out 5.5-6.7 levels dark,
and removing that one offset would add 1.0-1.8 dB. `live-camera` learned, from clean images,
where a camera's noisy brightness puts the scene's, and its output is within half a level of it.
`AdaptSettings.brightness` (train/adapt.py BRIGHTNESS_WEIGHT) adds to the loss the error between
the tuned output and a shipped camera model's output, both blurred, so the footage teaches the
noise and the camera model the brightness. For each light level `adapt` runs from `live` once
with the footage alone and once held to `live-camera`, on the same noisy frames for a fixed
number of epochs (adapt_loss_space.py's protocol); the PSNR on the held-out tail is measured
against the pristine and the rendered frames. Beside it, `live-camera`'s own output on the tail
(the anchor alone): its PSNR against the pristine frames and its offset in 8-bit levels.

Two clips, as adapt_loss_space.py: the validation clip (a held-out Train400 image) decides, the
test clip (camera.py's, Set12's 08.png) only reports. The rule, fixed before any run (2026-12-05
10:05 UTC): `live-camera` becomes the default brightness if on the validation clip its mean
PSNR gain against the pristine frames over the levels is higher than the footage's and it is
nowhere more than 0.1 dB lower.

    .venv/bin/python benchmarks/adapt_brightness.py --data ../shared/data \
        --out benchmarks/results/adapt_brightness.json       # about 13 minutes on 2 cores
"""

from __future__ import annotations

import numpy as np
from adapt_loss_space import compare, start_guides
from camera import FRAMES

from edgeae.train.adapt import split_frames
from edgeae.train.settings import AdaptSettings

START, ANCHOR = "live", "live-camera"


def anchor_alone(clean: np.ndarray, level: str) -> dict:
    """`live-camera`'s output on the held-out tail: PSNR against the pristine frames, offset."""
    tail = range(FRAMES)[split_frames(FRAMES, AdaptSettings().holdout)[1]]
    out = np.stack(start_guides(ANCHOR, clean, level, "fp32"))[tail].astype(np.float64)
    truth = clean[tail][..., 0].astype(np.float64)
    psnr = 10 * np.log10(255 ** 2 / np.mean((out - truth) ** 2))
    return {"psnr": round(float(psnr), 2), "offset": round(float(np.mean(out - truth)), 2)}


def main() -> None:
    """Measure both clips at each level with each brightness; write the rows and the choice."""
    compare(__doc__, "adapt_brightness.py", START, "brightness", ("footage", ANCHOR),
            ("anchor_alone", anchor_alone))


if __name__ == "__main__":
    main()
