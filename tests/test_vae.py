"""The VAE: model, training with KL warm-up, sampling, interpolation, bounds, `edgeae generate`."""

from __future__ import annotations

import json
import os
import subprocess

import cv2
import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.errors import UserError
from edgeae.export.options import Tolerances
from edgeae.runtime.generator import slerp
from edgeae.train.callbacks import KLWarmup
from edgeae.train.generative import VAE
from edgeae.train.models import create_model, macs_per_pixel

from conftest import REPO, blobs, run_cli, train_cli, write_folder


@pytest.fixture(scope="module")
def vae(tmp_path_factory) -> VAE:
    """A small Bernoulli VAE fitted on 16x16 blobs."""
    out = tmp_path_factory.mktemp("vae") / "model"
    return VAE(latent_dim=4, filters=(8, 16), epochs=8, kl_warmup_epochs=2,
               batch_size=32).fit(blobs(256, seed=2), out=out)


def test_vae_builds_any_size_and_counts_nested_macs():
    gray = create_model("vae", (28, 28, 1), {"latent_dim": 8, "filters": [16, 32]})
    colour = create_model("vae", (32, 32, 3), {"likelihood": "gaussian"})
    assert gray.output_shape == (None, 28, 28, 1) and colour.output_shape == (None, 32, 32, 3)
    assert gray.get_layer("encoder").output_shape[0] == (None, 8)
    assert gray.get_layer("decoder").input_shape == (None, 8)
    assert macs_per_pixel(gray) > 300  # the encoder's and decoder's layers are counted
    with pytest.raises(UserError, match="multiples of 4"):
        create_model("vae", (30, 30, 1), {"filters": [8, 16]})
    with pytest.raises(UserError, match="likelihood"):
        create_model("vae", (28, 28, 1), {"likelihood": "poisson"})


def test_kl_warmup_changes_training_loss_but_not_validation_loss():
    model = create_model("vae", (16, 16, 1), {"latent_dim": 4, "filters": [8]})
    model.compile("adam", "binary_crossentropy")
    x = blobs(32).astype(np.float32) / 255
    sampling = model.get_layer("sampling")
    KLWarmup(4).set_model(model)
    losses = {}
    for weight in (0.0, 1.0):
        sampling.kl_weight.assign(weight)
        losses[weight] = (model.evaluate(x, x, verbose=0),
                          float(model.compute_loss(x, x, model(x, training=True), training=True)))
    assert losses[0.0][0] == pytest.approx(losses[1.0][0])  # validation: always the whole KL
    callback = KLWarmup(4)
    callback.set_model(model)
    callback.on_epoch_begin(2)
    assert float(sampling.kl_weight) == 0.5


def test_vae_api_samples_interpolates_and_bounds_the_likelihood(vae):
    test = blobs(16, seed=9)
    a = vae.sample(5, seed=1)
    assert a.shape == (5, 16, 16, 1) and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, vae.sample(5, seed=1))
    assert not np.array_equal(a, vae.sample(5, seed=2))
    path = vae.interpolate(test[0], test[1], steps=6)
    ends = vae.reconstruct(test[:2])
    np.testing.assert_allclose(path[[0, -1]], ends, atol=1e-5)
    mean, logvar = vae.encode(test)
    assert mean.shape == logvar.shape == (16, 4)
    elbo = vae.elbo(test, samples=20)
    iwae = vae.log_likelihood(test, k=64)
    # means measured -97.0 (ELBO) and -88.3 nats (IWAE) on 2026-11-30; 0.5 everywhere: -177
    assert elbo.mean() > -110 and iwae.mean() > -100
    assert iwae.mean() >= elbo.mean() - 0.5  # the importance-weighted bound is tighter
    with pytest.raises(UserError, match="positive"):
        vae.sample(0)
    # the runtime's checks: a NaN temperature had given NaN images, the rest numpy's or
    # Keras's own errors
    for call, match in ((lambda: vae.sample(2, temperature=float("nan")), "temperature"),
                        (lambda: vae.sample(2, temperature=-1), "temperature"),
                        (lambda: vae.sample(2.5), "positive whole number"),
                        (lambda: vae.sample(2, seed=-1), "seed must be"),
                        (lambda: vae.interpolate(test[0], test[1], steps=2.5), "whole number"),
                        (lambda: vae.encode(blobs(2, size=20)), r"\(N, 16, 16, 1\)"),
                        (lambda: vae.elbo(blobs(2, size=20)), r"\(N, 16, 16, 1\)")):
        with pytest.raises(UserError, match=match):
            call()
    with pytest.raises(UserError, match="0..3"):
        vae.traverse(4)
    assert vae.traverse(1, steps=5).shape == (5, 16, 16, 1)


