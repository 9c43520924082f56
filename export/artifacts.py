"""`edgeae export`: every requested artifact, converted, measured against Keras, then written.

All artifacts are converted and measured before anything is written, so a failed gate leaves
the output folder as it was. Each written artifact carries its manifest twice: embedded (TFLite
metadata, ONNX metadata_props) and as JSON beside it. parity.json collects the report.
"""

from __future__ import annotations

import importlib
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeae.core.errors import DriftError, UnsupportedModel, UserError
from edgeae.core.files import (
    cached_sha256,
    check_writable,
    signals_held,
    write_bytes,
    write_json,
    write_text,
)
from edgeae.core.formats import (
    FORMATS,
    PRECISIONS,
    REPORT_FILE,
    artifact_name,
    exported_formats,
)
from edgeae.core.images import resize
from edgeae.core.manifest import (
    SIDE_FILES,
    ArtifactInfo,
    FileRecord,
    Manifest,
    ParityInfo,
    Quantization,
    manifest_path_for,
    needed_side_files,
    side_path_for,
    weights_path_for,
)
from edgeae.core.modeldir import ModelDir
from edgeae.core.progress import progress
from edgeae.core.tasks import TASKS
from edgeae.export.onnx import shared_onnx_graphs
from edgeae.export.options import Calibration, Converted, ExportOptions, Tolerances
from edgeae.export.parity import (
    ReportRow,
    detection_parity,
    format_table,
    measure,
    run_batched,
)
from edgeae.runtime.backends import installed_backends, int8_sums_saturate
from edgeae.runtime.features import PatchMemory
from edgeae.runtime.models import Score
from edgeae.runtime.scoring import (
    anomaly_scores,
    patch_search,
    read_side_arrays,
    side_path,
    with_knn,
)
from edgeae.train.keras_backend import KerasSession, load_keras

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Exported:
    """One written artifact with its manifest and its line in the report."""

    path: Path
    manifest: Manifest
    row: ReportRow


@dataclass(frozen=True)
class ExportReport:
    """Everything one export wrote, in order, with the report table."""

    artifacts: list[Exported]
    table: str


@dataclass
class _Candidate:
    format: str
    precision: str
    name: str
    converted: Converted = Converted(b"")
    quantization: Quantization | None = None
    parity: ParityInfo | None = None
    failure: str | None = None
    fields: dict = field(default_factory=dict)  # the format's own ArtifactInfo fields
    embed: Callable[[bytes, str], bytes] | None = None  # puts the manifest inside the file
    # the converter's second way, for a file that fails its gate (its `remedy`): file, fields
    remedy: Callable[[], tuple[Converted, dict]] | None = None

    def outputs(self, *batches: np.ndarray | None) -> dict[str, list[np.ndarray | None]]:
        """This artifact's outputs on each batch (None for None), by installed backend name.

        Each backend that runs its format (an ONNX file: onnxruntime and OpenVINO); the file is
        written once and opened once per backend for all of them.
        """
        with tempfile.TemporaryDirectory(prefix="edgeae-export-") as tmp:
            path = self.converted.write_to(Path(tmp) / self.name)
            outputs = {}
            for backend in installed_backends(path):
                session = backend.open(path, None)
                outputs[backend.name] = [None if batch is None else run_batched(session, batch)
                                         for batch in batches]
            return outputs


@dataclass(frozen=True)
class _Gate:
    """What every artifact is checked against: the Keras model's outputs, and more for some.

    A mask predictor's masks on pasted anomalies, and detection parity on a labelled set.
    """

    part: ExportPart
    reference: np.ndarray  # the Keras model's outputs on part.inputs
    targets: np.ndarray  # what those outputs restore (restored_targets)
    tolerances: Tolerances
    masks: PastedMasks | None = None
    labelled: np.ndarray | None = None
    labels: np.ndarray | None = None
    keras_scores: np.ndarray | None = None
    scores: Callable[[np.ndarray], np.ndarray] | None = None  # labelled outputs -> scores

    def check(self, c: _Candidate) -> None:
        """c.parity and c.failure: those of the backend it does worst in, named if it fails.

        Each backend that runs its format may run it on a device (`--backend auto` picks by
        speed), so each must pass.
        """
        results = {}
        batches = (self.part.inputs, self.masks and self.masks.inputs, self.labelled)
        for backend, (outputs, pasted, scored) in c.outputs(*batches).items():
            parity = measure(self.reference, self.part.view(outputs), self.targets)
            if self.masks is not None:
                parity = parity.model_copy(update=self.masks.parity(pasted))
            if self.labelled is not None:
                parity = parity.model_copy(update=detection_parity(
                    self.keras_scores, self.scores(scored), self.labels))
            results[backend] = parity, self.tolerances.failure(c.precision, parity,
                                                               self.masks is not None)
        worst = max(results, key=lambda b: (results[b][1] is not None,
                                            results[b][0].mean_abs_diff))
        parity, c.failure = results[worst]
        c.parity = parity.model_copy(update={"backend": worst, "backends": sorted(results),
                                             "int8_sums_saturate": int8_sums_saturate()})
        if c.failure and len(results) > 1:
            c.failure = f"{c.failure} in {worst}"


