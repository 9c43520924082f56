"""Image features for nearest-neighbour anomaly scores: HOG in numpy, cosine k-NN distances.

Histograms of oriented gradients describe shape by the directions of edges, which is what tells
one garment or digit class from another better than raw pixels or a reconstruction error
(BENCHMARKS.md). This is scikit-image's `hog(..., block_norm="L2-Hys")` (a test checks they
agree), written with numpy alone so the runtime needs nothing more, and vectorised over a batch.
"""

from __future__ import annotations

import cv2
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
    blocks = hog_blocks(images, cell, orientations)
    return blocks.reshape(len(blocks), -1)


def hog_blocks(images: np.ndarray, cell: int = 4, orientations: int = 4) -> np.ndarray:
    """(N, R, C, 4 * orientations) float32: hog_features' blocks, kept at their locations.

    Block (r, c) covers pixels [r * cell, (r + 2) * cell) x [c * cell, (c + 2) * cell): the
    descriptor of one patch, which patch-level maps compare location by location.
    """
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        x = x.mean(axis=3)
    n, h, w = x.shape
    rows, cols = h // cell, w // cell
    if rows < HOG_BLOCK or cols < HOG_BLOCK:
        raise ValueError(f"{h}x{w} images are too small for HOG cells of {cell} pixels")
    cells = _cell_histograms(x, cell, orientations)
    blocks = np.stack([cells[:, i:rows - HOG_BLOCK + 1 + i, j:cols - HOG_BLOCK + 1 + j]
                       for i in range(HOG_BLOCK) for j in range(HOG_BLOCK)], axis=3)
    blocks = blocks.reshape(n, rows - HOG_BLOCK + 1, cols - HOG_BLOCK + 1, -1)
    blocks = blocks / np.sqrt(np.square(blocks).sum(-1, keepdims=True) + EPS ** 2)
    blocks = np.minimum(blocks, HOG_CLIP)
    blocks = blocks / np.sqrt(np.square(blocks).sum(-1, keepdims=True) + EPS ** 2)
    return blocks.astype(np.float32)


# gradients are taken on this grid of levels (16 bits): an 8-bit image, its 16-bit copy and the
# tutorial's x / 255. floats hold the same picture an ulp apart, which swung an edge's angle
# across a bin edge (45 degrees: HOG k-NN scores moved by up to 0.23)
GRADIENT_LEVELS = 65535.0


