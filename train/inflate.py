"""Start a temporal model from a single-frame one: its weights, with the new frames' inputs zero.

A temporal U-Net differs from the single-frame U-Net of the same configuration only in the
input channels of its first convolution (K frames instead of one). Inflating copies every layer
and puts the single-frame kernel on the last frame's channels, with zeros on the earlier frames':
the temporal model starts out as exactly the single-frame model, ignoring the frames before,
and training teaches it to use them. A recurrent U-Net holds the single-frame one unchanged and
adds a fusion (`fusion_*` layers), which keeps its own starting values and alone is trained.
"""

from __future__ import annotations

import keras
import numpy as np

from edgeae.core.errors import UserError

NEW_PREFIX = "fusion_"  # a recurrent model's own layers, which no single-frame model has


def inflate_into(target: keras.Model, source: keras.Model) -> None:
    """Set `target`'s weights from `source`, a same-named model taking fewer input frames."""
    for layer in target.layers:
        if not layer.weights or layer.name.startswith(NEW_PREFIX):
            continue
        try:
            weights = source.get_layer(layer.name).get_weights()
        except ValueError:
            raise UserError(f"the initial weights have no layer {layer.name!r}; start from a "
                            "model of the same --model and --size") from None
        layer.set_weights([_inflated(w, t.shape, layer.name)
                           for w, t in zip(weights, layer.get_weights())])


def _inflated(weight: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """`weight` as `shape`: the same, or a kernel with zero input channels before its own."""
    if weight.shape == tuple(shape):
        return weight
    grows_inputs = (weight.ndim == 4 and weight.shape[:2] == shape[:2]
                    and weight.shape[3] == shape[3] and shape[2] % weight.shape[2] == 0)
    if not grows_inputs:
        raise UserError(f"layer {name!r} of the initial weights is {weight.shape}, this model's "
                        f"{tuple(shape)}; start from a model of the same --model and --size")
    kernel = np.zeros(shape, weight.dtype)
    kernel[:, :, -weight.shape[2]:] = weight
    return kernel


def train_only_new_layers(model: keras.Model) -> None:
    """Freeze the layers that came from the single-frame model; the fusion alone learns."""
    for layer in model.layers:
        layer.trainable = layer.name.startswith(NEW_PREFIX)
