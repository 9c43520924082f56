"""Formats, precisions and backends are tables: a new row is all a new backend needs."""

import json

import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.formats import FORMATS, PRECISIONS, artifact_name, exported_formats
from edgeae.export.artifacts import plan
from edgeae.export.options import Tolerances
from edgeae.runtime.backends import BACKENDS, Backend, OnnxSession, backend_names, register_backend
from edgeae.runtime.pretrained import PRECISIONS as SHIPPED

from conftest import run_cli


class CountingSession:
    """onnxruntime under another name, counting the batches it runs."""

    calls = 0

    def __init__(self, path, num_threads) -> None:
        self._inner = OnnxSession(path, num_threads)

    def run(self, batch: np.ndarray) -> np.ndarray:
        CountingSession.calls += 1
        return self._inner.run(batch)


@pytest.fixture
def throwaway_backend():
    row = register_backend(Backend("counting-onnx", ("onnx",), "onnxruntime", CountingSession,
                                   lambda path: OnnxSession(path, 1).metadata(), "nothing"))
    CountingSession.calls = 0
    yield row
    BACKENDS.pop(row.name)


def test_a_registered_backend_is_chosen_by_name_and_runs(throwaway_backend, conv_artifacts,
                                                        gray_folder, tmp_path):
    assert "counting-onnx" in backend_names()
    path = conv_artifacts / "model_fp32.onnx"
    assert rt.choose_backend(path).name == "onnxruntime"  # the first row still comes first
    model = rt.load(path, backend="counting-onnx")
    frame = np.full((16, 16), 128, np.uint8)
    assert np.array_equal(model.reconstruct(frame), rt.load(path).reconstruct(frame))
    assert CountingSession.calls == 1
    # the CLI's --backend choices come from the table too
    code, out, err = run_cli("reconstruct", "--model", path, "--backend", "counting-onnx",
                             "--data", gray_folder, "--out", tmp_path / "r", "--limit", "4")
    assert code == 0, err
    assert json.loads(out)["images"] == 4 and CountingSession.calls > 1


def test_a_backend_for_an_unknown_format_or_a_taken_name_is_refused(throwaway_backend):
    with pytest.raises(ValueError, match="unknown format"):
        register_backend(Backend("x", ("caffe",), "caffe", CountingSession, dict, ""))
    with pytest.raises(ValueError, match="already called"):
        register_backend(Backend("counting-onnx", ("tflite",), "x", CountingSession, dict, ""))


def test_export_plans_and_names_come_from_the_format_rows():
    from edgeae.runtime.backends import cpu_capabilities

    def computable(precision: str) -> bool:  # bf16 only where this CPU has it
        need = PRECISIONS[precision].cpu_capability
        return not need or need in cpu_capabilities()

    for name in exported_formats():
        row = FORMATS[name]
        assert plan((name,), row.precisions) == [(name, p) for p in row.precisions
                                                 if computable(p)]
        assert artifact_name(name, "fp32", None).endswith(row.suffix)
    assert not FORMATS["keras"].exported and "keras" not in exported_formats()


def test_every_precision_has_a_gate_and_the_shipped_ones_are_rows():
    tolerances = Tolerances()
    for name, row in PRECISIONS.items():
        assert tolerances.describe(name)
        if row.gate == "max_abs_diff":
            assert isinstance(getattr(tolerances, row.tolerance), float)
    assert set(SHIPPED) <= set(PRECISIONS) and SHIPPED == ("fp32", "int8")


def test_params_are_the_architectures_typed_configuration_and_v1_files_read(tmp_path):
    from edgeae.core.architectures import CONFIGS, UNetConfig
    from edgeae.core.errors import UserError
    from edgeae.core.manifest import SCHEMA_VERSION, Manifest
    from edgeae.runtime.pretrained import PRETRAINED_DIR

    path = PRETRAINED_DIR / "live_int8.tflite.json"
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 1  # shipped before version 2
    manifest = Manifest.read(path)
    assert isinstance(manifest.params, UNetConfig) and manifest.params.size == "small"
    assert json.loads(manifest.to_json())["params"] == raw["params"]  # same JSON, now typed
    assert manifest.schema_version == SCHEMA_VERSION == 23
    assert manifest.training.fake_quant == "moving"  # quantization-aware before version 18
    assert manifest.training.camera_truth == "pristine"  # what every model before 21 learned
    assert set(CONFIGS) == {"conv", "dense", "draem", "unet", "vae"}
    for change, message in ((dict(architecture="resnet"), "unknown architecture"),
                            (dict(params={**raw["params"], "size": "huge"}), "params: size")):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**raw, **change}))
        with pytest.raises(UserError, match=message):
            Manifest.read(bad)
