"""A model's manifest without loading the model (no TensorFlow), its files checked against it.

From beside or inside an exported artifact, or from a model directory. Every file an artifact
needs (itself, an OpenVINO IR's weights, a detector's memory and patches) must have the size and
SHA-256 its manifest records.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeae.core.errors import UserError
from edgeae.core.files import check_recorded
from edgeae.core.manifest import (
    EMBEDDED_KEY,
    SIDE_FILES,
    Manifest,
    manifest_path_for,
    weights_path_for,
)
from edgeae.core.modeldir import MANIFEST_FILE, ModelDir
from edgeae.runtime.backends import BACKENDS, choose_backend


def read_artifact_manifest(path: Path, backend: str | None = None) -> Manifest:
    """The manifest of an exported artifact: the JSON beside it, else the copy embedded in it.

    The artifact and the files it needs are checked against it first: a one-line UserError
    names any file that is missing, truncated or another than the one exported.
    """
    path = Path(path)
    if path.is_dir() and not (path / MANIFEST_FILE).is_file():
        raise UserError(f"{path} is a folder, not a model file: give an exported .tflite, "
                        ".onnx, .xml or .param file")
    if path.is_dir():
        raise UserError(f"{path} is a model directory; the runtime loads exported files: "
                        f"run `edgeae export {path} --out DIR` and load DIR/model_fp32.tflite")
    if not path.is_file():
        raise UserError(f"no such model file: {path}")
    if any(b.runs(path) and not b.exported for b in BACKENDS.values()):  # model.keras
        folder = path.parent if (path.parent / MANIFEST_FILE).is_file() else "its model directory"
        raise UserError(f"{path} is a Keras model, not an exported file: give {folder} where a "
                        "command takes one (denoise, score, reconstruct), or export that: "
                        "`edgeae export DIR --out OUT`")
    beside = manifest_path_for(path)
    if beside.exists():
        manifest, origin = Manifest.read(beside), str(beside)
    else:
        embedded = choose_backend(path, backend).read_metadata(path).get(EMBEDDED_KEY)
        if embedded is None:
            raise UserError(f"{path} has no manifest: neither {beside.name} beside it nor one "
                            "embedded in it; copy the JSON that `edgeae export` wrote with it")
        origin = f"the manifest embedded in {path}"
        manifest = Manifest.from_json(embedded, origin=origin)
    if manifest.artifact is None:
        raise UserError(f"{beside} describes a Keras model, not an exported artifact; "
                        "re-export with `edgeae export`")
    for file, size, sha256 in recorded_files(path, manifest):
        check_recorded(file, size, sha256, origin)
    return manifest


# What the runtime feeds a model by and reads its output as: the JSON beside an artifact must
# say what the copy embedded in it says (a threshold, or the training record, may differ)
EDITABLE = ("threshold", "threshold_strategy")  # what `edgeae threshold` rewrites in the JSON
OWN_DIGEST = ("size_bytes", "sha256")  # the artifact's own: its JSON alone can record them


def check_matches_embedded(manifest: Manifest, metadata: Callable[[], dict[str, str]],
                           path: Path) -> None:
    """A one-line UserError where the JSON beside `path` contradicts the copy embedded in it.

    (Its digest covers the artifact, not the JSON: an edited or swapped JSON would feed the
    model wrongly shaped or scaled frames, treat a denoiser as a detector, score by other
    settings or size, or verify nothing, its records of the files deleted.) Every field is
    compared but the threshold, which `edgeae threshold` sets, and the artifact's own digest,
    which only the JSON can hold (and must). Without a JSON beside there is nothing to check,
    and `metadata` (the artifact's) is not read; formats that embed nothing (ncnn) and files
    from before the copy was embedded are not checked.
    """
    if not manifest_path_for(path).exists():
        return
    text = metadata().get(EMBEDDED_KEY)
    if text is None:
        return
    embedded = Manifest.from_json(text, origin=f"the manifest embedded in {path}")
    differ = [name for name in type(manifest).model_fields if name not in (*EDITABLE, "artifact")
              and getattr(manifest, name) != getattr(embedded, name)]
    if manifest.artifact is not None and embedded.artifact is not None:
        differ += [f"artifact.{name}" for name in type(manifest.artifact).model_fields
                   if name not in OWN_DIGEST
                   and getattr(manifest.artifact, name) != getattr(embedded.artifact, name)]
        differ += [f"artifact.{name}" for name in OWN_DIGEST
                   if getattr(manifest.artifact, name) is None]  # deleted: nothing verified
    if differ:
        raise UserError(f"{manifest_path_for(path)} does not match the manifest embedded in "
                        f"{Path(path).name} ({', '.join(differ)} "
                        f"{'differs' if len(differ) == 1 else 'differ'}): it was edited or "
                        "belongs to another file; restore the JSON `edgeae export` wrote, or "
                        "delete it to use the embedded one")


def recorded_files(path: Path, manifest: Manifest) -> list[tuple[Path, int | None, str | None]]:
    """(file, size, SHA-256) of each file the artifact at `path` needs, as its manifest records.

    The artifact itself is checked under its own name (a renamed copy keeps its digest); None
    marks what the manifest does not record (the copy embedded in a file has no digest of it).
    """
    info, weights = manifest.artifact, manifest.artifact.weights
    files = [(Path(path), info.size_bytes, info.sha256)]
    if weights is not None:  # read under the graph's name, as the engine reads it
        files.append((weights_path_for(path) or Path(path).parent / weights.name,
                      weights.size_bytes, weights.sha256))
    for record in filter(None, (getattr(info, kind) for kind in SIDE_FILES)):
        files.append((Path(path).parent / record.name, record.size_bytes, record.sha256))
    return files


def read_manifest(model: Path) -> Manifest:
    """The manifest of a model directory or of an exported artifact, without loading a model."""
    if model.is_dir():
        return ModelDir.open(model).manifest
    return read_artifact_manifest(model)


def artifact_bytes(path: Path) -> int:
    """The bytes an artifact occupies: its file and, for an IR, the weights beside it."""
    weights = weights_path_for(path)
    return Path(path).stat().st_size + (weights.stat().st_size if weights else 0)
