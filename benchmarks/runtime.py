"""Frames per second of `edgeae run` on a 640x480 video, per backend and precision.

Each backend runs in its own process, in its own device environment (no TensorFlow), so import
time and peak memory are honest: LiteRT and onnxruntime in .venv-runtime (numpy 2), tflite-runtime
in .venv-tflite (numpy < 2). Each child measures, on the same video:

- capture: decoding the next frame with OpenCV (a pass that only reads);
- the whole `edgeae run` loop (`runtime.loop.run`, what the command runs), with the model's
  session timed from inside, so a frame's model time splits into inference and the runtime's
  own pre/post-processing (normalising, colour planes, padding, uint8 conversion).

The video pans a 640x480 window over a mosaic of Set12's natural images with Gaussian noise
(sigma 25), written once as MJPG .avi. The model: the conv denoiser from benchmarks/export.py.

    python benchmarks/runtime.py --set12 ../shared/data/set12 \
        --artifacts benchmarks/results/export-work/conv_denoiser-exports/all \
        --out benchmarks/results/runtime.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILDREN = (  # backend, environment, artifact suffix
    ("litert", ".venv-runtime", ".tflite"),
    ("tflite-runtime", ".venv-tflite", ".tflite"),
    ("onnxruntime", ".venv-runtime", ".onnx"),
    ("openvino", ".venv-runtime", ".onnx"),
)


def make_video(set12: Path, path: Path, frames: int = 150, sigma: float = 25.0) -> Path:
    """A 640x480 pan over a mosaic of Set12 images with Gaussian noise, as MJPG .avi."""
    import cv2
    import numpy as np

    if path.exists():
        return path
    images = [cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (320, 320))
              for p in sorted(set12.glob("*.png"))]
    mosaic = np.vstack([np.hstack(images[i:i + 4]) for i in range(0, 12, 4)])  # 960x1280
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for i in range(frames):
        y, x = int(240 * i / frames), int(640 * i / frames)
        window = mosaic[y:y + 480, x:x + 640].astype(np.float32)
        noisy = np.clip(window + rng.normal(0, sigma, window.shape), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def child(artifact: Path, video: Path, backend: str, threads: int, gray: bool) -> dict:
    """Run in a device environment: import, load, capture-only pass, then the run loop."""
    start = time.perf_counter()
    import numpy as np

    import edgeae.runtime as rt
    from edgeae.runtime.capture import parse_source
    from edgeae.runtime.loop import RunOptions, run

    import_s = time.perf_counter() - start

    def stats(values: list[float]) -> dict[str, float]:
        return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)),
                "mean": float(np.mean(values))}

    start = time.perf_counter()
    try:
        model = rt.load(artifact, backend, threads, task="denoise")
    except rt.UserError as exc:
        return {"error": str(exc)}
    load_s = time.perf_counter() - start
    capture_ms = []
    stream = iter(rt.frames(str(video)))
    while True:
        t0 = time.perf_counter()
        if next(stream, None) is None:
            break
        capture_ms.append((time.perf_counter() - t0) * 1e3)

    class TimedSession:
        """The model's session, timed."""

        def __init__(self, inner) -> None:
            self.inner, self.ms = inner, []

        def run(self, batch):
            t0 = time.perf_counter()
            out = self.inner.run(batch)
            self.ms.append((time.perf_counter() - t0) * 1e3)
            return out

    model.session = TimedSession(model.session)
    try:
        summary = run(model, parse_source(str(video)), RunOptions(gray=gray))
    except rt.UserError as exc:
        return {"error": str(exc), "import_s": import_s, "load_s": load_s}
    inference = model.session.ms
    return {
        "frames": summary.frames, "fps": summary.fps,
        "frame_ms": summary.frame_ms, "model_ms": summary.model_ms,
        "inference_ms": stats(inference),
        "pre_post_ms_p50": summary.model_ms["p50"] - float(np.percentile(inference, 50)),
        "capture_ms": stats(capture_ms),
        "import_s": import_s, "load_s": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "numpy": np.__version__,
    }


def run_children(artifacts: Path, video: Path, threads: int, gray: bool) -> list[dict]:
    """One subprocess per backend x artifact."""
    rows = []
    for backend, venv, suffix in CHILDREN:
        python = REPO / venv / "bin" / "python"
        if not python.exists():
            print(f"skipping {backend}: {venv} is missing (make install)", file=sys.stderr)
            continue
        for artifact in sorted(artifacts.glob(f"*{suffix}")):
            out = subprocess.run([str(python), __file__, "--child", "--artifact", str(artifact),
                                  "--video", str(video), "--backend", backend,
                                  "--threads", str(threads), *(["--gray"] if gray else [])],
                                 capture_output=True, text=True, check=True)
            row = {"backend": backend, "artifact": artifact.name,
                   **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(_line(row), file=sys.stderr, flush=True)
    return rows


def _line(row: dict) -> str:
    if "error" in row:
        return f"| {row['backend']} | {row['artifact']} | error: {row['error'][:90]} |"
    return (f"| {row['backend']} | {row['artifact']} | {row['fps']:.1f} | "
            f"{row['frame_ms']['p50']:.2f} / {row['frame_ms']['p99']:.2f} | "
            f"{row['inference_ms']['p50']:.2f} / {row['inference_ms']['p99']:.2f} | "
            f"{row['pre_post_ms_p50']:.2f} | {row['capture_ms']['p50']:.2f} | "
            f"{row['import_s']:.2f} | {row['peak_rss_mb']:.0f} |")


def main() -> None:
    """Parent: make the video, run every child, print a table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set12", type=Path, help="../shared/data/set12 (for the video)")
    parser.add_argument("--artifacts", type=Path, help="folder of exported model_* files")
    parser.add_argument("--video", type=Path, default=REPO / "benchmarks/results/pan640x480.avi")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/runtime.json"))
    parser.add_argument("--gray", action="store_true",
                        help="edgeae run --gray: frames to gray, one plane per frame")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--artifact", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.artifact, args.video, args.backend, args.threads,
                               args.gray)))
        return
    from provenance import finished, provenance, write_result  # beside this; dates the start

    args.video.parent.mkdir(parents=True, exist_ok=True)
    make_video(args.set12, args.video)
    print("| backend | artifact | fps | frame p50 / p99 ms | inference p50 / p99 ms | "
          "pre/post p50 ms | capture p50 ms | import s | peak RSS MB |", file=sys.stderr)
    rows = run_children(args.artifacts, args.video, args.threads, args.gray)
    command = " ".join(["python benchmarks/runtime.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "threads": args.threads,
                  "video": f"{args.video.name}: 150 frames 640x480, BGR (gray content)",
                  "rows": rows}, args.out)


if __name__ == "__main__":
    main()
