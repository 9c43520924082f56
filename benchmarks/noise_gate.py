"""Choosing the Gaussian or the camera model per image by the kind of its noise.

`live` and `quality` learned Gaussian noise and leave a camera's grain as texture; `live-camera`
and `quality-camera` remove it but lose 0.1-0.3 dB on Gaussian noise and more on nearly clean
images. runtime/noise_kind.py tells white noise from correlated by the frame's own wavelet
spread at two scales (`scale_ratio`); this script measures what choosing by it gives: for each
pair (Gaussian model, camera model), every setting of benchmarks/camera_denoisers.py (camera
noise at each light level, JPEG, H.264; Gaussian 15, 25, 50) plus Gaussian 1, 2, 5, 10, 35 and
the camera's rendering without noise, each image's PSNR through either model and through the
one the gate picks at each cut on CUTS. The models take the noisy image as the protocol gives it
(unclipped floats for Gaussian noise); the gate measures its 8-bit rounding, as a file holds it.

`--images validation` (Train400's 40 held-out images) chooses the cut by the rule BENCHMARKS.md
gives: among cuts where no camera setting and no Gaussian setting of sigma 10 or more comes out
more than TOLERANCE dB below the better model of the pair, for both pairs, the one with the
highest mean over every setting and both pairs. `--images set12 --cut C` measures one cut on
the test set. Models run through onnxruntime (2 threads), each in the precision it ships in.

    .venv/bin/python benchmarks/noise_gate.py --data ../shared/data --images validation \
        --out benchmarks/results/noise_gate_validation.json
    .venv/bin/python benchmarks/noise_gate.py --data ../shared/data --images set12 --cut 1.9 \
        --out benchmarks/results/noise_gate.json
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from camera_denoisers import gaussian_noise, low_noise_settings, measured_images, settings
from denoise import runtime_denoiser
from provenance import finished, provenance, write_result
from skimage.metrics import peak_signal_noise_ratio

from edgeae.runtime.noise_kind import KIND_MEASURED_ON, WHERE, NoiseMeter
from edgeae.runtime.pretrained import DEFAULT_PRECISION, pretrained_path

PAIRS = (("live", "live-camera"), ("quality", "quality-camera"))
CUTS = (1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2)
TOLERANCE = 0.2  # dB below the better model of a pair, on the settings the rule guards
EXTRA_SIGMAS = (2, 5, 10, 35)
GUARDED_SIGMA = 10  # Gaussian settings from this sigma up are guarded; below, nearly clean


def all_settings(crf: int = 23) -> dict:
    """camera_denoisers' camera and low-noise settings, and Gaussian noise at EXTRA_SIGMAS."""
    found = settings(crf)
    found.update({f"gaussian {s}": gaussian_noise(s) for s in EXTRA_SIGMAS})
    found.update(low_noise_settings(crf))
    return found


def guarded(label: str, noise) -> bool:
    """The settings the rule guards: every camera setting, and Gaussian sigma >= GUARDED_SIGMA."""
    if getattr(noise, "camera", False) and label != "camera rendering, no noise":
        return True
    return label.startswith("gaussian ") and float(label.split()[1]) >= GUARDED_SIGMA


def per_image(clean: list[np.ndarray], noise, models: dict, where: str = KIND_MEASURED_ON) -> dict:
    """One setting: each image's ratio (on `where`), whole scale-1 spread and PSNR per model.

    The gate measures each noisy image's 8-bit rounding, as a file holds it.
    """
    noisy, meter = noise(clean, 0), NoiseMeter(where)
    rounded = [np.clip(np.rint(z), 0, 255).astype(np.uint8) for z in noisy]
    row = {"ratio": [meter.ratio(z) for z in rounded],
           "fine": [meter.spreads(z)[0] for z in rounded]}
    for name, denoise in models.items():
        row[name] = [peak_signal_noise_ratio(c, np.clip(denoise(z), 0, 255), data_range=255)
                     for c, z in zip(clean, noisy)]
    return row


