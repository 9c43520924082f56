"""Inference backends described as data; the runtime loops over this table, never over names.

Each backend runs the files of one format (core/formats.py): it opens a file into a `Session`
whose `run` takes a float32 NHWC batch and returns the model's float32 output (quantized inputs
and outputs are converted inside). Backends import lazily, so only the one used is loaded.
Adding one is a row: `register_backend(Backend(...))` with its session opener; training
registers Keras this way (train/keras_backend.py).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import platform
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeae.core.cpu import cpu_flags
from edgeae.core.errors import UserError, first_line
from edgeae.core.files import cache_folder, prune_oldest
from edgeae.core.formats import FORMATS
from edgeae.core.manifest import weights_path_for
from edgeae.core.quiet import native_stderr_to_null, quiet_wanted
from edgeae.runtime.buffers import KeptArrays

log = logging.getLogger(__name__)


class Session(Protocol):
    """A loaded model that maps an NHWC float32 batch to its output."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch; the returned array may be reused by the next call."""
        ...


# engines crash or hang on absurd thread counts (LiteRT and ncnn segfault at 100,000)
MAX_THREADS = 1024


def check_threads(num_threads: object) -> None:
    """A one-line UserError unless `num_threads` is None (every core) or 1..MAX_THREADS."""
    if num_threads is None:
        return
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) \
            or not 1 <= num_threads <= MAX_THREADS:
        raise UserError(f"threads must be a whole number from 1 to {MAX_THREADS} (or None for "
                        f"every core), got {num_threads!r}")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class TFLiteSession:
    """A TFLite interpreter that re-allocates only when the input shape changes.

    Full-integer artifacts take and return uint8/int8 tensors: float batches are quantized with
    the input's scale and zero point and outputs dequantized, in buffers reused across calls.
    Unset threads mean every usable core, as onnxruntime and OpenVINO default to: the
    interpreter's own default is one thread, which leaves the other cores idle.
    """

    def __init__(self, interpreter_cls: type, path: Path, num_threads: int | None) -> None:
        self._path = Path(path)
        try:
            self._interp = interpreter_cls(model_path=str(path),
                                           num_threads=num_threads or usable_cores())
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"{path} is not a readable TFLite model ({first_line(exc)}); "
                            "re-export it with `edgeae export`") from None
        in_detail = self._interp.get_input_details()[0]
        out_detail = self._interp.get_output_details()[0]
        self._in, self._out = in_detail["index"], out_detail["index"]
        self._in_dtype = in_detail["dtype"]
        self._in_q = _affine(in_detail)
        self._out_q = _affine(out_detail)
        self._shape: tuple[int, ...] | None = None
        self._kept = KeptArrays()  # the quantized input, its float scratch and the result

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run `batch` (NHWC float32) and return the output in a buffer reused across calls."""
        if batch.shape != self._shape:
            self._interp.resize_tensor_input(self._in, batch.shape, strict=False)
            first = self._shape is None  # where XNNPACK says "Created delegate" (once a process)
            with native_stderr_to_null(first and quiet_wanted()):
                self._interp.allocate_tensors()
            self._shape = batch.shape
        self._interp.set_tensor(self._in, self._quantize(batch))
        try:
            self._interp.invoke()
        except RuntimeError as exc:  # an operator this interpreter version cannot run
            self._shape = None
            raise UserError(f"{self._path.name} cannot run on this interpreter "
                            f"({_kernel_error(exc)}); install LiteRT (pip install "
                            "ai-edge-litert) or export another precision") from None
        out = self._interp.tensor(self._out)()  # a view into the interpreter's arena
        result = self._kept("result", out.shape)
        if self._out_q is None:
            np.copyto(result, out)
        else:
            scale, zero = self._out_q
            np.subtract(out, zero, out=result, dtype=np.float32)
            result *= scale
        return result

    def _quantize(self, batch: np.ndarray) -> np.ndarray:
        """Quantize into the reused integer buffer: clip(round(x / scale + zero_point))."""
        if self._in_q is None:
            return batch
        scale, zero = self._in_q
        info = np.iinfo(self._in_dtype)
        q = np.divide(batch, scale, out=self._kept("scratch", batch.shape))
        q += zero
        np.rint(q, out=q)
        np.clip(q, info.min, info.max, out=q)
        quantized = self._kept("quantized", batch.shape, self._in_dtype)
        np.copyto(quantized, q, casting="unsafe")
        return quantized


def _affine(detail: dict) -> tuple[float, int] | None:
    """(scale, zero_point) of an integer tensor, None for a float one."""
    if detail["dtype"] not in (np.uint8, np.int8):
        return None
    scale, zero = detail["quantization"]
    return float(scale), int(zero)


# onnxruntime's x86 int8 kernels without VNNI add pairs of uint8 x int8 products in 16 bits,
# which saturates; this session option makes them multiply uint8 x uint8 instead, exactly.
ORT_EXACT_INT8 = ("session.x64quantprecision", "1")


class OnnxSession:
    """An onnxruntime InferenceSession on the CPU with a fixed thread count.

    Where the CPU would saturate int8 sums (`int8_sums_saturate`) the session uses
    onnxruntime's exact int8 kernels: an int8 file then gives what the export gate measured,
    the same output as on a CPU with VNNI, at about fp32's speed (BENCHMARKS.md, int8 kernels).
    """

    def __init__(self, path: Path, num_threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # errors only: tf2onnx's nearest Resize carries an attribute onnxruntime warns about on
        # every session (`tf_half_pixel_for_nn`), though it computes the same thing
        options.log_severity_level = 3
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        if int8_sums_saturate():
            options.add_session_config_entry(*ORT_EXACT_INT8)
        try:
            self._session = ort.InferenceSession(str(path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own pybind types for bad files
            raise UserError(f"{path} is not a readable ONNX model ({first_line(exc)}); "
                            "re-export it with `edgeae export`") from None
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self._shape: tuple[int, ...] | None = None
        self._binding = self._session.io_binding()
        self._result: np.ndarray | None = None  # onnxruntime writes each output into it

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one NHWC float32 batch; the output is written into a buffer reused across calls.

        The first batch of a shape runs plainly, to learn the output's shape; from then on the
        output is bound to the kept buffer (I/O binding), so a frame allocates no output.
        """
        batch = np.ascontiguousarray(batch)
        if batch.shape != self._shape:
            self._result = np.array(self._session.run([self._output], {self._input: batch})[0])
            self._binding.clear_binding_outputs()
            self._binding.bind_output(self._output, "cpu", 0, self._result.dtype,
                                      self._result.shape, self._result.ctypes.data)
            self._shape = batch.shape
            return self._result
        self._binding.bind_cpu_input(self._input, batch)
        self._session.run_with_iobinding(self._binding)
        return self._result

    def metadata(self) -> dict[str, str]:
        """The model's metadata_props."""
        return dict(self._session.get_modelmeta().custom_metadata_map)


