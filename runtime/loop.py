"""The camera loop behind `edgeae run`: frames in, denoised frames or anomaly scores out.

Capture runs in its own thread for live sources (see `capture`); inference, drawing and writing
run here. The loop keeps its own time: it waits for a frame at most `TICK` seconds at a time, so
--duration, Ctrl-C (SIGINT) and SIGTERM act within a second whatever the source does. The output
video is written under a temporary name and renamed when the run ends, whether by the end of the
source, --duration or a signal, so it is never left truncated. Per-frame statistics live in
fixed-size buffers: memory does not grow with the length of a run.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import json
import logging
import os
import random
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.files import FILE_MODE, refuse_writing_over_input
from edgeae.core.images import IMAGE_SUFFIXES
from edgeae.runtime.capture import (
    CaptureOptions,
    FileFeed,
    LatestFrameReader,
    Source,
    SourceStats,
    open_feed,
)
from edgeae.runtime.drawing import Canvas, draw_text
from edgeae.runtime.models import AnomalyScorer, Denoiser, Score
from edgeae.runtime.sinks import MAX_MESSAGES, SINKS, Sinks, check_distinct, parse_sink
from edgeae.runtime.systemd import Notifier

if TYPE_CHECKING:  # the server's module (http.server) is imported only when --serve is given
    from edgeae.runtime.serve import PageServer, ServeOptions

log = logging.getLogger(__name__)

VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".mov": "mp4v"}
TICK = 0.2  # seconds the loop waits for a frame before it checks --duration and signals again
# A live source's output video is stamped with the rate frames were written at, measured over
# the first RATE_WINDOW seconds (at most RATE_BUFFER_BYTES of frames are held until then)
RATE_WINDOW = 2.0
RATE_BUFFER_BYTES = 64 * 2**20
DEFAULT_FPS = 30.0  # a folder's video, or a live one too short to measure
SINK_SCHEMES = tuple(SINKS)
StopReason = Literal["end", "duration", "interrupt", "terminate", "quit"]
SIGNAL_REASONS: dict[int, StopReason] = {signal.SIGINT: "interrupt", signal.SIGTERM: "terminate"}
HANGUP = hasattr(signal, "SIGHUP")  # not on Windows


@dataclass(frozen=True)
class RunOptions:
    """What `edgeae run` does with each frame."""

    output: Path | None = None  # a video file (.mp4/.avi/...) or a folder of PNG frames
    events: Path | None = None  # JSON lines, one per anomaly event
    event_interval: float = 1.0  # seconds between two events at the most
    max_fps: float | None = None
    duration: float | None = None
    # --duration counts from the first frame, not the start (trials: a stream's open excluded)
    timed_from_first_frame: bool = False
    display: bool = False
    side_by_side: bool = False
    overlay: bool = True
    overwrite: bool = False
    gray: bool = False  # the source read as gray (capture.GrayCapture): one plane, not three
    loop: bool = False  # a video file or folder starts again at its end (demos, soak tests)
    sinks: tuple[str, ...] = ()  # mqtt(s):// and http(s):// URLs for events and status
    queue_dir: Path | None = None  # the sinks' on-disk queues (default: sinks.default_queue_dir)
    queue_max: int = MAX_MESSAGES  # messages each sink's queue keeps at most (oldest dropped)
    status_interval: float = 60.0  # seconds between two status messages to the sinks
    serve: ServeOptions | None = None  # the web page, /metrics and /healthz (runtime/serve.py)
    # systemd hears READY, keep-alives and STOPPING (runtime/systemd.py); a --threads auto trial's
    # STOPPING would have told it the service was ending
    notify: bool = True


@dataclass(frozen=True)
class RunHooks:
    """What the app lends the loop: SIGHUP's reload, the page's threshold saver, the name."""

    reload: Callable[[], None] | None = None  # SIGHUP calls it between two frames
    save_threshold: Callable[[float], None] | None = None  # the page's threshold, persisted
    name: str = "model"  # shown on the page


@dataclass(frozen=True)
class RunSummary:
    """How the run went; printed as JSON at the end."""

    frames: int  # through the model
    dropped: int
    reconnects: int
    seconds: float
    fps: float
    model_ms: dict[str, float]  # model call per frame: pre/post-processing + inference
    frame_ms: dict[str, float]  # the whole loop per frame: model, drawing, writing
    anomalies: int
    events: int
    events_unwritten: int  # of those, lost to the --events file (a full disk): sinks had them
    restarts: int  # a temporal model's history started again: reconnects, wraps, scene cuts
    stopped_by: StopReason  # end | duration | interrupt (SIGINT) | terminate (SIGTERM) | quit
    output: str | None
    written: int  # frames in the output
    resized: int  # of those, resized to the video's size (the source's size changed)
    output_fps: float | None  # the output video's stamped rate
    sinks: dict[str, dict[str, int]]  # per sink: messages delivered, left queued, dropped

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


class Latencies:
    """Milliseconds per frame in fixed memory: exact count and mean, p50 and p99 from samples.

    The reservoir (Vitter's algorithm R, seeded so a run's numbers are reproducible) holds every
    frame up to `size`, then each frame with equal probability: at 4096 samples p99 rests on
    about 41 values above it, within about half a percentile point of the exact one.
    """

    def __init__(self, size: int = 4096, seed: int = 0) -> None:
        self._sample = np.zeros(size)  # allocated once
        self._rng = random.Random(seed)
        self.count, self.last, self._total = 0, 0.0, 0.0

    def add(self, ms: float) -> None:
        """Record one frame's time."""
        slot = self.count if self.count < len(self._sample) else self._rng.randrange(self.count + 1)
        if slot < len(self._sample):
            self._sample[slot] = ms
        self.count += 1
        self.last, self._total = ms, self._total + ms

    def summary(self) -> dict[str, float]:
        """{"mean", "p50", "p99"} in milliseconds (zeros before any frame)."""
        if not self.count:
            return {"mean": 0.0, "p50": 0.0, "p99": 0.0}
        kept = self._sample[:self.count]
        p50, p99 = np.percentile(kept, [50, 99])
        return {"mean": self._total / self.count, "p50": float(p50), "p99": float(p99)}


