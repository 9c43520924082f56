"""Denoisers that ship with edgeae, for a feed that needs denoising now (no training).

All are blind grayscale U-Nets trained on Train400 with Gaussian noise of sigma 0-55 (0-255
scale), so one model serves any noise level in that range. `live` (unet small: half-resolution
levels, 34k multiply-accumulates per pixel) is sized for real-time 640x480 video on a small CPU
in int8; `quality` (unet medium, full resolution, 124k per pixel) is slower and better. Colour
frames are served in the planes that suit each model's noise (runtime/colour.py). `live-video`
is `live` made recurrent for video (unet small, `--temporal recurrent`: `live` unchanged inside,
plus a small fusion that blends in its last output, moved with the scene, where that agrees;
0.8k multiply-accumulates per pixel more), trained on clips made from the same Train400 images.
`live-camera` is `live` tuned for a real camera: half its training patches had Gaussian noise,
half went through the camera noise model (train/camera.py: shot and read noise in a Bayer
mosaic, demosaiced, tone curve, JPEG) at light levels from bright to night, so it also removes a
camera's correlated grain, which the others take for texture, and then H.264 streams' predicted
frames (Makefile, pretrained-camera-stream); `quality-camera` is `quality` tuned the same way,
then at a tenth of the rate, for a camera where `quality`'s cost is affordable. `live-stream` is
`live-camera` tuned on camera noise alone, half of it a panning camera's H.264 stream and no
Gaussian noise: for a camera's noisy frames only (it smooths nearly clean ones), it keeps a
streaming camera's dim frames nearer the scene's brightness than `live-camera` does, which is
why `edgeae adapt` may hold its output's brightness to it (train/settings.py BRIGHTNESS_MODELS).
`live-camera-video` is `live-camera` made recurrent the same way, trained on the camera noise
and Gaussian noise mixed: for a camera's stream where its grain is strong (dim and night).
`live-auto` and `quality-auto` are no models of their own but pairs (runtime/gated.py): each
frame goes to `live` or `quality` where its noise is white, to `live-camera` or `quality-camera`
where it is a camera's correlated grain, as runtime/noise_kind.py tells them apart, and in
`live-auto` to `live-camera-video` where that grain is strong.
`make pretrained` reproduces them all; their numbers are in BENCHMARKS.md.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from edgeae.core.errors import UserError
from edgeae.core.formats import PRECISIONS as ALL_PRECISIONS
from edgeae.core.manifest import Manifest, manifest_path_for
from edgeae.runtime.backends import BACKENDS

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
log = logging.getLogger(__name__)
# single-frame: every frame on its own
FRAME_NAMES = ("live", "quality", "live-camera", "quality-camera", "live-stream")
NAMES = (*FRAME_NAMES, "live-video", "live-camera-video")
# the precisions shipped: those of the files beside this module, in the table's order
PRECISIONS = tuple(p for p in ALL_PRECISIONS if any(PRETRAINED_DIR.glob(f"*_{p}.*")))
DEFAULT_PRECISION = {"live": "int8", "quality": "fp32", "live-video": "int8", "live-camera": "int8",
                     "quality-camera": "fp32", "live-stream": "int8", "live-camera-video": "int8"}
# pairs the frame's noise chooses between (runtime/gated.py): (for white noise, for a camera's,
# and maybe for a camera's strong grain on a stream)
GATED = {"live-auto": ("live", "live-camera", "live-camera-video"),
         "quality-auto": ("quality", "quality-camera")}
GATED_PRECISION = {name: DEFAULT_PRECISION[pair[0]] for name, pair in GATED.items()}


def rebuild_source(name: str) -> Path:
    """`name`'s fp32 ONNX file: what `--pretrained` rebuilds in Keras (export, adapt)."""
    return PRETRAINED_DIR / f"{name}_fp32.onnx"


def pretrained_manifest(name: str) -> Manifest:
    """`name`'s manifest, that of its rebuild source, read without any engine (fast checks)."""
    return Manifest.read(manifest_path_for(rebuild_source(name)))


def pretrained_path(name: str, backend: str | None = None, precision: str | None = None) -> Path:
    """The shipped artifact for `name`, in the format the installed (or named) backend runs.

    TFLite when a TFLite backend is installed, else ONNX (for OpenVINO, its IR where no ONNX
    file of that precision ships); int8 for `live` and its variants and fp32 for `quality` and
    `quality-camera` unless `precision` says otherwise. `backend="auto"` takes any installed
    one (`rt.load(path, backend="auto")` then times the formats shipped beside it).
    """
    backend = None if backend == "auto" else backend
    if backend is not None and backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} "
                        "or auto")
    if name not in NAMES:
        raise UserError(f"unknown pretrained model {name!r}; choose one of {', '.join(NAMES)}")
    precision = precision or DEFAULT_PRECISION[name]
    if precision not in PRECISIONS:
        raise UserError(f"pretrained models come in {', '.join(PRECISIONS)}, not {precision!r}")
    usable = [b for b in BACKENDS.values() if b.exported
              and (b.name == backend if backend else b.available())]
    if not usable:
        raise UserError(f"{backend} is not installed here" if backend else
                        "no runtime backend installed: pip install 'edgeae[runtime]'")
    engine = usable[0]
    paths = [PRETRAINED_DIR / f"{name}_{precision}{suffix}" for suffix in engine.suffixes]
    path = next((p for p in paths if p.is_file()), None)
    if path is not None:
        return path
    other = sorted(p.name for p in PRETRAINED_DIR.glob(f"{name}_*") if p.suffix in engine.suffixes)
    if other:  # e.g. ncnn, which ships fp32 only
        raise UserError(f"{name} ships no {precision} file for {engine.name}, only "
                        f"{', '.join(other)}: pass --precision (precision=) to match")
    raise UserError(f"{name} ships no file for {engine.name} in this install; choose another "
                    "--backend, or pass --model with an exported artifact")


def pretrained_paths(name: str, backend: str | None = None,
                     precision: str | None = None) -> tuple[Path, ...]:
    """The shipped file for `name`, or for a GATED pair its members' (white noise's first).

    A pair's third member (a recurrent camera model) is left out, with a warning, where it ships
    no file for the backend and precision (ncnn, which runs single-frame models only).
    """
    members = GATED.get(name, (name,))
    paths = [pretrained_path(member, backend, precision) for member in members[:2]]
    for member in members[2:]:
        try:
            paths.append(pretrained_path(member, backend, precision))
        except UserError:
            _say_missing(name, member, members[1], backend, precision)
    return tuple(paths)


@functools.cache
def _say_missing(name: str, member: str, instead: str, backend: str | None,
                 precision: str | None) -> None:
    """The warning that a pair's member has no file here, once per process and combination."""
    log.warning("%s: %s ships no file for this backend and precision, so streams with strong "
                "grain go to %s", name, member, instead)
