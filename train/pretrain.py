r"""Train a blind Gaussian U-Net denoiser on any Keras backend: the recipe for a lent GPU.

`make pretrained` trains the shipped denoisers on this machine's CPUs through `edgeae train`
(tf.data, TensorFlow). A lent GPU machine has JAX but no TensorFlow, so this trains the same
registered U-Net with Keras's JAX backend: random patches of images held in memory, flipped and
rotated, with Gaussian noise of a sigma drawn per patch added on the GPU by a layer, and a cosine
learning rate over a time budget. It writes the U-Net's weights; back here,
`edgeae train denoiser ... --initial-weights W` turns them into a model directory to export.

    KERAS_BACKEND=jax python -m edgeae.train.pretrain --data train400/ --size small \
        --minutes 7 --out live.weights.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import keras
import numpy as np

from edgeae.core.data import Preprocess, load_data
from edgeae.train.callbacks import TimeCosineDecay
from edgeae.train.models import create_model, macs_per_pixel

log = logging.getLogger(__name__)
STEPS_PER_EPOCH = 200  # an epoch here is a logging and learning-rate step, not a data pass


class RandomPatches(keras.utils.PyDataset):
    """Endless batches of (clean, clean) random crops under a random flip and quarter turn."""

    def __init__(self, images: list[np.ndarray], patch: int, batch: int, seed: int,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.images, self.patch, self.batch = images, patch, batch
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return STEPS_PER_EPOCH

    def on_epoch_end(self) -> None:  # noqa: D102 - Keras hook: fresh crops every epoch
        self.epoch += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])  # thread-safe, repeatable
        out = np.empty((self.batch, self.patch, self.patch, self.images[0].shape[2]), np.float32)
        for k, i in enumerate(rng.integers(len(self.images), size=self.batch)):
            image = self.images[i]
            y = rng.integers(image.shape[0] - self.patch + 1)
            x = rng.integers(image.shape[1] - self.patch + 1)
            crop = np.rot90(image[y:y + self.patch, x:x + self.patch], rng.integers(4))
            out[k] = crop[:, ::-1] if rng.integers(2) else crop
        return out, out


@keras.saving.register_keras_serializable(package="edgeae")
class BlindGaussianNoise(keras.layers.Layer):
    """Adds Gaussian noise with a sigma (0-255 scale) drawn per image, in training only."""

    def __init__(self, low: float, high: float, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.low, self.high = low / 255.0, high / 255.0
        self.seeds = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):  # noqa: D102 - Keras layer API
        if not training:
            return x
        shape = keras.ops.shape(x)
        sigma = keras.random.uniform((shape[0], 1, 1, 1), self.low, self.high, seed=self.seeds)
        return x + sigma * keras.random.normal(shape, seed=self.seeds)


def held_out_pairs(images: list[np.ndarray], patch: int, sigma: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (noisy, clean) centre crops at one sigma, to watch validation PSNR."""
    rng = np.random.default_rng(seed)
    tops = [((im.shape[0] - patch) // 2, (im.shape[1] - patch) // 2) for im in images]
    clean = np.stack([im[y:y + patch, x:x + patch] for im, (y, x) in zip(images, tops)])
    noisy = clean + rng.normal(0, sigma / 255.0, clean.shape).astype(np.float32)
    return noisy, clean


def psnr(mse: float) -> float:
    """PSNR in dB of images in [0, 1] from their mean squared error."""
    return float(10 * np.log10(1.0 / mse))


def main(argv: list[str] | None = None) -> None:
    """Train and write `--out` weights plus a JSON summary beside them."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of clean training images")
    p.add_argument("--size", default="small", help="U-Net size (tiny|small|medium|large)")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--sigma", default="0-55", help="noise sigma range LO-HI on 0-255 (0-55)")
    p.add_argument("--patch", type=int, default=96)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, required=True, help="training time budget")
    p.add_argument("--val-images", type=int, default=20, help="images held out for PSNR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="NAME.weights.h5 to write")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keras.utils.set_random_seed(args.seed)

    source = load_data(args.data, Preprocess(channels=args.channels)).train
    order = np.random.default_rng(args.seed).permutation(len(source))
    val = [source.read(i) for i in order[:args.val_images]]
    train = [source.read(i) for i in order[args.val_images:]]
    low, high = (float(v) for v in args.sigma.split("-"))

    unet = create_model("unet", (args.patch, args.patch, args.channels), {"size": args.size})
    inputs = keras.Input((args.patch, args.patch, args.channels))
    model = keras.Model(inputs, unet(BlindGaussianNoise(low, high, args.seed)(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="mse")
    log.info("unet %s: %s parameters, %s MACs/pixel, %d training images", args.size,
             f"{unet.count_params():,}", f"{macs_per_pixel(unet):,.0f}", len(train))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        TimeCosineDecay(args.minutes, args.learning_rate, args.learning_rate / 100),
        keras.callbacks.CSVLogger(f"{args.out}.history.csv"),
        # the U-Net alone (not the noise wrapper), every epoch: a killed run still leaves weights
        keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: unet.save_weights(args.out)),
    ]
    start = time.monotonic()
    history = model.fit(RandomPatches(train, args.patch, args.batch, args.seed, workers=4),
                        validation_data=held_out_pairs(val, args.patch, 25.0, args.seed),
                        epochs=10**6, callbacks=callbacks, verbose=2)
    seconds = time.monotonic() - start
    epochs = len(history.history["loss"])
    summary = {"size": args.size, "backend": keras.backend.backend(), "seconds": round(seconds),
               "steps": epochs * STEPS_PER_EPOCH, "batch": args.batch, "patch": args.patch,
               "sigma": args.sigma, "train_images": len(train),
               "val_psnr_sigma25_db": psnr(history.history["val_loss"][-1]),
               "command": " ".join(["python -m edgeae.train.pretrain", *(argv or sys.argv[1:])])}
    Path(f"{args.out}.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s", summary)


if __name__ == "__main__":
    main()
