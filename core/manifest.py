"""The manifest: one validated description of a model that travels from training to the device.

Training writes it beside the `.keras` file; export copies it beside every artifact with the
artifact's own section filled in; the runtime reads nothing else to pre- and post-process frames.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgeae.core.architectures import ModelConfig, config_for
from edgeae.core.errors import UserError
from edgeae.core.files import cached_sha256
from edgeae.core.formats import FORMATS
from edgeae.core.noise_text import split_noise
from edgeae.core.tasks import TASKS

# 2: `params` is the architecture's typed configuration (core/architectures.py), complete and
# validated as the class `architecture` names. Version 1 files (params as a free dict) are read
# and validated the same way; their JSON is otherwise identical, so they open unchanged.
# 3: an artifact records every other file it needs (`artifact.memory`: name, size, SHA-256), which
# a version 2 reader would refuse as an unknown field; versions 1 and 2 simply record none.
# 4: a denoiser tuned to a camera's footage by `edgeae adapt` records how (`training.adaptation`,
# `self_supervised: frame-to-frame`), which a version 3 reader would refuse.
# 5: a temporal model takes several consecutive frames (`input.frames`); a version 4 reader would
# refuse the field, rightly, as it would run such a model wrongly. Older files take one frame.
# 6: an OpenVINO IR artifact records its weights file (`artifact.weights`, the .bin beside the
# .xml), which a version 5 reader would refuse; other artifacts record none.
# 7: a detector may draw its maps from a patch memory (`score.maps: patch`, `score.patch`); its
# artifacts record that file (`artifact.patches`), which a version 6 reader would refuse.
# 8: a discriminative detector's maps are its predicted mask (`score.maps: mask`, architecture
# draem) and its training may record a texture folder (`training.anomaly_source`), which a
# version 7 reader would refuse.
# 9: a recurrent U-Net records how it weighs its last output (`params.fusion`), which a version 8
# reader would refuse, rightly, as it would rebuild such a model wrongly. Older recurrent models
# weigh it per pixel (`fusion: pixels`), which their files are read as.
# 11: an adapted model records where its frame-to-frame loss was taken
# (`training.adaptation.loss_space`); adaptations before it took it in sRGB.
# 12: a patch map records how densely it describes a frame (`score.patch.stride`); maps before
# it described every block, which their files are read as.
# 13: an ONNX static int8 artifact records how its activation ranges pooled the calibration
# inputs' (`artifact.quantization.activation_ranges`), which a version 12 reader would refuse;
# older files do not say.
# 14: it also records whether NNCF corrected its biases (`artifact.quantization.bias_correction`),
# and an OpenVINO IR int8 artifact whether every layer's weights were halved against int8 sums
# that saturate (`artifact.quantization.overflow_fix`), which a version 13 reader would refuse;
# older ONNX files were quantized by onnxruntime, without, older IRs fixed their first layer.
# 15: an adapted model records which neighbouring frames made its frame-to-frame target
# (`training.adaptation.targets`), which a version 14 reader would refuse; adaptations before it
# learned from the next frame alone.
# 16: an adapted model records where its output's brightness came from
# (`training.adaptation.brightness`), which a version 15 reader would refuse; adaptations before
# it took the footage's alone.
# 17: an adapted model records which precision of the shipped models denoised the footage before
# training (`training.adaptation.passes`), which a version 16 reader would refuse; adaptations
# before it ran their float32 files.
# 18: a quantization-aware model records its fake quantization's scheme (`training.fake_quant`,
# FAKE_QUANT_SCHEMES), which a version 17 reader would refuse; models before it used "moving".
# 19: an adapted model records its keep-test and, under the content test, the held-out content
# before and after (`training.adaptation.keep`, `content_before`, `content_after`), which a
# version 18 reader would refuse; adaptations before it were judged by the loss alone.
# 20: a model trained from initial weights records their SHA-256
# (`training.initial_weights_sha256`), which a version 19 reader would refuse; models before it
# recorded the path alone, which a scratch folder's start outlives only in name.
# 21: a denoiser records what its camera-noised images were restored to (`training.camera_truth`)
# and an adaptation whose footage chose its brightness model each candidate's loss
# (`training.adaptation.brightness_losses`), which a version 20 reader would refuse; models
# before it learned the pristine image and were held to a named model.
# 23: an artifact's parity records every backend its gate ran it in (`artifact.parity.backends`)
# and whether int8 sums saturated on that CPU (`artifact.parity.int8_sums_saturate`), which a
# version 22 reader would refuse; older files do not say.
SCHEMA_VERSION = 23
READABLE_VERSIONS = tuple(range(1, SCHEMA_VERSION + 1))
PATCH_DIMS = 64  # principal axes a patch map compares on (benchmarks/patch_dims.py)
PATCH_STRIDE = 1  # a patch map describes every n-th block (benchmarks/patch_stride.py)
FUSION_BEFORE_9 = "pixels"
FAKE_QUANT_BEFORE_18 = "moving"
# The key under which exported artifacts embed their manifest (TFLite metadata, ONNX
# metadata_props), so a file that travels alone still describes itself.
EMBEDDED_KEY = "edgeae_manifest"
SelfSupervised = Literal["blind-spot", "recorrupted"]  # what `train denoiser` offers
# ... and what a manifest records: frame-to-frame pairs are made by `edgeae adapt` from footage
SelfSupervision = Literal["blind-spot", "recorrupted", "frame-to-frame"]
LossSpace = Literal["srgb", "linear"]  # where adapt compares frames (train/adapt.py LOSS_SPACES)
# how adapt resamples a neighbouring frame onto the current one (train/frame_pairs.py WARPS)
Warp = Literal["linear", "cubic"]
# which neighbouring frames make adapt's target (train/frame_pairs.py NEIGHBOURS)
Targets = Literal["next", "both", "both-2"]
# which of a shipped model's exported files adapt's passes over the footage run (train/adapt.py
# PASS_ENGINES): the start's output the flow reads, the brightness model's output
PassPrecision = Literal["fp32", "int8"]
# what decides whether adapt keeps its tuning (train/settings.py KEEP_TESTS)
KeepTest = Literal["loss", "content"]
# what a denoiser trained on camera noise learns to give back: the pristine image (undoing the
# camera's demosaicing blur as well) or the camera's own noise-free rendering (its noise alone)
CameraTruth = Literal["pristine", "rendered"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """What the network takes: NHWC float32; None for a size the model accepts freely."""

    height: int | None = Field(default=None, ge=1)
    width: int | None = Field(default=None, ge=1)
    channels: Literal[1, 3]
    layout: Literal["NHWC"] = "NHWC"
    color_order: Literal["gray", "rgb"]
    # Fully convolutional models downsample by this factor: frames are padded to a multiple.
    size_multiple: int = Field(default=1, ge=1)
    # A temporal model takes this many consecutive frames stacked on the channel axis (oldest
    # first, `channels` each) and restores the last (runtime/history.py).
    frames: int = Field(default=1, ge=1, le=8)
    # A recurrent model (frames 2): the first slot holds the model's own last output, moved with
    # the scene, instead of the frame before (runtime/history.py: RecurrentHistory).
    recurrent: bool = False

    @property
    def model_channels(self) -> int:
        """Channels of the network's input tensor: every frame's, stacked."""
        return self.frames * self.channels

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(height, width) when the model only accepts one size, else None."""
        if self.height is None or self.width is None:
            return None
        return self.height, self.width

    def describe(self) -> str:
        """A short human form such as '28x28x1' or 'any x any x 3'."""
        h = self.height or "any"
        w = self.width or "any"
        frames = f" ({self.frames} frames)" if self.frames > 1 else ""
        return f"{h}x{w}x{self.channels}{frames}"


