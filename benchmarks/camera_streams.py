r"""Camera streams: `live-camera` frame by frame, a recurrent camera model, gated by noise level.

A recurrent model (`--temporal recurrent`) averages the noise over the frames before, which
pays where a camera's grain is strong and costs detail where it is faint. A stream can tell the
two apart by how strong its noise is (`NoiseMeter.spreads`, runtime/noise_kind.py: the median
absolute Haar detail at scale 1, `fine`, and at scale 2, `coarse`), so the recurrent model need
only take the streams whose level is at or above a cut. This script measures both models on
camera clips and judges gates (measure, cut) by the rule in BENCHMARKS.md ("Camera streams").

Clips of FRAMES frames come from stills by benchmarks/video.py's generator (a camera on a
smooth random path, two objects moving on their own, the largest of 240x320, 160x192 and 96x128
the still allows). Each goes through the camera noise model at each light level
(benchmarks/camera.py's `noisy_frames`, seed 0), uncoded and as one H.264 stream at CRF 23.
Each model denoises every frame in order from a reset, through onnxruntime on 2 threads; each
method is measured on the clip's tail (the last 20%, as camera.py) against the clean frames.
OpenCV's NLM gets each clip's best strength, chosen on the clip's head with the clean frames
(camera.py's oracle). A stream's levels are what a gate holds during the tail: the medians of
those measured at frames 0, EVERY, 2 EVERY, ... before it.

    --stills validation: the first 16 held-out Train400 images; the gate is chosen.
    --stills confirm: the other 24; the chosen --gate MEASURE:CUT is confirmed or not.
    --stills set12: Set12's twelve images at --gate, deciding nothing.
    --live-auto: each clip also through the shipped `live-auto` as the runtime runs it (its kind
        gate, and the recurrent member from a stream's second frame), beside the pair above.

    .venv/bin/python benchmarks/camera_streams.py --data ../shared/data --stills validation \
        --recurrent WORK/export/model_int8.onnx --out OUT.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from camera import best_nlm_strength, head_and_tail, mean_quality, nlm_quality, noisy_frames
from provenance import finished, provenance, write_result
from video import clip_of

import edgeae.runtime as rt
from edgeae.runtime.gated import EVERY
from edgeae.runtime.noise_kind import NoiseMeter
from edgeae.runtime.pretrained import pretrained_path, pretrained_paths
from edgeae.train.pipeline import split_indices

FRAMES, VALIDATION_STILLS, THREADS = 20, 16, 2  # video.py's length: every Train400 still hosts it
LEVELS, CRFS = ("bright", "indoor", "dim", "night"), (None, 23)
LOW_LIGHT = ("dim", "night")
CUTS = tuple(round(float(c), 2) for c in np.arange(0.5, 25.01, 0.25)) + (float("inf"),)
TIE_DB = 0.005  # cuts this close on the mean are tied: the larger (fewer recurrent streams) wins
WORST_DB = 0.05  # the most a setting may lose to the single model
MEASURES = ("fine", "coarse")  # NoiseMeter.spreads' scale-1 and scale-2 spreads
STILLS = ("validation", "confirm", "set12")


def clean_clips(data: Path, which: str) -> dict[str, np.ndarray]:
    """{still's name: clean clip}: Set12's twelve, or held-out Train400 images.

    Of the 40 held-out images, each that hosts a FRAMES-frame clip (at the slower speed where it
    must) makes one, in order; the first VALIDATION_STILLS are `validation`, the rest `confirm`.
    """
    folder = data / ("set12" if which == "set12" else "train400")
    paths = sorted(folder.glob("*.png"))
    if which != "set12":
        paths = [paths[i] for i in split_indices(len(paths), 0.1, 0)[1]]
    clips = {}
    for path in paths:
        still = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        try:
            clips[path.name] = clip_of(still, np.random.default_rng(len(clips)), FRAMES).frames
        except ValueError:
            continue
    names = list(clips)
    chosen = {"validation": names[:VALIDATION_STILLS], "confirm": names[VALIDATION_STILLS:]}
    return {name: clips[name] for name in chosen.get(which, names)}


def streamed(model, noisy: np.ndarray) -> tuple[list[np.ndarray], list[str | None]]:
    """Every frame denoised in order from a reset, as a stream runs, and each one's member.

    The member is the one a noise-gated model chose for the frame (None for a single model).
    """
    model.reset()
    outputs, chosen = [], []
    for frame in noisy:
        outputs.append(model.denoise(frame[..., 0]))
        chosen.append(getattr(model, "chosen", None))
    return outputs, chosen


def measured_levels(noisy: np.ndarray, first_tail: int) -> dict[str, float]:
    """The median spreads a gate has measured (one frame in EVERY) before the tail, by scale."""
    meter = NoiseMeter()
    spreads = [meter.spreads(noisy[i]) for i in range(0, first_tail, EVERY)]
    return {name: round(float(np.median([s[k] for s in spreads])), 3)
            for k, name in enumerate(MEASURES)}


def measure_clip(name: str, clean: np.ndarray, level: str, crf: int | None,
                 models: dict) -> dict:
    """One clip at one setting: NLM, each model, and the level, on the tail."""
    noisy = noisy_frames(clean, level, crf=crf)
    head, tail = head_and_tail(len(clean))
    h = best_nlm_strength(clean, noisy, head)
    row = {"still": name, "level": level, "crf": crf, "size": list(clean.shape[1:3]),
           "levels": measured_levels(noisy, tail.start), "nlm_h": h,
           "nlm": nlm_quality(clean, noisy, tail, h)}
    for label, model in models.items():
        outputs, _ = streamed(model, noisy)
        row[label] = mean_quality(clean, {i: outputs[i] for i in tail})
        row[f"{label} first"] = mean_quality(clean, {0: outputs[0]})  # a still: no history
    return {k: ({m: round(v, 4) for m, v in value.items()} if isinstance(value, dict) else value)
            for k, value in row.items()}


def setting_name(level: str, crf: int | None) -> str:
    """A setting's label: the light level, and H.264's CRF where coded."""
    return level if crf is None else f"{level}, H.264 {crf}"


def goes_recurrent(row: dict, gate: tuple[str, float]) -> bool:
    """Whether a gate (measure, cut) sends the clip to the recurrent model."""
    measure, cut = gate
    return row["levels"][measure] >= cut


def pair_psnr(row: dict, gate: tuple[str, float]) -> float:
    """The gated pair's PSNR on one clip."""
    return row["recurrent" if goes_recurrent(row, gate) else "single"]["psnr"]


def by_setting(rows: list[dict], value) -> dict[str, float]:
    """{setting: mean over its clips of value(row)}."""
    names = dict.fromkeys(setting_name(r["level"], r["crf"]) for r in rows)
    return {n: float(np.mean([value(r) for r in rows if setting_name(r["level"], r["crf"]) == n]))
            for n in names}


def gains(rows: list[dict], gate: tuple[str, float]) -> dict[str, float]:
    """{setting: the pair's mean gain in dB over the single model}."""
    return by_setting(rows, lambda r: pair_psnr(r, gate) - r["single"]["psnr"])


def first_rule(rows: list[dict]) -> tuple[str, float]:
    """The first rule's gate: the coarse level at the cut of the best mean gain (ties: larger)."""
    means = {cut: float(np.mean(list(gains(rows, ("coarse", cut)).values()))) for cut in CUTS}
    best = max(means.values())
    return "coarse", max(cut for cut, mean in means.items() if mean >= best - TIE_DB)


def admissible_choice(rows: list[dict]) -> tuple[str, float]:
    """The amended rule's gate: the best mean gain of those losing at most WORST_DB anywhere.

    Ties within TIE_DB go to the coarse measure (the rule's first), then to the larger cut.
    """
    means = {}
    for gate in ((measure, cut) for measure in MEASURES for cut in CUTS):
        by = gains(rows, gate)
        if min(by.values()) >= -WORST_DB:
            means[gate] = float(np.mean(list(by.values())))
    best = max(means.values())
    tied = [gate for gate, mean in means.items() if mean >= best - TIE_DB]
    return max(tied, key=lambda gate: (gate[0] == "coarse", gate[1]))


def verdict(rows: list[dict], gate: tuple[str, float]) -> dict:
    """R1-R3 (BENCHMARKS.md, camera streams) at `gate`: gains over the single model."""
    by = gains(rows, gate)
    low = [g for name, g in by.items() if name.split(",")[0] in LOW_LIGHT]
    worst, low_gain = min(by.values()), float(np.mean(low))
    taken = [r["recurrent first"]["psnr"] - r["single first"]["psnr"]
             for r in rows if goes_recurrent(r, gate)]
    still = float(np.mean(taken)) if taken else 0.0
    return {"measure": gate[0], "cut": gate[1], "gains": {k: round(v, 3) for k, v in by.items()},
            "worst_gain": round(worst, 3), "low_light_gain": round(low_gain, 3),
            "still_gain": round(still, 3), "recurrent_clips": len(taken),
            "passes": worst >= -WORST_DB and low_gain >= 0.30 and still >= -0.10}


def main() -> None:
    """Measure every clip at every setting; score the cuts; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--stills", choices=STILLS, default="validation",
                        help="validation: choose the gate; confirm, set12: measure --gate's")
    parser.add_argument("--recurrent", type=Path, required=True, help="the recurrent ONNX file")
    parser.add_argument("--single", type=Path,
                        default=pretrained_path("live-camera", "onnxruntime", "int8"))
    parser.add_argument("--gate", help="MEASURE:CUT to measure (confirm, set12), e.g. fine:3")
    parser.add_argument("--live-auto", action="store_true",
                        help="also stream each clip through the shipped live-auto (int8 ONNX) as "
                             "the runtime runs it, to check it against the pair measured here")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/camera_streams.py", *sys.argv[1:]]))
    models = {label: rt.load(path, "onnxruntime", THREADS, task="denoise")
              for label, path in (("single", args.single), ("recurrent", args.recurrent))}
    if args.live_auto:
        models["live-auto"] = rt.NoiseGated(
            *(rt.load(path, "onnxruntime", THREADS, task="denoise")
              for path in pretrained_paths("live-auto", "onnxruntime", "int8")))
    rows = []
    for name, clean in clean_clips(args.data, args.stills).items():
        for crf in CRFS:
            for level in LEVELS:
                rows.append(measure_clip(name, clean, level, crf, models))
                print(rows[-1], flush=True)
    result = {"provenance": finished(run), "stills": args.stills, "frames": FRAMES,
              "models": {"single": str(args.single), "recurrent": str(args.recurrent)},
              "rows": rows}
    if args.gate:
        measure, cut = args.gate.split(":")
        result["verdict"] = verdict(rows, (measure, float(cut)))
    else:
        result["first_rule"] = verdict(rows, first_rule(rows))
        result["verdict"] = verdict(rows, admissible_choice(rows))
    print(result["verdict"])
    write_result(result, args.out)


if __name__ == "__main__":
    main()
