"""What the loop, its output video and the page draw: gray to BGR, heat maps, text."""

from __future__ import annotations

import cv2
import numpy as np


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel uint8 BGR view for drawing and writing."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def heat_overlay(frame: np.ndarray, heatmap: np.ndarray, scale: float) -> np.ndarray:
    """The frame with its anomaly heat map (JET colours, `scale` maps to red) blended on top."""
    level = np.clip(heatmap * (255.0 / scale), 0, 255).astype(np.uint8)
    return cv2.addWeighted(as_bgr(frame), 0.5, cv2.applyColorMap(level, cv2.COLORMAP_JET), 0.5, 0)


def draw_text(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Lines of white-on-black text in the top-left corner (in place)."""
    for i, line in enumerate(lines):
        y = 16 + 16 * i
        cv2.putText(image, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3)
        cv2.putText(image, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return image
