r"""How wide a blur should `adapt`'s brightness hold see? 2 px (today's) against 4 px.

`adapt` adds to its frame-to-frame loss the squared error between the tuned output and the
brightness model's output, both blurred by a Gaussian of train/adapt.py BRIGHTNESS_BLUR px (2,
set by reasoning, never measured): the model is there for the brightness, the footage for the
detail. With `live-stream` as that model since 2026-12-06, `adapt` lost 0.18 dB at `indoor` on
camera.py's H.264 test clip, and a diagnostic there put the cost in what the held output takes
from `live-stream` (whose output is nearer the scene's mean, yet smoother: it flattens frames
with little noise). A 2-px blur still passes structures a few pixels across; a 4-px blur leaves
them to the footage and keeps the brightness. For each light level `live` is adapted for a
fixed number of epochs (adapt_loss_space.py's protocol) once with each blur, on the same noisy
frames, and the PSNR gain on the held-out tail is measured against the pristine and the
rendered frames.

The rule, fixed before any run (2026-12-06 09:45 UTC): 4 px becomes the default if
adapt_loss_space.py's `choice` picks it on the validation clip (its mean gain against the
pristine frames over `indoor`, `dim` and `night` above 2 px's, and nowhere more than 0.1 dB
below) both with the noisy clip coded as one H.264 stream at CRF 23 and uncoded. The test clip
(camera.py's) only reports.

    .venv/bin/python benchmarks/adapt_brightness_blur.py --data ../shared/data --h264 23 \
        --clips validation --out benchmarks/results/adapt_brightness_blur.json   # 4 minutes
    .venv/bin/python benchmarks/adapt_brightness_blur.py --data ../shared/data \
        --clips validation --out benchmarks/results/adapt_brightness_blur_uncoded.json
"""

from __future__ import annotations

from unittest import mock

import numpy as np
from adapt_loss_space import clips, comparison_args, measure, tuned, write_comparison

from edgeae.train import adapt as adapt_module

START = "live"
BLURS = ("2", "4")  # px: today's first


def tuned_with_blur(noisy: np.ndarray, blur: str) -> tuple:
    """`live` adapted on `noisy` with the brightness hold's blur at `blur` px."""
    with mock.patch.object(adapt_module, "BRIGHTNESS_BLUR", float(blur)):
        return tuned(START, noisy)


def main() -> None:
    """Both blurs on each clip and level; write the rows and the validation clip's choice."""
    args = comparison_args(__doc__.splitlines()[0], "indoor,dim,night", h264=True)
    rows = [measure(clip, clean, level, START, values=BLURS, crf=args.h264, tune=tuned_with_blur)
            for clip, clean in clips(args) for level in args.levels.split(",")]
    write_comparison("adapt_brightness_blur.py", rows, BLURS, args.out)


if __name__ == "__main__":
    main()
