"""What decides a training run, importable without TensorFlow.

The command line reads its defaults and choices here (`edgeae --help` must not load Keras);
`edgeae.train.fit` trains with them (and re-exports TrainSettings).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from edgeae.core.architectures import LOSS_OF, checked_config
from edgeae.core.errors import UserError
from edgeae.core.files import refuse_replacing_inputs
from edgeae.core.manifest import (
    CameraTruth,
    KeepTest,
    LossSpace,
    PassPrecision,
    ScoreConfig,
    SelfSupervised,
    Targets,
    Warp,
)
from edgeae.train.noise_spec import check_adds_noise

if TYPE_CHECKING:
    from edgeae.train.pipeline import PipelineConfig

Loss = Literal["mse", "mae", "bce"]  # fit.py's LOSSES maps each to its Keras loss
Strategy = Literal["auto", "one-device", "mirrored", "multi-worker"]  # train/distribute.py
LOSS_NAMES: tuple[str, ...] = get_args(Loss)
STRATEGY_NAMES: tuple[str, ...] = get_args(Strategy)
# quantization-aware training's schemes (train/quantize.py): name -> (the activation ranges'
# momentum, 1.0 covering every value seen; round the convolutions' weights to int8 too)
FAKE_QUANT_SCHEMES: dict[str, tuple[float, bool]] = {"moving": (0.99, False),
                                                      "cover": (1.0, True)}


# what --initial-weights reads: Keras weights (.weights.h5, or legacy .h5), an earlier run's
# model.keras, or a float32 ONNX file (a shipped model)
INITIAL_WEIGHTS_SUFFIXES = (".h5", ".keras", ".onnx")


# "choose": the shipped camera models the footage picks its brightness model from (train/adapt.py
# nearest_brightness_model), all gray. "auto" chooses where the start sees gray frames (no colour
# camera model ships): since 2026-12-06 it met its rule against live-stream alone, which had
# been the brightness model that morning (benchmarks/adapt_brightness_choice.py)
BRIGHTNESS_MODELS = ("live-camera", "live-stream")


def brightness_source(setting: str, channels: int) -> str:
    """AdaptSettings.brightness for a start taking `channels`-channel frames, "auto" resolved.

    A named model, or "choose" (BRIGHTNESS_MODELS), must take the same channels (UserError
    otherwise); "auto" is "choose" where they do and "footage" where not. Reads manifests only
    (no TensorFlow).
    """
    if setting == "footage":
        return setting
    from edgeae.runtime.pretrained import pretrained_manifest

    name = "choose" if setting == "auto" else setting
    theirs = pretrained_manifest(BRIGHTNESS_MODELS[0] if name == "choose" else name).input.channels
    if theirs == channels:
        return name
    if setting == "auto":
        return "footage"
    verb = "chooses among models that denoise" if name == "choose" else "denoises"
    raise UserError(f"--brightness-from {name} {verb} {theirs}-channel frames and the starting "
                    f"model takes {channels}; pass --brightness-from footage")


def initial_weights_problem(path: str | Path) -> str | None:
    """Why `path` cannot be --initial-weights, or None: checked before TensorFlow loads."""
    file = Path(path)
    if file.is_dir():  # an earlier run's model directory: its model.keras is meant
        return (f"--initial-weights {path} is a folder; give a file in it, e.g. "
                f"{file / 'model.keras'}")
    if not file.is_file():
        return f"--initial-weights {path}: no such file"
    if not file.name.lower().endswith(INITIAL_WEIGHTS_SUFFIXES):
        return (f"--initial-weights {path}: expected Keras weights (.weights.h5), a model.keras "
                "or a float32 .onnx file")
    return None


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides a training run; a resumed run must use the same settings."""

    task: str = "autoencoder"  # a core/tasks.py row
    architecture: str = "conv"
    params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    loss: Loss = "mse"
    val_split: float = 0.1
    seed: int = 0
    patience: int = 5
    patch_size: int | None = None
    patches_per_image: int = 1
    noise: str | None = None  # supervised denoisers: the noise spec (train/noise.py)
    camera_truth: CameraTruth = "pristine"  # the target of camera-noised images (manifest.py)
    # denoisers from noisy images only: "blind-spot" masking, or "recorrupted" pairs, which need
    # the data's Gaussian noise as `noise` (None: estimated from the images when training starts)
    self_supervised: SelfSupervised | None = None
    initial_weights: str | None = None  # .weights.h5, model.keras or fp32 .onnx to start from
    threshold: str | None = None  # detectors: the threshold strategy (runtime/threshold.py)
    score: ScoreConfig = field(default_factory=ScoreConfig)  # how a detector scores images
    quantization_aware: bool = False  # simulate int8 rounding while training (train/quantize.py)
    fake_quant: str = "cover"  # how, a FAKE_QUANT_SCHEMES name (BENCHMARKS.md: qat-schemes)
    strategy: Strategy = "auto"  # the tf.distribute strategy (train/distribute.py)
    anomaly_source: str | None = None  # a draem detector's anomaly textures (else its images)

    def to_json(self) -> str:
        """The settings as sorted JSON (a run in progress keeps them to resume only with these)."""
        return json.dumps({**asdict(self), "score": self.score.model_dump(mode="json")},
                          sort_keys=True)

    def check_model_fits_task(self) -> None:
        """`train vae` trains the vae model, and only it does (checked before its parameters).

        A VAE does not train quantization-aware (it had been a Keras traceback).
        """
        if (self.task == "vae") != (self.architecture == "vae"):
            raise UserError("`edgeae train vae` trains the vae model, and only it does")
        if self.task == "vae" and self.quantization_aware:  # Keras cannot clone its graph
            raise UserError("--quantization-aware does not train VAEs yet (their sampling "
                            "layer cannot be cloned with fake quantization); drop it")

    def check_out_apart_from_inputs(self, out: Path, data: str) -> None:
        """--out is replaced with --overwrite: it must not be, nor hold, what the run reads."""
        refuse_replacing_inputs(out, "--out", {"the training data": data,
                                               "--initial-weights": self.initial_weights,
                                               "--anomaly-source": self.anomaly_source})

    def pipeline(self) -> PipelineConfig:
        """The tf.data settings these imply."""
        from edgeae.train.models import make_config
        from edgeae.train.pipeline import PipelineConfig  # TensorFlow

        config = make_config(self.architecture, self.params)
        return PipelineConfig(self.batch_size, self.seed, self.patch_size,
                              self.patches_per_image, self.noise, self.self_supervised,
                              frames=config.clip_frames(),
                              recurrent=config.is_recurrent(),
                              anomalies=config.predicts_mask(),
                              anomaly_source=self.anomaly_source,
                              camera_truth=self.camera_truth)


