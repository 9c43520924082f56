"""int8-bf16: the OpenVINO int8 IR with its float layers in bfloat16, at each accuracy share.

`edgeae export --format openvino --precision int8` quantizes with NNCF under accuracy control:
layers go back to float until quantizing costs at most a share of the int8 gate's PSNR budget on
the calibration images (export/openvino.py ACCURACY_SHARES). In float32 those layers took most of
the frame's time on a CPU with AMX; `--precision int8-bf16` computes them in bfloat16 instead,
which NNCF's accuracy control (it measures in float32) does not see. This script makes each
model's IR at both precisions (int8's share, 0.5, and int8-bf16's, 0.25) with the export's own
converter on int8_ranges.py's calibration, and runs each under both inference precisions (the
IR's recorded hint swapped in a copy), beside the fp32 ONNX file and the shipped int8 ONNX file,
all through OpenVINO on 2 threads: the PSNR drop from fp32 on int8_ranges.py's validation images
(40 held-out Train400 images at Gaussian sigma 5-55) and on Set12 (test) at sigma 25, and ms per
640x480 gray frame (interleaved rounds).

The rule, written before the first run (2026-12-05 03:56 UTC) and applied to `live`: int8-bf16
ships at the share whose IR, under the bf16 hint, loses at most 0.10 dB from fp32 on the mean
over the validation noise levels; if both do, the faster; Set12 is reported, never used to
choose. `--models live-camera,quality` then checks the chosen share on models the rule never
saw (each row reports what the rule would pick for it; the export keeps live's choice).

    .venv/bin/python benchmarks/int8_bf16.py --data ../shared/data --out results.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from bf16 import exported_irs
from int8_ranges import SIGMAS, interleaved_ms, mean_psnr, measurement_sets
from provenance import finished, provenance, write_result

from edgeae.export.openvino import ACCURACY_SHARES
from edgeae.runtime.backends import OPENVINO_PRECISION_HINT, cpu_capabilities
from edgeae.runtime.pretrained import PRETRAINED_DIR

NAMES = ("live", "live-camera", "quality")  # gray U-Nets whose fp32 and int8 ONNX files ship
ENGINE = "openvino"
RULE_DB = 0.10  # the largest mean validation drop the rule accepts
HINTS = ("f32", "bf16")


def rehinted(path: Path, hint: str, out: Path) -> Path:
    """A copy of the IR at `path` recording `hint` as its inference precision."""
    import openvino as ov

    model = ov.Core().read_model(path)
    model.set_rt_info(hint, OPENVINO_PRECISION_HINT)
    ov.save_model(model, out, compress_to_fp16=False)
    return out


def files_for(name: str, crops: np.ndarray, folder: Path) -> dict[str, Path]:
    """fp32, the shipped int8 ONNX file, and each IR precision under each hint."""
    files = {"fp32": PRETRAINED_DIR / f"{name}_fp32.onnx",
             "int8 ONNX (shipped)": PRETRAINED_DIR / f"{name}_int8.onnx"}
    for precision, path in exported_irs(name, folder, crops, ("int8", "int8-bf16")).items():
        for hint in HINTS:
            files[label(precision, hint)] = rehinted(path, hint,
                                                     folder / f"{name}_{precision}_{hint}.xml")
    return files


def label(precision: str, hint: str) -> str:
    """A row's name: the IR's precision, its share and the hint it ran under."""
    return f"IR {precision} (share {ACCURACY_SHARES[precision]}), {hint}"


def measure(name: str, crops: np.ndarray, sets: dict, folder: Path) -> dict:
    """PSNR per set and ms of every file of one model."""
    files = files_for(name, crops, folder)
    psnr = {key: {part: round(mean_psnr(path, ENGINE, pairs), 3)
                  for part, pairs in sets.items()} for key, path in files.items()}
    ms = interleaved_ms(files, ENGINE)
    print(name, psnr, ms, flush=True)
    return {"model": name, "psnr": psnr, "ms_p50": ms}


def drops(row: dict, key: str) -> dict[str, float]:
    """fp32's PSNR minus file `key`'s: the mean over the validation levels, and Set12's."""
    psnr, fp32 = row["psnr"][key], row["psnr"]["fp32"]
    levels = [fp32[f"validation {s}"] - psnr[f"validation {s}"] for s in SIGMAS]
    return {"validation_mean": round(float(np.mean(levels)), 3),
            "validation_max": round(max(levels), 3),
            "set12": round(fp32["set12 25"] - psnr["set12 25"], 3)}


def choice(row: dict) -> str | None:
    """The rule in the module docstring: the precision whose share int8-bf16 should take."""
    passing = [p for p in ("int8", "int8-bf16")
               if drops(row, label(p, "bf16"))["validation_mean"] <= RULE_DB]
    return min(passing, key=lambda p: row["ms_p50"][label(p, "bf16")], default=None)


def main() -> None:
    """Measure each model; write the rows and the rule's verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--models", type=lambda t: tuple(t.split(",")), default=("live",),
                        help=f"comma-separated, of {', '.join(NAMES)} (default live)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not set(args.models) <= set(NAMES):
        parser.error(f"--models: choose from {', '.join(NAMES)}")
    if "BF16" not in cpu_capabilities():
        sys.exit("this CPU has no AVX512_BF16 or AMX: int8-bf16 cannot be computed here")
    run = provenance(" ".join(["python benchmarks/int8_bf16.py", *sys.argv[1:]]))
    sets, crops = measurement_sets(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(name, crops, sets, Path(tmp)) for name in args.models]
    for row in rows:
        row["drops"] = {key: drops(row, key) for key in row["psnr"] if key != "fp32"}
        chosen = choice(row)
        row["chosen_share"] = None if chosen is None else ACCURACY_SHARES[chosen]
    write_result({"provenance": finished(run), "sigmas": list(SIGMAS), "set12_sigma": 25,
                  "engine": ENGINE, "rule_db": RULE_DB, "calibration": len(crops),
                  "rows": rows}, args.out)


if __name__ == "__main__":
    main()
