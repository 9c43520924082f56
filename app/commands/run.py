"""`edgeae run`: denoise or score live frames with the runtime alone (no TensorFlow)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from edgeae.app.commands.args import (
    add_backend_args,
    add_colour_planes_arg,
    add_model_args,
    examples,
    finite,
    frame_size,
    given,
    model_path,
    output_dir,
    output_file,
    output_path,
    paired_model_paths,
    ranged,
    refuse_idle,
    refuse_output_over_inputs,
    resolve_backend,
    score_size,
)
from edgeae.core.tasks import TASKS
from edgeae.runtime.capture import CaptureOptions, Source
from edgeae.runtime.loop import RunHooks, RunOptions

DEFAULTS = RunOptions()
CAPTURE = CaptureOptions()
INTERRUPTED = 130  # exit code after Ctrl-C (128 + SIGINT), as shells report it
EXIT_CODES = (
    "exit codes:\n"
    "  0    the source ended, --duration passed, q was pressed, or SIGTERM (systemd, docker\n"
    "       stop): the output is finalised and the summary printed\n"
    f"  {INTERRUPTED}  Ctrl-C (SIGINT): the output is finalised and the summary printed too\n"
    "  2    a one-line error: bad option, no such source, a live source not there within\n"
    "       --wait-for-source, an output that cannot be written\n")
USES = ("denoise", "score")  # what the loop does with a frame (runtime/loop.py)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`run --model M --source S` with its output, event and pacing options."""
    p = subparsers.add_parser(
        "run", help="denoise or score live frames (camera, stream, video, folder)",
        description=(
            "Run an exported model on frames with the runtime alone (no TensorFlow). Live\n"
            "sources (a camera index or stream URL) are captured by their own thread that keeps\n"
            "only the newest frame (stale ones are dropped and counted) and reconnect with\n"
            "back-off when lost; a video file or folder plays every frame and ends the run.\n"
            "The loop keeps its own time: --duration, Ctrl-C and SIGTERM act within a second\n"
            "whatever the source does, and stop cleanly: the output video is finalised and a\n"
            "summary printed. SIGHUP re-reads the threshold from the manifest beside the\n"
            "artifact (`systemctl reload`) without reopening the source; under systemd\n"
            "(Type=notify) the loop sends READY, watchdog keep-alives and a status line."),
        epilog=EXIT_CODES + "\n" + examples(
            "edgeae run --model export/model_int8.tflite --source 0 --display",
            "edgeae run --model model_fp32.onnx --source clip.mp4 --output clean.mp4 "
            "--side-by-side",
            "edgeae run --model model_int8.tflite --source rtsp://cam/stream --task score "
            "--threshold 0.012 --events events.jsonl --duration 3600",
            "edgeae run --model model_fp32.tflite --source frames/ --output out_frames/",
            "edgeae run --pretrained live --source 0 --gray --display --side-by-side",
            "edgeae run --pretrained live --source picamera2 --camera-size 640x480 --gray "
            "--serve 8080",
            "edgeae run --pretrained live --source 0 --fourcc MJPG --camera-size 1280x720 "
            "--camera-fps 30 --output clean.mp4",
            "edgeae run --pretrained live --source tcp://raspberrypi.local:8888 --gray "
            "--output clean.mp4",
            "edgeae run --model det/model_int8.tflite --source 0 --task score "
            "--mqtt mqtt://broker.local/line1/cam2 --webhook https://example.com/hook",
            "EDGEAE_TOKEN=s3cret edgeae run --model det/model_int8.tflite --source 0 "
            "--task score --serve 0.0.0.0:8080"))
    add_model_args(p)
    p.add_argument("--source", required=True,
                   help="camera index (0), picamera2[:N] (the Raspberry Pi camera), stream URL "
                        "(rtsp://, http://, tcp:// as from `rpicam-vid --listen`), a GStreamer "
                        "pipeline ending in appsink, video file or folder")
    defaults = ", ".join(f"{use} for {task}" for task, use in _default_uses().items())
    p.add_argument("--task", choices=USES,
                   help=f"default: the model's own ({defaults})")
    p.add_argument("--threshold", type=finite,
                   help="score: anomaly threshold (default: the manifest's)")
    p.add_argument("--score-size", type=score_size, metavar="HxW|frame",
                   help="score: resize frames to this size first (default: the size the "
                        "detector was trained at, where its threshold was set, as `edgeae "
                        "score` does); frame: score each frame at its own size")
    _add_output_args(p)
    _add_sink_args(p)
    _add_serve_args(p)
    _add_capture_args(p)
    add_backend_args(p, threads_auto="run the loop on the source's first frames with each "
                     "count (1, 2, ... all cores) for 2 s, keep the fastest (a smaller count on a "
                     "near tie, leaving cores to capture and the rest of the device)")
    add_colour_planes_arg(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --output video, or the frames an earlier run "
                        "wrote into an --output folder; start the --events log afresh")
    p.set_defaults(func=run)


