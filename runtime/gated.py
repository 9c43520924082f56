"""Denoisers that the frame's noise chooses between: white noise, a camera's grain, strong grain.

`live` and `quality` learned Gaussian noise and leave a camera's correlated grain as texture;
`live-camera` and `quality-camera` remove it, but lose 0.1-0.3 dB on Gaussian noise and more on
nearly clean frames. `NoiseGated` keeps them and sends each frame to the one its noise suits
(runtime/noise_kind.py): a still is judged alone; a stream by the median of its last measured
frames, measured every few frames, so it does not flicker between them on a borderline frame.
A third, recurrent member (`live-camera-video`) may take a camera's grain where it is strong
(its fine spread at least STRONG_FROM) from a stream's second frame: averaging the frames
before pays there, and costs detail where the grain is faint (BENCHMARKS.md, "Camera
streams"). A still goes to one of the first two.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeae.core.errors import UserError
from edgeae.runtime.colour import ColorOrder
from edgeae.runtime.models import Denoiser, one_call_at_a_time
from edgeae.runtime.noise_kind import CORRELATED_ABOVE, NoiseMeter

KINDS = ("white", "correlated", "strong")  # the members, in the order they are given
STRONG_FROM = 1.75  # a camera's grain this strong (fine spread, 8-bit levels) takes the third
WINDOW = 9  # a stream's measured frames whose median ratio decides
EVERY = 10  # a stream measures one frame in this many (1.4 ms a 640x480 colour frame)
SAID = {"white": "white (Gaussian-like)", "correlated": "like a camera's (correlated)",
        "strong": "like a camera's, and strong"}
log = logging.getLogger(__name__)
_last_said: list[str] = []  # the model last named in this process: a change is said once


def _say_the_choice(name: str, kind: str) -> None:
    """One line when the model chosen changes (not per frame, nor per trial run of the pair)."""
    if _last_said == [name]:
        return
    _last_said[:] = [name]
    log.info("the noise looks %s: %s denoises", SAID[kind], name)


def paired(open_model: Callable[[Path], Denoiser], path: Path,
           pair: tuple[Path, ...] = ()) -> Denoiser | NoiseGated:
    """`open_model(path)`, or with the camera models of a `pair` all of them as a NoiseGated."""
    model = open_model(path)
    if not pair:
        return model
    return NoiseGated(model, *map(open_model, pair), names=(path.name, *(p.name for p in pair)))


class NoiseGated:
    """Denoises each frame with the member its noise suits.

    The members: `white` (Gaussian-trained), `correlated` (camera-trained) and, where given,
    `strong` (a recurrent camera model). All take frames the same way (gray models, or all
    colour); a member not chosen costs nothing but its memory, and a recurrent one starts its
    history afresh when it is chosen. `chosen` names the last frame's member; `counts` how many
    frames each denoised since it was opened.
    """

    def __init__(self, *models: Denoiser, names: tuple[str, ...] = KINDS,
                 above: float = CORRELATED_ABOVE, strong_from: float = STRONG_FROM) -> None:
        if len(models) not in (2, 3):
            raise UserError("a noise-gated pair takes two denoisers (white, camera) and "
                            "maybe a third (a recurrent camera model)")
        if len({m.input_spec.channels for m in models}) != 1:
            raise UserError("the denoisers of a noise-gated pair must take the same frames "
                            "(all gray or all colour)")
        if any(m.temporal for m in models[:2]):
            raise UserError("a noise-gated pair's white and camera denoisers take single "
                            "frames; only its third may be temporal")
        self.models = dict(zip(KINDS, models))
        self._turn = threading.RLock()  # one call at a time (one_call_at_a_time)
        self.names = dict(zip(KINDS, names))
        self.above, self.strong_from = above, strong_from
        self.counts = dict.fromkeys(self.models, 0)
        self.chosen: str | None = None
        self._meter = NoiseMeter()
        self._measured: deque[tuple[float, float]] = deque(maxlen=WINDOW)  # (ratio, fine)
        self._seen = 0
        self._medians = np.array([1.0, 0.0])  # the measured frames' median (ratio, fine spread)
        self._kind = "white"  # what the frames measured so far say, judged as each comes in

    @property
    def temporal(self) -> bool:
        """Whether a member keeps a history (a stream's frames are then not independent)."""
        return any(m.temporal for m in self.models.values())

    @property
    def input_spec(self):
        """What frames the pair takes (both models take the same)."""
        return self.models["white"].input_spec

    @property
    def manifest(self):
        """The white model's manifest: the pair's identity where one is asked for."""
        return self.models["white"].manifest

    @property
    def scene_cuts(self) -> int:
        """Scene cuts a recurrent member's history found and started again at."""
        return sum(getattr(m, "scene_cuts", 0) for m in self.models.values())

    @one_call_at_a_time
    def reset(self) -> None:
        """A new still or stream: its noise is judged afresh, and no history is kept."""
        self._measured.clear()
        self._seen = 0
        for model in self.models.values():
            model.reset()

    @one_call_at_a_time
    def denoise(self, frame: np.ndarray, color: ColorOrder = "bgr",
                out: np.ndarray | None = None) -> np.ndarray:
        """The denoised frame by the member its noise (and its stream's) suits."""
        # a frame the members refuse is neither counted nor measured into the stream's noise
        frame, _ = Denoiser.checked_call(frame, color, out)
        if self._seen % EVERY == 0:
            self._measured.append(self._measure(frame))
            self._medians = np.median(np.asarray(self._measured), axis=0)
        self._kind = self._judged(stream=self._seen > 0)
        self._seen += 1
        _say_the_choice(self.names[self._kind], self._kind)
        if self._kind != self.chosen and self.models[self._kind].temporal:
            self.models[self._kind].reset()  # its last output is from frames long gone
        self.chosen = self._kind
        self.counts[self._kind] += 1
        return self.models[self._kind].denoise(frame, color, out)

    def _measure(self, frame: np.ndarray) -> tuple[float, float]:
        """(ratio, fine spread) of one frame, from one pass over it."""
        spreads = self._meter.spreads(frame)
        return (1.0, 0.0) if spreads is None else (self._meter.ratio_of(*spreads), spreads[0])

    def _judged(self, stream: bool) -> str:
        """The member the measured frames' medians choose.

        A still (or a stream's first frame) never goes to the recurrent one: it has nothing
        before it to average.
        """
        ratio, fine = self._medians
        if ratio <= self.above:
            return "white"
        strong = stream and "strong" in self.models and fine >= self.strong_from
        return "strong" if strong else "correlated"

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
    def tile_pixels(self, pixels: int | None) -> None:
        for model in self.models.values():
            model.tile_pixels = pixels
