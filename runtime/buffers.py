"""Arrays a hot path keeps from call to call, by name, so a frame of a known size allocates none."""

from __future__ import annotations

import numpy as np


class KeptArrays:
    """Named arrays, each made again only when the shape or type asked for changes."""

    def __init__(self) -> None:
        self._kept: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, ...],
                 dtype: np.dtype | type = np.float32) -> np.ndarray:
        """The kept array `name` of this shape and type (its contents are whatever was left)."""
        kept = self._kept.get(name)
        if kept is None or kept.shape != shape or kept.dtype != dtype:
            kept = self._kept[name] = np.empty(shape, dtype)
        return kept

    def names(self) -> dict[str, np.ndarray]:
        """The arrays kept now, by name."""
        return dict(self._kept)
