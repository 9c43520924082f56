"""Parity: how far an exported artifact's outputs are from the Keras model's on the same inputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeae.runtime.backends import Session


@dataclass(frozen=True)
class Parity:
    """Absolute output differences between a reference and a candidate over sample inputs."""

    max_abs_diff: float
    mean_abs_diff: float
    n_samples: int

    def within(self, tolerance: float) -> bool:
        """Whether the largest difference is within `tolerance`."""
        return self.max_abs_diff <= tolerance


def compare(reference: Session, candidate: Session, samples: np.ndarray,
            batch_size: int = 8) -> Parity:
    """Run both sessions on `samples` (NHWC float32) and measure their disagreement."""
    worst, total, count = 0.0, 0.0, 0
    for start in range(0, len(samples), batch_size):
        batch = np.ascontiguousarray(samples[start:start + batch_size], dtype=np.float32)
        diff = np.abs(reference.run(batch).astype(np.float64) - candidate.run(batch))
        worst = max(worst, float(diff.max()))
        total += float(diff.sum())
        count += diff.size
    return Parity(worst, total / max(count, 1), len(samples))
