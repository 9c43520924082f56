"""Training: `model.fit` with Keras callbacks, resumable, writing a model directory.

A run killed half-way resumes from its last finished epoch when the same command is run again
(BackupAndRestore), so at most one epoch is lost.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import edgeae
from edgeae.core.architectures import ModelConfig
from edgeae.core.calibration import CALIBRATION_FILE, calibration_count, covering_subset
from edgeae.core.data import ImageSource
from edgeae.core.errors import UserError
from edgeae.core.files import atomic_path, file_digest, write_json, write_text
from edgeae.core.manifest import (
    MEMORY_FILE,
    PATCHES_FILE,
    DataSummary,
    InputSpec,
    Manifest,
    ScoreConfig,
    TrainingSummary,
)
from edgeae.core.modeldir import (
    HISTORY_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    RUN_SETTINGS,
    SAMPLES_FILE,
    WORK_DIR,
    ModelDir,
    check_out_replaceable,
    write_manifest,
)
from edgeae.core.tasks import TASKS
from edgeae.train.anomalies import anomaly_textures
from edgeae.train.callbacks import KLWarmup, TimeLimit
from edgeae.train.distribute import distribution_strategy
from edgeae.train.keras_backend import KerasSession, load_keras
from edgeae.train.memory import check_batch_fits
from edgeae.train.models import create_model, macs_per_pixel, make_config
from edgeae.train.noise import estimate_gaussian_sigma
from edgeae.train.noise_spec import gaussian_sigma
from edgeae.train.pipeline import (
    PipelineConfig,
    image_batches,
    split_indices,
    training_pairs,
)
from edgeae.train.quantize import with_fake_quant, without_fake_quant
from edgeae.train.settings import TrainSettings, check_settings, initial_weights_problem

log = logging.getLogger(__name__)

LOSSES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
          "bce": "binary_crossentropy"}
LOGS_DIR = "logs"  # TensorBoard's, written as the run goes
BACKUP_DIR = "backup"  # in WORK_DIR: Keras's BackupAndRestore's, each epoch
TRAINED_FILE = "trained.json"  # in WORK_DIR once fit ended: the model is being finished
ELAPSED_FILE = "elapsed.json"  # in WORK_DIR: training seconds by the last finished epoch
SWAP_FILE = "swapping"  # in WORK_DIR once what --out held is gone: the new files move in
# a UserError raised while tf.data reads (an image gone unreadable): its message, unwrapped
USER_ERROR_INSIDE = re.compile(r"UserError: ([^\n]+)")
# recorrupted training refuses data whose estimated noise is under one gray level: 8-bit
# rounding alone measures about 0.3 on smooth clean images, and such noise leaves nothing to learn
MIN_LEARNED_SIGMA = 1.0
N_SAMPLES = 64  # held-out images kept for export parity checks
CALIBRATION_POOL = 4  # calibration images are picked from this many times as many


def run_identity(settings: TrainSettings, source: ImageSource) -> str:
    """What an interrupted run must match to be resumed: its settings and the data it read."""
    data = {"source": source.name, "kind": source.kind, "images": len(source),
            "size": source.size, "channels": source.channels}
    return json.dumps({"settings": json.loads(settings.to_json()), "data": data}, indent=2)


def _prepare_out_dir(out: Path, identity: str, overwrite: bool) -> bool:
    """Make `out` ready; return True when an interrupted run there will be resumed.

    With `overwrite`, what `out` holds (a trained model) stays until the new one is complete
    (`_finish` replaces it), so an interrupted run destroys nothing; the same command then
    resumes it, like any interrupted run. Only an earlier run's TensorBoard logs go at once.
    """
    work = out / WORK_DIR
    settings_file = work / RUN_SETTINGS
    check_out_replaceable(out, overwrite)
    if settings_file.exists() and settings_file.read_text() == identity:
        if _backup_readable(work / BACKUP_DIR):
            return True
        log.warning("the interrupted run's backup in %s cannot be read (cut short by a crash "
                    "or a full disk?); starting the run over", work / BACKUP_DIR)
    elif settings_file.exists() and not overwrite:
        raise UserError(f"{out} holds an interrupted run with other settings or data; rerun "
                        "it with the same options to resume, or pass --overwrite to start "
                        "over")
    for stale in (work, out / LOGS_DIR):
        if stale.exists():
            shutil.rmtree(stale)
    work.mkdir(parents=True, exist_ok=True)
    write_text(settings_file, identity, overwrite=True)
    return False


def _backup_readable(backup: Path) -> bool:
    """Whether an interrupted run's backup weights open; True when there are none."""
    import h5py  # Keras's weights format

    for copy in backup.glob("*.weights.h5"):
        try:
            with h5py.File(copy, "r"):
                pass
        except OSError:
            return False
    return True


