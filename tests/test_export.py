"""Export: every format and precision, from models of each task, run by the real interpreters."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.errors import DriftError, UserError
from edgeae.core.manifest import manifest_path_for, weights_path_for
from edgeae.core.modeldir import ModelDir
from edgeae.export.artifacts import ExportOptions, export_model
from edgeae.export.options import Tolerances
from edgeae.export.parity import mean_psnr
from edgeae.runtime.backends import BACKENDS, cpu_capabilities, int8_sums_saturate
from edgeae.train.keras_backend import KerasSession, load_keras

from conftest import blobs, run_cli, write_folder

ALL = ExportOptions(formats=("tflite", "onnx", "openvino"),
                    precisions=("fp32", "fp16", "int8-dynamic", "int8"))
FILES = ["model_fp32.tflite", "model_fp16.tflite", "model_int8-dynamic.tflite",
         "model_int8.tflite", "model_fp32.onnx", "model_int8-dynamic.onnx", "model_int8.onnx",
         "model_fp32.xml", "model_fp16.xml", "model_int8.xml"]
GATE = Tolerances()  # the export gate the parity checks below must not be looser than
MAX_DIFF = {"fp32": GATE.fp32_max_abs_diff, "fp16": GATE.fp16_max_abs_diff}


@pytest.fixture(scope="module")
def model_dirs(conv_dir, dense_dir, denoiser_dir):
    return {"conv autoencoder": conv_dir, "dense autoencoder": dense_dir,
            "conv denoiser": denoiser_dir}


@pytest.mark.parametrize("which", ["conv autoencoder", "dense autoencoder", "conv denoiser"])
def test_every_artifact_matches_keras_in_its_runtime(which, model_dirs, tmp_path, monkeypatch):
    import tf2onnx

    ranks = []  # of each conversion's output
    real = tf2onnx.convert.from_keras

    def counted(*args, **kwargs):
        proto, rest = real(*args, **kwargs)
        ranks.append(len(proto.graph.output[0].type.tensor_type.shape.dim))
        return proto, rest

    monkeypatch.setattr(tf2onnx.convert, "from_keras", counted)
    model_dir = ModelDir.open(model_dirs[which])
    report = export_model(model_dir, tmp_path, ALL)
    # the ONNX files and OpenVINO's IR share one conversion; tf2onnx's rare wrong-rank output
    # (export/onnx.py) is converted again, so only the last conversion has the right rank
    assert ranks.count(ranks[-1]) == 1, ranks
    assert [e.path.name for e in report.artifacts] == FILES
    keras = KerasSession(load_keras(model_dir))
    clean = blobs(12, seed=7).astype(np.float32) / 255  # fresh images, not the export samples
    for exported in report.artifacts:
        art = exported.manifest.artifact
        assert exported.path.stat().st_size == art.size_bytes and art.sha256
        assert art.source_model_sha256 == model_dir.model_sha256
        assert exported.row.failure is None and art.parity.n_samples == len(model_dir.samples())
        model = rt.load(exported.path)  # the runtime, from the file and its manifest alone
        out, expected = model.reconstruct(clean), keras.run(clean)
        if art.precision in MAX_DIFF:
            np.testing.assert_allclose(out, expected, atol=MAX_DIFF[art.precision])
        else:
            # measured drops of 0.0042 dB at most on 2026-11-30
            drop = mean_psnr(expected, clean) - mean_psnr(out, clean)
            assert drop <= GATE.int8_psnr_drop_db, exported.path.name
            assert np.abs(out - expected).max() > 0  # really quantized
    sizes = {e.path.name: e.manifest.artifact.size_bytes for e in report.artifacts}
    assert sizes["model_int8.tflite"] < sizes["model_fp32.tflite"]
    assert sizes["model_fp16.tflite"] < sizes["model_fp32.tflite"]
    weights = {e.path.name: e.manifest.artifact.weights for e in report.artifacts}
    assert all((w is None) == (not name.endswith(".xml")) for name, w in weights.items())
    assert (weights["model_int8.xml"].size_bytes < weights["model_fp16.xml"].size_bytes
            < weights["model_fp32.xml"].size_bytes)
    table = report.table.splitlines()
    assert table[1].startswith("model.keras") and len(table) == 2 + len(FILES)
    assert all(line.endswith("ok") for line in table[2:])


@pytest.fixture(scope="module")
def bf16_export(denoiser_dir, tmp_path_factory):
    """The denoiser as fp32 and bf16 IRs: (the export's report, its folder)."""
    out = tmp_path_factory.mktemp("bf16")
    return export_model(ModelDir.open(denoiser_dir), out,
                        ExportOptions(formats=("openvino",), precisions=("fp32", "bf16"))), out


@pytest.mark.skipif("BF16" not in cpu_capabilities(),
                    reason="this CPU has no AVX512_BF16 or AMX: bf16 cannot be computed here")
def test_bf16_computes_in_bfloat16_within_its_gate(bf16_export):
    report, tmp_path = bf16_export
    assert [e.path.name for e in report.artifacts] == ["model_fp32.xml", "model_bf16.xml"]
    bf16 = report.artifacts[1].manifest.artifact
    assert bf16.quantization.scheme == "bf16-compute" and bf16.parity.max_abs_diff > 0
    noisy = blobs(12, seed=7).astype(np.float32) / 255
    f32, b16 = (rt.load(tmp_path / f"model_{p}.xml").reconstruct(noisy) for p in ("fp32", "bf16"))
    diff = np.abs(b16 - f32).max()
    assert 0 < diff <= GATE.bf16_max_abs_diff  # computed in bfloat16, within the gate
    # the weights stay float32: the same .bin as fp32's
    assert bf16.weights.size_bytes == report.artifacts[0].manifest.artifact.weights.size_bytes


@pytest.mark.skipif("BF16" not in cpu_capabilities(),
                    reason="this CPU has no AVX512_BF16 or AMX: bf16 cannot be computed here")
def test_int8_bf16_runs_its_float_layers_in_bfloat16_within_the_int8_gate(denoiser_dir,
                                                                          tmp_path):
    import openvino as ov

    from edgeae.runtime.backends import OpenVINOSession

    report = export_model(ModelDir.open(denoiser_dir), tmp_path,
                          ExportOptions(formats=("openvino",), precisions=("int8-bf16",)))
    artifact = report.artifacts[0].manifest.artifact
    assert artifact.quantization.scheme == "nncf-bf16-compute"
    assert artifact.quantization.weights == "per-channel"
    assert artifact.parity.keras_psnr_db - artifact.parity.psnr_db <= GATE.int8_psnr_drop_db
    path = tmp_path / "model_int8-bf16.xml"
    noisy = blobs(4, seed=7).astype(np.float32) / 255
    core = ov.Core()

    def compiled(hint: str) -> np.ndarray:
        model = core.read_model(path)
        model.reshape(list(noisy.shape))
        config = {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": 2}
        return core.compile_model(model, "CPU", config)(noisy)[0]

    ran = OpenVINOSession(path, 2).run(noisy)
    np.testing.assert_allclose(ran, compiled("bf16"), atol=1e-6)  # the runtime applies the hint
    assert np.abs(ran - compiled("f32")).max() > 0  # and it changes what is computed


@pytest.mark.skipif("BF16" not in cpu_capabilities(),
                    reason="this CPU has no AVX512_BF16 or AMX: bf16 cannot be exported here")
def test_a_bf16_artifact_loaded_where_the_cpu_lacks_bf16_says_so(bf16_export, monkeypatch,
                                                                  caplog):
    import edgeae.runtime.backends as backends

    tmp_path = bf16_export[1]

    def warnings_loading(name: str) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="edgeae.runtime"):
            rt.load(tmp_path / name)
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    assert warnings_loading("model_bf16.xml") == []  # this CPU computes it
    # the CPU is the hardware here: one without BF16 is stood in for by what OpenVINO reports
    monkeypatch.setattr(backends, "cpu_capabilities", lambda: frozenset({"FP32", "INT8"}))
    assert warnings_loading("model_fp32.xml") == []
    [warning] = warnings_loading("model_bf16.xml")
    assert warning.startswith("model_bf16.xml was exported to compute in BF16, which this "
                              "CPU lacks")


def test_bf16_is_refused_where_the_cpu_cannot_compute_it(conv_dir, tmp_path, monkeypatch):
    import edgeae.runtime.backends as backends

    # the CPU is the hardware here: a CPU without BF16 is stood in for by what OpenVINO reports
    monkeypatch.setattr(backends, "cpu_capabilities", lambda: frozenset({"FP32", "INT8"}))
    for precision in ("bf16", "int8-bf16"):
        with pytest.raises(UserError, match=f"^{precision} needs a CPU with BF16"):
            export_model(ModelDir.open(conv_dir), tmp_path,
                         ExportOptions(formats=("openvino",), precisions=(precision,)))
    with pytest.raises(UserError, match="^bf16, int8-bf16 need a CPU with BF16"):  # none left
        export_model(ModelDir.open(conv_dir), tmp_path,
                     ExportOptions(formats=("openvino",), precisions=("bf16", "int8-bf16")))
    report = export_model(ModelDir.open(conv_dir), tmp_path,
                          ExportOptions(formats=("openvino",), precisions=("fp32", "bf16")))
    assert [e.path.name for e in report.artifacts] == ["model_fp32.xml"]


def test_int8_metadata_and_quantized_io(conv_artifacts):
    manifest = rt.read_artifact_manifest(conv_artifacts / "model_int8.tflite")
    q = manifest.artifact.quantization
    assert q.scheme == "full-integer" and q.weights == "per-channel"
    # calibration spans the images' range (blobs reach 254/255): uint8 pixels map almost 1:1
    assert q.input.dtype == "uint8" and q.input.zero_point == 0
    assert q.input.scale == pytest.approx(1 / 255, rel=0.01)
    assert q.output.dtype == "uint8" and 0 < q.calibration_samples <= 200
    onnx_q = rt.read_artifact_manifest(conv_artifacts / "model_int8.onnx").artifact.quantization
    assert onnx_q.scheme == "qdq" and onnx_q.input is None
    ir_q = rt.read_artifact_manifest(conv_artifacts / "model_int8.xml").artifact.quantization
    assert ir_q.scheme == "nncf" and ir_q.weights == "per-channel" and ir_q.calibration_samples
    report = json.loads((conv_artifacts / "parity.json").read_text())
    assert {r["file"] for r in report["artifacts"]} == set(FILES)
    assert report["tolerances"]["fp32_max_abs_diff"] == 1e-4
    for row in report["artifacts"]:  # the backend each was measured in: the worst it ran in
        assert BACKENDS[row["backend"]].runs(conv_artifacts / row["file"]), row


@pytest.mark.parametrize("name", ["model_fp32.tflite", "model_int8.onnx", "model_int8.xml"])
def test_artifacts_carry_their_manifest_inside(name, conv_artifacts, tmp_path):
    lone = tmp_path / name
    shutil.copy(conv_artifacts / name, lone)  # without its JSON
    if weights_path_for(lone):  # an IR's graph needs its weights
        shutil.copy(weights_path_for(conv_artifacts / name), weights_path_for(lone))
    model = rt.load(lone)
    beside = rt.read_artifact_manifest(conv_artifacts / name)
    assert model.manifest.artifact.sha256 is None  # a file cannot hold its own digest
    own = {"sha256", "size_bytes"}
    embedded = model.manifest.artifact.model_dump(exclude=own)
    assert embedded == beside.artifact.model_dump(exclude=own)
    frames = blobs(2)
    np.testing.assert_array_equal(model.reconstruct(frames),
                                  rt.load(conv_artifacts / name).reconstruct(frames))


def test_an_ir_travels_with_its_weights_and_they_are_checked(conv_artifacts, tmp_path):
    """The .bin is recorded (size, SHA-256); a renamed pair loads, a missing or swapped one is
    one line naming it, before OpenVINO reads it."""
    src = conv_artifacts / "model_int8.xml"
    pair = tmp_path / "renamed.xml"
    for a, b in ((src, pair), (weights_path_for(src), weights_path_for(pair)),
                 (manifest_path_for(src), manifest_path_for(pair))):
        shutil.copy(a, b)
    frames = blobs(2)
    np.testing.assert_array_equal(rt.load(pair).reconstruct(frames),
                                  rt.load(src).reconstruct(frames))
    shutil.copy(weights_path_for(conv_artifacts / "model_fp16.xml"), weights_path_for(pair))
    with pytest.raises(UserError, match=r"renamed\.bin is \d+ bytes but .* records"):
        rt.load(pair)
    weights_path_for(pair).unlink()
    code, _, err = run_cli("info", pair)
    assert code == 2 and "renamed.bin is missing" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    manifest_path_for(pair).unlink()  # the .xml alone: OpenVINO's own error named nothing
    code, _, err = run_cli("info", pair)
    assert code == 2 and "renamed.bin is missing: an IR is its .xml and .bin together" in err


def test_int8_with_float_io_and_fixed_shape_variant(conv_dir, tmp_path):
    code, out, err = run_cli("export", conv_dir, "--precision", "int8", "--int8-io", "float32",
                             "--input-size", "32x24", "--format", "all", "--out", tmp_path)
    assert code == 0, err
    assert "model_int8_32x24.tflite" in out and "model_int8_32x24.onnx" in out
    model = rt.load(tmp_path / "model_int8_32x24.tflite")
    q = model.manifest.artifact.quantization
    assert q.input is None and q.output is None
    assert model.manifest.input.fixed_size == (32, 24)
    assert model.reconstruct(blobs(1, size=32)[..., :24, :]).shape == (1, 32, 24, 1)
    with pytest.raises(UserError, match="takes 32x24 frames but got 16x16"):
        model.reconstruct(blobs(1))


def test_calibration_from_a_folder(conv_dir, gray_folder, tmp_path, caplog):
    code, _, err = run_cli("export", conv_dir, "--precision", "int8", "--calibration", gray_folder,
                           "--calibration-samples", "10", "--out", tmp_path)
    assert code == 0, err
    q = rt.read_artifact_manifest(tmp_path / "model_int8.tflite").artifact.quantization
    assert q.calibration_samples == 10 and q.calibration_source == str(gray_folder)
    assert "--calibration is read by int8 exports only" not in caplog.text
    code, _, err = run_cli("export", conv_dir, "--format", "onnx", "--calibration", gray_folder,
                           "--out", tmp_path / "float")  # fp32 alone: nothing reads it
    assert code == 0 and "--calibration is read by int8 exports only; fp32 need" in caplog.text


def test_drift_fails_with_the_metric_and_writes_nothing(conv_dir, tmp_path, caplog):
    out = tmp_path / "out"
    code, stdout, err = run_cli("export", conv_dir, "--out", out, "--fp32-tolerance", "0")
    assert code == 1 and err.count("\n") == 1
    assert "model_fp32.tflite drifted from the Keras model: max abs diff" in err
    assert "nothing written" in err and "FAILED" in stdout  # the table says which and by how much
    assert not out.exists()
    # as a user runs it: the process ends at once after TensorFlow's error path (edgeae's
    # __main__), its table and its line still flushed
    done = subprocess.run([sys.executable, "-m", "edgeae", "export", str(conv_dir), "--format",
                           "onnx", "--precision", "fp32", "--out", str(out), "--fp32-tolerance",
                           "0"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "FAILED" in done.stdout, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("edgeae: error: model_fp32.onnx")
    with pytest.raises(DriftError, match=r"model_int8.onnx drifted.*PSNR drop -?\d.* > -1 dB"):
        export_model(ModelDir.open(conv_dir), out, ExportOptions(
            formats=("onnx",), precisions=("int8",), tolerances=Tolerances(int8_psnr_drop_db=-1)))
    assert not out.exists()
    code, _, err = run_cli("export", conv_dir, "--out", out, "--fp32-tolerance", "0",
                           "--allow-drift")
    assert code == 0 and "kept: --allow-drift" in caplog.text, err
    assert (out / "model_fp32.tflite").exists()


def test_an_onnx_file_is_gated_in_each_engine_that_runs_it(conv_dir, tmp_path):
    """onnxruntime and OpenVINO both run ONNX files on a device (`--backend auto` picks one),
    so the gate checks both: a tolerance between their differences from Keras fails the file,
    naming the engine that differs more; the manifest keeps the worse engine's parity."""
    model_dir = ModelDir.open(conv_dir)
    report = export_model(model_dir, tmp_path / "ok", ExportOptions(formats=("onnx",)))
    samples = model_dir.samples()
    keras = KerasSession(load_keras(model_dir)).run(samples)
    diffs = {b: float(np.abs(rt.load(report.artifacts[0].path, backend=b).session.run(samples)
                             - keras).max()) for b in ("onnxruntime", "openvino")}
    recorded = report.artifacts[0].manifest.artifact.parity.max_abs_diff
    assert any(recorded == pytest.approx(d, rel=1e-3) for d in diffs.values()), (recorded, diffs)
    worse, between = max(diffs, key=diffs.get), sum(diffs.values()) / 2
    if diffs[worse] > between:  # a tolerance between the engines fails the worse one alone
        tolerance, named = between, worse
    else:  # they agree to the last bit on some CPUs (an AVX-512 EPYC): either may be named
        tolerance, named = diffs[worse] / 2, "(onnxruntime|openvino)"
    with pytest.raises(DriftError, match=rf"model_fp32.onnx drifted.*max abs diff .* in {named}"):
        export_model(model_dir, tmp_path / "tight", ExportOptions(
            formats=("onnx",), tolerances=Tolerances(fp32_max_abs_diff=tolerance)))


def test_second_export_needs_overwrite_and_the_report_merges(conv_dir, tmp_path):
    export_model(ModelDir.open(conv_dir), tmp_path)
    with pytest.raises(UserError, match="model_fp32.tflite already exists.*--overwrite"):
        export_model(ModelDir.open(conv_dir), tmp_path)
    export_model(ModelDir.open(conv_dir), tmp_path, ExportOptions(precisions=("fp16",)))
    export_model(ModelDir.open(conv_dir), tmp_path, ExportOptions(overwrite=True))
    report = json.loads((tmp_path / "parity.json").read_text())
    assert sorted(r["file"] for r in report["artifacts"]) == ["model_fp16.tflite",
                                                               "model_fp32.tflite"]
    assert manifest_path_for(tmp_path / "model_fp16.tflite").exists()


def test_a_report_in_the_way_is_found_before_any_work_and_bad_rows_start_a_new_one(
        conv_dir, tmp_path, caplog):
    """A folder named parity.json failed after every artifact was written; rows that were no
    objects ended the export in a traceback, its artifacts written."""
    (tmp_path / "a" / "parity.json").mkdir(parents=True)
    with pytest.raises(UserError, match="parity.json is a folder"):
        export_model(ModelDir.open(conv_dir), tmp_path / "a")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["parity.json"]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "parity.json").write_text('{"artifacts": ["x"]}')
    export_model(ModelDir.open(conv_dir), tmp_path / "b")
    report = json.loads((tmp_path / "b" / "parity.json").read_text())
    assert [r["file"] for r in report["artifacts"]] == ["model_fp32.tflite"]
    assert "parity.json was unreadable; starting a new report" in caplog.text


@pytest.mark.parametrize(("args", "match"), [
    (["--format", "onnx", "--precision", "fp16"], "onnx export supports precisions"),
    (["--precision", "fp8"], "unknown precision fp8"),
    (["--input-size", "30x30"], "must be a multiple of 4"),
    (["--opset", "5"], "must be >= 13"),
    (["--calibration", "/no/such/folder", "--precision", "int8"], "no such file or directory"),
])
def test_bad_export_options_are_one_line_exit_2(args, match, conv_dir, tmp_path):
    code, _, err = run_cli("export", conv_dir, "--out", tmp_path, *args)
    assert code == 2 and err.count("\n") == 1 and match in err, err


@pytest.mark.parametrize(("name", "images", "match"), [
    ("samples.npy", np.zeros((0, 16, 16, 1), np.float32), "not float32 NHWC images"),
    ("samples.npy", np.zeros((4, 16, 16, 3), np.float32), "belongs to another model"),
    ("calibration.npy", np.zeros((4, 16, 16, 3), np.float32), "belongs to another model"),
    ("calibration.npy", np.full((4, 16, 16, 1), np.nan, np.float32), "NaN or infinity"),
])
def test_a_model_directorys_damaged_images_are_one_line_exit_2(name, images, match, conv_dir,
                                                               tmp_path):
    """They had given a traceback (exit 1, a failed gate's code) deep in Keras or LiteRT."""
    damaged = shutil.copytree(conv_dir, tmp_path / "damaged")
    np.save(damaged / name, images)
    code, _, err = run_cli("export", damaged, "--precision", "int8", "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and match in err, err


def test_fixed_size_model_refuses_another_input_size(dense_dir, tmp_path):
    code, _, err = run_cli("export", dense_dir, "--input-size", "32x32", "--out", tmp_path)
    assert code == 2 and "only takes 16x16 images" in err


def test_incompatible_model_directory_parts(conv_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(conv_dir, broken)
    (broken / "calibration.npy").unlink()
    code, _, err = run_cli("export", broken, "--precision", "int8", "--out", tmp_path / "e")
    assert code == 2 and err.count("\n") == 1
    assert "calibration.npy is missing" in err and "--calibration DATA" in err
    np.save(broken / "samples.npy", np.zeros((3, 16, 16), np.uint8))
    code, _, err = run_cli("export", broken, "--out", tmp_path / "e")
    assert code == 2 and "not float32 NHWC images" in err and err.count("\n") == 1
    assert not (tmp_path / "e").exists()


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory):
    """good/: the discs the models learned; scratch/: the same with a bright bar (anomalies)."""
    root = tmp_path_factory.mktemp("labelled")
    good = blobs(24, seed=11)
    bad = blobs(16, seed=12)
    bad[:, 2:6, :] = 255
    write_folder(root / "good", good)
    write_folder(root / "scratch", bad)
    return root


def test_detection_parity_on_a_labelled_folder(conv_dir, labelled_folder, tmp_path):
    # --allow-drift: onnxruntime's and OpenVINO's int8 kernels on an x86 CPU without VNNI
    # saturate (the U8S8 path), which flips a few near-tied scores of this 3-epoch model (AUROC
    # drops 0.0078 and 0.018 on an AVX2-only AMD EPYC): the gate must then say so, and every
    # artifact must be measured.
    code, out, err = run_cli("export", conv_dir, "--format", "all", "--precision", "fp32,int8",
                             "--labelled", labelled_folder, "--out", tmp_path, "--allow-drift")
    assert code == 0, err
    assert "AUROC" in out.splitlines()[0]
    report = {row["file"]: row for row in
              json.loads((tmp_path / "parity.json").read_text())["artifacts"]}
    for name in ("model_fp32.tflite", "model_int8.tflite", "model_fp32.onnx", "model_int8.onnx",
                 "model_fp32.xml", "model_int8.xml"):
        parity = rt.read_artifact_manifest(tmp_path / name).artifact.parity
        assert parity.n_labelled == 40 and parity.keras_auroc > 0.75, parity  # a 3-epoch model
        assert parity.score_correlation > 0.99
        drop = parity.keras_auroc - parity.auroc
        assert report[name]["auroc_drop"] == pytest.approx(drop)
        within = (parity.max_abs_diff <= GATE.fp32_max_abs_diff if "fp32" in name else
                  drop <= GATE.int8_auroc_drop
                  and report[name]["psnr_drop_db"] <= GATE.int8_psnr_drop_db)
        assert report[name]["passed"] == within
        if name.endswith(".tflite"):  # LiteRT's integer kernels do not saturate
            assert abs(drop) <= GATE.int8_auroc_drop
    with pytest.raises(DriftError, match=r"model_int8.tflite drifted.*AUROC drop .* > -1"):
        from edgeae.core.labels import load_labelled

        model_dir = ModelDir.open(conv_dir)
        export_model(model_dir, tmp_path / "strict", ExportOptions(
            precisions=("int8",), labelled=load_labelled(str(labelled_folder),
                                                         model_dir.manifest, None),
            tolerances=Tolerances(int8_psnr_drop_db=10, int8_auroc_drop=-1)))


def test_the_labelled_auroc_is_measured_where_the_detector_scores(gray_folder, tmp_path):
    """The manifest's AUROC is what `evaluate` measures with the artifact: the labelled images
    resized to the detector's training size (16x16 here) as every scoring path resizes them;
    read at their own 24x24, its AUROC was another than the deployed artifact's."""
    from edgeae.core.labels import load_labelled

    train_cli = ("train", "detector", "--data", gray_folder / "class_0", "--model", "conv",
                 "--epochs", "3", "--score-knn", "0", "--out", tmp_path / "det")
    assert run_cli(*train_cli)[0] == 0
    bad = blobs(12, size=24, seed=12)
    bad[:, 4:10, :] = 255
    labelled = write_folder(tmp_path / "lab" / "good", blobs(12, size=24, seed=11)).parent
    write_folder(labelled / "scratch", bad)
    code, _, err = run_cli("export", tmp_path / "det", "--format", "onnx", "--precision",
                           "fp32", "--labelled", labelled, "--out", tmp_path / "x")
    assert code == 0, err
    artifact = tmp_path / "x" / "model_fp32.onnx"
    recorded = rt.read_artifact_manifest(artifact).artifact.parity.auroc
    code, _, err = run_cli("evaluate", "--model", artifact, "--data", labelled, "--out",
                           tmp_path / "metrics.json")
    assert code == 0, err
    evaluated = json.loads((tmp_path / "metrics.json").read_text())["auroc"]
    assert recorded == pytest.approx(evaluated, abs=1e-4)
    images, _ = load_labelled(str(labelled), ModelDir.open(tmp_path / "det").manifest, None)
    assert images.shape[1:3] == (16, 16)
    # a fixed-size variant scores as the runtime runs it, over tiles of the 16x16 image: `score`
    # refused it, and its advice (--image-size 8x8) scored at a size no threshold was set at
    code, _, err = run_cli("export", tmp_path / "det", "--format", "onnx", "--precision",
                           "fp32", "--input-size", "8x8", "--out", tmp_path / "x8")
    assert code == 0, err
    fixed = tmp_path / "x8" / "model_fp32_8x8.onnx"
    code, _, err = run_cli("score", "--model", fixed, "--data", labelled / "scratch",
                           "--out", tmp_path / "s.csv")
    assert code == 0, err
    first = (tmp_path / "s.csv").read_text().splitlines()[1].split(",")
    frame = cv2.imread(str(labelled / "scratch" / first[0]), cv2.IMREAD_GRAYSCALE)
    assert rt.load(fixed).score(frame).score == pytest.approx(float(first[1]), rel=1e-5)


def test_the_report_gives_the_size_of_the_files_written(conv_artifacts):
    """It gave the size before the manifest went inside (and an IR's without its weights)."""
    report = json.loads((conv_artifacts / "parity.json").read_text())["artifacts"]
    assert len(report) >= 6
    for row in report:
        files = [conv_artifacts / row["file"], weights_path_for(conv_artifacts / row["file"])]
        assert row["size_bytes"] == sum(f.stat().st_size for f in files if f), row["file"]


def test_a_precision_named_twice_is_exported_once(conv_dir, tmp_path):
    """The repeat was converted again and refused the first one's file: a half-written export."""
    code, out, err = run_cli("export", conv_dir, "--format", "onnx", "--precision",
                             "fp32,fp32", "--out", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model_fp32.onnx", "model_fp32.onnx.json", "parity.json"]


def test_all_precisions_of_one_format_are_those_it_stores(conv_dir, tmp_path):
    """`--precision all` with one format had been refused for the precisions it lacks."""
    code, out, err = run_cli("export", conv_dir, "--format", "onnx", "--precision", "all",
                             "--out", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == [
        "model_fp32.onnx", "model_int8-dynamic.onnx", "model_int8.onnx"]


def test_a_ctrl_c_while_the_files_are_written_takes_effect_once_all_are(conv_dir, tmp_path,
                                                                       monkeypatch):
    """A stop between the files had left some artifacts, or one without its JSON."""
    import edgeae.export.artifacts as artifacts

    write = artifacts._write

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as the first file is written
        return write(*args, **kwargs)

    monkeypatch.setattr(artifacts, "_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_model(ModelDir.open(conv_dir), tmp_path, ExportOptions(
            formats=("onnx",), precisions=("fp32", "int8")))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model_fp32.onnx", "model_fp32.onnx.json", "model_int8.onnx", "model_int8.onnx.json",
        "parity.json"]


def test_overwrite_never_breaks_an_artifact_it_does_not_replace(gray_folder, tmp_path):
    """A model's files of one precision share their side file (model_fp32.memory.npy): another
    detector's ONNX file exported alone with --overwrite left the TFLite one reading its memory."""
    for name, size in (("a", "16"), ("b", "8")):
        assert run_cli("train", "detector", "--data", gray_folder / "class_0", "--epochs", "1",
                       "--image-size", size, "--out", tmp_path / name)[0] == 0
    out = tmp_path / "export"
    assert run_cli("export", tmp_path / "a", "--format", "tflite", "--precision", "fp32",
                   "--out", out)[0] == 0
    code, _, err = run_cli("export", tmp_path / "b", "--format", "onnx", "--precision", "fp32",
                           "--out", out, "--overwrite")
    assert code == 2 and "model_fp32.tflite reads model_fp32.memory.npy too" in err, err
    assert sorted(p.name for p in out.iterdir()) == [
        "model_fp32.memory.npy", "model_fp32.tflite", "model_fp32.tflite.json", "parity.json"]
    assert rt.load(out / "model_fp32.tflite").score_size == (16, 16)  # still whole
    code, _, err = run_cli("export", tmp_path / "b", "--format", "all", "--precision", "fp32",
                           "--out", out, "--overwrite")  # every sharer replaced: allowed
    assert code == 0, err


def test_labelled_folder_needs_a_normal_class(conv_dir, gray_folder, tmp_path):
    code, _, err = run_cli("export", conv_dir, "--labelled", gray_folder, "--out", tmp_path)
    assert code == 2 and "needs sub-folders: normal images in good or normal" in err, err
    assert err.count("\n") == 1 and "--labels" not in err  # export has no --labels


def test_onnx_conversion_that_loses_the_output_rank_is_repeated(monkeypatch, caplog, tmp_path):
    """tf2onnx now and then returns an NHWC model's output as (1, N, H, W, C): convert again."""
    import tf2onnx

    from edgeae.export.onnx import convert_onnx
    from edgeae.runtime.backends import OnnxSession
    from edgeae.train.models import create_model

    real, calls = tf2onnx.convert.from_keras, []

    def flaky(*args, **kwargs):  # the real conversion, its first result's output set to rank 5
        proto, storage = real(*args, **kwargs)
        calls.append(proto)
        if len(calls) == 1:  # set, not appended to: the real conversion may itself have lost it
            dims = proto.graph.output[0].type.tensor_type.shape.dim
            del dims[:]
            for _ in range(5):
                dims.add().dim_value = 1
        return proto, storage

    monkeypatch.setattr(tf2onnx.convert, "from_keras", flaky)
    path = tmp_path / "conv.onnx"
    path.write_bytes(convert_onnx(create_model("conv", (16, 16, 1), {}), (None, None, 1)))
    assert len(calls) >= 2  # a later real conversion may flake too (about 1 in a few hundred)
    assert "rank-5 output for a rank-4 model (attempt 1 of" in caplog.text
    assert OnnxSession(path, 1).run(blobs(3).astype(np.float32) / 255).shape == (3, 16, 16, 1)


def _two_convs():
    """An OpenVINO model: an 8x8 gray input through two 1x1 convolutions with ReLU."""
    import openvino as ov
    from openvino import opset13 as ops

    image = ops.parameter([1, 8, 8, 1], np.float32)
    x = ops.transpose(image, ops.constant(np.array([0, 3, 1, 2])))
    for _ in range(2):
        weights = np.full((4, x.get_output_partial_shape(0)[1].get_length(), 1, 1), 0.5)
        x = ops.relu(ops.convolution(x, ops.constant(weights.astype(np.float32)),
                                     [1, 1], [0, 0], [0, 0], [1, 1]))
    return ov.Model([x], [image])


@pytest.mark.parametrize("per_channel", [True, False])
def test_ir_int8_per_tensor_weights_share_one_scale(per_channel):
    """--per-tensor had been ignored for the IR: its weights stayed per channel."""
    import openvino as ov
    from openvino import opset13 as ops

    from edgeae.export.openvino import OpenVINOConverter, quantize_ir
    from edgeae.export.options import Calibration

    image = ops.parameter([1, 8, 8, 1], np.float32)
    x = ops.transpose(image, ops.constant(np.array([0, 3, 1, 2])))
    weights = np.arange(1, 5, dtype=np.float32).reshape(4, 1, 1, 1) / 4  # channels 1:2:3:4
    x = ops.relu(ops.convolution(x, ops.constant(weights), [1, 1], [0, 0], [0, 0], [1, 1]))
    inputs = np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)
    quantized = quantize_ir(ov.Model([x], [image]), Calibration(inputs), 0.5,
                            per_channel=per_channel)
    int8 = next(op.get_data().astype(np.int32) for op in quantized.get_ordered_ops()
                if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8)
    peaks = np.abs(int8).reshape(4, -1).max(axis=1)
    assert (len(set(peaks.tolist())) == 1) == per_channel, peaks
    described = OpenVINOConverter(None, (8, 8, 1), ExportOptions(per_channel=per_channel))
    assert described.describe(b"", "int8")["weights"] == (
        "per-channel" if per_channel else "per-tensor")


@pytest.mark.parametrize("fix", [True, False])
def test_ir_int8_overflow_fix_halves_every_layers_weights(fix):
    """NNCF halves the first layer's int8 weights (7 bits) against sums that saturate on x86
    without VNNI; the export's overflow fix, asked for on such a CPU, halves every layer's."""
    import openvino as ov

    from edgeae.export.openvino import OpenVINOConverter, quantize_ir
    from edgeae.export.options import Calibration

    inputs = np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)
    quantized = quantize_ir(_two_convs(), Calibration(inputs), 0.5, overflow_fix=fix)
    largest = [int(np.abs(op.get_data().astype(np.int32)).max())
               for op in quantized.get_ordered_ops()
               if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8]
    assert largest == ([63, 63] if fix else [63, 127])
    converter = OpenVINOConverter(None, (8, 8, 1), ExportOptions())
    assert converter.describe(b"", "int8")["overflow_fix"] is int8_sums_saturate()


@pytest.mark.parametrize("saturates", [True, False])
def test_onnx_int8_has_a_seven_bit_remedy_where_int8_sums_saturate(saturates, monkeypatch):
    """Where an engine's int8 sums saturate (the CPU's capability is the stand-in here), an ONNX
    static int8 file that fails its gate is quantized again with 7-bit weights and says so;
    elsewhere there is no second way (tests/test_draem.py has a real one fail and pass)."""
    import keras
    import onnx
    from onnx import numpy_helper

    import edgeae.export.onnx as onnx_export
    from edgeae.export.options import Calibration

    monkeypatch.setattr(onnx_export, "int8_sums_saturate", lambda: saturates)
    image = keras.Input((8, 8, 1))
    model = keras.Model(image, keras.layers.Conv2D(1, 1)(
        keras.layers.Conv2D(4, 1, activation="relu")(image)))
    converter = onnx_export.OnnxConverter(model, (8, 8, 1), ExportOptions())
    calibration = Calibration(np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32))

    def largest_weights(data: bytes) -> int:
        graph = onnx.ModelProto.FromString(data).graph
        return max(int(np.abs(numpy_helper.to_array(i).astype(np.int32)).max())
                   for i in graph.initializer if i.data_type == onnx.TensorProto.INT8)

    assert largest_weights(converter.convert("int8", calibration).data) == 127
    remedy = converter.remedy("int8", calibration)
    assert (remedy is not None) is saturates and converter.remedy("fp32", calibration) is None
    if saturates:
        converted, described = remedy()
        assert largest_weights(converted.data) <= 64 and described["overflow_fix"] is True  # 7 bits


