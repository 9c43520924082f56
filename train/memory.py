"""Whether one training step can fit in this machine's memory, asked before training starts.

A batch too large for memory does not fail cleanly: TensorFlow's oneDNN kernels abort with a
traceback, or the process is killed or crashes. So `train` compares a lower bound of one step's
memory (the batch's layer outputs, which the backward pass keeps) with the memory the system
has available, and refuses in one line what cannot fit.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from edgeae.core.errors import UserError
from edgeae.train.models.registry import activations_per_pixel

FLOAT_BYTES = 4
MEMINFO = Path("/proc/meminfo")


def available_memory_bytes() -> int | None:
    """The memory the system can give a new allocation (Linux MemAvailable); None elsewhere."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


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
        raise UserError(f"one batch ({images} of {h}x{w}) needs at least {_size(needed)} "
                        f"for the model's activations, and this machine has {_size(available)} "
                        "available: lower --batch-size or --image-size, or train on crops "
                        "(--patch-size)")


def _size(n_bytes: float) -> str:
    """'23.5 GiB', or '752 KiB' below a GiB."""
    if n_bytes >= 2 ** 30:
        return f"{n_bytes / 2 ** 30:.1f} GiB"
    return f"{n_bytes / 2 ** 10:.0f} KiB" if n_bytes < 2 ** 20 else f"{n_bytes / 2 ** 20:.0f} MiB"
