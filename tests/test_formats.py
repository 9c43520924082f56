"""Every registered model, converted by every exported format's converter, run by its engine.

Freshly built models (seeded, untrained): conversion is about operations, not weights. Each
float32 artifact must match Keras within the export's fp32 gate, except where a format is known
not to hold the model: then the converter refuses it (UnsupportedModel, naming what is missing).
The table of which models ncnn runs is asserted both ways, so a pnnx or
ncnn release that converts more shows up here.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeae.core.errors import UnsupportedModel
from edgeae.core.formats import FORMATS, exported_formats
from edgeae.export.artifacts import converter_class
from edgeae.export.options import ExportOptions, Tolerances
from edgeae.runtime.backends import choose_backend
from edgeae.train.models import create_model, list_models

GATE = Tolerances().fp32_max_abs_diff
# name -> (registered model, params, image shape for building); None sizes: any frame size
MODELS = {
    "conv": ("conv", {}, (28, 28, 1)),
    "dense": ("dense", {}, (16, 16, 1)),
    "unet gray": ("unet", {"size": "small"}, (32, 32, 1)),
    "unet gray full-resolution": ("unet", {"size": "medium"}, (32, 32, 1)),
    "unet colour": ("unet", {"size": "tiny"}, (32, 32, 3)),
    "unet 3 frames": ("unet", {"size": "tiny", "frames": 3}, (32, 32, 1)),
    "unet recurrent": ("unet", {"size": "tiny", "frames": 2, "recurrent": True}, (32, 32, 1)),
    "vae": ("vae", {}, (16, 16, 1)),
    "draem": ("draem", {"size": "tiny"}, (32, 32, 1)),
}
# What pnnx 20261020 + ncnn 1.0.20261020 do with each; every other format runs every model.
# The recurrent U-Net's input split ends in a Reshape that pnnx folds into ncnn's Reshape, but
# at times (tf2onnx names nodes by what ran before) it is left as `Tensor.reshape`; the
# converter then tries fresh conversions, and refuses the model in one line if all fail.
NCNN = {"conv": "refused", "dense": "runs", "unet gray": "runs",
        "unet gray full-resolution": "runs", "unet colour": "runs", "unet 3 frames": "runs",
        "unet recurrent": "runs or refused", "vae": "refused", "draem": "runs"}


def test_every_registered_model_is_covered():
    assert {spec[0] for spec in MODELS.values()} == set(list_models())


def _built(which: str) -> tuple:
    """The registered model, its export shape, two seeded inputs and Keras's outputs for them."""
    name, params, shape = MODELS[which]
    model = create_model(name, shape, params)
    fixed = model.input_shape[1] is not None
    input_shape = tuple(model.input_shape[1:]) if fixed else (None, None, model.input_shape[-1])
    size = model.input_shape[1:3] if fixed else (48, 64)  # not the traced size
    x = np.random.default_rng(0).random((2, *size, model.input_shape[-1]), dtype=np.float32)
    return model, input_shape, x, model.predict(x, verbose=0)


@pytest.mark.parametrize("fmt", exported_formats())
@pytest.mark.parametrize("which", MODELS)
def test_each_model_converts_and_runs_in_each_format(which, fmt, tmp_path):
    model, input_shape, x, expected = _built(which)
    converter = converter_class(fmt)(model, input_shape, ExportOptions())
    outcome = NCNN[which] if fmt == "ncnn" else "runs"
    try:
        if outcome == "refused":
            with pytest.raises(UnsupportedModel, match="ncnn has no .* layer"):
                converter.convert("fp32", None)
            return
        try:
            converted = converter.convert("fp32", None)
        except UnsupportedModel as exc:
            if outcome == "runs or refused" and "ncnn has no Tensor.reshape layer" in str(exc):
                return
            raise
        path = converted.write_to(tmp_path / f"model{FORMATS[fmt].suffix}")
    finally:
        converter.close()
    session = choose_backend(path).open(path, 1)
    diff = float(np.abs(np.asarray(session.run(x)) - expected).max())
    assert diff <= GATE, (which, fmt, diff)


@pytest.mark.parametrize("which", MODELS)
def test_each_model_quantizes_to_onnx_int8_with_bias_correction(which, caplog, tmp_path):
    """NNCF's full bias correction (`export --int8-bias-correction`) follows every model here.

    Where it cannot (test_export.py: a trained conv denoiser), onnxruntime's int8 is written.
    """
    from edgeae.export.onnx import OnnxConverter
    from edgeae.export.options import Calibration
    from edgeae.runtime.backends import OnnxSession

    model, input_shape, x, expected = _built(which)
    calibration = Calibration(np.random.default_rng(1).random((8, *x.shape[1:]), np.float32),
                              ranges="mean", bias_correction=True)
    converter = OnnxConverter(model, input_shape, ExportOptions())
    data = converter.convert("int8", calibration).data
    assert converter.describe(data, "int8")["bias_correction"] is True
    assert "bias correction failed" not in caplog.text
    (tmp_path / "model.onnx").write_bytes(data)
    output = np.asarray(OnnxSession(tmp_path / "model.onnx", 1).run(x))
    assert output.shape == np.asarray(expected).shape and np.isfinite(output).all()


def test_pixel_shuffle_is_the_same_rearrangement_as_before():
    """tf.nn.depth_to_space (what exports now) moves the pixels as the rank-6 reshape did, so
    the shipped U-Nets' weights give the same outputs in the rebuilt graph."""
    import keras

    from edgeae.train.models.unet import PixelShuffle

    x = np.random.default_rng(0).random((2, 5, 7, 12), dtype=np.float32)
    b, h, w, r, c = 2, 5, 7, 2, 3
    old = keras.ops.reshape(keras.ops.transpose(keras.ops.reshape(x, (b, h, w, r, r, c)),
                                                (0, 1, 3, 2, 4, 5)), (b, h * r, w * r, c))
    np.testing.assert_array_equal(np.asarray(PixelShuffle(r)(x)), np.asarray(old))


def test_shipped_live_rebuilt_in_todays_graph_matches_its_onnx_file():
    from pathlib import Path

    from edgeae.runtime.pretrained import PRETRAINED_DIR
    from edgeae.train.from_artifact import keras_from_onnx

    # keras_from_onnx rebuilds the U-Net with today's layers, loads the file's weights and
    # refuses a model that differs from the file by more than the tolerance on a probe
    model, _ = keras_from_onnx(Path(PRETRAINED_DIR / "live_fp32.onnx"), GATE)
    assert model.get_layer("noise").__class__.__name__ == "PixelShuffle"
