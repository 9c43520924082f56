"""Issue 19's design question, measured: K stacked frames (3 or 5) or a recurrent model?

Each design is fine-tuned from the shipped single-frame `live` (runtime/pretrained/
live_fp32.onnx) by `edgeae train denoiser --temporal DESIGN`, with the same training images,
noise, patch size, batch size, epochs and patches per image, so every design gets the same number
of optimizer steps (its seconds are recorded too), at the learning rate of its own recipe: the
shipped `make pretrained-video` one (1e-3, only the fusion trains) for the recurrent model, 3e-4
for the stacked-frame models, whose every layer trains. Each is exported to float32 ONNX
(`edgeae export`, gated on clips as always) and run frame after frame through the runtime with its
history, like `edgeae run`.

Data: Train400's training split of the pretrained models (`split_indices(400, 0.1, 0)`); the
last VALIDATION of its stills are kept out of the fine-tuning and made into clips for the
measurement (benchmarks/video.py's clips: a camera on a smooth random path, two objects moving on
their own, 20 frames, Gaussian sigma 25 rounded to 8 bits). Neither Set12 nor the 40 held-out
Train400 images is read: this is a design choice, so it is made on validation data. `live` itself
is measured on the same clips as the reference every design starts from.

    .venv/bin/python benchmarks/temporal_design.py --data ../shared/data \
        --out benchmarks/results/temporal-design.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
from provenance import finished, provenance, write_result
from video import SEED, clip_of, noisy, quality, runtime_method

from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.pipeline import split_indices

VALIDATION, BATCH = 20, 16
DESIGNS = {"3 frames": ("3", "3e-4"), "5 frames": ("5", "3e-4"), "recurrent": ("recurrent", "1e-3")}
EDGEAE = [sys.executable, "-m", "edgeae"]


def split_stills(data: Path) -> tuple[list[Path], list[Path]]:
    """(stills to fine-tune on, stills to measure on), both from the training split."""
    paths = sorted((data / "train400").glob("*.png"))
    train, _held_out = split_indices(len(paths), 0.1, 0)
    ordered = [paths[i] for i in sorted(train)]
    return ordered[:-VALIDATION], ordered[-VALIDATION:]


def link_folder(stills: list[Path], folder: Path) -> Path:
    """A folder of links to `stills`, the form `train --data` reads."""
    folder.mkdir(parents=True)
    for path in stills:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def fine_tune(design: str, data: Path, work: Path, args: argparse.Namespace) -> dict:
    """Train one design from live_fp32.onnx and export it to float32 ONNX; its path and seconds."""
    temporal, rate = DESIGNS[design]
    out = work / temporal
    train = [*EDGEAE, "train", "denoiser", "--data", str(data), "--model", "unet",
             "--size", "small", "--temporal", temporal, "--noise", "gaussian:0-55",
             "--patch-size", "64", "--patches-per-image", str(args.patches_per_image),
             "--batch-size", str(BATCH), "--learning-rate", rate, "--epochs", str(args.epochs),
             "--patience", str(args.epochs), "--seed", str(SEED),
             "--initial-weights", str(PRETRAINED_DIR / "live_fp32.onnx"), "--out", str(out)]
    started = time.monotonic()
    subprocess.run(train, check=True)
    seconds = time.monotonic() - started
    subprocess.run([*EDGEAE, "export", str(out), "--format", "onnx", "--precision", "fp32",
                    "--out", str(out / "export")], check=True)
    history = np.genfromtxt(out / "history.csv", delimiter=",", names=True)
    return {"model": out / "export" / "model_fp32.onnx", "train_seconds": round(seconds, 1),
            "learning_rate": float(rate), "best_val_loss": float(np.min(history["val_loss"])),
            "epochs_run": int(np.size(history["val_loss"]))}


def validation_clips(stills: list[Path]) -> dict:
    """The measured clips, seeded like benchmarks/video.py's."""
    rng = np.random.default_rng(SEED)
    clips = {}
    for path in stills:
        clip = clip_of(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), rng)
        clips[f"validation/{path.name}"] = (clip, noisy(clip.frames[..., 0].astype(float), rng))
    return clips


def main() -> None:
    """Fine-tune every design, measure each and `live` on the validation clips, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per design (default 8)")
    parser.add_argument("--patches-per-image", type=int, default=6,
                        help="crops per still per epoch (default 6)")
    parser.add_argument("--designs", nargs="+", choices=sorted(DESIGNS), default=sorted(DESIGNS))
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/temporal-design.json"))
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/temporal_design.py", *sys.argv[1:]]))
    train_stills, measured = split_stills(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        data = link_folder(train_stills, Path(tmp) / "stills")
        trained = {d: fine_tune(d, data, Path(tmp), args) for d in args.designs}
        methods = {"live (single frame)": runtime_method(PRETRAINED_DIR / "live_fp32.onnx"),
                   **{d: runtime_method(t["model"]) for d, t in trained.items()}}
        scores = quality(methods, validation_clips(measured))
    training = {d: {k: v for k, v in t.items() if k != "model"} for d, t in trained.items()}
    fitted = len(split_indices(len(train_stills), 0.1, SEED)[0])  # train's own --val-split
    steps = -(-fitted * args.patches_per_image // BATCH) * args.epochs
    write_result({"provenance": finished(run), "training_stills": len(train_stills),
                  "validation_stills": [p.name for p in measured], "epochs": args.epochs,
                  "patches_per_image": args.patches_per_image, "steps": steps,
                  "training": training, "quality": scores["mean"]["validation"]}, args.out)


if __name__ == "__main__":
    main()
