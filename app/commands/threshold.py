"""`edgeae threshold`: change a detector's threshold without retraining."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeae.app.commands.args import (
    add_backend_args,
    check_exists,
    check_model_and_data,
    examples,
    scorer_and_data,
)
from edgeae.core.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`threshold MODEL --strategy SPEC [--data D --labels CSV]`."""
    from edgeae.runtime.threshold import described_forms

    p = subparsers.add_parser(
        "threshold", help="change a detector's threshold without retraining",
        description="Recompute the threshold of a model directory or exported file from its "
                    "stored score statistics (or labelled images for best-f1) and rewrite its "
                    "manifest.",
        epilog=examples("edgeae threshold det --strategy percentile:99.5",
                        "edgeae threshold export/model_int8.tflite --strategy best-f1 "
                        "--data val/",
                        "edgeae threshold det --strategy fixed:0.004"))
    p.add_argument("model", type=Path, help="model directory or exported file")
    p.add_argument("--strategy", required=True, metavar="SPEC", help=described_forms())
    g = p.add_argument_group("labelled images (best-f1)")
    g.add_argument("--data", metavar="D", help="labelled images, as for evaluate")
    g.add_argument("--labels", type=Path, metavar="CSV", help="path,label per image")
    add_backend_args(p)
    # what the data options of score / evaluate would give: images as they are, series rows
    # labelled as the manifest says
    p.set_defaults(func=run, image_size=None, data_dir=None, strict=False, every=1,
                   label_column=None, normal_label=None)


def run(args: argparse.Namespace) -> int:
    """Apply the strategy (scoring --data for best-f1) and print the new threshold."""
    from edgeae.core.labels import labels_for
    from edgeae.runtime.batch import scored
    from edgeae.runtime.threshold import apply_threshold, parse_threshold

    scores = labels = None
    spec = parse_threshold(args.strategy)
    given = [f"--{name}" for name in ("data", "labels") if getattr(args, name) is not None]
    if given and not spec.needs_labels:  # accepted, even paths that were not there
        raise UserError(f"{' and '.join(given)}: {spec} is set from the training images' scores "
                        "in the manifest and reads no images; leave them out (best-f1 reads them)")
    if spec.needs_labels:
        if args.data is None:
            raise UserError("best-f1 needs labelled images: pass --data DIR (good/ and anomaly "
                            "sub-folders) or --data DIR --labels CSV")
        check_exists(args.labels, "--labels")
        check_model_and_data(args)
        scorer, source = scorer_and_data(args)
        labels = labels_for(source, args.labels)
        scores = [result.score for _, result, _ in scored(scorer, source)]
    manifest = apply_threshold(args.model, args.strategy, scores, labels)
    print(f"{args.model}: threshold {manifest.threshold_strategy} = {manifest.threshold:.6g}")
    return 0
