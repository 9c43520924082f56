"""A device's day, compressed: `edgeae run --serve` over 100,000 frames, watched and scraped.

Every run is its own `edgeae run --pretrained live --gray` process in the device environment
(.venv-runtime), on a 320x240 MJPG clip made from Set12 (benchmarks/runtime.py's pan, sigma 25)
played with --loop, as a device would run:

1. cost: --seconds each, the loop as fast as it goes: without --serve; with --serve and nobody
   watching; with --serve, a client on the MJPEG stream and /metrics scraped every second.
   Frames/s from each run's summary; the page's cost is the drop against the first.
2. soak: --frames frames (default 100,000) with --serve, a stream client and /metrics scraped
   every second; every 2 s the process's resident memory, open files and threads (/proc) and
   its frames and dropped frames (/metrics). Growth is measured from frame 10,000 to the end.
3. outage: status messages every 0.5 s to a local mosquitto through `--mqtt`; the broker is
   stopped for --outage seconds (default 60) while the run is restarted (a second process with
   the same queue); every message both processes queued must arrive, in order.

    .venv/bin/python benchmarks/soak.py --data ../shared/data --out benchmarks/results/soak.json \
        --plot benchmarks/results/soak.png
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from provenance import provenance, write_result

from edgeae.runtime.serve import PAGE_NICE
from runtime import make_video

EDGEAE = Path(".venv-runtime/bin/edgeae")
SIZE = (320, 240)
BASELINE_FRAME = 10_000
KEPT_SAMPLES = 150  # in the results file (all are used for the growth figures)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_run(video: Path, *options: str) -> subprocess.Popen:
    """`edgeae run --pretrained live --gray --loop` on the clip, with `options`."""
    return subprocess.Popen([str(EDGEAE), "run", "--pretrained", "live", "--gray", "--source",
                             str(video), "--loop", *options], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop_run(process: subprocess.Popen, terminate: bool = True) -> dict:
    """The run's summary, after SIGTERM (the run finalises and prints it) or its own end."""
    if terminate and process.poll() is None:
        process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    if process.returncode != 0:
        sys.exit(f"edgeae run failed ({process.returncode}): {stderr[-2000:]}")
    return json.loads(stdout)


