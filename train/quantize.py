"""Quantization-aware training: fine-tune so the int8 export loses less.

Post-training int8 quantization rounds every activation to 256 levels over its calibrated range.
A well-trained denoiser is sensitive to that (the shipped `live` U-Net lost 0.47 dB). Training a
few epochs with that rounding simulated after every layer (fake quantization, straight-through
gradients) teaches the weights to tolerate it; the model then exports through the usual
calibrated int8 path, without the fake-quantization layers.

Two schemes (FAKE_QUANT_SCHEMES): "moving" tracks each range as a moving average of the
batches' minima and maxima, and leaves the weights in float (how the shipped `live` was tuned);
"cover" simulates what the export does: ranges that cover every value seen (the export's
covering calibration), and each convolution's weights rounded per output channel to symmetric
int8, as onnxruntime's per-channel QDQ stores them.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from edgeae.train.settings import FAKE_QUANT_SCHEMES


@keras.saving.register_keras_serializable(package="edgeae")
class FakeQuant(keras.layers.Layer):
    """Rounds its input to 8-bit levels over a moving [min, max] (identity gradient)."""

    def __init__(self, momentum: float = 0.99, **kwargs) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum  # 1.0: the range only widens, to cover every value seen

    def build(self, shape) -> None:  # noqa: D102 - Keras layer API
        self.low = self.add_weight(shape=(), initializer="zeros", trainable=False, name="low")
        self.high = self.add_weight(shape=(), initializer="zeros", trainable=False, name="high")
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

    def call(self, x, training=False):  # noqa: D102 - Keras layer API
        if training:  # the first batch sets the range; later ones move or widen it
            first, m = tf.equal(self.seen, 0.0), self.momentum
            batch_low, batch_high = tf.reduce_min(x), tf.reduce_max(x)
            if m == 1.0:
                low, high = tf.minimum(self.low, batch_low), tf.maximum(self.high, batch_high)
            else:
                low, high = m * self.low + (1 - m) * batch_low, m * self.high + (1 - m) * batch_high
            self.low.assign(tf.where(first, batch_low, low))
            self.high.assign(tf.where(first, batch_high, high))
            self.seen.assign(1.0)
        low = tf.minimum(self.low, 0.0)  # int8 ranges always hold zero
        high = tf.maximum(self.high, low + 1e-3)
        return tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8)

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "momentum": self.momentum}


def int8_per_channel(kernel):
    """A kernel rounded per output channel (last axis) to symmetric int8 (identity gradient).

    Steps of max |w| / 127, +-127 of them, as onnxruntime's per-channel QDQ stores weights.
    """
    bound = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(kernel), axis=(0, 1, 2)), 1e-8))
    return tf.quantization.fake_quant_with_min_max_vars_per_channel(
        kernel, -bound, bound, num_bits=8, narrow_range=True)


@keras.saving.register_keras_serializable(package="edgeae")
class FakeQuantConv2D(keras.layers.Conv2D):
    """Conv2D computing with its kernel rounded by `int8_per_channel`."""

    def convolution_op(self, inputs, kernel):  # noqa: D102 - Keras layer API
        return super().convolution_op(inputs, int8_per_channel(kernel))


def with_fake_quant(model: keras.Model, scheme: str) -> keras.Model:
    """The same layers with fake quantization of every layer's output (FAKE_QUANT_SCHEMES).

    Layers are shared with `model`, except the convolutions when their weights are rounded too:
    those are copies (same names, same weights), which `without_fake_quant` copies back.
    """
    momentum, round_weights = FAKE_QUANT_SCHEMES[scheme]

    def clone(layer):
        if round_weights and type(layer) is keras.layers.Conv2D:
            return FakeQuantConv2D.from_config(layer.get_config())
        return layer

    qat = keras.models.clone_model(
        model, clone_function=clone,
        call_function=lambda layer, *args, **kwargs: FakeQuant(
            momentum, name=f"fq_{layer.name}")(layer(*args, **kwargs)))
    for layer in qat.layers:
        if isinstance(layer, FakeQuantConv2D):
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return qat


def without_fake_quant(trained: keras.Model, plain: keras.Model) -> keras.Model:
    """`plain` (the architecture without FakeQuant) holding `trained`'s weights, by layer name."""
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    return plain
