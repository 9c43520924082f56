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

from edgeae.app.workers import ModelSpec, process_pool
from edgeae.core.data import ImageSource
from edgeae.core.errors import UserError
from edgeae.core.files import (
    atomic_path,
    cached_sha256,
    check_writable,
    refuse_writing_over_input,
    write_text,
)
from edgeae.core.images import overlay
from edgeae.core.labels import mask_path, read_mask
from edgeae.core.modeldir import MODEL_FILE
from edgeae.core.progress import progress
from edgeae.runtime.batch import BATCH, score_chunks, scored
from edgeae.runtime.models import AnomalyScorer

log = logging.getLogger(__name__)


def journal_path(out_csv: Path) -> Path:
    """Where `score_folder` keeps the rows of a run in progress (removed when it finishes)."""
    return out_csv.with_name(out_csv.name + ".partial")


JOURNAL_MODEL = "#model"  # a journal's first row: the SHA-256 of the model that wrote it


def model_digest(path: Path) -> str:
    """The SHA-256 of what scores: an artifact's file, or a model directory's model.keras."""
    return cached_sha256(path / MODEL_FILE if path.is_dir() else path)


def read_scored(journal: Path, model: str) -> dict[str, float]:
    """Name -> score of an interrupted run's journal; a torn last line is left out.

    Refused unless this model wrote it: resumed rows of another model's scale would be decided
    at this one's threshold.
    """
    try:
        text = journal.read_text()
    except (OSError, UnicodeDecodeError):
        text = ""
    rows = list(csv.reader(io.StringIO(text[:text.rfind("\n") + 1])))
    if not rows or rows[0][:1] != [JOURNAL_MODEL]:
        raise UserError(f"{journal} is not a journal `edgeae score` wrote; pass --overwrite to "
                        "start over")
    if rows[0][1:] != [model]:
        raise UserError(f"{journal} holds another model's scores; pass --overwrite to start "
                        "over with this one")
    done = {}
    for row in rows[1:]:
        try:
            done[row[0]] = float(row[1])
        except (IndexError, ValueError):  # not a whole row
            continue
    return done


SCORES_HEADER = ["path", "score", "prediction"]
RESCORED = 3  # a finished CSV's rows scored again before --resume keeps them


def read_scores_csv(path: Path) -> dict[str, float]:
    """Name -> score of a scores CSV `edgeae score` wrote, or a one-line UserError."""
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
        if rows[0] != SCORES_HEADER:
            raise ValueError
        return {row[0]: float(row[1]) for row in rows[1:]}
    except (OSError, UnicodeDecodeError, ValueError, IndexError):
        raise UserError(f"{path} is not a scores CSV `edgeae score` wrote; --resume keeps only "
                        "those (pass another --out, or --overwrite)") from None


def check_same_scale(scorer: AnomalyScorer, source: ImageSource, names: list[str],
                     finished: dict[str, float], path: Path) -> None:
    """A finished CSV's first rows, scored again here: another model's rows are refused.

    Its scores would be decided at this model's threshold, on another scale.
    """
    index = {name: i for i, name in enumerate(names)}
    kept = [name for name in finished if name in index][:RESCORED]
    for name in kept:  # one at a time: a folder's images may differ in size
        score = float(scorer.score_batch(source.read(index[name])[None]).score[0])
        if not np.isclose(finished[name], score, rtol=1e-2, atol=1e-4):
            raise UserError(f"{path} was scored by another model ({name}: {finished[name]:.6g} "
                            f"there, {score:.6g} now); pass another --out, or --overwrite")


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
        for i, result, image in score_chunks(self.scorer, self.source, indices):
            if self.maps_dir is not None:
                heat = result.heatmap
                picture = overlay(image, heat, self.scale or float(heat.max()))
                target = map_path(self.maps_dir, self.source.item_name(i))
                with atomic_path(target, overwrite=self.overwrite) as tmp:
                    if not cv2.imwrite(str(tmp), picture):
                        raise UserError(f"could not write {target}")
            out.append((i, result.score))
        return out


def map_path(maps_dir: Path, name: str) -> Path:
    """Where an image's heat-map overlay goes: its name, as a PNG."""
    return (maps_dir / name).with_suffix(".png")


def check_map_names(maps_dir: Path, names: list[str], overwrite: bool,
                    inputs: Sequence[Path] = ()) -> None:
    """Before scoring: no two images share a map's name, none is there already (unless told).

    No map may replace one of the `inputs` (the image files scored), --overwrite or not.
    """
    seen: dict[Path, str] = {}
    for name in names:
        target = map_path(maps_dir, name)
        if target in seen:
            raise UserError(f"{seen[target]} and {name} would both write {target}; score them "
                            "with different --maps folders")
        seen[target] = name
    scored = {Path(p).resolve(): Path(p) for p in inputs}
    for target in seen:
        if (source := scored.get(target.resolve())) is not None:
            refuse_writing_over_input(target, source, "--maps")
        check_writable(target, overwrite)


