"""`edgeae benchmark`: latency, memory, size and quality of a model per backend, side by side.

For every backend x precision x thread count one child process (`edgeae.app.measure`) imports the
backend, loads the model and times the per-frame call a camera loop makes (`denoise`, `score`
or `reconstruct`, pre- and post-processing included) at every frame size, after warm-up; so
import time and peak memory belong to that backend alone. With `--data`, each child also runs
the quality set and the parent scores it against the truth and against the Keras model. Beside
each row: the model's multiply-accumulates per frame and the rate they were done at, so users
see how far a backend is from the hardware.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import edgeae
from edgeae.app.measure import Job, environment
from edgeae.app.peak import peak_columns
from edgeae.core.cpu import cpu_identity, cpu_model
from edgeae.core.errors import UnsupportedModel, UserError, first_line
from edgeae.core.files import check_writable, write_json, write_text
from edgeae.core.formats import FORMATS, all_formats, exported_formats
from edgeae.core.manifest import Manifest, manifest_path_for
from edgeae.core.modeldir import MODEL_FILE, ModelDir
from edgeae.core.progress import progress
from edgeae.core.tasks import TASKS
from edgeae.runtime import DEFAULT_USE
from edgeae.runtime.artifact import artifact_bytes
from edgeae.runtime.backends import BACKENDS
from edgeae.runtime.tiles import TileBlender, tile_starts
from edgeae.train.keras_backend import KERAS  # noqa: F401  (registers the Keras row)

log = logging.getLogger(__name__)

# the format training writes (Keras): its rows are the reference the others are compared with
REFERENCE = next(name for name, f in FORMATS.items() if not f.exported)
RESULT_FILES = ("benchmark.json", "benchmark.csv")


@dataclass(frozen=True)
class BenchmarkOptions:
    """What to measure; sizes are (height, width)."""

    backends: tuple[str, ...] = all_formats(exported_only=False)  # format names
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    sizes: tuple[tuple[int, int], ...] = ((256, 256), (480, 640))
    threads: tuple[int, ...] = (1, 2)
    data: str | None = None
    labels: Path | None = None  # detectors: a CSV of path,label (else class sub-folders)
    noise: str | None = None  # denoisers: noise added to --data (default: the training noise)
    limit: int = 256  # images of --data run by every backend, spread evenly over it
    warmup: int = 5
    repeats: int = 50
    python: str = sys.executable  # interpreter of the runtime backends' processes
    overwrite: bool = False
    seed: int = 0
    peak: bool = False  # also time a convolution probe per engine (app/peak.py)
    video: str | None = None  # also run `edgeae run`'s loop over this video in every job
    # played in a loop this long, so the loop's start (opening the file, the first frame) weighs
    # in its frames/s about as little as the warm-up the bare engine's timing leaves out; 0: once
    video_seconds: float = 10.0


@dataclass(frozen=True)
class Target:
    """The model benchmarked: its manifest, Keras model directory (if any) and artifacts."""

    name: str
    manifest: Manifest
    model_dir: Path | None
    artifacts: dict[tuple[str, str], Path] = field(default_factory=dict)  # (format, precision)
    model_sha256: str | None = None  # the model.keras measured: a report checks it is its own


@dataclass(frozen=True)
class QualitySet:
    """Inputs every backend runs, and what their outputs are scored against."""

    inputs: np.ndarray  # NHWC float32 in [0, 1]
    truth: np.ndarray  # clean images (PSNR / MSE) or 0/1 labels (AUROC, FPR)
    metric: str  # "psnr", "mse", "auroc", or "fpr" (false alarms on normal images alone)
    description: str
    threshold: float | None = None  # FPR: the detector's threshold


def model_target(model_dir: Path, artifacts_dir: Path, options: BenchmarkOptions) -> Target:
    """A model directory, with the artifacts the options need exported when missing."""
    from edgeae.export.artifacts import export_model
    from edgeae.export.options import ExportOptions

    md = ModelDir.open(model_dir)
    found, missing = artifacts_plan(md, artifacts_dir, options)
    for fmt in sorted({f for f, _ in missing}):
        precisions = tuple(p for f, p in missing if f == fmt)
        log.info("exporting %s %s to %s", fmt, ",".join(precisions), artifacts_dir)
        try:
            export_model(md, artifacts_dir, ExportOptions(
                formats=(fmt,), precisions=precisions, allow_drift=True, overwrite=True))
        except UnsupportedModel as exc:  # as `export` skips it beside other formats
            log.warning("skipping the %s rows: %s", fmt, first_line(exc))
            found = {k: v for k, v in found.items() if k[0] != fmt}
    found[REFERENCE, "fp32"] = md.path / MODEL_FILE
    return Target(md.path.name, md.manifest, md.path, found, md.model_sha256)


def artifacts_plan(md: ModelDir, artifacts_dir: Path, options: BenchmarkOptions
                   ) -> tuple[dict[tuple[str, str], Path], list[tuple[str, str]]]:
    """The artifacts the options need ((format, precision): path), and those to export.

    A file there from another model (or without its manifest) is a one-line UserError
    without --overwrite: it had been replaced silently, breaking that model's export.
    """
    from edgeae.core.formats import artifact_name
    from edgeae.export.artifacts import computable

    if Path(artifacts_dir).resolve().is_relative_to(md.path.resolve()):
        raise UserError(f"--artifacts {artifacts_dir} is in the model directory {md.path}; "
                        "exports go in a folder of their own (default: --out's artifacts/)")
    wanted = computable([(f, p) for f in options.backends if FORMATS[f].exported
                         for p in options.precisions if p in FORMATS[f].schemes],
                        explicit=len(options.precisions) == 1)
    found = {(f, p): artifacts_dir / artifact_name(f, p, None) for f, p in wanted}
    missing = [k for k, path in found.items() if not _exported_from(path, md.model_sha256)]
    foreign = [found[k].name for k in missing if found[k].exists()]
    if foreign and not options.overwrite:
        raise UserError(f"{artifacts_dir} holds {', '.join(foreign)} of another model (or "
                        "without its manifest); choose another --artifacts folder, or pass "
                        "--overwrite to replace them")
    return found, missing


def _exported_from(path: Path, model_sha256: str) -> bool:
    """Whether `path` is an artifact exported from this exact model.keras."""
    beside = manifest_path_for(path)
    if not (path.is_file() and beside.is_file()):
        return False
    try:
        artifact = Manifest.read(beside).artifact
    except UserError:
        return False
    return artifact is not None and artifact.source_model_sha256 == model_sha256


def pretrained_target(name: str) -> Target:
    """A shipped pretrained model: its artifacts as installed; no Keras model."""
    from edgeae.runtime.pretrained import PRECISIONS, PRETRAINED_DIR, pretrained_path

    pretrained_path(name, backend="onnxruntime", precision="fp32")  # checks the name
    artifacts = {(fmt, p): PRETRAINED_DIR / f"{name}_{p}{FORMATS[fmt].suffix}"
                 for fmt in exported_formats() for p in PRECISIONS}
    artifacts = {k: v for k, v in artifacts.items() if v.is_file()}
    manifest = Manifest.read(manifest_path_for(artifacts["onnx", "fp32"]))
    return Target(f"pretrained {name}", manifest, None, artifacts)


@functools.lru_cache(maxsize=4)
def rows_environment(python: str) -> dict:
    """The Python version, backends and package versions of the interpreter that runs the rows.

    Another interpreter is asked itself (app/measure.environment); one without edgeae is a
    one-line UserError here, before any export.
    """
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return environment()
    done = subprocess.run([python, "-m", "edgeae.app.measure", "--environment"],
                          capture_output=True, text=True, check=False)
    try:
        return json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"--python {python} cannot run edgeae's measurements ({last}); install "
                        "edgeae in that environment (pip install 'edgeae[runtime]')") from None


def installed_backends(python: str) -> set[str]:
    """The backends importable by the interpreter that runs the rows (asked once)."""
    return set(rows_environment(python)["backends"])


def engines_for(path: Path, installed: set[str]) -> list[str]:
    """Every installed backend that runs this file, side by side.

    LiteRT and tflite-runtime run .tflite files, onnxruntime and OpenVINO .onnx, OpenVINO its
    own .xml. None installed: no rows (plan_jobs says so), where the first such row had ended
    the whole benchmark after the others were measured.
    """
    return [n for n, b in BACKENDS.items() if b.runs(path) and n in installed]


def plan_jobs(target: Target, options: BenchmarkOptions, work: Path,
              with_quality: bool = False) -> list[Job]:
    """One job per backend x precision x thread count the target has an artifact for."""
    use = DEFAULT_USE[target.manifest.task]
    sizes = frame_sizes(target.manifest, (*options.sizes, *video_size(options.video)))
    quality = str(work / "quality-inputs.npy") if with_quality else None
    jobs = []
    # the runtime's in the rows' interpreter; Keras's here, where its rows run (_on_device)
    installed = installed_backends(options.python) | {
        n for n, b in BACKENDS.items() if not b.exported and b.available()}
    for fmt in options.backends:
        files = [(path, p) for (f, p), path in target.artifacts.items()
                 if f == fmt and p in options.precisions]
        engines = {path: engines_for(path, installed) for path, _ in files}
        runs = [(engine, str(path), p) for path, p in files for engine in engines[path]]
        unrun = [path for path, _ in files if not engines[path]]
        if unrun:
            hint = "; or ".join(b.install_hint for b in BACKENDS.values() if b.runs(unrun[0]))
            log.warning("no backend in %s runs %s; skipping those rows (%s)", options.python,
                        ", ".join(p.name for p in unrun), hint)
        if not any(f == fmt for f, _ in target.artifacts):
            log.warning("%s has no %s files; skipping the rows of that format (engines that "
                        "also run other formats, such as OpenVINO on ONNX files, still have "
                        "theirs)", target.name, fmt)
        for engine, model, precision in runs:
            for threads in options.threads:  # quality once per artifact: threads don't change it
                scored = quality if threads == options.threads[0] else None
                outputs = work / f"{engine}-{fmt}-{precision}-outputs.npy"
                jobs.append(Job(engine, model, precision, use, threads, sizes,
                                options.warmup, options.repeats, scored,
                                str(outputs) if scored else None, options.seed,
                                video=options.video, video_seconds=options.video_seconds))
    if not jobs:
        raise UserError(f"nothing to measure for {target.name}: no artifact matches "
                        f"--backends {','.join(options.backends)} and --precisions "
                        f"{','.join(options.precisions)}")
    return jobs


def frame_sizes(manifest: Manifest, sizes: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """The sizes to time: any for frame models; a whole-image autoencoder only takes its own."""
    fixed = whole_image_size(manifest)
    if fixed is not None:
        if set(sizes) != {fixed}:
            log.warning("this %dx%d %s reconstructs whole images of its own size only; "
                        "timing %dx%d", *fixed, manifest.task, *fixed)
        return [fixed]
    return list(dict.fromkeys(sizes))


@functools.lru_cache(maxsize=4)
def video_size(video: str | None) -> tuple[tuple[int, int], ...]:
    """The (h, w) of --video's frames, timed bare beside the loop; () without a video.

    Read once per process (the command checks it before any export, the benchmark plans and
    labels rows by it).
    """
    if video is None:
        return ()
    from edgeae.runtime.capture import Source, frame_size_of

    size = frame_size_of(Source("video", video))
    if size is None:
        raise UserError(f"--video {video} gave no frames; pass a video OpenCV can read")
    return (tuple(size),)


def macs_per_frame(manifest: Manifest, macs_per_pixel: float, size: tuple[int, int]) -> float:
    """Multiply-accumulates the network does for one frame: padded, or over tiles.

    A detector's frame is first resized to its training size (runtime/models.py).
    """
    h, w = manifest.scored_size() or size
    fixed = manifest.input.fixed_size
    if fixed is not None:
        th, tw = fixed
        blender = TileBlender(fixed)
        n = (len(tile_starts(max(h, th), th, blender.overlap[0])) *
             len(tile_starts(max(w, tw), tw, blender.overlap[1])))
        return macs_per_pixel * th * tw * n
    m = manifest.input.size_multiple
    return macs_per_pixel * (-(-h // m) * m) * (-(-w // m) * m)


def model_macs_per_pixel(manifest: Manifest) -> float:
    """The architecture's multiply-accumulates per input pixel (built from the manifest)."""
    from edgeae.train.models import create_model, macs_per_pixel

    spec = manifest.input
    shape = (spec.height or 64, spec.width or 64, spec.channels)
    return macs_per_pixel(create_model(manifest.architecture, shape, manifest.params))


