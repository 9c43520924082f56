"""Frames from a camera, a stream, a video file or a folder of images, through OpenCV.

Live sources (a camera index or a stream URL) are opened and read by their own thread that keeps
only the newest frame: a slow model never builds a queue, it skips stale frames (counted as
dropped), and a source that stalls never blocks the caller, who waits for a frame with a time-out.
A live source that fails or disconnects is reopened with exponential back-off, forever or until
the caller stops; one that gives no frame within `CaptureOptions.wait_for_source` of start-up is
an error. Video files and folders are read in order with no frame dropped, and end when they end;
a thread of their own decodes a few frames ahead of the caller (FileFeed).
Frames are uint8 in OpenCV's layout: BGR colour (HxWx3) or gray (HxW). Asked for gray
(`CaptureOptions.gray`, `run --gray`), a source gives one plane and does no colour work it can
avoid: MJPEG is decoded from its luma alone (GrayCapture), the Pi camera gives its Y plane.

Example:
    >>> import edgeae.runtime as rt
    >>> model = rt.load("model_int8.tflite", task="denoise")
    >>> for frame in rt.frames("0"):          # camera 0
    ...     clean = model.denoise(frame)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeae.core.containers import still_signature
from edgeae.core.errors import UserError
from edgeae.core.images import IMAGE_SUFFIXES, decode_upright, file_bytes, image_files

log = logging.getLogger(__name__)


@dataclass
class SourceStats:
    """What happened while reading a source."""

    frames: int = 0  # delivered to the caller
    dropped: int = 0  # captured but replaced by a newer frame before the caller took it
    reconnects: int = 0
    wraps: int = 0  # a looped file started again: its first frame was delivered again


@dataclass(frozen=True)
class CaptureOptions:
    """How long a live source may take (seconds), and what a camera is asked for."""

    open_timeout: float = 10.0  # streams: OpenCV gives up opening after this
    read_timeout: float = 5.0  # streams: no frame for this long is a lost connection (reopened)
    wait_for_source: float = 5.0  # a live source with no frame yet is retried this long at most
    camera_size: tuple[int, int] | None = None  # (width, height) asked of a camera
    camera_fps: float | None = None
    fourcc: str | None = None  # a USB camera's pixel format, e.g. MJPG (V4L2)
    gray: bool = False  # frames as one gray plane (HxW), for a gray model (GrayCapture)


@dataclass(frozen=True)
class Source:
    """A parsed --source: what it is and how it is opened (SOURCE_KINDS)."""

    kind: str  # a SOURCE_KINDS row: camera, picamera2, stream, gstreamer, video, folder, image
    target: int | str

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {self.kind!r}; one of {list(SOURCE_KINDS)}")

    @property
    def live(self) -> bool:
        """Live sources drop stale frames and reconnect; files play every frame and end."""
        return SOURCE_KINDS[self.kind].live

    @property
    def stills(self) -> bool:
        """A folder of images or one image: decoded here as stills, upright, not by a capture."""
        return SOURCE_KINDS[self.kind].open is None

    def open(self, options: CaptureOptions | None = None) -> cv2.VideoCapture:
        """An opened VideoCapture (or one that reads like it), or a one-line UserError."""
        kind, options = SOURCE_KINDS[self.kind], options or CaptureOptions()
        capture = kind.open(self, options)
        if not capture.isOpened():
            capture.release()
            raise UserError(f"cannot open {kind.what} {self.target}: {kind.hint}")
        return GrayCapture(capture) if options.gray and not kind.reads_gray else capture


def _open_camera(source: Source, options: CaptureOptions) -> cv2.VideoCapture:
    """A USB or built-in camera by index, asked for the size, rate and pixel format given."""
    capture = cv2.VideoCapture(source.target, cv2.CAP_ANY)
    if capture.isOpened():
        apply_camera_options(capture, options)
    return capture


def apply_camera_options(capture: cv2.VideoCapture, options: CaptureOptions) -> None:
    """Ask the camera for --fourcc, --camera-size and --camera-fps; warn about what it refused.

    The pixel format goes first: V4L2 cameras offer their larger sizes and rates in MJPG only.
    """
    wanted = {}
    if options.fourcc:
        wanted[cv2.CAP_PROP_FOURCC] = cv2.VideoWriter_fourcc(*options.fourcc)
    if options.camera_size:
        wanted[cv2.CAP_PROP_FRAME_WIDTH], wanted[cv2.CAP_PROP_FRAME_HEIGHT] = options.camera_size
    if options.camera_fps:
        wanted[cv2.CAP_PROP_FPS] = options.camera_fps
    for prop, value in wanted.items():
        capture.set(prop, value)
    got = {prop: capture.get(prop) for prop in wanted}
    refused = [f"{CAMERA_PROPS[p]} {value:g} (got {got[p]:g})" for p, value in wanted.items()
               if abs(got[p] - value) > 1e-3]
    if refused:
        log.warning("the camera did not take %s", ", ".join(refused))


CAMERA_PROPS = {cv2.CAP_PROP_FOURCC: "fourcc", cv2.CAP_PROP_FRAME_WIDTH: "width",
                cv2.CAP_PROP_FRAME_HEIGHT: "height", cv2.CAP_PROP_FPS: "fps"}


def _open_stream(source: Source, options: CaptureOptions) -> cv2.VideoCapture:
    """rtsp://, http://, tcp:// (e.g. `rpicam-vid --listen`) through OpenCV's FFmpeg backend."""
    return cv2.VideoCapture(source.target, cv2.CAP_FFMPEG, [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(options.open_timeout * 1e3),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(options.read_timeout * 1e3)])


