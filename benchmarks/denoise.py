"""Denoising quality and speed, side by side in one run.

`--part set12` (the natural-image protocol of ../shared/data/README.md): Set12 with additive
white Gaussian noise of sigma 15, 25 and 50 (0-255 scale, no clipping, fixed seed), denoised by

- the shipped pretrained `live` and `quality` models through the runtime, for each backend
  (LiteRT, onnxruntime, OpenVINO) and precision (fp32, int8), fed the unclipped noisy image
  as float;
- self-supervised tiny U-Nets trained with `edgeae train denoiser --self-supervised METHOD`
  on the 12 noisy test images alone (no clean image is ever seen; that is the point of the
  methods), one per method: recorrupted (R2R, the noise level estimated from the images) and
  blind-spot (Noise2Void);
- OpenCV's fastNlMeansDenoising, on the noisy image clipped to uint8 (its only input type), with
  its filter strength h chosen per sigma on Train400 images (never on Set12);
- BM3D (the `bm3d` package) told the true sigma.

PSNR (scikit-image) per image and mean, mean SSIM, and milliseconds per 640x480 gray frame
(median and p99 over repeated runs; BM3D once) on 2 threads.

`--part fashion`: the tutorial's Fashion-MNIST denoising (noise 0.2, clipped), the tutorial's
conv autoencoder against edgeae's U-Net (medium: 28x28 images need a size that divides by 4),
same epochs, PSNR / SSIM on x_test.

    python benchmarks/denoise.py --data ../shared/data --part set12 \
        --out benchmarks/results/denoise-set12.json
    python benchmarks/denoise.py --data ../shared/data --part fashion --epochs 4 \
        --out benchmarks/results/denoise-fashion.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

import edgeae.runtime as rt  # noqa: E402
from edgeae.runtime.pretrained import FRAME_NAMES, pretrained_path  # noqa: E402

SIGMAS = (15, 25, 50)
BACKENDS = ("litert", "onnxruntime", "openvino")  # each runs the shipped file of its format
THREADS = 2
OFFSET, SCALE = 256.0, 64.0  # noisy 0-255 values -> 16-bit PNG for self-supervised training
Denoise = Callable[[np.ndarray], np.ndarray]  # float 0-255 noisy -> float 0-255 estimate


def read_gray(folder: Path) -> list[np.ndarray]:
    """Every PNG of a folder as float64 0-255 gray, sorted by name."""
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).astype(np.float64)
            for p in sorted(folder.glob("*.png"))]


def add_noise(images: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    """The protocol's noise: clean + sigma * N(0, 1), unclipped, one seeded stream."""
    rng = np.random.default_rng(seed)
    return [img + sigma * rng.standard_normal(img.shape) for img in images]


def scores(clean: list[np.ndarray], restored: list[np.ndarray]) -> dict:
    """PSNR per image and mean, mean SSIM, on outputs clipped to [0, 255]."""
    out = [np.clip(r, 0, 255) for r in restored]
    psnr = [peak_signal_noise_ratio(c, o, data_range=255) for c, o in zip(clean, out)]
    ssim = [structural_similarity(c, o, data_range=255) for c, o in zip(clean, out)]
    return {"psnr_db": float(np.mean(psnr)), "ssim": float(np.mean(ssim)),
            "psnr_per_image": [round(p, 2) for p in psnr]}


