"""The shipped denoisers on a camera's noise and on Gaussian noise, beside OpenCV's NLM.

Issue 18 asks the shipped denoisers to work on a real camera before any `edgeae adapt`, and to
keep their Gaussian figures. Set12 (gray, full size) goes through each setting, one seeded
stream per setting:

- the camera noise model (train/camera.py) at every light level, without and with JPEG 85
  (what a camera's frames are: rounded to 8 bits);
- the same camera with its frames coded as H.264 at --h264 CRF (23, x264's default, unless
  given) as a camera that streams codes them (train/h264.py): each image one intra frame, and
  each image the 8th frame of a still camera's stream (8 noisy frames of it, one stream), whose
  predicted frames carry noise forward, and of a moving camera's stream (the image seen along
  train/clips.py's camera path played backwards, so the 8th frame is the image itself), whose
  frames H.264 predicts from shifted ones;
- the Gaussian protocol of benchmarks/denoise.py (sigma 15, 25, 50; unclipped).

`--settings low-noise` measures instead where the camera models part from the Gaussian ones:
Gaussian noise of sigma 1, 2, 5 and 10 (an almost clean input), and the camera's rendering with
its noise off (billions of photons, no read noise: bilinear demosaicing, colour and tone curve
alone), which a model trained against the pristine image learns to undo.

`--truth rendered` measures the camera settings against the camera's own noise-free rendering
of each image (train/camera.py `rendering`, rounded to 8 bits, as camera.py's rendered frames)
instead of the pristine image, NLM's strength chosen against it too: what a model that learned
the camera's noise alone (`train denoiser --camera-truth rendered`) is asked to give back. The
Gaussian settings keep the pristine image.

`--images validation` measures instead on the 40 Train400 images `edgeae train` holds out of
training (its seeded split), with NLM tuned on 8 of the others: where a new shipped model is
chosen, never on Set12. `--model LABEL=FILE` adds an exported model that is not shipped.

Each shipped model named by --models runs through the runtime (onnxruntime, 2 threads, the
shipped ONNX file) in each shipped precision; OpenCV's non-local means runs at its best strength
h for each setting, chosen on 8 Train400 images (never on Set12) from a grid. Cells are mean PSNR
(dB) and SSIM (scikit-image, data range 255) over the 12 images.

    .venv/bin/python benchmarks/camera_denoisers.py --data ../shared/data \
        --out benchmarks/results/camera_denoisers.json
    .venv/bin/python benchmarks/camera_denoisers.py --data ../shared/data --images validation \
        --models live-camera --model new=work/live-camera-export/model_int8.onnx --out new.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from denoise import add_noise, nlm, read_gray, runtime_denoiser, scores
from provenance import finished, provenance, write_result

from edgeae.runtime.pretrained import pretrained_path
from edgeae.train.camera import PRESETS, CameraNoise, rendering
from edgeae.train.clips import camera_frames, camera_margin, camera_path
from edgeae.train.h264 import h264_roundtrip
from edgeae.train.pipeline import split_indices

JPEG = 85.0
SIGMAS = (15, 25, 50)
LOW_SIGMAS = (1, 2, 5, 10)
LIGHTS = {**PRESETS, "no noise": (1e9, 0.0)}  # as benchmarks/camera.py renders its frames
NLM_GRID = (2, 3, 5, 8, 11, 14, 18, 22, 27, 33, 40, 50, 60)
TUNING_IMAGES = 8  # for NLM's strength: Train400's last 8 (of those not held out, with validation)
PRECISIONS = ("fp32", "int8")
STREAM = 8  # the frames of a still camera's H.264 stream; the measured frame is the last
VAL_SPLIT = 0.1  # edgeae train's default: 40 of Train400's 400 images held out (seed 0)
Noise = Callable[[list[np.ndarray], int], list[np.ndarray]]  # clean 0-255, seed -> noisy 0-255


def moving_views(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, H, W, C) views of an HWC image from train/clips.py's camera path, played backwards.

    The path starts at the image itself, so reversed it ends there: the last view is `image`
    exactly. Views reach past the image by the path's travel, which is reflected in.
    """
    path = camera_path(count, rng)[::-1]
    h, w = image.shape[:2]
    pad = int(np.ceil((camera_margin(path, (h, w)) - np.array([w, h]) / 2).max())) + 2
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    return camera_frames(padded.reshape(h + 2 * pad, w + 2 * pad, -1), path, (h, w))


