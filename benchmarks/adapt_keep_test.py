"""Which keep-test would make `adapt` keep only the tunings that help? Two rules against the truth.

For each light level and start model, `edgeae adapt` (as benchmarks/camera.py runs it: the same
clip, noise, 2-minute budget) tunes the model, and the clean PSNR on the held-out tail says
whether the tuning helped. Two rules decide from the noisy footage alone:

- `plain`: today's rule, the tuned model's held-out frame-to-frame loss below the start's;
- `blur-matched`: the same loss after blurring both models' outputs by the Gaussian sigma that
  best fits the start model's output to the held-out targets (an estimate of the blur the
  misaligned targets carry, so that a sharp output is not penalised for being sharp).

    .venv/bin/python benchmarks/adapt_keep_test.py --data ../shared/data \
        --out benchmarks/results/adapt_keep_test.json        # about 16 minutes on 2 cores
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from adapt_loss_bias import MULTIPLE, masked_loss, run_levels
from camera import (
    FRAMES,
    model_quality,
    noisy_frames,
    start_model,
    start_onnx,
)

from edgeae.core.data import Preprocess, load_data
from edgeae.runtime.backends import OnnxSession
from edgeae.train.adapt import Start, adapt, split_frames, validation_crops
from edgeae.train.frame_pairs import FramePairs, as_gray_u8, frame_pairs
from edgeae.train.settings import AdaptSettings

SIGMAS = (0.0, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0)  # px, the blurs the matched rule fits


def outputs(model, noisy: np.ndarray, frames: range) -> list[np.ndarray]:
    """The Keras model's float HW1 outputs for `frames`."""
    return [np.asarray(model.predict_on_batch(noisy[i][None].astype(np.float32) / 255))[0]
            .astype(np.float64) for i in frames]


def blurred_loss(pairs: FramePairs, outs: list[np.ndarray], sigma: float) -> float:
    """The held-out loss of `outs` (one per pair's first frame) blurred by `sigma` px."""
    if sigma:
        outs = [cv2.GaussianBlur(x[..., 0], (0, 0), sigma)[..., None] for x in outs]
    return masked_loss(pairs.targets, pairs.masks, outs)


def tune(model, manifest, start: str, noisy: np.ndarray) -> None:
    """`edgeae adapt --pretrained START` on the noisy clip, in place, with camera.py's budget."""
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "frames"
        frames.mkdir()
        for i, frame in enumerate(noisy):
            cv2.imwrite(str(frames / f"{i:04d}.png"), frame)
        adapt(Start(model, manifest, f"pretrained:{start}", manifest.artifact.sha256,
                    OnnxSession(start_onnx(start), None)),
              load_data(str(frames), Preprocess(1)).train, Path(tmp) / "adapted",
              AdaptSettings(minutes=2), verbose=0)


def measure(clean: np.ndarray, level: str, start: str) -> dict:
    """Clean PSNR before and after adapt, and each rule's losses and decision."""
    noisy = noisy_frames(clean, level)
    tail = range(FRAMES)[split_frames(FRAMES, AdaptSettings().holdout)[1]]
    model, manifest = start_model(start)
    before, psnr_before = outputs(model, noisy, tail), model_quality(model, clean, noisy, tail)
    pairs = validation_crops(frame_pairs([noisy[i] for i in tail],
                                         [as_gray_u8(x) for x in before]), MULTIPLE)
    sigma = min(SIGMAS, key=lambda s: blurred_loss(pairs, before[:-1], s))
    tune(model, manifest, start, noisy)
    after = outputs(model, noisy, tail)
    gain = model_quality(model, clean, noisy, tail)["psnr"] - psnr_before["psnr"]
    rules = {name: [blurred_loss(pairs, x[:-1], s) for x in (before, after)]
             for name, s in (("plain", 0.0), ("blur-matched", sigma))}
    return {"level": level, "start": start, "psnr_before": round(psnr_before["psnr"], 2),
            "psnr_gain": round(gain, 2), "sigma": sigma,
            "rules": {name: {"before": round(b, 6), "after": round(a, 6), "keep": a < b,
                             "right": (a < b) == (gain > 0)} for name, (b, a) in rules.items()}}


if __name__ == "__main__":
    run_levels(lambda clean, level, start: [measure(clean, level, start)], __doc__,
               "adapt_keep_test.py")
