r"""The recurrent history's resampling: `live-video`'s last output moved bilinearly or bicubically.

A recurrent model's last output is moved with the scene before it helps with the next frame
(runtime/history.py: RecurrentHistory, by the global shift phase correlation finds). Bilinear
resampling at a sub-pixel shift averages neighbouring pixels, so the history the model leans on
is blurred a little each time it is moved; bicubic resampling keeps more of its detail. This
script measures both on the same noisy clips and judges bicubic by the rule in BENCHMARKS.md
("The recurrent history's resampling").

Clips come from benchmarks/video.py's generator (FRAMES frames, a camera on a smooth random
path, two objects moving on their own, the largest of 240x320, 160x192 and 96x128 the still
allows), one per still, seeded by its index: `--stills validation` takes the 40 Train400 images
the pretrained models hold out (`live-video`'s validation split), `--stills set12` Set12's
twelve. Each clip gets Gaussian noise at each of SIGMAS (seeded, rounded to 8 bits); the same
noisy frames go to both resamplings. `live-video` int8 (the file it ships by default) and fp32
run through the runtime on 2 threads, every frame in order from a reset; metrics are video.py's
(core/metrics.py: PSNR, SSIM, flicker, moving-region PSNR) over every frame. The time to move
one 480x640 plane by each resampling is measured too (median of TIMED runs).

    .venv/bin/python benchmarks/history_warp.py --data ../shared/data --stills validation \
        --out benchmarks/results/history_warp_validation.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result
from video import FRAMES, clip_of

import edgeae.runtime as rt
from edgeae.core.metrics import video_metrics
from edgeae.core.progress import progress
from edgeae.runtime.history import RecurrentHistory, shift_planes
from edgeae.runtime.pretrained import pretrained_path
from edgeae.train.clips import Clip
from edgeae.train.pipeline import split_indices

SIGMAS, PRECISIONS, THREADS, TIMED = (15, 25, 50), ("int8", "fp32"), 2, 200
RESAMPLINGS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
DECIDING = "int8"  # the precision the rule judges (live-video's default file); fp32 is a look
GAIN_DB, SIGMA_DB, MOVING_DB, FLICKER_RISE, WARP_MS = 0.02, 0.01, 0.02, 0.01, 1.0  # W1-W5
METRICS = ("psnr", "ssim", "flicker", "moving_psnr")


def clips(data: Path, which: str, **motion: float) -> dict[str, Clip]:
    """{still's name: clip}: Set12's twelve, or the 40 held-out Train400 images.

    `motion`: the camera's turn and zoom (camera_path's), where not its own.
    """
    folder = data / ("set12" if which == "set12" else "train400")
    paths = sorted(folder.glob("*.png"))
    if which == "validation":
        paths = [paths[i] for i in split_indices(len(paths), 0.1, 0)[1]]
    return {p.name: clip_of(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), np.random.default_rng(i),
                            FRAMES, **motion) for i, p in enumerate(paths)}


def noisy(clip: Clip, sigma: float, seed: int) -> np.ndarray:
    """The clip's frames with Gaussian noise of `sigma`, rounded and clipped to 8 bits."""
    frames = clip.frames[..., 0].astype(np.float64)
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(np.rint(frames + noise), 0, 255).astype(np.uint8)


def streamed(model, frames: np.ndarray, resampling: str) -> np.ndarray:
    """Every frame denoised in order from a reset, the history moved by `resampling`."""
    RecurrentHistory.interpolation = RESAMPLINGS[resampling]
    model.reset()
    return np.stack([model.denoise(f) for f in frames])


def measure(models: dict, named_clips: dict[str, Clip]) -> list[dict]:
    """One row per (clip, sigma, precision, resampling): video.py's metrics.

    The runtime's own resampling is put back afterwards, whichever it is.
    """
    shipped, rows = RecurrentHistory.interpolation, []
    try:
        for k, (name, clip) in enumerate(progress(named_clips.items(), total=len(named_clips),
                                                  desc="clips")):
            rows += clip_rows(models, name, clip, k)
    finally:
        RecurrentHistory.interpolation = shipped
    return rows


def clip_rows(models: dict, name: str, clip: Clip, index: int) -> list[dict]:
    """One clip's rows: every sigma, precision and resampling on the same noisy frames."""
    moving, rows = (clip.moving if clip.moving.any() else None), []
    for sigma in SIGMAS:
        frames = noisy(clip, sigma, seed=1000 * index + sigma)
        for precision, model in models.items():
            for resampling in RESAMPLINGS:
                m = video_metrics(streamed(model, frames, resampling), clip.frames[..., 0],
                                  moving)
                rows.append({"still": name, "sigma": sigma, "precision": precision,
                             "resampling": resampling,
                             **{key: None if v is None else round(v, 4) for key, v in m.items()}})
    return rows