def camera_noise(level: str, jpeg: float | None, crf: int | None = None,
                 stream: int = 1, moving: bool = False) -> Noise:
    """A camera at light `level` of LIGHTS (and JPEG `jpeg`, or H.264 at `crf`): 8-bit frames.

    `stream` > 1: the frame is the last of a still camera's H.264 stream of that many frames
    (fresh noise in each), as the `h264:CRF,FRAMES` training step makes it; `moving`: of a
    moving camera's (moving_views).
    """
    peak, read = LIGHTS[level]
    camera = CameraNoise((peak, peak), (read, read), (jpeg, jpeg) if jpeg else None)

    def one(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        clean = (img / 255.0)[..., None].astype(np.float32)
        views = moving_views(clean, stream, rng) if moving else [clean] * stream
        frames = np.stack([np.rint(camera.one(view, rng) * 255.0) for view in views])
        if crf is not None:
            frames = np.rint(h264_roundtrip(frames / 255.0, crf) * 255.0)
        return frames[-1, ..., 0].astype(np.float64)

    def noisy(images: list[np.ndarray], seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [one(img, rng) for img in images]

    noisy.camera = True  # its truth may be the camera's rendering (--truth)
    return noisy


def rendered(images: list[np.ndarray]) -> list[np.ndarray]:
    """Clean 0-255 gray images as the camera renders them without noise, rounded to 8 bits."""
    return [np.rint(rendering((img / 255.0)[None, ..., None].astype(np.float32))[0, ..., 0]
                    * 255.0).clip(0, 255) for img in images]


TRUTHS = {"pristine": lambda noise, images: images,
          "rendered": lambda noise, images: rendered(images) if getattr(noise, "camera", False)
          else images}


def gaussian_noise(sigma: float) -> Noise:
    """benchmarks/denoise.py's protocol: clean + sigma * N(0, 1), unclipped."""
    return lambda images, seed: add_noise(images, sigma, seed)


def settings(crf: int) -> dict[str, Noise]:
    """Setting label -> its noise: each light level plain, with JPEG, with H.264; Gaussian."""
    found = {}
    for jpeg in (None, JPEG):
        for level in PRESETS:
            found[level + (f", JPEG {jpeg:g}" if jpeg else "")] = camera_noise(level, jpeg)
    found.update({f"{level}, H.264 {crf}": camera_noise(level, None, crf) for level in PRESETS})
    found.update({f"{level}, H.264 {crf}, frame {STREAM} of a still stream":
                  camera_noise(level, None, crf, STREAM) for level in PRESETS})
    found.update({f"{level}, H.264 {crf}, frame {STREAM} of a moving stream":
                  camera_noise(level, None, crf, STREAM, moving=True) for level in PRESETS})
    found.update({f"gaussian {s}": gaussian_noise(s) for s in SIGMAS})
    return found


def low_noise_settings(crf: int) -> dict[str, Noise]:
    """Gaussian noise at LOW_SIGMAS, and the camera's rendering with no noise (`crf` unused)."""
    found = {f"gaussian {s}": gaussian_noise(s) for s in LOW_SIGMAS}
    found["camera rendering, no noise"] = camera_noise("no noise", None)
    return found


SETTING_SETS = {"camera": settings, "low-noise": low_noise_settings}


def best_nlm_h(train_images: list[np.ndarray], noise: Noise, truth: str = "pristine") -> float:
    """NLM's strength with the best mean PSNR on Train400 images through the same noise."""
    noisy, reference = noise(train_images, 1), TRUTHS[truth](noise, train_images)
    psnr = {h: scores(reference, [nlm(h)(z) for z in noisy])["psnr_db"] for h in NLM_GRID}
    return max(psnr, key=psnr.get)


def measure(label: str, noise: Noise, clean: list[np.ndarray], train_images: list[np.ndarray],
            models: dict, truth: str = "pristine") -> dict:
    """One setting: noisy, NLM at its best h, and every model; PSNR and SSIM means."""
    noisy, reference = noise(clean, 0), TRUTHS[truth](noise, clean)
    h = best_nlm_h(train_images, noise, truth)
    row = {"noisy": scores(reference, noisy),
           "nlm": {"h": h, **scores(reference, [nlm(h)(z) for z in noisy])}}
    for name, denoise in models.items():
        row[name] = scores(reference, [denoise(z) for z in noisy])
    print(label, {k: round(v["psnr_db"], 2) for k, v in row.items()}, flush=True)
    return {k: {m: v for m, v in r.items() if m != "psnr_per_image"} for k, r in row.items()}


def measured_images(data: Path, images: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The clean images measured, and the Train400 images NLM's strength is tuned on."""
    train400 = read_gray(data / "train400")
    if images == "set12":
        return read_gray(data / "set12"), train400[-TUNING_IMAGES:]
    fit, held_out = split_indices(len(train400), VAL_SPLIT, seed=0)
    return [train400[i] for i in held_out], [train400[i] for i in fit[-TUNING_IMAGES:]]


def main() -> None:
    """Measure every setting and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--models", default="live,live-camera,quality",
                        help="shipped models, comma-separated")
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=FILE",
                        help="an exported model that is not shipped (repeatable)")
    parser.add_argument("--images", choices=("set12", "validation"), default="set12",
                        help="Set12 (the test set) or Train400's held-out images")
    parser.add_argument("--settings", choices=SETTING_SETS, default="camera",
                        help="camera: every light level, JPEG, H.264, and Gaussian 15-50; "
                             "low-noise: Gaussian 1-10 and the camera's rendering alone")
    parser.add_argument("--truth", choices=TRUTHS, default="pristine",
                        help="the camera settings' reference: the pristine image, or the "
                             "camera's noise-free rendering of it")
    parser.add_argument("--h264", type=int, default=23, metavar="CRF",
                        help="x264's constant rate factor for the H.264 settings")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/camera_denoisers.json"))
    args = parser.parse_args()
    run = provenance("python benchmarks/camera_denoisers.py " + " ".join(sys.argv[1:]))
    clean, train_images = measured_images(args.data, args.images)
    models = {f"{name} {precision}": runtime_denoiser(
        pretrained_path(name, "onnxruntime", precision), "onnxruntime")
        for name in filter(None, args.models.split(",")) for precision in PRECISIONS}
    models.update({label: runtime_denoiser(Path(path), "onnxruntime")
                   for label, path in (pair.split("=", 1) for pair in args.model)})
    rows = {label: measure(label, noise, clean, train_images, models, args.truth)
            for label, noise in SETTING_SETS[args.settings](args.h264).items()}
    write_result({"provenance": finished(run), "images": args.images, "truth": args.truth,
                  "models": list(models), "settings": rows}, args.out)


if __name__ == "__main__":
    main()
