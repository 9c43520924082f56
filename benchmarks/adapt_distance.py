"""Neighbours one frame away or two: which target makes `edgeae adapt` better on H.264 footage?

Frame-to-frame training needs the target's noise independent of the input's. A camera's own
frames have it, but H.264 predicts each frame from the one before and copies part of that
frame's noise (residuals that quantize to zero copy it whole): on camera.py's clip at `dim`,
coded at CRF 23, the noise of a frame correlates +0.23 with its next frame's (aligned along
the clean flow), +0.12 with the frame two on, +0.07 three on; uncoded, +0.015 at every distance.
A network trained towards a target that shares part of its input's noise learns to keep that
part. `targets="both-2"` (train/frame_pairs.py NEIGHBOURS) takes the frames two before and two
after instead of the adjacent ones: less shared noise, but a flow across twice the motion
(more occlusion, more error). For each coding (uncoded and H.264 at CRF 23) and light level,
`adapt` runs once per target from `live` on the same noisy frames for a fixed number of epochs
(adapt_loss_space.py's protocol), and the PSNR on the held-out tail is measured against the
pristine and the rendered frames. Beside it, what each target shares with its input: the
correlation of the input's noise with the target's (each less the noiseless rendering, warped
alike) on the mask, and the share of pixels the mask keeps.

Two clips, as adapt_loss_space.py: the validation clip (a held-out Train400 image) decides, the
test clip (camera.py's, Set12's 08.png) only reports. The rule, fixed before any run
(BENCHMARKS.md, "Targets two frames apart on H.264 footage"): "both-2" becomes adapt's default
if on the validation clip coded at CRF 23 its mean PSNR gain against the pristine frames over
the levels is higher than "both"'s and nowhere more than 0.1 dB lower (choice()), and on the
uncoded validation clip its mean is at most 0.03 dB lower and nowhere more than 0.1 dB lower
(choice() with SLACK). Otherwise "both" stays the default and "both-2" stays an option.

    .venv/bin/python benchmarks/adapt_distance.py --data ../shared/data \
        --out benchmarks/results/adapt_distance.json       # about 30 minutes on 2 cores
"""

from __future__ import annotations

import sys

import numpy as np
from adapt_loss_space import EPOCHS, choice, clips, comparison_args, measure, shipped_guides
from camera import noisy_frames, rendered_frames
from provenance import finished, provenance, write_result

from edgeae.train.frame_pairs import frame_pairs
from edgeae.train.settings import AdaptSettings

START, VALUES = "live", ("both", "both-2")
CRFS = (None, 23)  # uncoded, then x264's default rate factor (camera.py --h264 23)
SLACK = 0.03  # how far below "both" the uncoded mean may be (the rule above)


def shared_noise(clean: np.ndarray, level: str, crf: int | None) -> dict[str, dict]:
    """Per target: the correlation of the input's noise with its target's, and mask coverage.

    The noisy and the noiseless frames are paired along the same flow (adapt's, between `live`'s
    denoised noisy frames), so their differences are the input's and the target's noise.
    """
    noisy, rendered = noisy_frames(clean, level, crf=crf), rendered_frames(clean)
    guides = shipped_guides(START, noisy, AdaptSettings().passes)
    out = {}
    for targets in VALUES:
        pairs, quiet = (frame_pairs(list(frames), guides, AdaptSettings().warp, targets)
                        for frames in (noisy, rendered))
        on = pairs.masks[..., 0] > 0
        into, onto = (a.astype(np.float64)[..., 0] for a in (pairs.inputs, pairs.targets))
        noise_in = (into - quiet.inputs[..., 0])[on]
        noise_target = (onto - quiet.targets[..., 0])[on]
        out[targets] = {"correlation": round(float(np.corrcoef(noise_in, noise_target)[0, 1]), 3),
                        "coverage": round(pairs.coverage(), 3)}
    return out


def main() -> None:
    """Measure both clips at each coding and level with each target; write rows and choices."""
    args = comparison_args(__doc__.splitlines()[0], "indoor,dim,night")
    rows = [{**measure(clip, clean, level, START, "targets", VALUES, crf), "crf": crf,
             "shared_noise": shared_noise(clean, level, crf)}
            for clip, clean in clips(args) for crf in CRFS for level in args.levels.split(",")]
    validation = {crf: [r for r in rows if r["clip"] == "validation" and r["crf"] == crf]
                  for crf in CRFS}
    verdicts = {"h264": choice(validation[23], *VALUES) if validation[23] else None,
                "uncoded": choice(validation[None], *VALUES, SLACK) if validation[None] else None}
    met = all(v and v["default"] == VALUES[1] for v in verdicts.values())
    command = " ".join(["python benchmarks/adapt_distance.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "epochs": EPOCHS, "rows": rows,
                  "choice": {**verdicts, "default": VALUES[1] if met else VALUES[0]}}, args.out)


if __name__ == "__main__":
    main()
