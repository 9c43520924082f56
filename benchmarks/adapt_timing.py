"""How long `edgeae adapt --pretrained live` takes on 600 frames of 640x480, start to finish.

The footage: a 600-frame clip of Set12's 08.png (upscaled 2x with Lanczos to 1024x1024 so a
640x480 camera can pan over it) with two objects moving on their own (train/clips.py), through
the `dim` camera noise preset, written as PNG frames. The command runs as a user would run it
(a subprocess with the default settings: a 5-minute training budget), and its wall time is
what is reported, reading, denoising for the flow, flow, the brightness model's pass, training
and writing included. `--brightness-from` and `--passes` pass those options on (default:
adapt's own).

    .venv/bin/python benchmarks/adapt_timing.py --data ../shared/data \
        --out benchmarks/results/adapt_timing.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result

from edgeae.train.camera import PRESETS, CameraNoise
from edgeae.train.clips import clip_from_still

FRAMES, SIZE, LEVEL = 600, (480, 640), "dim"
EDGEAE = Path(sys.executable).with_name("edgeae")


def write_footage(still_path: Path, folder: Path) -> None:
    """The noisy clip as numbered PNGs."""
    still = cv2.imread(str(still_path), cv2.IMREAD_GRAYSCALE)
    still = cv2.resize(still, None, fx=2, fy=2, interpolation=cv2.INTER_LANCZOS4)[..., None]
    rng = np.random.default_rng(0)
    clean = clip_from_still(still, FRAMES, SIZE, rng, objects=2, speed=0.5).frames
    peak, read = PRESETS[LEVEL]
    camera = CameraNoise((peak, peak), (read, read))
    for i, frame in enumerate(clean):
        noisy = camera.one(frame.astype(np.float32) / 255, rng)
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.clip(noisy * 255 + 0.5, 0, 255).astype(
            np.uint8))


def main() -> None:
    """Make the footage, time the command; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--brightness-from", help="passed to adapt (default: adapt's default)")
    parser.add_argument("--passes", help="passed to adapt (default: adapt's default)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/adapt_timing.json"))
    args = parser.parse_args()
    options = [item for flag, value in (("--brightness-from", args.brightness_from),
                                        ("--passes", args.passes)) if value
               for item in (flag, value)]
    with tempfile.TemporaryDirectory() as tmp:
        footage, out = Path(tmp) / "footage", Path(tmp) / "live_cam"
        footage.mkdir()
        write_footage(args.data / "set12" / "08.png", footage)
        began = time.monotonic()
        subprocess.run([str(EDGEAE), "adapt", "--pretrained", "live", "--data", str(footage),
                        "--out", str(out), *options], check=True)
        seconds = time.monotonic() - began
        manifest = json.loads((out / "manifest.json").read_text())
    command = " ".join(["python benchmarks/adapt_timing.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "frames": FRAMES, "size": SIZE,
                  "level": LEVEL, "wall_seconds": round(seconds, 1),
                  "training": manifest["training"]}, args.out)


if __name__ == "__main__":
    main()
