"""Weight-space ensembles of a shipped model and its tuned version, one model directory per alpha.

WiSE-FT (Wortsman et al., CVPR 2022): theta(alpha) = (1 - alpha) * start + alpha * tuned.
Fine-tuning on a new noise (camera noise) moves a model away from what it did well (Gaussian
noise); interpolating the weights of the start and the tuned model keeps more of the first for a
part of the second, without training. Each alpha's directory is the tuned one's with its weights
replaced, ready for `edgeae export`; choose alpha on validation images, never on the test set.

An alpha may also be given per U-Net level, finest first, as `A0/A1/A2`: a layer of level k
(`levelk_*`, `downk`, `mergek_*`; the stem and the output head are level 0) is mixed with Ak.
Layer-wise mixing (as in the layer-wise variants of model soups) keeps the start's fine levels,
which carry the detail of Gaussian noise at low sigma, while the coarse ones take the tuning.

    .venv/bin/python benchmarks/wise_ft.py --start runtime/pretrained/quality_fp32.onnx \
        --tuned WORK/quality-camera --alphas 0.25,0.5,0.75,0/1/1 --out WORK/wise
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import numpy as np


def interpolated(start: list[np.ndarray], tuned: list[np.ndarray],
                 alphas: list[float]) -> list[np.ndarray]:
    """(1 - alpha) * start + alpha * tuned, weight by weight with its own alpha."""
    if [w.shape for w in start] != [w.shape for w in tuned]:
        sys.exit("the start and tuned models do not have the same weights")
    return [((1 - alpha) * a + alpha * b).astype(a.dtype)
            for a, b, alpha in zip(start, tuned, alphas, strict=True)]


def unet_level(layer_name: str) -> int:
    """The U-Net level a layer works at: k for `levelk_*`, `downk`, `mergek_*`, else 0."""
    match = re.match(r"(?:level|down|merge)(\d+)", layer_name)
    return int(match.group(1)) if match else 0


def weight_alphas(model, spec: str) -> list[float]:
    """One alpha for each weight: `spec` "0.75" everywhere, "0/1/1" per U-Net level."""
    per_level = [float(a) for a in spec.split("/")]
    alphas = []
    for layer in model.layers:
        level = unet_level(layer.name) if len(per_level) > 1 else 0
        if level >= len(per_level):
            sys.exit(f"{spec!r} gives {len(per_level)} levels; layer {layer.name} is level {level}")
        alphas += [per_level[level]] * len(layer.weights)
    return alphas


def main() -> None:
    """Write one model directory per alpha."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=Path, required=True, help="the fp32 ONNX file tuned from")
    parser.add_argument("--tuned", type=Path, required=True, help="the tuned model directory")
    parser.add_argument("--alphas", default="0.25,0.5,0.75",
                        help="comma-separated; each one alpha, or A0/A1/... per U-Net level")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import keras

    import edgeae.train  # noqa: F401 - registers the custom layers model.keras needs
    from edgeae.train.from_artifact import keras_from_onnx

    start, _ = keras_from_onnx(args.start, tolerance=1e-4)
    tuned = keras.saving.load_model(args.tuned / "model.keras", compile=False)
    start_weights, tuned_weights = start.get_weights(), tuned.get_weights()
    check_same_layout(start, tuned, start_weights)
    for spec in args.alphas.split(","):
        alphas = weight_alphas(tuned, spec)
        folder = args.out / f"alpha-{spec.replace('/', '-')}"
        shutil.copytree(args.tuned, folder)
        tuned.set_weights(interpolated(start_weights, tuned_weights, alphas))
        tuned.save(folder / "model.keras")
        print(f"alpha {spec}: {folder}")


def check_same_layout(start, tuned, start_weights: list[np.ndarray]) -> None:
    """The tuned model given the start's weights must compute what the start does (alpha 0)."""
    tuned_weights = tuned.get_weights()
    tuned.set_weights(interpolated(start_weights, tuned_weights, [0.0] * len(tuned_weights)))
    probe = np.random.default_rng(0).random((1, 64, 64, start.input_shape[-1]), np.float32)
    diff = float(np.abs(np.asarray(tuned(probe)) - np.asarray(start(probe))).max())
    tuned.set_weights(tuned_weights)
    if diff > 1e-5:
        sys.exit(f"the models' weights are not in the same order (alpha 0 differs by {diff:.2e})")


if __name__ == "__main__":
    main()
