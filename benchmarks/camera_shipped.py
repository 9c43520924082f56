"""The shipped camera denoisers on `camera.py`'s moving clips, against NLM, at every preset.

Issue 18's first target: the retrained shipped denoiser at least 1 dB above OpenCV's non-local
means at its best strength, on every camera preset. `camera.py` measures `adapt` and its
baselines on its moving clips, each starting from one single-frame model; this script puts every
shipped model a camera user can run on the same clips, side by side in one run, each through
onnxruntime (int8, 2 threads) as `edgeae run` runs a stream: every frame in order from a reset.

- `live` (Gaussian noise), `live-camera`, `live-stream` (single frames);
- `live-camera-video` (recurrent: it averages the frames before);
- `live-auto`, the noise-gated trio as the runtime runs it (runtime/gated.py): `live` for white
  noise, `live-camera` for a camera's grain, `live-camera-video` from a stream's second frame
  where the grain is strong. The member it chose for each frame of the tail is counted.

Clips: `camera.py`'s, one per still (60 frames of 240x320 from a 512x512 Set12 image, a panning
camera and two moving objects) and per real video given; each through the camera noise model at
each light level, uncoded and as one H.264 stream at CRF 23. NLM gets its best strength per
clip from h=1 up, chosen with the clean first part (camera.py's oracle, which starts at h=5:
both are recorded); every method is measured on the tail `adapt` holds out. Set12 is a test
set: this run decides nothing.

    .venv/bin/python benchmarks/camera_shipped.py --data ../shared/data \
        [--stills 08.png,09.png] [--video clean.mp4 ...] --out OUT.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from camera import (
    FINE_NLM_STRENGTHS,
    FRAMES,
    best_nlm_strength,
    head_and_tail,
    mean_quality,
    nlm_quality,
    noisy_frames,
    still_clip,
    video_clip,
)
from camera_streams import CRFS, LEVELS, THREADS, streamed
from provenance import finished, provenance, write_result

import edgeae.runtime as rt
from edgeae.runtime.pretrained import pretrained_path, pretrained_paths

MODELS = ("live", "live-camera", "live-stream", "live-camera-video")
GATED = "live-auto"


def open_models() -> dict:
    """{name: int8 ONNX model}: each shipped camera-side model, and the gated trio."""
    def opened(path: Path):
        return rt.load(path, "onnxruntime", THREADS, task="denoise")

    models = {name: opened(pretrained_path(name, "onnxruntime", "int8")) for name in MODELS}
    models[GATED] = rt.NoiseGated(*map(opened, pretrained_paths(GATED, "onnxruntime", "int8")))
    return models


def measure_clip(name: str, clean: np.ndarray, level: str, crf: int | None,
                 models: dict) -> dict:
    """One clip at one setting: noisy, NLM at its oracle strength, each model, on the tail."""
    noisy = noisy_frames(clean, level, crf=crf)
    head, tail = head_and_tail(len(clean))
    h = best_nlm_strength(clean, noisy, head, FINE_NLM_STRENGTHS)
    coarse_h = best_nlm_strength(clean, noisy, head)  # camera.py's grid, from h=5
    row = {"clip": name, "level": level, "crf": crf, "nlm_h": h, "nlm_h_from_5": coarse_h,
           "noisy": mean_quality(clean, {i: noisy[i] for i in tail}),
           "nlm": nlm_quality(clean, noisy, tail, h),
           "nlm from 5": nlm_quality(clean, noisy, tail, coarse_h)}
    for label, model in models.items():
        outputs, chosen = streamed(model, noisy)
        row[label] = mean_quality(clean, {i: outputs[i] for i in tail})
        if chosen[0] is not None:
            row[f"{label} members"] = {k: chosen[tail.start:].count(k) for k in set(chosen)}
    return {k: ({m: round(v, 4) for m, v in value.items()} if isinstance(value, dict) else value)
            for k, value in row.items()}


def main() -> None:
    """Measure every clip at every setting; print each row; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--stills", default="08.png",
                        help="512x512 Set12 stills, comma-separated (one clip each)")
    parser.add_argument("--video", type=Path, action="append", default=[],
                        help="a clean real video to add as a clip (repeatable)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/camera_shipped.py", *sys.argv[1:]]))
    paths = [args.data / "set12" / name for name in args.stills.split(",")]
    if missing := [str(p) for p in paths if not p.is_file()]:
        sys.exit(f"no such still: {', '.join(missing)}")
    models = open_models()
    clips = {f"set12/{p.name}": still_clip(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)[..., None])
             for p in paths} | {p.name: video_clip(p) for p in args.video}
    rows = []
    for name, clean in clips.items():
        for crf in CRFS:
            for level in LEVELS:
                rows.append(measure_clip(name, clean, level, crf, models))
                print(rows[-1], flush=True)
    write_result({"provenance": finished(run), "clips": list(clips), "frames": FRAMES,
                  "models": [*MODELS, GATED], "rows": rows},
                 args.out)


if __name__ == "__main__":
    main()
