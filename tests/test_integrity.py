"""Artifacts that prove who they are: every file an artifact needs is checked against its manifest.

A swapped, truncated, pickled or non-finite k-NN memory, or a JSON beside another model file, is
a one-line error (exit 2) on load, on `edgeae score` and on `edgeae info`, never a wrong score.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgeae.runtime as rt
from edgeae.core.errors import UserError
from edgeae.core.manifest import EMBEDDED_KEY, weights_path_for
from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.detector import Detector

from conftest import blobs, run_cli, write_folder

ART = "model_fp32.tflite"


def export(model_dir: Path, out: Path, *options: str) -> Path:
    """Export a model directory to TFLite through the CLI (fp32 unless told otherwise)."""
    code, _, err = run_cli("export", model_dir, "--format", "tflite", "--out", out,
                           *(options or ("--precision", "fp32")))
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def detectors(tmp_path_factory) -> dict:
    """Two tiny k-NN detectors trained on different images (memories of one shape), exported."""
    root = tmp_path_factory.mktemp("integrity")
    found = {"images": write_folder(root / "images", blobs(8, seed=7))}
    for name, seed in (("a", 0), ("b", 1)):
        model_dir = root / f"det_{name}"
        Detector(epochs=1, batch_size=16, seed=seed).fit(blobs(48, seed=seed), out=model_dir)
        found[name] = model_dir
        found[f"{name}_export"] = export(model_dir, root / f"export_{name}")
    return found


@pytest.fixture()
def folder(detectors, tmp_path) -> Path:
    """A copy of detector a's export folder, free to damage."""
    return Path(shutil.copytree(detectors["a_export"], tmp_path / "export"))


def memory_file(folder: Path) -> Path:
    """The one k-NN memory file in an export folder, whatever it is called."""
    (path,) = folder.glob("*memory.npy")
    return path


