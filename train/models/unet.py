"""`unet`: a fully convolutional denoiser with skip connections and a residual output.

The network predicts the noise and subtracts it from its input (DnCNN's residual learning), so
an untrained or unsure network passes the image through rather than blurring it. Sizes trade
speed for quality: `tiny` and `small` fold 2x2 pixel blocks into channels first (a stride-2 stem,
as FFDNet does), so every level runs at half resolution or less and int8 runs them in real time
on a small CPU; `medium` and `large` keep a full-resolution level for the best quality. Every
level halves the resolution again, so deep levels are cheap per input pixel.
"""

from __future__ import annotations

import keras

from edgeae.core.architectures import UNetConfig
from edgeae.train.models.registry import register_model


@keras.saving.register_keras_serializable(package="edgeae")
class PixelShuffle(keras.layers.Layer):
    """Depth to space: (H, W, C * r * r) -> (H * r, W * r, C), the inverse of the stem.

    On the TensorFlow backend, which exports, tf.nn.depth_to_space: one DEPTH_TO_SPACE op in
    TFLite and DepthToSpace in ONNX, which every engine runs (ncnn's PixelShuffle included;
    the reshape to rank 6 that other backends trace is beyond ncnn's tensors). The same pixels.
    """

    def __init__(self, factor: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):  # noqa: D102 - Keras layer API
        r = self.factor
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.nn.depth_to_space(x, r)
        b, h, w = keras.ops.shape(x)[0], keras.ops.shape(x)[1], keras.ops.shape(x)[2]
        c = x.shape[-1] // (r * r)
        x = keras.ops.reshape(x, (b, h, w, r, r, c))
        x = keras.ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return keras.ops.reshape(x, (b, h * r, w * r, c))

    def compute_output_shape(self, shape):  # noqa: D102
        r = self.factor
        scaled = [None if d is None else d * r for d in shape[1:3]]
        return (shape[0], *scaled, shape[3] // (r * r))

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="edgeae")
class Upsample2x(keras.layers.Layer):
    """Nearest-neighbour 2x upsampling that keeps the channel count known for any frame size.

    (keras.layers.UpSampling2D repeats rows with `ops.repeat`, whose traced shape loses the
    channels when height and width are dynamic, and the TFLite converter then fails;
    keras.ops.image.resize refuses a dynamic size in graph mode. On the TensorFlow backend,
    which exports, tf.image.resize it is: TFLite RESIZE_NEAREST_NEIGHBOR, ONNX Resize. Other
    backends trace static shapes, where repeating rows and columns gives the same pixels, so
    weights trained with JAX on a GPU machine without TensorFlow load here unchanged.)
    """

    def call(self, x):  # noqa: D102 - Keras layer API
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.image.resize(x, tf.shape(x)[1:3] * 2, method="nearest")
        return keras.ops.repeat(keras.ops.repeat(x, 2, axis=1), 2, axis=2)

    def compute_output_shape(self, shape):  # noqa: D102
        return (shape[0], *[None if d is None else 2 * d for d in shape[1:3]], shape[3])


@keras.saving.register_keras_serializable(package="edgeae")
class FrameSlice(keras.layers.Layer):
    """Frame `index` (`channels` channels) of frames stacked on the channel axis; -1: the last."""

    def __init__(self, index: int, channels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.index, self.channels = index, channels

    def call(self, x):  # noqa: D102 - Keras layer API
        if self.index == -1:
            return x[..., -self.channels:]
        return x[..., self.index * self.channels:(self.index + 1) * self.channels]

    def compute_output_shape(self, shape):  # noqa: D102
        return (*shape[:3], self.channels)

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "index": self.index, "channels": self.channels}


def _convs(x, filters: int, n: int, name: str):
    """`n` 3x3 ReLU convolutions of `filters` channels."""
    for i in range(n):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                name=f"{name}_conv{i}")(x)
    return x