OPENVINO_PRECISION_HINT = ["runtime_options", "INFERENCE_PRECISION_HINT"]  # an IR's rt_info
OPENVINO_CACHE = "openvino"  # the cache folder's subfolder for compiled models
OPENVINO_CACHE_BYTES = 512 * 2**20  # its newest files kept: hundreds of models and shapes
OPENVINO_SHAPES = 4  # compiled input shapes a session keeps ready


@contextlib.contextmanager
def _cache_lock(folder: Path | None) -> Iterator[None]:
    """An exclusive lock on a cache folder between processes (flock); none where it cannot be.

    Without fcntl (Windows) or a writable lock file, the block runs unlocked.
    """
    try:
        import fcntl

        handle = open(folder / ".lock", "a") if folder is not None else None  # noqa: SIM115
    except (ImportError, OSError):
        handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class OpenVINOSession:
    """OpenVINO on the CPU, reading an exported ONNX file or its own IR (.xml with its .bin).

    The graph is reshaped to each new input shape and compiled for it (the last OPENVINO_SHAPES
    kept ready), with the latency hint, a fixed thread count and float32 inference precision
    (exact; OpenVINO's default on CPUs with BF16 is bfloat16, which moves outputs by about
    1e-2), unless the IR records its own (a bf16 export: rt_info runtime_options
    INFERENCE_PRECISION_HINT). Compiled models are cached in
    OPENVINO_CACHE (`$EDGEAE_CACHE/openvino`, else ~/.cache/edgeae/openvino), so the next start
    with the same file and shape skips most of the compilation; the newest files that fit in
    OPENVINO_CACHE_BYTES are kept.
    """

    def __init__(self, path: Path, num_threads: int | None) -> None:
        import openvino as ov

        self._core = ov.Core()
        self._cache = cache_folder(OPENVINO_CACHE)
        if self._cache is not None:
            self._core.set_property({"CACHE_DIR": str(self._cache)})
        try:
            self._model = self._core.read_model(str(path))
        except RuntimeError as exc:
            weights = weights_path_for(Path(path))
            if weights is not None and not weights.is_file():  # OpenVINO's own says nothing
                raise UserError(f"{weights} is missing: an IR is its .xml and .bin together; "
                                "copy both, or re-export them with `edgeae export`") from None
            raise UserError(f"{path} is not a model OpenVINO can read ({first_line(exc)}); "
                            "re-export it with `edgeae export`") from None
        hint = (self._model.get_rt_info(OPENVINO_PRECISION_HINT).astype(str)
                if self._model.has_rt_info(OPENVINO_PRECISION_HINT) else "f32")
        self._config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint}
        if num_threads:
            self._config["INFERENCE_NUM_THREADS"] = num_threads
        # an infer request per input shape, the newest OPENVINO_SHAPES kept: a gray model fed
        # colourful and gray-content frames in turn (3 planes, then 1) had compiled every call
        self._requests: dict[tuple[int, ...], object] = {}

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one NHWC float32 batch; the output is a view into the request's own buffer."""
        request = self._requests.pop(batch.shape, None)
        if request is None:
            self._model.reshape({self._model.inputs[0]: list(batch.shape)})
            request = self._compiled().create_infer_request()
            if self._cache is not None:  # a compile may have added a file: keep it bounded
                prune_oldest(self._cache, OPENVINO_CACHE_BYTES)
            if len(self._requests) >= OPENVINO_SHAPES:
                del self._requests[next(iter(self._requests))]  # the least recently used
        self._requests[batch.shape] = request  # the most recent last
        # the output stays in the request's own buffer: no copy handed back and thrown away
        request.infer({0: batch}, share_outputs=True)
        return request.get_output_tensor(0).data

    def _compiled(self):  # noqa: ANN202 - an openvino.CompiledModel
        """The model compiled for its shape; compiled again without the cache if that fails.

        Processes compile one at a time into one cache (_cache_lock): two services starting
        together had died of SIGBUS, one reading a blob the other was still writing, or failed
        in OpenVINO's own blob writing ("cannot set permissions: No such file").
        """
        try:
            with _cache_lock(self._cache):
                return self._core.compile_model(self._model, "CPU", self._config)
        except RuntimeError as exc:
            if self._cache is None:
                raise
            log.warning("OpenVINO's model cache %s failed (%s); compiling without it",
                        self._cache, first_line(exc))
            self._cache = None
            self._core.set_property({"CACHE_DIR": ""})
            return self._core.compile_model(self._model, "CPU", self._config)

    def metadata(self) -> dict[str, str]:
        """The ONNX file's metadata_props, or an IR's framework rt_info, as OpenVINO keeps them."""
        info = self._model.get_rt_info()
        framework = info["framework"] if "framework" in info else {}
        return {str(k): v.astype(str) for k, v in dict(framework).items()}