# what each of adapt's keep-tests asks of the tuned model on the held-out frames
KEEP_TESTS: dict[KeepTest, str] = {
    "loss": "a lower frame-to-frame loss than the start's",
    "content": "that, and no less image content in its output than the start's (Zhu and "
               "Milanfar's Q, core/metrics.py): the loss alone rewards a slight blur",
}


@dataclass(frozen=True)
class AdaptSettings:
    """How `edgeae adapt` tunes a denoiser to footage by frame-to-frame training."""

    minutes: float = 5.0  # training time budget (reading, denoising and the flow come on top)
    max_epochs: int = 100
    steps_per_epoch: int = 50  # validation (and early stopping) after every this many batches
    batch_size: int = 8
    patch_size: int = 128
    learning_rate: float = 5e-5
    holdout: float = 0.2  # the footage's tail kept for validation
    # train/adapt.py LOSS_SPACES: where the frame-to-frame error is taken; linear light won on
    # every validation cell of benchmarks/adapt_loss_space.py (+0.2 to +0.8 dB)
    loss_space: LossSpace = "linear"
    # train/frame_pairs.py WARPS: how the next frame is resampled; bicubic won on every level
    # of benchmarks/adapt_warp.py's validation clip (+0.19 to +0.52 dB)
    warp: Warp = "cubic"
    # train/frame_pairs.py NEIGHBOURS: the next frame, or the previous and the next averaged; a
    # tie on benchmarks/adapt_targets.py's validation clip (+0.013 dB), won by its rule
    targets: Targets = "both"
    # a shipped denoiser (runtime/pretrained.py) whose blurred output holds the tuned output's
    # brightness (train/adapt.py BRIGHTNESS_WEIGHT), "choose": the BRIGHTNESS_MODELS member the
    # footage finds nearest, "footage": its frames alone set it, or "auto" (brightness_source);
    # live-camera won on every level of benchmarks/adapt_brightness.py's validation clip (+0.05
    # to +1.86 dB), live-stream met its rule against it on adapt_brightness_model.py's (+0.057
    # and +0.050 dB, coded and uncoded), and the choice met its rule against live-stream on
    # adapt_brightness_choice.py's (+0.007 and +0.010 dB: live-camera at indoor, else the same)
    brightness: str = "auto"
    # train/adapt.py PASS_ENGINES: which of the shipped models' files denoise the footage before
    # training (the start's output the flow reads, the brightness model's); int8 is several times
    # faster and met its rule on benchmarks/adapt_passes.py's validation clip (-0.01 dB on average)
    passes: PassPrecision = "int8"
    # KEEP_TESTS: what decides whether the tuning is kept; "content" also asks that the
    # held-out output lose no image content (core/metrics.py paired_content). It met
    # its rule on benchmarks/adapt_keep_test.py's test clip after its choice on the validation
    # clip: it kept every tuning of `live` (+1.6 to +6.5 dB) and none of `live-camera` (-0.63 to
    # +0.39 dB), where the loss alone kept a 0.63-dB loss
    keep: KeepTest = "content"
    patience: int = 4  # epochs without a better validation loss before stopping
    max_frames: int | None = None
    seed: int = 0


