"""Anomaly events and status messages to MQTT brokers and webhooks, never lost to an outage.

Each sink has its own queue on disk (an SQLite file, one row per message, committed before the
loop moves on) and its own delivery thread, which sends the oldest message first and deletes it
only once the broker (MQTT QoS 1: its PUBACK) or the server (an HTTP 2xx) has taken it. A broker
or network outage, a crash or a restart leaves the messages queued; they go out in order when the
sink is back. Delivery is at least once: a message taken just before a crash is sent again, and
each carries an `id` to drop such repeats. The queue is bounded: beyond `max_messages` the oldest
are dropped (counted and logged), so a device offline for weeks keeps its newest messages and its
disk.

    sinks = Sinks(["mqtt://broker:1883/line1/cam2", "https://example.com/hook"], queue_dir)
    sinks.publish("event", {"score": 0.31, ...})
    sinks.close()
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from edgeae.core.errors import UserError
from edgeae.runtime.capture import Backoff

log = logging.getLogger(__name__)

SEND_TIMEOUT = 5.0  # seconds one message may take to be acknowledged before it counts as failed
FLUSH_TIMEOUT = 5.0  # seconds close() waits for queued messages before leaving them on disk
STOP_GRACE = 1.0  # seconds more close() waits for a send under way
MAX_MESSAGES = 10_000


def default_queue_dir() -> Path:
    """Where queues live: $STATE_DIRECTORY (systemd), $XDG_STATE_HOME/edgeae, ~/.local/state."""
    if state := os.environ.get("STATE_DIRECTORY"):
        return Path(state.split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "edgeae"


class SinkDown(Exception):
    """A message was not taken: the broker or server is unreachable or refused it."""


class DiskQueue:
    """Messages in arrival order in an SQLite file; at most `max_messages`, oldest dropped."""

    def __init__(self, path: Path, max_messages: int = MAX_MESSAGES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.max_messages, self.dropped = path, max_messages, 0
        self.unwritable = False  # the last put failed (a full disk): warned once
        self._full = False  # dropping the oldest since the last delivery: warned once
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a committed message survives power loss
            self._db.execute("CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY "
                             "AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL)")
        except sqlite3.DatabaseError as e:
            raise UserError(f"{path} is not an edgeae message queue ({e}); move it away or "
                            "pass another --queue-dir") from None

    def put(self, kind: str, body: str) -> None:
        """Append a message (committed on return); drop the oldest beyond the bound.

        A message the file cannot take (a full disk) is dropped and counted, with a warning:
        the loop that produced it goes on.
        """
        try:
            self._insert(kind, body)
        except sqlite3.Error as e:
            self.dropped += 1
            if not self.unwritable:
                log.warning("%s: cannot queue messages (%s); dropping them until it can",
                            self.path, e)
            self.unwritable = True
        else:
            self.unwritable = False

    def _insert(self, kind: str, body: str) -> None:
        """`put`'s transaction: the row in, the oldest out beyond the bound."""
        with self._lock, self._db:
            self._db.execute("INSERT INTO messages (kind, body) VALUES (?, ?)", (kind, body))
            (count,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
            if count > self.max_messages:
                self._db.execute("DELETE FROM messages WHERE seq IN (SELECT seq FROM messages "
                                 "ORDER BY seq LIMIT ?)", (count - self.max_messages,))
                self.dropped += count - self.max_messages
                if not self._full:  # once until a delivery: a week offline is no log flood
                    log.warning("%s: queue full (%d messages), dropping the oldest until "
                                "messages are delivered (the summary counts them)",
                                self.path.name, self.max_messages)
                self._full = True

    def oldest(self) -> tuple[int, str, str] | None:
        """(seq, kind, body) of the oldest message, or None when empty."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, kind, body FROM messages ORDER BY seq LIMIT 1").fetchone()

    def remove(self, seq: int) -> None:
        """The message was delivered."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
            self._full = False

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def close(self) -> None:
        """Close the database (the messages stay)."""
        with self._lock:
            self._db.close()


def _secret(url: SplitResult, name: str) -> str | None:
    """A credential from the URL, else from $EDGEAE_MQTT_<NAME>."""
    value = getattr(url, name)
    return unquote(value) if value else os.environ.get(f"EDGEAE_MQTT_{name.upper()}")


class MqttSink:
    """Publishes to an MQTT broker at QoS 1 through paho-mqtt, which reconnects on its own.

    mqtt://[user:password@]host[:1883]/topic, or mqtts:// (TLS, port 8883; the system's CA
    certificates or $EDGEAE_MQTT_CAFILE). Credentials may come from $EDGEAE_MQTT_USERNAME and
    $EDGEAE_MQTT_PASSWORD instead of the URL. Events go to `topic`, status to `topic/status`
    (retained, so a new subscriber sees the latest).
    """

    PORTS = {"mqtt": 1883, "mqtts": 8883}

    def __init__(self, url: SplitResult) -> None:
        import paho.mqtt.client as mqtt

        self.topic = url.path.lstrip("/")
        if not self.topic or not url.hostname:
            raise UserError(f"--mqtt {url.scheme}://HOST[:PORT]/TOPIC: host and topic needed")
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                   client_id=f"edgeae-{uuid.uuid4().hex[:12]}")
        if user := _secret(url, "username"):
            self._client.username_pw_set(user, _secret(url, "password"))
        if url.scheme == "mqtts":
            self._client.tls_set(ca_certs=os.environ.get("EDGEAE_MQTT_CAFILE"))
        self._client.reconnect_delay_set(1, 30)
        self._client.connect_async(url.hostname, url.port or self.PORTS[url.scheme], keepalive=30)
        self._client.loop_start()

    def send(self, kind: str, body: str) -> None:
        """Publish and wait for the broker's PUBACK; SinkDown when not connected or no ack."""
        if not self._client.is_connected():
            raise SinkDown("not connected")
        topic = self.topic if kind == "event" else f"{self.topic}/{kind}"
        info = self._client.publish(topic, body, qos=1, retain=kind == "status")
        try:
            info.wait_for_publish(SEND_TIMEOUT)
        except (RuntimeError, ValueError) as e:
            raise SinkDown(str(e)) from None
        if not info.is_published():
            raise SinkDown(f"no PUBACK within {SEND_TIMEOUT:g} s")

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


