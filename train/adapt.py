"""`edgeae adapt`: tune a denoiser to a camera from its noisy footage alone (frame-to-frame).

The footage's frames, in time order, give pairs (frame t, its neighbours t-1 and t+1 warped
onto it and averaged, the mask of pixels where the flow can be trusted; train/frame_pairs.py).
The model is fine-tuned on random patches of those pairs with the masked squared error; the
footage's last frames are held out, and the same masked loss on them decides when to stop and
whether to keep the tuning at all: if no epoch beats the starting model's loss there, the
starting weights are written unchanged (and the manifest says so). The loss prefers a slightly
blurred output to the true frame, so the content keep-test also refuses a tuning
whose held-out output has less image content than the start's (settings.py KEEP_TESTS).
No clean frame is ever needed.

The footage's own mean is darker than the scene (the tone curve bends a camera's noise, and the
sensor clips it at zero; BENCHMARKS.md, "Which truth?"), and frame-to-frame training learns that
mean. With `settings.brightness` naming a shipped denoiser, or "choose" (the default for gray
models: of the shipped camera models, the one whose output on the held-out pairs the footage
finds nearest, nearest_brightness_model), the loss also holds the tuned output's blurred values
to that model's (BRIGHTNESS_*): the footage teaches the noise, the camera model the brightness.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import cv2
import keras
import numpy as np

import edgeae
from edgeae.core.calibration import CALIBRATION_FILE, calibration_count, covering_subset
from edgeae.core.data import ImageSource
from edgeae.core.files import atomic_dir
from edgeae.core.images import to_uint8, to_unit_float
from edgeae.core.manifest import (
    Adaptation,
    DataSummary,
    Manifest,
    PassPrecision,
    Targets,
    TrainingSummary,
)
from edgeae.core.metrics import paired_content
from edgeae.core.modeldir import HISTORY_FILE, MODEL_FILE, SAMPLES_FILE, write_manifest
from edgeae.core.progress import progress
from edgeae.runtime import Denoiser
from edgeae.runtime import load as load_runtime
from edgeae.runtime.backends import BACKENDS
from edgeae.runtime.pretrained import pretrained_path
from edgeae.train.callbacks import TimeLimit
from edgeae.train.camera import srgb_to_linear
from edgeae.train.frame_pairs import (
    NEIGHBOURS,
    FramePairs,
    adaptable_size,
    as_gray_u8,
    check_frame_count,
    frame_pairs,
    paired_frames,
    split_frames,
)
from edgeae.train.settings import BRIGHTNESS_MODELS, AdaptSettings, brightness_source

log = logging.getLogger(__name__)

FLOW = "OpenCV DIS (medium) between the model's denoised frames, forward-backward checked"
VAL_CROP = 256  # validation crops' largest side
N_SAMPLES = 64  # held-out crops kept for export parity checks
# with a brightness model, the squared error between the tuned output and that model's output,
# each blurred by a Gaussian of BRIGHTNESS_BLUR px, joins the loss at BRIGHTNESS_WEIGHT against
# the frame-to-frame error's 1, so at the slowest frequencies the output settles about 10/11 of
# the way from the footage's darker mean to that model's brightness; the blur leaves the finer
# detail to the footage (both set by that reasoning; a 4-px blur lost 0.02-0.14 dB at every level
# of benchmarks/adapt_brightness_blur.py's validation clip, coded and uncoded)
BRIGHTNESS_BLUR = 2.0
BRIGHTNESS_WEIGHT = 10.0
# "choose": the band (px, between two Gaussian blurs) where the candidates' held-out outputs are
# compared with the footage: from the hold's blur up to where the footage's darker mean begins
BRIGHTNESS_BAND = (BRIGHTNESS_BLUR, 8.0)
# the shipped models' passes over the footage before training (the start's output the flow
# reads, the brightness model's output): per precision of the ONNX file they run, the engines
# tried in order (onnxruntime ships with the runtime; OpenVINO with `train`, and runs int8 faster)
PASS_ENGINES: dict[str, tuple[str, ...]] = {"fp32": ("onnxruntime",),
                                            "int8": ("openvino", "onnxruntime")}


@dataclass(frozen=True)
class Start:
    """The model adaptation starts from, and how to name it in the manifest."""

    model: keras.Model
    manifest: Manifest
    name: str  # "pretrained:live" or a model directory
    sha256: str
    # the shipped model it is (runtime/pretrained.py), whose exported files denoise the frames
    # for the flow faster than Keras; None: Keras does it
    shipped: str | None = None

    def denoiser(self, precision: PassPrecision) -> Callable[[np.ndarray], np.ndarray]:
        """What gives the starting model's output for an NHWC float batch (before tuning)."""
        if self.shipped is not None:
            return pass_model(self.shipped, precision).session.run
        return lambda batch: np.asarray(self.model.predict_on_batch(batch))


