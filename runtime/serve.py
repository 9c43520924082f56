"""`edgeae run --serve`: a small web server inside the loop, for a device without a screen.

    /               the page: live view, figures, latest anomalies with snapshots, threshold
    /stream?view=   MJPEG: side (input | output), output (the heat map for a detector), input
    /status.json    the figures the page shows
    /events.json    the latest anomaly events; /events/N.jpg their snapshots
    /threshold      POST {"threshold": x}: a detector's threshold, saved to its manifest
    /metrics        Prometheus text format (prometheus_client)
    /healthz        200 while frames arrive, 503 once none has for `health_timeout` seconds

The loop only hands over references (`LiveView.offer`): frames are copied and JPEG-encoded by
the server's own thread, at most `page_fps` a second and only while someone watches, so the
page never slows the model. Everything served comes from memory: no route reads a file, so no
path can reach one. Listening beyond this machine needs a token (a header, or a cookie set once
from ?token=), compared in constant time; changing the threshold always needs it. Connections
are capped, each has a socket timeout, request bodies and URLs are bounded.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import importlib.util
import ipaddress
import json
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edgeae.core.errors import UserError, first_line

log = logging.getLogger(__name__)

VIEWS = ("side", "output", "input")
COOKIE = "edgeae_token"
MAX_BODY = 1024  # bytes a POST may carry
MAX_URL = 2048
EVENTS_KEPT = 20
PAGE_NICE = 19  # the page's threads yield the CPU to the model's (Linux: per-thread niceness)


# RFC 6265's cookie-octet: printable ASCII but space, '"', ',', ';' and '\\'
COOKIE_SAFE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")


@dataclass(frozen=True)
class ServeOptions:
    """Where the server listens and what it allows."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    insecure: bool = False  # listen beyond this machine without a token
    page_fps: float = 5.0  # frames a second encoded for the page, at most
    health_timeout: float = 10.0  # /healthz fails once no frame came for this long
    max_connections: int = 16  # at once; more get 503
    max_streams: int = 4  # MJPEG viewers at once
    socket_timeout: float = 10.0  # a client that sent no whole request by then is dropped


def parse_address(text: str) -> tuple[str, int]:
    """'[HOST:]PORT' -> (host, port); the host defaults to 127.0.0.1."""
    if text.count(":") > 1 and not text.startswith("["):  # ::1 was host ":" and port 1
        raise UserError(f"--serve {text}: put an IPv6 host in brackets, e.g. [::1]:8080")
    host, _, port = text.rpartition(":")
    if host.startswith("[") != host.endswith("]"):  # "[::1:8080" had served on [::1]:8080
        raise UserError(f"--serve {text}: expected [HOST:]PORT, e.g. 8080, [::1]:8080")
    try:
        number = int(port)
    except ValueError:
        raise UserError(f"--serve {text}: expected [HOST:]PORT, e.g. 8080, 0.0.0.0:8080") from None
    if not 0 < number < 65536:
        raise UserError(f"--serve {text}: port must be 1-65535")
    return host.strip("[]") or "127.0.0.1", number


def check_exposure(options: ServeOptions) -> None:
    """Refuse what the page could not serve safely or at all.

    Listening beyond this machine without a token (unless --insecure), and a token a browser's
    cookie cannot carry: the page then crashed on it or never let the browser in. Without
    prometheus_client (a device environment without the service extra) it ended in a traceback
    once the source had opened.
    """
    if importlib.util.find_spec("prometheus_client") is None:  # the page's /metrics
        raise UserError("--serve needs prometheus_client: pip install 'edgeae[service]' "
                        "(prometheus-client)")
    if not _loopback(options.host) and not options.token and not options.insecure:
        raise UserError(f"--serve {options.host}:{options.port} listens beyond this machine: "
                        "pass --token SECRET (or --insecure to allow anyone on the network)")
    if options.token and not COOKIE_SAFE.fullmatch(options.token):
        raise UserError("--token (or $EDGEAE_TOKEN) travels in a cookie and a header: use ASCII "
                        "letters, digits and punctuation, without spaces, quotes, commas, "
                        "semicolons or backslashes")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(frozen=True)
