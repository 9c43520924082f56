"""Image features for nearest-neighbour anomaly scores: HOG in numpy, cosine k-NN distances.

Histograms of oriented gradients describe shape by the directions of edges, which is what tells
one garment or digit class from another better than raw pixels or a reconstruction error
(BENCHMARKS.md). This is scikit-image's `hog(..., block_norm="L2-Hys")` (a test checks they
agree), written with numpy alone so the runtime needs nothing more, and vectorised over a batch.
"""

from __future__ import annotations

import numpy as np

HOG_BLOCK = 2  # cells per block side
HOG_CLIP = 0.2  # L2-Hys clips normalised block values here, then normalises again
EPS = 1e-5


def hog_features(images: np.ndarray, cell: int = 4, orientations: int = 4) -> np.ndarray:
    """(N, D) float32 HOG descriptors of (N, H, W[, C]) images in [0, 1] (colour: its mean).

    Central-difference gradients; per cell of `cell` x `cell` pixels, the mean gradient
    magnitude in each of `orientations` unsigned direction bins; 2x2-cell blocks, L2-Hys
    normalised. The cells tile the image from its top-left corner; a remainder is ignored.
    """
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        x = x.mean(axis=3)
    n, h, w = x.shape
    rows, cols = h // cell, w // cell
    if rows < HOG_BLOCK or cols < HOG_BLOCK:
        raise ValueError(f"{h}x{w} images are too small for HOG cells of {cell} pixels")
    g_row = np.zeros_like(x)
    g_col = np.zeros_like(x)
    g_row[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    g_col[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    g_row, g_col = g_row.astype(np.float64), g_col.astype(np.float64)  # as scikit-image does
    magnitude = np.hypot(g_row, g_col)
    angle = np.rad2deg(np.arctan2(g_row, g_col)) % 180.0
    edges = np.arange(orientations) * (180.0 / orientations)
    bins = np.searchsorted(edges, angle, side="right") - 1
    cells = np.zeros((n, rows, cols, orientations))
    crop = (slice(None), slice(0, rows * cell), slice(0, cols * cell))
    for b in range(orientations):
        binned = np.where(bins[crop] == b, magnitude[crop], 0.0)
        cells[..., b] = binned.reshape(n, rows, cell, cols, cell).mean(axis=(2, 4))
    blocks = np.stack([cells[:, i:rows - HOG_BLOCK + 1 + i, j:cols - HOG_BLOCK + 1 + j]
                       for i in range(HOG_BLOCK) for j in range(HOG_BLOCK)], axis=3)
    blocks = blocks.reshape(n, rows - HOG_BLOCK + 1, cols - HOG_BLOCK + 1, -1)
    blocks = blocks / np.sqrt(np.square(blocks).sum(-1, keepdims=True) + EPS ** 2)
    blocks = np.minimum(blocks, HOG_CLIP)
    blocks = blocks / np.sqrt(np.square(blocks).sum(-1, keepdims=True) + EPS ** 2)
    return blocks.reshape(n, -1).astype(np.float32)


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, so a dot product is the cosine similarity."""
    features = np.asarray(features, np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def knn_distances(bank: np.ndarray, queries: np.ndarray, k: int, skip: int = 0) -> np.ndarray:
    """(N,) mean cosine distance of each unit-length query to its `k` nearest bank rows.

    The `skip` nearest are left out first (a query that is in the bank is its own nearest).
    """
    similarity = queries @ bank.T
    n = min(k + skip, len(bank))
    nearest = -np.partition(-similarity, n - 1, axis=1)[:, :n]
    if skip:
        nearest = -np.sort(-nearest, axis=1)[:, skip:]
    return (1.0 - nearest.mean(axis=1)).astype(np.float64)
