"""Scoring many images: a source read in batches (one at a time when sizes differ)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from edgeae.core.data import ImageSource
from edgeae.core.progress import progress
from edgeae.runtime.models import AnomalyScorer, Score

BATCH = 64


def scored(scorer: AnomalyScorer, source: ImageSource, indices: np.ndarray | None = None,
           desc: str = "scoring") -> Iterator[tuple[int, Score, np.ndarray]]:
    """(index, Score, image) for each image (all, or `indices`).

    Batched when the sizes agree; the image comes along so callers need not read it again.
    """
    indices = np.arange(len(source)) if indices is None else np.asarray(indices)
    return progress(score_chunks(scorer, source, indices), total=len(indices), desc=desc,
                    unit="img")


def score_chunks(scorer: AnomalyScorer, source: ImageSource,
                 indices: np.ndarray) -> Iterator[tuple[int, Score, np.ndarray]]:
    """(index, Score, image) of `indices`, a batch (or one mixed-size image) at a time."""
    for chunk, batch in read_chunks(source, indices):
        yield from zip(chunk.tolist(), scorer.score_batch(batch).per_image(), batch)


def read_chunks(source: ImageSource, indices: np.ndarray,
                step: int = BATCH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, NHWC images) of `indices`, `step` at a time (one when sizes differ)."""
    step = step if source.size is not None else 1
    for start in range(0, len(indices), step):
        chunk = indices[start:start + step]
        yield chunk, (source.read_batch(chunk) if source.size is not None
                      else source.read(int(chunk[0]))[None])