class NcnnSession:
    """ncnn on the CPU: the .param graph and the .ncnn.bin weights beside it.

    ncnn runs one CHW image at a time; NHWC batches are transposed in and out, into a buffer
    reused while the shape stays. Float32 throughout (fp16 and bf16 storage and arithmetic off),
    so a float artifact matches Keras as on the other engines.
    """

    def __init__(self, path: Path, num_threads: int | None) -> None:
        import ncnn

        self._ncnn, self._net = ncnn, ncnn.Net()
        opt = self._net.opt
        opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
        opt.use_bf16_storage = False
        if num_threads:
            opt.num_threads = num_threads
        weights = weights_path_for(path)
        if self._net.load_param(str(path)) or self._net.load_model(str(weights)):
            raise UserError(f"{path} with {weights.name} is not an ncnn model ncnn can read; "
                            "re-export it with `edgeae export --format ncnn`")
        self._input, self._output = self._net.input_names()[0], self._net.output_names()[0]
        self._kept = KeptArrays()  # the CHW copy ncnn reads, and the result

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one NHWC float32 batch, image by image.

        ncnn.Mat(array) wraps the array's memory without holding it, so the CHW copy lives in
        a buffer of ours until the extractor is done (a temporary would be freed at once).
        """
        chw = self._kept("chw", (batch.shape[3], *batch.shape[1:3]))
        result = None
        for i, image in enumerate(batch):
            np.copyto(chw, image.transpose(2, 0, 1))
            extractor = self._net.create_extractor()
            extractor.input(self._input, self._ncnn.Mat(chw))
            status, out = extractor.extract(self._output)
            if status:
                raise UserError(f"ncnn could not run this model (status {status}); export "
                                "another format")
            hwc = _hwc(np.asarray(out))
            result = self._kept("result", (len(batch), *hwc.shape))
            result[i] = hwc
        return result


def _hwc(out: np.ndarray) -> np.ndarray:
    """An ncnn output as HWC.

    ncnn keeps a CHW image 3-D; a single-channel one may come 2-D (H, W) or with a leading
    axis of 1 (1, C, H, W).
    """
    if out.ndim == 2:
        return out[..., None]
    return out.reshape(out.shape[-3:]).transpose(1, 2, 0)


@functools.cache
def cpu_capabilities() -> frozenset[str]:
    """What this CPU computes, as OpenVINO names it (FP32, BF16, INT8, ...); none without it."""
    if not BACKENDS["openvino"].available():
        return frozenset()
    import openvino as ov

    return frozenset(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})  # as /proc/cpuinfo names them


@functools.cache
def int8_sums_saturate() -> bool:
    """Whether this is an x86 CPU without VNNI, where onnxruntime's fast int8 kernels saturate.

    Without VNNI, x86 int8 convolutions multiply uint8 activations by int8 weights and add pairs
    of products in 16 bits, which overflows for large values: through those kernels the shipped
    int8 files lose 0.04-0.16 dB more than on a CPU with VNNI (BENCHMARKS.md, int8 kernels).
    Read from /proc/cpuinfo; False on other architectures or where it is unreadable.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    flags = cpu_flags()
    return bool(flags) and not VNNI_FLAGS & flags


