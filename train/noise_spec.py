"""Noise models for denoiser training as spec strings: parsed and checked without TensorFlow.

A spec is one or more steps joined by "+", applied in order to images in [0, 1]:

    gaussian:25              additive white Gaussian noise, sigma 25 on the 0-255 scale
    gaussian:5-50            a blind model: sigma drawn per image from [5, 50]
    poisson-gaussian:30,5    camera sensor: shot noise at a peak of 30 photons for white, plus
                             Gaussian read noise of sigma 5 (0-255); each number may be a range
    salt-pepper:0.02         that fraction of pixels set to 0 or 1
    speckle:0.1              multiplicative: x + x * 0.1 * N(0, 1)
    jpeg:30-90               JPEG compression at a quality drawn from [30, 90] (clips to [0, 1])
    camera:dim               a camera pipeline (train/camera.py): linear light, RGGB mosaic, shot
                             and read noise, demosaicing, white balance, sRGB curve; a light
                             level (bright, indoor, dim, night, or a range such as indoor-night)
    camera:dim,85            the same, then JPEG at quality 85 (a range too: 70-95)
    camera:80,3[,85]         explicit: photons for white, read noise sigma (0-255)[, JPEG]
    h264:23-35               H.264 as a streaming camera codes it (train/h264.py), x264's CRF
                             drawn from [23, 35] (0 lossless, 51 coarsest): a clip's frames as
                             one stream, each predicted from the one before; a still as one
                             intra frame. Needs PyAV (`pip install av`)
    h264:23-35,8             a still as the 8th frame of a still camera's stream: the steps
                             before it drawn 8 times (the same scene, fresh noise in each
                             frame), coded as one stream, the last frame kept; so a single-
                             frame model sees the noise a predicted frame carries forward
                             (a --temporal clip is its own stream: FRAMES is for stills)
    h264:23-35,4,0-3         the same stream from a camera that pans over the still at a speed
                             drawn from [0, 3] pixels a frame, in any direction (sub-pixel,
                             borders reflected), ending on the still: a moving camera's stream,
                             whose frames H.264 predicts from shifted ones
    clip                     clip to [0, 1], as a camera's pixels are

Specs joined by "|" are a mixture: each image gets one of them, drawn uniformly, so one blind
model learns several kinds of noise ("gaussian:0-55|camera:bright-night,70-100": half the
images Gaussian, half through the camera pipeline at any light level and JPEG quality).

The tutorial's noise_factor 0.2 is "gaussian:51+clip". Parsing imports no TensorFlow, so a bad
spec is reported before any slow work; calling a parsed spec applies it in TensorFlow
(train/noise.py), statelessly: the same seed gives the same noise, and tf.data feeds a fresh
seed every batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeae.core.errors import UserError
from edgeae.core.noise_text import split_noise
from edgeae.train.camera import PRESETS
from edgeae.train.h264 import CRF_RANGE, check_encoder

FORMS = ("gaussian:SIGMA", "poisson-gaussian:PEAK,READ", "salt-pepper:FRACTION",
         "speckle:SIGMA", "jpeg:QUALITY", "camera:LIGHT[,JPEG]", "camera:PEAK,READ[,JPEG]",
         "h264:CRF[,FRAMES[,PAN]]", "clip")
# name -> (number of values, lowest allowed, highest allowed)
_LIMITS = {"gaussian": (1, 0.0, 255.0), "poisson-gaussian": (2, 0.0, 1e6),
           "salt-pepper": (1, 0.0, 1.0), "speckle": (1, 0.0, 10.0), "jpeg": (1, 1.0, 100.0),
           "clip": (0, 0.0, 0.0), "camera": (3, 0.0, 1e6), "h264": (3, *CRF_RANGE)}
_COUNTS = {"camera": "camera takes a light level or PEAK,READ, then an optional JPEG quality",
           "h264": "h264 takes a CRF, then an optional stream length in frames and pan speed"}
_ZERO_AT_ZERO = ("gaussian", "salt-pepper", "speckle")  # steps whose first value 0 adds nothing
MAX_STREAM_FRAMES = 32  # a still's stream: that many copies of each training patch
MAX_PAN = 16.0  # pixels a frame a still's stream may pan
_QUIET_ZERO_TAIL = ("h264",)  # steps whose last value, at 0, is left out of their text
_NUMBER = r"\d+(?:\.\d+)?"
_VALUE = re.compile(rf"^({_NUMBER})(?:-({_NUMBER}))?$")


@dataclass(frozen=True)
class NoiseStep:
    """One noise model with each parameter as a (low, high) range, drawn per image."""

    name: str
    ranges: tuple[tuple[float, float], ...]

    @property
    def adds_nothing(self) -> bool:
        """True for a step that leaves a clean image as it is (a zero level, or clip alone)."""
        return self.name == "clip" or (self.name in _ZERO_AT_ZERO and self.ranges[0][1] == 0)

    @property
    def stream_frames(self) -> int:
        """How many frames of a still camera's stream a still is coded in (h264; else 1)."""
        return int(self.ranges[1][0]) if self.name == "h264" else 1

    @property
    def stream_pan(self) -> tuple[float, float]:
        """The pan speed range (pixels a frame) of a still's stream (h264; else none)."""
        return self.ranges[2] if self.name == "h264" else (0.0, 0.0)

    def __str__(self) -> str:
        ranges = self.ranges
        if self.name in _QUIET_ZERO_TAIL and ranges[-1] == (0.0, 0.0):
            ranges = ranges[:-1]
        values = ",".join(f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}" for lo, hi in ranges)
        return f"{self.name}:{values}" if values else self.name


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed noise spec: steps applied in order. `str()` gives its canonical form."""

    steps: tuple[NoiseStep, ...]

    def __str__(self) -> str:
        return "+".join(str(s) for s in self.steps)

    @property
    def has_camera(self) -> bool:
        """Whether the spec runs the camera pipeline (whose rendering `--camera-truth` uses)."""
        return any(step.name == "camera" for step in self.steps)

    def __call__(self, images, seed, frames: int = 1):
        """Noisy copies of a float32 NHWC batch in [0, 1] (tensors; `seed` of shape [2]).

        `frames` > 1: each image is a clip of that many frames stacked one above the other.
        """
        from edgeae.train.noise import apply_noise

        return apply_noise(self, images, seed, frames)


@dataclass(frozen=True)
class NoiseMixture:
    """Specs of which each image gets one, drawn uniformly: "spec|spec|...". `str()` as above."""

    choices: tuple[NoiseSpec, ...]

    def __str__(self) -> str:
        return "|".join(str(c) for c in self.choices)

    @property
    def has_camera(self) -> bool:
        """Whether any of the specs runs the camera pipeline."""
        return any(choice.has_camera for choice in self.choices)

    def __call__(self, images, seed, frames: int = 1):
        """Noisy copies of a float32 NHWC batch in [0, 1] (tensors; `seed` of shape [2]).

        `frames` as NoiseSpec's.
        """
        from edgeae.train.noise import apply_mixture

        return apply_mixture(self, images, seed, frames)


Noise = NoiseSpec | NoiseMixture


def _bad(spec: str, why: str) -> UserError:
    return UserError(f"bad noise spec {spec!r}: {why}; use steps joined by '+' from "
                     f"{', '.join(FORMS)} (a number may be a range LO-HI), "
                     "e.g. 'gaussian:5-50+jpeg:30-90', and a mixture of specs joined by '|'")


def parse_noise(spec: str) -> Noise:
    """Parse a spec like "gaussian:5-50+jpeg:60" or a mixture "A|B"; bad: a one-line UserError."""
    chains = tuple(_parse_chain(spec, chain) for chain in split_noise(spec))
    return chains[0] if len(chains) == 1 else NoiseMixture(chains)


def _parse_chain(spec: str, chain: list[tuple[str, str]]) -> NoiseSpec:
    """One spec's steps, (name, values) as split (`spec` is the whole text, for messages)."""
    steps = []
    for name, values in chain:
        if name not in _LIMITS:
            raise _bad(spec, f"unknown noise {name!r}")
        numbers = [v.strip() for v in values.split(",")] if values else []
        if name == "camera":
            numbers = _camera_numbers(spec, numbers)
        if name == "h264" and numbers:
            numbers += ["1", "0"][len(numbers) - 1:]  # unsaid: a still (one frame), not panned
        count, low, high = _LIMITS[name]
        if len(numbers) != count:
            raise _bad(spec, _COUNTS.get(name, f"{name} takes {count} value"
                                             f"{'s' if count != 1 else ''}"))
        ranges = tuple(_range(spec, name, text, low, high) for text in numbers)
        if name in ("poisson-gaussian", "camera") and ranges[0][0] <= 0:
            raise _bad(spec, "the photon peak must be > 0")
        if name == "camera":
            _check_camera(spec, *ranges)
        if name == "h264":
            _check_stream(spec, ranges[1], ranges[2])
            check_encoder()
        steps.append(NoiseStep(name, ranges))
    return NoiseSpec(tuple(steps))