def plan(formats: tuple[str, ...], precisions: tuple[str, ...]) -> list[tuple[str, str]]:
    """The (format, precision) pairs to build; pairs a format does not support are skipped.

    So is a precision this CPU cannot compute (bf16 without AVX512_BF16 or AMX): its gate could
    not be measured here. Asked for alone, either is an error.
    """
    for f in formats:
        if f not in FORMATS or not FORMATS[f].exported:
            raise UserError(f"cannot export to {f!r}: use one of {', '.join(exported_formats())}")
    supported = {f: FORMATS[f].precisions for f in formats}
    for f in formats:
        skipped = [p for p in precisions if p not in supported[f]]
        if skipped and len(formats) > 1:
            log.info("skipping %s %s: %s supports %s", f, ",".join(skipped), f,
                     ", ".join(supported[f]))
        elif skipped:
            raise UserError(f"{f} export supports precisions {', '.join(supported[f])}; "
                            f"got {', '.join(skipped)}")
    return computable([(f, p) for f in formats for p in precisions if p in supported[f]],
                      explicit=len(precisions) == 1)


def computable(pairs: list[tuple[str, str]], explicit: bool) -> list[tuple[str, str]]:
    """The (format, precision) pairs whose precision this CPU computes; the others are skipped.

    Skipped with a warning; a UserError when `explicit` asked for one, or when none is left.
    """
    from edgeae.runtime.backends import cpu_capabilities

    needs = {p: PRECISIONS[p].cpu_capability for _, p in pairs if PRECISIONS[p].cpu_capability}
    lacking = {p for p, need in needs.items() if need not in cpu_capabilities()}
    left = [(f, p) for f, p in pairs if p not in lacking]
    if lacking and (explicit or not left):
        named = sorted(lacking)
        raise UserError(f"{', '.join(named)} need{'s' * (len(named) == 1)} a CPU with "
                        f"{needs[named[0]]} (AVX512_BF16 or AMX) and OpenVINO; this one cannot "
                        f"compute or check {'them' if len(named) > 1 else 'it'}: use fp32 or int8")
    for p in sorted(lacking):
        log.warning("skipping %s: this CPU lacks %s", p, needs[p])
    return left


def _input_shape(manifest: Manifest, size: tuple[int, int] | None) -> tuple[int | None, ...]:
    """The artifact's HWC input shape: fixed by the model, by --input-size, or free."""
    spec = manifest.input
    fixed = spec.fixed_size
    if size is not None and fixed is not None and size != fixed:
        raise UserError(f"the {manifest.architecture} model only takes {fixed[0]}x{fixed[1]} "
                        f"images; drop --input-size or pass {fixed[0]}x{fixed[1]}")
    if size is not None and (size[0] % spec.size_multiple or size[1] % spec.size_multiple):
        raise UserError(f"--input-size {size[0]}x{size[1]} must be a multiple of "
                        f"{spec.size_multiple} for this model (it downsamples by that factor)")
    h, w = size or fixed or (None, None)
    return h, w, spec.model_channels


