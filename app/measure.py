"""One backend's measurements, in a process of its own: `python -m edgeae.app.measure JOB.json`.

`edgeae benchmark` starts one of these per backend, precision and thread count, so the import
time and peak memory it reports belong to that backend alone. A runtime backend's process
imports the runtime and nothing else (no TensorFlow); the Keras one imports Keras. The job and
its result are JSON files; quality inputs and outputs travel as .npy files.
"""

from __future__ import annotations

import importlib
import itertools
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeae.core.errors import EdgeaeError

if TYPE_CHECKING:  # the runtime is imported by the jobs that run it, not by this module
    from edgeae.runtime.capture import Source

PEAK_RESET = Path("/proc/self/clear_refs")  # writing "5" resets the peak resident size (Linux)
BATCH = 32
DECODE_FRAMES = 300  # frames of --video read alone to time the decoding (a long video: its start)


@dataclass(frozen=True)
class Job:
    """What one child measures: a model on one backend and thread count at several sizes."""

    backend: str  # a backend row's name (keras, litert, tflite-runtime, onnxruntime, ...)
    model: str  # the file it runs: model.keras or an exported artifact
    precision: str  # the file's, for the report
    use: str  # reconstruct, denoise or score (the runtime's model classes)
    threads: int
    sizes: list[tuple[int, int]]  # (height, width) of the frames timed
    warmup: int = 5
    repeats: int = 50
    quality_inputs: str | None = None  # .npy NHWC float32 in [0, 1]; outputs written beside
    quality_outputs: str | None = None
    seed: int = 0
    probe: str | None = None  # the convolution probe in this job's format and precision
    video: str | None = None  # a video run through `edgeae run`'s loop (frames/s beside the engine)
    video_seconds: float = 0.0  # played in a loop this long (0: once)


def peak_rss_mb() -> float:
    """Peak resident memory of this process since the last reset, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak_rss() -> None:
    """Start a new peak so each size's memory is its own (no-op where Linux does not allow)."""
    try:
        PEAK_RESET.write_text("5")
    except OSError:
        pass


def open_model(job: Job):
    """(model object, seconds importing the backend, seconds loading the model)."""
    start = time.perf_counter()
    import edgeae.runtime as rt
    from edgeae.train.keras_backend import open_model as open_any  # registers the Keras row

    importlib.import_module(rt.BACKENDS[job.backend].module)
    imported = time.perf_counter()
    model = open_any(job.model, job.backend, job.threads, use=job.use)
    return model, imported - start, time.perf_counter() - imported


def frame_call(model, use: str):
    """The per-frame call a camera loop makes for this use."""
    if use == "denoise":
        return model.denoise
    if use == "score":
        return model.score
    return model.reconstruct


def time_size(call, frame: np.ndarray, warmup: int, repeats: int) -> dict:
    """Latency percentiles (ms) and peak memory for one frame size, after warm-up."""
    reset_peak_rss()
    for _ in range(warmup):
        call(frame)
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call(frame)
        times[i] = time.perf_counter() - start
    ms = times * 1e3
    return {"ms_p50": float(np.percentile(ms, 50)), "ms_p90": float(np.percentile(ms, 90)),
            "ms_p99": float(np.percentile(ms, 99)), "ms_mean": float(ms.mean()),
            "peak_rss_mb": peak_rss_mb()}


def quality_outputs(model, use: str, inputs: np.ndarray) -> np.ndarray:
    """Outputs on the quality set: restored images, or anomaly scores for a detector."""
    if use == "score":
        return np.concatenate([model.score_batch(inputs[i:i + BATCH]).score
                               for i in range(0, len(inputs), BATCH)])
    return np.concatenate([model.reconstruct(inputs[i:i + BATCH])
                           for i in range(0, len(inputs), BATCH)])