def test_slerp_keeps_the_norm_between_codes():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    path = slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0)  # a line would dip to 2.12
    np.testing.assert_allclose(path[[0, -1]], [a, b], atol=1e-12)
    opposite = slerp(a, -2 * a, np.linspace(0, 1, 5))  # no one arc: the line, not 1e16 codes
    np.testing.assert_allclose(opposite, np.linspace(a, -2 * a, 5), atol=1e-12)
    near = slerp(a, -2 * a + 1e-5, np.linspace(0, 1, 5))  # the arc, its length along the line
    np.testing.assert_allclose(np.linalg.norm(near, axis=1), np.linspace(3, 6, 5), rtol=1e-4)


def test_train_vae_and_generate_cli(tmp_path, gray_folder):
    model = train_cli(tmp_path / "vae", "vae", gray_folder, "--latent-dim", "4", "--filters",
                      "8,16", "--epochs", "3", "--kl-warmup", "2", "--likelihood", "gaussian")
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["task"] == "vae" and manifest["params"]["likelihood"] == "gaussian"
    assert manifest["training"]["loss"] == "mse" and manifest["params"]["kl_warmup_epochs"] == 2

    code, out, err = run_cli("generate", "--model", model, "-n", "10", "--seed", "0",
                             "--save-each", tmp_path / "each", "--out", tmp_path / "grid.png")
    assert code == 0, err
    grid = cv2.imread(str(tmp_path / "grid.png"), cv2.IMREAD_UNCHANGED)
    assert grid.shape == ((3 * 17 + 1) * 4, (4 * 17 + 1) * 4)  # 4 columns, 16 px tiles x4
    assert len(list((tmp_path / "each").glob("*.png"))) == 10
    assert json.loads(out)["images"] == 10
    # a second set into that folder: refused before any image is made, whole with --overwrite
    again = ["generate", "--model", model, "-n", "3", "--save-each", tmp_path / "each", "--out",
             tmp_path / "grid3.png"]
    code, _, err = run_cli(*again)
    assert code == 2 and "each already exists and is not empty; pass --overwrite" in err, err
    assert not (tmp_path / "grid3.png").exists()
    assert run_cli(*again, "--overwrite")[0] == 0
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == ["0.png", "1.png", "2.png"]

    pair = write_folder(tmp_path / "pair", blobs(2, seed=4))
    a, b = sorted(pair.rglob("*.png"))
    code, _, err = run_cli("generate", "--model", model, "--interpolate", a, b, "--steps", "7",
                           "--out", tmp_path / "path.png")
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "path.png"), cv2.IMREAD_UNCHANGED).shape[1] == (7 * 17 + 1) * 4
    code, _, err = run_cli("generate", "--model", model, "--traverse", "1", "--out",
                           tmp_path / "dim.png")
    assert code == 0, err


@pytest.mark.parametrize("args, message", [
    (("-n", "0"), "must be >= 1"),
    (("--traverse", "9"), "dimension 0..3"),
    (("--traverse", "1", "--interpolate", "a.png", "b.png"), "not both"),
    (("--interpolate", "missing.png", "missing.png"), "not a readable image"),
    (("--steps", "5"), "--steps sets the images of an --interpolate or --traverse row"),
    (("--traverse", "1", "-n", "5"), "-n counts samples"),
    (("--traverse", "1", "--seed", "3"), "draw samples' codes"),  # they had done nothing
    (("--traverse", "1", "--temperature", "0.5"), "draw samples' codes"),
])
def test_generate_bad_input_is_one_line(tmp_path, vae_dir, args, message):
    code, _, err = run_cli("generate", "--model", vae_dir, *args, "--out", tmp_path / "g.png")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_generate_refuses_other_models_and_overwrites(tmp_path, conv_dir, vae_dir):
    code, _, err = run_cli("generate", "--model", conv_dir, "--out", tmp_path / "g.png")
    assert code == 2 and "'autoencoder', not a VAE" in err
    code, _, err = run_cli("train", "vae", "--data", "digits", "--loss", "mae", "--out",
                           tmp_path / "bad")
    assert code == 2 and "bce loss" in err
    assert run_cli("generate", "--model", vae_dir, "-n", "4", "--out", tmp_path / "g.png")[0] == 0
    code, _, err = run_cli("generate", "--model", vae_dir, "-n", "4", "--out", tmp_path / "g.png")
    assert code == 2 and "--overwrite" in err