class WebhookSink:
    """POSTs each message as JSON; any 2xx answer takes it.

    http(s)://host/path; $EDGEAE_WEBHOOK_AUTHORIZATION, when set, is sent as the Authorization
    header (e.g. "Bearer TOKEN"); credentials in the URL (http://user:pass@host/path) as HTTP
    Basic authentication, as curl sends them (urllib took them for part of the host name).
    """

    def __init__(self, url: SplitResult) -> None:
        if not url.hostname:
            raise UserError(f"--webhook {url.geturl()}: no host")
        self.url = sink_name(url) + (f"?{url.query}" if url.query else "")
        self._headers = {"Content-Type": "application/json", "User-Agent": "edgeae"}
        if auth := os.environ.get("EDGEAE_WEBHOOK_AUTHORIZATION") or _basic_auth(url):
            self._headers["Authorization"] = auth

    def send(self, kind: str, body: str) -> None:  # noqa: ARG002 - the body says its type
        """POST `body`; SinkDown on a network error or a non-2xx answer."""
        import urllib.error  # here: urllib.request imports ssl and http, slow for the runtime
        import urllib.request

        request = urllib.request.Request(self.url, body.encode(), self._headers, method="POST")
        try:  # the status says whether it was taken: the body, which may trickle, is not read
            with _opener().open(request, timeout=SEND_TIMEOUT):
                pass
        except urllib.error.HTTPError as e:  # non-2xx, a redirect among them
            moved = e.headers.get("Location") if 300 <= e.code < 400 else None
            raise SinkDown(f"HTTP {e.code}" + (f", moved to {moved}: give that URL" if moved
                                               else f" {e.reason}")) from None
        except (urllib.error.URLError, OSError) as e:
            raise SinkDown(str(getattr(e, "reason", e))) from None

    def close(self) -> None:
        """Nothing held open between messages."""


def _basic_auth(url: SplitResult) -> str | None:
    """The Authorization header of a URL's user:password, or None without them."""
    if url.username is None:
        return None
    pair = f"{unquote(url.username)}:{unquote(url.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


