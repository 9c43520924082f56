"""`edgeae reconstruct`: run a model on images; write a comparison grid and per-image errors.

The model is a model directory (Keras) or an exported file (runtime).
With an exported file this path needs no TensorFlow: Keras is imported only for a model
directory.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeae.core.data import DataSplits, ImageSource, Preprocess, load_data
from edgeae.core.errors import UserError
from edgeae.core.files import atomic_path, check_writable, write_text
from edgeae.core.images import fit_in_box, tile_grid, write_png
from edgeae.core.manifest import Manifest
from edgeae.core.progress import progress
from edgeae.core.series import SeriesOptions
from edgeae.runtime.models import Reconstructor

log = logging.getLogger(__name__)

GRID_IMAGES = 16
GRID_TILE = 256  # pixels: the grid's largest tile side


def load_for_model(manifest: Manifest, data: str, image_size: tuple[int, int] | None,
                   scoring: bool = False, **load_kwargs) -> ImageSource:
    """Images converted to the model's channels and (fixed-size models, detectors) its size.

    The held-out test part is used when the data defines one (built-in datasets, npz files).
    `scoring`: the images go to an AnomalyScorer, which runs a fixed-size artifact over tiles
    of them as the runtime does; reconstructing needs them at that size.
    """
    spec = manifest.input
    resized_to_training = image_size is None and manifest.scored_size() is not None
    image_size = image_size or manifest.scored_size()
    series = load_kwargs.pop("series", None) or SeriesOptions()
    if manifest.data.value_range is not None:  # rows of numbers: scale them as in training
        series = SeriesOptions(series.label_column or manifest.data.label_column,
                               series.normal_label or manifest.data.normal_label,
                               label_optional=series.label_column is None)
    splits: DataSplits = load_data(data, Preprocess(spec.channels, image_size), series=series,
                                   value_range=manifest.data.value_range, **load_kwargs)
    source = splits.test or splits.train
    if resized_to_training:  # said once the data is read: a bad --data is its own one line
        log.info("resizing images to %dx%d, the size the detector was trained at (the "
                 "manifest's data.image_size); pass --image-size to choose another", *image_size)
    fixed = spec.fixed_size
    if fixed is not None and source.size != fixed and not scoring:
        have = "mixed sizes" if source.size is None else f"{source.size[0]}x{source.size[1]}"
        raise UserError(f"the model takes {fixed[0]}x{fixed[1]} images but {data} has {have}; "
                        f"pass --image-size {fixed[0]}x{fixed[1]} to resize them")
    return source


@dataclass(frozen=True)
class ReconstructionReport:
    """Per-image mean squared errors (pixels in [0, 1]) and where the outputs were written."""

    names: list[str]
    mse: np.ndarray
    grid: Path
    table: Path

    def summary(self) -> dict[str, float | int | str]:
        """Mean / max error and counts, for printing as JSON."""
        return {"images": len(self.mse), "mean_mse": float(self.mse.mean()),
                "max_mse": float(self.mse.max()), "grid": str(self.grid),
                "errors_csv": str(self.table)}


OUTPUT_FILES = ("grid.png", "errors.csv")


def reconstruct_images(model: Reconstructor, source: ImageSource, out_dir: Path,
                       limit: int | None = None, overwrite: bool = False,
                       batch_size: int = 32) -> ReconstructionReport:
    """Reconstruct up to `limit` images of `source`; write grid.png and errors.csv to out_dir."""
    grid_path, table_path = (out_dir / name for name in OUTPUT_FILES)
    check_writable(grid_path, overwrite)
    check_writable(table_path, overwrite)
    count = len(source) if limit is None else min(limit, len(source))
    # images of differing sizes go one at a time; the runtime pads each to the model's multiple
    step = batch_size if source.size is not None else 1
    errors, shown = np.empty(count), []
    for start in progress(range(0, count, step), total=-(-count // step), desc="reconstructing"):
        idx = np.arange(start, min(start + step, count))
        batch = np.stack([source.read(i) for i in idx])
        restored = model.reconstruct(batch)
        errors[idx] = ((restored - batch) ** 2).reshape(len(idx), -1).mean(axis=1)
        shown += list(zip(batch, restored))[: GRID_IMAGES - len(shown)]
    # a square tile as large as the largest image shown (at most GRID_TILE), each fitted inside
    side = min(GRID_TILE, max(max(o.shape[:2]) for o, _ in shown))
    rows = [[fit_in_box(o, side) for o, _ in shown], [fit_in_box(r, side) for _, r in shown]]
    with atomic_path(grid_path, overwrite) as tmp:
        write_png(tmp, tile_grid(rows))
    names = [source.item_name(i) for i in range(count)]
    write_text(table_path, _errors_csv(names, errors), overwrite)
    return ReconstructionReport(names, errors, grid_path, table_path)


def _errors_csv(names: list[str], errors: np.ndarray) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "name", "mse"])
    writer.writerows((i, n, f"{e:.6g}") for i, (n, e) in enumerate(zip(names, errors)))
    return buffer.getvalue()