def _open_gstreamer(source: Source, options: CaptureOptions) -> cv2.VideoCapture:  # noqa: ARG001
    """A GStreamer pipeline ending in appsink, where OpenCV was built with GStreamer."""
    if problem := _gstreamer_missing():
        raise UserError(problem)
    return cv2.VideoCapture(source.target, cv2.CAP_GSTREAMER)


def _gstreamer_missing() -> str | None:
    """Why no GStreamer pipeline can open here, or None."""
    if gstreamer_available():
        return None
    return ("this OpenCV was built without GStreamer (pip's wheels are): install your "
            "distribution's OpenCV (apt install python3-opencv) in a venv with "
            "--system-site-packages, or give the camera or stream directly")


def _picamera2_missing() -> str | None:
    """Why no Pi camera can open here (no Picamera2), or None."""
    from edgeae.runtime.picamera import INSTALL_HINT, picamera2_available

    return None if picamera2_available() else INSTALL_HINT


def _open_picamera2(source: Source, options: CaptureOptions):
    from edgeae.runtime.picamera import Picamera2Capture

    return Picamera2Capture(source.target, options.camera_size, options.camera_fps, options.gray)


def gstreamer_available() -> bool:
    """Whether this OpenCV reads GStreamer pipelines."""
    return any(line.split(":")[0].strip() == "GStreamer" and "YES" in line
               for line in cv2.getBuildInformation().splitlines())


MJPEG_TAGS = (b"MJPG", b"JPEG")  # FOURCCs whose FFmpeg packets are whole baseline JPEGs


