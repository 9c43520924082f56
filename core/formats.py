"""The vocabulary of model files: formats and precisions as tables, read by every stage.

A format is a kind of model file (Keras, TFLite, ONNX, OpenVINO IR); a precision is how its
numbers are stored and computed (fp32, fp16, bf16 compute, int8 weights with dynamic activations,
full int8, full int8 with bf16 compute where it keeps float). The export
converts with the format's converter, the runtime picks a backend by the format's suffix, the
benchmark, the report, the CLI's choices and the pretrained files all read these rows. Adding a
format or a precision is one row here and its converter (export/) or session
(runtime/backends.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Gate = Literal["max_abs_diff", "quality"]


@dataclass(frozen=True)
class Precision:
    """How an artifact stores its numbers, and how its export is judged against Keras.

    A float precision must match Keras closely (`gate` "max_abs_diff", limit `tolerance`, a
    field of export/parity.py's Tolerances); a quantized one is judged by what users see
    ("quality": the PSNR and AUROC drops).
    """

    name: str
    calibrated: bool  # needs calibration images (static activation ranges)
    int8_weights: bool  # weights stored as int8 (per channel or per tensor)
    gate: Gate
    tolerance: str | None = None  # the Tolerances field bounding max|diff| for a float gate
    description: str = ""
    # an instruction set the CPU must have (as OpenVINO's OPTIMIZATION_CAPABILITIES names it):
    # without it the precision cannot be measured, so it is neither exported nor offered
    cpu_capability: str | None = None


@dataclass(frozen=True)
class Format:
    """A kind of model file: its suffix, the precisions it stores and how each is quantized.

    `schemes` maps each supported precision to the manifest's Quantization.scheme (None for
    float). `converter` names the export's converter class ("module:Class") or is None for the
    format training writes (Keras), which is run but never exported.
    """

    name: str
    suffix: str
    schemes: dict[str, str | None]
    converter: str | None
    description: str = ""
    weights_suffix: str | None = None  # a second file beside it holding the weights (IR .bin)
    needs: tuple[str, ...] = ()  # distributions its converter needs beyond the export's own
    # in `--format all` and the benchmark's default rows: False for a format only some models
    # convert to, which is asked for by name
    in_all: bool = True
    embeds_manifest: bool = True  # the file carries a copy of its manifest (ncnn's cannot)

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions this format stores, in table order."""
        return tuple(p for p in PRECISIONS if p in self.schemes)

    @property
    def exported(self) -> bool:
        """Whether `edgeae export` writes this format."""
        return self.converter is not None


PRECISIONS: dict[str, Precision] = {p.name: p for p in (
    Precision("fp32", False, False, "max_abs_diff", "fp32_max_abs_diff", "32-bit floats"),
    Precision("fp16", False, False, "max_abs_diff", "fp16_max_abs_diff",
              "16-bit float weights, float32 compute"),
    Precision("bf16", False, False, "max_abs_diff", "bf16_max_abs_diff",
              "float32 weights, bfloat16 compute (CPUs with AVX512_BF16 or AMX)",
              cpu_capability="BF16"),
    Precision("int8-dynamic", False, True, "quality", None,
              "int8 weights, activations quantized at run time"),
    Precision("int8", True, True, "quality", None,
              "int8 weights and activations, calibrated on training images"),
    Precision("int8-bf16", True, True, "quality", None,
              "int8, its layers kept in float computed in bfloat16 (CPUs with AVX512_BF16 or AMX)",
              cpu_capability="BF16"),
)}

FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("keras", ".keras", {"fp32": None}, None, "the trained Keras model (TensorFlow)"),
    Format("tflite", ".tflite",
           {"fp32": None, "fp16": "float16-weights", "int8-dynamic": "dynamic-range",
            "int8": "full-integer"},
           "edgeae.export.tflite:TFLiteConverter", "LiteRT / tflite-runtime flatbuffer"),
    Format("onnx", ".onnx", {"fp32": None, "int8-dynamic": "dynamic-range", "int8": "qdq"},
           "edgeae.export.onnx:OnnxConverter", "ONNX graph (onnxruntime, OpenVINO)"),
    Format("openvino", ".xml",
           {"fp32": None, "fp16": "float16-weights", "bf16": "bf16-compute", "int8": "nncf",
            "int8-bf16": "nncf-bf16-compute"},
           "edgeae.export.openvino:OpenVINOConverter",
           "OpenVINO IR: the .xml graph and its .bin weights beside it", weights_suffix=".bin",
           needs=("openvino", "nncf")),
    Format("ncnn", ".param", {"fp32": None, "fp16": "float16-weights"},
           "edgeae.export.ncnn:NcnnConverter",
           "ncnn: the .param graph and its .ncnn.bin weights beside it (pnnx from ONNX)",
           weights_suffix=".ncnn.bin", needs=("pnnx", "ncnn"), in_all=False,
           embeds_manifest=False),
)}


# the export's parity report beside its artifacts (edgeae export writes it, report reads it)
REPORT_FILE = "parity.json"


def exported_formats() -> tuple[str, ...]:
    """Names of the formats `edgeae export` writes."""
    return tuple(name for name, f in FORMATS.items() if f.exported)


def all_formats(exported_only: bool = True) -> tuple[str, ...]:
    """What `--format all` exports (or, with Keras, what the benchmark measures by default)."""
    return tuple(name for name, f in FORMATS.items()
                 if f.in_all and (f.exported or not exported_only))


def artifact_name(fmt: str, precision: str, input_size: tuple[int, int] | None,
                  part: str = "model") -> str:
    """model_fp32.tflite, model_int8_256x256.onnx, decoder_int8.tflite, ..."""
    size = f"_{input_size[0]}x{input_size[1]}" if input_size else ""
    return f"{part}_{precision}{size}{FORMATS[fmt].suffix}"
