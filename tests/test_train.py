"""Training: the model directory, resuming an interrupted run, and the tf.data pipeline."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from edgeae.core.calibration import calibration_count, covering_subset
from edgeae.core.data import ArrayImages, FolderImages, ImageTiles, Preprocess
from edgeae.core.errors import UserError
from edgeae.core.manifest import Manifest
from edgeae.core.modeldir import ModelDir
from edgeae.train.callbacks import TimeLimit
from edgeae.train.fit import WORK_DIR, TrainSettings, train
from edgeae.train.keras_backend import load_keras
from edgeae.train.pipeline import (
    PipelineConfig,
    cache_key,
    image_batches,
    split_indices,
    training_pairs,
)

from conftest import blobs, run_cli, write_folder


@pytest.fixture(scope="module")
def source():
    return ArrayImages(blobs(48), Preprocess(), "blobs", "npy")


def test_a_batch_beyond_the_available_memory_is_refused_before_anything_is_written(
        source, tmp_path, monkeypatch):
    import edgeae.train.memory as memory
    from edgeae.train.models.registry import activations_per_pixel, create_model

    # the tutorial's conv autoencoder, per input pixel: 16 channels at a quarter of the pixels,
    # 8 at a sixteenth, 8 at a quarter, 16 at full size, and the 1-channel output
    assert activations_per_pixel(create_model("conv", (16, 16, 1))) == 4 + 0.5 + 2 + 16 + 1
    assert memory.available_memory_bytes() > 2 ** 20  # this Linux machine's MemAvailable
    # the machine's memory is the hardware here: a small one is stood in for. One batch of 32
    # 16x16 blobs holds 23.5 * 32 * 256 floats: 770,048 bytes
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 770_047)
    settings = TrainSettings(epochs=1, batch_size=32)
    with pytest.raises(UserError, match=r"^one batch \(32 images of 16x16\) needs at least "
                                        r"752 KiB .* has 752 KiB available: lower --batch-size"):
        train(source, tmp_path / "m", settings, verbose=0)
    assert not (tmp_path / "m").exists()
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 770_048)  # it just fits
    assert train(source, tmp_path / "m", settings, verbose=0).training.epochs_run == 1


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
    # val MSE measured 0.189 on 2026-11-30; the untrained model scores 0.205
    assert manifest.training.epochs_run == 2 and manifest.training.val_mse < 0.2
    assert model_dir.samples().shape == (5, 16, 16, 1)
    calibration = model_dir.calibration()  # training images, not validation ones
    assert calibration.shape == (43, 16, 16, 1)
    assert not (tmp_path / "m" / WORK_DIR).exists()
    model = load_keras(model_dir)
    assert model.predict(model_dir.samples(), verbose=0).shape == (5, 16, 16, 1)


def test_interrupted_run_resumes(tmp_path, source):
    settings = TrainSettings(epochs=4, batch_size=8, patience=10)
    out = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        train(source, out, settings, callbacks=[Interrupt(epoch=1)], verbose=0)
    assert not (out / "manifest.json").exists()
    before = json.loads((out / WORK_DIR / "elapsed.json").read_text())["seconds"]
    with pytest.raises(UserError, match="interrupted run with other settings"):
        train(source, out, TrainSettings(epochs=5, batch_size=8), verbose=0)
    other_data = ArrayImages(blobs(48, seed=1)[:40], Preprocess(), "other", "npy")
    with pytest.raises(UserError, match="interrupted run with other settings or data"):
        train(other_data, out, settings, verbose=0)
    limit = TimeLimit(minutes=10)  # --time-limit: the budget counts the stopped run's epochs
    manifest = train(source, out, settings, callbacks=[limit], verbose=0)
    assert limit.spent_before == pytest.approx(before)
    # epochs 0 and 1 ran before the interruption; the resumed run did only 2 and 3
    assert epochs_logged(out) == [0, 1, 2, 3]
    assert manifest.training.epochs_run == 4
    assert manifest.training.seconds > before > 0  # both runs' epochs: not the resumed alone


def test_an_image_gone_unreadable_during_training_is_one_line(tmp_path, monkeypatch):
    """Raised inside tf.data's reading, it had come wrapped in a TensorFlow traceback."""
    from edgeae.core import data

    real, reads, good_reads = data.FolderImages.raw, [], [40]

    def going_bad(self, i):
        reads.append(i)
        if len(reads) > good_reads[0]:
            raise UserError(f"{self.paths[i]} became unreadable during training")
        return real(self, i)

    monkeypatch.setattr(data.FolderImages, "raw", going_bad)
    folder = write_folder(tmp_path / "photos", blobs(32))
    code, _, err = run_cli("train", "autoencoder", "--data", folder, "--out", tmp_path / "m",
                           "--epochs", "4")
    assert code == 2 and err.strip().splitlines()[-1].endswith(
        "became unreadable during training"), err
    assert "Traceback" not in err
    # failed before an epoch ended: no run is left to resume, so the retry with other
    # options (the advice after running out of memory) is not refused as "interrupted"
    reads.clear()
    good_reads[0] = 0
    assert run_cli("train", "autoencoder", "--data", folder, "--out", tmp_path / "first",
                   "--epochs", "4")[0] == 2
    assert not (tmp_path / "first").exists()
    monkeypatch.setattr(data.FolderImages, "raw", real)
    assert run_cli("train", "autoencoder", "--data", folder, "--out", tmp_path / "first",
                   "--epochs", "1")[0] == 0


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


