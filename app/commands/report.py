"""`edgeae report`: one self-contained HTML page about a model."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeae.app.commands.args import (
    KERAS_DISTRIBUTION,
    check_exists,
    check_suffix,
    examples,
    output_file,
    require,
)
from edgeae.core.errors import UserError
from edgeae.core.files import check_writable

PAGE_SUFFIXES = (".html", ".htm")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`report MODEL_DIR --out PAGE.html [--benchmark DIR] [--export DIR]`."""
    p = subparsers.add_parser(
        "report", help="one self-contained HTML page about a model",
        description=(
            "Write one HTML page (images and plots embedded, no network needed) with the model\n"
            "card from the manifest, training curves, sample outputs on held-out images, the\n"
            "export parity table and the benchmark table with plots."),
        epilog=examples("edgeae report model_dir --out report.html",
                        "edgeae benchmark model_dir --out bench/ && "
                        "edgeae report model_dir --benchmark bench/ --out report.html"))
    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR")
    p.add_argument("--out", type=output_file, required=True, help="the HTML file to write")
    p.add_argument("--benchmark", type=Path, metavar="DIR",
                   help="an `edgeae benchmark --out` folder (the parity comes from the artifacts "
                        "it measured)")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="an `edgeae export --out` folder holding parity.json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing page")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the page; print its path."""
    from edgeae.app.report import write_report
    from edgeae.core.modeldir import ModelDir

    check_suffix(args.out, PAGE_SUFFIXES, "--out")
    check_exists(args.benchmark, "--benchmark")
    check_exists(args.export, "--export")
    check_writable(args.out, args.overwrite)  # before seconds of Keras
    if args.benchmark is not None and not (args.benchmark / "benchmark.json").is_file():
        raise UserError(f"--benchmark {args.benchmark} holds no benchmark.json; give an "
                        "`edgeae benchmark --out` folder")
    ModelDir.open(args.model_dir)
    require("report", KERAS_DISTRIBUTION, "matplotlib", "jinja2")
    path = write_report(args.model_dir, args.out, args.benchmark, args.export, args.overwrite)
    print(f"wrote {path}")
    return 0
