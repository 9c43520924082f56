"""Record frames from a live source into memory (for `edgeae adapt --source`).

Frames come through the runtime's capture (a camera, a stream, a video or a folder), read as
gray for a gray model just as `edgeae run --gray` reads them, each copied out of the reader's
reused buffer as it arrives. Nothing is written to disk unless the user asks to keep the
frames, and then as PNGs in a folder that appears only when complete.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.files import atomic_dir
from edgeae.core.images import convert_channels, write_png
from edgeae.core.progress import progress
from edgeae.runtime.capture import CaptureOptions, SourceStats, frames
from edgeae.train.frame_pairs import check_footage_fits

log = logging.getLogger(__name__)


def _as_channels(frame: np.ndarray, channels: int) -> np.ndarray:
    """An OpenCV frame (BGR or gray) as a new HxWxC RGB or gray uint8 array."""
    if frame.ndim == 3 and frame.shape[2] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    else:
        frame = frame.copy()  # a gray frame would otherwise stay a view of the reader's buffer
    return convert_channels(frame, channels)


def record_frames(source: str, n: int, channels: int, keep: Path | None = None,
                  overwrite: bool = False) -> np.ndarray:
    """Up to `n` consecutive frames of `source` as uint8 (N, H, W, channels)."""
    stop, stats, recorded = threading.Event(), SourceStats(), []
    feed = frames(source, stats, stop, options=CaptureOptions(gray=channels == 1))
    try:
        for frame in progress(feed, total=n, desc="recording", unit="frame", min_total=20):
            recorded.append(_as_channels(frame, channels))  # a copy: the reader reuses buffers
            if len(recorded) == 1:  # the size is known: refuse now what cannot be held
                check_footage_fits(n, frame.shape[:2], channels, source, "--frames")
            if recorded[-1].shape != recorded[0].shape:
                raise UserError(f"{source} changed its frame size from {recorded[0].shape[:2]} "
                                f"to {recorded[-1].shape[:2]} while recording; fix its mode")
            if len(recorded) == n:
                break
    finally:
        stop.set()
        feed.close()
    if not recorded:
        raise UserError(f"no frames came from {source}")
    if stats.dropped:
        log.warning("recording: the source sent %d frame(s) faster than they were copied; "
                    "they were dropped, so some consecutive frames are further apart",
                    stats.dropped)
    array = np.stack(recorded)
    if keep is not None:
        _keep(array, keep, overwrite)
    return array


def _keep(array: np.ndarray, folder: Path, overwrite: bool) -> None:
    """Save the recorded frames as numbered PNGs."""
    with atomic_dir(folder, overwrite) as tmp:
        for i, frame in enumerate(array):
            write_png(tmp / f"frame_{i:05d}.png", frame)