def score_folder(spec: ModelSpec, source: ImageSource, out_csv: Path,
                 maps_dir: Path | None = None, overwrite: bool = False, workers: int = 1,
                 resume: bool = False) -> dict:
    """Write path, score, prediction per image (and heat-map overlays); return a summary.

    Rows are journaled as they are scored, so `resume` after an interruption scores only the
    images not done yet; the CSV, in the source's order, is written when all are. `workers`
    processes each open the model once and score chunks of up to BATCH images.
    """
    journal = journal_path(out_csv)
    if journal.exists() and not (resume or overwrite):
        raise UserError(f"an interrupted run left {journal}; pass --resume to finish it or "
                        "--overwrite to start over")
    resuming = resume and not overwrite and (journal.exists() or out_csv.exists())
    finished = read_scores_csv(out_csv) if resuming and out_csv.exists() else {}
    done = {**finished, **(read_scored(journal, model_digest(spec.path))
                           if resuming and journal.exists() else {})}
    check_writable(out_csv, overwrite or resuming)
    names = [source.item_name(i) for i in range(len(source))]
    if maps_dir is not None:  # the resumed rows' own maps may be written again
        check_map_names(maps_dir, names, overwrite or resuming, getattr(source, "paths", ()))
    scorer = spec.open()  # here first: a bad model is one error before any worker starts
    if scorer.threshold is None:
        log.warning("%s has no threshold: scores only (pass --threshold or run `edgeae "
                    "threshold`)", spec.path)
    check_same_scale(scorer, source, names, finished, out_csv)
    scores = np.array([done.get(n, np.nan) for n in names])
    todo = np.flatnonzero(np.isnan(scores))
    step = max(1, min(BATCH, len(todo) // (4 * workers)))  # every worker gets several
    chunks = [todo[k:k + step] for k in range(0, len(todo), step)]
    journal.parent.mkdir(parents=True, exist_ok=True)  # as every other output's folders
    rows = (row for chunk in _scored_chunks(spec, scorer, source, chunks, maps_dir,
                                            overwrite or resuming, workers) for row in chunk)
    append = resuming and journal.exists()
    with open(journal, "a" if append else "w", newline="") as fh:
        writer = csv.writer(fh)
        if not append:
            writer.writerow([JOURNAL_MODEL, model_digest(spec.path)])
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


def _warn_of_unused_masks(masks_dir: Path, used: set[Path | None]) -> None:
    """Name mask files no image matched: their images counted as free of defects."""
    unused = sorted(p for p in masks_dir.rglob("*.png") if p not in used)
    if unused:
        log.warning("%d mask(s) in %s match no image (e.g. %s), so their images counted as "
                    "free of defects: name each as its image's relative path, or NAME_mask.png",
                    len(unused), masks_dir, unused[0].relative_to(masks_dir))


def evaluate_folder(scorer: AnomalyScorer, source: ImageSource, labels: np.ndarray,
                    masks_dir: Path | None = None) -> dict:
    """Image metrics at the model's threshold, and pixel metrics when masks are given."""
    from edgeae.core.metrics import detection_metrics, pixel_metrics

    scores, maps, masks, unlike, used = np.empty(len(source)), [], [], 0, set()
    stored = getattr(source, "stored_sizes", None)  # an image's own size, before the scoring's
    for i, result, _ in scored(scorer, source, desc="evaluating"):
        scores[i] = result.score
        if masks_dir is not None:
            path = mask_path(masks_dir, source.item_name(i))
            mask, size = read_mask(path, result.heatmap.shape)
            maps.append(result.heatmap)
            masks.append(mask)
            unlike += size is not None and size != (stored[i] if stored else mask.shape)
            used.add(path)
    if unlike:  # masks are resized with their images to the scoring size without a word
        log.warning("%d mask(s) in %s differ in size from their images: resized (nearest "
                    "neighbour)", unlike, masks_dir)
    if masks_dir is not None:
        _warn_of_unused_masks(masks_dir, used)
    result = detection_metrics(scores, labels, scorer.threshold)
    result["threshold_strategy"] = scorer.manifest.threshold_strategy
    if masks_dir is not None:
        if not any(m.any() for m in masks):
            raise UserError(f"no mask in {masks_dir} marks a defect; masks must be PNGs with the "
                            "images' relative paths, non-zero on defects")
        result["pixel"] = pixel_metrics(maps, masks)
    return result


