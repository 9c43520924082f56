"""adapt's passes before training in float32 or int8: does the faster int8 cost any quality?

Before it trains, `edgeae adapt` denoises every frame twice: with the start model, for the optical
flow to read, and with the brightness model (`live-camera`), whose blurred output holds the tuned
output's brightness. At 640x480 on 2 cores each pass took about 120 ms a frame through the
shipped fp32 files (onnxruntime), 40% of what adapt spends before training on 600 frames.
`AdaptSettings.passes = "int8"` (train/adapt.py PASS_ENGINES) runs the shipped int8 files
instead, through OpenVINO where installed (about 20 ms a frame here). The int8 outputs differ
from the float ones by what the export's int8 gate allows, so the flow and the brightness
target move a little. For each light level `adapt` runs from `live` once per precision on the
same noisy frames for a fixed number of epochs (adapt_loss_space.py's protocol), and the PSNR on
the held-out tail is measured against the pristine and the rendered frames. Beside it, how far
the passes' outputs are apart on the clip's frames: the start's (mean absolute difference in
8-bit levels) and the brightness model's, blurred as the loss blurs it (mean offset, RMS).

Two clips, as adapt_loss_space.py: the validation clip (a held-out Train400 image) decides, the
test clip (camera.py's, Set12's 08.png) only reports. The rule, fixed before any run (2026-12-05
15:25 UTC): int8 becomes the default if on the validation clip its mean PSNR gain against the
pristine frames over the levels is no more than 0.03 dB below fp32's (SLACK: a change made for
speed need not gain) and it is nowhere more than 0.1 dB lower.

    .venv/bin/python benchmarks/adapt_passes.py --data ../shared/data \
        --out benchmarks/results/adapt_passes.json       # about 10 minutes on 2 cores
"""

from __future__ import annotations

import cv2
import numpy as np
from adapt_loss_space import compare, start_guides

from edgeae.train.adapt import BRIGHTNESS_BLUR

START = "live"
BRIGHTNESS_AT_THE_RUN = "live-camera"  # adapt's brightness model when this ran (2026-12-05)
SLACK = 0.03  # dB of mean gain int8 may give up (the rule above)


def pass_difference(clean: np.ndarray, level: str) -> dict:
    """How far the int8 passes' outputs are from the float32 ones on the clip's noisy frames."""
    out = {}
    for key, shipped in (("start", START), ("brightness", BRIGHTNESS_AT_THE_RUN)):
        fp32, int8 = (np.stack(start_guides(shipped, clean, level, p)).astype(np.float32)
                      for p in ("fp32", "int8"))
        blurred = np.stack([cv2.GaussianBlur(d, (0, 0), BRIGHTNESS_BLUR) for d in int8 - fp32])
        out[key] = {"mean_abs": round(float(np.abs(int8 - fp32).mean()), 3),
                    "blurred_offset": round(float(blurred.mean()), 3),
                    "blurred_rms": round(float(np.sqrt((blurred ** 2).mean())), 3)}
    return out


def main() -> None:
    """Measure both clips at each level with each precision; write the rows and the choice."""
    compare(__doc__, "adapt_passes.py", START, "passes", ("fp32", "int8"),
            ("pass_difference", pass_difference), SLACK)


if __name__ == "__main__":
    main()