def whole_image_size(manifest: Manifest) -> tuple[int, int] | None:
    """The one size a fixed-size model that reconstructs whole images takes; None otherwise."""
    fixed = manifest.input.fixed_size
    return fixed if fixed is not None and TASKS[manifest.task].whole_images else None


def check_options_fit(manifest: Manifest, options: BenchmarkOptions) -> None:
    """Refuse options this model would ignore: each had been dropped without a word."""
    metric, fixed = TASKS[manifest.task].metric, whole_image_size(manifest)
    if options.noise and metric != "psnr":
        raise UserError(f"--noise is the noise a denoiser's quality set gets; this "
                        f"{manifest.task} is measured on --data as it is: leave it out")
    if options.labels and (metric != "auroc" or options.data is None):
        raise UserError("--labels names which --data images are anomalies: it needs a detector "
                        "and --data")
    if options.video and fixed:
        raise UserError(f"--video: this {fixed[0]}x{fixed[1]} {manifest.task} reconstructs "
                        "whole images of its own size, not a video's frames; leave --video out")


def quality_set(manifest: Manifest, options: BenchmarkOptions,
                model_dir: Path | None = None) -> QualitySet | None:
    """--data read to suit the model, with the truth its outputs are scored against.

    At most `options.limit` images, spread evenly over the set (class folders are sorted).
    Without --data, a model directory's held-out samples (None for a pretrained model).
    """
    if options.data is None:
        return held_out_set(manifest, options, model_dir) if model_dir is not None else None
    from edgeae.app.reconstruct import load_for_model

    source = load_for_model(manifest, options.data, None,
                            scoring=DEFAULT_USE[manifest.task] == "score")
    picks = _spread(len(source), options.limit)
    images = _common_size([source.read(int(i)) for i in picks])
    what = f"{len(picks)} images of {options.data}"
    return QUALITY_SETS[TASKS[manifest.task].metric](source, picks, images, what, manifest,
                                                    options)


