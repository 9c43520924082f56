"""Keras model -> ONNX -> OpenVINO IR (an .xml graph, its .bin weights), and NNCF's int8 for it.

The float graph is the export's own ONNX (tf2onnx), read by OpenVINO's converter, so the IR
computes what the ONNX file does. fp32 keeps float32 weights; fp16 stores them as float16
(OpenVINO decompresses them and computes in float32 on a CPU); bf16 keeps float32 weights and
records bfloat16 as the inference precision in the IR (rt_info runtime_options, which
runtime/backends.py's OpenVINOSession applies), for CPUs with AVX512_BF16 or AMX. int8 is
NNCF's post-training quantization, calibrated on the same images as TFLite and ONNX. Where that
costs more than ACCURACY_SHARE of the gate's PSNR budget on those calibration images, NNCF's
accuracy control returns, layer by layer, the layers that cost most to float until it does not:
measured on the training images only, never on the samples the parity gate then judges.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeae.core.formats import PRECISIONS
from edgeae.core.manifest import EMBEDDED_KEY
from edgeae.export.onnx import OnnxConverter
from edgeae.export.options import Calibration, Converted
from edgeae.export.parity import mean_psnr
from edgeae.runtime.backends import OPENVINO_PRECISION_HINT

log = logging.getLogger(__name__)
# The share of the int8 gate's PSNR drop that quantizing may cost on the calibration images:
# the rest is left for the unseen samples the gate measures.
ACCURACY_SHARE = 0.5
VALIDATION_IMAGES = 64  # calibration images the accuracy control measures on
INFERENCE_PRECISIONS = {"bf16": "bf16"}  # precision row -> OpenVINO's inference precision


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


def quantize_ir(model, calibration: Calibration, max_drop_db: float):
    """NNCF int8 of an OpenVINO model, with accuracy control when `calibration` has targets."""
    import nncf

    inputs = nncf.Dataset([image[None] for image in calibration.inputs])
    if calibration.targets is None:
        return nncf.quantize(model, inputs, subset_size=len(calibration.inputs),
                             **(_covering_ranges() if calibration.pasted_anomalies else {}))
    n = min(VALIDATION_IMAGES, len(calibration.inputs))
    targets = calibration.targets[:n]

    def psnr(compiled, data) -> float:
        return mean_psnr(np.concatenate([compiled(x)[0] for x in data]), targets)

    validation = nncf.Dataset([image[None] for image in calibration.inputs[:n]])
    return nncf.quantize_with_accuracy_control(
        model, inputs, validation, psnr, max_drop=max_drop_db,
        drop_type=nncf.DropType.ABSOLUTE, subset_size=len(calibration.inputs))


def _covering_ranges() -> dict:
    """NNCF options whose activation ranges cover every calibration input, as onnxruntime's MinMax.

    NNCF's default range is the mean over inputs of each one's minimum and maximum, which clips
    the activations that the calibration's pasted anomalies make: a DRAEM detector lost 0.011
    pixel AUROC with it and none with these (benchmarks/draem.py; chosen on its validation crops,
    asymmetric activations by 0.001 over symmetric, at the same speed).
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    return {"preset": nncf.QuantizationPreset.MIXED,
            "advanced_parameters": AdvancedQuantizationParameters(
                activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)}


@contextlib.contextmanager
def _toolchain_quiet() -> Iterator[None]:
    """NNCF's INFO lines and progress bars, and the converter's, only with --verbose (stderr).

    They print on stdout, which is the command's report. Its logger's level alone:
    nncf.set_log_level also re-levels the handlers it shares.
    """
    verbose = log.isEnabledFor(logging.DEBUG)
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        with contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


class OpenVINOConverter:
    """The OpenVINO row's converter: the ONNX converter's float graph, saved as IR per precision."""

    def __init__(self, model, shape: tuple[int | None, ...], options) -> None:
        self._onnx = OnnxConverter(model, shape, options)
        self._max_drop = options.tolerances.int8_psnr_drop_db * ACCURACY_SHARE

    def convert(self, precision: str, calibration: Calibration | None) -> Converted:
        """The IR in `precision`: graph and weights."""
        import openvino as ov

        with tempfile.TemporaryDirectory(prefix="edgeae-openvino-") as tmp:
            onnx_path, xml = Path(tmp) / "float.onnx", Path(tmp) / "model.xml"
            onnx_path.write_bytes(self._onnx.convert("fp32", None).data)
            if PRECISIONS[precision].calibrated and (calibration is None
                                                     or not len(calibration.inputs)):
                raise ValueError("int8 needs calibration images")
            with _toolchain_quiet():
                model = ov.convert_model(onnx_path)
                if PRECISIONS[precision].calibrated:
                    model = quantize_ir(model, calibration, self._max_drop)
            if precision in INFERENCE_PRECISIONS:
                model.set_rt_info(INFERENCE_PRECISIONS[precision], OPENVINO_PRECISION_HINT)
            ov.save_model(model, xml, compress_to_fp16=precision == "fp16")
            return Converted(xml.read_bytes(), xml.with_suffix(".bin").read_bytes())

    def describe(self, data: bytes, precision: str) -> dict:
        """Quantization fields: NNCF's int8 weights are per channel."""
        return {"weights": "per-channel"} if PRECISIONS[precision].int8_weights else {}

    def embed(self, data: bytes, text: str) -> bytes:
        """The graph with the manifest in its rt_info."""
        return embed_ir_metadata(data, text)

    def artifact_fields(self) -> dict:
        """Extra ArtifactInfo fields: the opset of the ONNX graph it was read from."""
        return self._onnx.artifact_fields()

    def close(self) -> None:
        """Nothing to clean up."""
