"""Model objects the runtime returns: pre- and post-processing driven by the manifest.

`Reconstructor` runs whole images (batches welcome); `Denoiser` and `AnomalyScorer` take one
camera frame of any size, as OpenCV gives it (uint8, BGR or gray), and return it in the same
form. Artifacts with a fixed input size run over overlapping tiles whose seams are blended;
fully convolutional ones run frames too large for one call (a camera's photos) in tiles that
give the whole frame's output.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import cv2
import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.images import convert_channels, resize, series_as_images, to_unit_float
from edgeae.core.manifest import Manifest
from edgeae.runtime.backends import Session
from edgeae.runtime.buffers import KeptArrays
from edgeae.runtime.colour import (
    COLOR_ORDERS,
    COLOUR_WAYS,
    ColorOrder,
    ColourWay,
    way_for_noise,
)
from edgeae.runtime.history import FrameHistory, RecurrentHistory, StillFrames
from edgeae.runtime.scoring import anomaly_scores, patch_search, with_knn
from edgeae.runtime.tiles import TILE_PIXELS, TileBlender, TileStitcher, fill_reflect_padding

# float pixels are [0, 1], but unclipped noise strays outside (Set12's protocol at sigma 55:
# 5 sigma is 1.1 beyond); beyond these bounds a frame is 0-255 values, not noisy unit pixels
FLOAT_BOUNDS = (-2.0, 3.0)


def for_opencv(frame: np.ndarray) -> np.ndarray:
    """The frame as OpenCV's colour conversions take it: other floats than float32 made float32."""
    return frame if frame.dtype in (np.uint8, np.float32) else frame.astype(np.float32)


def checked_color(color: object) -> ColorOrder:
    """`color` if it names a colour order, else a one-line UserError (not a silent RGB)."""
    if color not in COLOR_ORDERS:
        raise UserError(f"color must be 'bgr' (OpenCV's order) or 'rgb', got {color!r}")
    return color


def as_array(frames: object) -> np.ndarray:
    """np.asarray, with a list of frames of different sizes a one-line UserError."""
    try:
        return np.asarray(frames)
    except ValueError:
        raise UserError("frames of different sizes make no batch; pass them one at a "
                        "time") from None


def checked_pixels(frames: object) -> np.ndarray:
    """`frames` as an array of uint8 or float pixels in [0, 1], or a one-line UserError.

    Caught here, not in the engine: no frame at all (a camera read that failed), an empty one
    (which also leaves LiteRT stuck at that size), other pixel types, and floats that are no
    [0, 1] pixels (0-255 values beyond FLOAT_BOUNDS, NaN or infinity), which no engine refuses:
    they came back as a flat grey or NaN blocks, differently on each backend.
    """
    if frames is None:
        raise UserError("no frame (None): the camera or video gave none; check what read() "
                        "returned before passing it on")
    frames = as_array(frames)
    if frames.size == 0:
        raise UserError(f"the frame is empty (shape {frames.shape})")
    if frames.ndim < 2:
        raise UserError(f"expected a frame (HxW or HxWxC) or a batch of them, got shape "
                        f"{frames.shape}")
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise UserError(f"frames must be uint8 or float in [0, 1], got {frames.dtype}")
    lo, hi = float(frames.min()), float(frames.max())
    if not np.isfinite(lo + hi):
        raise UserError("the frame holds NaN or infinity; pass finite pixels")
    if lo < FLOAT_BOUNDS[0] or hi > FLOAT_BOUNDS[1]:
        raise UserError(f"float frames hold pixels in [0, 1], got {lo:.4g} to {hi:.4g}: divide "
                        "0-255 values by 255, or pass uint8")
    return frames


def check_one_frame(frame: np.ndarray) -> None:
    """One frame as a camera gives it, HxW, HxWx1 or HxWx3, or a one-line UserError."""
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[-1] in (1, 3))):
        raise UserError(f"expected one frame (HxW gray or HxWx3 colour), got {frame.shape}")


