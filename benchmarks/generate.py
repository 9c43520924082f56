"""Generation quality of edgeae's VAE against pythae's VAE, side by side in one run.

For each dataset (Fashion-MNIST, MNIST-10k: ../shared/data), both VAEs train on x_train for the
same epochs (Bernoulli likelihood, 16-d code, batch 64, Adam 1e-3):

- edgeae: the registered `vae` (conv encoder 32/64, conv decoder), `edgeae.train.generative.VAE`;
- pythae 0.1.2: its `VAE` with its default MLP encoder and decoder (pythae's conv networks
  for MNIST, 128 to 1024 channels, are beyond this CPU's budget), BCE reconstruction loss.

Reported on the test split: the ELBO (one sample per image), and on its first --iwae-images
images (for time) the ELBO again and the importance-weighted bound with k = 500 samples, in nats
per image;
and a Frechet distance between 10,000 generated images and the test images in the 128-d
penultimate layer of a small CNN classifier trained here on x_train (fixed seed, 3 epochs), with
the distance between x_train images and the test images as the floor. Sample and
interpolation grids are written as PNGs.

    python benchmarks/generate.py --data ../shared/data --epochs 10 \
        --out benchmarks/results/generate.json --grids benchmarks/results/generate
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy import linalg  # noqa: E402

DATASETS = {"fashion-mnist": "fashion_mnist.npz", "mnist-10k": "mnist_10k.npz"}
LATENT, BATCH, RATE, SEED = 16, 64, 1e-3, 0
N_GENERATED = 10_000


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x_train, y_train, x_test as float32 (N, 28, 28, 1) in [0, 1] (labels as they are)."""
    d = np.load(path)
    unit = [(d[k].astype(np.float32) / 255.0)[..., None] for k in ("x_train", "x_test")]
    return unit[0], d["y_train"], unit[1]


def train_classifier(x: np.ndarray, y: np.ndarray):
    """A small CNN classifier and its 128-d feature extractor (the Frechet space)."""
    import keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    features = keras.layers.Dense(128, activation="relu", name="features")(h)
    outputs = keras.layers.Dense(int(y.max()) + 1, activation="softmax")(features)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=128, verbose=0)
    return model, keras.Model(inputs, features)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (as FID computes it)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(root)))


