"""The typed configuration of every architecture: a tagged union, by the `architecture` name.

One configuration travels from training (the builders in train/models/ take it) through the
manifest (`params`, validated as the class its `architecture` names) into the runtime. Adding an
architecture is a config class here, registered with `@architecture(name)`, and its builder in
train/models/ registered under the same name. TensorFlow-free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    model_serializer,
    model_validator,
)

from edgeae.core.errors import UserError

FilterCount = Annotated[int, Field(ge=1, le=4096)]  # channels of one convolution stage


class ModelConfig(BaseModel):
    """Base of every builder's hyper-parameters; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fixed_size: ClassVar[bool] = False  # True: the model only takes its training image size
    # whether train/from_artifact.py rebuilds it from its fp32 ONNX file (export from a file)
    rebuilds_from_onnx: ClassVar[bool] = False

    architecture: str  # the tag: each config class fixes it to its registered name

    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (its total downsampling)."""
        return 1

    def input_frames(self) -> int:
        """Consecutive frames the model takes at once: 1, or K for a temporal model."""
        return 1

    def clip_frames(self) -> int:
        """Frames of each training clip (1: single images)."""
        return self.input_frames()

    def is_recurrent(self) -> bool:
        """Whether the model takes its own last output with each frame (runtime/history.py)."""
        return False

    def predicts_mask(self) -> bool:
        """Whether the model's last output channel is a predicted anomaly mask (a detector's map).

        Such a model trains on images with synthetic anomalies pasted in (train/anomalies.py)
        and outputs its reconstruction and the mask side by side on the channel axis.
        """
        return False

    def output_channels(self, channels: int) -> int:
        """Output channels for `channels`-channel frames: the same, plus a predicted mask's one."""
        return channels + int(self.predicts_mask())

    def __getitem__(self, key: str) -> Any:
        """Read a parameter by name, as manifests' params dicts were read."""
        return getattr(self, key)


CONFIGS: dict[str, type[ModelConfig]] = {}


def architecture(name: str) -> Callable[[type[ModelConfig]], type[ModelConfig]]:
    """Class decorator: the configuration of architecture `name` (its tag)."""

    def add(cls: type[ModelConfig]) -> type[ModelConfig]:
        if CONFIGS.get(name, cls) is not cls:
            raise ValueError(f"architecture {name!r} is registered twice")
        CONFIGS[name] = cls
        return cls

    return add


def config_for(name: str, params: dict[str, Any] | ModelConfig) -> ModelConfig:
    """Architecture `name`'s configuration from its parameters (pydantic errors on bad ones)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(CONFIGS))}")
    if isinstance(params, ModelConfig):
        if params.architecture != name:
            raise ValueError(f"a {params.architecture} configuration is not a {name} one")
        return params
    return CONFIGS[name](**{k: v for k, v in params.items() if k != "architecture"})


def checked_config(name: str, params: dict[str, Any] | ModelConfig) -> ModelConfig:
    """Architecture `name`'s configuration, or a one-line UserError; needs no Keras."""
    if name not in CONFIGS:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(sorted(CONFIGS))}")
    try:
        return config_for(name, params)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":  # an option that only other models take
            raise UserError(f"model {name!r} takes no parameter {key} (another --model does; "
                            f"see `edgeae train TASK --help`)") from None
        raise UserError(f"model {name!r}: bad parameter {key}: {err['msg']}") from None


def check_image_sides(name: str, config: ModelConfig, h: int, w: int) -> None:
    """A one-line error unless the model takes h x w images (its sides' multiple)."""
    multiple = config.size_multiple()
    if h % multiple or w % multiple:
        raise UserError(f"model {name!r} needs image sides that are multiples of {multiple}, got "
                        f"{h}x{w}; pass --image-size or --patch-size with such a size")


@architecture("conv")
class ConvConfig(ModelConfig):
    """Hyper-parameters of the convolutional autoencoder: one stride-2 stage per filter count."""

    architecture: Literal["conv"] = Field(default="conv", exclude=True)

    # the tutorial's 16, 8
    filters: tuple[FilterCount, ...] = Field(default=(16, 8), min_length=1, max_length=6)
    kernel_size: int = Field(default=3, ge=1, le=9)


    def size_multiple(self) -> int:
        """Each stage halves the image, so sides must divide by 2**stages."""
        return 2 ** len(self.filters)


@architecture("dense")
class DenseConfig(ModelConfig):
    """Hyper-parameters of the dense autoencoder."""

    architecture: Literal["dense"] = Field(default="dense", exclude=True)

    fixed_size: ClassVar[bool] = True
    latent_dim: int = Field(default=64, ge=1, le=65536)  # the tutorial's 64
    # Dense layers between the pixels and the code, mirrored in the decoder: () is the
    # tutorial's first autoencoder, (32, 16) with an 8-d code its anomaly detector.
    hidden: tuple[PositiveInt, ...] = Field(default=(), max_length=8)


# filters per level, convolutions per level, stem stride; smallest to largest
PRESETS: dict[str, tuple[tuple[int, ...], int, int]] = {
    "tiny": ((16, 32, 64), 2, 2),
    "small": ((32, 64, 128), 2, 2),
    "medium": ((32, 64, 128), 2, 1),
    "large": ((64, 128, 256, 512), 2, 1),
}


Size = Literal["tiny", "small", "medium", "large"]
RECURRENT_UNROLL = 4  # a recurrent model trains on clips of this many frames, one step each


