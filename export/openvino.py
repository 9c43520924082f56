"""Keras model -> ONNX -> OpenVINO IR (an .xml graph, its .bin weights), and NNCF's int8 for it.

The float graph is the export's own ONNX (tf2onnx), read by OpenVINO's converter, so the IR
computes what the ONNX file does. fp32 keeps float32 weights; fp16 stores them as float16
(OpenVINO decompresses them and computes in float32 on a CPU); bf16 keeps float32 weights and
records bfloat16 as the inference precision in the IR (rt_info runtime_options, which
runtime/backends.py's OpenVINOSession applies), for CPUs with AVX512_BF16 or AMX. int8 is
NNCF's post-training quantization, calibrated on the same images as TFLite and ONNX. Where that
costs more than its ACCURACY_SHARES of the gate's PSNR budget on those calibration images,
NNCF's accuracy control returns, layer by layer, the layers that cost most to float until it
does not: measured on the training images only, never on the samples the parity gate then
judges. int8-bf16 is the same with those float layers computed in bfloat16 (recorded like
bf16's): on a CPU with AMX they cost about what int8 layers do, where in float32 they took most
of the frame's time.
Where this CPU's int8 sums saturate (x86 without VNNI), every layer's weights get NNCF's
overflow fix, as the gate is measured here: see `quantize_ir`.
"""

from __future__ import annotations

import logging
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from edgeae.core.formats import PRECISIONS
from edgeae.core.manifest import EMBEDDED_KEY
from edgeae.export.onnx import OnnxConverter, nncf_advanced, nncf_options, toolchain_quiet
from edgeae.export.options import Calibration, Converted
from edgeae.export.parity import mean_psnr
from edgeae.runtime.backends import OPENVINO_PRECISION_HINT, int8_sums_saturate

log = logging.getLogger(__name__)
# The share of the int8 gate's PSNR drop that quantizing may cost on the calibration images:
# the rest is left for the unseen samples the gate measures. NNCF's accuracy control measures
# the layers it keeps in float in float32; int8-bf16 computes them in bfloat16, whose rounding
# comes on top, so it gets half the share: chosen on validation images by
# benchmarks/int8_bf16.py's rule (the larger share lost 0.12 dB there, this one 0.08).
ACCURACY_SHARES = {"int8": 0.5, "int8-bf16": 0.25}
VALIDATION_IMAGES = 64  # calibration images the accuracy control measures on
# precision row -> OpenVINO's inference precision, recorded in the IR
INFERENCE_PRECISIONS = {"bf16": "bf16", "int8-bf16": "bf16"}


def embed_ir_metadata(xml: bytes, text: str, name: str = EMBEDDED_KEY) -> bytes:
    """The IR's graph with `text` under rt_info/framework/`name`; the weights are untouched.

    That is where OpenVINO keeps an ONNX file's metadata_props (get_rt_info()["framework"]).
    """
    root = ET.fromstring(xml)
    rt_info = _child(root, "rt_info")
    _child(_child(rt_info, "framework"), name).set("value", text)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _child(parent: ET.Element, tag: str) -> ET.Element:
    """The first child called `tag`, made when there is none."""
    found = parent.find(tag)
    return found if found is not None else ET.SubElement(parent, tag)


