"""Frame-to-frame training pairs from noisy footage alone (Ehret et al., CVPR 2019).

Noise is independent from one frame to the next even where a camera's demosaicing and
compression correlate it inside a frame, so the next frame, warped onto the current one by
optical flow, is a target whose noise the network cannot learn to reproduce: the loss against
it is, up to a constant, the loss against the clean frame. The flow is computed between
denoised frames (OpenCV's DIS), and pixels whose forward and backward flows disagree
(occlusions, moving objects the flow missed, the frame border) are masked out of the loss.
numpy and OpenCV only; the training itself is train/adapt.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeae.core.images import convert_channels, to_uint8
from edgeae.core.manifest import Warp
from edgeae.core.progress import progress

# Sundaram et al.'s forward-backward test: |fw + bw(x + fw)|^2 < A (|fw|^2 + |bw|^2) + B
CONSISTENCY_A = 0.01
CONSISTENCY_B = 0.5
# how the next frame is resampled onto the current one: bilinear averages neighbours and so
# blurs the target, which the network then learns to blur (BENCHMARKS.md, "The next frame
# resampled bicubically")
WARPS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


@dataclass
class FramePairs:
    """Inputs, aligned targets and loss masks, uint8 (N, H, W, C) (masks (N, H, W, 1), 0/1)."""

    inputs: np.ndarray
    targets: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def coverage(self) -> float:
        """The fraction of pixels the loss keeps."""
        return float(self.masks.mean()) if len(self) else 0.0

    def subset(self, indices: np.ndarray | slice) -> FramePairs:
        """The pairs at `indices`."""
        return FramePairs(self.inputs[indices], self.targets[indices], self.masks[indices])


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
        guide, guide_next = np.ascontiguousarray(guide), np.ascontiguousarray(guide_next)
        forward = self._dis.calc(guide, guide_next, None)
        backward = self._dis.calc(guide_next, guide, None)
        map_x, map_y = self._maps(forward)
        back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        mismatch = np.sum((forward + back) ** 2, axis=-1)
        allowed = CONSISTENCY_A * (np.sum(forward ** 2, -1) + np.sum(back ** 2, -1)) + CONSISTENCY_B
        h, w = guide.shape
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        mask = ((mismatch <= allowed) & inside).astype(np.uint8)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))  # flow edges are least reliable
        return map_x, map_y, mask


def resample(frame: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, warp: Warp) -> np.ndarray:
    """`frame` (HWC) sampled at (map_x, map_y) with a row of WARPS, its border replicated."""
    return cv2.remap(frame, map_x, map_y, WARPS[warp],
                     borderMode=cv2.BORDER_REPLICATE).reshape(frame.shape)


def frame_pairs(noisy: list[np.ndarray], guides: list[np.ndarray], warp: Warp) -> FramePairs:
    """Pairs (frame t, frame t+1 warped onto t, mask) for consecutive frames of a clip.

    `noisy`: uint8 HWC frames in time order; `guides`: the uint8 planes the flow is computed on
    (the current model's denoised frames), one per frame; `warp`: a row of WARPS.
    """
    if len(noisy) < 2:
        raise ValueError("frame-to-frame pairs need at least two frames")
    aligner = FlowAligner(warp)
    n = len(noisy) - 1
    h, w, c = noisy[0].shape
    pairs = FramePairs(np.empty((n, h, w, c), np.uint8), np.empty((n, h, w, c), np.uint8),
                       np.empty((n, h, w, 1), np.uint8))
    for t in progress(range(n), total=n, desc="optical flow", unit="pair", min_total=20):
        warped, mask = aligner.align(guides[t], guides[t + 1], noisy[t + 1])
        pairs.inputs[t], pairs.targets[t], pairs.masks[t, ..., 0] = noisy[t], warped, mask
    return pairs
