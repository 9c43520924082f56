"""Size, parity and quality of every export artifact of the tutorial's two Fashion-MNIST models.

Trains (or reuses, from --work) the tutorial's dense autoencoder and conv denoiser with edgeae
(Adam, MSE, 10 epochs, batch 32), exports each to TFLite fp32/fp16/int8-dynamic/int8 and ONNX
fp32/int8-dynamic/int8, plus int8 variants that answer which quantization choices keep quality
(TFLite float32 vs uint8 input/output, per-tensor vs per-channel weights, fewer
calibration images). Every artifact is then run by its runtime backend on the whole test split
(never used for training, calibration or any choice) and compared with the Keras model.

    python benchmarks/export.py --data ../shared/data/fashion_mnist.npz \
        --work benchmarks/results/export-work --out benchmarks/results/export.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

import edgeae  # noqa: E402
import edgeae.runtime as rt  # noqa: E402
from edgeae.core.data import load_data  # noqa: E402
from edgeae.core.modeldir import ModelDir  # noqa: E402
from edgeae.export.artifacts import export_model, model_inputs  # noqa: E402
from edgeae.export.options import ExportOptions  # noqa: E402
from edgeae.export.parity import mean_psnr, run_batched  # noqa: E402
from edgeae.train.fit import TrainSettings, train  # noqa: E402
from edgeae.train.keras_backend import KerasSession, load_keras  # noqa: E402
from edgeae.train.noise_spec import noise_from_factor  # noqa: E402

MODELS = {"dense_autoencoder": ("autoencoder", "dense"), "conv_denoiser": ("denoiser", "conv")}
ALL = ExportOptions(formats=("tflite", "onnx"), precisions=("fp32", "fp16", "int8-dynamic", "int8"),
                    allow_drift=True)
VARIANTS = {  # name -> the options that differ from the default int8 export
    "tflite int8, float32 input/output": ExportOptions(precisions=("int8",), int8_io="float32"),
    "tflite int8, 20 calibration images": ExportOptions(precisions=("int8",),
                                                        calibration_samples=20),
    "tflite int8, per-tensor weights": ExportOptions(precisions=("int8",), per_channel=False),
    "onnx int8, per-tensor weights": ExportOptions(formats=("onnx",), precisions=("int8",),
                                                   per_channel=False),
}


def trained(name: str, data: str, work: Path, epochs: int) -> ModelDir:
    """The model directory for `name`, trained now unless --work already holds it."""
    task, architecture = MODELS[name]
    path = work / name
    if not (path / "manifest.json").exists():
        splits = load_data("fashion-mnist", data_dir=Path(data))
        settings = TrainSettings(task=task, architecture=architecture, epochs=epochs,
                                 batch_size=32, patience=epochs,
                                 noise=noise_from_factor(0.2) if task == "denoiser" else None)
        train(splits.train, path, settings, verbose=2)
    return ModelDir.open(path)


def quality(outputs: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """MSE, mean PSNR and mean SSIM against the clean images."""
    ssim = [structural_similarity(c[..., 0], np.clip(o[..., 0], 0, 1), data_range=1.0)
            for o, c in zip(outputs, clean)]
    return {"mse": float(np.mean((outputs - clean) ** 2)), "psnr_db": mean_psnr(outputs, clean),
            "ssim": float(np.mean(ssim))}


def latency_ms(model, frames: np.ndarray, repeats: int = 500) -> float:
    """Median ms of model.reconstruct on one uint8 frame, after warm-up."""
    for frame in frames[:20]:
        model.reconstruct(frame)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        model.reconstruct(frames[i % len(frames)])
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def evaluate(path: Path, inputs: np.ndarray, clean: np.ndarray, keras_out: np.ndarray,
             threads: int) -> dict:
    """One artifact on the test split, through the runtime."""
    model = rt.load(path, num_threads=threads)
    out = model.reconstruct(inputs)
    art = model.manifest.artifact
    return {"file": path.name, "bytes": art.size_bytes, **quality(out, clean),
            "max_abs_diff_vs_keras": float(np.abs(out - keras_out).max()),
            "mean_abs_diff_vs_keras": float(np.abs(out - keras_out).mean()),
            "export_gate_passed": _passed(path),
            "latency_ms_p50_batch1": latency_ms(
                model, np.rint(inputs[:200, ..., 0] * 255).astype(np.uint8))}


def _passed(path: Path) -> bool:
    report = json.loads((path.parent / "parity.json").read_text())
    return next(r["passed"] for r in report["artifacts"] if r["file"] == path.name)


def bench_model(name: str, args: argparse.Namespace, x_test: np.ndarray) -> dict:
    """Export every artifact and variant of one model and evaluate them side by side."""
    model_dir = trained(name, args.data, args.work, args.epochs)
    inputs = model_inputs(x_test, model_dir.manifest, seed=1)  # noisy for the denoiser
    keras_out = run_batched(KerasSession(load_keras(model_dir)), inputs, batch_size=256)
    exports = args.work / f"{name}-exports"
    results = {"keras": {"bytes": (model_dir.path / "model.keras").stat().st_size,
                         **quality(keras_out, x_test)},
               "input": quality(inputs, x_test), "artifacts": [], "variants": []}
    report = export_model(model_dir, exports / "all", replace(ALL, overwrite=True))
    print(report.table, flush=True)
    for exported in report.artifacts:
        results["artifacts"].append(evaluate(exported.path, inputs, x_test, keras_out,
                                             args.threads))
    for variant, options in VARIANTS.items():
        folder = exports / variant.replace(" ", "_").replace(",", "").replace("/", "-")
        done = export_model(model_dir, folder, replace(options, allow_drift=True, overwrite=True))
        row = evaluate(done.artifacts[0].path, inputs, x_test, keras_out, args.threads)
        results["variants"].append({"variant": variant, **row})
    fp32 = next(r["bytes"] for r in results["artifacts"] if r["file"] == "model_fp32.tflite")
    for row in results["artifacts"] + results["variants"]:
        row["size_vs_tflite_fp32"] = row["bytes"] / fp32
        row["psnr_drop_vs_keras_db"] = results["keras"]["psnr_db"] - row["psnr_db"]
    return results


def main() -> None:
    """Run both models and print one JSON document."""
    from provenance import cpu_model  # benchmarks/provenance.py, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="fashion_mnist.npz (x_train ... y_test)")
    parser.add_argument("--work", type=Path, required=True,
                        help="folder for the trained models and exports (reused when present)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/export.json"))
    args = parser.parse_args()
    with np.load(args.data) as npz:
        x_test = (npz["x_test"].astype(np.float32) / 255)[..., None]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = [round(v, 2) for v in os.getloadavg()]
    result = {
        "command": "python benchmarks/export.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_model(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": _versions(),
        **{name: bench_model(name, args, x_test) for name in MODELS},
    }
    result |= {"started_utc": started,
               "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "load_average_1_5_15": {"before": load_before,
                                       "after": [round(v, 2) for v in os.getloadavg()]}}
    from provenance import write_result  # benchmarks/provenance.py, beside this script

    write_result(result, args.out)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert",
             "numpy")
    return {"edgeae": edgeae.__version__, **{name: version(name) for name in names}}


if __name__ == "__main__":
    main()