def _cell_histograms(x: np.ndarray, cell: int, orientations: int) -> np.ndarray:
    """(N, rows, cols, orientations) mean gradient magnitude per cell and direction bin."""
    n, h, w = x.shape
    rows, cols = h // cell, w // cell
    levels = np.rint(x.astype(np.float64) * GRADIENT_LEVELS)  # float64, as skimage
    g_row = np.zeros_like(levels)
    g_col = np.zeros_like(levels)
    g_row[:, 1:-1, :] = levels[:, 2:, :] - levels[:, :-2, :]  # whole levels: a straight edge's
    g_col[:, :, 1:-1] = levels[:, :, 2:] - levels[:, :, :-2]  # are exactly 0 or equal
    crop = (slice(None), slice(0, rows * cell), slice(0, cols * cell))
    g_row, g_col = g_row[crop] / GRADIENT_LEVELS, g_col[crop] / GRADIENT_LEVELS
    magnitude = np.hypot(g_row, g_col)
    angle = np.rad2deg(np.arctan2(g_row, g_col)) % 180.0
    edges = np.arange(orientations) * (180.0 / orientations)
    bins = np.searchsorted(edges, angle, side="right") - 1
    # one weighted count: every pixel adds its magnitude to its (image, cell, bin)
    cell_row = (np.arange(rows * cell) // cell)[:, None] * cols
    cell_col = (np.arange(cols * cell) // cell)[None, :]
    index = ((np.arange(n)[:, None, None] * rows * cols + cell_row + cell_col) * orientations
             + bins)
    sums = np.bincount(index.ravel(), magnitude.ravel(), n * rows * cols * orientations)
    return sums.reshape(n, rows, cols, orientations) / cell ** 2


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, so a dot product is the cosine similarity."""
    features = np.asarray(features, np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def knn_distances(bank: np.ndarray, queries: np.ndarray, k: int, skip: int = 0) -> np.ndarray:
    """(N,) mean cosine distance of each unit-length query to its `k` nearest bank rows.

    The `skip` nearest are left out first (a query that is in the bank is its own nearest).
    In float64 (pass a float64 bank to spare the copy): float32 products rounded differently
    by how many queries came at once, so `score --workers 2` wrote other digits than one worker.
    """
    similarity = np.asarray(queries, np.float64) @ np.asarray(bank, np.float64).T
    n = min(k + skip, len(bank))
    nearest = -np.partition(-similarity, n - 1, axis=1)[:, :n]
    if skip:
        nearest = -np.sort(-nearest, axis=1)[:, skip:]
    return (1.0 - nearest.mean(axis=1)).astype(np.float64)


def neighbourhood(blocks: np.ndarray, radius: int = 1, stride: int = 1) -> np.ndarray:
    """(N, R, C, (2 radius + 1)^2 D): each block with its neighbours', side by side.

    A block alone sees 2x2 cells; with its 3x3 neighbours (radius 1) it sees 4x4 and how the
    edges around it are arranged, which PatchCore found matters (it pools a 3x3 neighbourhood
    too). The image's border repeats its edge blocks. With `stride` s > 1 only every s-th block
    down and across is described (blocks 0, s, 2s...): R and C are then ceil(rows / s).
    """
    if radius == 0:
        return blocks[:, ::stride, ::stride]
    _, rows, cols, _ = blocks.shape
    side = 2 * radius + 1
    padded = np.pad(blocks, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
    return np.concatenate([padded[:, i:i + rows:stride, j:j + cols:stride]
                           for i in range(side) for j in range(side)], axis=-1)


def greedy_coreset(features: np.ndarray, size: int, seed: int = 0,
                   projection: int = 64) -> np.ndarray:
    """Indices of `size` rows chosen so every row is near one of them (PatchCore's coreset).

    Greedy k-center: start from a random row, then repeatedly take the row farthest (Euclidean)
    from everything chosen so far. A memory bank subsampled this way keeps the rare patches
    a random subsample would drop, so a normal but rare patch is not called a defect. Rows
    wider than `projection` are compared through a random projection to that many numbers, as
    PatchCore does, which keeps distances nearly (Johnson-Lindenstrauss) and the selection fast.
    """
    n = len(features)
    if size >= n:
        return np.arange(n)
    x = np.asarray(features, np.float32)
    rng = np.random.default_rng(seed)
    if x.shape[1] > projection:
        x = x @ (rng.standard_normal((x.shape[1], projection)).astype(np.float32)
                 / np.sqrt(projection))
    squares = np.square(x).sum(axis=1)
    chosen = np.empty(size, np.int64)
    chosen[0] = rng.integers(n)
    nearest = np.full(n, np.inf, np.float32)
    distance = np.empty(n, np.float32)
    for i in range(size):
        if i:
            chosen[i] = int(np.argmax(nearest))
        c = chosen[i]  # |x - c|^2 = |x|^2 + |c|^2 - 2 x.c: one matrix-vector product per pick
        np.matmul(x, -2.0 * x[c], out=distance)
        distance += squares + squares[c]
        np.minimum(nearest, distance, out=nearest)
    return chosen


def patch_descriptors(images: np.ndarray, cell: int, orientations: int, context: int,
                      intensity: float = 0.0, stride: int = 1) -> np.ndarray:
    """(N, R, C, D) float32 descriptors of every patch (every `stride`-th), as a memory holds them.

    A HOG block with its `context` neighbours' side by side, scaled to unit length, so that half
    the squared distance between two descriptors is their cosine distance. HOG is blind to
    brightness (each block is normalised), so a flat stain or a blob of the wrong grey looks
    normal to it: `intensity` > 0 appends the pixel mean and standard deviation of the same
    blocks, times that weight, which then adds to that distance as a squared difference.
    """
    hog = neighbourhood(hog_blocks(images, cell, orientations), context, stride)
    hog = unit_rows(hog.reshape(-1, hog.shape[-1])).reshape(hog.shape)
    if not intensity:
        return hog
    stats = neighbourhood(block_intensity(images, cell), context, stride)
    return np.concatenate([hog, intensity * stats], axis=-1)


def block_intensity(images: np.ndarray, cell: int) -> np.ndarray:
    """(N, R, C, 2) float32 pixel mean and standard deviation over each HOG block's pixels."""
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        x = x.mean(axis=3)
    n, h, w = x.shape
    rows, cols = h // cell, w // cell
    cropped = x[:, :rows * cell, :cols * cell].reshape(n, rows, cell, cols, cell)
    cells = np.stack([cropped.mean(axis=(2, 4)), np.square(cropped).mean(axis=(2, 4))], -1)
    blocks = sum(cells[:, i:rows - HOG_BLOCK + 1 + i, j:cols - HOG_BLOCK + 1 + j]
                 for i in range(HOG_BLOCK) for j in range(HOG_BLOCK)) / HOG_BLOCK ** 2
    std = np.sqrt(np.maximum(blocks[..., 1] - np.square(blocks[..., 0]), 0.0))
    return np.stack([blocks[..., 0], std], axis=-1).astype(np.float32)


class PatchMemory:
    """A patch memory ready to search, on its rows' first `dims` principal axes (0: all).

    The axes come from the memory itself (its covariance's leading eigenvectors, in float64),
    so an artifact needs no file more; distances depend only on the subspace they span, not on
    their signs or order, so machines whose rounding differs still agree. On them the
    nearest-patch search costs dims / D of the full one, and it ignores the descriptors'
    lowest-variance directions.
    """

    def __init__(self, bank: np.ndarray, dims: int = 0) -> None:
        bank = np.asarray(bank, np.float32)
        self.mean: np.ndarray | None = None
        self.axes: np.ndarray | None = None
        if 0 < dims < bank.shape[1]:
            mean = bank.mean(axis=0, dtype=np.float64)
            centred = bank.astype(np.float64) - mean
            _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
            self.mean = mean.astype(np.float32)
            self.axes = np.ascontiguousarray(vectors[:, ::-1][:, :dims], np.float32)
        self.rows = self.projected(bank)
        # q.b - |b|^2 / 2 in one product: each row with -|b|^2 / 2 appended, a query with 1
        self._search = np.ascontiguousarray(np.concatenate(
            [self.rows, -0.5 * np.square(self.rows).sum(axis=1, keepdims=True)], axis=1).T)

    def projected(self, descriptors: np.ndarray) -> np.ndarray:
        """Descriptors (..., D) as this memory compares them: (..., dims)."""
        return descriptors if self.axes is None else (descriptors - self.mean) @ self.axes

    def distances(self, descriptors: np.ndarray) -> np.ndarray:
        """(N, R, C) distance of each (N, R, C, D) descriptor to its nearest memory row.

        Half the squared Euclidean distance, |q|^2 / 2 + min over b of (|b|^2 / 2 - q.b), in
        chunks of queries whose similarities stay in the CPU's cache whatever the memory's size.
        For unit-length rows (HOG alone, all axes) it is the cosine distance.
        """
        queries = self.projected(descriptors)
        n, rows, cols, d = queries.shape
        queries = queries.reshape(-1, d)
        extended = np.empty((min(len(queries), self.chunk), d + 1), np.float32)
        extended[:, d] = 1.0
        out = np.empty(len(queries), np.float32)
        for start in range(0, len(queries), self.chunk):
            q = queries[start:start + self.chunk]
            extended[:len(q), :d] = q
            nearest = (extended[:len(q)] @ self._search).max(axis=1)
            out[start:start + len(q)] = 0.5 * np.square(q).sum(axis=1) - nearest
        return np.maximum(out, 0.0).reshape(n, rows, cols)

    @property
    def chunk(self) -> int:
        """Queries per product: SIMILARITY_BLOCK similarities at most."""
        return max(1, SIMILARITY_BLOCK // self._search.shape[1])


SIMILARITY_BLOCK = 1 << 18  # numbers in one chunk's similarities (1 MB of float32: cache-sized)


def patch_distances(bank: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    """(N, R, C) distance of each location's descriptor to its nearest row of `bank`.

    PatchMemory(bank).distances: every number of the descriptors. `bank` holds training
    patch_descriptors from any location.
    """
    return PatchMemory(bank).distances(descriptors)


def pixel_map(distances: np.ndarray, cell: int, shape: tuple[int, int],
              smooth: float = 0.0, stride: int = 1) -> np.ndarray:
    """(N, H, W) float32 maps from patch_distances' (N, R, C) block distances.

    Distances of every `stride`-th block are first spread to every block, bilinearly. A cell
    takes the mean of the (up to four) blocks that cover it; cells are resized bilinearly to
    pixels, the right and bottom remainder repeats the edge, and a Gaussian of `smooth` pixels
    softens the blocks' grid.
    """
    if stride > 1:
        distances = every_block(distances, stride, (shape[0] // cell - HOG_BLOCK + 1,
                                                    shape[1] // cell - HOG_BLOCK + 1))
    padded = np.pad(distances, ((0, 0), (1, 1), (1, 1)), mode="edge")
    cells = (padded[:, :-1, :-1] + padded[:, 1:, :-1] + padded[:, :-1, 1:] + padded[:, 1:, 1:]) / 4
    n, rows, cols = cells.shape
    h, w = shape
    out = np.empty((n, h, w), np.float32)
    for i in range(n):
        up = cv2.resize(cells[i], (cols * cell, rows * cell), interpolation=cv2.INTER_LINEAR)
        up = cv2.copyMakeBorder(up, 0, max(0, h - up.shape[0]), 0, max(0, w - up.shape[1]),
                                cv2.BORDER_REPLICATE)[:h, :w]
        out[i] = cv2.GaussianBlur(up, (0, 0), smooth) if smooth > 0 else up
    return out


def every_block(distances: np.ndarray, stride: int, grid: tuple[int, int]) -> np.ndarray:
    """(N, rows, cols) from the distances of blocks 0, s, 2s... : linear between them.

    Block r of the grid lies at r / s between the described ones; past the last described
    block the edge repeats. Separable, as two small matrix products.
    """
    down = _linear_weights(grid[0], distances.shape[1], stride)
    across = _linear_weights(grid[1], distances.shape[2], stride)
    return (down @ np.asarray(distances, np.float32) @ across.T).astype(np.float32)


def _linear_weights(size: int, described: int, stride: int) -> np.ndarray:
    """(size, described) weights taking values at 0, s, 2s... linearly to 0, 1, 2..."""
    position = np.minimum(np.arange(size) / stride, described - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, described - 1)
    weights = np.zeros((size, described), np.float32)
    np.add.at(weights, (np.arange(size), below), 1 - (position - below))
    np.add.at(weights, (np.arange(size), above), position - below)
    return weights
