"""A detector's calibration at training time: its k-NN memory, score statistics and threshold.

Training scores the normal images it learned from (and the held-out ones) with the runtime's
own scoring, keeps their statistics in the manifest and sets the threshold by a strategy
(runtime/threshold.py), so every exported artifact and the device decide alike.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgeae.core.data import ImageSource
from edgeae.core.files import atomic_path
from edgeae.core.manifest import MEMORY_FILE, Manifest
from edgeae.runtime.batch import BATCH, scored
from edgeae.runtime.features import knn_distances
from edgeae.runtime.models import AnomalyScorer
from edgeae.runtime.scoring import combined_scores, descriptors
from edgeae.runtime.threshold import parse_threshold, resolve_threshold, score_stats

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = "mean+1std"  # the tutorial's


MAX_SCORED = 20_000  # training images scored for the statistics (a seeded random subset)


HOG_CELLS = 7  # a k-NN score's HOG cells across the shorter side, unless set (4 px for 28x28)


MIN_HOG_SIDE = 8  # smaller images (1 x L series rows) are scored by reconstruction alone


def score_source(scorer: AnomalyScorer, source: ImageSource, indices: np.ndarray) -> np.ndarray:
    """Anomaly scores of `source`'s images at `indices`."""
    return np.array([r.score for _, r, _ in scored(scorer, source, indices, "threshold")])


def calibrated(manifest: Manifest, scorer: AnomalyScorer, source: ImageSource,
               train_idx: np.ndarray, val_idx: np.ndarray, strategy: str, seed: int,
               out: Path) -> Manifest:
    """The manifest with the normal images' score statistics and the strategy's threshold.

    A k-NN score first gets its memory (the training images' descriptors, written to `out`)
    and the statistics that standardise its parts; training images are then scored without
    themselves as neighbours, as new images will be.
    """
    spec = parse_threshold(strategy)
    if len(train_idx) > MAX_SCORED:
        train_idx = np.sort(np.random.default_rng(seed).choice(train_idx, MAX_SCORED, False))
    if manifest.score.knn and (source.size is None or min(source.size) < MIN_HOG_SIDE):
        log.warning("%s: a k-NN score compares HOG descriptors of whole images of one size, at "
                    "least %d pixels a side (pass --image-size HxW for mixed sizes); scoring "
                    "by reconstruction only", source.name, MIN_HOG_SIDE)
        manifest = manifest.model_copy(
            update={"score": manifest.score.model_copy(update={"knn": 0})})
        scorer = AnomalyScorer(scorer.session, manifest)
    if manifest.score.knn:
        scorer, train_scores = with_memory(scorer, source, train_idx, out)
        manifest = scorer.manifest
    else:
        train_scores = score_source(scorer, source, train_idx)
    stats = score_stats(train_scores, score_source(scorer, source, val_idx))
    return manifest.model_copy(update={"score_stats": stats, "threshold_strategy": str(spec),
                                       "threshold": resolve_threshold(spec, stats)})


def with_memory(scorer: AnomalyScorer, source: ImageSource, train_idx: np.ndarray,
                out: Path) -> tuple[AnomalyScorer, np.ndarray]:
    """(scorer with its k-NN memory and `norm`, the training images' scores); memory.npy saved.

    Each training image is scored without itself as a neighbour, as new images will be. One
    pass over the images gives their descriptors (the memory) and reconstruction scores; their
    k-NN distances then come from the memory itself.
    """
    config = scorer.manifest.score
    cell = config.hog_cell or max(2, min(source.size) // HOG_CELLS)
    config = config.model_copy(update={"hog_cell": cell, "hog_size": source.size})
    plain = AnomalyScorer(scorer.session, scorer.manifest.model_copy(
        update={"score": config.model_copy(update={"knn": 0})}))
    features, reconstruction = [], []
    for start in range(0, len(train_idx), BATCH):
        images = source.read_batch(train_idx[start:start + BATCH])
        features.append(descriptors(images, config))
        reconstruction.append(plain.score_batch(images).score)
    memory = np.concatenate(features).astype(np.float16)  # half the file; distances barely move
    with atomic_path(out / MEMORY_FILE, overwrite=True) as tmp, open(tmp, "wb") as fh:
        np.save(fh, memory)
    bank = memory.astype(np.float32)
    knn = np.concatenate([knn_distances(bank, bank[i:i + BATCH], config.knn, skip=1)
                          for i in range(0, len(bank), BATCH)])
    reconstruction = np.concatenate(reconstruction)
    config = config.model_copy(update={"norm": (
        float(reconstruction.mean()), float(reconstruction.std()) or 1.0,
        float(knn.mean()), float(knn.std()) or 1.0)})
    manifest = scorer.manifest.model_copy(update={"score": config})
    return (AnomalyScorer(scorer.session, manifest, memory=bank),
            combined_scores(reconstruction, knn, config))