class PageModel:
    """What the page knows about the model: its name and threshold, and how to change it."""

    name: str
    threshold: Callable[[], float | None]
    save_threshold: Callable[[float], None] | None = None  # None: not a detector
    # what is wrong with a value for this model's scores (ScoreConfig.threshold_problem)
    threshold_problem: Callable[[float], str | None] = lambda value: None  # noqa: ARG005


def _snapshot(frame: np.ndarray, result) -> tuple:
    """Copies of what the loop hands over (its buffers are reused by the next frame)."""
    if isinstance(result, np.ndarray):
        return frame.copy(), result.copy(), None
    return frame.copy(), result.heatmap.copy(), result.is_anomaly


def _views(snapshot: tuple, heat_scale: float | None, wanted: set[str]) -> dict[str, np.ndarray]:
    """The images the page shows: input, output (or heat map) and both side by side.

    `heat_scale` is None for a denoiser, whose output is an image.
    """
    from edgeae.runtime.drawing import as_bgr, heat_overlay

    frame, out, flagged = snapshot
    shown = as_bgr(out) if heat_scale is None else heat_overlay(frame, out, heat_scale)
    if flagged:
        cv2.rectangle(shown, (0, 0), (shown.shape[1] - 1, shown.shape[0] - 1), (0, 0, 255), 3)
    images = {"input": as_bgr(frame), "output": shown}
    if "side" in wanted:
        size = images["input"].shape[1::-1]
        images["side"] = np.hstack([images["input"], cv2.resize(shown, size)])
    return {view: images[view] for view in wanted}


