"""Frame-to-frame training pairs from noisy footage alone (Ehret et al., CVPR 2019).

Noise is independent from one frame to the next even where a camera's demosaicing and
compression correlate it inside a frame, so the next frame, warped onto the current one by
optical flow, is a target whose noise the network cannot learn to reproduce: the loss against
it is, up to a constant, the loss against the clean frame. The flow is computed between
denoised frames (OpenCV's DIS), and pixels whose forward and backward flows disagree
(occlusions, moving objects the flow missed, the frame border) are masked out of the loss.
With `targets="both"` the previous frame is warped onto the current one too and the target is
the mean of the two where both are trusted: half the target's noise, and the two warps' errors,
which lie on opposite sides of the motion, partly cancel; `"both-2"` takes the frames two
before and two after instead, whose noise a video codec has copied less of. The mean is taken
in the loss's own space (AVERAGED_IN), so the loss's optimum stays where one frame puts it: the
mean of two sRGB frames, taken in linear light, would be darker than either. numpy and OpenCV
only; the training itself is train/adapt.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.images import convert_channels, to_uint8, to_unit_float
from edgeae.core.manifest import LossSpace, Targets, Warp
from edgeae.core.memory import available_memory_bytes, size_text
from edgeae.core.progress import progress
from edgeae.train.camera import linear_to_srgb, srgb_to_linear

# Sundaram et al.'s forward-backward test: |fw + bw(x + fw)|^2 < A (|fw|^2 + |bw|^2) + B
CONSISTENCY_A = 0.01
CONSISTENCY_B = 0.5
# how the next frame is resampled onto the current one: bilinear averages neighbours and so
# blurs the target, which the network then learns to blur (BENCHMARKS.md, "The next frame
# resampled bicubically")
WARPS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
# which neighbouring frames, warped onto a frame, make its target (their mean where trusted), as
# offsets in frames: H.264 copies part of each frame's noise into the next, and the frames two
# apart share less of it, but tuned no better on the validation clip (BENCHMARKS.md, "Targets
# two frames apart on H.264 footage")
NEIGHBOURS = {"next": (1,), "both": (-1, 1), "both-2": (-2, 2)}
# each loss space (train/adapt.py LOSS_SPACES) in and out of [0, 1] sRGB: where targets average
AVERAGED_IN = {"srgb": (lambda x: x, lambda x: x), "linear": (srgb_to_linear, linear_to_srgb)}


@dataclass
class FramePairs:
    """Inputs, aligned targets and loss masks, uint8 (N, H, W, C) (masks (N, H, W, 1), 0/1).

    `anchors`, where set: another model's denoised inputs (uint8, like the inputs), whose
    blurred values hold the tuned output's brightness (train/adapt.py BRIGHTNESS_WEIGHT).
    """

    inputs: np.ndarray
    targets: np.ndarray
    masks: np.ndarray
    anchors: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def coverage(self) -> float:
        """The fraction of pixels the loss keeps."""
        return float(self.masks.mean()) if len(self) else 0.0

    def subset(self, indices: np.ndarray | slice | tuple[slice, ...]) -> FramePairs:
        """The pairs at `indices` (a tuple of slices crops them: (pairs, rows, columns))."""
        return FramePairs(*(a if a is None else a[indices] for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Inputs, targets, masks and anchors (or None), in the order the constructor takes."""
        return self.inputs, self.targets, self.masks, self.anchors


def as_gray_u8(image: np.ndarray) -> np.ndarray:
    """An HWC float [0, 1] or uint8 image as one uint8 plane (what the flow reads)."""
    u8 = image if image.dtype == np.uint8 else to_uint8(image)
    return convert_channels(u8, 1)[..., 0]


