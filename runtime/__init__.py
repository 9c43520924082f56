"""The on-device runtime: numpy, OpenCV and one inference backend; never TensorFlow.

Example:
    >>> import edgeae.runtime as rt
    >>> model = rt.load("export/model_fp32.tflite")   # reads model_fp32.tflite.json beside it
    >>> restored = model.reconstruct(frame)           # uint8 in, uint8 out
"""

from __future__ import annotations

import logging
import numbers
import os
from pathlib import Path

from edgeae.core.errors import UserError
from edgeae.core.formats import PRECISIONS
from edgeae.core.manifest import ArtifactInfo, Manifest
from edgeae.core.tasks import TASKS
from edgeae.runtime.artifact import check_matches_embedded, read_artifact_manifest
from edgeae.runtime.backends import (
    BACKENDS,
    Backend,
    Session,
    backend_names,
    check_threads,
    choose_backend,
    int8_sums_saturate,
    open_session,
    session_metadata,
)
from edgeae.runtime.capture import frames
from edgeae.runtime.gated import NoiseGated
from edgeae.runtime.generator import Encoder, Generator
from edgeae.runtime.models import AnomalyScorer, Denoiser, Reconstructor, Score
from edgeae.runtime.scoring import read_side_arrays

__all__ = ["BACKENDS", "AnomalyScorer", "Backend", "Denoiser", "Encoder", "Generator", "Manifest",
           "NoiseGated", "Reconstructor", "Score", "Session", "backend_names", "choose_backend",
           "frames", "load", "model_for", "read_artifact_manifest"]

# The model object for each use; `load` picks by the manifest's task unless told otherwise.
MODEL_CLASSES: dict[str, type] = {
    "reconstruct": Reconstructor,
    "denoise": Denoiser,
    "score": AnomalyScorer,
    "generate": Generator,
    "encode": Encoder,
}
PART_USE = {"decoder": "generate", "encoder": "encode"}  # what a VAE half's artifact does
log = logging.getLogger(__name__)
DEFAULT_USE = {name: task.use for name, task in TASKS.items()}


def load(path: str | Path, backend: str | None = None, num_threads: int | None = None,
         task: str | None = None,
         frame_size: tuple[int, int] | None = None) -> Reconstructor | Generator:
    """Open an exported artifact and its manifest; return the model object for its task.

    `task` ("reconstruct", "denoise" or "score") overrides the manifest's: any autoencoder
    can denoise or score frames. A VAE decoder artifact gives a Generator ("generate"), an
    encoder one an Encoder ("encode"). `backend="auto"` times the installed engines on frames
    of `frame_size` (h, w; default the model's size or 480x640) and opens the fastest
    (runtime/auto.py).
    """
    check_threads(num_threads)  # before auto times anything with them
    _check_load_arguments(path, frame_size)
    if task is not None and task not in MODEL_CLASSES:
        raise UserError(f"unknown task {task!r}; use one of {', '.join(MODEL_CLASSES)}")
    # numpy's integers (a frame's shape) as Python's: the engines and auto's cache take these
    num_threads = None if num_threads is None else int(num_threads)
    frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
    if backend == "auto":
        from edgeae.runtime.auto import choose

        choice = choose(path, frame_size, num_threads, task=task)
        log.info("%s", choice.describe())
        path, backend = choice.path, choice.backend
    manifest = read_artifact_manifest(Path(path), backend)
    part_use = PART_USE.get(manifest.part)
    if part_use is not None and task not in (None, part_use):
        raise UserError(f"{Path(path).name} is a VAE {manifest.part}; it cannot "
                        f"{task}: load the whole model's artifact for that")
    if part_use is None and task in PART_USE.values():  # an encode that reconstructed
        part = _part_for(task)
        raise UserError(f"task {task!r} needs a VAE {part}; {Path(path).name} is a whole "
                        f"{manifest.task} model (export a VAE's: `edgeae export VAE_DIR --part "
                        f"{part}`)")
    session, used = open_session(Path(path), backend, num_threads)
    check_matches_embedded(manifest, lambda: session_metadata(session, used, Path(path)),
                           Path(path))
    _say_if_int8_runs_exactly(manifest, used.name)
    _warn_if_int8_saturates_unmeasured(manifest, used.name)
    _warn_if_the_cpu_lacks_its_precision(manifest)
    return model_for(task or part_use or DEFAULT_USE[manifest.task], session, manifest,
                     Path(path).parent)