def _activation_highs(model) -> list[float]:
    """Each activation quantizer's upper input limit in an OpenVINO model (FakeQuantize nodes
    that quantize a computed value, not weights), in graph order."""
    return [float(op.input_value(2).get_node().get_data().max())
            for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize"
            and op.input_value(0).get_node().get_type_name() != "Constant"]


@pytest.mark.parametrize(("pasted", "ranges"), [(True, "mean"), (False, "cover"),
                                                (False, "mean")])
def test_ir_int8_ranges_follow_the_rule_and_always_cover_pasted_anomalies(pasted, ranges):
    """`--int8-ranges` holds for the IR as for ONNX; a mask predictor's calibration has
    anomalies pasted in, and its ranges reach them whatever the rule.

    "mean" (NNCF's default) averages each input's range, so the one bright input here is clipped.
    """
    from edgeae.export.openvino import ir_int8_rules, quantize_ir
    from edgeae.export.options import Calibration

    inputs = np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)
    inputs[0] *= 10  # one input with an anomaly far brighter than the rest
    calibration = Calibration(inputs, pasted_anomalies=pasted, ranges=ranges)
    highs = _activation_highs(quantize_ir(_two_convs(), calibration, max_drop_db=0.5))
    brightest = float(inputs.max())  # the first activation quantizer is the input's
    covered = pasted or ranges == "cover"
    assert highs[0] >= 0.99 * brightest if covered else highs[0] < 0.5 * brightest
    assert ir_int8_rules(calibration) == {"activation_ranges": "cover" if covered else "mean",
                                          "bias_correction": False}


