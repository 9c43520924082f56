"""The model directory: the unit that moves through the pipeline.

    model_dir/
      model.keras     the trained Keras model (best validation epoch)
      manifest.json   task, architecture, input, normalisation, data and training summary
      samples.npy     held-out validation images, for export parity checks
      calibration.npy training images covering the brightness range, for int8 calibration
      history.csv     per-epoch losses (Keras CSVLogger)

manifest.json is written last, so its presence marks a complete directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from edgeae.core.calibration import CALIBRATION_FILE
from edgeae.core.errors import UserError, first_line
from edgeae.core.files import cached_sha256, refuse_replacing_a_home, write_text
from edgeae.core.manifest import Manifest

MODEL_FILE = "model.keras"
MANIFEST_FILE = "manifest.json"
SAMPLES_FILE = "samples.npy"
HISTORY_FILE = "history.csv"
WORK_DIR = ".work"  # backups, best checkpoint and history of a training run in progress
RUN_SETTINGS = "settings.json"  # in WORK_DIR: what a resumed run must match


def check_out_replaceable(out: Path, overwrite: bool) -> None:
    """What a training --out holds that needs --overwrite: a model, or files of no run.

    An interrupted run there (its settings in WORK_DIR) is left to the training, which resumes
    it or refuses it by those settings. Needs no Keras, so the command checks it first.
    """
    if overwrite:  # it empties --out of all but the run's work
        refuse_replacing_a_home(out)
    if overwrite or not out.is_dir():
        return
    if (out / MANIFEST_FILE).exists():
        raise UserError(f"{out} already holds a trained model; pass --overwrite to replace it")
    if not (out / WORK_DIR / RUN_SETTINGS).exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose a new --out or pass --overwrite")


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Write a model directory's manifest last, recording its model.keras's SHA-256."""
    manifest = manifest.model_copy(update={"model_sha256": cached_sha256(folder / MODEL_FILE)})
    write_text(folder / MANIFEST_FILE, manifest.to_json(), overwrite=True)
    return manifest


@dataclass(frozen=True)
class ModelDir:
    """A complete model directory with a validated manifest."""

    path: Path
    manifest: Manifest
    # a directory rebuilt from an exported float32 file (train/from_artifact.py): its digest
    source_sha256: str | None = None

    @classmethod
    def open(cls, path: str | Path) -> ModelDir:
        """Open and validate; every problem is a one-line UserError."""
        path = Path(path)
        if not path.exists():
            raise UserError(f"no such model directory: {path}")
        if not path.is_dir():
            raise UserError(f"{path} is a file; pass the model directory `edgeae train` wrote")
        if not (path / MANIFEST_FILE).is_file():
            raise UserError(f"{path} has no {MANIFEST_FILE}: not a finished edgeae model directory "
                            "(was training interrupted? run the same train command to resume)")
        manifest = Manifest.read(path / MANIFEST_FILE)
        if not (path / MODEL_FILE).is_file():
            raise UserError(f"{path} has no {MODEL_FILE}; train the model again")
        if manifest.model_sha256 and cached_sha256(path / MODEL_FILE) != manifest.model_sha256:
            raise UserError(f"{path / MODEL_FILE} is not the model its manifest was written for "
                            "(SHA-256 differs: replaced, or cut short); restore it or train again")
        return cls(path, manifest)

    @cached_property
    def model_sha256(self) -> str:
        """Digest of model.keras (or of the file it was rebuilt from), traced by artifacts."""
        return self.source_sha256 or cached_sha256(self.path / MODEL_FILE)  # hashed once by open

    def samples(self) -> np.ndarray:
        """The validation images saved at training time, float32 NHWC in [0, 1]."""
        return self._images(SAMPLES_FILE, "train the model again")

    def calibration(self) -> np.ndarray:
        """The training images saved for int8 calibration, float32 NHWC in [0, 1]."""
        return self._images(CALIBRATION_FILE, "pass --calibration DATA or train the model again")

    def _images(self, name: str, remedy: str) -> np.ndarray:
        path = self.path / name
        try:
            images = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty file
            raise UserError(f"{path} is missing or unreadable ({first_line(exc)}); "
                            f"{remedy}") from None
        if images.ndim != 4 or images.dtype != np.float32 or not len(images):
            raise UserError(f"{path} holds {images.dtype} {images.shape}, not float32 NHWC "
                            f"images; {remedy}")
        spec = self.manifest.input
        temporal = spec.frames > 1 or spec.recurrent  # clips: frames stacked on the channels
        channels = images.shape[3] == spec.channels or (temporal and
                                                        images.shape[3] % spec.channels == 0)
        if not channels or spec.fixed_size not in (None, images.shape[1:3]):
            raise UserError(f"{path} holds images of shape {images.shape[1:]}, which the model "
                            f"({spec.describe()}) does not take: it belongs to another model; "
                            f"{remedy}")
        if not np.isfinite(images).all():
            raise UserError(f"{path} holds NaN or infinity; {remedy}")
        return images