def held_out_set(manifest: Manifest, options: BenchmarkOptions,
                 model_dir: Path) -> QualitySet | None:
    """The validation images training saved (samples.npy), as the quality set.

    They are normal images only, so a detector's quality is its false-alarm rate at its
    threshold (AUROC needs anomalies: pass --data); a denoiser's needs noise to add.
    """
    from edgeae.core.modeldir import ModelDir

    samples = ModelDir(Path(model_dir), manifest).samples()
    picks = _spread(len(samples), options.limit)
    images = samples[picks][..., -manifest.input.channels:]  # a temporal model's: last frames
    what = f"{len(picks)} held-out samples of {Path(model_dir).name}"
    metric = TASKS[manifest.task].metric
    if metric == "auroc":
        return QualitySet(images, np.zeros(len(images)), "fpr", f"{what} (all normal)",
                          manifest.threshold)
    if metric == "psnr" and not (options.noise or manifest.training.noise):
        log.warning("%s learned from noisy images alone: no quality column without --noise", what)
        return None
    return QUALITY_SETS[metric](None, picks, images, what, manifest, options)


def _spread(n: int, limit: int) -> np.ndarray:
    """At most `limit` indices of `n` items, spread evenly over them."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int))


def _labelled_set(source, picks: np.ndarray, images: np.ndarray, what: str, manifest: Manifest,
                  options: BenchmarkOptions) -> QualitySet:
    """AUROC: the images with their 0/1 labels (class folders or --labels)."""
    from edgeae.core.labels import labels_for

    labels = labels_for(source, options.labels)[picks]
    if len(np.unique(labels)) < 2:
        raise UserError(f"the {len(picks)} images used from {options.data} are all "
                        f"{'anomalous' if labels.all() else 'normal'}; AUROC needs both "
                        "(raise --limit or give a labelled set with both)")
    return QualitySet(images, labels, "auroc", f"{what} ({int(labels.sum())} anomalous)")


def _noisy_set(source, picks: np.ndarray, images: np.ndarray, what: str, manifest: Manifest,
               options: BenchmarkOptions) -> QualitySet:
    """PSNR: the images with noise added (--noise, else the training noise), clean as truth."""
    noise = options.noise or manifest.training.noise
    if not noise:
        raise UserError(f"{manifest.architecture} learned from noisy images alone; pass "
                        "--noise SPEC to say what noise to add to the clean --data")
    return QualitySet(add_noise(images, noise, options.seed), images, "psnr",
                      f"{what} with {noise} noise")


def _plain_set(source, picks: np.ndarray, images: np.ndarray, what: str, manifest: Manifest,
               options: BenchmarkOptions) -> QualitySet:
    """MSE: the images are their own truth."""
    return QualitySet(images, images, "mse", what)


# a task's quality metric (core/tasks.py) -> how its quality set is made
QUALITY_SETS = {"auroc": _labelled_set, "psnr": _noisy_set, "mse": _plain_set}


def _common_size(images: list[np.ndarray]) -> np.ndarray:
    """Stack images, centre-cropping mixed sizes to the smallest height and width."""
    h = min(i.shape[0] for i in images)
    w = min(i.shape[1] for i in images)
    tops = [((i.shape[0] - h) // 2, (i.shape[1] - w) // 2) for i in images]
    crops = [i[y:y + h, x:x + w] for i, (y, x) in zip(images, tops)]
    return np.stack(crops).astype(np.float32)


def add_noise(images: np.ndarray, spec: str, seed: int) -> np.ndarray:
    """`images` with the noise of a spec (train/noise.py), seeded."""
    import tensorflow as tf

    from edgeae.train.noise_spec import parse_noise

    return parse_noise(spec)(tf.constant(images), tf.constant([seed, 0])).numpy()


def run_job(job: Job, work: Path, python: str) -> dict:
    """Run one job in a fresh process; a failure is a UserError with the child's last line."""
    path = work / f"{job.backend}-{Path(job.model).stem}-t{job.threads}.json"
    path.write_text(json.dumps(job.__dict__))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, "-m", "edgeae.app.measure", str(path)], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"measuring {Path(job.model).name} on {job.backend} failed: {last}")
    return json.loads(path.with_suffix(".result.json").read_text())