def quantize_ir(model, calibration: Calibration, max_drop_db: float,
                overflow_fix: bool = False, per_channel: bool = True):
    """NNCF int8 of an OpenVINO model, with accuracy control when `calibration` has targets.

    The activation ranges and bias correction follow `calibration`'s rules (`--int8-ranges`,
    `--int8-bias-correction`), as the ONNX file's do. `overflow_fix` halves every layer's
    weight range (7-bit weights), not only the first layer's: without VNNI, x86 int8
    convolutions add pairs of products in 16 bits, which saturates (the demo's autoencoder lost
    0.48 dB there, 0.06 with it); with VNNI it would only cost precision, so the export asks for
    it where its CPU saturates (OpenVINOConverter).
    """
    import nncf

    inputs = nncf.Dataset([image[None] for image in calibration.inputs])
    if calibration.pasted_anomalies:
        # NNCF's default range, the mean of each input's, clips the activations the pasted
        # anomalies of a mask predictor's calibration make: a DRAEM detector lost 0.011 pixel
        # AUROC with it, none with covering ranges and asymmetric activations (benchmarks/draem.py)
        return nncf.quantize(model, inputs, subset_size=len(calibration.inputs),
                             **nncf_options("cover", per_channel=per_channel,
                                            overflow_fix=overflow_fix))
    advanced = nncf_advanced(calibration.ranges, per_channel, overflow_fix)
    fast = not calibration.bias_correction
    if calibration.targets is None:
        return nncf.quantize(model, inputs, subset_size=len(calibration.inputs),
                             fast_bias_correction=fast, advanced_parameters=advanced)
    n = min(VALIDATION_IMAGES, len(calibration.inputs))
    targets = calibration.targets[:n]

    def psnr(compiled, data) -> float:
        return mean_psnr(np.concatenate([compiled(x)[0] for x in data]), targets)

    validation = nncf.Dataset([image[None] for image in calibration.inputs[:n]])
    return nncf.quantize_with_accuracy_control(
        model, inputs, validation, psnr, max_drop=max_drop_db,
        drop_type=nncf.DropType.ABSOLUTE, subset_size=len(calibration.inputs),
        fast_bias_correction=fast, advanced_quantization_parameters=advanced)


def ir_int8_rules(calibration: Calibration) -> dict:
    """The manifest's record of how quantize_ir pooled the ranges and corrected the biases."""
    if calibration.pasted_anomalies:
        return {"activation_ranges": "cover", "bias_correction": False}
    return {"activation_ranges": calibration.ranges,
            "bias_correction": calibration.bias_correction}


class OpenVINOConverter:
    """The OpenVINO row's converter: the ONNX converter's float graph, saved as IR per precision."""

    def __init__(self, model, shape: tuple[int | None, ...], options) -> None:
        self._onnx = OnnxConverter(model, shape, options)
        self._gate_drop = options.tolerances.int8_psnr_drop_db
        self._overflow_fix = int8_sums_saturate()  # where the gate is measured (quantize_ir)
        self._per_channel = options.per_channel
        self._rules: dict = {}  # the last int8 conversion's range and bias rules, for `describe`

    def convert(self, precision: str, calibration: Calibration | None) -> Converted:
        """The IR in `precision`: graph and weights."""
        import openvino as ov

        with tempfile.TemporaryDirectory(prefix="edgeae-openvino-") as tmp:
            onnx_path, xml = Path(tmp) / "float.onnx", Path(tmp) / "model.xml"
            onnx_path.write_bytes(self._onnx.convert("fp32", None).data)
            if PRECISIONS[precision].calibrated and (calibration is None
                                                     or not len(calibration.inputs)):
                raise ValueError("int8 needs calibration images")
            with toolchain_quiet():
                model = ov.convert_model(onnx_path)
                if PRECISIONS[precision].calibrated:
                    model = quantize_ir(model, calibration,
                                        self._gate_drop * ACCURACY_SHARES[precision],
                                        self._overflow_fix, self._per_channel)
                    self._rules = ir_int8_rules(calibration)
            if precision in INFERENCE_PRECISIONS:
                model.set_rt_info(INFERENCE_PRECISIONS[precision], OPENVINO_PRECISION_HINT)
            ov.save_model(model, xml, compress_to_fp16=precision == "fp16")
            return Converted(xml.read_bytes(), xml.with_suffix(".bin").read_bytes())

    def describe(self, data: bytes, precision: str) -> dict:
        """Quantization fields: NNCF's weight scales, overflow-fixed or not; its rules."""
        if not PRECISIONS[precision].int8_weights:
            return {}
        return {"weights": "per-channel" if self._per_channel else "per-tensor",
                "overflow_fix": self._overflow_fix, **self._rules}

    def embed(self, data: bytes, text: str) -> bytes:
        """The graph with the manifest in its rt_info."""
        return embed_ir_metadata(data, text)

    def artifact_fields(self) -> dict:
        """Extra ArtifactInfo fields: the opset of the ONNX graph it was read from."""
        return self._onnx.artifact_fields()

    def close(self) -> None:
        """Nothing to clean up."""
