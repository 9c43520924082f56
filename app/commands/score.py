"""`edgeae score`: anomaly scores of images into a CSV, with heat maps on request."""

from __future__ import annotations

import argparse
import json

from edgeae.app.commands.args import (
    add_archive_args,
    check_model_and_data,
    check_resume_or_overwrite,
    check_suffix,
    data_for_model,
    finite,
    model_on_images_parser,
    output_dir,
    output_file,
    refuse_output_over_inputs,
    resolve_backend,
)
from edgeae.core.files import check_writable, refuse_folder_inside_inputs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`score --model M --data D --out CSV`."""
    p = model_on_images_parser(
        subparsers, "score", run, "score images for anomalies; write a CSV and heat maps",
        "Score every image with a detector (model directory or exported file) and flag those "
        "above its threshold.",
        "edgeae score --model det --data new/ --out scores.csv",
        "edgeae score --model export/model_int8.tflite --data new/ --out scores.csv --maps maps/",
        "edgeae score --model export/model_int8.tflite --data archive/ --out scores.csv "
        "--workers 2 --resume")
    p.add_argument("--out", type=output_file, required=True, help="CSV of path, score, prediction")
    p.add_argument("--maps", type=output_dir, metavar="DIR",
                   help="also write each image with its anomaly map overlaid, as PNG")
    p.add_argument("--threshold", type=finite,
                   help="use this threshold, not the model's")
    add_archive_args(p, "score", "the CSV keeps the images' order",
                     "keep the rows an interrupted (or earlier) run wrote; score the rest")


def run(args: argparse.Namespace) -> int:
    """Score --data with --model into --out; print the summary as JSON."""
    from edgeae.app.detect import score_folder
    from edgeae.app.workers import ModelSpec

    check_suffix(args.out, (".csv",), "--out")
    check_resume_or_overwrite(args)
    check_writable(args.out, args.overwrite or args.resume)  # before --backend auto's timing
    inputs = refuse_output_over_inputs(args, "--out")
    refuse_folder_inside_inputs(args.maps, "--maps", inputs)
    check_model_and_data(args)
    source = data_for_model(args)
    model = resolve_backend(args, args.model, source.size or source.smallest, "score",
                            args.image_size)
    spec = ModelSpec(model, args.backend, args.threads, "score", args.threshold,
                     score_size=args.image_size)  # resized to it, then scored at it
    summary = score_folder(spec, source, args.out, args.maps, args.overwrite, args.workers,
                           args.resume)
    print(json.dumps(summary, indent=2))
    return 0
