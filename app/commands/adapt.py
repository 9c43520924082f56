"""`edgeae adapt`: tune a denoiser to one camera from its noisy footage alone (frame-to-frame)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import get_args

from edgeae.app.commands.args import (
    KERAS_DISTRIBUTION,
    POSITIVE,
    SEED,
    check_data,
    examples,
    image_size,
    output_dir,
    ranged,
    require,
)
from edgeae.core.errors import UserError
from edgeae.core.files import check_can_create, check_replaceable_dir, refuse_replacing_inputs
from edgeae.core.manifest import Adaptation, LossSpace, Manifest, PassPrecision, Targets, Warp
from edgeae.train.settings import (
    BRIGHTNESS_MODELS,
    KEEP_TESTS,
    AdaptSettings,
    brightness_source,
)

DEFAULTS = AdaptSettings()
LOSS_SPACES = get_args(LossSpace)  # train/adapt.py's rows
WARPS = get_args(Warp)  # train/frame_pairs.py's rows
TARGETS = get_args(Targets)  # train/frame_pairs.py NEIGHBOURS' rows
PASSES = get_args(PassPrecision)  # train/adapt.py PASS_ENGINES' rows
RECORDED_FRAMES = 600  # a minute at 10 frames/s


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`adapt --pretrained NAME|--model DIR --data FOOTAGE --out DIR`."""
    from edgeae.runtime.pretrained import FRAME_NAMES

    p = subparsers.add_parser(
        "adapt", help="tune a denoiser to your camera from its noisy footage alone",
        description=(
            "Fine-tune a denoiser on a few seconds to minutes of noisy video of one camera,\n"
            "with no clean frame: each frame learns from its neighbours, aligned by optical\n"
            "flow (frame-to-frame training; pixels the flow cannot match are left out). The\n"
            "footage's last frames are held out; the tuning is kept only if it lowers the loss\n"
            "there and (by default) takes no image content from the output. The result is a\n"
            "model directory: export it like any trained model."),
        epilog=examples("edgeae adapt --pretrained live --data noisy.mp4 --out live_cam",
                        "edgeae adapt --pretrained quality --data frames/ --minutes 5 "
                        "--out quality_cam",
                        "edgeae adapt --model my_denoiser/ --data clip.mp4 --every 2 "
                        "--max-frames 600 --out my_cam",
                        "edgeae adapt --pretrained live --source 0 --frames 600 --out live_cam",
                        "edgeae adapt --pretrained live --data clip.mp4 --brightness-from "
                        "footage --out live_cam   # a camera with another tone curve",
                        "edgeae export live_cam --precision int8 --out live_cam/export"))
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument("--pretrained", choices=FRAME_NAMES,
                       help="start from a shipped single-frame denoiser")
    start.add_argument("--model", type=Path, metavar="DIR",
                       help="start from a denoiser's model directory (edgeae train denoiser)")
    g = p.add_argument_group("footage (one of --data and --source)")
    footage = g.add_mutually_exclusive_group(required=True)
    footage.add_argument("--data", metavar="FOOTAGE",
                         help="a video file or a folder of frames (in name order) of one camera")
    footage.add_argument("--source", metavar="SRC",
                         help="record the footage now: a camera index, a stream URL, a video "
                              "or a folder, as `edgeae run --source` takes them")
    g.add_argument("--frames", type=ranged(int, 6), default=RECORDED_FRAMES, metavar="N",
                   help="--source: frames to record (default %(default)s)")
    g.add_argument("--keep-frames", type=output_dir, metavar="DIR",
                   help="--source: also save the recorded frames here as PNG (by default "
                        "nothing from the camera is kept after the run)")
    g.add_argument("--every", type=POSITIVE, default=1, metavar="K",
                   help="--data videos: keep every K-th frame (default 1)")
    g.add_argument("--max-frames", type=POSITIVE, metavar="N", help="use the first N frames")
    g.add_argument("--image-size", type=image_size, metavar="HxW",
                   help="resize every frame to this size first")
    _add_tuning_args(p.add_argument_group("tuning"), FRAME_NAMES)
    p.add_argument("--out", type=output_dir, required=True, help="model directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def _add_tuning_args(g: argparse._ArgumentGroup, pretrained: tuple[str, ...]) -> None:
    """AdaptSettings' fields, with their defaults (`pretrained`: the shipped models' names)."""
    g.add_argument("--minutes", type=ranged(float, 0.0, 1e5, lo_open=True),
                   default=DEFAULTS.minutes,
                   help="training time budget; reading, denoising and flow come on top "
                        "(default %(default)g)")
    g.add_argument("--max-epochs", type=POSITIVE, default=DEFAULTS.max_epochs,
                   help=f"epochs of {DEFAULTS.steps_per_epoch} batches (default %(default)s)")
    g.add_argument("--batch-size", type=POSITIVE, default=DEFAULTS.batch_size,
                   help="default %(default)s")
    g.add_argument("--patch-size", type=POSITIVE, default=DEFAULTS.patch_size,
                   help="square training crops (default %(default)s)")
    g.add_argument("--learning-rate", type=ranged(float, 0.0, 1.0, lo_open=True),
                   default=DEFAULTS.learning_rate, help="Adam's (default %(default)g)")
    g.add_argument("--holdout", type=ranged(float, 0.0, 0.5, lo_open=True),
                   default=DEFAULTS.holdout,
                   help="fraction of the footage, at its end, held out (default %(default)g)")
    g.add_argument("--loss-space", choices=LOSS_SPACES, default=DEFAULTS.loss_space,
                   help="compare a frame with the next in sRGB or in linear light, where a "
                        "camera's noise averages out with less bias (default %(default)s; "
                        "BENCHMARKS.md)")
    g.add_argument("--warp", choices=WARPS, default=DEFAULTS.warp,
                   help="how a neighbouring frame is resampled onto the current one: bilinear "
                        "blurs the target a little (default %(default)s; BENCHMARKS.md)")
    g.add_argument("--targets", choices=TARGETS, default=DEFAULTS.targets,
                   help="what each frame learns from: the next frame, or the previous and the "
                        "next averaged where the flow trusts them, or (both-2) the frames two "
                        "before and after, whose noise H.264 copied less of (measured no "
                        "better on the held-out clip; default %(default)s; BENCHMARKS.md)")
    g.add_argument("--brightness-from", choices=("auto", "choose", "footage", *pretrained),
                   default=DEFAULTS.brightness,
                   help="where the output's brightness comes from: a shipped denoiser's blurred "
                        "output, which the tuning is held to, or the footage alone (whose noisy "
                        f"mean is darker than the scene); choose: of {', '.join(BRIGHTNESS_MODELS)}"
                        ", the one whose output the held-out footage finds nearest; auto: "
                        "choose for gray models, the footage for colour ones (default "
                        "%(default)s; BENCHMARKS.md)")
    g.add_argument("--passes", choices=PASSES, default=DEFAULTS.passes,
                   help="which of the shipped models' exported files denoise the footage before "
                        "training (the start's output the optical flow reads, and the brightness "
                        "model's): int8 runs them through OpenVINO where installed, several times "
                        "faster than fp32 (default %(default)s; BENCHMARKS.md)")
    g.add_argument("--keep", choices=tuple(KEEP_TESTS), default=DEFAULTS.keep,
                   help="what the tuned model must show on the held-out frames to be kept: "
                        + "; ".join(f"{name}: {asks}" for name, asks in KEEP_TESTS.items())
                        + " (default %(default)s; BENCHMARKS.md)")
    g.add_argument("--patience", type=POSITIVE, default=DEFAULTS.patience,
                   help="stop after this many epochs without a better held-out loss "
                        "(default %(default)s)")
    g.add_argument("--seed", type=SEED, default=DEFAULTS.seed, help="default %(default)s")


def run(args: argparse.Namespace) -> int:
    """Adapt, then print the held-out loss before and after."""
    # a shipped model is rebuilt from its ONNX file and checked against onnxruntime
    require("adapt", KERAS_DISTRIBUTION, *(("onnx", "onnxruntime") if args.pretrained else ()))
    _check_paths(args)
    settings = AdaptSettings(
        minutes=args.minutes, max_epochs=args.max_epochs, batch_size=args.batch_size,
        patch_size=args.patch_size, learning_rate=args.learning_rate, holdout=args.holdout,
        patience=args.patience, max_frames=args.max_frames, seed=args.seed,
        loss_space=args.loss_space, warp=args.warp,
        targets=args.targets, brightness=args.brightness_from, passes=args.passes,
        keep=args.keep)
    try:
        source = _footage(args)  # its mistakes are found before TensorFlow loads
        _check_footage(source, args)
        from edgeae.train.adapt import adapt

        start = _start(args)
        manifest = adapt(start, source, args.out, settings, args.overwrite)
    except KeyboardInterrupt:
        print(f"interrupted: nothing written to {args.out}", file=sys.stderr)
        return 130
    a = manifest.training.adaptation
    print(f"{verdict(a)}: held-out loss {a.val_loss_before:.5g} -> {a.val_loss_after:.5g}"
          f"{content_change(a)} on {a.val_pairs} pairs, {a.train_pairs} trained on -> {args.out}")
    if caution := camera_start_caution(start.name, start.manifest.training.noise, a):
        print(caution, file=sys.stderr)
    return 0


def verdict(a: Adaptation) -> str:
    """What adapt decided, and why when it kept the starting weights."""
    if a.kept:
        return "adapted"
    if a.val_loss_after < a.val_loss_before:
        return "kept the starting weights (the tuning took content from the output)"
    return "kept the starting weights (no better held-out loss)"


def content_change(a: Adaptation) -> str:
    """", content Q before -> after" under the content test, else nothing."""
    if a.content_before is None or a.content_after is None:
        return ""
    return f", content {a.content_before:.4g} -> {a.content_after:.4g}"


def camera_start_caution(start: str, noise: str | None, a: Adaptation) -> str | None:
    """A line for a tuning of a camera model that the loss alone kept: it cannot judge it.

    From `live-camera`, adapting lowered PSNR by 0.76 dB on the simulated `indoor` camera (and
    gained 0.03 and 0.20 at `dim` and `night`) while the held-out loss fell on all three
    (BENCHMARKS.md, "Adapting `live-camera`"). The content keep-test, the default, rejected
    that tuning; `--keep loss` has no such check.
    """
    if not a.kept or a.keep != "loss" or "camera" not in (noise or ""):
        return None
    return (f"note: {start} already learned camera noise; on a simulated camera in good light "
            "adapting it lowered PSNR by 0.76 dB while this held-out loss fell (BENCHMARKS.md): "
            "compare both on your own frames, or adapt with --keep content")


def _check_paths(args: argparse.Namespace) -> None:
    """Every path and the starting model checked before TensorFlow loads (seconds)."""
    check_data(args.data)
    if args.source is not None:
        from edgeae.runtime.capture import parse_source

        parse_source(args.source)
    elif args.keep_frames is not None:
        raise UserError("--keep-frames keeps what --source records; --data is kept already")
    if args.keep_frames is not None and _nested(args.keep_frames, args.out):
        raise UserError(f"--keep-frames {args.keep_frames} and --out {args.out} must be folders "
                        "apart: the model would replace the frames kept")
    paths = {"--data": args.data, "--model": args.model, "--source": args.source,
             "--brightness-from": args.brightness_from, "--out": args.out,
             "--keep-frames": args.keep_frames}
    for option in ("--out", "--keep-frames"):  # each is replaced with --overwrite
        if (folder := paths.pop(option)) is not None:
            check_replaceable_dir(folder, args.overwrite)
            refuse_replacing_inputs(folder, option, paths)  # the other output included
            check_can_create(folder, option)
            paths[option] = folder
    if args.model is not None:
        _check_denoiser_dir(args.model)
    start = _start_manifest(args)
    _check_patch_size(args.patch_size, start.input.size_multiple)
    brightness_source(args.brightness_from, start.input.channels)


def _nested(a: Path, b: Path) -> bool:
    """Whether two folders, made or not yet, are one or lie one inside the other."""
    a, b = a.resolve(), b.resolve()
    return a.is_relative_to(b) or b.is_relative_to(a)


def _start_manifest(args: argparse.Namespace):
    """The starting model's manifest, read without loading the model."""
    from edgeae.core.manifest import Manifest
    from edgeae.core.modeldir import MANIFEST_FILE

    if args.model is not None:
        return Manifest.read(args.model / MANIFEST_FILE)
    from edgeae.runtime.pretrained import pretrained_manifest

    return pretrained_manifest(args.pretrained)


def _check_patch_size(patch_size: int, multiple: int) -> None:
    """A U-Net halves its crops level by level: their sides must be multiples of its step."""
    if patch_size % multiple:
        nearest = max(multiple, round(patch_size / multiple) * multiple)
        raise UserError(f"--patch-size {patch_size}: the starting model needs crop sides that "
                        f"are multiples of {multiple}; try --patch-size {nearest}")


def _footage(args: argparse.Namespace):
    """The frames to adapt on: --data read from disk, or --source recorded now."""
    from edgeae.core.data import ArrayImages, Preprocess, load_data

    channels = _start_manifest(args).input.channels
    prep = Preprocess(channels, args.image_size)
    if args.data is not None:
        _check_video_fits(Path(args.data), args, channels)  # before every frame is decoded
        return load_data(args.data, prep, every=args.every, max_frames=args.max_frames).train
    from edgeae.app.recording import record_frames

    frames = record_frames(args.source, args.frames, channels, args.keep_frames, args.overwrite)
    return ArrayImages(frames, prep, f"--source {args.source}", "recording")


def _check_video_fits(path: Path, args: argparse.Namespace, channels: int) -> None:
    """A video's frames, by its container's count and size, checked against the memory first.

    Reading decodes every frame (a 400-frame 12-megapixel video took 122 s) before the
    footage's own check could say it cannot be held.
    """
    import cv2

    from edgeae.core.data import VIDEO_SUFFIXES
    from edgeae.train.frame_pairs import check_footage_fits

    if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
        return
    capture = cv2.VideoCapture(str(path))
    counted = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)))
    capture.release()
    n = -(-counted // args.every)
    n = n if args.max_frames is None else min(n, args.max_frames)
    if n > 0 and min(size) > 0:
        check_footage_fits(n, args.image_size or size, channels, str(path))


def _check_footage(source, args: argparse.Namespace) -> None:  # noqa: ANN001
    """Frames enough to train on beside the held-out tail, and memory to hold them.

    Said before TensorFlow loads.
    """
    from edgeae.train.frame_pairs import (
        NEIGHBOURS,
        adaptable_size,
        check_footage_fits,
        check_frame_count,
        split_frames,
    )

    n = len(source) if args.max_frames is None else min(len(source), args.max_frames)
    check_frame_count(n, source.name)
    split_frames(n, args.holdout, max(abs(o) for o in NEIGHBOURS[args.targets]))
    adaptable_size(source.size, _start_manifest(args).input.size_multiple, source.name)
    check_footage_fits(n, source.size, source.channels, source.name)


def _start_manifest(args: argparse.Namespace) -> Manifest:
    """The starting model's manifest, read without Keras: a model directory's or a shipped one's."""
    if args.model is not None:
        from edgeae.core.modeldir import ModelDir

        return ModelDir.open(args.model).manifest
    from edgeae.runtime.pretrained import pretrained_manifest

    return pretrained_manifest(args.pretrained)


def _check_denoiser_dir(path: Path) -> None:
    """--model must be a denoiser's model directory (checked before TensorFlow loads)."""
    from edgeae.core.modeldir import ModelDir
    from edgeae.core.tasks import TASKS

    manifest = ModelDir.open(path).manifest
    if not TASKS[manifest.task].noisy_inputs:
        raise UserError(f"{path} holds a model of task {manifest.task}, not a denoiser; adapt "
                        "tunes denoisers")
    if manifest.input.frames > 1:
        raise UserError(f"{path} holds a temporal denoiser; adapt tunes single-frame ones (adapt "
                        "the single-frame model, then train the temporal one from it)")


def _start(args: argparse.Namespace):
    """The model to start from: a model directory's, or a shipped one rebuilt from its ONNX."""
    from edgeae.train.adapt import Start

    if args.model is not None:
        from edgeae.core.modeldir import ModelDir
        from edgeae.train.keras_backend import load_keras

        model_dir = ModelDir.open(args.model)
        return Start(load_keras(model_dir), model_dir.manifest, str(args.model),
                     model_dir.model_sha256)
    from edgeae.export.options import Tolerances
    from edgeae.runtime.pretrained import rebuild_source
    from edgeae.train.from_artifact import keras_from_onnx

    model, manifest = keras_from_onnx(rebuild_source(args.pretrained),
                                      Tolerances().fp32_max_abs_diff)
    return Start(model, manifest, f"pretrained:{args.pretrained}", manifest.artifact.sha256,
                 args.pretrained)
