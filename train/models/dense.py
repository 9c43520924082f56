"""`dense`: the TensorFlow tutorial's basic autoencoder (one hidden Dense layer as latent code)."""

from __future__ import annotations

from typing import ClassVar

import keras
from pydantic import Field, PositiveInt

from edgeae.train.models.registry import ModelConfig, register_model


class DenseConfig(ModelConfig):
    """Hyper-parameters of the dense autoencoder."""

    fixed_size: ClassVar[bool] = True
    latent_dim: int = Field(default=64, ge=1, le=65536)  # the tutorial's 64
    # Dense layers between the pixels and the code, mirrored in the decoder: () is the
    # tutorial's first autoencoder, (32, 16) with an 8-d code its anomaly detector.
    hidden: tuple[PositiveInt, ...] = Field(default=(), max_length=8)


@register_model("dense", DenseConfig)
def build_dense(config: DenseConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Flatten -> Dense(hidden..., relu) -> Dense(latent, relu) -> mirrored -> Reshape."""
    h, w, c = image_shape
    inputs = keras.Input((h, w, c), name="image")
    x = keras.layers.Flatten()(inputs)  # (B, h*w*c)
    for units in config.hidden:
        x = keras.layers.Dense(units, activation="relu")(x)
    code = keras.layers.Dense(config.latent_dim, activation="relu", name="latent")(x)
    x = code
    for units in reversed(config.hidden):
        x = keras.layers.Dense(units, activation="relu")(x)
    x = keras.layers.Dense(h * w * c, activation="sigmoid")(x)
    outputs = keras.layers.Reshape((h, w, c), name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="dense_autoencoder")
