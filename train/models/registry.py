"""The model registry: builders keyed by name, each with a validated configuration class.

`create_model` and `list_models` are the only way in, so every registered model gets the same
tests (build, fit a step, export, parity) by looping over `list_models()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

import keras

from edgeae.core.architectures import (
    CONFIGS,
    ModelConfig,
    check_image_sides,
    checked_config,
)
from edgeae.core.errors import UserError

Builder = Callable[[Any, tuple[int, int, int]], keras.Model]


@dataclass(frozen=True)
class ModelEntry:
    """A registered builder: its name, config class and a one-line description."""

    name: str
    build: Builder
    config_cls: type[ModelConfig]
    summary: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register `builder(config, (h, w, c)) -> keras.Model` under `name`.

    Its configuration is the class core/architectures.py registers under the same name.
    """

    def add(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        if name not in CONFIGS:
            raise ValueError(f"model {name!r} has no configuration in core/architectures.py")
        summary = (builder.__doc__ or name).strip().splitlines()[0]
        _REGISTRY[name] = ModelEntry(name, builder, CONFIGS[name], summary)
        return builder

    return add


def list_models() -> list[str]:
    """Registered model names."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for `name`, or a UserError listing the known names."""
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    return _REGISTRY[name]


def make_config(name: str, params: dict[str, Any] | ModelConfig) -> ModelConfig:
    """Validate hyper-parameters for model `name`; a bad one is a one-line UserError."""
    get_entry(name)
    return checked_config(name, params)


def create_model(name: str, image_shape: tuple[int, int, int],
                 params: dict[str, Any] | ModelConfig | None = None) -> keras.Model:
    """Build model `name` for images of (h, w, c); fully convolutional models accept any size."""
    config = make_config(name, params or {})
    check_image_sides(name, config, *image_shape[:2])
    return get_entry(name).build(config, image_shape)


def macs_per_pixel(model: keras.Model, size: int = 64) -> float:
    """Multiply-accumulates per input pixel of one forward pass (convolutions and dense layers).

    A model that takes any size is measured at `size` x `size`; the count is exact for
    convolutional models, whose cost is proportional to the pixel count.
    """
    model, (h, w) = _sized(model, size)
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2DTranspose):
            cin = layer.input.shape[-1]
            total += prod(layer.input.shape[1:3]) * prod(layer.kernel_size) * cin * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            cin = layer.input.shape[-1] // layer.groups
            total += prod(layer.output.shape[1:3]) * prod(layer.kernel_size) * cin * layer.filters
        elif isinstance(layer, keras.layers.Dense):
            total += prod(layer.input.shape[1:]) * layer.units
    return total / (h * w)


def activations_per_pixel(model: keras.Model, size: int = 64) -> float:
    """Floats per input pixel of the outputs of the layers with weights, in one forward pass.

    Training keeps each for the backward pass (reshapes and activations may share or fuse
    theirs, so they are left out): this times a batch's pixels is a lower bound on a training
    step's memory. Measured as macs_per_pixel is.
    """
    model, (h, w) = _sized(model, size)
    return sum(prod(layer.output.shape[1:]) for layer in _leaf_layers(model)
               if layer.weights) / (h * w)


def _sized(model: keras.Model, size: int) -> tuple[keras.Model, tuple[int, int]]:
    """The model with a fixed input size (`size` x `size` where it takes any), and that size."""
    h, w = model.input_shape[1:3]
    if h is None or w is None:
        h = w = size
        model = keras.models.clone_model(
            model, input_tensors=keras.Input((h, w, model.input_shape[-1])))
    return model, (h, w)


def _leaf_layers(model: keras.Model):
    """Every layer, looking inside nested models (a VAE's encoder and decoder)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