def _kernel_error(exc: RuntimeError) -> str:
    """The useful part of a TFLite kernel error, without the source path it starts with."""
    return re.sub(r"\S+\.cc:\d+\s*", "", " ".join(str(exc).split()))[:200]


def _tflite_opener(module: str) -> Callable[[Path, int | None], Session]:
    def open_tflite(path: Path, num_threads: int | None) -> Session:
        interpreter_cls = importlib.import_module(module).Interpreter
        return TFLiteSession(interpreter_cls, path, num_threads)

    return open_tflite


def _tflite_metadata(path: Path) -> dict[str, str]:
    """Name -> text of the metadata buffers in a .tflite flatbuffer; {} for a damaged one.

    Read with the flatbuffers library by the TFLite schema's field numbers, so tflite-runtime,
    which ships no generated schema, checks the embedded manifest as LiteRT does (it had
    trusted an edited JSON beside the file, and could not load a file copied alone).
    """
    try:
        return _tflite_metadata_of(Path(path).read_bytes())
    except Exception:  # noqa: BLE001 - a damaged flatbuffer: "no embedded manifest"
        return {}


# the TFLite schema's field numbers (tensorflow/compiler/mlir/lite/schema/schema.fbs)
_MODEL_BUFFERS, _MODEL_METADATA, _METADATA_NAME, _METADATA_BUFFER, _BUFFER_DATA = 4, 6, 0, 1, 0


def _tflite_metadata_of(data: bytes) -> dict[str, str]:
    """`_tflite_metadata` of a flatbuffer's bytes (raises on a damaged one)."""
    from flatbuffers import encode, number_types, packer
    from flatbuffers.table import Table

    def field(table: Table, number: int) -> int:
        return table.Offset(4 + 2 * number)

    def tables(table: Table, number: int) -> list[Table]:
        at = field(table, number)
        start = table.Vector(at) if at else 0
        return [Table(data, table.Indirect(start + 4 * i))
                for i in range(table.VectorLen(at) if at else 0)]

    model = Table(data, encode.Get(packer.uoffset, data, 0))
    buffers, found = tables(model, _MODEL_BUFFERS), {}
    for entry in tables(model, _MODEL_METADATA):
        name = entry.String(entry.Pos + field(entry, _METADATA_NAME)).decode()
        buffer = buffers[entry.Get(number_types.Uint32Flags,
                                   entry.Pos + field(entry, _METADATA_BUFFER))]
        at = field(buffer, _BUFFER_DATA)
        raw = buffer.GetVectorAsNumpy(number_types.Uint8Flags, at).tobytes() if at else b""
        found[name] = raw.decode("utf-8", errors="replace")  # some converter entries are binary
    return found


def _onnx_metadata(path: Path) -> dict[str, str]:
    """The metadata_props of an ONNX file."""
    return OnnxSession(path, 1).metadata()


def _openvino_metadata(path: Path) -> dict[str, str]:
    """The metadata of an ONNX file or an IR, read by OpenVINO."""
    return OpenVINOSession(path, 1).metadata()


