"""The runtime: frame layouts and types, buffers, errors, and running without TensorFlow."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.errors import UserError
from edgeae.core.manifest import manifest_path_for
from edgeae.export.options import Tolerances
from edgeae.runtime.backends import TFLiteSession, usable_cores
from edgeae.runtime.tiles import TILE_PIXELS

from conftest import REPO, blobs, run_cli

# The device environments `make install` creates: no TensorFlow in either.
DEVICE_VENVS = {
    "litert": (REPO / ".venv-runtime", "litert", True),
    # tflite-runtime has wheels for Python <= 3.11 only; the Makefile skips it above that.
    "tflite-runtime": (REPO / ".venv-tflite", "tflite-runtime", sys.version_info < (3, 12)),
}
# An emulated Raspberry Pi (benchmarks/arm_check.sh): an aarch64 interpreter, given as a file.
if os.environ.get("EDGEAE_DEVICE_PYTHON"):
    DEVICE_VENVS["aarch64"] = (Path(os.environ["EDGEAE_DEVICE_PYTHON"]), "litert", True)
# Engines installed in a device environment that cannot run there, and why. Under qemu user mode
# (arm_check.sh) OpenVINO's CPU plugin reads the CPU's identity (MIDR_EL1) and topology from
# /sys, which the emulated root must hide (onnxruntime's CPU probe segfaults with the host's
# /sys visible); without it the plugin segfaults. A real board has /sys.
CANNOT_RUN = {"aarch64": {"openvino"}}


def device_python(name: str) -> Path:
    """The interpreter of a device environment; fail under CI, skip elsewhere, if missing."""
    venv, _, expected = DEVICE_VENVS[name]
    python = venv / "bin" / "python" if venv.is_dir() else venv
    if not python.exists():
        if os.environ.get("CI") and expected:
            pytest.fail(f"{venv.name} is missing: CI must create it (make install)")
        pytest.skip(f"no {venv.name} here; `make install` creates it")
    return python


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


def test_litert_gets_every_usable_core_unless_told(conv_tflite):
    """LiteRT's own default is one thread, which left a core of two idle (1.75x slower)."""
    from ai_edge_litert.interpreter import Interpreter

    asked = []

    class Recording(Interpreter):  # the real interpreter, noting what it was asked for
        def __init__(self, model_path: str, num_threads: int | None = None) -> None:
            asked.append(num_threads)
            super().__init__(model_path=model_path, num_threads=num_threads)

    frames = blobs(2).astype(np.float32) / 255
    outputs = [TFLiteSession(Recording, conv_tflite, n).run(frames).copy() for n in (None, 1)]
    assert asked == [len(os.sched_getaffinity(0)), 1] and usable_cores() == asked[0]
    np.testing.assert_array_equal(*outputs)


