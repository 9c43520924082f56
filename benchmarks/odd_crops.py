"""The odd-size guard of tests/test_pretrained_quality.py, run on any exported denoiser file.

The test holds every shipped artifact to it: a noisy crop (scikit-image's `camera`, Gaussian
sigma 25, seeded), padded by the runtime, must denoise nearly as well as the same crop cut from
a denoised larger one, where the model saw real pixels around it: within 0.25 dB on each of two
crops of about 120x100, and within 0.6 dB on average over nine narrow ones, 9 to 17 pixels
across. Until 2026-12-04 a single 65x9 crop stood where the nine are: one draw of noise on 585
pixels, which `quality` passed by 0.01 dB and would have failed by 0.38-0.96 on five of the eight
others. A candidate that is not shipped yet has no row in the test; this runs the test's cases
and tolerances on it, per crop.

    .venv/bin/python benchmarks/odd_crops.py --models live,quality,live-camera,quality-camera \
        --model "alpha 0.25 fp32=WORK/wise/export-0.25/model_fp32.onnx" \
        --out benchmarks/results/odd_crops.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provenance import finished, provenance, write_result

import edgeae.runtime as rt
import edgeae.runtime.models as models
from edgeae.runtime.pretrained import pretrained_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_pretrained_quality import (  # noqa: E402
    NARROW_SIZES,
    NARROW_TOLERANCE_DB,
    ODD_TOLERANCE_DB,
    fill_edge_padding,
    guard_failures,
    padding_shortfall_db,
    padding_shortfalls,
)


def guard_result(model: rt.Denoiser) -> dict:
    """Per crop, its PSNR shortfall (dB) against real context, and the guard's verdict.

    Also the narrow crops' mean shortfall had the runtime repeated the last row and column
    instead of reflecting: what the guard is there to catch.
    """
    shortfalls = padding_shortfalls(model)
    result = {"shortfall_db": {f"{h}x{w}": d for (h, w), d in shortfalls.items()},
              "failures": guard_failures(shortfalls)}
    reflect, models.fill_reflect_padding = models.fill_reflect_padding, fill_edge_padding
    try:
        repeated = [padding_shortfall_db(model, size) for size in NARROW_SIZES]
    finally:
        models.fill_reflect_padding = reflect
    return {**result, "repetition_narrow_mean_db": sum(repeated) / len(repeated)}


def main() -> None:
    """Run the guard on the shipped fp32 models named and on the files given; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="quality", help="shipped models, comma-separated")
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=FILE",
                        help="an exported ONNX file that is not shipped (repeatable)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if bad := [pair for pair in args.model if "=" not in pair]:
        sys.exit(f"--model takes LABEL=FILE, got {bad[0]!r}")
    run = provenance("python benchmarks/odd_crops.py " + " ".join(sys.argv[1:]))
    files = {f"{name} fp32": pretrained_path(name, "onnxruntime", "fp32")
             for name in filter(None, args.models.split(","))}
    files.update({label: Path(path) for label, path in (p.split("=", 1) for p in args.model)})
    results = {label: guard_result(rt.load(path, backend="onnxruntime", num_threads=1))
               for label, path in files.items()}
    write_result({"provenance": finished(run), "odd_tolerance_db": ODD_TOLERANCE_DB,
                  "narrow": [f"{h}x{w}" for h, w in NARROW_SIZES],
                  "narrow_tolerance_db": NARROW_TOLERANCE_DB, "models": results}, args.out)


if __name__ == "__main__":
    main()
