"""`edgeae benchmark`: every backend in its own process, real artifacts, real timings."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from edgeae.app.benchmark import loop_ceiling, macs_per_frame
from edgeae.core.cpu import cpu_identity, cpu_model
from edgeae.core.manifest import Manifest
from edgeae.export.options import Tolerances
from edgeae.runtime.backends import usable_cores

from conftest import REPO, blobs, run_cli, write_folder, write_video


@pytest.fixture(scope="module")
def bench(tmp_path_factory, denoiser_dir) -> dict:
    """The conv denoiser benchmarked on Keras, TFLite and ONNX, fp32 and int8."""
    root = tmp_path_factory.mktemp("bench")
    data = write_folder(root / "clean", blobs(12, seed=3))
    code, out, err = run_cli("benchmark", denoiser_dir, "--precisions", "fp32,int8",
                             "--sizes", "32x32,64x48", "--threads", "1", "--repeats", "5",
                             "--data", data, "--out", root / "out")
    assert code == 0, err
    return {"root": root, "data": data, "stdout": out,
            "json": json.loads((root / "out" / "benchmark.json").read_text())}


def test_benchmark_measures_every_backend_precision_and_size(bench, denoiser_dir):
    rows = bench["json"]["rows"]
    combos = {(r["backend"], r["precision"], r["size"]) for r in rows}
    engines = [("keras", "fp32"), ("litert", "fp32"), ("litert", "int8"),
               ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
               ("openvino", "fp32"), ("openvino", "int8")]  # both backends of .onnx files
    assert combos == {(b, p, s) for b, p in engines for s in ("32x32", "64x48")}
    for r in rows:
        assert 0 < r["ms_p50"] <= r["ms_p90"] <= r["ms_p99"]
        assert r["fps"] == pytest.approx(1e3 / r["ms_p50"], rel=0.01)
        assert r["peak_rss_mb"] > 10 and r["file_mb"] > 0 and r["import_s"] > 0
        assert r["tensorflow_imported"] == (r["backend"] == "keras")  # the runtime needs no TF
        assert r["gmacs_per_s"] == pytest.approx(
            r["mmacs_per_frame"] * 1e6 / (r["ms_p50"] / 1e3) / 1e9, rel=0.02)
        # a briefly trained model: measured 7.41 dB and SSIM -0.012 on every row on 2026-11-30
        # (4 epochs barely move it off its untrained 6.9 dB, whose structure is as poor)
        assert 7.2 < r["psnr"] < 60 and r["ssim"] > -0.03
        assert r["keras_psnr"] == next(k["psnr"] for k in rows if k["backend"] == "keras")
    fp32 = [r for r in rows if r["precision"] == "fp32" and r["backend"] != "keras"]
    gate = Tolerances()
    assert all(r["max_abs_diff_vs_keras"] <= gate.fp32_max_abs_diff for r in fp32)
    int8 = [r for r in rows if r["precision"] == "int8"]
    # measured within 0.004 dB of Keras on 2026-11-30
    assert all(abs(r["psnr"] - r["keras_psnr"]) <= gate.int8_psnr_drop_db for r in int8)
    # 4x4 pooling pads a 64x48 frame to 64x48: the conv model's 576 MACs per pixel
    assert next(r for r in rows if r["size"] == "64x48")["mmacs_per_frame"] == pytest.approx(
        576 * 64 * 48 / 1e6, rel=1e-3)
    with open(bench["root"] / "out" / "benchmark.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    table = bench["stdout"].splitlines()
    assert table[0].startswith("| backend | precision | size") and len(table) >= 2 + len(rows)
    run = bench["json"]["run"]
    assert run["macs_per_pixel"] == 576 and run["quality_metric"] == "psnr"
    assert {"onnxruntime", "openvino", "ai-edge-litert"} <= set(run["versions"])  # every row's
    assert run["artifacts"] == "artifacts" and len(run["model_sha256"]) == 64  # movable
    assert run["cpu"] == cpu_model() and run["cpu_identity"] == cpu_identity()  # VNNI or not


def test_benchmark_reuses_its_exports_and_never_overwrites_silently(bench, denoiser_dir):
    out = bench["root"] / "out"
    artifact = out / "artifacts" / "model_int8.tflite"
    before = artifact.stat().st_mtime_ns
    args = ["benchmark", denoiser_dir, "--backends", "tflite", "--precisions", "int8",
            "--sizes", "32x32", "--threads", "1,2", "--repeats", "2", "--out", out]
    code, _, err = run_cli(*args)
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(*args, "--overwrite")
    assert code == 0, err
    assert artifact.stat().st_mtime_ns == before  # same model.keras: not exported again
    rows = json.loads((out / "benchmark.json").read_text())["rows"]
    assert [r["threads"] for r in rows] == [1, 2]
    assert all("psnr" in r for r in rows)  # no --data: the held-out samples, training's noise


def test_benchmark_never_replaces_another_models_artifacts(bench, conv_dir, tmp_path):
    """They had been exported over without --overwrite, breaking the other model's export."""
    artifacts = bench["root"] / "out" / "artifacts"
    before = {p.name: p.read_bytes() for p in artifacts.iterdir() if p.is_file()}
    code, _, err = run_cli("benchmark", conv_dir, "--backends", "tflite", "--precisions", "fp32",
                           "--sizes", "16x16", "--threads", "1", "--repeats", "2",
                           "--artifacts", artifacts, "--out", tmp_path / "out")
    assert code == 2 and "model_fp32.tflite of another model" in err, err
    code, _, err = run_cli("benchmark", conv_dir, "--artifacts", conv_dir, "--out",
                           tmp_path / "out")  # exports and parity.json into the model's folder
    assert code == 2 and "is in the model directory" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    assert {p.name: p.read_bytes() for p in artifacts.iterdir() if p.is_file()} == before
    moved = tmp_path / "moved"  # its artifacts gone: the results still name their model
    moved.mkdir()
    (moved / "benchmark.json").write_bytes((bench["root"] / "out" / "benchmark.json").read_bytes())
    code, _, err = run_cli("report", conv_dir, "--benchmark", moved, "--out", tmp_path / "r.html")
    assert code == 2 and "the benchmark of another model" in err, err


