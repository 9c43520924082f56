"""`edgeae export`: a model directory to TFLite / ONNX / OpenVINO IR, each checked against Keras.

Formats and precisions come from edgeae.core.formats, the other defaults from ExportOptions and
its Tolerances (edgeae.export.options, TensorFlow-free): options parse to None unless given and
the options object fills in the rest.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import textwrap
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgeae.app.commands.args import (
    KERAS_DISTRIBUTION,
    POSITIVE,
    SEED,
    check_data,
    examples,
    given,
    image_size,
    output_dir,
    ranged,
    require,
)
from edgeae.core.architectures import CONFIGS
from edgeae.core.errors import UserError
from edgeae.core.files import refuse_writing_over_input
from edgeae.core.formats import FORMATS, PRECISIONS, all_formats, artifact_name, exported_formats
from edgeae.core.manifest import needed_side_files, side_path_for, weights_path_for
from edgeae.core.tasks import TASKS
from edgeae.export.onnx import ACTIVATION_RANGES
from edgeae.export.options import IO_TYPES, MAX_OPSET, ExportOptions, Tolerances
from edgeae.runtime.pretrained import FRAME_NAMES

if TYPE_CHECKING:
    from edgeae.core.modeldir import ModelDir

DEFAULTS = ExportOptions()

# ExportOptions fields an option of the same name sets when given
OPTION_FIELDS = ("precisions", "part", "input_size", "calibration_samples", "int8_io",
                 "int8_ranges", "int8_bias_correction", "opset", "seed")
# what converting and checking an artifact imports (the [train] extra's)
NEEDS = (KERAS_DISTRIBUTION, "tf2onnx", "onnx", "scikit-image")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`export MODEL_DIR --out DIR` with its format, int8 and parity-gate options."""
    p = subparsers.add_parser(
        "export", help="export a model directory to TFLite / ONNX / OpenVINO IR, checked "
                       "against Keras",
        description=_description(),
        epilog=examples(
            "edgeae export model_dir --out export/",
            "edgeae export model_dir --format all --precision all --out export/",
            "edgeae export model_dir --format openvino --precision fp32,int8 --out export/",
            "edgeae export model_dir --precision int8 --int8-io uint8 --calibration photos/ "
            "--out export/",
            "edgeae export model_dir --precision int8 --input-size 256x256 --out export/",
            "edgeae export detector_dir --precision all --labelled test/ --out export/",
            "edgeae export --pretrained live --calibration frames/ --format openvino "
            "--precision int8 --out live_mine/",
            "edgeae export export/model_fp32.onnx --calibration photos/ --precision int8 "
            "--out again/"))
    p.add_argument("model_dir", type=Path, nargs="?",
                   help="a model directory, or a U-Net's exported float32 ONNX file (rebuilt "
                        "in Keras and checked against it; --calibration then stands in for its "
                        "training images, its held-out part for the parity check)")
    p.add_argument("--pretrained", choices=FRAME_NAMES,
                   help="a shipped denoiser's float32 ONNX file, e.g. to calibrate int8 on "
                        "your own camera's frames (needs --calibration)")
    p.add_argument("--out", type=output_dir, required=True, help="folder for artifacts + manifests")
    p.add_argument("--format", choices=(*exported_formats(), "all"),
                   help=f"default {','.join(DEFAULTS.formats)}")
    parts = tuple(dict.fromkeys(part for task in TASKS.values() for part in task.parts))
    p.add_argument("--part", choices=parts,
                   help="a VAE's decoder (codes in, images out: edgeae.runtime's Generator) or "
                        "encoder (images in, codes out: its Encoder), for generating on a device "
                        f"(default {DEFAULTS.part})")
    p.add_argument("--precision", dest="precisions", type=_precisions, metavar="LIST",
                   help=f"comma-separated {', '.join(PRECISIONS)}, or all "
                        f"(default {','.join(DEFAULTS.precisions)}); "
                        f"{', '.join(p for p, v in PRECISIONS.items() if v.cpu_capability)} "
                        "only on a CPU that computes them (OpenVINO's BF16)")
    p.add_argument("--input-size", type=image_size, metavar="HxW",
                   help="a fixed-shape variant (e.g. a 256x256 tile model for int8 backends)")
    _add_int8_args(p)
    _add_gate_args(p)
    p.add_argument("--seed", type=SEED, help=f"noise for denoiser inputs (default {DEFAULTS.seed})")
    p.add_argument("--overwrite", action="store_true", help="replace existing artifacts")
    p.set_defaults(func=run)


