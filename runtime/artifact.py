"""A model's manifest without loading the model (no TensorFlow).

From beside or inside an exported artifact, or from a model directory.
"""

from __future__ import annotations

from pathlib import Path

from edgeae.core.errors import UserError
from edgeae.core.manifest import EMBEDDED_KEY, Manifest, manifest_path_for
from edgeae.core.modeldir import ModelDir
from edgeae.runtime.backends import choose_backend


def read_artifact_manifest(path: Path, backend: str | None = None) -> Manifest:
    """The manifest of an exported artifact: the JSON beside it, else the copy embedded in it."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a model directory; the runtime loads exported files: "
                        f"run `edgeae export {path} --out DIR` and load DIR/model_fp32.tflite")
    if not path.is_file():
        raise UserError(f"no such model file: {path}")
    beside = manifest_path_for(path)
    if beside.exists():
        manifest = Manifest.read(beside)
    else:
        embedded = choose_backend(path, backend).read_metadata(path).get(EMBEDDED_KEY)
        if embedded is None:
            raise UserError(f"{path} has no manifest: neither {beside.name} beside it nor one "
                            "embedded in it; copy the JSON that `edgeae export` wrote with it")
        manifest = Manifest.from_json(embedded, origin=f"the manifest embedded in {path}")
    if manifest.artifact is None:
        raise UserError(f"{beside} describes a Keras model, not an exported artifact; "
                        "re-export with `edgeae export`")
    return manifest



def read_manifest(model: Path) -> Manifest:
    """The manifest of a model directory or of an exported artifact, without loading a model."""
    if model.is_dir():
        return ModelDir.open(model).manifest
    return read_artifact_manifest(model)