def test_the_rows_interpreter_is_asked_for_its_backends_and_versions(conv_dir, tmp_path,
                                                                     caplog):
    """A venv's python links to the same binary as another venv's: compared resolved, the
    parent had answered for it, with its own packages. A format no backend there runs (the
    IR), or a file its engine cannot run (tflite-runtime and a dynamic-range int8 file), had
    ended the benchmark after the other rows."""
    from edgeae.app.benchmark import rows_environment

    python = REPO / ".venv-tflite" / "bin" / "python"
    if not python.exists():
        pytest.skip("no tflite-runtime environment (make install makes one where wheels exist)")
    found = rows_environment(str(python))
    assert set(found["backends"]) == {"tflite-runtime", "onnxruntime"}, found
    assert "tflite-runtime" in found["versions"] and "keras" not in found["versions"]
    code, _, err = run_cli("benchmark", conv_dir, "--precisions", "fp32,int8-dynamic",
                           "--sizes", "16x16", "--threads", "1", "--repeats", "2", "--python",
                           python, "--out", tmp_path / "out")
    assert code == 0, err
    assert "runs model_fp32.xml; skipping those rows" in caplog.text
    bench = json.loads((tmp_path / "out" / "benchmark.json").read_text())
    assert [(r["backend"], r["precision"]) for r in bench["rows"]] == [
        ("keras", "fp32"), ("tflite-runtime", "fp32"), ("onnxruntime", "fp32"),
        ("onnxruntime", "int8-dynamic")], bench["rows"]
    left_out, = bench["run"]["left_out"]
    assert "model_int8-dynamic.tflite on tflite-runtime failed" in left_out
    code, _, err = run_cli("report", conv_dir, "--benchmark", tmp_path / "out", "--out",
                           tmp_path / "report.html")  # the page says so too
    page = (tmp_path / "report.html").read_text()
    assert code == 0 and "Left out" in page and "on tflite-runtime failed" in page, err
    assert "keras" in bench["run"]["keras_versions"]  # the Keras rows ran here


def test_macs_per_frame_counts_padding_and_tiles():
    free = Manifest.model_validate({
        "edgeae_version": "0", "task": "denoiser", "architecture": "unet", "params": {},
        "input": {"channels": 1, "color_order": "gray", "size_multiple": 8},
        "data": {"source": "s", "kind": "folder", "n_train": 1, "n_val": 1},
        "training": {"loss": "mse", "epochs": 1, "epochs_run": 1, "batch_size": 1,
                     "learning_rate": 0.1, "seed": 0}})
    assert macs_per_frame(free, 10.0, (30, 30)) == 10.0 * 32 * 32
    fixed = free.model_copy(update={"input": free.input.model_copy(
        update={"height": 16, "width": 16, "size_multiple": 1})})
    assert macs_per_frame(fixed, 10.0, (16, 16)) == 10.0 * 256
    assert macs_per_frame(fixed, 10.0, (16, 30)) == 10.0 * 256 * 2  # two overlapping tiles


