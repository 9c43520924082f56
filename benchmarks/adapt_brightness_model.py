r"""Does a brightness model that knows H.264 streams help `edgeae adapt` on H.264 footage?

`adapt` holds its output's blurred brightness to a shipped model's (train/adapt.py
BRIGHTNESS_WEIGHT), `live-camera`'s until 2026-12-06. On footage coded as one H.264 stream,
`live-camera` comes out 1.0-2.1 levels darker at `dim` and `night` than on the same footage
uncoded, and the adapted model follows it (BENCHMARKS.md, "Part of it is the brightness `adapt`
is held to"): the coding smooths the noise whose amount tells it how much to brighten. This
script holds `adapt` once to `live-camera` (its files at `adapt`'s default precision) and once
to another model, an exported gray denoiser given by `--brightness-model` (an ONNX file, fp32 or
int8, through onnxruntime), in place of `live-camera`'s files for the brightness pass only,
and compares, for each light level on the noisy clip coded at `--h264` CRF: `live` adapted for
a fixed number of epochs (adapt_loss_space.py's protocol) held to `live-camera` and held to the
candidate (PSNR gain on the held-out tail against the pristine and the rendered frames), and
each brightness model's own output on the tail (PSNR against the pristine frames, offset in
8-bit levels). A diagnostic: what the candidate is and why is said where its results are.

    .venv/bin/python benchmarks/adapt_brightness_model.py --data ../shared/data \
        --brightness-model DIR/model_fp32.onnx --h264 23 --levels dim,night \
        --out benchmarks/results/adapt_brightness_model.json      # about 10 minutes on 2 cores
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import numpy as np
from adapt_keep_test import gains, psnr
from adapt_loss_space import clips, comparison_args, shipped_guides, tuned
from adapt_offset import offset_report
from camera import noisy_frames, rendered_frames, start_model
from provenance import finished, provenance, write_result

import edgeae.runtime as rt
from edgeae.train import adapt as adapt_module
from edgeae.train.adapt import split_frames
from edgeae.train.settings import AdaptSettings

START, SHIPPED = "live", "live-camera"


def held_to_candidate(candidate):
    """A patch of adapt's pass_model: the candidate for `live-camera`'s brightness pass only."""
    shipped_pass = adapt_module.pass_model
    return mock.patch.object(adapt_module, "pass_model", lambda name, precision: (
        candidate if name == SHIPPED else shipped_pass(name, precision)))


def level_row(clip: str, clean: np.ndarray, level: str, crf: int, candidate) -> dict:
    """Adapt's gains held to each brightness model, and each model's own output on the tail."""
    noisy, truths = noisy_frames(clean, level, crf=crf), {"pristine": clean,
                                                           "rendered": rendered_frames(clean)}
    tail = range(len(clean))[split_frames(len(clean), AdaptSettings().holdout)[1]]
    before = psnr(start_model(START)[0], truths, noisy, tail)
    shipped, _ = tuned(START, noisy, brightness=SHIPPED)
    with held_to_candidate(candidate):
        held, _ = tuned(START, noisy, brightness=SHIPPED)
    truth = [clean[i] for i in tail]
    own = shipped_guides(SHIPPED, noisy[tail.start:tail.stop], "fp32")  # the tail alone
    row = {"clip": clip, "level": level, "psnr_before": before,
           "gain": {SHIPPED: gains(psnr(shipped, truths, noisy, tail), before),
                    "candidate": gains(psnr(held, truths, noisy, tail), before)},
           "alone": {SHIPPED: offset_report([plane[..., None] / 255 for plane in own], truth),
                     "candidate": offset_report([candidate.denoise(noisy[i]) / 255
                                                 for i in tail], truth)}}
    print(clip, level, row["gain"], flush=True)
    return row


def main() -> None:
    """Every clip and level; write the rows."""
    args = comparison_args(__doc__.splitlines()[0], "dim,night", h264=True, extra=lambda p: (
        p.add_argument("--brightness-model", type=Path, required=True,
                       help="an exported gray denoiser's ONNX file, fp32 or int8")))
    candidate = rt.load(args.brightness_model, backend="onnxruntime")
    run = provenance("python benchmarks/adapt_brightness_model.py " + " ".join(sys.argv[1:]))
    rows = [level_row(clip, clean, level, args.h264, candidate) for clip, clean in clips(args)
            for level in args.levels.split(",")]
    write_result({"provenance": finished(run), "h264_crf": args.h264,
                  "brightness_model": str(args.brightness_model), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
