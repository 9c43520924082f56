"""Video denoising side by side: single-frame `live`, temporal `live-video`, OpenCV's NLM.

Clips are made by train/clips.py from Set12 and from Train400 images held out of training (the
validation split `python -m edgeae.train.pretrain` and `make pretrained` hold out): a camera on a
smooth random path (sub-pixel pan, small turn and zoom) and two objects moving on their own,
FRAMES frames of the largest of 240x320, 160x192 and 96x128 the still allows (for a few Train400
stills only at half the camera speed), then Gaussian noise
of sigma 25 (seeded, rounded to 8 bits) in every frame. Any real video given with --video is
used too (its frames as the clean reference, the same noise added; no moving-object masks).

Methods, all on the same noisy frames:
- `live` and `live-video`, fp32 and int8 TFLite through LiteRT, and `live-video`'s int8 ONNX
  through onnxruntime, frame after frame through the runtime
  (`Denoiser.denoise`; the temporal one keeps its history and restarts per clip);
- OpenCV's non-local means, one frame (`fastNlMeansDenoising`) and five frames centred on the
  one denoised (`fastNlMeansDenoisingMulti`, which also looks two frames ahead, so it is not
  causal), 7x7 patches, 21x21 search; the strength h of each chosen on clips made the same way
  from Train400 *training* images, never from the clips measured.

Reported per method: PSNR and SSIM (mean over frames), flicker (core/metrics.py: how far the
output's frame-to-frame change is from the clean video's) and moving-region PSNR (pixels the
moving objects cover, where a temporal method would ghost); per frame of 480x640, each int8
model's time through the runtime on each engine that runs it and with `--backend auto`
(2 threads), and the frame rate of the whole `edgeae run` loop on a 480x640 video; and on still
images (Set12, sigma 25), each model's PSNR.

    .venv/bin/python benchmarks/video.py --data ../shared/data --out benchmarks/results/video.json

`--speed-only --rounds 5` measures only the speed rows, five times in turn (about 30 s a round).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result

import edgeae.runtime as rt
from edgeae.core.metrics import video_metrics
from edgeae.core.progress import progress
from edgeae.runtime.auto import choose
from edgeae.runtime.capture import Source
from edgeae.runtime.loop import RunOptions, run
from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.clips import Clip, clip_from_still
from edgeae.train.pipeline import split_indices

FRAMES, SIGMA, OBJECTS, SEED = 20, 25.0, 2, 0
SIZES = ((240, 320), (160, 192), (96, 128))  # the largest a still allows
NLM_STRENGTHS = (15, 18, 21, 24, 27, 30, 34)
HELD_OUT, CHOICE = 10, 6  # Train400 stills measured (held out) and used to choose h (training)
FRAME_480P, THREADS, TIMED_RUNS = (480, 640), 2, 50


def clip_of(still: np.ndarray, rng: np.random.Generator, frames: int = FRAMES,
            **motion: float) -> Clip:
    """A clip of the largest size in SIZES the still leaves room for.

    Where even the smallest needs it (some of Train400's 180x180), the camera moves slower.
    `motion`: camera_path's turn and zoom, where not its own.
    """
    for size, speed in [(size, 1.5) for size in SIZES] + [(SIZES[-1], 0.75)]:
        try:
            return clip_from_still(still[..., None], frames, size, rng, objects=OBJECTS,
                                   speed=speed, **motion)
        except ValueError:
            continue
    raise ValueError(f"a {still.shape[1]}x{still.shape[0]} still is too small for a clip")


def noisy(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 frames with Gaussian noise of SIGMA, rounded and clipped to 8 bits."""
    return np.clip(np.rint(frames + rng.normal(0, SIGMA, frames.shape)), 0, 255).astype(np.uint8)


def nlm(frames: np.ndarray, h: float) -> np.ndarray:
    """OpenCV's single-frame non-local means on every frame."""
    return np.stack([cv2.fastNlMeansDenoising(f, None, h, 7, 21) for f in frames])


def nlm_multi(frames: np.ndarray, h: float, window: int = 5) -> np.ndarray:
    """OpenCV's multi-frame non-local means over `window` frames centred on each.

    OpenCV needs the window centred, so it is narrower at the clip's ends (the first and last
    frames alone).
    """
    n, out = len(frames), []
    for i in range(n):
        half = min(window // 2, i, n - 1 - i)
        out.append(cv2.fastNlMeansDenoisingMulti(list(frames[i - half:i + half + 1]), half,
                                                 2 * half + 1, None, h, 7, 21))
    return np.stack(out)


def runtime_method(path: Path):
    """Frame after frame through the runtime; the history restarts at every clip."""
    model = rt.load(path, task="denoise")

    def denoise(frames: np.ndarray) -> np.ndarray:
        model.reset()
        return np.stack([model.denoise(f) for f in frames])

    return denoise


def stills(data: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(measured stills: Set12 and held-out Train400; Train400 training stills to choose h)."""
    read = lambda p: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)  # noqa: E731
    paths = sorted((data / "train400").glob("*.png"))
    train, held = split_indices(len(paths), 0.1, 0)  # the pretrained models' split
    measured = {f"set12/{p.name}": read(p) for p in sorted((data / "set12").glob("*.png"))}
    measured |= {f"train400/{paths[i].name}": read(paths[i]) for i in held[:HELD_OUT]}
    choice = {paths[i].name: read(paths[i]) for i in train[::len(train) // CHOICE][:CHOICE]}
    return measured, choice


def best_strength(method, clips: list[tuple[Clip, np.ndarray]]) -> int:
    """The NLM strength with the best mean PSNR on `clips` (the choice clips)."""
    def score(h: int) -> float:
        return float(np.mean([video_metrics(method(n, h), c.frames[..., 0])["psnr"]
                              for c, n in clips]))
    return max(NLM_STRENGTHS, key=score)


def quality(methods: dict, clips: dict[str, tuple[Clip, np.ndarray]]) -> dict:
    """Every method's video metrics per clip, and their means per group of clips.

    Groups: set12 (a test set nothing was chosen on), train400 (held out of training, but the
    validation split that picked the best epoch) and any real videos.
    """
    per_clip: dict[str, dict] = {name: {} for name in methods}
    for clip_name, (clip, frames) in progress(clips.items(), total=len(clips), desc="clips"):
        clean, moving = clip.frames[..., 0], clip.moving
        for name, method in methods.items():
            per_clip[name][clip_name] = video_metrics(method(frames), clean,
                                                      moving if moving.any() else None)
    groups = sorted({name.split("/")[0] if "/" in name else "video" for name in clips})
    means = {group: {name: _mean(rows, group) for name, rows in per_clip.items()}
             for group in groups}
    return {"mean": means, "per_clip": per_clip}


def _mean(rows: dict[str, dict], group: str) -> dict[str, float | None]:
    """Mean metrics over the clips of `group` (moving_psnr over the clips that have one)."""
    picked = [r for name, r in rows.items()
              if (name.split("/")[0] if "/" in name else "video") == group]
    out = {}
    for key in ("psnr", "ssim", "flicker", "moving_psnr"):
        values = [r[key] for r in picked if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


def still_psnr(paths: dict[str, Path], data: Path) -> dict[str, float]:
    """Each model's mean PSNR on Set12 stills at SIGMA (each image a still: history reset)."""
    rng = np.random.default_rng(SEED)
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
              for p in sorted((data / "set12").glob("*.png"))]
    pairs = [(img, noisy(img[None].astype(np.float64), rng)[0]) for img in images]
    out = {}
    for name, path in paths.items():
        model = rt.load(path, task="denoise")
        out[name] = float(np.mean([video_metrics(model.denoise(n)[None], c[None])["psnr"]
                                   for c, n in pairs]))
    return out


def speed(rows: dict[str, tuple[Path, str]], still: np.ndarray) -> dict[str, dict]:
    """Per (model, engine or auto): the runtime's ms per 480x640 frame and the run loop's fps."""
    rng = np.random.default_rng(SEED)
    big = cv2.resize(still, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    clip = clip_from_still(big[..., None], 60, FRAME_480P, rng, objects=OBJECTS, speed=1.0)
    frames = noisy(clip.frames[..., 0].astype(np.float64), rng)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.avi"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0,
                                 FRAME_480P[::-1], isColor=False)
        for f in frames:
            writer.write(f)
        writer.release()
        for name, (path, backend) in rows.items():
            if backend == "auto":
                choice = choose(path, FRAME_480P, THREADS)
                path, backend = choice.path, choice.backend
            model = rt.load(path, task="denoise", backend=backend, num_threads=THREADS)
            times = []
            for i in range(5 + TIMED_RUNS):
                t0 = time.perf_counter()
                model.denoise(frames[i % len(frames)])
                times.append((time.perf_counter() - t0) * 1e3)
            model.reset()
            summary = run(model, Source("video", str(video)), RunOptions(gray=True))
            out[name] = {"backend": f"{backend} {Path(path).name}",
                         "model_ms_p50": float(np.median(times[5:])),
                         "model_ms_p99": float(np.percentile(times[5:], 99)),
                         "run_fps": summary.fps, "run_frames": summary.frames}
    return out


def speed_rounds(rows: dict[str, tuple[Path, str]], still: np.ndarray,
                 rounds: int) -> dict[str, dict]:
    """speed() `rounds` times in turn: each row's medians, and its loop fps in every round.

    This VM's speed drifts for minutes at a time (BENCHMARKS.md), so one round can land in a
    slow spell; the median of rounds taken in turn says what a row does most of the time.
    """
    measured = [speed(rows, still) for _ in range(rounds)]
    if rounds == 1:
        return measured[0]
    return {name: {**measured[0][name],
                   **{key: float(np.median([m[name][key] for m in measured]))
                      for key in ("model_ms_p50", "model_ms_p99", "run_fps")},
                   "run_fps_rounds": [m[name]["run_fps"] for m in measured]}
            for name in rows}


def speed_rows(folder: Path) -> dict[str, tuple[Path, str]]:
    """The int8 models on each engine that runs them, and what --backend auto picks."""
    return {"live int8, litert": (folder / "live_int8.tflite", "litert"),
            "live int8, openvino": (folder / "live_int8.onnx", "openvino"),
            "live int8, auto": (folder / "live_int8.tflite", "auto"),
            "live-video int8, litert": (folder / "live-video_int8.tflite", "litert"),
            "live-video int8, openvino": (folder / "live-video_int8.onnx", "openvino"),
            "live-video int8, auto": (folder / "live-video_int8.tflite", "auto")}


def main() -> None:
    """Measure, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--models", type=Path, default=PRETRAINED_DIR,
                        help="folder with live_{fp32,int8}.tflite and live-video_{...}.tflite")
    parser.add_argument("--video", type=Path, action="append", default=[],
                        help="a real video to add (its frames the clean reference)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/video.json"))
    parser.add_argument("--speed-only", action="store_true",
                        help="only the speed rows (a few minutes), e.g. on another CPU")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure the speed rows this many times in turn; medians reported")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    command = " ".join(["python benchmarks/video.py", *sys.argv[1:]])
    measured, choice = stills(args.data)
    # the speed rows first, on a quiet machine
    timed = speed_rounds(speed_rows(args.models), measured["set12/08.png"], args.rounds)
    if args.speed_only:
        write_result({"provenance": finished(provenance(command)), "speed": timed}, args.out)
        return
    rng = np.random.default_rng(SEED)
    clips = {}
    for name, still in measured.items():
        clip = clip_of(still, rng)
        clips[name] = (clip, noisy(clip.frames[..., 0].astype(np.float64), rng))
    for path in args.video:
        frames = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in rt.frames(str(path))])
        clip = Clip(frames[:FRAMES * 3, ..., None], np.zeros(frames[:FRAMES * 3].shape, bool))
        clips[path.name] = (clip, noisy(clip.frames[..., 0].astype(np.float64), rng))
    chooser = [(c, noisy(c.frames[..., 0].astype(np.float64), rng))
               for c in (clip_of(s, rng) for s in choice.values())]
    h_single, h_multi = best_strength(nlm, chooser), best_strength(nlm_multi, chooser)
    models = {**{f"{m} {p}": args.models / f"{m}_{p}.tflite"
                 for m in ("live", "live-video") for p in ("fp32", "int8")},
              "live-video int8 ONNX": args.models / "live-video_int8.onnx"}
    methods = {"noisy": lambda f: f,
               f"nlm (h={h_single})": lambda f: nlm(f, h_single),
               f"nlm 5 frames (h={h_multi})": lambda f: nlm_multi(f, h_multi),
               **{name: runtime_method(path) for name, path in models.items()}}
    result = {"frames": FRAMES, "sigma": SIGMA, "clips": sorted(clips),
              "quality": quality(methods, clips), "still_psnr": still_psnr(models, args.data),
              "speed": timed}
    write_result({"provenance": finished(provenance(command)), **result}, args.out)


if __name__ == "__main__":
    main()
