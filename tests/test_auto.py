"""`--backend auto`: every installed engine timed on real artifacts, the fastest kept and cached."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

import edgeae.runtime as rt
from edgeae.core.files import UNCACHED_ENV
from edgeae.core.manifest import manifest_path_for
from edgeae.runtime.auto import CACHE_FILE, choose, siblings
from edgeae.runtime.backends import BACKENDS, usable_cores
from edgeae.runtime.pretrained import PRETRAINED_DIR

from conftest import blobs, run_cli, write_folder


def installed(suffix: str) -> set[str]:
    return {b.name for b in BACKENDS.values() if suffix in b.suffixes and b.available()}


def test_auto_times_every_engine_on_both_formats_and_keeps_the_fastest(conv_artifacts,
                                                                       tmp_path):
    choice = choose(conv_artifacts / "model_int8.tflite", (32, 48), 1, cache_dir=tmp_path)
    expected = {f"{b} on model_int8{suffix}" for suffix in (".tflite", ".onnx", ".xml")
                for b in installed(suffix)}
    assert set(choice.timings_ms) == expected and len(expected) >= 2
    best = min(choice.timings_ms, key=choice.timings_ms.get)
    assert best == f"{choice.backend} on {choice.path.rsplit('/', 1)[-1]}" and not choice.cached
    assert "measured now" in choice.describe() and "int8" in choice.path  # precision kept
    again = choose(conv_artifacts / "model_int8.tflite", (32, 48), 1, cache_dir=tmp_path)
    assert again.cached and (again.path, again.backend) == (choice.path, choice.backend)
    assert "cached choice" in again.describe()
    other = choose(conv_artifacts / "model_int8.tflite", (32, 48), 2, cache_dir=tmp_path)
    assert not other.cached  # another thread count is measured again
    choose(conv_artifacts / "model_int8.tflite", (32, 48), usable_cores(), cache_dir=tmp_path)
    unset = choose(conv_artifacts / "model_int8.tflite", (32, 48), None, cache_dir=tmp_path)
    assert unset.cached  # unset threads are every usable core, as the engines then take
    (tmp_path / CACHE_FILE).write_text("{not json")  # a damaged cache is measured again
    assert not choose(conv_artifacts / "model_int8.tflite", (32, 48), 1, tmp_path).cached
    assert len(json.loads((tmp_path / CACHE_FILE).read_text())) == 1
    entry = json.loads((tmp_path / CACHE_FILE).read_text())  # as another edgeae may write it
    for damaged in ([], *({key: {**hit, **change} for key, hit in entry.items()} for change in (
            {"timings_ms": {}, "new": 1}, {"frame": [48]}, {"timings_ms": []}))):
        (tmp_path / CACHE_FILE).write_text(json.dumps(damaged))  # had raised a Type/Attribute
        assert not choose(conv_artifacts / "model_int8.tflite", (32, 48), 1, tmp_path).cached


def test_the_engines_take_turns_so_a_machine_that_slows_slows_them_alike(conv_artifacts,
                                                                          tmp_path, monkeypatch):
    """Timed one after another, under load, four fresh choices had picked four engines."""
    import edgeae.runtime.auto as auto

    order, opened = [], auto.open_session

    def recording(path, backend, threads):
        session, chosen = opened(path, backend, threads)
        inner = session.run
        session.run = lambda batch: order.append(f"{backend} on {path.name}") or inner(batch)
        return session, chosen

    monkeypatch.setattr(auto, "open_session", recording)
    choice = choose(conv_artifacts / "model_int8.tflite", (32, 48), 1, cache_dir=tmp_path)
    labels = list(choice.timings_ms)
    assert order[:len(labels)] == labels  # each warmed up once
    assert order[len(labels):] == labels * auto.RUNS  # then a run each per round


def test_files_without_their_json_are_measured_again_once_replaced(conv_artifacts, tmp_path):
    """Their embedded manifests record no digest of themselves: the cache took the old pick."""
    names = ("model_int8.tflite", "model_int8.onnx")
    folder = tmp_path / "bare"
    folder.mkdir()
    for name in names:
        shutil.copy(conv_artifacts / name, folder / name)
    assert not choose(folder / names[0], (16, 16), 1, cache_dir=tmp_path).cached
    assert choose(folder / names[0], (16, 16), 1, cache_dir=tmp_path).cached
    for name in names:  # the same names, another model's files
        shutil.copy(PRETRAINED_DIR / name.replace("model", "live"), folder / name)
    assert not choose(folder / names[0], (16, 16), 1, cache_dir=tmp_path).cached


def test_a_cpu_named_alike_with_other_instructions_is_measured_again(conv_artifacts, tmp_path,
                                                                     monkeypatch):
    """"AMD EPYC" names a Zen 3 without VNNI and a Zen 4 with it, where another engine wins
    int8: a cache shared by both (a home on NFS, a resized instance) gave one's pick to the other.
    """
    import edgeae.runtime.auto as auto

    path = conv_artifacts / "model_int8.tflite"
    monkeypatch.setattr(auto, "cpu_model", lambda: "AMD EPYC")
    monkeypatch.setattr(auto, "cpu_identity", lambda: "family 25 model 1; AVX2")
    assert not choose(path, (16, 16), 1, cache_dir=tmp_path).cached
    assert choose(path, (16, 16), 1, cache_dir=tmp_path).cached
    monkeypatch.setattr(auto, "cpu_identity", lambda: "family 25 model 17; AVX2, AVX-512, VNNI")
    assert not choose(path, (16, 16), 1, cache_dir=tmp_path).cached


def test_a_detector_is_timed_at_the_size_it_scores_at():
    """Frames are resized to a detector's training size: timing it at the camera's 480x640
    ranked the engines at a size that never runs."""
    from edgeae.runtime.artifact import read_artifact_manifest
    from edgeae.runtime.auto import DEFAULT_FRAME, timed_frame

    live = read_artifact_manifest(PRETRAINED_DIR / "live_int8.onnx")
    detector = live.model_copy(update={
        "task": "detector", "data": live.data.model_copy(update={"image_size": (28, 28)})})
    assert timed_frame(detector, (480, 640), None, None) == (28, 28)
    assert timed_frame(detector, (480, 640), "score", (64, 48)) == (64, 48)  # --score-size
    assert timed_frame(detector, (480, 640), "score", "frame") == (480, 640)
    assert timed_frame(detector, (480, 640), "reconstruct", None) == (480, 640)
    assert timed_frame(live, None, "score", None) == DEFAULT_FRAME  # a denoiser scores frames


def test_auto_never_picks_another_models_file(conv_artifacts, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("model_int8.tflite", "model_int8.tflite.json"):
        shutil.copy(conv_artifacts / name, folder / name)
    stranger = PRETRAINED_DIR / "live_int8.onnx"  # same precision, another model
    shutil.copy(stranger, folder / "model_int8.onnx")
    shutil.copy(manifest_path_for(stranger), folder / "model_int8.onnx.json")
    choice = choose(folder / "model_int8.tflite", (16, 16), 1, cache_dir=tmp_path)
    assert {k.split(" on ")[1] for k in choice.timings_ms} == {"model_int8.tflite"}


def copy_artifacts(source, folder, *names: str):
    """Copy artifacts with their manifests into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        for path in (source / name, manifest_path_for(source / name)):
            shutil.copy(path, folder / path.name)
    return folder


