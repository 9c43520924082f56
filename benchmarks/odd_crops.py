"""The odd-crop guard of tests/test_pretrained_quality.py, run on any exported denoiser file.

The test holds every shipped artifact to it: a noisy crop of 121x97, 129x113 or 65x9 pixels
(scikit-image's `camera`, Gaussian sigma 25, seeded), padded by the runtime, must denoise within
0.25 dB of the same crop cut from a denoised larger one, where the model saw real pixels around
it. A candidate that is not shipped yet has no row in the test; this runs the test's own cases
and tolerance on it, so a candidate is judged by exactly what it would have to pass.

    .venv/bin/python benchmarks/odd_crops.py --models quality \
        --model "alpha 0.25 fp32=WORK/wise/export-0.25/model_fp32.onnx" \
        --out benchmarks/results/odd_crops_wise.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provenance import finished, provenance, write_result
from skimage.metrics import peak_signal_noise_ratio

import edgeae.runtime as rt
from edgeae.runtime.pretrained import pretrained_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_pretrained_quality import ODD_SIZES, ODD_TOLERANCE_DB, odd_size_case  # noqa: E402


def odd_crop_rows(model: rt.Denoiser) -> list[dict]:
    """Per odd size: PSNR (dB) of the padded crop and of the crop with real context around it."""
    rows = []
    for size in ODD_SIZES:
        clean, context, odd = odd_size_case(size, model.input_spec.size_multiple)
        with_context = model.denoise(context)[:size[0], :size[1]]
        padded = peak_signal_noise_ratio(clean, model.denoise(odd), data_range=255)
        ideal = peak_signal_noise_ratio(clean, with_context, data_range=255)
        rows.append({"size": f"{size[0]}x{size[1]}", "padded_db": padded, "context_db": ideal,
                     "passes": bool(padded >= ideal - ODD_TOLERANCE_DB)})
    return rows


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
    results = {label: odd_crop_rows(rt.load(path, backend="onnxruntime", num_threads=1))
               for label, path in files.items()}
    write_result({"provenance": finished(run), "tolerance_db": ODD_TOLERANCE_DB,
                  "models": results}, args.out)


if __name__ == "__main__":
    main()
