r"""Should the footage choose `adapt`'s brightness model? `live-stream` against the choice.

`adapt` holds its output's blurred values to a shipped camera model's (train/adapt.py
BRIGHTNESS_BLUR, _WEIGHT), `live-stream`'s since 2026-12-06. It gained at `night` over
`live-camera` and lost at `indoor` on H.264 footage (BENCHMARKS.md, "Does a brightness model
that knows H.264 help?"), and a 2-px blur beat a 4-px one, so the held output's detail at a few
pixels matters, not its mean alone. The footage can say which model's detail is nearer its
scene: noise is independent from frame to frame, so on the held-out pairs a model's output that
is nearer the scene is nearer the aligned next frames too, in expectation. Compared in the band
the hold passes and the footage's darker mean does not reach (a Gaussian blur of 2 px minus one
of 8 px, in linear light, over the pixels the flow trusts), `brightness="choose"` takes the
shipped camera model whose output is nearest there (train/adapt.py BRIGHTNESS_BAND). A scratch
diagnostic (no adapting; both clips) found that band ordering the two models as their adapted
results were ordered: farther for `live-stream` at `indoor` on every clip and coding, nearer at
`dim` and `night`.

The rule, fixed before any run of this script (2026-12-06 10:25 UTC): the choice becomes
`adapt`'s default (`auto`) if adapt_loss_space.py's `choice` picks it on the validation clip
(its mean gain against the pristine frames over `indoor`, `dim` and `night` above
`live-stream`'s) both with the noisy clip coded as one H.264 stream at CRF 23 and uncoded, and
it is nowhere more than 0.05 dB below `live-stream`. The test clip (camera.py's) only reports.

    .venv/bin/python benchmarks/adapt_brightness_choice.py --data ../shared/data --h264 23 \
        --out benchmarks/results/adapt_brightness_choice.json        # 8 minutes on 2 cores
    .venv/bin/python benchmarks/adapt_brightness_choice.py --data ../shared/data \
        --out benchmarks/results/adapt_brightness_choice_uncoded.json
"""

from __future__ import annotations

from adapt_loss_space import clips, comparison_args, measure, write_comparison

START = "live"
VALUES = ("live-stream", "choose")  # AdaptSettings.brightness: today's model, the choice


def main() -> None:
    """Both settings on each clip and level; write the rows and the validation clip's choice."""
    args = comparison_args(__doc__.splitlines()[0], "indoor,dim,night", h264=True)
    rows = [measure(clip, clean, level, START, "brightness", VALUES, crf=args.h264)
            for clip, clean in clips(args) for level in args.levels.split(",")]
    write_comparison("adapt_brightness_choice.py", rows, VALUES, args.out)


if __name__ == "__main__":
    main()
