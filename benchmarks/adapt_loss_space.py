"""Frame-to-frame loss in sRGB or in linear light: which makes `edgeae adapt` tune better?

The mean of a camera's noisy 8-bit frames is darker than its noiseless rendering (the tone curve
bends the noise, and the sensor clips at zero), and averaging in linear light shrinks that offset
(benchmarks/camera_mean.py). Frame-to-frame training learns that mean, so taking its squared
error in linear light (`AdaptSettings.loss_space`, train/adapt.py LOSS_SPACES; the held-out loss
that keeps or drops the tuning is taken there too) may let `adapt` reach further. For each light
level and start model, `adapt` runs once per loss space from the same start on the same noisy
frames, for a fixed number of epochs (so the two get the same training, whatever the machine's
speed), and the PSNR on the held-out tail is measured against the pristine and the rendered
frames (as benchmarks/adapt_keep_test.py).

Two clips: the validation clip, on which the default is chosen (a held-out Train400 image at its
own scale, 128x128 frames, the camera at a third of camera.py's speed so the small still holds
the path), and the test clip, camera.py's (Set12's 08.png, 240x320), which only reports.
The rule, fixed before any run: linear light becomes the default if on the validation clip its
mean PSNR against the pristine frames over every (level, start) is higher than sRGB's and it is
nowhere more than 0.1 dB lower.

    .venv/bin/python benchmarks/adapt_loss_space.py --data ../shared/data \
        --out benchmarks/results/adapt_loss_space.json       # about an hour on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from adapt_keep_test import gains, psnr
from camera import (
    FRAMES,
    OBJECTS,
    SMALL_UNETS,
    STILL,
    noisy_frames,
    pretrained_start,
    rendered_frames,
    start_model,
    still_clip,
    write_frames,
)
from provenance import finished, provenance, write_result

from edgeae.core.data import Preprocess, load_data
from edgeae.core.manifest import PassPrecision
from edgeae.train.adapt import LOSS_SPACES, Start, adapt, denoised_guides, split_frames
from edgeae.train.clips import clip_from_still
from edgeae.train.pipeline import split_indices
from edgeae.train.settings import AdaptSettings

EPOCHS = 4  # about camera.py's 2-minute budget on these 2 cores
VAL_SIZE, VAL_SPEED = (128, 128), 0.5  # frames of a 180x180 Train400 still


def validation_clip(data: Path) -> np.ndarray:
    """Clean uint8 frames of a camera over the first held-out Train400 image (the models' split)."""
    paths = sorted((data / "train400").glob("*.png"))
    _, held = split_indices(len(paths), 0.1, 0)
    image = cv2.imread(str(paths[held[0]]), cv2.IMREAD_GRAYSCALE)[..., None]
    return clip_from_still(image, FRAMES, VAL_SIZE, np.random.default_rng(0), objects=OBJECTS,
                           speed=VAL_SPEED).frames


def tuned(start: str, noisy: np.ndarray, **setting: str):
    """`edgeae adapt --pretrained START` for EPOCHS epochs with one setting changed; the model."""
    model, manifest = start_model(start)
    with tempfile.TemporaryDirectory() as tmp:
        footage = write_frames(Path(tmp) / "frames", noisy)
        result = adapt(pretrained_start(start, model, manifest),
                       load_data(str(footage), Preprocess(1)).train, Path(tmp) / "adapted",
                       AdaptSettings(minutes=60, max_epochs=EPOCHS, keep="loss", **setting),
                       verbose=0)  # the tuning itself, whatever a keep-test would decide
    return model, result.training.adaptation


def measure(clip: str, clean: np.ndarray, level: str, start: str, field: str = "loss_space",
            values=tuple(LOSS_SPACES), crf: int | None = None,
            tune: Callable[[np.ndarray, str], tuple] | None = None) -> dict:
    """PSNR before adapt, and after it with each of `values` for AdaptSettings `field`.

    `crf`: the noisy clip coded as one H.264 stream at that rate factor first (camera.py --h264).
    `tune(noisy, value)`: (model, adaptation) for a value that is not an AdaptSettings field.
    """
    tune = tune or (lambda noisy, value: tuned(start, noisy, **{field: value}))
    noisy, truths = noisy_frames(clean, level, crf=crf), {"pristine": clean,
                                                           "rendered": rendered_frames(clean)}
    tail = range(len(clean))[split_frames(len(clean), AdaptSettings().holdout)[1]]
    before = psnr(start_model(start)[0], truths, noisy, tail)
    row = {"clip": clip, "level": level, "start": start,
           "psnr_before": {k: round(v, 2) for k, v in before.items()}}
    for value in values:
        model, adaptation = tune(noisy, value)
        row[value] = {"gain": gains(psnr(model, truths, noisy, tail), before),
                      "kept": adaptation.kept, "loss_before": round(adaptation.val_loss_before, 7),
                      "loss_after": round(adaptation.val_loss_after, 7),
                      "brightness": adaptation.brightness}
        print(row["clip"], level, start, value, row[value], flush=True)
    return row


def choice(rows: list[dict], today: str = "srgb", candidate: str = "linear",
           slack: float = 0.0) -> dict:
    """The rule in the module docstring, on the validation rows: `candidate` against `today`.

    `slack`: how far below today's mean gain the candidate's may be and still win (a change
    made for speed need not gain, only not lose).
    """
    deltas = [row[candidate]["gain"]["pristine"] - row[today]["gain"]["pristine"] for row in rows]
    wins = np.mean(deltas) > -slack and min(deltas) >= -0.1
    return {f"mean_{candidate}_minus_{today}": round(float(np.mean(deltas)), 3),
            "worst": round(float(min(deltas)), 2), "default": candidate if wins else today}


def comparison_args(description: str, levels: str, h264: bool = False,
                    extra: Callable[[argparse.ArgumentParser], None] | None = None,
                    ) -> argparse.Namespace:
    """The command line of this script and of the comparisons built on it.

    `h264`: offer --h264 CRF (the noisy clips coded as one stream each, as camera.py's);
    `extra`: adds a comparison's own arguments.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--levels", default=levels, help="camera presets")
    parser.add_argument("--clips", default="validation,test", help="which clips to run")
    if h264:
        parser.add_argument("--h264", type=int, metavar="CRF", default=None,
                            help="code each noisy clip as one H.264 stream at this rate factor")
    if extra is not None:
        extra(parser)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


def clips(args: argparse.Namespace) -> Iterator[tuple[str, np.ndarray]]:
    """(name, clean frames) of each clip --clips names: the validation clip, the test clip."""
    still = cv2.imread(str(args.data / "set12" / STILL), cv2.IMREAD_GRAYSCALE)[..., None]
    makers = {"validation": lambda: validation_clip(args.data), "test": lambda: still_clip(still)}
    for name in args.clips.split(","):
        yield name, makers[name]()


def compare(doc: str, script: str, start: str, field: str, values: tuple[str, str],
            targets: tuple[str, Callable[[np.ndarray, str], dict]], slack: float = 0.0) -> None:
    """Run a comparison built on this one and write its rows and choice.

    Every clip and level is adapted from `start` with each of `values` (today's default first)
    for AdaptSettings `field`; `targets` is (row key, measure of the clean frames at a level)
    of what each value makes adapt learn; `slack` goes to `choice`.
    """
    args = comparison_args(doc.splitlines()[0], "indoor,dim,night")
    key, of_targets = targets
    rows = [{**measure(clip, clean, level, start, field, values), key: of_targets(clean, level)}
            for clip, clean in clips(args) for level in args.levels.split(",")]
    write_comparison(script, rows, values, args.out, slack)


def start_guides(start: str, clean: np.ndarray, level: str,
                 passes: PassPrecision) -> list[np.ndarray]:
    """The planes adapt computes the flow on: shipped `start`'s output for the clip's frames.

    `passes`: which of its files (AdaptSettings.passes) denoises them.
    """
    return shipped_guides(start, noisy_frames(clean, level), passes)


def shipped_guides(start: str, noisy: np.ndarray, passes: PassPrecision) -> list[np.ndarray]:
    """Shipped `start`'s output planes for noisy uint8 frames, as adapt's pass makes them."""
    return denoised_guides(Start(None, None, f"pretrained:{start}", "", start), list(noisy),
                           passes)


def write_comparison(script: str, rows: list[dict], values: tuple[str, str],
                     out: Path | None, slack: float = 0.0) -> None:
    """The rows, the epochs and the choice the validation rows make, with the provenance."""
    validation = [row for row in rows if row["clip"] == "validation"]
    command = " ".join([f"python benchmarks/{script}", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "epochs": EPOCHS, "rows": rows,
                  "choice": choice(validation, *values, slack) if validation else None}, out)


def main() -> None:
    """Measure both clips at each level from each start model; write the rows and the choice."""
    args = comparison_args(__doc__.splitlines()[0], "dim,night,indoor")
    rows = [measure(clip, clean, level, start) for clip, clean in clips(args)
            for level in args.levels.split(",") for start in SMALL_UNETS]
    write_comparison("adapt_loss_space.py", rows, ("srgb", "linear"), args.out)


if __name__ == "__main__":
    main()
