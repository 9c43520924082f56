"""Running as a device service: events and status to a real MQTT broker (Debian's mosquitto) and
a real HTTP server, through outages and restarts, with nothing lost."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest

from edgeae.core.errors import UserError
from edgeae.runtime.sinks import FLUSH_TIMEOUT, DiskQueue, SinkDown, WebhookSink, parse_sink

from conftest import blobs, run_cli, write_video

MOSQUITTO = shutil.which("mosquitto", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


def _needs(tool: str | None, name: str) -> None:
    """Fail under CI (which installs it), skip elsewhere, when a system tool is missing."""
    if tool is None:
        message = f"{name} is not installed (apt-get install {name})"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on a local port, stopped and started at will."""

    def __init__(self, folder: Path) -> None:
        _needs(MOSQUITTO, "mosquitto")
        self.port, self.config = _free_port(), folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Subscriber:
    """A paho client that records every message on `topic/#`, and re-subscribes on reconnect."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe([(topic, 1), (f"{topic}/#", 1)])
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_disconnect = lambda *_: self.subscribed.clear()
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload)))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    frames = np.repeat(blobs(1, size=16, channels=3), 30, axis=0)
    return write_video(tmp_path_factory.mktemp("scene") / "scene.avi", frames)


def _run_scoring(artifact: Path, source: Path, queue: Path, events: Path, *options: str) -> dict:
    """`edgeae run --task score --threshold 0`: every frame an anomaly, every one an event.

    The sinks among `options` queue in `queue`.
    """
    sinks = ("--queue-dir", queue) if {"--mqtt", "--webhook"} & set(options) else ()
    code, stdout, err = run_cli("run", "--model", artifact, "--source", source, "--task", "score",
                                "--threshold", "0", "--event-interval", "0", *sinks,
                                "--events", events, *options)
    assert code == 0, err
    return json.loads(stdout)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def _first_seen(ids: list[str]) -> list[str]:
    """At-least-once delivery may repeat a message: the order of first arrivals."""
    return list(dict.fromkeys(ids))


def test_events_reach_a_real_broker_through_an_outage_and_a_restart(conv_artifacts, scene,
                                                                   tmp_path):
    artifact = conv_artifacts / "model_int8.tflite"
    broker = Broker(tmp_path)
    broker.start()
    listener = Subscriber(broker.port, "plant/cam1")
    url, queue = f"mqtt://127.0.0.1:{broker.port}/plant/cam1", tmp_path / "queue"
    try:
        threading.Timer(1.0, broker.stop).start()  # the broker goes away mid-run
        summary = _run_scoring(artifact, scene, queue, tmp_path / "a.jsonl", "--mqtt", url,
                               "--max-fps", "10", "--status-interval", "0.5")
        sent = summary["sinks"][url]
        assert summary["events"] == 30 and sent["queued"] > 0 and sent["dropped"] == 0
        broker.start()  # back; then the device restarts with its queue
        assert listener.subscribed.wait(10)
        summary = _run_scoring(artifact, scene, queue, tmp_path / "b.jsonl", "--mqtt", url)
        assert summary["sinks"][url]["queued"] == 0
    finally:
        listener.close()
        broker.stop()
    events = [m["id"] for topic, m in listener.messages if topic == "plant/cam1"]
    assert _first_seen(events) == _ids(tmp_path / "a.jsonl") + _ids(tmp_path / "b.jsonl")
    statuses = [m for topic, m in listener.messages if topic == "plant/cam1/status"]
    assert statuses and all(s["type"] == "status" and "fps" in s for s in statuses)
    assert not statuses[-1]["running"] and statuses[-1]["stopped_by"] == "end"


class _FlakyHook(BaseHTTPRequestHandler):
    """503 while `server.failing`, then 200; records what it took."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook
        body = self.rfile.read(int(self.headers["Content-Length"]))
        code = 503 if self.server.failing else 200
        if code == 200:
            self.server.taken.append(json.loads(body))
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def test_webhook_events_survive_a_server_that_fails_and_recovers(conv_artifacts, scene,
                                                                 tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHook)
    server.failing, server.taken = True, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Timer(1.5, setattr, (server, "failing", False)).start()
    try:
        summary = _run_scoring(conv_artifacts / "model_int8.tflite", scene, tmp_path / "q",
                               tmp_path / "events.jsonl", "--max-fps", "10",
                               "--webhook", f"http://127.0.0.1:{server.server_port}/hook")
    finally:
        server.shutdown()
    name = f"http://127.0.0.1:{server.server_port}/hook"  # the summary names each sink's URL
    assert summary["sinks"][name] == {"delivered": 32, "queued": 0, "dropped": 0}
    events = [m["id"] for m in server.taken if m["type"] == "event"]
    assert _first_seen(events) == _ids(tmp_path / "events.jsonl")  # all, in order
    assert [m["type"] for m in server.taken].count("status") == 2  # the first and the last