def timed(fn: Denoise, frame: np.ndarray, repeats: int) -> dict:
    """Ms per call on one frame: median and p99 after one warm-up call."""
    fn(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(frame)
        times.append((time.perf_counter() - start) * 1e3)
    return {"ms_p50": float(np.median(times)), "ms_p99": float(np.percentile(times, 99)),
            "repeats": repeats}


def runtime_denoiser(path: Path, backend: str) -> Denoise:
    """A runtime Denoiser fed the float noisy image in [0, 1] (unclipped, as the protocol)."""
    model = rt.load(path, backend, THREADS, task="denoise")
    return lambda z: model.denoise((z / 255.0).astype(np.float32)) * 255.0


def nlm(h: float) -> Denoise:
    """OpenCV non-local means (7x7 patches, 21x21 search) on the uint8-clipped image."""
    return lambda z: cv2.fastNlMeansDenoising(
        np.clip(np.rint(z), 0, 255).astype(np.uint8), None, h, 7, 21).astype(np.float64)


def tune_nlm_h(train_images: list[np.ndarray], sigma: float) -> float:
    """The h (on a 0.5-1.5 x sigma grid) with the best mean PSNR on Train400 images."""
    noisy = add_noise(train_images, sigma, seed=1)
    grid = [round(sigma * f, 1) for f in (0.5, 0.7, 0.85, 1.0, 1.2, 1.5)]
    psnr = {h: scores(train_images, [nlm(h)(z) for z in noisy])["psnr_db"] for h in grid}
    return max(psnr, key=psnr.get)


def bm3d_denoiser(sigma: float) -> Denoise:
    """BM3D with the true noise level (the `bm3d` package)."""
    import bm3d

    return lambda z: bm3d.bm3d(z / 255.0, sigma_psd=sigma / 255.0) * 255.0


def self_supervised(noisy: list[np.ndarray], sigma: float, method: str, work: Path,
                    minutes: float) -> Denoise:
    """A tiny U-Net trained by `method` on the noisy test images alone."""
    from edgeae.app.cli import main

    folder = work / f"noisy{sigma}"
    model_dir, export = (work / f"{method}{sigma}-{n}" for n in ("model", "export"))
    folder.mkdir(parents=True, exist_ok=True)
    for i, z in enumerate(noisy):  # 16-bit PNG holds -256..768 unclipped, at 1/64 gray level
        cv2.imwrite(str(folder / f"{i:02d}.png"),
                    np.clip(np.rint((z + OFFSET) * SCALE), 0, 65535).astype(np.uint16))
    code = main(["train", "denoiser", "--self-supervised", method, "--data", str(folder),
                 "--model", "unet", "--size", "tiny", "--patch-size", "64",
                 "--patches-per-image", "64", "--batch-size", "32", "--epochs", "1000",
                 "--patience", "40", "--val-split", "0.17", "--time-limit", str(minutes),
                 "--out", str(model_dir)])
    assert code == 0
    assert main(["export", str(model_dir), "--format", "tflite", "--precision", "fp32",
                 "--out", str(export)]) == 0
    model = rt.load(export / "model_fp32.tflite", "litert", THREADS, task="denoise")
    unit = SCALE / 65535.0  # the model learned on (z + OFFSET) * SCALE / 65535
    return lambda z: model.denoise(((z + OFFSET) * unit).astype(np.float32)) / unit - OFFSET


def frame_640x480(images: list[np.ndarray], sigma: float) -> np.ndarray:
    """A noisy 480x640 gray frame: a mosaic of Set12 crops, for timing."""
    tiles = [cv2.resize(img, (320, 240)) for img in images[:4]]
    clean = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])])
    return add_noise([clean], sigma, seed=2)[0]


def bench_set12(args: argparse.Namespace) -> dict:
    """Every method on Set12 at each sigma, with ms per 640x480 frame at sigma 25."""
    clean = read_gray(args.data / "set12")
    train_images = read_gray(args.data / "train400")[:args.nlm_tune_images]
    methods: dict[str, Callable[[float, list[np.ndarray]], Denoise]] = {}
    for name in FRAME_NAMES:
        for precision in ("fp32", "int8"):
            for backend in BACKENDS:
                path = pretrained_path(name, backend, precision)
                methods[f"{name} {precision} {backend}"] = (
                    lambda s, n, p=path, b=backend: runtime_denoiser(p, b))
    methods["opencv fastNlMeansDenoising"] = lambda s, n: nlm(tune_nlm_h(train_images, s))
    methods["bm3d"] = lambda s, n: bm3d_denoiser(s)
    methods = {k: v for k, v in methods.items() if not args.only or any(o in k for o in args.only)}
    results: dict = {"sigmas": {}}
    with tempfile.TemporaryDirectory(prefix="edgeae-n2v-") as work:
        for sigma in args.sigmas:
            noisy = add_noise(clean, sigma)
            row = {"noisy input": scores(clean, noisy)}
            for name, make in methods.items():
                fn = make(sigma, noisy)
                row[name] = scores(clean, [fn(z) for z in noisy])
                if name.startswith("opencv"):
                    row[name]["h"] = tune_nlm_h(train_images, sigma)
                print(f"sigma {sigma} {name}: {row[name]['psnr_db']:.2f} dB", flush=True)
            for method in args.self_supervised if sigma in args.self_supervised_sigmas else ():
                fn = self_supervised(noisy, sigma, method, Path(work), args.minutes)
                name = f"self-supervised {method} unet tiny (noisy Set12 only)"
                row[name] = scores(clean, [fn(z) for z in noisy])
                print(f"sigma {sigma} {name}: {row[name]['psnr_db']:.2f} dB", flush=True)
            results["sigmas"][str(sigma)] = row
    if not methods:
        return results
    frame = frame_640x480(clean, 25)
    speed = {}
    for name, make in methods.items():
        repeats = 1 if name == "bm3d" else 5 if name.startswith("opencv") else args.repeats
        speed[name] = timed(make(25, []), frame, repeats)
        print(f"640x480 {name}: {speed[name]['ms_p50']:.1f} ms", flush=True)
    results["ms_per_640x480_frame"] = speed
    results["colour"] = bench_colour()
    return results


