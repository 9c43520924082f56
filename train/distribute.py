"""Which tf.distribute strategy a training run builds its model and optimizer under.

`--batch-size` is the global batch: a strategy splits each batch across its replicas and
averages their gradients, so the same settings give the same training on 1 or N devices (up to
floating-point order) and the learning rate needs no change. Raising the batch with the device
count is a choice left to the user (scale --learning-rate with it).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from edgeae.core.errors import UserError, first_line
from edgeae.train.settings import STRATEGY_NAMES


def local_devices() -> list[str]:
    """This machine's GPUs, else its (logical) CPUs: what `mirrored` replicates over."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [d.name for d in devices]


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for `name`; `auto` mirrors over several GPUs and uses the default otherwise."""
    if name not in STRATEGY_NAMES:
        raise UserError(f"unknown --strategy {name!r}; choose one of "
                        f"{', '.join(STRATEGY_NAMES)}")
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(local_devices()[0])
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(local_devices())
    if name == "multi-worker":
        return multi_worker_strategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()  # the default: no distribution


def multi_worker_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy from TF_CONFIG; a missing or bad TF_CONFIG is a user error."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--strategy multi-worker reads the cluster from the TF_CONFIG "
                        "environment variable, which is not set (README: Scaling up)")
    try:
        config = json.loads(raw)
        config["cluster"]["worker"], config["task"]["index"]  # noqa: B018 - presence check
    except (ValueError, KeyError, TypeError):
        raise UserError("TF_CONFIG must be JSON like {\"cluster\": {\"worker\": [\"host1:12345\", "
                        "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}"
                        ) from None
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except ValueError as exc:  # a task its cluster does not list ("chief", index 3 of 1)
        raise UserError(f"TF_CONFIG's task is not in its cluster ({first_line(exc)}); give "
                        "this machine's type and index among the cluster's") from None