def test_a_run_that_diverges_is_an_error_and_nan_fails_every_gate(tmp_path, source):
    from edgeae.core.manifest import ParityInfo
    from edgeae.export.options import Tolerances

    photos = write_folder(tmp_path / "photos", blobs(8, size=32))
    code, _, err = run_cli("train", "denoiser", "--data", photos, "--model", "unet", "--size",
                           "tiny", "--learning-rate", "10", "--epochs", "2", "--batch-size", "4",
                           "--out", tmp_path / "m")
    assert code == 2 and "training diverged" in err, err
    assert not (tmp_path / "m" / "manifest.json").exists()
    nan = ParityInfo(n_samples=4, max_abs_diff=float("nan"), mean_abs_diff=float("nan"))
    for precision in ("fp32", "fp16"):
        assert "NaN or infinity" in Tolerances().failure(precision, nan)


def test_overwrite_deletes_nothing_before_training_can_start(tmp_path, source):
    settings = TrainSettings(epochs=1, batch_size=16)
    photos = write_folder(tmp_path / "photos", blobs(4))
    code, _, err = run_cli("train", "autoencoder", "--data", photos, "--out", photos,
                           "--overwrite")
    assert code == 2 and "holds the training data" in err, err
    assert len(list(photos.glob("*.png"))) == 4
    train(source, tmp_path / "m", settings, verbose=0)
    odd = ArrayImages(blobs(8, size=18), Preprocess(), "odd", "npy")  # sides not a multiple of 4
    with pytest.raises(UserError, match="multiples of 4"):
        train(odd, tmp_path / "m", settings, overwrite=True, verbose=0)
    assert (tmp_path / "m" / "manifest.json").exists()  # the trained model is still there


def test_an_interrupted_overwrite_keeps_the_old_model_until_the_new_one_is_done(tmp_path,
                                                                              source):
    """--overwrite replaces a trained model only once the new one is complete: stopped
    halfway, the old model is still whole, and the same command resumes and replaces it."""
    out = tmp_path / "m"
    old = train(source, out, TrainSettings(epochs=1, batch_size=16), verbose=0)
    (out / "notes.txt").write_text("beside the old model")
    longer = TrainSettings(epochs=3, batch_size=16, patience=10)
    with pytest.raises(KeyboardInterrupt):
        train(source, out, longer, overwrite=True, callbacks=[Interrupt(epoch=1)], verbose=0)
    kept = ModelDir.open(out)
    assert kept.manifest == old and load_keras(kept).count_params() > 0
    manifest = train(source, out, longer, overwrite=True, verbose=0)
    assert epochs_logged(out) == [0, 1, 2] and manifest.training.epochs_run == 3
    assert ModelDir.open(out).manifest == manifest
    assert not (out / "notes.txt").exists() and not (out / WORK_DIR).exists()


