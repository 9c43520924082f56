"""`edgeae benchmark`: latency, memory, size and quality per backend and precision.

Choices come from edgeae.core.formats (formats and precisions) and the shipped pretrained
models; defaults are BenchmarkOptions'.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from edgeae.app.benchmark import BenchmarkOptions
from edgeae.app.commands import export
from edgeae.app.commands.args import (
    POSITIVE,
    SEED,
    THREADS,
    check_data,
    check_exists,
    check_program,
    examples,
    frame_size,
    given,
    listed,
    output_dir,
    ranged,
    require,
)
from edgeae.core.errors import UserError
from edgeae.core.formats import FORMATS, PRECISIONS
from edgeae.runtime.pretrained import NAMES

DEFAULTS = BenchmarkOptions()
# BenchmarkOptions fields an option of the same name sets when given
OPTION_FIELDS = ("backends", "precisions", "sizes", "threads", "data", "labels", "noise", "limit",
                 "warmup", "repeats", "python", "seed", "video", "video_seconds")
# what the Keras rows, the exports and the quality measures (AUROC) import
NEEDS = (*export.NEEDS, "scikit-learn")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`benchmark MODEL_DIR|--pretrained NAME --out DIR` and what to measure."""
    p = subparsers.add_parser(
        "benchmark", help="latency, memory, size and quality per backend and precision",
        description=(
            "Measure a model on every backend x precision x frame size x thread count: latency\n"
            "(p50/p90/p99 after warm-up) of the per-frame call a camera loop makes, frames/s,\n"
            "peak resident memory, artifact size, import time, the multiply-accumulates per\n"
            "frame and the rate achieved, and the quality (PSNR/SSIM for denoisers, AUROC for\n"
            "detectors, MSE for autoencoders) on --data or the held-out samples, beside Keras's.\n"
            "Each backend, precision and thread count runs in a fresh process. Missing artifacts\n"
            "are exported first. Prints a Markdown table; writes benchmark.json and\n"
            "benchmark.csv to --out."),
        epilog=examples(
            "edgeae benchmark model_dir --out bench/",
            "edgeae benchmark --pretrained live --backends tflite,onnx --precisions fp32,int8 "
            "--sizes 640x480 --threads 1,2,4 --data ../shared/data/set12 --noise gaussian:25 "
            "--out bench-live/",
            "edgeae benchmark det_dir --data test/ --labels labels.csv --out bench-det/",
            "edgeae benchmark --pretrained live --precisions int8 --threads 1,2 "
            "--video clip.avi --out bench-loop/  # the run loop beside the engine",
            "edgeae benchmark model_dir --python .venv-runtime/bin/python --out bench/  "
            "# runtime rows without TensorFlow"))
    p.add_argument("model_dir", nargs="?", type=Path, metavar="MODEL_DIR",
                   help="a model directory from `edgeae train`")
    p.add_argument("--pretrained", choices=NAMES,
                   help="a shipped pretrained denoiser instead of MODEL_DIR")
    p.add_argument("--out", type=output_dir, required=True, help="folder for benchmark.json / .csv")
    _add_matrix_args(p)
    _add_quality_args(p)
    p.add_argument("--warmup", type=POSITIVE, default=DEFAULTS.warmup,
                   help="untimed calls first (default %(default)s)")
    p.add_argument("--repeats", type=POSITIVE, default=DEFAULTS.repeats,
                   help="timed calls (default %(default)s)")
    p.add_argument("--artifacts", type=output_dir, metavar="DIR",
                   help="where exported artifacts are found or written (default OUT/artifacts)")
    p.add_argument("--python", metavar="PATH",
                   help="interpreter for the runtime backends' processes, e.g. a venv without "
                        "TensorFlow (default: this one)")
    p.add_argument("--peak", action="store_true",
                   help="also time a stack of 3x3 convolutions in each format, precision, engine "
                        "and thread count: the engine's achievable GMAC/s here, and each row's "
                        "percentage of it (adds a conversion per format and precision)")
    p.add_argument("--video", metavar="FILE",
                   help="also run `edgeae run`'s whole loop (decode, model, overlay) over this "
                        "video in every row's process: its frames/s beside the bare engine's at "
                        "the video's frame size, which is timed too (a short clip will do)")
    p.add_argument("--video-seconds", type=ranged(float, 0.0), metavar="S",
                   help="play --video in a loop this long, so that the loop's start weighs in its "
                        "frames/s about as little as the warm-up left out of the engine's "
                        f"(0: once; default {DEFAULTS.video_seconds:g})")
    p.add_argument("--seed", type=SEED, default=DEFAULTS.seed, help="default %(default)s")
    p.add_argument("--overwrite", action="store_true", help="replace an existing benchmark")
    p.set_defaults(func=run)


