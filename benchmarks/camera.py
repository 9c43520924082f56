"""`edgeae adapt` on camera noise: a shipped model, adapted, and OpenCV's NLM side by side.

For each light level a clip is made from a Set12 still (08.png, 512x512) by a camera on a smooth
random path (train/clips.py: sub-pixel pan, small turn and zoom) with two objects moving on their
own (patches of the still on straight paths, 0.7-2.5 px per frame), 60 frames of 240x320, and
from each real video given with --video (its first 60 frames, gray, resized to 240x320: the
user's own clean footage); each frame goes through the camera noise model (train/camera.py,
gray, no JPEG, seed 0), and with --h264 CRF the noisy clip is then coded as one H.264 stream
at that constant rate factor and decoded (train/h264.py: libx264, no B-frames, as a streaming
camera codes it), so every method sees what a camera that streams H.264 delivers. Every method
is measured on the clip's last 20% (the tail `edgeae adapt` holds out) against the clean
frames, by PSNR and SSIM (scikit-image, data range 255):

- `live`: the shipped model as it is (trained on Gaussian noise; `--pretrained live-camera`
  starts every method from the model tuned on simulated camera noise instead);
- `live adapted`: `edgeae adapt --pretrained live` on the noisy clip (defaults but the time
  budget), and its int8 TFLite export;
- `live + blind-spot` / `live + recorrupted`: `train denoiser --self-supervised` (Noise2Void,
  Recorrupted-to-Recorrupted) from `live`'s weights on the same noisy frames adapt trains on,
  with adapt's batch size, learning rate and time budget;
- `live supervised`: the upper reference, `live` tuned like adapt but against the clean
  frames of the clip's first part (which no real user has);
- non-local means (cv2.fastNlMeansDenoising, 7x7 patches, 21x21 search) at its best strength
  h for each level, chosen on the clip's first part with the clean frames (an oracle choice,
  so the baseline is at its strongest) from h=5, or with --fine-nlm from h=1 (at `bright`, and
  with H.264, its best is below 5).

    .venv/bin/python benchmarks/camera.py --data ../shared/data --minutes 2 \
        [--video clean.mp4 ...] [--pretrained live-camera] [--h264 23] [--fine-nlm] \
        --out benchmarks/results/camera.json
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
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import edgeae.runtime as rt
from edgeae.core.data import Preprocess, load_data
from edgeae.core.modeldir import ModelDir
from edgeae.export.artifacts import export_model
from edgeae.export.options import ExportOptions, Tolerances
from edgeae.runtime.pretrained import pretrained_manifest, rebuild_source
from edgeae.train.adapt import Start, adapt, split_frames, tune
from edgeae.train.callbacks import TimeLimit
from edgeae.train.camera import PRESETS, CameraNoise
from edgeae.train.clips import clip_from_still
from edgeae.train.frame_pairs import FramePairs
from edgeae.train.from_artifact import keras_from_onnx
from edgeae.train.h264 import h264_roundtrip
from edgeae.train.settings import AdaptSettings

FRAMES, SIZE, STILL, OBJECTS = 60, (240, 320), "08.png", 2
NLM_STRENGTHS = (5, 8, 11, 14, 18, 22, 27, 33)
# with the faint ones too: at `bright`, and with H.264, h=5 is already stronger than best
FINE_NLM_STRENGTHS = (1, 2, 3, 4, *NLM_STRENGTHS)
# shipped models the self-supervised baselines can rebuild
SMALL_UNETS = ("live", "live-camera", "live-stream")


def still_clip(still: np.ndarray) -> np.ndarray:
    """Clean uint8 frames (FRAMES, *SIZE, 1) of a simulated camera panning over `still`."""
    return clip_from_still(still, FRAMES, SIZE, np.random.default_rng(0), objects=OBJECTS).frames


def video_clip(path: Path) -> np.ndarray:
    """Clean uint8 frames (FRAMES, *SIZE, 1): a real video's first FRAMES frames, gray."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while len(frames) < FRAMES and (got := capture.read())[0]:
        gray = cv2.cvtColor(got[1], cv2.COLOR_BGR2GRAY)
        frames.append(cv2.resize(gray, SIZE[::-1], interpolation=cv2.INTER_AREA)[..., None])
    capture.release()
    if len(frames) < FRAMES:
        sys.exit(f"{path}: {len(frames)} frames readable, {FRAMES} needed")
    return np.stack(frames)


def noisy_frames(clean: np.ndarray, level: str, seed: int = 0,
                 crf: int | None = None) -> np.ndarray:
    """`clean` through the camera noise model at light `level` (seeded), then H.264 at `crf`."""
    rng = np.random.default_rng(seed)
    peak, read = PRESETS[level]
    camera = CameraNoise((peak, peak), (read, read))
    noisy = np.stack([camera.one(frame.astype(np.float32) / 255, rng) for frame in clean])
    if crf is not None:
        noisy = h264_roundtrip(noisy, crf)
    return np.clip(noisy * 255 + 0.5, 0, 255).astype(np.uint8)