DELEGATE_PROBE = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
from edgeae.runtime.backends import TFLiteSession
TFLiteSession(Interpreter, sys.argv[1], 1).run(np.zeros((1, 16, 16, 1), np.float32))
"""


@pytest.mark.parametrize("level, shown", [("3", False), ("0", True)])
def test_litert_delegate_line_only_when_logs_are_wanted(conv_tflite, level, shown):
    """LiteRT's "Created ... XNNPACK delegate" line (once a process) obeys TF_CPP_MIN_LOG_LEVEL."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": level}
    run = subprocess.run([sys.executable, "-c", DELEGATE_PROBE, str(conv_tflite)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert ("XNNPACK delegate" in run.stderr) is shown, run.stderr


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


@pytest.mark.parametrize(("backend", "file"), [
    ("litert", "live_int8.tflite"), ("onnxruntime", "live_int8.onnx"),
    ("openvino", "live_int8.onnx"), ("ncnn", "live_fp32.param")])
def test_a_warm_model_call_allocates_no_frame_sized_array(backend, file):
    """The edge's rule, per engine: after a size's first frame, the call reuses its buffers.

    tracemalloc sees numpy's arrays (not an engine's own arena): OpenVINO handed back a copy of
    its output and LiteRT quantized through two temporaries, 1.2 and 2.5 MB a 640x480 frame.
    """
    if backend in ("openvino", "ncnn"):
        pytest.importorskip(backend, reason=f"`make install` installs edgeae[{backend}]")
    model = rt.load(REPO / "runtime" / "pretrained" / file, backend=backend, num_threads=1)
    frame = cv2.resize(blobs(1, size=64)[0], (640, 480))
    out = np.empty_like(frame)
    model.reconstruct(frame, out=out)
    tracemalloc.start()
    try:
        model.reconstruct(frame, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < frame.size, f"{backend}: {peak} bytes"  # a quarter of the float input


def test_onnxruntime_writes_each_output_into_the_same_buffer():
    """I/O binding: after a shape's first call, onnxruntime writes into the session's kept
    array (no output allocated per frame), and the values are onnxruntime's own."""
    import onnxruntime as ort

    from edgeae.runtime.backends import ORT_EXACT_INT8, OnnxSession, int8_sums_saturate

    path = REPO / "runtime" / "pretrained" / "live_int8.onnx"
    options = ort.SessionOptions()
    if int8_sums_saturate():  # x86 without VNNI: the runtime's exact int8 kernels, here too
        options.add_session_config_entry(*ORT_EXACT_INT8)
    session, plain = OnnxSession(path, 1), ort.InferenceSession(str(path), options)
    tall = np.random.default_rng(0).random((3, 1, 96, 64, 1), dtype=np.float32)
    first = session.run(np.ascontiguousarray(tall[0, :, ::2]))
    for frames in tall[1:]:
        view = frames[:, ::2]  # every other row: not contiguous, copied for the engine
        out = session.run(view)
        assert out is first
        expected = plain.run(None, {"input": np.ascontiguousarray(view)})[0]
        np.testing.assert_array_equal(out, expected)
    assert session.run(tall[0, :, :40]).shape == (1, 40, 64, 1)  # a new shape, a new buffer


def test_bad_frames(model):
    with pytest.raises(UserError, match="takes 1-channel frames but got 3"):
        model.reconstruct(blobs(1, channels=3))
    with pytest.raises(UserError, match="uint8 or float"):
        model.reconstruct(blobs(1).astype(np.int32))


@pytest.mark.parametrize(("frame", "match"), [
    (None, "no frame"),
    (np.zeros((0, 16), np.uint8), "the frame is empty"),
    (np.full((16, 16), np.nan, np.float32), "NaN or infinity"),
    (np.full((16, 16), 128.0, np.float32), "divide 0-255 values by 255"),
    (np.zeros((16, 16, 3), np.uint8), "looks like a colour image, and the model is gray"),
])
def test_frames_no_engine_refuses_are_refused_before_it_runs(model, frame, match):
    with pytest.raises(UserError, match=match):
        model.reconstruct(frame)
    assert model.reconstruct(blobs(1)[0]).shape == (16, 16, 1)  # and the model still runs


def test_unclipped_noisy_floats_still_run(model):
    """The Set12 protocol feeds noise unclipped: floats a little outside [0, 1] are pixels."""
    noisy = blobs(1)[0].astype(np.float32) / 255 + np.float32(0.4)  # up to 1.4
    assert model.reconstruct(noisy).dtype == np.float32


def test_out_must_be_a_writable_array_of_the_result(model):
    frame = blobs(1)[0]
    for out, match in ((np.empty((5, 5, 1), np.uint8), "out must match the frame"),
                       (np.empty(frame.shape, np.float32), "out must match the frame"),
                       (np.empty_like(frame), "read-only")):
        if match == "read-only":
            out.setflags(write=False)
        with pytest.raises(UserError, match=match):
            model.reconstruct(frame, out=out)


def test_settings_a_user_may_change_are_checked(conv_artifacts, model):
    with pytest.raises(UserError, match="tile_pixels must be a positive whole number"):
        model.tile_pixels = -1
    model.tile_pixels = 1000
    model.tile_pixels = None  # back to the default
    assert model.tile_pixels == TILE_PIXELS
    scorer = rt.load(conv_artifacts / "model_fp32.tflite", task="score")
    for value in (float("nan"), "1.0"):
        with pytest.raises(UserError, match=r"threshold must be a finite number, got .*\(None: "):
            scorer.threshold = value
    scorer.threshold = np.float32(0.5)
    assert scorer.threshold == 0.5 and isinstance(scorer.threshold, float)
    with pytest.raises(UserError, match="this one was trained on images: use score"):
        scorer.score_rows(np.zeros(8))
    with pytest.raises(UserError, match=r"expected a frame .* got shape \(\)"):
        model.reconstruct(np.uint8(7))
    with pytest.raises(UserError, match="frames of different sizes make no batch"):
        scorer.score_batch([np.zeros((16, 16), np.uint8), np.zeros((16, 32), np.uint8)])
    from edgeae.runtime.pretrained import pretrained_path

    assert pretrained_path("live", backend="auto").is_file()  # any installed: load then picks
    with pytest.raises(UserError, match="unknown backend 'nope'; choose one of"):
        pretrained_path("live", backend="nope")
    with pytest.raises(UserError, match="unknown backend 'nope'; choose one of litert, "):
        rt.load(conv_artifacts / "model_fp32.tflite", backend="nope")
    with pytest.raises(UserError, match="backend 'openvino' cannot run '.tflite' files; use one "
                                        "of litert, tflite-runtime$"):
        rt.load(conv_artifacts / "model_fp32.tflite", backend="openvino")
    frame = blobs(1)[0]  # a 16-bit frame scores as its 8-bit self, as score_batch has it
    assert scorer.score(frame.astype(np.uint16) * 257).score == pytest.approx(
        scorer.score(frame).score, rel=1e-5)
    for threads in (0, -1, 100_000, 2.5, True):
        with pytest.raises(UserError, match="threads must be a whole number from 1 to 1024"):
            rt.load(conv_artifacts / "model_fp32.tflite", num_threads=threads)


def test_fixed_size_model_rejects_other_sizes(dense_dir, tmp_path):
    from edgeae.core.modeldir import ModelDir
    from edgeae.export.artifacts import export_model

    model = rt.load(export_model(ModelDir.open(dense_dir), tmp_path).artifacts[0].path)
    assert model.reconstruct(blobs(2)).shape == (2, 16, 16, 1)
    with pytest.raises(UserError, match="takes 16x16 frames but got 32x32"):
        model.reconstruct(blobs(1, size=32))


def test_load_errors(conv_dir, conv_tflite, tmp_path):
    with pytest.raises(UserError, match="is a model directory.*edgeae export"):
        rt.load(conv_dir)
    with pytest.raises(UserError, match="no such model file"):
        rt.load(tmp_path / "absent.tflite")
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "0.png"), np.zeros((16, 16), np.uint8))
    code, _, err = run_cli("run", "--model", conv_dir / "model.keras", "--source", frames)
    assert code == 2 and "model.keras is a Keras model, not an exported file: give " \
        f"{conv_dir} where a command takes one" in err and "Traceback" not in err
    beside = manifest_path_for(conv_tflite)
    lone = tmp_path / "lone.tflite"
    lone.write_bytes(conv_tflite.read_bytes()[:300])  # truncated, and no JSON beside it
    with pytest.raises(UserError, match="has no manifest: neither lone.tflite.json"):
        rt.load(lone)
    shutil.copy(beside, manifest_path_for(lone))
    with pytest.raises(UserError, match="lone.tflite is 300 bytes but .*lone.tflite.json records"):
        rt.load(lone)
    unrecorded = json.loads(beside.read_text())
    unrecorded["artifact"].update(size_bytes=None, sha256=None)  # as an embedded copy
    manifest_path_for(lone).write_text(json.dumps(unrecorded))
    with pytest.raises(UserError, match="not a readable TFLite model"):
        rt.load(lone)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not protobuf")
    with pytest.raises(UserError, match="not a readable ONNX model"):
        rt.load(broken)
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    shutil.copy(manifest_path_for(lone), manifest_path_for(other))
    with pytest.raises(UserError, match="no backend runs '.pt' files"):
        rt.load(other)
    with pytest.raises(UserError, match="backend 'nope'"):
        rt.load(conv_tflite, backend="nope")


def test_importing_the_runtime_does_not_import_tensorflow():
    code = "import sys, edgeae.runtime, edgeae.app.cli; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def real_images_and_keras(conv_dir, tmp_path_factory) -> Path:
    """scikit-learn's scanned digits (real images) and the Keras model's outputs on them."""
    from sklearn.datasets import load_digits

    from edgeae.core.modeldir import ModelDir
    from edgeae.train.keras_backend import KerasSession, load_keras

    folder = tmp_path_factory.mktemp("parity")
    digits = (load_digits().images[:64, :, :, None] / 16).astype(np.float32)
    keras = KerasSession(load_keras(ModelDir.open(conv_dir)))
    np.save(folder / "images.npy", digits)
    np.save(folder / "keras.npy", keras.run(digits))
    return folder


@pytest.mark.parametrize("venv", DEVICE_VENVS)
def test_device_environment_matches_keras_without_tensorflow(venv, conv_artifacts,
                                                             real_images_and_keras, tmp_path):
    """With only a device's packages: every artifact loads with the expected backend and its
    outputs match the Keras model's within the export tolerances on real images."""
    python = device_python(venv)
    data = real_images_and_keras
    script = textwrap.dedent(f"""
        import importlib.util, json, sys
        from pathlib import Path
        import numpy as np
        assert importlib.util.find_spec("tensorflow") is None, "tensorflow is installed here"
        import edgeae.runtime as rt
        images = np.load({str(data / "images.npy")!r})
        keras = np.load({str(data / "keras.npy")!r})

        def psnr(out):
            mse = ((np.clip(out, 0, 1) - images) ** 2).mean(axis=(1, 2, 3))
            return float(np.mean(10 * np.log10(1 / mse)))

        report = {{}}
        for path in sorted(Path({str(conv_artifacts)!r}).glob("model_*.*[!n]")):
            try:  # an IR where OpenVINO is not installed: the one line naming the extra
                row = report[path.name] = {{"backend": rt.choose_backend(path).name}}
            except rt.UserError as exc:
                report[path.name] = {{"not_installed": str(exc)}}
                continue
            if row["backend"] in {sorted(CANNOT_RUN.get(venv, set()))!r}:
                row["cannot_run_here"] = True
                continue
            try:
                out = rt.load(path).reconstruct(images)
            except rt.UserError as exc:
                row["error"] = str(exc)
                continue
            row.update(max_abs_diff=float(np.abs(out - keras).max()),
                       psnr_drop=psnr(keras) - psnr(out))
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        print(json.dumps(report))
    """)
    run = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert len(report) == 10, report
    for name, row in report.items():
        _check_device_row(venv, name, row)


def _check_device_row(venv: str, name: str, row: dict) -> None:
    """One artifact's row of the device report: the expected backend, within its export gate."""
    if "not_installed" in row:  # the tflite-runtime environment has no OpenVINO
        assert name.endswith(".xml") and "edgeae[openvino]" in row["not_installed"], row
        assert venv == "tflite-runtime"
        return
    if row.get("cannot_run_here"):
        assert row["backend"] in CANNOT_RUN[venv], row
        return
    expected = {".tflite": DEVICE_VENVS[venv][1], ".onnx": "onnxruntime", ".xml": "openvino"}
    assert row["backend"] == expected[Path(name).suffix], (name, row)
    if venv == "tflite-runtime" and name == "model_int8-dynamic.tflite":
        # tflite-runtime 2.14 has no hybrid (int8 weights, float input) TRANSPOSE_CONV: a
        # known limit of that interpreter, reported as one line naming the operator
        assert "cannot run on this interpreter" in row["error"], row
        assert "TRANSPOSE_CONV" in row["error"], row
        return
    assert "error" not in row, (name, row)
    gate = Tolerances()
    if "fp32" in name:
        assert row["max_abs_diff"] <= gate.fp32_max_abs_diff, (name, row)
    elif "fp16" in name:
        assert row["max_abs_diff"] <= gate.fp16_max_abs_diff, (name, row)
    else:
        assert row["psnr_drop"] <= gate.int8_psnr_drop_db, (name, row)


@pytest.mark.parametrize("venv", DEVICE_VENVS)
def test_device_environment_runs_the_cli(venv, conv_artifacts, gray_folder, tmp_path):
    """The CLI's runtime commands work with only a device's packages."""
    python = device_python(venv)
    cli = [str(python), "-m", "edgeae"]
    tflite = conv_artifacts / "model_int8.tflite"
    run = subprocess.run([*cli, "reconstruct", "--model", str(tflite), "--data",
                          str(gray_folder), "--out", str(tmp_path / "recon")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["images"] == 64
    run = subprocess.run([*cli, "run", "--model", str(conv_artifacts / "model_fp32.onnx"),
                          "--source", str(gray_folder), "--task", "denoise",
                          "--output", str(tmp_path / "frames")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["frames"] == 64
    run = subprocess.run([*cli, "info", str(tflite)], capture_output=True, text=True)
    assert run.returncode == 0 and json.loads(run.stdout)["artifact"]["precision"] == "int8"
    if venv == "tflite-runtime":  # auto leaves out a sibling this interpreter cannot run
        run = subprocess.run([*cli, "reconstruct", "--model", str(
            conv_artifacts / "model_int8-dynamic.onnx"), "--backend", "auto", "--data",
            str(gray_folder), "--out", str(tmp_path / "auto")], capture_output=True, text=True,
            env={**os.environ, "EDGEAE_CACHE": str(tmp_path / "cache")})
        assert run.returncode == 0, run.stderr
        assert "tflite-runtime on model_int8-dynamic.tflite cannot run here" in run.stderr
    from edgeae.runtime.pretrained import PRETRAINED_DIR

    for path in (conv_artifacts / "model_int8.xml", PRETRAINED_DIR / "live_fp32.param"):
        run = subprocess.run([*cli, "info", str(path)], capture_output=True, text=True)
        # no engine for them in .venv-tflite: "no backend installed" had ended it
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["artifact"]["format"] in ("openvino", "ncnn")


@pytest.mark.parametrize("venv", DEVICE_VENVS)
@pytest.mark.parametrize("backend", ["tflite", "onnxruntime"])
def test_device_environment_runs_the_pretrained_denoisers(venv, backend, tmp_path):
    """The shipped models denoise with only a device's packages, every precision and backend."""
    python = device_python(venv)
    rng = np.random.default_rng(0)
    clean = np.rint(np.clip(128 + 60 * np.sin(np.mgrid[:48, :64][1] / 6.0), 0, 255))
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    assert cv2.imwrite(str(tmp_path / "noisy.png"), noisy)
    tflite_backend = DEVICE_VENVS[venv][1]
    for name, precision in [("live", "int8"), ("live", "fp32"), ("quality", "fp32"),
                            ("quality", "int8")]:
        out = tmp_path / f"{name}-{precision}"
        run = subprocess.run(
            [str(python), "-m", "edgeae", "denoise", str(tmp_path / "noisy.png"), "--pretrained",
             name, "--precision", precision, "--backend",
             tflite_backend if backend == "tflite" else backend, "--out", str(out)],
            capture_output=True, text=True)
        assert run.returncode == 0, (name, precision, run.stderr)
        denoised = cv2.imread(str(out / "noisy.png"), cv2.IMREAD_UNCHANGED).astype(float)
        assert np.abs(denoised - clean).mean() < 0.6 * np.abs(noisy - clean).mean()


def test_device_environment_runs_live_video_int8_through_openvino(tmp_path):
    """`--backend openvino` takes live-video's int8 ONNX and denoises as LiteRT's int8 TFLite
    of the same model does."""
    python = device_python("litert")
    rng = np.random.default_rng(0)
    clean = np.rint(np.clip(128 + 60 * np.sin(np.mgrid[:48, :64][1] / 6.0), 0, 255))
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    assert cv2.imwrite(str(tmp_path / "noisy.png"), noisy)
    errors = {}
    for backend in ("openvino", "litert"):
        run = subprocess.run(
            [str(python), "-m", "edgeae", "denoise", str(tmp_path / "noisy.png"), "--pretrained",
             "live-video", "--backend", backend, "--out", str(tmp_path / backend)],
            capture_output=True, text=True)
        assert run.returncode == 0, (backend, run.stderr)
        denoised = cv2.imread(str(tmp_path / backend / "noisy.png"), cv2.IMREAD_UNCHANGED)
        errors[backend] = np.abs(denoised.astype(float) - clean).mean()
    assert errors["openvino"] < 0.6 * np.abs(noisy - clean).mean()
    assert errors["openvino"] == pytest.approx(errors["litert"], rel=0.1), errors


@pytest.mark.parametrize("length, padded", [(1, 8), (2, 9), (3, 8), (5, 8), (7, 8), (6, 40)])
def test_padding_mirrors_the_image(length, padded):
    from edgeae.runtime.tiles import fill_reflect_padding

    image = np.random.default_rng(length).random((2, length, length + 1, 1), np.float32)
    x = np.full((2, padded, padded + 1, 1), np.nan, np.float32)
    x[:, :length, :length + 1] = image
    fill_reflect_padding(x, length, length + 1)
    rows = np.pad(image, ((0, 0), (0, padded - length), (0, 0), (0, 0)),
                  mode="reflect" if length > 1 else "edge")  # one row can only repeat
    want = np.pad(rows, ((0, 0), (0, 0), (0, padded - length), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(x, want)


def test_tiles_pad_a_small_frame_by_reflection():
    from edgeae.runtime.tiles import TileBlender

    frame = np.random.default_rng(0).random((1, 5, 6, 1), np.float32)
    flipped = TileBlender((8, 8)).run(lambda t: t[:, ::-1, ::-1].copy(), frame)
    # the flip brings the padding into view: it must be the frame's mirror image
    want = np.pad(frame, ((0, 0), (0, 3), (0, 2), (0, 0)), mode="reflect")[:, ::-1, ::-1]
    np.testing.assert_allclose(flipped, want[:, :5, :6], rtol=1e-6)


@pytest.mark.parametrize("file", ["live_fp32.onnx", "live_int8.tflite", "quality_fp32.onnx",
                                  "live-video_int8.onnx"])
def test_large_frames_run_in_tiles_that_give_the_whole_frames_output(file):
    """A frame above `tile_pixels` runs a plane or a tile at a time, exactly as it runs whole."""
    from edgeae.runtime.pretrained import PRETRAINED_DIR

    whole = rt.load(PRETRAINED_DIR / file, task="denoise")
    whole.tile_pixels = 10**9
    tiled = rt.load(PRETRAINED_DIR / file, task="denoise")
    tiled.tile_pixels = 200 * 200
    calls = []
    run = tiled.session.run
    tiled.session.run = lambda x: calls.append(x.shape) or run(x)
    frame = np.random.default_rng(0).integers(60, 190, (333, 517, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tiled.denoise(frame), whole.denoise(frame))
    tiles = calls[2:]  # two probes measure the reach, then 8 tiles a plane
    assert len(tiles) == 3 * 8 and all(n * h * w <= 240 * 240 for n, h, w, _ in tiles), calls
    margin, multiple = tiled._stitcher.margin, tiled.manifest.input.size_multiple
    assert margin % multiple == 0 and (40 <= margin <= 72 if "live" in file else 20 <= margin <= 40)
    calls.clear()
    tiled.denoise(frame)
    assert len(calls) == len(tiles)  # measured once per model
    if not tiled.temporal:  # tile by tile from the pixels: no float buffer the frame's size
        assert max(tiled._input.size, tiled._unit.size) <= 240 * 240
        planes = frame.transpose(2, 0, 1)[..., None].astype(np.float32) / 255
        np.testing.assert_array_equal(tiled.reconstruct(planes), whole.reconstruct(planes))
        expected = whole.reconstruct(frame[..., 0])  # in place, into any view: the same
        gray = frame[..., 0].copy()  # tiles read pixels an overlapping one had written
        assert tiled.reconstruct(gray, out=gray) is gray
        np.testing.assert_array_equal(gray, expected)
        into = np.empty((517, 333), np.uint8).T  # OpenCV had refused it in a cv2.error
        np.testing.assert_array_equal(tiled.reconstruct(frame[..., 0], out=into), expected)


def test_stitched_tiles_keep_the_model_reach_from_every_cut():
    from edgeae.runtime.tiles import TileStitcher, items_per_call, receptive_margin, stitch_spans

    box = lambda x: cv2.blur(x[0], (7, 7), borderType=cv2.BORDER_REFLECT)[None, ..., None]  # noqa: E731
    assert receptive_margin(box, 1, 8, (0.0, 1.0)) == 16  # reach 3, on the multiple, plus one
    assert receptive_margin(lambda x: x - x.mean(), 1, 8, (0.0, 1.0)) is None  # sees it all
    for length in (8, 200, 1000, 4000):
        tile, spans = stitch_spans(length, 512, 64, 8)
        assert tile % 8 == 0 and tile <= 512 + 8 and all(s % 8 == 0 for s, _, _ in spans)
        assert [a for _, a, _ in spans] == [0] + [b for _, _, b in spans[:-1]]  # covered once
        assert spans[-1][2] == length and spans[-1][0] + tile == length
        for k, (start, keep_from, keep_to) in enumerate(spans):
            assert k == 0 or keep_from >= start + 64
            assert k == len(spans) - 1 or keep_to <= start + tile - 64
    frame = np.random.default_rng(1).random((1, 296, 400, 1), np.float32)
    stitcher = TileStitcher(8, (0.0, 1.0), pixels=128 * 128)
    np.testing.assert_allclose(stitcher.run(box, frame), box(frame), atol=1e-6)
    per_image = lambda x: x - x.mean(axis=(1, 2, 3), keepdims=True)  # noqa: E731
    batch = np.random.default_rng(2).random((7, 64, 64, 1), np.float32)
    stitcher = TileStitcher(8, (0.0, 1.0), pixels=3 * 64 * 64)  # calls of 3, 3 and 1 image
    np.testing.assert_allclose(stitcher.run(per_image, batch), per_image(batch), rtol=1e-6)
    assert stitcher.margin is None  # a whole image fits: its reach is never needed
    np.testing.assert_allclose(stitcher.run(per_image, frame), per_image(frame), rtol=1e-6)
    assert stitcher.margin is None  # it sees the whole frame: so the frame runs whole
    assert [items_per_call(n, most) for n, most in [(3, 2), (12, 5), (7, 3), (10007, 5349)]] \
        == [1, 4, 3, 5349]


def test_openvino_runs_every_onnx_artifact_within_the_export_gates(conv_artifacts,
                                                                   real_images_and_keras):
    """OpenVINO, a backend row beside onnxruntime, runs the same .onnx files to the same gates."""
    pytest.importorskip("openvino", reason="`make install` installs edgeae[openvino]")
    images = np.load(real_images_and_keras / "images.npy")
    keras = np.load(real_images_and_keras / "keras.npy")
    gate = Tolerances()

    def psnr(out: np.ndarray) -> float:
        return float(np.mean(10 * np.log10(1 / ((np.clip(out, 0, 1) - images) ** 2)
                                           .mean(axis=(1, 2, 3)))))

    paths = sorted(conv_artifacts.glob("model_*.onnx"))
    assert [p.stem for p in paths] == ["model_fp32", "model_int8-dynamic", "model_int8"]
    for path in paths:
        model = rt.load(path, backend="openvino", num_threads=1)
        assert model.session.__class__.__name__ == "OpenVINOSession"
        out = model.reconstruct(images)
        few = model.reconstruct(images[:5])  # another shape: reshaped and compiled again
        if "fp32" in path.name:
            assert np.abs(out - keras).max() <= gate.fp32_max_abs_diff, path.name
            assert np.abs(few - keras[:5]).max() <= gate.fp32_max_abs_diff, path.name
        else:
            assert psnr(keras) - psnr(out) <= gate.int8_psnr_drop_db, path.name
            assert np.abs(few - out[:5]).max() <= 1 / 255, path.name  # one quantization step


def test_openvino_compiles_without_its_cache_when_the_cache_fails(tmp_path, monkeypatch,
                                                                  caplog):
    """Processes compiling one model into one cache at once failed now and then in OpenVINO's
    blob writing (a traceback). Stand-in: that race cannot be made to happen on demand, so the
    first compile with the cache raises OpenVINO's error; the second, without it, is real."""
    pytest.importorskip("openvino", reason="`make install` installs edgeae[openvino]")
    from edgeae.runtime.backends import OpenVINOSession
    from edgeae.runtime.pretrained import PRETRAINED_DIR

    monkeypatch.setenv("EDGEAE_CACHE", str(tmp_path))
    session = OpenVINOSession(PRETRAINED_DIR / "live_fp32.onnx", 1)
    real, calls = session._core, []

    class RacedCore:
        def __getattr__(self, name):
            return getattr(real, name)

        def compile_model(self, *args):
            calls.append(real.get_property("CACHE_DIR"))
            if len(calls) == 1:
                raise RuntimeError("filesystem error: cannot set permissions: No such file")
            return real.compile_model(*args)

    session._core = RacedCore()
    frame = np.zeros((1, 24, 32, 1), np.float32)
    assert session.run(frame).shape == (1, 24, 32, 1)
    assert calls == [str(tmp_path / "openvino"), ""]
    assert "model cache" in caplog.text and "compiling without it" in caplog.text


def test_processes_compile_into_one_openvino_cache_one_at_a_time(tmp_path):
    """Services starting together died of SIGBUS now and then: one read a compiled blob that
    another was still writing. The cache's lock (flock, per open file) lets one compile at a
    time, and pruning the cache keeps it."""
    import threading

    from edgeae.core.files import prune_oldest
    from edgeae.runtime.backends import _cache_lock

    order = []

    def second() -> None:
        with _cache_lock(tmp_path):
            order.append("second")

    with _cache_lock(tmp_path):
        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(0.5)
        order.append("first")
        assert waiting.is_alive()  # held off while the first compiles
    waiting.join(5)
    assert order == ["first", "second"]
    (tmp_path / "old.blob").write_bytes(bytes(100))
    (tmp_path / "new.blob").write_bytes(bytes(100))
    os.utime(tmp_path / "old.blob", (1, 1))
    os.utime(tmp_path / ".lock", (0, 0))  # the oldest file in the folder
    prune_oldest(tmp_path, 150)
    assert (tmp_path / ".lock").exists() and not (tmp_path / "old.blob").exists()


def test_openvino_keeps_a_few_shapes_compiled(tmp_path, monkeypatch):
    """A gray model fed colourful and gray-content frames in turn (3 planes, then 1) had
    compiled at every call: 108 ms a frame against 8-59 ms for either alone."""
    pytest.importorskip("openvino", reason="`make install` installs edgeae[openvino]")
    from edgeae.runtime.backends import OPENVINO_SHAPES, OpenVINOSession
    from edgeae.runtime.pretrained import PRETRAINED_DIR

    monkeypatch.setenv("EDGEAE_CACHE", str(tmp_path))
    session = OpenVINOSession(PRETRAINED_DIR / "live_fp32.onnx", 1)
    real, compiles = session._compiled, []
    monkeypatch.setattr(session, "_compiled", lambda: compiles.append(1) or real())
    batches = [np.random.default_rng(n).random((n, 24, 32, 1), np.float32) for n in (3, 1)]
    first = [session.run(b).copy() for b in batches]
    again = [session.run(b).copy() for b in batches * 3]
    assert len(compiles) == 2  # once per shape, not once per call
    for got, want in zip(again, first * 3):
        np.testing.assert_array_equal(got, want)
    for n in range(4, 4 + OPENVINO_SHAPES):  # the least recently used shapes make room
        session.run(np.zeros((n, 24, 32, 1), np.float32))
    session.run(batches[0])
    assert len(compiles) == 2 + OPENVINO_SHAPES + 1


def test_openvino_reads_the_manifest_embedded_in_a_lone_onnx_file(conv_artifacts, tmp_path):
    pytest.importorskip("openvino", reason="`make install` installs edgeae[openvino]")
    lone = tmp_path / "alone.onnx"
    shutil.copy(conv_artifacts / "model_fp32.onnx", lone)  # no JSON beside it
    model = rt.load(lone, backend="openvino")
    assert model.manifest.artifact.precision == "fp32"
    assert rt.choose_backend(lone).name == "onnxruntime"  # the table's order: still the default


def test_device_environment_runs_openvino(conv_artifacts, gray_folder, tmp_path):
    """`make install` gives the LiteRT device environment OpenVINO too: `run` uses it there."""
    python = device_python("litert")
    run = subprocess.run([str(python), "-m", "edgeae", "run", "--model",
                          str(conv_artifacts / "model_int8.onnx"), "--backend", "openvino",
                          "--source", str(gray_folder), "--task", "denoise", "--output",
                          str(tmp_path / "frames")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["frames"] == 64


def test_the_export_records_where_its_gate_ran_each_file(conv_artifacts):
    """Every backend that ran a file in its gate, and whether int8 sums saturated there."""
    from edgeae.runtime.backends import int8_sums_saturate

    parity = rt.read_artifact_manifest(conv_artifacts / "model_int8.onnx").artifact.parity
    assert parity.backends == ["onnxruntime", "openvino"]
    assert parity.int8_sums_saturate is int8_sums_saturate()


@pytest.mark.parametrize("saturate", [True, False])
@pytest.mark.parametrize(("name", "fix", "gated_saturating", "backends", "warns"), [
    ("model_int8.xml", False, False, ["openvino"], True),  # exported on a CPU with VNNI
    ("model_int8.xml", False, None, None, True),  # an IR before version 23 tells by its fix
    ("model_int8.xml", True, False, ["openvino"], False),  # no sum can saturate
    ("model_int8.onnx", None, False, ["onnxruntime", "openvino"], True),
    ("model_int8.onnx", None, True, ["onnxruntime", "openvino"], False),
    ("model_int8.onnx", None, True, ["onnxruntime"], True),  # OpenVINO was not installed
    ("model_int8.onnx", True, False, ["onnxruntime", "openvino"], False),  # 7-bit weights
    ("model_int8.onnx", None, None, None, False),  # before version 23: not known (the shipped)
])
def test_an_int8_file_never_gated_where_sums_saturate_warns_there_in_openvino(
        conv_artifacts, monkeypatch, caplog, saturate, name, fix, gated_saturating, backends,
        warns):
    """A file exported on a CPU with VNNI, run by OpenVINO on one without (stood in for): said
    once, as its output may be worse than its gate measured; onnxruntime is exact there."""
    manifest = rt.read_artifact_manifest(conv_artifacts / name)
    artifact = manifest.artifact
    artifact = artifact.model_copy(update={
        "quantization": artifact.quantization.model_copy(update={"overflow_fix": fix}),
        "parity": artifact.parity.model_copy(update={"int8_sums_saturate": gated_saturating,
                                                     "backends": backends})})
    manifest = manifest.model_copy(update={"artifact": artifact})
    monkeypatch.setattr(rt, "int8_sums_saturate", lambda: saturate)
    rt._warn_if_int8_saturates_unmeasured(manifest, "onnxruntime")
    assert "saturate" not in caplog.text
    rt._warn_if_int8_saturates_unmeasured(manifest, "openvino")
    assert ("neither a gate that ran it so" in caplog.text) == (saturate and warns)


@pytest.mark.parametrize("saturate", [True, False])
def test_onnxruntime_uses_exact_int8_kernels_where_the_fast_ones_saturate(monkeypatch, caplog,
                                                                          saturate):
    """x86 without VNNI (stood in for either way): onnxruntime multiplies int8 exactly there."""
    from edgeae.runtime import backends
    from edgeae.runtime.pretrained import pretrained_path

    monkeypatch.setattr(backends, "int8_sums_saturate", lambda: saturate)
    monkeypatch.setattr(rt, "int8_sums_saturate", lambda: saturate)
    caplog.set_level(logging.INFO, logger="edgeae.runtime")
    model = rt.load(pretrained_path("live", "onnxruntime", "int8"), backend="onnxruntime")
    options = model.session._session.get_session_options()
    key, value = backends.ORT_EXACT_INT8
    try:
        entry = options.get_session_config_entry(key)
    except RuntimeError:  # onnxruntime's answer for a key never set
        entry = None
    assert (entry == value) == saturate
    assert ("onnxruntime multiplies int8 exactly" in caplog.text) == saturate
    assert ("--backend openvino, or auto" in caplog.text) == saturate
    caplog.clear()  # without OpenVINO the line says how to install it, not to use it
    monkeypatch.setitem(backends.BACKENDS, "openvino",
                        dataclasses.replace(backends.BACKENDS["openvino"], module="not_installed"))
    rt.load(pretrained_path("live", "onnxruntime", "int8"), backend="onnxruntime")
    assert ("would run the same file about 2x faster here (pip install 'edgeae[openvino]')"
            in caplog.text) == saturate and "--backend openvino" not in caplog.text


@pytest.mark.parametrize("file", ["live_fp32.onnx", "live_fp32.tflite"])
def test_threads_sharing_a_model_take_turns_and_each_gets_its_own_frame(file):
    """Two threads on one model got each other's frames (onnxruntime: 189 of 300 wrong) or a
    LiteRT error: its buffers are shared, so calls now take turns."""
    import threading

    from edgeae.runtime.pretrained import PRETRAINED_DIR

    model = rt.load(PRETRAINED_DIR / file, task="denoise", num_threads=1)
    frames = list(np.random.default_rng(0).integers(0, 256, (2, 48, 48), np.uint8))
    expected = [model.denoise(frame).copy() for frame in frames]
    wrong, errors = [0, 0], []

    def work(k: int) -> None:
        try:
            for _ in range(150):
                wrong[k] += not np.array_equal(model.denoise(frames[k]), expected[k])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == [0, 0] and errors == []


def test_openvinos_compiled_model_cache_keeps_its_newest_files_within_bounds(
        conv_artifacts, tmp_path, monkeypatch):
    """One compiled model per file and frame shape, never removed: 10,262 files, 3.1 GB, on a
    machine that ran the tests for weeks."""
    from edgeae.runtime import backends

    if not backends.BACKENDS["openvino"].available():
        pytest.skip("OpenVINO is not installed here")
    monkeypatch.setenv("EDGEAE_CACHE", str(tmp_path))
    model = rt.load(conv_artifacts / "model_fp32.onnx", backend="openvino", task="denoise")
    cache = tmp_path / backends.OPENVINO_CACHE

    def compiled() -> list[Path]:  # the cache's files but its lock
        return [p for p in cache.iterdir() if not p.name.startswith(".")]

    for side in (16, 24):
        model.denoise(blobs(1, size=side)[0, ..., 0])
    assert len(compiled()) == 2  # within the bound: both kept
    monkeypatch.setattr(backends, "OPENVINO_CACHE_BYTES", 1)
    model.denoise(blobs(1, size=32)[0, ..., 0])
    newest = max(compiled(), key=lambda p: p.stat().st_mtime)
    assert compiled() == [newest] and (cache / ".lock").exists()  # beyond it: the newest alone
