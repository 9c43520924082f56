"""`draem`: a discriminative anomaly detector (Zavrtanik et al., "DRAEM", ICCV 2021).

A reconstructive U-Net restores the normal image from a copy with synthetic anomalies pasted in
(train/anomalies.py); a segmentation U-Net reads the input beside that reconstruction and
predicts where the two disagree because of an anomaly. One graph, one output: the
reconstruction's channels and the mask (a probability per pixel) after them, so every engine
runs it as it runs the other models and the runtime reads the map from the last channel.
"""

from __future__ import annotations

import math

import keras

from edgeae.core.architectures import PRESETS, DraemConfig
from edgeae.train.models.registry import register_model
from edgeae.train.models.unet import unet_body

MASK_PRIOR = 0.05  # the mask starts near this probability (anomalies are rare) for calm training
FOCAL_GAMMA = 2.0  # DRAEM's focal loss


@register_model("draem")
def build_draem(config: DraemConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Reconstructive U-Net, then a segmentation U-Net on [input, reconstruction]."""
    c = image_shape[2]
    inputs = keras.Input((None, None, c), name="image")
    filters, n, stem = PRESETS[config.size]
    noise = unet_body(inputs, filters, n, stem, c)
    restored = keras.layers.Subtract(name="restored")([inputs, noise])
    pair = keras.layers.Concatenate(name="seg_inputs")([inputs, restored])
    filters, n, stem = PRESETS[config.segmentation]
    logits = unet_body(pair, filters, n, stem, 1, prefix="seg_", out_name="logits")
    prior = math.log(MASK_PRIOR / (1.0 - MASK_PRIOR))
    mask = keras.layers.Activation("sigmoid", name="mask")(
        keras.layers.Rescaling(1.0, offset=prior, name="seg_prior")(logits))
    outputs = keras.layers.Concatenate(name="reconstruction_and_mask")([restored, mask])
    return keras.Model(inputs, outputs, name=f"draem_{config.size}")


@keras.saving.register_keras_serializable(package="edgeae")
def draem_loss(y_true, y_pred):
    """Squared reconstruction error plus the focal loss of the mask (the last channel)."""
    restored = keras.ops.mean(keras.ops.square(y_true[..., :-1] - y_pred[..., :-1]), axis=-1)
    focal = keras.losses.binary_focal_crossentropy(
        y_true[..., -1:], y_pred[..., -1:], gamma=FOCAL_GAMMA)
    return restored + focal
