"""Training: the model directory, resuming an interrupted run, and the tf.data pipeline."""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from edgeae.errors import UserError
from edgeae.runtime.manifest import Manifest
from edgeae.train.calibration import calibration_count, covering_subset
from edgeae.train.fit import WORK_DIR, TrainSettings, train
from edgeae.train.modeldir import ModelDir
from edgeae.train.pipeline import PipelineConfig, image_batches, split_indices, training_pairs
from edgeae.train.sources import ArrayImages, Preprocess

from conftest import blobs


@pytest.fixture(scope="module")
def source():
    return ArrayImages(blobs(48), Preprocess(), "blobs", "npy")


class Interrupt(keras.callbacks.Callback):
    """Stops the process-like run after `epoch` finishes (as a kill would)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def epochs_logged(model_dir) -> list[int]:
    with open(model_dir / "history.csv", newline="") as fh:
        return [int(r["epoch"]) for r in csv.DictReader(fh)]


def test_model_directory_contents(tmp_path, source):
    settings = TrainSettings(epochs=2, batch_size=8)
    manifest = train(source, tmp_path / "m", settings, verbose=0)
    model_dir = ModelDir.open(tmp_path / "m")
    assert model_dir.manifest == manifest == Manifest.read(tmp_path / "m" / "manifest.json")
    assert manifest.input.height is None and manifest.input.size_multiple == 4
    assert (manifest.data.n_train, manifest.data.n_val) == (43, 5)
    assert manifest.training.epochs_run == 2 and manifest.training.val_mse > 0
    assert model_dir.samples().shape == (5, 16, 16, 1)
    calibration = model_dir.calibration()  # training images, not validation ones
    assert calibration.shape == (43, 16, 16, 1)
    assert not (tmp_path / "m" / WORK_DIR).exists()
    model = model_dir.load_keras()
    assert model.predict(model_dir.samples(), verbose=0).shape == (5, 16, 16, 1)


def test_interrupted_run_resumes(tmp_path, source):
    settings = TrainSettings(epochs=4, batch_size=8, patience=10)
    out = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        train(source, out, settings, callbacks=[Interrupt(epoch=1)], verbose=0)
    assert not (out / "manifest.json").exists()
    with pytest.raises(UserError, match="interrupted run with other settings"):
        train(source, out, TrainSettings(epochs=5, batch_size=8), verbose=0)
    manifest = train(source, out, settings, verbose=0)
    # epochs 0 and 1 ran before the interruption; the resumed run did only 2 and 3
    assert epochs_logged(out) == [0, 1, 2, 3]
    assert manifest.training.epochs_run == 4


def test_existing_output_needs_overwrite(tmp_path, source):
    settings = TrainSettings(epochs=1, batch_size=16)
    train(source, tmp_path / "m", settings, verbose=0)
    with pytest.raises(UserError, match="already holds a trained model.*--overwrite"):
        train(source, tmp_path / "m", settings, verbose=0)
    train(source, tmp_path / "m", settings, overwrite=True, verbose=0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        train(source, tmp_path / "other", settings, verbose=0)


def test_split_is_seeded_and_disjoint():
    a_train, a_val = split_indices(100, 0.2, seed=3)
    b_train, b_val = split_indices(100, 0.2, seed=3)
    np.testing.assert_array_equal(a_val, b_val)
    assert len(a_val) == 20 and not set(a_train) & set(a_val)
    assert not np.array_equal(split_indices(100, 0.2, seed=4)[1], a_val)


def test_denoiser_pairs_fresh_noise_in_training_fixed_in_validation(source):
    cfg = PipelineConfig(batch_size=8, seed=1, noise="gaussian:51+clip")  # the tutorial's 0.2
    idx = np.arange(8)

    def first_batch(training: bool):
        noisy, clean = next(iter(training_pairs(image_batches(source, idx, cfg, training),
                                                cfg, training)))
        return noisy.numpy(), clean.numpy()

    noisy, clean = first_batch(training=False)
    assert 0.0 <= noisy.min() and noisy.max() <= 1.0
    assert 0.1 < np.std(noisy - clean) < 0.25  # clipping shrinks the 0.2 a little
    np.testing.assert_array_equal(first_batch(training=False)[0], noisy)
    ds = training_pairs(image_batches(source, idx, cfg, training=True), cfg, training=True)
    epoch1, epoch2 = [next(iter(ds))[0].numpy() for _ in range(2)]
    assert not np.array_equal(epoch1, epoch2)


def test_patch_crops_are_seeded(source):
    cfg = PipelineConfig(batch_size=4, seed=0, patch_size=8)
    batches = [next(iter(image_batches(source, np.arange(4), cfg, training=False))).numpy()
               for _ in range(2)]
    assert batches[0].shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(*batches)
    assert tf.reduce_max(batches[0]) <= 1.0


def test_calibration_pick_covers_the_brightness_range():
    pool = np.random.default_rng(0).random((100, 4, 4, 1), dtype=np.float32)
    pool[17] = 0.0  # the darkest scene
    pool[63] = 1.0  # the brightest
    picked = covering_subset(pool, 10)
    means = picked.mean(axis=(1, 2, 3))
    assert len(picked) == 10 and means.min() == 0.0 and means.max() == 1.0
    assert (np.diff(means) >= 0).all()  # evenly spaced ranks, in order
    assert len(covering_subset(pool[:5], 10)) == 5  # a small pool is kept whole
    assert calibration_count((28, 28, 1)) == 256
    assert calibration_count((1024, 1024, 3)) == 5  # capped at 64 MiB of float32