def check_out(out: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """`out` must be a writable array of the result's shape and type (checked before any work)."""
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
        got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
        raise UserError(f"out must match the frame: {shape} {np.dtype(dtype)}, got {got}")
    if not out.flags.writeable:
        raise UserError("out is read-only; pass a writable array")


# levels (of 255) a gray video's planes may differ by and still be gray: MJPEG decodes them 2-3
# apart, MPEG-4 up to 3 (an IR camera's stream); a colourful frame's differ by far more
GRAY_SPREAD = 3


def one_call_at_a_time(method: Callable) -> Callable:
    """A model's public method: threads sharing the model take turns (its buffers are shared).

    Two threads calling one model at once got each other's frames (onnxruntime, OpenVINO) or a
    LiteRT error. Threads that want to run side by side load a model each.
    """
    @functools.wraps(method)
    def in_turn(self, *args, **kwargs):
        with self._turn:
            return method(self, *args, **kwargs)

    return in_turn


class Reconstructor:
    """Runs an autoencoder on frames: uint8 in gives uint8 out, float [0, 1] in gives float out.

    Float output is unclipped: a model's may stray a little outside [0, 1]. Frames may be one
    image (HW or HWC) or a batch (NHW or NHWC), in RGB or gray as the manifest says. Frames
    whose size is not a multiple of the model's downsampling factor are padded by reflection
    (`runtime.tiles.fill_reflect_padding`) and cropped back. Frames of more than
    `tile_pixels` pixels over the batch run one batch item, or one tile, at a time, with the same
    output (`runtime.tiles.TileStitcher`), so a 12-megapixel photo does not need gigabytes. The
    input buffer is allocated once per frame shape and reused.

    Example:
        >>> model = edgeae.runtime.load("export/model_fp32.tflite")
        >>> out = model.reconstruct(frame)  # frame: uint8 (H, W) for a gray model
    """

    tiles_any_size = False  # whole-image reconstruction needs the model's own size

    def __init__(self, session: Session, manifest: Manifest) -> None:
        self.session = session
        self.manifest = manifest
        self._turn = threading.RLock()  # one call at a time (one_call_at_a_time)
        self._input: np.ndarray | None = None
        self._unit: np.ndarray | None = None
        norm = manifest.normalization
        # model_input = pixel8 * scale + offset, pixel8 = unit * 255
        self._in_gain = {True: norm.scale, False: 255.0 * norm.scale}
        self._offset = norm.offset
        fixed = manifest.input.fixed_size
        self._tiles = TileBlender(fixed) if fixed and self.tiles_any_size else None
        self._stitcher = TileStitcher(manifest.input.size_multiple,
                                      (self._offset, self._offset + self._in_gain[False]))
        # a temporal model's input: here every image is a still (the Denoiser keeps a history)
        frames = manifest.input.frames
        self._frames: StillFrames | None = StillFrames(frames) if frames > 1 else None
        self._frame_size: tuple[int, int] | None = None  # a temporal model's last frame's

    @property
    def temporal(self) -> bool:
        """Whether the model takes several consecutive frames (a video denoiser)."""
        return self._frames is not None

    @one_call_at_a_time
    def reset(self) -> None:
        """Forget the frames before (a temporal model's history); the next frame starts afresh."""
        if self._frames is not None:
            self._frames.reset()

    @property
    def tile_pixels(self) -> int:
        """Pixels, over the batch, one model call takes; larger frames run in pieces.

        Set None to go back to the default, `runtime.tiles.TILE_PIXELS` (4 Mi pixels).
        """
        return self._stitcher.pixels

    @tile_pixels.setter
    def tile_pixels(self, pixels: int | None) -> None:
        if pixels is None:
            pixels = TILE_PIXELS
        if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 1:
            raise UserError(f"tile_pixels must be a positive whole number or None (the default),"
                            f" got {pixels!r}")
        self._stitcher.pixels = int(pixels)

    @property
    def input_spec(self):  # noqa: D102 - a property's docstring is its type
        return self.manifest.input

    @one_call_at_a_time
    def reconstruct(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Reconstruct `frames`; write into `out` when given (no allocation), else a new array.

        `out` may be `frames` itself, or any view.
        """
        frames = checked_pixels(frames)
        if out is None:
            return self._reconstruct(frames, None)
        check_out(out, frames.shape, np.dtype(np.uint8 if frames.dtype == np.uint8
                                              else np.float32))
        if out.flags.c_contiguous and not np.shares_memory(out, frames):
            return self._reconstruct(frames, out)
        # OpenCV writes into C-ordered arrays only, and tiles read pixels an overlapping
        # tile has already written: a 2304x2048 frame in place came back 119 levels off
        np.copyto(out, self._reconstruct(frames, None))
        return out

    def _reconstruct(self, frames: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """`reconstruct` of frames already checked."""
        batch = self._as_batch(frames)
        if self._frames is None and self.input_spec.fixed_size is None \
                and not self._stitcher.fits(self._padded_shape(batch.shape)):
            return self._reconstruct_in_pieces(batch, frames, out)
        _, h, w, _ = batch.shape
        x = self._fill_input(batch, is_uint8=frames.dtype == np.uint8)
        y = self._infer(x)
        if self._frames is not None:  # a recurrent model's next input
            self._frames.remember(y)
        # a discriminative detector's output also holds its mask: the reconstruction comes first
        return self._finish(y[:, :h, :w, :self.input_spec.channels], frames, out)

    def _reconstruct_in_pieces(self, batch: np.ndarray, frames: np.ndarray,
                               out: np.ndarray | None) -> np.ndarray:
        """A batch too large for one call, tile by tile from its pixels into the output's.

        Each tile is normalised, run and written back on its own, so no float copy of the
        whole frame is made (a 12-megapixel colour photo's would be 144 MB each); the pieces
        and their overlaps are the TileStitcher's, so the output is the whole frame's.
        """
        n, h, w, c = batch.shape
        is_uint8 = frames.dtype == np.uint8
        if out is None:
            out = np.empty(frames.shape, np.uint8 if is_uint8 else np.float32)
        dest = self._nhwc(out)
        (th, tw), pieces = self._stitcher.pieces(self.session.run, self._padded_shape(batch.shape))
        for items, (y0, ya, yb), (x0, xa, xb) in pieces:
            yb, xb = min(yb, h), min(xb, w)  # what lies in the frame, not in its padding
            if ya >= yb or xa >= xb:
                continue
            x = self._fill_input(batch[items, y0:y0 + th, x0:x0 + tw], is_uint8)
            unit = self._to_unit(self.session.run(x)[..., :c])
            self._store(unit[:, ya - y0:yb - y0, xa - x0:xb - x0], dest[items, ya:yb, xa:xb],
                        is_uint8)
        return out

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """The model on a normalised batch; in tiles for another fixed size or a large batch."""
        fixed = self.input_spec.fixed_size
        if self._tiles is not None and x.shape[1:3] != fixed:
            return self._tiles.run(self.session.run, x)
        if fixed is None:
            return self._stitcher.run(self.session.run, x)
        return self.session.run(x)

    def _as_batch(self, frames: np.ndarray) -> np.ndarray:
        """View frames as NHWC without copying; check channels and size against the manifest."""
        c = self.input_spec.channels
        if frames.ndim not in (2, 3, 4) or (frames.ndim == 3 and c not in (1, frames.shape[-1])):
            raise UserError(f"frames of shape {frames.shape} do not fit a model that takes "
                            f"{self.input_spec.describe()} images (HW, HWC, NHW or NHWC)")
        if c == 1 and frames.ndim == 3 and frames.shape[-1] in (3, 4):  # not N images of Wx3
            raise UserError(f"a {frames.shape} array looks like a colour image, and the model "
                            "is gray: convert it (cv2.cvtColor), or pass a batch as NHW1")
        batch = self._nhwc(frames)
        if batch.shape[-1] != c:
            raise UserError(f"the model takes {c}-channel frames but got {batch.shape[-1]}; "
                            "convert them first (e.g. cv2.cvtColor)")
        fixed = self.input_spec.fixed_size
        if fixed is not None and self._tiles is None and batch.shape[1:3] != fixed:
            raise UserError(f"the model takes {fixed[0]}x{fixed[1]} frames but got "
                            f"{batch.shape[1]}x{batch.shape[2]}; resize them first")
        return batch

    def _nhwc(self, frames: np.ndarray) -> np.ndarray:
        """Frames (HW, HWC, NHW or NHWC, as `_as_batch` accepts them) as an NHWC view."""
        if frames.ndim == 2:
            return frames[None, :, :, None]
        if frames.ndim == 3:
            return frames[None] if frames.shape[-1] == self.input_spec.channels \
                else frames[:, :, :, None]
        return frames

    def _padded_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """An NHWC batch's shape with its sides padded up to the model's multiple."""
        n, h, w, c = shape
        m = self.input_spec.size_multiple
        return n, -(-h // m) * m, -(-w // m) * m, c

    def _fill_input(self, batch: np.ndarray, is_uint8: bool) -> np.ndarray:
        """Normalise into the reused, padded float32 input buffer."""
        n, h, w, c = batch.shape
        shape = self._padded_shape(batch.shape)
        if self._input is None or self._input.shape != shape:
            self._input = np.empty(shape, np.float32)
        x = self._input
        np.multiply(batch, self._in_gain[is_uint8], out=x[:, :h, :w, :], casting="unsafe")
        if self._offset:
            x[:, :h, :w, :] += self._offset
        fill_reflect_padding(x, h, w)
        if self._frames is None:
            return x
        if (h, w) != self._frame_size:  # padding may hide it: the history cannot tell
            self._frame_size = (h, w)
            self._frames.reset()
        return self._frames.stack(x)

    def _finish(self, y: np.ndarray, frames: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """Map model output back to the input's pixel type and layout."""
        is_uint8 = frames.dtype == np.uint8
        if out is None:
            out = np.empty(frames.shape, np.uint8 if is_uint8 else np.float32)
        dest = self._nhwc(out)
        if not (is_uint8 and self._levels_into(y, dest)):
            self._store(self._to_unit(y), dest, is_uint8)
        return out

    def _levels_into(self, y: np.ndarray, dest: np.ndarray) -> bool:
        """Model output as rounded, saturated 8-bit levels straight into `dest`, in place.

        One OpenCV pass per image where numpy took four (scale, round, clip, cast): 0.04 against
        0.26 ms for a 640x480 frame, the same levels (both round halves to even). False where
        OpenCV did not write into `dest` (the caller then converts it the numpy way).
        """
        if y.dtype != np.float32:
            return False
        gain = 1.0 / self.manifest.normalization.scale
        for image, target in zip(y, dest):
            written = cv2.addWeighted(image, gain, image, 0.0, -self._offset * gain, dst=target,
                                      dtype=cv2.CV_8U)
            if not np.shares_memory(written, target) or written.shape != target.shape:
                return False
        return True

    @staticmethod
    def _store(unit: np.ndarray, dest: np.ndarray, as_uint8: bool) -> None:
        """[0, 1] pixels into `dest`: as rounded 8-bit levels for uint8 frames (in place)."""
        if as_uint8:
            np.multiply(unit, 255.0, out=unit)
            np.clip(np.rint(unit, out=unit), 0, 255, out=unit)
        np.copyto(dest, unit, casting="unsafe")

    def _to_unit(self, y: np.ndarray) -> np.ndarray:
        """Model output -> [0, 1] pixels in the reused float buffer."""
        if self._unit is None or self._unit.shape != y.shape:
            self._unit = np.empty(y.shape, np.float32)
        np.subtract(y, self._offset, out=self._unit)
        np.multiply(self._unit, 1.0 / (255.0 * self.manifest.normalization.scale), out=self._unit)
        return self._unit


class _FrameModel(Reconstructor):
    """One camera frame of any size, as OpenCV delivers it (uint8 BGR or gray)."""

    tiles_any_size = True

    def __init__(self, session: Session, manifest: Manifest) -> None:
        super().__init__(session, manifest)
        self._kept = KeptArrays()  # colour conversions' frames
        self._output: np.ndarray | None = None

    def _model_frames(self, frame: np.ndarray, color: ColorOrder) -> np.ndarray:
        """The frame as the model's NHWC batch: its colours converted to the model's.

        A gray model gets a colour frame's gray, made with OpenCV's weights as training makes
        a colour image gray (core/images.py), so a detector scores the image it learned and its
        threshold holds; the Denoiser serves colour frames its own ways (runtime/colour.py).
        The frame was checked (`checked_pixels`).
        """
        channels = self.input_spec.channels
        colour = frame.ndim == 3 and frame.shape[-1] == 3
        check_one_frame(frame)
        if frame.ndim == 3 and frame.shape[-1] == 1:
            frame = frame[..., 0]
        if channels == 1:
            return (self._gray(frame, color) if colour else frame)[None, :, :, None]
        if not colour:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB, dst=self._rgb_buffer(frame))[None]
        if color == "bgr":
            return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=self._rgb_buffer(frame))[None]
        return frame[None]

    def _rgb_buffer(self, frame: np.ndarray) -> np.ndarray:
        """The reused RGB frame that colour conversions write into."""
        return self._kept("rgb", (*frame.shape[:2], 3), frame.dtype)

    def _gray(self, frame: np.ndarray, color: ColorOrder) -> np.ndarray:
        """A colour frame's gray (OpenCV's weights), in a reused buffer."""
        frame = for_opencv(frame)
        code = cv2.COLOR_BGR2GRAY if color == "bgr" else cv2.COLOR_RGB2GRAY
        return cv2.cvtColor(frame, code, dst=self._kept("gray", frame.shape[:2], frame.dtype))

    @staticmethod
    def _frame_layout(batch: np.ndarray, frame: np.ndarray, color: ColorOrder,
                      out: np.ndarray) -> np.ndarray:
        """Undo `_model_frames` into `out`: the frame's own shape and colour order."""
        if frame.ndim == 2 or frame.shape[-1] == 1:
            plane = out.reshape(frame.shape[:2])
            if batch.shape[-1] == 1:
                np.copyto(plane, batch[0, ..., 0])
            else:
                cv2.cvtColor(batch[0], cv2.COLOR_RGB2GRAY, dst=plane)
        elif color == "bgr":
            cv2.cvtColor(batch[0], cv2.COLOR_RGB2BGR, dst=out)
        else:
            np.copyto(out, batch[0])
        return out


class Denoiser(_FrameModel):
    """Denoises camera frames: uint8 in, uint8 out, same shape and colour order.

    OpenCV delivers colour frames in BGR order, the default here; pass color="rgb" for RGB.
    A gray model serves a colour frame in the planes `colour_planes` names (runtime/colour.py).
    A temporal model (manifest `input.frames` > 1) keeps the frames before in a FrameHistory:
    frames given to `denoise` one after the other are a video; call `reset()` before an
    unrelated frame (a scene cut is found by itself). `reconstruct` takes each image as a still.

    Example:
        >>> model = edgeae.runtime.load("export/model_int8.tflite", task="denoise")
        >>> ok, frame = cv2.VideoCapture(0).read()
        >>> clean = model.denoise(frame)
    """

    def __init__(self, session: Session, manifest: Manifest) -> None:
        super().__init__(session, manifest)
        self._use_colour_way(way_for_noise(manifest.training.learned_noise()))
        if self._frames is not None:
            norm = manifest.normalization  # the history sees model inputs: 0-255 scaled so
            values = (norm.offset, 255.0 * norm.scale + norm.offset)
            self._frames = (RecurrentHistory(values) if manifest.input.recurrent
                            else FrameHistory(manifest.input.frames, values))
            self._stills = StillFrames(manifest.input.frames)

    @one_call_at_a_time
    def reconstruct(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Reconstruct `frames`, each image a still; a temporal model's history stays as it was.

        A batch holds unrelated images (a folder's, a benchmark's): with the history, each had
        been stacked with the image at its place in the batch before. `denoise` takes a video's
        frames, one after the other.
        """
        if self._frames is None:
            return super().reconstruct(frames, out)
        history, self._frames = self._frames, self._stills
        try:
            return super().reconstruct(frames, out)
        finally:
            self._frames = history

    @property
    def scene_cuts(self) -> int:
        """Scene cuts a temporal model's history found and started again at (0 otherwise)."""
        return getattr(self._frames, "cuts", 0)

    @one_call_at_a_time
    def denoise(self, frame: np.ndarray, color: ColorOrder = "bgr",
                out: np.ndarray | None = None) -> np.ndarray:
        """The denoised frame, in the input's shape, dtype and colour order.

        Pass `out` (same shape and dtype as `frame`) to write into it: with it a live loop
        allocates nothing per frame, as every intermediate buffer is kept and reused.
        """
        given, color = self.checked_call(frame, color, out)
        if out is None:
            out = np.empty_like(given)
        frame = np.ascontiguousarray(for_opencv(given))
        if frame is not given or not out.flags.c_contiguous:  # float64, Fortran order, a view
            np.copyto(out, self.denoise(frame, color))  # OpenCV writes only into its own kind
            return out
        if self.input_spec.channels == 1 and frame.ndim == 3 and frame.shape[-1] == 3:
            if self._holds_gray(frame):  # a gray video or IR camera: one plane, and no tint
                np.copyto(out, self._planes(self._gray(frame, color)[None, :, :, None])[0])
                return out
            return self._colour.denoise(frame, color, out, self._planes)
        return self._frame_layout(self._planes(self._model_frames(frame, color)), frame, color,
                                  out)

    def _holds_gray(self, frame: np.ndarray) -> bool:
        """Whether a colour frame's planes are one within GRAY_SPREAD: gray content as colour.

        A gray model denoises its gray once, where its colour planes did three planes' work and
        left a tint (up to 5 levels between channels). MJPEG and MPEG-4 decode a gray video's
        planes a few levels apart, so they are compared within a spread, in a kept buffer.
        """
        spread = self._kept("spread", frame.shape[:2], np.float32)
        limit = GRAY_SPREAD if frame.dtype == np.uint8 else GRAY_SPREAD / 255.0
        for c in (1, 2):
            np.subtract(frame[..., 0], frame[..., c], out=spread, dtype=np.float32)
            if np.abs(spread, out=spread).max() > limit:
                return False
        return True

    @staticmethod
    def checked_call(frame: object, color: object,
                     out: np.ndarray | None) -> tuple[np.ndarray, ColorOrder]:
        """The frame and colour order `denoise` takes, or the one-line UserError it gives."""
        given, color = checked_pixels(frame), checked_color(color)
        if out is not None:
            check_out(out, given.shape, given.dtype)
        check_one_frame(given)
        return given, color

    @property
    def colour_planes(self) -> str:
        """How this gray model denoises a colour frame: "rgb", "opponent" or "luma-chroma".

        The default follows the noise it learned (runtime/colour.py): "luma-chroma" for camera
        noise, "opponent" for Gaussian noise, "rgb" (each plane alone) otherwise.
        """
        return self._colour_planes

    @colour_planes.setter
    def colour_planes(self, name: str) -> None:
        if name not in COLOUR_WAYS:
            raise UserError(f"unknown colour planes {name!r}; use one of {', '.join(COLOUR_WAYS)}")
        if self.input_spec.channels != 1:
            raise UserError("colour planes are how a gray model denoises a colour frame; this "
                            "model takes colour frames itself")
        self._use_colour_way(name)

    def _use_colour_way(self, name: str) -> None:
        """Serve colour frames the way `name` says (runtime/colour.py's table)."""
        self._colour_planes = name
        self._colour: ColourWay = COLOUR_WAYS[name]()

    def _planes(self, batch: np.ndarray) -> np.ndarray:
        """The model on an NHWC batch, into the output buffer it keeps (made again on a change)."""
        if self._output is None or self._output.shape != batch.shape \
                or self._output.dtype != batch.dtype:
            self._output = np.empty(batch.shape, batch.dtype)
        return self._reconstruct(batch, out=self._output)


class Score(NamedTuple):
    """The one record of an anomaly score: of a frame (scalars) or of a batch (arrays).

    `score` is a float for a frame, (N,) for a batch; `heatmap` the per-pixel map (H, W) or
    (N, H, W) at the images' size; `is_anomaly` the decision at the threshold, None when no
    threshold is known. Frames, batches, `edgeae score` and `evaluate`, training and the export
    all read scores through it.
    """

    score: float | np.ndarray
    heatmap: np.ndarray
    is_anomaly: bool | np.ndarray | None = None

    def per_image(self) -> Iterator[Score]:
        """A batch's record, one image at a time (a frame's: itself)."""
        if np.ndim(self.score) == 0:
            yield self
            return
        decisions = [None] * len(self.score) if self.is_anomaly is None else self.is_anomaly
        for score, heatmap, decision in zip(self.score.tolist(), self.heatmap, decisions):
            yield Score(score, heatmap, None if decision is None else bool(decision))


class AnomalyScorer(_FrameModel):
    """Scores frames by how badly the autoencoder reconstructs them (higher = more anomalous).

    The heat map is the per-pixel reconstruction error and the score its pooled value, both as
    the manifest's `score` says (runtime/scoring.py; by default the tutorial's mean squared
    error). The decision compares the score with the manifest's threshold (or `threshold=`).
    A detector scores images at the size it was trained at (`score_size`), where training set
    its threshold, as `edgeae score` does; the heat map comes back at the image's own size.
    """

    def __init__(self, session: Session, manifest: Manifest, threshold: float | None = None,
                 memory: np.ndarray | None = None, patches: np.ndarray | None = None) -> None:
        super().__init__(session, manifest)
        if manifest.input.frames > 1:
            raise UserError("a temporal model denoises video; it does not score frames "
                            "(use --task denoise)")
        self.threshold = manifest.threshold if threshold is None else threshold
        if manifest.score.norm is not None and memory is None:  # a trained k-NN score
            raise UserError("this detector's score needs its training descriptors (the memory "
                            "file beside the model); copy it from the export folder")
        if manifest.score.maps == "patch" and patches is None:
            raise UserError("this detector's maps need its training patches (the patches file "
                            "beside the model); copy it from the export folder")
        # the side arrays (runtime/scoring.py), converted once here rather than every frame:
        # the k-NN memory to float64, which knn_distances compares in
        self.memory = None if memory is None else np.asarray(memory, np.float64)
        self.patches = None if patches is None else np.asarray(patches, np.float32)
        self.patch_memory = patch_search(self.patches, manifest.score)
        self.score_size = manifest.scored_size()

    @property
    def score_size(self) -> tuple[int, int] | None:
        """(h, w) images are resized to before scoring; None: each at its own size.

        By default the detector's training size (the manifest's data.image_size), where its
        scores and threshold were calibrated: the same image at another size scores differently
        (the smoothing, pooling and patches are in pixels), so its decisions would not hold.
        """
        return self._score_size

    @score_size.setter
    def score_size(self, size: tuple[int, int] | None) -> None:
        if size is not None and not (
                isinstance(size, tuple | list) and len(size) == 2
                and all(isinstance(side, int | np.integer) and not isinstance(side, bool)
                        and side > 0 for side in size)):
            raise UserError(f"score_size must be (height, width) in pixels or None (each "
                            f"image at its own size), got {size!r}")
        self._score_size = None if size is None else (int(size[0]), int(size[1]))

    @property
    def threshold(self) -> float | None:
        """Scores above it are anomalies; None: no decisions, scores only."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        problem = None if value is None else self.manifest.score.threshold_problem(value)
        if problem:
            raise UserError(f"{problem} (None: scores only, no decisions)")
        self._threshold = None if value is None else float(value)

    @property
    def heat_scale(self) -> float | None:
        """The map error drawn hottest: 4x the threshold, in the maps' units; 1 for a mask.

        None for a k-NN score or patch maps, whose threshold is not in the maps' units (callers
        scale by the maps).
        """
        config = self.manifest.score
        if config.maps == "mask":  # a probability
            return 1.0
        if config.knn or config.maps != "error" or not self.threshold:
            return None
        return 4 * self.threshold

    @one_call_at_a_time
    def score(self, frame: np.ndarray, color: ColorOrder = "bgr") -> Score:
        """Score one frame: (score, decision at the threshold, heat map).

        uint8 or float [0, 1] pixels, or 16-bit ones (scaled to [0, 1], as `score_batch` does).
        """
        if isinstance(frame, np.ndarray) and frame.dtype == np.uint16:
            frame = to_unit_float(frame)
        frame = np.ascontiguousarray(for_opencv(checked_pixels(frame)))
        batch = self._model_frames(*self._unit_if_made_gray(frame, checked_color(color)))
        own_size = batch.shape[1:3]
        unit = self._at_score_size(self._unit_pixels(batch))
        _, h, w, _ = unit.shape
        y = self._infer(self._fill_input(unit, is_uint8=False))[:, :h, :w, :]
        values, maps = anomaly_scores(unit, self._to_unit(y), self.manifest.score,
                                      self.patch_memory)
        value = float(self._with_knn(values, unit)[0])
        return Score(value, self._map_at(maps[0], own_size), self.decide(value))

    @one_call_at_a_time
    def score_batch(self, images: np.ndarray, color: ColorOrder = "rgb") -> Score:
        """The Score of whole images (NHWC or NHW, uint8, uint16 or [0, 1]): arrays of N.

        The path training, export and `edgeae score` share, so their thresholds agree. Colour
        images come in RGB, as training loads them (unlike `score`, whose frames come as
        OpenCV reads them); pass color="bgr" for OpenCV's order.
        """
        images = None if images is None else as_array(images)
        if images is not None and images.dtype != bool:  # bool is refused, as score() does
            images = to_unit_float(images)
        images = checked_pixels(images)
        if checked_color(color) == "bgr" and images.ndim >= 3 and images.shape[-1] == 3:
            images = images[..., ::-1]
        unit = self._as_batch(self._gray_if_colour(images))
        own_size = unit.shape[1:3]
        if self.score_size is not None and own_size != self.score_size:
            unit = np.stack([resize(image, self.score_size) for image in unit])
        _, h, w, _ = unit.shape
        outputs = self._to_unit(self._infer(self._fill_input(unit, is_uint8=False))[:, :h, :w])
        scores, maps = anomaly_scores(unit, outputs, self.manifest.score, self.patch_memory)
        scores = self._with_knn(scores, unit)
        if maps.shape[1:] != own_size:
            maps = np.stack([self._map_at(m, own_size) for m in maps])
        return Score(scores, maps, self.decide(scores))

    @one_call_at_a_time
    def score_rows(self, rows: np.ndarray) -> Score:
        """The Score of series rows, (N, L) or one (L,), in the training CSV's raw numbers.

        For a detector trained on rows (a CSV or 2-D array, the tutorial's ECG example): they
        are scaled by the training rows' (min, max), kept in the manifest, as `edgeae score`
        scales a CSV, so the threshold holds.
        """
        value_range, size = self.manifest.data.value_range, self.manifest.data.image_size
        if value_range is None:
            raise UserError("score_rows is for detectors trained on rows of numbers; this one "
                            "was trained on images: use score or score_batch")
        try:
            values = np.asarray(rows, np.float64)
        except (TypeError, ValueError):
            raise UserError("rows must be numbers, (N, L) or one row (L,)") from None
        values = values[None] if values.ndim == 1 else values
        if values.ndim != 2 or 0 in values.shape or (size and values.shape[1] != size[1]):
            length = f"{size[1]} values each" if size else "values"
            raise UserError(f"rows must be (N, L) or (L,) with {length}, got shape "
                            f"{np.shape(rows)}")
        if not np.isfinite(values).all():
            raise UserError("rows hold NaN or infinity; score only finite numbers")
        return self.score_batch(series_as_images(values, value_range))

    def _gray_if_colour(self, images: np.ndarray) -> np.ndarray:
        """RGB images (NHWC, [0, 1]) for a gray model, made gray as training makes them.

        `score` and `edgeae score` scored a colour image's gray; `score_batch` refused it. Only
        a 4-D batch: a 3-D array of 3 or 4 columns may be N gray images (NHW), and _as_batch
        asks for one or the other.
        """
        if self.input_spec.channels != 1 or images.ndim != 4 or images.shape[-1] not in (3, 4):
            return images
        return np.stack([convert_channels(image, 1) for image in images])

    def _unit_if_made_gray(self, frame: np.ndarray,
                           color: ColorOrder) -> tuple[np.ndarray, ColorOrder]:
        """A uint8 colour frame for a gray model as RGB [0, 1] floats (kept), else as given.

        Its gray is then made exactly as training makes its images gray (to_unit_float, then
        OpenCV's RGB weights): made of uint8 it was rounded to a level, which moved scores by up
        to 0.35 and flipped decisions between `run` and `edgeae score`.
        """
        if self.input_spec.channels != 1 or frame.dtype != np.uint8 or frame.ndim != 3 \
                or frame.shape[-1] != 3:
            return frame, color
        if color == "bgr":
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=self._rgb_buffer(frame))
        return np.multiply(frame, np.float32(1.0 / 255.0),
                           out=self._kept("frame_unit", frame.shape, np.float32)), "rgb"

    def _unit_pixels(self, batch: np.ndarray) -> np.ndarray:
        """[0, 1] float32 pixels exactly as `score_batch` makes them (to_unit_float), kept.

        Both paths score the same numbers: an ulp apart, an edge's HOG cell could change.
        """
        if batch.dtype != np.uint8:
            return batch.astype(np.float32, copy=False)
        unit = self._kept("score_unit", batch.shape, np.float32)
        np.multiply(batch, np.float32(1.0 / 255.0), out=unit)
        return unit

    def _at_score_size(self, unit: np.ndarray) -> np.ndarray:
        """A one-image batch of [0, 1] pixels resized to `score_size` as training resized them.

        Area averaging to shrink and bilinear to grow (core/images.resize), into a kept buffer:
        the pixels `edgeae score` scores.
        """
        size = self.score_size
        if size is None or unit.shape[1:3] == size:
            return unit
        c = unit.shape[-1]
        resized = self._kept("score_input", (1, *size, c), np.float32)
        plane = slice(None) if c > 1 else 0  # OpenCV writes one plane as HxW
        resize(unit[0, ..., plane], size, out=resized[0, ..., plane])
        return resized

    @staticmethod
    def _map_at(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A heat map at an image's own size (bilinear); a new array, as the caller keeps it."""
        if heatmap.shape == size:
            return heatmap
        return cv2.resize(heatmap, size[::-1], interpolation=cv2.INTER_LINEAR)

    def decide(self, scores: float | np.ndarray) -> bool | np.ndarray | None:
        """Above the threshold: an anomaly; None when no threshold is known."""
        return None if self.threshold is None else scores > self.threshold

    def _with_knn(self, reconstruction: np.ndarray, unit: np.ndarray) -> np.ndarray:
        """The manifest's score from the reconstruction scores of `unit` images."""
        return with_knn(reconstruction, unit, self.memory, self.manifest.score)