SPACE_RESERVE = 32 << 20  # bytes a video's disk keeps free: the container's end is written last
SPACE_CHECK_EVERY = 16  # frames between two looks at it


class VideoOutput:
    """An OpenCV video written under a temporary name and renamed into place on close.

    Every frame is written: one whose size differs from the video's (a folder of mixed sizes, a
    stream that reconnects at another resolution) is resized to it and counted in `resized`.
    With `fps` None (a live source) the first frames are held until the rate they come at is
    measured (`RATE_WINDOW`), and the video is stamped with that rate so it plays in real time.
    """

    def __init__(self, path: Path, fps: float | None, overwrite: bool) -> None:
        _check_output_replaceable(path, overwrite)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                                   dir=path.parent)  # named as core/files.meant_path knows
        os.close(fd)
        self.path, self._tmp, self.fps = path, Path(tmp), fps
        self.written = self.resized = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None  # (width, height) of the video
        self._held: list[tuple[float, np.ndarray]] = []  # (time, frame) while the rate is measured

    def write(self, image: np.ndarray, when: float) -> None:
        """Append one BGR frame shown at monotonic time `when`; the first fixes the size."""
        if self.fps is not None:
            self._append(image)
            return
        self._held.append((when, image.copy()))
        held_bytes = self._held[0][1].nbytes * len(self._held)
        if when - self._held[0][0] >= RATE_WINDOW or held_bytes >= RATE_BUFFER_BYTES:
            self._release_held()

    def _release_held(self) -> None:
        """Stamp the measured rate and write the frames held while measuring it."""
        self.fps = measured_rate([when for when, _ in self._held]) or DEFAULT_FPS
        for _, image in self._held:
            self._append(image)
        self._held.clear()

    def _append(self, image: np.ndarray) -> None:
        if self._writer is None:
            self._size = image.shape[1], image.shape[0]
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                raise UserError(f"OpenCV cannot write {self.path.suffix} video here; try .avi")
            if any(side % 2 for side in self._size):
                log.warning("%dx%d frames: the video is %dx%d, as its codec takes even sides "
                            "(OpenCV leaves out the last row or column; a folder of PNG frames "
                            "keeps them)", *self._size, *(side - side % 2 for side in self._size))
        if (image.shape[1], image.shape[0]) != self._size:
            shrink = image.shape[0] * image.shape[1] > self._size[0] * self._size[1]
            if not self.resized:
                log.warning("a frame of %dx%d in a %dx%d video: frames of other sizes are "
                            "resized to it (a folder of PNG frames keeps every size)",
                            image.shape[1], image.shape[0], *self._size)
            image = cv2.resize(image, self._size,
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            self.resized += 1
        if not self._writer.isOpened():
            raise UserError(f"writing {self.path} failed after {self.written} frames")
        if self.written % SPACE_CHECK_EVERY == 0:
            self._check_space()
        self._writer.write(image)
        self.written += 1

    def _check_space(self) -> None:
        """Stop, a UserError, while the disk can still take the container's end.

        OpenCV's writer reports no failed write: on a full disk it left an mp4 without its
        index (unplayable) and an AVI of a few readable frames, while the run said every frame
        was written.
        """
        free = shutil.disk_usage(self._tmp.parent).free
        if free < SPACE_RESERVE:
            raise UserError(f"stopped writing {self.path} after {self.written} frames: less than "
                            f"{SPACE_RESERVE >> 20} MiB free on its disk (the video keeps them); "
                            "free some space or write elsewhere")

    def close(self) -> None:
        """Finalise the container and move it into place (nothing is left if no frame came)."""
        try:
            if self._held:
                self._release_held()
            if self._writer is not None:
                self._writer.release()
                if self._tmp.stat().st_size == 0:
                    raise UserError(f"writing {self.path} failed: OpenCV wrote nothing for "
                                    f"{self._size[0]}x{self._size[1]} frames; try .avi, or a "
                                    "folder for PNG frames")
                self._check_readable()
                os.chmod(self._tmp, FILE_MODE)
                os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)

    def _check_readable(self) -> None:
        """The finished video opens and holds frames, or a UserError (nothing is moved in)."""
        capture = cv2.VideoCapture(str(self._tmp))
        try:
            readable = capture.isOpened() and capture.read()[0]
        finally:
            capture.release()
        if not readable:
            raise UserError(f"writing {self.path} failed: the finished video cannot be read "
                            "back (a full disk?); free some space or write elsewhere")


