"""OpenVINO IR int8 of the shipped denoisers: NNCF with accuracy control, at each range rule.

`edgeae export --format openvino --precision int8` quantizes with NNCF and, where that costs
more than half the int8 gate's PSNR budget on the calibration images, gives layers back to
float until it does not (export/openvino.py). Its activation ranges follow `--int8-ranges`
since 2026-12-03; before, they were NNCF's default, the mean of each input's extremes (the rule
`mean` reproduces). For `live` and `live-camera`, each model's fp32 ONNX file is rebuilt in
Keras and converted by the export's own OpenVINO converter on int8_ranges.py's calibration (the
200 covering crops, with the model's own training noise and the clean crops as the accuracy
control's targets), once per rule, on this CPU (with NNCF's overflow fix where its int8 sums
saturate, as the export does). Measured beside fp32 and the shipped int8 ONNX file, all through
OpenVINO: the PSNR drop from fp32 on int8_ranges.py's validation images at Gaussian sigma 5-55
and on Set12 (test) at sigma 25, and ms per 640x480 gray frame (interleaved rounds).

    .venv/bin/python benchmarks/int8_ir.py --data ../shared/data --out results.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from int8_ranges import SIGMAS, interleaved_ms, mean_psnr, measurement_sets
from provenance import finished, provenance, write_result

from edgeae.export.artifacts import model_inputs, restored_targets
from edgeae.export.onnx import ACTIVATION_RANGES
from edgeae.export.openvino import OpenVINOConverter
from edgeae.export.options import Calibration, ExportOptions
from edgeae.runtime.backends import int8_sums_saturate
from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.from_artifact import keras_from_onnx

NAMES = ("live", "live-camera")
ENGINE = "openvino"


def measure(name: str, crops, sets: dict, folder: Path) -> dict:
    """fp32, the shipped int8 ONNX file and the IR at each range rule: PSNR per set, and ms."""
    model, manifest = keras_from_onnx(PRETRAINED_DIR / f"{name}_fp32.onnx", 1e-4)
    options = ExportOptions()
    inputs = model_inputs(crops, manifest, options.seed)
    targets = restored_targets(crops, manifest)
    converter = OpenVINOConverter(model, (None, None, 1), options)
    files = {"fp32": PRETRAINED_DIR / f"{name}_fp32.onnx",
             "int8 ONNX (shipped)": PRETRAINED_DIR / f"{name}_int8.onnx"}
    seconds = {}
    for ranges in ACTIVATION_RANGES:
        began = time.monotonic()
        converted = converter.convert("int8", Calibration(inputs, targets, ranges=ranges))
        seconds[ranges] = round(time.monotonic() - began, 1)
        files[f"IR {ranges}"] = converted.write_to(folder / f"{name}_{ranges}.xml")
    psnr = {label: {part: round(mean_psnr(path, ENGINE, pairs), 3)
                    for part, pairs in sets.items()} for label, path in files.items()}
    ms = interleaved_ms(files, ENGINE)
    print(name, psnr, ms, seconds, flush=True)
    return {"model": name, "psnr": psnr, "ms_p50": ms, "quantize_seconds": seconds}


def measure_all(data: Path) -> dict:
    """The result's fields: each model's row, and what every row shares."""
    sets, crops = measurement_sets(data)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(name, crops, sets, Path(tmp)) for name in NAMES]
    return {"sigmas": list(SIGMAS), "set12_sigma": 25, "engine": ENGINE,
            "calibration": len(crops), "overflow_fix": int8_sums_saturate(), "rows": rows}


def main() -> None:
    """Measure each model; write the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    run = provenance(" ".join(["python benchmarks/int8_ir.py", *sys.argv[1:]]))
    fields = measure_all(args.data)
    write_result({"provenance": finished(run), **fields}, args.out)


if __name__ == "__main__":
    main()
