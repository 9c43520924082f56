"""`edgeae info`: print the manifest of a model directory or exported file."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeae.app.commands.args import examples


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`info MODEL`."""
    p = subparsers.add_parser("info", help="print a model's manifest",
                              description="Print the manifest of a model directory or exported "
                                          "file.",
                              epilog=examples("edgeae info model_dir",
                                              "edgeae info export/model_fp32.tflite"))
    p.add_argument("model", type=Path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the manifest as JSON."""
    from edgeae.core.manifest import Manifest
    from edgeae.core.modeldir import MANIFEST_FILE
    from edgeae.runtime import read_artifact_manifest

    path = args.model
    manifest = (Manifest.read(path / MANIFEST_FILE) if path.is_dir()
                else read_artifact_manifest(path))
    print(manifest.to_json(), end="")
    return 0