def model_inputs(clean: np.ndarray, manifest: Manifest, seed: int) -> np.ndarray:
    """What the model sees for clean images: the training noise for a denoiser (seeded).

    A self-supervised denoiser's samples are already noisy, so they are used as they are.
    """
    spec = manifest.training.noise
    if not TASKS[manifest.task].noisy_inputs or not spec or manifest.training.self_supervised:
        return clean
    import tensorflow as tf

    from edgeae.train.noise import apply_noise_to_frames
    from edgeae.train.noise_spec import parse_noise

    images, seed = tf.constant(clean, tf.float32), tf.constant([seed, 0])
    c = manifest.input.channels
    if manifest.input.frames == 1:
        return parse_noise(spec)(images, seed).numpy()
    noisy = apply_noise_to_frames(parse_noise(spec), images, clean.shape[-1] // c, seed).numpy()
    if manifest.input.recurrent:  # [its last output, the frame]: the clean frame before
        return np.concatenate([clean[..., -2 * c:-c], noisy[..., -c:]], axis=-1)  # stands in
    return noisy


def restored_targets(clean: np.ndarray, manifest: Manifest) -> np.ndarray:
    """What the outputs on `clean` samples are compared with: the last frame of a clip.

    A mask predictor's outputs also hold its mask, which is empty on clean normal images.
    """
    if manifest.params.predicts_mask():
        return np.concatenate([clean, np.zeros((*clean.shape[:3], 1), clean.dtype)], axis=-1)
    return clean[..., -manifest.input.channels:] if manifest.input.frames > 1 else clean


def _at_size(images: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Images resized to `size` (for fixed-shape variants), else unchanged."""
    if size is None or images.shape[1:3] == size:
        return images
    return np.stack([resize(image, size) for image in images]).reshape(
        len(images), *size, images.shape[-1])


def export_model(model_dir: ModelDir, out_dir: str | Path,
                 options: ExportOptions = ExportOptions()) -> ExportReport:
    """Convert, measure and (when every gate passes or --allow-drift) write the artifacts.

    Raises DriftError (exit code 1) naming each artifact and the metric that failed; nothing
    is written then.
    """
    out_dir = Path(out_dir)
    manifest = model_dir.manifest
    image_shape = _input_shape(manifest, options.input_size)
    candidates = [_Candidate(f, p, artifact_name(f, p, options.input_size, options.part))
                  for f, p in plan(options.formats, options.precisions)]
    for c in candidates:
        for path in _files_of(out_dir / c.name):
            check_writable(path, options.overwrite)
    check_writable(out_dir / REPORT_FILE, overwrite=True)  # merged into: a folder is refused
    check_part(manifest, options.part)
    # a different side file already there is refused before any work
    _copy_side_files(model_dir, out_dir, candidates, options.overwrite, dry_run=True)
    clean = _at_size(model_dir.samples(), options.input_size)
    part = export_part(load_keras(model_dir), manifest, options.part,
                       model_inputs(clean, manifest, options.seed + 1), image_shape)
    gate = _gate(model_dir, part, clean, options)
    calibration = _calibration(model_dir, options, candidates, part)
    with shared_onnx_graphs():  # the ONNX files and OpenVINO's IR share one tf2onnx run
        candidates = _convert(part.model, part.shape, candidates, calibration, options)
    for c in progress(candidates, total=len(candidates), desc="parity", min_total=2):
        gate.check(c)
        if c.failure and c.remedy is not None:
            _check_remedied(c, gate, calibration, options)
    rows = [_row(c, options.tolerances, gate.masks is not None, gate.labelled is not None)
            for c in candidates]
    keras_bytes = (model_dir.path / "model.keras").stat().st_size
    table = format_table(rows, keras_bytes)
    failed = [c for c in candidates if c.failure]
    if failed:
        message = "; ".join(f"{c.name} drifted from the Keras model: {c.failure}" for c in failed)
        if not options.allow_drift:
            raise DriftError(f"{message}; nothing written (pass --allow-drift to keep it)",
                             details=table)
        log.warning("%s (kept: --allow-drift)", message)
    with signals_held():  # every file or none: a Ctrl-C here takes effect once all are written
        # the detector's side arrays, before the manifests recording them
        _copy_side_files(model_dir, out_dir, candidates, options.overwrite)
        written = [_write(c, row, out_dir, model_dir, manifest, image_shape, options)
                   for c, row in zip(candidates, rows)]
        rows = [w.row for w in written]  # the sizes of the files written, manifests inside
        _merge_report(out_dir / REPORT_FILE, rows, options)
    return ExportReport(written, format_table(rows, keras_bytes))


def _check_remedied(c: _Candidate, gate: _Gate, calibration: Calibration | None,
                    options: ExportOptions) -> None:
    """A failed artifact converted the second way its converter offers, and checked again.

    Kept only if it passes; else the first conversion and its failure stand.
    """
    first = (c.converted, c.quantization, c.parity, c.failure)
    c.converted, described = c.remedy()
    c.quantization = _quantization(c, described, calibration, options)
    gate.check(c)
    log.info("%s: %s; converted again (%s): %s", c.name, first[-1],
             ", ".join(f"{k} {v}" for k, v in described.items()),
             f"{c.failure}, so the first is kept" if c.failure else "passes")
    if c.failure:
        c.converted, c.quantization, c.parity, c.failure = first


def _gate(model_dir: ModelDir, part: ExportPart, clean: np.ndarray,
          options: ExportOptions) -> _Gate:
    """What the Keras model gives on the parity samples, and on what some tasks add.

    Its masks on the samples with anomalies pasted in (a mask predictor), and its scores on
    --labelled images (a detector).
    """
    manifest = model_dir.manifest
    keras = KerasSession(part.model)
    gate = _Gate(part, part.view(run_batched(keras, part.inputs)),
                 restored_targets(clean, manifest), options.tolerances,
                 masks=(PastedMasks.of(part.model, clean, options.seed)
                        if manifest.params.predicts_mask() else None))
    arrays = read_side_arrays(model_dir.path, manifest)  # verified even when not used here
    if not options.labelled:
        return gate
    labelled = _at_size(options.labelled[0], options.input_size)
    memory, patches = arrays.get("memory"), patch_search(arrays.get("patches"), manifest.score)
    scores = lambda outputs: detector_scores(  # noqa: E731
        labelled, outputs, manifest, memory, patches).score
    return replace(gate, labelled=labelled, labels=options.labelled[1], scores=scores,
                   keras_scores=scores(run_batched(keras, labelled)))


@dataclass(frozen=True)
class ExportPart:
    """What one export converts, what it is checked on, and how its outputs become images.

    Parity always compares images with the clean samples: a decoder's images directly, an
    encoder's codes after the Keras decoder turns them into images (so its gate asks how much
    its rounding of the codes costs a reconstruction).
    """

    model: Any  # the Keras model converted
    shape: tuple[int | None, ...]  # its input, without the batch
    inputs: np.ndarray  # parity inputs
    view: Callable[[np.ndarray], np.ndarray] = lambda outputs: outputs
    calibrate: Callable[[np.ndarray], np.ndarray] = lambda inputs: inputs


def check_part(manifest: Manifest, part: str) -> None:
    """Refuse --part of a VAE for another model, before its model loads."""
    if part != "model" and part not in TASKS[manifest.task].parts:
        raise UserError(f"--part {part} exports part of a VAE; this model's task is "
                        f"{manifest.task} (drop --part)")


def export_part(model, manifest: Manifest, part: str, inputs: np.ndarray,
                image_shape: tuple[int | None, ...]) -> ExportPart:
    """The whole model, or a VAE's decoder (codes in) or encoder (images in, code means out)."""
    if part == "model":
        return ExportPart(model, image_shape, inputs)
    check_part(manifest, part)
    import keras

    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    means = keras.Model(encoder.input, encoder.outputs[0], name="encoder_mean")
    encode = lambda images: means.predict(images, verbose=0).astype(np.float32)  # noqa: E731
    if part == "encoder":
        return ExportPart(means, image_shape, inputs,
                          view=lambda codes: decoder.predict(codes, verbose=0))
    return ExportPart(decoder, tuple(decoder.input_shape[1:]), encode(inputs),
                      calibrate=lambda images: _decoder_codes(encode(images)))


@dataclass(frozen=True)
class PastedMasks:
    """A mask predictor's parity set: samples with anomalies pasted in, per pixel.

    Its int8 gate is the pixel AUROC of the masks here against the Keras model's: a mask is
    read by its ranking, and even a clean image's is not empty (a DRAEM's averaged 0.15 on its
    training crops), so its PSNR against an empty mask says how far from zero it sits, not how
    far from Keras.
    """

    inputs: np.ndarray
    labels: np.ndarray  # every pixel: 1 inside a pasted anomaly
    keras_scores: np.ndarray  # the Keras model's mask, every pixel

    @classmethod
    def of(cls, model, clean: np.ndarray, seed: int) -> PastedMasks:
        """The samples `clean` with seeded anomalies (train/anomalies.py) and Keras's masks."""
        from edgeae.train.anomalies import paste_anomalies

        inputs, masks = paste_anomalies(clean, np.array([seed, 2]))
        keras = run_batched(KerasSession(model), inputs)[..., -1]
        return cls(inputs, (masks[..., 0] > 0.5).ravel().astype(np.int8), keras.ravel())

    def parity(self, outputs: np.ndarray) -> dict[str, float | int]:
        """detection_parity of an artifact's masks (its outputs' last channel) on the inputs."""
        return detection_parity(self.keras_scores, outputs[..., -1].ravel(), self.labels)


def _decoder_codes(codes: np.ndarray, seed: int = 0) -> np.ndarray:
    """Codes a decoder meets: encodings of training images and as many draws from the prior."""
    prior = np.random.default_rng(seed).standard_normal(codes.shape).astype(np.float32)
    return np.concatenate([codes, prior])


def _calibration(model_dir: ModelDir, options: ExportOptions, candidates: list[_Candidate],
                 part: ExportPart) -> Calibration | None:
    """Model inputs for int8 calibration: a seeded, range-covering pick at the artifact size.

    With the clean images they restore, for a whole model (a VAE's parts have no image targets,
    a mask predictor's training images with anomalies pasted in no clean ones).
    """
    if not any(PRECISIONS[c.precision].calibrated for c in candidates):
        return None
    from edgeae.core.calibration import covering_subset

    images = options.calibration if options.calibration is not None else model_dir.calibration()
    images = _at_size(covering_subset(images, options.calibration_samples), options.input_size)
    inputs = part.calibrate(model_inputs(images, model_dir.manifest, options.seed))
    if model_dir.manifest.params.predicts_mask():
        return Calibration(inputs, pasted_anomalies=True)  # no clean targets; ranges cover
    rules = {"ranges": options.int8_ranges, "bias_correction": options.int8_bias_correction}
    if options.part != "model":
        return Calibration(inputs, **rules)
    return Calibration(inputs, restored_targets(images, model_dir.manifest), **rules)


def converter_class(fmt: str) -> type:
    """The converter class the format's row names ("module:Class")."""
    module, _, name = FORMATS[fmt].converter.partition(":")
    return getattr(importlib.import_module(module), name)


def _convert(model, shape: tuple[int | None, ...], candidates: list[_Candidate],
             calibration: Calibration | None, options: ExportOptions) -> list[_Candidate]:
    """Fill in each candidate's bytes, quantization description and manifest fields.

    A format that cannot hold this model (UnsupportedModel) is skipped with a warning when
    other formats were asked for too, and refused when it was the only one.
    """
    converters = {f: converter_class(f)(model, shape, options)
                  for f in dict.fromkeys(c.format for c in candidates)}
    converted = []
    try:
        for c in progress(candidates, total=len(candidates), desc="convert", min_total=2):
            log.info("converting %s", c.name)
            converter = converters[c.format]
            try:
                c.converted = converter.convert(c.precision, calibration)
            except UnsupportedModel as exc:
                if len(options.formats) == 1:
                    raise
                log.warning("skipping %s: %s", c.name, exc)
                continue
            converted.append(c)
            c.quantization = _quantization(c, converter.describe(c.converted.data, c.precision),
                                           calibration, options)
            c.fields, c.embed = converter.artifact_fields(), converter.embed
            c.remedy = getattr(converter, "remedy", lambda *_: None)(c.precision, calibration)
    finally:
        for converter in converters.values():
            converter.close()
    return converted


def _quantization(c: _Candidate, described: dict, calibration: Calibration | None,
                  options: ExportOptions) -> Quantization | None:
    """The manifest's description of how `c` was quantized: the table's scheme and details."""
    scheme = FORMATS[c.format].schemes[c.precision]
    if scheme is None:
        return None
    if PRECISIONS[c.precision].calibrated:
        described = {**described, "calibration_samples": len(calibration.inputs),
                     "calibration_source": options.calibration_source}
    return Quantization(scheme=scheme, **described)


def detector_scores(images: np.ndarray, outputs: np.ndarray, manifest: Manifest,
                    memory: np.ndarray | None, patches: PatchMemory | None) -> Score:
    """The Score of `images` from a model's `outputs`, as the runtime computes it.

    Reconstruction or patch maps, and k-NN, as the manifest's score configures them, from the
    side arrays read_side_arrays gives (the k-NN memory; the training patches, as patch_search
    makes them ready once for every artifact).
    """
    config = manifest.score
    scores, maps = anomaly_scores(images, outputs, config, patches)
    return Score(with_knn(scores, images, memory, config), maps)


def _copy_side_files(model_dir: ModelDir, out_dir: Path, candidates: list[_Candidate],
                     overwrite: bool, dry_run: bool = False) -> None:
    """Each side file beside each artifact, named for it (model_int8.memory.npy, ...).

    Copied atomically; an identical copy already there is left as it is, and a different one
    is replaced only with `overwrite` and when no artifact left in place reads it.
    """
    written = {c.name for c in candidates}
    for kind in needed_side_files(model_dir.manifest):
        data = side_path(model_dir.path, model_dir.manifest, kind).read_bytes()
        for target in dict.fromkeys(side_path_for(out_dir / c.name, kind) for c in candidates):
            if target.exists() and target.read_bytes() == data:
                continue
            if target.exists():
                _check_no_sharer_left(target, kind, written)
            check_writable(target, overwrite)
            if not dry_run:
                write_bytes(target, data, overwrite)


def _check_no_sharer_left(target: Path, kind: str, written: set[str]) -> None:
    """Refuse to replace a side file that an artifact this export does not replace reads.

    A model's files of one precision share it (model_fp32.tflite and model_fp32.onnx): with
    --overwrite, exporting another detector's ONNX file alone left the TFLite one beside it
    reading the new model's memory, which `info` then refused.
    """
    stem = target.name.removesuffix(SIDE_FILES[kind].suffix)
    for record in sorted(target.parent.glob(f"{stem}.*.json")):
        sharer = record.with_suffix("")
        if sharer.name not in written and sharer.exists():
            raise UserError(f"{sharer.name} reads {target.name} too, and this export would "
                            f"replace that file but not {sharer.name}, breaking it; export its "
                            "format too (--format all), or into another folder")


def _row(c: _Candidate, tolerances: Tolerances, masks: bool, labelled: bool) -> ReportRow:
    return ReportRow(c.name, c.format, c.precision, c.converted.size, c.parity,
                     tolerances.describe(c.precision, masks, labelled), c.failure)


def _write(c: _Candidate, row: ReportRow, out_dir: Path, model_dir: ModelDir, manifest: Manifest,
           shape: tuple[int | None, ...], options: ExportOptions) -> Exported:
    """Write the weights (if apart), the artifact with its manifest inside, then its JSON.

    The JSON adds the artifact's digest; both copies record the side files and the weights
    already beside it.
    """
    h, w, _ = shape
    weights = None
    if c.converted.weights is not None:
        weights = FileRecord.of(write_bytes(weights_path_for(out_dir / c.name),
                                            c.converted.weights, options.overwrite))
    info = ArtifactInfo(format=c.format, precision=c.precision, file=c.name, part=options.part,
                        source_model_sha256=model_dir.model_sha256,
                        **{kind: FileRecord.of(side_path_for(out_dir / c.name, kind))
                           for kind in needed_side_files(manifest)},
                        weights=weights, quantization=c.quantization, parity=c.parity, **c.fields)
    described = manifest.model_copy(update={
        "input": manifest.input.model_copy(update={"height": h, "width": w}), "artifact": info,
        "model_sha256": None})  # the source's digest is the artifact's source_model_sha256
    data = c.embed(c.converted.data, described.to_json())
    path = write_bytes(out_dir / c.name, data, options.overwrite)
    final = described.model_copy(update={"artifact": info.model_copy(update={
        "size_bytes": len(data), "sha256": cached_sha256(path)})})
    write_text(manifest_path_for(path), final.to_json(), options.overwrite)
    on_disk = len(data) + (weights.size_bytes if weights is not None else 0)
    return Exported(path, final, replace(row, size_bytes=on_disk))


def _files_of(artifact: Path) -> list[Path]:
    """The files an export writes for one artifact: itself, its weights (if apart), its JSON."""
    return [p for p in (artifact, weights_path_for(artifact), manifest_path_for(artifact)) if p]


def _merge_report(path: Path, rows: list[ReportRow], options: ExportOptions) -> None:
    """parity.json: this export's rows replace older rows for the same files; others stay."""
    old = []
    if path.exists():
        try:
            old = json.loads(path.read_text())["artifacts"]
            if not isinstance(old, list) or not all(isinstance(r, dict) for r in old):
                raise TypeError("rows that are no objects")  # ended the export in a traceback
        except (ValueError, KeyError, TypeError):
            log.warning("%s was unreadable; starting a new report", path)
            old = []
    names = {r.file for r in rows}
    merged = [r for r in old if r.get("file") not in names] + [r.to_dict() for r in rows]
    write_json(path, {"tolerances": options.tolerances.__dict__, "artifacts": merged},
               overwrite=True)