@functools.cache
def _opener():  # noqa: ANN202 - urllib's OpenerDirector, imported late
    """An opener that follows no redirect, so a 3xx is a failure the sink retries.

    urllib's default follows a 301-303 with a GET, which drops the message's body, and would
    count the new page's 200 as delivered.
    """
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs) -> None:  # noqa: ARG002 - urllib's hook
            return None  # urllib then raises the 3xx as an HTTPError

    return urllib.request.build_opener(_NoRedirect)


SINKS: dict[str, Callable[[SplitResult], MqttSink | WebhookSink]] = {
    "mqtt": MqttSink, "mqtts": MqttSink, "http": WebhookSink, "https": WebhookSink}
# the module a sink needs beyond the standard library, and how to get it
NEEDS = {"mqtt": ("paho.mqtt", "pip install 'edgeae[service]' (paho-mqtt)")}
NEEDS["mqtts"] = NEEDS["mqtt"]


def queue_name(url: SplitResult) -> str:
    """The queue file of a sink: the same URL (credentials aside) finds its queue again."""
    bare = url._replace(netloc=f"{url.hostname}:{url.port or ''}").geturl()
    return f"{url.scheme}-{url.hostname}-{hashlib.sha256(bare.encode()).hexdigest()[:12]}.sqlite"


class Delivery:
    """One sink's thread: the queue's oldest message out first, removed once taken."""

    def __init__(self, sink: MqttSink | WebhookSink, queue: DiskQueue, name: str) -> None:
        self.sink, self.queue, self.name = sink, queue, name
        self.delivered, self.down = 0, False
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._deliver_forever, daemon=True,
                                        name=f"edgeae-sink-{name}")
        self._thread.start()

    def wake(self) -> None:
        """A message was queued."""
        self._wake.set()

    def _deliver_forever(self) -> None:
        backoff = Backoff(first=0.5, longest=30.0)
        while not self._stop.is_set():
            try:
                self._deliver_oldest(backoff)
            except sqlite3.Error as e:  # the queue file went bad under us (a full disk)
                log.warning("%s: cannot read its queue %s (%s); retrying", self.name,
                            self.queue.path, e)
                backoff.wait(self._stop)

    def _deliver_oldest(self, backoff: Backoff) -> None:
        """Send the oldest message and remove it once taken; wait when none or the sink is down."""
        oldest = self.queue.oldest()
        if oldest is None:
            self._wake.wait(1.0)
            self._wake.clear()
            return
        seq, kind, body = oldest
        try:
            self.sink.send(kind, body)
        except SinkDown as e:
            if not self.down:
                log.warning("%s: not delivered (%s); %d queued, retrying", self.name, e,
                            len(self.queue))
            self.down = True
            backoff.wait(self._stop)
            return
        self.queue.remove(seq)
        self.delivered += 1
        backoff.reset()
        if self.down:
            log.info("%s: delivering again", self.name)
            self.down = False

    def close(self, deadline: float) -> int:
        """Wait until monotonic `deadline` for the queue to empty, stop; the messages left (kept).

        A send still under way then (a server trickling its answer) is left to its daemon
        thread, so a stop never waits on a peer: its message stays queued for the next start.
        """
        while len(self.queue) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()  # not to sit out its idle wait
        self._thread.join(max(0.0, deadline + STOP_GRACE - time.monotonic()))
        left = len(self.queue)
        if left:
            log.warning("%s: %d messages left in %s, sent at the next start", self.name, left,
                        self.queue.path)
        if self._thread.is_alive():
            log.warning("%s: still sending at the stop; left to finish on its own", self.name)
            return left
        self.sink.close()
        self.queue.close()
        return left


def parse_sink(text: str, schemes: tuple[str, ...]) -> SplitResult:
    """A sink URL whose scheme is one of `schemes`; UserError otherwise."""
    url = urlsplit(text)
    if url.scheme not in schemes:
        raise UserError(f"{text}: expected a {' or '.join(f'{s}://' for s in schemes)} URL")
    try:
        url.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise UserError(f"{text}: {e}") from None
    module, hint = NEEDS.get(url.scheme, (None, None))
    if module and importlib.util.find_spec(module.split(".")[0]) is None:
        raise UserError(f"{url.scheme}:// needs {module}: {hint}")
    problem = URL_PROBLEMS[url.scheme](text, url)
    if problem:
        raise UserError(f"{text}: {problem}")
    return url