def _range(spec: str, name: str, text: str, low: float, high: float) -> tuple[float, float]:
    """A value "V" or range "LO-HI" of step `name`, within [low, high]."""
    match = _VALUE.match(text)
    if not match:
        raise _bad(spec, f"{text!r} is not a number or a range LO-HI")
    lo = float(match[1])
    hi = float(match[2]) if match[2] else lo
    if not low <= lo <= hi <= high:
        raise _bad(spec, f"{name} values must satisfy {low:g} <= LO <= HI <= {high:g}")
    return lo, hi


def _check_camera(spec: str, peak, read, jpeg) -> None:
    """Limits of the camera step's values beyond the general ones."""
    if read[1] > 255:
        raise _bad(spec, "camera's read noise is a sigma on the 0-255 scale, at most 255")
    if jpeg != (0, 0) and not (1 <= jpeg[0] and jpeg[1] <= 100):
        raise _bad(spec, "camera's JPEG quality must be within 1-100 (0: none)")


def _check_stream(spec: str, frames: tuple[float, float], pan: tuple[float, float]) -> None:
    """h264's stream length: one whole number of frames, not a range; its pan: within MAX_PAN."""
    if frames[0] != frames[1] or frames[0] != int(frames[0]) or not \
            1 <= frames[0] <= MAX_STREAM_FRAMES:
        raise _bad(spec, f"h264's stream length is a whole number of frames, "
                         f"1-{MAX_STREAM_FRAMES}")
    if pan[1] > MAX_PAN:
        raise _bad(spec, f"h264's pan is a speed in pixels a frame, at most {MAX_PAN:g}")