def _best_val_loss(history: Path) -> float | None:
    """Lowest finite val_loss logged so far (to keep the best checkpoint across a resume)."""
    if not history.exists():
        return None
    with open(history, newline="") as fh:
        values = [float(r["val_loss"]) for r in csv.DictReader(fh) if r.get("val_loss")]
    finite = [v for v in values if np.isfinite(v)]
    return min(finite) if finite else None


def _saved_best(work: Path, fitted: keras.Model) -> Path:
    """The best checkpoint; the last weights where no epoch improved on a resumed best.

    A run whose validation loss was never finite (it diverged from the start) is an error, not
    a model: its weights are NaN, and NaN passes no gate honestly.
    """
    if _best_val_loss(work / HISTORY_FILE) is None:  # (Keras checkpoints a first NaN epoch)
        raise UserError("training diverged: the validation loss was never a number (NaN); "
                        "lower --learning-rate and train again (--overwrite)")
    best = work / MODEL_FILE
    if not best.exists():
        fitted.save(best)
    return best


def _callbacks(out: Path, settings: TrainSettings,
               extra: Sequence[keras.callbacks.Callback]) -> list[keras.callbacks.Callback]:
    work = out / WORK_DIR
    callbacks = [
        # one copy: one cut short starts the run over (_prepare_out_dir); Keras's second copy
        # would resume an epoch back while history.csv kept that epoch's row (logged twice)
        keras.callbacks.BackupAndRestore(str(work / BACKUP_DIR)),
        keras.callbacks.ModelCheckpoint(
            str(work / MODEL_FILE), monitor="val_loss", save_best_only=True,
            initial_value_threshold=_best_val_loss(work / HISTORY_FILE)),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience),
        # min_delta=0: Keras's default 1e-4 is absolute, larger than a whole epoch's progress
        # at denoising losses of ~1e-3, and would halve the rate every few epochs regardless
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, min_delta=0.0,
                                          patience=max(1, settings.patience // 2), min_lr=1e-5),
        keras.callbacks.CSVLogger(str(work / HISTORY_FILE), append=True),
        keras.callbacks.TerminateOnNaN(),  # the best finite checkpoint is kept
        *extra,
    ]
    warmup = getattr(make_config(settings.architecture, settings.params), "kl_warmup_epochs", 0)
    if warmup:
        callbacks.append(KLWarmup(warmup))
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(out / LOGS_DIR)))
    return callbacks


