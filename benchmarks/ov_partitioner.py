"""OpenVINO's TBB_PARTITIONER, AUTO against its default STATIC, for `edgeae run`'s loop.

The question (stop 57): in the loop, `live` int8's model call through OpenVINO took 1.5 ms
longer than a bare call. On two cores the reading thread preempts one of the engine's two
threads, and with STATIC each thread owns a fixed half of every layer, so the other waits at
the layer's barrier. AUTO lets TBB split a layer's work as it runs.

The rule, written in stop 58 (08:31 UTC) before any run, and kept:
- 20 interleaved rounds in one process; each round, per setting: a 4-s `runtime.loop.run`
  over benchmarks/runtime.py's 640x480 MJPG pan (gray, looping), then 2 s of bare calls of
  the same session on a 640x480 input.
- Run only while a bare call takes under 9 ms (the VM is calm).
- AUTO is adopted if its median loop frames/s is at least 3% higher than STATIC's and its
  median bare call at most 3% slower.

OpenVINO's model cache does not key on TBB_PARTITIONER: a model compiled once with STATIC comes
back from the cache as STATIC whatever the config asks (checked with OpenVINO 2026.4). So each
setting compiles into a cache folder of its own, and the compiled model's own property is
checked before any round.

    .venv-runtime/bin/python benchmarks/ov_partitioner.py --data ../shared/data \
        --out benchmarks/results/ov_partitioner.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import finished, provenance, write_result

from runtime import make_video

SETTINGS = ("STATIC", "AUTO")
LOOP_GAIN, BARE_LOSS = 0.03, 0.03  # the rule's bounds


def open_denoiser(partitioner: str, cache: Path):
    """The shipped `live` int8 through OpenVINO on 2 threads, with this TBB partitioner.

    Compiled into `cache`/`partitioner`, warmed up, and checked to run with that partitioner.
    """
    import edgeae.runtime as rt
    from edgeae.runtime.pretrained import pretrained_path

    model = rt.load(pretrained_path("live", "openvino", "int8"), backend="openvino",
                    num_threads=2)
    session = model.session  # the two knobs this A/B turns, before the first call compiles
    session._config["TBB_PARTITIONER"] = partitioner
    session._core.set_property({"CACHE_DIR": str(cache / partitioner)})
    bare_ms(session, 1.0)
    compiled = session._request.get_compiled_model().get_property("TBB_PARTITIONER")
    if compiled.name != partitioner:
        sys.exit(f"asked OpenVINO for TBB_PARTITIONER {partitioner}, it compiled {compiled.name}")
    return model


def bare_ms(session, seconds: float) -> list[float]:
    """Each call's ms of the session on one 640x480 input, for `seconds`."""
    batch = np.random.default_rng(0).random((1, 480, 640, 1), dtype=np.float32)
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        session.run(batch)
        times.append(1e3 * (time.perf_counter() - start))
    return times


def calm_or_exit(session) -> float:
    """A bare call's median ms over 3 s of calls; exit if it is 9 ms or more (a slow VM)."""
    probe = statistics.median(bare_ms(session, 3.0))
    if probe >= 9.0:
        sys.exit(f"a bare call takes {probe:.1f} ms (>= 9): the VM is not calm; try later")
    return probe


def loop_fps(model, video: Path, seconds: float) -> float:
    """Frames/s of `edgeae run`'s loop over the clip for `seconds`."""
    from edgeae.runtime.capture import Source
    from edgeae.runtime.loop import RunOptions, run

    options = RunOptions(gray=True, loop=True, duration=seconds)
    return run(model, Source("video", str(video)), options).fps


def rounds(video: Path, count: int, loop_s: float, bare_s: float) -> dict[str, dict]:
    """Per setting, each round's loop frames/s and median bare ms, settings alternating."""
    models = {name: open_denoiser(name, video.parent / "openvino-cache") for name in SETTINGS}
    seen: dict[str, dict] = {name: {"loop_fps": [], "bare_ms": []} for name in SETTINGS}
    for i in range(count):
        for name in SETTINGS if i % 2 == 0 else reversed(SETTINGS):
            seen[name]["loop_fps"].append(loop_fps(models[name], video, loop_s))
            seen[name]["bare_ms"].append(statistics.median(bare_ms(models[name].session,
                                                                   bare_s)))
    return seen


def verdict(seen: dict[str, dict]) -> dict:
    """The rule applied to the medians over rounds."""
    fps = {n: statistics.median(seen[n]["loop_fps"]) for n in SETTINGS}
    ms = {n: statistics.median(seen[n]["bare_ms"]) for n in SETTINGS}
    loop_gain = fps["AUTO"] / fps["STATIC"] - 1
    bare_loss = ms["AUTO"] / ms["STATIC"] - 1
    return {"median_loop_fps": fps, "median_bare_ms": ms,
            "loop_gain_pct": round(100 * loop_gain, 1),
            "bare_slower_pct": round(100 * bare_loss, 1),
            "adopt_auto": loop_gain >= LOOP_GAIN and bare_loss <= BARE_LOSS}


def main() -> None:
    """Probe, run the rounds if the VM is calm, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/ov_partitioner.py", *sys.argv[1:]]))
    with tempfile.TemporaryDirectory() as tmp:
        probe = calm_or_exit(open_denoiser("STATIC", Path(tmp)).session)
        video = make_video(args.data / "set12", Path(tmp) / "pan640.avi")
        seen = rounds(video, args.rounds, 4.0, 2.0)
    result = {"probe_ms": probe, "rounds": seen, **verdict(seen), "provenance": finished(run)}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
