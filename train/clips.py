"""Clips made from a still image: a camera that pans, turns and zooms smoothly over it.

For users with photos but no video, and for measuring video methods with the clean frames
known: each frame is the still seen through a camera on a smooth random path (sub-pixel
translation, a small rotation and zoom), cut from the middle so no frame shows a border.
Objects that move on their own (square patches cut from elsewhere in the still, each on its
own straight path at sub-pixel speed, bouncing off the frame's edges) can be pasted on top;
the clip says which pixels they cover, so a method's ghosting can be measured there.
Seeded; numpy and OpenCV only.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Clip:
    """Clean frames, and where objects that move on their own are."""

    frames: np.ndarray  # (N, h, w, C), the still's dtype
    moving: np.ndarray  # (N, h, w) bool: covered by a moving object


def camera_frames(image: np.ndarray, path: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The still seen along `path` (rows of `camera_path`): (N, h, w, C) frames."""
    h, w = size
    centre = np.array([image.shape[1], image.shape[0]], np.float64) / 2
    margin = np.abs(path[:, :2]).max(axis=0) + np.array([w, h]) / 2 * 1.1
    if np.any(margin > centre):
        raise ValueError(f"a {image.shape[1]}x{image.shape[0]} still is too small for "
                         f"{len(path)} frames of {w}x{h} with this much motion")
    frames = []
    for x, y, angle, scale in path:
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
        m[:, 2] += np.array([w / 2, h / 2]) - centre - np.array([x, y])
        frame = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        frames.append(frame.reshape(h, w, image.shape[-1]))
    return np.stack(frames)


def object_paths(n: int, size: tuple[int, int], side: int, rng: np.random.Generator,
                 speed: tuple[float, float] = (0.7, 2.5)) -> np.ndarray:
    """(n, 2) top-left x, y of an object of `side` pixels moving straight, bouncing at edges."""
    h, w = size
    room = np.array([w - side, h - side], np.float64)
    position = rng.uniform(0, 1, 2) * room
    angle = rng.uniform(0, 2 * np.pi)
    velocity = rng.uniform(*speed) * np.array([np.cos(angle), np.sin(angle)])
    out = np.empty((n, 2))
    for t in range(n):
        out[t] = position
        position = position + velocity
        bounced = (position < 0) | (position > room)
        velocity[bounced] *= -1
        position = np.clip(position, 0, room)
    return out


def paste_objects(image: np.ndarray, frames: np.ndarray, count: int,
                  rng: np.random.Generator) -> Clip:
    """`count` patches of `image` moving over `frames` on their own paths (sub-pixel)."""
    n, h, w, c = frames.shape
    side = max(4, min(h, w) // 5)
    out, moving = frames.astype(np.float32), np.zeros((n, h, w), bool)
    for _ in range(count):
        top, left = (rng.integers(0, image.shape[i] - side) for i in (0, 1))
        patch = image[top:top + side, left:left + side].astype(np.float32).reshape(side, side, c)
        ones = np.ones((side, side), np.float32)
        for t, (x, y) in enumerate(object_paths(n, (h, w), side, rng)):
            m = np.float32([[1, 0, x], [0, 1, y]])
            alpha = cv2.warpAffine(ones, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
            layer = cv2.warpAffine(patch, m, (w, h), flags=cv2.INTER_LINEAR).reshape(h, w, c)
            out[t] = out[t] * (1 - alpha) + layer * alpha
            moving[t] |= alpha[..., 0] > 0.5
    if np.issubdtype(frames.dtype, np.integer):
        out = np.clip(np.rint(out), 0, np.iinfo(frames.dtype).max)
    return Clip(out.astype(frames.dtype), moving)


def clip_from_still(image: np.ndarray, n: int, size: tuple[int, int],
                    rng: np.random.Generator, objects: int = 0, **motion: float) -> Clip:
    """`n` frames of `size` (h, w) from an HWC image along `camera_path`, with `objects`.

    The still must be larger than the frames by the ground the camera covers; frames are
    sampled with bilinear interpolation, in the image's dtype.
    """
    frames = camera_frames(image, camera_path(n, rng, **motion), size)
    if objects == 0:
        return Clip(frames, np.zeros(frames.shape[:3], bool))
    return paste_objects(image, frames, objects, rng)
