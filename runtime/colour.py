"""A gray denoiser on a colour frame: which gray planes it denoises, a table of ways.

`rgb` denoises R, G and B each as a gray image. That suits noise drawn independently in every
channel of every pixel, but a camera's colour noise is mostly chroma: demosaicing interpolates
red and blue from a quarter of the pixels and the colour correction mixes the channels, so each
plane carries strong blotchy noise, while the luminance (OpenCV's gray weights, the Y of YCrCb)
carries the gray camera noise a camera model learned. Colour denoisers built on gray ones work
in luminance-chrominance planes instead (CBM3D, Dabov et al. 2007):

- `opponent`: the planes (R+G+B)/3, (R-B)/2 and (R-2G+B)/4 (chroma offset to mid-gray), each
  denoised, then back. The rows are orthogonal, so noise independent in R, G and B stays
  independent, and most of the picture's structure goes to the first plane. For Gaussian noise.
- `luma-chroma`: Y denoised by the model at full size; the chroma (Cr, Cb) not by the model but
  by He and Sun's fast guided filter (2015): chroma and denoised Y shrunk CHROMA_SHRINK times
  (an area average, which whitens and weakens the chroma's noise), a guided filter there with
  the shrunk Y as the guide, its coefficients enlarged and applied to the full-size Y, so the
  chroma keeps the luminance's edges. One model call per frame instead of three. For a camera.

The choices (and each default) were made on validation photos: BENCHMARKS.md, "Colour frames
through a gray denoiser". Buffers are kept per frame shape and reused, as the runtime does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, Protocol

import cv2
import numpy as np

ColorOrder = Literal["bgr", "rgb"]  # the order of a colour frame's channels (OpenCV: BGR)
# a batch of gray planes (N, H, W, 1), uint8 or float in [0, 1] -> denoised, same shape and type
Planes = Callable[[np.ndarray], np.ndarray]

CHROMA_SHRINK = 4  # luma-chroma: the chroma's guided filter works at 1/4 of the frame's size
GUIDE_RADIUS = 8  # ... over a window of this radius in full-size pixels
GUIDE_EPS = 1e-3  # ... and this regularisation (in [0, 1] pixel units squared)


class ColourWay(Protocol):
    """One way of denoising a colour frame (H, W, 3) with a gray model's `planes`."""

    def denoise(self, frame: np.ndarray, color: ColorOrder, out: np.ndarray,
                planes: Planes) -> np.ndarray:
        """The denoised frame written into `out` (the frame's shape and type)."""
        ...


def levels(dtype: np.dtype) -> float:
    """The value of white: 255 for uint8 frames, 1 for float ones."""
    return 255.0 if dtype == np.uint8 else 1.0


class RgbPlanes:
    """Each colour plane denoised as a gray image on its own."""

    def denoise(self, frame: np.ndarray, color: ColorOrder, out: np.ndarray,
                planes: Planes) -> np.ndarray:
        """The three planes as one batch of gray images, back into `out`."""
        denoised = planes(frame.transpose(2, 0, 1)[..., None])
        np.copyto(out, denoised[..., 0].transpose(1, 2, 0))
        return out


@functools.lru_cache(maxsize=8)
def _opponent_matrices(color: ColorOrder, white: float) -> tuple[np.ndarray, np.ndarray]:
    """cv2.transform's 3x4 matrices from the frame's channels to opponent planes and back."""
    rgb = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]])
    forward = rgb[:, ::-1] if color == "bgr" else rgb
    offset = np.array([0.0, white / 2, white / 2])  # chroma centred on mid-gray
    inverse = np.linalg.inv(forward)
    to = np.hstack([forward, offset[:, None]])
    back = np.hstack([inverse, (-inverse @ offset)[:, None]])
    return to.astype(np.float32), back.astype(np.float32)


class Opponent:
    """The opponent planes, each denoised, then back to the frame's colours."""

    def __init__(self) -> None:
        self._planes: np.ndarray | None = None

    def denoise(self, frame: np.ndarray, color: ColorOrder, out: np.ndarray,
                planes: Planes) -> np.ndarray:
        """To the opponent planes (in the frame's type), each denoised, back into `out`."""
        to, back = _opponent_matrices(color, levels(frame.dtype))
        if self._planes is None or self._planes.shape != frame.shape \
                or self._planes.dtype != frame.dtype:
            self._planes = np.empty_like(frame)
        opponent = cv2.transform(frame, to, dst=self._planes)
        denoised = planes(opponent.transpose(2, 0, 1)[..., None])
        np.copyto(opponent, denoised[..., 0].transpose(1, 2, 0))
        return cv2.transform(opponent, back, dst=out)


