"""The command line end to end, and every bad input: one line, exit code 2, no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from edgeae.export.options import Tolerances

from conftest import REPO, blobs, run_cli, write_folder

COMMANDS = [["train"], ["train", "autoencoder"], ["train", "denoiser"], ["export"],
            ["reconstruct"], ["info"], ["demo"], ["service"], ["service", "install"],
            ["service", "status"], ["service", "logs"], ["service", "remove"], []]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "edgeae")
def test_help_has_examples(command):
    code, out, _ = run_cli(*command, "--help")
    assert code == 0 and "examples:" in out


def test_user_workflow_folder_to_runtime(gray_folder, tmp_path):
    """train autoencoder --data photos/ -> export -> reconstruct with the .tflite -> info."""
    model_dir, export_dir = tmp_path / "model", tmp_path / "export"
    code, out, err = run_cli("train", "autoencoder", "--data", gray_folder, "--out", model_dir,
                             "--epochs", "20", "--batch-size", "16", "--learning-rate", "0.01",
                             "--filters", "8,8")
    assert code == 0, err
    assert "trained conv autoencoder on 58 images" in out
    code, out, err = run_cli("export", model_dir, "--format", "tflite", "--out", export_dir)
    assert code == 0 and "model_fp32.tflite" in out and out.rstrip().endswith(".json)"), err
    tflite = export_dir / "model_fp32.tflite"
    code, out, err = run_cli("reconstruct", "--model", tflite, "--data", gray_folder,
                             "--out", tmp_path / "recon", "--limit", "20")
    assert code == 0, err
    summary = json.loads(out)
    images = blobs(64).astype(np.float32) / 255  # what gray_folder holds
    mean_image_mse = float(((images - images.mean(axis=0)) ** 2).mean())
    assert summary["images"] == 20 and 0 < summary["mean_mse"] < mean_image_mse / 2
    grid = cv2.imread(str(tmp_path / "recon" / "grid.png"), cv2.IMREAD_UNCHANGED)
    assert grid.ndim == 2 and grid.shape[1] > 16 * 16
    rows = (tmp_path / "recon" / "errors.csv").read_text().splitlines()
    assert rows[0] == "index,name,mse" and len(rows) == 21 and "class_0/img_000.png" in rows[1]
    code, out, _ = run_cli("info", tflite)
    assert code == 0 and json.loads(out)["params"]["filters"] == [8, 8]
    # the Keras model directory gives the same errors as its artifact
    code, out, _ = run_cli("reconstruct", "--model", model_dir, "--data", gray_folder,
                           "--out", tmp_path / "recon_keras", "--limit", "20")
    assert code == 0
    assert json.loads(out)["mean_mse"] == pytest.approx(summary["mean_mse"], rel=1e-3)
    # images of other sizes and shapes: each keeps its own in a tile of the largest's side (a
    # 1x1 image first had squashed every tile to 1x1)
    odd = tmp_path / "odd"
    odd.mkdir()
    cv2.imwrite(str(odd / "a_tiny.png"), np.full((1, 1), 200, np.uint8))
    cv2.imwrite(str(odd / "b_wide.png"), np.full((16, 48), 0, np.uint8))
    code, out, err = run_cli("reconstruct", "--model", tflite, "--data", odd, "--out",
                             tmp_path / "recon_odd")
    assert code == 0, err
    grid = cv2.imread(str(tmp_path / "recon_odd" / "grid.png"), cv2.IMREAD_UNCHANGED)
    assert grid.shape == (2 + 2 * (48 + 2), 2 + 2 * (48 + 2))  # 2 rows of 2 tiles of 48x48
    wide = grid[2:50, 52:100]  # the wide input: black 16 rows in the middle, white above, below
    assert (wide[:16] == 255).all() and (wide[16:32] == 0).all() and (wide[32:] == 255).all()
    assert (grid[2:50, 2:50] == 200).all()  # the 1x1 image fills its tile
    # never over its own data: the grid had replaced a photo named grid.png, and a --out in
    # the --data folder was read back as data by the next run
    cv2.imwrite(str(odd / "grid.png"), np.full((16, 16), 90, np.uint8))
    before = (odd / "grid.png").read_bytes()
    for data, out, message in ((odd / "grid.png", odd, "would write over --data"),
                               (odd, odd / "recon", "is inside --data")):
        code, _, err = run_cli("reconstruct", "--model", tflite, "--data", data, "--out", out,
                               "--overwrite")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert (odd / "grid.png").read_bytes() == before and not (odd / "recon").exists()


def test_denoiser_from_npz(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=blobs(40), x_test=blobs(8, seed=1))
    code, out, err = run_cli("train", "denoiser", "--data", tmp_path / "d.npz", "--out",
                             tmp_path / "dn", "--epochs", "2", "--noise-factor", "0.3")
    assert code == 0, err
    code, out, _ = run_cli("info", tmp_path / "dn")
    info = json.loads(out)
    assert info["task"] == "denoiser" and info["training"]["noise"] == "gaussian:76.5+clip"


def test_video_training(tmp_path):
    from conftest import write_video

    video = write_video(tmp_path / "cam.avi", blobs(12, size=32, channels=3))
    code, out, err = run_cli("train", "autoencoder", "--data", video, "--every", "2",
                             "--channels", "1", "--image-size", "16x16", "--out", tmp_path / "v",
                             "--epochs", "1")
    assert code == 0, err
    assert "on 5 images" in out  # 6 frames sampled, 1 held out
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    assert manifest["data"]["every"] == 2  # the frames it kept, in the configuration it carries
    training = manifest["training"]
    assert (training["val_split"], training["patience"], training["patches_per_image"]) == (
        0.1, 5, 1)


def test_demo(tmp_path):
    code, out, err = run_cli("demo", "--out", tmp_path / "demo", "--epochs", "2")
    assert code == 0, err
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert metrics["parity_max_abs_diff"] <= Tolerances().fp32_max_abs_diff
    assert metrics["test_images"] == 359
    # test MSE measured 0.0772 on 2026-11-30 (2 epochs; the mean digit scores about 0.073)
    assert metrics["latency_ms_p50"] > 0 and metrics["test_mse_runtime"] < 0.085
    assert (tmp_path / "demo" / "reconstructions.png").exists()
    denoise = metrics["denoise"]  # the shipped live model, through the runtime
    assert denoise["psnr_denoised_db"] > denoise["psnr_noisy_db"] + 5
    assert cv2.imread(str(tmp_path / "demo" / "denoising.png")).shape[1] > 3 * 512
    assert (tmp_path / "demo" / "export" / "model_fp32.tflite").exists()
    anomaly = metrics["anomaly"]  # a detector of zeros, exported and scored by the runtime
    assert anomaly["threshold_strategy"] == "mean+1std" and anomaly["threshold"] > 0
    assert sum(map(sum, anomaly["confusion_matrix"])) == 359
    assert anomaly["auroc"] > 0.98  # measured 0.9986 on 2026-11-30
    assert cv2.imread(str(tmp_path / "demo" / "anomalies.png")).shape == (64, 8 * 64, 3)
    generation = metrics["generation"]  # a VAE's decoder, exported, sampled by the runtime
    assert generation["artifact"] == "vae-export/decoder_fp32.tflite"
    # measured -32.8 nats on 2026-11-30; a decoder that says 0.5 everywhere scores -44.4
    assert generation["test_elbo_nats"] > -36
    grid = cv2.imread(str(tmp_path / "demo" / "generation.png"))
    assert grid.shape == ((5 * 9 + 1) * 8, (8 * 9 + 1) * 8, 3)  # 5 rows of 8 digits, 8x enlarged
    assert metrics["report"] == str(tmp_path / "demo" / "report.html")
    assert f"report: {metrics['report']}" in out
    page = (tmp_path / "demo" / "report.html").read_text()
    assert 'id="benchmark"' in page and "onnxruntime" in page and "litert" in page
    rows = json.loads((tmp_path / "demo" / "benchmark" / "benchmark.json").read_text())["rows"]
    assert {r["backend"] for r in rows} == {"keras", "litert", "onnxruntime", "openvino"}
    assert all("mse" in r for r in rows)  # quality on the test digits
    code, _, err = run_cli("demo", "--out", tmp_path / "demo", "--epochs", "1")
    assert code == 2 and "--overwrite" in err


def one_line_error(args, match: str, code: int = 2) -> str:
    got, _, err = run_cli(*args)
    assert got == code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.fixture()
def bad(tmp_path):
    """A folder of odd inputs for the error cases."""
    (tmp_path / "empty").mkdir()
    mixed = write_folder(tmp_path / "mixed", blobs(2, size=16))
    cv2.imwrite(str(mixed / "big.png"), blobs(1, size=20)[0])
    corrupt = write_folder(tmp_path / "corrupt", blobs(6))
    (corrupt / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    nan = blobs(4).astype(np.float32) / 255
    nan[1, 0, 0] = np.inf
    np.save(tmp_path / "inf.npy", nan)
    return tmp_path


@pytest.mark.parametrize("args, match", [
    (["train", "autoencoder", "--data", "{t}/nope", "--out", "{t}/m"], "no such file"),
    (["train", "autoencoder", "--data", "{t}/empty", "--out", "{t}/m"], "no images found"),
    (["train", "autoencoder", "--data", "{t}/mixed", "--out", "{t}/m"], "--image-size"),
    (["train", "autoencoder", "--data", "{t}/corrupt", "--out", "{t}/m", "--strict"],
     "bad.jpg is not a readable image"),
    (["train", "autoencoder", "--data", "{t}/inf.npy", "--out", "{t}/m"], "NaN or inf"),
    (["train", "autoencoder", "--data", "digits", "--out", "{t}/m", "--epochs", "0"],
     "must be >= 1"),
    (["train", "autoencoder", "--data", "digits", "--out", "{t}/m", "--val-split", "1.5"],
     "must be > 0.0 and <= 0.9"),
    (["train", "autoencoder", "--data", "digits", "--out", "{t}/m", "--learning-rate", "nan"],
     "must be"),
    (["train", "autoencoder", "--data", "digits", "--out", "{t}/m", "--image-size", "0x5"],
     "sides must be"),
    (["train", "autoencoder", "--data", "digits", "--out", "{t}/m", "--model", "vit"],
     "unknown model 'vit'"),
    (["train", "autoencoder", "--data", "digits", "--out", "{t}/m", "--patch-size", "64"],
     "larger than the smallest image"),
    (["train", "autoencoder", "--data", "{t}/corrupt", "--out", "{t}/m", "--initial-weights",
      "{t}/empty"], "empty is a folder; give a file in it, e.g."),
    (["train", "denoiser", "--data", "digits", "--out", "{t}/m", "--temporal", "3"],
     "model 'conv' takes no parameter frames"),
    (["export", "{t}/nope", "--out", "{t}/e"], "no such model directory"),
    (["export", "{t}/empty", "--out", "{t}/e"], "no manifest.json"),
    (["info", "{t}/nope.tflite"], "no such model file"),
])
def test_bad_input_is_one_line_exit_2(bad, args, match):
    one_line_error([a.format(t=bad) for a in args], match)


def test_too_few_images_leave_no_half_made_model_directory(tmp_path):
    one, two = (write_folder(tmp_path / name, blobs(n)) for name, n in (("one", 1), ("two", 2)))
    one_line_error(["train", "autoencoder", "--data", one, "--out", tmp_path / "m", "--epochs",
                    "1"], "need at least 2 images")
    # a detector scores each training image without itself: one is not enough
    one_line_error(["train", "detector", "--data", two, "--out", tmp_path / "m", "--epochs",
                    "1"], "need at least 3 images to train on 2")
    assert not (tmp_path / "m").exists()  # else the next run would "resume" it


def test_corrupt_image_is_skipped_with_a_count(bad, tmp_path, caplog):
    code, out, err = run_cli("train", "autoencoder", "--data", bad / "corrupt", "--out",
                             tmp_path / "m", "--epochs", "1")
    assert code == 0, err
    assert "skipped 1 unreadable or truncated image(s)" in caplog.text and "bad.jpg" in caplog.text


def test_broken_model_directories(conv_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(conv_dir, broken)
    (broken / "model.keras").write_bytes(b"PK\x03\x04 truncated zip")
    one_line_error(["export", broken, "--out", tmp_path / "e"], "is not the model its manifest "
                   "was written for (SHA-256 differs")
    manifest = json.loads((broken / "manifest.json").read_text())
    del manifest["model_sha256"]  # as a directory written before schema 22 has it
    (broken / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(["export", broken, "--out", tmp_path / "e"], "not a readable Keras model")
    (broken / "manifest.json").write_text('{"schema_version": 1, "task": "autoencod')
    one_line_error(["export", broken, "--out", tmp_path / "e"], "not valid JSON")
    (broken / "manifest.json").write_text(json.dumps({"name": "someone else's"}))
    one_line_error(["info", broken], "not an edgeae manifest")


def test_data_that_does_not_fit_the_model(dense_dir, conv_tflite, tmp_path):
    rgb = write_folder(tmp_path / "rgb", blobs(3, size=20, channels=3))
    one_line_error(["reconstruct", "--model", dense_dir, "--data", rgb, "--out", tmp_path / "r"],
                   "takes 16x16 images but")
    code, _, err = run_cli("reconstruct", "--model", dense_dir, "--data", rgb, "--image-size",
                           "16", "--out", tmp_path / "r")
    assert code == 0, err  # resized and converted to the model's gray channel
    code, _, err = run_cli("reconstruct", "--model", dense_dir, "--data", rgb, "--image-size",
                           "16", "--out", tmp_path / "r")
    assert code == 2 and "already exists; pass --overwrite" in err


def test_outputs_that_cannot_be_written_are_one_line(tmp_path):
    """A folder where a file goes, a name too long: one line, exit 2, whoever finds it."""
    image = write_folder(tmp_path / "in", blobs(1, size=32))
    (tmp_path / "out" / "in" / "img_000.png").mkdir(parents=True)  # where its output goes
    one_line_error(["denoise", image, "--pretrained", "live", "--out", tmp_path / "out",
                    "--overwrite"], "is a folder where a file is to be written")
    long_name = "a" * 300  # the file system refuses it: an OSError the command did not expect
    one_line_error(["denoise", image, "--pretrained", "live", "--out", tmp_path / long_name],
                   "File name too long")
    one_line_error(["denoise", image, "--pretrained", "live", "--out",
                    tmp_path / "d" / long_name], "File name too long; check that path")


def test_real_entry_point_prints_no_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "edgeae", "info", str(tmp_path / "x.tflite")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip() == f"edgeae: error: no such model file: {tmp_path / 'x.tflite'}"


def test_detector_applies_its_training_size_to_mixed_sizes(tmp_path, caplog):
    mixed = write_folder(tmp_path / "normal", blobs(24, size=16))
    for i, img in enumerate(blobs(8, size=20, seed=1)):
        cv2.imwrite(str(mixed / f"big_{i}.png"), img)
    model = tmp_path / "det"
    code, _, err = run_cli("train", "detector", "--data", mixed, "--image-size", "24x24",
                           "--epochs", "2", "--out", model)
    assert code == 0, err
    test = write_folder(tmp_path / "test" / "good", blobs(3, size=20, seed=2)).parent
    write_folder(test / "defect", blobs(3, size=28, seed=3))
    caplog.clear()
    code, out, err = run_cli("score", "--model", model, "--data", test, "--out",
                             tmp_path / "scores.csv")
    assert code == 0, err  # no --image-size needed: the manifest says how training resized
    assert json.loads(out)["images"] == 6
    assert "resizing images to 24x24, the size the detector was trained at" in caplog.text
    (tmp_path / "empty").mkdir()
    caplog.clear()  # a bad --data: its own line alone, not the resize note before it
    code, _, err = run_cli("score", "--model", model, "--data", tmp_path / "empty", "--out",
                           tmp_path / "none.csv")
    assert code == 2 and "no images found" in err and "resizing" not in caplog.text, err
    code, out, err = run_cli("evaluate", "--model", model, "--data", test)
    assert code == 0 and "auroc" in out, err
    from edgeae.app.benchmark import BenchmarkOptions, quality_set
    from edgeae.core.modeldir import ModelDir

    manifest = ModelDir.open(model).manifest
    held_out = quality_set(manifest, BenchmarkOptions(), model)  # benchmark without --data
    assert held_out.metric == "fpr" and held_out.threshold == manifest.threshold
    assert not held_out.truth.any() and len(held_out.inputs) == manifest.data.n_val


def test_no_toolchain_chatter_on_stderr(tmp_path):
    """TensorFlow's and OpenCV's own log lines stay off stderr unless --verbose."""
    corrupt = write_folder(tmp_path / "corrupt", blobs(2))
    whole = (corrupt / "img_000.png").read_bytes()  # its header, then its end: no pixels
    (corrupt / "broken.png").write_bytes(whole[:33] + whole[-12:])
    args = [sys.executable, "-m", "edgeae", "train", "autoencoder", "--data", str(corrupt),
            "--strict", "--out", str(tmp_path / "m")]
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    run = subprocess.run(args, capture_output=True, text=True, env=env)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "broken.png is not a readable image" in run.stderr
    verbose = subprocess.run([*args[:3], "--verbose", *args[3:]], capture_output=True, text=True,
                             env=env)
    assert "grfmt_png" in verbose.stderr  # OpenCV's own complaint, kept for --verbose


def test_no_tensorflow_load_notices_on_stderr(tmp_path):
    """TensorFlow's oneDNN notices (absl prints them before TF_CPP_MIN_LOG_LEVEL) and its
    int8 converter's native line stay off."""
    data = write_folder(tmp_path / "data", blobs(8))
    run = subprocess.run([sys.executable, "-m", "edgeae", "train", "autoencoder", "--data",
                          str(data), "--epochs", "1", "--out", str(tmp_path / "m")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "oneDNN" not in run.stderr and "InitializeLog" not in run.stderr, run.stderr
    assert "trained conv" in run.stderr  # edgeae's own lines still reach stderr
    run = subprocess.run([sys.executable, "-m", "edgeae", "export", str(tmp_path / "m"),
                          "--format", "tflite", "--precision", "int8", "--out",
                          str(tmp_path / "e")], capture_output=True, text=True)
    assert run.returncode == 0 and "fully_quantize" not in run.stderr, run.stderr


QUIET_PROBE = """
import os, sys
from edgeae.app.quiet_import import import_quietly
sys.path.insert(0, sys.argv[1])
import_quietly("noisy")
import_quietly("broken")
import noisy
os.write(2, b"after\\n")
try:
    import broken
except RuntimeError as exc:
    print("raised", exc)
"""


def test_quiet_import_hides_native_stderr_once(tmp_path):
    """The first import's fd-2 writes go to the null device; later writes and errors do not."""
    (tmp_path / "noisy").mkdir()
    (tmp_path / "noisy" / "__init__.py").write_text("import os\nos.write(2, b'load notice\\n')\n")
    (tmp_path / "broken.py").write_text("import os\nos.write(2, b'x')\nraise RuntimeError('bad')\n")
    run = subprocess.run([sys.executable, "-c", QUIET_PROBE, str(tmp_path)], capture_output=True,
                         text=True)
    assert run.returncode == 0 and run.stderr == "after\n", run.stderr
    assert run.stdout == "raised bad\n"


def test_a_refused_path_is_named_as_the_user_gave_it_not_as_its_temporary():
    """Atomic writes go to a temporary name beside the output first; a read-only or full disk
    refuses that one, and the error names the output the user asked for."""
    import errno

    from edgeae.app.cli import path_error

    for temporary, meant in [("out/.x.png.vefakb9y.tmp.png", "out/x.png"),
                             ("frames/.frame_000001.png.tmp.png", "frames/frame_000001.png"),
                             ("plain/scores.csv", "plain/scores.csv")]:
        refused = OSError(errno.EROFS, "Read-only file system", temporary)
        assert path_error(refused).startswith(f"{meant}: Read-only file system; check")


def test_ctrl_c_while_the_command_imports_is_one_line(tmp_path):
    """The command's modules take 0.5 s to import, TensorFlow's seconds: a Ctrl-C then had
    printed a traceback, not the line a Ctrl-C during the command prints.

    The delays count from when the interpreter has started (`python -m edgeae` run by runpy, as
    `-m` does): a Ctrl-C earlier, in CPython's own start (its `site` imports), is a fatal error
    of Python's (exit 1) before any of edgeae runs, which 0.1 s after the launch had hit on a
    loaded machine. The first millisecond of `edgeae/__init__.py` stays Python's own too.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.1, 0.3, 0.6, 1.0, 1.5):
        launch = ("import runpy, sys\nsys.argv = ['edgeae', 'demo', '--out', sys.argv[1]]\n"
                  "print('started', flush=True)\n"
                  "runpy.run_module('edgeae', run_name='__main__', alter_sys=True)")
        proc = subprocess.Popen([sys.executable, "-c", launch, str(tmp_path / f"demo{delay}")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        assert proc.stdout.readline() == "started\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        # -SIGINT: CPython dies by the signal itself (a shell's $? is 130 all the same) when
        # the Ctrl-C came inside an exec() of a string, as dataclasses' do, even once caught
        assert proc.returncode in (130, -signal.SIGINT), (delay, err)
        assert err.strip() == "edgeae: interrupted", (delay, err)


def test_overwrite_never_replaces_the_current_or_home_folder(tmp_path, gray_folder, monkeypatch):
    """`--save-each .` or `demo --out ..` with --overwrite had deleted all the current folder
    (or its parent) held, then crashed."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "thesis.txt").write_text("mine")
    monkeypatch.chdir(work / "sub")
    for args in (["demo", "--out", ".."], ["train", "autoencoder", "--data", gray_folder,
                                           "--out", ".", "--epochs", "1"]):
        code, _, err = run_cli(*args, "--overwrite")
        assert code == 2 and "is or holds the current folder" in err, err
    home = tmp_path / "users" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("demo", "--out", tmp_path / "users", "--overwrite")
    assert code == 2 and "is or holds your home folder" in err, err
    assert (work / "thesis.txt").read_text() == "mine" and home.is_dir()


def test_an_empty_value_is_refused_not_taken_for_the_current_folder(tmp_path, monkeypatch):
    """Path("") is ".": `--data ""` (an unset variable) had trained on every image below it."""
    write_folder(tmp_path / "below", blobs(4))
    monkeypatch.chdir(tmp_path)
    for args, message in ((["train", "autoencoder", "--data", "", "--out", "m"], "--data is empty"),
                          (["denoise", " ", "--pretrained", "live", "--out", "d"],
                           "an argument is empty"),
                          (["reconstruct", "--model", "m", "--data=", "--out", "r"],
                           "--data is empty")):
        code, _, err = run_cli(*args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["below"]


def test_a_folder_written_whole_gets_the_usual_permissions(tmp_path):
    """mkdtemp's 0700 stayed an adapted model's folder's: a service's user could not read it."""
    from edgeae.core.files import atomic_dir

    with atomic_dir(tmp_path / "model") as folder:
        (folder / "a.txt").write_text("a")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o777 & ~umask