def test_ir_int8_of_a_denoiser_follows_int8_ranges_and_records_them(denoiser_dir, tmp_path):
    """Through accuracy control too (a denoiser's IR); until 2026-12-03 the IR took NNCF's
    default, the mean, whatever was asked, and its manifest did not say."""
    import openvino as ov

    model_dir = ModelDir.open(denoiser_dir)
    highs = {}
    for ranges in (None, "mean"):
        report = export_model(model_dir, tmp_path / str(ranges), ExportOptions(
            formats=("openvino",), precisions=("int8",), allow_drift=True,
            **({"int8_ranges": ranges} if ranges else {})))
        artifact = report.artifacts[0]
        quantization = artifact.manifest.artifact.quantization
        assert (quantization.activation_ranges, quantization.bias_correction) == (
            ranges or "cover", False)
        highs[ranges] = sum(_activation_highs(ov.Core().read_model(artifact.path)))
    assert highs["mean"] < highs[None]  # averaged ranges are narrower


@pytest.mark.parametrize("ranges", ["cover", "mean"])
def test_onnx_int8_ranges_cover_every_input_or_their_mean(ranges):
    """`--int8-ranges`: the input's quantizer reaches the one bright input, or clips it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeae.export.onnx import quantize_onnx

    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
         helper.make_node("Conv", ["t", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
        "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(np.full((4, 1, 1, 1), 0.5, np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    inputs = np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)
    inputs[0] *= 10  # one input far brighter than the rest
    quantized = onnx.load_from_string(quantize_onnx(model.SerializeToString(), "int8", inputs,
                                                    ranges=ranges))
    scales = {i.name: numpy_helper.to_array(i) for i in quantized.graph.initializer}
    first = next(n for n in quantized.graph.node if n.op_type == "QuantizeLinear")
    high = float(scales[first.input[1]]) * 255  # uint8: zero point 0 for these inputs
    brightest = float(inputs.max())
    assert high >= 0.99 * brightest if ranges == "cover" else high < 0.5 * brightest


def _activation_scales(path) -> float:
    """The sum of an int8 ONNX file's activation quantizer scales (its QuantizeLinear nodes)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    scales = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    return sum(float(scales[n.input[1]]) for n in graph.node if n.op_type == "QuantizeLinear")