class LumaChroma:
    """Y by the model; Cr and Cb by the fast guided filter along the denoised Y."""

    def __init__(self, shrink: int = CHROMA_SHRINK, radius: int = GUIDE_RADIUS,
                 eps: float = GUIDE_EPS) -> None:
        self.shrink, self.radius, self.eps = shrink, radius, eps
        self._ycc: np.ndarray | None = None
        self._spread: np.ndarray | None = None  # a full-size float plane: a, then the chroma
        self._base: np.ndarray | None = None  # ... b

    def denoise(self, frame: np.ndarray, color: ColorOrder, out: np.ndarray,
                planes: Planes) -> np.ndarray:
        """Y by the model, the chroma by the guided filter along it, back into `out`."""
        self._buffers(frame)
        code = cv2.COLOR_BGR2YCrCb if color == "bgr" else cv2.COLOR_RGB2YCrCb
        ycc = cv2.cvtColor(frame, code, dst=self._ycc)
        luma = planes(ycc[None, :, :, :1])[0, :, :, 0]
        white = levels(frame.dtype)
        small = self.small_chroma(ycc, luma, white)
        for channel, (a, b) in enumerate(small, start=1):
            self._enlarge_into(ycc[..., channel], a, b, luma, white)
        ycc[..., 0] = luma
        back = cv2.COLOR_YCrCb2BGR if color == "bgr" else cv2.COLOR_YCrCb2RGB
        return cv2.cvtColor(ycc, back, dst=out)

    def small_chroma(self, ycc: np.ndarray, luma: np.ndarray,
                     white: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """The guided filter's (a, b) for Cr and Cb, at 1/shrink of the frame's size."""
        h, w = luma.shape
        size = (max(1, w // self.shrink), max(1, h // self.shrink))
        guide = cv2.resize(luma, size, interpolation=cv2.INTER_AREA).astype(np.float32) / white
        chroma = cv2.resize(ycc, size, interpolation=cv2.INTER_AREA).astype(np.float32) / white
        mean_i = self._box(guide)  # the guide's window statistics, shared by both planes
        spread_i = self._box(guide * guide) - mean_i * mean_i + self.eps
        return [self.coefficients(guide, mean_i, spread_i, self.chroma_at_size(chroma[..., c]))
                for c in (1, 2)]

    def chroma_at_size(self, chroma: np.ndarray) -> np.ndarray:
        """The shrunk chroma plane the filter smooths (as it is: the model leaves it alone)."""
        return chroma

    def coefficients(self, guide: np.ndarray, mean_i: np.ndarray, spread_i: np.ndarray,
                     p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """He et al.'s guided filter's mean a and b: p ~ a * guide + b in each window.

        `mean_i` and `spread_i` are the guide's window mean and variance plus eps.
        """
        mean_p = self._box(p)
        a = (self._box(guide * p) - mean_i * mean_p) / spread_i
        return self._box(a), self._box(mean_p - a * mean_i)

    def _box(self, x: np.ndarray) -> np.ndarray:
        """The mean over each (2 r / shrink + 1)-wide window at the shrunk size."""
        side = 2 * max(1, round(self.radius / self.shrink)) + 1
        return cv2.boxFilter(x, -1, (side, side))

    def _enlarge_into(self, plane: np.ndarray, a: np.ndarray, b: np.ndarray,
                      luma: np.ndarray, white: float) -> None:
        """Write a * luma + b into `plane`, a and b enlarged (bilinear) to the frame's size."""
        h, w = luma.shape
        spread = cv2.resize(a, (w, h), dst=self._spread, interpolation=cv2.INTER_LINEAR)
        base = cv2.resize(b, (w, h), dst=self._base, interpolation=cv2.INTER_LINEAR)
        np.multiply(spread, luma, out=spread)
        cv2.scaleAdd(base, white, spread, dst=spread)
        if plane.dtype == np.uint8:
            np.rint(spread, out=spread)
            np.clip(spread, 0, 255, out=spread)
        np.copyto(plane, spread, casting="unsafe")

    def _buffers(self, frame: np.ndarray) -> None:
        """The full-size buffers, made again only when the frame's shape or type changes."""
        if self._ycc is None or self._ycc.shape != frame.shape or self._ycc.dtype != frame.dtype:
            self._ycc = np.empty_like(frame)
            self._spread = np.empty(frame.shape[:2], np.float32)
            self._base = np.empty(frame.shape[:2], np.float32)


COLOUR_WAYS: dict[str, type] = {"rgb": RgbPlanes, "opponent": Opponent,
                                "luma-chroma": LumaChroma}
# the way for a gray denoiser by the noise it learned (TrainingSummary.learned_noise), as the
# validation photos decided (BENCHMARKS.md); any other keeps plane by plane
WAY_FOR_NOISE = {"camera": "luma-chroma", "gaussian": "opponent"}
DEFAULT_WAY = "rgb"


def way_for_noise(learned: str | None) -> str:
    """The colour way for a gray denoiser that learned `learned` noise ("camera", ...)."""
    return WAY_FOR_NOISE.get(learned or "", DEFAULT_WAY)