def _add_output_args(p: argparse.ArgumentParser) -> None:
    """Where results go and how frames are paced and drawn: RunOptions' fields."""
    p.add_argument("--output", type=output_path,
                   help="a video file (.mp4, .avi, ...) or a folder for PNG frames")
    p.add_argument("--events", type=output_file,
                   help="score: write anomaly events as JSON lines (appended to an existing "
                        "file; --overwrite starts it afresh)")
    p.add_argument("--event-interval", type=ranged(float, 0.0), metavar="S",
                   help=f"at most one event per S seconds (default {DEFAULTS.event_interval:g})")
    p.add_argument("--max-fps", type=ranged(float, 0.0, lo_open=True), metavar="N",
                   help="process at most N frames per second")
    p.add_argument("--duration", type=ranged(float, 0.0, lo_open=True), metavar="S",
                   help="stop after S seconds")
    p.add_argument("--loop", action="store_true",
                   help="play a video file or folder again from its start at its end (a demo "
                        "screen, a soak test); stop with --duration, Ctrl-C or SIGTERM")
    p.add_argument("--display", action="store_true", help="show frames in a window (q quits)")
    p.add_argument("--side-by-side", action="store_true",
                   help="show and write input | output (or heat map) side by side")
    p.add_argument("--no-overlay", action="store_true", help="no FPS / latency text on frames")
    p.add_argument("--gray", action="store_true",
                   help="read frames as gray, for a gray model: its output is then gray and "
                        "it runs once a frame (a Gaussian denoiser runs three opponent planes of "
                        "a colour frame); MJPEG is decoded from its luma alone and the Pi "
                        "camera's Y plane is used without colour conversion")


def _add_sink_args(p: argparse.ArgumentParser) -> None:
    """Where events and status messages are sent: RunOptions' sink fields."""
    g = p.add_argument_group(
        "sinks", "anomaly events (score) and a periodic status message, sent to MQTT brokers and "
        "webhooks; each sink queues its messages on disk first, so an outage or a restart loses "
        "none: they are sent in order when it is back (at least once; each has an `id`)")
    g.add_argument("--mqtt", action="append", default=[], type=_sink("mqtt", "mqtts"),
                   metavar="URL", help="mqtt://[user:pass@]host[:port]/topic (mqtts:// for TLS; "
                   "$EDGEAE_MQTT_USERNAME, $EDGEAE_MQTT_PASSWORD, $EDGEAE_MQTT_CAFILE): events "
                   "to TOPIC, status to TOPIC/status (retained), QoS 1. Repeatable")
    g.add_argument("--webhook", action="append", default=[], type=_sink("http", "https"),
                   metavar="URL", help="POST each message as JSON to URL (a 2xx answer takes it; "
                   "$EDGEAE_WEBHOOK_AUTHORIZATION is sent as the Authorization header). "
                   "Repeatable")
    g.add_argument("--status-interval", type=ranged(float, 0.0, lo_open=True), metavar="S",
                   help=f"seconds between status messages (default {DEFAULTS.status_interval:g})")
    g.add_argument("--queue-dir", type=output_dir, metavar="DIR",
                   help="where the sinks' queues live (default: $STATE_DIRECTORY under systemd, "
                        "else $XDG_STATE_HOME/edgeae or ~/.local/state/edgeae)")
    g.add_argument("--queue-max", type=ranged(int, 1, 10_000_000), metavar="N",
                   help="messages each sink keeps on disk while it is down, at most; beyond, "
                        f"the oldest are dropped and counted (default {DEFAULTS.queue_max})")


