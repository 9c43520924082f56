"""Keras callbacks of edgeae's own, free of TensorFlow so any Keras backend can use them."""

from __future__ import annotations

import logging
import math
import time

import keras

log = logging.getLogger(__name__)


class TimeLimit(keras.callbacks.Callback):
    """Stop after the epoch that reaches `minutes` of training; the run then finishes normally."""

    def __init__(self, minutes: float) -> None:
        super().__init__()
        self.seconds = minutes * 60
        self.start = time.monotonic()
        # training seconds a resumed run had spent before it stopped: the budget counts them
        # (a resumed run had been given the whole budget again)
        self.spent_before = 0.0

    def on_train_begin(self, logs=None) -> None:  # noqa: D102 - a Keras hook
        self.start = time.monotonic()  # the budget is for training, not for building the model

    def elapsed_fraction(self) -> float:
        """Share of the time budget used so far, a resumed run's earlier epochs included."""
        return (self.spent_before + time.monotonic() - self.start) / self.seconds

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: D102 - a Keras hook
        if self.elapsed_fraction() >= 1.0:
            log.info("time limit of %g min reached after epoch %d", self.seconds / 60, epoch + 1)
            self.model.stop_training = True


class TimeCosineDecay(TimeLimit):
    """Cosine learning-rate decay over a time budget rather than a step count.

    A budget in minutes is what a lent machine gives, and its steps per second are unknown
    until it runs (and change when it is shared), so the rate follows the elapsed fraction of
    the time: `high` at the start, `low` when the time is up, then training stops.
    """

    def __init__(self, minutes: float, high: float, low: float) -> None:
        super().__init__(minutes)
        self.high, self.low = high, low

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # noqa: D102 - a Keras hook
        t = min(1.0, self.elapsed_fraction())
        rate = self.low + 0.5 * (self.high - self.low) * (1 + math.cos(math.pi * t))
        self.model.optimizer.learning_rate = rate  # as keras's LearningRateScheduler does


class KLWarmup(keras.callbacks.Callback):
    """Ramp a VAE's KL weight linearly from 0 to 1 over the first `epochs` epochs.

    Starting with little KL lets the decoder learn to use the code before the prior pulls the
    code towards noise (avoids posterior collapse).
    """

    def __init__(self, epochs: int, layer: str = "sampling") -> None:
        super().__init__()
        self.epochs, self.layer = epochs, layer

    def on_epoch_begin(self, epoch: int, logs=None) -> None:  # noqa: D102 - a Keras hook
        weight = min(1.0, epoch / self.epochs)
        self.model.get_layer(self.layer).kl_weight.assign(weight)
