"""What can a method that learns only from a camera's own frames aim at? The mean camera frame.

Frame-to-frame training, Noise2Void, Recorrupted-to-Recorrupted and any average of a still
scene's frames all converge, at best, to the mean of the camera's noisy 8-bit frames. This
script measures how far that mean is from the two truths benchmarks/adapt_keep_test.py scores
against, for the scenes it uses (frame 50 of camera.py's clip of Set12 08.png, and the
240x320 centre of 10.png): the `pristine` frame, and the `rendered` one (the camera model with
the noise turned off: demosaicing, colour and tone curve). The mean is taken over 64 noisy
frames at each light level, in sRGB as a camera writes them and, for comparison, in linear
light (each frame through the inverse sRGB curve, averaged, and back), where the sensor's noise
is zero-mean before clipping. A few seconds, no model.

With `--h264 CRF` the clip's frame is taken instead from SAMPLES noisy copies of the whole clip,
each coded as one H.264 stream at that rate factor (camera.py --h264): the mean of what a
streaming camera sends, which is what frame-to-frame training on its footage learns at best;
the still scene, which has no stream, is left out. A few minutes.

    .venv/bin/python benchmarks/camera_mean.py --data ../shared/data \
        --out benchmarks/results/camera_mean.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from adapt_keep_test import still_scene
from camera import STILL, noisy_frames, rendered_frames, still_clip
from provenance import finished, provenance, write_result

from edgeae.train.camera import linear_to_srgb, srgb_to_linear

SAMPLES, CLIP_FRAME = 64, 50


def psnr(x: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of float 0-255 `x` against `truth`."""
    return round(float(10 * np.log10(255 ** 2 / np.mean((x - truth) ** 2))), 2)


def means(scene: np.ndarray, level: str, clip: np.ndarray | None = None,
          crf: int | None = None) -> dict:
    """The mean of SAMPLES noisy frames of `scene` (1, H, W, 1), in sRGB and in linear light.

    With `clip` and `crf`, each sample is the scene's frame of the whole clip coded at `crf`.
    """
    if crf is None:
        noisy = np.concatenate([noisy_frames(scene, level, seed) for seed in range(SAMPLES)])
    else:
        noisy = np.stack([noisy_frames(clip, level, seed, crf)[CLIP_FRAME]
                          for seed in range(SAMPLES)])
    unit = noisy.astype(np.float32) / 255
    return {"sRGB": unit.mean(axis=0) * 255,
            "linear": linear_to_srgb(srgb_to_linear(unit).mean(axis=0)) * 255}


def measure(name: str, scene: np.ndarray, levels: list[str], **coded) -> dict:
    """The rendering's distance from the pristine frame; each mean's from both, per level.

    `coded`: the clip and rate factor of means', for a coded stream's frame.
    """
    pristine = scene[0].astype(np.float64)
    rendered = rendered_frames(scene)[0].astype(np.float64)
    row = {"scene": name, "rendered_vs_pristine_db": psnr(rendered, pristine), "levels": {}}
    for level in levels:
        row["levels"][level] = {kind: {"vs_pristine_db": psnr(mean, pristine),
                                       "vs_rendered_db": psnr(mean, rendered),
                                       "offset_levels": round(float((mean - rendered).mean()), 2)}
                                for kind, mean in means(scene, level, **coded).items()}
    return row


def main() -> None:
    """Measure both scenes at each level; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--levels", default="indoor,dim,night", help="camera presets")
    parser.add_argument("--h264", type=int, metavar="CRF", default=None,
                        help="the clip's frame from streams coded at this rate factor")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    still = cv2.imread(str(args.data / "set12" / STILL), cv2.IMREAD_GRAYSCALE)[..., None]
    clip, levels = still_clip(still), args.levels.split(",")
    name = f"clip of {STILL}, frame {CLIP_FRAME}"
    if args.h264 is None:
        rows = [measure(name, clip[CLIP_FRAME:CLIP_FRAME + 1], levels),
                measure("10.png, centre", still_scene(args.data)[:1], levels)]
    else:
        rows = [measure(f"{name}, H.264 CRF {args.h264}", clip[CLIP_FRAME:CLIP_FRAME + 1],
                        levels, clip=clip, crf=args.h264)]
    command = " ".join(["python benchmarks/camera_mean.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "samples": SAMPLES,
                  "h264_crf": args.h264, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