def _description() -> str:
    """What the export does, naming the formats and precisions from the tables."""
    written = " and ".join(f"{name} ({', '.join(FORMATS[name].precisions)})"
                           for name in exported_formats())
    return "\n\n".join(textwrap.fill(text, 88) for text in (
        f"Convert a trained model to {written}, run each artifact with its real interpreter on "
        "held-out images and compare it with the Keras model. Float artifacts must match "
        "within a max abs difference; quantized ones within a PSNR drop. A failed gate writes "
        "nothing and exits 1 unless --allow-drift.",
        f"--format all is {', '.join(all_formats())}. ncnn is asked for by name: pnnx converts "
        "gray U-Nets and dense autoencoders to layers ncnn runs, not every model (a model it "
        "cannot convert is refused with the layer it lacks, and the gate checks the rest).",
        "Each artifact gets its manifest embedded and as FILE.json beside it; parity.json and "
        "the printed table hold the report."))


def _add_int8_args(p: argparse.ArgumentParser) -> None:
    """Calibration and quantization options."""
    g = p.add_argument_group("int8")
    g.add_argument("--calibration", metavar="D",
                   help="calibration images (any --data form); default: the training images "
                        "saved in the model directory")
    g.add_argument("--calibration-samples", type=POSITIVE, metavar="N",
                   help="images used to calibrate, picked to cover the brightness range "
                        f"(default {DEFAULTS.calibration_samples})")
    g.add_argument("--int8-io", choices=IO_TYPES,
                   help=f"TFLite int8: input/output type (default {DEFAULTS.int8_io}, a camera's "
                        "pixels)")
    g.add_argument("--per-tensor", action="store_true",
                   help="one weight scale per tensor instead of per output channel")
    g.add_argument("--int8-ranges", choices=ACTIVATION_RANGES,
                   help="ONNX and IR int8 activation ranges: cover every calibration image's "
                        "extremes "
                        f"(default {DEFAULTS.int8_ranges}), or their mean (NNCF's default: finer "
                        "steps, but a denoiser's noisiest inputs clip: 2-3 dB lost at sigma 55 "
                        "on the shipped ones; BENCHMARKS.md)")
    g.add_argument("--int8-bias-correction", action="store_true",
                   help="ONNX int8 by NNCF, each layer's bias corrected for the mean error "
                        "quantization adds, instead of onnxruntime's quantizer, and the IR's "
                        "int8 with that full correction (closer to fp32 "
                        "for some models; OpenVINO ran such files wrongly on an AVX2-only CPU, "
                        "and the gate checks every installed engine; BENCHMARKS.md)")
    g.add_argument("--opset", type=ranged(int, 13, MAX_OPSET),
                   help=f"ONNX opset (default {DEFAULTS.opset})")


def _add_gate_args(p: argparse.ArgumentParser) -> None:
    """The parity gate: one tolerance per float precision, the quantized ones' drops."""
    g = p.add_argument_group("parity gate")
    for precision in PRECISIONS.values():
        if precision.gate == "max_abs_diff":
            g.add_argument(f"--{precision.name}-tolerance", dest=precision.tolerance,
                           type=ranged(float, 0.0), metavar="X",
                           help=f"{precision.name}: largest max abs difference from Keras "
                                f"(default {getattr(DEFAULTS.tolerances, precision.tolerance)})")
    quantized = " and ".join(p.name for p in PRECISIONS.values() if p.gate == "quality")
    g.add_argument("--int8-psnr-drop", dest="int8_psnr_drop_db", type=ranged(float, 0.0),
                   metavar="DB",
                   help=f"{quantized}: largest PSNR drop vs Keras in dB "
                        f"(default {DEFAULTS.tolerances.int8_psnr_drop_db})")
    g.add_argument("--labelled", metavar="D",
                   help="detection parity on a labelled folder: good/ (or normal/) holds normal "
                        "images, other sub-folders anomalies; adds AUROC and score correlation")
    g.add_argument("--int8-auroc-drop", type=ranged(float, 0.0), metavar="X",
                   help="int8 with --labelled, or a mask predictor's (draem) pixel AUROC on "
                        "its samples with anomalies pasted in: largest AUROC drop vs Keras "
                        f"(default {DEFAULTS.tolerances.int8_auroc_drop})")
    g.add_argument("--allow-drift", action="store_true",
                   help="keep artifacts that fail the gate (warns instead)")


def _precisions(text: str) -> tuple[str, ...]:
    """'fp32,int8' or 'all' -> a tuple of precisions, validated, each once.

    A repeat was exported twice: the second copy then refused the first's file and left the
    export half-written.
    """
    names = tuple(PRECISIONS) if text == "all" else tuple(p.strip() for p in text.split(","))
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or not names:
        bad = ", ".join(unknown) or repr(text)
        raise argparse.ArgumentTypeError(
            f"unknown precision {bad}; use a comma-separated list of {', '.join(PRECISIONS)} "
            "or 'all'")
    return tuple(dict.fromkeys(names))


