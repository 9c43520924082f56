"""A detector's calibration at training time: its memories, score statistics and threshold.

Training scores the normal images it learned from (and the held-out ones) with the runtime's
own scoring, keeps their statistics in the manifest and sets the threshold by a strategy
(runtime/threshold.py), so every exported artifact and the device decide alike.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgeae.core.data import ImageSource
from edgeae.core.errors import UserError
from edgeae.core.files import atomic_path
from edgeae.core.manifest import (
    MEMORY_FILE,
    PATCHES_FILE,
    Manifest,
    PatchMapConfig,
    ScoreConfig,
)
from edgeae.runtime.backends import Session
from edgeae.runtime.batch import BATCH, read_chunks, scored
from edgeae.runtime.features import greedy_coreset, knn_distances, patch_descriptors
from edgeae.runtime.models import AnomalyScorer
from edgeae.runtime.scoring import combined_scores, descriptors
from edgeae.runtime.threshold import parse_threshold, resolve_threshold, score_stats

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = "mean+1std"  # the tutorial's
# A mask predictor's (draem): its score is a probability whose spread on normal images is
# skewed, so mean+1std flagged 21-29% of normal validation crops; this one had the best F1 on
# the validation crops with pasted defects of two draem runs (benchmarks/draem.py)
MASK_THRESHOLD = "percentile:95"


MAX_SCORED = 20_000  # training images scored for the statistics (a seeded random subset)


HOG_CELLS = 7  # a k-NN score's HOG cells across the shorter side, unless set (4 px for 28x28)


MIN_HOG_SIDE = 8  # smaller images (1 x L series rows) are scored by reconstruction alone


PATCH_SAMPLES = 50_000  # training patches a patch memory's coreset is chosen from (at random)
PATCH_CHUNK = 8  # images described at once (a 256x256 image has ~4,000 patches of ~300 numbers)


def score_source(scorer: AnomalyScorer, source: ImageSource, indices: np.ndarray) -> np.ndarray:
    """Anomaly scores of `source`'s images at `indices`."""
    return np.array([r.score for _, r, _ in scored(scorer, source, indices, "threshold")])


def calibrated(manifest: Manifest, session: Session, source: ImageSource,
               train_idx: np.ndarray, val_idx: np.ndarray, strategy: str, seed: int,
               out: Path) -> Manifest:
    """The manifest with the normal images' score statistics and the strategy's threshold.

    Patch maps first get their memory of training patches, a k-NN score its memory (the
    training images' descriptors) and the statistics that standardise its parts, each written
    to `out`; training images are then scored without themselves in either memory, as new
    images will be.
    """
    spec = parse_threshold(strategy)
    if len(train_idx) > MAX_SCORED:
        train_idx = np.sort(np.random.default_rng(seed).choice(train_idx, MAX_SCORED, False))
    config = feasible_score(manifest.score, source, len(train_idx))
    manifest = manifest.model_copy(update={"score": config})
    patches, pooled = None, None
    if config.maps == "patch":
        patches = save_array(out / PATCHES_FILE, patch_memory(config.patch, source, train_idx,
                                                              seed))
        config = with_dims_used(config, patches.shape[1])
        manifest = manifest.model_copy(update={"score": config})
        if not config.knn or config.combine == "both":  # the score uses the map
            pooled = cross_fitted(manifest, session, source, train_idx, seed)
    scorer = AnomalyScorer(session, manifest, patches=patches)
    if config.knn:
        scorer, train_scores = with_memory(scorer, source, train_idx, out, pooled)
        manifest = scorer.manifest
    else:
        train_scores = pooled if pooled is not None else score_source(scorer, source, train_idx)
    stats = score_stats(train_scores, score_source(scorer, source, val_idx))
    return manifest.model_copy(update={"score_stats": stats, "threshold_strategy": str(spec),
                                       "threshold": resolve_threshold(spec, stats)})


def feasible_score(score: ScoreConfig, source: ImageSource,
                   n_scored: int | None = None) -> ScoreConfig:
    """The score configuration without the parts these images cannot have, each with a warning.

    A k-NN score needs one image size of at least MIN_HOG_SIDE pixels; patch maps need images
    of at least two cells a side (1 x L series rows have neither). Its k is at most the
    `n_scored` training images less one (each is scored without itself), so that the manifest
    records the k the training scores had and new images get.
    """
    smallest = source.size or source.smallest
    if score.maps == "patch" and smallest and min(smallest) < 2 * score.patch.cell:
        log.warning("%s: %dx%d images are smaller than a patch (2 cells of %d pixels); drawing "
                    "error maps instead", source.name, *smallest, score.patch.cell)
        score = score.model_copy(update={"maps": "error"})
    if score.knn and not knn_feasible(source):
        log.warning("%s: a k-NN score compares HOG descriptors of whole images of one size, at "
                    "least %d pixels a side (pass --image-size HxW for mixed sizes); scoring "
                    "by reconstruction only", source.name, MIN_HOG_SIDE)
        score = score.model_copy(update={"knn": 0})
    if n_scored is not None and score.knn >= n_scored > 1:
        log.warning("%s: --score-knn %d with %d training images; each is compared with the "
                    "other %d", source.name, score.knn, n_scored, n_scored - 1)
        score = score.model_copy(update={"knn": n_scored - 1})
    return score