def test_decoder_exports_and_generates_on_the_runtime(tmp_path, vae):
    out = tmp_path / "export"
    code, _, err = run_cli("export", vae.model_dir.path, "--part", "decoder", "--format", "all",
                           "--precision", "fp32,int8", "--out", out)
    assert code == 0, err
    manifest = json.loads((out / "decoder_int8.tflite.json").read_text())
    assert manifest["artifact"]["part"] == "decoder" and manifest["task"] == "vae"
    expected = np.clip(np.rint(vae.sample(6, seed=3) * 255), 0, 255)
    for name in ("decoder_fp32.tflite", "decoder_fp32.onnx", "decoder_int8.tflite",
                 "decoder_int8.onnx"):
        gen = rt.load(out / name)
        assert isinstance(gen, rt.Generator)
        images = gen.sample(6, seed=3)
        assert images.dtype == np.uint8 and images.shape == (6, 16, 16, 1)
        worst = np.abs(images.astype(int) - expected).max()
        assert worst <= (1 if "fp32" in name else 40), (name, worst)  # int8: a coarser decoder
    pair = write_folder(tmp_path / "pair", blobs(2))
    code, _, err = run_cli("generate", "--model", out / "decoder_int8.tflite", "--interpolate",
                           *sorted(pair.glob("*.png")), "--out", tmp_path / "row.png")
    assert code == 2 and err.count("\n") == 1, err  # the advice had left out --precision int8
    assert f"--part encoder --format tflite --precision int8 --out {out}" in err, err
    codes = np.random.default_rng(0).standard_normal((2, 4))
    row = rt.load(out / "decoder_fp32.onnx").interpolate(codes[0], codes[1], steps=5)
    assert row.shape == (5, 16, 16, 1)
    with pytest.raises(UserError, match="cannot denoise"):
        rt.load(out / "decoder_fp32.onnx", task="denoise")
    photo = write_folder(tmp_path / "photo", blobs(1))
    code, _, err = run_cli("denoise", photo, "--model", out / "decoder_fp32.onnx", "--out",
                           tmp_path / "d")  # a warning about its outputs came first
    assert code == 2 and err.count("\n") == 1 and "VAE decoder; it cannot denoise" in err
    # what gave NaN images (or, through OpenVINO, ordinary-looking ones) or raw errors
    gen = rt.load(out / "decoder_fp32.onnx")
    for call, match in ((lambda: gen.decode(np.full((1, 4), np.inf)), "NaN or infinity"),
                        (lambda: gen.sample(1, temperature=float("nan")), "temperature"),
                        (lambda: gen.sample(1, temperature=-1), "temperature"),
                        (lambda: gen.sample(2.5), "positive whole number"),
                        (lambda: gen.sample(1, temperature="1"), "temperature"),
                        (lambda: gen.sample(1, seed=-1), "seed must be a whole number >= 0"),
                        (lambda: gen.decode(np.zeros((0, 4))), "with N >= 1"),
                        (lambda: gen.decode([["a"] * 4]), "codes must be real numbers"),
                        (lambda: gen.decode(None), "got None"),
                        (lambda: gen.decode(np.ones((1, 4), complex)), "got complex"),
                        (lambda: gen.interpolate(codes[0], codes[1], steps=2.5),
                         "a whole number of steps"),
                        (lambda: gen.interpolate(codes[0], codes[0][:3]), r"shape \(4,\)")):
        with pytest.raises(UserError, match=match):
            call()


def test_only_a_vae_has_a_decoder_to_export(tmp_path, conv_dir, conv_tflite):
    code, _, err = run_cli("export", conv_dir, "--part", "decoder", "--out", tmp_path / "x")
    assert code == 2 and "part of a VAE" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(UserError, match="needs a VAE decoder"):
        rt.load(conv_tflite, task="generate")
    with pytest.raises(UserError, match="needs a VAE encoder"):  # it had reconstructed
        rt.load(conv_tflite, task="encode")