class _AuthHook(BaseHTTPRequestHandler):
    """200, noting each request's path and Authorization header."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def test_a_webhook_urls_credentials_are_sent_as_basic_authentication(monkeypatch):
    """urllib took user:pass@ for part of the host name: every send failed to resolve it."""
    import base64

    monkeypatch.delenv("EDGEAE_WEBHOOK_AUTHORIZATION", raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AuthHook)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = urlsplit(f"http://bob:p%40ss@127.0.0.1:{server.server_port}/hook?line=2")
        WebhookSink(url).send("event", "{}")
    finally:
        server.shutdown()
    assert server.seen == [("/hook?line=2", "Basic " + base64.b64encode(b"bob:p@ss").decode())]
    monkeypatch.setenv("EDGEAE_WEBHOOK_AUTHORIZATION", "Bearer t")
    with pytest.raises(UserError, match="give one of them"):
        parse_sink(url.geturl(), ("http", "https"))


def test_events_the_disk_refuses_are_counted_and_the_sinks_still_get_them(conv_artifacts,
                                                                          scene, tmp_path,
                                                                          caplog):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    summary = _run_scoring(conv_artifacts / "model_int8.tflite", scene, tmp_path / "q",
                           Path("/dev/full"), "--overwrite")
    assert summary["events"] == 30 and summary["events_unwritten"] == 30  # had said nothing
    assert caplog.text.count("cannot write events to /dev/full") == 1


def test_the_queue_is_bounded_and_outlives_its_process(tmp_path, caplog):
    queue = DiskQueue(tmp_path / "q.sqlite", max_messages=5)
    for i in range(8):
        queue.put("event", json.dumps({"n": i}))
    assert len(queue) == 5 and queue.dropped == 3
    assert caplog.text.count("queue full") == 1  # not one line per message dropped
    queue.close()
    reopened = DiskQueue(tmp_path / "q.sqlite", max_messages=5)
    seq, kind, body = reopened.oldest()
    assert kind == "event" and json.loads(body) == {"n": 3}  # the oldest were dropped
    reopened.remove(seq)
    assert json.loads(reopened.oldest()[2]) == {"n": 4} and len(reopened) == 4
    (tmp_path / "bad.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(UserError, match="is not an edgeae message queue"):
        DiskQueue(tmp_path / "bad.sqlite")


class _OddHook(BaseHTTPRequestHandler):
    """A 301 to elsewhere (as http -> https), or a 200 whose body trickles a byte a second."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/new")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "30")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(30):
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(1)

    def do_GET(self) -> None:  # noqa: N802 - where urllib's redirect went: a GET, no body
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def test_a_redirect_is_no_delivery_and_a_trickled_answer_does_not_hold_the_sink(tmp_path):
    """urllib followed a 301 with a bodiless GET and counted its 200 as delivered; a server
    trickling its answer's body held a send (and a stop) for as long as it liked."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OddHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(SinkDown, match="HTTP 301, moved to /new: give that URL"):
            WebhookSink(urlsplit(f"{base}/moved")).send("event", "{}")
        start = time.monotonic()
        WebhookSink(urlsplit(f"{base}/slow")).send("event", "{}")  # the status takes it
        assert time.monotonic() - start < 2
    finally:
        server.shutdown()


def test_a_queue_that_cannot_write_drops_and_counts_instead_of_stopping_the_loop(tmp_path,
                                                                                 caplog):
    queue = DiskQueue(tmp_path / "q.sqlite")
    queue.put("event", "{}")
    (pages,) = queue._db.execute("PRAGMA page_count").fetchone()
    queue._db.execute(f"PRAGMA max_page_count = {pages}")  # as a full disk: SQLITE_FULL
    for _ in range(3):
        queue.put("event", "x" * 100_000)
    assert queue.dropped == 3 and len(queue) == 1
    assert caplog.text.count("cannot queue messages") == 1  # warned once, not per message


def test_queue_max_bounds_what_a_run_keeps_for_a_sink_that_is_down(conv_artifacts, scene,
                                                                    tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    summary = _run_scoring(conv_artifacts / "model_int8.tflite", scene, tmp_path / "q",
                           tmp_path / "events.jsonl", "--max-fps", "10", "--queue-max", "5",
                           "--webhook", f"http://127.0.0.1:{port}/hook")
    counts = summary["sinks"][f"http://127.0.0.1:{port}/hook"]
    assert counts["delivered"] == 0 and counts["queued"] == 5
    # 30 frames at 10 a second: the loop's own time, not the FLUSH_TIMEOUT spent on the dead
    # sink after it (which had halved the frames/s reported)
    assert summary["seconds"] < 3 + FLUSH_TIMEOUT / 2, summary
    assert counts["dropped"] == 32 - 5  # 30 events and 2 status messages, the oldest dropped
    (queue_file,) = (tmp_path / "q").glob("*.sqlite")
    kept = DiskQueue(queue_file, max_messages=5)
    assert json.loads(kept.oldest()[2])["type"] == "event" and len(kept) == 5


def test_sinks_that_are_down_share_the_stops_time(tmp_path):
    """Each had the whole flush time in turn: four sinks down held a stop 24 s."""
    from edgeae.runtime.sinks import STOP_GRACE, Sinks

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sinks = Sinks([parse_sink(f"http://127.0.0.1:{port}/hook{i}", ("http",)) for i in range(4)],
                  tmp_path / "q")
    sinks.publish("event", {"frame": 1})
    start = time.monotonic()
    summary = sinks.close(timeout=1.0)
    assert time.monotonic() - start < 1.0 + STOP_GRACE + 0.5  # 4 s and more before
    assert [counts["queued"] for counts in summary.values()] == [1] * 4


@pytest.mark.parametrize(("option", "url", "match"), [
    ("--mqtt", "http://host/topic", "expected a mqtt:// or mqtts:// URL"),
    ("--mqtt", "mqtt://host:99999/t", "Port out of range"),
    ("--webhook", "ftp://host/x", "expected a http:// or https:// URL"),
    ("--mqtt", "mqtt://host/line1/+", "holds no wildcards"),
    ("--mqtt", "mqtt://host/line1/#", "holds no wildcards"),
    ("--webhook", "http://host/a b", "percent-encode it"),
])
def test_bad_sink_urls_are_one_line_before_any_work(option, url, match, conv_artifacts, scene):
    code, _, err = run_cli("run", "--model", conv_artifacts / "model_int8.tflite", "--source",
                           scene, option, url)
    assert code == 2 and match in err and "Traceback" not in err


def test_a_sink_given_twice_and_a_header_with_a_line_break_are_refused(conv_artifacts, scene,
                                                                       monkeypatch):
    """Twice, one queue fed two threads and each message went out 3-4 times; a line break in
    the header was a traceback in the delivery thread, and nothing was sent."""
    args = ("run", "--model", conv_artifacts / "model_int8.tflite", "--source", scene)
    code, _, err = run_cli(*args, "--webhook", "http://h/a", "--webhook", "http://h/a")
    assert code == 2 and "http://h/a given twice; give each sink once" in err
    # the same endpoint but for its query is another: each its own queue, numbered by name
    from edgeae.runtime.sinks import check_distinct, distinct_names

    urls = [parse_sink(f"http://h/a?key={k}", ("http",)) for k in ("one", "two")]
    check_distinct(urls)  # they had been refused as one given twice
    assert distinct_names(urls) == ["http://h/a #1", "http://h/a #2"]
    code, _, err = run_cli(*args, "--webhook", "http://h/a?x=1", "--webhook", "http://h/a?x=1")
    assert code == 2 and "given twice" in err
    monkeypatch.setenv("EDGEAE_WEBHOOK_AUTHORIZATION", "Bearer x\nX-Evil: 1")
    code, _, err = run_cli(*args, "--webhook", "http://h/a")
    assert code == 2 and "holds a line break" in err and err.count("\n") == 1


# --- systemd: the unit, the notify protocol, SIGHUP ---------------------------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
UNPRIVILEGED = next((u for u in ("daemon", "www-data", "bin") if _user_exists(u)), None)


def test_service_install_writes_a_unit_systemd_accepts(conv_artifacts, scene, tmp_path):
    _needs(SYSTEMD_ANALYZE, "systemd")
    if UNPRIVILEGED is None:
        pytest.skip("no unprivileged system account (daemon, www-data, bin) to run it as")
    odd = tmp_path / "out 100% $HOME.avi"  # a space, a specifier and a variable in a word
    code, stdout, err = run_cli("service", "install", "line1", "--unit-dir", tmp_path,
                                "--user", UNPRIVILEGED, "--watchdog", "30", "--workdir", "/srv",
                                "--", "run", "--model", conv_artifacts / "model_int8.tflite",
                                "--source", scene, "--output", odd)
    assert code == 0, err
    unit = tmp_path / "edgeae-line1.service"
    text = unit.read_text()
    assert f"wrote {unit}" in stdout
    for line in ("Type=notify", "WatchdogSec=30", "Restart=always", f"User={UNPRIVILEGED}",
                 "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "StateDirectory=edgeae/line1", "WorkingDirectory=/srv",
                 "SuccessExitStatus=143"):
        assert line in text.splitlines(), line
    assert f'"{tmp_path}/out 100%% $$HOME.avi"' in text  # quoted, % and $ escaped
    verify = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True,
                            text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    code, _, err = run_cli("service", "install", "line1", "--unit-dir", tmp_path, "--user",
                           UNPRIVILEGED, "--", "run", "--pretrained", "live", "--source", "0")
    assert code == 2 and "already exists; pass --overwrite" in err
    code, stdout, _ = run_cli("service", "remove", "line1", "--unit-dir", tmp_path)
    assert code == 0 and not unit.exists()


def test_service_install_keeps_the_token_and_broker_password_out_of_the_unit(conv_artifacts,
                                                                            scene, tmp_path):
    """They were in ExecStart= and Description=, which every user reads (systemctl status)."""
    user = UNPRIVILEGED or "nobody"
    code, _, err = run_cli("service", "install", "cam", "--unit-dir", tmp_path, "--user", user,
                           "--workdir", "/srv", "--", "run", "--model",
                           conv_artifacts / "model_int8.tflite", "--source", scene, "--serve",
                           "0.0.0.0:8080", "--token", "s3cret-T", "--mqtt",
                           "mqtt://cam:p%40ss@broker.local/line1")
    assert code == 0, err
    unit, secrets = tmp_path / "edgeae-cam.service", tmp_path / "edgeae-cam.env"
    text = unit.read_text()
    assert "s3cret" not in text and "p%40ss" not in text and "p@ss" not in text
    assert "mqtt://broker.local/line1" in text and "--token" not in text
    assert f"EnvironmentFile={secrets}" in text.splitlines()
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.read_text().splitlines() == [
        'EDGEAE_TOKEN="s3cret-T"', 'EDGEAE_MQTT_USERNAME="cam"', 'EDGEAE_MQTT_PASSWORD="p@ss"']
    if SYSTEMD_ANALYZE and UNPRIVILEGED:
        verify = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True,
                                text=True)
        assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    assert run_cli("service", "remove", "cam", "--unit-dir", tmp_path)[0] == 0
    assert not secrets.exists()


def test_service_install_finds_every_secret_and_names_its_file_by_full_path(
        conv_artifacts, scene, tmp_path, monkeypatch, caplog):
    """An abbreviated --tok or --mqt stayed in the unit; a token from this shell's environment
    was left behind (the service refused to start); a relative --unit-dir gave a relative
    EnvironmentFile=, which systemd ignores; a refused reinstall left a new secrets file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGEAE_MQTT_PASSWORD", "from-env")
    common = ("--unit-dir", "units", "--user", UNPRIVILEGED or "nobody", "--workdir", "/srv",
              "--", "run", "--model", conv_artifacts / "model_int8.tflite", "--source", scene)
    (tmp_path / "units").mkdir()
    code, _, err = run_cli("service", "install", "a", *common, "--serve", "0.0.0.0:8080",
                           "--tok", "s3cret-T", "--mqt", "mqtt://cam@broker.local/line1")
    assert code == 0, err
    text = (tmp_path / "units" / "edgeae-a.service").read_text()
    assert "s3cret" not in text and "cam@" not in text and "--tok" not in text
    assert f"EnvironmentFile={tmp_path}/units/edgeae-a.env" in text.splitlines()
    assert (tmp_path / "units" / "edgeae-a.env").read_text().splitlines() == [
        'EDGEAE_MQTT_PASSWORD="from-env"', 'EDGEAE_TOKEN="s3cret-T"',
        'EDGEAE_MQTT_USERNAME="cam"']
    monkeypatch.setenv("EDGEAE_TOKEN", "env-token")
    monkeypatch.setenv("EDGEAE_WEBHOOK_AUTHORIZATION", "Bearer hook-token")
    code, _, err = run_cli("service", "install", "b", *common, "--serve", "0.0.0.0:8080",
                           "--webhook", "https://example.com/h")
    assert code == 0, err  # the token this shell's run would use goes with the service
    assert (tmp_path / "units" / "edgeae-b.env").read_text().splitlines() == [
        'EDGEAE_TOKEN="env-token"', 'EDGEAE_WEBHOOK_AUTHORIZATION="Bearer hook-token"']
    (tmp_path / "units" / "edgeae-b.env").unlink()
    code, _, err = run_cli("service", "install", "b", *common, "--serve", "0.0.0.0:8080")
    assert code == 2 and "already exists" in err
    assert not (tmp_path / "units" / "edgeae-b.env").exists()
    code, _, err = run_cli("service", "install", "c", *common, "--output", tmp_path / "c.avi",
                           "--mqtt", "mqtt://broker.local/line1", "--queue-dir", tmp_path / "q")
    assert code == 0 and "(PrivateTmp=yes), which go when it stops" in caplog.text, err
    assert f"--queue-dir {tmp_path / 'q'}: the service gets a private /tmp" in caplog.text
    code, _, err = run_cli("service", "install", "d", *common[:-2], "--source",
                           "/dev/v4l/by-id/usb-cam-video-index0")  # unplugged now: a camera
    assert code == 0, err


