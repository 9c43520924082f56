"""Clips made from a still image: a camera that pans, turns and zooms smoothly over it.

For users with photos but no video, and for measuring video methods with the clean frames
known: each frame is the still seen through a camera on a smooth random path (sub-pixel
translation, a small rotation and zoom), cut from the middle so no frame shows a border.
Seeded; numpy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np


def camera_path(n: int, rng: np.random.Generator, speed: float = 1.5,
                turn_degrees: float = 0.2, zoom: float = 0.003) -> np.ndarray:
    """(n, 4) rows of x, y shift (pixels), rotation (degrees) and scale along a smooth path.

    The velocity drifts a little each frame (a random walk on it), so the motion is smooth
    with sub-pixel steps, as a hand-held or slowly panned camera moves.
    """
    steps = np.zeros((n, 4))
    velocity = rng.normal(0, [speed, speed, turn_degrees, zoom])
    for t in range(1, n):
        velocity = 0.9 * velocity + rng.normal(0, [0.3 * speed, 0.3 * speed,
                                                   0.3 * turn_degrees, 0.3 * zoom])
        steps[t] = velocity
    path = np.cumsum(steps, axis=0)
    path[:, 3] += 1.0
    return path


def clip_from_still(image: np.ndarray, n: int, size: tuple[int, int],
                    rng: np.random.Generator, **motion: float) -> np.ndarray:
    """`n` frames of `size` (h, w) from an HWC image, following `camera_path`.

    The still must be larger than the frames by the ground the camera covers; frames are
    sampled with bilinear interpolation, in the image's dtype.
    """
    h, w = size
    path = camera_path(n, rng, **motion)
    centre = np.array([image.shape[1], image.shape[0]], np.float64) / 2
    margin = np.abs(path[:, :2]).max(axis=0) + np.array([w, h]) / 2 * 1.1
    if np.any(margin > centre):
        raise ValueError(f"a {image.shape[1]}x{image.shape[0]} still is too small for "
                         f"{n} frames of {w}x{h} with this much motion")
    frames = []
    for x, y, angle, scale in path:
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
        m[:, 2] += np.array([w / 2, h / 2]) - centre - np.array([x, y])
        frame = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        frames.append(frame.reshape(h, w, image.shape[-1]))
    return np.stack(frames)
