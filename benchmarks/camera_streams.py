"""Camera streams: `live-camera` frame by frame, a recurrent camera model, and the two gated by level.

A recurrent model (`--temporal recurrent`) averages the noise over the frames before, which
pays where a camera's grain is strong and costs detail where it is faint. A stream can tell the
two apart by the noise's level (`NoiseMeter.level`, runtime/noise_kind.py), so the recurrent
model need only take the streams whose level is at or above a cut. This script measures both
models on camera clips and scores every cut.

Clips of FRAMES frames come from stills by benchmarks/video.py's generator (a camera on a
smooth random path, two objects moving on their own, the largest of 240x320, 160x192 and 96x128
the still allows). Each goes through the camera noise model at each light level
(benchmarks/camera.py's `noisy_frames`, seed 0), uncoded and as one H.264 stream at CRF 23.
Each model denoises every frame in order from a reset, through onnxruntime on 2 threads; each
method is measured on the clip's tail (the last 20%, as camera.py) against the clean frames.
OpenCV's NLM gets each clip's best strength, chosen on the clip's head with the clean frames
(camera.py's oracle). A stream's level is what a gate holds during the tail: the median of the
levels measured at frames 0, EVERY, 2 EVERY, ... before it.

    --stills validation: 16 of the 40 Train400 images `edgeae train` holds out; every cut is
        scored and the rule written in BENCHMARKS.md before the run picks one ("Camera streams").
    --stills set12: Set12's twelve images, at `--cut`, deciding nothing.

    .venv/bin/python benchmarks/camera_streams.py --data ../shared/data --stills validation \\
        --recurrent WORK/export/model_int8.onnx --out benchmarks/results/camera_streams_validation.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from camera import NLM_STRENGTHS, mean_quality, nlm_quality, noisy_frames
from provenance import finished, provenance, write_result
from video import clip_of

import edgeae.runtime as rt
from edgeae.runtime.gated import EVERY
from edgeae.runtime.noise_kind import NoiseMeter
from edgeae.runtime.pretrained import pretrained_path
from edgeae.train.adapt import split_frames
from edgeae.train.pipeline import split_indices
from edgeae.train.settings import AdaptSettings

FRAMES, VALIDATION_STILLS, THREADS = 20, 16, 2  # video.py's clip length: every Train400 still hosts it
LEVELS, CRFS = ("bright", "indoor", "dim", "night"), (None, 23)
LOW_LIGHT = ("dim", "night")
CUTS = tuple(round(float(c), 2) for c in np.arange(0.5, 25.01, 0.25)) + (float("inf"),)
TIE_DB = 0.005  # cuts this close on the mean are tied: the larger (fewer recurrent streams) wins


def clean_clips(data: Path, which: str) -> dict[str, np.ndarray]:
    """{still's name: clean clip}: the held-out Train400 images measured, or Set12's twelve.

    A held-out still too small for a FRAMES-frame clip even at the slower speed is passed over
    for the next, until VALIDATION_STILLS.
    """
    if which == "set12":
        paths = sorted((data / "set12").glob("*.png"))
    else:
        paths = sorted((data / "train400").glob("*.png"))
        paths = [paths[i] for i in split_indices(len(paths), 0.1, 0)[1]]
    clips = {}
    for path in paths:
        still = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        try:
            clips[path.name] = clip_of(still, np.random.default_rng(len(clips)), FRAMES).frames
        except ValueError:
            continue
        if which != "set12" and len(clips) == VALIDATION_STILLS:
            break
    return clips


def streamed(model, noisy: np.ndarray) -> list[np.ndarray]:
    """Every frame denoised in order from a reset, as a stream runs."""
    model.reset()
    return [model.denoise(frame[..., 0]) for frame in noisy]


def measured_level(noisy: np.ndarray, first_tail: int) -> float:
    """The median level a gate has measured (one frame in EVERY) before the tail."""
    meter = NoiseMeter()
    return float(np.median([meter.level(noisy[i]) for i in range(0, first_tail, EVERY)]))


def measure_clip(name: str, clean: np.ndarray, level: str, crf: int | None,
                 models: dict) -> dict:
    """One clip at one setting: NLM, each model, and the level, on the tail."""
    noisy = noisy_frames(clean, level, crf=crf)
    head_part, tail_part = split_frames(len(clean), AdaptSettings().holdout)
    head, tail = range(len(clean))[head_part], range(len(clean))[tail_part]
    h = max(NLM_STRENGTHS, key=lambda s: nlm_quality(clean, noisy, head[::6], s)["psnr"])
    row = {"still": name, "level": level, "crf": crf, "size": list(clean.shape[1:3]),
           "measured": round(measured_level(noisy, tail.start), 3), "nlm_h": h,
           "nlm": nlm_quality(clean, noisy, tail, h)}
    for label, model in models.items():
        outputs = streamed(model, noisy)
        row[label] = mean_quality(clean, {i: outputs[i] for i in tail})
        row[f"{label} first"] = mean_quality(clean, {0: outputs[0]})  # a still: no history
    return {k: ({m: round(v, 4) for m, v in value.items()} if isinstance(value, dict) else value)
            for k, value in row.items()}


def setting_name(level: str, crf: int | None) -> str:
    """A setting's label: the light level, and H.264's CRF where coded."""
    return level if crf is None else f"{level}, H.264 {crf}"


def pair_psnr(row: dict, cut: float) -> float:
    """The gated pair's PSNR on one clip: the recurrent model's at or above the cut."""
    return row["recurrent"]["psnr"] if row["measured"] >= cut else row["single"]["psnr"]


def by_setting(rows: list[dict], value) -> dict[str, float]:
    """{setting: mean over its clips of value(row)}."""
    names = dict.fromkeys(setting_name(r["level"], r["crf"]) for r in rows)
    return {n: float(np.mean([value(r) for r in rows if setting_name(r["level"], r["crf"]) == n]))
            for n in names}


def cut_scores(rows: list[dict]) -> dict[float, float]:
    """{cut: mean over the settings of the pair's mean PSNR}."""
    return {cut: float(np.mean(list(by_setting(rows, lambda r: pair_psnr(r, cut)).values())))
            for cut in CUTS}


def chosen_cut(scores: dict[float, float]) -> float:
    """The rule's cut: the best mean, the largest cut among those within TIE_DB of it."""
    best = max(scores.values())
    return max(cut for cut, score in scores.items() if score >= best - TIE_DB)


def verdict(rows: list[dict], cut: float) -> dict:
    """The rule's tests at `cut` (R1-R3 in BENCHMARKS.md): gains over the single model."""
    gains = by_setting(rows, lambda r: pair_psnr(r, cut) - r["single"]["psnr"])
    low = [g for name, g in gains.items() if name.split(",")[0] in LOW_LIGHT]
    worst, low_gain = min(gains.values()), float(np.mean(low))
    taken = [r["recurrent first"]["psnr"] - r["single first"]["psnr"]
             for r in rows if r["measured"] >= cut]
    still = float(np.mean(taken)) if taken else 0.0
    return {"cut": cut, "gains": {k: round(v, 3) for k, v in gains.items()},
            "worst_gain": round(worst, 3), "low_light_gain": round(low_gain, 3),
            "still_gain": round(still, 3),
            "passes": worst >= -0.05 and low_gain >= 0.30 and still >= -0.10}


def main() -> None:
    """Measure every clip at every setting; score the cuts; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--stills", choices=("validation", "set12"), default="validation")
    parser.add_argument("--recurrent", type=Path, required=True, help="the recurrent ONNX file")
    parser.add_argument("--single", type=Path,
                        default=pretrained_path("live-camera", "onnxruntime", "int8"))
    parser.add_argument("--cut", type=float, help="the level cut to report (set12)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/camera_streams.py", *sys.argv[1:]]))
    models = {label: rt.load(path, "onnxruntime", THREADS, task="denoise")
              for label, path in (("single", args.single), ("recurrent", args.recurrent))}
    rows = []
    for name, clean in clean_clips(args.data, args.stills).items():
        for crf in CRFS:
            for level in LEVELS:
                rows.append(measure_clip(name, clean, level, crf, models))
                print(rows[-1], flush=True)
    scores = cut_scores(rows)
    cut = args.cut if args.cut is not None else chosen_cut(scores)
    result = {"provenance": finished(run), "stills": args.stills, "frames": FRAMES,
              "models": {"single": str(args.single), "recurrent": str(args.recurrent)},
              "rows": rows, "cut_scores": {str(k): round(v, 4) for k, v in scores.items()},
              "verdict": verdict(rows, cut)}
    print(result["verdict"])
    write_result(result, args.out)


if __name__ == "__main__":
    main()
