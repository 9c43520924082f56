"""Inference backends described as data; the runtime loops over this table, never over names.

Each backend opens an artifact file into a `Session` whose `run` takes a float32 NHWC batch and
returns the model's float32 output. Backends import lazily, so only the one used is loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeae.errors import UserError


class Session(Protocol):
    """A loaded model that maps an NHWC float32 batch to its output."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch; the returned array may be reused by the next call."""
        ...


class TFLiteSession:
    """A TFLite interpreter that re-allocates only when the input shape changes."""

    def __init__(self, interpreter_cls: type, path: Path, num_threads: int | None) -> None:
        try:
            self._interp = interpreter_cls(model_path=str(path), num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"{path} is not a readable TFLite model ({_first_line(exc)}); "
                            "re-export it with `edgeae export`") from None
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None
        self._result: np.ndarray | None = None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run `batch` (NHWC float32) and return the output in a buffer reused across calls."""
        if batch.shape != self._shape:
            self._interp.resize_tensor_input(self._in, batch.shape, strict=False)
            self._interp.allocate_tensors()
            self._shape = batch.shape
            self._result = None
        self._interp.set_tensor(self._in, batch)
        self._interp.invoke()
        out = self._interp.tensor(self._out)()  # a view into the interpreter's arena
        if self._result is None:
            self._result = np.empty_like(out)
        np.copyto(self._result, out)
        return self._result


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _tflite_opener(module: str) -> Callable[[Path, int | None], Session]:
    def open_tflite(path: Path, num_threads: int | None) -> Session:
        interpreter_cls = importlib.import_module(module).Interpreter
        return TFLiteSession(interpreter_cls, path, num_threads)

    return open_tflite


@dataclass(frozen=True)
class Backend:
    """One way to run artifacts: its name, the module it needs, the files it opens."""

    name: str
    module: str
    suffixes: tuple[str, ...]
    open: Callable[[Path, int | None], Session]
    install_hint: str

    def available(self) -> bool:
        """Whether its module is importable here (checked without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False


BACKENDS: tuple[Backend, ...] = (
    Backend("litert", "ai_edge_litert.interpreter", (".tflite",),
            _tflite_opener("ai_edge_litert.interpreter"), "pip install ai-edge-litert"),
    Backend("tflite-runtime", "tflite_runtime.interpreter", (".tflite",),
            _tflite_opener("tflite_runtime.interpreter"), "pip install tflite-runtime 'numpy<2'"),
)


def backend_names() -> list[str]:
    """Names accepted by `--backend`."""
    return [b.name for b in BACKENDS]


def choose_backend(path: Path, name: str | None = None) -> Backend:
    """The named backend, or the first installed one that opens this file type."""
    suffix = Path(path).suffix.lower()
    fitting = [b for b in BACKENDS if suffix in b.suffixes]
    if not fitting:
        known = sorted({s for b in BACKENDS for s in b.suffixes})
        raise UserError(f"{path}: no backend runs '{suffix}' files; expected one of {known}")
    if name is not None:
        chosen = [b for b in fitting if b.name == name]
        if not chosen:
            raise UserError(f"backend {name!r} cannot run '{suffix}' files; "
                            f"use one of {[b.name for b in fitting]}")
        fitting = chosen
    for backend in fitting:
        if backend.available():
            return backend
    hints = "; or ".join(b.install_hint for b in fitting)
    raise UserError(f"no backend installed for '{suffix}' files: {hints}")


def open_session(path: Path, backend: str | None = None,
                 num_threads: int | None = None) -> tuple[Session, Backend]:
    """Open an artifact with the chosen (or first available) backend."""
    chosen = choose_backend(path, backend)
    return chosen.open(Path(path), num_threads), chosen