@pytest.mark.parametrize(("words", "match"), [
    (["bad/name", "--", "run", "--pretrained", "live", "--source", "0"], "service name"),
    (["ok", "--user", "root", "--", "run", "--pretrained", "live", "--source", "0"],
     "would run as root"),
    (["ok", "--user", "no-such-user-here", "--", "run", "--pretrained", "live", "--source", "0"],
     "no user 'no-such-user-here'"),
    (["ok", "--", "denoise", "x"], "give the command after --"),
    (["ok"], "give the command after --"),
    (["ok", "--", "run", "--pretrained", "live", "--source", "0", "--max-fps", "-1"],
     "--max-fps"),
    (["ok", "--workdir", "/no/such/folder", "--", "run", "--pretrained", "live", "--source",
      "0"], "--workdir /no/such/folder is not a folder"),
    (["ok", "--", "run", "--model", "/no/such/model.tflite", "--source", "0"],
     "no --model /no/such/model.tflite: the service would fail"),
    (["ok", "--workdir", "/", "--", "run", "--model", "model.tflite", "--source", "0"],
     "no --model model.tflite in /, where the service starts"),
    # the run's own checks, which only the service had met, at every start
    (["ok", "--", "run", "--pretrained", "live", "--source", "0", "--loop"],
     "--loop plays a video file or folder again"),
    (["ok", "--workdir", "/", "--", "run", "--pretrained", "live", "--source", "clip.mp4"],
     "no such source: clip.mp4"),
    (["ok", "--", "run", "--pretrained", "live", "--source", "0", "--events", "e.jsonl"],
     "--events needs --task score"),
    (["ok", "--", "run", "--pretrained", "live", "--source", "0", "--serve", "0.0.0.0:8080"],
     "listens beyond this machine: pass --token"),
    (["ok", "--", "run", "--pretrained", "live", "--source", "0", "--webhook",
      "https://alice:pw@example.com/h"], "set EDGEAE_WEBHOOK_AUTHORIZATION="),
])
def test_service_install_refuses_bad_input_before_writing(words, match, tmp_path):
    user = ["--user", UNPRIVILEGED or "nobody"] if "--user" not in words else []
    cut = words.index("--") if "--" in words else len(words)
    code, _, err = run_cli("service", "install", *words[:cut], "--unit-dir", tmp_path, *user,
                           *words[cut:])
    assert code == 2 and match in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_the_loop_speaks_systemds_notify_protocol_and_reloads_on_sighup(conv_artifacts, scene,
                                                                       tmp_path):
    for name in ("model_int8.tflite", "model_int8.tflite.json"):  # a copy: the fixture is shared
        shutil.copy(conv_artifacts / name, tmp_path / name)
    artifact, events = tmp_path / "model_int8.tflite", tmp_path / "events.jsonl"
    assert run_cli("threshold", artifact, "--strategy", "fixed:1e9")[0] == 0  # nothing flagged
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(60)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"}
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "edgeae"), "run", "--model", artifact, "--source",
         scene, "--task", "score", "--events", events, "--event-interval", "0", "--max-fps",
         "10"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    messages = [notify.recv(4096).decode()]
    assert messages[0] == "READY=1"  # after the first frame
    assert run_cli("threshold", artifact, "--strategy", "fixed:0")[0] == 0  # all flagged
    run.send_signal(signal.SIGHUP)  # systemctl reload
    while not messages[-1].startswith("STOPPING=1"):
        messages.append(notify.recv(4096).decode())
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr  # SIGHUP did not kill it
    assert "SIGHUP: threshold 1000000000.0 -> 0.0" in stderr
    flagged = [json.loads(line)["frame"] for line in events.read_text().splitlines()]
    assert 0 < len(flagged) < 30 and flagged == list(range(30 - len(flagged), 30))
    keepalives = [m for m in messages if m.startswith("WATCHDOG=1")]
    assert len(keepalives) >= 3 and all("\nSTATUS=" in m and " fps" in m for m in keepalives)
    assert json.loads(stdout)["anomalies"] == len(flagged)