def _source(args: argparse.Namespace) -> Path:
    """The model directory or float32 ONNX file to export, checked before any slow work."""
    if (args.model_dir is None) == (args.pretrained is None):
        raise UserError("pass a model directory (or an fp32 ONNX file), or --pretrained NAME")
    if args.pretrained is not None:
        from edgeae.runtime.pretrained import rebuild_source

        source = rebuild_source(args.pretrained)
    else:
        source = args.model_dir
    if source.is_dir() or not source.exists():
        return source  # ModelDir.open says what is wrong with it
    from edgeae.runtime.artifact import read_artifact_manifest

    manifest = read_artifact_manifest(source)
    artifact = manifest.artifact
    if (artifact.format, artifact.precision) != ("onnx", "fp32"):
        raise UserError(f"{source.name} is {artifact.format} {artifact.precision}; export "
                        "again from a model directory or from its fp32 ONNX file")
    if not manifest.params.rebuilds_from_onnx:
        rebuilt = ", ".join(n for n, c in CONFIGS.items() if c.rebuilds_from_onnx)
        raise UserError(f"{source.name} holds a model of architecture {manifest.architecture}, "
                        f"and only {rebuilt} "
                        "models (the pretrained ones among them) are rebuilt from an ONNX file; "
                        "export it from its model directory")
    if args.calibration is None:
        raise UserError(f"exporting from {source.name} needs --calibration DATA: images like "
                        "those it will see (an ONNX file keeps no training images)")
    return source


def run(args: argparse.Namespace) -> int:
    """Export, check parity, print the report table and the files written."""
    source = _source(args)
    check_data(args.calibration, "--calibration")
    check_data(args.labelled, "--labelled")
    chosen = given(args, *OPTION_FIELDS)
    if args.format is not None:
        chosen["formats"] = all_formats() if args.format == "all" else (args.format,)
    formats = chosen.get("formats", DEFAULTS.formats)
    if chosen.get("precisions") == tuple(PRECISIONS):  # all: those the formats store
        chosen["precisions"] = tuple(p for p in PRECISIONS
                                     if any(p in FORMATS[f].precisions for f in formats))
    require("export", *NEEDS, *(d for f in formats for d in FORMATS[f].needs))
    if args.per_tensor:
        chosen["per_channel"] = False
    options = ExportOptions(**chosen, tolerances=Tolerances(**given(args, *asdict(Tolerances()))),
                            allow_drift=args.allow_drift, overwrite=args.overwrite)
    if source.is_file():
        return _export_rebuilt(source, args, options)
    from edgeae.core.modeldir import ModelDir

    return _export_model_dir(ModelDir.open(source), args, options)


def _export_rebuilt(source: Path, args: argparse.Namespace, options: ExportOptions) -> int:
    """Export a float32 ONNX file's model, rebuilt in a temporary model directory.

    --calibration's images stand in for its training images: the calibration, and a held-out
    part for the parity check.
    """
    from edgeae.core.calibration import stand_in_images
    from edgeae.runtime.artifact import read_artifact_manifest

    for fmt in options.formats:  # --overwrite replaces outputs, never the file exported
        for precision in options.precisions:
            refuse_writing_over_input(Path(args.out) / artifact_name(
                fmt, precision, options.input_size, options.part), source, "--out")
    images = stand_in_images(args.calibration, read_artifact_manifest(source), source.name)
    from edgeae.train.from_artifact import model_dir_from_artifact

    with tempfile.TemporaryDirectory(prefix="edgeae-rebuilt-") as tmp:
        model_dir = model_dir_from_artifact(source, images, Path(tmp),
                                            options.tolerances.fp32_max_abs_diff, seed=options.seed)
        options = replace(options, calibration_source=args.calibration)
        return _export(model_dir, args.labelled, options, args.out)


def _export_model_dir(model_dir: ModelDir, args: argparse.Namespace,
                      options: ExportOptions) -> int:
    """Export a model directory, calibrated on --calibration's images where given."""
    if args.calibration:
        from edgeae.core.calibration import load_calibration

        images = load_calibration(args.calibration, model_dir.manifest, options.input_size,
                                  options.calibration_samples, options.seed)
        options = replace(options, calibration=images, calibration_source=args.calibration)
    if args.calibration and not any(PRECISIONS[p].calibrated for p in options.precisions):
        logging.getLogger(__name__).warning(
            "--calibration is read by int8 exports only; %s need(s) none: add --precision int8",
            ", ".join(options.precisions))
    return _export(model_dir, args.labelled, options, args.out)


def _export(model_dir: ModelDir, labelled: str | None, options: ExportOptions, out: Path) -> int:
    """Export, check parity, print the report table and the files written."""
    if labelled:
        from edgeae.core.labels import load_labelled

        options = replace(options, labelled=load_labelled(labelled, model_dir.manifest,
                                                          options.input_size))
    from edgeae.export.artifacts import export_model  # TensorFlow: after the data is read

    report = export_model(model_dir, out, options)
    print(report.table)
    for exported in report.artifacts:  # with every file beside it: weights, side files, JSON
        beside = [*(p.name for p in (weights_path_for(exported.path),) if p),
                  *(side_path_for(exported.path, kind).name
                    for kind in needed_side_files(exported.manifest))]
        print(f"wrote {exported.path} (+ {', '.join([*beside, exported.path.name + '.json'])})")
    return 0
