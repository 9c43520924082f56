"""The sweep behind the VAE's width (`hidden`, the Dense layer between convolutions and code).

For each dataset, a seeded 10% of x_train is held out as validation images; edgeae's `VAE`
(train/generative.py, the registered `vae`; 16-d code, Bernoulli likelihood, batch 64, Adam
1e-3, as benchmarks/generate.py) trains on the rest with each width, and the mean ELBO of the
held-out images (nats per image, higher is better) picks the width. x_test is never read.

    nice -n 19 .venv/bin/python benchmarks/vae_width.py --data ../shared/data \
        --out benchmarks/results/vae_width.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from provenance import provenance  # noqa: E402

DATASETS = {"fashion-mnist": "fashion_mnist.npz", "mnist-10k": "mnist_10k.npz"}
LATENT, BATCH, RATE, SEED = 16, 64, 1e-3, 0  # benchmarks/generate.py's
VAL_FRACTION = 0.1


def split(path: Path, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x_fit, x_val) float32 (N, 28, 28, 1) in [0, 1] from x_train alone (first `limit`)."""
    with np.load(path) as d:
        x = (d["x_train"].astype(np.float32) / 255.0)[..., None]
    if limit:
        x = x[:limit]
    val = np.random.default_rng(seed).permutation(len(x))[:int(len(x) * VAL_FRACTION)]
    mask = np.zeros(len(x), bool)
    mask[val] = True
    return x[~mask], x[mask]


def main() -> None:
    """Train one VAE per width and dataset; print and write the JSON."""
    from edgeae.train.generative import VAE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--limit", type=int, nargs="+", default=[20000, 0],
                        help="first N images of x_train per dataset, in --datasets order "
                             "(0: all; Fashion-MNIST's 20k subset is for time)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/vae_width.json"))
    args = parser.parse_args()
    result = {"provenance": provenance(" ".join(["python benchmarks/vae_width.py",
                                                  *sys.argv[1:]])),
              "split": "validation: a seeded 10% of x_train; x_test unread",
              "epochs": args.epochs, "datasets": {}}
    limits = dict(zip(args.datasets, args.limit + [0] * len(args.datasets)))
    for name in args.datasets:
        x_fit, x_val = split(args.data / DATASETS[name], limits[name], args.seed)
        rows = {}
        for width in args.widths:
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as work:
                vae = VAE(latent_dim=LATENT, hidden=width, epochs=args.epochs, batch_size=BATCH,
                          learning_rate=RATE, seed=args.seed).fit(x_fit, out=Path(work) / "vae")
                rows[str(width)] = {"val_elbo_nats": float(vae.elbo(x_val).mean()),
                                    "train_s": round(time.perf_counter() - start, 1)}
            print(f"{name} hidden {width}: validation ELBO {rows[str(width)]['val_elbo_nats']:.2f}"
                  f" ({rows[str(width)]['train_s']} s)", flush=True)
        best = max(rows, key=lambda w: rows[w]["val_elbo_nats"])
        result["datasets"][name] = {"fit_images": len(x_fit), "validation_images": len(x_val),
                                    "best_width": int(best), "widths": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)  # after each dataset
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
