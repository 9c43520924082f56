"""Keras model -> ONNX with tf2onnx, and onnxruntime's or NNCF's quantization for int8 ONNX.

Static int8 uses QDQ format (QuantizeLinear/DequantizeLinear pairs around float ops), which
onnxruntime's CPU kernels fuse into integer ones: uint8 activations, per-channel int8 weights,
calibrated on the same images as TFLite. Input and output stay float32. With bias correction
NNCF writes the same format, its biases corrected for the mean error quantization adds.
"""

from __future__ import annotations

import io
import logging
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeae.core.formats import PRECISIONS
from edgeae.core.manifest import EMBEDDED_KEY
from edgeae.export.options import DEFAULT_OPSET, Calibration, Converted
from edgeae.runtime.backends import int8_sums_saturate

log = logging.getLogger(__name__)
CONVERSION_ATTEMPTS = 3
_GRAPHS: ContextVar[dict | None] = ContextVar("onnx_graphs", default=None)


@contextmanager
def shared_onnx_graphs() -> Iterator[None]:
    """Inside: each model's ONNX graph is converted once, however many formats need it.

    tf2onnx takes seconds to minutes; `--format all` wants the same float graph for the ONNX
    files and for OpenVINO's IR. The cache lives only as long as the block (one export), so a
    model changed later is never served a stale graph.
    """
    token = _GRAPHS.set({})
    try:
        yield
    finally:
        _GRAPHS.reset(token)


def convert_onnx(model, input_shape: tuple[int | None, ...], opset: int = DEFAULT_OPSET,
                 nchw: bool = False, fresh: bool = False) -> bytes:
    """A float32 ONNX model (converted once per model inside shared_onnx_graphs()).

    `fresh`: convert again even when a graph is cached (tf2onnx names its nodes anew).
    """
    graphs = _GRAPHS.get()
    key = (id(model), tuple(input_shape), opset, nchw)
    if graphs is None:
        return _convert_onnx(model, input_shape, opset, nchw)
    if fresh or key not in graphs:
        graphs[key] = _convert_onnx(model, input_shape, opset, nchw)
    return graphs[key]


def _convert_onnx(model, input_shape: tuple[int | None, ...], opset: int,
                  nchw: bool) -> bytes:
    """A float32 ONNX model with a dynamic batch (and any None spatial size in `input_shape`).

    `nchw`: the input and output in NCHW (the layout ncnn computes in) instead of Keras's NHWC.

    tf2onnx's graph optimizers visit nodes in an order that depends on the names earlier
    conversions in the process used, and about one conversion in a few hundred loses the
    final Squeeze of an NHWC output (seen with Keras 3.15 and tf2onnx 1.17: the ONNX output
    came back (1, N, H, W, C)). The output's rank is checked against the Keras model's and
    the conversion repeated (with fresh names) when it is wrong.
    """
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, *input_shape), tf.float32, name="input"),)
    wanted = len(model.outputs[0].shape)
    layout = ({"inputs_as_nchw": ["input"], "outputs_as_nchw": list(model.output_names)}
              if nchw else {})
    for attempt in range(1, CONVERSION_ATTEMPTS + 1):
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset,
                                              **layout)
        rank = len(proto.graph.output[0].type.tensor_type.shape.dim)
        if rank == wanted:
            _modernise_nearest_resize(proto)
            return proto.SerializeToString()
        log.warning("tf2onnx gave a rank-%d output for a rank-%d model (attempt %d of %d)",
                    rank, wanted, attempt, CONVERSION_ATTEMPTS)
    raise RuntimeError(f"tf2onnx kept giving a rank-{rank} output for the rank-{wanted} model "
                       f"{model.name}; export --format tflite meanwhile")


def _modernise_nearest_resize(proto) -> None:
    """Rewrite tf2onnx's nearest-Resize mode `tf_half_pixel_for_nn` as `asymmetric` + `floor`.

    The old mode is deprecated since opset 13 and onnxruntime warns about it on every session.
    For the integer upscaling edgeae's models use (2x), floor((i + 0.5) / s) == floor(i / s), so
    the output is identical; the export's parity gate checks it.
    """
    for node in proto.graph.node:
        if node.op_type != "Resize":
            continue
        attrs = {a.name: a for a in node.attribute}
        mode = attrs.get("coordinate_transformation_mode")
        if mode is not None and mode.s == b"tf_half_pixel_for_nn":
            mode.s = b"asymmetric"
            if "nearest_mode" in attrs:
                attrs["nearest_mode"].s = b"floor"
            else:
                node.attribute.add(name="nearest_mode", s=b"floor", type=3)  # STRING


