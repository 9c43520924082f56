"""What the loop, its output video and the page draw: gray to BGR, heat maps, text."""

from __future__ import annotations

import cv2
import numpy as np

from edgeae.runtime.buffers import KeptArrays


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel uint8 BGR view for drawing and writing."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def heat_overlay(frame: np.ndarray, heatmap: np.ndarray, scale: float) -> np.ndarray:
    """The frame with its anomaly heat map (JET colours, `scale` maps to red) blended on top."""
    return Canvas().heat(frame, heatmap, scale)


class Canvas:
    """The loop's view drawn into arrays kept for the frame's size: none made frame by frame."""

    def __init__(self) -> None:
        self._array = KeptArrays()

    def bgr(self, image: np.ndarray, name: str = "bgr") -> np.ndarray:
        """A BGR copy of `image` (gray or BGR) in the kept array `name`, to draw on."""
        out = self._array(name, (*image.shape[:2], 3), np.uint8)
        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR, dst=out)
        np.copyto(out, image)
        return out

    def heat(self, frame: np.ndarray, heatmap: np.ndarray, scale: float) -> np.ndarray:
        """The frame with its heat map (JET colours, `scale` maps to red) blended on top."""
        spread = np.multiply(heatmap, 255.0 / scale,
                             out=self._array("spread", heatmap.shape, np.float32))
        np.clip(spread, 0, 255, out=spread)
        level = self._array("level", heatmap.shape, np.uint8)
        np.copyto(level, spread, casting="unsafe")
        colours = cv2.applyColorMap(level, cv2.COLORMAP_JET,
                                    dst=self._array("colours", (*heatmap.shape, 3), np.uint8))
        base = frame if frame.ndim == 3 else self.bgr(frame, "base")
        return cv2.addWeighted(base, 0.5, colours, 0.5, 0,
                               dst=self._array("heat", base.shape, np.uint8))

    def side_by_side(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """`left` (gray or BGR) and `right` (BGR, as tall) in one kept BGR image."""
        h, w = left.shape[:2]
        both = self._array("side", (h, w + right.shape[1], 3), np.uint8)
        np.copyto(both[:, :w], left if left.ndim == 3 else self.bgr(left, "left"))
        np.copyto(both[:, w:], right)
        return both


def draw_text(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Lines of white-on-black text in the top-left corner (in place)."""
    for i, line in enumerate(lines):
        y = 16 + 16 * i
        cv2.putText(image, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3)
        cv2.putText(image, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return image
