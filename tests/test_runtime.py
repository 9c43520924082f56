"""The runtime: frame layouts and types, buffers, errors, and running without TensorFlow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.errors import UserError
from edgeae.runtime.manifest import manifest_path_for

from conftest import REPO, blobs


def runtime_python() -> Path | None:
    """The interpreter of the TensorFlow-free runtime environment, if it exists."""
    path = Path(os.environ.get("EDGEAE_RUNTIME_PYTHON", REPO / ".venv-runtime" / "bin" / "python"))
    return path if path.exists() else None


@pytest.fixture(scope="module")
def model(conv_tflite):
    return rt.load(conv_tflite)


def test_layouts_and_pixel_types(model):
    frames = blobs(3)  # (3, 16, 16, 1) uint8
    batch = model.reconstruct(frames)
    assert batch.dtype == np.uint8 and batch.shape == frames.shape
    np.testing.assert_array_equal(model.reconstruct(frames[0]), batch[0])       # HWC
    np.testing.assert_array_equal(model.reconstruct(frames[0, :, :, 0]), batch[0, :, :, 0])  # HW
    np.testing.assert_array_equal(model.reconstruct(frames[..., 0]), batch[..., 0])  # NHW
    as_float = model.reconstruct(frames.astype(np.float32) / 255)
    assert as_float.dtype == np.float32
    assert np.abs(as_float * 255 - batch).max() <= 0.5 + 1e-3  # uint8 = rounded float


def test_odd_sizes_are_padded_and_cropped(model):
    frame = blobs(1, size=32)[0, 3:24, 5:30]  # 21x25, not a multiple of 4
    out = model.reconstruct(frame)
    assert out.shape == frame.shape
    inner = model.reconstruct(blobs(1, size=32)[0])[3:20, 5:20]
    assert np.abs(out[:17, :15].astype(int) - inner).mean() < 8  # same content, same output


def test_out_buffer_is_filled_without_allocating(model):
    frames = blobs(2)
    out = np.empty_like(frames)
    assert model.reconstruct(frames, out=out) is out
    np.testing.assert_array_equal(out, model.reconstruct(frames))


def test_bad_frames(model):
    with pytest.raises(UserError, match="takes 1-channel frames but got 3"):
        model.reconstruct(blobs(1, channels=3))
    with pytest.raises(UserError, match="uint8 or float"):
        model.reconstruct(blobs(1).astype(np.int32))


def test_fixed_size_model_rejects_other_sizes(dense_dir, tmp_path):
    from edgeae.export.artifacts import export_model
    from edgeae.train.modeldir import ModelDir

    model = rt.load(export_model(ModelDir.open(dense_dir), tmp_path).artifacts[0].path)
    assert model.reconstruct(blobs(2)).shape == (2, 16, 16, 1)
    with pytest.raises(UserError, match="takes 16x16 frames but got 32x32"):
        model.reconstruct(blobs(1, size=32))


def test_load_errors(conv_dir, conv_tflite, tmp_path):
    with pytest.raises(UserError, match="is a model directory.*edgeae export"):
        rt.load(conv_dir)
    with pytest.raises(UserError, match="no such model file"):
        rt.load(tmp_path / "absent.tflite")
    beside = manifest_path_for(conv_tflite)
    lone = tmp_path / "lone.tflite"
    lone.write_bytes(conv_tflite.read_bytes()[:300])  # truncated, and no JSON beside it
    with pytest.raises(UserError, match="has no manifest: neither lone.tflite.json"):
        rt.load(lone)
    shutil.copy(beside, manifest_path_for(lone))
    with pytest.raises(UserError, match="not a readable TFLite model"):
        rt.load(lone)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not protobuf")
    with pytest.raises(UserError, match="not a readable ONNX model"):
        rt.load(broken)
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    shutil.copy(beside, manifest_path_for(other))
    with pytest.raises(UserError, match="no backend runs '.pt' files"):
        rt.load(other)
    with pytest.raises(UserError, match="backend 'nope'"):
        rt.load(conv_tflite, backend="nope")


def test_importing_the_runtime_does_not_import_tensorflow():
    code = "import sys, edgeae.runtime, edgeae.cli; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_runtime_environment_without_tensorflow(conv_artifacts, gray_folder, tmp_path):
    """In a venv with only the [runtime] extra: every artifact loads and gives what it gives here,
    and the CLI runs on a .tflite."""
    python = runtime_python()
    if python is None:
        if os.environ.get("CI"):
            pytest.fail("the runtime venv is missing: CI must create .venv-runtime")
        pytest.skip("no .venv-runtime here; `make install` creates it")
    conv_tflite = conv_artifacts / "model_fp32.tflite"
    names = ["model_fp32.tflite", "model_int8.tflite", "model_fp32.onnx", "model_int8.onnx"]
    frames = blobs(4)
    np.save(tmp_path / "frames.npy", frames)
    for name in names:
        np.save(tmp_path / f"{name}.npy", rt.load(conv_artifacts / name).reconstruct(frames))
    script = textwrap.dedent(f"""
        import importlib.util, sys
        import numpy as np
        assert importlib.util.find_spec("tensorflow") is None, "tensorflow is installed here"
        import edgeae.runtime as rt
        frames = np.load({str(tmp_path / "frames.npy")!r})
        for name in {names!r}:
            out = rt.load({str(conv_artifacts)!r} + "/" + name).reconstruct(frames)
            expected = np.load({str(tmp_path)!r} + "/" + name + ".npy")
            assert np.abs(out.astype(int) - expected).max() <= 1, name
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        print("ok")
    """)
    run = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    cli = [str(python), "-m", "edgeae"]
    run = subprocess.run([*cli, "reconstruct", "--model", str(conv_tflite), "--data",
                          str(gray_folder), "--out", str(tmp_path / "recon")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["images"] == 64
    assert (tmp_path / "recon" / "grid.png").exists()
    run = subprocess.run([*cli, "info", str(conv_tflite)], capture_output=True, text=True)
    assert run.returncode == 0 and json.loads(run.stdout)["artifact"]["format"] == "tflite"