class _Calibration:
    """onnxruntime's CalibrationDataReader over NHWC float32 images, one per call."""

    def __init__(self, input_name: str, images: np.ndarray) -> None:
        self._feeds = iter({input_name: image[None]} for image in images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


@dataclass(frozen=True)
class RangeRule:
    """How static int8 pools each calibration input's activation minimum and maximum."""

    onnxruntime: dict  # onnxruntime's MinMax extra options
    nncf: str | None  # NNCF's RangeEstimatorParametersSet member; None: its default (the mean)


# "cover" takes the extremes over all inputs (the default; a mask predictor's pasted anomalies
# always get it); "mean" averages the inputs' extremes, as NNCF does by default, so a few inputs'
# rare extremes are clipped and the usual range gets finer steps: better for the shipped
# denoisers at sigma 25, far worse at sigma 55, where a blind denoiser's noisiest inputs are
# the ones clipped (benchmarks/int8_ranges.py)
ACTIVATION_RANGES = {"cover": RangeRule({}, "MINMAX"),
                     "mean": RangeRule({"CalibMovingAverage": True}, None)}


def nncf_advanced(ranges: str | None = None, per_channel: bool = True,
                  overflow_fix: bool = False):
    """NNCF's advanced quantization parameters for the options below.

    `ranges` (ACTIVATION_RANGES; None: NNCF's default), per-tensor weights if asked, and
    `overflow_fix` halving every layer's weight range, not only the first's (NNCF's default).
    """
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        OverflowFix,
        QuantizationParameters,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    advanced = {}
    estimator = ACTIVATION_RANGES[ranges].nncf if ranges is not None else None
    if estimator is not None:
        advanced["activations_range_estimator_params"] = getattr(RangeEstimatorParametersSet,
                                                                 estimator)
    if not per_channel:
        advanced["weights_quantization_params"] = QuantizationParameters(per_channel=False)
    if overflow_fix:
        advanced["overflow_fix"] = OverflowFix.ENABLE
    return AdvancedQuantizationParameters(**advanced)


def nncf_options(ranges: str, bias_correction: bool = False, per_channel: bool = True,
                 overflow_fix: bool = False) -> dict:
    """NNCF's quantize options for `ranges` (ACTIVATION_RANGES), as onnxruntime's int8 has them.

    Asymmetric activations (the MIXED preset) like onnxruntime's uint8 ones; `bias_correction`
    runs NNCF's full bias correction (each layer's bias shifted by the mean error quantization
    adds, measured layer by layer on the calibration inputs) instead of its fast estimate.
    """
    import nncf

    return {"preset": nncf.QuantizationPreset.MIXED,
            "advanced_parameters": nncf_advanced(ranges, per_channel, overflow_fix),
            "fast_bias_correction": not bias_correction}


def quantize_onnx(float_model: bytes, precision: str, calibration: np.ndarray | None = None,
                  per_channel: bool = True, ranges: str = "cover",
                  bias_correction: bool = False, seven_bit: bool = False) -> bytes:
    """int8-dynamic (int8 weights, activations quantized at run time) or int8 (static, QDQ).

    `ranges` (ACTIVATION_RANGES) says how static int8 pools the calibration inputs' ranges;
    `bias_correction` quantizes with NNCF's full bias correction instead of onnxruntime's
    quantizer (benchmarks/int8_ranges.py measures both); `seven_bit` keeps onnxruntime's static
    int8 weights in 7 bits (its reduce_range), so no uint8 x int8 pair sum overflows 16 bits.
    """
    from onnxruntime.quantization import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="edgeae-onnx-") as tmp:
        src, prepared, out = (Path(tmp) / n for n in ("float.onnx", "prep.onnx", "int8.onnx"))
        src.write_bytes(float_model)
        # ONNX's own shape inference is enough for convolutions; the symbolic one cannot follow
        # a Resize sized from a dynamic input (the U-Net) and leaves temp files in the cwd
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        if precision != "int8-dynamic" and (calibration is None or not len(calibration)):
            raise ValueError("int8 needs calibration images")
        if precision == "int8-dynamic":
            _quantize_dynamic(prepared, out, per_channel)
        elif bias_correction:
            _quantize_nncf(prepared, out, calibration, per_channel, ranges)
        else:
            _quantize_static(prepared, out, calibration, per_channel, ranges, seven_bit)
        return out.read_bytes()


def _quantize_dynamic(prepared: Path, out: Path, per_channel: bool) -> None:
    """Dynamic int8 by onnxruntime: int8 weights, activations quantized at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(prepared, out, weight_type=QuantType.QInt8, per_channel=per_channel)


def _quantize_static(prepared: Path, out: Path, calibration: np.ndarray, per_channel: bool,
                     ranges: str, seven_bit: bool = False) -> None:
    """Static QDQ int8 by onnxruntime: uint8 activations, int8 weights, MinMax ranges."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    input_name = onnx.load(prepared).graph.input[0].name
    quantize_static(prepared, out, _Calibration(input_name, calibration),
                    quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    reduce_range=seven_bit, extra_options=ACTIVATION_RANGES[ranges].onnxruntime)