def gated(row: dict, pair: tuple[str, str], cut: float) -> dict:
    """Mean PSNR of each model of the pair, of the gate's pick, and the share sent to camera."""
    to_camera = np.array(row["ratio"]) > cut
    picked = np.where(to_camera, row[pair[1]], row[pair[0]])
    return {pair[0]: float(np.mean(row[pair[0]])), pair[1]: float(np.mean(row[pair[1]])),
            "gated": float(np.mean(picked)), "to_camera": float(np.mean(to_camera))}


def cut_summary(rows: dict, guards: dict, cut: float) -> dict:
    """At one cut, per pair: each setting's means, the worst guarded shortfall, the mean."""
    summary = {}
    for pair in PAIRS:
        cells = {label: gated(row, pair, cut) for label, row in rows.items()}
        shortfall = min(c["gated"] - max(c[pair[0]], c[pair[1]])
                        for label, c in cells.items() if guards[label])
        summary[pair[0]] = {"settings": cells, "worst_guarded_db": shortfall,
                            "mean_db": float(np.mean([c["gated"] for c in cells.values()]))}
    return summary


def chosen_cut(by_cut: dict) -> float | None:
    """The rule: within TOLERANCE on every guarded setting for both pairs, then the best mean."""
    passing = {cut: np.mean([p["mean_db"] for p in s.values()]) for cut, s in by_cut.items()
               if all(p["worst_guarded_db"] >= -TOLERANCE for p in s.values())}
    return max(passing, key=passing.get) if passing else None


def gate_command(script: str, measures: bool = False) -> tuple[argparse.Namespace, dict]:
    """A gate benchmark's command line and its provenance.

    --data, --images, --cut and --out; --measure where `measures`.
    """
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--images", choices=("set12", "validation"), default="validation")
    parser.add_argument("--cut", type=float, help="measure this cut only (the test set)")
    parser.add_argument("--out", type=Path)
    if measures:
        parser.add_argument("--measure", choices=WHERE, default=KIND_MEASURED_ON,
                            help="the pixels the ratio is measured on (default: the runtime's)")
    args = parser.parse_args()
    return args, provenance(f"python benchmarks/{script} " + " ".join(sys.argv[1:]))


def measured_rows(args: argparse.Namespace, names: tuple[str, ...],
                  measure: Callable[[list, object, dict], dict]) -> tuple[dict, dict]:
    """({setting: measure(clean, noise, models)}, {setting: guarded?}) over every setting.

    The shipped models `names` run through onnxruntime, each in the precision it ships in.
    """
    clean, _ = measured_images(args.data, args.images)
    models = {name: runtime_denoiser(pretrained_path(name, "onnxruntime", DEFAULT_PRECISION[name]),
                                     "onnxruntime") for name in names}
    noises, rows = all_settings(), {}
    for label, noise in noises.items():
        rows[label] = measure(clean, noise, models)
        print(label, {k: round(float(np.mean(v)), 2) for k, v in rows[label].items()}, flush=True)
    return rows, {label: guarded(label, noise) for label, noise in noises.items()}


def main() -> None:
    """Measure every setting, then each cut (or the one given); write the results file."""
    args, run = gate_command("noise_gate.py", measures=True)
    rows, guards = measured_rows(args, tuple(name for pair in PAIRS for name in pair),
                                 functools.partial(per_image, where=args.measure))
    cuts = (args.cut,) if args.cut is not None else CUTS
    by_cut = {cut: cut_summary(rows, guards, cut) for cut in cuts}
    write_result({"provenance": finished(run), "images": args.images, "guarded": guards,
                  "measure": args.measure,
                  "precisions": {name: DEFAULT_PRECISION[name] for pair in PAIRS for name in pair},
                  "chosen_cut": chosen_cut(by_cut) if args.cut is None else None,
                  "cuts": {str(cut): s for cut, s in by_cut.items()}}, args.out)


if __name__ == "__main__":
    main()