def test_a_cached_choice_is_never_another_folders_file(conv_artifacts, tmp_path):
    names = ("model_int8.tflite", "model_int8.onnx")
    a, b = (copy_artifacts(conv_artifacts, tmp_path / x, *names) for x in "ab")
    cache = tmp_path / "cache"
    picked_a = choose(a / names[0], (16, 16), 1, cache_dir=cache)
    picked_b = choose(b / names[0], (16, 16), 1, cache_dir=cache)
    assert not picked_b.cached and picked_b.path.startswith(str(b.resolve()))
    # a file replaced beside it (here: another model's) is measured again, never trusted
    shutil.copy(PRETRAINED_DIR / "live_int8.onnx", a / "model_int8.onnx")
    shutil.copy(PRETRAINED_DIR / "live_int8.onnx.json", a / "model_int8.onnx.json")
    again = choose(a / names[0], (16, 16), 1, cache_dir=cache)
    assert not again.cached and again.path == str((a / names[0]).resolve())
    assert set(again.timings_ms) < set(picked_a.timings_ms)  # the ONNX file is no candidate


def test_a_threshold_is_set_on_the_files_beside_that_shared_it_and_auto_keeps_it(tmp_path,
                                                                                  caplog):
    folder = copy_artifacts(PRETRAINED_DIR, tmp_path / "live", "live_int8.tflite",
                            "live_int8.onnx", "live_fp32.onnx")
    path, onnx = folder / "live_int8.tflite", folder / "live_int8.onnx"
    assert set(siblings(path, rt.read_artifact_manifest(path))) == {path, onnx}
    code, _, err = run_cli("threshold", path, "--strategy", "fixed:0.5")
    assert code == 0, err  # the same model's int8 ONNX file decides alike; fp32 is its own
    assert "the same threshold set on live_int8.onnx (the same model" in caplog.text
    assert [rt.read_artifact_manifest(folder / name).threshold for name in
            ("live_int8.tflite", "live_int8.onnx", "live_fp32.onnx")] == [0.5, 0.5, None]
    edited = json.loads(manifest_path_for(onnx).read_text())  # a threshold set on one alone
    manifest_path_for(onnx).write_text(json.dumps({**edited, "threshold": 0.25}))
    assert list(siblings(path, rt.read_artifact_manifest(path))) == [path]
    assert rt.load(path, backend="auto", frame_size=(16, 16), task="score").threshold == 0.5


