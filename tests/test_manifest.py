"""The manifest: validated round trip and clear errors for anything else."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from edgeae.core.errors import UserError
from edgeae.core.manifest import (
    DataSummary,
    InputSpec,
    Manifest,
    Normalization,
    TrainingSummary,
)


def sample() -> Manifest:
    return Manifest(edgeae_version="0.1.0", task="autoencoder", architecture="conv",
                    params={"filters": [16, 8]},
                    input=InputSpec(channels=1, color_order="gray", size_multiple=4),
                    data=DataSummary(source="x", kind="folder", n_train=9, n_val=1),
                    training=TrainingSummary(loss="mse", epochs=2, epochs_run=2, batch_size=4,
                                             learning_rate=1e-3, seed=0))


def test_round_trip(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(sample().to_json())
    assert Manifest.read(path) == sample()


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"hello": 1}), "not an edgeae manifest"),
    (json.dumps([1, 2]), "not an edgeae manifest"),
])
def test_foreign_or_corrupt(tmp_path, text, message):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        Manifest.read(path)


@pytest.mark.parametrize("threshold", [float("nan"), float("inf")])
def test_a_threshold_no_command_would_take_is_refused_on_reading(tmp_path, threshold):
    """`info` verifies a manifest by reading it: a NaN threshold passed there ("verified")
    while every command that applies it refused it."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**json.loads(sample().to_json()), "threshold": threshold}))
    with pytest.raises(UserError, match="the threshold must be a finite number"):
        Manifest.read(path)
    path.write_text(json.dumps({**json.loads(sample().to_json()), "threshold": 0.25}))
    assert Manifest.read(path).threshold == 0.25


def test_schema_version_and_fields(tmp_path):
    raw = json.loads(sample().to_json())
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**raw, "schema_version": 99}))
    with pytest.raises(UserError, match="schema_version 99"):
        Manifest.read(path)
    path.write_text(json.dumps({**raw, "surprise": True}))
    with pytest.raises(UserError, match="invalid at surprise"):
        Manifest.read(path)
    raw["input"]["channels"] = 2
    path.write_text(json.dumps(raw))
    with pytest.raises(UserError, match="invalid at input.channels"):
        Manifest.read(path)
    with pytest.raises(UserError, match="manifest not found"):
        Manifest.read(tmp_path / "absent.json")


def test_artifact_records_its_memory_file(tmp_path):
    from edgeae.core.manifest import ArtifactInfo, FileRecord, side_path_for

    memory = tmp_path / "model_int8.memory.npy"
    memory.write_bytes(b"descriptors")
    assert side_path_for(tmp_path / "model_int8.tflite", "memory") == memory
    assert side_path_for(tmp_path / "model_int8.onnx", "patches").name == "model_int8.patches.npy"
    record = FileRecord.of(memory)
    assert (record.name, record.size_bytes) == ("model_int8.memory.npy", 11)
    info = ArtifactInfo(format="tflite", precision="int8", file="model_int8.tflite",
                        source_model_sha256="0" * 64, memory=record)
    path = tmp_path / "m.json"
    path.write_text(sample().model_copy(update={"artifact": info}).to_json())
    assert Manifest.read(path).artifact.memory == record
    raw = json.loads(path.read_text())
    for field, value in (("name", "../memory.npy"), ("sha256", "not hex")):
        raw["artifact"]["memory"][field] = value
        path.write_text(json.dumps(raw))
        with pytest.raises(UserError, match=f"invalid at artifact.memory.{field}"):
            Manifest.read(path)
        raw["artifact"]["memory"] = record.model_dump()


def test_recurrent_models_before_schema_9_read_as_the_per_pixel_fusion():
    """A version 8 file of a recurrent U-Net rebuilds the fusion it was trained with."""
    raw = json.loads(sample().to_json())
    recurrent = {"size": "tiny", "frames": 2, "recurrent": True}
    raw.update(architecture="unet", params=recurrent, schema_version=8)
    assert Manifest.model_validate(raw).params.fusion == "pixels"
    current = {**raw, "schema_version": 9}
    assert Manifest.model_validate(current).params.fusion == "blocks"
    single = {**raw, "params": {"size": "tiny"}}
    assert "fusion" not in json.loads(Manifest.model_validate(single).to_json())["params"]