def _part_for(task: str) -> str:
    """The VAE part whose artifact serves `task` ("encode": the encoder)."""
    return next(part for part, use in PART_USE.items() if use == task)


def _check_load_arguments(path: object, frame_size: object) -> None:
    """A path and a frame size (h, w) of positive sides, or a one-line UserError."""
    if not isinstance(path, str | os.PathLike):
        raise UserError(f"path must be an artifact's file path (str or Path), got "
                        f"{type(path).__name__}")
    if frame_size is not None and not (
            isinstance(frame_size, tuple | list) and len(frame_size) == 2
            and all(isinstance(side, numbers.Integral) and not isinstance(side, bool)
                    and side > 0 for side in frame_size)):
        raise UserError(f"frame_size must be (height, width) in pixels, got {frame_size!r}")


def _say_if_int8_runs_exactly(manifest: Manifest, backend: str) -> None:
    """One line where onnxruntime runs int8 with its exact, slower kernels (x86 without VNNI)."""
    if backend == "onnxruntime" and manifest.artifact.precision == "int8" \
            and int8_sums_saturate():
        openvino = BACKENDS["openvino"]
        faster = ("runs the same file about 2x faster here (--backend openvino, or auto)"
                  if openvino.available() else
                  f"would run the same file about 2x faster here ({openvino.install_hint})")
        log.info("onnxruntime multiplies int8 exactly on this CPU (x86 without VNNI; its fast "
                 "kernels saturate), at about fp32's speed; OpenVINO %s", faster)


def _warn_if_int8_saturates_unmeasured(manifest: Manifest, backend: str) -> None:
    """One warning where OpenVINO runs an int8 file its export never measured saturating.

    Here its int8 sums saturate (x86 without VNNI), so the gate's numbers need not hold.
    """
    artifact = manifest.artifact
    if backend == "openvino" and PRECISIONS[artifact.precision].int8_weights \
            and int8_sums_saturate() and _gated_where_sums_saturate(artifact) is False:
        log.warning("%s may be worse here than its export gate measured: OpenVINO's int8 "
                    "sums saturate on this CPU (x86 without VNNI), and its manifest records "
                    "neither a gate that ran it so nor weights halved against it; export it "
                    "here, or run the ONNX int8 file with onnxruntime (exact here)",
                    artifact.file)


def _gated_where_sums_saturate(artifact: ArtifactInfo) -> bool | None:
    """Whether the export's gate ran this file in OpenVINO where int8 sums saturate.

    True too for weights halved so that no sum can saturate (NNCF's overflow fix on every
    layer, or 7-bit ONNX weights). An IR without the fix was measured where they did not (the
    export fixes every IR where they do); an ONNX file before manifest version 23 does not say
    (None).
    """
    quantization, parity = artifact.quantization, artifact.parity
    if quantization is not None and quantization.overflow_fix:
        return True
    if parity is None or parity.int8_sums_saturate is None:
        return False if artifact.format == "openvino" else None
    return parity.int8_sums_saturate and "openvino" in (parity.backends or ())


def _warn_if_the_cpu_lacks_its_precision(manifest: Manifest) -> None:
    """One warning where the artifact computes in what this CPU lacks (bf16 without BF16)."""
    from edgeae.runtime import backends  # looked up when called: tests stand in for the CPU

    need = PRECISIONS[manifest.artifact.precision].cpu_capability
    if need and need not in backends.cpu_capabilities():
        log.warning("%s was exported to compute in %s, which this CPU lacks (no AVX512_BF16 "
                    "or AMX): OpenVINO cannot run it as its export gate measured; export fp32 "
                    "or int8 for this machine", manifest.artifact.file, need)


def model_for(use: str, session: Session, manifest: Manifest, folder: Path) -> Reconstructor:
    """The model object for `use`; a detector's side arrays are read from `folder`."""
    if use == "score":
        return AnomalyScorer(session, manifest, **read_side_arrays(folder, manifest))
    return MODEL_CLASSES[use](session, manifest)
