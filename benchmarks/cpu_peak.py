"""The CPU's own multiply-accumulate ceiling beside what each engine gets of it, in one run.

`edgeae benchmark --peak` compares a model with what the same engine achieves on plain
convolutions. This asks the question below that: how many multiply-accumulates a second the
CPU's vector units can do at all, per precision, and what share of that each engine's run of
the shipped `live` and `quality` takes. cpu_peak.c, compiled here with gcc, keeps 12 independent
chains of the widest instruction busy in each of --threads threads: fp32 FMA (AVX-512), int8
VNNI (vpdpbusd) and bf16 (vdpbf16ps), each only where /proc/cpuinfo lists it; without them the
256-bit AVX2 ones (fp32 FMA; int8 as engines compute it without VNNI, vpmaddubsw + vpmaddwd).
AMX, a separate unit on some Xeons, is not measured. The ceiling is measured three times
before the engines and three times after, and its largest value is used.

The engines run the shipped files as installed (LiteRT on .tflite fp32 and int8, onnxruntime
and OpenVINO on the int8 ONNX file, OpenVINO on the fp32 ONNX file): one 480x640 gray frame
(Set12's 08.png resized), --threads threads, interleaved rounds (every other round reversed),
p50 and p99. A row's GMAC/s is the model's multiply-accumulates per frame (the benchmark's own
count) over its p50. The summary gives, for issue 20's target, the rate `live` int8 would need
to run 2.5x faster than LiteRT's int8, as a multiple of the CPU's int8 ceiling.

    .venv/bin/python benchmarks/cpu_peak.py --data ../shared/data \
        --out benchmarks/results/cpu_peak.json          # about 1 minute on 2 cores
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ncnn_side_by_side import FRAME, frame_batch
from pi_estimate import macs_for
from provenance import finished, provenance, write_result

from edgeae.core.cpu import cpu_flags
from edgeae.runtime.backends import open_session
from edgeae.runtime.pretrained import PRETRAINED_DIR

SOURCE = Path(__file__).with_name("cpu_peak.c")
# per precision, cpu_peak.c's kernels, widest first, with the /proc/cpuinfo flags each needs
KERNELS = {"fp32": (("fp32", ("avx512f",)), ("fp32-avx2", ("avx2", "fma"))),
           "int8": (("int8", ("avx512f", "avx512_vnni")), ("int8-avx2", ("avx2",))),
           "bf16": (("bf16", ("avx512f", "avx512_bf16")),)}
ITERATIONS = 100_000_000  # about a third of a second a kernel on a 3.7 GHz core
CEILING_RUNS = 3
ROWS = (("litert", "fp32", "{}_fp32.tflite"), ("litert", "int8", "{}_int8.tflite"),
        ("onnxruntime", "int8", "{}_int8.onnx"), ("openvino", "fp32", "{}_fp32.onnx"),
        ("openvino", "int8", "{}_int8.onnx"))
NAMES = ("live", "quality")
ROUNDS, CALLS = 10, 3
TARGET_SPEEDUP = 2.5  # issue 20: `live` int8 through the fastest backend over LiteRT int8
TARGET_FPS = 30  # issue 20: `quality` at 640x480 through the fastest precision passing its gate


def build(folder: Path) -> Path:
    """cpu_peak.c compiled into `folder`."""
    compiler = shutil.which("gcc")
    if compiler is None:
        sys.exit("cpu_peak.py needs gcc to build cpu_peak.c: apt-get install gcc")
    binary = folder / "cpu_peak"
    subprocess.run([compiler, "-O2", "-pthread", str(SOURCE), "-o", str(binary)], check=True)
    return binary


def kernels_for(flags: frozenset[str]) -> dict[str, str]:
    """Per precision, the widest kernel this CPU runs, or why none is measured."""
    picked = {}
    for precision, kernels in KERNELS.items():
        runnable = [name for name, needs in kernels if set(needs) <= flags]
        lacking = [flag for flag in kernels[-1][1] if flag not in flags]
        picked[precision] = (runnable[0] if runnable
                             else f"not measured: this CPU lacks {', '.join(lacking)}")
    return picked


def ceilings(binary: Path, threads: int, kernels: dict[str, str]) -> dict[str, list[float] | str]:
    """Per precision: each run's GMAC/s on `threads` threads, or why it was not measured."""
    return {precision: [kernel_rate(binary, kernel, threads) for _ in range(CEILING_RUNS)]
            if kernel in dict(KERNELS[precision]) else kernel
            for precision, kernel in kernels.items()}


