"""Whether one training step can fit in this machine's memory, asked before training starts.

A batch too large for memory does not fail cleanly: TensorFlow's oneDNN kernels abort with a
traceback, or the process is killed or crashes. So `train` compares a lower bound of one step's
memory (the batch's layer outputs, which the backward pass keeps) with the memory the system
has available, and refuses in one line what cannot fit.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from edgeae.core.errors import UserError
from edgeae.core.memory import available_memory_bytes, size_text
from edgeae.train.models.registry import activations_per_pixel

FLOAT_BYTES = 4


def check_batch_fits(model: keras.Model, batch_size: int, image_hw: tuple[int, int],
                     replicas: int = 1) -> None:
    """A one-line UserError where one batch's layer outputs alone exceed the available memory.

    Each of `replicas` (a distribution strategy's) holds its share of the batch. On GPUs the
    activations live in their memory, which this does not measure, so it does not judge there.
    """
    available = available_memory_bytes()
    if available is None or tf.config.list_logical_devices("GPU"):
        return
    batch_size = -(-batch_size // replicas)
    needed = activations_per_pixel(model) * batch_size * image_hw[0] * image_hw[1] * FLOAT_BYTES
    if needed > available:
        h, w = image_hw
        images = f"{batch_size} image{'s' if batch_size > 1 else ''}"
        raise UserError(f"one batch ({images} of {h}x{w}) needs at least {size_text(needed)} "
                        f"for the model's activations, and this machine has {size_text(available)} "
                        "available: lower --batch-size or --image-size, or train on crops "
                        "(--patch-size)")