def test_threads_auto_trials_tell_systemd_nothing_and_a_reload_during_them_is_no_kill(
        conv_artifacts, scene, tmp_path):
    """Each trial's loop sent STOPPING=1, which systemd takes for the service ending; and a
    SIGHUP (systemctl reload) before the loop caught it killed the run (exit 129)."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(60)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")}
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "edgeae"), "run", "--model",
         conv_artifacts / "model_int8.tflite", "--source", scene, "--loop", "--threads", "auto",
         "--duration", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    status = Path(f"/proc/{run.pid}/status")
    while run.poll() is None and not int(next(  # SigIgn: the mask, SIGHUP its lowest bit
            line for line in status.read_text().splitlines()
            if line.startswith("SigIgn:")).split()[1], 16) & 1:
        time.sleep(0.01)
    assert run.poll() is None, run.stderr.read()
    run.send_signal(signal.SIGHUP)  # systemctl reload, during the trials
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr
    notify.setblocking(False)
    messages = []
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(notify.recv(4096).decode())
    said = [m for m in messages if m.startswith(("READY", "STOPPING"))]
    assert "threads auto: " in stderr and said == ["READY=1", "STOPPING=1"], said


# --- the page: --serve ------------------------------------------------------------------------

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def long_scene(tmp_path_factory) -> Path:
    """400 frames of a scene that moves one pixel per frame."""
    scene = blobs(1, size=32, channels=3, seed=3)[0]
    frames = np.stack([np.roll(scene, i, axis=1) for i in range(400)])
    return write_video(tmp_path_factory.mktemp("long") / "long.avi", frames)


def _get(port: int, path: str, headers: dict | None = None, method: str = "GET",
         body: bytes | None = None) -> tuple[int, dict, bytes]:
    """One request, the path sent as given (no normalisation): status, headers, body."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    answer = connection.getresponse()
    data = answer.read() if not answer.getheader("Content-Type", "").startswith("multipart") \
        else answer.read(4096)
    connection.close()
    return answer.status, dict(answer.getheaders()), data