def pass_model(shipped: str, precision: PassPrecision) -> Denoiser:
    """A shipped model's ONNX file at `precision`, opened by its first installed PASS_ENGINES.

    With none installed, the last is named, and loading it says what to install.
    """
    engines = PASS_ENGINES[precision]
    engine = next((name for name in engines if BACKENDS[name].available()), engines[-1])
    return load_runtime(pretrained_path(shipped, engine, precision), backend=engine)


def read_frames(source: ImageSource, multiple: int, max_frames: int | None) -> list[np.ndarray]:
    """The footage's frames in order as uint8 HWC, cropped to sides the model accepts."""
    h, w = adaptable_size(source.size, multiple, source.name)
    n = len(source) if max_frames is None else min(len(source), max_frames)
    check_frame_count(n, source.name)
    return [to_uint8(source.read(i)[:h, :w])
            for i in progress(range(n), total=n, desc="reading frames", min_total=50)]


def denoised_guides(start: Start, frames: list[np.ndarray],
                    precision: PassPrecision) -> list[np.ndarray]:
    """The starting model's denoised frames as uint8 planes: what the optical flow reads."""
    denoise, guides = start.denoiser(precision), []
    for frame in progress(frames, total=len(frames), desc="denoising for flow", min_total=20):
        guides.append(as_gray_u8(denoise(to_unit_float(frame)[None])[0]))
    return guides


def held_to(brightness: str, precision: PassPrecision, *pairs: FramePairs) -> list[FramePairs]:
    """The pairs with shipped model `brightness`'s output beside each input."""
    model = pass_model(brightness, precision)
    return [with_anchors(p, model.denoise) for p in pairs]


def with_anchors(pairs: FramePairs, denoise: Callable[[np.ndarray], np.ndarray]) -> FramePairs:
    """The pairs with `denoise` of each input beside it (uint8, like the inputs)."""
    outputs = [denoise(x) for x in
               progress(pairs.inputs, total=len(pairs), desc="brightness model", min_total=20)]
    return replace(pairs, anchors=np.stack(outputs))


def linear_light(x, ops=keras.ops):
    """Linear light of sRGB values clipped to [0, 1], in Keras ops (one side of a loss) or numpy."""
    return srgb_to_linear(ops.clip(x, 0.0, 1.0), ops)


# where the frame-to-frame error is measured: the frames' own sRGB values, or linear light
LOSS_SPACES = {"srgb": lambda x, ops=keras.ops: x, "linear": linear_light}


def masked_loss(space: str = "srgb", anchored: bool = False):
    """Mean squared error in `space` over the pixels whose mask (y_true's last channel) is 1.

    y_true is the target, then (`anchored`) the brightness model's output, then the mask; an
    anchored loss adds the blurred error against that output (BRIGHTNESS_BLUR, _WEIGHT).
    """
    to_space = LOSS_SPACES[space]

    def masked_mse(y_true, y_pred):
        channels = y_pred.shape[-1]
        target, mask = to_space(y_true[..., :channels]), y_true[..., -1:]
        squared = keras.ops.sum(mask * keras.ops.square(to_space(y_pred) - target),
                                axis=(1, 2, 3))
        kept = keras.ops.sum(mask, axis=(1, 2, 3)) * float(channels)
        loss = squared / keras.ops.maximum(kept, 1.0)
        if anchored:
            anchor = to_space(y_true[..., channels:2 * channels])
            loss = loss + BRIGHTNESS_WEIGHT * blurred_mse(to_space(y_pred) - anchor,
                                                          BRIGHTNESS_BLUR)
        return loss

    return masked_mse


