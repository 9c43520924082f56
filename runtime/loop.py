"""The camera loop behind `edgeae run`: frames in, denoised frames or anomaly scores out.

Capture runs in its own thread for live sources (see `sources`); inference, drawing and writing
run here. The output video is written under a temporary name and renamed when the run ends,
whether by the end of the source, --duration, or Ctrl-C, so it is never left truncated.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.files import FILE_MODE
from edgeae.runtime.capture import Source, SourceStats, frames, wait_for_rate
from edgeae.runtime.models import AnomalyScorer, Denoiser, Score

log = logging.getLogger(__name__)

VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".mov": "mp4v"}


@dataclass(frozen=True)
class RunOptions:
    """What `edgeae run` does with each frame."""

    output: Path | None = None  # a video file (.mp4/.avi/...) or a folder of PNG frames
    events: Path | None = None  # JSON lines, one per anomaly event
    event_interval: float = 1.0  # seconds between two events at the most
    max_fps: float | None = None
    duration: float | None = None
    display: bool = False
    side_by_side: bool = False
    overlay: bool = True
    overwrite: bool = False
    gray: bool = False  # colour frames to gray first: one plane for a gray model, not three


@dataclass(frozen=True)
class RunSummary:
    """How the run went; printed as JSON at the end."""

    frames: int
    dropped: int
    reconnects: int
    seconds: float
    fps: float
    model_ms: dict[str, float]  # model call per frame: pre/post-processing + inference
    frame_ms: dict[str, float]  # the whole loop per frame: model, drawing, writing
    anomalies: int
    events: int
    stopped_by: Literal["end", "duration", "interrupt"]
    output: str | None

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p99": 0.0}
    array = np.asarray(values)
    return {"mean": float(array.mean()), "p50": float(np.percentile(array, 50)),
            "p99": float(np.percentile(array, 99))}


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


class VideoOutput:
    """An OpenCV video written under a temporary name and renamed into place on close."""

    def __init__(self, path: Path, fps: float, overwrite: bool) -> None:
        if path.exists() and not overwrite:
            raise UserError(f"{path} already exists; pass --overwrite to replace it")
        if path.suffix.lower() not in VIDEO_CODECS:
            raise UserError(f"cannot write video {path.name}: use one of "
                            f"{', '.join(VIDEO_CODECS)} or a folder for PNG frames")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        self.path, self._tmp, self._fps = path, Path(tmp), fps
        self._writer: cv2.VideoWriter | None = None

    def write(self, image: np.ndarray) -> None:
        """Append one BGR frame; the first one fixes the video's size."""
        if self._writer is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self._fps, (w, h))
            if not self._writer.isOpened():
                raise UserError(f"OpenCV cannot write {self.path.suffix} video here; try .avi")
        self._writer.write(image)

    def close(self) -> None:
        """Finalise the container and move it into place (nothing is left if no frame came)."""
        if self._writer is not None:
            self._writer.release()
            os.chmod(self._tmp, FILE_MODE)
            os.replace(self._tmp, self.path)
        self._tmp.unlink(missing_ok=True)


class FolderOutput:
    """PNG frames frame_000000.png, ... each written atomically."""

    def __init__(self, path: Path, overwrite: bool) -> None:
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise UserError(f"{path} already holds files; pass --overwrite to write into it")
        path.mkdir(parents=True, exist_ok=True)
        self.path, self._count = path, 0

    def write(self, image: np.ndarray) -> None:
        """Write the next frame."""
        final = self.path / f"frame_{self._count:06d}.png"
        tmp = self.path / f".{final.name}.tmp.png"
        if not cv2.imwrite(str(tmp), image):
            raise UserError(f"cannot write {final}")
        os.replace(tmp, final)
        self._count += 1

    def close(self) -> None:
        """Nothing to finalise."""


def open_output(path: Path | None, fps: float, overwrite: bool):
    """A VideoOutput for a file name with a video suffix, else a FolderOutput, or None."""
    if path is None:
        return None
    if path.suffix:
        return VideoOutput(path, fps, overwrite)
    return FolderOutput(path, overwrite)