def with_dims_used(score: ScoreConfig, width: int) -> ScoreConfig:
    """The score with patch dims 0 (every number) where it asks for all `width` or more.

    The memory compares on every number then anyway; the manifest says so rather than
    recording a count of axes the descriptors do not have (--patch-dims 5000).
    """
    if score.patch.dims < width:
        return score
    log.info("--patch-dims %d: the patch descriptors have %d numbers; comparing on all",
             score.patch.dims, width)
    return score.model_copy(update={"patch": score.patch.model_copy(update={"dims": 0})})


def knn_feasible(source: ImageSource) -> bool:
    """Whether a k-NN score can be had: one image size, at least MIN_HOG_SIDE a side."""
    return source.size is not None and min(source.size) >= MIN_HOG_SIDE


def check_fixed_threshold(strategy: str | None, score: ScoreConfig,
                          source: ImageSource) -> None:
    """Refuse, before training, a fixed threshold the score it will have cannot take.

    A negative one with no k-NN score (none asked, or none these images allow) had been
    written into a manifest that every later command then refused.
    """
    spec = parse_threshold(strategy) if strategy else None
    if spec is None or spec.kind != "fixed":
        return
    kept = score if knn_feasible(source) else score.model_copy(update={"knn": 0})
    problem = kept.threshold_problem(spec.value)
    if problem:
        raise UserError(f"--threshold {strategy}: {problem}")


def with_memory(scorer: AnomalyScorer, source: ImageSource, train_idx: np.ndarray,
                out: Path, pooled: np.ndarray | None = None) -> tuple[AnomalyScorer, np.ndarray]:
    """(scorer with its k-NN memory and `norm`, the training images' scores); memory.npy saved.

    Each training image is scored without itself as a neighbour, as new images will be. One
    pass over the images gives their descriptors (the memory) and reconstruction scores (or
    `pooled`, cross_fitted's map scores); their k-NN distances then come from the memory itself.
    """
    config = scorer.manifest.score
    cell = config.hog_cell or max(2, min(source.size) // HOG_CELLS)
    config = config.model_copy(update={"hog_cell": cell, "hog_size": source.size})
    plain = AnomalyScorer(scorer.session, scorer.manifest.model_copy(
        update={"score": config.model_copy(update={"knn": 0})}), patches=scorer.patches)
    features, reconstruction = [], []
    for start in range(0, len(train_idx), BATCH):
        images = source.read_batch(train_idx[start:start + BATCH])
        features.append(descriptors(images, config))
        if pooled is None:
            reconstruction.append(plain.score_batch(images).score)
    # float16: half the file; distances barely move
    bank = save_array(out / MEMORY_FILE, np.concatenate(features).astype(np.float16)).astype(
        np.float64)  # as the scorer holds it
    knn = np.concatenate([knn_distances(bank, bank[i:i + BATCH], config.knn, skip=1)
                          for i in range(0, len(bank), BATCH)])
    reconstruction = pooled if pooled is not None else np.concatenate(reconstruction)
    config = config.model_copy(update={"norm": (
        float(reconstruction.mean()), float(reconstruction.std()) or 1.0,
        float(knn.mean()), float(knn.std()) or 1.0)})
    manifest = scorer.manifest.model_copy(update={"score": config})
    return (AnomalyScorer(scorer.session, manifest, memory=bank, patches=scorer.patches),
            combined_scores(reconstruction, knn, config))


def save_array(path: Path, array: np.ndarray) -> np.ndarray:
    """Write `array` atomically as .npy (replacing a file of an earlier run); it as float32."""
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)
    return array.astype(np.float32)


def patch_memory(patch: PatchMapConfig, source: ImageSource, indices: np.ndarray,
                 seed: int) -> np.ndarray:
    """A patch map's memory of the images at `indices` (float16 rows).

    A seeded random PATCH_SAMPLES of their patch descriptors, cut to the configured bank size
    by greedy coreset selection, so rare normal patches stay in it.
    """
    rng = np.random.default_rng(seed)
    per_image = -(-PATCH_SAMPLES // len(indices))
    rows = []
    for _, images in read_chunks(source, indices, PATCH_CHUNK):
        described = patch_descriptors(images, patch.cell, patch.orientations, patch.context,
                                      patch.intensity)
        flat = described.reshape(-1, described.shape[-1])
        keep = min(len(flat), per_image * len(images))
        rows.append(flat[rng.choice(len(flat), keep, replace=False)])
    rows = np.concatenate(rows)
    log.info("patch memory: %d of %d patches sampled from %d images", min(patch.bank, len(rows)),
             len(rows), len(indices))
    return rows[greedy_coreset(rows, patch.bank, seed)].astype(np.float16)


def cross_fitted(manifest: Manifest, session: Session, source: ImageSource,
                 train_idx: np.ndarray, seed: int) -> np.ndarray:
    """The training images' pooled map scores, each from a patch memory built without it.

    A coreset keeps every sampled patch within reach of its memory, so a memory scores its own
    images low: thresholds set from such scores flagged 64% of new normal images (stripes,
    mean+1std). Each half of the images is scored by a memory of the other half instead, so
    their scores are those of unseen images (slightly higher: half the images' patches).
    """
    plain = manifest.model_copy(update={"score": manifest.score.model_copy(update={"knn": 0})})
    halves = np.array_split(np.random.default_rng(seed).permutation(len(train_idx)), 2)
    pooled = np.empty(len(train_idx))
    for mine, other in (halves, halves[::-1]):
        memory = patch_memory(manifest.score.patch, source, train_idx[np.sort(other)], seed)
        scorer = AnomalyScorer(session, plain, patches=memory.astype(np.float32))
        pooled[np.sort(mine)] = score_source(scorer, source, train_idx[np.sort(mine)])
    return pooled