def measured_rate(times: list[float]) -> float | None:
    """Frames per second from the times frames came at; None from fewer than three frames.

    The first interval is left out: it holds the model's first call, which sets itself up. So
    are gaps over OUTAGE_GAP times the median interval: a stream that dropped and came back
    within the window had stamped its video at 3.6 frames/s where it sent 10.
    """
    gaps = np.diff(np.asarray(times[1:], np.float64))
    if len(gaps) < 1 or gaps.sum() <= 0:
        return None
    kept = gaps[gaps <= OUTAGE_GAP * np.median(gaps)]
    return len(kept) / kept.sum() if kept.sum() > 0 else None


OUTAGE_GAP = 4.0  # an interval this many times the median one is a source's outage


FRAME_NAME = re.compile(r"frame_\d{6}\.png")


class FolderOutput:
    """PNG frames frame_000000.png, ... each written atomically.

    With `overwrite`, an earlier run's frames there are removed first, so none is left behind
    beyond this run's last.
    """

    def __init__(self, path: Path, overwrite: bool) -> None:
        _check_output_replaceable(path, overwrite)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("frame_*.png"):  # an earlier run's frames, which ours replace
            if FRAME_NAME.fullmatch(stale.name):
                stale.unlink()
        self.path, self.written, self.resized, self.fps = path, 0, 0, None

    def write(self, image: np.ndarray, when: float) -> None:  # noqa: ARG002 - as VideoOutput
        """Write the next frame.

        Encoded in memory and written by Python, so a full disk is one line that says so
        (libpng had printed its own "Write Error" before a bare "cannot write").
        """
        final = self.path / f"frame_{self.written:06d}.png"
        tmp = self.path / f".{final.name}.tmp.png"
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise UserError(f"cannot write {final}: OpenCV cannot encode a {image.dtype} frame "
                            f"of shape {image.shape} as PNG")
        try:
            tmp.write_bytes(encoded)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UserError(f"cannot write {final}: {e.strerror or e}; free some space or "
                            "write elsewhere") from None
        os.replace(tmp, final)
        self.written += 1

    def close(self) -> None:
        """Nothing to finalise."""


def open_output(path: Path | None, fps: float | None,
                overwrite: bool) -> VideoOutput | FolderOutput | None:
    """A VideoOutput for a file name with a video suffix, else a FolderOutput, or None.

    `fps` None: measure the rate frames are written at (live sources).
    """
    if path is None:
        return None
    if writes_video(path):
        return VideoOutput(path, fps, overwrite)
    return FolderOutput(path, overwrite)