class GrayCapture:
    """A VideoCapture read as one gray plane (HxW), for a gray model.

    MJPEG through OpenCV's FFmpeg backend (a video file, a tcp:// or http:// stream) is read as
    its packets, each a JPEG that libjpeg decodes from its luma alone, with no chroma upsampling
    and no colour conversion (BENCHMARKS.md, "Decoding straight to gray"). That gray is the
    JPEG's own Y plane: the gray of cv2.imread's colour decode of the same JPEG, to rounding
    where no colour clips (FFmpeg's colour decode, made gray, is about one level darker). A
    packet that does not decode is skipped with a warning. Other codecs and backends decode in
    colour, converted here, in the reading thread.
    """

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self._capture, self._colour = capture, None
        # raw packets skip OpenCV's turn by a video's rotation tag: a tagged video decodes whole
        self.luma_only = (_is_mjpeg(capture) and not capture.get(cv2.CAP_PROP_ORIENTATION_META)
                          and capture.set(cv2.CAP_PROP_FORMAT, -1))
        self.skipped = 0  # packets that did not decode

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        """Whether the capture underneath is open."""
        return self._capture.isOpened()

    def release(self) -> None:
        """Release the capture underneath."""
        self._capture.release()

    def read(self, out: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        """(True, gray frame), into `out` when it fits; (False, None) at the end or a loss."""
        if self.luma_only:
            return self._read_luma(out)
        ok, self._colour = self._capture.read(self._colour)
        if not ok:
            return False, None
        if self._colour.ndim == 2:  # a GStreamer pipeline that ends in GRAY8 gives gray already
            return True, copy_into(out, self._colour)
        fits = out is not None and out.shape == self._colour.shape[:2]
        return True, cv2.cvtColor(self._colour, cv2.COLOR_BGR2GRAY, dst=out if fits else None)

    def _read_luma(self, out: np.ndarray | None) -> tuple[bool, np.ndarray | None]:
        while (got := self._capture.read())[0]:
            frame = cv2.imdecode(got[1], cv2.IMREAD_GRAYSCALE)
            if frame is not None:
                return True, copy_into(out, frame)
            self.skipped += 1
            log.warning("skipped a frame that is not a whole JPEG (%d so far)", self.skipped)
        return False, None


def copy_into(out: np.ndarray | None, frame: np.ndarray) -> np.ndarray:
    """`frame` copied into `out` when it fits (a reader's reused buffer), else a new copy."""
    if out is None or out.shape != frame.shape or out.dtype != frame.dtype:
        return frame.copy()
    np.copyto(out, frame)
    return out


def _is_mjpeg(capture: cv2.VideoCapture) -> bool:
    """Whether OpenCV's FFmpeg backend reads MJPEG here (its packets are then JPEG images)."""
    tag = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").upper()
    return capture.getBackendName() == "FFMPEG" and tag in MJPEG_TAGS


@dataclass(frozen=True)
class SourceKind:
    """One kind of --source: live or not, how it opens, how a failure is explained."""

    live: bool
    open: Callable[[Source, CaptureOptions], cv2.VideoCapture] | None  # None: read by frames()
    what: str
    hint: str = "check that it exists and is a format OpenCV can read"
    reads_gray: bool = False  # its opener gives gray frames itself when options.gray says
    # why this machine can open no source of the kind at all (a package or build it lacks), or
    # None: said when --source is read, not after --wait-for-source of retries
    missing: Callable[[], str | None] = lambda: None


SOURCE_KINDS: dict[str, SourceKind] = {
    "camera": SourceKind(True, _open_camera, "camera", "check that it is plugged in and free "
                         "(on a Raspberry Pi's camera module, use --source picamera2)"),
    "picamera2": SourceKind(True, _open_picamera2, "Pi camera", reads_gray=True,
                            missing=_picamera2_missing),
    "stream": SourceKind(True, _open_stream, "stream"),
    "gstreamer": SourceKind(True, _open_gstreamer, "GStreamer pipeline",
                            "check the pipeline with gst-launch-1.0; it must end in appsink",
                            missing=_gstreamer_missing),
    "video": SourceKind(False, lambda source, _: cv2.VideoCapture(source.target, cv2.CAP_ANY),
                        "video file"),
    "folder": SourceKind(False, None, "folder"),
    "image": SourceKind(False, None, "image file"),
}


def _is_still(path: Path) -> bool:
    """An image by its suffix, or by its first bytes under another suffix or none.

    FFmpeg read a photo as a one-frame video, its EXIF turn lost. JPEG's signature counts only
    without a suffix: it also starts an MJPEG file (.mjpeg).
    """
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    with open(path, "rb") as file:
        signature = still_signature(file.read(16))
    return signature is not None and (not path.suffix or not signature.startswith(b"\xff\xd8"))


def parse_source(text: str | int) -> Source:
    """What --source names, refused at once where this machine can open no such source."""
    source = _named_source(text)
    if problem := SOURCE_KINDS[source.kind].missing():
        raise UserError(problem)
    return source


def _named_source(text: str | int) -> Source:
    """What --source names.

    '0' or '/dev/video0' -> camera, 'picamera2[:N]' -> Pi camera N, 'rtsp://...' or
    'tcp://...' -> stream, '... ! appsink' -> GStreamer pipeline, a folder -> images, an image
    file -> that still (see _is_still), any other file -> video.
    """
    text = str(text)
    if not text.strip():  # Path("") is ".": an unset setting read every image below here
        raise UserError("--source is empty: give a camera index, picamera2, a stream URL, a "
                        "GStreamer pipeline, a video file or a folder of images")
    if text.isdigit():
        return Source("camera", int(text))
    if text.startswith("/dev/"):  # a V4L2 device (/dev/video0, a /dev/v4l/by-id/ name), which
        return Source("camera", text)  # may be unplugged now: opened, and reopened, as one
    if text == "picamera2" or text.startswith("picamera2:"):
        index = text.partition(":")[2] or "0"
        if not index.isdigit():
            raise UserError(f"--source {text}: expected picamera2 or picamera2:N")
        return Source("picamera2", int(index))
    if "://" in text:
        return Source("stream", text)
    path = Path(text)
    if path.is_dir():
        return Source("folder", text)
    if path.is_file():
        return Source("image" if _is_still(path) else "video", text)
    if " ! " in text:
        return Source("gstreamer", text)
    raise UserError(f"no such source: {text} (give a camera index, picamera2, a stream URL, a "
                    "GStreamer pipeline, a video file or a folder of images)")


@dataclass
class Backoff:
    """Waits between reconnect attempts: first, doubling up to `longest` seconds."""

    first: float = 0.5
    longest: float = 10.0
    _next: float = field(default=0.0, init=False)

    def wait(self, stop: threading.Event) -> None:
        """Sleep the next interval (or until `stop`)."""
        self._next = min(self.longest, self._next * 2) if self._next else self.first
        stop.wait(self._next)

    def reset(self) -> None:
        """A frame arrived: the next failure starts from `first` again."""
        self._next = 0.0


class LatestFrameReader:
    """A thread that opens a live source and publishes its newest frame.

    Triple buffering: the reader writes into a buffer that is neither the newest published one
    nor the one the caller is using, so capture never waits for inference and never allocates
    once frames have a steady size. Opening happens in the thread too, so a source that is slow
    to open or stops sending never holds up the caller beyond its `next` time-out.
    """

    ended = False  # a live source never ends: it is reopened when lost

    def __init__(self, source: Source, backoff: Backoff | None = None,
                 options: CaptureOptions | None = None) -> None:
        self.source, self.options = source, options or CaptureOptions()
        self.stats = SourceStats()
        self._backoff = backoff or Backoff()
        self._buffers: list[np.ndarray | None] = [None, None, None]
        self._latest: int | None = None  # index of the newest unread frame
        self._in_use: int | None = None  # index the caller holds
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._error = f"no frames from {source.kind} {source.target}"  # why, if none come
        self._attempts = self._opens = 0
        self._opening_since: float | None = None  # when the open under way began
        self._thread = threading.Thread(target=self._read_forever, daemon=True,
                                        name=f"edgeae-capture-{source.target}")
        self._thread.start()

    def next(self, timeout: float = 1.0) -> np.ndarray | None:
        """The newest frame not yet returned, waiting up to `timeout` s; None if none came.

        The returned array stays valid until the following call. Raises a one-line UserError
        when no frame has come at all within `wait_for_source` seconds of start-up.
        """
        with self._cond:
            if self._latest is None:
                self._cond.wait(timeout)
            if self._latest is None:
                self._check_started()
                return None
            self._in_use, self._latest = self._latest, None
            self.stats.frames += 1
            return self._buffers[self._in_use]

    def close(self) -> None:
        """Stop the thread; it releases the source itself if OpenCV still holds it in a call."""
        self._stop.set()
        self._thread.join(timeout=0.3)

    @property
    def problem(self) -> str:
        """Why no frame has come (the last failed open), or that none has."""
        return self._error

    def _check_started(self) -> None:
        """Give up on a source with no frame within --wait-for-source, a one-line UserError.

        Not while an open is under way within --open-timeout: FFmpeg took 8.3 s to open a
        10-frames/s MJPEG stream over tcp://, which the default 5 s refused while it was live.
        """
        now = time.monotonic()
        waited, opening = now - self._started, self._opening_since
        if opening is not None and now - opening < self.options.open_timeout:
            return
        if self.stats.frames == 0 and waited >= self.options.wait_for_source:
            raise UserError(f"{self._error}; gave up after {waited:.1f} s (--wait-for-source)")

    def _free_slot(self) -> int:
        return next(i for i in range(3) if i not in (self._latest, self._in_use))

    def _read_forever(self) -> None:
        capture = None
        while not self._stop.is_set():
            if capture is None:
                capture = self._reopen()
                continue
            with self._cond:
                slot = self._free_slot()
            ok, frame = capture.read(self._buffers[slot])
            if not ok:
                self._log("lost %s %s; reconnecting", self.source.kind, self.source.target)
                capture.release()
                capture = None
                continue
            self._backoff.reset()
            with self._cond:
                self._buffers[slot] = frame  # the same array when OpenCV could reuse it
                if self._latest is not None:
                    self.stats.dropped += 1
                self._latest = slot
                self._cond.notify()
        if capture is not None:
            capture.release()

    def _reopen(self) -> cv2.VideoCapture | None:
        """Open the source: at once the first time, after the back-off's wait later."""
        if self._attempts:
            self._backoff.wait(self._stop)
        self._attempts += 1
        if self._stop.is_set():
            return None
        self._opening_since = time.monotonic()
        try:
            capture = self.source.open(self.options)
        except UserError as exc:
            self._error = str(exc)
            self._log("%s; retrying", exc)
            return None
        finally:
            self._opening_since = None
        self._opens += 1
        if self._opens > 1:
            self.stats.reconnects += 1
            log.warning("reconnected to %s %s", self.source.kind, self.source.target)
        return capture

    def _log(self, message: str, *args: object) -> None:
        """A warning once the source has given frames; before that the start-up error says it."""
        log.log(logging.WARNING if self.stats.frames else logging.DEBUG, message, *args)


def frame_size_of(source: Source) -> tuple[int, int] | None:
    """(h, w) of a video's or folder's first frame; None for a live source (known once open)."""
    if source.live:
        return None
    feed = frames(source)
    try:
        frame = next(feed, None)
    finally:
        feed.close()  # releases the video
    return None if frame is None else frame.shape[:2]


def _folder_frames(source: Source, stats: SourceStats,
                   options: CaptureOptions | None = None) -> Iterator[np.ndarray]:
    if source.kind == "image":
        paths = [Path(source.target)]
    else:
        paths = image_files(Path(source.target))  # the images training would read there
    if not paths:
        raise UserError(f"no images in {source.target} (looked for {', '.join(IMAGE_SUFFIXES)})")
    gray = bool(options and options.gray)
    for path in paths:
        frame = _still(path, gray, skip=source.kind == "folder")
        if frame is not None:
            stats.frames += 1
            yield frame


def _still(path: Path, gray: bool, skip: bool = True) -> np.ndarray | None:
    """One image file as a camera frame, upright (EXIF); None, with a warning, if it is none.

    Without `skip` (one image given alone) a file that is no frame is a one-line UserError.

    Decoded as stored (core/images.decode_upright): OpenCV's IMREAD_UNCHANGED, read here
    before, ignores EXIF orientation (a portrait photo came sideways) and its IMREAD_GRAYSCALE
    reads no float TIFF. `gray`: colour made gray with OpenCV's weights.
    """
    image = decode_upright(file_bytes(path))
    frame = None if image is None else as_camera_frame(image)
    if frame is None:
        reason = _why_no_frame(image)
        if not skip:
            raise UserError(f"{path}: {reason}")
        _warn_once(path, "skipping %s: " + reason)
    elif gray and frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame


def _why_no_frame(image: np.ndarray | None) -> str:
    """Why a file gave no frame: unreadable, or pixels of a kind no camera gives."""
    if image is None:
        return "not an image OpenCV can read"
    if image.dtype.kind == "f":
        return ("float pixels outside [0, 1] (or not finite), which no camera gives; save it "
                "as 8 or 16 bits")
    return f"{image.dtype} pixels, which no camera gives; save it as 8 or 16 bits unsigned"


def _warn_once(path: Path, message: str) -> None:
    """Warn of a skipped file once per process.

    The frame-size probe, `--threads auto`'s trials and every `--loop` pass read it again.
    """
    if path not in _SKIPPED:
        _SKIPPED.add(path)
        log.warning(message, path)


_SKIPPED: set[Path] = set()


def as_camera_frame(image: np.ndarray) -> np.ndarray | None:
    """A still as a camera gives a frame: 8-bit gray or BGR; None for pixels no camera gives.

    None for floats beyond [0, 1] and for other integer types than 8 and 16 bits unsigned (a
    signed 16-bit TIFF had come through as a frame every model refuses, ending a folder's run).

    Read as stored, a gray image stays one plane (one model call, not three), but a 16-bit or
    float image or one with transparency (OpenCV reads gray with alpha as BGRA too) is no frame
    the loop can take: 16 bits and [0, 1] floats are scaled to 8, alpha dropped.
    """
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    elif image.dtype.kind == "f":
        if not (np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1):
            return None
        image = np.rint(image * 255.0).astype(np.uint8)
    elif image.dtype != np.uint8:  # a signed or 32-bit TIFF: no camera's, no model takes it
        return None
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _video_frames(source: Source, stats: SourceStats,
                  options: CaptureOptions | None = None) -> Iterator[np.ndarray]:
    capture = source.open(options)
    frame = None
    try:
        while True:
            ok, frame = capture.read(frame)  # decodes into the same buffer every time
            if not ok:
                return
            stats.frames += 1
            yield frame
    finally:
        capture.release()


def _live_frames(source: Source, stats: SourceStats, stop: threading.Event,
                 backoff: Backoff | None, options: CaptureOptions | None
                 ) -> Iterator[np.ndarray]:
    reader = LatestFrameReader(source, backoff, options)
    try:
        while not stop.is_set():
            frame = reader.next(timeout=0.2)
            stats.frames, stats.dropped, stats.reconnects = (
                reader.stats.frames, reader.stats.dropped, reader.stats.reconnects)
            if frame is not None:
                yield frame
    finally:
        reader.close()


def frames(source: str | int | Source, stats: SourceStats | None = None,
           stop: threading.Event | None = None, backoff: Backoff | None = None,
           options: CaptureOptions | None = None) -> Iterator[np.ndarray]:
    """Iterate over a source's frames (see the module docstring); `stop` ends a live source.

    A camera's, stream's or video file's frame is a reused buffer, valid until the next one is
    taken (no allocation per frame): `frame.copy()` to keep it. A folder's are new arrays.
    """
    source = source if isinstance(source, Source) else parse_source(source)
    stats = stats if stats is not None else SourceStats()
    if source.stills:
        return _folder_frames(source, stats, options)
    if source.live:
        return _live_frames(source, stats, stop or threading.Event(), backoff, options)
    return _video_frames(source, stats, options)


READ_AHEAD = 2  # frames a file's feed decodes ahead of its caller
_END = object()  # the reading thread's last word: no more frames
WAKE = None  # put in a file feed's free buffers to wake its thread when the feed closes


class FileFeed:
    """A video file or a folder, frame by frame in order, pulled like a LatestFrameReader.

    A thread reads and decodes up to READ_AHEAD frames ahead of the caller, into buffers it
    reuses (nothing is dropped), so decoding overlaps the caller's work on the frame before:
    for a video file it is several milliseconds of every frame. A returned frame stays valid
    until the following call. `next` returns None once the source has ended; `ended` is True
    from then on. With `loop`, the source starts again from its first frame instead of ending
    (`stats.wraps` counts it when that frame is handed out). An error in reading (a file that
    cannot be opened) is raised by `next`.
    """

    def __init__(self, source: Source, loop: bool = False,
                 options: CaptureOptions | None = None) -> None:
        self.stats = SourceStats()  # frames handed to the caller
        self._decoded = SourceStats()  # frames the thread has read, some not yet handed out
        self.ended, self.loop = False, loop
        self._read = _folder_frames if source.stills else _video_frames
        self._source, self._options = source, options
        self._buffers: list[np.ndarray | None] = [None] * (READ_AHEAD + 1)
        self._free: queue.Queue[int | None] = queue.Queue()
        for i in range(len(self._buffers)):
            self._free.put(i)
        self._ready: queue.Queue[Any] = queue.Queue()
        self._held: int | None = None  # the buffer the caller has
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_ahead, daemon=True,
                                        name=f"edgeae-read-{source.target}")
        self._thread.start()

    def next(self, timeout: float = 1.0) -> np.ndarray | None:
        """The next frame, waiting up to `timeout` s; None at the end (`ended`) or if none came.

        A read that blocks (a named pipe in a folder, a stalled network mount) must not hold
        the caller, which keeps its own time for --duration and signals.
        """
        if self.ended:
            return None
        if self._held is not None:
            self._free.put(self._held)
            self._held = None
        try:
            item = self._ready.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            self.ended = True
            raise item
        self.ended = item is _END
        if self.ended:
            return None
        self._held, wrapped = item
        self.stats.frames += 1
        self.stats.wraps += wrapped
        return self._buffers[self._held]

    def close(self) -> None:
        """Stop reading; the thread releases the file itself if it is still decoding a frame."""
        self._stop.set()
        self._free.put(WAKE)  # the thread may be waiting for a buffer the caller holds
        self._thread.join(timeout=1.0)

    def _read_ahead(self) -> None:
        """The thread: every frame, in order, into a free buffer; then _END, or the error."""
        frames = self._read(self._source, self._decoded, self._options)
        try:
            while not self._stop.is_set():
                frame, wrapped = next(frames, None), False
                if frame is None and self.loop and self._decoded.frames:
                    frames.close()
                    frames = self._read(self._source, self._decoded, self._options)
                    frame, wrapped = next(frames, None), True
                if frame is None:
                    self._ready.put(_END)
                    return
                self._publish(frame, wrapped)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
            self._ready.put(exc)
        finally:
            frames.close()

    def _publish(self, frame: np.ndarray, wrapped: bool) -> None:
        """Copy `frame` into a free buffer (waiting for one) and hand it to the caller.

        `wrapped`: it starts a looped file again.

        `close` wakes the wait with WAKE, so a run stops at once, not at a polling interval.
        """
        slot = self._free.get()
        if slot is WAKE:
            return
        kept = self._buffers[slot]
        if kept is None or kept.shape != frame.shape or kept.dtype != frame.dtype:
            self._buffers[slot] = frame.copy()
        else:
            np.copyto(kept, frame)
        self._ready.put((slot, wrapped))


def open_feed(source: Source, options: CaptureOptions | None = None,
              backoff: Backoff | None = None, loop: bool = False) -> LatestFrameReader | FileFeed:
    """A source to pull frames from with a time-out: a live source's reader, or a file's feed.

    With `loop`, a file's feed starts again from its first frame at its end; `options.gray`
    makes any source give gray frames (GrayCapture).
    """
    if source.live:
        return LatestFrameReader(source, backoff, options)
    return FileFeed(source, loop, options)