def _add_serve_args(p: argparse.ArgumentParser) -> None:
    """The page, /metrics and /healthz: ServeOptions' fields (runtime/serve.py)."""
    from edgeae.runtime.serve import ServeOptions

    defaults = ServeOptions()
    g = p.add_argument_group(
        "web page", "a page with the live view, figures, the latest anomalies and the threshold; "
        "/metrics for Prometheus; /healthz (503 when frames stop). Frames for the page are "
        "encoded in their own thread, only while someone watches")
    g.add_argument("--serve", metavar="[HOST:]PORT",
                   help="listen on PORT (127.0.0.1 unless HOST is given, e.g. 0.0.0.0:8080)")
    g.add_argument("--token", default=os.environ.get("EDGEAE_TOKEN"), metavar="SECRET",
                   help="required by every page but /healthz (header 'Authorization: Bearer', "
                        "or open /?token=SECRET once for a cookie), and to change the threshold; "
                        "default $EDGEAE_TOKEN. Needed to listen beyond 127.0.0.1")
    g.add_argument("--insecure", action="store_true",
                   help="listen beyond 127.0.0.1 without a token (anyone on the network sees it)")
    g.add_argument("--page-fps", type=ranged(float, 0.0, lo_open=True), metavar="N",
                   help=f"frames a second encoded for the page, at most (default "
                        f"{defaults.page_fps:g})")
    g.add_argument("--health-timeout", type=ranged(float, 0.0, lo_open=True), metavar="S",
                   help=f"/healthz fails after S seconds without a frame (default "
                        f"{defaults.health_timeout:g})")


def _serve_options(args: argparse.Namespace):
    """ServeOptions from the command line, or None without --serve."""
    from edgeae.core.errors import UserError
    from edgeae.runtime.serve import ServeOptions, parse_address

    if args.serve is None:
        if args.insecure:
            raise UserError("--insecure goes with --serve")
        return None
    host, port = parse_address(args.serve)
    return ServeOptions(host=host, port=port, token=args.token or None, insecure=args.insecure,
                        **given(args, "page_fps", "health_timeout"))


def _sink(*schemes: str):
    """An argparse type: a sink URL with one of `schemes`, checked before any work."""
    from edgeae.core.errors import UserError
    from edgeae.runtime.sinks import parse_sink

    def parse(text: str) -> str:
        try:
            parse_sink(text, schemes)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text

    return parse


def _add_capture_args(p: argparse.ArgumentParser) -> None:
    """How long a live source may take: CaptureOptions' fields."""
    seconds = ranged(float, 0.0, lo_open=True)
    p.add_argument("--wait-for-source", type=seconds, metavar="S",
                   help="a camera or stream with no frame yet is retried with back-off for S "
                        f"seconds, then the run fails (default {CAPTURE.wait_for_source:g})")
    p.add_argument("--open-timeout", type=seconds, metavar="S",
                   help=f"streams: give up one attempt to open after S seconds "
                        f"(default {CAPTURE.open_timeout:g})")
    p.add_argument("--read-timeout", type=seconds, metavar="S",
                   help="streams: no frame for S seconds is a lost connection, reopened with "
                        f"back-off (default {CAPTURE.read_timeout:g})")
    p.add_argument("--camera-size", type=_camera_size, metavar="WxH",
                   help="ask a camera (or the Pi camera's model stream) for this size, e.g. "
                        "640x480")
    p.add_argument("--camera-fps", type=ranged(float, 0.0, lo_open=True), metavar="N",
                   help="ask a camera for N frames per second")
    p.add_argument("--fourcc", type=_fourcc, metavar="CODE",
                   help="a USB camera's pixel format, e.g. MJPG (V4L2 cameras give their larger "
                        "sizes and rates in MJPG only)")


