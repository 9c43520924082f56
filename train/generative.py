"""Generation: a variational autoencoder to fit, sample, interpolate and score in nats.

    >>> vae = VAE(latent_dim=16, epochs=30).fit(images, out="vae_dir")
    >>> vae.sample(64, seed=0)              # (64, H, W, C) images in [0, 1]
    >>> vae.interpolate(a, b, steps=10)     # a spherical path between two images' codes
    >>> vae.elbo(test)                      # per-image evidence lower bound, nats
    >>> vae.log_likelihood(test, k=500)     # importance-weighted bound (IWAE), tighter

Likelihoods are per image over all pixels of the [0, 1] image: Bernoulli (the usual
convention for MNIST-like data, though pixels are grey levels) or Gaussian with the model's
fixed sigma (a density, so it depends on the pixel scale). Codes are decoded in batches.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from edgeae.core.architectures import LOSS_OF, VAEConfig
from edgeae.core.errors import UserError
from edgeae.core.modeldir import ModelDir
from edgeae.runtime.generator import check_steps, prior_codes, slerp, traverse_codes
from edgeae.train.detector import array_source, as_images
from edgeae.train.keras_backend import load_keras

BATCH = 256
LOG_2PI = math.log(2 * math.pi)


class VAE:
    """A convolutional VAE (the registered `vae` model) with sampling and likelihood bounds."""

    def __init__(self, latent_dim: int = 16, filters: tuple[int, ...] = (32, 64),
                 hidden: int = 256, likelihood: str = "bernoulli", beta: float = 1.0,
                 kl_warmup_epochs: int = 0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, seed: int = 0) -> None:
        self.config = VAEConfig(latent_dim=latent_dim, filters=filters, hidden=hidden,
                                likelihood=likelihood, beta=beta,
                                kl_warmup_epochs=kl_warmup_epochs)
        self.epochs, self.batch_size = epochs, batch_size
        self.learning_rate, self.seed = learning_rate, seed
        self.model_dir: ModelDir | None = None
        self._model = None

    def fit(self, x: np.ndarray, out: str | Path | None = None, overwrite: bool = False,
            verbose: int = 0) -> VAE:
        """Train on images (N, H, W[, C]) into the model directory `out` (temporary if None)."""
        from edgeae.train.fit import TrainSettings, train

        out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="edgeae-vae-"))
        settings = TrainSettings(
            task="vae", architecture="vae", params=self.config.model_dump(mode="json"),
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
            loss=LOSS_OF[self.config.likelihood], seed=self.seed, patience=max(5, self.epochs))
        train(array_source(x), out, settings, overwrite=overwrite, verbose=verbose)
        return self._open(out)

    @classmethod
    def load(cls, model_dir: str | Path) -> VAE:
        """A trained VAE from its model directory; another task's model is a one-line error."""
        return cls()._open(Path(model_dir))

    def _open(self, path: Path) -> VAE:
        md = ModelDir.open(path)
        if md.manifest.task != "vae":
            raise UserError(f"{path} is a model for task {md.manifest.task!r}, not a VAE; train "
                            "one with `edgeae train vae`")
        self.model_dir, self.config = md, md.manifest.params
        self._model = load_keras(md)
        return self

    @property
    def latent_dim(self) -> int:
        """Numbers in a code."""
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images the model makes."""
        return tuple(self._fitted().input_shape[1:])

    def _fitted(self):
        if self._model is None:
            raise RuntimeError("this VAE is not fitted yet: call fit(X) or VAE.load()")
        return self._model

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The code distribution of each image: (mean, log-variance), each (N, latent_dim)."""
        encoder = self._fitted().get_layer("encoder")
        x = as_images(x)
        shape = tuple(encoder.inputs[0].shape[1:])
        if x.shape[1:] != shape:  # Keras's own error took many lines
            raise UserError(f"images must be (N, {', '.join(map(str, shape))}) as this VAE was "
                            f"trained (N, H, W for gray ones), got {x.shape}")
        parts = [encoder(x[i:i + BATCH], training=False) for i in range(0, len(x), BATCH)]
        return (np.concatenate([np.asarray(m) for m, _ in parts]),
                np.concatenate([np.asarray(v) for _, v in parts]))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Images (N, H, W, C) in [0, 1]: the likelihood's mean for each code."""
        decoder = self._fitted().get_layer("decoder")
        z = np.asarray(z, np.float32)
        return np.concatenate([np.asarray(decoder(z[i:i + BATCH], training=False))
                               for i in range(0, len(z), BATCH)])

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Each image decoded from its code's mean."""
        return self.decode(self.encode(x)[0])

    def sample(self, n: int, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """`n` new images from codes drawn from the prior N(0, temperature^2)."""
        return self.decode(prior_codes(n, self.config.latent_dim, seed, temperature))

    def interpolate(self, a: np.ndarray, b: np.ndarray, steps: int = 10) -> np.ndarray:
        """`steps` images on the spherical path from image `a`'s code to image `b`'s."""
        check_steps(steps)
        means = self.encode(np.stack([as_images(a[None])[0], as_images(b[None])[0]]))[0]
        return self.decode(slerp(means[0], means[1], np.linspace(0.0, 1.0, steps)))

    def traverse(self, dim: int, steps: int = 9, span: float = 3.0) -> np.ndarray:
        """Images as code dimension `dim` goes from -span to span, the others at 0."""
        return self.decode(traverse_codes(self.config.latent_dim, dim, steps, span))

    def log_likelihood_of(self, x: np.ndarray, means: np.ndarray) -> np.ndarray:
        """The log-likelihood log p(x | z) in nats of images (N, ...) given decoded means."""
        axes = tuple(range(1, x.ndim))
        if self.config.likelihood == "bernoulli":
            m = np.clip(means.astype(np.float64), 1e-7, 1 - 1e-7)
            return np.sum(x * np.log(m) + (1 - x) * np.log1p(-m), axis=axes)
        s = self.config.gaussian_sigma
        return np.sum(-0.5 * ((x - means) / s) ** 2 - math.log(s) - 0.5 * LOG_2PI, axis=axes)

    def elbo(self, x: np.ndarray, samples: int = 1, seed: int = 0) -> np.ndarray:
        """Per-image evidence lower bound in nats: E_q[log p(x|z)] - KL(q(z|x) || p(z)).

        The KL is exact; the expectation averages `samples` reparameterised codes.
        """
        x = as_images(x).astype(np.float64)
        mean, logvar = self.encode(x)
        kl = 0.5 * np.sum(mean ** 2 + np.exp(logvar) - 1.0 - logvar, axis=1)
        rng = np.random.default_rng(seed)
        expected = np.zeros(len(x))
        for _ in range(samples):
            z = mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape)
            expected += self.log_likelihood_of(x, self.decode(z)) / samples
        return expected - kl

    def log_likelihood(self, x: np.ndarray, k: int = 500, seed: int = 0) -> np.ndarray:
        """Per-image importance-weighted bound on log p(x) with `k` samples (Burda et al.).

        log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x); it tightens towards log p(x)
        as k grows, and equals the ELBO's estimate at k = 1.
        """
        x = as_images(x).astype(np.float64)
        mean, logvar = self.encode(x)
        rng = np.random.default_rng(seed)
        out = np.empty(len(x))
        for i in range(len(x)):
            eps = rng.standard_normal((k, mean.shape[1]))
            z = mean[i] + np.exp(0.5 * logvar[i]) * eps
            log_q = np.sum(-0.5 * (eps ** 2 + logvar[i] + LOG_2PI), axis=1)
            log_prior = np.sum(-0.5 * (z ** 2 + LOG_2PI), axis=1)
            decoded = self.decode(z)
            log_px = self.log_likelihood_of(np.broadcast_to(x[i], decoded.shape), decoded)
            w = log_px + log_prior - log_q
            out[i] = np.logaddexp.reduce(w) - math.log(k)
        return out
