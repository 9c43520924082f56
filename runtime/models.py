"""Model objects the runtime returns: pre- and post-processing driven by the manifest."""

from __future__ import annotations

import numpy as np

from edgeae.errors import UserError
from edgeae.runtime.backends import Session
from edgeae.runtime.manifest import Manifest


class Reconstructor:
    """Runs an autoencoder on frames: uint8 in gives uint8 out, float [0, 1] in gives float out.

    Frames may be one image (HW or HWC) or a batch (NHW or NHWC), in RGB or gray as the manifest
    says. Frames whose size is not a multiple of the model's downsampling factor are padded by
    edge replication and cropped back. The input buffer is allocated once per frame shape and
    reused.

    Example:
        >>> model = edgeae.runtime.load("export/model_fp32.tflite")
        >>> out = model.reconstruct(frame)  # frame: uint8 (H, W) for a gray model
    """

    def __init__(self, session: Session, manifest: Manifest) -> None:
        self.session = session
        self.manifest = manifest
        self._input: np.ndarray | None = None
        self._unit: np.ndarray | None = None
        norm = manifest.normalization
        # model_input = pixel8 * scale + offset, pixel8 = unit * 255
        self._in_gain = {True: norm.scale, False: 255.0 * norm.scale}
        self._offset = norm.offset

    @property
    def input_spec(self):  # noqa: D102 - a property's docstring is its type
        return self.manifest.input

    def reconstruct(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Reconstruct `frames`; write into `out` when given (no allocation), else a new array."""
        frames = np.asarray(frames)
        batch = self._as_batch(frames)
        _, h, w, _ = batch.shape
        x = self._fill_input(batch, is_uint8=frames.dtype == np.uint8)
        y = self.session.run(x)[:, :h, :w, :]
        return self._finish(y, frames, out)

    def _as_batch(self, frames: np.ndarray) -> np.ndarray:
        """View frames as NHWC without copying; check channels and size against the manifest."""
        c = self.input_spec.channels
        if frames.ndim == 2:
            batch = frames[None, :, :, None]
        elif frames.ndim == 3 and frames.shape[-1] == c:
            batch = frames[None]
        elif frames.ndim == 3 and c == 1:
            batch = frames[:, :, :, None]
        elif frames.ndim == 4:
            batch = frames
        else:
            raise UserError(f"frames of shape {frames.shape} do not fit a model that takes "
                            f"{self.input_spec.describe()} images (HW, HWC, NHW or NHWC)")
        if batch.shape[-1] != c:
            raise UserError(f"the model takes {c}-channel frames but got {batch.shape[-1]}; "
                            "convert them first (e.g. cv2.cvtColor)")
        if frames.dtype != np.uint8 and not np.issubdtype(frames.dtype, np.floating):
            raise UserError(f"frames must be uint8 or float in [0, 1], got {frames.dtype}")
        fixed = self.input_spec.fixed_size
        if fixed is not None and batch.shape[1:3] != fixed:
            raise UserError(f"the model takes {fixed[0]}x{fixed[1]} frames but got "
                            f"{batch.shape[1]}x{batch.shape[2]}; resize them first")
        return batch

    def _fill_input(self, batch: np.ndarray, is_uint8: bool) -> np.ndarray:
        """Normalise into the reused, padded float32 input buffer."""
        n, h, w, c = batch.shape
        m = self.input_spec.size_multiple
        shape = (n, -(-h // m) * m, -(-w // m) * m, c)
        if self._input is None or self._input.shape != shape:
            self._input = np.empty(shape, np.float32)
        x = self._input
        np.multiply(batch, self._in_gain[is_uint8], out=x[:, :h, :w, :], casting="unsafe")
        if self._offset:
            x[:, :h, :w, :] += self._offset
        x[:, h:, :w, :] = x[:, h - 1:h, :w, :]  # replicate the last row into the padding
        x[:, :, w:, :] = x[:, :, w - 1:w, :]
        return x

    def _finish(self, y: np.ndarray, frames: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """Map model output back to the input's pixel type and layout."""
        if self._unit is None or self._unit.shape != y.shape:
            self._unit = np.empty(y.shape, np.float32)
        unit = self._unit
        np.subtract(y, self._offset, out=unit)
        if frames.dtype == np.uint8:
            np.multiply(unit, 1.0 / self.manifest.normalization.scale, out=unit)
            np.clip(np.rint(unit, out=unit), 0, 255, out=unit)
        else:
            np.multiply(unit, 1.0 / (255.0 * self.manifest.normalization.scale), out=unit)
        result = unit.reshape(frames.shape)
        if out is None:
            return result.astype(np.uint8 if frames.dtype == np.uint8 else np.float32)
        np.copyto(out, result, casting="unsafe")
        return out
