"""`dense`: the TensorFlow tutorial's basic autoencoder (one hidden Dense layer as latent code)."""

from __future__ import annotations

from typing import ClassVar

import keras
from pydantic import Field

from edgeae.train.models.registry import ModelConfig, register_model


class DenseConfig(ModelConfig):
    """Hyper-parameters of the dense autoencoder."""

    fixed_size: ClassVar[bool] = True
    latent_dim: int = Field(default=64, ge=1, le=65536)  # the tutorial's 64


@register_model("dense", DenseConfig)
def build_dense(config: DenseConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Flatten -> Dense(latent, relu) -> Dense(h*w*c, sigmoid) -> Reshape; fixed image size."""
    h, w, c = image_shape
    inputs = keras.Input((h, w, c), name="image")
    x = keras.layers.Flatten()(inputs)  # (B, h*w*c)
    code = keras.layers.Dense(config.latent_dim, activation="relu", name="latent")(x)
    x = keras.layers.Dense(h * w * c, activation="sigmoid")(code)
    outputs = keras.layers.Reshape((h, w, c), name="reconstruction")(x)
    return keras.Model(inputs, outputs, name="dense_autoencoder")
