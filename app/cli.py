"""The `edgeae` command: parse, validate, call one public function.

Imports stay lazy so the runtime commands never load TensorFlow and `--help` is instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from edgeae import __version__
from edgeae.core.errors import EdgeaeError, UserError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) and examples shown verbatim."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _ranged(kind: type, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False) -> Callable[[str], float | int]:
    """An argparse type that parses `kind` and checks lo <= value <= hi."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value != value or (lo is not None and (value <= lo if lo_open else value < lo)) or (
                hi is not None and value > hi):
            bound = f"{'>' if lo_open else '>='} {lo}" if lo is not None else ""
            bound += (" and " if bound and hi is not None else "") + (
                f"<= {hi}" if hi is not None else "")
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _image_size(text: str) -> tuple[int, int]:
    """'64' or '48x64' (height x width) -> (h, w)."""
    parts = text.lower().split("x")
    try:
        h, w = (int(parts[0]), int(parts[0])) if len(parts) == 1 else map(int, parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if h < 1 or w < 1 or h > 16384 or w > 16384:
        raise argparse.ArgumentTypeError(f"sides must be 1..16384, got {text}")
    return h, w


def _filters(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(f) for f in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 16,8, got {text!r}") from None


POSITIVE = _ranged(int, 1)
FRACTION = _ranged(float, 0.0, 1.0, lo_open=True)


def _examples(*lines: str) -> str:
    return "examples:\n" + textwrap.indent("\n".join(lines), "  ")


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="D",
                   help="folder of images (recursive; sub-folders are classes), image file, "
                        ".npy/.npz array, IDX file, video file, or digits|mnist|fashion-mnist")
    g.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="for mnist/fashion-mnist: read these IDX files or .npz (no download)")
    g.add_argument("--image-size", type=_image_size, metavar="HxW",
                   help="resize every image to this size (N or HxW)")
    g.add_argument("--channels", type=int, choices=(1, 3),
                   help="1 gray or 3 RGB (default: what the images are)")
    g.add_argument("--every", type=POSITIVE, default=1, metavar="K",
                   help="videos: keep every K-th frame (default 1)")
    g.add_argument("--strict", action="store_true",
                   help="fail on an unreadable image instead of skipping it")
    g.add_argument("--label-column", metavar="COL",
                   help="series (a CSV with one series per row, or an (N, L) .npy): the label "
                        "column's header name or 0-based index (-1: the last)")
    g.add_argument("--normal-label", metavar="V",
                   help="series: the label value of normal rows; training keeps only those")


def _load_kwargs(args: argparse.Namespace, normal_only: bool = False) -> dict:
    from edgeae.core.series import SeriesOptions

    return {"data_dir": args.data_dir, "strict": args.strict, "every": args.every,
            "series": SeriesOptions(args.label_column, args.normal_label, normal_only)}


def _add_train_parser(sub, task: str, summary: str, example: str) -> argparse.ArgumentParser:
    p = sub.add_parser(task, help=summary, description=summary, epilog=example)
    _add_data_args(p)
    g = p.add_argument_group("model and training")
    g.add_argument("--out", type=Path, required=True, help="model directory to write")
    g.add_argument("--model", default="conv",
                   help="registered model: conv (any image size), dense (the tutorial's, fixed "
                        "size) or unet (denoising, residual, any size)")
    g.add_argument("--size", choices=("tiny", "small", "medium", "large"),
                   help="unet, in multiply-accumulates per pixel: tiny 8.5k, small 34k (the "
                        "pretrained live), medium 124k (pretrained quality), large 726k "
                        "(default small)")
    g.add_argument("--latent-dim", type=POSITIVE,
                   help="dense and vae: size of the latent code (dense 64, vae 16)")
    if task != "vae":  # the VAE's --hidden is one width
        g.add_argument("--hidden", type=_filters, metavar="UNITS",
                       help="dense: hidden layers between the pixels and the code, mirrored "
                            "in the decoder, e.g. 256,128 (default none, the tutorial's)")
    g.add_argument("--filters", type=_filters,
                   help="conv: filters per stage, e.g. 16,8; unet: per level, e.g. 16,32,64; "
                        "vae: per encoder stage, e.g. 32,64")
    g.add_argument("--epochs", type=POSITIVE, default=20)
    g.add_argument("--time-limit", type=_ranged(float, 0.0, 1e6, lo_open=True), metavar="MIN",
                   help="stop after the epoch that reaches this many minutes, keeping the best")
    g.add_argument("--batch-size", type=POSITIVE, default=32)
    g.add_argument("--learning-rate", type=_ranged(float, 0.0, 10.0, lo_open=True), default=1e-3)
    g.add_argument("--loss", choices=("mse", "mae", "bce"), default="mse")
    g.add_argument("--val-split", type=_ranged(float, 0.0, 0.9, lo_open=True), default=0.1,
                   help="fraction held out for validation (default 0.1)")
    g.add_argument("--patience", type=POSITIVE, default=5,
                   help="early stopping: epochs without validation improvement")
    g.add_argument("--patch-size", type=POSITIVE,
                   help="train on random square crops of this size (large or mixed-size images)")
    g.add_argument("--patches-per-image", type=POSITIVE, default=1, metavar="K",
                   help="with --patch-size: crops drawn from each image per epoch (default 1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--initial-weights", type=Path, metavar="W",
                   help="start from these .weights.h5 (same --model and --size), e.g. ones "
                        "trained on a GPU by python -m edgeae.train.pretrain")
    g.add_argument("--quantization-aware", action="store_true",
                   help="simulate int8 rounding after every layer while training, so the int8 "
                        "export loses less (best as a few epochs on --initial-weights)")
    g.add_argument("--strategy", choices=("auto", "one-device", "mirrored", "multi-worker"),
                   default="auto",
                   help="tf.distribute strategy: mirrored = every local GPU (or logical CPU), "
                        "multi-worker = the cluster in TF_CONFIG; --batch-size is the global "
                        "batch (default auto: mirrored over several GPUs, else one device)")
    g.add_argument("--cache", type=Path, metavar="DIR",
                   help="keep decoded images in DIR after the first epoch (uint16, about "
                        "2 bytes per pixel); later epochs and runs on the same data read them "
                        "instead of decoding again")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_train, task=task)
    return p