def means(rows: list[dict]) -> dict:
    """{precision: {sigma: {resampling: mean of each metric over the clips}}}."""
    return grouped_means(rows, itemgetter("precision"), itemgetter("resampling"), METRICS)


def grouped_means(rows: list[dict], outer: Callable[[dict], str],
                  column: Callable[[dict], str], metrics: tuple[str, ...]) -> dict:
    """{outer(row): {sigma: {column(row): mean of each metric over the clips}}}.

    A metric a clip does not have (None) is left out of its mean.
    """
    grouped: dict = {}
    for r in rows:
        grouped.setdefault(outer(r), {}).setdefault(str(r["sigma"]), {}) \
            .setdefault(column(r), []).append(r)
    return {o: {sigma: {c: {key: round(float(np.mean(
        [p[key] for p in picked if p[key] is not None])), 4) for key in metrics}
        for c, picked in per_column.items()} for sigma, per_column in per_sigma.items()}
        for o, per_sigma in grouped.items()}


def warp_ms() -> dict[str, float]:
    """Median ms to move one 480x640 float32 plane by a sub-pixel shift, per resampling."""
    plane = np.random.default_rng(0).random((1, 480, 640, 1), dtype=np.float32)
    out, times = np.empty_like(plane), {}
    for name, flag in RESAMPLINGS.items():
        runs = []
        for _ in range(TIMED):
            start = time.perf_counter()
            shift_planes(plane, 1.37, -0.62, out, flag)
            runs.append(time.perf_counter() - start)
        times[name] = round(1000 * float(np.median(runs)), 3)
    return times


def verdict(mean: dict, ms: dict[str, float]) -> dict:
    """W1-W5 for bicubic against bilinear on the DECIDING precision."""
    per_sigma = mean[DECIDING]
    delta = {s: {k: v["cubic"][k] - v["linear"][k] for k in METRICS}
             for s, v in per_sigma.items()}
    tests = {
        "W1 mean PSNR gain": (float(np.mean([d["psnr"] for d in delta.values()])), GAIN_DB),
        "W2 worst sigma's PSNR": (min(d["psnr"] for d in delta.values()), -SIGMA_DB),
        "W3 worst sigma's moving PSNR": (min(d["moving_psnr"] for d in delta.values()),
                                         -MOVING_DB),
        "W4 worst flicker rise": (max(d["flicker"] / per_sigma[s]["linear"]["flicker"]
                                      for s, d in delta.items()), FLICKER_RISE),
        "W5 warp ms added": (ms["cubic"] - ms["linear"], WARP_MS),
    }
    return {"delta": {s: {k: round(v, 4) for k, v in d.items()} for s, d in delta.items()},
            **judged(tests, floors=("W1", "W2", "W3"))}


def judged(tests: dict[str, tuple[float, float]], floors: tuple[str, ...]) -> dict:
    """Each test's (value, bound) held or not, and whether all hold.

    A test whose name starts with a prefix in `floors` must reach its bound; the others must
    stay within theirs.
    """
    held = {name: (value >= bound if name[:2] in floors else value <= bound)
            for name, (value, bound) in tests.items()}
    return {"tests": {name: {"value": round(v, 4), "bound": b, "holds": held[name]}
                      for name, (v, b) in tests.items()},
            "ships": all(held.values())}


def arguments(description: str) -> argparse.Namespace:
    """--data (with its train400/ and set12/ checked), --stills and --out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--stills", choices=("validation", "set12"), default="validation")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not (args.data / "train400").is_dir() or not (args.data / "set12").is_dir():
        sys.exit(f"error: {args.data} has no train400/ and set12/ folders")
    return args


def loaded(name: str, precision: str) -> rt.Denoiser:
    """A shipped denoiser's file through the runtime on THREADS threads."""
    return rt.load(pretrained_path(name, precision=precision), num_threads=THREADS,
                   task="denoise")


def main() -> None:
    """Measure both resamplings on the chosen stills; judge on validation."""
    args, run = arguments(__doc__.splitlines()[0]), provenance()
    models = {p: loaded("live-video", p) for p in PRECISIONS}
    rows = measure(models, clips(args.data, args.stills))
    mean, ms = means(rows), warp_ms()
    result = {"provenance": finished(run), "stills": args.stills, "frames": FRAMES,
              "clips": len({r["still"] for r in rows}), "warp_ms": ms, "mean": mean,
              "verdict": verdict(mean, ms) if args.stills == "validation" else None,
              "rows": rows}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
