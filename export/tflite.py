"""Keras model -> SavedModel -> TFLite flatbuffers in every precision, with the manifest inside.

`model.export(format="tf_saved_model")` then `TFLiteConverter.from_saved_model`: converting from
a concrete function of a Keras 3 model fails int8 calibration (variables are not frozen).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from edgeae.core.formats import PRECISIONS
from edgeae.core.manifest import EMBEDDED_KEY, TensorQuantization
from edgeae.core.quiet import native_stderr_to_null, quiet_wanted
from edgeae.export.options import Calibration, Converted, IoType

_TF_TYPES = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}


@contextlib.contextmanager
def saved_model(model, input_shape: tuple[int | None, ...]) -> Iterator[Path]:
    """A temporary SavedModel of `model` whose serving input is NHWC float32 `input_shape`."""
    signature = [tf.TensorSpec((None, *input_shape), tf.float32, name="input")]
    with tempfile.TemporaryDirectory(prefix="edgeae-savedmodel-") as tmp:
        model.export(tmp, format="tf_saved_model", input_signature=signature, verbose=False)
        yield Path(tmp)


def convert_tflite(saved_model_dir: Path, precision: str, calibration: np.ndarray | None = None,
                   io_type: IoType = "uint8", per_channel: bool = True) -> bytes:
    """A TFLite flatbuffer in `precision`: fp32, fp16, int8-dynamic or int8 (full integer).

    fp16 stores float16 weights; int8-dynamic stores int8 weights and quantizes activations at
    run time; int8 calibrates every activation on `calibration` (NHWC float32 model inputs) and
    runs integer-only kernels with `io_type` input and output. `per_channel=False` gives every
    weight tensor one scale (smaller for wide Dense layers, whose per-channel scales and zero
    points cost 12 bytes per output unit).
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if not per_channel:  # the converter's switches for this have no public name yet
        converter._experimental_disable_per_channel = True
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if calibration is None or not len(calibration):
            raise ValueError("int8 needs calibration images")
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = _TF_TYPES[io_type]
        converter.inference_output_type = _TF_TYPES[io_type]
    with native_stderr_to_null(quiet_wanted()):  # the converter's own "fully_quantize: 0, ..."
        return converter.convert()


def embed_tflite_metadata(flatbuffer: bytes, text: str, name: str = EMBEDDED_KEY) -> bytes:
    """The flatbuffer with `text` added as a named metadata buffer (TFLite's own mechanism)."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(bytearray(flatbuffer))
    buffer = fb.schema_fb.BufferT()
    buffer.data = np.frombuffer(text.encode("utf-8"), np.uint8)
    entry = fb.schema_fb.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers)
    model.buffers.append(buffer)
    model.metadata = [*(model.metadata or []), entry]
    return bytes(fb.convert_object_to_bytearray(model))


class TFLiteConverter:
    """The TFLite row's converter: one SavedModel per export, one flatbuffer per precision."""

    def __init__(self, model, shape: tuple[int | None, ...], options) -> None:
        self._stack = contextlib.ExitStack()
        self._saved = self._stack.enter_context(saved_model(model, shape))
        self._options = options

    def convert(self, precision: str, calibration: Calibration | None) -> Converted:
        """The flatbuffer in `precision` (int8 calibrated on `calibration`'s inputs)."""
        inputs = calibration.inputs if calibration is not None else None
        return Converted(convert_tflite(self._saved, precision, inputs, self._options.int8_io,
                                        self._options.per_channel))

    def describe(self, data: bytes, precision: str) -> dict:
        """Quantization fields read back from the flatbuffer: weights, input and output."""
        return _tflite_quantization(data) if PRECISIONS[precision].int8_weights else {}

    def embed(self, data: bytes, text: str) -> bytes:
        """The flatbuffer with the manifest embedded as metadata."""
        return embed_tflite_metadata(data, text)

    def artifact_fields(self) -> dict:
        """Extra ArtifactInfo fields: none for TFLite."""
        return {}

    def close(self) -> None:
        """Remove the temporary SavedModel."""
        self._stack.close()


def _tflite_quantization(flatbuffer: bytes) -> dict:
    """Weight granularity and input/output parameters, read back from the flatbuffer."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=flatbuffer)

    def describe(detail: dict) -> TensorQuantization | None:
        if detail["dtype"] not in (np.uint8, np.int8):
            return None
        scale, zero = detail["quantization"]
        return TensorQuantization(dtype=np.dtype(detail["dtype"]).name, scale=scale,
                                  zero_point=zero)

    scales = [len(t["quantization_parameters"]["scales"]) for t in interp.get_tensor_details()
              if t["dtype"] == np.int8]
    return {"weights": "per-channel" if max(scales, default=0) > 1 else "per-tensor",
            "input": describe(interp.get_input_details()[0]),
            "output": describe(interp.get_output_details()[0])}