class Normalization(_Strict):
    """model_input = pixel * scale + offset, for 8-bit pixels; outputs are mapped back.

    A scale of 0 divided by zero mapping outputs back, and NaN made every pixel white.
    """

    scale: float = Field(default=1.0 / 255.0, gt=0, allow_inf_nan=False)
    offset: float = Field(default=0.0, allow_inf_nan=False)


class DataSummary(_Strict):
    """Where the training images came from, so a model can be traced to its data."""

    source: str
    kind: str
    n_train: int = Field(ge=1)
    n_val: int = Field(ge=1)
    image_size: tuple[int, int] | None = None
    patch_size: int | None = None
    class_names: list[str] | None = None
    # rows of numbers (core/series.py): raw (min, max) scaled to [0, 1], and the labels' column
    value_range: tuple[float, float] | None = None
    label_column: str | None = None
    normal_label: str | None = None
    every: int | None = Field(default=None, ge=1)  # a video's --every K: the frames kept


class Adaptation(_Strict):
    """How `edgeae adapt` tuned a denoiser to footage, and whether the tuning was kept.

    The validation loss is the masked frame-to-frame loss on the footage's held-out tail; the
    adapted weights are kept only when it beats the starting model's and, under the content
    keep-test, the held-out output's image content (Zhu and Milanfar's Q) did not fall.
    """

    start: str  # the model it started from: "pretrained:live" or a model directory
    start_sha256: str  # that model's file
    footage: str
    frames: int = Field(ge=2)
    train_pairs: int = Field(ge=1)
    val_pairs: int = Field(ge=1)
    mask_coverage: float = Field(ge=0, le=1)  # pixels the loss kept (flow trusted)
    flow: str
    val_loss_before: float
    val_loss_after: float
    kept: bool
    loss_space: LossSpace = "srgb"  # where the loss compared frames
    targets: Targets = "next"  # which neighbouring frames made the target
    brightness: str = "footage"  # or the shipped model whose blurred output held the brightness
    # where the footage chose that model: each candidate's held-out loss in the band compared
    brightness_losses: dict[str, float] | None = None
    passes: PassPrecision = "fp32"  # the shipped models' files that denoised the footage first
    keep: KeepTest = "loss"  # what decided `kept`
    content_before: float | None = None  # the content test's Q of the start's held-out output
    content_after: float | None = None  # ... and of the tuned model's