@architecture("unet")
class UNetConfig(ModelConfig):
    """U-Net hyper-parameters: a named size, or explicit filters per level."""

    architecture: Literal["unet"] = Field(default="unet", exclude=True)
    rebuilds_from_onnx: ClassVar[bool] = True

    size: Size = "small"
    filters: tuple[FilterCount, ...] | None = Field(default=None, min_length=2, max_length=6)
    convs_per_level: int | None = Field(default=None, ge=1, le=4)
    stem: Literal[1, 2] | None = None  # 2: the first level already runs at half resolution
    # > 1: a temporal denoiser taking this many consecutive frames (oldest first, stacked on the
    # channel axis) and restoring the last, so a live feed waits for no later frame
    frames: int = Field(default=1, ge=1, le=8)
    # with frames 2: the first frame slot holds the model's own last output, moved with the
    # scene by the runtime (a recursive filter whose memory reaches back over many frames)
    recurrent: bool = False
    # how a recurrent U-Net weighs its last output (FUSION_DESIGNS in train/models/unet.py):
    # "blocks" from 2x2 pixel blocks at half resolution; "pixels", per pixel at full resolution,
    # is what recurrent models made before schema 9 have (core/manifest.py upgrades their files)
    fusion: Literal["pixels", "blocks"] = "blocks"

    def level_filters(self) -> tuple[int, ...]:
        """Filters per level: explicit ones, else the size's."""
        return self.filters or PRESETS[self.size][0]

    def level_convs(self) -> int:
        """3x3 convolutions per level: explicit, else the size's."""
        return self.convs_per_level or PRESETS[self.size][1]

    def stem_stride(self) -> int:
        """1, or 2 to run every level at half resolution (a learned pixel unshuffle)."""
        return self.stem or PRESETS[self.size][2]

    def size_multiple(self) -> int:
        """Each level below the first halves the image, and so does a stride-2 stem."""
        return 2 ** (len(self.level_filters()) - 1) * self.stem_stride()

    def input_frames(self) -> int:
        """`frames`: 1 for a single-frame denoiser."""
        return self.frames

    def is_recurrent(self) -> bool:
        """`recurrent`."""
        return self.recurrent

    def clip_frames(self) -> int:
        """Frames of each training clip: the model's, or a recurrent model's RECURRENT_UNROLL.

        A recurrent model trains on its own outputs, step after step (train/recurrent.py).
        """
        return RECURRENT_UNROLL if self.recurrent else self.frames

    @model_validator(mode="after")
    def _recurrent_takes_two(self) -> UNetConfig:
        if self.recurrent and self.frames != 2:
            raise ValueError("a recurrent U-Net takes 2 frames: its last output and the frame")
        return self

    @model_serializer(mode="wrap")
    def _single_frame_as_before(self, handler: Callable[[Any], dict]) -> dict:
        """A single-frame U-Net's JSON stays as it was before `frames` and `fusion` existed."""
        data = handler(self)
        if data.get("frames") == 1:
            del data["frames"]
        if data.get("recurrent") is False:
            del data["recurrent"]
            data.pop("fusion", None)
        return data


@architecture("draem")
class DraemConfig(ModelConfig):
    """A discriminative detector (DRAEM): a reconstructive U-Net and a segmentation U-Net.

    The first restores normal images from copies with synthetic anomalies pasted in; the second
    reads the input beside that reconstruction and predicts where the anomalies are. Both sizes
    are U-Net presets (PRESETS).
    """

    architecture: Literal["draem"] = Field(default="draem", exclude=True)

    size: Size = "small"  # the reconstructive U-Net's
    segmentation: Size = "tiny"  # the segmentation U-Net's

    def predicts_mask(self) -> bool:
        """True: the last output channel is the predicted anomaly mask."""
        return True

    def size_multiple(self) -> int:
        """Both U-Nets' downsampling must divide the sides."""
        return max(_preset_multiple(self.size), _preset_multiple(self.segmentation))


def _preset_multiple(size: Size) -> int:
    """The total downsampling of a U-Net preset."""
    filters, _, stem = PRESETS[size]
    return 2 ** (len(filters) - 1) * stem


LOSS_OF = {"bernoulli": "bce", "gaussian": "mse"}  # the training loss each likelihood implies


@architecture("vae")
class VAEConfig(ModelConfig):
    """Hyper-parameters of the VAE: code size, encoder widths, likelihood and KL weighting."""

    architecture: Literal["vae"] = Field(default="vae", exclude=True)

    fixed_size: ClassVar[bool] = True
    latent_dim: int = Field(default=16, ge=1, le=4096)
    filters: tuple[FilterCount, ...] = Field(default=(32, 64), min_length=1, max_length=5)
    # Dense units between the convolutions and the code. 256, not 64: validation ELBO after 10
    # epochs, on images held out of x_train, -111.1 vs -123.2 nats (MNIST-10k) and -244.5 vs
    # -245.8 (a 20k subset of Fashion-MNIST); see BENCHMARKS.md, generation.
    hidden: int = Field(default=256, ge=1, le=8192)
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    gaussian_sigma: float = Field(default=0.1, gt=0.0, le=1.0)  # the Gaussian's fixed std
    beta: float = Field(default=1.0, gt=0.0, le=100.0)  # KL weight (beta-VAE)
    kl_warmup_epochs: int = Field(default=0, ge=0, le=10000)  # KL weight ramps 0 -> 1 over these


    def size_multiple(self) -> int:
        """Each encoder stage halves the image."""
        return 2 ** len(self.filters)

    def kl_scale(self, pixels: int) -> float:
        """The KL term's weight against the per-pixel reconstruction loss (see the module)."""
        variance_factor = 2 * self.gaussian_sigma ** 2 if self.likelihood == "gaussian" else 1.0
        return self.beta * variance_factor / pixels
