"""Which images are anomalies: labels from class sub-folders or a CSV, and defect masks."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from edgeae.core.data import ImageSource
from edgeae.core.errors import UserError
from edgeae.core.images import cropped_to_multiple
from edgeae.core.manifest import Manifest

NORMAL_FOLDERS = ("good", "normal", "ok")  # class sub-folders holding normal images


def labels_for(source: ImageSource, labels_file: Path | None) -> np.ndarray:
    """0/1 labels (1 = anomaly) from a CSV of path,label or from class sub-folders."""
    if labels_file is not None:
        return _labels_from_csv(source, labels_file)
    if not source.class_names or source.labels is None:
        raise UserError(f"{source.name} has no labels: put normal images in a sub-folder named "
                        f"{' or '.join(NORMAL_FOLDERS)} and anomalies in others, or pass --labels")
    normal = [n.lower() in NORMAL_FOLDERS for n in source.class_names]
    if not any(normal):
        raise UserError(f"none of {source.name}'s sub-folders ({', '.join(source.class_names)}) "
                        f"is named {' or '.join(NORMAL_FOLDERS)}; rename the normal one or pass "
                        "--labels FILE")
    return np.array([0 if normal[k] else 1 for k in source.labels], np.int64)


def _labels_from_csv(source: ImageSource, path: Path) -> np.ndarray:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # Excel's CSV UTF-8
            pairs = [(posix(r["path"]), r["label"]) for r in csv.DictReader(fh)]
    except (OSError, KeyError, TypeError, UnicodeDecodeError, csv.Error):  # e.g. an image
        raise UserError(f"{path} is not a readable CSV with 'path' and 'label' columns") from None
    rows = dict(pairs)
    if len(rows) < len(pairs):  # the last would win unsaid
        twice = next(p for p, _ in pairs if sum(q == p for q, _ in pairs) > 1)
        raise UserError(f"{path} labels {twice} more than once; give each image one row")
    names = [source.item_name(i) for i in range(len(source))]
    missing = [n for n in names if n not in rows]
    if missing:
        raise UserError(f"{path} has no label for {len(missing)} of {len(names)} images "
                        f"(first: {missing[0]}); list every image's path relative to the folder")
    values = [rows[n].strip() for n in names]
    if set(values) - {"0", "1"}:
        bad = next(v for v in values if v not in ("0", "1"))
        raise UserError(f"{path}: labels must be 0 (normal) or 1 (anomaly), got {bad!r}")
    return np.array(values, np.int64)


def posix(name: str) -> str:
    """A labels file's path as item names are: relative, "/"-separated, no leading "./"."""
    return Path(name.strip()).as_posix().removeprefix("./")


def mask_path(masks_dir: Path, name: str) -> Path | None:
    """The mask file of the image at relative path `name`; None when there is none.

    The PNG at that path under `masks_dir`, or MVTec AD's NAME_mask.png there.
    """
    plain = (masks_dir / name).with_suffix(".png")
    for path in (plain, plain.with_name(plain.stem + "_mask.png")):
        if path.exists():
            return path
    return None


def read_mask(path: Path | None,
              shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(defect mask at `shape`, the (h, w) it is stored at) from `mask_path`'s file.

    No file means no defect (and no stored size).
    """
    if path is None:
        return np.zeros(shape, bool), None
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise UserError(f"cannot read mask {path}")
    if mask.shape != shape:
        return cv2.resize(mask, shape[::-1], interpolation=cv2.INTER_NEAREST) > 0, mask.shape
    return mask > 0, mask.shape


def load_labelled(spec: str, manifest: Manifest,
                  input_size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """A labelled folder: good/, normal/ or ok/ holds normal images, other sub-folders anomalies.

    Read at the size the artifact is checked at: --input-size's, the model's fixed size, else
    the size the detector scores at (its training size), as `edgeae score` and the runtime read
    images; at their own size, the AUROC in the manifest was not the deployed one.
    """
    from edgeae.core.data import Preprocess, load_data

    size = input_size or manifest.input.fixed_size or manifest.scored_size()
    source = load_data(spec, Preprocess(manifest.input.channels, size)).train
    names = [n.lower() for n in source.class_names or ()]
    if not any(n in NORMAL_FOLDERS for n in names):  # export has no --labels to fall back on
        raise UserError(f"--labelled {spec} needs sub-folders: normal images in "
                        f"{' or '.join(NORMAL_FOLDERS)}/, anomalies in the others")
    labels = labels_for(source, None)
    if len(np.unique(labels)) < 2:
        raise UserError(f"--labelled {spec} needs normal and anomalous images: good/ (or "
                        "normal/) and at least one folder of anomalous ones")
    if source.size is None:
        raise UserError(f"images in {spec} differ in size; pass --input-size HxW")
    images = source.read_batch(np.arange(len(source)))
    return cropped_to_multiple(images, manifest.input.size_multiple), labels
