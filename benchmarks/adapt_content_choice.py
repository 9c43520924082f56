"""Can a no-reference content measure tell a sharper denoiser from a blurrier one (validation)?

The frame-to-frame loss `adapt` keeps its tuning by prefers a slightly blurred output to the
true frame (adapt_loss_bias.py), so from `live-camera`, which already fits the simulated camera,
`adapt` at `indoor` lowers PSNR while its loss falls. Zhu and Milanfar's Q (core/metrics.py
paired_content) needs no clean frame: it falls with blur and with noise left in. On the
validation clip (adapt_loss_space.py's: a Train400 image `edgeae train` holds out, never the
test clip), for each light level it compares a start model's held-out output with what might
replace it: `adapt`'s tuning (4 epochs, adapt_loss_space.py's protocol) from `live` and from
`live-camera`, and `live-camera`'s output blurred by 0.4, 0.6 and 0.8 px; the PSNR against the
clean frames says which is better, Q says it without them. adapt_keep_test.py then judged the
rule this chose, on the test clip.

    .venv/bin/python benchmarks/adapt_content_choice.py --data ../shared/data \
        --out benchmarks/results/adapt_content_choice.json      # about 5 minutes on 2 cores
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
from adapt_keep_test import outputs
from adapt_loss_bias import level_args
from adapt_loss_space import tuned, validation_clip
from camera import noisy_frames, size_multiple, start_model
from provenance import finished, provenance, write_result

from edgeae.core.metrics import paired_content
from edgeae.train.adapt import split_frames, validation_window
from edgeae.train.settings import AdaptSettings

BLURS = (0.4, 0.6, 0.8)  # px


def psnr(outs: list[np.ndarray], clean: np.ndarray) -> float:
    """Mean PSNR (dB) of 0-255 outputs against the clean frames."""
    return float(np.mean([10 * np.log10(255 ** 2 / np.mean((o - c[..., 0]) ** 2))
                          for o, c in zip(outs, clean)]))


def row(level: str, start: str, change: str, first: list, second: list, clean: np.ndarray,
        window: tuple[slice, slice]) -> dict:
    """PSNR and Q of a start's output and a replacement's, and whether Q picks the better."""
    q_start, q_new = paired_content([x[window] for x in first], [x[window] for x in second])
    p_start, p_new = psnr(first, clean), psnr(second, clean)
    return {"level": level, "start": start, "change": change, "psnr_start": round(p_start, 2),
            "psnr_change": round(p_new - p_start, 2), "q_start": round(q_start, 2),
            "q_new": round(q_new, 2), "q_keeps": bool(not q_new < q_start),
            "better": bool(p_new > p_start)}


def level_rows(clean: np.ndarray, level: str) -> list[dict]:
    """Every comparison at one light level on the held-out tail."""
    tail = range(len(clean))[split_frames(len(clean), AdaptSettings().holdout)[1]]
    noisy, truth = noisy_frames(clean, level), clean[tail]
    window = validation_window(clean.shape[1:3], size_multiple("live"))
    rows = []
    for start in ("live", "live-camera"):
        first = [o[..., 0] * 255 for o in outputs(start_model(start)[0], noisy, tail)]
        model, _ = tuned(start, noisy)
        adapted = [o[..., 0] * 255 for o in outputs(model, noisy, tail)]
        rows.append(row(level, start, "adapted", first, adapted, truth, window))
        if start == "live-camera":
            rows += [row(level, start, f"blurred {s} px", first,
                         [cv2.GaussianBlur(x, (0, 0), s) for x in first], truth, window)
                     for s in BLURS]
    for r in rows:
        print(r, flush=True)
    return rows


def main() -> None:
    """Measure each level of the validation clip; write the rows."""
    args = level_args(__doc__)
    clean = validation_clip(args.data)
    rows = [r for level in args.levels.split(",") for r in level_rows(clean, level)]
    command = " ".join(["python benchmarks/adapt_content_choice.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