def as_legacy(folder: Path) -> Path:
    """The export as edgeae wrote it before files were recorded: shared memory.npy, no record,
    and no manifest embedded in the file (a JSON that drops a record the embedded copy keeps is
    an edited one, refused)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray((folder / ART).read_bytes()))
    model.metadata = [m for m in model.metadata or [] if m.name != EMBEDDED_KEY.encode()]
    data = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    (folder / ART).write_bytes(data)
    beside = folder / f"{ART}.json"
    raw = json.loads(beside.read_text())
    raw["artifact"].pop("memory", None)
    raw["artifact"].update(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    beside.write_text(json.dumps(raw))
    memory_file(folder).rename(folder / "memory.npy")
    return folder / "memory.npy"


def one_line_error(*args: object) -> str:
    """Run the CLI; assert exit 2 with exactly one stderr line and no traceback; return it."""
    code, _, err = run_cli(*args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
    return lines[0]


def score_error(folder: Path, images: Path, tmp_path: Path) -> str:
    """`edgeae score` with the artifact in `folder`: its one-line error."""
    return one_line_error("score", "--model", folder / ART, "--data", images, "--out",
                          tmp_path / "scores.csv")


def refused(folder: Path, match: str, images: Path, tmp_path: Path) -> None:
    """Loading, scoring and `info` all refuse the artifact with `match` in one line."""
    with pytest.raises(UserError, match=match):
        rt.load(folder / ART)
    for line in (score_error(folder, images, tmp_path), one_line_error("info", folder / ART)):
        assert re.search(match, line), line


@pytest.mark.slow
def test_memory_swapped_with_another_detectors_is_refused(detectors, folder, tmp_path):
    other = np.load(detectors["b"] / "memory.npy")
    assert other.shape == np.load(memory_file(folder)).shape  # same shape: only a digest tells
    shutil.copy(detectors["b"] / "memory.npy", memory_file(folder))
    refused(folder, "memory.npy does not match .*SHA-256", detectors["images"], tmp_path)
    (folder / f"{ART}.json").unlink()  # the copy embedded in the artifact records it too
    refused(folder, "memory.npy does not match the manifest embedded in", detectors["images"],
            tmp_path)
    memory_file(folder).unlink()
    refused(folder, "memory.npy is missing", detectors["images"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["recorded", "legacy"])
def test_non_finite_memory_is_refused(detectors, folder, tmp_path, legacy):
    path = as_legacy(folder) if legacy else memory_file(folder)
    np.save(path, np.full(np.load(path).shape, np.nan, np.float16))
    refused(folder, "not finite" if legacy else "SHA-256", detectors["images"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["recorded", "legacy"])
def test_truncated_memory_is_refused(detectors, folder, tmp_path, legacy):
    path = as_legacy(folder) if legacy else memory_file(folder)
    path.write_bytes(path.read_bytes()[:1000])
    refused(folder, "unreadable" if legacy else r"is 1000 bytes.*records \d+",
            detectors["images"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("content, message", [
    (np.array([{"descriptors": 1}], dtype=object), "unreadable.*pickle"),
    (np.ones((40, 784), np.int32), "int32.*not float"),
    (np.ones((40, 783), np.float16), r"\(40, 783\).*784 numbers"),
    (np.ones(784, np.float16), r"\(784,\).*784 numbers"),
], ids=["pickled", "integer", "width", "one-dimensional"])
def test_malformed_legacy_memory_is_refused(detectors, folder, tmp_path, content, message):
    assert np.load(memory_file(folder)).shape[1] == 784  # 16x16 images in 2-pixel HOG cells
    np.save(as_legacy(folder), content, allow_pickle=True)
    refused(folder, message, detectors["images"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("damage, message", [
    (lambda path: path.write_bytes(path.read_bytes()[:1000]), "unreadable"),
    (lambda path: np.save(path, np.full((4, 784), np.inf, np.float16)), "not finite"),
], ids=["truncated", "infinite"])
def test_a_model_directorys_damaged_memory_is_refused(detectors, tmp_path, damage, message):
    model_dir = Path(shutil.copytree(detectors["a"], tmp_path / "det"))
    damage(model_dir / "memory.npy")
    for args in (("score", "--model", model_dir, "--data", detectors["images"], "--out",
                  tmp_path / "scores.csv"), ("export", model_dir, "--out", tmp_path / "export"),
                 ("info", model_dir)):
        assert message in one_line_error(*args)
    with pytest.raises(UserError, match=message):
        Detector.load(model_dir)


@pytest.mark.slow
def test_stale_json_beside_another_model_file_is_refused(detectors, folder, tmp_path):
    images = detectors["images"]
    shutil.copy(detectors["b_export"] / ART, folder / ART)  # detector b's model, a's JSON
    refused(folder, rf"{ART} is \d+ bytes but .*{ART}.json records \d+ .*re-export", images,
            tmp_path)
    data = bytearray((detectors["a_export"] / ART).read_bytes())
    data[len(data) // 2] ^= 1  # the same size: only the digest tells
    (folder / ART).write_bytes(bytes(data))
    refused(folder, f"{ART} does not match .*{ART}.json .*SHA-256.*re-export", images, tmp_path)
    (folder / ART).write_bytes(bytes(data[:5000]))
    refused(folder, rf"{ART} is 5000 bytes but .*{ART}.json records", images, tmp_path)


@pytest.mark.slow
def test_an_edited_json_is_refused_but_a_new_threshold_is_not(detectors, folder, tmp_path):
    """The digest covers the artifact, not its JSON: the JSON must agree with the copy inside."""
    beside = folder / f"{ART}.json"
    original = json.loads(beside.read_text())
    edits = (("task", "denoiser"), ("input", {**original["input"], "channels": 3}),
             # scored by other settings or at another size: scores changed without a word
             ("score", {**original["score"], "norm": [0, 1e-6, 0, 1]}),
             ("data", {**original["data"], "image_size": [32, 32]}),
             # its records deleted: another model's files were then verified as "not recorded"
             ("artifact.memory", {**original["artifact"], "memory": None}),
             ("artifact.sha256", {**original["artifact"], "sha256": None}))
    for field, value in edits:
        beside.write_text(json.dumps({**original, field.split(".")[0]: value}))
        refused(folder, rf"{ART}.json does not match the manifest embedded in {ART} "
                        rf"\({field} differs\): it was edited", detectors["images"], tmp_path)
    beside.write_text(json.dumps({**original, "threshold": 123.0}))  # what `threshold` writes
    assert rt.load(folder / ART).threshold == 123.0
    beside.unlink()  # the embedded copy alone is the manifest then
    assert rt.load(folder / ART).threshold == original["threshold"]


@pytest.mark.slow
def test_two_detectors_exported_into_one_folder_keep_their_own_memory(detectors, folder):
    export(detectors["b"], folder, "--precision", "fp16")
    a, b = rt.load(folder / ART), rt.load(folder / "model_fp16.tflite")
    np.testing.assert_array_equal(a.memory, np.load(detectors["a"] / "memory.npy"))
    np.testing.assert_array_equal(b.memory, np.load(detectors["b"] / "memory.npy"))
    assert sorted(p.name for p in folder.glob("*memory.npy")) == [
        "model_fp16.memory.npy", "model_fp32.memory.npy"]


def shape_of(memory: Path) -> str:
    """A memory's shape as `info` gives it: 43x784."""
    return "x".join(map(str, np.load(memory).shape))


