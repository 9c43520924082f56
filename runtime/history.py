"""The frames a temporal model sees: the current one and the K - 1 before it, on the channel axis.

A temporal denoiser's input is K consecutive frames stacked on the channel axis, oldest first,
the current frame last; its output restores the current frame. A recurrent one takes two: its
own last output, moved with the scene (`RecurrentHistory`), and the frame.

`StillFrames` gives a model a still image as K copies of itself, which is what the model
learned for a run's first frame and after a scene cut, so a still comes out as a single-frame
model would make it. `FrameHistory` keeps
the frames before in one preallocated buffer (shifted in place, nothing allocated per frame) and
starts again from copies of the current frame when the source reconnects, when `reset()` is
called, when the frame's size changes, and at a scene cut.

A scene cut is found on copies of the frames shrunk to about THUMB_SIDE pixels across (which
averages the noise away): a cut changes both the pixels (mean absolute difference above
CUT_DIFFERENCE) and their histogram (Bhattacharyya distance above CUT_HISTOGRAM), while a camera
panning over texture changes the pixels but not the histogram, and flicker the histogram a
little but the pixels little. Chosen on scikit-image's photos (none of Train400 or Set12), sigma
25 noise, frames of 64x48 to 320x240, panning at 1.5 and 4 pixels a frame with an object moving,
against cuts between every pair of photos: no pan of 305 was taken for a cut, 83% of 330 cuts
were found. A cut that is missed is left to the model, which learned to ignore frames that do
not match.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

THUMB_SIDE = 64  # the scene-cut test compares frames shrunk to about this many pixels across
CUT_DIFFERENCE = 0.05  # mean absolute difference of the shrunk frames, in [0, 1] pixels
CUT_HISTOGRAM = 0.3  # Bhattacharyya distance of their 32-bin histograms
HISTOGRAM_BINS = 32


class StillFrames:
    """Each input as its own still: K copies of it, in a buffer reused while the shape holds."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self._stacked: np.ndarray | None = None

    def stack(self, x: np.ndarray) -> np.ndarray:
        """The (N, H, W, K * C) model input of a normalised (N, H, W, C) batch."""
        n, h, w, c = x.shape
        if self._stacked is None or self._stacked.shape != (n, h, w, self.frames * c):
            self._stacked = np.empty((n, h, w, self.frames * c), np.float32)
        for k in range(self.frames):
            self._stacked[..., k * c:(k + 1) * c] = x
        return self._stacked

    def reset(self) -> None:
        """Nothing to forget: every input is a still."""

    def remember(self, y: np.ndarray) -> None:
        """Nothing to keep: only a recurrent model's history keeps its output."""