def _model_on_images_parser(sub, name: str, func: Callable, summary: str, description: str,
                            *examples: str) -> argparse.ArgumentParser:
    """A command that runs --model (directory or exported file) over --data images."""
    p = sub.add_parser(name, help=summary, description=description,
                       epilog=_examples(*examples))
    p.add_argument("--model", type=Path, required=True, help="model directory or exported file")
    _add_data_args(p)
    _add_backend_args(p)
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=func)
    return p


def _add_archive_args(p: argparse.ArgumentParser, verb: str, order: str, resume: str) -> None:
    """--workers and --resume, for commands that run over large archives."""
    p.add_argument("--workers", type=POSITIVE, default=1, metavar="N",
                   help=f"{verb} in N processes (large archives; each opens the model once); "
                        f"{order}")
    p.add_argument("--resume", action="store_true", help=resume)


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    from edgeae.runtime.backends import backend_names

    p.add_argument("--backend", choices=backend_names(),
                   help="runtime backend (default: the first installed one for the file)")
    p.add_argument("--threads", type=POSITIVE, help="inference threads (default: backend's)")


def _cmd_train(args: argparse.Namespace) -> int:
    from edgeae.core.data import Preprocess, load_data
    from edgeae.train.callbacks import TimeLimit
    from edgeae.train.fit import TrainSettings, train

    params = {k: v for k, v in (("latent_dim", args.latent_dim), ("filters", args.filters),
                                ("size", args.size),
                                ("likelihood", getattr(args, "likelihood", None)),
                                ("hidden", getattr(args, "hidden", None)),
                                ("beta", getattr(args, "beta", None)),
                                ("kl_warmup_epochs", getattr(args, "kl_warmup", None)))
              if v is not None}
    settings = TrainSettings(
        task=args.task, architecture=args.model, params=params, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, loss=_loss(args),
        val_split=args.val_split, seed=args.seed, patience=args.patience,
        patch_size=args.patch_size, patches_per_image=args.patches_per_image,
        noise=_noise_spec(args), self_supervised=getattr(args, "self_supervised", None),
        initial_weights=str(args.initial_weights) if args.initial_weights else None,
        quantization_aware=args.quantization_aware, strategy=args.strategy,
        **_detector_settings(args))
    splits = load_data(args.data, Preprocess(args.channels, args.image_size),
                       **_load_kwargs(args, normal_only=True))
    try:
        limit = [TimeLimit(args.time_limit)] if args.time_limit else []
        manifest = train(splits.train, args.out, settings, overwrite=args.overwrite,
                         callbacks=limit, cache=args.cache)
    except KeyboardInterrupt:
        print("interrupted: finished epochs are kept; run the same command to resume",
              file=sys.stderr)
        return 130
    t = manifest.training
    print(f"trained {manifest.architecture} {manifest.task} on {manifest.data.n_train} images: "
          f"{t.epochs_run} epochs, best val_loss {t.best_val_loss:.5g}, val_mse {t.val_mse:.5g} "
          f"-> {args.out}")
    return 0


def _loss(args: argparse.Namespace) -> str:
    """--loss, or for a VAE the loss its likelihood implies."""
    if args.loss is not None:
        return args.loss
    from edgeae.train.models.vae import LOSS_OF

    return LOSS_OF[args.likelihood]


def _detector_settings(args: argparse.Namespace) -> dict:
    """A detector's threshold strategy and score configuration, validated before training."""
    if args.task != "detector":
        return {}
    from pydantic import ValidationError

    from edgeae.core.manifest import ScoreConfig
    from edgeae.runtime.threshold import parse_threshold

    spec = parse_threshold(args.threshold)
    if spec.needs_labels:
        raise UserError("best-f1 needs labelled images: train with another strategy, then run "
                        "`edgeae threshold MODEL --strategy best-f1 --data LABELLED/`")
    try:
        score = ScoreConfig(error=args.score_error, smooth=args.score_smooth, pool=args.score_pool,
                            knn=args.score_knn, combine=args.score_combine)
    except ValidationError:
        raise UserError(f"--score-pool {args.score_pool!r}: use mean, max or top:F with F in "
                        "(0, 1], e.g. top:0.01") from None
    return {"threshold": str(spec), "score": score.model_dump()}


def _noise_spec(args: argparse.Namespace) -> str | None:
    """A denoiser's canonical noise spec, None for the others.

    Supervised: the noise to add. Recorrupted self-supervised: the level of the noise --data
    holds (None: estimated when training starts). Blind-spot: None.
    """
    if args.task != "denoiser":
        return None
    from edgeae.train.noise import gaussian_sigma, noise_from_factor, parse_noise

    if args.self_supervised == "recorrupted" and args.noise:
        return f"gaussian:{gaussian_sigma(args.noise):g}"
    if args.self_supervised:
        if args.noise or args.noise_factor:
            raise UserError("--self-supervised learns from the noise already in --data; drop "
                            "--noise / --noise-factor (recorrupted takes --noise gaussian:SIGMA "
                            "as the level that noise has)")
        return None

    return str(parse_noise(args.noise or noise_from_factor(args.noise_factor or 0.2)))