def score_outputs(quality: QualitySet, outputs: np.ndarray) -> float:
    """One number per backend: mean PSNR (dB), AUROC, or MSE, on the quality set."""
    if quality.metric == "fpr":
        return float(np.mean(outputs > quality.threshold))
    if quality.metric == "auroc":
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(quality.truth, outputs))
    if quality.metric == "psnr":
        from edgeae.export.parity import mean_psnr

        return mean_psnr(outputs, quality.truth)
    return float(np.mean((np.clip(outputs, 0, 1) - quality.truth) ** 2))


def ssim(outputs: np.ndarray, truth: np.ndarray) -> float:
    """Mean SSIM (scikit-image) of restored images against the clean ones."""
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(t, np.clip(o, 0, 1), data_range=1.0,
                                                channel_axis=-1)
                          for o, t in zip(outputs, truth)]))


def rows_for(job: Job, result: dict, target: Target, macs_px: float,
             quality: dict[str, float | None], loop_size: str | None = None) -> list[dict]:
    """The table rows of one job: one per frame size; the loop's columns on `loop_size`'s."""
    model = Path(job.model)
    rows = []
    for (h, w), timing in zip(job.sizes, result["sizes"].values()):
        macs = macs_per_frame(target.manifest, macs_px, (h, w))
        rows.append({
            "backend": job.backend, "format": BACKENDS[job.backend].format_of(model),
            "precision": job.precision, "size": f"{w}x{h}",
            "threads": job.threads, **{k: round(v, 3) for k, v in timing.items()},
            "fps": round(1e3 / timing["ms_p50"], 1),
            "file_mb": round(artifact_bytes(model) / 2 ** 20, 3),
            "import_s": round(result["import_s"], 3), "load_s": round(result["load_s"], 3),
            "tensorflow_imported": result["tensorflow_imported"],
            "mmacs_per_frame": _significant(macs / 1e6),
            "gmacs_per_s": _significant(macs / (timing["ms_p50"] / 1e3) / 1e9),
            **peak_columns(macs / (timing["ms_p50"] / 1e3) / 1e9, result.get("probe_ms_p50")),
            **quality})
    loop = result.get("loop")
    if loop:  # beside the bare engine at the video's frame size
        row = next((r for r in rows if r["size"] == loop_size), None)
        if row is not None:
            row.update(loop_fps=round(loop["fps"], 1), loop_frames=loop["frames"],
                       loop_model_ms_p50=round(loop["model_ms_p50"], 3),
                       loop_frame_ms_p50=round(loop["frame_ms_p50"], 3),
                       loop_decode_ms=round(loop["decode_ms"], 3),
                       loop_ceiling_pct=round(loop_ceiling(
                           row["ms_mean"], loop["decode_ms"], job.threads, loop["cores"]), 1),
                       **loop_shares(loop["fps"], row))
    return rows