def _quantize_nncf(prepared: Path, out: Path, calibration: np.ndarray, per_channel: bool,
                   ranges: str) -> None:
    """NNCF's QDQ int8 of the ONNX graph with full bias correction, quietly."""
    import nncf
    import onnx

    model = onnx.load(prepared)
    input_name = model.graph.input[0].name
    dataset = nncf.Dataset([{input_name: image[None]} for image in calibration])
    with toolchain_quiet():
        quantized = nncf.quantize(model, dataset, subset_size=len(calibration),
                                  **nncf_options(ranges, True, per_channel))
    onnx.save(quantized, out)


@contextmanager
def toolchain_quiet() -> Iterator[None]:
    """NNCF's INFO lines and progress bars, and the converter's, only with --verbose (stderr).

    They print on stdout, which is the command's report. Its logger's level alone:
    nncf.set_log_level also re-levels the handlers it shares.
    """
    verbose = log.isEnabledFor(logging.DEBUG)
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        with redirect_stdout(sys.stderr if verbose else io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def embed_onnx_metadata(model_bytes: bytes, text: str, name: str = EMBEDDED_KEY) -> bytes:
    """The model with `text` stored under `name` in its metadata_props."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != name]
    onnx.helper.set_model_props(model, dict([*kept, (name, text)]))
    return model.SerializeToString()


class OnnxConverter:
    """The ONNX row's converter: tf2onnx once per export, onnxruntime's quantizer per precision."""

    def __init__(self, model, shape: tuple[int | None, ...], options) -> None:
        self._model, self._shape, self._options = model, shape, options
        self._float: bytes | None = None
        self._static: dict = {}  # the last static int8 conversion's rules, for `describe`

    def convert(self, precision: str, calibration: Calibration | None) -> Converted:
        """The ONNX model in `precision`; the float graph is converted once and quantized."""
        if self._float is None:
            self._float = convert_onnx(self._model, self._shape, self._options.opset)
        if precision == "fp32":
            return Converted(self._float)
        calibration = calibration or Calibration(np.empty((0,), np.float32))
        corrected = calibration.bias_correction and PRECISIONS[precision].calibrated
        try:
            data = self._quantize(precision, calibration, corrected)
        except Exception as error:  # NNCF's bias correction cannot follow every graph
            if not corrected:
                raise
            log.warning("NNCF's bias correction failed on this graph (%s: %s); quantizing with "
                        "onnxruntime's quantizer, without it", type(error).__name__, error)
            corrected, data = False, self._quantize(precision, calibration, False)
        self._static = ({"activation_ranges": calibration.ranges, "bias_correction": corrected}
                        if PRECISIONS[precision].calibrated else {})
        return Converted(data)

    def _quantize(self, precision: str, calibration: Calibration, bias_correction: bool) -> bytes:
        """The float graph quantized to `precision` on `calibration`'s inputs and rules."""
        return quantize_onnx(self._float, precision, calibration.inputs,
                             self._options.per_channel, calibration.ranges, bias_correction)

    def remedy(self, precision: str,
               calibration: Calibration | None) -> Callable[[], tuple[Converted, dict]] | None:
        """A second way to convert a static int8 file that fails its gate here, or None.

        Where int8 sums saturate (an engine adds uint8 x int8 pairs in 16 bits, as OpenVINO
        does on x86 without VNNI): onnxruntime's quantizer with 7-bit weights. Called, it gives
        the file and its quantization fields (as `describe` would).
        """
        if not PRECISIONS[precision].calibrated or not int8_sums_saturate():
            return None

        def seven_bit() -> tuple[Converted, dict]:
            data = quantize_onnx(self._float, precision, calibration.inputs,
                                 self._options.per_channel, calibration.ranges, seven_bit=True)
            return Converted(data), {"weights": self._weights, "overflow_fix": True,
                                     "activation_ranges": calibration.ranges,
                                     "bias_correction": False}
        return seven_bit

    def describe(self, data: bytes, precision: str) -> dict:
        """Quantization fields: the weights' granularity, as asked for, and static int8's rules."""
        if not PRECISIONS[precision].int8_weights:
            return {}
        return {"weights": self._weights, **self._static}

    @property
    def _weights(self) -> str:
        """The int8 weights' granularity, as asked for."""
        return "per-channel" if self._options.per_channel else "per-tensor"

    def embed(self, data: bytes, text: str) -> bytes:
        """The model with the manifest in its metadata_props."""
        return embed_onnx_metadata(data, text)

    def artifact_fields(self) -> dict:
        """Extra ArtifactInfo fields: the opset."""
        return {"opset": self._options.opset}

    def close(self) -> None:
        """Nothing to clean up."""