def test_benchmark_of_a_pretrained_denoiser(tmp_path):
    clean = np.stack([blobs(1, 64, seed=s)[0] for s in range(3)])
    data = write_folder(tmp_path / "clean", clean)
    code, out, err = run_cli("benchmark", "--pretrained", "live", "--backends", "onnx",
                             "--precisions", "int8", "--sizes", "64x48", "--threads", "1",
                             "--repeats", "3", "--data", data, "--noise", "gaussian:25",
                             "--out", tmp_path / "out")
    assert code == 0, err
    rows = json.loads((tmp_path / "out" / "benchmark.json").read_text())["rows"]
    assert [r["backend"] for r in rows] == ["onnxruntime", "openvino"]  # the same .onnx file
    for row in rows:
        assert row["precision"] == "int8"
        assert row["psnr"] > 20 * np.log10(255 / 25) + 3  # well above the noisy input's 20.2 dB
        assert "keras_psnr" not in row  # a shipped model has no Keras model beside it


def test_benchmark_peak_times_a_convolution_probe_per_engine_and_precision(tmp_path, caplog):
    from edgeae.app.peak import PROBE_MACS

    code, out, err = run_cli("benchmark", "--pretrained", "live", "--precisions", "fp32,int8",
                             "--sizes", "64x48", "--threads", "1", "--repeats", "3", "--peak",
                             "--out", tmp_path / "out")
    assert code == 0, err
    assert "has no" not in caplog.text  # the formats it ships, not every one with a warning
    rows = json.loads((tmp_path / "out" / "benchmark.json").read_text())["rows"]
    assert {(r["backend"], r["precision"]) for r in rows} >= {
        ("litert", "fp32"), ("litert", "int8"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")}
    for row in rows:  # each engine's probe rate, and the model's share of it
        assert row["peak_gmacs_per_s"] > 0.1
        assert row["pct_of_peak"] == pytest.approx(
            100 * row["gmacs_per_s"] / row["peak_gmacs_per_s"], rel=0.01)
    assert "% of peak" in out and PROBE_MACS == 4 * 9 * 320 * 320 * 24 * 24


def test_benchmark_video_runs_the_run_loop_beside_the_bare_engine(tmp_path):
    frames = np.stack([np.repeat(blobs(1, 64, seed=s)[0][:48], 3, axis=-1) for s in range(12)])
    video = write_video(tmp_path / "clip.avi", frames)
    code, out, err = run_cli("benchmark", "--pretrained", "live", "--backends", "tflite",
                             "--precisions", "int8", "--sizes", "32x32", "--threads", "1,2",
                             "--repeats", "3", "--video", video, "--video-seconds", "1",
                             "--out", tmp_path / "out")
    assert code == 0, err
    rows = json.loads((tmp_path / "out" / "benchmark.json").read_text())["rows"]
    # the video's 64x48 frames are timed bare too, beside the sizes asked for
    assert {(r["size"], r["threads"]) for r in rows} == {
        (s, t) for s in ("32x32", "64x48") for t in (1, 2)}
    for row in rows:
        if row["size"] == "32x32":
            assert "loop_fps" not in row
            continue
        assert row["loop_frames"] > len(frames)  # played in a loop for a second
        assert 0 < row["loop_model_ms_p50"] <= row["loop_frame_ms_p50"]
        assert row["loop_pct_of_engine"] == pytest.approx(100 * row["loop_fps"] / row["fps"],
                                                          abs=0.1)
        # the loop's whole-run rate against the engine's whole-run rate (1/mean), too
        assert row["engine_rate_fps"] == pytest.approx(1e3 / row["ms_mean"], abs=0.05)
        assert row["loop_pct_of_engine_rate"] == pytest.approx(
            100 * row["loop_fps"] / row["engine_rate_fps"], rel=0.01)
        # what the reading thread's decoding leaves of the cores: the loop's ceiling
        assert row["loop_decode_ms"] > 0
        assert row["loop_ceiling_pct"] == pytest.approx(loop_ceiling(
            row["ms_mean"], row["loop_decode_ms"], row["threads"], usable_cores()), abs=0.1)
    assert ("`run` loop fps (% of engine: of 1/p50, of 1/mean; the ceiling the decoding "
            "allows)") in out.splitlines()[0]


def test_the_loop_ceiling_charges_the_decoding_only_to_busy_cores():
    """Two engine threads on two cores: a frame takes at least e + d/2; a spare core hides d."""
    assert loop_ceiling(7.0, 1.5, threads=2, cores=2) == pytest.approx(100 * 7.0 / 7.75)
    assert loop_ceiling(7.0, 1.5, threads=1, cores=2) == 100.0
    assert loop_ceiling(7.0, 1.5, threads=2, cores=4) == 100.0
    # more threads than cores use no more CPU than the cores have
    assert loop_ceiling(7.0, 1.5, threads=4, cores=2) == loop_ceiling(7.0, 1.5, 2, 2)
    assert loop_ceiling(1.0, 3.0, threads=1, cores=2) == pytest.approx(50.0)  # decoding-bound


@pytest.mark.parametrize("args, message", [
    ((), "MODEL_DIR or --pretrained"),
    (("--pretrained", "live", "--sizes", "64y48"), "--sizes"),
    (("--pretrained", "live", "--backends", "tflite,cuda"), "unknown cuda"),
    (("--pretrained", "live", "--backends", "keras"), "nothing to measure"),
    (("--pretrained", "live", "--video", "missing.avi"), "--video missing.avi: no such file"),
    (("--pretrained", "live", "--video", __file__), "cannot open"),
    (("--pretrained", "live", "--python", "/bin/true"), "cannot run edgeae's measurements"),
    (("--pretrained", "live", "--video-seconds", "5"), "--video-seconds is how long"),
    (("--pretrained", "live", "--labels", __file__), "--labels names which"),
])
def test_benchmark_bad_input_is_one_line(tmp_path, args, message):
    code, _, err = run_cli("benchmark", *args, "--out", tmp_path / "out")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_options_the_model_would_ignore_are_refused(conv_dir, dense_dir, tmp_path):
    """Each had been dropped without a word, exit 0."""
    video = write_video(tmp_path / "clip.avi", blobs(4, size=32))
    for model, args, message in ((conv_dir, ("--noise", "gaussian:25"), "--noise is the noise"),
                                 (dense_dir, ("--video", video), "reconstructs whole images")):
        code, _, err = run_cli("benchmark", model, *args, "--out", tmp_path / "out")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_a_format_that_cannot_hold_the_model_loses_its_rows_not_the_run(conv_dir, tmp_path,
                                                                        caplog):
    """ncnn has no layer the conv model needs (tests/test_formats.py): the whole benchmark had
    ended there, advising to export another format."""
    code, _, err = run_cli("benchmark", conv_dir, "--backends", "ncnn,tflite", "--precisions",
                           "fp32", "--sizes", "16x16", "--threads", "1", "--repeats", "2",
                           "--out", tmp_path / "out")
    assert code == 0, err
    assert "skipping the ncnn rows: ncnn has no" in caplog.text
    rows = json.loads((tmp_path / "out" / "benchmark.json").read_text())["rows"]
    assert {r["backend"] for r in rows} == {"litert"}


def test_precisions_the_cpu_cannot_compute_lose_their_rows(conv_dir, tmp_path, caplog,
                                                          monkeypatch):
    """bf16 on a CPU without BF16: a file of it (exported elsewhere) would run in fp32 and be
    reported as bf16; a missing one was planned and failed as "no such model file"."""
    import edgeae.runtime.backends as backends

    # the CPU is the hardware here: a CPU without BF16 is stood in for by what OpenVINO reports
    monkeypatch.setattr(backends, "cpu_capabilities", lambda: frozenset({"FP32", "INT8"}))
    args = ("--backends", "openvino", "--sizes", "16x16", "--threads", "1", "--repeats", "2")
    code, _, err = run_cli("benchmark", conv_dir, *args, "--precisions", "bf16,int8-bf16",
                           "--out", tmp_path / "none")
    assert code == 2 and err.startswith("edgeae: error: bf16, int8-bf16 need a CPU with"), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "none").exists()
    code, _, err = run_cli("benchmark", conv_dir, *args, "--precisions", "fp32,bf16",
                           "--out", tmp_path / "out")
    assert code == 0, err
    assert "skipping bf16: this CPU lacks BF16" in caplog.text
    result = json.loads((tmp_path / "out" / "benchmark.json").read_text())
    assert {r["precision"] for r in result["rows"]} == {"fp32"}
    assert not result["run"].get("left_out")


def test_benchmark_without_data_measures_quality_on_the_held_out_samples(conv_dir, tmp_path):
    code, out, err = run_cli("benchmark", conv_dir, "--backends", "keras,onnx", "--precisions",
                             "fp32", "--sizes", "16x16", "--threads", "1", "--repeats", "3",
                             "--out", tmp_path / "out")
    assert code == 0, err
    bench = json.loads((tmp_path / "out" / "benchmark.json").read_text())
    assert "held-out samples of" in bench["run"]["quality_set"]
    assert bench["run"]["quality_metric"] == "mse"
    assert [r["backend"] for r in bench["rows"]] == ["keras", "onnxruntime", "openvino"]
    assert all(0 <= r["mse"] < 0.2 and "keras_mse" in r for r in bench["rows"]), bench["rows"]
    assert "| mse |" in out