def test_split_is_seeded_and_disjoint():
    a_train, a_val = split_indices(100, 0.2, seed=3)
    b_train, b_val = split_indices(100, 0.2, seed=3)
    np.testing.assert_array_equal(a_val, b_val)
    assert len(a_val) == 20 and not set(a_train) & set(a_val)
    assert not np.array_equal(split_indices(100, 0.2, seed=4)[1], a_val)


def test_a_videos_frames_validate_on_the_tail_clear_of_training_clips(caplog):
    train_idx, val_idx = split_indices(100, 0.2, seed=3, tail_gap=2)  # 3-frame clips
    np.testing.assert_array_equal(train_idx, np.arange(80))
    np.testing.assert_array_equal(val_idx, np.arange(82, 100))  # clips of 80-82 onward only
    assert split_indices(100, 0.2, seed=4, tail_gap=0)[1].tolist() == list(range(80, 100))
    assert "reach back into training frames" not in caplog.text
    assert split_indices(3, 0.2, seed=0, tail_gap=4)[1].tolist() == [2]  # never empty
    assert "only the last 1 of 3 frames validate, fewer than a clip of 5" in caplog.text


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


def pass_images(ds: tf.data.Dataset) -> np.ndarray:
    """Every image of one pass (epoch) over a batched dataset."""
    return np.concatenate([b.numpy() for b in ds])


def by_content(images: np.ndarray) -> np.ndarray:
    """The images in an order that depends only on them, to compare passes as sets."""
    return images[np.lexsort(images.reshape(len(images), -1).T)]


@pytest.mark.parametrize("patch_size", [None, 8])
def test_disk_cache_decodes_once_and_keys_on_the_data(tmp_path, patch_size):
    images = blobs(20, seed=3)
    folder = write_folder(tmp_path / "imgs", images)
    source = FolderImages(folder, Preprocess())
    idx = np.arange(len(source))
    plain = PipelineConfig(batch_size=8, seed=2, patch_size=patch_size)
    cfg = replace(plain, cache=tmp_path / "cache")
    cached = image_batches(source, idx, cfg, training=True)
    first = pass_images(cached)
    if patch_size is None:  # the same images as decoding every time, in another order
        decoded = pass_images(image_batches(source, idx, plain, True))
        np.testing.assert_allclose(by_content(first), by_content(decoded), atol=1e-6)
        np.testing.assert_allclose(by_content(first), by_content(images / 255.0), atol=1e-6)
    (key,) = [p.name for p in (tmp_path / "cache").iterdir()]
    assert (tmp_path / "cache" / key / "images.index").exists()  # finalised after one pass
    for png in folder.glob("*.png"):
        png.unlink()  # later epochs cannot decode: they read the cache
    second = pass_images(cached)
    assert second.shape == first.shape and not np.array_equal(second, first)  # reshuffled
    if patch_size is None:
        np.testing.assert_array_equal(by_content(second), by_content(first))

    write_folder(folder, images[:19])  # changed data: a new cache beside the old one
    (tmp_path / "cache" / key / "images_0.lockfile").write_text("")  # a killed run's
    pass_images(image_batches(FolderImages(folder, Preprocess()), np.arange(19), cfg, True))
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_the_cache_keys_on_the_pixels_a_built_in_name_or_a_frame_step_does_not_name():
    """`mnist` read from two --data-dir files of as many images (or a video's frames at
    --every 8 and 9) shared one cache: the second run trained on the first one's images."""
    order = np.arange(10)
    first, other = blobs(10, seed=1), blobs(10, seed=2)
    keys = {cache_key(ArrayImages(images, Preprocess(), "mnist", "builtin"), order)
            for images in (first, other, first)}
    assert len(keys) == 2


