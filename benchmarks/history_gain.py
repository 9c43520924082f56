r"""The recurrent history's brightness: `live-video`'s last output scaled with a fade, or not.

A recurrent model's last output helps with the next frame (runtime/history.py: RecurrentHistory).
When the light changes (a fade, a camera's exposure), the last output is brighter or darker than
the frame it helps with, and the model, trained on steady light, leans on it anyway: on a fade
of 4% a frame `live-video` trailed 2.5-3.9 levels too bright and fell up to 1.8 dB behind the
single-frame `live`. The candidate (`RecurrentHistory.match_brightness`) scales the moved output
by the ratio of the two frames' means (`brightness_gain`, on the shrunk copies the shift is
measured on). This script measures both on the same noisy clips and judges the candidate by the
rule in BENCHMARKS.md ("The recurrent history's brightness").

Clips are history_warp.py's (video.py's generator, FRAMES frames, one per still: `--stills
validation` the 40 Train400 images the pretrained models hold out, `--stills set12` Set12's
twelve), each in KINDS: steady light as made, a fade down (frame t's light times FADE ** t)
and a fade up (the same, backwards), the fade applied to the clean frames before the noise.
Noise at each of SIGMAS (seeded, rounded to 8 bits); the same noisy frames go to both arms.
`live-video` int8 (its default file) runs through the runtime on 2 threads, every frame in
order from a reset, and `live` int8 beside it (a look, deciding nothing); metrics are video.py's
over every frame, plus `bias`, the mean of output minus clean frame in levels. The time the
candidate adds to a 480x640 frame is measured too (median of TIMED runs).

    .venv/bin/python benchmarks/history_gain.py --data ../shared/data --stills validation \
        --out benchmarks/results/history_gain_validation.json
"""

from __future__ import annotations

import time
from operator import itemgetter

import numpy as np
from history_warp import arguments, clips, grouped_means, judged, loaded, noisy
from provenance import finished, provenance, write_result
from video import FRAMES

from edgeae.core.metrics import video_metrics
from edgeae.core.progress import progress
from edgeae.runtime.history import RecurrentHistory, brightness_gain, shrunk
from edgeae.train.clips import Clip

SIGMAS, PRECISIONS, TIMED, FADE = (15, 25, 50), ("int8",), 200, 0.96
KINDS = ("steady", "fade down", "fade up")
ARMS = {"as is": False, "matched": True}  # RecurrentHistory.match_brightness
DECIDING = "int8"  # the precision the rule judges (live-video's default file)
FADE_GAIN_DB, FADE_WORST_DB, STEADY_DB, MOVING_DB, FLICKER_RISE, ADDED_MS = \
    0.1, -0.05, -0.01, -0.02, 0.01, 0.5  # B1-B6
METRICS = ("psnr", "ssim", "flicker", "moving_psnr", "bias")


def lit(clip: Clip, kind: str) -> Clip:
    """The clip in `kind`'s light: as made, or each frame's light scaled along a fade."""
    if kind == "steady":
        return clip
    steps = np.arange(len(clip.frames), dtype=np.float64)
    light = FADE ** (steps if kind == "fade down" else steps[::-1])
    frames = np.rint(clip.frames * light[:, None, None, None]).astype(clip.frames.dtype)
    return Clip(frames=frames, moving=clip.moving)


def streamed(model, frames: np.ndarray, matched: bool) -> np.ndarray:
    """Every frame denoised in order from a reset, the history scaled with the light or not."""
    RecurrentHistory.match_brightness = matched
    model.reset()
    return np.stack([model.denoise(f) for f in frames])


def scored(outputs: np.ndarray, clip: Clip) -> dict:
    """video.py's metrics and the mean bias in levels, rounded."""
    clean = clip.frames[..., 0]
    m = video_metrics(outputs, clean, clip.moving if clip.moving.any() else None)
    m["bias"] = float(np.mean(outputs.astype(np.float64) - clean))
    return {key: None if v is None else round(v, 4) for key, v in m.items()}