def get(port: int, path: str) -> bytes | None:
    """GET path from the run's server; None while it is not up."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path)
        body = connection.getresponse().read()
        connection.close()
        return body
    except OSError:
        return None


def metric(text: bytes, name: str) -> float | None:
    """One sample's value from Prometheus' text format."""
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class Watcher:
    """A viewer on the MJPEG stream and a scraper of /metrics, each in its own thread."""

    def __init__(self, port: int) -> None:
        self.port, self.jpegs, self.scrapes, self.latest = port, 0, 0, b""
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True)
                         for f in (self._view, self._scrape)]
        for thread in self._threads:
            thread.start()

    def _view(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("GET", "/stream?view=side")
                answer = connection.getresponse()
                while not self._stop.is_set():
                    chunk = answer.read1(65536)
                    if not chunk:
                        break
                    self.jpegs += chunk.count(b"--frame\r\n")
            time.sleep(0.2)

    def _scrape(self) -> None:
        while not self._stop.is_set():
            body = get(self.port, "/metrics")
            if body:
                self.latest, self.scrapes = body, self.scrapes + 1
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def wait_up(port: int, process: subprocess.Popen) -> None:
    """Until /healthz answers."""
    while get(port, "/healthz") is None:
        if process.poll() is not None:
            sys.exit(f"edgeae run ended early: {process.communicate()[1][-2000:]}")
        time.sleep(0.2)


def clip(set12: Path, folder: Path) -> Path:
    """benchmarks/runtime.py's 640x480 pan over Set12 (sigma 25), at 320x240."""
    import cv2

    big, small = make_video(set12, folder / "pan640.avi"), folder / "pan320.avi"
    capture = cv2.VideoCapture(str(big))
    writer = cv2.VideoWriter(str(small), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, SIZE)
    while (got := capture.read())[0]:
        writer.write(cv2.resize(got[1], SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    return small


def cost(video: Path, seconds: float, rounds: int, threads: int | None = None) -> dict:
    """What the page costs the loop, measured so that slow drifts of the machine cancel out.

    Watched or not: one `--serve` run whose frames/s is taken over alternating windows of
    `seconds`, a stream client and /metrics scraped every second in every other one (the count
    at each window's edges comes from /metrics too). The page's mere presence: runs without
    --serve and with it, unwatched, alternating `rounds` times, each `seconds` * 2 long.
    `threads`: the engine's (`run --threads`; None: run's default).
    """
    engine = ["--threads", str(threads)] if threads else []
    port = free_port()
    process = start_run(video, *engine, "--serve", str(port))
    wait_up(port, process)
    time.sleep(seconds)  # past the start-up
    windows: dict[str, list[float]] = {"watched": [], "unwatched": []}
    shares: dict[str, list[float]] = {"watched": [], "unwatched": []}
    for i in range(2 * rounds):
        kind = "watched" if i % 2 == 0 else "unwatched"
        watcher = Watcher(port) if kind == "watched" else None
        before, cpu_before, began = frames_now(port), cpu_split(process.pid), time.monotonic()
        time.sleep(seconds)
        windows[kind].append((frames_now(port) - before) / (time.monotonic() - began))
        (total, page), (total0, page0) = cpu_split(process.pid), cpu_before
        shares[kind].append(100 * (page - page0) / max(total - total0, 1e-9))
        if watcher is not None:
            watcher.close()
    stop_run(process)
    alone = {"no page": [], "page, nobody watching": []}
    for _ in range(rounds):
        for name in alone:
            serve = [] if name == "no page" else ["--serve", str(free_port())]
            summary = stop_run(start_run(video, *engine, *serve, "--duration",
                                         str(2 * seconds)), terminate=False)
            alone[name].append(summary["fps"])
    return {"seconds": seconds, "rounds": rounds, "threads": threads, "windows_fps": windows,
            "runs_fps": alone,
            "page_cpu_share_pct": {k: round(statistics.median(v), 2) for k, v in shares.items()},
            "watched_vs_unwatched_pct": _change(windows["watched"], windows["unwatched"]),
            "unwatched_vs_no_page_pct": _change(alone["page, nobody watching"],
                                                alone["no page"])}


def cpu_split(pid: int) -> tuple[float, float]:
    """(the process's CPU seconds, those of the page's threads) so far.

    The page's threads are those at PAGE_NICE (runtime/serve.py lowers their priority), plus the
    ended ones, which were the server's per-request threads: the process's total less its live
    threads at normal priority.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(map(int, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]))
    normal = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[16]) != PAGE_NICE:  # field 19 of stat: nice
                normal += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick, (total - normal) / tick


def frames_now(port: int) -> float:
    """The run's frame count from /metrics."""
    return metric(get(port, "/metrics") or b"", "edgeae_frames_total") or 0.0


def _change(values: list[float], baseline: list[float]) -> float:
    """The median's change against the baseline's median, in percent."""
    return round(100 * (statistics.median(values) / statistics.median(baseline) - 1), 1)


def sample(pid: int) -> dict[str, float]:
    """Resident memory (MiB), open files and threads of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status)
    fields = {k: v.split()[0] for k, v in fields.items() if v.split()}
    return {"rss_mib": int(fields["VmRSS"]) / 1024, "threads": int(fields["Threads"]),
            "open_files": len(os.listdir(f"/proc/{pid}/fd"))}


def soak(video: Path, frames: int) -> dict:
    """The long run, sampled every 2 s until `frames` frames went through the model."""
    port = free_port()
    process = start_run(video, "--serve", str(port))
    wait_up(port, process)
    watcher, samples, began = Watcher(port), [], time.monotonic()
    try:
        while True:
            time.sleep(2.0)
            done = metric(watcher.latest, "edgeae_frames_total") or 0
            samples.append({"seconds": round(time.monotonic() - began, 1), "frames": int(done),
                            "dropped": int(metric(watcher.latest, "edgeae_dropped_frames_total")
                                           or 0), **sample(process.pid)})
            if done >= frames:
                break
    finally:
        watcher.close()
        summary = stop_run(process)
    return {"summary": {k: summary[k] for k in ("frames", "dropped", "fps", "seconds")},
            "page_frames_received": watcher.jpegs, "metrics_scrapes": watcher.scrapes,
            "samples": thinned(samples), "growth": growth(samples)}


def thinned(samples: list[dict], most: int = KEPT_SAMPLES) -> list[dict]:
    """At most `most` evenly spaced samples, the last one kept: a small results file."""
    step = -(-len(samples) // most)
    return samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])


def growth(samples: list[dict]) -> dict:
    """From the first sample at or past BASELINE_FRAME (a tenth of a shorter run) to the last."""
    baseline = min(BASELINE_FRAME, samples[-1]["frames"] // 10)
    start = next(s for s in samples if s["frames"] >= baseline)
    end = samples[-1]
    return {"from_frame": start["frames"], "to_frame": end["frames"],
            "rss_mib": [round(start["rss_mib"], 1), round(end["rss_mib"], 1)],
            "rss_growth_pct": round(100 * (end["rss_mib"] / start["rss_mib"] - 1), 2),
            "open_files": [start["open_files"], end["open_files"]],
            "threads": [start["threads"], end["threads"]],
            "max_open_files": max(s["open_files"] for s in samples),
            "max_threads": max(s["threads"] for s in samples)}


def outage(video: Path, seconds: float, folder: Path) -> dict:
    """Status messages through a broker outage of `seconds` spanning a restart of the run."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_service import Broker, Subscriber  # the tests' real mosquitto and subscriber

    broker = Broker(folder)
    broker.start()
    listener = Subscriber(broker.port, "soak")
    sink = ["--mqtt", f"mqtt://127.0.0.1:{broker.port}/soak", "--status-interval", "0.5",
            "--queue-dir", str(folder / "queue"), "--max-fps", "30"]
    stops = []
    first = start_run(video, *sink)
    time.sleep(10)
    broker.stop()
    down = time.monotonic()
    time.sleep(5)
    stops.append(stop_run(first)["sinks"])  # the process goes away with messages queued
    second = start_run(video, *sink)  # ... and starts again from the same queue
    time.sleep(max(0.0, seconds - (time.monotonic() - down)))
    broker.start()
    time.sleep(40)  # paho's reconnect back-off reaches 30 s during a long outage
    stops.append(stop_run(second)["sinks"])
    time.sleep(2)
    listener.close()
    broker.stop()
    return {"outage_seconds": seconds, "sinks_at_each_stop": stops,
            **delivery_check([m for t, m in listener.messages if t == "soak/status"])}


def delivery_check(statuses: list[dict]) -> dict:
    """Every status of both runs arrived, in order: no gap longer than 2 intervals.

    A run starts where the frame count starts again; its last status says it stopped.
    """
    from datetime import datetime

    unique = list({m["id"]: m for m in statuses}.values())  # first arrival order kept
    starts = [i for i, m in enumerate(unique) if i == 0 or m["frames"] < unique[i - 1]["frames"]]
    runs = [unique[a:b] for a, b in zip(starts, [*starts[1:], len(unique)])]
    times = [[datetime.fromisoformat(m["time"]).timestamp() for m in run] for run in runs]
    gaps = [b - a for run in times for a, b in zip(run, run[1:])]
    flat = [t for run in times for t in run]
    complete = [not run[-1]["running"] for run in runs]
    return {"received": len(statuses), "distinct": len(unique), "runs": len(runs),
            "runs_complete": complete, "in_order": flat == sorted(flat),
            "largest_gap_s": round(max(gaps), 3),
            "none_lost": len(runs) == 2 and all(complete) and max(gaps) < 1.0
            and flat == sorted(flat)}


def plot(samples: list[dict], path: Path) -> None:
    """Memory, open files and threads against frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [s["frames"] for s in samples]
    figure, axes = plt.subplots(1, 3, figsize=(11, 3), constrained_layout=True)
    for axis, key, label in zip(axes, ("rss_mib", "open_files", "threads"),
                                ("resident memory (MiB)", "open files", "threads")):
        axis.plot(frames, [s[key] for s in samples])
        axis.set(xlabel="frames", title=label)
        axis.set_ylim(0, max(s[key] for s in samples) * 1.15)
    figure.savefig(path, dpi=80)


PARTS = ("cost", "soak", "outage")


def main() -> None:
    """Run the parts asked for; print and write the JSON (and the plot).

    With some --parts only, the other parts of an existing --out file are kept; each part
    records its own run (date, CPU, command).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="comma-separated: " + ", ".join(PARTS))
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="a cost window")
    parser.add_argument("--rounds", type=int, default=5, help="cost windows of each kind")
    parser.add_argument("--outage", type=float, default=60.0, help="the broker's, in seconds")
    parser.add_argument("--threads", type=int, default=None,
                        help="the engine's threads in the cost part (default: run's own)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/soak.json"))
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    if not EDGEAE.exists() or shutil.which("mosquitto", path="/usr/sbin:/usr/bin") is None:
        sys.exit("needs .venv-runtime (make install) and mosquitto (apt install mosquitto)")
    result = json.loads(args.out.read_text()) if args.out.exists() else {"size": list(SIZE)}
    command = " ".join(["python benchmarks/soak.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory() as tmp:
        video = clip(args.data / "set12", Path(tmp))
        runs = {"cost": lambda: cost(video, args.seconds, args.rounds, args.threads),
                "soak": lambda: soak(video, args.frames),
                "outage": lambda: outage(video, args.outage, Path(tmp))}
        for part in args.parts.split(","):
            result[part] = {"provenance": provenance(command, fresh=True), **runs[part]()}
    if args.plot and "samples" in result.get("soak", {}):
        plot(result["soak"]["samples"], args.plot)
    result["provenance"] = result["cost"]["provenance"] if "cost" in result else provenance(command)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
