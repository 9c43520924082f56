"""Keras model -> SavedModel -> TFLite, the converter road that also serves int8 calibration.

`model.export(format="tf_saved_model")` then `TFLiteConverter.from_saved_model`: converting from
a concrete function of a Keras 3 model fails int8 calibration (variables are not frozen).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from edgeae.errors import DriftError
from edgeae.export.parity import Parity, compare
from edgeae.files import check_writable, file_digest, write_bytes, write_text
from edgeae.runtime.backends import open_session
from edgeae.runtime.manifest import ArtifactInfo, Manifest, manifest_path_for
from edgeae.train.modeldir import KerasSession, ModelDir

log = logging.getLogger(__name__)

FP32_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    """An exported artifact, its manifest and its measured parity."""

    path: Path
    manifest: Manifest
    parity: Parity


def convert_fp32(model) -> bytes:
    """Float32 TFLite flatbuffer of a Keras model, through a temporary SavedModel."""
    with tempfile.TemporaryDirectory(prefix="edgeae-savedmodel-") as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(tmp).convert()


def export_tflite(model_dir: ModelDir, out_dir: str | Path, overwrite: bool = False,
                  tolerance: float = FP32_TOLERANCE, allow_drift: bool = False) -> ExportResult:
    """Write out_dir/model_fp32.tflite and its manifest, after a parity check on samples.

    Raises DriftError (exit code 1) and writes nothing if the artifact's outputs differ from
    the Keras model's by more than `tolerance`, unless `allow_drift`.
    """
    path = Path(out_dir) / "model_fp32.tflite"
    check_writable(path, overwrite)
    check_writable(manifest_path_for(path), overwrite)
    model = model_dir.load_keras()
    flatbuffer = convert_fp32(model)
    with tempfile.TemporaryDirectory(prefix="edgeae-export-") as tmp:
        candidate_path = Path(tmp) / path.name
        candidate_path.write_bytes(flatbuffer)
        candidate, _ = open_session(candidate_path)
        parity = compare(KerasSession(model), candidate, model_dir.samples())
    if not parity.within(tolerance):
        message = (f"{path.name} drifted from the Keras model: max abs diff "
                   f"{parity.max_abs_diff:.3g} > tolerance {tolerance:g}")
        if not allow_drift:
            raise DriftError(message + "; nothing written (pass --allow-drift to keep it)")
        log.warning("%s (kept: --allow-drift)", message)
    write_bytes(path, flatbuffer, overwrite)
    manifest = model_dir.manifest.model_copy(update={"artifact": ArtifactInfo(
        format="tflite", precision="fp32", file=path.name, size_bytes=len(flatbuffer),
        sha256=file_digest(path), source_model_sha256=model_dir.model_sha256,
        parity_max_abs_diff=parity.max_abs_diff, parity_mean_abs_diff=parity.mean_abs_diff)})
    write_text(manifest_path_for(path), manifest.to_json(), overwrite)
    return ExportResult(path, manifest, parity)