@pytest.mark.parametrize("which", ["denoiser_dir", "conv_dir"])
def test_onnx_int8_ranges_cover_every_input_by_default(which, request, tmp_path):
    """A denoiser's too: averaged ranges clip its noisiest inputs (benchmarks/int8_ranges.py)."""
    model_dir = ModelDir.open(request.getfixturevalue(which))
    scales = {}
    for ranges in (None, "cover", "mean"):
        out = tmp_path / str(ranges)
        report = export_model(model_dir, out, ExportOptions(
            formats=("onnx",), precisions=("int8", "int8-dynamic"), allow_drift=True,
            **({"int8_ranges": ranges} if ranges else {})))
        static, dynamic = (a.manifest.artifact for a in report.artifacts)
        assert static.quantization.activation_ranges == (ranges or "cover")  # recorded
        assert dynamic.quantization.activation_ranges is None  # ranges found at run time
        scales[ranges] = _activation_scales(report.artifacts[0].path)
    assert scales["mean"] < scales["cover"]  # averaged ranges are narrower
    assert scales[None] == scales["cover"]


def test_onnx_int8_bias_correction_falls_back_where_nncf_cannot_follow_the_graph(denoiser_dir,
                                                                                 tmp_path,
                                                                                 caplog):
    """The conv denoiser's graph (a layer whose output also sizes a transposed convolution)
    defeats NNCF 3.4's bias correction: its int8 is then onnxruntime's, and the manifest and a
    warning say so. Not asked for, onnxruntime's is written and NNCF is not tried."""
    caplog.set_level(logging.INFO, logger="edgeae")
    model_dir = ModelDir.open(denoiser_dir)
    recorded, failed = {}, "NNCF's bias correction failed on this graph (KeyError"
    for asked in (True, False):
        caplog.clear()
        report = export_model(model_dir, tmp_path / str(asked), ExportOptions(
            formats=("onnx",), precisions=("int8",), int8_bias_correction=asked,
            allow_drift=True))
        recorded[asked] = report.artifacts[0].manifest.artifact.quantization.bias_correction
        levels = {r.levelname for r in caplog.records if r.getMessage().startswith(failed)}
        assert levels == {True: {"WARNING"}, False: set()}[asked]
    assert recorded == {True: False, False: False}


