"""`edgeae evaluate`: detection metrics of a model on labelled images."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeae.app.commands.args import (
    check_exists,
    check_model_and_data,
    check_suffix,
    model_on_images_parser,
    output_file,
    refuse_output_over_inputs,
    scorer_and_data,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`evaluate --model M --data D [--labels CSV] [--masks DIR] [--out JSON]`."""
    p = model_on_images_parser(
        subparsers, "evaluate", run, "detection metrics on labelled images",
        "Accuracy, precision, recall, F1 at the model's threshold; AUROC, AUPR; pixel AUROC "
        "and PRO with --masks.",
        "edgeae evaluate --model det --data test/   # good/ = normal, other sub-folders = "
        "anomalies",
        "edgeae evaluate --model det --data test/ --labels labels.csv --masks masks/ --out "
        "metrics.json")
    p.add_argument("--labels", type=Path, metavar="CSV",
                   help="path,label per image (1 = anomaly); default: sub-folders named "
                        "good, normal or ok are normal, the others anomalous")
    p.add_argument("--masks", type=Path, metavar="DIR",
                   help="defect masks: PNGs at the images' relative paths (or MVTec AD's "
                        "NAME_mask.png there), non-zero on defects (a missing mask means no "
                        "defect)")
    p.add_argument("--out", type=output_file, metavar="JSON", help="also write the metrics here")


def run(args: argparse.Namespace) -> int:
    """Score the labelled images; print the metrics (and write them with --out)."""
    from edgeae.app.detect import evaluate_folder
    from edgeae.core.errors import UserError
    from edgeae.core.files import check_writable, write_json
    from edgeae.core.labels import labels_for

    if args.out is not None:
        check_suffix(args.out, (".json",), "--out")
        refuse_output_over_inputs(args, "--out")
        check_writable(args.out, args.overwrite)
    check_exists(args.labels, "--labels")
    check_exists(args.masks, "--masks")
    if args.masks is not None and not args.masks.is_dir():  # found after every image was scored
        raise UserError(f"--masks {args.masks} is not a folder: give the folder of defect masks "
                        "(PNGs at the images' relative paths)")
    check_model_and_data(args, "scikit-learn", *(("scikit-image",) if args.masks else ()))
    scorer, source = scorer_and_data(args)
    labels = labels_for(source, args.labels)
    metrics = evaluate_folder(scorer, source, labels, args.masks)
    print(metrics_table(metrics))
    if args.out is not None:
        write_json(args.out, metrics, overwrite=args.overwrite)
    return 0


def metrics_table(metrics: dict) -> str:
    """The evaluation as aligned `name  value` lines, None shown as n/a."""
    rows = [(k, metrics.get(k)) for k in ("n", "n_anomalous", "threshold", "accuracy",
                                          "precision", "recall", "f1", "auroc", "aupr")]
    pixel = metrics.get("pixel", {})
    rows += [(k if k.startswith("pixel") else f"pixel_{k}", v)
             for k, v in pixel.items() if k not in ("note", "by_defect_size")]
    for size, values in pixel.get("by_defect_size", {}).items():
        rows.append((f"  {size} defects", f"{values['regions']} regions, pixel AUROC "
                                  f"{values['pixel_auroc']:.4g}, PRO {values['pro']:.4g}"))
    width = max(16, *(len(k) + 2 for k, _ in rows))
    lines = [f"{k:<{width}}{'n/a' if v is None else f'{v:.4g}' if isinstance(v, float) else v}"
             for k, v in rows]
    if "confusion_matrix" in metrics:
        (tn, fp), (fn, tp) = metrics["confusion_matrix"]
        lines.append(f"{'confusion':<{width}}TN {tn}  FP {fp}  FN {fn}  TP {tp}")
    lines += [f"note: {n}" for n in (metrics.get("note"), metrics.get("pixel", {}).get("note"))
              if n]
    return "\n".join(lines)
