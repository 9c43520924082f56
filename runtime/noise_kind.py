"""Which kind of noise a frame holds: white (Gaussian-like) or a camera's correlated grain.

White noise puts as much energy at the finest scale as at the next: its Haar diagonal detail
keeps the same spread at scale 1 and (rescaled) at scale 2. A camera's noise went through
demosaicing, a tone curve and often JPEG or H.264, which spread each pixel's noise over its
neighbours, so it has less energy at the finest scale than at the next; so has a clean image's
texture. `scale_ratio` is the scale-2 spread over the scale-1 spread, each a median absolute
deviation (robust to edges): about 1 for strong white noise, 2 or more for a camera's frames
and for nearly clean ones. `CORRELATED_ABOVE` is the cut benchmarks/noise_gate.py chose on
Train400's held-out images (never Set12), by the rule BENCHMARKS.md gives.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeae.runtime.buffers import KeptArrays

CORRELATED_ABOVE = 1.9
# the least scale-1 spread counted, in 8-bit levels: an 8-bit frame's diagonal details come in
# halves of a level, and a flat frame's median one is 0
LEAST_SPREAD = 0.25
LEVELS = {np.dtype(np.uint8): 1.0, np.dtype(np.uint16): 255.0 / 65535.0}  # else float in [0, 1]
# a larger frame is measured on its middle of about this many pixels: a 12-megapixel photo's
# whole would take 0.2 GB of buffers, and a million pixels give the median to well under 1%
MEASURED_PIXELS = 1 << 20
# the kind's pixels (NoiseMeter `where`): the flattest FLAT_SHARE of the frame's blocks of
# BLOCK x BLOCK scale-1 details (32x32 pixels), or the whole frame under LEAST_BLOCKS blocks
WHERE = ("whole", "flat")
# the runtime's: "flat" sent a tenth of bright moving H.264 streams to the Gaussian model
# (BENCHMARKS.md, "The kind measured on the frame's flattest quarter")
KIND_MEASURED_ON = "whole"
BLOCK, FLAT_SHARE, LEAST_BLOCKS = 16, 0.25, 4


def middle(frame: np.ndarray, pixels: int = MEASURED_PIXELS) -> np.ndarray:
    """The frame's centred crop of about `pixels` pixels, in its aspect (a view); or the frame."""
    h, w = frame.shape[:2]
    if h * w <= pixels:
        return frame
    scale = (pixels / (h * w)) ** 0.5
    ch, cw = max(4, int(h * scale)), max(4, int(w * scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    return frame[top:top + ch, left:left + cw]


class NoiseMeter:
    """`scale_ratio` with its buffers kept: a stream's measured frames allocate nothing large.

    `where` says which pixels the spreads come from: "whole" (the frame) or "flat" (the
    quarter of its BLOCK-sized blocks with the least fine detail, where an image's own texture
    is least likely to pass for correlated noise; a frame of fewer than LEAST_BLOCKS blocks is
    measured whole).
    """

    def __init__(self, where: str = KIND_MEASURED_ON) -> None:
        if where not in WHERE:
            raise ValueError(f"where must be one of {WHERE}, not {where!r}")
        self._kept, self._where = KeptArrays(), where

    def ratio(self, frame: np.ndarray) -> float:
        """Scale-2 over scale-1 spread of the frame's gray: ~1 white noise, higher correlated.

        A frame under 4 pixels on a side has no scale 2 to measure: it counts as white (1.0).
        One over MEASURED_PIXELS is measured on its middle.
        """
        spreads = self.spreads(frame, self._where)
        return 1.0 if spreads is None else self.ratio_of(*spreads)

    @staticmethod
    def ratio_of(fine: float, coarse: float) -> float:
        """The ratio of two spreads `spreads` gives (a flat frame's fine one floored)."""
        return coarse / max(fine, LEAST_SPREAD)

    def spreads(self, frame: np.ndarray, where: str = "whole") -> tuple[float, float] | None:
        """(scale-1, scale-2) spreads of the frame's gray in 8-bit levels; None under 4 pixels.

        Scale 2's is doubled: the 2x2 mean halves white noise's spread, so doubled it matches
        scale 1's for white noise.
        """
        gray = self._gray_levels(middle(np.asarray(frame)))
        if min(gray.shape) < 4:
            return None
        fine, mean = self._haar(gray, "1")
        coarse, _ = self._haar(mean, "2")
        if where == "flat" and (flattest := self._flattest_blocks(fine)) is not None:
            fine, coarse = self._blocks(fine, coarse, flattest)
        return self._spread(fine), 2.0 * self._spread(coarse)

    def _flattest_blocks(self, fine: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(row, column) of the FLAT_SHARE of BLOCK-sized blocks with the least mean |detail|."""
        rows, cols = fine.shape[0] // BLOCK, fine.shape[1] // BLOCK
        if rows * cols < LEAST_BLOCKS:
            return None
        magnitude = np.abs(fine, out=self._kept("magnitude", fine.shape))
        starts = np.arange(0, rows * BLOCK, BLOCK)
        by_row = np.add.reduceat(magnitude[:rows * BLOCK], starts, axis=0)
        activity = np.add.reduceat(by_row[:, :cols * BLOCK], np.arange(0, cols * BLOCK, BLOCK),
                                   axis=1).ravel()
        count = max(1, int(activity.size * FLAT_SHARE))
        return np.divmod(np.argpartition(activity, count - 1)[:count], cols)

    def _blocks(self, fine: np.ndarray, coarse: np.ndarray,
                blocks: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The chosen blocks' scale-1 details and their scale-2 ones, each in a kept array."""
        half = BLOCK // 2
        rows, cols = blocks
        picked_fine = self._kept("flat1", (rows.size, BLOCK, BLOCK))
        picked_coarse = self._kept("flat2", (rows.size, half, half))
        for i, (r, c) in enumerate(zip(rows, cols)):
            picked_fine[i] = fine[r * BLOCK:(r + 1) * BLOCK, c * BLOCK:(c + 1) * BLOCK]
            picked_coarse[i] = coarse[r * half:(r + 1) * half, c * half:(c + 1) * half]
        return picked_fine, picked_coarse

    def _gray_levels(self, frame: np.ndarray) -> np.ndarray:
        """The frame (gray or BGR; uint8, uint16 or float in [0, 1]) as float32 0-255 gray."""
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[..., 0]
        levels = self._kept("levels", frame.shape)
        np.multiply(frame, LEVELS.get(frame.dtype, 255.0), out=levels, dtype=np.float32,
                    casting="unsafe")
        if frame.ndim == 2:
            return levels
        return cv2.cvtColor(levels, cv2.COLOR_BGR2GRAY, dst=self._kept("gray", frame.shape[:2]))

    def _haar(self, image: np.ndarray, level: str) -> tuple[np.ndarray, np.ndarray]:
        """One Haar level into kept arrays: the diagonal detail and the 2x2 mean.

        The detail is left at twice its orthonormal scale, which _spread halves.
        """
        h, w = image.shape[0] // 2, image.shape[1] // 2
        a, b = image[0:2 * h:2, 0:2 * w:2], image[0:2 * h:2, 1:2 * w:2]
        c, d = image[1:2 * h:2, 0:2 * w:2], image[1:2 * h:2, 1:2 * w:2]
        detail, mean = self._kept("detail" + level, (h, w)), self._kept("mean" + level, (h, w))
        np.subtract(a, b, out=detail)
        np.subtract(detail, c, out=detail)
        np.add(detail, d, out=detail)
        np.add(a, b, out=mean)
        np.add(mean, c, out=mean)
        np.add(mean, d, out=mean)
        np.multiply(mean, 0.25, out=mean)  # the mean at the next level's scale
        return detail, mean

    @staticmethod
    def _spread(detail: np.ndarray) -> float:
        """Median absolute value (of the Haar detail at its orthonormal scale), in place."""
        flat = np.abs(detail, out=detail).reshape(-1)
        middle = flat.size // 2
        flat.partition(middle)
        high = float(flat[middle])
        if flat.size % 2:
            return high / 2
        return (high + float(flat[:middle].max())) / 4


def scale_ratio(frame: np.ndarray) -> float:
    """NoiseMeter().ratio(frame): for one frame (a stream keeps a NoiseMeter)."""
    return NoiseMeter().ratio(frame)
