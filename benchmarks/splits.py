"""The validation split every choice in benchmarks/ is made on (never the test split)."""

from __future__ import annotations

import numpy as np

VAL_FRACTION = 0.1


def split_validation(x: np.ndarray, y: np.ndarray, seed: int = 0):
    """(x_fit, y_fit, x_val, y_val): VAL_FRACTION of each class held out for choices."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        val[rng.choice(members, int(len(members) * VAL_FRACTION), replace=False)] = True
    return x[~val], y[~val], x[val], y[val]