def measure(job: Job) -> dict:
    """Import, load, time every size, and run the quality set."""
    model, import_s, load_s = open_model(job)
    channels = model.manifest.input.channels
    rng = np.random.default_rng(job.seed)
    call = frame_call(model, job.use)
    sizes = {}
    for h, w in job.sizes:
        shape = (h, w) if channels == 1 else (h, w, 3)
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        sizes[f"{h}x{w}"] = time_size(call, frame, job.warmup, job.repeats)
    if job.quality_inputs:
        outputs = quality_outputs(model, job.use, np.load(job.quality_inputs))
        np.save(job.quality_outputs, outputs.astype(np.float32))
    return {"import_s": import_s, "load_s": load_s, "sizes": sizes,
            "probe_ms_p50": probe_ms(job) if job.probe else None,
            "loop": loop_run(model, job) if job.video else None,
            "tensorflow_imported": "tensorflow" in sys.modules}


def loop_run(model, job: Job) -> dict:
    """`edgeae run`'s loop over the job's video: frames/s, median ms of model call and frame.

    The video plays once, or in a loop for the job's `video_seconds`.

    As the command runs it: a single-channel model with --gray (one plane per frame).
    """
    from edgeae.core.tasks import TASKS
    from edgeae.runtime.backends import usable_cores
    from edgeae.runtime.capture import Source
    from edgeae.runtime.loop import RunOptions, run
    from edgeae.train.keras_backend import open_model as open_any

    manifest = model.manifest
    use = TASKS[manifest.task].frame_use
    if use != job.use:  # an autoencoder: the loop shows its reconstruction as a denoiser's
        model = open_any(job.model, job.backend, job.threads, use=use)
    if model.temporal:
        model.reset()  # the timed frames are not the video's past
    options = RunOptions(gray=manifest.input.channels == 1, loop=job.video_seconds > 0,
                         duration=job.video_seconds or None)
    source = Source("video", job.video)
    decoding = decode_ms(source, options.gray)
    summary = run(model, source, options)
    return {"fps": summary.fps, "frames": summary.frames,
            "model_ms_p50": summary.model_ms["p50"], "frame_ms_p50": summary.frame_ms["p50"],
            "decode_ms": decoding, "cores": usable_cores()}


def decode_ms(video: Source, gray: bool, most: int = DECODE_FRAMES) -> float:
    """Mean ms a frame to read a video Source's first `most` frames alone, as the loop does.

    The loop's reading thread shares the cores with the engine: benchmark.loop_ceiling.
    """
    from edgeae.runtime.capture import CaptureOptions, frames

    count, start = 0, time.perf_counter()
    for _ in itertools.islice(frames(video, options=CaptureOptions(gray=gray)), most):
        count += 1
    return 1e3 * (time.perf_counter() - start) / max(count, 1)


def probe_ms(job: Job) -> float:
    """Median ms of the convolution probe (app/peak.py) on this job's engine and threads."""
    import edgeae.runtime as rt
    from edgeae.app.peak import probe_input

    session = rt.BACKENDS[job.backend].open(Path(job.probe), job.threads)
    return time_size(session.run, probe_input(job.seed), job.warmup, job.repeats)["ms_p50"]


VERSIONED = ("ai-edge-litert", "tflite-runtime", "onnxruntime", "openvino", "ncnn",
             "tensorflow-cpu", "tensorflow", "keras", "numpy", "opencv-python-headless",
             "opencv-python")


def environment() -> dict:
    """This interpreter's Python version, installed backends and packages' versions.

    Asked of `benchmark --python`'s interpreter itself: a venv's python is a link to the same
    binary as another venv's, so the parent's own answer had described the wrong packages.
    """
    import platform

    from edgeae.runtime.backends import BACKENDS

    return {"python": platform.python_version(), "versions": installed_versions(VERSIONED),
            "backends": sorted(n for n, b in BACKENDS.items() if b.available())}


def installed_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """The versions of those `packages` installed in this interpreter."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def main(argv: list[str] | None = None) -> int:
    """Read the job file, write the result file (its name with .result.json).

    `--environment` prints `environment()` as JSON instead.
    """
    argv = argv or sys.argv[1:]
    if argv == ["--environment"]:
        sys.stdout.write(json.dumps(environment()) + "\n")
        return 0
    path = Path(argv[0])
    job = Job(**json.loads(path.read_text()))
    try:
        result = {"job": asdict(job), **measure(job)}
    except EdgeaeError as exc:  # the parent shows the last line: the message, not its class
        sys.stderr.write(f"{exc}\n")
        return exc.exit_code
    path.with_suffix(".result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