def _camera_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480): width and height, as a camera takes them."""
    return frame_size(text)[::-1]


def _fourcc(text: str) -> str:
    """Four characters, as V4L2 names pixel formats (MJPG, YUYV)."""
    if len(text) != 4 or not text.isascii() or not text.isprintable():
        raise argparse.ArgumentTypeError(f"expected four characters like MJPG or YUYV, got "
                                         f"{text!r}")
    return text


def _default_uses() -> dict[str, str]:
    """What `run` does with each task's frames unless --task says: the runtime's default use."""
    return {name: task.frame_use for name, task in TASKS.items()}


def run(args: argparse.Namespace) -> int:
    """Run the model on the source until it stops; print the summary as JSON.

    Returns 0, or INTERRUPTED after Ctrl-C (the summary is printed either way).
    """
    from edgeae.runtime.capture import frame_size_of, parse_source
    from edgeae.runtime.loop import run as run_frames

    _ignore_hangups_until_the_loop()
    source = parse_source(args.source)
    auto_threads = args.threads == "auto"
    if auto_threads:
        args.threads = None  # until chosen: --backend auto times the engines at their default
    if args.backend == "auto":  # a bad option is refused before the engines are timed
        checked_run(argparse.Namespace(**{**vars(args), "backend": None}), source,
                    model_path(args))
    path = resolve_backend(args, model_path(args), frame_size_of(source), args.task,
                           args.score_size)
    use, options, capture = checked_run(args, source, path)
    stopped = _choose_threads(args, path, use, source, options, capture) if auto_threads \
        else None
    if stopped is not None:
        return _finish(stopped)
    model = _open(args, path, use, args.threads)
    if args.threshold is not None:
        model.threshold = args.threshold
    if use == "score":
        _say_how_frames_are_scored(model, args.score_size)
    hooks = RunHooks(reload=_reload_threshold(model, path, args.backend),
                     save_threshold=_threshold_saver(model, path), name=_model_name(args, path))
    return _finish(run_frames(model, source, options, capture, hooks))


Applies = Callable[[argparse.Namespace, Source, str], bool]  # (args, source, use) -> bool
_CAMERA: Applies = lambda a, s, u: s.kind in ("camera", "picamera2")  # noqa: E731
_USB: Applies = lambda a, s, u: s.kind == "camera"  # noqa: E731
_LIVE: Applies = lambda a, s, u: s.live  # noqa: E731
_STREAM: Applies = lambda a, s, u: s.kind == "stream"  # noqa: E731
_SINKS: Applies = lambda a, s, u: bool(a.mqtt or a.webhook)  # noqa: E731
_SERVE: Applies = lambda a, s, u: a.serve is not None  # noqa: E731
_DRAWN: Applies = lambda a, s, u: a.output is not None or a.display  # noqa: E731
# options that do something only beside another, and what: (dest, it, whether it is there);
# given alone they had been accepted and done nothing
IDLE_OPTIONS: tuple[tuple[str, str, Applies], ...] = (
    ("camera_size", "a camera (--source 0 or picamera2)", _CAMERA),
    ("camera_fps", "a camera (--source 0 or picamera2)", _CAMERA),
    ("fourcc", "a USB camera (--source 0)", _USB),
    ("wait_for_source", "a live source (a camera or stream)", _LIVE),
    ("open_timeout", "a live source (a camera or stream)", _LIVE),
    ("read_timeout", "a stream (--source rtsp://, tcp://, http://)", _STREAM),
    ("queue_dir", "a sink (--mqtt or --webhook)", _SINKS),
    ("queue_max", "a sink (--mqtt or --webhook)", _SINKS),
    ("status_interval", "a sink (--mqtt or --webhook)", _SINKS),
    ("page_fps", "--serve", _SERVE),
    ("health_timeout", "--serve", _SERVE),
    ("event_interval", "--task score (events are anomalies)", lambda a, s, u: u == "score"),
    ("side_by_side", "frames to draw on (--output or --display)", _DRAWN),
    ("no_overlay", "frames to draw on (--output or --display)", _DRAWN),
)


def _refuse_idle_options(args: argparse.Namespace, source: Source, use: str) -> None:
    """A one-line UserError for an option given without what it works on (IDLE_OPTIONS)."""
    refuse_idle(args, ((dest, applies(args, source, use), f"does nothing without {needs}; "
                        "leave it out") for dest, needs, applies in IDLE_OPTIONS))


def checked_run(args: argparse.Namespace, source: Source,
                path: Path) -> tuple[str, RunOptions, CaptureOptions]:
    """What the run does with each frame (its use), its options and capture's, all checked.

    Before any trial run or model load; `service install` checks a unit's run with it too.
    """
    import edgeae.runtime as rt
    from edgeae.core.errors import UserError
    from edgeae.runtime.loop import check_run_options
    from edgeae.runtime.pretrained import GATED

    manifest = rt.read_artifact_manifest(path, args.backend)
    use = args.task or _default_uses()[manifest.task]
    _refuse_idle_options(args, source, use)
    for option, why in (("threshold", "decides which frames are anomalies"),
                        ("score_size", "is the size frames are scored at")):
        if getattr(args, option) is not None and use != "score":
            raise UserError(f"--{option.replace('_', '-')} {why}: it needs --task score "
                            f"({path.name} would {use} each frame)")
    options = RunOptions(**given(args, "output", "events", "event_interval", "max_fps",
                                 "duration", "queue_dir", "queue_max", "status_interval"),
                         display=args.display, side_by_side=args.side_by_side,
                         overlay=not args.no_overlay, overwrite=args.overwrite, gray=args.gray,
                         loop=args.loop, sinks=(*args.mqtt, *args.webhook),
                         serve=_serve_options(args))
    capture = CaptureOptions(**given(args, "open_timeout", "read_timeout", "wait_for_source",
                                     "camera_size", "camera_fps", "fourcc"))
    if args.gray and manifest.input.channels != 1:
        raise UserError(f"--gray reads gray frames and {path.name} takes colour ones (a gray "
                        "frame would be out of what it learned); leave --gray out")
    if args.pretrained in GATED and use != "denoise":
        raise UserError(f"{args.pretrained} chooses among denoisers by a frame's noise; "
                        f"it cannot {use} frames: leave --task out")
    if args.colour_planes and (use != "denoise" or args.gray):
        raise UserError("--colour-planes is how a gray model denoises colour frames; "
                        + ("--gray reads gray frames" if args.gray
                           else f"{path.name} would {use} them"))
    refuse_output_over_inputs(args, "--output", "--events",  # the model's manifest, say
                              models=(model_path(args), path))
    check_run_options(source, options, scoring=use == "score")  # before any trial run
    return use, options, capture


def _ignore_hangups_until_the_loop() -> None:
    """SIGHUP ignored until the loop catches it as a reload (and after: it restores this).

    `systemctl reload` during the --threads auto trials or the model's load had ended the
    service (exit 129). The model the loop runs is opened after the trials and reads its
    manifest then, so a reload asked before is not lost.
    """
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _finish(summary) -> int:  # noqa: ANN001 - runtime.loop's RunSummary, imported late
    """Print the summary; the exit code its stop gives (130 after Ctrl-C, else 0)."""
    print(json.dumps(summary.to_dict(), indent=2), flush=True)
    return INTERRUPTED if summary.stopped_by == "interrupt" else 0


def _model_name(args: argparse.Namespace, path: Path) -> str:
    """What the page, status and metrics call the model: a noise-gated pair names its files."""
    names = [path.name, *(p.name for p in paired_model_paths(args))]
    return names[0] if len(names) == 1 else f"{args.pretrained} ({' or '.join(names)})"


def _open(args: argparse.Namespace, path: Path, use: str, threads: int | None):
    """The runtime's model for `use`, with --colour-planes and --score-size applied."""
    import edgeae.runtime as rt
    from edgeae.runtime.gated import paired

    model = paired(lambda file: rt.load(file, args.backend, threads, task=use), path,
                   paired_model_paths(args))
    if args.colour_planes:
        model.colour_planes = args.colour_planes
    if args.score_size is not None:
        model.score_size = None if args.score_size == "frame" else args.score_size
    return model