@dataclass(frozen=True)
class Backend:
    """One way to run artifacts: its name, the module it needs, the files it opens."""

    name: str
    formats: tuple[str, ...]  # the core/formats.py rows whose files it runs
    module: str
    open: Callable[[Path, int | None], Session]
    read_metadata: Callable[[Path], dict[str, str]]
    install_hint: str

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The suffixes of the files it opens."""
        return tuple(FORMATS[f].suffix for f in self.formats)

    def runs(self, path: Path) -> bool:
        """Whether it opens files like `path` (by suffix)."""
        return Path(path).suffix.lower() in self.suffixes

    def format_of(self, path: Path) -> str:
        """The format row of a file it opens."""
        suffix = Path(path).suffix.lower()
        return next(f for f in self.formats if FORMATS[f].suffix == suffix)

    @property
    def exported(self) -> bool:
        """Whether it runs exported artifacts (the device runtime), not the training format."""
        return any(FORMATS[f].exported for f in self.formats)

    def available(self) -> bool:
        """Whether its module is importable here (checked without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False


def register_backend(backend: Backend) -> Backend:
    """Add a row to the table (a format the table knows; a new name, or the same row again)."""
    unknown = [f for f in backend.formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"backend {backend.name!r} runs unknown format {unknown[0]!r}")
    if BACKENDS.get(backend.name, backend) != backend:
        raise ValueError(f"a different backend is already called {backend.name!r}")
    BACKENDS[backend.name] = backend
    return backend


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("litert", ("tflite",), "ai_edge_litert.interpreter",
            _tflite_opener("ai_edge_litert.interpreter"), _tflite_metadata,
            "pip install ai-edge-litert"),
    Backend("tflite-runtime", ("tflite",), "tflite_runtime.interpreter",
            _tflite_opener("tflite_runtime.interpreter"), _tflite_metadata,
            "pip install tflite-runtime 'numpy<2'"),
    Backend("onnxruntime", ("onnx",), "onnxruntime", OnnxSession, _onnx_metadata,
            "pip install onnxruntime"),
    Backend("openvino", ("onnx", "openvino"), "openvino", OpenVINOSession, _openvino_metadata,
            "pip install 'edgeae[openvino]'"),
    # an ncnn .param holds no metadata: its manifest is the JSON beside it
    Backend("ncnn", ("ncnn",), "ncnn", NcnnSession, lambda path: {}, "pip install 'edgeae[ncnn]'"),
)}


def backend_names(exported_only: bool = True) -> list[str]:
    """Names accepted by `--backend`: those that run exported artifacts (or all of them)."""
    return [name for name, b in BACKENDS.items() if not exported_only or b.exported]


def backend_suffixes(exported_only: bool = False) -> set[str]:
    """The suffixes of every file some backend opens (model files, not their side files).

    `exported_only`: those of exported artifacts alone (the runtime's), not Keras's.
    """
    return {s for b in BACKENDS.values() if b.exported or not exported_only for s in b.suffixes}


def choose_backend(path: Path, name: str | None = None) -> Backend:
    """The named backend, or the first installed one that opens this file type."""
    suffix = Path(path).suffix.lower()
    fitting = [b for b in BACKENDS.values() if b.runs(path)]
    if not fitting:
        known = sorted(backend_suffixes())
        raise UserError(f"{path}: no backend runs '{suffix}' files; expected one of {known}")
    if name is not None:
        if name not in BACKENDS:
            raise UserError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
        chosen = [b for b in fitting if b.name == name]
        if not chosen:
            raise UserError(f"backend {name!r} cannot run '{suffix}' files; use one of "
                            f"{', '.join(b.name for b in fitting)}")
        if not chosen[0].available():
            others = [b.name for b in fitting if b.available() and b.name != name]
            instead = f" (or use {' or '.join(others)}, installed)" if others else ""
            raise UserError(f"backend {name!r} is not installed: "
                            f"{chosen[0].install_hint}{instead}")
        return chosen[0]
    for backend in fitting:
        if backend.available():
            return backend
    hints = "; or ".join(b.install_hint for b in fitting)
    raise UserError(f"no backend installed for '{suffix}' files: {hints}")


def installed_backends(path: Path) -> list[Backend]:
    """Every installed backend that opens files like `path`: those a device may run it with."""
    return [b for b in BACKENDS.values() if b.runs(path) and b.available()]


def session_metadata(session: Session, backend: Backend, path: Path) -> dict[str, str]:
    """The artifact's metadata from its open session where the engine keeps it, else its file."""
    own = getattr(session, "metadata", None)
    return own() if own is not None else backend.read_metadata(path)


def open_session(path: Path, backend: str | None = None,
                 num_threads: int | None = None) -> tuple[Session, Backend]:
    """Open an artifact with the chosen (or first available) backend."""
    check_threads(num_threads)
    chosen = choose_backend(path, backend)
    return chosen.open(Path(path), num_threads), chosen