def writes_video(output: Path) -> bool:
    """Whether --output names a video file: a name with a suffix that is no existing folder."""
    return bool(output.suffix) and not output.is_dir()


class EventLog:
    """Anomaly events, at most one per `interval` seconds, to `path` and to the sinks.

    Seconds of wall time, or of the video's own time (`clock`, frame index -> seconds).

    The file gets JSON lines, flushed as written, after those already there (a service that
    restarts goes on with its log; `overwrite` starts it afresh). A line the disk cannot take
    is lost with one warning, and the run goes on; the sinks (MQTT, webhooks) queue each event
    on disk before sending it.
    """

    def __init__(self, path: Path | None, interval: float, overwrite: bool,
                 sinks: Sinks | None = None, page: PageServer | None = None,
                 clock: Callable[[int], float] | None = None) -> None:
        self._file, self.path, self.unwritten = None, path, 0
        self._clock = clock or (lambda _: time.monotonic())  # frame index -> seconds
        if path is not None:
            _check_event_log(path, overwrite)
            path.parent.mkdir(parents=True, exist_ok=True)
            # unbuffered: a line the disk refused had stayed in Python's buffer, to be written
            # later, while it was counted as lost
            self._file = open(path, "wb" if overwrite else "ab", buffering=0)  # noqa: SIM115
            if self._file.tell() and not _ends_a_line(path):  # an earlier run cut mid-line
                self._write_line("")
        self._sinks, self._page = sinks, page
        self._interval, self._last = interval, -float("inf")
        self.count = 0

    def _write_line(self, line: str) -> None:
        """One line into the file, whole or not at all; lost with one warning if the disk is full.

        A part the disk took is cut off again: no line is left half-written.
        """
        data, end = (line + "\n").encode(), self._file.seek(0, os.SEEK_END)
        try:
            if self._file.write(data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            with contextlib.suppress(OSError):
                self._file.truncate(end)
            if not self.unwritten:
                log.warning("cannot write events to %s (%s); the run goes on, and the sinks "
                            "and the page still get them", self.path, e.strerror or e)
            self.unwritten += 1

    def maybe_write(self, index: int, frame: np.ndarray, result: Score, threshold: float) -> None:
        """Record an anomaly unless one was recorded less than `interval` seconds ago.

        The event says where the heat map peaks (`peak`: x, y in the frame's pixels), so an
        alarm points at the defect.
        """
        now = self._clock(index)
        if now - self._last < self._interval:
            return
        self._last = now
        y, x = np.unravel_index(int(np.argmax(result.heatmap)), result.heatmap.shape)
        event = {"id": uuid.uuid4().hex, "time": _now(), "frame": index, "score": result.score,
                 "threshold": threshold, "anomaly": True, "peak": {"x": int(x), "y": int(y)}}
        if self._file is not None:
            self._write_line(json.dumps(event))
        if self._sinks is not None:
            self._sinks.publish("event", event)
        if self._page is not None:
            self._page.live.event(event, frame, result)
        self.count += 1

    def close(self) -> None:
        """Close the file (the sinks are closed by the loop, after the last status)."""
        if self._file is not None:
            with contextlib.suppress(OSError):  # what could not be flushed was warned of
                self._file.close()


def _is_event_log(path: Path) -> bool:
    """Whether `path` may be appended to as an events log: absent, empty, or events' lines.

    Its first line must be an event: a JSON document (a manifest, a config) or any other JSON
    lines are no log of ours.
    """
    if not path.is_file():
        return not path.exists()
    with open(path, "rb") as f:
        first = f.readline(64 * 1024)
    if not first.strip():
        return not first  # empty; a blank first line is no log
    try:
        event = json.loads(first)
    except ValueError:
        return False
    return isinstance(event, dict) and {"time", "frame", "score"} <= event.keys()


def _ends_a_line(path: Path) -> bool:
    """Whether a non-empty file's last byte ends a line."""
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _now() -> str:
    """The wall-clock time as ISO 8601 UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _check_display(display: bool) -> None:
    if display and "GUI:                           NONE" in cv2.getBuildInformation():
        raise UserError("--display needs OpenCV with a GUI: pip install opencv-python (not "
                        "-headless), or write --output instead")


def _video_seconds(source: Source) -> Callable[[int], float] | None:
    """A video file's clock, frame index -> seconds into it; None elsewhere (wall time).

    Events of a file are rate-limited in its own time, so a run gives the same events at any
    speed (in wall time they went from 1 to 4 with --max-fps 10).
    """
    if source.live or source.kind != "video":
        return None
    fps = _source_fps(source, None)
    return lambda index: index / fps


def _source_fps(source: Source, max_fps: float | None) -> float | None:
    """The output video's rate: a file's own; None for a live one (measured); --max-fps or 30."""
    if source.live:
        return None
    if source.kind == "video":
        capture = cv2.VideoCapture(source.target)
        fps = capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        if fps and fps > 0:
            return fps
    return max_fps or DEFAULT_FPS


class _FrameStep:
    """One frame through the model, with the buffers it reuses and the anomalies it counts."""

    def __init__(self, model: Denoiser | AnomalyScorer, events: EventLog | None,
                 stats: SourceStats) -> None:
        self.model, self.events, self.stats = model, events, stats
        self.scoring = isinstance(model, AnomalyScorer)
        self.heat_scale = model.heat_scale if self.scoring else None
        self.anomalies = self.resets = 0
        self._breaks = self._breaks_in(stats)
        self._denoised = None  # the reused output frame

    @staticmethod
    def _breaks_in(stats: SourceStats) -> int:
        """Breaks a temporal model's history must not span: reconnects and a looped file's wraps.

        A file's last frame is no frame before its first.
        """
        return stats.reconnects + stats.wraps

    def __call__(self, index: int, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray | Score]:
        """(the frame as the model saw it, the model's denoised frame or Score)."""
        if self._breaks_in(self.stats) != self._breaks:  # the frames before are stale
            self._breaks = self._breaks_in(self.stats)
            self.model.reset()
            self.resets += 1
        if not self.scoring:
            if self._denoised is None or self._denoised.shape != frame.shape:
                self._denoised = np.empty_like(frame)
            return frame, self.model.denoise(frame, out=self._denoised)
        result = self.model.score(frame)
        self.heat_scale = self.heat_scale or 4 * max(float(result.heatmap.mean()), 1e-6)
        self.anomalies += bool(result.is_anomaly)
        if result.is_anomaly and self.events is not None:
            self.events.maybe_write(index, frame, result, self.model.threshold)
        return frame, result


class Stop:
    """Whether and why the loop stops: --duration, a signal, the source's end or the user.

    While `signals()` is active (in the main thread), SIGINT and SIGTERM only record their
    reason here: the loop notices within `TICK`, finalises its outputs and returns its summary.
    """

    def __init__(self, duration: float | None = None, from_first_frame: bool = False) -> None:
        self.start = time.monotonic()
        self._duration = duration
        # from the first frame: the clock starts then (a stream's open does not count)
        self._deadline = self.start + duration if duration and not from_first_frame \
            else float("inf")
        self.reason: StopReason | None = None
        self.reload_requested = False  # SIGHUP, when the run reloads
        self.first_frame_at: float | None = None

    def first_frame_came(self) -> None:
        """Note when frames began, and start a duration timed from the first frame.

        Rates count from then: a stream's seconds of opening are no frames.
        """
        self.first_frame_at = self.first_frame_at or time.monotonic()
        if self._duration and self._deadline == float("inf"):
            self.start = time.monotonic()
            self._deadline = self.start + self._duration

    def rate(self, frames: int, now: float) -> float:
        """Frames a second from the first frame to `now` (from the start before it)."""
        seconds = now - (self.first_frame_at or self.start)
        return frames / seconds if seconds > 0 else 0.0

    def __call__(self) -> bool:
        """True once the loop should stop (checks the clock against --duration)."""
        if self.reason is None and time.monotonic() >= self._deadline:
            self.reason = "duration"
        return self.reason is not None

    def sleep_until(self, when: float) -> None:
        """Sleep until monotonic time `when`, or less if the loop should stop first."""
        while not self() and (left := when - time.monotonic()) > 0:
            time.sleep(min(left, TICK))

    @contextlib.contextmanager
    def signals(self, hangup: bool = False) -> Iterator[None]:
        """Catch SIGINT and SIGTERM as stop reasons during the block; SIGHUP too if `hangup`.

        SIGHUP then only requests a reload, which the loop makes between two frames.
        """
        if threading.current_thread() is not threading.main_thread():
            yield  # only the main thread may set handlers; Ctrl-C stays KeyboardInterrupt
            return

        def handle(signum: int, _frame: object) -> None:
            if signum in SIGNAL_REASONS:
                self.reason = self.reason or SIGNAL_REASONS[signum]
            else:
                self.reload_requested = True

        caught = [*SIGNAL_REASONS, *([signal.SIGHUP] if hangup and HANGUP else [])]
        previous = {signum: signal.signal(signum, handle) for signum in caught}
        try:
            yield
        finally:
            for signum, handler in previous.items():  # None: not set from Python
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _frames(feed: LatestFrameReader | FileFeed, stop: Stop,
            max_fps: float | None) -> Iterator[np.ndarray]:
    """The feed's frames at most `max_fps` a second, until `stop` or the source's end."""
    while not stop():
        frame = feed.next(TICK)
        if frame is None:
            if feed.ended:
                stop.reason = stop.reason or "end"
            continue
        came = time.monotonic()
        yield frame
        if max_fps:
            stop.sleep_until(came + 1.0 / max_fps)


def run(model: Denoiser | AnomalyScorer, source: Source, options: RunOptions = RunOptions(),
        capture: CaptureOptions | None = None, hooks: RunHooks = RunHooks()) -> RunSummary:
    """Denoise or score every frame of `source` until it ends or the run is stopped.

    Stops: --duration, SIGINT (Ctrl-C) or SIGTERM, q or Esc in the display window; `capture`
    sets a live source's time-outs. With `hooks.reload`, SIGHUP calls it between two frames
    (e.g. to re-read the threshold). Under systemd, the loop notifies it (runtime/systemd.py).
    """
    check_run_options(source, options, isinstance(model, AnomalyScorer))
    stop = Stop(options.duration, options.timed_from_first_frame)
    capture = replace(capture or CaptureOptions(), gray=options.gray)  # gray: read as gray
    with stop.signals(hangup=hooks.reload is not None), \
            contextlib.closing(open_feed(source, capture, loop=options.loop)) as feed:
        stream = _frames(feed, stop, options.max_fps)
        first = next(stream, None)  # a source that cannot open fails here, before any file is made
        stop.first_frame_came()
        if first is None and stop.reason == "end":
            raise UserError(f"{source.target} gave no frames")
        if first is None and stop.reason == "duration":  # exit 0 and no word before
            log.warning("--duration ended before the first frame: %s",
                        getattr(feed, "problem", f"no frames from {source.target}"))
        step = _FrameStep(model, None, feed.stats)
        model_ms, frame_ms = Latencies(), Latencies()
        status = functools.partial(_status, step, feed.stats, (model_ms, frame_ms), stop)
        outputs = _Outputs(source, options, step, hooks, status, first is not None)
        step.events = outputs.events
        with contextlib.closing(outputs), \
                contextlib.closing(_Service(hooks.reload, status, options.notify)) as service:
            frames = itertools.chain([first], stream) if first is not None else ()
            for index, frame in enumerate(frames):
                _process(index, frame, step, outputs, options, stop, (model_ms, frame_ms))
                outputs.maybe_status(status)
                service.after_frame(index, stop)
            ended = time.monotonic()  # the loop's time: not the sinks' last delivery attempts
            outputs.final_status = status()
    seconds = ended - stop.start
    video, events = outputs.video, outputs.events
    return RunSummary(
        frames=model_ms.count, dropped=feed.stats.dropped, reconnects=feed.stats.reconnects,
        seconds=round(seconds, 3), fps=stop.rate(model_ms.count, ended),
        model_ms=model_ms.summary(), frame_ms=frame_ms.summary(), anomalies=step.anomalies,
        events=events.count if events else 0, events_unwritten=events.unwritten if events else 0,
        restarts=step.resets + getattr(model, "scene_cuts", 0) if model.temporal else 0,
        stopped_by=stop.reason or "end",
        output=str(options.output) if options.output else None,
        written=video.written if video else 0, resized=video.resized if video else 0,
        output_fps=round(video.fps, 3) if video and video.fps else None, sinks=outputs.sent)


def check_run_options(source: Source, options: RunOptions, scoring: bool) -> None:
    """What can be checked before the model loads or the source opens (`scoring`: its task)."""
    _check_display(options.display)
    if options.events is not None and not scoring:
        raise UserError("--events needs --task score (events are anomaly detections)")
    _check_outputs_replaceable(options)
    for option in ("output", "events"):
        target = getattr(options, option)
        if target is not None and not source.live:  # a file or folder read
            refuse_writing_over_input(target, Path(str(source.target)), f"--{option}")
    if options.events is not None and source.kind == "folder" \
            and options.events.suffix.lower() in IMAGE_SUFFIXES \
            and options.events.resolve().is_relative_to(Path(str(source.target)).resolve()):
        raise UserError(f"--events {options.events} is an image of the --source folder; give "
                        "the events another name (e.g. events.jsonl)")
    if options.output is not None and source.kind == "folder" \
            and not writes_video(options.output) \
            and options.output.resolve().is_relative_to(Path(str(source.target)).resolve()):
        raise UserError(f"--output {options.output} is inside the --source folder, whose frames "
                        "it would become (every --loop pass doubling them); write them elsewhere")
    if options.output is not None and options.events is not None \
            and options.output.resolve() == options.events.resolve():
        raise UserError(f"--events and --output both name {options.output}; give each its own")
    if options.loop and source.live:
        raise UserError("--loop plays a video file or folder again; a live source has no end")
    check_distinct([parse_sink(url, SINK_SCHEMES) for url in options.sinks])
    if options.serve is not None:
        from edgeae.runtime.serve import check_exposure

        check_exposure(options.serve)


def _check_outputs_replaceable(options: RunOptions) -> None:
    """--output and --events that are there already, refused before any slow work."""
    if options.output is not None:
        _check_output_replaceable(options.output, options.overwrite)
    if options.events is not None:
        _check_event_log(options.events, options.overwrite)


def _check_output_replaceable(output: Path, overwrite: bool) -> None:
    """A video of a suffix OpenCV writes, or a folder: new, or replaced with `overwrite`."""
    video = writes_video(output)
    if video and output.suffix.lower() not in VIDEO_CODECS:
        raise UserError(f"cannot write video {output.name}: use one of "
                        f"{', '.join(VIDEO_CODECS)}, or a folder for PNG frames (a name with a "
                        "dot only if the folder exists)")
    if not overwrite and output.exists() and (video or any(output.iterdir())):
        raise UserError(f"{output} already exists; pass --overwrite to replace it"
                        if video else f"{output} already holds files; pass --overwrite "
                        "to write into it")


def _check_event_log(events: Path, overwrite: bool) -> None:
    """An events log to append to, or any file to replace with `overwrite`."""
    if not overwrite and not _is_event_log(events):
        raise UserError(f"{events} exists and is no events log (JSON lines), which --events "
                        "appends to; pass --overwrite to replace it")


def _status(step: _FrameStep, stats: SourceStats, latencies: tuple[Latencies, Latencies],
            stop: Stop) -> dict:
    """The periodic status message: how the run is doing since it started."""
    model_ms, frame_ms = latencies
    return {"time": _now(), "running": stop.reason is None, "stopped_by": stop.reason,
            "frames": model_ms.count, "fps": round(stop.rate(model_ms.count, time.monotonic()), 2),
            "model_ms_p50": round(model_ms.summary()["p50"], 2),
            "frame_ms_p50": round(frame_ms.summary()["p50"], 2), "dropped": stats.dropped,
            "reconnects": stats.reconnects, "anomalies": step.anomalies}


class _Service:
    """Between frames, for a service: systemd's READY and keep-alives, SIGHUP's reload."""

    def __init__(self, reload: Callable[[], None] | None, status: Callable[[], dict],
                 notify: bool = True) -> None:
        self.notifier, self.reload = Notifier(None if notify else {}), reload
        self._line = lambda: _status_line(status())  # made when a STATUS= is due, not per frame

    def after_frame(self, index: int, stop: Stop) -> None:
        """READY=1 after the first frame; WATCHDOG=1 and STATUS= when due; a requested reload."""
        if index == 0:
            self.notifier.send("READY=1")
        self.notifier.alive(self._line)
        if stop.reload_requested and self.reload is not None:
            stop.reload_requested = False
            self.reload()

    def close(self) -> None:
        """STOPPING=1: the loop is on its way out."""
        self.notifier.send("STOPPING=1")
        self.notifier.close()


def _status_line(status: dict) -> str:
    """The status message in one line, for `systemctl status`."""
    return (f"{status['frames']} frames, {status['fps']:.1f} fps, {status['model_ms_p50']:.1f} ms "
            f"per frame, {status['dropped']} dropped, {status['reconnects']} reconnects, "
            f"{status['anomalies']} anomalies")


class _Outputs:
    """What a run writes, sends and serves: video or frames, event log, sinks, page.

    Opened once the source gave a frame (nothing is made for a source that cannot open), closed
    whatever ended the loop: the video finalised, the last status queued, the sinks flushed,
    the page stopped.
    """

    def __init__(self, source: Source, options: RunOptions, step: _FrameStep, hooks: RunHooks,
                 status: Callable[[], dict], started: bool) -> None:
        self.video = self.events = self.sinks = self.page = None
        self.final_status, self.sent = None, {}
        self.canvas = Canvas()  # the view's arrays, kept from frame to frame
        if not started:
            return
        with contextlib.ExitStack() as opened:
            self.video = open_output(options.output, _source_fps(source, options.max_fps),
                                     options.overwrite)
            if self.video is not None:
                opened.callback(self.video.close)
            if options.sinks:
                self.sinks = Sinks([parse_sink(u, SINK_SCHEMES) for u in options.sinks],
                                   options.queue_dir, options.queue_max,
                                   status_interval=options.status_interval)
                opened.callback(self.sinks.close)
            if options.serve is not None:
                self.page = _page(options.serve, step, hooks, status)
                opened.callback(self.page.close)
            if step.scoring and (options.events or self.sinks or self.page):
                self.events = EventLog(options.events, options.event_interval,
                                       options.overwrite, self.sinks, self.page,
                                       _video_seconds(source))
            opened.pop_all()  # all open: close() closes them from now on

    def offer(self, frame: np.ndarray, result) -> None:
        """The newest frame and result, for the page."""
        if self.page is not None:
            self.page.live.offer(frame, result)

    def maybe_status(self, status: Callable[[], dict]) -> None:
        """Queue a status message for the sinks when one is due."""
        if self.sinks is not None and self.sinks.status_due():
            self.sinks.publish("status", status())

    def close(self) -> None:
        """Finalise the video, close the event log and the page, flush the sinks."""
        for part in (self.video, self.events, self.page):
            if part is not None:
                part.close()
        if self.sinks is not None:
            if self.final_status is not None:
                self.sinks.publish("status", self.final_status)
            self.sent = self.sinks.close()


def _page(options: ServeOptions, step: _FrameStep, hooks: RunHooks,
          status: Callable[[], dict]) -> PageServer:
    """The run's web server, started."""
    from edgeae.runtime.serve import PageModel, PageServer

    model = PageModel(hooks.name, lambda: getattr(step.model, "threshold", None),
                      hooks.save_threshold if step.scoring else None,
                      step.model.manifest.score.threshold_problem)
    return PageServer(options, model, status, step.heat_scale, step.scoring)


def _process(index: int, frame: np.ndarray, step: _FrameStep, outputs: _Outputs,
             options: RunOptions, stop: Stop, latencies: tuple[Latencies, Latencies]) -> None:
    """One frame: the model, then the view drawn, written, shown and offered to the page."""
    model_ms, frame_ms = latencies
    t0 = time.perf_counter()
    frame, result = step(index, frame)
    model_ms.add((time.perf_counter() - t0) * 1e3)
    outputs.offer(frame, result)
    output = outputs.video
    if output is not None or options.display:
        now = time.monotonic()
        view = _view(frame, result, step.heat_scale, options, outputs.canvas,
                     fps=stop.rate(model_ms.count, now), ms=model_ms.last)
        if output is not None:
            output.write(view, now)
        if options.display and _show(view):
            stop.reason = stop.reason or "quit"
    frame_ms.add((time.perf_counter() - t0) * 1e3)


def _view(frame: np.ndarray, result, heat_scale: float | None, options: RunOptions,
          canvas: Canvas, fps: float, ms: float) -> np.ndarray:
    """What is shown and written: the output (or heat map), optionally beside the input."""
    if isinstance(result, np.ndarray):
        shown = canvas.bgr(result)
        text = [f"{fps:.1f} fps  {ms:.1f} ms"]
    else:
        shown = canvas.heat(frame, result.heatmap, heat_scale)
        flag = " ANOMALY" if result.is_anomaly else ""
        text = [f"{fps:.1f} fps  {ms:.1f} ms", f"score {result.score:.4g}{flag}"]
    if options.side_by_side:
        shown = canvas.side_by_side(frame, shown)
    return draw_text(shown, text) if options.overlay else shown


def _show(view: np.ndarray) -> bool:
    """Display a frame; True when the user pressed q or Esc."""
    cv2.imshow("edgeae", view)
    return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)