def test_train_with_a_disk_cache_from_the_command_line(tmp_path, gray_folder):
    for run in ("a", "b"):  # the second run finds the first one's decoded images
        code, out, err = run_cli("train", "autoencoder", "--data", gray_folder, "--epochs", "2",
                                 "--batch-size", "8", "--cache", tmp_path / "cache", "--out",
                                 tmp_path / run)
        assert code == 0, err
    caches = sorted((tmp_path / "cache").iterdir())
    assert len(caches) == 2 and all((c / "images.index").exists() for c in caches)  # train, val
    history = [np.loadtxt(tmp_path / r / "history.csv", delimiter=",", skiprows=1)
               for r in ("a", "b")]
    assert history[0].shape[0] == 2  # both epochs ran (the cached stream's length is known)
    np.testing.assert_allclose(history[0][:, 1:], history[1][:, 1:], rtol=1e-5)


def test_a_detector_stopped_while_its_threshold_is_set_keeps_the_old_model_and_resumes_there(
        tmp_path, source, monkeypatch):
    """A detector's model is finished (its threshold set) after training; stopped there, the
    model --overwrite replaces is still whole, and the rerun finishes without training again."""
    import edgeae.train.thresholds as thresholds

    out = tmp_path / "m"
    settings = TrainSettings(task="detector", epochs=2, batch_size=16, patience=10)
    old = train(source, out, settings, verbose=0)
    finish = thresholds.calibrated

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(thresholds, "calibrated", stopped)
    longer = replace(settings, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(source, out, longer, overwrite=True, verbose=0)
    assert ModelDir.open(out).manifest == old
    monkeypatch.setattr(thresholds, "calibrated", finish)
    counted = EpochCount()
    manifest = train(source, out, longer, overwrite=True, callbacks=[counted], verbose=0)
    assert counted.epochs == 0 and manifest.training.epochs_run == 3
    assert manifest.threshold is not None and epochs_logged(out) == [0, 1, 2]


def test_a_run_stopped_while_its_files_move_in_is_finished_by_the_same_command(
        tmp_path, source, monkeypatch):
    """Stopped between moving the new files and writing the manifest, the folder was no model
    and the same command failed (the history it read had moved), the old model gone."""
    import edgeae.train.fit as fit

    out = tmp_path / "m"
    settings = TrainSettings(epochs=1, batch_size=16)
    train(source, out, settings, verbose=0)
    real, moves = os.replace, []

    def stopped_after_two(src, dst):  # os.replace moves the files in: the third stops
        if Path(dst).parent == out and Path(src).parent == out / WORK_DIR:
            moves.append(dst)
            if len(moves) == 3:
                raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(fit.os, "replace", stopped_after_two)
    longer = replace(settings, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(source, out, longer, overwrite=True, verbose=0)
    assert not (out / "manifest.json").exists()  # no finished model: half old, half new
    from edgeae.app.commands.train import _interrupted_message

    assert "the model it replaces is gone" in _interrupted_message(out)  # not "kept"
    monkeypatch.setattr(fit.os, "replace", real)
    counted = EpochCount()
    manifest = train(source, out, longer, overwrite=True, callbacks=[counted], verbose=0)
    assert counted.epochs == 0 and manifest.training.epochs_run == 2
    assert ModelDir.open(out).manifest == manifest and epochs_logged(out) == [0, 1]
    assert not (out / WORK_DIR).exists()


class EpochCount(keras.callbacks.Callback):
    """Counts the epochs a run trains."""

    epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_a_backup_cut_short_starts_the_run_over_with_a_warning(tmp_path, source, caplog):
    out = tmp_path / "m"
    settings = TrainSettings(epochs=3, batch_size=16, patience=10)
    with pytest.raises(KeyboardInterrupt):
        train(source, out, settings, callbacks=[Interrupt(epoch=1)], verbose=0)
    copies = sorted((out / WORK_DIR / "backup").glob("*.weights.h5"))
    assert copies
    for copy in copies:  # as a crash or a full disk leaves it
        copy.write_bytes(copy.read_bytes()[: copy.stat().st_size // 2])
    manifest = train(source, out, settings, verbose=0)
    assert "backup" in caplog.text and "starting the run over" in caplog.text
    assert epochs_logged(out) == [0, 1, 2] and manifest.training.epochs_run == 3


def test_an_input_inside_out_is_refused_before_anything_is_replaced(tmp_path, source):
    out = tmp_path / "m"
    train(source, out, TrainSettings(epochs=1, batch_size=16), verbose=0)
    (out / "stage1.keras").write_bytes((out / "model.keras").read_bytes())
    second = TrainSettings(epochs=1, batch_size=16, initial_weights=str(out / "stage1.keras"))
    with pytest.raises(UserError, match=r"--out .* holds --initial-weights .*stage1.keras: "
                                        r"choose a folder of its own"):
        train(source, out, second, overwrite=True, verbose=0)
    assert (out / "stage1.keras").exists() and (out / "manifest.json").exists()


def test_one_photo_trains_on_crops_from_its_tiles_and_validates_on_others(tmp_path):
    photo = blobs(1, size=96)[0]
    write_folder(tmp_path / "one", photo[None])
    tiles = ImageTiles(FolderImages(tmp_path / "one", Preprocess()), 16, at_least=3)
    assert tiles.side == 32 and len(tiles) == 9 and tiles.size is None  # twice the crop's side
    np.testing.assert_array_equal(tiles.raw(5), photo[32:64, 64:96, 0])
    assert tiles.item_name(5) == "img_000.png@64,32"
    assert ImageTiles(FolderImages(tmp_path / "one", Preprocess()), 40, 3).side == 40  # else 1
    out = tmp_path / "model"
    code, _, err = run_cli("train", "denoiser", "--model", "unet", "--size", "tiny", "--data",
                           tmp_path / "one" / "img_000.png", "--patch-size", "16", "--epochs",
                           "1", "--out", out)
    assert code == 0, err  # one image had been refused: nothing to hold out
    data = Manifest.read(out / "manifest.json").data
    assert (data.n_train, data.n_val, data.image_size, data.patch_size) == (8, 1, None, 16)


def test_a_crop_must_fit_every_images_height_and_width(tmp_path):
    """The smallest image by area (20x20) passed a 16-pixel crop that 12x100 images cannot
    give: training crashed in tf.data (and at times never exited)."""
    import cv2

    folder = tmp_path / "thin"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"square_{i}.png"), blobs(1, size=20, seed=i)[0])
        cv2.imwrite(str(folder / f"strip_{i}.png"), np.full((12, 100), 40 * i, np.uint8))
    code, _, err = run_cli("train", "autoencoder", "--data", folder, "--out", tmp_path / "m",
                           "--patch-size", "16", "--epochs", "1")
    assert code == 2 and "heights from 12, widths from 20" in err, err
    assert not (tmp_path / "m").exists()


def test_a_model_too_large_for_memory_is_one_line(tmp_path):
    """Its weights alone (a dense layer of 1e9 units: 1 TB) had ended in an OOM traceback."""
    folder = write_folder(tmp_path / "photos", blobs(8))
    code, _, err = run_cli("train", "autoencoder", "--data", folder, "--out", tmp_path / "m",
                           "--model", "dense", "--hidden", "1000000000", "--epochs", "1")
    assert code == 2 and "does not fit in this machine's memory" in err, err
    assert "Traceback" not in err and not (tmp_path / "m").exists()


def test_the_manifest_names_the_files_a_builtin_dataset_was_read_from(tmp_path):
    """`--data fashion-mnist --data-dir mnist.npz` trained on MNIST under Fashion-MNIST's name."""
    images = blobs(24, size=28)[..., 0]
    np.savez(tmp_path / "other.npz", x_train=images[:16], y_train=np.zeros(16, np.uint8),
             x_test=images[16:], y_test=np.zeros(8, np.uint8))
    code, _, err = run_cli("train", "autoencoder", "--data", "fashion-mnist", "--data-dir",
                           tmp_path / "other.npz", "--out", tmp_path / "m", "--epochs", "1")
    assert code == 0, err
    source = json.loads((tmp_path / "m" / "manifest.json").read_text())["data"]["source"]
    assert source == f"fashion-mnist from {tmp_path / 'other.npz'}"
