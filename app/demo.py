"""`edgeae demo`: the whole pipeline on scikit-learn's digits, offline, in about a minute.

Trains the conv autoencoder, exports it to float32 TFLite, runs the runtime on the held-out
test digits and writes a reconstruction grid and metrics.json. Then denoises scikit-image's
`camera` photograph (Gaussian noise, sigma 25, clipped to uint8 as a camera would) with the
shipped pretrained `live` model through the runtime: a noisy | denoised | clean grid and PSNR.
Last, anomaly detection: a detector learns the digit 0 alone, is exported, and the runtime
scores every test digit at the detector's threshold (metrics and heat maps). A VAE learns the
digits too, and its exported decoder generates new ones through the runtime. It ends with the
autoencoder's benchmark (Keras, TFLite and ONNX, fp32 and int8, each in its own process) and
report.html, one page with the model card, curves, samples, parity and benchmark.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from edgeae.core.files import atomic_dir, write_json
from edgeae.core.images import tile_grid, to_uint8, write_png

log = logging.getLogger(__name__)


def _latency_ms(model, frames: np.ndarray, warmup: int = 10) -> np.ndarray:
    """Per-frame wall time of model.reconstruct on single uint8 frames, after warm-up."""
    for frame in frames[:warmup]:
        model.reconstruct(frame)
    times = np.empty(len(frames))
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        model.reconstruct(frame)
        times[i] = (time.perf_counter() - start) * 1e3
    return times


def run_demo(out: str | Path = "edgeae-demo", epochs: int = 60,
             overwrite: bool = False) -> dict[str, float | int | str]:
    """Train, export and run the runtime on digits; return and write the metrics."""
    import edgeae.runtime as rt
    from edgeae.core.data import load_data
    from edgeae.core.modeldir import ModelDir
    from edgeae.export.artifacts import export_model
    from edgeae.train.fit import TrainSettings, train

    out = Path(out)
    splits = load_data("digits")
    test = splits.test.read_batch(np.arange(len(splits.test)))  # (N, 8, 8, 1) float32
    with atomic_dir(out, overwrite) as work:
        manifest = train(splits.train, work / "model", TrainSettings(epochs=epochs, patience=8))
        exported = export_model(ModelDir.open(work / "model"), work / "export").artifacts[0]
        model = rt.load(exported.path)
        restored = model.reconstruct(test)
        latency = _latency_ms(model, to_uint8(test[..., 0]))
        grid = tile_grid([list(test[:16]), list(restored[:16])], pad=1)
        write_png(work / "reconstructions.png", grid.repeat(8, 0).repeat(8, 1))  # 8x8 is tiny
        metrics = {
            "dataset": "digits (scikit-learn, 8x8)",
            "train_images": manifest.data.n_train, "test_images": len(test),
            "epochs_run": manifest.training.epochs_run,
            "train_seconds": manifest.training.seconds,
            "val_mse": manifest.training.val_mse,
            "test_mse_runtime": float(np.mean((restored - test) ** 2)),
            "parity_max_abs_diff": exported.manifest.artifact.parity.max_abs_diff,
            "artifact": f"export/{exported.path.name}",
            "artifact_bytes": exported.manifest.artifact.size_bytes,
            "latency_ms_p50": float(np.percentile(latency, 50)),
            "latency_ms_p99": float(np.percentile(latency, 99)),
            "frames_per_second": float(1e3 / np.median(latency)),
        }
        metrics["denoise"] = denoise_photo(work / "denoising.png")
        metrics["anomaly"] = detect_digits(splits, work, epochs)
        metrics["generation"] = generate_digits(splits, work, epochs)
        metrics["report"] = benchmark_and_report(work, out)
        write_json(work / "metrics.json", metrics)
    return metrics


def generate_digits(splits, work: Path, epochs: int) -> dict:
    """A VAE learns the digits; its exported decoder generates through the runtime.

    generation.png: 4 rows of 8 samples, then one row interpolating between two fresh codes.
    """
    import edgeae.runtime as rt
    from edgeae.core.modeldir import ModelDir
    from edgeae.export.artifacts import export_model
    from edgeae.export.options import ExportOptions
    from edgeae.train.generative import VAE

    train_x = splits.train.read_batch(np.arange(len(splits.train)))
    vae = VAE(latent_dim=4, filters=(16, 32), epochs=epochs, kl_warmup_epochs=5).fit(
        train_x, out=work / "vae")
    exported = export_model(ModelDir.open(work / "vae"), work / "vae-export",
                            ExportOptions(part="decoder")).artifacts[0]
    generator = rt.load(exported.path)
    samples = generator.sample(32, seed=0) / 255.0
    codes = np.random.default_rng(1).standard_normal((2, generator.latent_dim))
    path = generator.interpolate(codes[0], codes[1], steps=8) / 255.0
    grid = tile_grid([list(samples[i:i + 8]) for i in range(0, 32, 8)] + [list(path)], pad=1)
    write_png(work / "generation.png", grid.repeat(8, 0).repeat(8, 1))
    test = splits.test.read_batch(np.arange(len(splits.test)))
    return {"artifact": f"vae-export/{exported.path.name}", "latent_dim": 4,
            "test_elbo_nats": float(vae.elbo(test).mean()),
            "grid": "generation.png (4 rows of samples, then an interpolation)"}


def benchmark_and_report(work: Path, out: Path) -> str:
    """Benchmark the autoencoder on every backend, then write report.html; return its path.

    Quality is measured on the test digits.
    """
    from edgeae.app.benchmark import BenchmarkOptions, benchmark, model_target
    from edgeae.app.report import write_report

    options = BenchmarkOptions(precisions=("fp32", "int8"), sizes=((64, 64), (480, 640)),
                               threads=(1,), data="digits", repeats=20)
    bench = work / "benchmark"
    benchmark(model_target(work / "model", bench / "artifacts", options), bench, options)
    write_report(work / "model", work / "report.html", benchmark_dir=bench)
    return str(out / "report.html")


def denoise_photo(grid_path: Path, sigma: float = 25.0) -> dict[str, float | str]:
    """The pretrained `live` model on a noisy photograph; write the grid, return PSNRs."""
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio

    import edgeae.runtime as rt
    from edgeae.runtime.pretrained import pretrained_path

    clean = data.camera()
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(clean + sigma * rng.standard_normal(clean.shape)), 0, 255)
    noisy = noisy.astype(np.uint8)
    path = pretrained_path("live")
    model = rt.load(path, task="denoise")
    denoised = model.denoise(noisy)
    write_png(grid_path, tile_grid([[x[..., None] / 255.0 for x in (noisy, denoised, clean)]]))
    return {"image": "skimage.data.camera() 512x512", "sigma": sigma,
            "model": f"pretrained live ({path.name})",
            "psnr_noisy_db": float(peak_signal_noise_ratio(clean, noisy)),
            "psnr_denoised_db": float(peak_signal_noise_ratio(clean, denoised)),
            "grid": grid_path.name}


def detect_digits(splits, work: Path, epochs: int, normal: int = 0) -> dict:
    """Learn one digit, export, score all test digits through the runtime; write heat maps.

    8x8 digits take an 8-d code (the 64-d default is as large as the image itself); the score
    is the default, HOG k-NN, and the maps the autoencoder's error.
    """
    import cv2

    import edgeae.runtime as rt
    from edgeae.core.images import overlay
    from edgeae.core.metrics import detection_metrics
    from edgeae.core.modeldir import ModelDir
    from edgeae.export.artifacts import export_model
    from edgeae.train.detector import Detector

    train_x = splits.train.read_batch(np.arange(len(splits.train)))
    Detector(latent_dim=8, epochs=epochs).fit(
        train_x[splits.train.labels == normal], out=work / "detector")
    exported = export_model(ModelDir.open(work / "detector"), work / "detector-export")
    scorer = rt.load(exported.artifacts[0].path)
    test = splits.test.read_batch(np.arange(len(splits.test)))
    scores, maps, _ = scorer.score_batch(test)
    anomalous = splits.test.labels != normal
    shown = [*np.argsort(-scores)[:6], *np.flatnonzero(~anomalous)[:2]]  # top scores, 2 normal
    scale = scorer.heat_scale or float(maps[shown].max())
    tiles = [cv2.resize(overlay(test[i], maps[i], scale), (64, 64),
                        interpolation=cv2.INTER_NEAREST) for i in shown]
    cv2.imwrite(str(work / "anomalies.png"), cv2.hconcat(tiles))
    result = detection_metrics(scores, anomalous, scorer.threshold)
    return {"normal_digit": normal, "threshold_strategy": scorer.manifest.threshold_strategy,
            "artifact": f"detector-export/{exported.artifacts[0].path.name}",
            "heat_maps": "anomalies.png (6 highest scores, then 2 normal digits)",
            **{k: result[k] for k in ("threshold", "auroc", "accuracy", "precision", "recall",
                                      "confusion_matrix")}}
