"""Run a model over frames of any size in overlapping tiles.

A fixed-size model (`TileBlender`): tiles overlap by an eighth of their size; each tile's output
is weighted by a window that ramps down across the overlap, and the weighted sum is divided by
the summed weights, so no seam is visible and every pixel is covered. A frame smaller than a
tile is padded by reflection, the way frames whose size is not a multiple of the model's are:
repeating the last noisy row makes stripes a denoiser takes for structure (about 2 dB lost on
481x321 photos), a mirror image does not.

A fully convolutional model on a frame too large to run at once (`TileStitcher`): tiles overlap
by twice the model's measured reach and each keeps only its middle, so the result is the whole
frame's while memory is bounded by the tile. Buffers are allocated once per frame shape and
reused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` overlapping by >= `overlap`."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def reflect_indices(length: int, padded: int) -> np.ndarray:
    """Source indices for positions `length..padded-1` mirrored about the last pixel (no repeat).

    Mirrors back and forth as often as needed, so a padding wider than the image is covered;
    an image one pixel long repeats its only pixel.
    """
    if length == 1:
        return np.zeros(padded - 1, np.intp)
    period = 2 * (length - 1)
    i = np.arange(length, padded) % period
    return np.where(i < length, i, period - i)


def fill_reflect_padding(x: np.ndarray, h: int, w: int) -> None:
    """Fill `x[:, h:]` and `x[:, :, w:]` (NHWC) in place by reflecting the image `x[:, :h, :w]`."""
    if x.shape[1] > h:
        x[:, h:, :w] = x[:, reflect_indices(h, x.shape[1]), :w]
    if x.shape[2] > w:
        x[:, :, w:] = x[:, :, reflect_indices(w, x.shape[2])]


def ramp(tile: int, overlap: int) -> np.ndarray:
    """1-D blending weights: rise over `overlap` pixels from each edge, 1 in the middle."""
    i = np.arange(tile, dtype=np.float32)
    return np.minimum(1.0, np.minimum(i + 1, tile - i) / (overlap + 1))


class TileBlender:
    """Runs `run(batch)` of a model with input size `size` over frames of any size."""

    def __init__(self, size: tuple[int, int], overlap_fraction: float = 0.125) -> None:
        self.size = size
        self.overlap = tuple(max(1, int(s * overlap_fraction)) for s in size)
        self._window = np.outer(ramp(size[0], self.overlap[0]),
                                ramp(size[1], self.overlap[1]))[None, :, :, None]
        self._shape: tuple[int, ...] | None = None

    def run(self, run: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
        """Blend the model's outputs over tiles of `x` (NHWC float32) into an NHWC result."""
        n, h, w, c = x.shape
        th, tw = self.size
        if self._shape != x.shape:
            self._prepare(x.shape)
        self._padded[:, :h, :w] = x
        fill_reflect_padding(self._padded, h, w)
        for k, (y0, x0) in enumerate(self._positions):
            self._tiles[k * n:(k + 1) * n] = self._padded[:, y0:y0 + th, x0:x0 + tw]
        out = run(self._tiles)
        if self._sum is None or self._sum.shape[-1] != out.shape[-1]:  # a temporal model's
            self._sum = np.empty((*self._padded.shape[:3], out.shape[-1]), np.float32)  # fewer
        self._sum.fill(0.0)
        for k, (y0, x0) in enumerate(self._positions):
            self._sum[:, y0:y0 + th, x0:x0 + tw] += out[k * n:(k + 1) * n] * self._window
        np.divide(self._sum, self._weights, out=self._sum)
        return self._sum[:, :h, :w]

    def _prepare(self, shape: tuple[int, ...]) -> None:
        """Allocate the padded frame, tile batch and weight sum for this shape."""
        n, h, w, c = shape
        th, tw = self.size
        ph, pw = max(h, th), max(w, tw)
        self._positions = [(y0, x0) for y0 in tile_starts(ph, th, self.overlap[0])
                           for x0 in tile_starts(pw, tw, self.overlap[1])]
        self._padded = np.empty((n, ph, pw, c), np.float32)
        self._tiles = np.empty((len(self._positions) * n, th, tw, c), np.float32)
        self._sum = None  # the output's channels are known once the model has run
        self._weights = np.zeros((1, ph, pw, 1), np.float32)
        for y0, x0 in self._positions:
            self._weights[:, y0:y0 + th, x0:x0 + tw] += self._window
        self._shape = shape


TILE_PIXELS = 4 * 2**20
"""Pixels, over the batch, a fully convolutional model runs in one call; larger frames are split.

A 12-megapixel colour photo through `live` (a batch of 3 planes) peaked at 4.9 GB whole with
LiteRT, 4.9-7.9 with onnxruntime (by CPU) and 2.5 with OpenVINO; in pieces of this size at
0.47-1.1 GB (BENCHMARKS.md, "Large photos").
"""


