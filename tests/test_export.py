"""Export: every registered model to float32 TFLite, run by the real interpreter, parity gated."""

from __future__ import annotations

import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.errors import DriftError, UserError
from edgeae.export.tflite import export_tflite
from edgeae.train.modeldir import KerasSession, ModelDir
from edgeae.train.models import list_models

from conftest import run_cli


@pytest.fixture(scope="module")
def model_dirs(conv_dir, dense_dir):
    return {"conv": conv_dir, "dense": dense_dir}


@pytest.mark.parametrize("name", list_models())
def test_every_model_exports_within_tolerance(name, model_dirs, tmp_path):
    model_dir = ModelDir.open(model_dirs[name])
    result = export_tflite(model_dir, tmp_path)
    assert result.path.stat().st_size == result.manifest.artifact.size_bytes > 0
    assert result.parity.max_abs_diff <= 1e-4
    art = result.manifest.artifact
    assert art.format == "tflite" and art.precision == "fp32"
    assert art.source_model_sha256 == model_dir.model_sha256
    # the runtime, from the file alone, matches Keras on fresh inputs too
    model = rt.load(result.path)
    x = np.random.default_rng(1).random((3, 16, 16, 1), dtype=np.float32)
    keras_out = KerasSession(model_dir.load_keras()).run(x)
    np.testing.assert_allclose(model.reconstruct(x), keras_out, atol=1e-4)


def test_drift_beyond_tolerance_fails_and_writes_nothing(conv_dir, tmp_path):
    with pytest.raises(DriftError, match="drifted.*nothing written"):
        export_tflite(ModelDir.open(conv_dir), tmp_path / "out", tolerance=0.0)
    assert not (tmp_path / "out" / "model_fp32.tflite").exists()
    code, _, err = run_cli("export", conv_dir, "--out", tmp_path / "out", "--tolerance", "0")
    assert code == 1 and err.count("\n") == 1 and "drifted" in err
    code, _, err = run_cli("export", conv_dir, "--out", tmp_path / "out", "--tolerance", "0",
                           "--allow-drift")
    assert code == 0, err
    assert (tmp_path / "out" / "model_fp32.tflite").exists()


def test_second_export_needs_overwrite(conv_dir, tmp_path):
    export_tflite(ModelDir.open(conv_dir), tmp_path)
    with pytest.raises(UserError, match="already exists.*--overwrite"):
        export_tflite(ModelDir.open(conv_dir), tmp_path)
    export_tflite(ModelDir.open(conv_dir), tmp_path, overwrite=True)
