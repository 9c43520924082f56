"""Keras model -> NCHW ONNX -> ncnn (.param graph, .ncnn.bin weights) with pnnx.

ncnn computes in CHW, so the ONNX given to pnnx takes and returns NCHW (tf2onnx's
inputs_as_nchw), which lets the layout transposes cancel out. pnnx's own binary is used (the
`pnnx` wheel's Python wrapper imports PyTorch, which an ONNX conversion does not need). Two of
the graph's operations come out of pnnx in a form ncnn does not run, and are written as the
ncnn layers that compute the same thing:
- ONNX DepthToSpace (DCR, TensorFlow's order; the U-Net's PixelShuffle) is left as an unknown
  layer: it becomes ncnn's PixelShuffle with mode=1, its DCR order;
- the U-Net's nearest 2x upsampling (ONNX Resize with sizes read from the input's shape) is
  fixed to the sizes of the shape pnnx traced: it becomes Interp with scale factors 2, so the
  graph takes frames of any size, as the other formats do.
The parity gate then runs the result in ncnn itself, like every artifact.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
import tempfile
from pathlib import Path

from edgeae.core.errors import UnsupportedModel, UserError
from edgeae.export.options import Calibration, Converted

# pnnx traces a model of any size at this size and at twice it (a multiple of every U-Net's
# downsampling), so what the graph reads from the input's shape stays dynamic
TRACE_SIZE = 64
UNFOLDED = "Tensor.reshape"  # pnnx's own op for a reshape it did not turn into ncnn's
log = logging.getLogger(__name__)
_DEPTH_TO_SPACE = re.compile(r"^DepthToSpace(\s+)(\S+)(\s+1 1 \S+ \S+)\s*$", re.M)
_FIXED_INTERP = re.compile(r"^(Interp\s+\S+\s+1 1 \S+ \S+ 0=1) 3=\d+ 4=\d+", re.M)


def pnnx_binary() -> Path:
    """The converter binary inside the installed `pnnx` package."""
    spec = importlib.util.find_spec("pnnx")
    binary = Path(next(iter(spec.submodule_search_locations))) / "pnnx" if spec else None
    if binary is None or not binary.is_file():
        raise UserError("export --format ncnn needs pnnx's converter: pip install --no-deps pnnx")
    return binary


def runnable_param(text: str) -> str:
    """Pnnx's .param with the two layers ncnn cannot run rewritten (see the module's notes)."""
    text = _DEPTH_TO_SPACE.sub(lambda m: f"PixelShuffle{m[1]}{m[2]}{m[3]} 0=2 1=1", text)
    return _FIXED_INTERP.sub(r"\1 1=2.000000e+00 2=2.000000e+00", text)


def convert_ncnn(onnx_nchw: bytes, shape: tuple[int, int, int], dynamic: bool,
                 fp16: bool) -> Converted:
    """The .param text and weights of an NCHW ONNX model traced at CHW `shape`.

    `dynamic`: traced at twice the size too, so the graph takes any size.
    """
    c, h, w = shape
    sizes = [f"inputshape=[1,{c},{h},{w}]"] + (
        [f"inputshape2=[1,{c},{2 * h},{2 * w}]"] if dynamic else [])
    with tempfile.TemporaryDirectory(prefix="edgeae-ncnn-") as tmp:
        src = Path(tmp) / "model.onnx"
        src.write_bytes(onnx_nchw)
        done = subprocess.run([str(pnnx_binary()), src.name, *sizes, f"fp16={int(fp16)}"],
                              cwd=tmp, capture_output=True, text=True, check=False)
        param, weights = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if done.returncode or not param.is_file():
            tail = " ".join((done.stderr or done.stdout).split()[-30:])
            raise UnsupportedModel(f"pnnx could not convert the model to ncnn ({tail})")
        text = runnable_param(param.read_text())
        missing = unknown_layers(text)
        if missing:
            raise MissingLayers(missing, f"ncnn has no {', '.join(missing)} layer, which this "
                                "model needs as pnnx converts it; export another format")
        return Converted(text.encode(), weights.read_bytes())


class MissingLayers(UnsupportedModel):
    """pnnx's graph needs layers the installed ncnn lacks (`layers`, by name)."""

    def __init__(self, layers: list[str], message: str) -> None:
        super().__init__(message)
        self.layers = layers


def unknown_layers(param: str) -> list[str]:
    """The layer types in an ncnn .param that the installed ncnn does not have."""
    import ncnn

    types = {line.split()[0] for line in param.splitlines()[2:] if line.strip()}
    return sorted(t for t in types if ncnn.layer_to_index(t) < 0)


class NcnnConverter:
    """The ncnn row's converter: one NCHW ONNX per export, pnnx per precision."""

    def __init__(self, model, shape: tuple[int | None, ...], options) -> None:
        self._model, self._shape, self._options = model, shape, options
        self._onnx: bytes | None = None

    def convert(self, precision: str, calibration: Calibration | None) -> Converted:
        """fp32, or fp16 weights (ncnn computes in float32 on a CPU without fp16 arithmetic).

        pnnx at times leaves a reshape it could not fold (`Tensor.reshape`), depending on the
        node names tf2onnx gave; the graph is then converted again, which names it afresh.
        """
        from edgeae.export.onnx import CONVERSION_ATTEMPTS

        for attempt in range(1, CONVERSION_ATTEMPTS):
            try:
                return self._pnnx(precision)
            except MissingLayers as exc:
                if exc.layers != [UNFOLDED]:
                    raise
                log.warning("pnnx left %s (attempt %d of %d); converting again",
                            UNFOLDED, attempt, CONVERSION_ATTEMPTS)
                self._onnx = None
        return self._pnnx(precision)

    def _pnnx(self, precision: str) -> Converted:
        """Run pnnx on the NCHW ONNX graph, converted afresh when there is none."""
        from edgeae.export.onnx import convert_onnx

        if self._onnx is None:
            self._onnx = convert_onnx(self._model, self._shape, self._options.opset, nchw=True,
                                      fresh=True)
        h, w, c = self._shape
        return convert_ncnn(self._onnx, (c, h or TRACE_SIZE, w or TRACE_SIZE),
                            dynamic=h is None, fp16=precision == "fp16")

    def describe(self, data: bytes, precision: str) -> dict:
        """No quantization to describe."""
        return {}

    def embed(self, data: bytes, text: str) -> bytes:
        """An ncnn .param has no place for metadata: the manifest travels as the JSON beside it."""
        return data

    def artifact_fields(self) -> dict:
        """Extra ArtifactInfo fields: the opset of the ONNX graph pnnx read."""
        return {"opset": self._options.opset}

    def close(self) -> None:
        """Nothing to clean up."""

