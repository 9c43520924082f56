"""`edgeae train TASK`: one sub-command per task, sharing the data, model and training options.

Defaults and choices come from edgeae.train.settings (TrainSettings), the architectures'
configurations (edgeae.core.architectures), the detector's defaults and the manifest's types,
none of which imports TensorFlow.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from edgeae.app.commands.args import (
    KERAS_DISTRIBUTION,
    POSITIVE,
    SEED,
    add_data_args,
    check_exists,
    examples,
    integers,
    load_kwargs,
    output_dir,
    ranged,
    refuse_idle,
    require,
)
from edgeae.core.architectures import CONFIGS, LOSS_OF, PRESETS, ModelConfig
from edgeae.core.errors import Terminated, UserError
from edgeae.core.files import check_can_create
from edgeae.core.manifest import CameraTruth, PatchMapConfig, ScoreConfig, SelfSupervised
from edgeae.core.modeldir import check_out_replaceable
from edgeae.core.tasks import TASKS
from edgeae.train.settings import (
    FAKE_QUANT_SCHEMES,
    LOSS_NAMES,
    STRATEGY_NAMES,
    TrainSettings,
    check_image_count,
    check_settings,
    initial_weights_problem,
)

DEFAULTS = TrainSettings()


def _default(architecture: str, name: str) -> Any:
    """The default of parameter `name` in `architecture`'s configuration."""
    config: type[ModelConfig] = CONFIGS[architecture]
    return config.model_fields[name].default


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`train` and its tasks: autoencoder, denoiser, detector, vae."""
    p = subparsers.add_parser("train", help="train a model on images",
                              description="Train a model; see each task's --help.",
                              epilog=examples(
                                  "edgeae train autoencoder --data photos/ --out model_dir",
                                  "edgeae train denoiser --data photos/ --out denoiser",
                                  "edgeae train detector --data good_parts/ --out det",
                                  "edgeae train vae --data faces/ --out vae",
                                  "edgeae train denoiser --help"))
    tasks = p.add_subparsers(dest="task", required=True, metavar="TASK")
    _task_parser(tasks, "autoencoder", "reconstruct images through a small latent code",
                 examples("edgeae train autoencoder --data photos/ --out model_dir",
                          "edgeae train autoencoder --data fashion-mnist --data-dir "
                          "../shared/data/fashion_mnist.npz --model dense --out dense_ae",
                          "edgeae train autoencoder --data clip.mp4 --every 5 "
                          "--image-size 96x128 --out cam_ae"))
    _add_denoiser(tasks)
    _add_detector(tasks)
    _add_vae(tasks)


def _task_parser(sub: argparse._SubParsersAction, task: str, summary: str,
                 epilog: str) -> argparse.ArgumentParser:
    """The parser of one task, with the options every task shares."""
    p = sub.add_parser(task, help=summary, description=summary, epilog=epilog)
    add_data_args(p)
    g = p.add_argument_group("model and training")
    g.add_argument("--out", type=output_dir, required=True, help="model directory to write")
    _add_model_args(g, task)
    _add_training_args(g, task)
    p.set_defaults(func=run, task=task)
    return p


def _add_model_args(g: argparse._ArgumentGroup, task: str) -> None:
    """Which architecture, and its hyper-parameters (its configuration's defaults if not given)."""
    models = ", ".join(f"{name} ({'fixed' if config.fixed_size else 'any'} size)"
                       for name, config in CONFIGS.items())
    g.add_argument("--model", default=DEFAULTS.architecture,
                   help=f"registered model: {models} (default %(default)s)")
    g.add_argument("--size", choices=tuple(PRESETS),
                   help="unet (and draem's reconstructive half), in multiply-accumulates per "
                        "pixel: tiny 8.5k, small 34k (the pretrained live), medium 124k "
                        "(pretrained quality), large 726k "
                        f"(default {_default('unet', 'size')})")
    g.add_argument("--latent-dim", type=POSITIVE,
                   help="dense and vae: size of the latent code (dense "
                        f"{_default('dense', 'latent_dim')}, vae {_default('vae', 'latent_dim')})")
    if task != "vae":  # the VAE's --hidden is one width
        g.add_argument("--hidden", type=integers, metavar="UNITS",
                       help="dense: hidden layers between the pixels and the code, mirrored "
                            "in the decoder, e.g. 256,128 (default none, the tutorial's)")
    g.add_argument("--filters", type=integers,
                   help="conv: filters per stage, e.g. 16,8; unet: per level, e.g. 16,32,64; "
                        "vae: per encoder stage, e.g. 32,64")


def _add_training_args(g: argparse._ArgumentGroup, task: str) -> None:
    """How to train: TrainSettings' fields, and how the run is kept and resumed."""
    g.add_argument("--epochs", type=POSITIVE, default=DEFAULTS.epochs,
                   help="at most this many epochs (default %(default)s)")
    g.add_argument("--time-limit", type=ranged(float, 0.0, 1e6, lo_open=True), metavar="MIN",
                   help="stop after the epoch that reaches this many minutes (a resumed run's "
                        "earlier epochs count), keeping the best")
    g.add_argument("--batch-size", type=POSITIVE, default=DEFAULTS.batch_size,
                   help="default %(default)s")
    g.add_argument("--learning-rate", type=ranged(float, 0.0, 10.0, lo_open=True),
                   default=DEFAULTS.learning_rate, help="Adam's (default %(default)g)")
    g.add_argument("--loss", choices=LOSS_NAMES, default=DEFAULTS.loss,
                   help="default: what --likelihood implies" if task == "vae" else
                   "default %(default)s")
    g.add_argument("--val-split", type=ranged(float, 0.0, 0.9, lo_open=True),
                   default=DEFAULTS.val_split,
                   help="fraction held out for validation (default %(default)g)")
    g.add_argument("--patience", type=POSITIVE, default=DEFAULTS.patience,
                   help="early stopping: epochs without validation improvement "
                        "(default %(default)s)")
    g.add_argument("--patch-size", type=POSITIVE,
                   help="train on random square crops of this size (large or mixed-size images)")
    g.add_argument("--patches-per-image", type=POSITIVE, default=DEFAULTS.patches_per_image,
                   metavar="K",
                   help="with --patch-size: crops drawn from each image per epoch "
                        "(default %(default)s)")
    g.add_argument("--seed", type=SEED, default=DEFAULTS.seed, help="default %(default)s")
    g.add_argument("--initial-weights", type=Path, metavar="W",
                   help="start from these .weights.h5 (same --model and --size), e.g. ones "
                        "trained on a GPU by python -m edgeae.train.pretrain, an earlier run's "
                        "model.keras (a second stage at a lower --learning-rate), or a float32 "
                        ".onnx artifact such as a shipped one; a --temporal model starts from a "
                        "single-frame model's")
    g.add_argument("--quantization-aware", action="store_true",
                   help="simulate int8 rounding after every layer while training, so the int8 "
                        "export loses less (best as a few epochs on --initial-weights)")
    g.add_argument("--fake-quant", choices=tuple(FAKE_QUANT_SCHEMES),
                   help="how --quantization-aware simulates int8: cover (default) = as the "
                        "export quantizes, ranges covering every value seen and weights rounded "
                        "per channel; moving = ranges as moving averages of the batches' "
                        "extremes, weights in float (how the shipped models were tuned)")
    g.add_argument("--strategy", choices=STRATEGY_NAMES, default=DEFAULTS.strategy,
                   help="tf.distribute strategy: mirrored = every local GPU (or logical CPU), "
                        "multi-worker = the cluster in TF_CONFIG; --batch-size is the global "
                        "batch (default %(default)s: mirrored over several GPUs, else one "
                        "device)")
    g.add_argument("--cache", type=output_dir, metavar="DIR",
                   help="keep decoded images in DIR after the first epoch (uint16, about "
                        "2 bytes per pixel); later epochs and runs on the same data read them "
                        "instead of decoding again")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def _add_denoiser(sub: argparse._SubParsersAction) -> None:
    """`train denoiser`: a noise model to learn to remove, or noisy images alone."""
    p = _task_parser(
        sub, "denoiser", "learn to remove noise: from clean images with a noise model, or "
                         "from noisy images alone (--self-supervised)",
        examples("edgeae train denoiser --data fashion-mnist --noise-factor 0.2 --out denoiser",
                 "edgeae train denoiser --data clean/ --model unet --size tiny --patch-size 64 "
                 "--noise gaussian:5-50 --out live",
                 "edgeae train denoiser --data clean/ --model unet --size small --patch-size 64 "
                 "--noise 'gaussian:0-55|camera:bright-night,70-100' --out camera",
                 "edgeae train denoiser --data phone/ --patch-size 96 --noise "
                 "poisson-gaussian:20-200,2-8+jpeg:60-95 --out phone",
                 "edgeae train denoiser --self-supervised --data noisy.mp4 --every 5 "
                 "--model unet --patch-size 64 --out n2v",
                 "edgeae train denoiser --self-supervised recorrupted --data noisy_frames/ "
                 "--model unet --size tiny --patch-size 64 --out r2r",
                 "edgeae train denoiser --temporal recurrent --data clean/ --model unet "
                 "--patch-size 64 --noise gaussian:0-55 --initial-weights live_fp32.onnx "
                 "--out live-video"))
    noise = p.add_argument_group("noise (supervised)").add_mutually_exclusive_group()
    noise.add_argument("--noise", metavar="SPEC",
                       help="noise model, steps joined by '+': gaussian:SIGMA (0-255; LO-HI for "
                            "a blind model), poisson-gaussian:PEAK,READ, salt-pepper:FRACTION, "
                            "speckle:SIGMA, jpeg:QUALITY, camera:LIGHT[,JPEG] (bright, indoor, "
                            "dim, night or a range), h264:CRF[,FRAMES[,PAN]] (0-51; a --temporal "
                            "clip coded as one stream; a still as the last of FRAMES of a "
                            "camera panning PAN pixels a frame), clip; specs joined by '|' are a "
                            "mixture, one drawn per image (default gaussian:51+clip)")
    noise.add_argument("--noise-factor", type=ranged(float, 0.0, 10.0, lo_open=True),
                       help="the tutorial's clip(x + f * N(0, 1), 0, 1), = gaussian:255f+clip")
    p.add_argument("--camera-truth", choices=get_args(CameraTruth), default="pristine",
                   help="what images given camera noise (--noise camera:...) are restored to: "
                        "pristine (default; the model also learns to undo the camera's "
                        "demosaicing blur) or rendered (the camera's own noise-free picture, "
                        "as real-noise benchmarks such as SIDD take it); single-frame models")
    methods = get_args(SelfSupervised)
    p.add_argument("--self-supervised", nargs="?", const=methods[0], choices=methods,
                   metavar="METHOD",
                   help="--data holds noisy images only, no clean targets. blind-spot "
                        "(the default): Noise2Void masking, for any pixel-independent "
                        "noise. recorrupted: Recorrupted-to-Recorrupted pairs, for "
                        "Gaussian noise, much better there (Set12 sigma 25: 28.8 vs 25.8 "
                        "dB); its level is estimated from the images, or give it as "
                        "--noise gaussian:SIGMA")
    p.add_argument("--temporal", type=_temporal, metavar="K|recurrent",
                   help="unet: a video denoiser. K: it sees the K frames up to the current one; "
                        "recurrent (live-video): its own last output, moved with the scene, "
                        "and the frame. Trains on clips: consecutive frames of a video --data, "
                        "or clips a moving camera makes from still images, with moving "
                        "objects, flicker and scene cuts; fresh --noise in every frame")


def _add_detector(sub: argparse._SubParsersAction) -> None:
    """`train detector`: the anomaly score and threshold (the detector's defaults)."""
    from edgeae.runtime.threshold import described_forms
    from edgeae.train.detector import DEFAULT_MODEL, DEFAULT_SCORE
    from edgeae.train.thresholds import DEFAULT_THRESHOLD, MASK_THRESHOLD

    forms = described_forms("mean+Kstd", "percentile:P", "contamination:R", "fixed:V")

    p = _task_parser(
        sub, "detector", "learn normal images; score, threshold and localise anomalies "
                         f"(default: the {DEFAULT_MODEL} autoencoder, see --model)",
        examples("edgeae train detector --data normal/ --out det",
                 "edgeae train detector --data parts/good --threshold percentile:99 "
                 "--score-combine both --score-pool top:0.01 --out det",
                 "edgeae train detector --data tiles/good --score-maps patch --out det"
                 "   # maps that point at defects on textures",
                 "edgeae train detector --data tiles/good --model draem --epochs 100 --out det"
                 "   # learns from synthetic defects where real ones are",
                 "edgeae threshold det --strategy contamination:0.02   # later, no retraining"))
    p.set_defaults(model=DEFAULT_MODEL)
    fields = ScoreConfig.model_fields
    g = p.add_argument_group("anomaly score and threshold")
    g.add_argument("--threshold", metavar="SPEC",
                   help=f"{forms} (default {DEFAULT_THRESHOLD}, the tutorial's; "
                        f"{MASK_THRESHOLD} for --model draem)")
    g.add_argument("--score-error", choices=get_args(fields["error"].annotation),
                   help=f"per-pixel error (default {DEFAULT_SCORE.error})")
    g.add_argument("--score-smooth", type=ranged(float, 0.0, 50.0), metavar="PX",
                   help="Gaussian sigma in pixels applied to the error map (0: none; default "
                        f"{_defaults('smooth')})")
    g.add_argument("--score-pool", metavar="HOW",
                   help="map to score: mean (the tutorial's MSE), max, or top:F, the mean of "
                        f"the highest F fraction of pixels (default {_defaults('pool')})")
    g.add_argument("--score-knn", type=ranged(int, 0, 1000), metavar="K",
                   help="also measure the mean distance of each image's HOG descriptor to its "
                        f"K nearest training images' (0: off; default {_defaults('knn')}); "
                        "needs one image size")
    g.add_argument("--score-combine", choices=get_args(fields["combine"].annotation),
                   help="with --score-knn: score by the k-NN distance alone or add the "
                        "reconstruction score (each standardised; default "
                        f"{DEFAULT_SCORE.combine})")
    g.add_argument("--score-maps", choices=get_args(fields["maps"].annotation),
                   help="the heat map: the reconstruction error, or each patch's distance to the "
                        "nearest training patch, which points at defects on textured surfaces "
                        f"(BENCHMARKS.md; default {DEFAULT_SCORE.maps}); --model draem's is "
                        "always its predicted mask")
    g.add_argument("--anomaly-source", type=Path, metavar="DIR",
                   help="with --model draem: fill its synthetic anomalies with crops of these "
                        "images (textures, e.g. the Describable Textures Dataset) instead of "
                        "the training images")
    _add_patch_args(g, DEFAULT_SCORE.patch)


def _defaults(field: str) -> str:
    """A score field's default, and draem's where it has its own (MASK_SCORE)."""
    from edgeae.train.detector import DEFAULT_SCORE, MASK_SCORE

    dense, mask = getattr(DEFAULT_SCORE, field), getattr(MASK_SCORE, field)
    shown = f"{dense:g}" if isinstance(dense, float) else str(dense)
    return shown if dense == mask else f"{shown}, {mask} for --model draem"


def _add_patch_args(g: argparse._ArgumentGroup, patch: PatchMapConfig) -> None:
    """The patch map's memory and search (`--score-maps patch`); `patch` names the defaults."""
    g.add_argument("--patch-bank", type=ranged(int, 16, 1_000_000), metavar="N",
                   help="with --score-maps patch: training patches remembered (coreset; more "
                        f"finds more and costs more time per frame; default {patch.bank})")
    g.add_argument("--patch-dims", type=ranged(int, 0, 10_000), metavar="N",
                   help="with --score-maps patch: compare patches on the memory's first N "
                        f"principal axes (0: every number; default {patch.dims}, chosen on "
                        "validation crops: faster and as good or better)")
    g.add_argument("--patch-stride", type=ranged(int, 1, 8), metavar="N",
                   help="with --score-maps patch: describe every N-th patch down and across and "
                        "interpolate the map between them (N^2 times less search per frame; "
                        f"default {patch.stride}, chosen on validation crops)")


def _add_vae(sub: argparse._SubParsersAction) -> None:
    """`train vae`: the likelihood and the KL term."""
    p = _task_parser(
        sub, "vae", "learn a smooth latent space to generate images from (variational "
                    "autoencoder); see `edgeae generate`",
        examples("edgeae train vae --data fashion-mnist --data-dir "
                 "../shared/data/fashion_mnist.npz --epochs 30 --out vae",
                 "edgeae train vae --data faces/ --image-size 64x64 --likelihood gaussian "
                 "--latent-dim 32 --kl-warmup 5 --out face_vae"))
    p.set_defaults(model="vae", loss=None)
    g = p.add_argument_group("variational autoencoder")
    likelihoods = get_args(CONFIGS["vae"].model_fields["likelihood"].annotation)
    g.add_argument("--likelihood", choices=likelihoods, default=_default("vae", "likelihood"),
                   help="bernoulli (binary cross-entropy, for images in [0, 1]) or gaussian "
                        "with a fixed sigma (mean squared error) (default %(default)s)")
    g.add_argument("--hidden", type=POSITIVE,
                   help="Dense units between the convolutions and the code "
                        f"(default {_default('vae', 'hidden')})")
    g.add_argument("--beta", type=ranged(float, 0.0, 100.0, lo_open=True),
                   help=f"weight of the KL term (beta-VAE; default {_default('vae', 'beta'):g})")
    g.add_argument("--kl-warmup", type=ranged(int, 0, 10000), metavar="EPOCHS",
                   help="ramp the KL weight from 0 to 1 over this many epochs "
                        f"(default {_default('vae', 'kl_warmup_epochs')})")


def run(args: argparse.Namespace) -> int:
    """Train the task's model on --data into --out; Ctrl-C keeps the finished epochs.

    The data and paths are checked before TensorFlow is imported (seconds), so a mistake in
    them is reported at once.
    """
    from edgeae.core.data import Preprocess, load_data

    require("train", KERAS_DISTRIBUTION)
    _check_options_and_paths(args)
    detector = _detector_settings(args)  # its options' contradictions, before the data loads
    noise = _noise_spec(args)
    splits = load_data(args.data, Preprocess(args.channels, args.image_size),
                       **load_kwargs(args, normal_only=True))
    source = _tiled_if_one_image(splits.train, args)
    check_image_count(len(source), TASKS[args.task].min_train)
    if detector:
        _refuse_idle_score_options(args, detector["score"], source)
    _warn_if_classes(args.task, source)
    if getattr(args, "anomaly_source", None):  # an empty folder fails before TensorFlow loads
        from edgeae.train.anomalies import anomaly_textures

        anomaly_textures(args.anomaly_source, source.channels)
    settings = TrainSettings(
        task=args.task, architecture=args.model, params=_model_params(args), epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, loss=_loss(args),
        val_split=args.val_split, seed=args.seed, patience=args.patience,
        patch_size=args.patch_size, patches_per_image=args.patches_per_image,
        noise=noise, camera_truth=_camera_truth(args, noise),
        self_supervised=getattr(args, "self_supervised", None),
        initial_weights=str(args.initial_weights) if args.initial_weights else None,
        quantization_aware=args.quantization_aware,
        fake_quant=args.fake_quant or DEFAULTS.fake_quant,
        strategy=args.strategy, **detector)
    check_settings(settings)  # contradicting options, before TensorFlow loads
    _check_image_sides(source, settings)
    if settings.task == "detector":
        from edgeae.train.thresholds import check_fixed_threshold

        check_fixed_threshold(settings.threshold, settings.score, source)
    settings.check_out_apart_from_inputs(args.out, source.name)
    from edgeae.train.callbacks import TimeLimit
    from edgeae.train.fit import train

    try:
        limit = [TimeLimit(args.time_limit)] if args.time_limit else []
        manifest = train(source, args.out, settings, overwrite=args.overwrite,
                         callbacks=limit, cache=args.cache)
    except (KeyboardInterrupt, Terminated) as stop:
        print(_interrupted_message(Path(args.out)), file=sys.stderr)
        return Terminated.exit_code if isinstance(stop, Terminated) else 130
    t = manifest.training
    print(f"trained {manifest.architecture} {manifest.task} on {manifest.data.n_train} images: "
          f"{t.epochs_run} epochs, best val_loss {t.best_val_loss:.5g}, val_mse {t.val_mse:.5g} "
          f"-> {args.out}")
    return 0


def _interrupted_message(out: Path) -> str:
    """What an interrupted training left in `out`, and how to go on."""
    from edgeae.core.modeldir import WORK_DIR
    from edgeae.train.fit import SWAP_FILE

    if (out / WORK_DIR / SWAP_FILE).exists():  # the model it replaces was already removed
        return ("interrupted while the new model's files moved in (the model it replaces is "
                "gone): run the same command to finish")
    return ("interrupted: finished epochs are kept (and a model --overwrite replaces, until the "
            "new one is done); run the same command to resume")


def _check_options_and_paths(args: argparse.Namespace) -> None:
    """Options that go together, and the paths read and written: before TensorFlow (seconds)."""
    if args.patches_per_image != DEFAULTS.patches_per_image and args.patch_size is None:
        raise UserError("--patches-per-image draws that many --patch-size crops from each "
                        "image; add --patch-size, or drop it (whole images train once each)")
    if args.fake_quant and not args.quantization_aware:
        raise UserError("--fake-quant says how --quantization-aware simulates int8; add "
                        "--quantization-aware, or drop --fake-quant")
    if args.initial_weights is not None and (problem := initial_weights_problem(
            args.initial_weights)):
        raise UserError(problem)
    if args.cache is not None and Path(args.cache).resolve().is_relative_to(
            Path(args.out).resolve()):  # made there, it turned --out into a folder "not empty"
        raise UserError(f"--cache {args.cache} is inside --out {args.out}, which a new model "
                        "replaces whole: keep the cache in a folder of its own")
    check_exists(getattr(args, "anomaly_source", None), "--anomaly-source")
    check_out_replaceable(args.out, args.overwrite)
    for option, path in (("--out", args.out), ("--cache", args.cache)):
        if path is not None:
            check_can_create(Path(path), option)


def _tiled_if_one_image(source, args: argparse.Namespace):  # noqa: ANN001, ANN202 - ImageSource
    """One photo trained on crops (--patch-size) as a grid of tiles, so some can validate."""
    from edgeae.core.data import ImageTiles

    if len(source) != 1 or args.patch_size is None or min(source.smallest) < args.patch_size:
        return source  # image_shape says what is wrong with a crop larger than the image
    if args.image_size is not None:
        raise UserError("one image trains on tiles of itself at its own size; drop "
                        "--image-size (or give more images)")
    at_least = TASKS[args.task].min_train + 1
    tiles = ImageTiles(source, args.patch_size, at_least)
    if len(tiles) < at_least:
        h, w = source.smallest
        raise UserError(f"one {h}x{w} image holds {len(tiles)} tile(s) of --patch-size "
                        f"{args.patch_size}; {at_least} are needed to train and hold one out: "
                        "lower --patch-size (or give more images)")
    logging.getLogger(__name__).info(
        "one image: %d tiles of %dx%d of it train and validate, --patch-size %d crops from each",
        len(tiles), tiles.side, tiles.side, args.patch_size)
    return tiles


def _warn_if_classes(task: str, source) -> None:
    """A detector learns every image it is given as normal: sub-folders suggest anomalies too."""
    classes = source.class_names or []  # a series' are its labels: its normal rows were kept
    if task == "detector" and len(classes) > 1 and source.kind != "series":
        import logging

        logging.getLogger("edgeae").warning(
            "%s has %d sub-folders (%s): the detector learns every image in them as normal; "
            "train it on the normal ones alone (e.g. --data %s/%s) and keep the others for "
            "`edgeae evaluate`", source.name, len(classes), ", ".join(classes[:5]), source.name,
            "good" if "good" in classes else classes[0])


def _model_params(args: argparse.Namespace) -> dict[str, Any]:
    """The model's hyper-parameters the user gave; the model's config fills in the rest."""
    return {k: v for k, v in (("latent_dim", args.latent_dim), ("filters", args.filters),
                              ("size", args.size),
                              ("likelihood", getattr(args, "likelihood", None)),
                              ("hidden", getattr(args, "hidden", None)),
                              ("beta", getattr(args, "beta", None)),
                              *(getattr(args, "temporal", None) or {}).items(),
                              ("kl_warmup_epochs", getattr(args, "kl_warmup", None)))
            if v is not None}


def _temporal(text: str) -> dict[str, Any]:
    """--temporal: K frames (2-8), or "recurrent"; the U-Net parameters it sets."""
    if text == "recurrent":
        return {"frames": 2, "recurrent": True}
    return {"frames": ranged(int, 2, 8)(text)}


def _loss(args: argparse.Namespace) -> str:
    """--loss, or for a VAE the loss its likelihood implies."""
    return args.loss if args.loss is not None else LOSS_OF[args.likelihood]


def _detector_settings(args: argparse.Namespace) -> dict[str, Any]:
    """A detector's threshold strategy and score configuration, validated before training."""
    if args.task != "detector":
        return {}
    from edgeae.runtime.threshold import training_threshold

    spec = training_threshold(args.threshold) if args.threshold is not None else None
    source = str(args.anomaly_source) if args.anomaly_source else None
    threshold = str(spec) if spec is not None else None
    return {"threshold": threshold, "score": _score(args), "anomaly_source": source}


# --score-* and --patch-* options as (destination, ScoreConfig field, PatchMapConfig field)
SCORE_OPTIONS = tuple((f"score_{name}", name, None)
                      for name in ("error", "smooth", "pool", "knn", "combine", "maps")) + tuple(
    (f"patch_{name}", None, name) for name in ("bank", "dims", "stride"))
# options that change nothing in some scores: (destination, whether it does in this score, why)
IDLE_SCORE_OPTIONS: tuple[tuple[str, Callable[[ScoreConfig], bool], str], ...] = (
    ("score_pool", lambda s: s.knn == 0 or s.combine == "both",
     "the k-NN score alone leaves the pooled map out; add --score-combine both or drop it"),
    ("score_combine", lambda s: s.knn > 0,
     "there is no k-NN part to combine (--score-knn 0, or images it cannot compare); drop it"),
    ("score_error", lambda s: s.maps == "error",
     "the heat map (--score-maps {maps}) is no reconstruction error; drop it"),
    *((f"patch_{name}", lambda s: s.maps == "patch",
       "it acts on --score-maps patch alone; add that or drop it")
      for name in ("bank", "dims", "stride")))


def _score(args: argparse.Namespace) -> ScoreConfig:
    """The model's default score (train/detector.py) with the options given laid over it.

    Another heat map for a mask predictor is refused. Compared with the defaults afterwards, an
    explicit `--score-pool top:0.1` had been taken for no choice and replaced by draem's own.
    """
    from pydantic import ValidationError

    from edgeae.train.detector import default_score

    given = {dest for dest, _, _ in SCORE_OPTIONS if getattr(args, dest) is not None}
    base = default_score(args.model, _model_params(args))
    if base.maps == "mask" and "score_maps" in given and args.score_maps != "mask":
        raise UserError(f"--model {args.model}'s heat map is its predicted mask; drop "
                        "--score-maps")
    fields = {field: getattr(args, dest) for dest, field, _ in SCORE_OPTIONS
              if field and dest in given}
    patch = {field: getattr(args, dest) for dest, _, field in SCORE_OPTIONS
             if field and dest in given}
    try:
        score = ScoreConfig.model_validate({**base.model_dump(), **fields,
                                            "patch": {**base.patch.model_dump(), **patch}})
    except ValidationError:
        raise UserError(f"--score-pool {args.score_pool!r}: use mean, max or top:F with F in "
                        "(0, 1], e.g. top:0.01") from None
    return score


def _refuse_idle_score_options(args: argparse.Namespace, score: ScoreConfig,
                               source) -> None:  # noqa: ANN001 - an ImageSource
    """Refuse --score-* and --patch-* options the score these images get would not use.

    Judged after the data is read: where a k-NN score cannot be had (series rows, mixed sizes)
    the pooled map is the score, so --score-pool counts.
    """
    from edgeae.train.thresholds import knn_feasible

    used = score if knn_feasible(source) else score.model_copy(update={"knn": 0})
    refuse_idle(args, ((dest, acts(used), f"changes nothing here: {why.format(maps=used.maps)}")
                       for dest, acts, why in IDLE_SCORE_OPTIONS))


def _check_image_sides(source, settings) -> None:  # noqa: ANN001 - ImageSource, TrainSettings
    """Mixed sizes and the model's side multiple, reported before TensorFlow loads (seconds)."""
    from edgeae.core.architectures import check_image_sides, checked_config
    from edgeae.core.data import image_shape

    h, w, _ = image_shape(source, settings.patch_size)
    config = checked_config(settings.architecture, settings.params)  # a bad one: one line
    check_image_sides(settings.architecture, config, h, w)


def _camera_truth(args: argparse.Namespace, noise: str | None) -> CameraTruth:
    """--camera-truth, refused where it would change nothing: it needs camera noise on stills."""
    truth = getattr(args, "camera_truth", "pristine")
    if truth == "pristine":
        return truth
    from edgeae.train.noise_spec import parse_noise

    if args.self_supervised or noise is None or not parse_noise(noise).has_camera:
        raise UserError("--camera-truth rendered sets what camera-noised images are restored "
                        "to; give --noise with a camera step, e.g. "
                        "'gaussian:0-55|camera:bright-night'")
    if args.temporal:
        raise UserError("--camera-truth rendered is for single-frame denoisers; drop --temporal")
    return truth


def _noise_spec(args: argparse.Namespace) -> str | None:
    """A denoiser's canonical noise spec, None for the others.

    Supervised: the noise to add. Recorrupted self-supervised: the level of the noise --data
    holds (None: estimated when training starts). Blind-spot: None.
    """
    if args.task != "denoiser":
        return None
    if args.noise is not None and not args.noise.strip():  # else the default, silently
        raise UserError("--noise is empty; give a spec such as gaussian:25, or leave it out for "
                        "the tutorial's noise")
    from edgeae.train.noise_spec import (
        TUTORIAL_NOISE_FACTOR,
        check_adds_noise,
        gaussian_sigma,
        noise_from_factor,
        parse_noise,
    )

    if args.self_supervised == "recorrupted" and args.noise:
        return f"gaussian:{gaussian_sigma(args.noise):g}"
    if args.self_supervised:
        if args.noise or args.noise_factor:
            raise UserError("--self-supervised learns from the noise already in --data; drop "
                            "--noise / --noise-factor (recorrupted takes --noise gaussian:SIGMA "
                            "as the level that noise has)")
        return None

    factor = args.noise_factor or TUTORIAL_NOISE_FACTOR
    spec = str(parse_noise(args.noise or noise_from_factor(factor)))
    check_adds_noise(spec)
    return spec