class FrameHistory(StillFrames):
    """The last K frames of a stream; starts again at a reconnect, a scene cut or `reset()`."""

    def __init__(self, frames: int, value_range: tuple[float, float] = (0.0, 1.0),
                 find_cuts: bool = True) -> None:
        super().__init__(frames)
        self.value_range, self.find_cuts = value_range, find_cuts
        self.cuts = 0  # scene cuts found (resets asked for are not counted)
        self._thumbs: list[np.ndarray] | None = None  # this frame's and the last one's small copies
        self._compared = False  # whether the last frame's copy is there to compare with
        self._fresh = True

    def reset(self) -> None:
        """Forget the frames before: the next frame starts the history again."""
        self._fresh = True

    def stack(self, x: np.ndarray) -> np.ndarray:
        """Push the normalised (N, H, W, C) frame; the (N, H, W, K * C) model input."""
        n, h, w, c = x.shape
        kept = self._stacked is not None and self._stacked.shape == (n, h, w, self.frames * c)
        if self._starts_again(x, kept):
            return super().stack(x)
        s = self._stacked
        for k in range(self.frames - 1):  # oldest out: each slot takes the next one's frame
            s[..., k * c:(k + 1) * c] = s[..., (k + 1) * c:(k + 2) * c]
        s[..., -c:] = x
        return s

    def _starts_again(self, x: np.ndarray, kept: bool) -> bool:
        """Whether this frame starts the history: nothing `kept` for its shape, a reset or a cut."""
        if self._is_cut(x):
            self.cuts += 1
            self._fresh = True
        fresh, self._fresh = self._fresh or not kept, False
        return fresh

    def _is_cut(self, x: np.ndarray) -> bool:
        """Whether the scene changed since the last frame (never said right after a reset)."""
        if not self.find_cuts:
            return False
        plane = x[0, :, :, 0]
        step = max(1, max(plane.shape) // THUMB_SIDE)
        size = (max(1, plane.shape[1] // step), max(1, plane.shape[0] // step))
        if self._thumbs is None or self._thumbs[0].shape != size[::-1]:
            self._thumbs = [np.zeros(size[::-1], np.float32) for _ in range(2)]
            self._compared = False
        current, last = self._thumbs
        cv2.resize(plane, size, dst=current, interpolation=cv2.INTER_AREA)
        self._thumbs.reverse()  # this frame's copy is the last one for the next frame
        cut = self._compared and not self._fresh and self._differ(current, last)
        self._compared = True
        return cut

    def _differ(self, current: np.ndarray, last: np.ndarray) -> bool:
        """Both tests of a cut: the pixels and their histogram changed."""
        lo, hi = self.value_range
        if cv2.norm(current, last, cv2.NORM_L1) / current.size <= CUT_DIFFERENCE * (hi - lo):
            return False
        hists = [cv2.calcHist([t], [0], None, [HISTOGRAM_BINS], [lo, hi]) for t in (current, last)]
        for h in hists:
            h /= max(float(h.sum()), 1.0)
        return cv2.compareHist(*hists, cv2.HISTCMP_BHATTACHARYYA) > CUT_HISTOGRAM


ALIGN_SIDE = 160  # the global motion is measured on frames shrunk to about this many pixels
MIN_RESPONSE = 0.05  # a phase-correlation peak weaker than this is no shift (flat or cut scene)


def global_shift(last: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """The (dx, dy) by which the scene moved from `last` to `current` (2-D float32 planes).

    Phase correlation (cv2.phaseCorrelate, Hann-windowed) of copies shrunk to about ALIGN_SIDE
    pixels across, which averages the noise away and keeps it under a millisecond at 480x640;
    a camera's pan is found to a fraction of a pixel. A weak peak gives (0, 0).
    """
    return shift_between(shrunk(last), shrunk(current), last.shape)


def shrunk(plane: np.ndarray) -> np.ndarray:
    """A 2-D plane shrunk (area average) to about ALIGN_SIDE pixels across, at least 8.

    Each side is one phaseCorrelate pads to an even length (_even_dft_side): where OpenCV padded
    a side to an odd length, identical frames measured half a pixel apart, which the shrink step
    made 4-5 px a frame at a Pi camera's 1296x972 and most of `live-video`'s gain was lost.
    """
    step = max(1, max(plane.shape) // ALIGN_SIDE)
    size = (_even_dft_side(plane.shape[1] // step), _even_dft_side(plane.shape[0] // step))
    return cv2.resize(plane, size, interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=64)
def _even_dft_side(n: int) -> int:
    """The largest side up to `n` (at least 8) that OpenCV's DFT pads to an even length.

    Sides it pads evenly are kept as they were: their shifts, and the benchmarks, are unchanged.
    """
    while n > 8 and cv2.getOptimalDFTSize(n) % 2:
        n -= 1
    return 8 if n < 8 else n


def shift_between(last: np.ndarray, current: np.ndarray,
                  shape: tuple[int, ...]) -> tuple[float, float]:
    """global_shift from two `shrunk` planes, in pixels of the full (H, W) `shape`."""
    h, w = last.shape
    (dx, dy), response = cv2.phaseCorrelate(last, current, _hann(w, h))
    if response < MIN_RESPONSE:
        return 0.0, 0.0
    return dx * shape[1] / w, dy * shape[0] / h


@functools.lru_cache(maxsize=4)
def _hann(w: int, h: int) -> np.ndarray:
    """The phase correlation's window, made once per size."""
    return cv2.createHanningWindow((w, h), cv2.CV_32F)


CORNERS = 100  # corners of the last shrunk frame followed into this one
LK_WINDOW, LK_LEVELS = (15, 15), 2  # Lucas-Kanade's window (shrunk pixels) and pyramid levels
MIN_POINTS = 12  # fewer corners followed, or agreeing, than this: the phase correlation's shift
RANSAC_PX = 0.7  # a corner off the fitted motion by more than this (shrunk pixels) is left out


def global_motion(last: np.ndarray, current: np.ndarray, shape: tuple[int, ...],
                  value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """The 2x3 similarity (shift, turn, zoom) from `last` to `current`, two `shrunk` planes.

    In pixels of the full (H, W) `shape`. Corners of the last plane (cv2.goodFeaturesToTrack)
    are followed into the current one by pyramidal Lucas-Kanade (cv2.calcOpticalFlowPyrLK), and
    a turn, zoom and shift fitted to them by RANSAC (cv2.estimateAffinePartial2D), which leaves
    out corners on objects moving on their own. Too few corners found or agreeing (a flat
    scene): the phase correlation's shift. The current plane is brought to the last one's
    brightness first (brightness_gain): Lucas-Kanade takes a fade for motion.
    """
    gain = brightness_gain(last, current, value_range)
    fitted = _similarity(_as_bytes(last, value_range), _as_bytes(current, value_range, gain))
    if fitted is None:
        return shift_motion(last, current, shape)
    h, w = last.shape
    to_small = np.diag([w / shape[1], h / shape[0], 1.0])
    return (np.linalg.inv(to_small) @ np.vstack([fitted, [0, 0, 1]]) @ to_small)[:2] \
        .astype(np.float32)


def _as_bytes(plane: np.ndarray, value_range: tuple[float, float],
              gain: float = 1.0) -> np.ndarray:
    """A shrunk plane as the 8-bit pixels the corner and flow functions take, divided by `gain`.

    The light above the range's low end is divided.
    """
    lo, hi = value_range
    scale = 255.0 / ((hi - lo) * gain)
    return cv2.convertScaleAbs(plane, alpha=scale, beta=-lo * scale)


def _similarity(last: np.ndarray, current: np.ndarray) -> np.ndarray | None:
    """The 2x3 similarity fitted to corners followed from `last` to `current`, or None."""
    corners = cv2.goodFeaturesToTrack(last, CORNERS, 0.01, 4, blockSize=5)
    if corners is None or len(corners) < MIN_POINTS:
        return None
    followed, found, _ = cv2.calcOpticalFlowPyrLK(last, current, corners, None,
                                                  winSize=LK_WINDOW, maxLevel=LK_LEVELS)
    found = found[:, 0] == 1
    if found.sum() < MIN_POINTS:
        return None
    fitted, agree = cv2.estimateAffinePartial2D(corners[found], followed[found],
                                                method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
    return fitted if fitted is not None and agree.sum() >= MIN_POINTS else None


def translation(dx: float, dy: float) -> np.ndarray:
    """The 2x3 matrix that moves a plane by (dx, dy) pixels."""
    return np.float32([[1, 0, dx], [0, 1, dy]])


def shift_motion(last: np.ndarray, current: np.ndarray, shape: tuple[int, ...],
                 value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """global_motion's signature for the phase correlation's shift alone (shift_between)."""
    return translation(*shift_between(last, current, shape))


ALIGNMENTS = {"shift": shift_motion, "similarity": global_motion}  # RecurrentHistory.alignment


def shift_planes(planes: np.ndarray, dx: float, dy: float, out: np.ndarray,
                 interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """(N, H, W, C) planes moved by (dx, dy) pixels into `out` (mirrored borders)."""
    return warp_planes(planes, translation(dx, dy), out, interpolation)


def warp_planes(planes: np.ndarray, m: np.ndarray, out: np.ndarray,
                interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """(N, H, W, C) planes moved by the 2x3 matrix `m` into `out` (mirrored borders).

    `interpolation` is the OpenCV flag they are resampled with.
    """
    n, h, w, c = planes.shape
    for i in range(n):
        for j in range(c):
            cv2.warpAffine(planes[i, :, :, j], m, (w, h), dst=out[i, :, :, j],
                           flags=interpolation, borderMode=cv2.BORDER_REFLECT)
    return out


MAX_GAIN = 2.0  # a brightness change beyond this factor a frame is left to the cut test
MIN_LEVEL = 0.02  # a last frame darker than this share of the range gives no gain (too noisy)
# a gain within this of 1 is steady light: the means move that much with objects and a pan's
# new border (scaled by it, steady light lost 0.012 dB with the similarity alignment)
STEADY = 0.01


def brightness_gain(last: np.ndarray, current: np.ndarray,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> float:
    """How much brighter `current` is than `last` (shrunk planes), within the MAX_GAIN bounds.

    The ratio of their means above the range's low end; 1.0 for a last frame too dark, or a
    ratio within STEADY of 1. A fade or a camera's exposure change scales the light; the mean
    of a shrunk plane is the noise averaged away (a 160x120 plane's mean at sigma 50 is off by
    under 0.1%).
    """
    lo, hi = value_range
    before, now = float(last.mean()) - lo, float(current.mean()) - lo
    if before < MIN_LEVEL * (hi - lo) or abs(now / before - 1.0) <= STEADY:
        return 1.0
    return min(max(now / before, 1.0 / MAX_GAIN), MAX_GAIN)


class RecurrentHistory(FrameHistory):
    """A recurrent model's input: its own last output, moved with the scene, then the frame.

    The output is moved by the global motion between the last frame and this one (a shift,
    turn and zoom fitted to corners followed from one to the other: global_motion), so a
    panning, turning or zooming camera's last output lines up with the frame it helps to
    denoise: +0.31 dB on validation clips over the shift alone, +0.81 where the camera turns or
    zooms faster (BENCHMARKS.md, "The recurrent history's alignment"; `alignment` is the
    ALIGNMENTS row). What still differs (objects moving on their own, a missed cut) is for the
    model to reject. It starts again, from two copies of the frame, as FrameHistory does. The
    output is moved by bicubic resampling, which keeps more of its detail at a sub-pixel shift
    than bilinear's (+0.17 dB for `live-video` on validation clips: BENCHMARKS.md, "The
    recurrent history's resampling"); `interpolation` is that OpenCV flag. When the light
    changes (a fade, a camera's exposure), each plane of the moved output is scaled by its own
    (`brightness_gain`), so the model is not pulled towards the last frame's light: +0.55 dB
    on validation clips fading by 4% a frame, within 0.005 dB in steady light (BENCHMARKS.md,
    "The recurrent history's brightness"); `match_brightness` switches it.
    """

    interpolation = cv2.INTER_CUBIC
    match_brightness = True
    alignment = "similarity"  # an ALIGNMENTS row

    def __init__(self, value_range: tuple[float, float] = (0.0, 1.0),
                 find_cuts: bool = True) -> None:
        super().__init__(2, value_range, find_cuts)
        self._last_smalls: list[np.ndarray] = []  # the last frame's planes, shrunk
        self._output: np.ndarray | None = None

    def stack(self, x: np.ndarray) -> np.ndarray:
        """[the last output, moved with the scene; this frame] as the model input."""
        c = x.shape[-1]
        smalls = self._shrunk_planes(x)
        if self._starts_again(x, self._output is not None and self._output.shape == x.shape):
            stacked = StillFrames.stack(self, x)
        else:
            stacked = self._stacked
            m = ALIGNMENTS[self.alignment](self._last_smalls[0], smalls[0], x.shape[1:3],
                                           self.value_range)
            aligned = warp_planes(self._output, m, self._aligned, self.interpolation)
            if self.match_brightness:
                self._brightened(aligned, [brightness_gain(last, now, self.value_range)
                                           for last, now in zip(self._last_smalls, smalls)])
            stacked[..., :c] = aligned
            stacked[..., c:] = x
        self._last_smalls = smalls  # shrunk once per frame, used again by the next one
        return stacked

    def _shrunk_planes(self, x: np.ndarray) -> list[np.ndarray]:
        """Each (image, channel) plane of `x` shrunk, the first one's giving the motion.

        Every plane has its own light: a colour frame goes to the model as three planes (an
        opponent colour way's chroma centred on mid-gray), and a fade scales the luma's alone.
        """
        n, _, _, c = x.shape
        planes = range(n * c) if self.match_brightness else range(1)
        return [shrunk(x[k // c, :, :, k % c]) for k in planes]

    def _brightened(self, planes: np.ndarray, gains: list[float]) -> None:
        """Each (image, channel) plane of `planes` scaled in place by its own gain.

        Scaled above the range's low end, and kept in the range.
        """
        lo, hi = self.value_range
        c = planes.shape[-1]
        for k, gain in enumerate(gains):
            if gain == 1.0:
                continue
            plane = planes[k // c, :, :, k % c]
            np.multiply(plane, gain, out=plane)
            if lo:
                plane += lo * (1.0 - gain)
            if gain > 1.0:
                np.clip(plane, lo, hi, out=plane)

    def remember(self, y: np.ndarray) -> None:
        """Keep the model's output on this frame for the next one."""
        if self._output is None or self._output.shape != y.shape:
            self._output, self._aligned = np.empty_like(y), np.empty_like(y)
        np.copyto(self._output, y)
