"""Shared fixtures: tiny generated images and videos, and models trained once per session."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # a worker per core already: TensorFlow's own pools on every core (here and in the commands
    # the tests start) only fought the other worker, 12% slower on test_denoise and test_train
    for pool in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(pool, "1")

import cv2
import numpy as np
import pytest

from edgeae.app.cli import main

REPO = Path(__file__).resolve().parents[1]


def blobs(n: int, size: int = 16, channels: int = 1, seed: int = 0) -> np.ndarray:
    """n uint8 images of soft bright discs on a dark background: easy to learn, not trivial."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.empty((n, size, size, channels), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(3, size - 3, 2)
        r = rng.uniform(2, size / 4)
        disc = np.clip(1.5 - np.hypot(yy - cy, xx - cx) / r, 0, 1)
        tint = rng.uniform(0.5, 1.0, channels)
        out[i] = np.rint(255 * disc[..., None] * tint)
    return out


def write_folder(root: Path, images: np.ndarray, classes: int = 1, suffix: str = ".png") -> Path:
    """Write images into root/class_k/img_i.suffix (or root/ when classes == 1)."""
    for i, img in enumerate(images):
        folder = root / f"class_{i % classes}" if classes > 1 else root
        folder.mkdir(parents=True, exist_ok=True)
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.shape[-1] == 3 else img
        assert cv2.imwrite(str(folder / f"img_{i:03d}{suffix}"), bgr)
    return root


def write_video(path: Path, frames: np.ndarray, fps: float = 10.0) -> Path:
    """Write RGB uint8 frames as an MJPG .avi (lossy but decodable everywhere)."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def turned_by_exif(path, shown: np.ndarray, **save) -> None:
    """Save `shown` (the upright picture) stored a quarter turn off, with EXIF orientation 6
    (displayed turned a quarter clockwise), as cameras write portrait photos."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(shown, 1))).save(path, exif=exif.tobytes(),
                                                                   **save)


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run `edgeae ARGS` in-process; return (exit code, stdout, stderr) via capsys-free capture."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def gray_folder(tmp_path_factory) -> Path:
    """64 gray 16x16 PNGs in two class folders."""
    return write_folder(tmp_path_factory.mktemp("gray"), blobs(64), classes=2)


def train_cli(out: Path, task: str, data: Path, *options: str) -> Path:
    """Train through the CLI into `out`; fail the calling fixture on any error."""
    code, _, err = run_cli("train", task, "--data", data, "--out", out, *options)
    assert code == 0, err
    return out


@pytest.fixture(scope="session")
def conv_dir(tmp_path_factory, gray_folder) -> Path:
    """A conv autoencoder trained briefly on the gray folder."""
    return train_cli(tmp_path_factory.mktemp("models") / "conv", "autoencoder", gray_folder,
                     "--epochs", "3", "--batch-size", "16")


@pytest.fixture(scope="session")
def dense_dir(tmp_path_factory, gray_folder) -> Path:
    """The tutorial's dense autoencoder trained briefly on the gray folder."""
    return train_cli(tmp_path_factory.mktemp("models") / "dense", "autoencoder", gray_folder,
                     "--model", "dense", "--latent-dim", "8", "--epochs", "3")


@pytest.fixture(scope="session")
def vae_dir(tmp_path_factory, gray_folder) -> Path:
    """A small VAE (4 latent dimensions) trained for one epoch on the gray folder."""
    return train_cli(tmp_path_factory.mktemp("models") / "vae", "vae", gray_folder, "--latent-dim",
                     "4", "--filters", "8", "--epochs", "1")


@pytest.fixture(scope="session")
def denoiser_dir(tmp_path_factory, gray_folder) -> Path:
    """The tutorial's conv denoiser (noise factor 0.2) trained briefly on the gray folder."""
    return train_cli(tmp_path_factory.mktemp("models") / "denoiser", "denoiser", gray_folder,
                     "--epochs", "4", "--batch-size", "16")


@pytest.fixture(scope="session")
def conv_artifacts(tmp_path_factory, conv_dir) -> Path:
    """The conv model exported to every format and precision, through the CLI.

    Every precision but bf16, which only some CPUs compute (test_export tests it where they do):
    the same files on every machine.
    """
    out = tmp_path_factory.mktemp("export")
    code, _, err = run_cli("export", conv_dir, "--format", "all", "--precision",
                           "fp32,fp16,int8-dynamic,int8", "--out", out)
    assert code == 0, err
    return out


@pytest.fixture(scope="session")
def conv_tflite(conv_artifacts) -> Path:
    """The conv model as float32 TFLite."""
    return conv_artifacts / "model_fp32.tflite"
