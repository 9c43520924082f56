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

CORRELATED_ABOVE = 1.9
# the least scale-1 spread counted, in 8-bit levels: an 8-bit frame's diagonal details come in
# halves of a level, and a flat frame's median one is 0
LEAST_SPREAD = 0.25


def _haar(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One level of the Haar transform: the diagonal detail and the 2x2 mean (orthonormal scale)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    a, b = image[0:h:2, 0:w:2], image[0:h:2, 1:w:2]
    c, d = image[1:h:2, 0:w:2], image[1:h:2, 1:w:2]
    return (a - b - c + d) / 2, (a + b + c + d) / 4


def _spread(detail: np.ndarray) -> float:
    """Median absolute value: the detail's spread, robust to the edges' few large values."""
    return float(np.median(np.abs(detail)))


def gray_levels(frame: np.ndarray) -> np.ndarray:
    """A frame (gray or BGR; uint8, uint16 or float in [0, 1]) as float32 gray 0-255 levels."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    scale = {np.dtype(np.uint8): 1.0, np.dtype(np.uint16): 255.0 / 65535.0}.get(frame.dtype, 255.0)
    gray = frame.astype(np.float32) * np.float32(scale)
    return cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY) if gray.ndim == 3 else gray


def scale_ratio(frame: np.ndarray) -> float:
    """Scale-2 over scale-1 spread of the frame's gray: ~1 white noise, higher correlated.

    A frame under 4 pixels on a side has no scale 2 to measure: it counts as white (1.0).
    """
    gray = gray_levels(frame)
    if min(gray.shape) < 4:
        return 1.0
    fine, mean = _haar(gray)
    coarse, _ = _haar(mean)
    # the 2x2 mean halves white noise's spread: doubled, scale 2 matches scale 1 for white noise
    return 2.0 * _spread(coarse) / max(_spread(fine), LEAST_SPREAD)


def looks_correlated(frame: np.ndarray, above: float = CORRELATED_ABOVE) -> bool:
    """True where the frame's noise is a camera's (or there is little): scale_ratio > `above`."""
    return scale_ratio(frame) > above
