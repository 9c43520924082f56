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

from edgeae.runtime.buffers import KeptArrays

ColorOrder = Literal["bgr", "rgb"]  # the order of a colour frame's channels (OpenCV: BGR)
COLOR_ORDERS: tuple[ColorOrder, ...] = ("bgr", "rgb")
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
    """Y by the model; Cr and Cb by the fast guided filter along the denoised Y.

    Every array is a buffer kept for the frame's shape and type: after the first frame of a
    size, a frame allocates nothing here.
    """

    def __init__(self, shrink: int = CHROMA_SHRINK, radius: int = GUIDE_RADIUS,
                 eps: float = GUIDE_EPS) -> None:
        self.shrink, self.radius, self.eps = shrink, radius, eps
        self._buffer = KeptArrays()

    def denoise(self, frame: np.ndarray, color: ColorOrder, out: np.ndarray,
                planes: Planes) -> np.ndarray:
        """Y by the model, the chroma by the guided filter along it, back into `out`."""
        code = cv2.COLOR_BGR2YCrCb if color == "bgr" else cv2.COLOR_RGB2YCrCb
        ycc = cv2.cvtColor(frame, code, dst=self._buffer("ycc", frame.shape, frame.dtype))
        luma = planes(ycc[None, :, :, :1])[0, :, :, 0]
        white = levels(frame.dtype)
        chroma = [self._enlarged(channel, a, b, luma, white) for channel, (a, b)
                  in enumerate(self.small_chroma(ycc, luma, white), start=1)]
        cv2.merge([luma, *chroma], dst=ycc)
        back = cv2.COLOR_YCrCb2BGR if color == "bgr" else cv2.COLOR_YCrCb2RGB
        return cv2.cvtColor(ycc, back, dst=out)

    def small_chroma(self, ycc: np.ndarray, luma: np.ndarray,
                     white: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """The guided filter's (a, b) for Cr and Cb, at 1/shrink of the frame's size."""
        h, w = luma.shape
        size = (max(1, w // self.shrink), max(1, h // self.shrink))
        shape = (size[1], size[0])
        guide = self._in_units(cv2.resize(
            luma, size, dst=self._buffer("luma_small", shape, luma.dtype),
            interpolation=cv2.INTER_AREA), white, "guide")
        shrunk = cv2.resize(ycc, size, dst=self._buffer("ycc_small", (*shape, 3), ycc.dtype),
                            interpolation=cv2.INTER_AREA)
        mean_i = self._box(guide, "mean_i")  # the guide's window statistics, for both planes
        spread_i = self._box(np.multiply(guide, guide, out=self._buffer("work", shape)),
                             "spread_i")
        spread_i -= np.multiply(mean_i, mean_i, out=self._buffer("work", shape))
        spread_i += self.eps
        return [self.coefficients(guide, mean_i, spread_i, self.chroma_at_size(
            self._in_units(shrunk[..., c], white, f"chroma{c}")), f"{c}") for c in (1, 2)]

    def chroma_at_size(self, chroma: np.ndarray) -> np.ndarray:
        """The shrunk chroma plane the filter smooths (as it is: the model leaves it alone)."""
        return chroma

    def coefficients(self, guide: np.ndarray, mean_i: np.ndarray, spread_i: np.ndarray,
                     p: np.ndarray, plane: str = "") -> tuple[np.ndarray, np.ndarray]:
        """He et al.'s guided filter's mean a and b: p ~ a * guide + b in each window.

        `mean_i` and `spread_i` are the guide's window mean and variance plus eps; `plane`
        names the buffers the result is kept in.
        """
        work = self._buffer("work", p.shape)
        mean_p = self._box(p, "mean_p")
        a = self._box(np.multiply(guide, p, out=work), "a")
        a -= np.multiply(mean_i, mean_p, out=work)
        a /= spread_i
        b = np.subtract(mean_p, np.multiply(a, mean_i, out=work), out=work)
        return self._box(a, "mean_a" + plane), self._box(b, "mean_b" + plane)

    def _box(self, x: np.ndarray, name: str) -> np.ndarray:
        """The mean over each (2 r / shrink + 1)-wide window at the shrunk size, into `name`."""
        side = 2 * max(1, round(self.radius / self.shrink)) + 1
        return cv2.boxFilter(x, -1, (side, side), dst=self._buffer(name, x.shape))

    def _in_units(self, x: np.ndarray, white: float, name: str) -> np.ndarray:
        """`x` as float32 in [0, 1] pixel units, in the buffer `name`."""
        return np.multiply(x, np.float32(1 / white), out=self._buffer(name, x.shape),
                           casting="unsafe")

    def _enlarged(self, channel: int, a: np.ndarray, b: np.ndarray, luma: np.ndarray,
                  white: float) -> np.ndarray:
        """The chroma plane a * luma + b in the frame's type, a and b enlarged (bilinear)."""
        h, w = luma.shape
        spread = cv2.resize(a, (w, h), dst=self._buffer(f"spread{channel}", (h, w)),
                            interpolation=cv2.INTER_LINEAR)
        base = cv2.resize(b, (w, h), dst=self._buffer("base", (h, w)),
                          interpolation=cv2.INTER_LINEAR)
        np.multiply(spread, luma, out=spread)
        if luma.dtype != np.uint8:
            return cv2.scaleAdd(base, white, spread, dst=spread)
        # the sum rounded to the nearest level and saturated at 0 and 255, in one pass
        return cv2.addWeighted(spread, 1.0, base, white, 0.0, dtype=cv2.CV_8U,
                               dst=self._buffer(f"levels{channel}", (h, w), np.uint8))


COLOUR_WAYS: dict[str, type] = {"rgb": RgbPlanes, "opponent": Opponent,
                                "luma-chroma": LumaChroma}
# the way for a gray denoiser by the noise it learned (TrainingSummary.learned_noise), as the
# validation photos decided (BENCHMARKS.md); any other keeps plane by plane
WAY_FOR_NOISE = {"camera": "luma-chroma", "gaussian": "opponent"}
DEFAULT_WAY = "rgb"


def way_for_noise(learned: str | None) -> str:
    """The colour way for a gray denoiser that learned `learned` noise ("camera", ...)."""
    return WAY_FOR_NOISE.get(learned or "", DEFAULT_WAY)