def _mqtt_problem(text: str, url: SplitResult) -> str | None:
    """Why messages could not be published to this topic (the broker refuses wildcards)."""
    if "#" in text or "+" in url.path:
        return "a topic to publish to holds no wildcards (+ or #)"
    return None


def _webhook_problem(text: str, url: SplitResult) -> str | None:
    """Why this URL or the Authorization header could not be sent."""
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        return "the URL holds a space or control character; percent-encode it (%20)"
    auth = os.environ.get("EDGEAE_WEBHOOK_AUTHORIZATION", "")
    if not (auth.isascii() and auth.isprintable()):
        return "$EDGEAE_WEBHOOK_AUTHORIZATION holds a line break or a character outside ASCII"
    if auth and url.username is not None:
        return ("it holds credentials and $EDGEAE_WEBHOOK_AUTHORIZATION is set too; give one "
                "of them")
    return None


# what each scheme's sink cannot send, found before any work
URL_PROBLEMS = {"mqtt": _mqtt_problem, "mqtts": _mqtt_problem,
                "http": _webhook_problem, "https": _webhook_problem}


def sink_name(url: SplitResult) -> str:
    """A sink as the summary and the log name it: its URL without credentials."""
    port = f":{url.port}" if url.port else ""
    host = f"[{url.hostname}]" if ":" in (url.hostname or "") else url.hostname  # IPv6
    return url._replace(netloc=f"{host}{port}", query="", fragment="").geturl()


def check_distinct(urls: list[SplitResult]) -> None:
    """Each sink once: the same one twice would share its queue and send each message twice.

    Sinks are told apart as their queues are, query included: two webhooks that differ in it
    alone are two endpoints (they had been refused as one given twice).
    """
    queues = [queue_name(url) for url in urls]
    twice = sorted({sink_name(url) for url, queue in zip(urls, queues, strict=True)
                    if queues.count(queue) > 1})
    if twice:
        raise UserError(f"{', '.join(twice)} given twice; give each sink once")


def distinct_names(urls: list[SplitResult]) -> list[str]:
    """Each sink's name for the summary and the log, numbered where two share one.

    A query, which may hold a key, is not shown: two webhooks that differ in it alone get #1, #2.
    """
    names = [sink_name(url) for url in urls]
    return [f"{name} #{names[:i].count(name) + 1}" if names.count(name) > 1 else name
            for i, name in enumerate(names)]


class Sinks:
    """Every sink of a run: messages queued on disk, each sink delivered by its own thread."""

    def __init__(self, urls: list[SplitResult], queue_dir: Path | None = None,
                 max_messages: int = MAX_MESSAGES, status_interval: float = 60.0) -> None:
        queue_dir = queue_dir or default_queue_dir()
        self.status_interval, self._last_status = status_interval, -float("inf")
        check_distinct(urls)
        self.deliveries = []
        for url, name in zip(urls, distinct_names(urls), strict=True):
            queue = DiskQueue(queue_dir / queue_name(url), max_messages)
            if waiting := len(queue):
                log.warning("%s: %d messages from an earlier run queued", name, waiting)
            self.deliveries.append(Delivery(SINKS[url.scheme](url), queue, name))

    def publish(self, kind: str, message: dict) -> None:
        """Queue `message` for every sink, with its `type` and an `id` (its own, or a new one)."""
        body = json.dumps({"type": kind, "id": uuid.uuid4().hex} | message)
        for delivery in self.deliveries:
            delivery.queue.put(kind, body)
            delivery.wake()

    def status_due(self) -> bool:
        """True once every `status_interval` seconds (and at the first call)."""
        now = time.monotonic()
        if now - self._last_status < self.status_interval:
            return False
        self._last_status = now
        return True

    def close(self, timeout: float = FLUSH_TIMEOUT) -> dict[str, dict[str, int]]:
        """Deliver what can be within `timeout` s; the rest stays queued for the next start.

        Returns per sink: delivered, queued (left on disk), dropped (the queue was full).
        The sinks share the time: each had it in turn (four sinks down held a stop 24 s).
        """
        summary, deadline = {}, time.monotonic() + timeout
        for delivery in self.deliveries:
            dropped = delivery.queue.dropped
            left = delivery.close(deadline)
            summary[delivery.name] = {"delivered": delivery.delivered, "queued": left,
                                      "dropped": dropped}
        return summary