def _wait_for_page(port: int, seconds: float = 30.0) -> None:
    """Until an in-process loop's page answers /healthz with 200, or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if _get(port, "/healthz")[0] == 200:
                return
        time.sleep(0.1)


def _wait_healthy(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        with contextlib.suppress(OSError):
            if _get(port, "/healthz")[0] == 200:
                return
        time.sleep(0.2)
    raise AssertionError("the page never came up")


@pytest.fixture()
def served(conv_artifacts, long_scene, tmp_path):
    """`edgeae run --serve` on a copy of the detector, in its own process, as on a device."""
    for name in ("model_int8.tflite", "model_int8.tflite.json"):  # a copy: the fixture is shared
        shutil.copy(conv_artifacts / name, tmp_path / name)
    artifact, port = tmp_path / "model_int8.tflite", _free_port()
    assert run_cli("threshold", artifact, "--strategy", "fixed:1e9")[0] == 0
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "edgeae"), "run", "--model", artifact, "--source",
         long_scene, "--task", "score", "--max-fps", "20", "--event-interval", "0", "--serve",
         f"127.0.0.1:{port}", "--page-fps", "10"], env={**os.environ, "EDGEAE_TOKEN": TOKEN},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_healthy(port, process)
        yield port, artifact, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=60)


def test_the_page_needs_the_token_and_serves_live_frames_metrics_and_events(served):
    port, artifact, process = served
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert _get(port, "/")[0] == 401 and _get(port, "/", {"X-Edgeae-Token": "wrong"})[0] == 401
    code, headers, _ = _get(port, f"/?token={TOKEN}")
    assert code == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    code, _, page = _get(port, "/", {"Cookie": cookie})
    assert code == 200 and b"edgeae run" in page
    code, headers, data = _get(port, "/stream?view=side", bearer)
    assert code == 200 and headers["Content-Type"].startswith("multipart/x-mixed-replace")
    jpeg = data[data.index(b"\r\n\r\n") + 4:]
    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape[:2] == (32, 64)  # input | heat map
    code, _, metrics = _get(port, "/metrics", bearer)
    assert code == 200 and b"edgeae_frames_total" in metrics
    assert b"edgeae_threshold 1e+09" in metrics
    # the threshold, changed from the page: saved beside the artifact, used at once
    wrong = {"Cookie": "edgeae_token=wrong"}
    assert _get(port, "/threshold", wrong, "POST", b'{"threshold": 0}')[0] == 401
    assert _get(port, "/threshold", bearer, "POST", b'{"threshold": -1}')[0] == 400
    code, _, body = _get(port, "/threshold", {**bearer, "Content-Type": "application/json"},
                         "POST", b'{"threshold": 0}')
    assert code == 200 and json.loads(body) == {"threshold": 0.0}
    assert json.loads((artifact.parent / "model_int8.tflite.json").read_text())["threshold"] == 0
    deadline = time.monotonic() + 20
    while not (events := json.loads(_get(port, "/events.json", bearer)[2])):
        assert time.monotonic() < deadline, "no anomaly event after the threshold changed"
        time.sleep(0.2)
    code, headers, image = _get(port, f"/events/{events[0]['n']}.jpg", bearer)
    assert code == 200 and headers["Content-Type"] == "image/jpeg" and image[:2] == b"\xff\xd8"
    status = json.loads(_get(port, "/status.json", bearer)[2])
    assert status["threshold"] == 0 and status["threshold_editable"] and status["anomalies"] > 0
    process.terminate()
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and json.loads(stdout)["stopped_by"] == "terminate"


TRAVERSALS = ("/../../etc/passwd", "/events/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
              "/events/1.jpg/../../../../etc/passwd", "//etc/passwd", "/page.html",
              "/events/-1.jpg", "/stream?view=../../etc/passwd")


def test_no_path_reaches_a_file_and_oversized_requests_are_refused(served):
    port = served[0]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in TRAVERSALS:
        for headers in ({}, bearer):
            code, _, body = _get(port, path, headers)
            assert code in (400, 401, 404), (path, code)
            assert b"root:" not in body and b"<html" not in body
    code, _, _ = _get(port, "/threshold", {**bearer, "Content-Length": str(10**7)}, "POST", b"")
    assert code == 413
    for length in ("-1", "+16", "1_6"):  # int() takes them; read(-1) read past the cap
        code, _, _ = _get(port, "/threshold", {**bearer, "Content-Length": length}, "POST",
                          b'{"threshold": 3}' + b" " * 5000)
        assert code == 400, length
    for body in (b'{"threshold": true}', b'{"threshold": "2"}'):  # no numbers
        assert _get(port, "/threshold", bearer, "POST", body)[0] == 400, body
    assert _get(port, "/" + "a" * 5000, bearer)[0] == 414


def test_slow_clients_cannot_lock_the_page_out(conv_artifacts, long_scene, monkeypatch):
    import edgeae.runtime as rt
    import edgeae.runtime.serve as serve_module
    from edgeae.runtime.capture import Source
    from edgeae.runtime.loop import RunOptions, run
    from edgeae.runtime.serve import ServeOptions

    # The page's threads at nice 0, as the other tests' processes: at nice 19 on cores that a
    # parallel test saturates, accepting the 4 connections took longer than a silent one's timeout.
    monkeypatch.setattr(serve_module, "PAGE_NICE", 0)
    port = _free_port()
    serve = ServeOptions(port=port, max_connections=3, socket_timeout=2.0)
    model = rt.load(conv_artifacts / "model_int8.tflite", task="score")
    loop = threading.Thread(target=run, args=(model, Source("video", str(long_scene)),
                                              RunOptions(serve=serve, max_fps=20, duration=12)))
    loop.start()
    try:
        _wait_for_page(port)
        time.sleep(0.3)  # the probe's own thread gives its connection back after answering
        # one silent client and two that send a byte every 0.5 s, each byte within the socket's
        # 2-s time-out (which alone kept such clients for good)
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        dripping = threading.Event()

        def drip() -> None:
            while not dripping.wait(0.5):
                for s in slow[1:]:
                    with contextlib.suppress(OSError):
                        s.sendall(b"G")

        threading.Thread(target=drip, daemon=True).start()
        # all connections taken: refused at once, once the server has accepted the slow ones
        # (it may take a moment on loaded cores, well within their 2 s)
        refused, until = False, time.monotonic() + 1.5
        while not refused and time.monotonic() < until:
            time.sleep(0.1)
            refused = _get(port, "/healthz")[0] == 503
        assert refused
        time.sleep(2.5)  # 2 s for a whole request: the slow ones are dropped
        assert _get(port, "/healthz")[0] == 200
        dripping.set()
        for s in slow:
            s.close()
    finally:
        loop.join(30)


def test_a_threshold_the_page_cannot_save_is_a_500_and_a_monitor_may_ask_with_head(
        conv_artifacts, long_scene, caplog):
    """A read-only model folder (ProtectSystem=strict) gave a traceback and an empty reply;
    HEAD /healthz had 501, HEAD of a path the page lacks was a 405, not a 404, and PUT or
    DELETE had 501."""
    import edgeae.runtime as rt
    from edgeae.runtime.capture import Source
    from edgeae.runtime.loop import RunHooks, RunOptions, run
    from edgeae.runtime.serve import ServeOptions

    def read_only(value: float) -> None:
        raise OSError(30, "Read-only file system", "model_int8.tflite.json")

    port = _free_port()
    model = rt.load(conv_artifacts / "model_int8.tflite", task="score")
    loop = threading.Thread(target=run, args=(
        model, Source("video", str(long_scene)),
        RunOptions(serve=ServeOptions(port=port, token=TOKEN), max_fps=20, duration=8),
        None, RunHooks(save_threshold=read_only)))
    loop.start()
    try:
        _wait_for_page(port)
        assert _get(port, "/healthz", method="HEAD")[:1] == (200,)
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        code, headers, _ = _get(port, "/", bearer, method="HEAD")
        assert code == 405 and headers["Allow"] == "GET"
        assert _get(port, "/no-such-page", bearer, method="HEAD")[0] == 404
        assert _get(port, "/no-such-page", method="HEAD")[0] == 401  # no token: no map of paths
        code, headers, _ = _get(port, "/threshold", bearer)
        assert code == 405 and headers["Allow"] == "POST"
        code, headers, _ = _get(port, "/healthz", bearer, method="DELETE")  # it had 501
        assert code == 405 and headers["Allow"] == "GET, HEAD"
        assert _get(port, "/no-such-page", bearer, method="PUT")[0] == 404
        code, _, body = _get(port, "/threshold", {"Authorization": f"Bearer {TOKEN}"}, "POST",
                             b'{"threshold": 0.5}')
        assert code == 500 and body.startswith(b"not saved: [Errno 30] Read-only"), body
        assert "threshold 0.5 was not saved" in caplog.text and model.threshold != 0.5
    finally:
        loop.join(30)
    code, _, err = run_cli("run", "--model", conv_artifacts / "model_int8.tflite", "--source",
                           long_scene, "--serve", "::1")
    assert code == 2 and "put an IPv6 host in brackets, e.g. [::1]:8080" in err
    code, _, err = run_cli("run", "--model", conv_artifacts / "model_int8.tflite", "--source",
                           long_scene, "--serve", "[::1:8080")  # had served on [::1]:8080
    assert code == 2 and "expected [HOST:]PORT" in err


def test_listening_beyond_this_machine_needs_a_token(conv_artifacts, scene):
    artifact = conv_artifacts / "model_int8.tflite"
    code, _, err = run_cli("run", "--model", artifact, "--source", scene, "--serve",
                           f"0.0.0.0:{_free_port()}")
    assert code == 2 and "pass --token SECRET (or --insecure" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = run_cli("run", "--model", artifact, "--source", scene, "--serve",
                               str(taken.getsockname()[1]))
    assert code == 2 and "cannot listen on 127.0.0.1" in err
    code, _, err = run_cli("run", "--model", artifact, "--source", scene, "--serve", "80x")
    assert code == 2 and "expected [HOST:]PORT" in err
    for token in ("tøk€n", "ab;c d"):  # Set-Cookie crashed on the one, cut the other short
        code, _, err = run_cli("run", "--model", artifact, "--source", scene, "--serve",
                               str(_free_port()), "--token", token)
        assert code == 2 and "travels in a cookie and a header" in err


def test_the_page_listens_on_ipv6(conv_artifacts, scene, caplog):
    """--serve [::1]:PORT: the server was IPv4 only, and its error said to choose another port."""
    import edgeae.runtime as rt
    from edgeae.runtime.capture import Source
    from edgeae.runtime.loop import RunOptions, run
    from edgeae.runtime.serve import ServeOptions, parse_address

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    host, port = parse_address(f"[::1]:{_free_port()}")
    model = rt.load(conv_artifacts / "model_int8.tflite", task="score")
    loop = threading.Thread(target=run, args=(model, Source("video", str(scene)), RunOptions(
        serve=ServeOptions(host=host, port=port), max_fps=5, duration=4)))
    loop.start()
    try:
        answer, until = None, time.monotonic() + 3
        while answer is None and time.monotonic() < until:
            with contextlib.suppress(OSError), socket.create_connection(("::1", port), 2) as s:
                s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                answer = s.recv(64)
            time.sleep(0.1)
        assert answer is not None and answer.startswith(b"HTTP/1.0 200"), answer
    finally:
        loop.join(30)
    assert f"serving on http://[::1]:{port}/" in caplog.text  # a URL: the address bracketed


# the live view's current frame, drawn into a canvas and read back; the figures' frame count
LIVE_PIXELS = """() => { const img = document.getElementById('live');
  const c = document.createElement('canvas'); c.width = img.naturalWidth;
  c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  return Array.from(g.getImageData(0, 0, c.width, c.height).data.slice(0, 4096)); }"""
FRAMES_SHOWN = """() => Number(Array.from(document.querySelectorAll('#figures tr'))
  .find(r => r.cells[0].textContent == 'frames').cells[1].textContent)"""


def test_the_page_in_a_real_browser_shows_the_stream_and_sets_the_threshold(served):
    from test_report import CHROMIUM

    _needs(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    port, artifact, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")  # the cookie, then the page
        page.wait_for_function("document.querySelectorAll('#figures tr').length == 8")
        page.wait_for_function("document.getElementById('live').naturalWidth == 64")
        assert "frames/s" in page.inner_text("#figures") and page.url.endswith(f"{port}/")
        page.evaluate(f"window.shown = JSON.stringify(({LIVE_PIXELS})())")
        page.evaluate(f"window.counted = ({FRAMES_SHOWN})()")
        # the live view moves with the scene, and the figures follow the run
        page.wait_for_function(f"JSON.stringify(({LIVE_PIXELS})()) !== window.shown",
                               timeout=20_000)
        page.wait_for_function(f"({FRAMES_SHOWN})() > window.counted", timeout=20_000)
        page.fill("#value", "0.25")
        page.click("#threshold button")
        page.wait_for_function("document.getElementById('saved').textContent == 'saved'")
        page.select_option("#view", "output")
        page.wait_for_function("document.getElementById('live').naturalWidth == 32")
        browser.close()
    assert not errors
    assert json.loads(artifact.with_name("model_int8.tflite.json").read_text())["threshold"] == 0.25


# --- sources: the Pi camera, tcp:// streams, GStreamer, V4L2 options -------------------------

STANDINS = Path(__file__).parent / "standins"


@pytest.fixture()
def picamera2(monkeypatch):
    """The Picamera2 stand-in (tests/standins/picamera2) in place of the real module."""
    import importlib

    monkeypatch.syspath_prepend(str(STANDINS))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    module = importlib.import_module("picamera2")
    module.LOG.clear()
    monkeypatch.setattr(module, "FAIL_AFTER", 20)
    return module


def test_the_pi_camera_source_reads_the_lores_stream_and_reconnects(picamera2, tmp_path):
    out = tmp_path / "clean.avi"
    code, stdout, err = run_cli("run", "--pretrained", "live", "--source", "picamera2",
                                "--camera-size", "330x240", "--camera-fps", "25", "--gray",
                                "--duration", "3", "--output", out)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["frames"] > 10 and summary["reconnects"] == 1  # one unplug, then back
    configured = [entry[1] for entry in picamera2.LOG if entry[0] == "configure"][0]
    assert configured["lores"] == {"size": (320, 240), "format": "YUV420"}  # aligned
    assert configured["controls"] == {"FrameRate": 25}
    assert {e[1] for e in picamera2.LOG if e[0] == "capture"} == {"lores"}  # main left alone
    assert picamera2.LOG[-1] == ("close",)
    video = cv2.VideoCapture(str(out))
    assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)


def test_a_gray_pi_camera_frame_is_the_lores_y_plane_in_full_range(picamera2):
    from edgeae.runtime.picamera import Picamera2Capture

    picamera2.FAIL_AFTER = None
    for gray in (True, False):
        camera = Picamera2Capture(0, (320, 240), gray=gray)
        out = np.zeros((240, 320) if gray else (240, 320, 3), np.uint8)
        ok, frame = camera.read(out)
        bgr = cv2.cvtColor(picamera2.LAST[0], cv2.COLOR_YUV2BGR_I420)  # video range to full
        assert ok and frame is out
        if gray:  # Y stretched from video range (16-235) as the colour conversion does
            y = picamera2.LAST[0][:240].astype(float)
            assert np.array_equal(frame, np.clip(np.rint((y - 16) * 255 / 219), 0, 255))
            assert np.abs(frame - cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(int)).mean() < 1
        else:
            assert np.array_equal(frame, bgr)
        camera.release()


def test_pi_camera_errors_are_one_line(picamera2, tmp_path):
    code, _, err = run_cli("run", "--pretrained", "live", "--source", "picamera2:3",
                           "--wait-for-source", "0.5")
    assert code == 2 and "no Pi camera 3: Picamera2 sees 1 camera(s)" in err
    code, _, err = run_cli("run", "--pretrained", "live", "--source", "picamera2:x")
    assert code == 2 and "expected picamera2 or picamera2:N" in err


def test_without_picamera2_the_error_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "picamera2" else real(name, *a))
    code, _, err = run_cli("run", "--pretrained", "live", "--source", "picamera2")
    assert code == 2 and "sudo apt install python3-picamera2" in err
    assert "gave up after" not in err  # said at once: retrying for 5 s could not change it


def jpeg_chunks(frames: list[np.ndarray]) -> list[bytes]:
    """MJPEG as `rpicam-vid --codec mjpeg` sends it: one JPEG after another."""
    return [cv2.imencode(".jpg", frame)[1].tobytes() for frame in frames]


def _first_frames(video: Path, n: int) -> list[np.ndarray]:
    """A video's first `n` frames, as decoded."""
    capture, frames = cv2.VideoCapture(str(video)), []
    while len(frames) < n and (got := capture.read())[0]:
        frames.append(got[1])
    return frames