def _say_how_frames_are_scored(model, asked: tuple[int, int] | str | None) -> None:
    """The size frames are scored at unless --score-size chose it; a warning when no threshold."""
    log = logging.getLogger("edgeae")
    if asked is None and model.score_size is not None:
        log.info("scoring frames resized to %dx%d, the size the detector was trained at (pass "
                 "--score-size frame to score them at their own size)", *model.score_size)
    if model.threshold is None:
        log.warning("no threshold in the manifest and no --threshold: scores only, no decisions")


def _reload_threshold(model, path: Path, backend: str | None) -> Callable[[], None]:
    """SIGHUP's action: the threshold again from the manifest beside the artifact.

    After `edgeae threshold` changed it; it replaces --threshold. A denoiser has none.
    """
    log = logging.getLogger("edgeae")

    def reload() -> None:
        import edgeae.runtime as rt
        from edgeae.core.errors import UserError

        if not hasattr(model, "threshold"):
            log.info("SIGHUP: a denoiser has no threshold to reload")
            return
        try:
            threshold = rt.read_artifact_manifest(path, backend).threshold
        except UserError as e:
            log.warning("SIGHUP: %s; the threshold stays %s", e, model.threshold)
            return
        log.info("SIGHUP: threshold %s -> %s, from %s's manifest", model.threshold, threshold,
                 path.name)
        model.threshold = threshold

    return reload


def _threshold_saver(model, path: Path) -> Callable[[float], None]:
    """The page's threshold: into the manifest beside the artifact, then from the next frame.

    Written atomically, as `edgeae threshold` writes it.
    """
    def save(value: float) -> None:
        from edgeae.runtime.threshold import apply_threshold

        apply_threshold(path, f"fixed:{value!r}")
        model.threshold = value

    return save


def _choose_threads(args: argparse.Namespace, path: Path, use: str, source: Source,
                    options: RunOptions, capture: CaptureOptions):  # noqa: ANN202 - a RunSummary
    """--threads auto: time the loop per count (runtime/threads.py) and set args.threads.

    Prints the pick; the trial's summary when the user stopped the trials (Ctrl-C, SIGTERM),
    None otherwise.
    """
    from edgeae.runtime.threads import ThreadsChoice, choose_threads

    choice = choose_threads(lambda n: _open(args, path, use, n), source, options, capture)
    if not isinstance(choice, ThreadsChoice):
        return choice
    print(choice.describe(), file=sys.stderr, flush=True)
    args.threads = choice.threads
    return None