def bench_colour(sigma: float = 25.0) -> dict:
    """Colour frames through the gray pretrained models, in their default colour planes.

    scikit-image's `astronaut` (512x512 RGB) with sigma-25 noise in every channel, clipped to
    uint8 as a camera delivers it; PSNR over all channels, and ms per frame. The planes each
    model used are recorded (runtime/colour.py; "rgb" for every model before 2026-12-06).
    """
    from skimage import data

    clean = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(clean + sigma * rng.standard_normal(clean.shape)), 0, 255)
    noisy = noisy.astype(np.uint8)
    result = {"image": "skimage.data.astronaut() 512x512 BGR uint8", "sigma": sigma,
              "noisy input": float(peak_signal_noise_ratio(clean, noisy))}
    for name in FRAME_NAMES:
        for precision in ("fp32", "int8"):
            model = rt.load(pretrained_path(name, "litert", precision), "litert", THREADS,
                            task="denoise")
            out = model.denoise(noisy)
            result[f"{name} {precision} litert"] = {
                "psnr_db": float(peak_signal_noise_ratio(clean, out)),
                "colour_planes": model.colour_planes, **timed(model.denoise, noisy, 10)}
    return result


def bench_fashion(args: argparse.Namespace) -> dict:
    """The tutorial's conv vs edgeae's default denoiser on Fashion-MNIST, noise 0.2."""
    from edgeae.core.data import load_data
    from edgeae.core.modeldir import ModelDir
    from edgeae.train.fit import TrainSettings, train
    from edgeae.train.keras_backend import load_keras
    from edgeae.train.models import macs_per_pixel
    from edgeae.train.noise_spec import noise_from_factor

    data = np.load(args.data / "fashion_mnist.npz")
    clean = data["x_test"].astype(np.float32)[..., None] / 255.0
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + 0.2 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    splits = load_data("fashion-mnist", data_dir=args.data / "fashion_mnist.npz")
    results = {"noisy input": _unit_scores(clean, noisy)}
    for label, architecture, params in (("tutorial conv (16, 8)", "conv", {}),
                                        ("edgeae unet medium", "unet", {"size": "medium"})):
        out = args.work / f"fashion-{architecture}"
        if not (out / "manifest.json").exists():
            settings = TrainSettings(task="denoiser", architecture=architecture, params=params,
                                     epochs=args.epochs, batch_size=64, patience=args.epochs,
                                     noise=noise_from_factor(0.2))
            train(splits.train, out, settings, verbose=2)
        model_dir = ModelDir.open(out)
        model = load_keras(model_dir)
        restored = model.predict(noisy, batch_size=256, verbose=0)
        results[label] = {**_unit_scores(clean, restored),
                          "macs_per_pixel": macs_per_pixel(model, 28),
                          "seconds": model_dir.manifest.training.seconds,
                          "epochs": model_dir.manifest.training.epochs_run}
        print(label, results[label], flush=True)
    return results


def _unit_scores(clean: np.ndarray, out: np.ndarray) -> dict:
    """Mean PSNR / SSIM for [0, 1] NHWC batches."""
    out = np.clip(out, 0, 1)
    psnr = [peak_signal_noise_ratio(c[..., 0], o[..., 0], data_range=1.0)
            for c, o in zip(clean, out)]
    ssim = [structural_similarity(c[..., 0], o[..., 0], data_range=1.0)
            for c, o in zip(clean, out)]
    return {"psnr_db": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


def main() -> None:
    """Parse arguments, run one part, print and write its JSON."""
    from provenance import finished, provenance  # benchmarks/provenance.py, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--part", choices=("set12", "fashion"), required=True)
    parser.add_argument("--sigmas", type=int, nargs="+", default=list(SIGMAS))
    parser.add_argument("--self-supervised-sigmas", type=int, nargs="*", default=[25])
    parser.add_argument("--self-supervised", nargs="*", default=["recorrupted", "blind-spot"],
                        choices=("recorrupted", "blind-spot"), metavar="METHOD",
                        help="self-supervised methods to train (default both)")
    parser.add_argument("--minutes", type=float, default=8.0,
                        help="training time for each self-supervised model")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="run only the methods whose name contains one of these "
                        "(e.g. 'self-supervised opencv'); the self-supervised ones always run "
                        "at --self-supervised-sigmas")
    parser.add_argument("--nlm-tune-images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=4, help="fashion: epochs per model")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/denoise-work"))
    parser.add_argument("--out", type=Path,
                        help="default: benchmarks/results/denoise-{set12,fashion}.json")
    args = parser.parse_args()
    args.out = args.out or Path(f"benchmarks/results/denoise-{args.part}.json")
    run = {**provenance(), "threads": THREADS}
    result = bench_set12(args) if args.part == "set12" else bench_fashion(args)
    result["run"] = finished(run)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