class TrainingSummary(_Strict):
    """How the model was trained and how well it did on validation data."""

    loss: Literal["mse", "mae", "bce"]
    epochs: int = Field(ge=1)
    epochs_run: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    seed: int
    # how the images were split and cropped, and when training stopped (None: before schema 22)
    val_split: float | None = None
    patience: int | None = None
    patches_per_image: int | None = None
    best_val_loss: float | None = None
    val_mse: float | None = None
    # A denoiser's training noise spec, e.g. "gaussian:5-50"; for a recorrupted self-supervised
    # one, the Gaussian noise its data holds (given, or estimated from the images).
    noise: str | None = None
    camera_truth: CameraTruth = "pristine"  # the target for its camera-noised images
    # Trained on noisy images alone: blind-spot masking (Noise2Void) or recorrupted pairs (R2R).
    self_supervised: SelfSupervision | None = None
    initial_weights: str | None = None  # the weights file training started from, if any
    initial_weights_sha256: str | None = None  # its SHA-256, which outlives a scratch path
    quantization_aware: bool = False  # trained with int8 rounding simulated (train/quantize.py)
    fake_quant: str | None = None  # how it was simulated (FAKE_QUANT_SCHEMES), if it was
    anomaly_source: str | None = None  # a draem detector's folder of anomaly textures, if any
    strategy: str = "auto"  # the tf.distribute strategy it trained under (train/distribute.py)
    seconds: float = 0.0
    adaptation: Adaptation | None = None  # set by `edgeae adapt`

    def learned_noise(self) -> str | None:
        """The noise a denoiser learned: "camera", "gaussian", "other", or None (none).

        "camera": a camera pipeline in its spec, or tuned to footage by `edgeae adapt`;
        "gaussian": white Gaussian noise alone (clipped or not).
        """
        if self.adaptation is not None:
            return "camera"
        if not self.noise:
            return None
        kinds = {name for chain in split_noise(self.noise) for name, _ in chain}
        if "camera" in kinds:
            return "camera"
        return "gaussian" if kinds <= {"gaussian", "clip"} else "other"

    @field_validator("self_supervised", mode="before")
    @classmethod
    def _legacy_flag(cls, value: Any) -> Any:
        """Older manifests stored a flag; True meant blind-spot masking."""
        if isinstance(value, bool):
            return "blind-spot" if value else None
        return value


class TensorQuantization(_Strict):
    """How a quantized input or output maps to real values: real = (q - zero_point) * scale."""

    dtype: Literal["uint8", "int8"]
    scale: float = Field(gt=0)
    zero_point: int


