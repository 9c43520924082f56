"""`edgeae demo`, timed end to end: its metrics.json plus the wall clock, as one results file.

Runs the demo in a fresh process (as `make demo` does), then keeps the demo's own metrics.json
(autoencoder, denoiser, detector, VAE) beside the wall-clock time and the machine.

    nice -n 19 .venv/bin/python benchmarks/demo.py --out benchmarks/results/demo.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from provenance import provenance

EDGEAE = Path(sys.executable).with_name("edgeae")


def main() -> None:
    """Run the demo, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/demo-work"),
                        help="the demo's output folder (not committed)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/demo.json"))
    args = parser.parse_args()
    stamp = provenance(" ".join(["python benchmarks/demo.py", *sys.argv[1:]]))
    start = time.perf_counter()
    subprocess.run([str(EDGEAE), "demo", "--out", str(args.work), "--overwrite"], check=True)
    wall = time.perf_counter() - start
    metrics = json.loads((args.work / "metrics.json").read_text())
    result = {"provenance": stamp, "wall_clock_s": round(wall, 1), "metrics": metrics}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
