"""Quantization-aware training's schemes, side by side: how much int8 loses after each.

`edgeae train --quantization-aware` simulates int8 while it tunes a model. The shipped `live`
was tuned with the "moving" scheme: activation ranges as moving averages of the batches' extremes,
weights in float. The export then quantizes differently: ranges that cover every calibration
value, and weights rounded per output channel. The "cover" scheme simulates that
(train/quantize.py). Each scheme tunes the shipped `live` (its fp32 ONNX file) by the shipped
schedule (Makefile's PRETRAINED_QAT_SCHEDULE: 8 epochs at 1e-4, Gaussian sigma 0-55, the
single-frame denoisers' recipe, seed 0); each result is exported (ONNX fp32 and int8, the
export's defaults) and measured as `int8_ranges.py` measures: mean PSNR on the 40 held-out
Train400 images at Gaussian sigma 5, 15, 25, 40 and 55, through onnxruntime and OpenVINO, and
on Set12 at sigma 25 (reported, not used by the rule).

The rule, written before the first run (2026-12-05): "cover" becomes `--quantization-aware`'s
default if its int8 file's mean validation drop from its own fp32 is at least 0.03 dB smaller
than "moving"'s through both engines, and its fp32 mean validation PSNR is at most 0.03 dB
below "moving"'s.

    .venv/bin/python benchmarks/qat_schemes.py --data ../shared/data \
        --out benchmarks/results/qat_schemes.json      # about 15 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from int8_ranges import ENGINES, SIGMAS, mean_drop, mean_psnr, measurement_sets
from provenance import finished, provenance, write_result

from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.settings import FAKE_QUANT_SCHEMES

EDGEAE = str(Path(sys.executable).parent / "edgeae")
# the shipped recipe (Makefile: DENOISER_TRAIN, PRETRAINED_QAT_SCHEDULE) for `live`
SCHEDULE = ("--model", "unet", "--size", "small", "--patch-size", "64",
            "--patches-per-image", "16", "--batch-size", "32", "--noise", "gaussian:0-55",
            "--quantization-aware", "--epochs", "8", "--learning-rate", "1e-4", "--seed", "0")
LEAST_GAIN_DB, MOST_FP32_LOSS_DB = 0.03, 0.03


def tuned_files(data: Path, scheme: str, work: Path) -> dict[str, Path]:
    """`live` tuned by `scheme` and exported: {"fp32": file, "int8": file}."""
    model, export = work / scheme, work / f"{scheme}-export"
    subprocess.run([EDGEAE, "train", "denoiser", "--data", str(data / "train400"), *SCHEDULE,
                    "--fake-quant", scheme, "--initial-weights",
                    str(PRETRAINED_DIR / "live_fp32.onnx"), "--out", str(model)], check=True)
    subprocess.run([EDGEAE, "export", str(model), "--format", "onnx", "--precision",
                    "fp32,int8", "--out", str(export)], check=True)
    return {precision: export / f"model_{precision}.onnx" for precision in ("fp32", "int8")}


def verdict(rows: dict[str, dict]) -> dict:
    """The rule in the module docstring, from each scheme's measured row."""
    gains = {e: mean_drop(rows["moving"], "int8", e) - mean_drop(rows["cover"], "int8", e)
             for e in ENGINES}
    fp32 = {s: sum(rows[s]["psnr"]["fp32"]["onnxruntime"][f"validation {x}"] for x in SIGMAS)
            / len(SIGMAS) for s in rows}
    adopted = (all(g >= LEAST_GAIN_DB for g in gains.values())
               and fp32["moving"] - fp32["cover"] <= MOST_FP32_LOSS_DB)
    return {"int8_drop_gain_db": {e: round(g, 3) for e, g in gains.items()},
            "fp32_mean_db": {s: round(v, 3) for s, v in fp32.items()},
            "default": "cover" if adopted else "moving"}


def main() -> None:
    """Tune, export and measure each scheme; write the rows and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/qat_schemes.py", *sys.argv[1:]]))
    sets, _ = measurement_sets(args.data)
    rows = {}
    with tempfile.TemporaryDirectory() as work:
        for scheme in FAKE_QUANT_SCHEMES:
            files = tuned_files(args.data, scheme, Path(work))
            rows[scheme] = {"psnr": {precision: {engine: {
                part: round(mean_psnr(path, engine, pairs), 3) for part, pairs in sets.items()}
                for engine in ENGINES} for precision, path in files.items()}}
            print(scheme, rows[scheme], flush=True)
    write_result({"provenance": finished(run), "sigmas": list(SIGMAS), "set12_sigma": 25,
                  "engines": list(ENGINES), "schedule": list(SCHEDULE), "rows": rows,
                  "verdict": verdict(rows)}, args.out)


if __name__ == "__main__":
    main()
