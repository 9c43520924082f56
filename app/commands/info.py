"""`edgeae info`: print the manifest of a model directory or exported file, its files verified."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeae.app.commands.args import examples


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`info MODEL`."""
    p = subparsers.add_parser("info", help="print a model's manifest; verify its files",
                              description="Print the manifest of a model directory or exported "
                                          "file, after checking every file it needs against it "
                                          "(sizes, SHA-256, a detector's side arrays by content).",
                              epilog=examples("edgeae info model_dir",
                                              "edgeae info export/model_fp32.tflite"))
    p.add_argument("model", type=Path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the manifest as JSON; say on stderr which files were verified and how."""
    from edgeae.core.formats import FORMATS
    from edgeae.core.modeldir import MODEL_FILE
    from edgeae.runtime.artifact import check_matches_embedded, read_manifest, recorded_files
    from edgeae.runtime.scoring import read_side_arrays, side_path

    path = args.model
    manifest = read_manifest(path)  # an artifact's recorded files are checked here
    if not path.is_dir() and FORMATS[manifest.artifact.format].embeds_manifest:
        check_matches_embedded(manifest, lambda: _embedded_metadata(path), path)
    folder = path if path.is_dir() else path.parent
    arrays = read_side_arrays(folder, manifest)  # and a detector's side arrays' contents here
    checked = {path / MODEL_FILE: "SHA-256" if manifest.model_sha256 else
               "not recorded: written before 2026-12-07"} if path.is_dir() else {
        file: "size, SHA-256" if sha256 else "size" if size is not None else "not recorded"
        for file, size, sha256 in recorded_files(path, manifest)}
    for kind, array in arrays.items():
        where = side_path(folder, manifest, kind)
        checked[where] = (f"{checked.get(where, 'not recorded')}; "
                          f"{'x'.join(map(str, array.shape))} finite")
    print(manifest.to_json(), end="")
    done = ", ".join(f"{file.name} ({how})" for file, how in checked.items())
    print(f"edgeae: verified {done or f'{path} (its manifest)'}", file=sys.stderr)
    return 0


def _embedded_metadata(path: Path) -> dict[str, str]:
    """The metadata inside an artifact, read by an installed engine; {} where none reads it.

    `info` reads manifests without running anything: a device without the file's engine
    (OpenVINO's IR in the tflite-runtime environment) still gets the JSON's manifest, verified.
    """
    from edgeae.core.errors import UserError
    from edgeae.runtime.backends import choose_backend

    try:
        backend = choose_backend(path)
    except UserError as exc:
        print(f"edgeae: the manifest inside {path.name} was not compared with its JSON: {exc}",
              file=sys.stderr)
        return {}
    return backend.read_metadata(path)
