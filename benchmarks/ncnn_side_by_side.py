"""ncnn beside LiteRT, onnxruntime and OpenVINO on the shipped float denoisers, in one run.

`live` and `quality` are rebuilt from their shipped fp32 ONNX files with today's layers
(train/from_artifact.py, checked against the file) and converted to ncnn by the export's own
converter (export/ncnn.py: pnnx, fp32 and fp16 weights). Every engine runs the same 480x640 gray
frame (Set12's 08.png resized), float32, on --threads threads: p50 / p99 ms of --runs runs after
two warm-ups, and the largest difference from onnxruntime's output on the shipped ONNX file.

    .venv/bin/python benchmarks/ncnn_side_by_side.py --data ../shared/data --threads 2 \
        --out benchmarks/results/ncnn.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result

from edgeae.export.ncnn import NcnnConverter
from edgeae.export.options import ExportOptions
from edgeae.runtime.auto import run_times_ms
from edgeae.runtime.backends import open_session
from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.from_artifact import keras_from_onnx

FRAME = (480, 640)
NAMES = ("live", "quality")


def frame_batch(data: Path) -> np.ndarray:
    """Set12's 08.png at 480x640, as the runtime feeds it: NHWC float32 in [0, 1]."""
    image = cv2.imread(str(data / "set12" / "08.png"), cv2.IMREAD_GRAYSCALE)
    resized = cv2.resize(image, FRAME[::-1], interpolation=cv2.INTER_AREA)
    return (resized.astype(np.float32) / 255)[None, ..., None]


def ncnn_files(name: str, folder: Path) -> dict[str, Path]:
    """The shipped model rebuilt and converted to ncnn fp32 and fp16: precision -> .param."""
    model, manifest = keras_from_onnx(PRETRAINED_DIR / f"{name}_fp32.onnx", 1e-4)
    converter = NcnnConverter(model, (None, None, manifest.input.model_channels), ExportOptions())
    return {p: converter.convert(p, None).write_to(folder / f"{name}_{p}.param")
            for p in ("fp32", "fp16")}


def rows_for(name: str, batch: np.ndarray, threads: int, runs: int, folder: Path) -> list[dict]:
    """One row per (engine, file): its times and its largest difference from onnxruntime."""
    onnx = PRETRAINED_DIR / f"{name}_fp32.onnx"
    reference = np.array(open_session(onnx, "onnxruntime", threads)[0].run(batch))
    ncnn = ncnn_files(name, folder)
    runs_on = [("litert", PRETRAINED_DIR / f"{name}_fp32.tflite"), ("onnxruntime", onnx),
               ("openvino", onnx), ("ncnn", ncnn["fp32"]), ("ncnn", ncnn["fp16"])]
    rows = []
    for backend, path in runs_on:
        out = np.array(open_session(path, backend, threads)[0].run(batch))
        times = run_times_ms(path, backend, batch, threads, runs, warmup=2)
        rows.append({"model": name, "backend": backend, "file": path.name,
                     "p50_ms": round(statistics.median(times), 2),
                     "p99_ms": round(float(np.percentile(times, 99)), 2),
                     "max_abs_diff": float(np.abs(out - reference).max())})
    return rows


def main() -> None:
    """Measure, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ncnn.json"))
    args = parser.parse_args()
    batch = frame_batch(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in NAMES
                for row in rows_for(name, batch, args.threads, args.runs, Path(tmp))]
    command = " ".join(["python benchmarks/ncnn_side_by_side.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "frame": list(FRAME),
                  "threads": args.threads, "runs": args.runs, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
