"""Quantization-aware training: fine-tune so the int8 export loses less.

Post-training int8 quantization rounds every activation to 256 levels over its calibrated range.
A well-trained denoiser is sensitive to that (the shipped `live` U-Net lost 0.47 dB). Training a
few epochs with that rounding simulated after every layer (fake quantization, straight-through
gradients, ranges tracked as moving min / max) teaches the weights to tolerate it; the model
then exports through the usual calibrated int8 path, without the fake-quantization layers.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="edgeae")
class FakeQuant(keras.layers.Layer):
    """Rounds its input to 8-bit levels over a moving [min, max] (identity gradient)."""

    def __init__(self, momentum: float = 0.99, **kwargs) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, shape) -> None:  # noqa: D102 - Keras layer API
        self.low = self.add_weight(shape=(), initializer="zeros", trainable=False, name="low")
        self.high = self.add_weight(shape=(), initializer="zeros", trainable=False, name="high")
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

    def call(self, x, training=False):  # noqa: D102 - Keras layer API
        if training:  # the first batch sets the range, later ones move it slowly
            first, m = tf.equal(self.seen, 0.0), self.momentum
            self.low.assign(tf.where(first, tf.reduce_min(x), m * self.low
                                     + (1 - m) * tf.reduce_min(x)))
            self.high.assign(tf.where(first, tf.reduce_max(x), m * self.high
                                      + (1 - m) * tf.reduce_max(x)))
            self.seen.assign(1.0)
        low = tf.minimum(self.low, 0.0)  # int8 ranges always hold zero
        high = tf.maximum(self.high, low + 1e-3)
        return tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8)

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "momentum": self.momentum}


def with_fake_quant(model: keras.Model) -> keras.Model:
    """The same layers (shared weights) with fake quantization of every layer's output."""
    return keras.models.clone_model(
        model, clone_function=lambda layer: layer,
        call_function=lambda layer, *args, **kwargs: FakeQuant(name=f"fq_{layer.name}")(
            layer(*args, **kwargs)))


def without_fake_quant(trained: keras.Model, plain: keras.Model) -> keras.Model:
    """`plain` (the architecture without FakeQuant) holding `trained`'s weights, by layer name."""
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    return plain