def check_image_count(n: int, min_train: int) -> None:
    """Enough images to train on `min_train` and hold one out; needs no Keras.

    The command checks it before TensorFlow loads (it had been found after, with no way out
    named).
    """
    if n < min_train + 1:
        raise UserError(f"need at least {min_train + 1} images to train on {min_train} and hold "
                        f"one out for validation, got {n}: give more, let --patch-size N cut "
                        "one large photo into tiles, or take a smaller --every of a video")


def check_settings(settings: TrainSettings) -> None:
    """Parameters that contradict each other are one-line errors before any work.

    Keras-free, so the CLI says it before TensorFlow loads (it took 7-9 s to).
    """
    settings.check_model_fits_task()
    config = checked_config(settings.architecture, settings.params)
    likelihood = getattr(config, "likelihood", None)
    if likelihood and settings.loss != LOSS_OF[likelihood]:
        raise UserError(f"a {likelihood} VAE trains with the {LOSS_OF[likelihood]} loss, not "
                        f"{settings.loss}: pass --loss {LOSS_OF[likelihood]} (`edgeae train vae` "
                        "picks it when --loss is left out) or the other --likelihood")
    if settings.task == "denoiser" and settings.noise and not settings.self_supervised:
        check_adds_noise(settings.noise)
    if config.input_frames() > 1 and (settings.task != "denoiser" or settings.noise is None
                                      or settings.self_supervised):
        raise UserError("a temporal model (--temporal) is a denoiser trained on clean clips "
                        "with --noise; use `edgeae train denoiser --noise SPEC`")
    if config.predicts_mask() and settings.task != "detector":
        raise UserError(f"{settings.architecture} is a detector: train it with `edgeae train "
                        f"detector --model {settings.architecture}`")
    if settings.score.maps == "mask" and not config.predicts_mask():
        raise UserError("--score-maps mask needs a model that predicts one: --model draem")
    if settings.anomaly_source and not config.predicts_mask():
        raise UserError("--anomaly-source fills the synthetic anomalies of a draem detector; "
                        "add --model draem or drop it")
    if config.predicts_mask() and settings.loss != "mse":
        raise UserError("a draem detector trains with its own loss (squared error plus the "
                        "mask's focal loss); drop --loss")
    if config.input_frames() > 1 and settings.patch_size is None:  # before the split's warning
        raise UserError("temporal training cuts clips of --patch-size pixels; pass --patch-size")
    if config.input_frames() > 1 and settings.quantization_aware:
        raise UserError("--quantization-aware does not train temporal models yet; drop it")
