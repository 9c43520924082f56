"""`edgeae score`, `evaluate` and `threshold`: anomaly detection on folders of images.

The model is a model directory (Keras) or an exported artifact (runtime, no TensorFlow); both
score through the runtime's AnomalyScorer, so these numbers are the device's numbers.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from edgeae.errors import UserError
from edgeae.files import atomic_path, check_writable, write_text
from edgeae.progress import progress
from edgeae.runtime import read_artifact_manifest
from edgeae.runtime.manifest import Manifest, manifest_path_for
from edgeae.runtime.models import AnomalyScorer
from edgeae.runtime.threshold import parse_threshold, resolve_threshold
from edgeae.train.modeldir import MANIFEST_FILE, ModelDir
from edgeae.train.sources import ImageSource
from edgeae.workers import ModelSpec, process_pool

log = logging.getLogger(__name__)
NORMAL_FOLDERS = ("good", "normal", "ok")  # class sub-folders holding normal images
BATCH = 64


def scored(scorer: AnomalyScorer, source: ImageSource, indices: np.ndarray | None = None,
           desc: str = "scoring") -> Iterator[tuple[int, float, np.ndarray, np.ndarray]]:
    """(index, score, error map, image) for each image (all, or `indices`).

    Batched when the sizes agree; the image comes along so callers need not read it again.
    """
    indices = np.arange(len(source)) if indices is None else np.asarray(indices)
    return progress(_score_chunks(scorer, source, indices), total=len(indices), desc=desc,
                    unit="img")


def _score_chunks(scorer: AnomalyScorer, source: ImageSource,
                  indices: np.ndarray) -> Iterator[tuple[int, float, np.ndarray, np.ndarray]]:
    step = BATCH if source.size is not None else 1
    for start in range(0, len(indices), step):
        chunk = indices[start:start + step]
        batch = (source.read_batch(chunk) if source.size is not None
                 else source.read(int(chunk[0]))[None])
        scores, maps = scorer.score_batch(batch)
        yield from zip(chunk.tolist(), scores.tolist(), maps, batch)


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
        with open(path, newline="") as fh:
            rows = {r["path"]: r["label"] for r in csv.DictReader(fh)}
    except (OSError, KeyError, TypeError):
        raise UserError(f"{path} is not a readable CSV with 'path' and 'label' columns") from None
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


def read_mask(masks_dir: Path, name: str, shape: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """(defect mask at `shape`, whether it was resized) for the image at relative path `name`.

    The mask is the PNG at the same relative path under `masks_dir`; no file means no defect.
    """
    path = (masks_dir / name).with_suffix(".png")
    if not path.exists():
        return np.zeros(shape, bool), False
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise UserError(f"cannot read mask {path}")
    if mask.shape == shape:
        return mask > 0, False
    return cv2.resize(mask, shape[::-1], interpolation=cv2.INTER_NEAREST) > 0, True


def overlay(image: np.ndarray, heat: np.ndarray, scale: float) -> np.ndarray:
    """A BGR uint8 picture of the image with its anomaly map (0..scale) blended on top."""
    unit = np.clip(heat / scale, 0, 1) if scale > 0 else np.zeros_like(heat)
    colour = cv2.applyColorMap(np.rint(unit * 255).astype(np.uint8), cv2.COLORMAP_JET)
    base = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    base = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR if base.shape[-1] == 1 else cv2.COLOR_RGB2BGR)
    return cv2.addWeighted(base, 0.55, colour, 0.45, 0)


def read_manifest(model: Path) -> Manifest:
    """The manifest of a model directory or of an exported artifact, without loading a model."""
    if model.is_dir():
        return ModelDir.open(model).manifest
    return read_artifact_manifest(model)


def journal_path(out_csv: Path) -> Path:
    """Where `score_folder` keeps the rows of a run in progress (removed when it finishes)."""
    return out_csv.with_name(out_csv.name + ".partial")


def read_scored(path: Path) -> dict[str, float]:
    """Name -> score of the rows in a scores CSV or journal; a torn last line is left out."""
    if not path.exists():
        return {}
    text = path.read_text()
    rows = csv.reader(io.StringIO(text[:text.rfind("\n") + 1]))
    done = {}
    for row in rows:
        try:
            done[row[0]] = float(row[1])
        except (IndexError, ValueError):  # the header, or a line that is not a row
            continue
    return done


class ChunkScorer:
    """Scores chunks of a source's images and writes their heat-map overlays as it goes."""

    def __init__(self, scorer: AnomalyScorer, source: ImageSource, maps_dir: Path | None,
                 overwrite: bool) -> None:
        self.scorer, self.source, self.maps_dir, self.overwrite = (scorer, source, maps_dir,
                                                                   overwrite)
        self.scale = scorer.heat_scale

    def __call__(self, indices: np.ndarray) -> list[tuple[int, float]]:
        """(index, score) of each image; its overlay is written first, when maps are wanted."""
        out = []
        for i, score, heat, image in _score_chunks(self.scorer, self.source, indices):
            if self.maps_dir is not None:
                picture = overlay(image, heat, self.scale or float(heat.max()))
                target = (self.maps_dir / self.source.item_name(i)).with_suffix(".png")
                with atomic_path(target, overwrite=self.overwrite) as tmp:
                    if not cv2.imwrite(str(tmp), picture):
                        raise UserError(f"could not write {target}")
            out.append((i, score))
        return out


