"""A Keras model rebuilt from an exported float32 ONNX artifact, to fine-tune a shipped model.

The shipped denoisers are artifacts, not Keras files. Their manifest names the architecture and
its configuration, so the registered builder makes the same graph, and the ONNX initializers
fill its convolutions: tf2onnx names them after the Keras layers, `<model>/<layer>_1/convolution/
ReadVariableOp:0` for a kernel (OIHW) and `<model>/<layer>_1/Squeeze:0` (`Reshape:0` for one
channel) for its bias, where it has one. The rebuilt
model must reproduce the artifact's own outputs (run by onnxruntime) within a float tolerance,
so a renamed or reordered graph is an error, never a silently different model.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.manifest import Manifest
from edgeae.runtime.artifact import read_artifact_manifest
from edgeae.runtime.backends import OnnxSession
from edgeae.train.models import create_model


def _initializers(path: Path) -> dict[str, np.ndarray]:
    """Name -> array of every initializer in an ONNX file."""
    import onnx
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def _find(weights: dict[str, np.ndarray], layer: str, tail: str) -> np.ndarray:
    """The initializer of Keras layer `layer` whose name ends in `tail` (a regular expression)."""
    pattern = re.compile(rf"(^|/){re.escape(layer)}(_\d+)?/{tail}$")
    found = [array for name, array in weights.items() if pattern.search(name)]
    if len(found) != 1:
        raise UserError(f"cannot find layer {layer!r} in the ONNX file ({len(found)} matches); "
                        "adapt a model directory (--model) instead")
    return found[0]


def _load_convolutions(model: keras.Model, weights: dict[str, np.ndarray]) -> None:
    """Set every Conv2D of `model` from the ONNX initializers named after it."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = _find(weights, layer.name, r"convolution/ReadVariableOp:0")
            bias = [_find(weights, layer.name, r"(Squeeze|Reshape):0").reshape(-1)
                    ] if layer.use_bias else []
            layer.set_weights([np.transpose(kernel, (2, 3, 1, 0)), *bias])
        elif layer.weights:
            raise UserError(f"cannot rebuild layer {layer.name!r} ({type(layer).__name__}) from "
                            "an ONNX file; adapt a model directory (--model) instead")


def keras_from_onnx(path: Path, tolerance: float, seed: int = 0) -> tuple[keras.Model, Manifest]:
    """The Keras model behind a float32 ONNX artifact, checked against the artifact itself."""
    path = Path(path)
    manifest = read_artifact_manifest(path)
    if manifest.artifact is None or manifest.artifact.precision != "fp32":
        raise UserError(f"{path.name} is not a float32 artifact; a model is rebuilt only from "
                        "its fp32 ONNX file")
    m, c = manifest.input.size_multiple, manifest.input.channels
    model = create_model(manifest.architecture, (8 * m, 8 * m, c), manifest.params)
    _load_convolutions(model, _initializers(path))
    probe = np.random.default_rng(seed).random((1, 8 * m, 8 * m, manifest.input.model_channels),
                                               dtype=np.float32)
    expected = OnnxSession(path, None).run(probe)
    diff = float(np.abs(np.asarray(model(probe, training=False)) - expected).max())
    if diff > tolerance:
        raise UserError(f"the model rebuilt from {path.name} differs from it by {diff:.2e} "
                        f"(more than {tolerance:g}); adapt a model directory (--model) instead")
    return model, manifest
