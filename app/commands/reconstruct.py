"""`edgeae reconstruct`: run a model on images; write a grid and per-image errors."""

from __future__ import annotations

import argparse
import json

from edgeae.app.commands.args import (
    POSITIVE,
    check_model_and_data,
    data_for_model,
    model_on_images_parser,
    output_dir,
    refuse_output_over_inputs,
    resolve_backend,
)
from edgeae.core.files import refuse_folder_inside_inputs, refuse_writing_into_inputs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`reconstruct --model M --data D --out DIR`."""
    p = model_on_images_parser(
        subparsers, "reconstruct", run, "reconstruct images; write a grid and errors",
        "Run a model directory (Keras) or an exported file (.tflite, .onnx, .xml, .param: the "
        "runtime, no TensorFlow) on images.",
        "edgeae reconstruct --model export/model_fp32.tflite --data photos/ --out recon/",
        "edgeae reconstruct --model model_dir --data digits --out recon/ --limit 100")
    p.add_argument("--out", type=output_dir, required=True,
                   help="folder for grid.png and errors.csv")
    p.add_argument("--limit", type=POSITIVE, help="reconstruct at most this many images")


def run(args: argparse.Namespace) -> int:
    """Reconstruct --data with --model; print the summary as JSON."""
    from edgeae.app.reconstruct import reconstruct_images
    from edgeae.train.keras_backend import open_model

    check_model_and_data(args)
    _refuse_out_over_data(args)
    source = data_for_model(args, scoring=False)
    path = resolve_backend(args, args.model, source.size or source.smallest)
    model = open_model(path, args.backend, args.threads)
    report = reconstruct_images(model, source, args.out, args.limit, args.overwrite)
    print(json.dumps(report.summary(), indent=2))
    return 0


def _refuse_out_over_data(args: argparse.Namespace) -> None:
    """--out's files replace no input, and --out is not in the --data folder.

    `--out` as a photo's folder had replaced that photo with the grid (with --overwrite), and
    a folder inside --data is read back as data by the next run.
    """
    from edgeae.app.reconstruct import OUTPUT_FILES

    inputs = refuse_output_over_inputs(args)
    for name in OUTPUT_FILES:
        refuse_writing_into_inputs(args.out / name, "--out", inputs)
    refuse_folder_inside_inputs(args.out, "--out", inputs)