class FlowAligner:
    """Dense flow between consecutive frames, the warp it implies and where it can be trusted."""

    def __init__(self, warp: Warp, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._warp = warp
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def _maps(self, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Absolute sampling positions x + flow(x), as remap wants them."""
        h, w = flow.shape[:2]
        if self._grid is None or self._grid[0].shape != (h, w):
            self._grid = tuple(np.meshgrid(np.arange(w, dtype=np.float32),
                                           np.arange(h, dtype=np.float32)))
        return self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1]

    def align(self, guide: np.ndarray, guide_next: np.ndarray,
              frame_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`frame_next` warped onto `guide`'s pixels, and the 0/1 mask of pixels to trust.

        `guide` and `guide_next` are uint8 planes (denoised frames) the flow is computed on.
        """
        map_x, map_y, mask = self.correspondence(guide, guide_next)
        return resample(frame_next, map_x, map_y, self._warp), mask

    def correspondence(self, guide: np.ndarray,
                       guide_next: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each of `guide`'s pixels is in `guide_next` (remap's maps), and the mask."""
        return self.trusted(*self.flows(guide, guide_next))

    def flows(self, guide: np.ndarray, guide_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The forward (guide to guide_next) and backward dense flows between two uint8 planes."""
        guide, guide_next = np.ascontiguousarray(guide), np.ascontiguousarray(guide_next)
        return self._dis.calc(guide, guide_next, None), self._dis.calc(guide_next, guide, None)

    def trusted(self, forward: np.ndarray,
                backward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The maps remap takes along `forward`, and the mask where `backward` brings them home.

        Swapping the two flows gives the other direction of the same pair of frames.
        """
        map_x, map_y = self._maps(forward)
        back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        mismatch = _squared_length(forward + back)
        allowed = CONSISTENCY_A * (_squared_length(forward) + _squared_length(back)) + CONSISTENCY_B
        h, w = forward.shape[:2]
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        mask = ((mismatch <= allowed) & inside).astype(np.uint8)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))  # flow edges are least reliable
        return map_x, map_y, mask


def _squared_length(flow: np.ndarray) -> np.ndarray:
    """|v|^2 of each (dx, dy) of an HxWx2 flow; numpy's sum over a last axis of 2 is 14x slower."""
    return flow[..., 0] ** 2 + flow[..., 1] ** 2


def resample(frame: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, warp: Warp) -> np.ndarray:
    """`frame` (HWC) sampled at (map_x, map_y) with a row of WARPS, its border replicated."""
    return cv2.remap(frame, map_x, map_y, WARPS[warp],
                     borderMode=cv2.BORDER_REPLICATE).reshape(frame.shape)


def frame_pairs(noisy: list[np.ndarray], guides: list[np.ndarray], warp: Warp,
                targets: Targets = "next", space: LossSpace = "srgb") -> FramePairs:
    """Pairs (frame t, its neighbours warped onto t and averaged, mask) for a clip's frames.

    `noisy`: uint8 HWC frames in time order; `guides`: the uint8 planes the flow is computed on
    (the current model's denoised frames), one per frame; `warp`: a row of WARPS; `targets`: a
    row of NEIGHBOURS, averaged in `space` (a row of AVERAGED_IN). Every frame with a neighbour
    in the clip gets a pair; the flows between two frames serve both directions.
    """
    if len(noisy) < 2:
        raise ValueError("frame-to-frame pairs need at least two frames")
    offsets, aligner, n = NEIGHBOURS[targets], FlowAligner(warp), len(noisy)
    row = {t: i for i, t in enumerate(paired_frames(n, targets))}
    (h, w, c), count = noisy[0].shape, len(row)
    pairs = FramePairs(np.empty((count, h, w, c), np.uint8), np.empty((count, h, w, c), np.uint8),
                       np.empty((count, h, w, 1), np.uint8))
    pending: dict[int, list] = {}  # frame t: earlier frames already warped onto it, with masks
    for t in progress(range(n), total=n, desc="optical flow", unit="frame", min_total=20):
        warps = pending.pop(t, [])
        for step in sorted({abs(o) for o in offsets if t + abs(o) < n}):
            forward, backward = aligner.flows(guides[t], guides[t + step])
            if step in offsets:
                warps.append(_warped(noisy[t + step], aligner.trusted(forward, backward), warp))
            if -step in offsets:
                pending.setdefault(t + step, []).append(
                    _warped(noisy[t], aligner.trusted(backward, forward), warp))
        if t in row:
            target, mask = _mean_where_trusted(warps, space)
            pairs.inputs[row[t]], pairs.targets[row[t]] = noisy[t], target
            pairs.masks[row[t], ..., 0] = mask
    return pairs


def paired_frames(n: int, targets: Targets) -> list[int]:
    """The frames of an n-frame clip that frame_pairs pairs: those with a wanted neighbour."""
    return [t for t in range(n) if any(0 <= t + o < n for o in NEIGHBOURS[targets])]


def _warped(frame: np.ndarray, correspondence: tuple[np.ndarray, np.ndarray, np.ndarray],
            warp: Warp) -> tuple[np.ndarray, np.ndarray]:
    """`frame` resampled along a correspondence, and the correspondence's mask."""
    map_x, map_y, mask = correspondence
    return resample(frame, map_x, map_y, warp), mask


def _mean_where_trusted(warps: list[tuple[np.ndarray, np.ndarray]],
                        space: LossSpace) -> tuple[np.ndarray, np.ndarray]:
    """The mean, in `space`, of the warped frames trusted at each pixel, and where any is."""
    if len(warps) == 1:
        return warps[0]
    into, back = AVERAGED_IN[space]
    weights = [mask[..., None].astype(np.float32) for _, mask in warps]
    total = sum(weights)
    mean = sum(w * into(to_unit_float(frame)) for w, (frame, _) in zip(weights, warps, strict=True))
    mean = np.where(total > 0, mean / np.maximum(total, 1), into(to_unit_float(warps[0][0])))
    return to_uint8(back(mean)), np.maximum.reduce([m for _, m in warps])


MIN_FRAMES = 6  # at least two pairs to train on and one to validate on, with a gap between
# uint8 planes adapt holds for each footage frame, per pixel and channel: the frame, and its
# pair's input, target and brightness anchor; and two one-plane ones, the denoised gray guide and
# the loss mask. A lower bound: 40 gray frames of 1280x960 took 8.3 bytes a pixel more than
# 40 of 640x480 (peak resident memory), where this counts 6
HELD_PER_CHANNEL, HELD_PLANES = 4, 2


def check_frame_count(n: int, name: str) -> None:
    """Refuse footage of fewer than MIN_FRAMES frames."""
    if n < MIN_FRAMES:
        raise UserError(f"{name} has {n} frame(s); adapt needs at least {MIN_FRAMES} "
                        "consecutive frames of one scene (a few seconds of video)")


def adaptable_size(size: tuple[int, int] | None, multiple: int,
                   name: str) -> tuple[int, int]:
    """The sides frames of `size` are cropped to for a model of this side multiple.

    Refuses mixed sizes, and frames under four multiples a side (with that minimum named).
    """
    if size is None:
        raise UserError(f"the frames in {name} differ in size; adapt needs footage of one "
                        "camera mode (pass --image-size HxW to resize them)")
    h, w = (side // multiple * multiple for side in size)
    if min(h, w) < multiple * 4:
        raise UserError(f"frames of {size[0]}x{size[1]} are too small to adapt on: this model "
                        f"needs {multiple * 4} pixels a side or more")
    return h, w


def check_footage_fits(n: int, size: tuple[int, int], channels: int, name: str,
                       count_option: str = "--max-frames") -> None:
    """Refuse footage whose frames and pairs alone exceed the memory this machine has free.

    It had run out after minutes of reading, denoising and optical flow (the process killed).
    The advice names `count_option` with the number of frames that fit.
    """
    available = available_memory_bytes()
    per_frame = size[0] * size[1] * (HELD_PER_CHANNEL * channels + HELD_PLANES)
    if available is None or n * per_frame <= available:
        return
    fits = available // per_frame
    advice = f"{count_option} {fits}" if fits >= MIN_FRAMES else "a smaller --image-size HxW"
    raise UserError(f"{name}: {n} frames of {size[0]}x{size[1]} need at least "
                    f"{size_text(n * per_frame)} of memory to adapt on, and this machine has "
                    f"{size_text(available)} available: pass {advice}")


def split_frames(n: int, holdout: float, reach: int = 1) -> tuple[slice, slice]:
    """Training and validation frames: the tail is held out, with one frame between them.

    `reach`: how many frames apart a target is (NEIGHBOURS); the tail keeps enough for a pair.
    Here, without Keras, so `adapt` checks it before TensorFlow loads.
    """
    n_val = max(reach + 1, int(round(n * holdout)))
    n_train = n - n_val - 1
    if n_train < 3:
        raise UserError(f"{n} frames leave too few to train on after holding out {n_val}; "
                        "give more footage or a smaller --holdout")
    return slice(0, n_train), slice(n - n_val, n)
