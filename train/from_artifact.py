"""A Keras model rebuilt from an exported float32 ONNX artifact, to fine-tune or re-export it.

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
from typing import TYPE_CHECKING

import keras
import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.images import cropped_to_multiple
from edgeae.core.manifest import Manifest
from edgeae.runtime.artifact import read_artifact_manifest
from edgeae.runtime.backends import OnnxSession
from edgeae.train.models import create_model

if TYPE_CHECKING:
    from edgeae.core.data import ImageSource
    from edgeae.core.modeldir import ModelDir


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
                        "start from its model directory instead")
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
                            "an ONNX file; start from its model directory instead")


def keras_from_onnx(path: Path, tolerance: float, seed: int = 0) -> tuple[keras.Model, Manifest]:
    """The Keras model behind a float32 ONNX artifact, checked against the artifact itself."""
    path = Path(path)
    manifest = read_artifact_manifest(path)
    if manifest.artifact is None or manifest.artifact.precision != "fp32":
        raise UserError(f"{path.name} is not a float32 artifact; a model is rebuilt only from "
                        "its fp32 ONNX file")
    m, c = manifest.input.size_multiple, manifest.input.channels
    h, w = manifest.input.fixed_size or (8 * m, 8 * m)  # an --input-size export takes no other
    model = create_model(manifest.architecture, (h, w, c), manifest.params)
    _load_convolutions(model, _initializers(path))
    probe = np.random.default_rng(seed).random((1, h, w, manifest.input.model_channels),
                                               dtype=np.float32)
    expected = OnnxSession(path, None).run(probe)
    diff = float(np.abs(np.asarray(model(probe, training=False)) - expected).max())
    if diff > tolerance:
        raise UserError(f"the model rebuilt from {path.name} differs from it by {diff:.2e} "
                        f"(more than {tolerance:g}); start from its model directory instead")
    return model, manifest


def model_dir_from_artifact(path: Path, source: ImageSource, out: Path, tolerance: float,
                            val_split: float = 0.1, seed: int = 0) -> ModelDir:
    """A model directory in `out` rebuilt from a float32 ONNX artifact, to export it again.

    An artifact keeps no training images, so `source` (--calibration's images, checked by
    core/calibration.stand_in_images) stands in for them: a seeded split (the one training
    makes) holds out `val_split` of its images, up to N_SAMPLES (fewer of large frames: 64 MiB),
    to check the new artifacts against the rebuilt model; the rest are the int8 calibration pool.
    The directory records the artifact's digest, which the new artifacts carry as their source.
    """
    from edgeae.core.calibration import CALIBRATION_FILE, calibration_count, covering_subset
    from edgeae.core.modeldir import MODEL_FILE, SAMPLES_FILE, ModelDir, write_manifest
    from edgeae.train.fit import CALIBRATION_POOL, N_SAMPLES
    from edgeae.train.pipeline import split_indices

    model, manifest = keras_from_onnx(path, tolerance, seed)
    train, val = split_indices(len(source), val_split, seed)
    shape = (*source.size, manifest.input.channels)
    n = calibration_count(shape)
    pool = np.random.default_rng(seed).permutation(train)[:CALIBRATION_POOL * n]
    out.mkdir(parents=True, exist_ok=True)
    fit = lambda images: cropped_to_multiple(images, manifest.input.size_multiple)  # noqa: E731
    np.save(out / SAMPLES_FILE, fit(source.read_batch(val[:calibration_count(shape, N_SAMPLES)])))
    np.save(out / CALIBRATION_FILE, fit(covering_subset(source.read_batch(np.sort(pool)), n)))
    model.save(out / MODEL_FILE)
    described = write_manifest(out, manifest.model_copy(update={"artifact": None}))
    return ModelDir(out, described, source_sha256=manifest.artifact.sha256)