def score_folder(spec: ModelSpec, source: ImageSource, out_csv: Path,
                 maps_dir: Path | None = None, overwrite: bool = False, workers: int = 1,
                 resume: bool = False) -> dict:
    """Write path, score, prediction per image (and heat-map overlays); return a summary.

    Rows are journaled as they are scored, so `resume` after an interruption scores only the
    images not done yet; the CSV, in the source's order, is written when all are. `workers`
    processes each open the model once and score chunks of up to BATCH images.
    """
    journal = journal_path(out_csv)
    check_writable(out_csv, overwrite or resume)
    if journal.exists() and not (resume or overwrite):
        raise UserError(f"an interrupted run left {journal}; pass --resume to finish it or "
                        "--overwrite to start over")
    scorer = spec.open()  # here first: a bad model is one error before any worker starts
    if scorer.threshold is None:
        log.warning("%s has no threshold: scores only (pass --threshold or run `edgeae "
                    "threshold`)", spec.path)
    names = [source.item_name(i) for i in range(len(source))]
    done = ({**read_scored(out_csv), **read_scored(journal)} if resume and not overwrite
            else {})
    scores = np.array([done.get(n, np.nan) for n in names])
    todo = np.flatnonzero(np.isnan(scores))
    step = max(1, min(BATCH, len(todo) // (4 * workers)))  # every worker gets several
    chunks = [todo[k:k + step] for k in range(0, len(todo), step)]
    mode = "a" if resume and not overwrite else "w"
    rows = (row for chunk in _scored_chunks(spec, scorer, source, chunks, maps_dir,
                                            overwrite or resume, workers) for row in chunk)
    with open(journal, mode, newline="") as fh:
        writer = csv.writer(fh)
        for i, score in progress(rows, total=len(todo), desc="scoring", unit="img"):
            scores[i] = float(f"{score:.8g}")  # as the CSV has it, resumed or not
            writer.writerow([names[i], f"{score:.8g}"])
            fh.flush()  # an interruption loses only the images in flight
    threshold = scorer.threshold
    predictions = ([""] * len(names) if threshold is None
                   else (scores > threshold).astype(int).tolist())
    buffer = io.StringIO()
    table = csv.writer(buffer)
    table.writerow(["path", "score", "prediction"])
    table.writerows((n, f"{s:.8g}", p) for n, s, p in zip(names, scores, predictions))
    write_text(out_csv, buffer.getvalue(), overwrite=True)
    journal.unlink()
    return {"images": len(names), "scored": int(len(todo)), "resumed": len(names) - len(todo),
            "threshold": threshold,
            "anomalies": None if threshold is None else int(sum(predictions)),
            "csv": str(out_csv)}


def _scored_chunks(spec: ModelSpec, scorer: AnomalyScorer, source: ImageSource,
                   chunks: list[np.ndarray], maps_dir: Path | None, overwrite: bool,
                   workers: int) -> Iterator[list[tuple[int, float]]]:
    """Each chunk's (index, score) rows, in order: here, or from `workers` processes."""
    if workers == 1 or len(chunks) < 2:
        yield from map(ChunkScorer(scorer, source, maps_dir, overwrite), chunks)
        return
    with process_pool(workers, spec, _start_worker, source, maps_dir, overwrite) as pool:
        yield from pool.map(_score_chunk, chunks)


_worker: ChunkScorer | None = None  # this worker process's model and images


def _start_worker(spec: ModelSpec, source: ImageSource, maps_dir: Path | None,
                  overwrite: bool) -> None:
    global _worker
    _worker = ChunkScorer(spec.open(), source, maps_dir, overwrite)


def _score_chunk(indices: np.ndarray) -> list[tuple[int, float]]:
    return _worker(indices)


def evaluate_folder(scorer: AnomalyScorer, source: ImageSource, labels: np.ndarray,
                    masks_dir: Path | None = None) -> dict:
    """Image metrics at the model's threshold, and pixel metrics when masks are given."""
    from edgeae.metrics import detection_metrics, pixel_metrics

    scores, maps, masks, resized = np.empty(len(source)), [], [], 0
    for i, score, heat, _ in scored(scorer, source, desc="evaluating"):
        scores[i] = score
        if masks_dir is not None:
            mask, was_resized = read_mask(masks_dir, source.item_name(i), heat.shape)
            maps.append(heat)
            masks.append(mask)
            resized += was_resized
    if resized:
        log.warning("%d mask(s) in %s differ in size from their images: resized (nearest "
                    "neighbour)", resized, masks_dir)
    result = detection_metrics(scores, labels, scorer.threshold)
    result["threshold_strategy"] = scorer.manifest.threshold_strategy
    if masks_dir is not None:
        if not any(m.any() for m in masks):
            raise UserError(f"no mask in {masks_dir} marks a defect; masks must be PNGs with the "
                            "images' relative paths, non-zero on defects")
        result["pixel"] = pixel_metrics(maps, masks)
    return result


def apply_threshold(model: Path, strategy: str, scores: Sequence[float] | None = None,
                    labels: np.ndarray | None = None) -> Manifest:
    """Set a model directory's or artifact's threshold by `strategy`; rewrite its manifest.

    An artifact's manifest JSON beside it is what the runtime reads first, so that file
    changes (and is created from the embedded copy if it was missing).
    """
    spec = parse_threshold(strategy)
    manifest = read_manifest(model)  # the manifest alone: no model is loaded to change it
    target = model / MANIFEST_FILE if model.is_dir() else manifest_path_for(model)
    value = resolve_threshold(spec, manifest.score_stats,
                              None if scores is None else np.asarray(scores), labels)
    updated = manifest.model_copy(update={"threshold": value, "threshold_strategy": str(spec)})
    write_text(target, updated.to_json(), overwrite=True)
    return updated