def _add_matrix_args(p: argparse.ArgumentParser) -> None:
    """What is measured: backends (formats) x precisions x frame sizes x thread counts."""
    p.add_argument("--backends", type=listed(str, tuple(FORMATS)), default=DEFAULTS.backends,
                   metavar="LIST",
                   help=f"comma-separated formats, {', '.join(FORMATS)}: every installed "
                        "backend of each runs its rows "
                        f"(default {','.join(DEFAULTS.backends)})")
    p.add_argument("--precisions", type=listed(str, tuple(PRECISIONS)),
                   default=DEFAULTS.precisions, metavar="LIST",
                   help=f"comma-separated {', '.join(PRECISIONS)} (default "
                        f"{','.join(DEFAULTS.precisions)}; each format runs those it stores, "
                        "Keras fp32)")
    sizes = ",".join(f"{w}x{h}" for h, w in DEFAULTS.sizes)
    p.add_argument("--sizes", type=listed(frame_size), default=DEFAULTS.sizes,
                   metavar="WxH,...", help=f"frame sizes, width x height (default {sizes})")
    p.add_argument("--threads", type=listed(THREADS), default=DEFAULTS.threads, metavar="N,...",
                   help="inference thread counts "
                        f"(default {','.join(map(str, DEFAULTS.threads))})")


def _add_quality_args(p: argparse.ArgumentParser) -> None:
    """The images quality is measured on."""
    p.add_argument("--data", help="images to measure quality on (default: a model directory's "
                                  "held-out samples; a detector's false-alarm rate on them)")
    p.add_argument("--limit", type=POSITIVE, default=DEFAULTS.limit, metavar="N",
                   help="use at most N images of --data, spread evenly over it "
                        "(default %(default)s)")
    p.add_argument("--labels", type=Path,
                   help="detectors: CSV of path,label (default: class sub-folders of --data)")
    p.add_argument("--noise", metavar="SPEC",
                   help="denoisers: noise added to --data (default: the model's training noise)")


def run(args: argparse.Namespace) -> int:
    """Benchmark the model; print the Markdown table and write the results.

    Every path, the outputs and the quality set are checked before any artifact is exported.
    """
    from edgeae.app.benchmark import (
        artifacts_plan,
        benchmark,
        check_options_fit,
        check_outputs,
        markdown_table,
        model_target,
        pretrained_target,
        quality_set,
        rows_environment,
        video_size,
    )
    from edgeae.core.modeldir import ModelDir

    if (args.model_dir is None) == (args.pretrained is None):
        raise UserError("pass a MODEL_DIR or --pretrained NAME (one of them)")
    check_program(args.python, "--python")
    check_data(args.data)
    if args.noise is not None:  # a bad spec fails now, with --data or without
        from edgeae.train.noise_spec import parse_noise

        parse_noise(args.noise)
    check_exists(args.labels, "--labels")
    check_exists(args.video, "--video")
    if args.video_seconds is not None and args.video is None:
        raise UserError("--video-seconds is how long --video plays; give --video FILE too")
    video_size(args.video)  # a video with no frames fails here, before any export
    model_dir = ModelDir.open(args.model_dir) if args.model_dir is not None else None
    require("benchmark", *NEEDS)
    options = BenchmarkOptions(**given(args, *OPTION_FIELDS), overwrite=args.overwrite,
                               peak=args.peak)
    check_outputs(args.out, options)
    rows_environment(options.python)  # an interpreter without edgeae: said before any work
    artifacts = args.artifacts or args.out / "artifacts"
    pretrained = pretrained_target(args.pretrained) if model_dir is None else None
    if pretrained is not None and args.backends is DEFAULTS.backends:  # not given: what it has
        options = replace(options, backends=tuple(
            f for f in options.backends if any(k[0] == f for k in pretrained.artifacts)))
    check_options_fit((model_dir or pretrained).manifest, options)
    if pretrained is not None:
        target = pretrained
        quality = quality_set(target.manifest, options)
    else:
        artifacts_plan(model_dir, artifacts, options)  # another model's files: said now
        quality = quality_set(model_dir.manifest, options, model_dir.path)
        target = model_target(model_dir.path, artifacts, options)
    rows = benchmark(target, args.out, options, quality)
    print(markdown_table(rows))
    print(f"wrote {args.out / 'benchmark.json'} and benchmark.csv")
    return 0
