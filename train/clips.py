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

from collections.abc import Callable
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


def camera_margin(path: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(x, y) pixels a still must reach from its centre for `path`'s frames of `size` (h, w)."""
    h, w = size
    return np.abs(path[:, :2]).max(axis=0) + np.array([w, h]) / 2 * 1.1


def camera_frames(image: np.ndarray, path: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The still seen along `path` (rows of `camera_path`): (N, h, w, C) frames."""
    h, w = size
    centre = np.array([image.shape[1], image.shape[0]], np.float64) / 2
    if np.any(camera_margin(path, size) > centre):
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


def _stacked(frames: np.ndarray) -> np.ndarray:
    """(K, h, w, C) frames as one (h, w, K * C) float32 array, oldest first."""
    k, h, w, c = frames.shape
    return np.ascontiguousarray(frames.transpose(1, 2, 0, 3).reshape(h, w, k * c), np.float32)


def still_clip(image: np.ndarray, frames: int, size: int, rng: np.random.Generator,
               max_speed: float = 3.0, max_objects: int = 2, flicker: float = 0.03,
               cut: float = 0.08) -> np.ndarray:
    """A training clip from a still (HWC, float in [0, 1]): (size, size, frames * C), oldest first.

    The camera moves at a random speed up to `max_speed` pixels a frame (0 included: a camera
    on a tripod), up to `max_objects` objects move on their own, each frame's brightness
    flickers by up to `flicker`, and with probability `cut` the frames before a random one show
    another view (the still turned upside down), so the model learns to ignore frames that do
    not match.
    """
    speed = rng.uniform(0.0, max_speed)
    objects = int(rng.integers(0, max_objects + 1))
    clip = _moving_clip(image, frames, size, rng, objects, speed)
    out = clip.frames.astype(np.float32).reshape(frames, size, size, image.shape[-1])
    if frames > 1 and rng.random() < cut:
        other = _moving_clip(np.ascontiguousarray(image[::-1, ::-1]), frames, size, rng, 0,
                             speed).frames
        before = int(rng.integers(1, frames))
        out[:before] = other[:before].reshape(before, size, size, image.shape[-1])
    out *= rng.uniform(1 - flicker, 1 + flicker, (frames, 1, 1, 1)).astype(np.float32)
    return _stacked(np.clip(out, 0.0, 1.0))


def _moving_clip(image: np.ndarray, frames: int, size: int, rng: np.random.Generator,
                 objects: int, speed: float) -> Clip:
    """clip_from_still, the camera slowed (to a standstill at worst) where the still is small."""
    for slower in (1.0, 0.25):
        try:
            return clip_from_still(image, frames, (size, size), rng, objects=objects,
                                   speed=speed * slower)
        except ValueError:
            continue
    return clip_from_still(image, frames, (size, size), rng, objects=objects, speed=0.0)


def video_clip(read: Callable[[int], np.ndarray], end: int, frames: int, size: int,
               rng: np.random.Generator) -> np.ndarray:
    """One random size x size window of frames end - K + 1 .. end: (size, size, frames * C).

    `read(i)` gives frame i (HWC); before the video's start its first frame repeats.
    """
    picks = [read(max(0, end - k)) for k in range(frames - 1, -1, -1)]
    h, w = picks[0].shape[:2]
    top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    window = np.stack([p.reshape(h, w, -1)[top:top + size, left:left + size] for p in picks])
    return _stacked(window)


def aligned_to_last(clip: np.ndarray, frames: int) -> np.ndarray:
    """A stacked (h, w, K * C) clip with every frame moved onto the last one's view.

    The shifts are the runtime's (runtime/history.py: global_shift from each frame to the next,
    summed), so a recurrent model trains on frames lined up exactly as well as it will see them.
    """
    from edgeae.runtime.history import global_shift

    h, w, kc = clip.shape
    c = kc // frames
    planes = [clip[..., k * c:(k + 1) * c] for k in range(frames)]
    out, dx, dy = clip.copy(), 0.0, 0.0
    for k in range(frames - 2, -1, -1):
        step = global_shift(planes[k][..., 0], planes[k + 1][..., 0])
        dx, dy = dx + step[0], dy + step[1]
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = cv2.warpAffine(planes[k], m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        out[..., k * c:(k + 1) * c] = moved.reshape(h, w, c)
    return out