class LiveView:
    """What the loop shares with the page: the newest frame, anomaly snapshots, the last time.

    The loop calls `offer` and `event`; the encoder thread makes the JPEGs.
    """

    def __init__(self, options: ServeOptions, scoring: bool, heat_scale: float | None) -> None:
        # the heat map's red: the model's own, else set from the first map seen; None: denoiser
        self.options, self.scoring, self._heat_scale = options, scoring, heat_scale
        self.last_frame = time.monotonic()  # /healthz counts from the start
        self.events: deque[tuple[int, dict, bytes]] = deque(maxlen=EVENTS_KEPT)
        self._changed = threading.Condition()
        self._viewers = dict.fromkeys(VIEWS, 0)
        self._jpegs: dict[str, tuple[int, bytes]] = {}
        self._pending, self._pending_events = None, deque(maxlen=4)
        self._grabbed, self._seq, self._events_seen, self._closed = -float("inf"), 0, 0, False
        self._thread = threading.Thread(target=self._encode_forever, daemon=True,
                                        name="edgeae-page")
        self._thread.start()

    def offer(self, frame: np.ndarray, result) -> None:
        """The loop's newest frame and result: copied for the page when one is due."""
        now = self.last_frame = time.monotonic()
        if not any(self._viewers.values()) or now - self._grabbed < 1 / self.options.page_fps:
            return
        self._grabbed = now
        snapshot = _snapshot(frame, result)
        with self._changed:
            self._pending = snapshot
            self._changed.notify_all()

    def event(self, event: dict, frame: np.ndarray, result) -> None:
        """An anomaly event: its snapshot is encoded by the page's thread."""
        snapshot = _snapshot(frame, result)
        with self._changed:
            self._events_seen += 1
            self._pending_events.append(({**event, "n": self._events_seen}, snapshot))
            self._changed.notify_all()

    def _scale(self, snapshot: tuple) -> float | None:
        """The heat map's scale: fixed from the first map when the model has none."""
        if self.scoring and self._heat_scale is None:
            self._heat_scale = 4 * max(float(snapshot[1].mean()), 1e-6)
        return self._heat_scale if self.scoring else None

    def _encode_forever(self) -> None:
        """Encode what the loop handed over, whenever it does, until closed."""
        _yield_to_the_model()
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._pending is not None
                                       or self._pending_events)
                if self._closed:
                    return
                snapshot, self._pending = self._pending, None
                events = list(self._pending_events)
                self._pending_events.clear()
                wanted = {v for v, n in self._viewers.items() if n}
            for event, shot in events:
                jpeg = _jpeg(_views(shot, self._scale(shot), {"output"})["output"])
                self.events.appendleft((event["n"], event, jpeg))
            if snapshot is not None and wanted:
                encoded = {view: _jpeg(image) for view, image in
                           _views(snapshot, self._scale(snapshot), wanted).items()}
                with self._changed:
                    self._seq += 1
                    self._jpegs.update({v: (self._seq, j) for v, j in encoded.items()})
                    self._changed.notify_all()

    def stream(self, view: str) -> Iterator[bytes]:
        """The view's JPEGs as they come, for one viewer (counted while it watches)."""
        with self._changed:
            self._viewers[view] += 1
        try:
            seen = -1
            while not self._closed:
                latest = self._next_jpeg(view, seen)
                if latest is not None:
                    seen = latest[0]
                    yield latest[1]
        finally:
            with self._changed:
                self._viewers[view] -= 1

    def _next_jpeg(self, view: str, seen: int) -> tuple[int, bytes] | None:
        """The view's (seq, JPEG) newer than `seen`; None after a second without one."""
        def newer() -> bool:
            return self._closed or self._jpegs.get(view, (-1,))[0] != seen

        with self._changed:
            self._changed.wait_for(newer, timeout=1.0)
            latest = self._jpegs.get(view)
        return None if latest is None or latest[0] == seen or self._closed else latest

    def close(self) -> None:
        """Stop the encoder and every stream."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join()


def _yield_to_the_model() -> None:
    """Run this thread at the lowest priority (nice PAGE_NICE): the page gets what the model leaves.

    Linux schedules threads as tasks, each with its own niceness; at nice 19 a page thread gets
    about 1.5% of a busy core, enough for its few milliseconds of encoding a frame, and rarely
    pre-empts one of the engine's worker threads (whose whole layer would wait for it).
    SCHED_IDLE removed the page's cost in a measurement (BENCHMARKS.md), but an idle-class
    thread gets almost no CPU while the cores are saturated (a model slower than its camera),
    so the page could freeze just then. Elsewhere this does nothing. Threads it starts (the
    server's per-connection ones) inherit it.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PAGE_NICE)


def _jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


class _RunCollector:
    """The run's figures for Prometheus, read afresh at every scrape (a custom collector)."""

    def __init__(self, status: Callable[[], dict], model: PageModel, live: LiveView) -> None:
        self.status, self.model, self.live = status, model, live

    def collect(self) -> list:
        """The counters and gauges of this moment."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        status, threshold = self.status(), self.model.threshold()
        return [
            CounterMetricFamily("edgeae_frames", "Frames through the model", status["frames"]),
            CounterMetricFamily("edgeae_dropped_frames", "Stale frames skipped",
                                status["dropped"]),
            CounterMetricFamily("edgeae_reconnects", "Source reconnections",
                                status["reconnects"]),
            CounterMetricFamily("edgeae_anomalies", "Frames above the threshold",
                                status["anomalies"]),
            GaugeMetricFamily("edgeae_fps", "Frames per second since the start", status["fps"]),
            GaugeMetricFamily("edgeae_model_seconds", "Model time per frame, median",
                              status["model_ms_p50"] / 1e3),
            GaugeMetricFamily("edgeae_frame_seconds", "Loop time per frame, median",
                              status["frame_ms_p50"] / 1e3),
            GaugeMetricFamily("edgeae_seconds_since_frame", "Seconds since the last frame",
                              time.monotonic() - self.live.last_frame),
            GaugeMetricFamily("edgeae_threshold", "The anomaly threshold (NaN: none)",
                              float("nan") if threshold is None else threshold)]


def _metrics_registry(collector: _RunCollector):  # noqa: ANN202 - prometheus_client's type
    """A registry of the run's collector alone (not the process-wide default registry)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once (503 beyond)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, options: ServeOptions, live: LiveView, model: PageModel,
                 status: Callable[[], dict]) -> None:
        self.options, self.live, self.model, self.status = options, live, model, status
        self.metrics = _metrics_registry(_RunCollector(status, model, live))
        self.page = resources.files("edgeae.runtime").joinpath("page.html").read_bytes()
        self._slots = threading.BoundedSemaphore(options.max_connections)
        self.streams = threading.BoundedSemaphore(options.max_streams)
        handler = type("Handler", (_Handler,), {"timeout": options.socket_timeout})
        if ":" in options.host:  # an IPv6 address, such as :: (every interface)
            self.address_family = socket.AF_INET6
        super().__init__((options.host, options.port), handler)

    def process_request(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\n"
                                b"Content-Length: 0\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001
        _yield_to_the_model()
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    """The routes; nothing here opens a file."""

    server: _Server
    server_version = "edgeae"

    def setup(self) -> None:
        """Give the client `socket_timeout` seconds in all to send its request.

        The socket's own time-out restarts with every byte: a client sending one every few
        seconds held its connection, and 16 such held the page (and /healthz) for good.
        """
        super().setup()
        self._cut = threading.Timer(self.timeout, self._drop)
        self._cut.daemon = True
        self._cut.start()

    def _drop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._cut.cancel()  # the request is in: a stream may last as long as it is watched
        super().send_response(code, message)

    def finish(self) -> None:
        self._cut.cancel()
        super().finish()

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook
        self._dispatch("POST")

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's hook
        """A monitor's probe of /healthz (it had 501); the other routes are GET's alone."""
        if urlsplit(self.path).path == "/healthz":
            return self._health()
        return self._dispatch("HEAD")  # a token first: its 404 or 405 says what paths exist

    def _other_method(self) -> None:
        """PUT, DELETE, PATCH, OPTIONS: a token first, then 404 or 405 (they had 501)."""
        self._dispatch(self.command)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other_method  # noqa: N815 - http.server's hooks

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self, method: str) -> None:
        if len(self.path) > MAX_URL:
            return self._send(414, "URL too long")
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if (method, url.path) == ("GET", "/healthz"):
            return self._health()
        if "token" in query:
            return self._token_cookie(url.path, query["token"][0])
        if not self._authorised():
            return self._send(401, "a token is needed: ?token=, 'Authorization: Bearer' or "
                                   "X-Edgeae-Token")
        image = EVENT_IMAGE.fullmatch(url.path) if method == "GET" else None
        if image:
            return self._event_image(int(image[1]))
        route = ROUTES.get((method, url.path))
        if route is None:
            return self._not_routed(method, url.path)
        return route(self, query)

    def _not_routed(self, method: str, path: str) -> None:
        """404 for a path the page lacks; 405 naming the methods it takes for one it has."""
        allowed = sorted({verb for verb, known in ROUTES if known == path}
                         | ({"GET", "HEAD"} if path == "/healthz" else set())
                         | ({"GET"} if EVENT_IMAGE.fullmatch(path) else set()))
        if not allowed:
            return self._send(404, "not here")
        return self._send(405, f"{path} takes {' or '.join(allowed)}, not {method}",
                          headers={"Allow": ", ".join(allowed)})

    def _send(self, code: int, body: bytes | str, kind: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        for name, value in {"Content-Type": kind, "Content-Length": str(len(data)),
                            "Cache-Control": "no-store", **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, obj) -> None:
        self._send(200, json.dumps(obj), "application/json")

    def _given_tokens(self) -> list[str]:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        return [self.headers.get("Authorization", "").removeprefix("Bearer ").strip(),
                self.headers.get("X-Edgeae-Token", ""),
                cookie[COOKIE].value if COOKIE in cookie else ""]

    def _authorised(self) -> bool:
        token = self.server.options.token
        return token is None or any(_same(given, token) for given in self._given_tokens())

    def _token_cookie(self, path: str, given: str) -> None:
        """?token=: set the cookie and send the browser to the same page without it."""
        token = self.server.options.token
        if token is None or not _same(given, token):
            return self._send(401, "wrong token")
        self._send(303, "", headers={
            "Location": path, "Set-Cookie": f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"})

    def _health(self) -> None:
        age = time.monotonic() - self.server.live.last_frame
        if age > self.server.options.health_timeout:
            return self._send(503, f"no frame for {age:.0f} s")
        return self._send(200, "ok")

    def _page(self, query: dict) -> None:  # noqa: ARG002 - a route
        self._send(200, self.server.page, "text/html; charset=utf-8")

    def _status(self, query: dict) -> None:  # noqa: ARG002 - a route
        model = self.server.model
        self._json({**self.server.status(), "model": model.name, "threshold": model.threshold(),
                    "threshold_editable": bool(model.save_threshold and self.server.options.token)})

    def _events(self, query: dict) -> None:  # noqa: ARG002 - a route
        self._json([event for _, event, _ in self.server.live.events])

    def _event_image(self, n: int) -> None:
        jpeg = next((j for i, _, j in self.server.live.events if i == n), None)
        if jpeg is None:
            return self._send(404, "no such event (only the latest are kept)")
        return self._send(200, jpeg, "image/jpeg")

    def _metrics(self, query: dict) -> None:  # noqa: ARG002 - a route
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self._send(200, generate_latest(self.server.metrics), CONTENT_TYPE_LATEST)

    def _stream(self, query: dict) -> None:
        view = query.get("view", ["side"])[0]
        if view not in VIEWS:
            return self._send(400, f"view: one of {', '.join(VIEWS)}")
        if not self.server.streams.acquire(blocking=False):
            return self._send(503, "too many viewers")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            for jpeg in self.server.live.stream(view):
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
        except OSError:
            pass  # the viewer left, or stopped reading for socket_timeout
        finally:
            self.server.streams.release()

    def _threshold(self, query: dict) -> None:  # noqa: ARG002 - a route
        model = self.server.model
        if model.save_threshold is None:
            return self._send(409, "this model has no threshold (a denoiser)")
        if self.server.options.token is None:
            return self._send(403, "changing the threshold needs the server started with --token")
        try:
            length = _body_length(self.headers.get("Content-Length") or "0")
            if length > MAX_BODY:
                return self._send(413, f"at most {MAX_BODY} bytes")
            value = json.loads(self.rfile.read(length))["threshold"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(value)  # true and "2" are no numbers
        except (ValueError, KeyError, TypeError):
            return self._send(400, 'expected {"threshold": NUMBER}')
        value = float(value)
        problem = model.threshold_problem(value)
        if problem:
            return self._send(400, problem)
        try:
            model.save_threshold(value)
        except (UserError, OSError) as e:  # a read-only model folder (ProtectSystem=strict)
            log.warning("the page's threshold %g was not saved: %s", value, first_line(e))
            return self._send(500, f"not saved: {first_line(e)}")
        log.info("threshold set to %g from the page", value)
        return self._json({"threshold": value})


ROUTES: dict[tuple[str, str], Callable[[_Handler, dict], None]] = {
    ("GET", "/"): _Handler._page, ("GET", "/stream"): _Handler._stream,
    ("GET", "/status.json"): _Handler._status, ("GET", "/events.json"): _Handler._events,
    ("GET", "/metrics"): _Handler._metrics, ("POST", "/threshold"): _Handler._threshold}
EVENT_IMAGE = re.compile(r"/events/(\d{1,9})\.jpg")
DIGITS = re.compile(r"[0-9]{1,18}")


def _body_length(header: str) -> int:
    """Content-Length as RFC 9110 writes it, digits only.

    int() would also take "-1" (whose read(-1) reads past the body cap), "+18" and "1_8".
    """
    if not DIGITS.fullmatch(header):
        raise ValueError(header)
    return int(header)


def _same(given: str, token: str) -> bool:
    """Constant-time comparison (hmac.compare_digest) of a given token with the real one."""
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


class PageServer:
    """The web server of a run: started on open, stopped (streams ended) on close."""

    def __init__(self, options: ServeOptions, model: PageModel, status: Callable[[], dict],
                 heat_scale: float | None, scoring: bool) -> None:
        self.live = LiveView(options, scoring, heat_scale)
        try:
            self._server = _Server(options, self.live, model, status)
        except OSError as e:
            self.live.close()
            fix = "choose another port" if e.errno == errno.EADDRINUSE else "check the address"
            raise UserError(f"--serve: cannot listen on {options.host}:{options.port} "
                            f"({e.strerror or e}); {fix}") from None
        self.port = self._server.server_address[1]
        threading.Thread(target=self._serve, daemon=True, name="edgeae-serve").start()
        host = f"[{options.host}]" if ":" in options.host else options.host  # IPv6, as a URL
        log.info("serving on http://%s:%d/", host, self.port)

    def _serve(self) -> None:
        _yield_to_the_model()
        self._server.serve_forever()

    def close(self) -> None:
        """End the streams, stop listening."""
        self.live.close()
        self._server.shutdown()
        self._server.server_close()