def test_a_mask_predictors_int8_gate_is_its_masks_auroc():
    """A mask is read by its ranking: its PSNR against an empty mask is recorded, not gated."""
    from edgeae.core.manifest import ParityInfo

    parity = ParityInfo(n_samples=64, max_abs_diff=0.1, mean_abs_diff=0.01, psnr_db=19.0,
                        keras_psnr_db=19.5, n_labelled=4096, score_correlation=0.99,
                        auroc=0.911, keras_auroc=0.913)
    assert GATE.failure("int8", parity).startswith("PSNR drop 0.50 dB")
    assert GATE.failure("int8", parity, masks=True) is None
    worse = parity.model_copy(update={"auroc": 0.900})
    assert GATE.failure("int8", worse, masks=True).startswith("AUROC drop 0.0130 > 0.005")
    assert GATE.describe("int8", masks=True) == "AUROC drop <= 0.005"
    assert GATE.describe("int8") == "PSNR drop <= 0.3 dB"  # no AUROC was measured
    assert GATE.describe("int8", labelled=True) == "PSNR drop <= 0.3 dB, AUROC drop <= 0.005"
    # a fine tolerance: the drop shown with the digits that tell it from the tolerance
    near = parity.model_copy(update={"psnr_db": 19.4976, "auroc": 0.91299})
    fine = Tolerances(int8_psnr_drop_db=0.0001, int8_auroc_drop=0.000001)
    assert fine.failure("int8", near) == "PSNR drop 0.002 dB > 0.0001 dB (int8)"
    assert fine.failure("int8", near, masks=True) == "AUROC drop 0.00001 > 1e-06 (int8)"