def h264_chunks(frames: list[np.ndarray]) -> list[bytes]:
    """H.264 as `rpicam-vid --inline` sends it (its default codec): an Annex B stream, headers
    in band, no B-frames; one chunk per frame (libx264 through PyAV, train/h264.py)."""
    from edgeae.train.h264 import h264_packets

    return [bytes(packet) for packet in h264_packets(np.stack(frames), 23, "bgr24")]


@pytest.mark.parametrize("codec", [jpeg_chunks, h264_chunks], ids=["mjpeg", "h264"])
def test_a_tcp_stream_like_rpicam_vid_listen_is_read_and_reconnected(long_scene, codec):
    """`rpicam-vid --listen -o tcp://0.0.0.0:PORT` serves one client at a time; here a server
    sends part of a clip per connection and hangs up."""
    frames = _first_frames(long_scene, 40)
    chunks = codec(frames)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for _ in range(2):
            client, _ = server.accept()
            with client, contextlib.suppress(OSError):
                for chunk in chunks:
                    client.sendall(chunk)
                    time.sleep(0.02)

    threading.Thread(target=serve, daemon=True).start()
    code, stdout, err = run_cli("run", "--pretrained", "live", "--gray", "--source",
                                f"tcp://127.0.0.1:{server.getsockname()[1]}", "--duration", "4",
                                "--read-timeout", "1")
    server.close()
    assert code == 0, err
    summary = json.loads(stdout)
    # FFmpeg probes a burst before it decodes: the loop takes the newest frame of each burst
    assert summary["frames"] > 0 and summary["reconnects"] >= 1
    assert summary["frames"] + summary["dropped"] > len(frames)  # frames of both connections


