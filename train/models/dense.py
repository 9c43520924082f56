"""`dense`: the TensorFlow tutorial's basic autoencoder (one hidden Dense layer as latent code)."""

from __future__ import annotations

import keras

from edgeae.core.architectures import DenseConfig
from edgeae.train.models.registry import register_model


@register_model("dense")
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
