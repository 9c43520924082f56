"""`edgeae demo`: train, export and run on scikit-learn's digits, offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeae.app.commands import benchmark
from edgeae.app.commands.args import POSITIVE, default_of, examples, output_dir, require
from edgeae.app.demo import run_demo
from edgeae.core.errors import UserError
from edgeae.core.files import check_replaceable_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`demo [--out DIR] [--epochs N]` (defaults: `edgeae.app.demo.run_demo`'s)."""
    p = subparsers.add_parser("demo", help="train, export and run on digits (offline, ~1 minute)",
                              description="The whole pipeline on scikit-learn's digits, no "
                                          "network.",
                              epilog=examples("edgeae demo",
                                              "edgeae demo --out /tmp/demo --overwrite"))
    p.add_argument("--out", type=output_dir, default=Path(default_of(run_demo, "out")),
                   help="default %(default)s")
    p.add_argument("--epochs", type=POSITIVE, default=default_of(run_demo, "epochs"),
                   help="default %(default)s")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; print its metrics and where it wrote them."""
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file; pass a folder for the demo's outputs")
    check_replaceable_dir(args.out, args.overwrite)  # before TensorFlow and the data
    require("demo", *benchmark.NEEDS, "matplotlib", "jinja2")
    metrics = run_demo(args.out, args.epochs, args.overwrite)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {args.out}/: model/, export/, reconstructions.png, denoising.png, detector/, "
          "detector-export/, anomalies.png, vae/, vae-export/, generation.png, benchmark/, "
          "metrics.json")
    print(f"report: {metrics['report']}")
    return 0
