"""Generation on the device: a VAE's exported decoder turns latent codes into images.

Codes are drawn from the prior N(0, temperature^2) with numpy, or interpolated spherically
between two codes, which the exported encoder gives for two images; the artifacts
(`edgeae export VAE_DIR --part decoder` and `--part encoder`) run on any runtime backend.
Needs numpy and the backend only.

    >>> gen = edgeae.runtime.load("export/decoder_int8.tflite")
    >>> images = gen.sample(16, seed=0)            # (16, H, W, C) uint8
    >>> enc = edgeae.runtime.load("export/encoder_fp32.tflite")
    >>> codes = enc.encode(np.stack([frame_a, frame_b]))
    >>> path = gen.interpolate(codes[0], codes[1], steps=10)
"""

from __future__ import annotations

import numbers
import threading

import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.images import to_uint8
from edgeae.core.manifest import Manifest
from edgeae.runtime.backends import Session
from edgeae.runtime.models import Reconstructor, checked_pixels, one_call_at_a_time

BATCH = 64


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between codes `a` and `b` at fractions `t`.

    Under a Gaussian prior most mass lies near a sphere; a straight line between two codes cuts
    through the low-norm interior, where decoded images are atypical. The direction goes along
    the arc and the length along the line between the two lengths: the textbook formula on
    codes of unequal length grew as 1/sin(omega) near opposite codes (2,298 at 1e-3 from them).
    Linear where the codes are parallel or opposite, which no one arc joins.
    """
    t = np.asarray(t, np.float64)[:, None]
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if min(norm_a, norm_b) < 1e-12:
        return (1 - t) * a + t * b
    unit_a, unit_b = a / norm_a, b / norm_b
    omega = np.arccos(np.clip(np.dot(unit_a, unit_b), -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return (1 - t) * a + t * b
    arc = (np.sin((1 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / np.sin(omega)
    return arc * ((1 - t) * norm_a + t * norm_b)


def codes_array(codes: object, dtype: type) -> np.ndarray:
    """`codes` as a float array, or a one-line UserError (not numpy's about strings).

    None would be NaN, and complex numbers would lose their imaginary parts with a warning.
    """
    if codes is None or np.iscomplexobj(codes):
        raise UserError(f"codes must be real numbers, got {'None' if codes is None else 'complex'}")
    try:
        return np.asarray(codes, dtype)
    except (TypeError, ValueError):
        raise UserError(f"codes must be real numbers; this {type(codes).__name__} holds "
                        "something else") from None


def prior_codes(n: int, latent_dim: int, seed: int | None = None,
                temperature: float = 1.0) -> np.ndarray:
    """`n` codes drawn from N(0, temperature^2) with numpy's generator seeded by `seed`.

    Checked for the Keras VAE and the runtime alike: a NaN or negative temperature had given
    NaN images from one and a one-line error from the other.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise UserError(f"the number of samples must be a positive whole number, got {n!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not (np.isfinite(temperature) and temperature >= 0):
        raise UserError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise UserError(f"seed must be a whole number >= 0 or None, got {seed!r}")
    return temperature * np.random.default_rng(seed).standard_normal((n, latent_dim))


def check_steps(steps: int) -> None:
    """An interpolation's number of images: a whole number, 2 or more."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 2:
        raise UserError(f"an interpolation needs a whole number of steps, 2 or more, got "
                        f"{steps!r}")


def traverse_codes(latent_dim: int, dim: int, steps: int = 9, span: float = 3.0) -> np.ndarray:
    """Codes sweeping dimension `dim` from -span to span, the others at 0 (the prior's mean)."""
    if not 0 <= dim < latent_dim:
        raise UserError(f"traverse takes a dimension 0..{latent_dim - 1}, got {dim}")
    z = np.zeros((steps, latent_dim))
    z[:, dim] = np.linspace(-span, span, steps)
    return z


class Generator:
    """Samples and interpolations from a VAE decoder artifact; images come back as uint8."""

    def __init__(self, session: Session, manifest: Manifest) -> None:
        if manifest.artifact is not None and manifest.artifact.part != "decoder":
            raise UserError(f"{manifest.artifact.file} holds a whole {manifest.task} model; "
                            "generation needs a VAE decoder: edgeae export VAE_DIR --part decoder")
        self.session, self.manifest = session, manifest
        self._turn = threading.RLock()  # one call at a time (one_call_at_a_time)
        self.latent_dim = int(manifest.params["latent_dim"])
        norm = manifest.normalization
        self._unit = (norm.offset, 255.0 * norm.scale)  # model output -> [0, 1]

    @one_call_at_a_time
    def decode(self, z: np.ndarray) -> np.ndarray:
        """Float images (N, H, W, C) in [0, 1] for codes (N, latent_dim), in batches.

        Codes must be finite: NaN came back as NaN images from LiteRT and onnxruntime and as
        ordinary-looking ones from OpenVINO.
        """
        z = codes_array(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim or not len(z):
            raise UserError(f"codes must have shape (N, {self.latent_dim}) with N >= 1, got "
                            f"{z.shape}")
        if not np.isfinite(z).all():
            raise UserError("codes hold NaN or infinity; pass finite numbers")
        offset, gain = self._unit
        parts = [np.clip((self.session.run(np.ascontiguousarray(z[i:i + BATCH])) - offset) / gain,
                         0.0, 1.0) for i in range(0, len(z), BATCH)]
        return np.concatenate(parts)

    def sample(self, n: int, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """`n` uint8 images decoded from codes drawn from N(0, temperature^2)."""
        return to_uint8(self.decode(prior_codes(n, self.latent_dim, seed, temperature)))

    def interpolate(self, a: np.ndarray, b: np.ndarray, steps: int = 10) -> np.ndarray:
        """`steps` uint8 images on the spherical path from code `a` to code `b`."""
        check_steps(steps)
        a, b = codes_array(a, np.float64), codes_array(b, np.float64)
        if a.shape != (self.latent_dim,) or b.shape != (self.latent_dim,):
            raise UserError(f"codes a and b must each have shape ({self.latent_dim},), got "
                            f"{a.shape} and {b.shape}")
        return to_uint8(self.decode(slerp(a, b, np.linspace(0.0, 1.0, steps))))


class Encoder(Reconstructor):
    """A VAE encoder artifact: images in (any layout the runtime takes), code means out."""

    @one_call_at_a_time
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """Codes (N, latent_dim) of one image (HW / HWC) or a batch, uint8 or float [0, 1].

        Checked as `reconstruct` checks frames (0-255 floats, 16-bit, NaN are refused): they
        gave codes far off the prior, or NaN, without a word.
        """
        frames = checked_pixels(frames)
        x = self._fill_input(self._as_batch(frames), is_uint8=frames.dtype == np.uint8)
        return np.array(self.session.run(x), np.float64)

    def reconstruct(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """An encoder gives codes, no images: a one-line UserError (it had been an IndexError)."""
        raise UserError("a VAE encoder gives codes (encode); reconstructing takes the whole "
                        "model's artifact")