def test_encoder_exports_and_the_cli_generates_from_artifacts(tmp_path, vae, vae_dir):
    out = tmp_path / "export"
    # the decoder in every format and precision: test_decoder_exports_and_generates_on_the_runtime
    for part, fmt, precisions in (("decoder", "tflite", "fp32,int8"), ("encoder", "all", "fp32"),
                                  ("encoder", "tflite", "int8")):
        code, _, err = run_cli("export", vae.model_dir.path, "--part", part, "--format", fmt,
                               "--precision", precisions, "--out", out)
        assert code == 0, err
    test = blobs(4, seed=11)
    keras_means = vae.encode(test)[0]
    for name in ("encoder_fp32.tflite", "encoder_fp32.onnx"):
        encoder = rt.load(out / name)
        assert isinstance(encoder, rt.Encoder)
        np.testing.assert_allclose(encoder.encode(test), keras_means,
                                   atol=Tolerances().fp32_max_abs_diff)
        with pytest.raises(UserError, match=r"float frames hold pixels in \[0, 1\]"):
            encoder.encode(test.astype(np.float32))  # 0-255 values: codes far off the prior
        with pytest.raises(UserError, match="gives codes"):  # an IndexError had said it
            encoder.reconstruct(test)
    parity = json.loads((out / "encoder_int8.tflite.json").read_text())["artifact"]["parity"]
    # codes -> Keras decoder -> PSNR
    assert parity["psnr_db"] >= parity["keras_psnr_db"] - Tolerances().int8_psnr_drop_db

    pair = write_folder(tmp_path / "pair", test[:2])
    a, b = sorted(pair.rglob("*.png"))
    code, out_json, err = run_cli("generate", "--model", out / "decoder_int8.tflite",
                                  "--interpolate", a, b, "--steps", "5",
                                  "--out", tmp_path / "path.png")
    assert code == 0, err
    assert json.loads(out_json)["images"] == 5
    lone = tmp_path / "lone"
    assert run_cli("export", vae.model_dir.path, "--part", "decoder", "--out", lone)[0] == 0
    code, _, err = run_cli("generate", "--model", lone / "decoder_fp32.tflite", "--interpolate",
                           a, b, "--out", tmp_path / "x.png")
    assert code == 2 and "--part encoder" in err and "(encoder_fp32.tflite)" in err
    # another VAE's encoder beside it: its codes are none this decoder learned
    assert run_cli("export", vae_dir, "--part", "encoder", "--precision", "fp32", "--format",
                   "tflite", "--out", lone)[0] == 0
    code, _, err = run_cli("generate", "--model", lone / "decoder_fp32.tflite", "--interpolate",
                           a, b, "--out", tmp_path / "x.png")
    assert code == 2 and "encoder_fp32.tflite beside the decoder was exported from another" in err
    assert run_cli("generate", "--model", lone / "decoder_fp32.tflite", "--out",
                   tmp_path / "samples.png")[0] == 0  # sampling needs no encoder
    code, _, err = run_cli("generate", "--model", out / "encoder_fp32.onnx", "--out",
                           tmp_path / "y.png")
    assert code == 2 and "not a VAE decoder" in err
    code, _, err = run_cli("threshold", out / "decoder_fp32.tflite", "--strategy", "fixed:0.5")
    assert code == 2 and "is a VAE decoder, which scores nothing" in err, err
    small = write_folder(tmp_path / "small", blobs(2, size=8))  # said first: not a size to fix
    code, _, err = run_cli("reconstruct", "--model", out / "decoder_fp32.tflite", "--data", small,
                           "--out", tmp_path / "r")
    assert code == 2 and "is a VAE decoder; reconstruct needs the whole model" in err, err


def test_generation_runs_without_tensorflow(tmp_path, vae):
    python = REPO / ".venv-runtime" / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(".venv-runtime is missing: CI must create it (make install)")
        pytest.skip("no .venv-runtime here; `make install` creates it")
    out = tmp_path / "export"
    assert run_cli("export", vae.model_dir.path, "--part", "decoder", "--precision", "int8",
                   "--out", out)[0] == 0
    script = ("import sys, edgeae.runtime as rt; g = rt.load(sys.argv[1]); "
              "print(g.sample(4, seed=0).shape, 'tensorflow' in sys.modules)")
    run = subprocess.run([str(python), "-c", script, str(out / "decoder_int8.tflite")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(4, 16, 16, 1) False"
    run = subprocess.run([str(python), "-m", "edgeae", "generate", "--model",
                          str(out / "decoder_int8.tflite"), "-n", "9", "--out",
                          str(tmp_path / "grid.png")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["images"] == 9


def test_a_vae_is_benchmarked_at_its_own_size(tmp_path, vae_dir):
    """Timed at the default frame sizes, a VAE's fixed-size rows had failed after the export."""
    code, _, err = run_cli("benchmark", vae_dir, "--backends", "keras,onnx", "--precisions",
                           "fp32", "--threads", "1", "--repeats", "2", "--out", tmp_path / "b")
    assert code == 0, err
    rows = json.loads((tmp_path / "b" / "benchmark.json").read_text())["rows"]
    assert {r["size"] for r in rows} == {"16x16"} and "keras" in {r["backend"] for r in rows}