def test_a_stream_still_opening_is_waited_for_within_the_open_timeout(long_scene):
    """FFmpeg took 8.3 s to open a 10-frames/s MJPEG stream over tcp://: --wait-for-source
    refused it while it was live. Here the stream says nothing for 2 s after connecting."""
    frames = _first_frames(long_scene, 40)
    chunks = jpeg_chunks(frames)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        client, _ = server.accept()
        with client, contextlib.suppress(OSError):
            time.sleep(2)
            for chunk in chunks * 3:
                client.sendall(chunk)
                time.sleep(0.02)

    threading.Thread(target=serve, daemon=True).start()
    code, stdout, err = run_cli("run", "--pretrained", "live", "--gray", "--source",
                                f"tcp://127.0.0.1:{server.getsockname()[1]}", "--duration", "5",
                                "--wait-for-source", "0.5", "--open-timeout", "10")
    server.close()
    assert code == 0, err
    assert json.loads(stdout)["frames"] > 0


def test_gstreamer_pipelines_need_an_opencv_built_with_it(tmp_path):
    from edgeae.runtime.capture import gstreamer_available

    pipeline = ("videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48 ! videoconvert "
                "! appsink")
    code, stdout, err = run_cli("run", "--pretrained", "live", "--gray", "--source", pipeline,
                                "--duration", "5", "--wait-for-source", "2")
    if gstreamer_available():
        assert code == 0 and json.loads(stdout)["frames"] > 0, err
    else:  # pip's OpenCV wheels: no GStreamer
        assert code == 2 and "built without GStreamer" in err
        assert "gave up after" not in err  # said at once, not after --wait-for-source