class EventLog:
    """Anomaly events as JSON lines, at most one per `interval` seconds, flushed as written."""

    def __init__(self, path: Path, interval: float, overwrite: bool) -> None:
        if path.exists() and not overwrite:
            raise UserError(f"{path} already exists; pass --overwrite to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._interval, self._last = interval, -float("inf")
        self.count = 0

    def maybe_write(self, index: int, score: float, threshold: float) -> None:
        """Record an anomaly unless one was recorded less than `interval` seconds ago."""
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        event = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "frame": index,
                 "score": score, "threshold": threshold, "anomaly": True}
        self._file.write(json.dumps(event) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _check_display(display: bool) -> None:
    if display and "GUI:                           NONE" in cv2.getBuildInformation():
        raise UserError("--display needs OpenCV with a GUI: pip install opencv-python (not "
                        "-headless), or write --output instead")


def _source_fps(source: Source, max_fps: float | None) -> float:
    """Frames per second for the output video: the file's own rate, else --max-fps, else 30."""
    if source.kind == "video":
        capture = cv2.VideoCapture(source.target)
        fps = capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        if fps and fps > 0:
            return fps
    return max_fps or 30.0


class _FrameStep:
    """One frame through the model, with the buffers it reuses and the anomalies it counts."""

    def __init__(self, model: Denoiser | AnomalyScorer, gray: bool,
                 events: EventLog | None) -> None:
        self.model, self.gray, self.events = model, gray, events
        self.scoring = isinstance(model, AnomalyScorer)
        self.heat_scale = model.heat_scale if self.scoring else None
        self.anomalies = 0
        self._denoised = self._gray = None  # reused output and gray frames

    def __call__(self, index: int, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray | Score]:
        """(the frame as the model saw it, the model's denoised frame or Score)."""
        if self.gray and frame.ndim == 3:
            self._gray = _gray_buffer(self._gray, frame)
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=self._gray)
        if not self.scoring:
            if self._denoised is None or self._denoised.shape != frame.shape:
                self._denoised = np.empty_like(frame)
            return frame, self.model.denoise(frame, out=self._denoised)
        result = self.model.score(frame)
        self.heat_scale = self.heat_scale or 4 * max(float(result.heatmap.mean()), 1e-6)
        self.anomalies += bool(result.is_anomaly)
        if result.is_anomaly and self.events is not None:
            self.events.maybe_write(index, result.score, self.model.threshold)
        return frame, result


def run(model: Denoiser | AnomalyScorer, source: Source,
        options: RunOptions = RunOptions()) -> RunSummary:
    """Denoise or score every frame of `source` until it ends, --duration passes or Ctrl-C."""
    _check_display(options.display)
    if options.events is not None and not isinstance(model, AnomalyScorer):
        raise UserError("--events needs --task score (events are anomaly detections)")
    stats = SourceStats()
    stream = frames(source, stats)
    first = next(stream, None)  # a source that cannot open fails here, before any file is made
    if first is None:
        raise UserError(f"{source.target} gave no frames")
    output = open_output(options.output, _source_fps(source, options.max_fps), options.overwrite)
    events = (EventLog(options.events, options.event_interval, options.overwrite)
              if options.events else None)
    model_ms, frame_ms = [], []
    step = _FrameStep(model, options.gray, events)
    stopped_by: Literal["end", "duration", "interrupt"] = "end"
    start = last = time.monotonic()
    try:
        with contextlib.closing(_Closer(output, events, stream)):
            for index, frame in enumerate(itertools.chain([first], stream)):
                t0 = time.perf_counter()
                frame, result = step(index, frame)
                model_ms.append((time.perf_counter() - t0) * 1e3)
                if output is not None or options.display:
                    view = _view(frame, result, step.heat_scale, options,
                                 fps=len(model_ms) / max(time.monotonic() - start, 1e-9),
                                 ms=model_ms[-1])
                    if output is not None:
                        output.write(view)
                    if options.display and _show(view):
                        stopped_by = "interrupt"
                        break
                frame_ms.append((time.perf_counter() - t0) * 1e3)
                if options.duration and time.monotonic() - start >= options.duration:
                    stopped_by = "duration"
                    break
                last = wait_for_rate(last, options.max_fps)
    except KeyboardInterrupt:
        stopped_by = "interrupt"
    seconds = time.monotonic() - start
    return RunSummary(
        frames=len(model_ms), dropped=stats.dropped, reconnects=stats.reconnects,
        seconds=round(seconds, 3), fps=len(model_ms) / seconds if seconds else 0.0,
        model_ms=_stats(model_ms), frame_ms=_stats(frame_ms), anomalies=step.anomalies,
        events=events.count if events else 0, stopped_by=stopped_by,
        output=str(options.output) if options.output else None)


class _Closer:
    """Closes the output and the event log, whatever ended the loop."""

    def __init__(self, *parts) -> None:
        self._parts = [p for p in parts if p is not None]

    def close(self) -> None:
        for part in self._parts:
            part.close()


def _gray_buffer(buffer: np.ndarray | None, frame: np.ndarray) -> np.ndarray:
    """The reused gray frame for `frame`'s size."""
    if buffer is None or buffer.shape != frame.shape[:2]:
        return np.empty(frame.shape[:2], frame.dtype)
    return buffer


def _view(frame: np.ndarray, result, heat_scale: float | None, options: RunOptions,
          fps: float, ms: float) -> np.ndarray:
    """What is shown and written: the output (or heat map), optionally beside the input."""
    if isinstance(result, np.ndarray):
        shown = as_bgr(result).copy()
        text = [f"{fps:.1f} fps  {ms:.1f} ms"]
    else:
        shown = heat_overlay(frame, result.heatmap, heat_scale)
        flag = " ANOMALY" if result.is_anomaly else ""
        text = [f"{fps:.1f} fps  {ms:.1f} ms", f"score {result.score:.4g}{flag}"]
    if options.side_by_side:
        shown = np.hstack([as_bgr(frame), shown])
    return draw_text(shown, text) if options.overlay else shown


def _show(view: np.ndarray) -> bool:
    """Display a frame; True when the user pressed q or Esc."""
    cv2.imshow("edgeae", view)
    return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)
