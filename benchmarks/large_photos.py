"""Large photos through the runtime: whole in one model call, or in tiles (`runtime.tiles`).

A fully convolutional denoiser takes any frame size, but its activations grow with the frame: a
12-megapixel colour photo through `live` (a batch of its 3 colour planes for a gray model) needs
gigabytes in one call. The runtime now runs batches of more than `TILE_PIXELS` (4 Mi pixels)
one plane, or one tile, at a time; tiles overlap by twice the model's measured reach and keep
only their middles, so the output is the same. This measures, for each photo size, backend and
mode, in a fresh process each (so the peak memory is that run's own):

- `first s`: the first call, as `edgeae denoise` makes it on one photo (allocation included);
- `again s`: the median of the next calls on the same size (a folder of photos, or a camera);
- `peak MB`: the process's peak resident memory from when the photo is in memory (Linux's
  VmHWM, reset then): the model, its buffers and the photo itself, as `edgeae denoise` holds
  them, not the making of the noisy photo (before 2026-12-03 that was counted: about 0.9 GB at
  12 MP, which was most of what the tiled runs showed);
- `max diff`: the largest difference, in 8-bit levels, between the tiled and whole outputs.

A whole run whose peak, estimated from the same model and backend's whole run at a smaller size
(the same megabytes per pixel), exceeds 70% of this machine's memory is not started: the row
gives the estimate instead of a crash.

The photos are Set12's 08.png scaled up (bicubic), its three colour planes shifted copies of it,
with Gaussian noise of sigma 20; their content does not change the time.

    .venv/bin/python benchmarks/large_photos.py --data ../shared/data \
        --out benchmarks/results/large_photos.json

`--tile-pixels N` sets the tiled mode's budget (`edgeae denoise --tile-megapixels`), `--runs`
the (model, backend) pairs; a device with little memory:

    .venv/bin/python benchmarks/large_photos.py --data ../shared/data --sizes 1920x1080,4000x3000 \
        --runs live:litert,live:openvino,quality:openvino --tile-pixels 1000000 \
        --out benchmarks/results/large_photos_1mp.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from provenance import finished, provenance, write_result

from edgeae.runtime.tiles import TILE_PIXELS

SIZES = ("1920x1080", "4000x3000", "6000x4000")
RUNS = "live:litert,live:onnxruntime,live:openvino,quality:openvino"  # model:backend,...
MODES = {"whole": 10**12, "tiled": None}  # tile_pixels: never split, or --tile-pixels


def noisy_photo(data: Path, size: str) -> np.ndarray:
    """A BGR photo of `size` (WxH): Set12's 08.png scaled up, planes shifted, sigma 20 noise."""
    w, h = map(int, size.split("x"))
    gray = cv2.resize(cv2.imread(str(data / "set12" / "08.png"), cv2.IMREAD_GRAYSCALE), (w, h),
                      interpolation=cv2.INTER_CUBIC)
    colour = np.stack([gray, np.roll(gray, w // 50, 1), np.roll(gray, h // 50, 0)], -1)
    noise = np.random.default_rng(0).normal(0, 20, colour.shape)
    return np.clip(np.rint(colour + noise), 0, 255).astype(np.uint8)


def child(args: argparse.Namespace) -> None:
    """One (model, backend, mode, size) in this process: time, peak memory, the output saved."""
    import edgeae.runtime as rt
    from edgeae.runtime.pretrained import pretrained_path

    photo = noisy_photo(args.data, args.size)
    reset_peak_memory()
    model = rt.load(pretrained_path(args.model, args.backend), backend=args.backend,
                    num_threads=args.threads, task="denoise")
    model.tile_pixels = MODES[args.mode] or args.tile_pixels
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = model.denoise(photo)
        times.append(time.perf_counter() - start)
    np.save(args.save, out)
    print(json.dumps({"first_s": round(times[0], 2),
                      "again_s": round(float(np.median(times[1:])), 2),
                      "peak_mb": round(peak_memory_mb()),
                      "tile_pixels": model.tile_pixels,
                      "margin": model._stitcher.margin,
                      "artifact": Path(pretrained_path(args.model, args.backend)).name}))


def reset_peak_memory() -> None:
    """Start this process's peak resident memory (VmHWM) again from what it holds now (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    """This process's peak resident memory since the last reset, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def pixels(size: str) -> int:
    """Pixels of a WxH size."""
    w, h = map(int, size.split("x"))
    return w * h


def memory_mb() -> float:
    """This machine's memory (MemTotal), in MB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def whole_estimate(rows: list[dict], model: str, backend: str, size: str) -> tuple[float, str]:
    """The whole run's peak MB at `size`, and the size it is scaled from (0 MB if none is)."""
    runs = [r for r in rows if (r["model"], r["backend"]) == (model, backend)
            and "peak_mb" in r["whole"]]
    if not runs:
        return 0.0, ""
    last = runs[-1]
    return last["whole"]["peak_mb"] * pixels(size) / pixels(last["size"]), last["size"]


def measure(args: argparse.Namespace, model: str, backend: str, size: str, work: Path,
            rows: list[dict]) -> dict:
    """Both modes of one (model, backend, size), each in a fresh process; their outputs compared."""
    row: dict = {"model": model, "backend": backend, "size": size}
    estimate, measured_at = whole_estimate(rows, model, backend, size)
    for mode in MODES:
        save = work / f"{mode}.npy"
        if mode == "whole" and estimate > 0.7 * memory_mb():
            row[mode] = {"skipped": f"needs about {estimate / 1024:.0f} GB (the MB per pixel "
                                    f"of {measured_at}); this machine has "
                                    f"{memory_mb() / 1024:.0f} GB"}
            continue
        command = [sys.executable, __file__, "--child", "--data", str(args.data), "--model", model,
                   "--backend", backend, "--size", size, "--mode", mode, "--save", str(save),
                   "--threads", str(args.threads), "--repeats", str(args.repeats),
                   "--tile-pixels", str(args.tile_pixels)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        row[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    if "skipped" not in row["whole"]:
        diff = np.abs(np.load(work / "whole.npy").astype(int) - np.load(work / "tiled.npy"))
        row["max_diff"] = int(diff.max())
    return row


def parse() -> argparse.Namespace:
    """The command line (the parent's, and the child's extra options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--sizes", default=",".join(SIZES), help="WxH,WxH,...")
    parser.add_argument("--runs", default=RUNS, help="model:backend,...")
    parser.add_argument("--tile-pixels", type=int, default=TILE_PIXELS,
                        help="the tiled mode's budget (default: the runtime's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="calls per process (>= 2)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/large_photos.json"))
    for name in ("--model", "--backend", "--size", "--mode", "--save"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Every (model, backend) at every size; print each row and write the JSON."""
    args = parse()
    if args.child:
        return child(args)
    rows = []
    runs = [run.split(":") for run in args.runs.split(",")]
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes.split(","):
            for model, backend in runs:
                rows.append(measure(args, model, backend, size, Path(work), rows))
                print(json.dumps(rows[-1]), file=sys.stderr)
    command = " ".join(["python benchmarks/large_photos.py", *sys.argv[1:]])
    write_result({"provenance": finished(provenance(command)), "tile_pixels": args.tile_pixels,
                  "threads": args.threads, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