def loop_ceiling(engine_ms: float, decode_ms: float, threads: int, cores: int) -> float:
    """The largest share (%) of the engine's rate a loop can reach while a thread decodes.

    Each frame costs the engine `engine_ms` on each of its threads (at most one per core) and
    the reading thread `decode_ms`; on `cores` cores shared perfectly a frame takes at least the
    longer of `engine_ms` and all that CPU over the cores. With as many engine threads as cores
    the decoding always costs the loop time; a spare core hides it.
    """
    busiest = (min(threads, cores) * engine_ms + decode_ms) / cores
    return 100.0 * engine_ms / max(engine_ms, busiest)


def loop_shares(loop_fps: float, row: dict) -> dict[str, float]:
    """The loop's frames/s as a share of the bare engine's: of 1/median, and of its rate.

    The loop's frames/s is a rate over its whole run (frames over seconds, 1/mean). The bare
    engine's rate over its timed runs is 1/mean as well (`engine_rate_fps`); its `fps` column is
    1/median, which leaves the engine's own slow calls out and so charges them to the loop.
    """
    rate = 1e3 / row["ms_mean"]
    return {"loop_pct_of_engine": round(100 * loop_fps / row["fps"], 1),
            "engine_rate_fps": round(rate, 1),
            "loop_pct_of_engine_rate": round(100 * loop_fps / rate, 1)}


