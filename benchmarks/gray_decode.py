"""Decoding straight to gray: what `edgeae run --gray` gains from reading MJPEG's luma alone.

Two parts, on benchmarks/runtime.py's 640x480 MJPG pan over Set12 (sigma 25), in .venv-runtime:

1. decode: ms per frame to read the whole clip through the runtime's capture as gray
   (capture.GrayCapture: each JPEG decoded from its luma) and in colour then cv2.cvtColor to
   gray (what `run --gray` did before), in alternating rounds; and how far the luma is from
   each colour decode made gray: libjpeg's (as cv2.imread reads a JPEG) and FFmpeg's.
2. loop: frames/s of `edgeae run --pretrained MODEL --gray --source clip --loop --duration S
   --backend B` for this tree and for `--before TREE` (a checkout of an earlier commit, run by
   the same interpreter), alternating runs, each in its own process.

    git worktree add /tmp/before 54ebd1c
    .venv/bin/python benchmarks/gray_decode.py --data ../shared/data --before /tmp/before \
        --out benchmarks/results/gray-decode.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import finished, provenance, write_result

from runtime import make_video

PYTHON = Path(".venv-runtime/bin/python")
ROWS = (("live", "litert"), ("live", "openvino"), ("live-video", "openvino"))
PACKAGES = ("app", "core", "export", "runtime", "train")  # edgeae.X lives in the tree's X/


def decode_ms(video: Path, gray: bool) -> float:
    """Mean ms per frame to read the whole clip as gray (luma) or colour then cvtColor."""
    import cv2

    import edgeae.runtime as rt
    from edgeae.runtime.capture import CaptureOptions, Source

    frames, began, plane = 0, time.perf_counter(), None
    for frame in rt.frames(Source("video", str(video)), options=CaptureOptions(gray=gray)):
        if not gray:
            plane = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=plane)
        frames += 1
    return 1e3 * (time.perf_counter() - began) / frames


def gray_difference(video: Path) -> dict[str, dict[str, float]]:
    """The luma against two colour decodes made gray, per pixel: mean, mean size, largest.

    libjpeg's is cv2.imdecode of the same packets (as cv2.imread reads a JPEG); FFmpeg's is
    what the capture gave before.
    """
    import cv2
    import numpy as np

    import edgeae.runtime as rt
    from edgeae.runtime.capture import CaptureOptions, Source

    source = Source("video", str(video))
    luma = np.stack([f.copy() for f in rt.frames(source, options=CaptureOptions(gray=True))])
    packets = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_FORMAT, -1])
    libjpeg = []
    while (got := packets.read())[0]:
        libjpeg.append(cv2.cvtColor(cv2.imdecode(got[1], cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY))
    ffmpeg = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in rt.frames(source)]
    result = {}
    for name, other in (("libjpeg colour, gray", libjpeg), ("FFmpeg colour, gray", ffmpeg)):
        diff = luma.astype(int) - np.stack(other)
        result[name] = {"mean": float(diff.mean()), "mean_abs": float(np.abs(diff).mean()),
                        "max_abs": int(np.abs(diff).max())}
    return result


def decode(video: Path, rounds: int) -> dict:
    """Part 1, in this process."""
    times: dict[str, list[float]] = {"luma": [], "colour + cvtColor": []}
    for _ in range(rounds):
        times["luma"].append(decode_ms(video, True))
        times["colour + cvtColor"].append(decode_ms(video, False))
    return {"rounds": rounds, "ms_per_frame": times,
            "median_ms": {k: statistics.median(v) for k, v in times.items()},
            "gray_difference": gray_difference(video)}


def package_of(tree: Path, folder: Path) -> Path:
    """A folder laid out as an installed `edgeae` package, linking the tree's code."""
    package = folder / "edgeae"
    package.mkdir(parents=True)
    for name in ("__init__.py", "__main__.py"):
        (package / name).symlink_to((tree / "edgeae" / name).resolve())
    for name in PACKAGES:
        (package / name).symlink_to((tree / name).resolve())
    return folder


def run_fps(model: str, backend: str, video: Path, seconds: float,
            path: Path | None, extra: tuple[str, ...] = ()) -> float:
    """One `edgeae run`'s frames/s; `path`: where the `edgeae` package to run is (None: this).

    `extra`: more arguments for `run` (e.g. an --output video).
    """
    command = [str(PYTHON), "-P", "-m", "edgeae", "run", "--pretrained", model, "--gray",
               "--source", str(video), "--loop", "--duration", str(seconds), "--backend", backend,
               *extra]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if path:
        env["PYTHONPATH"] = str(path)  # -P: not the working directory's edgeae/ first
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)["fps"]


def loop(video: Path, before: Path, seconds: float, rounds: int, folder: Path) -> list[dict]:
    """Part 2: per row, this tree and the one before in turn, `rounds` times."""
    trees = {"this tree": None, "before": package_of(before, folder / "before")}
    rows = []
    for model, backend in ROWS:
        fps: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, path in trees.items():
                fps[name].append(run_fps(model, backend, video, seconds, path))
        medians = {k: statistics.median(v) for k, v in fps.items()}
        rows.append({"model": model, "backend": backend, "fps": fps, "median_fps": medians,
                     "gain_pct": round(100 * (medians["this tree"] / medians["before"] - 1), 1)})
    return rows


def before_and_after(doc: str, seconds: float) -> argparse.ArgumentParser:
    """The arguments of a script that runs this tree against `--before`, an earlier checkout."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--before", type=Path, required=True,
                        help="a checkout of the commit to compare with (git worktree add)")
    parser.add_argument("--seconds", type=float, default=seconds, help="each run's --duration")
    parser.add_argument("--out", type=Path)
    return parser


def check_trees(tree: Path) -> None:
    """A build to compare must be runnable: .venv-runtime here, and `tree` a checkout of edgeae."""
    if not PYTHON.exists() or not (tree / "edgeae" / "__init__.py").exists():
        sys.exit(f"needs .venv-runtime (make install) and {tree}, a checkout of edgeae")


def main() -> None:
    """Run both parts; print and write the JSON."""
    parser = before_and_after(__doc__, 15.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    check_trees(args.before)
    command = " ".join(["python benchmarks/gray_decode.py", *sys.argv[1:]])
    run = provenance(command)
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(args.data / "set12", Path(tmp) / "pan640.avi")
        result = {"decode": decode(video, 2 * args.rounds),
                  "loop": loop(video, args.before, args.seconds, args.rounds, Path(tmp)),
                  "seconds": args.seconds}
    result["provenance"] = finished(run)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