def test_a_video_plays_again_with_loop(scene):
    code, stdout, err = run_cli("run", "--pretrained", "live", "--gray", "--source", scene,
                                "--loop", "--duration", "3")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["frames"] > 30 and summary["stopped_by"] == "duration"  # 30 in the clip
    code, _, err = run_cli("run", "--pretrained", "live", "--source", "0", "--loop")
    assert code == 2 and "a live source has no end" in err


def test_camera_options_are_asked_for_and_refusals_named(long_scene, caplog):
    from edgeae.runtime.capture import CaptureOptions, apply_camera_options

    # a real camera cannot exist here: a video file's capture refuses every setting, as a
    # camera refuses a size or rate it does not offer
    capture = cv2.VideoCapture(str(long_scene))
    apply_camera_options(capture, CaptureOptions(camera_size=(1280, 720), camera_fps=60,
                                                 fourcc="MJPG"))
    capture.release()
    assert "the camera did not take" in caplog.text and "width 1280" in caplog.text
    code, _, err = run_cli("run", "--pretrained", "live", "--source", "0", "--fourcc", "MJPEG")
    assert code == 2 and "expected four characters" in err
    code, _, err = run_cli("run", "--pretrained", "live", "--source", "0", "--camera-size", "0x5")
    assert code == 2 and "sides must be" in err
