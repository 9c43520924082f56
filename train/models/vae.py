"""`vae`: a convolutional variational autoencoder that learns a smooth latent space to sample.

The encoder maps an image to the mean and log-variance of a Gaussian over the latent code; the
`Sampling` layer draws a code by the reparameterisation trick (its mean when not training) and
adds the KL divergence to the standard normal prior as a layer loss; the decoder maps a code to
the mean of the image's likelihood: Bernoulli (binary cross-entropy, images in [0, 1]) or
Gaussian with a fixed sigma (mean squared error). Training minimises the negative ELBO per pixel:
the compiled reconstruction loss plus beta * KL / pixels (scaled by 2 sigma^2 for the Gaussian,
whose MSE lacks the 1 / 2 sigma^2). Encoder and decoder are sub-models named "encoder" and
"decoder", so each can be used (and exported) on its own.
"""

from __future__ import annotations

import keras

from edgeae.core.architectures import VAEConfig
from edgeae.train.models.registry import register_model


@keras.saving.register_keras_serializable(package="edgeae")
class Sampling(keras.layers.Layer):
    """Draw z = mean + exp(logvar / 2) * eps while training (the mean otherwise); add the KL.

    `kl_weight` (a non-trainable weight, 1 by default) is what KL warm-up ramps, in training
    only: validation always counts the whole KL (and decodes the code's mean), so its loss
    stays comparable across epochs, which checkpoints and early stopping rely on.
    """

    def __init__(self, kl_scale: float = 1.0, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kl_scale = kl_scale
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape) -> None:  # noqa: D102 - Keras layer API
        self.kl_weight = self.add_weight(shape=(), initializer="ones", trainable=False,
                                         name="kl_weight")

    def call(self, inputs, training=None):  # noqa: D102 - Keras layer API
        mean, logvar = inputs
        kl = 0.5 * keras.ops.sum(keras.ops.square(mean) + keras.ops.exp(logvar) - 1.0 - logvar,
                                 axis=-1)
        weight = self.kl_weight if training else 1.0
        self.add_loss(weight * self.kl_scale * keras.ops.mean(kl))
        if not training:
            return mean
        eps = keras.random.normal(keras.ops.shape(mean), seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * logvar) * eps

    def compute_output_shape(self, shapes):  # noqa: D102
        return shapes[0]

    def get_config(self) -> dict:  # noqa: D102
        return {**super().get_config(), "kl_scale": self.kl_scale, "seed": self.seed}


def build_encoder(config: VAEConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Stride-2 convolutions, then Dense layers to the code's mean and log-variance."""
    inputs = keras.Input(image_shape, name="image")
    x = inputs
    for f in config.filters:
        x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(config.hidden, activation="relu")(x)
    mean = keras.layers.Dense(config.latent_dim, name="z_mean")(x)
    logvar = keras.layers.Dense(config.latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [mean, logvar], name="encoder")


def build_decoder(config: VAEConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Dense up to the smallest feature map, then stride-2 transposed convolutions to the image."""
    h, w, c = image_shape
    m = config.size_multiple()
    filters = config.filters[::-1]
    z = keras.Input((config.latent_dim,), name="z")
    x = keras.layers.Dense(config.hidden, activation="relu")(z)
    x = keras.layers.Dense((h // m) * (w // m) * filters[0], activation="relu")(x)
    x = keras.layers.Reshape((h // m, w // m, filters[0]))(x)
    for f in filters:
        x = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")(x)
    mean = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="image_mean")(x)
    return keras.Model(z, mean, name="decoder")


@register_model("vae")
def build_vae(config: VAEConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Conv encoder -> Sampling (+ KL) -> conv decoder; a fixed image size."""
    h, w, c = image_shape
    encoder = build_encoder(config, image_shape)
    decoder = build_decoder(config, image_shape)
    inputs = keras.Input(image_shape, name="image")
    mean, logvar = encoder(inputs)
    z = Sampling(config.kl_scale(h * w * c), name="sampling")([mean, logvar])
    outputs = keras.layers.Identity(name="reconstruction")(decoder(z))
    return keras.Model(inputs, outputs, name="vae")
