"""`conv`: the TensorFlow tutorial's convolutional autoencoder, fully convolutional."""

from __future__ import annotations

import keras

from edgeae.core.architectures import ConvConfig
from edgeae.train.models.registry import register_model


@register_model("conv")
def build_conv(config: ConvConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Stride-2 Conv2D encoder, mirrored Conv2DTranspose decoder, sigmoid Conv2D output."""
    c = image_shape[2]
    k = config.kernel_size
    inputs = keras.Input((None, None, c), name="image")  # any size that divides by 2**stages
    x = inputs
    for f in config.filters:  # (B, H, W, c) -> (B, H/2**n, W/2**n, filters[-1])
        x = keras.layers.Conv2D(f, k, strides=2, padding="same", activation="relu")(x)
    for f in reversed(config.filters):  # back up to (B, H, W, filters[0])
        x = keras.layers.Conv2DTranspose(f, k, strides=2, padding="same", activation="relu")(x)
    outputs = keras.layers.Conv2D(c, k, padding="same", activation="sigmoid",
                                  name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="conv_autoencoder")