def clip_rows(models: dict, single, name: str, clip: Clip, index: int) -> list[dict]:
    """One clip's rows: every kind, sigma, precision and arm on the same noisy frames."""
    rows = []
    for kind in KINDS:
        shown = lit(clip, kind)
        for sigma in SIGMAS:
            frames = noisy(shown, sigma, seed=1000 * index + sigma)
            base = {"still": name, "kind": kind, "sigma": sigma}
            for precision, model in models.items():
                rows += [{**base, "model": "live-video", "precision": precision, "arm": arm,
                          **scored(streamed(model, frames, matched), shown)}
                         for arm, matched in ARMS.items()]
            single.reset()
            rows.append({**base, "model": "live", "precision": "int8", "arm": "single frame",
                         **scored(np.stack([single.denoise(f) for f in frames]), shown)})
    return rows


def measure(models: dict, single, named_clips: dict[str, Clip]) -> list[dict]:
    """Every clip's rows; the runtime's own setting is put back afterwards, whichever it is."""
    shipped, rows = RecurrentHistory.match_brightness, []
    try:
        for k, (name, clip) in enumerate(progress(named_clips.items(), total=len(named_clips),
                                                  desc="clips")):
            rows += clip_rows(models, single, name, clip, k)
    finally:
        RecurrentHistory.match_brightness = shipped
    return rows


def means(rows: list[dict]) -> dict:
    """{kind: {sigma: {"model precision arm": mean of each metric over the clips}}}."""
    return grouped_means(rows, itemgetter("kind"),
                         lambda r: f"{r['model']} {r['precision']} {r['arm']}", METRICS)


def added_ms() -> float:
    """Median ms the candidate adds to a 480x640 frame: the gain and the scaling of the plane."""
    plane = np.random.default_rng(0).random((480, 640), dtype=np.float32)
    last, current = shrunk(plane), shrunk(0.98 * plane)  # a fade: the gain is not 1
    history, out, runs = RecurrentHistory(), plane[None, :, :, None].copy(), []
    for _ in range(TIMED):
        start = time.perf_counter()
        history._brightened(out, [brightness_gain(last, current)])
        runs.append(time.perf_counter() - start)
    return round(1000 * float(np.median(runs)), 3)


def verdict(mean: dict, ms: float) -> dict:
    """B1-B6 for the matched history against as is, on the DECIDING precision."""
    old, new = f"live-video {DECIDING} as is", f"live-video {DECIDING} matched"
    delta = {kind: {s: {k: v[new][k] - v[old][k] for k in METRICS if k != "bias"}
                    for s, v in per_sigma.items()} for kind, per_sigma in mean.items()}
    fades = [d for kind, per in delta.items() if kind != "steady" for d in per.values()]
    steady = delta["steady"]
    tests = {
        "B1 mean PSNR gain on fades": (float(np.mean([d["psnr"] for d in fades])), FADE_GAIN_DB),
        "B2 worst fade and sigma's PSNR": (min(d["psnr"] for d in fades), FADE_WORST_DB),
        "B3 worst steady sigma's PSNR": (min(d["psnr"] for d in steady.values()), STEADY_DB),
        "B4 worst steady sigma's moving PSNR": (min(d["moving_psnr"] for d in steady.values()),
                                                MOVING_DB),
        "B5 worst steady flicker rise": (max(d["flicker"] / mean["steady"][s][old]["flicker"]
                                             for s, d in steady.items()), FLICKER_RISE),
        "B6 ms added at 480x640": (ms, ADDED_MS),
    }
    return {"delta": {kind: {s: {k: round(v, 4) for k, v in d.items()} for s, d in per.items()}
                      for kind, per in delta.items()},
            **judged(tests, floors=("B1", "B2", "B3", "B4"))}


def main() -> None:
    """Measure both arms on the chosen stills; judge on validation."""
    args, run = arguments(__doc__.splitlines()[0]), provenance()
    models = {p: loaded("live-video", p) for p in PRECISIONS}
    rows = measure(models, loaded("live", "int8"), clips(args.data, args.stills))
    mean, ms = means(rows), added_ms()
    result = {"provenance": finished(run), "stills": args.stills, "frames": FRAMES, "fade": FADE,
              "clips": len({r["still"] for r in rows}), "added_ms": ms, "mean": mean,
              "verdict": verdict(mean, ms) if args.stills == "validation" else None,
              "rows": rows}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
