"""A camera's noise, from sensor to JPEG: what a real camera does to a clean image.

Additive Gaussian noise is not what a camera delivers. Here a clean sRGB image (float in [0, 1],
HxWx3 RGB or HxWx1 gray) goes through the steps of a camera pipeline:

1. the sRGB tone curve undone (linear light), the colour correction undone (a fixed matrix from
   sensor colours to sRGB, rows summing to 1, of the kind Brooks et al. use to "unprocess"
   images, CVPR 2019), white balance undone (the sensor sees less red and blue than the
   picture shows);
2. an RGGB Bayer mosaic: one colour per pixel;
3. photon shot noise, Poisson with `peak` photons for a white pixel, plus Gaussian read noise of
   `read` (0-255 scale): in the raw mosaic a pixel of linear value v has variance
   v / peak + (read / 255)^2 (before clipping to the sensor's [0, 1]);
4. OpenCV's demosaicing (bilinear, `COLOR_BayerBG2RGB`: OpenCV names a pattern by its second
   row, so this reads an RGGB mosaic), which correlates the noise of neighbouring pixels and
   of the colour channels;
5. white balance, colour correction and the sRGB tone curve back: the matrix mixes the channels'
   noise (it correlates them) and the curve makes the noise depend on brightness in the picture,
   not only in the sensor;
6. optionally JPEG at `jpeg` quality (OpenCV, 4:2:0), which smears the noise into 8x8 blocks;
7. gray images are converted back to gray (as a user converts a colour camera's frames).

Light levels are presets of (peak, read): `bright` 2000 photons and 0.5, `indoor` 400 and 1.5,
`dim` 80 and 3, `night` 20 and 6. Randomness comes from a numpy Generator, so a seed gives the
same noise; the parameters may be ranges, drawn per image (the photon peak log-uniformly, as
light levels span orders of magnitude).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

# light level -> (photons at white, read noise sigma on the 0-255 scale)
PRESETS: dict[str, tuple[float, float]] = {"bright": (2000.0, 0.5), "indoor": (400.0, 1.5),
                                           "dim": (80.0, 3.0), "night": (20.0, 6.0)}
WHITE_BALANCE = ((1.9, 2.4), (1.5, 1.9))  # red and blue gains drawn per image (daylight..indoor)
# sensor RGB -> linear sRGB; its inverse takes an image back to what the sensor saw
COLOR_CORRECTION = np.array([[1.70, -0.55, -0.15], [-0.25, 1.55, -0.30], [0.05, -0.55, 1.50]],
                            np.float32)
_TO_SENSOR = np.linalg.inv(COLOR_CORRECTION).astype(np.float32)
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # OpenCV's RGB -> gray


@dataclass(frozen=True)
class CameraNoise:
    """One camera: photon peak, read noise and JPEG quality as (low, high) ranges per image."""

    peak: tuple[float, float]
    read: tuple[float, float]
    jpeg: tuple[float, float] | None = None  # None: no compression

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy copies of float images in [0, 1] (NHWC, 1 or 3 channels), float32 in [0, 1]."""
        return np.stack([self.one(image, rng) for image in images])

    def one(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One HxWxC image through the pipeline, with parameters drawn from `rng`."""
        gains = np.array([rng.uniform(*WHITE_BALANCE[0]), 1.0, rng.uniform(*WHITE_BALANCE[1])],
                         np.float32)
        peak = float(np.exp(rng.uniform(np.log(self.peak[0]), np.log(self.peak[1]))))
        read = rng.uniform(*self.read) / 255.0
        out = develop(image, gains, lambda raw: sensor_noise(raw, peak, read, rng))
        if self.jpeg is not None:
            out = jpeg_roundtrip(out, int(round(rng.uniform(*self.jpeg))))
        return as_channels_of(out, image)


def develop(image: np.ndarray, gains: np.ndarray,
            expose: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """An HxWxC image to the camera's sRGB RGB: `expose` turns the clean mosaic into the raw."""
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    sensor = np.clip(srgb_to_linear(np.clip(rgb, 0.0, 1.0)) @ _TO_SENSOR.T, 0.0, 1.0)
    linear = (demosaic(expose(mosaic(sensor / gains))) * gains) @ COLOR_CORRECTION.T
    return linear_to_srgb(np.clip(linear, 0.0, 1.0))


def as_channels_of(rgb: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The camera's RGB output with `image`'s channels (back to gray for a gray image)."""
    return (rgb @ GRAY_WEIGHTS)[..., None] if image.shape[-1] == 1 else rgb


def rendering(images: np.ndarray) -> np.ndarray:
    """Clean NHWC images in [0, 1] as the camera renders them without noise or compression.

    What is left of the pipeline is its demosaicing blur (white balance cancels: bilinear
    demosaicing interpolates each colour from its own samples). A denoiser trained to give this
    back (`train denoiser --camera-truth rendered`) learns the camera's noise, not its blur.
    """
    unit = np.ones(3, np.float32)
    return np.stack([as_channels_of(develop(image, unit, lambda raw: raw), image)
                     for image in images])


def srgb_to_linear(x, ops=np):
    """The sRGB transfer function undone (IEC 61966-2-1), by numpy or `ops` (keras.ops in a loss).

    Both branches stay finite everywhere, so neither puts a NaN in the other's gradient.
    """
    curve = ops.power((ops.maximum(x, 0.04045) + 0.055) / 1.055, 2.4)
    return ops.where(x <= 0.04045, x / 12.92, curve)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light to sRGB (IEC 61966-2-1)."""
    return np.where(x <= 0.0031308, x * 12.92,
                    1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """An RGGB Bayer mosaic (HxW) of an HxWx3 RGB image: R at even rows and columns."""
    raw = np.empty(rgb.shape[:2], np.float32)
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return raw


def sensor_noise(raw: np.ndarray, peak: float, read: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Poisson shot noise at `peak` photons for 1.0 plus Gaussian read noise, clipped to [0, 1]."""
    shot = rng.poisson(np.maximum(raw, 0.0) * peak) / peak
    return np.clip(shot + rng.normal(0.0, read, raw.shape), 0.0, 1.0).astype(np.float32)


def demosaic(raw: np.ndarray) -> np.ndarray:
    """OpenCV's bilinear demosaicing of an RGGB mosaic in [0, 1] (16-bit inside), HxWx3 RGB."""
    raw16 = np.rint(raw * 65535.0).astype(np.uint16)
    return cv2.cvtColor(raw16, cv2.COLOR_BayerBG2RGB).astype(np.float32) / 65535.0


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode an RGB image in [0, 1] as JPEG at `quality` (OpenCV, 8-bit)."""
    bgr = cv2.cvtColor(np.rint(rgb * 255.0).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
