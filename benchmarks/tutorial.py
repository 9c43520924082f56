"""Reproduce the TensorFlow "Intro to Autoencoders" tutorial's first two examples on Fashion-MNIST.

Side by side in one run: the tutorial's own recipe (Keras `fit` on in-memory arrays, validation
on x_test, noise drawn once) and edgeae's product path (`edgeae.train.fit.train`: tf.data
streaming, a seeded 10% validation split of x_train, fresh noise every batch), both with the
same registered architectures. Then each edgeae model is exported to float32 TFLite and timed in
the runtime against Keras. Quality is measured on x_test (never used for training or choices).

    python benchmarks/tutorial.py --data ../shared/data/fashion_mnist.npz \
        --out benchmarks/results/tutorial.json
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

import edgeae  # noqa: E402
import edgeae.runtime as rt  # noqa: E402
from edgeae.core.data import load_data  # noqa: E402
from edgeae.core.modeldir import ModelDir  # noqa: E402
from edgeae.export.artifacts import export_model  # noqa: E402
from edgeae.train.fit import TrainSettings, train  # noqa: E402
from edgeae.train.keras_backend import load_keras  # noqa: E402
from edgeae.train.models import create_model  # noqa: E402
from edgeae.train.noise_spec import noise_from_factor  # noqa: E402

NOISE = 0.2


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def noisy(x: np.ndarray, seed: int) -> np.ndarray:
    """The tutorial's corruption: clip(x + 0.2 * N(0, 1), 0, 1)."""
    rng = np.random.default_rng(seed)
    return np.clip(x + NOISE * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)


def quality(restored: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """MSE, mean PSNR and mean SSIM over images (data range 1)."""
    psnr = [peak_signal_noise_ratio(c, r, data_range=1.0) for c, r in zip(clean, restored)]
    ssim = [structural_similarity(c[..., 0], r[..., 0], data_range=1.0)
            for c, r in zip(clean, restored)]
    return {"mse": float(np.mean((restored - clean) ** 2)), "psnr_db": float(np.mean(psnr)),
            "ssim": float(np.mean(ssim))}


def tutorial_recipe(name: str, x_train, y_train, x_test, y_test, epochs: int, batch: int) -> dict:
    """The notebook's way: fit on arrays, validate on x_test."""
    keras.utils.set_random_seed(0)
    model = create_model(name, (28, 28, 1))
    model.compile(optimizer="adam", loss="mse")
    timer = EpochTimer()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch, shuffle=True,
              validation_data=(x_test, y_test), callbacks=[timer], verbose=2)
    out = model.predict(x_test, batch_size=256, verbose=0)
    return {"seconds_per_epoch": float(np.median(timer.times)), **quality(out, y_test)}


def latency(run, frames: np.ndarray, repeats: int) -> dict[str, float]:
    """Median and p99 ms per call of run(frame), after warm-up."""
    for f in frames[:20]:
        run(f)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        run(frames[i % len(frames)])
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def edgeae_path(task: str, name: str, data: str, x_test, y_test, epochs: int, batch: int,
                work: Path, threads: int) -> dict:
    """The edgeae way: training, export and runtime on the same data and architecture."""
    splits = load_data("fashion-mnist", data_dir=Path(data))
    settings = TrainSettings(task=task, architecture=name, epochs=epochs, batch_size=batch,
                             patience=epochs,
                             noise=noise_from_factor(NOISE) if task == "denoiser" else None)
    timer = EpochTimer()
    manifest = train(splits.train, work / name, settings, callbacks=[timer], verbose=2)
    model_dir = ModelDir.open(work / name)
    keras_model = load_keras(model_dir)
    exported = export_model(model_dir, work / f"{name}-export").artifacts[0]
    runtime = rt.load(exported.path, num_threads=threads)
    keras_out = keras_model.predict(x_test, batch_size=256, verbose=0)
    tflite_out = runtime.reconstruct(x_test)
    frames = x_test[:200]
    batch32 = x_test[:32]
    keras_b1 = latency(lambda f: keras_model(f[None], training=False), frames, 300)
    tflite_b1 = latency(runtime.reconstruct, frames, 2000)
    keras_b32 = latency(lambda f: keras_model(batch32, training=False), frames, 50)
    tflite_b32 = latency(lambda f: runtime.reconstruct(batch32), frames, 200)
    return {
        "seconds_per_epoch": float(np.median(timer.times)),
        "epochs_run": manifest.training.epochs_run,
        "val_mse_on_train_split": manifest.training.val_mse,
        "keras": quality(keras_out, y_test),
        "tflite_fp32": quality(tflite_out, y_test),
        "tflite_max_abs_diff_vs_keras_on_test": float(np.abs(tflite_out - keras_out).max()),
        "tflite_bytes": exported.manifest.artifact.size_bytes,
        "latency_batch1": {"keras": keras_b1, "tflite": tflite_b1,
                           "speedup": keras_b1["p50_ms"] / tflite_b1["p50_ms"]},
        "images_per_second_batch32": {"keras": 32e3 / keras_b32["p50_ms"],
                                      "tflite": 32e3 / tflite_b32["p50_ms"]},
    }


def main() -> None:
    """Run both examples both ways and print one JSON document."""
    from provenance import cpu_model, provenance  # benchmarks/provenance.py, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="fashion_mnist.npz (x_train ... y_test)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tutorial.json"))
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)

    with np.load(args.data) as npz:
        x_train = (npz["x_train"].astype(np.float32) / 255)[..., None]
        x_test = (npz["x_test"].astype(np.float32) / 255)[..., None]
    x_train_noisy, x_test_noisy = noisy(x_train, 1), noisy(x_test, 2)
    e, b = args.epochs, args.batch_size
    result = {
        "command": "python benchmarks/tutorial.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "date": time.strftime("%Y-%m-%d"),
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_1_5_15": {"before": [round(v, 2) for v in os.getloadavg()]},
        "cpu": cpu_model(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": {"edgeae": edgeae.__version__, "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__,
                     **provenance()["versions"]},
        "noisy_input_quality": quality(x_test_noisy, x_test),
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["dense_autoencoder"] = {
            "tutorial_recipe": tutorial_recipe("dense", x_train, x_train, x_test, x_test, e, b),
            "edgeae": edgeae_path("autoencoder", "dense", args.data, x_test, x_test, e, b,
                                  Path(tmp), args.threads)}
        result["conv_denoiser"] = {
            "tutorial_recipe": tutorial_recipe("conv", x_train_noisy, x_train, x_test_noisy,
                                               x_test, e, b),
            "edgeae": edgeae_path("denoiser", "conv", args.data, x_test_noisy, x_test, e, b,
                                  Path(tmp), args.threads)}
    result["finished_utc"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result["load_average_1_5_15"]["after"] = [round(v, 2) for v in os.getloadavg()]
    from provenance import write_result  # benchmarks/provenance.py, beside this script

    write_result(result, args.out)


if __name__ == "__main__":
    main()
