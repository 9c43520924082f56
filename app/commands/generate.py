"""`edgeae generate`: new images from a trained VAE: samples, interpolations, traversals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeae.app.commands.args import (
    SEED,
    check_suffix,
    default_of,
    examples,
    output_dir,
    output_file,
    ranged,
    refuse_output_over_inputs,
    require,
    runs_keras,
)
from edgeae.app.generate import MAX_SAMPLES, generate, readable_image
from edgeae.core.errors import UserError
from edgeae.core.files import check_replaceable_dir, check_writable, refuse_replacing_inputs
from edgeae.core.images import IMAGE_SUFFIXES
from edgeae.runtime.generator import traverse_codes


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`generate --model VAE --out GRID.png` (defaults: `edgeae.app.generate.generate`'s)."""
    p = subparsers.add_parser(
        "generate", help="new images from a trained VAE: samples, interpolations, traversals",
        description=(
            "Decode codes drawn from the prior N(0, T^2) of a VAE (`edgeae train vae`) into a\n"
            "grid image, in batches with a progress bar; or one row interpolating between two\n"
            "images' codes (spherically), or sweeping one code dimension from -3 to 3."),
        epilog=examples("edgeae generate --model vae -n 64 --out grid.png --seed 0",
                        "edgeae generate --model vae -n 10000 --save-each samples/ --out grid.png",
                        "edgeae generate --model vae --interpolate a.png b.png --steps 10 "
                        "--out path.png",
                        "edgeae generate --model vae --traverse 3 --out dim3.png"))
    p.add_argument("--model", type=Path, required=True,
                   help="a VAE model directory, or its exported decoder (decoder_fp32.tflite)")
    p.add_argument("-n", type=ranged(int, 1, MAX_SAMPLES),
                   help=f"how many samples, at most {MAX_SAMPLES} (default "
                        f"{default_of(generate, 'n')})")
    p.add_argument("--out", type=output_file, required=True,
                   help=f"the grid image to write ({', '.join(IMAGE_SUFFIXES)})")
    p.add_argument("--seed", type=SEED, help="seed of the codes (default: fresh each run)")
    p.add_argument("--temperature", type=ranged(float, 0.0, 10.0, lo_open=True),
                   help="scale of the prior's std: below 1 gives typical, less varied images "
                        f"(default {default_of(generate, 'temperature'):g})")
    p.add_argument("--save-each", type=output_dir, metavar="DIR",
                   help="also write each image here, numbered from 0 to as many digits as the "
                        "last needs (00.png ... 63.png for 64; a new folder, or replaced whole "
                        "with --overwrite)")
    p.add_argument("--interpolate", type=Path, nargs=2, metavar=("A", "B"),
                   help="interpolate between two image files instead of sampling")
    p.add_argument("--traverse", type=ranged(int, 0), metavar="DIM",
                   help="sweep code dimension DIM from -3 to 3 instead of sampling")
    p.add_argument("--steps", type=ranged(int, 2, 1000),
                   help=f"images in an interpolation or traversal row (default "
                        f"{default_of(generate, 'steps')})")
    p.add_argument("--overwrite", action="store_true", help="replace existing images")
    p.set_defaults(func=run)


def _check_row_against_model(args: argparse.Namespace) -> None:
    """--interpolate's images read and --traverse's dimension checked before Keras loads.

    Both had been found wrong only after the model loaded (5-12 s).
    """
    for image in args.interpolate or ():
        if not image.is_file():
            what = "a folder" if image.is_dir() else "no such file"
            raise UserError(f"--interpolate {image} is not a readable image: {what}")
        readable_image(image)
    if args.traverse is not None:
        from edgeae.core.modeldir import ModelDir
        from edgeae.core.tasks import TASKS
        from edgeae.runtime.artifact import read_artifact_manifest

        path = Path(args.model)
        manifest = ModelDir.open(path).manifest if path.is_dir() else read_artifact_manifest(path)
        if "decoder" in TASKS[manifest.task].parts:  # else: no VAE, which loading it says
            traverse_codes(int(manifest.params["latent_dim"]), args.traverse, 1)


def run(args: argparse.Namespace) -> int:
    """Write the grid (and each image); print what was made as JSON."""
    if args.interpolate is not None and args.traverse is not None:
        raise UserError("pass --interpolate or --traverse, not both")
    row = args.interpolate is not None or args.traverse is not None
    if args.steps is not None and not row:  # given where they change nothing: refused
        raise UserError("--steps sets the images of an --interpolate or --traverse row; add "
                        "one, or drop --steps")
    if args.n is not None and row:
        raise UserError("-n counts samples; an --interpolate or --traverse row has --steps "
                        "images")
    if row and (args.seed is not None or args.temperature is not None):
        raise UserError("--seed and --temperature draw samples' codes; an --interpolate or "
                        "--traverse row draws none: drop them")
    check_suffix(args.out, IMAGE_SUFFIXES, "--out")
    inputs = refuse_output_over_inputs(args, "--out")
    check_writable(args.out, args.overwrite)  # before TensorFlow loads (seconds)
    if args.save_each is not None:
        refuse_replacing_inputs(args.save_each, "--save-each", inputs)
        check_replaceable_dir(args.save_each, args.overwrite)
    _check_row_against_model(args)
    require("generate", *runs_keras(args.model))
    summary = generate(args.model, args.out, args.n or default_of(generate, "n"), args.seed,
                       args.temperature or default_of(generate, "temperature"), args.save_each,
                       tuple(args.interpolate) if args.interpolate else None,
                       args.steps or default_of(generate, "steps"), args.traverse, args.overwrite)
    print(json.dumps(summary, indent=2))
    return 0
