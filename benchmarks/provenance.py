"""Where and how a benchmark ran: the CPU model, cores, date, command and versions.

Every results file under benchmarks/results/ carries this, so each table of BENCHMARKS.md can
name its CPU (`lscpu | grep 'Model name'`) from the committed JSON alone.

    python benchmarks/provenance.py                     # print it
    python benchmarks/provenance.py --wrap IN OUT --command CMD
                                        # OUT = IN's JSON plus {"provenance": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from edgeae.app.measure import installed_versions
from edgeae.core.cpu import cpu_identity

PACKAGES = ("edgeae", "numpy", "tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert",
            "onnxruntime", "openvino", "opencv-python-headless", "scikit-learn", "scikit-image",
            "pyod", "torch", "tf2onnx", "onnx", "pythae", "bm3d", "scipy")
_STARTED = (time.gmtime(), os.getloadavg())  # the benchmark's start: it imports this first


def cpu_model() -> str:
    """`lscpu`'s Model name (platform.processor() where lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor() or platform.machine()
    for line in out.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def provenance(command: str | None = None, fresh: bool = False) -> dict:
    """The facts a table's caption gives: date, CPU, cores, command, Python and versions.

    The date and load average are the run's start (when the benchmark imported this module),
    wherever it is called; `fresh`: now instead (one part of a longer run).
    """
    started, load = (time.gmtime(), os.getloadavg()) if fresh else _STARTED
    found = installed_versions(PACKAGES)
    return {"date_utc": time.strftime("%Y-%m-%d %H:%M UTC", started),
            "cpu": cpu_model(), "cpu_identity": cpu_identity(), "cores": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(), "versions": found,
            "command": command or " ".join(["python", *sys.argv]),
            "load_average_before": load}


def finished(run: dict) -> dict:
    """`run` (from provenance() at the start) with the end time and the load average then."""
    return {**run, "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_after": os.getloadavg()}


def write_result(result: dict, out: Path | None, indent: int = 2) -> None:
    """Print a run's JSON and write it to `out` (benchmarks/results/NAME.json) when given."""
    text = json.dumps(result, indent=indent)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def main() -> None:
    """Print the provenance, or wrap a results file with it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrap", nargs=2, type=Path, metavar=("IN", "OUT"))
    parser.add_argument("--command")
    args = parser.parse_args()
    stamp = provenance(args.command)
    if not args.wrap:
        print(json.dumps(stamp, indent=1))
        return
    src, dst = args.wrap
    data = json.loads(src.read_text())
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps({"provenance": stamp, **data}, indent=1) + "\n")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
