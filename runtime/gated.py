"""A pair of denoisers that the frame's noise chooses between: white noise or a camera's grain.

`live` and `quality` learned Gaussian noise and leave a camera's correlated grain as texture;
`live-camera` and `quality-camera` remove it, but lose 0.1-0.3 dB on Gaussian noise and more on
nearly clean frames. `NoiseGated` keeps both and sends each frame to the one its noise suits
(runtime/noise_kind.py): a still is judged alone; a stream by the median of its last measured
frames, measured every few frames, so it does not flicker between the two on a borderline frame.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeae.core.errors import UserError
from edgeae.runtime.colour import ColorOrder
from edgeae.runtime.models import Denoiser, checked_pixels
from edgeae.runtime.noise_kind import CORRELATED_ABOVE, NoiseMeter

KINDS = ("white", "correlated")
WINDOW = 9  # a stream's measured frames whose median ratio decides
EVERY = 10  # a stream measures one frame in this many (1.4 ms a 640x480 colour frame)
log = logging.getLogger(__name__)
_last_said: list[str] = []  # the model last named in this process: a change is said once


def _say_the_choice(name: str, kind: str) -> None:
    """One line when the model chosen changes (not per frame, nor per trial run of the pair)."""
    if _last_said == [name]:
        return
    _last_said[:] = [name]
    log.info("the noise looks %s: %s denoises", "like a camera's (correlated)"
             if kind == "correlated" else "white (Gaussian-like)", name)


def paired(open_model: Callable[[Path], Denoiser], path: Path,
           pair: Path | None) -> Denoiser | NoiseGated:
    """`open_model(path)`, or with a camera model's `pair` the two as a NoiseGated pair."""
    model = open_model(path)
    if pair is None:
        return model
    return NoiseGated(model, open_model(pair), (path.name, pair.name))


class NoiseGated:
    """Denoises each frame with `white` (Gaussian-trained) or `correlated` (camera-trained).

    Both take frames the same way (one gray model, or both colour); the model not chosen costs
    nothing but its memory. `chosen` names the last frame's model; `counts` how many frames each
    denoised since the pair was opened.
    """

    temporal = False  # two single-frame models: no history to keep or restart

    def __init__(self, white: Denoiser, correlated: Denoiser, names: tuple[str, str] = KINDS,
                 above: float = CORRELATED_ABOVE) -> None:
        if white.input_spec.channels != correlated.input_spec.channels:
            raise UserError("the two denoisers of a noise-gated pair must take the same frames "
                            "(both gray or both colour)")
        if white.temporal or correlated.temporal:
            raise UserError("a noise-gated pair takes single-frame denoisers, not temporal ones")
        self.models = dict(zip(KINDS, (white, correlated)))
        self.names = dict(zip(KINDS, names))
        self.above = above
        self.counts = dict.fromkeys(KINDS, 0)
        self.chosen: str | None = None
        self._meter = NoiseMeter()
        self._ratios: deque[float] = deque(maxlen=WINDOW)
        self._seen = 0
        self._kind = "white"  # what the ratios measured so far say, judged as each comes in

    @property
    def input_spec(self):
        """What frames the pair takes (both models take the same)."""
        return self.models["white"].input_spec

    @property
    def manifest(self):
        """The white model's manifest: the pair's identity where one is asked for."""
        return self.models["white"].manifest

    def reset(self) -> None:
        """A new still or stream: its noise is judged afresh."""
        self._ratios.clear()
        self._seen = 0

    def denoise(self, frame: np.ndarray, color: ColorOrder = "bgr",
                out: np.ndarray | None = None) -> np.ndarray:
        """The denoised frame by the model its noise (and its stream's) suits."""
        frame = checked_pixels(frame)  # no frame, or no pixels: the models' own one-line errors
        if self._seen % EVERY == 0:
            self._ratios.append(self._meter.ratio(frame))
            self._kind = KINDS[float(np.median(self._ratios)) > self.above]
        self._seen += 1
        _say_the_choice(self.names[self._kind], self._kind)
        self.chosen = self._kind
        self.counts[self._kind] += 1
        return self.models[self._kind].denoise(frame, color, out)

    @property
    def colour_planes(self) -> str:
        """The chosen (else the white) model's way with colour frames; each keeps its own."""
        return self.models[self.chosen or "white"].colour_planes

    @colour_planes.setter
    def colour_planes(self, name: str) -> None:
        for model in self.models.values():
            model.colour_planes = name

    @property
    def tile_pixels(self) -> int:
        """The most pixels one model call takes (the same for both)."""
        return self.models["white"].tile_pixels

    @tile_pixels.setter
    def tile_pixels(self, pixels: int) -> None:
        for model in self.models.values():
            model.tile_pixels = pixels