def blurred_mse(difference, sigma: float):
    """Per-sample mean square of an NHWC difference blurred by a Gaussian of `sigma` px."""
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    kernel = np.tile(np.outer(taps, taps)[..., None, None], (1, 1, difference.shape[-1], 1))
    blurred = keras.ops.depthwise_conv(difference, kernel.astype("float32"), padding="same")
    return keras.ops.mean(keras.ops.square(blurred), axis=(1, 2, 3))


def as_training_arrays(inputs: np.ndarray, targets: np.ndarray, masks: np.ndarray,
                       anchors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) for Keras: float inputs; targets, any anchors and the mask as y's channels."""
    x = to_unit_float(inputs)
    extra = [] if anchors is None else [to_unit_float(anchors)]
    y = np.concatenate([to_unit_float(targets), *extra, masks.astype(np.float32)], axis=-1)
    return x, y


class PatchPairs(keras.utils.PyDataset):
    """Random square patches of the training pairs, flipped and rotated alike in x and y."""

    def __init__(self, pairs: FramePairs, settings: AdaptSettings) -> None:
        super().__init__()
        self.pairs, self.settings = pairs, settings
        self.rng = np.random.default_rng(settings.seed)

    def __len__(self) -> int:
        return self.settings.steps_per_epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        s, (n, h, w, _) = self.settings, self.pairs.inputs.shape
        p = min(s.patch_size, h, w)
        picks = [(self.rng.integers(n), self.rng.integers(h - p + 1), self.rng.integers(w - p + 1),
                  self.rng.integers(8)) for _ in range(s.batch_size)]
        crops = [None if a is None else
                 np.stack([_orient(a[i, y:y + p, x:x + p], turn) for i, y, x, turn in picks])
                 for a in self.pairs.arrays()]
        return as_training_arrays(*crops)


def _orient(patch: np.ndarray, turn: int) -> np.ndarray:
    """One of the eight flips and rotations of a square HWC patch."""
    patch = np.rot90(patch, turn % 4)
    return patch[:, ::-1] if turn >= 4 else patch


def validation_crops(pairs: FramePairs, multiple: int) -> FramePairs:
    """A centred crop of each held-out pair, at most VAL_CROP on a side (fast to evaluate)."""
    return pairs.subset((slice(None), *validation_window(pairs.inputs.shape[1:3], multiple)))