class Quantization(_Strict):
    """What was quantized and how, so a device can reproduce the artifact's arithmetic."""

    @field_validator("scheme")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        known = {s for f in FORMATS.values() for s in f.schemes.values() if s}
        if value not in known:
            raise ValueError(f"unknown quantization scheme {value!r}; known: {sorted(known)}")
        return value

    scheme: str  # a Format row's scheme for its precision (core/formats.py)
    weights: Literal["per-channel", "per-tensor"] | None = None
    input: TensorQuantization | None = None  # None: the artifact takes float32
    output: TensorQuantization | None = None  # None: the artifact returns float32
    calibration_samples: int | None = None
    calibration_source: str | None = None
    # ONNX static and OpenVINO IR int8: "mean" of each calibration input's activation extremes,
    # or "cover" them all (export/onnx.py ACTIVATION_RANGES); None where not recorded (TFLite;
    # ONNX before 13; an IR before 2026-12-03, which used NNCF's default, the mean)
    activation_ranges: Literal["cover", "mean"] | None = None
    # ONNX static and OpenVINO IR int8: quantized by NNCF with its full bias correction
    # (export/onnx.py, export/openvino.py); None where not recorded (TFLite; ONNX before 14;
    # an IR before 2026-12-03, which had NNCF's fast correction only)
    bias_correction: bool | None = None
    # int8 weights in 7 bits so no 16-bit pair sum can saturate: an OpenVINO IR's every layer
    # (NNCF's overflow fix), as the export does on a CPU whose int8 sums saturate
    # (export/openvino.py); an ONNX file quantized again so (onnxruntime's reduce_range) after
    # failing its gate on such a CPU (export/onnx.py); None where not recorded
    overflow_fix: bool | None = None


class ParityInfo(_Strict):
    """The artifact against the Keras model on held-out samples (see `edgeae export`)."""

    n_samples: int = Field(ge=1)
    max_abs_diff: float
    mean_abs_diff: float
    psnr_db: float | None = None  # artifact output vs the clean target
    keras_psnr_db: float | None = None  # the Keras model's, on the same inputs
    backend: str | None = None  # the runtime backend measured: the one it did worst in
    # every backend the gate ran the file in (each must pass), and whether int8 sums saturate
    # on the CPU it ran on (x86 without VNNI, where OpenVINO adds uint8 x int8 pairs in 16
    # bits); None where not recorded (before version 23)
    backends: list[str] | None = None
    int8_sums_saturate: bool | None = None
    # On a labelled set (`--labelled`): anomaly scores (per-image reconstruction MSE) of the
    # artifact against the Keras model's, and each one's AUROC for normal vs anomalous; for a
    # mask predictor without one, its mask's pixels on samples with anomalies pasted in.
    n_labelled: int | None = None
    score_correlation: float | None = None
    auroc: float | None = None
    keras_auroc: float | None = None


class FileRecord(_Strict):
    """A file an artifact needs beside it, as export wrote it: checked on every load."""

    name: str = Field(pattern=r"^[^/\\]+$")  # in the artifact's folder
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @classmethod
    def of(cls, path: Path) -> FileRecord:
        """The record of a file as it is now."""
        path = Path(path)
        return cls(name=path.name, size_bytes=path.stat().st_size, sha256=cached_sha256(path))


class ArtifactInfo(_Strict):
    """The exported file this manifest describes, and the other files it needs."""

    format: str  # an exported Format row's name (core/formats.py)
    precision: str  # a precision that format stores
    file: str
    # What the file holds: the whole model (image in, image out), a VAE's decoder (a latent
    # code of params["latent_dim"] numbers in, an image as `input` describes it out) or its
    # encoder (that image in, the code's mean out).
    part: Literal["model", "decoder", "encoder"] = "model"
    # Both None inside the copy embedded in the artifact itself (a file cannot hold its own
    # digest, nor know its size before the copy is added).
    size_bytes: int | None = Field(default=None, ge=0)
    sha256: str | None = None
    source_model_sha256: str  # model.keras, or the float32 artifact it was re-exported from
    # A k-NN detector's training descriptors (side_path_for); None for other models and in
    # manifests written before it was recorded (those read MEMORY_FILE, checked by content).
    memory: FileRecord | None = None
    # A patch-map detector's memory of training patches (side_path_for); None for others.
    patches: FileRecord | None = None
    # The weights a format keeps in a second file (an OpenVINO IR's .bin, weights_path_for).
    weights: FileRecord | None = None
    opset: int | None = None
    quantization: Quantization | None = None
    parity: ParityInfo | None = None

    @model_validator(mode="after")
    def _known_format(self) -> ArtifactInfo:
        row = FORMATS.get(self.format)
        if row is None or not row.exported:
            raise ValueError(f"unknown artifact format {self.format!r}; known: "
                             f"{', '.join(f for f, r in FORMATS.items() if r.exported)}")
        if self.precision not in row.schemes:
            raise ValueError(f"{self.format} artifacts come in {', '.join(row.precisions)}, "
                             f"not {self.precision!r}")
        return self


