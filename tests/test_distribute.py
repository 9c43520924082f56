"""tf.distribute: MirroredStrategy over two logical CPUs trains like one device, saves once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import run_cli

TWO_CPUS = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from edgeae.app.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def train_on_two_cpus(*args) -> subprocess.CompletedProcess:
    """`edgeae train ...` in a process whose CPU is split into two logical devices."""
    return subprocess.run([sys.executable, "-c", TWO_CPUS, "train", *map(str, args)],
                          capture_output=True, text=True)


def test_mirrored_over_two_logical_cpus_matches_one_device(tmp_path, gray_folder):
    common = ["autoencoder", "--data", gray_folder, "--epochs", "3", "--batch-size", "16"]
    runs = {}
    for strategy in ("one-device", "mirrored"):
        out = tmp_path / strategy
        run = train_on_two_cpus(*common, "--strategy", strategy, "--out", out)
        assert run.returncode == 0, run.stderr
        assert ("2 replica(s)" if strategy == "mirrored" else "1 replica(s)") in run.stderr
        runs[strategy] = json.loads((out / "manifest.json").read_text())["training"]
        assert [p.name for p in out.glob("*.keras")] == ["model.keras"]  # saved once
        assert not (out / ".work").exists()
    assert runs["mirrored"]["strategy"] == "mirrored"
    one, two = runs["one-device"]["best_val_loss"], runs["mirrored"]["best_val_loss"]
    assert abs(one - two) <= 1e-4 * one, (one, two)  # the same global batch, the same math


def test_multi_worker_needs_tf_config(tmp_path, gray_folder, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code, _, err = run_cli("train", "autoencoder", "--data", gray_folder, "--strategy",
                           "multi-worker", "--out", tmp_path / "m")
    assert code == 2 and "TF_CONFIG" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("TF_CONFIG", "{not json")
    code, _, err = run_cli("train", "autoencoder", "--data", gray_folder, "--strategy",
                           "multi-worker", "--out", tmp_path / "m")
    assert code == 2 and "TF_CONFIG must be JSON" in err
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}, '
                                    '"task": {"type": "chief", "index": 0}}')  # not listed
    code, _, err = run_cli("train", "autoencoder", "--data", gray_folder, "--strategy",
                           "multi-worker", "--out", tmp_path / "m")
    assert code == 2 and "TF_CONFIG's task is not in its cluster" in err, err
    assert not (tmp_path / "m").exists()  # nothing half-written


RESUME_ON_TWO_CPUS = textwrap.dedent("""
    import csv, json, sys
    from pathlib import Path
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from edgeae.train.fit import TrainSettings, train
    from edgeae.core.data import load_data

    class Interrupt(keras.callbacks.Callback):  # as a kill after epoch 1 would
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    source, out = load_data(sys.argv[1]).train, Path(sys.argv[2])
    settings = TrainSettings(epochs=4, batch_size=16, patience=10, strategy="mirrored")
    try:
        train(source, out, settings, callbacks=[Interrupt()], verbose=0)
    except KeyboardInterrupt:
        pass
    manifest = train(source, out, settings, verbose=0)
    with open(out / "history.csv", newline="") as fh:
        epochs = [int(r["epoch"]) for r in csv.DictReader(fh)]
    print(json.dumps({"epochs": epochs, "run": manifest.training.epochs_run}))
""")


def test_backup_and_restore_resumes_under_mirrored(tmp_path, gray_folder):
    run = subprocess.run([sys.executable, "-c", RESUME_ON_TWO_CPUS, str(gray_folder),
                          str(tmp_path / "m")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # epochs 0 and 1 ran before the interruption; the resumed run did only 2 and 3
    assert result == {"epochs": [0, 1, 2, 3], "run": 4}