def test_a_threshold_set_without_the_json_records_the_files_digest(conv_artifacts, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(conv_artifacts / "model_int8.onnx", folder / "model_int8.onnx")  # no JSON
    code, _, err = run_cli("threshold", folder / "model_int8.onnx", "--strategy", "fixed:0.5")
    assert code == 0, err
    recorded = rt.read_artifact_manifest(folder / "model_int8.onnx").artifact
    assert recorded.sha256 is not None and recorded.size_bytes > 0
    shutil.copy(conv_artifacts / "model_fp32.onnx", folder / "model_int8.onnx")  # swapped
    code, _, err = run_cli("info", folder / "model_int8.onnx")
    assert code == 2 and "model_int8.onnx" in err, err


def test_a_fixed_size_file_beside_is_no_candidate_for_frames_of_any_size(conv_dir, tmp_path):
    out = tmp_path / "export"
    for extra in ((), ("--input-size", "16x16")):
        code, _, err = run_cli("export", conv_dir, "--format", "onnx", "--precision", "int8",
                               "--out", out, "--overwrite", *extra)
        assert code == 0, err
    names = sorted(p.name for p in out.glob("*.onnx"))
    assert names == ["model_int8.onnx", "model_int8_16x16.onnx"], names
    path = out / "model_int8.onnx"
    assert list(siblings(path, rt.read_artifact_manifest(path))) == [path]


def test_a_file_re_exported_from_a_float_file_counts_as_its_model():
    # the shipped ncnn files were converted from the fp32 ONNX files (`export --pretrained`),
    # so their manifests name that file, not model.keras, as their source
    fp32 = PRETRAINED_DIR / "live_fp32.onnx"
    param = PRETRAINED_DIR / "live_fp32.param"
    assert rt.read_artifact_manifest(param).artifact.source_model_sha256 == \
        rt.read_artifact_manifest(fp32).artifact.sha256
    expected = {"live_fp32.onnx", "live_fp32.tflite", "live_fp32.param"}
    for path in (fp32, param):
        assert {p.name for p in siblings(path, rt.read_artifact_manifest(path))} == expected
    int8 = PRETRAINED_DIR / "live_int8.onnx"  # the same model at another precision is not
    assert {p.name for p in siblings(int8, rt.read_artifact_manifest(int8))} == {
        "live_int8.onnx", "live_int8.tflite"}


def test_auto_through_the_cli_and_the_api(conv_artifacts, conv_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEAE_CACHE", str(tmp_path / "cache"))
    photos = write_folder(tmp_path / "photos", blobs(3))
    code, _, err = run_cli("denoise", "--pretrained", "live", "--backend", "auto", photos,
                           "--out", tmp_path / "clean")
    assert code == 0, err
    assert "--backend auto: " in err and "live_int8" in err and "480x640" in err
    assert len(list((tmp_path / "clean").rglob("*.png"))) == 3
    code, _, err = run_cli("reconstruct", "--model", conv_dir, "--backend", "auto", "--data",
                           photos, "--out", tmp_path / "recon")
    assert code == 0 and "--backend auto" not in err  # a model directory runs on Keras
    model = rt.load(conv_artifacts / "model_fp32.onnx", backend="auto", frame_size=(16, 16))
    frame = blobs(1)[0]
    assert model.reconstruct(frame[None].astype(np.float32) / 255).shape == (1, 16, 16, 1)
    assert (tmp_path / "cache" / CACHE_FILE).is_file()


def test_a_bad_run_option_is_refused_before_the_engines_are_timed(tmp_path, monkeypatch):
    """They had been timed for 7-10 s first, and their line printed before the error's; so had
    score's existing --out."""
    monkeypatch.setenv("EDGEAE_CACHE", str(tmp_path / "cache"))
    photos = write_folder(tmp_path / "photos", blobs(2))
    for bad in (["--side-by-side"], ["--output", str(tmp_path / "out.xyz")]):
        code, _, err = run_cli("run", "--pretrained", "live", "--source", photos, "--backend",
                               "auto", *bad)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "--backend auto" not in err and not (tmp_path / "cache").exists()
    (tmp_path / "scores.csv").write_text("path,score\n")
    code, _, err = run_cli("score", "--model", PRETRAINED_DIR / "live_int8.onnx", "--data",
                           photos, "--out", tmp_path / "scores.csv", "--backend", "auto")
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "cache").exists()


def test_a_cache_that_cannot_be_written_costs_only_the_timing(conv_artifacts, tmp_path,
                                                                monkeypatch, caplog):
    """A read-only home (a service's user) or a bad $EDGEAE_CACHE had ended OpenVINO's load
    in its own 'Couldn't create directory', and auto's after its timing in a PermissionError."""
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    monkeypatch.setenv("EDGEAE_CACHE", str(blocked))
    monkeypatch.delenv(UNCACHED_ENV, raising=False)  # and restored after the warning sets it
    frame = blobs(1, size=32)[0, ..., 0]
    if "openvino" in installed(".onnx"):
        model = rt.load(conv_artifacts / "model_fp32.onnx", backend="openvino", task="denoise")
        assert model.denoise(frame).shape == frame.shape
    auto = rt.load(conv_artifacts / "model_int8.onnx", backend="auto", frame_size=(32, 32),
                   task="denoise")
    assert auto.denoise(frame).shape == frame.shape
    assert "no cache in" in caplog.text and "set EDGEAE_CACHE to a writable folder" in caplog.text


def test_workers_warn_of_a_missing_cache_once_with_their_parent(tmp_path):
    """denoise --workers 2 printed the same warning three times, once in each process."""
    data = write_folder(tmp_path / "in", blobs(4, size=32))
    env = {**os.environ, "EDGEAE_CACHE": str(tmp_path / "a_file" / "cache")}
    (tmp_path / "a_file").write_text("")
    done = subprocess.run([sys.executable, "-m", "edgeae", "denoise", str(data), "--pretrained",
                           "live", "--backend", "auto", "--workers", "2", "--out",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("no cache in") == 1, done.stderr
