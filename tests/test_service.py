"""Running as a device service: events and status to a real MQTT broker (Debian's mosquitto) and
a real HTTP server, through outages and restarts, with nothing lost."""

from __future__ import annotations

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

import numpy as np
import pytest

from edgeae.core.errors import UserError
from edgeae.runtime.sinks import DiskQueue

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
    """`edgeae run --task score --threshold 0`: every frame an anomaly, every one an event."""
    code, stdout, err = run_cli("run", "--model", artifact, "--source", source, "--task", "score",
                                "--threshold", "0", "--event-interval", "0", "--queue-dir", queue,
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
        sent = summary["sinks"]["mqtt://127.0.0.1"]
        assert summary["events"] == 30 and sent["queued"] > 0 and sent["dropped"] == 0
        broker.start()  # back; then the device restarts with its queue
        assert listener.subscribed.wait(10)
        summary = _run_scoring(artifact, scene, queue, tmp_path / "b.jsonl", "--mqtt", url)
        assert summary["sinks"]["mqtt://127.0.0.1"]["queued"] == 0
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
    assert summary["sinks"]["http://127.0.0.1"] == {"delivered": 32, "queued": 0, "dropped": 0}
    events = [m["id"] for m in server.taken if m["type"] == "event"]
    assert _first_seen(events) == _ids(tmp_path / "events.jsonl")  # all, in order
    assert [m["type"] for m in server.taken].count("status") == 2  # the first and the last


def test_the_queue_is_bounded_and_outlives_its_process(tmp_path):
    queue = DiskQueue(tmp_path / "q.sqlite", max_messages=5)
    for i in range(8):
        queue.put("event", json.dumps({"n": i}))
    assert len(queue) == 5 and queue.dropped == 3
    queue.close()
    reopened = DiskQueue(tmp_path / "q.sqlite", max_messages=5)
    seq, kind, body = reopened.oldest()
    assert kind == "event" and json.loads(body) == {"n": 3}  # the oldest were dropped
    reopened.remove(seq)
    assert json.loads(reopened.oldest()[2]) == {"n": 4} and len(reopened) == 4
    (tmp_path / "bad.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(UserError, match="is not an edgeae message queue"):
        DiskQueue(tmp_path / "bad.sqlite")


@pytest.mark.parametrize(("option", "url", "match"), [
    ("--mqtt", "http://host/topic", "expected a mqtt:// or mqtts:// URL"),
    ("--mqtt", "mqtt://host:99999/t", "Port out of range"),
    ("--webhook", "ftp://host/x", "expected a http:// or https:// URL"),
])
def test_bad_sink_urls_are_one_line_before_any_work(option, url, match, conv_artifacts, scene):
    code, _, err = run_cli("run", "--model", conv_artifacts / "model_int8.tflite", "--source",
                           scene, option, url)
    assert code == 2 and match in err and "Traceback" not in err


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
                 "ProtectSystem=strict", "StateDirectory=edgeae/line1", "WorkingDirectory=/srv"):
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