def rendered_frames(clean: np.ndarray) -> np.ndarray:
    """`clean` through the camera model with no noise (billions of photons, no read noise)."""
    camera, rng = CameraNoise((1e9, 1e9), (0.0, 0.0)), np.random.default_rng(0)
    return np.stack([np.clip(camera.one(f.astype(np.float32) / 255, rng) * 255 + 0.5, 0, 255)
                     .astype(np.uint8) for f in clean])


def write_frames(folder: Path, frames: np.ndarray, first: int = 0) -> Path:
    """`frames` as PNG files numbered from `first` in `folder` (footage adapt can read)."""
    folder.mkdir(exist_ok=True)
    for i, frame in enumerate(frames, start=first):
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
    return folder


def quality(clean: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of uint8 `clean` against `out` (uint8, or float in [0, 1]), gray."""
    out = out if out.dtype == np.uint8 else np.clip(out, 0, 1) * 255
    a, b = (np.squeeze(x).astype(np.float64) for x in (clean, out))
    return (float(peak_signal_noise_ratio(a, b, data_range=255)),
            float(structural_similarity(a, b, data_range=255)))


def mean_quality(clean: np.ndarray, outputs: dict) -> dict:
    """{"psnr", "ssim"}: the means over frames i of quality(clean[i], out) for i, out in outputs."""
    psnr, ssim = np.mean([quality(clean[i], out) for i, out in outputs.items()], axis=0)
    return {"psnr": float(psnr), "ssim": float(ssim)}


def model_quality(model, clean: np.ndarray, noisy: np.ndarray, frames: range) -> dict:
    """Mean PSNR and SSIM of the Keras model's outputs over `frames`."""
    return mean_quality(clean, {i: np.asarray(model.predict_on_batch(
        noisy[i][None].astype(np.float32) / 255))[0] for i in frames})


def nlm_quality(clean: np.ndarray, noisy: np.ndarray, frames: range, h: float) -> dict:
    """Mean PSNR and SSIM of OpenCV's non-local means with strength `h` over `frames`."""
    return mean_quality(clean, {i: cv2.fastNlMeansDenoising(noisy[i][..., 0], None, h, 7, 21)
                                for i in frames})


def start_model(name: str):
    """A fresh Keras copy of the shipped model `name` and its manifest."""
    return keras_from_onnx(rebuild_source(name), Tolerances().fp32_max_abs_diff)


def size_multiple(name: str) -> int:
    """What the sides of the shipped model `name`'s input must divide by (adapt crops to it)."""
    return pretrained_manifest(name).input.size_multiple


def pretrained_start(name: str, model, manifest) -> Start:
    """The Start `edgeae adapt --pretrained NAME` builds, around a Keras copy of the model."""
    return Start(model, manifest, f"pretrained:{name}", manifest.artifact.sha256, name)


def adapted(start: str, noisy: np.ndarray, clean: np.ndarray, tail: range, work: Path,
            minutes: float) -> dict:
    """`edgeae adapt` from `start` on the noisy frames; its float and int8 PSNR on the tail."""
    model, manifest = start_model(start)
    began = time.monotonic()
    result = adapt(pretrained_start(start, model, manifest),
                   load_data(str(work / "frames"), Preprocess(1)).train, work / "adapted",
                   AdaptSettings(minutes=minutes), verbose=2)
    seconds = time.monotonic() - began
    export_model(ModelDir.open(work / "adapted"), work / "export",
                 ExportOptions(precisions=("int8",), allow_drift=True))
    int8 = rt.load(work / "export" / "model_int8.tflite")
    return {f"{start} adapted": model_quality(model, clean, noisy, tail),
            f"{start} adapted int8": mean_quality(clean, {i: int8.denoise(noisy[i]) for i in tail}),
            "adapt_seconds": seconds,
            "adaptation": result.training.adaptation.model_dump(exclude={"footage"})}


def supervised(start: str, noisy: np.ndarray, clean: np.ndarray, head: range, tail: range,
               work: Path, minutes: float) -> dict:
    """The upper reference: `start` tuned as adapt tunes it, on the clean first frames."""
    model, _ = start_model(start)
    fit, val = list(head)[:-4], list(head)[-4:]  # validation inside the first part too
    ones = np.ones((*clean.shape[:3], 1), np.uint8)
    pairs = [FramePairs(noisy[i], clean[i], ones[i]) for i in (fit, val)]
    # against clean frames the loss is the clean error: no content veto (adapt's default)
    tune(model, pairs[0], pairs[1], AdaptSettings(minutes=minutes, keep="loss"), work / "sup.csv",
         verbose=2)
    return model_quality(model, clean, noisy, tail)


def self_supervised(start: str, method: str, noisy: np.ndarray, clean: np.ndarray, tail: range,
                    work: Path, minutes: float) -> dict:
    """`train denoiser --self-supervised METHOD` from `start`'s weights, on the same frames."""
    import keras

    from edgeae.train.fit import TrainSettings, train

    model, _ = start_model(start)
    weights = work / "start.weights.h5"
    model.save_weights(weights)
    settings = TrainSettings(task="denoiser", architecture="unet", params={"size": "small"},
                             epochs=1000, batch_size=AdaptSettings().batch_size,
                             learning_rate=AdaptSettings().learning_rate, patch_size=64,
                             patches_per_image=8, self_supervised=method,
                             initial_weights=str(weights), patience=1000)
    train(load_data(str(work / "frames"), Preprocess(1)).train, work / method, settings,
          callbacks=[TimeLimit(minutes)], verbose=2)
    trained = keras.saving.load_model(work / method / "model.keras", compile=False)
    return model_quality(trained, clean, noisy, tail)


def head_and_tail(frames: int) -> tuple[range, range]:
    """A clip's frame indices: the first part `adapt` trains on, and the tail it holds out."""
    head, tail = split_frames(frames, AdaptSettings().holdout)
    return range(frames)[head], range(frames)[tail]


def best_nlm_strength(clean: np.ndarray, noisy: np.ndarray, head: range,
                      strengths: tuple[float, ...] = NLM_STRENGTHS) -> float:
    """NLM's oracle strength: the best PSNR on every 6th frame of the clean first part."""
    return max(strengths, key=lambda s: nlm_quality(clean, noisy, head[::6], s)["psnr"])


def measure_level(start: str, clip: str, clean: np.ndarray, level: str, minutes: float,
                  crf: int | None = None, strengths: tuple[float, ...] = NLM_STRENGTHS) -> dict:
    """One clip at one light level: each method's PSNR and SSIM on the tail; adapt's record."""
    noisy = noisy_frames(clean, level, crf=crf)
    head, tail = head_and_tail(FRAMES)
    h = best_nlm_strength(clean, noisy, head, strengths)
    row = {"clip": clip, "level": level, "peak": PRESETS[level][0], "read": PRESETS[level][1],
           "noisy": mean_quality(clean, {i: noisy[i] for i in tail}),
           f"nlm (h={h})": nlm_quality(clean, noisy, tail, h),
           start: model_quality(start_model(start)[0], clean, noisy, tail)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_frames(work / "frames", noisy[head])  # self-supervision gets what adapt trains on
        for method in ("blind-spot", "recorrupted"):
            row[f"{start} + {method}"] = self_supervised(start, method, noisy, clean, tail, work,
                                                         minutes)
        write_frames(work / "frames", noisy[len(head):], len(head))  # adapt holds it out itself
        row.update(adapted(start, noisy, clean, tail, work, minutes))
        row[f"{start} supervised (clean first part)"] = supervised(start, noisy, clean, head,
                                                                    tail, work, minutes)
    return {k: _rounded(v) for k, v in row.items()}


def _rounded(value):
    """Seconds and PSNR to 0.01, SSIM to 0.0001."""
    if isinstance(value, dict) and "ssim" in value:
        return {"psnr": round(value["psnr"], 2), "ssim": round(value["ssim"], 4)}
    return round(value, 2) if isinstance(value, float) else value


def main() -> None:
    """Measure each light level; print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--levels", default="dim,night", help="camera presets, comma-separated")
    parser.add_argument("--minutes", type=float, default=2.0, help="adapt's time budget")
    parser.add_argument("--video", type=Path, action="append", default=[],
                        help="a clean real video to add as a clip (repeatable)")
    parser.add_argument("--pretrained", default="live", choices=SMALL_UNETS,
                        help="the shipped model every method starts from")
    parser.add_argument("--h264", type=int, metavar="CRF",
                        help="code each noisy clip as an H.264 stream at this CRF (0-51)")
    parser.add_argument("--fine-nlm", action="store_true",
                        help=f"NLM's strengths from h=1: {FINE_NLM_STRENGTHS} (else from 5)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/camera.json"))
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/camera.py", *sys.argv[1:]]))
    still = cv2.imread(str(args.data / "set12" / STILL), cv2.IMREAD_GRAYSCALE)[..., None]
    clips = {f"set12/{STILL}": still_clip(still)} | {p.name: video_clip(p) for p in args.video}
    strengths = FINE_NLM_STRENGTHS if args.fine_nlm else NLM_STRENGTHS
    rows = [measure_level(args.pretrained, name, clean, level, args.minutes, args.h264, strengths)
            for name, clean in clips.items() for level in args.levels.split(",")]
    write_result({"provenance": finished(run), "pretrained": args.pretrained,
                  "frames": FRAMES, "size": SIZE, "h264_crf": args.h264,
                  "nlm_strengths": strengths,
                  "clips": list(clips), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