def test_constant_scores_have_no_correlation_rather_than_nan():
    """A labelled set scored alike by an artifact had NaN (and numpy's RuntimeWarning) in
    parity.json, which is then no JSON."""
    from edgeae.export.parity import detection_parity

    scores, labels = np.array([0.1, 0.4, 0.2, 0.9]), np.array([0, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = detection_parity(scores, np.full(4, 0.3), labels)
        same = detection_parity(np.full(4, 0.3), np.full(4, 0.3), labels)
    assert flat["score_correlation"] is None and same["score_correlation"] == 1.0
    from edgeae.export.parity import _correlation

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _correlation(scores, np.array([0.1, np.nan, 0.2, 0.9])) is None  # NaN: no JSON
    assert detection_parity(scores, scores * 2, labels)["score_correlation"] == pytest.approx(1)


def test_calibration_and_labelled_images_are_cropped_to_the_sides_a_unet_takes(tmp_path):
    """101x77 images ended a U-Net's int8 export (and --labelled's parity) in a converter's
    traceback: its levels halve three times. A video model's K-frame inputs take no single
    images at all: one line."""
    from edgeae.core.calibration import load_calibration
    from edgeae.core.labels import load_labelled
    from edgeae.runtime.artifact import read_artifact_manifest
    from edgeae.runtime.pretrained import pretrained_path

    manifest = read_artifact_manifest(pretrained_path("live"))
    assert manifest.input.size_multiple == 8
    odd = blobs(6, size=101)[:, :, :77]
    write_folder(tmp_path / "odd", odd)
    images = load_calibration(str(tmp_path / "odd"), manifest, None, 4)
    assert images.shape[1:] == (96, 72, 1)
    np.testing.assert_allclose(images[0, ..., 0], odd[0, 2:98, 2:74, 0] / 255, atol=1e-7)
    write_folder(tmp_path / "labelled" / "good", odd[:3])
    write_folder(tmp_path / "labelled" / "bad", odd[3:])
    assert load_labelled(str(tmp_path / "labelled"), manifest, None)[0].shape[1:] == (96, 72, 1)
    write_folder(tmp_path / "tiny", np.zeros((4, 6, 6, 1), np.uint8))  # cropped to 0x0: a SIGFPE
    with pytest.raises(UserError, match="images of 6x6 are smaller than the model takes"):
        load_calibration(str(tmp_path / "tiny"), manifest, None, 4)
    video = manifest.model_copy(update={"input": manifest.input.model_copy(update={"frames": 3})})
    with pytest.raises(UserError, match="this model takes 3 frames at once; leave it out"):
        load_calibration(str(tmp_path / "odd"), video, None, 4)