def _cmd_export(args: argparse.Namespace) -> int:
    from edgeae.core.modeldir import ModelDir
    from edgeae.export.artifacts import (
        FORMATS,
        ExportOptions,
        export_model,
        load_calibration,
        load_labelled,
    )
    from edgeae.export.parity import Tolerances

    model_dir = ModelDir.open(args.model_dir)
    options = ExportOptions(
        formats=FORMATS if args.format == "all" else (args.format,), part=args.part,
        precisions=args.precision, input_size=args.input_size,
        calibration_samples=args.calibration_samples, int8_io=args.int8_io,
        per_channel=not args.per_tensor, opset=args.opset, allow_drift=args.allow_drift,
        overwrite=args.overwrite, seed=args.seed,
        tolerances=Tolerances(args.fp32_tolerance, args.fp16_tolerance, args.int8_psnr_drop,
                              args.int8_auroc_drop))
    if args.calibration:
        images = load_calibration(args.calibration, model_dir.manifest, args.input_size,
                                  args.calibration_samples, args.seed)
        options = replace(options, calibration=images, calibration_source=args.calibration)
    if args.labelled:
        options = replace(options, labelled=load_labelled(args.labelled, model_dir.manifest,
                                                          args.input_size))
    report = export_model(model_dir, args.out, options)
    print(report.table)
    for exported in report.artifacts:
        print(f"wrote {exported.path} (+ {exported.path.name}.json)")
    return 0


def _precisions(text: str) -> tuple[str, ...]:
    """'fp32,int8' or 'all' -> a tuple of precisions, validated."""
    from edgeae.export.artifacts import PRECISIONS

    names = PRECISIONS if text == "all" else tuple(p.strip() for p in text.split(","))
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or not names:
        bad = ", ".join(unknown) or repr(text)
        raise argparse.ArgumentTypeError(
            f"unknown precision {bad}; use a comma-separated list of {', '.join(PRECISIONS)} "
            "or 'all'")
    return names


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from edgeae.app.reconstruct import load_for_model, reconstruct_images
    from edgeae.train.keras_backend import open_model

    model = open_model(args.model, args.backend, args.threads)
    source = load_for_model(model.manifest, args.data, args.image_size, **_load_kwargs(args))
    report = reconstruct_images(model, source, args.out, args.limit, args.overwrite)
    print(json.dumps(report.summary(), indent=2))
    return 0


def _scorer_and_data(args: argparse.Namespace):
    """An AnomalyScorer for --model (directory or file) and --data read to suit it."""
    from edgeae.app.reconstruct import load_for_model
    from edgeae.train.keras_backend import open_model

    scorer = open_model(args.model, args.backend, args.threads, use="score")
    source = load_for_model(scorer.manifest, args.data, args.image_size, **_load_kwargs(args))
    return scorer, source


def _cmd_score(args: argparse.Namespace) -> int:
    from edgeae.app.detect import score_folder
    from edgeae.app.reconstruct import load_for_model
    from edgeae.app.workers import ModelSpec
    from edgeae.runtime.artifact import read_manifest

    source = load_for_model(read_manifest(args.model), args.data, args.image_size,
                            **_load_kwargs(args))
    spec = ModelSpec(args.model, args.backend, args.threads, "score", args.threshold)
    summary = score_folder(spec, source, args.out, args.maps, args.overwrite, args.workers,
                           args.resume)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from edgeae.app.detect import evaluate_folder
    from edgeae.core.files import check_writable, write_json
    from edgeae.core.labels import labels_for

    if args.out is not None:
        check_writable(args.out, args.overwrite)
    scorer, source = _scorer_and_data(args)
    labels = labels_for(source, args.labels)
    metrics = evaluate_folder(scorer, source, labels, args.masks)
    print(_metrics_table(metrics))
    if args.out is not None:
        write_json(args.out, metrics, overwrite=args.overwrite)
    return 0


def _metrics_table(metrics: dict) -> str:
    """The evaluation as aligned `name  value` lines, None shown as n/a."""
    rows = [(k, metrics.get(k)) for k in ("n", "n_anomalous", "threshold", "accuracy",
                                          "precision", "recall", "f1", "auroc", "aupr")]
    rows += [(k if k.startswith("pixel") else f"pixel_{k}", v)
             for k, v in metrics.get("pixel", {}).items() if k != "note"]
    lines = [f"{k:<16}{'n/a' if v is None else f'{v:.4g}' if isinstance(v, float) else v}"
             for k, v in rows]
    if "confusion_matrix" in metrics:
        (tn, fp), (fn, tp) = metrics["confusion_matrix"]
        lines.append(f"{'confusion':<16}TN {tn}  FP {fp}  FN {fn}  TP {tp}")
    lines += [f"note: {n}" for n in (metrics.get("note"), metrics.get("pixel", {}).get("note"))
              if n]
    return "\n".join(lines)


def _cmd_threshold(args: argparse.Namespace) -> int:
    from edgeae.core.labels import labels_for
    from edgeae.runtime.batch import scored
    from edgeae.runtime.threshold import apply_threshold, parse_threshold

    scores = labels = None
    if parse_threshold(args.strategy).needs_labels:
        if args.data is None:
            raise UserError("best-f1 needs labelled images: pass --data DIR (good/ and anomaly "
                            "sub-folders) or --data DIR --labels CSV")
        scorer, source = _scorer_and_data(args)
        labels = labels_for(source, args.labels)
        scores = [s for _, s, _, _ in scored(scorer, source)]
    manifest = apply_threshold(args.model, args.strategy, scores, labels)
    print(f"{args.model}: threshold {manifest.threshold_strategy} = {manifest.threshold:.6g}")
    return 0


def _model_path(args: argparse.Namespace) -> Path:
    """--model, or the shipped artifact that --pretrained names."""
    if args.pretrained is None:
        return args.model
    from edgeae.runtime.pretrained import pretrained_path

    return pretrained_path(args.pretrained, args.backend, args.precision)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from edgeae.runtime.pretrained import NAMES, PRECISIONS

    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", type=Path, help="exported .tflite or .onnx file")
    g.add_argument("--pretrained", choices=NAMES,
                   help="a shipped blind gray denoiser: live (real time) or quality")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="--pretrained: fp32 or int8 (default int8 for live, fp32 for quality)")