def validation_window(size: tuple[int, int], multiple: int) -> tuple[slice, slice]:
    """(rows, columns) of the centred crop `validation_crops` takes of an HxW frame."""
    h, w = size
    ch, cw = (min(side, VAL_CROP) // multiple * multiple for side in (h, w))
    top, left = (h - ch) // 2, (w - cw) // 2
    return slice(top, top + ch), slice(left, left + cw)


class KeepBest(keras.callbacks.Callback):
    """Remember the weights of the epoch with the lowest validation loss (in memory)."""

    def __init__(self, baseline: float) -> None:
        super().__init__()
        self.best, self.weights = baseline, None

    def on_epoch_end(self, epoch: int, logs=None) -> None:  # noqa: D102 - a Keras hook
        loss = (logs or {}).get("val_loss")
        if loss is not None and loss < self.best:
            self.best, self.weights = float(loss), self.model.get_weights()


@dataclass(frozen=True)
class Tuning:
    """What fine-tuning did: the held-out loss (and content) before and at its best; kept?"""

    before: float
    after: float
    epochs: int
    content: tuple[float, float] | None = None  # Q before and after, under the content test

    @property
    def kept(self) -> bool:
        """Kept only when the tuned weights pass the keep-test (settings.py KEEP_TESTS).

        Where no tile of either output has an edge (Q is NaN) the content cannot judge, and the
        loss decides alone.
        """
        lost_content = self.content is not None and self.content[1] < self.content[0]
        return self.after < self.before and not lost_content

    @property
    def saved_loss(self) -> float:
        """The held-out loss of the weights written: the tuned ones' if kept, else the start's.

        The lower of the two had been recorded, a rejected tuning's among them.
        """
        return self.after if self.kept else self.before


def tune(model: keras.Model, train: FramePairs, val: FramePairs, settings: AdaptSettings,
         history: Path, verbose: int | str = "auto") -> Tuning:
    """Fine-tune `model` in place; it ends with its best weights if they pass the keep-test."""
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss=masked_loss(settings.loss_space, anchored=train.anchors is not None))
    val_x, val_y = as_training_arrays(*val.arrays())
    before = float(model.evaluate(val_x, val_y, batch_size=settings.batch_size, verbose=0))
    log.info("held-out frame-to-frame loss of the starting model: %.6g", before)
    start_weights, keep = model.get_weights(), KeepBest(before)
    callbacks = [keep, TimeLimit(settings.minutes), keras.callbacks.CSVLogger(str(history)),
                 keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience)]
    if verbose == "auto":
        verbose = 1 if sys.stderr.isatty() else 2
    start_outputs = _outputs(model, val_x, settings)
    fitted = model.fit(PatchPairs(train, settings), validation_data=(val_x, val_y),
                       validation_batch_size=settings.batch_size, epochs=settings.max_epochs,
                       callbacks=callbacks, verbose=verbose)
    content = None
    if start_outputs is not None and keep.weights is not None:
        model.set_weights(keep.weights)
        content = paired_content(start_outputs, _outputs(model, val_x, settings))
    tuning = Tuning(before, keep.best, len(fitted.epoch), content)
    model.set_weights(keep.weights if tuning.kept else start_weights)
    return tuning


def _outputs(model: keras.Model, val_x: np.ndarray, settings: AdaptSettings) -> np.ndarray | None:
    """The model's held-out outputs, where the keep-test judges them (the content test)."""
    if settings.keep != "content":
        return None
    return np.asarray(model.predict(val_x, batch_size=settings.batch_size, verbose=0))


def adapt(start: Start, source: ImageSource, out: Path, settings: AdaptSettings | None = None,
          overwrite: bool = False, verbose: int | str = "auto") -> Manifest:
    """Tune `start.model` to the footage in `source`; write the model directory `out`."""
    began, settings = time.monotonic(), settings or AdaptSettings()
    settings = replace(settings, brightness=brightness_source(settings.brightness,
                                                              start.manifest.input.channels))
    keras.utils.set_random_seed(settings.seed)
    multiple = start.manifest.input.size_multiple
    with timed("read the footage"):
        frames = read_frames(source, multiple, settings.max_frames)
    train, val, brightness = training_pairs(start, frames, settings)
    val = validation_crops(val, multiple)
    log.info("%d training and %d held-out pairs; the flow is trusted on %.0f%% of pixels",
             len(train), len(val), 100 * train.coverage())
    with atomic_dir(Path(out), overwrite) as tmp:
        tuning = tune(start.model, train, val, settings, tmp / HISTORY_FILE, verbose)
        start.model.save(tmp / MODEL_FILE)
        _save_crops(tmp / SAMPLES_FILE, val.inputs[:N_SAMPLES])
        pool = validation_crops(train, multiple).inputs
        _save_crops(tmp / CALIBRATION_FILE, covering_subset(
            pool, calibration_count(pool.shape[1:])))
        manifest = adapted_manifest(start, source, (len(frames), train, val), settings, tuning,
                                    time.monotonic() - began, brightness)
        manifest = write_manifest(tmp, manifest)
    _log_outcome(tuning, out)
    return manifest


