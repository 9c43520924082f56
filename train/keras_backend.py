"""Keras as one more backend row: a model directory's Keras model behind the runtime's Session.

The runtime's model classes, the parity checks and the benchmark then treat the Keras model and
exported artifacts alike. Keras is imported only when a model is opened; importing this module
registers the "keras" row in the runtime's backend table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import edgeae.runtime as rt
from edgeae.core.errors import UserError, first_line
from edgeae.core.modeldir import MODEL_FILE, ModelDir
from edgeae.runtime.backends import Backend, register_backend
from edgeae.runtime.models import Reconstructor

if TYPE_CHECKING:
    import keras


class KerasSession:
    """A Keras model behind the runtime's Session interface."""

    def __init__(self, model) -> None:
        self.model = model

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one NHWC float32 batch."""
        return np.asarray(self.model(batch, training=False))


def load_keras(model_dir: ModelDir) -> keras.Model:
    """The directory's Keras model; a corrupt or foreign file is a UserError."""
    import keras

    path = model_dir.path / MODEL_FILE
    try:
        import edgeae.train.models  # noqa: F401  (registers custom layers)

        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise UserError(f"{path} is not a readable Keras model ({first_line(exc)}); "
                        "train it again") from None


def open_keras(path: Path, num_threads: int | None = None) -> KerasSession:
    """The Keras row's session opener: a model directory's model.keras (or the directory)."""
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    if num_threads:
        _set_threads(num_threads)
    return KerasSession(load_keras(ModelDir.open(folder)))


def _set_threads(n: int) -> None:
    """TensorFlow's thread pools, when it has not started yet (then they are fixed)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TensorFlow already initialised in this process
        pass


KERAS = register_backend(Backend(
    "keras", ("keras",), "keras", open_keras, lambda path: {},
    "pip install 'edgeae[train]' (the training environment)"))


def open_model(path: str | Path, backend: str | None = None, num_threads: int | None = None,
               use: str = "reconstruct") -> Reconstructor:
    """The runtime's object for `use` (reconstruct, denoise, score) on a model dir or artifact.

    A model directory (or its model.keras) runs its Keras model through the same pre- and
    post-processing; a detector's side arrays come along.
    """
    path = Path(path)
    if path.is_dir() or KERAS.runs(path):
        folder = path if path.is_dir() else path.parent
        model_dir = ModelDir.open(folder)
        return rt.model_for(use, KERAS.open(folder, num_threads), model_dir.manifest, folder)
    return rt.load(path, backend, num_threads, task=use)