class PatchMapConfig(_Strict):
    """How a patch map describes and remembers local patches (runtime/features.py).

    Each location's HOG block (2x2 cells of `cell` pixels, `orientations` direction bins; with
    `intensity`, also its pixels' mean and spread), side by side with its neighbours' within
    `context` blocks, is compared with a memory of at most
    `bank` training patches, chosen by greedy coreset selection. Descriptors and memory are
    compared on the memory's first `dims` principal axes (0: every number): faster, and on
    validation crops it found defects better than the full descriptors, whose smallest-variance
    directions are mostly noise. A map describes every `stride`-th block down and across and
    interpolates between them (the memory keeps every block of the training images): the
    search costs 1 / stride^2 of every block's. The defaults were chosen on validation crops
    with synthetic defects (benchmarks/localise.py, patch_dims.py, patch_stride.py,
    BENCHMARKS.md).
    """

    cell: int = Field(default=4, ge=2, le=64)
    orientations: int = Field(default=8, ge=2, le=36)
    context: int = Field(default=1, ge=0, le=3)
    intensity: float = Field(default=1.0, ge=0.0, le=100.0)  # weight of each block's mean, std
    bank: int = Field(default=4096, ge=16, le=1_000_000)
    dims: int = Field(default=PATCH_DIMS, ge=0, le=10_000)
    stride: int = Field(default=PATCH_STRIDE, ge=1, le=8)


