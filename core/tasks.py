"""The tasks a model is trained for, as one table: what each one means to every stage.

A manifest's `task` names a row. Training, the export's parity inputs, the runtime's default
use, the benchmark's quality metric and the report's sample rows read the row instead of
branching on the name; adding a task is a row here (and its model class, if it has a new use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Metric = Literal["mse", "psnr", "auroc"]


@dataclass(frozen=True)
class Task:
    """What a task's model does, and how it is fed, judged and shown."""

    name: str
    use: str  # the runtime's default use of its artifacts: reconstruct, denoise or score
    metric: Metric  # the benchmark's quality measure: MSE, PSNR against clean, AUROC on labels
    noisy_inputs: bool = False  # parity and report inputs carry the training noise
    whole_images: bool = False  # a fixed-size model reconstructs whole images, never tiles
    scored: bool = False  # training calibrates an anomaly score and a threshold
    parts: tuple[str, ...] = ("model",)  # what `edgeae export --part` may convert
    report_rows: tuple[str, ...] = ("input", "output")  # the report's sample rows, in order
    # images to train on, at least: a threshold scores each training image without itself
    min_train: int = 1

    @property
    def frame_use(self) -> str:
        """What `edgeae run`'s loop does with a frame: score, or denoise (also an autoencoder's)."""
        return "score" if self.use == "score" else "denoise"


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("autoencoder", "reconstruct", "mse", whole_images=True),
    Task("denoiser", "denoise", "psnr", noisy_inputs=True,
         report_rows=("noisy input", "denoised", "clean")),
    Task("detector", "score", "auroc", scored=True,
         report_rows=("input", "reconstruction", "anomaly map"), min_train=2),
    Task("vae", "reconstruct", "mse", whole_images=True, parts=("model", "decoder", "encoder")),
)}