def edgeae_vae(x_train: np.ndarray, x_test: np.ndarray, epochs: int, iwae_images: int,
               work: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """Train edgeae's VAE; its bounds, 10,000 samples and an interpolation row."""
    from edgeae.train.generative import VAE

    start = time.perf_counter()
    vae = VAE(latent_dim=LATENT, epochs=epochs, batch_size=BATCH, learning_rate=RATE,
              seed=SEED).fit(x_train, out=work / "edgeae-vae", overwrite=True)
    seconds = time.perf_counter() - start
    subset = x_test[:iwae_images]
    result = {"train_seconds": round(seconds, 1),
              "test_elbo_nats": float(vae.elbo(x_test).mean()),
              "subset_elbo_nats": float(vae.elbo(subset).mean()),
              "subset_iwae500_nats": float(vae.log_likelihood(subset, 500).mean())}
    return result, vae.sample(N_GENERATED, seed=SEED), vae.interpolate(x_test[0], x_test[1], 10)


def pythae_vae(x_train: np.ndarray, x_test: np.ndarray, epochs: int, iwae_images: int,
               work: Path) -> tuple[dict, np.ndarray]:
    """Train pythae's VAE (default MLP networks); its bounds and 10,000 samples."""
    import torch
    from pythae.models import VAE, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.samplers import NormalSampler
    from pythae.trainers import BaseTrainerConfig

    torch.manual_seed(SEED)
    to_torch = lambda a: torch.from_numpy(np.moveaxis(a, -1, 1).copy())  # noqa: E731 NCHW
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"))
    config = BaseTrainerConfig(output_dir=str(work / "pythae"), num_epochs=epochs,
                               per_device_train_batch_size=BATCH, learning_rate=RATE,
                               seed=SEED, no_cuda=True)
    n_val = len(x_train) // 10  # edgeae also holds out 10% for validation
    start = time.perf_counter()
    TrainingPipeline(training_config=config, model=model)(
        train_data=to_torch(x_train[n_val:]), eval_data=to_torch(x_train[:n_val]))
    seconds = time.perf_counter() - start
    model.eval()
    subset = to_torch(x_test[:iwae_images])
    result = {"train_seconds": round(seconds, 1),
              "test_elbo_nats": _pythae_elbo(model, to_torch(x_test)),
              "subset_elbo_nats": _pythae_elbo(model, subset),
              "subset_iwae500_nats": float(model.get_nll(subset, 500))}
    samples = NormalSampler(model).sample(num_samples=N_GENERATED, batch_size=1000)
    return result, np.moveaxis(samples.numpy(), 1, -1)


def _pythae_elbo(model, test) -> float:
    """Mean per-image ELBO (one sample) of a pythae VAE: its loss is the negative ELBO sum."""
    import torch
    from pythae.data.datasets import DatasetOutput

    with torch.no_grad():
        total = 0.0
        for i in range(0, len(test), 1000):
            batch = test[i:i + 1000]
            total += float(model(DatasetOutput(data=batch)).loss) * len(batch)
    return -total / len(test)


def grid(images: np.ndarray, columns: int) -> np.ndarray:
    """uint8 grid of (N, 28, 28, 1) images in [0, 1]."""
    from edgeae.core.images import tile_grid

    rows = [list(images[i:i + columns]) for i in range(0, len(images), columns)]
    return tile_grid(rows, pad=1)


def bench(name: str, path: Path, epochs: int, iwae_images: int, work: Path,
          grids: Path | None) -> dict:
    """Both VAEs on one dataset, with the classifier's Frechet distances."""
    import cv2

    x_train, y_train, x_test = load(path)
    classifier, features = train_classifier(x_train, y_train)
    embed = lambda x: features.predict(x, batch_size=512, verbose=0)  # noqa: E731
    test_features = embed(x_test)
    floor_images = x_train[np.random.default_rng(SEED).permutation(len(x_train))[:N_GENERATED]]
    result = {"train_images": len(x_train), "test_images": len(x_test),
              "frechet_floor_train_vs_test": frechet(embed(floor_images), test_features)}
    ours, samples, path_row = edgeae_vae(x_train, x_test, epochs, iwae_images, work)
    result["edgeae"] = {**ours, "frechet": frechet(embed(samples), test_features)}
    print(name, "edgeae", result["edgeae"], flush=True)
    theirs, pythae_samples = pythae_vae(x_train, x_test, epochs, iwae_images, work)
    result["pythae"] = {**theirs, "frechet": frechet(embed(pythae_samples), test_features)}
    print(name, "pythae", result["pythae"], flush=True)
    if grids is not None:
        grids.mkdir(parents=True, exist_ok=True)
        for who, images in (("edgeae", samples), ("pythae", pythae_samples)):
            cv2.imwrite(str(grids / f"{name}-{who}-samples.png"), grid(images[:64], 8))
        cv2.imwrite(str(grids / f"{name}-edgeae-interpolation.png"), grid(path_row, 10))
    return result


def main() -> None:
    """Parse arguments, run both datasets, print and write the JSON."""
    from provenance import finished, provenance, write_result  # benchmarks/provenance.py

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--iwae-images", type=int, default=1000)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/generate-work"))
    parser.add_argument("--grids", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generate.json"))
    args = parser.parse_args()
    run = provenance()
    results = {name: bench(name, args.data / DATASETS[name], args.epochs, args.iwae_images,
                           args.work / name, args.grids) for name in args.datasets}
    results["run"] = {**finished(run), "epochs": args.epochs, "iwae_images": args.iwae_images}
    write_result(results, args.out)


if __name__ == "__main__":
    main()