class ScoreConfig(_Strict):
    """How a reconstruction becomes an anomaly score (runtime/scoring.py computes it).

    The per-pixel error (squared or absolute, averaged over channels) is optionally smoothed
    with a Gaussian of `smooth` pixels, then pooled: "mean" (the tutorial's MSE), "max", or
    "top:F" (mean of the highest F fraction of pixels, for small defects).
    """

    error: Literal["squared", "absolute"] = "squared"
    smooth: float = Field(default=0.0, ge=0.0, le=50.0)
    pool: str = Field(default="mean", pattern=r"^(mean|max|top:(0?\.\d+|1(\.0+)?))$")
    # Nearest neighbours (runtime/features.py): with knn = k > 0 the score also measures how far
    # the image's HOG descriptor is from its k nearest training images' (mean cosine distance;
    # the descriptors are MEMORY_FILE in a model directory, side_path_for beside an artifact).
    # "knn" scores by that alone, "both" adds it to the reconstruction score, each standardised
    # by its training images' mean and std (`norm`: reconstruction mean, std, knn mean, std;
    # set by training). Maps stay the reconstruction error. HOG cells are `hog_cell` pixels
    # square; None: about 7 across the shorter side (4 for 28x28), fixed when training.
    knn: int = Field(default=0, ge=0, le=1000)
    combine: Literal["knn", "both"] = "both"
    hog_cell: int | None = Field(default=None, ge=2, le=1024)
    hog_size: tuple[int, int] | None = None  # (h, w) images are resized to first; training's
    hog_orientations: int = Field(default=4, ge=2, le=36)
    norm: tuple[float, float, float, float] | None = None
    # The heat map: "error", the reconstruction error above; "patch", each location's distance
    # to the nearest training patch (PATCHES_FILE; `smooth` applies, `error` does not), which
    # finds defects the autoencoder reconstructs well. The pooled map is the reconstruction
    # part of the score either way. "mask": a discriminative model's own predicted mask, its
    # output's last channel (the architecture's `predicts_mask`).
    maps: Literal["error", "patch", "mask"] = "error"
    patch: PatchMapConfig = PatchMapConfig()

    def threshold_problem(self, value: float) -> str | None:
        """What is wrong with `value` as a threshold on these scores; None if nothing.

        Reconstruction errors and distances are never negative, so a threshold below 0 would
        flag every frame; standardised (k-NN) scores are negative below their training mean.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            return f"the threshold must be a finite number, got {value!r}"
        if value < 0 and not self.knn:
            return (f"threshold {value:g} is below 0, where this model's scores never are: every "
                    "frame would be an anomaly")
        return None


class ScoreStats(_Strict):
    """Anomaly scores of the normal images at training time, to set thresholds later.

    Quantiles at every 0.5% (201 values) of the training images' scores and of the held-out
    normal images' scores: enough to apply any threshold strategy without the images.
    """

    n_train: int = Field(ge=1)
    train_mean: float
    train_std: float = Field(ge=0.0)
    train_quantiles: list[float] = Field(min_length=201, max_length=201)
    n_val: int = Field(default=0, ge=0)
    val_quantiles: list[float] | None = Field(default=None, min_length=201, max_length=201)


def _params_as_of_9(raw: dict) -> Any:
    """`params` of a file, with the fusion every recurrent model before version 9 had."""
    params = raw.get("params")
    before_9 = raw["schema_version"] < 9
    if before_9 and isinstance(params, dict) and params.get("recurrent"):
        return {"fusion": FUSION_BEFORE_9, **params}
    return params


# what patch maps did before a version recorded it: the full descriptors before 10, every
# block described before 12
PATCH_BEFORE = {10: {"dims": 0}, 12: {"stride": 1}}


def _score_as_of_12(raw: dict) -> Any:
    """`score` of a file, with the patch-map settings (PATCH_BEFORE) its version implied."""
    score = raw.get("score", {})
    if not isinstance(score, dict) or not isinstance(score.get("patch", {}), dict):
        return score
    implied = {k: v for version, settings in PATCH_BEFORE.items()
               if raw["schema_version"] < version for k, v in settings.items()}
    return {**score, "patch": {**implied, **score.get("patch", {})}} if implied else score


def _training_as_of_18(raw: dict) -> Any:
    """`training` of a file, with the fake quantization every one before version 18 used."""
    training = raw.get("training")
    if (raw["schema_version"] < 18 and isinstance(training, dict)
            and training.get("quantization_aware")):
        return {"fake_quant": FAKE_QUANT_BEFORE_18, **training}
    return training


class Manifest(_Strict):
    """Everything needed to use a model correctly, from any stage."""

    schema_version: Literal[23] = SCHEMA_VERSION
    edgeae_version: str
    task: str  # a core/tasks.py row
    architecture: str
    params: SerializeAsAny[ModelConfig]  # the architecture's configuration (tagged by it)
    input: InputSpec
    normalization: Normalization = Normalization()
    data: DataSummary
    training: TrainingSummary
    threshold: float | None = None
    threshold_strategy: str | None = None  # how `threshold` was set, e.g. "mean+1std"
    score: ScoreConfig = ScoreConfig()
    score_stats: ScoreStats | None = None
    artifact: ArtifactInfo | None = None
    # a model directory's model.keras, checked on every open (None: an artifact's manifest, whose
    # own files ArtifactInfo records, or a directory written before schema 22)
    model_sha256: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, raw: Any) -> Any:
        """A readable older file becomes the current version (its JSON is otherwise the same)."""
        if isinstance(raw, dict) and raw.get("schema_version") in READABLE_VERSIONS:
            raw = {**raw, "params": _params_as_of_9(raw), "score": _score_as_of_12(raw),
                   "training": _training_as_of_18(raw), "schema_version": SCHEMA_VERSION}
        return raw

    @field_validator("params", mode="before")
    @classmethod
    def _typed_params(cls, params: Any, info: ValidationInfo) -> ModelConfig:
        """`params` as the configuration class that `architecture` names."""
        try:
            return config_for(info.data.get("architecture", ""), params or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where}: {first['msg']}") from None

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"unknown task {value!r}; known: {', '.join(TASKS)}")
        return value

    @model_validator(mode="after")
    def _usable_threshold(self) -> Manifest:
        """Refuse on reading a threshold every command would refuse (NaN, infinite).

        So `info` says so, instead of "verified".
        """
        problem = None if self.threshold is None else self.score.threshold_problem(self.threshold)
        if problem:
            raise ValueError(f"threshold: {problem}")
        return self

    @property
    def part(self) -> str:
        """The VAE part an artifact holds ("decoder", "encoder"), else "model" (the whole)."""
        return self.artifact.part if self.artifact is not None else "model"

    def scored_size(self) -> tuple[int, int] | None:
        """(h, w) a detector's threshold was set at: its training images' size, where it scores.

        Every path that scores images resizes them to it (runtime/models.py's AnomalyScorer,
        `edgeae score`, export's --labelled check). None for models that are not detectors,
        for series rows and for training images of mixed sizes: those score images at their
        own size.
        """
        size = self.data.image_size
        if size is None or not TASKS[self.task].scored or self.data.value_range is not None:
            return None
        return (int(size[0]), int(size[1]))

    def to_json(self) -> str:
        """Serialise as indented JSON."""
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: str = "manifest") -> Manifest:
        """Parse and validate; a bad manifest is a one-line UserError naming the problem."""
        try:
            raw = json.loads(text.removeprefix("\ufeff"))  # Notepad saves UTF-8 with a BOM
        except json.JSONDecodeError as exc:
            raise UserError(f"{origin} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                            "re-export the model or restore the file") from None
        if not isinstance(raw, dict) or "schema_version" not in raw:
            raise UserError(f"{origin} is not an edgeae manifest (no schema_version)")
        version = raw["schema_version"]
        if isinstance(version, bool) or version not in READABLE_VERSIONS:  # true == 1 in Python
            raise UserError(f"{origin} has schema_version {version!r}; this edgeae "
                            f"reads versions {', '.join(map(str, READABLE_VERSIONS))}: upgrade "
                            "edgeae or re-export")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            message = first['msg'].removeprefix("Value error, ")
            raise UserError(f"{origin} is invalid at {where}: {message}") from None

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Read and validate a manifest file."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"manifest not found: {path}; a model directory or exported artifact "
                            "needs its manifest JSON beside it")
        return cls.from_json(path.read_text(encoding="utf-8", errors="replace"), origin=str(path))


MEMORY_FILE = "memory.npy"  # a k-NN score's training descriptors in a model directory
PATCHES_FILE = "patches.npy"  # a patch map's training patches in a model directory


def manifest_path_for(artifact: Path) -> Path:
    """The manifest JSON beside an artifact: model_fp32.tflite -> model_fp32.tflite.json.

    The full file name is kept so model_fp32.tflite and model_fp32.onnx can share a folder.
    """
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


class SideFile(NamedTuple):
    """An array a detector's score keeps beside its model (runtime/scoring.py reads it)."""

    model_dir_name: str  # its name in a model directory
    suffix: str  # beside an artifact, after the artifact's stem
    needed: Callable[[ScoreConfig], bool]  # whether a score configured so uses it
    purpose: str  # what needs it, for messages
    rows: str  # what one row holds, for messages


# Keyed as ArtifactInfo's records of them.
SIDE_FILES = {
    "memory": SideFile(MEMORY_FILE, ".memory.npy", lambda score: bool(score.knn),
                       "k-NN score", "one row per training image (its HOG descriptor)"),
    "patches": SideFile(PATCHES_FILE, ".patches.npy", lambda score: score.maps == "patch",
                        "patch maps", "one row per remembered training patch"),
}


def needed_side_files(manifest: Manifest) -> list[str]:
    """The SIDE_FILES kinds this detector's score reads beside it (none for other models)."""
    return [kind for kind, side in SIDE_FILES.items() if side.needed(manifest.score)]


def side_path_for(artifact: Path, kind: str) -> Path:
    """A side file export writes beside an artifact: model_int8.tflite -> model_int8.memory.npy.

    Named per artifact so detectors exported into one folder keep their own; a model's TFLite
    and ONNX files of one precision share it.
    """
    artifact = Path(artifact)
    return artifact.with_name(artifact.stem + SIDE_FILES[kind].suffix)


def weights_path_for(artifact: Path) -> Path | None:
    """The weights file a format reads beside its graph (model_int8.xml -> model_int8.bin).

    None for formats that keep everything in one file. The name follows the graph's, as
    OpenVINO looks for it, so a renamed pair still loads.
    """
    artifact = Path(artifact)
    for row in FORMATS.values():
        if row.weights_suffix and row.suffix == artifact.suffix.lower():
            return artifact.with_suffix(row.weights_suffix)
    return None
