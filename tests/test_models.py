"""Every registered model: builds, keeps the image shape, trains a step; configs are validated."""

from __future__ import annotations

import numpy as np
import pytest

from edgeae.core.errors import UserError
from edgeae.train.models import create_model, list_models, make_config


def test_registry_lists_the_tutorial_models():
    assert {"conv", "dense"} <= set(list_models())


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("channels", [1, 3])
def test_build_and_fit_one_step(name, channels):
    x = np.random.default_rng(0).random((4, 16, 16, channels), dtype=np.float32)
    model = create_model(name, (16, 16, channels))
    out_channels = make_config(name, {}).output_channels(channels)  # a mask predictor's one more
    assert model.output_shape[-1] == out_channels
    y = np.concatenate([x, x[..., :1] > 0.5], axis=-1)[..., :out_channels].astype(np.float32)
    model.compile("adam", "mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    assert model.predict(x, verbose=0).shape == y.shape


def test_tutorial_defaults():
    dense = create_model("dense", (28, 28, 1))
    assert dense.get_layer("latent").units == 64
    conv = create_model("conv", (28, 28, 1))
    convs = [layer.filters for layer in conv.layers if type(layer).__name__ == "Conv2D"]
    assert convs == [16, 8, 1]
    assert make_config("conv", {}).size_multiple() == 4


def test_dense_hidden_layers_are_mirrored():
    deep = create_model("dense", (28, 28, 1), {"latent_dim": 32, "hidden": (256, 128)})
    units = [layer.units for layer in deep.layers if type(layer).__name__ == "Dense"]
    assert units == [256, 128, 32, 128, 256, 784]
    with pytest.raises(UserError, match="bad parameter hidden"):
        create_model("dense", (8, 8, 1), {"hidden": (16, 0)})


def test_conv_is_fully_convolutional():
    model = create_model("conv", (16, 16, 1), {"filters": (4, 4, 4)})
    assert model.predict(np.zeros((1, 24, 40, 1), np.float32), verbose=0).shape == (1, 24, 40, 1)


def test_bad_configs_are_user_errors():
    with pytest.raises(UserError, match="unknown model 'vit'"):
        create_model("vit", (8, 8, 1))
    with pytest.raises(UserError, match="model 'conv' takes no parameter latent_dim"):
        create_model("conv", (8, 8, 1), {"latent_dim": 3})  # the dense model's, not conv's
    with pytest.raises(UserError, match="bad parameter latent_dim"):
        create_model("dense", (8, 8, 1), {"latent_dim": 0})
    with pytest.raises(UserError, match="multiples of 4"):
        create_model("conv", (10, 8, 1))


@pytest.mark.parametrize("fusion", ["pixels", "blocks"])
def test_a_recurrent_unet_starts_out_as_its_single_frame_model(fusion):
    """Either fusion design weighs the last output near 0 before training, per pixel."""
    recurrent = create_model("unet", (16, 24, 1), {"size": "tiny", "frames": 2,
                                                   "recurrent": True, "fusion": fusion})
    single = create_model("unet", (16, 24, 1), {"size": "tiny"})
    for layer in single.layers:
        if layer.weights:
            layer.set_weights(recurrent.get_layer(layer.name).get_weights())
    frame = np.random.default_rng(0).random((1, 16, 24, 1), np.float32)
    last = np.zeros_like(frame)
    out = np.asarray(recurrent(np.concatenate([last, frame], axis=-1)))
    alone = np.asarray(single(frame))
    assert out.shape == alone.shape == (1, 16, 24, 1)
    weight = (alone - out) / np.maximum(alone, 1e-6)  # out = alone + w * (0 - alone)
    assert 0 < np.median(weight[alone > 0.1]) < 0.1
