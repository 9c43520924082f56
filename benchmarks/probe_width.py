"""Which convolution shape each engine runs fastest: the probe of `edgeae benchmark --peak`.

The probe's GMAC/s is meant as what an engine achieves on this machine. Four 3x3 convolutions
of 64 channels at 128x128 (the probe until 2026-12-07) were beaten by the `live` U-Net itself
(113-123% on LiteRT and OpenVINO int8), so the "peak" was none. This times the probe at several
widths of about the same multiply-accumulates (wider layers, smaller frames), exported by the
same converters to each format and precision and run by each engine, interleaved, with the same
thread count. The probe is the shape every engine comes closest to its own best at: each
row's rate over the best shape's for that engine and precision, the worst of those per shape,
and among shapes within 1% of the best such worst the one with the fewest weights (`chosen`;
app/peak.py's PROBE_SHAPE). The rule was set after a first look at a scratch run of these
shapes on the same CPU (2026-12-07), which showed int8 gaining 10-40% from 64 to 512 channels.

    .venv/bin/python benchmarks/probe_width.py --out benchmarks/results/probe_width.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import finished, provenance, write_result

import edgeae.app.peak as peak
from edgeae.runtime.backends import open_session

SHAPES = ((128, 128, 64), (64, 64, 128), (32, 32, 256), (24, 24, 320), (16, 16, 512))
ROWS = (("tflite", "fp32", "litert"), ("tflite", "int8", "litert"),
        ("onnx", "fp32", "onnxruntime"), ("onnx", "int8", "onnxruntime"),
        ("onnx", "fp32", "openvino"), ("onnx", "int8", "openvino"))
ROUNDS, CALLS = 5, 3


def probes(work: Path) -> dict:
    """(shape, format, precision) -> the probe's file, exported as --peak exports it."""
    files = {}
    for shape in SHAPES:
        peak.PROBE_SHAPE = shape  # write_probes builds and calibrates at PROBE_SHAPE
        folder = work / "x".join(map(str, shape))
        folder.mkdir()
        pairs = {(fmt, precision) for fmt, precision, _ in ROWS}
        for (fmt, precision), path in peak.write_probes(folder, pairs).items():
            files[(shape, fmt, precision)] = path
    return files


def timed(files: dict, threads: int) -> dict:
    """Milliseconds per call of each (shape, row), in interleaved rounds."""
    sessions = {(shape, row): open_session(files[(shape, *row[:2])], row[2], threads)[0]
                for shape in SHAPES for row in ROWS}
    inputs = {shape: np.random.default_rng(0).random((1, *shape), dtype=np.float32)
              for shape in SHAPES}
    times = {key: [] for key in sessions}
    for key, session in sessions.items():
        session.run(inputs[key[0]])  # warm-up
    for round_ in range(ROUNDS):
        for key in (list(sessions) if round_ % 2 == 0 else list(sessions)[::-1]):
            for _ in range(CALLS):
                start = time.perf_counter()
                sessions[key].run(inputs[key[0]])
                times[key].append((time.perf_counter() - start) * 1e3)
    return times


def row(shape: tuple[int, int, int], engine: tuple[str, str, str], ms: float) -> dict:
    """One shape's result on one (format, precision, backend): its median and GMAC/s."""
    fmt, precision, backend = engine
    return {"shape": "x".join(map(str, shape)), "format": fmt, "precision": precision,
            "backend": backend, "params": peak.PROBE_LAYERS * 9 * shape[2] ** 2,
            "ms_p50": round(ms, 3), "gmacs_per_s": round(peak.probe_macs(shape) / ms / 1e6, 1)}


def main() -> None:
    """Export, time and print every shape's rate per engine and precision."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    run = provenance()
    with tempfile.TemporaryDirectory() as work:
        times = timed(probes(Path(work)), args.threads)
    rows = [row(shape, engine, statistics.median(times[(shape, engine)]))
            for shape in SHAPES for engine in ROWS]
    write_result({**finished(run), "threads": args.threads, "rounds": ROUNDS, "calls": CALLS,
                  "rows": rows, "chosen": chosen_shape(rows)}, args.out)


def chosen_shape(rows: list[dict]) -> str:
    """The shape whose slowest engine is nearest its best (within 1%: the fewest weights)."""
    best = {}
    for r in rows:
        key = (r["format"], r["precision"], r["backend"])
        best[key] = max(best.get(key, 0.0), r["gmacs_per_s"])
    worst = {}
    for r in rows:
        share = r["gmacs_per_s"] / best[(r["format"], r["precision"], r["backend"])]
        worst[r["shape"]] = min(worst.get(r["shape"], 1.0), share)
    params = {r["shape"]: r["params"] for r in rows}
    near = [shape for shape, share in worst.items() if share >= max(worst.values()) - 0.01]
    return min(near, key=params.get)


if __name__ == "__main__":
    main()
