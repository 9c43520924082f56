"""How much of what `edgeae adapt` misses is a brightness offset? A diagnostic, not a method.

Frame-to-frame training learns the mean of the camera's noisy frames, and that mean is darker
than the scene (benchmarks/camera_mean.py: the tone curve bends the noise of each colour channel
before they are mixed to gray, and the sensor clips at zero). For each light level this adapts
`live` as benchmarks/adapt_loss_space.py does (today's defaults, EPOCHS epochs) and measures
its output on the held-out tail against the pristine frames: PSNR, the mean offset in 8-bit
levels, and the PSNR the output would have with that offset removed, globally and per band of
the clean frame's brightness. The removals use the clean frames, so they are oracles: they say
how much of the error is an offset, not what a method could recover. `live-camera` (trained with
clean targets through the same camera model, so it knows the offset) is measured beside it.

    .venv/bin/python benchmarks/adapt_offset.py --data ../shared/data \
        --out benchmarks/results/adapt_offset.json          # about 15 minutes on 2 cores

`--h264 CRF` codes each noisy clip as one H.264 stream first (camera.py --h264).
"""

from __future__ import annotations

import sys

import numpy as np
from adapt_keep_test import outputs
from adapt_loss_space import clips, comparison_args, tuned
from camera import noisy_frames, start_model
from provenance import finished, provenance, write_result

from edgeae.train.adapt import split_frames
from edgeae.train.settings import AdaptSettings

BANDS = np.arange(0, 257, 32)  # bands of the clean frame's 8-bit brightness


def frame_psnr(errors: list[np.ndarray]) -> float:
    """Mean over frames of the PSNR (dB) of per-pixel errors in 8-bit levels."""
    return float(np.mean([10 * np.log10(255.0 ** 2 / np.mean(e ** 2)) for e in errors]))


def offset_report(outs: list[np.ndarray], truth: list[np.ndarray]) -> dict:
    """PSNR, mean offset and the PSNR with the offset removed (global, per band: oracles)."""
    errors = [o[..., 0] * 255 - t[..., 0].astype(np.float64) for o, t in zip(outs, truth)]
    bands = [np.clip(np.digitize(t[..., 0], BANDS) - 1, 0, len(BANDS) - 2) for t in truth]
    pooled, pooled_bands = np.concatenate([e.ravel() for e in errors]), np.concatenate(
        [b.ravel() for b in bands])
    offset = float(pooled.mean())
    per_band = np.array([pooled[pooled_bands == b].mean() if np.any(pooled_bands == b) else 0.0
                         for b in range(len(BANDS) - 1)])
    return {"psnr": round(frame_psnr(errors), 2), "offset_levels": round(offset, 2),
            "psnr_global_offset_removed": round(frame_psnr([e - offset for e in errors]), 2),
            "psnr_band_offsets_removed": round(frame_psnr(
                [e - per_band[b] for e, b in zip(errors, bands)]), 2),
            "band_offsets_levels": {f"{BANDS[b]}-{BANDS[b + 1] - 1}": round(float(v), 2)
                                    for b, v in enumerate(per_band) if np.any(pooled_bands == b)}}


def level_rows(clip: str, clean: np.ndarray, level: str, crf: int | None = None) -> dict:
    """`live` before and after adapt, and `live-camera`, at one light level of one clip.

    `crf`: the noisy clip coded as one H.264 stream at that rate factor first.
    """
    noisy = noisy_frames(clean, level, crf=crf)
    tail = range(len(clean))[split_frames(len(clean), AdaptSettings().holdout)[1]]
    truth = [clean[i] for i in tail]
    adapted, _ = tuned("live", noisy)
    row = {"clip": clip, "level": level, "models": {
        "live": offset_report(outputs(start_model("live")[0], noisy, tail), truth),
        "live, adapted": offset_report(outputs(adapted, noisy, tail), truth),
        "live-camera": offset_report(outputs(start_model("live-camera")[0], noisy, tail),
                                     truth)}}
    print(clip, level, row["models"]["live, adapted"], flush=True)
    return row


def main() -> None:
    """Every clip and level; write the rows."""
    args = comparison_args(__doc__.splitlines()[0], "indoor,dim,night", h264=True)
    run = provenance("python benchmarks/adapt_offset.py " + " ".join(sys.argv[1:]))
    rows = [level_rows(clip, clean, level, args.h264) for clip, clean in clips(args)
            for level in args.levels.split(",")]
    write_result({"provenance": finished(run), "h264_crf": args.h264, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