def training_pairs(start: Start, frames: list[np.ndarray],
                   settings: AdaptSettings) -> tuple[FramePairs, FramePairs, Brightness]:
    """The training and held-out pairs of the footage's frames, and where the brightness is from.

    Each stage's time is logged: without a terminal no progress bar shows, so the log says where
    the minutes before training went (a service's or a nohup run's log).
    """
    reach = max(abs(o) for o in NEIGHBOURS[settings.targets])
    train_part, val_part = split_frames(len(frames), settings.holdout, reach)
    with timed(f"denoised {len(frames)} frames for the flow ({settings.passes} files)"):
        guides = denoised_guides(start, frames, settings.passes)
    pairs_of = partial(frame_pairs, warp=settings.warp, targets=settings.targets,
                       space=settings.loss_space)
    with timed(f"computed the optical flow between {len(frames)} frames"):
        train = pairs_of(frames[train_part], guides[train_part])
        val = pairs_of(frames[val_part], guides[val_part])
    if settings.brightness == "footage":
        return train, val, Brightness("footage")
    anchored = partial(anchored_pairs, start, guides, settings)
    if settings.brightness != "choose":
        return *anchored(settings.brightness, (train_part, train), (val_part, val)), \
            Brightness(settings.brightness)
    brightness, val = nearest_brightness_model(anchored, val_part, val, settings.loss_space)
    (train,) = anchored(brightness.model, (train_part, train))
    return train, val, brightness


@dataclass(frozen=True)
class Brightness:
    """Where the tuned output's brightness comes from: a shipped model, or "footage"."""

    model: str
    losses: dict[str, float] | None = None  # chosen by the footage: each candidate's band loss


def anchored_pairs(start: Start, guides: list[np.ndarray], settings: AdaptSettings, name: str,
                   *parts: tuple[slice, FramePairs]) -> list[FramePairs]:
    """Each (frames, pairs) part with shipped model `name`'s output beside its inputs."""
    if name == start.shipped and start.manifest.input.channels == 1:
        log.info("the brightness model is the start: its pass for the flow gives its outputs")
        return [anchored_by(pairs, guides[frames], settings.targets) for frames, pairs in parts]
    with timed(f"denoised the pairs with {name} for the brightness ({settings.passes} files)"):
        return held_to(name, settings.passes, *(pairs for _, pairs in parts))


def nearest_brightness_model(anchored: Callable[..., list[FramePairs]], frames: slice,
                             val: FramePairs, space: str) -> tuple[Brightness, FramePairs]:
    """The BRIGHTNESS_MODELS member whose output is nearest the held-out targets, and its pairs.

    Compared in BRIGHTNESS_BAND over the pixels the flow trusts: the detail the hold passes,
    above the scale of the footage's darker mean (benchmarks/adapt_brightness_choice.py).
    """
    held = {name: anchored(name, (frames, val))[0] for name in BRIGHTNESS_MODELS}
    losses = {name: band_loss(pairs, space) for name, pairs in held.items()}
    chosen = min(losses, key=losses.get)
    log.info("brightness from %s: its held-out output is nearest the footage between %g and "
             "%g px (%s)", chosen, *BRIGHTNESS_BAND,
             ", ".join(f"{name} {loss:.4g}" for name, loss in losses.items()))
    return Brightness(chosen, losses), held[chosen]


def band_loss(pairs: FramePairs, space: str) -> float:
    """Masked mean square, in `space`, of anchor minus target band-passed by BRIGHTNESS_BAND."""
    to_space = LOSS_SPACES[space]
    total = 0.0
    for anchor, target, mask in zip(pairs.anchors, pairs.targets, pairs.masks):
        difference = to_space(to_unit_float(anchor), np) - to_space(to_unit_float(target), np)
        fine, coarse = (cv2.GaussianBlur(difference, (0, 0), sigma) for sigma in BRIGHTNESS_BAND)
        band = (fine - coarse).reshape(mask.shape[:2] + (-1,))
        total += float((mask * band ** 2).sum() / max(mask.sum() * band.shape[-1], 1.0))
    return total / max(len(pairs), 1)