@register_model("unet")
def build_unet(config: UNetConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """U-Net denoiser: stride-2 encoder, upsampling decoder with skips, residual output.

    With `frames` K > 1 it is temporal: K frames stacked on the channel axis come in, and the
    noise it predicts is taken from the last of them. A recurrent one denoises the frame alone
    and blends in its last output where that agrees (`_fused`).
    """
    c = image_shape[2]
    inputs = keras.Input((None, None, c * config.frames), name="image")
    if config.recurrent:
        return _fused(inputs, config, c)
    current = inputs if config.frames == 1 else FrameSlice(-1, c, name="current")(inputs)
    noise = _noise(inputs, config, c)
    outputs = keras.layers.Subtract(name="reconstruction")([current, noise])
    return keras.Model(inputs, outputs, name=f"unet_{config.size}")


def _noise(x, config: UNetConfig, c: int):
    """The U-Net's estimate of the noise in the last of the frames `x` holds."""
    return unet_body(x, config.level_filters(), config.level_convs(), config.stem_stride(), c)


def unet_body(x, filters: tuple[int, ...], n: int, stem: int, out_channels: int,
              prefix: str = "", out_name: str = "noise"):
    """Encoder, decoder with skips and a linear `out_channels` head, layers named `prefix`...

    (The names without a prefix are those shipped weights load by.)
    """
    if stem > 1:  # fold 2x2 pixel blocks into channels; the head unfolds them
        x = keras.layers.Conv2D(filters[0], stem, strides=stem, activation="relu",
                                name=f"{prefix}stem")(x)
    x = _convs(x, filters[0], n, f"{prefix}level0")
    skips = [x]
    for level, f in enumerate(filters[1:], start=1):  # down: (H/2**l, W/2**l, f)
        x = keras.layers.Conv2D(f, 2, strides=2, activation="relu",
                                name=f"{prefix}down{level}")(x)
        x = _convs(x, f, n, f"{prefix}level{level}")
        skips.append(x)
    for level in range(len(filters) - 2, -1, -1):  # up, joining the encoder's features
        f = filters[level]
        x = Upsample2x(name=f"{prefix}up{level}")(x)
        x = keras.layers.Concatenate(name=f"{prefix}skip{level}")([x, skips[level]])
        x = _convs(x, f, n, f"{prefix}merge{level}")
    if stem > 1:
        x = keras.layers.Conv2D(out_channels * stem * stem, 3, padding="same",
                                name=f"{prefix}{out_name}_blocks")(x)
        return PixelShuffle(stem, name=f"{prefix}{out_name}")(x)
    return keras.layers.Conv2D(out_channels, 3, padding="same", name=f"{prefix}{out_name}")(x)


FUSION_FILTERS = 16


def _fused(inputs, config: UNetConfig, c: int) -> keras.Model:
    """Recurrent: the frame denoised alone, moved towards the last output where they agree.

    The single-frame U-Net (the same layers, so a single-frame model's weights load by name)
    denoises the frame; a few small convolutions (`fusion_*`, FUSION_DESIGNS[config.fusion])
    look at it, the last output and their difference and give a weight w in (0, 1) per pixel;
    the output is denoised + w * (last - denoised). The weight starts near 0 (the single-frame
    model), and training raises it where the last output is a better estimate: still parts of
    the scene, whose noise then averages out over many frames.
    """
    last = FrameSlice(0, c, name="last_output")(inputs)
    current = FrameSlice(1, c, name="current")(inputs)
    alone = keras.layers.Subtract(name="denoised")([current, _noise(current, config, c)])
    change = keras.layers.Subtract(name="fusion_change")([last, alone])
    weight = FUSION_DESIGNS[config.fusion](alone, last, change, current, c)
    blend = keras.layers.Multiply(name="fusion_blend")([weight, change])
    outputs = keras.layers.Add(name="reconstruction")([alone, blend])
    return keras.Model(inputs, outputs, name=f"unet_{config.size}")


def _weight_per_pixel(alone, last, change, current, c: int):
    """Three 3x3 convolutions at full resolution (about 3k multiply-accumulates per pixel).

    The recurrent models made before schema 9; their concatenation and one-channel head are
    slow in int8 engines (benchmarks/video.py).
    """
    x = keras.layers.Concatenate(name="fusion_inputs")([alone, last, change, current])
    for i in range(2):
        x = keras.layers.Conv2D(FUSION_FILTERS, 3, padding="same", activation="relu",
                                name=f"fusion_conv{i}")(x)
    return keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid",
                               bias_initializer=keras.initializers.Constant(-3.0),
                               name="fusion_weight")(x)


def _weight_per_block(alone, last, change, current, c: int):
    """The weights of each 2x2 pixel block from convolutions at half resolution (about 800 MACs).

    Each input is folded into channels by its own stride-2 convolution and the folds are
    summed (the same as one over them stacked, without copying full-resolution planes); two
    3x3 convolutions at half resolution give the block's four weights, which PixelShuffle puts
    back in place. `last` is `change + alone`, so it adds nothing to the folds.
    """
    del last
    folds = [keras.layers.Conv2D(FUSION_FILTERS, 2, strides=2, use_bias=i == 0,
                                 name=f"fusion_fold_{name}")(x)
             for i, (name, x) in enumerate((("denoised", alone), ("change", change),
                                            ("frame", current)))]
    x = keras.layers.ReLU(name="fusion_folded")(keras.layers.Add(name="fusion_folds")(folds))
    x = keras.layers.Conv2D(FUSION_FILTERS, 3, padding="same", activation="relu",
                            name="fusion_conv")(x)
    blocks = keras.layers.Conv2D(4 * c, 3, padding="same", activation="sigmoid",
                                 bias_initializer=keras.initializers.Constant(-3.0),
                                 name="fusion_weight_blocks")(x)
    return PixelShuffle(2, name="fusion_weight")(blocks)


# config.fusion -> the layers that weigh the last output (adding a design is a row)
FUSION_DESIGNS = {"pixels": _weight_per_pixel, "blocks": _weight_per_block}
