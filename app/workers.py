"""Processes that share a large archive: each opens the model once and takes work from a queue.

Used by `edgeae denoise --workers N` and `edgeae score --workers N`. Workers are spawned, not
forked, so none inherits the parent's interpreter threads or locks, and a worker needs no more
than what the model needs (the runtime and one backend for an exported file).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeae.app.logs import configure_logging, verbose_here
from edgeae.core.files import signals_held
from edgeae.runtime.backends import usable_cores
from edgeae.runtime.models import Reconstructor


@dataclass(frozen=True)
class ModelSpec:
    """What each worker opens: a model directory or artifact, for one use, on one backend."""

    path: Path
    backend: str | None = None
    threads: int | None = None
    use: str = "denoise"  # denoise, score or reconstruct (the runtime's model classes)
    threshold: float | None = None  # scoring: replaces the manifest's threshold
    score_size: tuple[int, int] | None = None  # scoring: --image-size, for the training size
    tile_pixels: int | None = None  # replaces the runtime's largest piece per model call
    colour_planes: str | None = None  # replaces a gray denoiser's way with colour frames
    pair: tuple[Path, ...] = ()  # camera models the frame's noise may choose instead (gated.py)

    def open(self) -> Reconstructor:
        """The runtime's object for this model (a model directory runs its Keras model)."""
        from edgeae.runtime.gated import paired
        from edgeae.train.keras_backend import open_model

        model = paired(lambda path: open_model(path, self.backend, self.threads, use=self.use),
                       self.path, self.pair)
        if self.threshold is not None:
            model.threshold = self.threshold
        if self.score_size is not None:
            model.score_size = self.score_size
        if self.tile_pixels is not None:
            model.tile_pixels = self.tile_pixels
        if self.colour_planes is not None:
            model.colour_planes = self.colour_planes
        return model


@contextlib.contextmanager
def process_pool(workers: int, spec: ModelSpec, initializer: Callable[..., None],
                 *initargs: Any) -> Iterator[ProcessPoolExecutor]:
    """`workers` spawned processes, each run `initializer(spec, *initargs)` once.

    Each logs as this process does. Without an explicit thread count the cores are shared out,
    instead of each worker's backend taking them all. Left by an error, Ctrl-C or SIGTERM, the
    work not yet started is cancelled: only what runs is waited for, not the whole archive.
    """
    if spec.threads is None:
        spec = replace(spec, threads=max(1, usable_cores() // workers))
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_logging_then, initargs=(verbose_here(), initializer,
                                                                    spec, *initargs))
    try:
        _start_ignoring_ctrl_c(pool, workers)
        yield pool
    except BaseException:
        with signals_held():  # a second Ctrl-C mid-shutdown had left the workers unjoinable
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    with signals_held():
        pool.shutdown(wait=True)


def _start_ignoring_ctrl_c(pool: ProcessPoolExecutor, workers: int) -> None:
    """Start the pool's processes with Ctrl-C ignored from their first instruction.

    A spawned process inherits an ignored signal (and Python then installs no handler of its
    own); ignored only once its initializer ran, a Ctrl-C during its seconds of imports printed
    a traceback. The pool spawns a process per submission while it has fewer than `workers`,
    and the parent ignores Ctrl-C only for those milliseconds.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for _ in range(workers):
            pool.submit(_nothing)
    finally:
        signal.signal(signal.SIGINT, previous)


def _nothing() -> None:
    """A task that only makes the pool start a process."""


def _logging_then(verbose: bool, initializer: Callable[..., None], *args: Any) -> None:
    """A spawned worker logs as the command does (its lines would be lost otherwise).

    Ctrl-C reaches every process of the terminal's group: the parent alone acts on it (it
    cancels what has not started), so a worker ignores it and finishes its chunk, where it
    had printed a traceback from its idle wait for work.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(verbose)
    initializer(*args)