@pytest.mark.slow
def test_info_verifies_every_file(detectors):
    code, out, err = run_cli("info", detectors["a_export"] / ART)
    assert code == 0 and json.loads(out)["artifact"]["memory"]["name"] == "model_fp32.memory.npy"
    shape = shape_of(detectors["a"] / "memory.npy")
    assert err.strip() == ("edgeae: verified model_fp32.tflite (size, SHA-256), "
                           f"model_fp32.memory.npy (size, SHA-256; {shape} finite)")
    code, _, err = run_cli("info", detectors["a"])  # a model directory records its model
    assert code == 0
    assert err.strip() == ("edgeae: verified model.keras (SHA-256), memory.npy (not recorded; "
                           f"{shape} finite)")


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "another model's"])
def test_a_model_directorys_changed_model_file_is_refused(detectors, tmp_path, damage):
    """`info` said "verified" of a model.keras cut short or swapped for another's, and every
    command loaded it: its digest is recorded (schema 22) and checked on every open."""
    model_dir = Path(shutil.copytree(detectors["a"], tmp_path / "det"))
    model = model_dir / "model.keras"
    if damage == "truncated":
        model.write_bytes(model.read_bytes()[:1000])
    else:
        shutil.copy(detectors["b"] / "model.keras", model)
    for args in (("info", model_dir), ("export", model_dir, "--out", tmp_path / "export")):
        assert "is not the model its manifest was written for (SHA-256 differs" in \
            one_line_error(*args)


@pytest.mark.slow
def test_old_manifest_without_the_record_still_loads(detectors, folder, tmp_path):
    images = blobs(6, seed=9)
    expected = rt.load(folder / ART).score_batch(images).score
    memory = as_legacy(folder)
    np.testing.assert_allclose(rt.load(folder / ART).score_batch(images).score, expected)
    code, _, err = run_cli("info", folder / ART)
    assert code == 0 and f"memory.npy (not recorded; {shape_of(memory)} finite)" in err, err


@pytest.mark.parametrize("path", sorted(p for p in PRETRAINED_DIR.iterdir()
                                        if p.suffix in (".tflite", ".onnx", ".xml", ".param")),
                         ids=lambda p: p.name)
def test_shipped_pretrained_files_verify_and_a_changed_byte_is_caught(path, tmp_path):
    code, out, err = run_cli("info", path)
    weights = weights_path_for(path)
    files = [path.name, *([weights.name] if weights else [])]
    verified = ", ".join(f"{name} (size, SHA-256)" for name in files)
    assert code == 0 and err.strip() == f"edgeae: verified {verified}", err
    frame = rt.load(path).denoise(blobs(1, size=32)[0])
    assert frame.shape == (32, 32, 1) and frame.dtype == np.uint8
    copy = tmp_path / path.name
    shutil.copy(path.with_name(f"{path.name}.json"), tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    assert "does not match" in one_line_error("info", copy)


def test_digests_are_cached_by_path_size_and_mtime(tmp_path, monkeypatch):
    from edgeae.core import files

    calls = []
    monkeypatch.setattr(files, "file_digest", lambda p: calls.append(p) or f"digest{len(calls)}")
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert files.cached_sha256(path) == files.cached_sha256(path) == "digest1"
    path.write_bytes(b"abcd")  # another size: hashed again
    assert files.cached_sha256(path) == "digest2" and len(calls) == 2


def test_no_run_output_replaces_a_file_the_detector_needs(detectors, folder):
    """`run --events FILE --overwrite` had emptied the detector's memory beside it."""
    memory = memory_file(folder)
    before = memory.read_bytes()
    for option in ("--events", "--output"):
        line = one_line_error("run", "--model", folder / ART, "--source", detectors["images"],
                              option, memory, "--overwrite")
        assert "would write over a file the model needs" in line, line
    assert memory.read_bytes() == before