def _cmd_denoise(args: argparse.Namespace) -> int:
    from edgeae.app.denoise import denoise_files, plan_jobs
    from edgeae.app.workers import ModelSpec

    jobs = plan_jobs(args.inputs, args.out, args.overwrite, args.resume)
    count = denoise_files(ModelSpec(_model_path(args), args.backend, args.threads), jobs,
                          args.overwrite, args.workers)
    print(f"denoised {count} image{'s' if count != 1 else ''} -> {args.out}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import edgeae.runtime as rt
    from edgeae.runtime.capture import parse_source
    from edgeae.runtime.loop import RunOptions, run

    source = parse_source(args.source)
    path = _model_path(args)
    manifest = rt.read_artifact_manifest(path, args.backend)
    task = args.task or ("denoise" if manifest.task == "denoiser" else "score")
    model = rt.load(path, args.backend, args.threads, task=task)
    if args.threshold is not None:
        model.threshold = args.threshold
    if task == "score" and model.threshold is None:
        logging.getLogger("edgeae").warning(
            "no threshold in the manifest and no --threshold: scores only, no decisions")
    options = RunOptions(output=args.output, events=args.events,
                         event_interval=args.event_interval, max_fps=args.max_fps,
                         duration=args.duration, display=args.display,
                         side_by_side=args.side_by_side, overlay=not args.no_overlay,
                         overwrite=args.overwrite, gray=args.gray)
    print(json.dumps(run(model, source, options).to_dict(), indent=2))
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from edgeae.app.benchmark import (
        BenchmarkOptions,
        benchmark,
        markdown_table,
        model_target,
        pretrained_target,
    )

    if (args.model_dir is None) == (args.pretrained is None):
        raise UserError("pass a MODEL_DIR or --pretrained NAME (one of them)")
    options = BenchmarkOptions(
        backends=args.backends, precisions=args.precisions, sizes=args.sizes,
        threads=args.threads, data=args.data, labels=args.labels, noise=args.noise,
        limit=args.limit,
        warmup=args.warmup, repeats=args.repeats, python=args.python or sys.executable,
        overwrite=args.overwrite, seed=args.seed)
    target = (pretrained_target(args.pretrained) if args.pretrained else
              model_target(args.model_dir, args.artifacts or args.out / "artifacts", options))
    rows = benchmark(target, args.out, options)
    print(markdown_table(rows))
    print(f"wrote {args.out / 'benchmark.json'} and benchmark.csv")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from edgeae.app.generate import generate

    if args.interpolate is not None and args.traverse is not None:
        raise UserError("pass --interpolate or --traverse, not both")
    summary = generate(args.model, args.out, args.n, args.seed, args.temperature, args.save_each,
                       tuple(args.interpolate) if args.interpolate else None, args.steps,
                       args.traverse, args.overwrite)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from edgeae.app.report import write_report

    path = write_report(args.model_dir, args.out, args.benchmark, args.export, args.overwrite)
    print(f"wrote {path}")
    return 0


def _listed(parse: Callable[[str], object], choices: Sequence[str] | None = None):
    """An argparse type for comma-separated values, each parsed (and checked) on its own."""

    def parse_list(text: str) -> tuple:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        bad = [t for t in items if choices is not None and t not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from "
                                             f"{', '.join(choices)}")
        return tuple(dict.fromkeys(parse(t) for t in items))

    return parse_list


def _frame_size(text: str) -> tuple[int, int]:
    """'640x480' (width x height, as cameras are described) -> (height, width)."""
    h, w = _image_size(text)
    return w, h


def _cmd_info(args: argparse.Namespace) -> int:
    from edgeae.core.manifest import Manifest
    from edgeae.core.modeldir import MANIFEST_FILE
    from edgeae.runtime import read_artifact_manifest

    path = args.model
    manifest = (Manifest.read(path / MANIFEST_FILE) if path.is_dir()
                else read_artifact_manifest(path))
    print(manifest.to_json(), end="")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from edgeae.app.demo import run_demo

    metrics = run_demo(args.out, args.epochs, args.overwrite)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {args.out}/: model/, export/, reconstructions.png, denoising.png, detector/, "
          "detector-export/, anomalies.png, vae/, vae-export/, generation.png, benchmark/, "
          "metrics.json")
    print(f"report: {metrics['report']}")
    return 0