def receptive_margin(run: Callable[[np.ndarray], np.ndarray], channels: int, multiple: int,
                     values: tuple[float, float], limit: int = 1024) -> int | None:
    """How far (px) a change of one input pixel reaches in the model's output, with room to spare.

    Measured, not derived from the graph, so it holds for any backend and format: a random frame
    is run before and after one pixel is raised, on probes of 256 px and larger up to `limit`,
    and every output that changed at all counts.
    The reach is rounded up to `multiple` plus one more (the pooling grid moves it by a few
    pixels). None when it spans the largest probe (a model that sees the whole frame).
    """
    low, high = values
    rng = np.random.default_rng(0)
    side = -(-256 // multiple) * multiple
    while side <= limit:
        x = rng.uniform(0.2, 0.6, (1, side, side, channels)).astype(np.float32)
        x = low + (high - low) * x
        before = np.array(run(x), copy=True)
        centre = side // 2 // multiple * multiple
        x[0, centre, centre] += 0.3 * (high - low)
        changed = np.any(run(x) != before, axis=(0, 3))  # the engines are deterministic
        rows, cols = np.nonzero(changed)
        reach = int(max(np.abs(rows - centre).max(initial=0), np.abs(cols - centre).max(initial=0)))
        if reach < centre - multiple:
            return (-(-reach // multiple) + 1) * multiple
        side *= 2
    return None


def stitch_spans(length: int, longest: int, margin: int,
                 multiple: int) -> tuple[int, list[tuple[int, int, int]]]:
    """The tile length and (start, keep_from, keep_to) of each tile covering [0, length).

    As few tiles as fit in `longest`, sized to share the length evenly (on `multiple`); each
    keeps the middle of its overlap with the next, so what it keeps lies at least `margin` from
    any edge the frame does not have.
    """
    if length <= longest:
        return length, [(0, 0, length)]
    count = -(-(length - longest) // (longest - 2 * margin)) + 1
    tile = -(-(length + 2 * margin * (count - 1)) // (count * multiple)) * multiple
    starts = tile_starts(length, tile, 2 * margin)
    cuts = [0, *((a + tile + b) // 2 for a, b in zip(starts, starts[1:])), length]
    return tile, [(start, cuts[k], cuts[k + 1]) for k, start in enumerate(starts)]


class TileStitcher:
    """Runs a fully convolutional model over batches above `pixels`: batch items apart, then tiles.

    Tile corners sit on the model's size multiple, so its pooling grid is the whole frame's,
    and each tile keeps only what lies at least the model's reach from its cut edges: the output
    equals the whole frame's. The reach is measured on the first frame that needs tiles
    (`receptive_margin`); a model whose reach spans the probe runs each frame whole.
    """

    def __init__(self, multiple: int, values: tuple[float, float],
                 pixels: int = TILE_PIXELS) -> None:
        self.multiple = multiple
        self.values = values
        self.pixels = pixels
        self.margin: int | None = None
        self._measured = False
        self._shape: tuple[tuple[int, ...], int] | None = None
        self._out: np.ndarray | None = None

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether a batch of this NHWC shape runs in one call."""
        n, h, w, _ = shape
        return n * h * w <= self.pixels

    def pieces(self, run: Callable[[np.ndarray], np.ndarray],
               shape: tuple[int, ...]) -> tuple[tuple[int, int], list]:
        """The tile size and the pieces (items, (y0, keep_from, keep_to), (x0, ...)) of a batch.

        `shape` is the batch's NHWC shape with sides on the model's multiple; the model's reach
        is measured by `run` on the first batch whose images need tiles.
        """
        n, h, w, c = shape
        if h * w > self.pixels and not self._measured:
            self.margin = receptive_margin(run, c, self.multiple, self.values)
            self._measured = True
        if self._shape != (shape, self.pixels):
            self._plan(shape)
        return self._tile_size, self._pieces

    def run(self, run: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
        """The model's output for `x` (NHWC float32, sides multiples of the model's)."""
        n, h, w, c = x.shape
        if self.fits(x.shape):
            return run(x)
        (th, tw), pieces = self.pieces(run, x.shape)
        for items, (y0, ya, yb), (x0, xa, xb) in pieces:
            if self._tile is None:  # whole batch items: a contiguous view, no copy
                tile = x[items]
            else:
                tile = self._tile[:items.stop - items.start]
                np.copyto(tile, x[items, y0:y0 + th, x0:x0 + tw])
            out = run(tile)
            if self._out is None or self._out.shape != (n, h, w, out.shape[-1]):
                self._out = np.empty((n, h, w, out.shape[-1]), np.float32)
            self._out[items, ya:yb, xa:xb] = out[:, ya - y0:yb - y0, xa - x0:xb - x0]
        return self._out

    def _plan(self, shape: tuple[int, ...]) -> None:
        """Pieces for this batch shape: batch items together where they fit, else tiles."""
        n, h, w, c = shape
        batch = items_per_call(n, max(1, self.pixels // (h * w)))
        th, tw = h, w
        if h * w > self.pixels and self.margin is not None:  # tiles twice the reach or more
            m, margin = self.multiple, self.margin
            th = min(h, max(int(self.pixels ** 0.5) // m * m, 4 * margin))
            tw = min(w, max(self.pixels // th // m * m, 4 * margin))
            th, rows = stitch_spans(h, th, margin, m)
            tw, cols = stitch_spans(w, tw, margin, m)
        else:
            rows, cols = [(0, 0, h)], [(0, 0, w)]
        self._pieces = [(slice(i, min(i + batch, n)), r, q) for i in range(0, n, batch)
                        for r in rows for q in cols]
        self._tile_size = (th, tw)
        self._tile = None if (th, tw) == (h, w) else np.empty((batch, th, tw, c), np.float32)
        self._shape = (shape, self.pixels)


def items_per_call(n: int, most: int) -> int:
    """Batch items per call, at most `most`.

    A divisor of `n` if one is at least half of `most`, so every call has the same shape (an
    engine re-plans on a new one); else `most`, the last call taking what is left.
    """
    most = min(n, most)
    even = max(b for b in range(1, most + 1) if n % b == 0)
    return even if 2 * even >= most else most
