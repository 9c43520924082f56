"""`edgeae report`: one self-contained HTML page about a model, to open anywhere offline.

The model card comes from the manifest, training curves from history.csv, sample outputs from
running the Keras model on the held-out samples saved at training time, the parity table from
an export's parity.json and the benchmark table from `edgeae benchmark`'s benchmark.json.
Plots are drawn with matplotlib and every image is embedded as a data URI, so the page needs no
network and no other file. The HTML comes from a Jinja2 template (templates/report.html.j2).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import edgeae
from edgeae.app.benchmark import (
    loop_ceiling_note,
    loop_cell,
    row_label,
    shown_quality,
    work_cell,
)
from edgeae.core.errors import UserError
from edgeae.core.files import write_text
from edgeae.core.formats import PRECISIONS, REPORT_FILE
from edgeae.core.images import tile_grid
from edgeae.core.manifest import Manifest, manifest_path_for
from edgeae.core.modeldir import HISTORY_FILE, ModelDir
from edgeae.core.tasks import TASKS
from edgeae.train.keras_backend import KerasSession, load_keras

N_SAMPLES = 8
SAMPLE_SCALE = 96  # sample tiles are drawn at least this many pixels tall


@dataclass(frozen=True)
class Figure:
    """An embedded picture with its caption."""

    caption: str
    uri: str


def png_uri(image: np.ndarray) -> str:
    """A uint8 BGR or gray image as a PNG data URI."""
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise UserError("could not encode a report image as PNG")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def plot_uri(fig) -> str:
    """A matplotlib figure as a PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def new_figure(width: float = 6.0, height: float = 3.6):
    """A headless matplotlib figure and axes, with 20 colours to cycle through.

    The default cycle's 10 repeated at a benchmark's 11th row: two rows in one colour.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    return fig, ax


def training_curves(history: Path) -> Figure | None:
    """Training and validation loss per epoch (log scale), from Keras's CSVLogger file."""
    if not history.is_file():
        return None
    with open(history, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    try:
        epochs = [int(r["epoch"]) + 1 for r in rows]
        curves = {label: [float(r[key]) for r in rows] for key, label in (
            ("loss", "training loss"), ("val_loss", "validation loss")) if key in rows[0]}
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{history} is not a training log as Keras's CSVLogger writes it "
                        f"({type(exc).__name__}: {exc}); train the model again") from None
    fig, ax = new_figure()
    for label, values in curves.items():
        ax.plot(epochs, values, marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return Figure(f"Loss per epoch ({len(rows)} epochs)", plot_uri(fig))


def _clean_row(samples: np.ndarray, inputs: np.ndarray, outputs: np.ndarray,
               md: ModelDir) -> list[np.ndarray] | None:
    """The clean images a denoiser's noisy inputs came from (none when trained on noise)."""
    return None if inputs is samples else list(samples)


def _anomaly_map_row(samples: np.ndarray, inputs: np.ndarray, outputs: np.ndarray,
                     md: ModelDir) -> list[np.ndarray]:
    """A detector's anomaly maps (as it draws them), scaled to their 99.5th percentile.

    A predicted mask is a probability: drawn as it is.
    """
    from edgeae.runtime.scoring import anomaly_scores, patch_search, read_side_arrays

    patches = patch_search(read_side_arrays(md.path, md.manifest).get("patches"),
                           md.manifest.score)
    _, maps = anomaly_scores(inputs, outputs, md.manifest.score, patches)
    mask = md.manifest.score.maps == "mask"
    scale = 1.0 if mask else float(np.percentile(maps, 99.5)) or 1.0
    return [np.clip(m / scale, 0, 1)[..., None] for m in maps]


# a task's third sample row (core/tasks.py report_rows), by its name
EXTRA_ROWS = {"clean": _clean_row, "anomaly map": _anomaly_map_row}


def sample_outputs(md: ModelDir, model) -> Figure:
    """The Keras model on held-out samples, as rows of input and output.

    A detector adds its anomaly maps; a supervised denoiser adds the clean images.
    """
    from edgeae.export.artifacts import model_inputs
    from edgeae.export.parity import run_batched

    samples = md.samples()[:N_SAMPLES]
    manifest = md.manifest
    session = KerasSession(model)
    inputs = model_inputs(samples, manifest, seed=1)
    outputs = np.clip(run_batched(session, inputs), 0, 1)
    c = manifest.input.channels  # a temporal model's samples and inputs are clips: last frames
    samples, inputs = samples[..., -c:], inputs[..., -c:]
    # (a mask predictor's outputs hold its mask after the reconstruction)
    rows, names = [list(inputs), list(outputs[..., :c])], ["input", "output"]
    task = TASKS[manifest.task]
    extra_row = EXTRA_ROWS.get(task.report_rows[-1])  # None: inputs and outputs only
    extra = extra_row(samples, inputs, outputs, md) if extra_row else None
    if extra is not None:
        rows.append(extra)
        names = list(task.report_rows)
    rows = [[np.clip(img, 0, 1).astype(np.float32) for img in row] for row in rows]
    if rows[-1][0].shape[-1] != rows[0][0].shape[-1]:  # gray maps beside colour images
        rows[-1] = [np.repeat(img, rows[0][0].shape[-1], -1) for img in rows[-1]]
    grid = tile_grid(rows, pad=1)
    zoom = max(1, SAMPLE_SCALE // samples.shape[1])
    grid = cv2.resize(grid, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    if grid.ndim == 3 and grid.shape[2] == 3:
        grid = cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)
    return Figure(f"Rows: {', '.join(names)} (held-out validation images, Keras model)",
                  png_uri(grid))


def read_json(path: Path | None, what: str) -> dict | None:
    """A JSON file another command wrote, or None when not given; unreadable is an error."""
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {what} {path} ({type(exc).__name__}); run the command "
                        "that writes it again") from None


def benchmark_plots(bench: dict) -> list[Figure]:
    """Latency against quality per backend, and latency against frame size."""
    rows, run = bench["rows"], bench["run"]
    figures = []
    metric = run.get("quality_metric")
    largest = largest_size(rows)
    threads = max(r["threads"] for r in rows)
    if metric:
        fig, ax = new_figure()
        for r in rows:
            if r["size"] == largest and r["threads"] == threads and metric in r:
                ax.scatter(r["ms_p50"], r[metric], s=40)
                ax.annotate(f"{row_label(r)} {r['precision']}", (r["ms_p50"], r[metric]),
                            textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel(f"p50 latency, ms ({largest}, {threads} threads)")
        ax.set_ylabel(metric.upper() + (" (dB)" if metric == "psnr" else ""))
        ax.grid(alpha=0.3)
        figures.append(Figure("Latency against quality per backend and precision",
                              plot_uri(fig)))
    fig, ax = new_figure()
    for key in dict.fromkeys((row_label(r), r["precision"]) for r in rows):
        line = sorted((_pixels(r["size"]) / 1e6, r["ms_p50"]) for r in rows
                      if (row_label(r), r["precision"]) == key and r["threads"] == threads)
        ax.plot([mp for mp, _ in line], [ms for _, ms in line], marker="o", label=" ".join(key))
    ax.set_xlabel("frame size, megapixels")
    ax.set_ylabel("p50 latency, ms")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figures.append(Figure(f"Latency against frame size ({threads} threads)", plot_uri(fig)))
    return figures


def largest_size(rows: list[dict]) -> str:
    """The largest frame size the rows were measured at ("640x480"), where quality is plotted."""
    return max((r["size"] for r in rows), key=_pixels)


def _pixels(size: str) -> int:
    """A row's frame size ("640x480") in pixels.

    Not its multiply-accumulates, which stay the same at every frame size for a detector (it
    scores at its training size): the plot had drawn every size on one vertical line.
    """
    w, h = map(int, size.split("x"))
    return w * h


def model_card(md: ModelDir, model) -> list[tuple[str, str]]:
    """The manifest's facts as (name, value) pairs, most useful first."""
    from edgeae.train.models import macs_per_pixel

    m = md.manifest
    spec = m.input
    t = m.training
    card = [("task", m.task), ("architecture", f"{m.architecture} {m.params.model_dump_json()}"),
            ("input", f"{spec.height or 'any'} x {spec.width or 'any'} pixels, "
                      f"{spec.color_order}"),
            ("parameters", f"{model.count_params():,}"),
            ("multiply-accumulates per pixel",
             f"{macs_per_pixel(model):,.0f}"),
            ("data", f"{m.data.source} ({m.data.kind}): {m.data.n_train} training, "
                     f"{m.data.n_val} validation images"),
            ("training", f"{t.epochs_run} of {t.epochs} epochs, {t.loss} loss, batch "
                         f"{t.batch_size}, learning rate {t.learning_rate:g}, seed {t.seed}, "
                         f"{t.seconds:.0f} s"),
            ("best validation loss", f"{t.best_val_loss:.6g}" if t.best_val_loss else "-")]
    if t.noise:
        card.append(("noise", t.noise))
    if t.self_supervised:
        card.append(("self-supervised", t.self_supervised))
    if TASKS[m.task].scored:
        unused = {"combine", "hog_cell", "hog_size", "hog_orientations", "norm"}  # k-NN's
        card += [("anomaly score", json.dumps(m.score.model_dump(
                      exclude=None if m.score.knn else unused))),
                 ("threshold", f"{m.threshold_strategy} = {m.threshold:.6g}"
                  if m.threshold is not None else "none")]
    card.append(("edgeae version", m.edgeae_version))
    return card


def render(context: dict) -> str:
    """The page from the package's Jinja2 template (autoescaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("edgeae.app", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2").render(**context)


def parity_gates(parity: dict | None) -> list[tuple[str, str]]:
    """(precision, its gate in words): as the export recorded them for its artifacts.

    A labelled detector's gate adds an AUROC drop, a mask predictor's is its AUROC: re-worded
    from the tolerances alone they had lost it. Files before the gate was recorded: every
    precision's at the export's tolerances.
    """
    if not parity:
        return []
    recorded = [(a["precision"], a["gate"]) for a in parity.get("artifacts", [])
                if "gate" in a and "precision" in a]
    if recorded:
        return list(dict.fromkeys(recorded))
    from edgeae.export.options import Tolerances

    tolerances = Tolerances(**parity.get("tolerances", {}))
    return [(name, tolerances.describe(name)) for name in PRECISIONS]


def check_exported_from(md: ModelDir, export_dir: Path, parity: dict) -> None:
    """The parity table shown must be this model's: its artifacts record whose they are."""
    check_made_from(md, export_dir, [row["file"] for row in parity.get("artifacts", [])],
                    "export", "--export")


def check_benchmarked(md: ModelDir, benchmark_dir: Path, bench: dict) -> Path:
    """The benchmark table shown must be this model's: the artifacts it measured record whose.

    Returns the folder they lie in (benchmarked_folder), where their parity report is too.
    """
    run = bench["run"]
    measured = run.get("model_sha256")  # recorded since 2026-12-07; the artifacts before
    if (measured and measured != md.model_sha256) or run.get("task") != md.manifest.task:
        raise UserError(f"{benchmark_dir} holds the benchmark of another model (its "
                        f"{run.get('task')} {run.get('model')}); give this model's --benchmark "
                        "folder")
    folder = benchmarked_folder(benchmark_dir, bench)
    files = sorted(p.name for p in folder.iterdir()
                   if manifest_path_for(p).is_file()) if folder.is_dir() else []
    check_made_from(md, folder, files, "benchmark", "--benchmark")
    return folder


def benchmarked_folder(benchmark_dir: Path, bench: dict) -> Path:
    """Where the artifacts a benchmark measured lie.

    Its artifacts/ folder (moved with it), else where the run found them (a --pretrained
    benchmark: the shipped files).
    """
    folder = benchmark_dir / "artifacts"
    return folder if folder.is_dir() else benchmark_dir / (bench["run"].get("artifacts") or folder)


ROW_NUMBERS = ("threads", "ms_p50", "ms_p90", "ms_p99", "fps", "peak_rss_mb", "file_mb",
               "import_s", "mmacs_per_frame", "gmacs_per_s")  # each row's, as the page shows
ROW_NAMES = ("backend", "precision", "size")
RUN_KEYS = ("date", "machine", "cpus", "repeats", "warmup", "versions")


def checked_benchmark(bench: object, path: Path) -> dict:
    """Benchmark results as `edgeae benchmark` writes them, or a one-line UserError."""
    rows = bench.get("rows") if isinstance(bench, dict) else None
    run = bench.get("run") if isinstance(bench, dict) else None
    if not isinstance(run, dict) or not isinstance(rows, list) or not rows:
        problem = "no run and rows"
    elif missing := [k for k in RUN_KEYS if k not in run]:
        problem = f"the run has no {', '.join(missing)}"
    else:
        quality = shown_quality([r for r in rows if isinstance(r, dict)])
        problem = next(filter(None, (_row_problem(i, r, quality) for i, r in enumerate(rows))),
                       None)
    if problem:
        raise UserError(f"{path} is not as `edgeae benchmark` writes it ({problem}); run the "
                        "benchmark again")
    return bench


def _row_problem(i: int, row: object, quality: list[str]) -> str | None:
    """What a benchmark row lacks that the page shows, or None."""
    if not isinstance(row, dict):
        return f"row {i} is not an object"
    numbers = (*ROW_NUMBERS, *(k for k in quality if k in row))
    bad = [k for k in numbers if isinstance(row.get(k), bool)
           or not isinstance(row.get(k), int | float)]
    bad += [k for k in ROW_NAMES if not isinstance(row.get(k), str)]
    return f"row {i} has no usable {', '.join(bad)}" if bad else None


def check_made_from(md: ModelDir, folder: Path, files: list[str], what: str,
                    option: str) -> None:
    """Each artifact in `folder` with a manifest beside it must be exported from `md`."""
    for file in files:
        beside = manifest_path_for(folder / file)
        if not beside.is_file():
            continue
        artifact = Manifest.read(beside).artifact
        if artifact is not None and artifact.source_model_sha256 != md.model_sha256:
            raise UserError(f"{folder} holds the {what} of another model ({file} was not made "
                            f"from {md.path}); give this model's {option} folder")


def write_report(model_dir: str | Path, out: str | Path, benchmark_dir: Path | None = None,
                 export_dir: Path | None = None, overwrite: bool = False) -> Path:
    """Gather everything about `model_dir` into one HTML file at `out`."""
    md = ModelDir.open(model_dir)
    bench = None
    if benchmark_dir is not None:  # read before the model: a mistake here is found in a second
        path = benchmark_dir / "benchmark.json"
        bench = checked_benchmark(read_json(path, "benchmark results"), path)
        measured = check_benchmarked(md, benchmark_dir, bench)  # where it found or made them
        if export_dir is None and (measured / REPORT_FILE).is_file():
            export_dir = measured
    parity = read_json(export_dir / REPORT_FILE if export_dir else None, "export report")
    if parity:
        check_exported_from(md, export_dir, parity)
    model = load_keras(md)  # once: the card counts it, the samples run it
    context = {
        "title": f"edgeae report: {md.path.name}",
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "version": edgeae.__version__,
        "card": model_card(md, model),
        "curves": training_curves(md.path / HISTORY_FILE),
        "samples": sample_outputs(md, model),
        "parity": parity,
        "gates": parity_gates(parity),
        "bench": bench,
        "loop_cell": loop_cell,  # the markdown table's cell, so both show the same shares
        "loop_note": loop_ceiling_note(bench["rows"]) if bench else "",
        "bench_figures": benchmark_plots(bench) if bench else [],
        "quality_keys": shown_quality(bench["rows"]) if bench else [],
        "row_label": row_label,
        "work_cell": work_cell,  # as the markdown table has it
    }
    return write_text(Path(out), render(context), overwrite)