def _val_summary(history: Path) -> tuple[int, float | None, float | None]:
    """(epochs run, best val_loss, val_mse at that epoch) from the CSV log."""
    with open(history, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return 0, None, None
    best = min(rows, key=lambda r: float(r["val_loss"]))
    return len(rows), float(best["val_loss"]), float(best["val_mse"])


def build_manifest(source: ImageSource, settings: TrainSettings, image_shape: tuple[int, int, int],
                   n_train: int, n_val: int, history: Path, seconds: float) -> Manifest:
    """The manifest of a finished run."""
    config = make_config(settings.architecture, settings.params)
    h, w, c = image_shape
    epochs_run, best_val, val_mse = _val_summary(history)
    return Manifest(
        edgeae_version=edgeae.__version__,
        task=settings.task,
        architecture=settings.architecture,
        params=config,
        input=InputSpec(height=h if config.fixed_size else None,
                        width=w if config.fixed_size else None, channels=c,
                        color_order="gray" if c == 1 else "rgb",
                        size_multiple=config.size_multiple(), frames=config.input_frames(),
                        recurrent=config.is_recurrent()),
        data=DataSummary(source=source.name, kind=source.kind, n_train=n_train, n_val=n_val,
                         image_size=source.size, patch_size=settings.patch_size,
                         class_names=source.class_names, value_range=source.value_range,
                         label_column=source.series and source.series.label_column,
                         normal_label=source.series and source.series.normal_label,
                         every=source.every if source.kind == "video" else None),
        training=TrainingSummary(loss=settings.loss, epochs=settings.epochs,
                                 epochs_run=epochs_run, batch_size=settings.batch_size,
                                 learning_rate=settings.learning_rate, seed=settings.seed,
                                 val_split=settings.val_split, patience=settings.patience,
                                 patches_per_image=settings.patches_per_image,
                                 best_val_loss=best_val, val_mse=val_mse,
                                 noise=settings.noise, camera_truth=settings.camera_truth,
                                 self_supervised=settings.self_supervised,
                                 initial_weights=settings.initial_weights,
                                 initial_weights_sha256=settings.initial_weights and file_digest(
                                     Path(settings.initial_weights)),
                                 quantization_aware=settings.quantization_aware,
                                 fake_quant=settings.fake_quant if settings.quantization_aware
                                 else None,
                                 anomaly_source=settings.anomaly_source,
                                 strategy=settings.strategy, seconds=round(seconds, 2)),
        score=settings.score,
    )


def train(source: ImageSource, out: str | Path, settings: TrainSettings = TrainSettings(),
          overwrite: bool = False, callbacks: Sequence[keras.callbacks.Callback] = (),
          verbose: int | str = "auto", cache: str | Path | None = None) -> Manifest:
    """Train `settings.architecture` on `source` and write a model directory to `out`.

    `cache`: a folder where decoded images are kept after the first epoch (and found again by
    later runs on the same data); it changes speed, never results, so it is not a setting.
    """
    out = Path(out)
    settings = with_mask_score(settings)
    check_settings(settings)  # fail on bad params before any work
    if settings.anomaly_source:  # an empty or missing folder fails now, not at the first batch
        anomaly_textures(settings.anomaly_source, source.channels)
    settings = with_data_noise(settings, source)
    strategy = distribution_strategy(settings.strategy)  # a bad TF_CONFIG fails before any write
    settings.check_out_apart_from_inputs(out, source.name)
    # --out is made (or emptied by --overwrite) once all below works, so a failure deletes
    # nothing and leaves no "interrupted run"; a video's tail validates (frames near copies)
    gap = settings.pipeline().frames - 1 if source.kind == "video" else None
    train_idx, val_idx = split_indices(len(source), settings.val_split, settings.seed, gap,
                                       TASKS[settings.task].min_train)
    keras.utils.set_random_seed(settings.seed)
    cfg = replace(settings.pipeline(), cache=None if cache is None else Path(cache))
    train_images = image_batches(source, train_idx, cfg, training=True)
    val_images = image_batches(source, val_idx, cfg, training=False)
    h, w, channels = train_images.element_spec.shape[1:]
    shape = (h, w, channels // cfg.frames)  # one frame's; a temporal model stacks K of them
    config = make_config(settings.architecture, settings.params)
    # a batch is never more than the training images
    try:
        model, fitted = _compiled(settings, config, shape, strategy,
                                  min(cfg.batch_size, len(train_idx)))
    except tf.errors.ResourceExhaustedError as exc:  # its weights alone: a traceback before
        raise UserError(f"the model does not fit in this machine's memory ({_oom_shape(exc)}):"
                        " lower --hidden, --filters, --latent-dim or --image-size") from None
    log.info("%s: %s parameters, %s multiply-accumulates per pixel; %d replica(s)",
             settings.architecture, f"{model.count_params():,}", f"{macs_per_pixel(model):,.0f}",
             strategy.num_replicas_in_sync)
    if _prepare_out_dir(out, run_identity(settings, source), overwrite):
        log.warning("resuming the interrupted run in %s", out)
    seconds = _trained_seconds(out / WORK_DIR)
    if seconds is None:  # else the interrupted run had finished training: finish the model
        run = _Run(fitted, model, config, cfg, settings, out / WORK_DIR)
        with _nothing_left_if_no_epoch_ends(out):
            seconds = run.fit(train_images, val_images, _callbacks(out, settings, callbacks),
                              (1 if sys.stderr.isatty() else 2) if verbose == "auto" else verbose)
    return _finish(out, source, settings, shape, (train_idx, val_idx), seconds)


@contextmanager
def _nothing_left_if_no_epoch_ends(out: Path) -> Iterator[None]:
    """A run that fails (a UserError) before any epoch ends leaves no run to resume in `out`.

    Its work folder had stayed: the retry its own message advised (a smaller --image-size
    after running out of memory) was refused as "an interrupted run with other settings".
    """
    try:
        yield
    except UserError:
        if not (out / WORK_DIR / ELAPSED_FILE).exists():
            for made in (out / WORK_DIR, out / LOGS_DIR):
                shutil.rmtree(made, ignore_errors=True)
            if not any(out.iterdir()):
                out.rmdir()
        raise


def _trained_seconds(work: Path) -> float | None:
    """The training seconds of a run whose fit had ended (its files in `work`), else None."""
    done = work / TRAINED_FILE
    return json.loads(done.read_text())["seconds"] if done.exists() else None


@dataclass
class _Run:
    """One fit into the work folder, ending with the files a model directory needs there."""

    fitted: keras.Model
    model: keras.Model
    config: ModelConfig
    cfg: PipelineConfig
    settings: TrainSettings
    work: Path

    def fit(self, train_images, val_images, callbacks: list, verbose: int | str) -> float:
        """Train, keep the best weights, samples and calibration images; the seconds it took.

        It ends by writing TRAINED_FILE, so a run stopped while the model is finished (a
        detector's threshold takes a while) resumes there instead of training again.
        """
        start, before = time.monotonic(), _seconds_before(self.work)
        for callback in callbacks:
            if isinstance(callback, TimeLimit):
                callback.spent_before = before
        elapsed = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: write_json(
            self.work / ELAPSED_FILE, {"seconds": before + time.monotonic() - start}, True))
        try:
            self.fitted.fit(training_pairs(train_images, self.cfg, training=True),
                            validation_data=training_pairs(val_images, self.cfg, training=False),
                            epochs=self.settings.epochs, callbacks=[elapsed, *callbacks],
                            shuffle=False, verbose=verbose)  # tf.data already shuffles
        except tf.errors.ResourceExhaustedError as exc:
            raise UserError(f"training ran out of memory ({_oom_shape(exc)}): lower "
                            "--batch-size, --image-size or --patch-size") from None
        except tf.errors.OpError as exc:  # our own error, raised inside tf.data's reading
            inner = USER_ERROR_INSIDE.search(str(exc))
            if inner is None:
                raise
            raise UserError(inner[1]) from None
        seconds = before + time.monotonic() - start
        best = _saved_best(self.work, self.fitted)
        if self.settings.quantization_aware:  # export the plain architecture, learned weights
            without_fake_quant(keras.saving.load_model(best, compile=False), self.model).save(best)
        if self.config.is_recurrent():  # the model itself, not its unrolled training
            keras.saving.load_model(best, compile=False).get_layer(self.model.name).save(best)
        _save_images(self.work / SAMPLES_FILE, val_images, N_SAMPLES)
        h, w, channels = train_images.element_spec.shape[1:]
        n_calibration = calibration_count((h, w, channels))
        _save_images(self.work / CALIBRATION_FILE, _calibration_inputs(train_images, self.cfg),
                     CALIBRATION_POOL * n_calibration,
                     lambda pool: covering_subset(pool, n_calibration))
        write_json(self.work / TRAINED_FILE, {"seconds": seconds}, overwrite=True)
        return seconds


def _oom_shape(exc: tf.errors.ResourceExhaustedError) -> str:
    """What TensorFlow could not allocate, from its message ('a tensor of shape [1024, ...]')."""
    found = re.search(r"shape\s*\[[^\]]*\]", str(exc))
    return f"a tensor of {found[0]}" if found else "an allocation failed"


def _seconds_before(work: Path) -> float:
    """The training seconds an interrupted run spent in the epochs it resumes after."""
    try:
        return float(json.loads((work / ELAPSED_FILE).read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _compiled(settings: TrainSettings, config: ModelConfig, shape: tuple[int, int, int],
              strategy: tf.distribute.Strategy, batch: int) -> tuple[keras.Model, keras.Model]:
    """The model, and the model `fit` trains (a wrapper for some), compiled under `strategy`.

    One batch of `batch` images must fit in memory: checked before anything is written.
    """
    with strategy.scope():  # variables (model, optimizer) live on every replica
        model = create_model(settings.architecture, shape, settings.params)
        check_batch_fits(model, batch, shape[:2], strategy.num_replicas_in_sync)
        if settings.initial_weights:
            load_initial_weights(model, settings.initial_weights, config)
        fitted = _fitted(model, config, settings, shape[2])
        fitted.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                       loss=_loss(config, settings), metrics=["mse"])
    return model, fitted


def _loss(config: ModelConfig, settings: TrainSettings):
    """The Keras loss: the settings' one, or a mask-predicting model's own (restored + focal)."""
    if config.predicts_mask():
        from edgeae.train.models.draem import draem_loss

        return draem_loss
    return LOSSES[settings.loss]


def _calibration_inputs(images, cfg):
    """What int8 calibration sees: the training images, with anomalies for a mask predictor.

    A mask predictor's inner ranges must hold anomalous inputs too, or int8 clips the very
    activations that find them.
    """
    if not cfg.anomalies:
        return images
    return training_pairs(images, cfg, training=True).map(lambda pasted, target: pasted)


def with_mask_score(settings: TrainSettings) -> TrainSettings:
    """A mask predictor's detector draws its maps from the mask (train/detector.py: MASK_SCORE).

    A score with mask maps is taken as given (the CLI and Detector build it from MASK_SCORE).
    Any other is made MASK_SCORE (the mean of the smoothed map's top 1%, no k-NN part) with
    the fields that differ from the defaults it was made from applied (e.g. smooth=0).
    Without a threshold strategy it gets MASK_THRESHOLD.
    """
    config = make_config(settings.architecture, settings.params)
    if not config.predicts_mask() or settings.task != "detector":
        return settings
    from edgeae.train.detector import DEFAULT_SCORE, MASK_SCORE
    from edgeae.train.thresholds import MASK_THRESHOLD

    score = settings.score
    if score.maps != "mask":  # the defaults it was made from: TrainSettings' own, or Detector's
        given = ScoreConfig() if score == ScoreConfig() else DEFAULT_SCORE
        changed = {name: value for name, value in score if value != getattr(given, name)}
        score = MASK_SCORE.model_copy(update={**changed, "maps": "mask"})
    return replace(settings, score=score, threshold=settings.threshold or MASK_THRESHOLD)


def _fitted(model: keras.Model, config: ModelConfig, settings: TrainSettings,
            channels: int) -> keras.Model:
    """What `fit` trains: the model; with fake quantization; or a recurrent one unrolled."""
    if config.is_recurrent():
        from edgeae.train.inflate import train_only_new_layers
        from edgeae.train.recurrent import unrolled

        if settings.initial_weights:
            train_only_new_layers(model)
        model = unrolled(model, config.clip_frames(), channels)
    return with_fake_quant(model, settings.fake_quant) if settings.quantization_aware else model


def with_data_noise(settings: TrainSettings, source: ImageSource,
                    n_images: int = 32) -> TrainSettings:
    """Recorrupted training needs the Gaussian noise level of its data: given, or estimated.

    The estimate is the median over up to `n_images` images spread across the source, so it is
    the same every time the same data is trained on (a resumed run finds the same settings).
    """
    if settings.self_supervised != "recorrupted":
        return settings
    if settings.noise is not None:  # one Gaussian level, of something to learn
        if (given := gaussian_sigma(settings.noise)) < MIN_LEARNED_SIGMA:
            raise UserError(f"--noise {settings.noise}: recorrupted training needs noise of at "
                            f"least {MIN_LEARNED_SIGMA:g} gray level (levels are 0-255: "
                            f"gaussian:{given * 255:g} for {given:g} of 1)")
        return settings
    picks = np.unique(np.linspace(0, len(source) - 1, min(n_images, len(source))).astype(int))
    sigma = estimate_gaussian_sigma([source.read(int(i)) for i in picks])
    if sigma < MIN_LEARNED_SIGMA:
        raise UserError(f"found no noise in {source.name} to learn from (sigma {sigma:.2f} of "
                        "255); recorrupted training needs noisy images (or pass their level as "
                        "--noise gaussian:SIGMA)")
    log.info("estimated the noise in %s as Gaussian with sigma %.2f (0-255)", source.name, sigma)
    return replace(settings, noise=f"gaussian:{sigma:.4g}")


def load_initial_weights(model: keras.Model, path: str, config: ModelConfig | None = None) -> None:
    """Start from saved weights of the same architecture; a mismatch is a one-line error.

    `path` is a .weights.h5, an earlier run's model.keras (Keras reads the weights of either),
    or a float32 ONNX artifact (a shipped model: train/from_artifact.py).
    A temporal model starts from a single-frame one's weights (train/inflate.py).
    """
    problem = initial_weights_problem(path)
    if problem:
        raise UserError(problem)
    if path.lower().endswith(".onnx"):
        from edgeae.train.from_artifact import keras_from_onnx

        source, _ = keras_from_onnx(Path(path), tolerance=1e-4)
    else:
        source = _single_frame_twin(model, config) or model
        _load_weights_file(source, path)
    if source is not model:
        from edgeae.train.inflate import inflate_into

        inflate_into(model, source)
    log.info("starting from the weights in %s", path)


def _single_frame_twin(model: keras.Model, config: ModelConfig | None) -> keras.Model | None:
    """The single-frame model of a temporal model's configuration (None for any other model)."""
    if config is None or config.input_frames() == 1:
        return None
    m = config.size_multiple()
    shape = (m, m, model.input_shape[3] // config.input_frames())
    return create_model(config.architecture, shape,
                        config.model_copy(update={"frames": 1, "recurrent": False}))


def _load_weights_file(model: keras.Model, path: str) -> None:
    """model.load_weights, with a mismatch as a one-line error."""
    with warnings.catch_warnings(record=True) as skipped:  # Keras warns of layers it left out
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            problem = next((str(w.message) for w in skipped
                            if issubclass(w.category, UserWarning)), None)
        except (ValueError, OSError, KeyError) as exc:
            problem = str(exc).strip() or type(exc).__name__
    if problem:
        reason = problem.splitlines()[0]
        raise UserError(f"--initial-weights {path} does not fit this {model.name} model "
                        f"({reason}); pass the same --model and --size it was trained with, "
                        "on images of as many channels (gray or colour)") from None


def _save_images(path: Path, batches, n: int, choose=lambda images: images) -> None:
    """Save up to `n` images of a batched dataset (after `choose`) as float32 .npy."""
    images = np.stack([x.numpy() for x in batches.unbatch().take(n)])
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, choose(images).astype(np.float32))


def _finish(out: Path, source: ImageSource, settings: TrainSettings,
            shape: tuple[int, int, int], split: tuple[np.ndarray, np.ndarray],
            seconds: float) -> Manifest:
    """Complete the model in the work folder, then move its files into place, the manifest last.

    What --overwrite replaces is kept until the new model is complete: a detector's threshold
    (its normal images' score statistics, and side files) is set before anything is replaced.
    A run stopped while the files move is finished by the same command (_swap_in).
    """
    work = out / WORK_DIR
    if not (work / SWAP_FILE).exists() and not (work / MANIFEST_FILE).exists():
        _complete_in_work(work, source, settings, shape, split, seconds)
    _swap_in(out, work)
    shutil.rmtree(work)
    manifest = Manifest.read(out / MANIFEST_FILE)
    log.info("trained %s in %.1f s: best val_loss %s -> %s", settings.architecture, seconds,
             manifest.training.best_val_loss, out)
    return manifest


def _complete_in_work(work: Path, source: ImageSource, settings: TrainSettings,
                      shape: tuple[int, int, int], split: tuple[np.ndarray, np.ndarray],
                      seconds: float) -> None:
    """The manifest (a detector's threshold set) written beside the new files in `work`."""
    train_idx, val_idx = split
    manifest = build_manifest(source, settings, shape, len(train_idx), len(val_idx),
                              work / HISTORY_FILE, seconds)
    if TASKS[settings.task].scored:
        from edgeae.train.thresholds import DEFAULT_THRESHOLD, calibrated

        session = KerasSession(load_keras(ModelDir(work, manifest)))
        manifest = calibrated(manifest, session, source, train_idx, val_idx,
                              settings.threshold or DEFAULT_THRESHOLD, settings.seed, work)
        log.info("threshold %s = %.6g", manifest.threshold_strategy, manifest.threshold)
    write_manifest(work, manifest)


def _swap_in(out: Path, work: Path) -> None:
    """Remove what `out` held (but the run's work and logs), then move the new files in.

    Each step can be done again: SWAP_FILE marks the old files gone, a file moved is no longer
    in `work`, and the manifest comes last, so `out` is no finished model directory until the
    swap is whole. A run stopped in the middle had left a folder its own command could not
    finish (the history it read had moved), the old model gone.
    """
    if not (work / SWAP_FILE).exists():
        for old in out.iterdir():
            if old.name in (WORK_DIR, LOGS_DIR):
                continue
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        write_text(work / SWAP_FILE, "", overwrite=True)
    for name in (MODEL_FILE, HISTORY_FILE, SAMPLES_FILE, CALIBRATION_FILE, MEMORY_FILE,
                 PATCHES_FILE, MANIFEST_FILE):
        if (work / name).exists():
            os.replace(work / name, out / name)