def build_parser() -> Parser:
    """The full command-line interface."""
    parser = Parser(prog="edgeae", description=(
        "Train Keras autoencoders, export them for edge devices, run them on frames."),
        epilog=_examples("edgeae demo --out edgeae-demo",
                         "edgeae train autoencoder --data photos/ --out model_dir",
                         "edgeae export model_dir --format tflite --out export/",
                         "edgeae reconstruct --model export/model_fp32.tflite --data photos/ "
                         "--out recon/"))
    parser.add_argument("--version", action="version", version=f"edgeae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model on images",
                           description="Train a model; see each task's --help.")
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    _add_train_parser(tasks, "autoencoder", "reconstruct images through a small latent code",
                      _examples("edgeae train autoencoder --data photos/ --out model_dir",
                                "edgeae train autoencoder --data fashion-mnist --data-dir "
                                "../shared/data/fashion_mnist.npz --model dense --out dense_ae",
                                "edgeae train autoencoder --data clip.mp4 --every 5 "
                                "--image-size 96x128 --out cam_ae"))
    denoise = _add_train_parser(
        tasks, "denoiser", "learn to remove noise: from clean images with a noise model, or "
                           "from noisy images alone (--self-supervised)",
        _examples("edgeae train denoiser --data fashion-mnist --noise-factor 0.2 --out denoiser",
                  "edgeae train denoiser --data clean/ --model unet --size tiny --patch-size 64 "
                  "--noise gaussian:5-50 --out live",
                  "edgeae train denoiser --data phone/ --patch-size 96 --noise "
                  "poisson-gaussian:20-200,2-8+jpeg:60-95 --out phone",
                  "edgeae train denoiser --self-supervised --data noisy.mp4 --every 5 "
                  "--model unet --patch-size 64 --out n2v",
                  "edgeae train denoiser --self-supervised recorrupted --data noisy_frames/ "
                  "--model unet --size tiny --patch-size 64 --out r2r"))
    noise = denoise.add_argument_group("noise (supervised)").add_mutually_exclusive_group()
    noise.add_argument("--noise", metavar="SPEC",
                       help="noise model, steps joined by '+': gaussian:SIGMA (0-255; LO-HI for "
                            "a blind model), poisson-gaussian:PEAK,READ, salt-pepper:FRACTION, "
                            "speckle:SIGMA, jpeg:QUALITY, clip (default gaussian:51+clip)")
    noise.add_argument("--noise-factor", type=_ranged(float, 0.0, 10.0, lo_open=True),
                       help="the tutorial's clip(x + f * N(0, 1), 0, 1), = gaussian:255f+clip")
    denoise.add_argument("--self-supervised", nargs="?", const="blind-spot",
                         choices=("blind-spot", "recorrupted"), metavar="METHOD",
                         help="--data holds noisy images only, no clean targets. blind-spot "
                              "(the default): Noise2Void masking, for any pixel-independent "
                              "noise. recorrupted: Recorrupted-to-Recorrupted pairs, for "
                              "Gaussian noise, much better there (Set12 sigma 25: 28.8 vs 25.8 "
                              "dB); its level is estimated from the images, or give it as "
                              "--noise gaussian:SIGMA")
    detector = _add_train_parser(
        tasks, "detector", "learn normal images; score, threshold and localise anomalies "
                           "(default: the dense autoencoder, see --model)",
        _examples("edgeae train detector --data normal/ --out det",
                  "edgeae train detector --data parts/good --threshold percentile:99 "
                  "--score-smooth 2 --score-pool top:0.01 --out det",
                  "edgeae threshold det --strategy contamination:0.02   # later, no retraining"))
    from edgeae.train.detector import DEFAULT_MODEL, DEFAULT_SCORE

    detector.set_defaults(model=DEFAULT_MODEL)
    g = detector.add_argument_group("anomaly score and threshold")
    g.add_argument("--threshold", default="mean+1std", metavar="SPEC",
                   help="mean+Kstd (training scores; the tutorial's mean+1std, the default), "
                        "percentile:P (held-out normal scores), contamination:R, fixed:V")
    g.add_argument("--score-error", choices=("squared", "absolute"),
                   default=DEFAULT_SCORE.error, help=f"per-pixel error ({DEFAULT_SCORE.error})")
    g.add_argument("--score-smooth", type=_ranged(float, 0.0, 50.0), default=DEFAULT_SCORE.smooth,
                   metavar="PX", help="Gaussian sigma in pixels applied to the error map "
                                      f"(0: none; default {DEFAULT_SCORE.smooth:g})")
    g.add_argument("--score-pool", default=DEFAULT_SCORE.pool, metavar="HOW",
                   help="map to score: mean (the tutorial's MSE), max, or top:F, the mean of "
                        f"the highest F fraction of pixels (default {DEFAULT_SCORE.pool})")
    g.add_argument("--score-knn", type=_ranged(int, 0, 1000), default=DEFAULT_SCORE.knn,
                   metavar="K", help="also measure the mean distance of each image's HOG "
                                     "descriptor to its K nearest training images' (0: off; "
                                     f"default {DEFAULT_SCORE.knn}); needs one image size")
    g.add_argument("--score-combine", choices=("knn", "both"), default=DEFAULT_SCORE.combine,
                   help="with --score-knn: score by the k-NN distance alone or add the "
                        f"reconstruction score (each standardised; default "
                        f"{DEFAULT_SCORE.combine})")
    vae = _add_train_parser(
        tasks, "vae", "learn a smooth latent space to generate images from (variational "
                      "autoencoder); see `edgeae generate`",
        _examples("edgeae train vae --data fashion-mnist --data-dir "
                  "../shared/data/fashion_mnist.npz --epochs 30 --out vae",
                  "edgeae train vae --data faces/ --image-size 64x64 --likelihood gaussian "
                  "--latent-dim 32 --kl-warmup 5 --out face_vae"))
    vae.set_defaults(model="vae", loss=None)
    g = vae.add_argument_group("variational autoencoder")
    g.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli",
                   help="bernoulli (binary cross-entropy; the default, for images in [0, 1]) or "
                        "gaussian with a fixed sigma (mean squared error)")
    g.add_argument("--hidden", type=POSITIVE,
                   help="Dense units between the convolutions and the code (default 256)")
    g.add_argument("--beta", type=_ranged(float, 0.0, 100.0, lo_open=True),
                   help="weight of the KL term (beta-VAE; default 1)")
    g.add_argument("--kl-warmup", type=_ranged(int, 0, 10000), metavar="EPOCHS",
                   help="ramp the KL weight from 0 to 1 over this many epochs (default 0)")

    p = sub.add_parser(
        "export", help="export a model directory to TFLite / ONNX, checked against Keras",
        description=(
            "Convert a trained model to TFLite (fp32, fp16, int8-dynamic, int8) and ONNX (fp32,\n"
            "int8-dynamic, int8), run each artifact with its real interpreter on held-out\n"
            "images and compare it with the Keras model. Float artifacts must match within a\n"
            "max abs difference; quantized ones within a PSNR drop. A failed gate writes\n"
            "nothing and exits 1 unless --allow-drift. Each artifact gets its manifest embedded\n"
            "and as FILE.json beside it; parity.json and the printed table hold the report."),
        epilog=_examples(
            "edgeae export model_dir --out export/",
            "edgeae export model_dir --format all --precision all --out export/",
            "edgeae export model_dir --precision int8 --int8-io uint8 --calibration photos/ "
            "--out export/",
            "edgeae export model_dir --precision int8 --input-size 256x256 --out export/",
            "edgeae export detector_dir --precision all --labelled test/ --out export/"))
    p.add_argument("model_dir", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for artifacts + manifests")
    p.add_argument("--format", choices=("tflite", "onnx", "all"), default="tflite")
    p.add_argument("--part", choices=("model", "decoder", "encoder"), default="model",
                   help="a VAE's decoder (codes in, images out: edgeae.runtime's Generator) or "
                        "encoder (images in, codes out: its Encoder), for generating on a device")
    p.add_argument("--precision", type=_precisions, default=("fp32",), metavar="LIST",
                   help="comma-separated fp32, fp16, int8-dynamic, int8, or all (default fp32)")
    p.add_argument("--input-size", type=_image_size, metavar="HxW",
                   help="a fixed-shape variant (e.g. a 256x256 tile model for int8 backends)")
    g = p.add_argument_group("int8")
    g.add_argument("--calibration", metavar="D",
                   help="calibration images (any --data form); default: the training images "
                        "saved in the model directory")
    g.add_argument("--calibration-samples", type=POSITIVE, default=200, metavar="N",
                   help="images used to calibrate, picked to cover the brightness range (200)")
    g.add_argument("--int8-io", choices=("uint8", "int8", "float32"), default="uint8",
                   help="TFLite int8: input/output type (default uint8, a camera's pixels)")
    g.add_argument("--per-tensor", action="store_true",
                   help="one weight scale per tensor instead of per output channel")
    g.add_argument("--opset", type=_ranged(int, 13, 21), default=17, help="ONNX opset (17)")
    g = p.add_argument_group("parity gate")
    g.add_argument("--fp32-tolerance", type=_ranged(float, 0.0), default=1e-4, metavar="X",
                   help="fp32: largest max abs difference from Keras (1e-4)")
    g.add_argument("--fp16-tolerance", type=_ranged(float, 0.0), default=2e-3, metavar="X",
                   help="fp16: largest max abs difference from Keras (2e-3)")
    g.add_argument("--int8-psnr-drop", type=_ranged(float, 0.0), default=0.3, metavar="DB",
                   help="int8 and int8-dynamic: largest PSNR drop vs Keras in dB (0.3)")
    g.add_argument("--labelled", metavar="D",
                   help="detection parity on a labelled folder: good/ (or normal/) holds normal "
                        "images, other sub-folders anomalies; adds AUROC and score correlation")
    g.add_argument("--int8-auroc-drop", type=_ranged(float, 0.0), default=0.005, metavar="X",
                   help="int8 with --labelled: largest AUROC drop vs Keras (0.005)")
    g.add_argument("--allow-drift", action="store_true",
                   help="keep artifacts that fail the gate (warns instead)")
    p.add_argument("--seed", type=int, default=0, help="noise for denoiser inputs (0)")
    p.add_argument("--overwrite", action="store_true", help="replace existing artifacts")
    p.set_defaults(func=_cmd_export)

    p = _model_on_images_parser(
        sub, "reconstruct", _cmd_reconstruct, "reconstruct images; write a grid and errors",
        "Run a model directory (Keras) or exported .tflite (runtime, no TensorFlow) on images.",
        "edgeae reconstruct --model export/model_fp32.tflite --data photos/ --out recon/",
        "edgeae reconstruct --model model_dir --data digits --out recon/ --limit 100")
    p.add_argument("--out", type=Path, required=True, help="folder for grid.png and errors.csv")
    p.add_argument("--limit", type=POSITIVE, help="reconstruct at most this many images")

    p = _model_on_images_parser(
        sub, "score", _cmd_score, "score images for anomalies; write a CSV and heat maps",
        "Score every image with a detector (model directory or exported file) and flag those "
        "above its threshold.",
        "edgeae score --model det --data new/ --out scores.csv",
        "edgeae score --model export/model_int8.tflite --data new/ --out scores.csv --maps maps/",
        "edgeae score --model export/model_int8.tflite --data archive/ --out scores.csv "
        "--workers 2 --resume")
    p.add_argument("--out", type=Path, required=True, help="CSV of path, score, prediction")
    p.add_argument("--maps", type=Path, metavar="DIR",
                   help="also write each image with its anomaly map overlaid, as PNG")
    p.add_argument("--threshold", type=float, help="use this threshold, not the model's")
    _add_archive_args(p, "score", "the CSV keeps the images' order",
                      "keep the rows an interrupted (or earlier) run wrote; score the rest")

    p = _model_on_images_parser(
        sub, "evaluate", _cmd_evaluate, "detection metrics on labelled images",
        "Accuracy, precision, recall, F1 at the model's threshold; AUROC, AUPR; pixel AUROC "
        "and PRO with --masks.",
        "edgeae evaluate --model det --data test/   # good/ = normal, other sub-folders = "
        "anomalies",
        "edgeae evaluate --model det --data test/ --labels labels.csv --masks masks/ --out "
        "metrics.json")
    p.add_argument("--labels", type=Path, metavar="CSV",
                   help="path,label per image (1 = anomaly); default: sub-folders named "
                        "good, normal or ok are normal, the others anomalous")
    p.add_argument("--masks", type=Path, metavar="DIR",
                   help="defect masks: PNGs at the images' relative paths, non-zero on defects "
                        "(a missing mask means no defect)")
    p.add_argument("--out", type=Path, metavar="JSON", help="also write the metrics here")

    p = sub.add_parser("threshold", help="change a detector's threshold without retraining",
                       description="Recompute the threshold of a model directory or exported "
                                   "file from its stored score statistics (or labelled images "
                                   "for best-f1) and rewrite its manifest.",
                       epilog=_examples("edgeae threshold det --strategy percentile:99.5",
                                        "edgeae threshold export/model_int8.tflite --strategy "
                                        "best-f1 --data val/",
                                        "edgeae threshold det --strategy fixed:0.004"))
    p.add_argument("model", type=Path, help="model directory or exported file")
    p.add_argument("--strategy", required=True, metavar="SPEC",
                   help="mean+Kstd, percentile:P, contamination:R, best-f1, fixed:V")
    g = p.add_argument_group("labelled images (best-f1)")
    g.add_argument("--data", metavar="D", help="labelled images, as for evaluate")
    g.add_argument("--labels", type=Path, metavar="CSV", help="path,label per image")
    _add_backend_args(p)
    # what the data options of score / evaluate would give: images as they are, series rows
    # labelled as the manifest says
    p.set_defaults(func=_cmd_threshold, image_size=None, data_dir=None, strict=False, every=1,
                   label_column=None, normal_label=None)

    p = sub.add_parser(
        "run", help="denoise or score live frames (camera, stream, video, folder)",
        description=(
            "Run an exported model on frames with the runtime alone (no TensorFlow). Live\n"
            "sources (a camera index or stream URL) are captured by their own thread that keeps\n"
            "only the newest frame (stale ones are dropped and counted) and reconnect with\n"
            "back-off when lost; a video file or folder plays every frame and ends the run.\n"
            "Ctrl-C stops cleanly: the output video is finalised and a summary printed."),
        epilog=_examples(
            "edgeae run --model export/model_int8.tflite --source 0 --display",
            "edgeae run --model model_fp32.onnx --source clip.mp4 --output clean.mp4 "
            "--side-by-side",
            "edgeae run --model model_int8.tflite --source rtsp://cam/stream --task score "
            "--threshold 0.012 --events events.jsonl --duration 3600",
            "edgeae run --model model_fp32.tflite --source frames/ --output out_frames/",
            "edgeae run --pretrained live --source 0 --gray --display --side-by-side"))
    _add_model_args(p)
    p.add_argument("--source", required=True,
                   help="camera index (0), stream URL (rtsp://, http://), video file or folder")
    p.add_argument("--task", choices=("denoise", "score"),
                   help="default: the model's own (denoise for denoisers, score otherwise)")
    p.add_argument("--threshold", type=_ranged(float, 0.0),
                   help="score: anomaly threshold (default: the manifest's)")
    p.add_argument("--output", type=Path,
                   help="a video file (.mp4, .avi, ...) or a folder for PNG frames")
    p.add_argument("--events", type=Path, help="score: write anomaly events as JSON lines")
    p.add_argument("--event-interval", type=_ranged(float, 0.0), default=1.0, metavar="S",
                   help="at most one event per S seconds (default 1)")
    p.add_argument("--max-fps", type=_ranged(float, 0.0, lo_open=True), metavar="N",
                   help="process at most N frames per second")
    p.add_argument("--duration", type=_ranged(float, 0.0, lo_open=True), metavar="S",
                   help="stop after S seconds")
    p.add_argument("--display", action="store_true", help="show frames in a window (q quits)")
    p.add_argument("--side-by-side", action="store_true",
                   help="show and write input | output (or heat map) side by side")
    p.add_argument("--no-overlay", action="store_true", help="no FPS / latency text on frames")
    p.add_argument("--gray", action="store_true",
                   help="convert colour frames to gray first (a gray model then runs once per "
                        "frame, not once per colour plane: 3x faster)")
    _add_backend_args(p)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "denoise", help="denoise image files and folders (runtime only, no TensorFlow)",
        description=(
            "Denoise images with an exported model or a shipped pretrained one. Each output\n"
            "keeps its input's format, size and bit depth (8- or 16-bit PNG/TIFF); EXIF\n"
            "orientation is applied. A file goes to OUT/NAME, a folder to OUT/FOLDER/...\n"
            "Colour images are denoised per colour plane by gray models."),
        epilog=_examples("edgeae denoise --pretrained quality photo.png --out clean/",
                         "edgeae denoise --model export/model_int8.tflite scans/ --out clean/",
                         "edgeae denoise --pretrained live --precision fp32 a.tif b.png "
                         "--out clean/ --overwrite",
                         "edgeae denoise --pretrained live archive/ --out clean/ --workers 2 "
                         "--resume"))
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    _add_model_args(p)
    p.add_argument("--out", type=Path, required=True, help="folder for the denoised images")
    _add_backend_args(p)
    _add_archive_args(p, "denoise", "each output keeps its input's name",
                      "skip images whose output exists (continue an interrupted run)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_cmd_denoise)

    p = sub.add_parser(
        "benchmark", help="latency, memory, size and quality per backend and precision",
        description=(
            "Measure a model on every backend x precision x frame size x thread count: latency\n"
            "(p50/p90/p99 after warm-up) of the per-frame call a camera loop makes, frames/s,\n"
            "peak resident memory, artifact size, import time, the multiply-accumulates per\n"
            "frame and the rate achieved, and with --data the quality (PSNR/SSIM for denoisers,\n"
            "AUROC for detectors, MSE for autoencoders) beside the Keras model's. Each backend,\n"
            "precision and thread count runs in a fresh process. Missing artifacts are exported\n"
            "first. Prints a Markdown table; writes benchmark.json and benchmark.csv to --out."),
        epilog=_examples(
            "edgeae benchmark model_dir --out bench/",
            "edgeae benchmark --pretrained live --backends tflite,onnx --precisions fp32,int8 "
            "--sizes 640x480 --threads 1,2,4 --data ../shared/data/set12 --noise gaussian:25 "
            "--out bench-live/",
            "edgeae benchmark det_dir --data test/ --labels labels.csv --out bench-det/",
            "edgeae benchmark model_dir --python .venv-runtime/bin/python --out bench/  "
            "# runtime rows without TensorFlow"))
    p.add_argument("model_dir", nargs="?", type=Path, metavar="MODEL_DIR",
                   help="a model directory from `edgeae train`")
    p.add_argument("--pretrained", choices=("live", "quality"),
                   help="a shipped pretrained denoiser instead of MODEL_DIR")
    p.add_argument("--out", type=Path, required=True, help="folder for benchmark.json / .csv")
    p.add_argument("--backends", type=_listed(str, ("keras", "tflite", "onnx")),
                   default=("keras", "tflite", "onnx"), help="default keras,tflite,onnx")
    p.add_argument("--precisions", type=_listed(str, ("fp32", "fp16", "int8")),
                   default=("fp32", "fp16", "int8"),
                   help="default fp32,fp16,int8 (fp16 is TFLite only; Keras runs fp32)")
    p.add_argument("--sizes", type=_listed(_frame_size), default=((256, 256), (480, 640)),
                   metavar="WxH,...", help="frame sizes, width x height (default 256x256,640x480)")
    p.add_argument("--threads", type=_listed(POSITIVE), default=(1, 2), metavar="N,...",
                   help="inference thread counts (default 1,2)")
    p.add_argument("--data", help="images to measure quality on")
    p.add_argument("--limit", type=POSITIVE, default=256, metavar="N",
                   help="use at most N images of --data, spread evenly over it (default 256)")
    p.add_argument("--labels", type=Path,
                   help="detectors: CSV of path,label (default: class sub-folders of --data)")
    p.add_argument("--noise", metavar="SPEC",
                   help="denoisers: noise added to --data (default: the model's training noise)")
    p.add_argument("--warmup", type=POSITIVE, default=5, help="untimed calls first (default 5)")
    p.add_argument("--repeats", type=POSITIVE, default=50, help="timed calls (default 50)")
    p.add_argument("--artifacts", type=Path, metavar="DIR",
                   help="where exported artifacts are found or written (default OUT/artifacts)")
    p.add_argument("--python", metavar="PATH",
                   help="interpreter for the runtime backends' processes, e.g. a venv without "
                        "TensorFlow (default: this one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing benchmark")
    p.set_defaults(func=_cmd_benchmark)

    p = sub.add_parser(
        "generate", help="new images from a trained VAE: samples, interpolations, traversals",
        description=(
            "Decode codes drawn from the prior N(0, T^2) of a VAE (`edgeae train vae`) into a\n"
            "grid image, in batches with a progress bar; or one row interpolating between two\n"
            "images' codes (spherically), or sweeping one code dimension from -3 to 3."),
        epilog=_examples("edgeae generate --model vae -n 64 --out grid.png --seed 0",
                         "edgeae generate --model vae -n 10000 --save-each samples/ --out grid.png",
                         "edgeae generate --model vae --interpolate a.png b.png --steps 10 "
                         "--out path.png",
                         "edgeae generate --model vae --traverse 3 --out dim3.png"))
    p.add_argument("--model", type=Path, required=True, help="a VAE model directory")
    p.add_argument("-n", type=POSITIVE, default=64, help="how many samples (default 64)")
    p.add_argument("--out", type=Path, required=True, help="the grid image to write (.png)")
    p.add_argument("--seed", type=int, help="seed of the codes (default: fresh each run)")
    p.add_argument("--temperature", type=_ranged(float, 0.0, 10.0, lo_open=True), default=1.0,
                   help="scale of the prior's std: below 1 gives typical, less varied images")
    p.add_argument("--save-each", type=Path, metavar="DIR", help="also write each image here")
    p.add_argument("--interpolate", type=Path, nargs=2, metavar=("A", "B"),
                   help="interpolate between two image files instead of sampling")
    p.add_argument("--traverse", type=_ranged(int, 0), metavar="DIM",
                   help="sweep code dimension DIM from -3 to 3 instead of sampling")
    p.add_argument("--steps", type=_ranged(int, 2, 1000), default=10,
                   help="images in an interpolation or traversal row (default 10)")
    p.add_argument("--overwrite", action="store_true", help="replace existing images")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "report", help="one self-contained HTML page about a model",
        description=(
            "Write one HTML page (images and plots embedded, no network needed) with the model\n"
            "card from the manifest, training curves, sample outputs on held-out images, the\n"
            "export parity table and the benchmark table with plots."),
        epilog=_examples("edgeae report model_dir --out report.html",
                         "edgeae benchmark model_dir --out bench/ && "
                         "edgeae report model_dir --benchmark bench/ --out report.html"))
    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    p.add_argument("--benchmark", type=Path, metavar="DIR",
                   help="an `edgeae benchmark --out` folder (the parity comes from the artifacts "
                        "it measured)")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="an `edgeae export --out` folder holding parity.json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing page")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("info", help="print a model's manifest",
                       description="Print the manifest of a model directory or exported file.",
                       epilog=_examples("edgeae info model_dir",
                                        "edgeae info export/model_fp32.tflite"))
    p.add_argument("model", type=Path)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo", help="train, export and run on digits (offline, ~1 minute)",
                       description="The whole pipeline on scikit-learn's digits, no network.",
                       epilog=_examples("edgeae demo", "edgeae demo --out /tmp/demo --overwrite"))
    p.add_argument("--out", type=Path, default=Path("edgeae-demo"))
    p.add_argument("--epochs", type=POSITIVE, default=60)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def _configure_logging(verbose: bool) -> None:
    """Edgeae's own progress at INFO; the toolchain's chatter only when it is a warning.

    The converters log at INFO (tf2onnx's optimizer, onnxruntime's quantizer on the root logger)
    and onnxruntime's symbolic shape inference warns about dynamic sizes it cannot prove equal,
    which is expected for fully convolutional models: shown only with --verbose.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("edgeae").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        for name in ("tensorflow", "tf2onnx", "onnxruntime.tools.symbolic_shape_infer"):
            logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command; user errors print one line and return their exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.func(args)
    except EdgeaeError as exc:
        if exc.details:
            print(exc.details)
        print(f"edgeae: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgeae: interrupted", file=sys.stderr)
        return 130