def check_outputs(out: Path, options: BenchmarkOptions) -> None:
    """Refuse to replace an earlier benchmark unless asked (before any export or run)."""
    for name in RESULT_FILES:
        check_writable(out / name, options.overwrite)


def benchmark(target: Target, out: Path, options: BenchmarkOptions,
              quality: QualitySet | None = None) -> list[dict]:
    """Measure every job, write benchmark.json and .csv in `out`, return the rows.

    `quality`: the set `quality_set` read beforehand; by default it is read here.
    """
    check_outputs(out, options)
    macs_px = model_macs_per_pixel(target.manifest)
    quality = quality or quality_set(target.manifest, options, target.model_dir)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeae-bench-") as tmp:
        work = Path(tmp)
        jobs = plan_jobs(target, options, work, quality is not None)
        if options.peak:
            jobs = with_probes(jobs, work, options.seed)
        if quality is not None:
            np.save(work / "quality-inputs.npy", quality.inputs)
        results, left_out = measure_jobs(jobs, work, options.python)
        scored = [job for job, _ in results if job.quality_outputs]
        reference = next((np.load(j.quality_outputs) for j in scored if not _on_device(j)),
                         None)
        columns = {(j.backend, j.model): quality_columns(quality, np.load(j.quality_outputs),
                                                         reference) for j in scored}
        loop_size = next((f"{w}x{h}" for h, w in video_size(options.video)), None)
        for job, result in results:
            rows += rows_for(job, result, target, macs_px,
                             columns.get((job.backend, job.model), {}), loop_size)
    write_results(out, target, options, rows, quality, macs_px, left_out)
    return rows