def test_patch_detectors_before_schema_10_keep_their_full_descriptors():
    from edgeae.core.manifest import PATCH_DIMS

    raw = json.loads(sample().to_json())
    raw["score"] = {**raw["score"], "maps": "patch"}
    raw["score"]["patch"].pop("dims")
    assert Manifest.model_validate({**raw, "schema_version": 9}).score.patch.dims == 0
    assert Manifest.model_validate(raw).score.patch.dims == PATCH_DIMS
    del raw["score"]
    assert Manifest.model_validate({**raw, "schema_version": 9}).score.patch.dims == 0


def test_patch_detectors_before_schema_12_describe_every_block():
    from edgeae.core.manifest import PATCH_DIMS, PATCH_STRIDE

    raw = json.loads(sample().to_json())
    raw["score"] = {**raw["score"], "maps": "patch"}
    raw["score"]["patch"].pop("stride")
    assert Manifest.model_validate({**raw, "schema_version": 11}).score.patch.stride == 1
    raw["score"]["patch"].pop("dims")  # a version 9 file: neither field, both as they were
    older = Manifest.model_validate({**raw, "schema_version": 9}).score.patch
    assert (older.dims, older.stride) == (0, 1)
    assert Manifest.model_validate(raw).score.patch.dims == PATCH_DIMS
    assert Manifest.model_validate(raw).score.patch.stride == PATCH_STRIDE
    raw["score"]["patch"]["stride"] = 3
    assert Manifest.model_validate({**raw, "schema_version": 11}).score.patch.stride == 3


# an adaptation as schema 10 wrote it: each later version added one field
ADAPTATION_10 = {
    "start": "pretrained:live", "start_sha256": "0" * 64, "footage": "clip.mp4", "frames": 8,
    "train_pairs": 5, "val_pairs": 1, "mask_coverage": 0.9, "flow": "DIS",
    "val_loss_before": 0.002, "val_loss_after": 0.001, "kept": True}


def test_adaptations_before_schema_11_took_their_loss_in_srgb():
    raw = json.loads(sample().to_json())
    raw["training"]["adaptation"] = dict(ADAPTATION_10)
    adaptation = Manifest.model_validate({**raw, "schema_version": 10}).training.adaptation
    assert adaptation.loss_space == "srgb"
    raw["training"]["adaptation"]["loss_space"] = "linear"
    assert Manifest.model_validate(raw).training.adaptation.loss_space == "linear"


def test_adaptations_before_schema_15_learned_from_the_next_frame():
    raw = json.loads(sample().to_json())
    raw["training"]["adaptation"] = {**ADAPTATION_10, "loss_space": "linear"}
    assert Manifest.model_validate({**raw, "schema_version": 14}).training.adaptation.targets \
        == "next"
    raw["training"]["adaptation"]["targets"] = "both"
    assert Manifest.model_validate(raw).training.adaptation.targets == "both"
    with pytest.raises(ValueError, match="targets"):
        Manifest.model_validate({**raw, "training": {**raw["training"], "adaptation": {
            **raw["training"]["adaptation"], "targets": "all"}}})


def test_adaptations_before_schema_16_took_their_brightness_from_the_footage():
    raw = json.loads(sample().to_json())
    raw["training"]["adaptation"] = {**ADAPTATION_10, "loss_space": "linear", "targets": "both"}
    assert Manifest.model_validate({**raw, "schema_version": 15}).training.adaptation \
        .brightness == "footage"
    raw["training"]["adaptation"]["brightness"] = "live-camera"
    assert Manifest.model_validate(raw).training.adaptation.brightness == "live-camera"


@pytest.mark.parametrize("values", [{"scale": 0.0}, {"scale": -1 / 255}, {"scale": float("nan")},
                                    {"offset": float("inf")}])
def test_a_normalization_that_maps_no_pixel_back_is_refused(values):
    """A scale of 0 divided by zero in the runtime; NaN made every pixel white, and both were
    exported and verified."""
    with pytest.raises(ValidationError):
        Normalization(**values)


def test_a_manifest_saved_with_a_bom_reads_and_a_boolean_version_does_not():
    """Notepad saves UTF-8 with a byte-order mark (a threshold edited there was 'not valid
    JSON'); `true` passed as schema version 1."""
    text = sample().to_json()
    assert Manifest.from_json("\ufeff" + text) == sample()
    raw = json.loads(text)
    with pytest.raises(UserError, match="has schema_version True"):
        Manifest.from_json(json.dumps({**raw, "schema_version": True}))
