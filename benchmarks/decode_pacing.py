r"""Decoding between two engine calls: `edgeae run`'s loop with its file reader paced, or not.

On two cores a two-thread engine keeps both busy during a model call, and the reading thread
that decodes the next frame takes a core from it. Between two calls (the output converted back,
the next input made) one core is idle. Pacing, tried on 2026-12-05 (commits b3eaa5c to
25d8c80, taken out in c00a799), had the file feed decode a frame on a turn granted as each
engine call returned (runtime/capture.py's DecodeTurns there), so the decoding started in that
idle time; without it, it starts as the loop takes its frame, just before the next call.
`--after` is a checkout with pacing (default: this tree), `--before` one without.

The rule, written before the first run (2026-12-05, 20:23 UTC): rounds in which the order of the
two builds alternates, each run one `edgeae run --pretrained live --gray --loop` process of
`--seconds` on benchmarks/runtime.py's 640x480 MJPG pan, for OpenVINO (10 rounds) and LiteRT
(6 rounds), only while a bare OpenVINO int8 call takes under 9 ms. Pacing is kept if OpenVINO's
median frames/s gains at least 1%, the paced build wins at least 6 of its 10 rounds, and
LiteRT's median is at most 1% lower. The first run met it (+1.07%, 9 of 10; LiteRT +1.6%).

A second run of that rule (21:09 UTC) did not repeat it: OpenVINO -0.39% (4 of 10), LiteRT
-2.0%. Pacing should matter most where the loop does single-threaded work after the model:
writing an output video, whose drawing and MJPG encoding run in the loop's thread after each
call, so without pacing the decoding starts only after them. `--write-video` adds `--output`
(an MJPG .avi in a temporary folder) to every run. The rule for it, committed at 21:14 UTC
(25d8c80) before its first run: pacing stays if OpenVINO's median gains at least 2% with the
paced build faster in at least 7 of 10 rounds (LiteRT's rounds reported, not judged);
otherwise pacing is taken out again, its effect without an output being within the runs'
spread. It gained 1.12% in 7 of 10, and pacing was taken out.

    git worktree add /tmp/before f5e93ee && git worktree add /tmp/paced 25d8c80
    .venv/bin/python benchmarks/decode_pacing.py --data ../shared/data --before /tmp/before \
        --after /tmp/paced --out benchmarks/results/decode_pacing.json
    (the same with --out benchmarks/results/decode_pacing_repeat.json, and with --write-video
    --out benchmarks/results/decode_pacing_video.json)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from gray_decode import before_and_after, check_trees, package_of, run_fps
from ov_partitioner import calm_or_exit
from provenance import finished, provenance, write_result

from runtime import make_video

ROUNDS = {"openvino": 10, "litert": 6}  # the rule's
def probe_ms() -> float:
    """A bare OpenVINO int8 `live` call at 640x480 on 2 threads, median ms; exit if slow."""
    import edgeae.runtime as rt
    from edgeae.runtime.pretrained import pretrained_path

    model = rt.load(pretrained_path("live", "openvino", "int8"), backend="openvino",
                    num_threads=2)
    return calm_or_exit(model.session)


def rounds(backend: str, count: int, video: Path, seconds: float,
           trees: dict[str, Path | None], extra: tuple[str, ...]) -> dict:
    """Each round's frames/s per build, the order alternating; the medians and wins."""
    fps: dict[str, list[float]] = {name: [] for name in trees}
    for i in range(count):
        for name in list(trees) if i % 2 == 0 else reversed(list(trees)):
            fps[name].append(run_fps("live", backend, video, seconds, trees[name], extra))
    medians = {name: statistics.median(values) for name, values in fps.items()}
    wins = sum(a > b for a, b in zip(fps["this tree"], fps["before"]))
    return {"fps": fps, "median_fps": medians, "wins": wins,
            "gain_pct": round(100 * (medians["this tree"] / medians["before"] - 1), 2)}


def verdict(result: dict[str, dict], write_video: bool) -> bool:
    """The rule: OpenVINO +1% in 6 of 10 rounds, LiteRT -1% at most; with a video, +2% in 7."""
    openvino, litert = result["openvino"], result["litert"]
    if write_video:
        return openvino["gain_pct"] >= 2.0 and openvino["wins"] >= 7
    return openvino["gain_pct"] >= 1.0 and openvino["wins"] >= 6 and litert["gain_pct"] >= -1.0


def main() -> None:
    """Probe, run the rounds if the VM is calm, print and write the JSON."""
    parser = before_and_after(__doc__, 8.0)
    parser.add_argument("--after", type=Path,
                        help="a checkout with pacing (git worktree add; default: this tree)")
    parser.add_argument("--write-video", action="store_true",
                        help="every run writes its output video (--output)")
    args = parser.parse_args()
    check_trees(args.before)
    if args.after:
        check_trees(args.after)
    run = provenance(" ".join(["python benchmarks/decode_pacing.py", *sys.argv[1:]]))
    probe = probe_ms()
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(args.data / "set12", Path(tmp) / "pan640.avi")
        after = package_of(args.after, Path(tmp) / "after") if args.after else None
        trees = {"this tree": after, "before": package_of(args.before, Path(tmp) / "before")}
        extra = (("--output", str(Path(tmp) / "out.avi"), "--overwrite") if args.write_video
                 else ())
        result = {backend: rounds(backend, count, video, args.seconds, trees, extra)
                  for backend, count in ROUNDS.items()}
    result.update(probe_ms=probe, seconds=args.seconds, write_video=args.write_video,
                  keep_pacing=verdict(result, args.write_video), provenance=finished(run))
    write_result(result, args.out)


if __name__ == "__main__":
    main()