def anchored_by(pairs: FramePairs, outputs: list[np.ndarray], targets: Targets) -> FramePairs:
    """The pairs with their frames' planes from `outputs` (one per frame) as anchors.

    When the start is the brightness model, its pass for the flow already gave them.
    """
    paired = paired_frames(len(outputs), targets)
    return replace(pairs, anchors=np.stack([outputs[t] for t in paired])[..., None])


@contextmanager
def timed(done: str) -> Iterator[None]:
    """Log `done` and the seconds the block took."""
    began = time.monotonic()
    yield
    log.info("%s in %.1f s", done, time.monotonic() - began)


def _save_crops(path: Path, crops: np.ndarray) -> None:
    """uint8 crops as the float32 NHWC images a model directory keeps."""
    np.save(path, to_unit_float(crops))


def _log_outcome(tuning: Tuning, out: Path) -> None:
    if tuning.kept:
        log.info("adapted: held-out loss %.6g -> %.6g (%.1f%% lower) -> %s", tuning.before,
                 tuning.after, 100 * (1 - tuning.after / tuning.before), out)
    elif tuning.after < tuning.before:
        log.warning("the tuning lowered the held-out loss (%.6g -> %.6g) but took content from "
                    "the output (Q %.4g -> %.4g: it blurs); %s keeps the starting weights",
                    tuning.before, tuning.after, *tuning.content, out)
    else:
        log.warning("no epoch beat the starting model on the held-out frames (loss %.6g); "
                    "%s keeps the starting weights", tuning.before, out)


def _content_fields(content: tuple[float, float] | None) -> dict[str, float]:
    """The manifest's content_before and _after, rounded; none without the content test."""
    if content is None:
        return {}
    return {"content_before": round(content[0], 6), "content_after": round(content[1], 6)}


def adapted_manifest(start: Start, source: ImageSource, counts: tuple[int, FramePairs, FramePairs],
                     settings: AdaptSettings, tuning: Tuning, seconds: float,
                     brightness: Brightness) -> Manifest:
    """The adapted model's manifest: the starting model's, with the footage and the tuning.

    `brightness`: where the tuned output's brightness came from (the model "choose" took).
    """
    n_frames, train, val = counts
    base = start.manifest
    adaptation = Adaptation(start=start.name, start_sha256=start.sha256, footage=source.name,
                            frames=n_frames, train_pairs=len(train), val_pairs=len(val),
                            mask_coverage=round(train.coverage(), 4),
                            flow=f"{FLOW}; {settings.warp} warp",
                            val_loss_before=tuning.before, val_loss_after=tuning.after,
                            kept=tuning.kept, loss_space=settings.loss_space,
                            targets=settings.targets, brightness=brightness.model,
                            brightness_losses=brightness.losses,
                            passes=settings.passes, keep=settings.keep,
                            **_content_fields(tuning.content))
    training = TrainingSummary(
        loss="mse", epochs=settings.max_epochs, epochs_run=tuning.epochs,
        batch_size=settings.batch_size, learning_rate=settings.learning_rate, seed=settings.seed,
        best_val_loss=tuning.saved_loss, self_supervised="frame-to-frame",
        initial_weights=start.name, seconds=round(seconds, 2), adaptation=adaptation)
    data = DataSummary(source=source.name, kind=source.kind, n_train=len(train), n_val=len(val),
                       image_size=train.inputs.shape[1:3],
                       patch_size=min(settings.patch_size, *train.inputs.shape[1:3]))
    return Manifest(edgeae_version=edgeae.__version__, task=base.task,
                    architecture=base.architecture, params=base.params, input=base.input,
                    normalization=base.normalization, data=data, training=training,
                    score=base.score)