def measure_jobs(jobs: list[Job], work: Path,
                 python: str) -> tuple[list[tuple[Job, dict]], list[str]]:
    """Each job's result, and why each job that failed did (its row is left out).

    One file an engine cannot run here (tflite-runtime and a dynamic-range int8 file) had
    thrown away every row measured before it; only a run with no row left fails.
    """
    results, left_out, failures = [], [], []
    for job in progress(jobs, total=len(jobs), desc="benchmark", unit="run", min_total=2):
        try:
            results.append((job, run_job(job, work, python if _on_device(job)
                                         else sys.executable)))
        except UserError as exc:
            failures.append(exc)
            left_out.append(str(exc))
            log.warning("%s; that row is left out", exc)
    if not results and failures:
        raise failures[0]
    return results, left_out


def with_probes(jobs: list[Job], work: Path, seed: int) -> list[Job]:
    """The jobs of exported files, each given the probe in its format and precision."""
    from dataclasses import replace

    from edgeae.app.peak import write_probes

    wanted = [(BACKENDS[j.backend].format_of(Path(j.model)), j.precision) for j in jobs]
    probes = write_probes(work, {w for w, j in zip(wanted, jobs) if _on_device(j)}, seed)
    return [replace(j, probe=str(probes[w])) if w in probes else j for w, j in zip(wanted, jobs)]


def _on_device(job: Job) -> bool:
    """Whether the job's backend runs exported artifacts (the runtime, no TensorFlow)."""
    return BACKENDS[job.backend].exported


def quality_columns(quality: QualitySet, outputs: np.ndarray,
                    reference: np.ndarray | None) -> dict[str, float]:
    """A backend's quality, the Keras model's, and the largest output difference from it."""
    columns = {quality.metric: round(score_outputs(quality, outputs), 5)}
    if quality.metric == "psnr":
        columns["ssim"] = round(ssim(outputs, quality.truth), 5)
    if reference is not None:
        columns[f"{REFERENCE}_{quality.metric}"] = round(score_outputs(quality, reference), 5)
        columns[f"max_abs_diff_vs_{REFERENCE}"] = float(np.max(np.abs(outputs - reference)))
    return columns


def write_results(out: Path, target: Target, options: BenchmarkOptions, rows: list[dict],
                  quality: QualitySet | None, macs_px: float, left_out: list[str]) -> None:
    """benchmark.json (rows, the run's facts, the rows left out and why) and benchmark.csv."""
    artifacts = {path.parent for (fmt, _), path in target.artifacts.items()
                 if FORMATS[fmt].exported}  # the export folder (model.keras sits elsewhere)
    run = {"model": target.name, "task": target.manifest.task,
           "model_sha256": target.model_sha256, "architecture": target.manifest.architecture,
           "artifacts": _where(artifacts.pop(), out) if len(artifacts) == 1 else None,
           "macs_per_pixel": macs_px, "quality_set": quality and quality.description,
           "quality_metric": quality and quality.metric,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "cpu": cpu_model(), "cpu_identity": cpu_identity(),  # int8 kernels differ by these
           "machine": platform.platform(), "cpus": os.cpu_count(),
           **_interpreters(options.python), "edgeae": edgeae.__version__,
           "warmup": options.warmup, "repeats": options.repeats, "left_out": left_out}
    write_json(out / "benchmark.json", {"run": run, "rows": rows}, options.overwrite)
    buffer = io.StringIO()
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "benchmark.csv", buffer.getvalue(), options.overwrite)


def _where(folder: Path, out: Path) -> str:
    """A folder as the results record it: relative inside `out`, else absolute.

    `out` may move: the demo writes into a temporary folder renamed at its end.
    """
    folder, out = folder.resolve(), out.resolve()
    return str(folder.relative_to(out)) if folder.is_relative_to(out) else str(folder)