def kernel_rate(binary: Path, kernel: str, threads: int) -> float:
    """GMAC/s of one run of one kernel."""
    done = subprocess.run([str(binary), kernel, str(threads), str(ITERATIONS)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["gmacs_per_s"]


def engine_times(name: str, batch: np.ndarray, threads: int) -> dict[tuple, list[float]]:
    """Milliseconds per frame of every row of one model, in interleaved rounds."""
    sessions = {(engine, precision, pattern.format(name)): open_session(
        PRETRAINED_DIR / pattern.format(name), engine, threads)[0]
        for engine, precision, pattern in ROWS}
    for session in sessions.values():
        session.run(batch)
        session.run(batch)  # warm-ups
    times: dict[tuple, list[float]] = {key: [] for key in sessions}
    for round_ in range(ROUNDS):
        for key, session in list(sessions.items())[::1 if round_ % 2 else -1]:
            for _ in range(CALLS):
                start = time.perf_counter()
                session.run(batch)
                times[key].append((time.perf_counter() - start) * 1e3)
    return times


def rows_for(name: str, times: dict[tuple, list[float]], ceiling: dict[str, float]) -> list:
    """One row per engine and file: p50 / p99 ms, GMAC/s and its share of the ceiling."""
    macs = macs_for(name, FRAME)[1]
    rows = []
    for (engine, precision, file), ms in times.items():
        p50 = float(np.median(ms))
        gmacs = macs / (p50 / 1e3) / 1e9
        peak = ceiling.get(precision)
        rows.append({"model": name, "engine": engine, "precision": precision, "file": file,
                     "gmacs_per_frame": round(macs / 1e9, 2), "p50_ms": round(p50, 2),
                     "p99_ms": round(float(np.percentile(ms, 99)), 2),
                     "gmacs_per_s": round(gmacs, 1),
                     "pct_of_ceiling": round(100 * gmacs / peak, 1) if peak else None})
    return rows


def target_summary(rows: list[dict], ceiling: dict[str, float]) -> dict:
    """What issue 20's two speed targets ask of the CPU, against its int8 ceiling.

    `live` int8 2.5x faster than LiteRT's int8, and `quality` at 30 frames/s (int8, the
    fastest precision here): the GMAC/s each needs, and that as a multiple of the ceiling.
    """
    live = {(r["engine"], r["precision"]): r for r in rows if r["model"] == "live"}
    litert = live[("litert", "int8")]
    fastest = min((r for r in live.values() if r["precision"] == "int8"),
                  key=lambda r: r["p50_ms"])
    needs = {"live_2.5x_litert_int8": TARGET_SPEEDUP * litert["gmacs_per_s"],
             "quality_30_fps": TARGET_FPS * next(r["gmacs_per_frame"] for r in rows
                                                 if r["model"] == "quality")}
    return {"live_fastest_int8": f"{fastest['engine']} ({fastest['file']})",
            "live_fastest_x_litert_int8": round(litert["p50_ms"] / fastest["p50_ms"], 2),
            **{target: {"needs_gmacs_per_s": round(gmacs, 1),
                        "x_int8_ceiling": round(gmacs / ceiling["int8"], 2)
                        if "int8" in ceiling else None}
               for target, gmacs in needs.items()}}


def main() -> None:
    """Measure the ceilings and the engines, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    batch, kernels = frame_batch(args.data), kernels_for(cpu_flags())
    with tempfile.TemporaryDirectory() as tmp:
        binary = build(Path(tmp))
        before = ceilings(binary, args.threads, kernels)
        times = {name: engine_times(name, batch, args.threads) for name in NAMES}
        after = ceilings(binary, args.threads, kernels)
    ceiling = {k: max(before[k] + after[k]) for k in before if isinstance(before[k], list)}
    report = {k: {"kernel": kernels[k], "runs_before": before[k], "runs_after": after[k],
                  "max": ceiling[k]} if k in ceiling else before[k] for k in before}
    rows = [row for name in NAMES for row in rows_for(name, times[name], ceiling)]
    command = " ".join(["python benchmarks/cpu_peak.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "frame": list(FRAME),
                  "threads": args.threads,
                  "ceilings_gmacs_per_s": report,
                  "rows": rows, "summary": target_summary(rows, ceiling)}, args.out)


if __name__ == "__main__":
    main()
