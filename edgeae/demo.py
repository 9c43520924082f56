"""`edgeae demo`: the whole pipeline on scikit-learn's digits, offline, in about a minute.

Trains the conv autoencoder, exports it to float32 TFLite, runs the runtime on the held-out
test digits and writes a reconstruction grid and metrics.json. Then denoises scikit-image's
`camera` photograph (Gaussian noise, sigma 25, clipped to uint8 as a camera would) with the
shipped pretrained `live` model through the runtime: a noisy | denoised | clean grid and PSNR.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from edgeae.files import atomic_dir, write_json
from edgeae.runtime.images import tile_grid, to_uint8, write_png

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
    from edgeae.export.artifacts import export_model
    from edgeae.train.fit import TrainSettings, train
    from edgeae.train.modeldir import ModelDir
    from edgeae.train.sources import load_data

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
        write_json(work / "metrics.json", metrics)
    return metrics


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