def _interpreters(python: str) -> dict:
    """The run's Python and package versions: those of the rows' interpreter.

    Where another (`--python`) ran the runtime rows, this one's too: it ran Keras and exports.
    """
    rows, here = rows_environment(python), rows_environment(sys.executable)
    facts = {"python": rows["python"], "versions": rows["versions"]}
    if rows != here:
        facts.update(runtime_python=python, keras_python=here["python"],
                     keras_versions=here["versions"])
    return facts


def row_label(row: dict) -> str:
    """The row's engine, and the file it ran when that engine runs more than one format."""
    backend = BACKENDS.get(row["backend"])
    if backend is None or row.get("format", backend.formats[0]) == backend.formats[0]:
        return row["backend"]
    return f"{row['backend']} {FORMATS[row['format']].suffix}"


QUALITY_COLUMNS = ("psnr", "ssim", "auroc", "fpr", "mse")  # a row's quality, where measured


def shown_quality(rows: list[dict]) -> list[str]:
    """The quality columns some row has, in QUALITY_COLUMNS's order."""
    return [k for k in QUALITY_COLUMNS if any(k in r for r in rows)]


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, with the quality columns the rows have."""
    quality = shown_quality(rows)
    peak = ["% of peak"] if any("pct_of_peak" in r for r in rows) else []
    loop = ([f"`run` loop fps (% of engine: of 1/p50, of 1/mean{loop_ceiling_note(rows)})"]
            if any("loop_fps" in r for r in rows) else [])
    header = ["backend", "precision", "size", "threads", "p50 ms", "p90 ms", "p99 ms", "fps",
              *loop, "peak MiB", "file MiB", "import s", *quality, "MMAC/frame", "GMAC/s", *peak]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [row_label(r), r["precision"], r["size"], str(r["threads"]),
                 f"{r['ms_p50']:.2f}", f"{r['ms_p90']:.2f}", f"{r['ms_p99']:.2f}",
                 f"{r['fps']:.1f}", *([loop_cell(r)] if loop else []),
                 f"{r['peak_rss_mb']:.0f}", f"{r['file_mb']:.2f}",
                 f"{r['import_s']:.2f}", *(_fmt(r.get(k)) for k in quality),
                 work_cell(r["mmacs_per_frame"]), work_cell(r["gmacs_per_s"]),
                 *([_peak_cell(r)] if peak else [])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def work_cell(value: float) -> str:
    """MMAC/frame or GMAC/s: one decimal, or three digits below 1 (a small model's 0.001)."""
    return f"{value:.1f}" if value >= 1 else f"{value:.3g}"


def loop_ceiling_note(rows: list[dict]) -> str:
    """What the loop column's title adds where the rows have the decoding's ceiling."""
    return "; the ceiling the decoding allows" if any("loop_ceiling_pct" in r for r in rows) else ""


def _peak_cell(row: dict) -> str:
    """'12% of 95.3' (the row's share of its engine's probe GMAC/s), or '-' without a probe."""
    if "pct_of_peak" not in row:
        return "-"
    return f"{row['pct_of_peak']:.0f}% of {row['peak_gmacs_per_s']:.1f}"


def loop_cell(row: dict) -> str:
    """'18.2 (81%, 86%)': the run loop's frames/s on --video and its shares (loop_shares).

    Results written before the rate's share was recorded get it from their stored frames/s
    (to 0.1) and mean.
    """
    if "loop_fps" not in row:
        return "-"
    shares = {**loop_shares(row["loop_fps"], row),
              **{k: row[k] for k in ("loop_pct_of_engine", "loop_pct_of_engine_rate") if k in row}}
    ceiling = (f"; ceiling {row['loop_ceiling_pct']:.0f}%, decoding {row['loop_decode_ms']:.2f} ms"
               if "loop_ceiling_pct" in row else "")
    return (f"{row['loop_fps']:.1f} ({shares['loop_pct_of_engine']:.0f}%, "
            f"{shares['loop_pct_of_engine_rate']:.0f}%{ceiling})")


def _significant(value: float, digits: int = 4) -> float:
    """`value` to a few significant digits (tiny models have sub-1 GMAC/s rates)."""
    return float(f"{value:.{digits}g}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"

