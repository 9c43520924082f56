"""Rows of numbers (one series per row, like ECG heartbeats) as 1 x L gray images.

The tutorial's third example: a CSV with one series per row (and optionally a label column
named by --label-column) or an .npy of shape (N, L). Values are scaled to [0, 1] by the
training rows' min and max (the tutorial's normalisation); the manifest keeps that range so new
rows are scaled the same way when they are scored. Every model that takes 1 x L images (the
dense autoencoder) then trains, exports and runs unchanged.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeae.core.errors import UserError

NORMAL, ANOMALY = "normal", "anomaly"  # class names of labelled rows


@dataclass(frozen=True)
class SeriesOptions:
    """How to read labelled rows: which column holds the label and which value is normal."""

    label_column: str | None = None
    normal_label: str | None = None  # the label value of normal rows
    normal_only: bool = False  # keep only the normal rows (training a detector)
    # the label column is the training data's (the manifest's), not asked for: new rows to
    # score may come without it (an array, a CSV whose header lacks that name, or rows too
    # short for its index)
    label_optional: bool = False


def is_series_file(path: Path) -> bool:
    """A CSV, or an .npy holding a 2-D (N, L) array."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return True
    if suffix != ".npy":
        return False
    try:
        return np.load(path, mmap_mode="r").ndim == 2
    except (ValueError, OSError):
        return False


def read_series(path: Path, options: SeriesOptions) -> tuple[np.ndarray, np.ndarray | None]:
    """(values (N, L) float64, label strings or None) from a CSV or an (N, L) .npy."""
    if path.suffix.lower() == ".npy":
        if options.label_column is not None and not options.label_optional:
            raise UserError(f"{path} is an array: it has no --label-column; use a CSV for labels")
        return _finite(np.load(path).astype(np.float64), path), None
    rows = _csv_rows(path)
    header, body = (rows[0], rows[1:]) if _is_header(rows[0]) else (None, rows)
    if header is not None and header[0].strip() == "":  # pandas' index column: no values
        header, body = header[1:], [r[1:] for r in body]
    labels = None
    width = len(header) if header is not None else min(len(r) for r in body)
    unlabelled = options.label_optional and _lacks_column(header, options.label_column, width)
    if options.label_column is not None and not unlabelled:
        column = _column_index(header, options.label_column, path, width)
        labels = np.array([r[column].strip() for r in body])
        body = [r[:column] + r[column + 1:] for r in body]
    try:
        values = np.array(body, np.float64)
    except ValueError:
        raise UserError(f"{path} has rows of different lengths or non-numeric values; every row "
                        "must be one series of numbers (name a label column with "
                        "--label-column)") from None
    return _finite(values, path), labels


def _is_header(row: list[str]) -> bool:
    """Whether a CSV's first row names its columns: words, or pandas' 0, 1, ... N-1.

    `DataFrame.to_csv` of the tutorial's `read_csv(header=None)` frame writes the numbers,
    which had been read as a first series (its values 0-140 set the scaling).
    """
    cells = [c.strip() for c in row]
    cells = cells[1:] if cells[:1] == [""] else cells  # and its index column, unnamed
    return not _numeric(row) or (len(cells) > 2 and cells == [str(i) for i in range(len(cells))])


def _csv_rows(path: Path) -> list[list[str]]:
    try:  # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path} as CSV ({exc})") from None
    if len(rows) < 2:
        raise UserError(f"{path} holds fewer than 2 rows; one series per row is expected")
    return rows


def _numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def _lacks_column(header: list[str] | None, name: str | None, width: int) -> bool:
    """Whether rows lack the label column `name`: no such header name, or an index beyond them.

    New rows to score come without the label the training CSV had: the tutorial's headerless
    ones, one column short, were refused as "--label-column 140 is outside its 140 columns".
    """
    if name is None:
        return False
    if _is_index(name):
        return not -width <= int(name) < width
    return header is not None and name not in header


def _is_index(name: str | None) -> bool:
    """Whether a label column is given by its 0-based index rather than its header name."""
    return name is not None and name.lstrip("-").isdigit()


def _column_index(header: list[str] | None, name: str, path: Path, width: int) -> int:
    """The label column: a header name, or a 0-based index (negative counts from the end).

    `width`: the columns every row has (the header's, else the shortest row's).
    """
    if header is not None and name in header:
        return header.index(name)
    try:
        index = int(name)
    except ValueError:
        known = ", ".join(header[:8]) if header else "no header row"
        raise UserError(f"{path} has no column {name!r} ({known}); pass a header name or a "
                        "0-based column index") from None
    if not -width <= index < width:  # without a header too: it had been an IndexError
        raise UserError(f"--label-column {index} is outside {path}'s {width} columns")
    return index


def _finite(values: np.ndarray, path: Path) -> np.ndarray:
    if values.ndim != 2 or values.shape[1] < 2:
        raise UserError(f"{path} has shape {values.shape}; expected (N, L) series with L >= 2")
    if not np.isfinite(values).all():
        raise UserError(f"{path} contains NaN or inf; clean or drop those rows")
    return values


def series_labels(labels: np.ndarray | None, options: SeriesOptions) -> np.ndarray | None:
    """0 normal / 1 anomaly per row, when the rows are labelled and the normal value is known."""
    if labels is None or options.normal_label is None:
        return None
    normal = _matching(labels, options.normal_label)
    if not normal.any():
        found = ", ".join(sorted(set(labels.tolist()))[:6])
        raise UserError(f"no row has label {options.normal_label!r} (labels found: {found}); "
                        "pass --normal-label with one of them")
    return (~normal).astype(np.int64)


def _matching(labels: np.ndarray, wanted: str) -> np.ndarray:
    """Which labels are `wanted`: as numbers where both are, else as text.

    A CSV written by numpy or pandas spells 1 as 1.0 or 1.000000000000000000e+00.
    """
    try:
        return labels.astype(np.float64) == float(wanted)
    except ValueError:
        return labels == wanted