def _camera_numbers(spec: str, values: list[str]) -> list[str]:
    """The camera step's values as PEAK,READ,JPEG texts: a light level (or LO-HI levels) expanded.

    JPEG "0" means no compression, so every camera step has three values.
    """
    if values and not values[0][:1].isdigit():
        levels = values[0].split("-")
        if len(levels) > 2 or any(level not in PRESETS for level in levels):
            raise _bad(spec, f"unknown light level {values[0]!r}; use one of "
                             f"{', '.join(PRESETS)} or a range such as indoor-night")
        peaks, reads = zip(*(PRESETS[level] for level in levels))
        values = [f"{min(peaks):g}-{max(peaks):g}", f"{min(reads):g}-{max(reads):g}",
                  *values[1:]]
    return values + ["0"] if len(values) == 2 else values


def check_adds_noise(spec: str) -> None:
    """Refuse a denoiser's training noise that leaves every image clean: it would learn to copy.

    A mixture passes if any of its specs adds noise (a clean share teaches leaving clean
    images alone).
    """
    noise = parse_noise(spec)
    chains = noise.choices if isinstance(noise, NoiseMixture) else (noise,)
    if all(step.adds_nothing for chain in chains for step in chain.steps):
        raise UserError(f"--noise {spec!r} adds no noise, so the denoiser would learn to copy "
                        "its input; give a level above 0, e.g. gaussian:25 or gaussian:5-50")


def gaussian_sigma(spec: str) -> float:
    """The sigma (0-255) of a spec that is one fixed Gaussian level, such as "gaussian:25"."""
    noise = parse_noise(spec)
    steps = noise.steps if isinstance(noise, NoiseSpec) else ()
    if len(steps) != 1 or steps[0].name != "gaussian" or len(set(steps[0].ranges[0])) != 1:
        raise UserError(f"expected one Gaussian noise level such as 'gaussian:25', got {spec!r}")
    return steps[0].ranges[0][0]


TUTORIAL_NOISE_FACTOR = 0.2  # the tutorial's noise_factor, a denoiser's default noise


def noise_from_factor(factor: float) -> str:
    """The spec of the tutorial's clip(x + factor * N(0, 1), 0, 1)."""
    return f"gaussian:{factor * 255:g}+clip"
