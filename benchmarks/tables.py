"""Render BENCHMARKS.md's generated tables from the committed results in benchmarks/results/.

A generated table sits in BENCHMARKS.md between `<!-- table: NAME -->` and `<!-- /table -->`;
its first line names the run (date, CPU, cores, command), read from the same JSON as the rows.
Tables outside such markers are not yet reproducible from benchmarks/results/ (BENCHMARKS.md
says why at each).

    python benchmarks/tables.py              # print every table whose results file exists
    python benchmarks/tables.py --check      # exit 1 if a marked table differs from its JSON
    python benchmarks/tables.py --write      # rewrite the marked tables from the JSON
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "BENCHMARKS.md"
BLOCK = re.compile(r"<!-- table: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /table -->", re.S)


def load(name: str) -> dict:
    """benchmarks/results/NAME.json."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def caption(stamp: dict) -> str:
    """The run's line: date (to the end, where recorded), CPU, cores, load, command."""
    date = stamp.get("date_utc") or stamp.get("started_utc") or stamp.get("date")
    if "finished_utc" in stamp:
        end = stamp["finished_utc"]
        date += f" to {end[11:] if end[:10] == date[:10] else end}"
    machine = stamp.get("machine", {}) if isinstance(stamp.get("machine"), dict) else stamp
    loads = [f"{' / '.join(f'{x:.2f}' for x in stamp[k])} {when}"
             for k, when in (("load_average_before", "before"), ("load_average_after", "after"))
             if k in stamp]
    load = f"; load average (1/5/15 min) {', '.join(loads)}" if loads else ""
    identity = f" ({machine['cpu_identity']})" if machine.get("cpu_identity") else ""
    return (f"Run {date}; CPU {machine.get('cpu')}{identity}, {machine.get('cores')} cores{load}; "
            f"`{stamp.get('command')}`")


def table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A Markdown table; columns in `right` are right-aligned."""
    right = right if right is not None else set(range(1, len(header)))
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---:" if i in right else "---" for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --- the detector's sweep (benchmarks/detector_sweep.py) --------------------------------------

def _sweep_cell(data: dict, dataset: str, key: str) -> str:
    setting = data["datasets"].get(dataset, {}).get("settings", {}).get(key)
    return f"{setting['mean_val_auroc']:.4f}" if setting else "-"


def _sweep_rows(data: dict, keys: list[tuple[str, str]]) -> list[list[str]]:
    default, best = data["default"], data["best_over_datasets"]
    rows = []
    for label, key in keys:
        mark = " (default)" if key == default else ""
        mark += " (best)" if key == best else ""
        over = data["mean_val_auroc_over_datasets"].get(key)
        rows.append([label + mark, _sweep_cell(data, "fashion-mnist", key),
                     _sweep_cell(data, "mnist-10k", key),
                     f"{over:.4f}" if over is not None else "-"])
    return rows


def detector_sweep_hog() -> str:
    """Orientation bins x cell size, at the default k and metric."""
    data = load("detector_sweep")
    d = data["args"]
    k, metric = 5, "cosine"
    keys = [(f"{o} bins, {c} px cells ({28 // c} across)",
             f"orientations {o}, cell {c}, k {k}, {metric}")
            for o in d["orientations"] for c in d["cells"]]
    return (caption({"date_utc": data["started_utc"], "machine": data["machine"],
                     "command": data["command"]}) + "\n\n"
            + f"HOG settings at k = {k}, {metric} distance; mean validation AUROC over the "
            + "classes:\n\n"
            + table(["HOG", "Fashion-MNIST", "MNIST-10k", "mean of both"],
                    _sweep_rows(data, keys)) + "\n")


def detector_sweep_knn() -> str:
    """The k x metric grid, at the default HOG (4 bins, 4 px cells)."""
    data = load("detector_sweep")
    keys = [(f"k {k}, {m}", f"orientations 4, cell 4, k {k}, {m}")
            for m in data["args"]["metrics"] for k in data["args"]["ks"]]
    best = data["best_over_datasets"]
    return ("k and metric at 4 bins and 4 px cells; the best setting over the whole sweep: "
            f"{best} ({data['best_mean_val_auroc_over_datasets']:.4f}); the default "
            f"({data['default']}) ranks {data['default_rank']} of "
            f"{len(data['mean_val_auroc_over_datasets'])}:\n\n"
            + table(["k, metric", "Fashion-MNIST", "MNIST-10k", "mean of both"],
                    _sweep_rows(data, keys)) + "\n")


# --- the VAE's width (benchmarks/vae_width.py) ---------------------------------------------

def _vae_width(name: str) -> Callable[[], str]:
    def render() -> str:
        return vae_width(name)
    render.__doc__ = f"Validation ELBO per width and dataset, from {name}.json."
    return render


def vae_width(name: str = "vae_width") -> str:
    """Validation ELBO per width and dataset."""
    data = load(name)
    sets = data["datasets"]
    widths = sorted({int(w) for d in sets.values() for w in d["widths"]})
    rows = []
    for w in widths:
        row = [f"{w}" + (" (default)" if w == 256 else "")]
        for d in sets.values():
            cell = d["widths"].get(str(w))
            best = " **best**" if d["best_width"] == w else ""
            row.append(f"{cell['val_elbo_nats']:.2f}{best} ({cell['train_s']:.0f} s)"
                       if cell else "-")
        rows.append(row)
    names = [f"{n} ({d['fit_images']:,} fit / {d['validation_images']:,} validation)"
             for n, d in sets.items()]
    return (caption(data["provenance"]) + f"\n\n{data['epochs']} epochs; validation ELBO, nats "
            "per image (higher is better), and training time:\n\n"
            + table(["hidden units", *names], rows) + "\n")


# --- the demo (benchmarks/demo.py) ---------------------------------------------------------

def demo() -> str:
    """`edgeae demo`'s metrics."""
    data = load("demo")
    m = data["metrics"]
    a, d, g = m["anomaly"], m["denoise"], m["generation"]
    rows = [
        ["whole demo, wall clock", f"{data['wall_clock_s']:.1f} s"],
        ["autoencoder training", f"{m['train_seconds']:.1f} s ({m['epochs_run']} epochs)"],
        ["validation MSE (Keras)", f"{m['val_mse']:.5f}"],
        ["test MSE (runtime, TFLite)", f"{m['test_mse_runtime']:.5f}"],
        ["parity, max abs diff vs Keras", f"{m['parity_max_abs_diff']:.1e}"],
        ["artifact", f"{m['artifact_bytes']:,} B"],
        ["runtime latency per 8x8 frame, p50 / p99",
         f"{m['latency_ms_p50']:.3f} / {m['latency_ms_p99']:.3f} ms"],
        [f"denoising, `camera` 512x512, sigma {d['sigma']:g}: noisy -> live int8",
         f"{d['psnr_noisy_db']:.2f} -> {d['psnr_denoised_db']:.2f} dB"],
        ["detection of non-zeros (default score): AUROC, accuracy, precision, recall",
         ", ".join(f"{a[k]:.3f}" for k in ("auroc", "accuracy", "precision", "recall"))],
        ["generation: VAE test ELBO (Bernoulli, nats per 8x8 digit)",
         f"{g['test_elbo_nats']:.1f}"],
    ]
    return caption(data["provenance"]) + "\n\n" + table(["measure", "value"], rows) + "\n"


# --- `edgeae benchmark` tables (benchmarks/edge_table.sh) -----------------------------------

def _edge(name: str) -> Callable[[], str]:
    def render() -> str:
        from edgeae.app.benchmark import markdown_table

        data = load(f"edge-{name}")
        return caption(data["provenance"]) + "\n\n" + markdown_table(data["rows"]) + "\n"
    render.__doc__ = f"`edgeae benchmark` rows of edge-{name}.json."
    return render


def _loop_runs(names: tuple[str, ...]) -> Callable[[], str]:
    """The int8 rows of several `benchmark --video` runs, one line each: the loop's share."""
    def render() -> str:
        rows = []
        for name in names:
            data = load(f"edge-{name}")
            for r in (r for r in data["rows"] if r["precision"] == "int8" and r.get("loop_fps")):
                rows.append([name, data["provenance"]["date_utc"][11:16], r["backend"],
                             f"{r['ms_p50']:.2f}", f"{r['ms_mean']:.2f}",
                             f"{r['engine_rate_fps']:.1f}", f"{r['loop_fps']:.1f}",
                             f"{r['loop_pct_of_engine_rate']:.1f}%"])
        header = ["run", "UTC", "backend", "engine ms p50", "engine ms mean",
                  "engine rate (1/mean)", "loop fps", "loop share of the engine's rate"]
        return table(header, rows, right=set(range(3, 8))) + "\n"
    render.__doc__ = f"The int8 loop rows of {', '.join(names)}."
    return render


# --- export (benchmarks/export.py) ------------------------------------------------------------

def _export(model: str) -> Callable[[], str]:
    def render() -> str:
        data = load("export")
        res = data[model]
        rows = []
        for row in res["artifacts"] + res["variants"]:
            name = f"*variant:* {row['variant']}" if "variant" in row else row["file"]
            rows.append([name, f"{row['bytes']:,}", f"{row['size_vs_tflite_fp32']:.3f}",
                         f"{row['max_abs_diff_vs_keras']:.1e}", f"{row['psnr_db']:.2f}",
                         f"{row['psnr_drop_vs_keras_db']:+.3f}", f"{row['ssim']:.4f}",
                         f"{row['latency_ms_p50_batch1']:.3f}",
                         "pass" if row["export_gate_passed"] else "fail"])
        keras = res["keras"]
        return (_script_caption(data) + f"\n\nKeras: {keras['bytes']:,} B, test PSNR "
                f"{keras['psnr_db']:.2f} dB, SSIM {keras['ssim']:.4f}.\n\n"
                + table(["artifact", "bytes", "size ratio", "max abs diff vs Keras", "PSNR dB",
                         "PSNR drop dB", "SSIM", "p50 ms", "gate"], rows,
                        right={1, 2, 3, 4, 5, 6, 7}) + "\n")
    render.__doc__ = f"export.json's {model}."
    return render


# --- anomaly detection (benchmarks/anomaly.py) -------------------------------------------------

_ANOMALY_SETS = {"fashion-mnist": "Fashion-MNIST", "mnist-10k": "MNIST-10k"}
_RECONSTRUCTION = ("mse (tutorial)", "mae", "max", "top 1%", "top 5%", "smooth 1 + max",
                   "smooth 1 + top 5%", "smooth 2 + top 10%")
_ANOMALY_DEFAULT = "dense 64, HOG 5-NN"  # edgeae's default model and score (DEFAULT_SCORE)
_ANOMALY_BASELINES = ("PCA (95% variance)", "IsolationForest", "OneClassSVM", "PyOD AutoEncoder")


def _anomaly_caption(data: dict) -> str:
    run = data["run"]
    load = run.get("load_average_1_5_15", {})
    busy = (f"; load average (1/5/15 min) {' / '.join(map(str, load['before']))} before, "
            f"{' / '.join(map(str, load['after']))} after" if load else "")
    return (f"Run {run['started']} to {run.get('finished', '?')}; CPU {run['cpu']}, "
            f"{run['cpus']} cores{busy}; `{run['command']}`")


def _anomaly_sets(data: dict) -> list[str]:
    return [name for name in _ANOMALY_SETS if name in data]


def _mean_val(data: dict, dataset: str, combo: str) -> float:
    return data[dataset]["summary"]["mean_val_auroc"][combo]


def _mean_test(data: dict, dataset: str, method: str) -> float:
    return data[dataset]["summary"]["mean_test_auroc"][method]


def _best_reconstruction(data: dict, dataset: str) -> str:
    """The (model, reconstruction-error score) with the best mean validation AUROC."""
    vals = data[dataset]["summary"]["mean_val_auroc"]
    return max((k for k in vals if k.split(", ", 1)[1] in _RECONSTRUCTION), key=vals.get)


def _default_rank(both: dict[str, float]) -> str:
    """Where the default stands among all choices by mean validation AUROC over both sets."""
    best = max(both, key=both.get)
    if best == _ANOMALY_DEFAULT:
        return f"the best mean over both validation splits, {both[best]:.4f}"
    return (f"mean over both validation splits {both[_ANOMALY_DEFAULT]:.4f}; the best, {best}, "
            f"{both[best]:.4f}")


def anomaly() -> str:
    """Mean test AUROC over the classes, per method and dataset."""
    data = load("anomaly")
    sets = _anomaly_sets(data)
    chosen = {d: data[d]["summary"]["chosen (by validation AUROC)"] for d in sets}

    def cells(method: str, bold: bool = False) -> list[str]:
        out = []
        for d in sets:
            value = data[d]["summary"]["mean_test_auroc"].get(method)
            out.append("-" if value is None else f"**{value:.4f}**" if bold else f"{value:.4f}")
        return out

    both = {c: sum(_mean_val(data, d, c) for d in sets) / len(sets)
            for c in data[sets[0]]["summary"]["mean_val_auroc"]}
    rows = [["**edgeae, chosen on each dataset's validation split**",
             *[f"**{_mean_test(data, d, 'edgeae ' + chosen[d]):.4f}** ({chosen[d]})"
               for d in sets]],
            ["edgeae int8 TFLite, same choice, scored by the runtime",
             *cells("edgeae int8 tflite (chosen)")],
            [f"edgeae default ({_ANOMALY_DEFAULT}: {_default_rank(both)})",
             *cells("edgeae " + _ANOMALY_DEFAULT)]]
    shown = {_best_reconstruction(data, d) for d in sets}
    for d in sets:
        combo = _best_reconstruction(data, d)
        rows.append([f"edgeae {combo.replace(' (tutorial)', '')} (the best reconstruction error on "
                     f"{_ANOMALY_SETS[d]}'s validation split)", *cells("edgeae " + combo)])
    for combo, note in (("dense 256-128-32, HOG 5-NN + smooth 2 + top 10%", ""),
                        ("dense 64, HOG 5-NN + smooth 2 + top 10%", ""),
                        ("dense 256-128-32, smooth 2 + top 10%", ""),
                        ("dense 64, smooth 2 + top 10%", " (the previous default)"),
                        ("dense 64, mse (tutorial)", " (the tutorial's score)"),
                        ("conv, mse (tutorial)", " (the tutorial's conv denoiser)")):
        if combo in shown:
            continue
        rows.append([f"edgeae {combo.replace(' (tutorial)', '')}{note}", *cells("edgeae " + combo)])
    rows.append(["the tutorial's recipe (dense 32-16-8, MAE)", *cells("tutorial recipe")])
    labels = {"PCA (95% variance)": "PCA reconstruction error (95% variance)",
              "PyOD AutoEncoder": "PyOD AutoEncoder (defaults)"}
    rows += [[labels.get(b, b), *cells(b)] for b in _ANOMALY_BASELINES]
    return (_anomaly_caption(data) + "\n\nMean test AUROC over the 10 classes:\n\n"
            + table(["method", *[_ANOMALY_SETS[d] for d in sets]], rows) + "\n")


def anomaly_per_class() -> str:
    """Test AUROC per class: the chosen detector, its int8 export and the best baseline."""
    data = load("anomaly")
    header, columns = ["class"], []
    for d in _anomaly_sets(data):
        per_class = data[d]["per_class"]
        chosen = "edgeae " + data[d]["summary"]["chosen (by validation AUROC)"]
        arch, score = chosen[len("edgeae "):].split(", ", 1)
        baseline = max((b for b in _ANOMALY_BASELINES
                        if b in data[d]["summary"]["mean_test_auroc"]),
                       key=data[d]["summary"]["mean_test_auroc"].get)
        name = _ANOMALY_SETS[d]
        header += [f"{name}: edgeae chosen", f"{name}: int8", f"{name}: {baseline}"]
        columns.append({c: [f"{r['edgeae'][arch]['scores'][score]['auroc']:.4f}",
                            f"{r['edgeae int8 tflite (chosen)']:.4f}"
                            if "edgeae int8 tflite (chosen)" in r else "-",
                            f"{r[baseline]['auroc']:.4f}"] for c, r in per_class.items()})
    classes = sorted({c for col in columns for c in col}, key=int)
    rows = [[c, *[v for col in columns for v in col.get(c, ["-"] * 3)]] for c in classes]
    return ("Test AUROC per class (the best baseline: the one with the best mean test AUROC "
            "on that dataset):\n\n" + table(header, rows) + "\n")


def anomaly_threshold() -> str:
    """Class 0 at the threshold (mean + 1 std): edgeae's default against the tutorial's."""
    data = load("anomaly")
    arch = _ANOMALY_DEFAULT.split(", ")[0]
    rows = []
    for d in _anomaly_sets(data):
        r = data[d]["per_class"]["0"]
        m, t = r["edgeae"][arch]["at_threshold (HOG 5-NN, mean+1std)"], r["tutorial recipe"]
        for label, x in ((f"edgeae default ({_ANOMALY_DEFAULT})", m),
                         ("the tutorial's recipe (MAE)", t)):
            rows.append([_ANOMALY_SETS[d], label,
                         *[f"{x[k]:.3f}" for k in ("accuracy", "precision", "recall", "auroc")]])
    return ("Class 0 at each method's threshold, mean + 1 std of its training images' scores "
            "(test set):\n\n" + table(["dataset", "detector", "accuracy", "precision", "recall",
                                       "AUROC"], rows, right={2, 3, 4, 5}) + "\n")


def _anomaly_timed_score(data: dict) -> str:
    """What the scoring time covers: one score (since the run of 2026-11-30) or the mean of 10."""
    if data["run"].get("timed_score"):
        return f"the fitted score, {data['run']['timed_score']}, as `edgeae score` computes it"
    return "the mean over its 10 scores"


def anomaly_time() -> str:
    """Mean fit time per class and scoring time, per method."""
    data = load("anomaly")
    sets = _anomaly_sets(data)
    archs = list(data[sets[0]]["per_class"]["0"]["edgeae"])

    def mean(d: str, *keys: str) -> float:
        """The mean over the classes of per_class[c][keys[0]][keys[1]]..."""
        values = []
        for r in data[d]["per_class"].values():
            for k in keys:
                r = r[k]
            values.append(r)
        return sum(values) / len(values)

    rows = [[f"edgeae {a}", *[f"{mean(d, 'edgeae', a, 'train_s'):.1f}" for d in sets],
             *[f"{mean(d, 'edgeae', a, 'score_ms_per_image'):.3f}" for d in sets]]
            for a in archs]
    rows += [[method, *[f"{mean(d, method, 'train_s'):.1f}" for d in sets], *["" for _ in sets]]
             for method in ("tutorial recipe", *_ANOMALY_BASELINES)
             if method in data[sets[0]]["per_class"]["0"]]
    n = {d: len(data[d]["per_class"]) for d in sets}
    return ("Mean time per class: fitting (edgeae: training, the HOG memory and scoring the "
            "training images) and edgeae's scoring per test image (Keras, batches of 64, "
            f"{_anomaly_timed_score(data)}):\n\n"
            + table(["method", *[f"fit s, {_ANOMALY_SETS[d]} ({n[d]} classes)" for d in sets],
                     *[f"score ms/image, {_ANOMALY_SETS[d]}" for d in sets]], rows) + "\n")


def anomaly_pixel() -> str:
    """Localisation on pasted defects (--pixel)."""
    data = load("anomaly")
    rows = []
    for d in _anomaly_sets(data):
        summary = data[d]["summary"]
        p = summary.get("pixel (chosen), mean over classes")
        if p:
            chosen = summary["chosen (by validation AUROC)"]
            rows.append([f"{_ANOMALY_SETS[d]}, mean of {len(data[d]['per_class'])} classes",
                         f"{chosen} (chosen)", f"{p['pixel_auroc']:.3f}", f"{p['pro']:.3f}",
                         f"{p['image_auroc']:.3f}"])
    crops = data.get("train400-crops", {}).get("summary")
    if crops:
        for arch, p in crops["models"].items():
            rows.append([f"Train400 crops ({crops['train_crops']:,} / {crops['test_crops']} "
                         "test)", f"{arch}, default score", f"{p['pixel_auroc']:.3f}",
                         f"{p['pro']:.3f}", f"{p['image_auroc']:.3f}"])
    return table(["set", "model, image score", "pixel AUROC", "PRO (to FPR 0.3)",
                  "image AUROC"], rows, right={2, 3, 4}) + "\n"


# --- the tutorial (benchmarks/tutorial.py) ------------------------------------------------------

_TUTORIAL_MODELS = {"dense_autoencoder": "dense autoencoder (latent 64)",
                    "conv_denoiser": "conv denoiser (noise 0.2)"}
# The run of the TensorFlow tutorial quoted in the issue (not measured here): s/epoch, test MSE,
# PSNR dB, SSIM ("" where the issue gave none).
_TUTORIAL_QUOTED = {"dense_autoencoder": ("1.58", "0.00878", "", ""),
                    "conv_denoiser": ("7.9", "0.00706", "21.9", "0.80")}


def _script_caption(data: dict) -> str:
    load = data.get("load_average_1_5_15", {})
    busy = (f"; load average (1/5/15 min) {' / '.join(map(str, load['before']))} before, "
            f"{' / '.join(map(str, load['after']))} after" if "after" in load else "")
    when = data.get("started_utc", data["date"])
    if "finished_utc" in data:
        when += f" to {data['finished_utc']}"
    return (f"Run {when}; CPU {data['cpu']}, {data['machine'].split(', ')[-1]}{busy}; "
            f"`{data['command']}`")


def tutorial() -> str:
    """Training speed and test quality, the tutorial's recipe against edgeae's path."""
    data = load("tutorial")

    def q(x: dict) -> list[str]:
        return [f"{x['mse']:.5f}", f"{x['psnr_db']:.2f}", f"{x['ssim']:.3f}"]

    rows = []
    for key, label in _TUTORIAL_MODELS.items():
        res = data[key]
        quoted = _TUTORIAL_QUOTED[key]
        rows += [[label, "issue's quoted run of the tutorial", *quoted],
                 ["", "tutorial recipe, this run",
                  f"{res['tutorial_recipe']['seconds_per_epoch']:.2f}", *q(res["tutorial_recipe"])],
                 ["", "edgeae (Keras)", f"{res['edgeae']['seconds_per_epoch']:.2f}",
                  *q(res["edgeae"]["keras"])],
                 ["", "edgeae (TFLite fp32, runtime)", "", *q(res["edgeae"]["tflite_fp32"])]]
    noisy = data["noisy_input_quality"]
    return (_script_caption(data) + "\n\n"
            + table(["example", "way", "s/epoch", "test MSE", "test PSNR dB", "test SSIM"], rows,
                    right={2, 3, 4, 5})
            + f"\n\nThe noisy test inputs themselves: MSE {noisy['mse']:.4f}, PSNR "
            f"{noisy['psnr_db']:.2f} dB, SSIM {noisy['ssim']:.3f}.\n")


def tutorial_runtime() -> str:
    """The exported float32 TFLite models in the runtime against Keras."""
    data = load("tutorial")
    rows = []
    for key, label in (("dense_autoencoder", "dense"), ("conv_denoiser", "conv denoiser")):
        e = data[key]["edgeae"]
        b1, b32 = e["latency_batch1"], e["images_per_second_batch32"]
        rows.append([label, f"{e['tflite_bytes']:,} B",
                     f"{e['tflite_max_abs_diff_vs_keras_on_test']:.1e}",
                     f"{b1['keras']['p50_ms']:.2f} / {b1['keras']['p99_ms']:.2f}",
                     f"{b1['tflite']['p50_ms']:.3f} / {b1['tflite']['p99_ms']:.3f}",
                     f"{b1['speedup']:.0f}x",
                     f"{b32['keras']:,.0f} / {b32['tflite']:,.0f}"])
    return table(["model", "TFLite size", "max abs diff vs Keras (10k test)",
                  "batch-1 p50 / p99 ms, Keras", "batch-1 p50 / p99 ms, TFLite", "speed-up",
                  "images/s at batch 32, Keras / TFLite"], rows) + "\n"


# --- odd-size photos (benchmarks/odd_sizes.py) -------------------------------------------------

def odd_sizes() -> str:
    """Per artifact and photo set: PSNR padded by repetition, by reflection, and cropped."""
    data = load("odd_sizes")
    sets = list(dict.fromkeys(r["photos"] for r in data["rows"]))
    by_artifact: dict[str, dict[str, dict]] = {}
    for r in data["rows"]:
        by_artifact.setdefault(f"{r['model']} {r['precision']} {r['backend']}", {})[
            r["photos"]] = r
    rows = [[name] + [f"{c[s]['edge']:.2f} / **{c[s]['reflect']:.2f}** / {c[s]['cropped']:.2f}"
                      for s in sets] for name, c in by_artifact.items()]
    noisy = ", ".join(f"{s} {data['rows'][i]['noisy']:.2f}" for i, s in enumerate(sets))
    return (caption(data["provenance"]) + "\n\n"
            + f"Mean PSNR (dB) at sigma {data['sigma']}: edge (before) / **reflect (now)** / "
            f"cropped to a multiple of 16. Noisy input: {noisy}.\n\n"
            + table(["artifact", *sets], rows) + "\n")


# --- large photos, whole or in tiles (benchmarks/large_photos.py) -----------------------------

def _photo_run(run: dict) -> list[str]:
    """First call s, next calls s and peak MB of one mode, or why it did not run."""
    if "skipped" in run:
        return ["not run", "", run["skipped"]]
    return [f"{run['first_s']:.1f}", f"{run['again_s']:.1f}", f"{run['peak_mb']:,}"]


def large_photos(name: str = "large_photos") -> str:
    """Per photo size, model and backend: time and peak memory whole and in tiles."""
    data = load(name)
    rows = [[r["size"], r["model"], f"{r['backend']} ({r['tiled']['artifact']})",
             *_photo_run(r["whole"]), *_photo_run(r["tiled"]),
             str(r.get("max_diff", "-"))] for r in data["rows"]]
    return (caption(data["provenance"]) + "\n\n"
            + f"Colour photos, {data['threads']} threads; tiles of at most "
            f"{data['tile_pixels']:,} pixels over the batch; seconds per photo.\n\n"
            + table(["photo", "model", "backend", "whole: first s", "whole: again s",
                     "whole: peak MB", "tiled: first s", "tiled: again s", "tiled: peak MB",
                     "max diff (levels)"], rows, right={3, 4, 5, 6, 7, 8, 9}) + "\n")


# --- Raspberry Pi estimates (benchmarks/pi_estimate.py) ---------------------------------------

def pi_estimate() -> str:
    """Estimated fp32 frames/s on a Pi 4 and 5 from MACs per frame and published rates."""
    data = load("pi_estimate")
    rows = [[r["model"], f"{r['macs_per_pixel']:,}", r["frame"], f"{r['gmacs_per_frame']:.2f}",
             f"{r['pi4_fps']:.1f}", f"{r['pi5_fps'][0]:.1f}-{r['pi5_fps'][1]:.1f}",
             f"{r['pi4_ncnn_fps']:.1f}", f"{r['pi5_ncnn_fps']:.1f}"] for r in data["rows"]]
    lo, hi = data["pi5_speedup"]
    ncnn = data["ncnn_gmacs"]
    return (caption(data["provenance"]) + "\n\n"
            + f"XNNPACK (LiteRT): Pi 4 {data['pi4_gmacs']:.1f} GMAC/s, Pi 5 {lo:g}-{hi:g} x that; "
            f"ncnn: Pi 4 {ncnn['pi4']:.1f}, Pi 5 {ncnn['pi5']:.0f} GMAC/s.\n\n"
            + table(["model (fp32)", "MACs per pixel", "frame", "G MACs per frame",
                     "Pi 4 est. frames/s (XNNPACK)", "Pi 5 (XNNPACK)", "Pi 4 (ncnn rate)",
                     "Pi 5 (ncnn rate)"], rows, right={1, 3, 4, 5, 6, 7})
            + "\n")


# --- the run loop per backend (benchmarks/runtime.py) ------------------------------------------

def _runtime_cells(r: dict) -> list[str]:
    if "error" in r:
        return [f"cannot run: {r['error'][:90]}"] + [""] * 7
    return [f"{r['fps']:.1f}", f"{r['frame_ms']['p50']:.1f} / {r['frame_ms']['p99']:.1f}",
            f"{r['inference_ms']['p50']:.1f} / {r['inference_ms']['p99']:.1f}",
            f"{r['pre_post_ms_p50']:.2f}", f"{r['capture_ms']['p50']:.2f}",
            f"{r['import_s']:.2f}", f"{r['peak_rss_mb']:.0f}", f"{r['numpy']}"]


def _runtime(name: str) -> Callable[[], str]:
    return lambda: runtime(name)


def runtime(name: str = "runtime") -> str:
    """`edgeae run`'s loop on a 640x480 video, per backend and artifact."""
    data = load(name)
    rows = [[r["backend"], r["artifact"], *_runtime_cells(r)] for r in data["rows"]]
    return (caption(data["provenance"]) + "\n\n"
            + f"{data['video']}; {data['threads']} threads; times in ms per frame.\n\n"
            + table(["backend", "artifact", "fps", "frame p50 / p99", "inference p50 / p99",
                     "pre/post p50", "capture p50", "import s", "peak RSS MB", "numpy"], rows,
                    right={2, 3, 4, 5, 6, 7, 8}) + "\n")


# --- decoding straight to gray (benchmarks/gray_decode.py) -------------------------------------

def gray_decode() -> str:
    """Reading the clip as luma or as colour + cvtColor; `run --gray`, before and now."""
    data = load("gray-decode")
    decode = data["decode"]
    times = decode["ms_per_frame"]
    rows = [[name, " ".join(f"{v:.2f}" for v in values), f"{decode['median_ms'][name]:.2f}"]
            for name, values in times.items()]
    loop_rows = [[r["model"], r["backend"],
                  *(" ".join(f"{v:.1f}" for v in r["fps"][k]) for k in ("before", "this tree")),
                  f"{r['median_fps']['before']:.1f}", f"{r['median_fps']['this tree']:.1f}",
                  f"{r['gain_pct']:+.1f}%"] for r in data["loop"]]
    diffs = "; ".join(f"{name}: {d['mean']:+.3f} levels on average, {d['mean_abs']:.3f} in "
                      f"size, {d['max_abs']} at most"
                      for name, d in decode["gray_difference"].items())
    return (caption(data["provenance"]) + "\n\n"
            + "Reading benchmarks/runtime.py's 640x480 MJPG clip (150 frames) through the "
            "runtime's capture, ms per frame, in alternating rounds:\n\n"
            + table(["read as", "each round", "median"], rows) + "\n\n"
            + f"The luma, less each colour decode made gray (cv2.cvtColor), per pixel: {diffs}."
            "\n\n"
            + f"`edgeae run --pretrained MODEL --gray --loop --duration {data['seconds']:g} "
            "--backend B` on the clip, frames/s, each run its own process, before and now in "
            "turn:\n\n"
            + table(["model", "backend", "before, each", "now, each", "before", "now", "gain"],
                    loop_rows, right={4, 5, 6}) + "\n")


# --- decoding between two engine calls (benchmarks/decode_pacing.py) ---------------------------

PACING_RUNS = ("decode_pacing", "decode_pacing_repeat", "decode_pacing_video")


def decode_pacing() -> str:
    """`run --gray --loop` frames/s with the file reader paced by the engine, and without."""
    rows = []
    for name in PACING_RUNS:
        data = load(name)
        for backend in ("openvino", "litert"):
            res = data[backend]
            rows.append([name, data["provenance"]["date_utc"][11:16],
                         "yes" if data.get("write_video") else "no", backend,
                         f"{data['probe_ms']:.2f}", f"{res['median_fps']['before']:.1f}",
                         f"{res['median_fps']['this tree']:.1f}", f"{res['gain_pct']:+.2f}%",
                         f"{res['wins']} of {len(res['fps']['before'])}"])
    first = load(PACING_RUNS[0])
    return (caption(first["provenance"]) + "\n\n"
            + f"`edgeae run --pretrained live --gray --loop --duration {first['seconds']:g} "
            "--backend B` on benchmarks/runtime.py's 640x480 MJPG clip, frames/s (medians of "
            "the rounds), each run its own process, the two builds in turn; the probe is a "
            "bare OpenVINO int8 call before the runs, ms; the caption is the first run's, the "
            "others ran minutes later on the same machine:\n\n"
            + table(["run", "UTC", "output video", "backend", "probe", "without pacing",
                     "paced", "gain", "paced faster"], rows, right={4, 5, 6, 7}) + "\n")


def loop_gap(name: str) -> str:
    """The loop with frames decoded in advance, as shipped, and the bare engine, per round."""
    data = load(name)
    rows = [[name, " ".join(f"{v:.1f}" for v in values), f"{data['median_fps'][name]:.1f}",
             f"{100 * data['median_fps'][name] / data['median_fps']['bare']:.1f}%"]
            for name, values in data["rounds"].items()]
    sizes = data.get("jpeg_kb", {})
    first = next(iter(sizes), None)
    costs = [f"{data['decoding_ms_per_frame']:.2f} ms a frame"
             + (f" (sigma {first}, {sizes[first]:.0f} kB JPEGs)" if first else "")]
    costs += [f"{o['decoding_ms_per_frame']:.2f} ms (sigma {s}, {sizes[s]:.0f} kB)"
              for s, o in data.get("by_sigma", {}).items()]
    return (caption(data["provenance"]) + "\n\n"
            + "`live` int8 through OpenVINO on 2 threads, 640x480 gray, frames/s in interleaved "
            "rounds in one process; the share is of the bare engine's median. The decoding "
            f"costs the loop {', '.join(costs)}.\n\n"
            + table(["", "each round", "median", "share of bare"], rows, right={2, 3}) + "\n")


# --- adapting to a camera (benchmarks/camera.py) ----------------------------------------------

CAMERA_METHODS = ("noisy", "nlm", "{start}", "{start} + blind-spot", "{start} + recorrupted",
                  "{start} adapted", "{start} adapted int8",
                  "{start} supervised (clean first part)")


def _camera_cell(row: dict, method: str) -> str:
    key = next(k for k in row if k.startswith("nlm")) if method == "nlm" else method
    cell = f"{row[key]['psnr']:.2f} / {row[key]['ssim']:.3f}"
    return f"{cell} ({key[5:-1]})" if method == "nlm" else cell


def _adapt_cells(row: dict) -> list[str]:
    a = row["adaptation"]
    content = (f", content Q {a['content_before']:.4f} -> {a['content_after']:.4f}"
               if a.get("content_before") is not None else "")
    return [f"{a['val_loss_before']:.5f} -> {a['val_loss_after']:.5f}{content} "
            f"({'kept' if a['kept'] else 'not kept'})", f"{a['mask_coverage']:.0%}",
            f"{row['adapt_seconds']:.0f}"]


def _coded_clips(data: dict) -> str | None:
    """How a result's noisy clips were coded ("each ... at CRF N"), None where uncoded."""
    crf = data.get("h264_crf")
    return None if crf is None else f"each noisy clip coded as one H.264 stream at CRF {crf}"


def camera(results: str = "camera") -> str:
    """PSNR and SSIM per clip, light level and method on the held-out tails; adapt's record."""
    data = load(results)
    start = data.get("pretrained", "live")  # the shipped model every method starts from
    methods = [m.format(start=start) for m in CAMERA_METHODS]
    rows = [[r["clip"], r["level"]] + [_camera_cell(r, m) for m in methods]
            + _adapt_cells(r) for r in data["rows"]]
    how = _coded_clips(data)
    coded = f", {how}" if how else ""
    # results from before adapt's brightness setting (2026-12-05) had the footage's alone
    held = sorted({r["adaptation"].get("brightness", "footage") for r in data["rows"]})
    brightness = ("the footage's alone" if held == ["footage"]
                  else f"held to {', '.join(held)}'s")
    if any(r["adaptation"].get("brightness_losses") for r in data["rows"]):
        brightness += ", the model the footage chose"
    return (caption(data["provenance"]) + "\n\n"
            + f"PSNR (dB) / SSIM on the last 20% of {data['frames']} frames of "
            f"{data['size'][0]}x{data['size'][1]}, gray{coded}; the adapted model's brightness "
            f"{brightness}.\n\n"
            + table(["clip", "light", "noisy", "NLM (best h)", start, f"{start} + Noise2Void",
                     f"{start} + R2R", f"**{start} adapted**", "adapted int8",
                     "supervised reference", "adapt's held-out loss", "flow trusted",
                     "adapt s"], rows, right=set(range(2, 13))) + "\n")


def adapt_loss_bias() -> str:
    """The held-out loss adapt keeps by, of known outputs: clean and start, sharp and blurred."""
    data = load("adapt_loss_bias")
    kinds = list(data["rows"][0]["loss"])
    rows = [[r["level"], r["start"], r["pairs"], f"{r['pixels_kept']:.1%}"]
            + [f"{r['loss'][k]:.6f}" for k in kinds] for r in data["rows"]]
    return (caption(data["provenance"]) + "\n\n"
            + "Frame-to-frame loss on the held-out tail (lower is what adapt keeps); the flow "
            "from the start model's output.\n\n"
            + table(["light", "start model", "pairs", "pixels kept", *kinds], rows,
                    right=set(range(3, 4 + len(kinds)))) + "\n")


KEEP_TRUTHS = ("pristine", "rendered")  # adapt_keep_test's two ground truths


# adapt_keep_test's rules in column order: (header, how a cell shows its two values)
KEEP_RULES = {"plain": ("plain rule: loss before -> after", ".6f"),
              "blur-matched": ("blur-matched rule: loss before -> after", ".6f"),
              "still reference": ("still-reference rule: loss before -> after", ".6f"),
              "content": ("content rule: Q before -> after", ".3f")}


def _rule_cell(rule: dict, form: str) -> str:
    verdicts = " / ".join("right" if rule["right"][t] else "**wrong**" for t in KEEP_TRUTHS)
    return (f"{rule['before']:{form}} -> {rule['after']:{form}} "
            f"({'keeps' if rule['keep'] else 'rejects'}: {verdicts})")


def _per_truth(values: dict, form: str) -> str:
    return " / ".join(format(values[t], form) for t in KEEP_TRUTHS)


def adapt_keep_test(name: str) -> str:
    """Whether adapt helped (PSNR against two truths), and what each keep rule decided."""
    data = load(name)
    names = [rule for rule in KEEP_RULES if rule in data["rows"][0]["rules"]]
    rows = [[r["level"], r["start"], _per_truth(r["psnr_before"], ".2f"),
             _per_truth(r["psnr_gain"], "+.2f"), f"{r['sigma']:g}",
             *(_rule_cell(r["rules"][rule], KEEP_RULES[rule][1]) for rule in names)]
            for r in data["rows"]]
    right = {(rule, t): sum(r["rules"][rule]["right"][t] for r in data["rows"])
             for rule in names for t in KEEP_TRUTHS}
    counts = "; ".join(f"{rule} {right[rule, 'pristine']} / {right[rule, 'rendered']}"
                       for rule in names)
    return (caption(data["provenance"]) + "\n\n"
            + "PSNR in dB against the pristine / the rendered frames; each rule's verdict is "
              "judged against both. Fitted blur: the blur-matched rule's.\n\n"
            + table(["light", "start model", "PSNR before", "adapt's gain", "fitted blur px",
                     *(KEEP_RULES[rule][0] for rule in names)], rows, right={2, 3, 4})
            + f"\n\nRight decisions of {len(rows)} (pristine / rendered): {counts}.\n")


def adapt_content_choice() -> str:
    """On the validation clip: a start's output against a replacement, by PSNR and by Q."""
    data = load("adapt_content_choice")
    rows = [[r["level"], r["start"], r["change"], f"{r['psnr_start']:.2f}",
             f"{r['psnr_change']:+.2f}", f"{r['q_start']:.2f} -> {r['q_new']:.2f}",
             ("keeps" if r["q_keeps"] else "rejects")
             + ("" if r["q_keeps"] == r["better"] else " (**wrong**)")] for r in data["rows"]]
    wrong = sum(r["q_keeps"] != r["better"] for r in data["rows"])
    return (caption(data["provenance"]) + "\n\n"
            + "The validation clip's held-out tail (12 frames of 128x128); PSNR in dB against "
              "the clean frames; Q on the tiles with an edge in either output (higher: more "
              "content); the content rule keeps a change whose Q does not fall.\n\n"
            + table(["light", "start", "change", "start's PSNR", "change in PSNR",
                     "Q start -> changed", "content rule"], rows, right={3, 4})
            + f"\n\nThe rule is wrong on {wrong} of {len(data['rows'])}.\n")


LOSS_SPACE_LABELS = {"srgb": "sRGB loss", "linear": "linear-light loss"}  # today's, candidate
WARP_LABELS = {"linear": "bilinear warp", "cubic": "bicubic warp"}
TARGETS_LABELS = {"next": "next frame", "both": "both neighbours"}
BRIGHTNESS_LABELS = {"footage": "footage alone", "live-camera": "held to live-camera"}
PASSES_LABELS = {"fp32": "float32 passes", "int8": "int8 passes"}
BLUR_LABELS = {"2": "2-px blur", "4": "4-px blur"}
CHOICE_LABELS = {"live-stream": "held to live-stream", "choose": "held to the footage's choice"}
# what some comparisons measure of each value's targets: row key -> (header, cell, note)
TARGET_MEASURES = {
    "target_blur": ("target's blur, its lead", lambda b: f"{b['blur']:g} px, {b['lead']:+.2f} dB",
                    "Target's blur: the Gaussian (px) whose blur of the clean frame best matches "
                    "the clean next frame warped as adapt warps the noisy one, and its PSNR lead "
                    "over the unblurred frame."),
    "target_error": ("target's PSNR, mask", lambda e: f"{e['psnr']:.2f}, {e['coverage']:.0%}",
                     "Target's PSNR: the clean frames, warped and averaged as adapt does the noisy "
                     "ones, against the clean frame on the mask (dB), and the share of pixels the "
                     "mask keeps."),
}
# what some comparisons measure once per row: row key -> (header, cell, note)
ROW_MEASURES = {
    "anchor_alone": ("live-camera alone: PSNR, offset",
                     lambda a: f"{a['psnr']:.2f}, {a['offset']:+.2f}",
                     "live-camera alone: the shipped camera model's own output on the tail, its "
                     "PSNR against the pristine frames (dB) and its mean offset from them (8-bit "
                     "levels)."),
    "pass_difference": ("int8 passes against float32",
                        lambda d: (f"live {d['start']['mean_abs']:.2f}; live-camera "
                                   f"{d['brightness']['mean_abs']:.2f}, blurred "
                                   f"{d['brightness']['blurred_offset']:+.2f} / "
                                   f"{d['brightness']['blurred_rms']:.2f}"),
                        "int8 passes against float32: on the clip's noisy frames, the mean "
                        "absolute difference (8-bit levels) between the int8 and float32 files' "
                        "outputs of the start (`live`, what the flow reads) and of `live-camera` "
                        "(the brightness anchor), and for `live-camera` the difference blurred as "
                        "the loss blurs it (2 px): its mean and RMS."),
}


def adapt_flow() -> str:
    """How well each dense flow lines up adapt's targets on noisy clips, per light level."""
    data = load("adapt_flow")
    rows = [[level, method, f"{r['psnr_own_mask_db']:.2f} ({r['kept']:.0%})",
             f"{r['psnr_common_mask_db']:.2f} ({r['common_kept']:.0%})", f"{r['ms_per_pair']:.1f}"]
            for level, methods in data["levels"].items() for method, r in methods.items()]
    return (caption(data["provenance"]) + "\n\n"
            + f"{data['clips']} clips of {data['frames']} frames of {data['size'][0]}x"
              f"{data['size'][1]}, gray. PSNR (dB) of the clean next frame warped onto the clean "
              "frame, on each flow's own mask (its share of pixels) and on the pixels every "
              "flow keeps; ms for a pair's two flows.\n\n"
            + table(["light", "flow", "own mask", "common mask", "ms per pair"], rows,
                    right={2, 3, 4}) + "\n")


def adapt_offset(name: str) -> str:
    """Adapt's output against the pristine frames: its offset and the PSNR without it."""
    data = load(name)
    how = _coded_clips(data)
    coded = f" {how[0].upper()}{how[1:]}." if how else ""
    rows = [[r["clip"], r["level"], model, f"{m['psnr']:.2f}", f"{m['offset_levels']:+.2f}",
             f"{m['psnr_global_offset_removed']:.2f}", f"{m['psnr_band_offsets_removed']:.2f}",
             ", ".join(f"{band}: {v:+.1f}" for band, v in m["band_offsets_levels"].items())]
            for r in data["rows"] for model, m in r["models"].items()]
    return (caption(data["provenance"]) + "\n\n"
            + "On the held-out tail, against the pristine frames: PSNR (dB), the mean offset "
              "(output minus pristine, 8-bit levels), the PSNR with that offset removed and "
              "with one offset per band of the pristine brightness removed (oracles: they use "
              f"the clean frames), and each band's offset.{coded}\n\n"
            + table(["clip", "light", "model", "PSNR", "offset", "offset removed",
                     "band offsets removed", "offset per band"], rows, right={3, 4, 5, 6})
            + "\n")


def adapt_choice(name: str, labels: dict[str, str]) -> str:
    """Adapt's PSNR gain with each value of one setting, and the choice between the two.

    `labels`: value -> its name. The results of benchmarks/adapt_loss_space.py and the scripts
    built on it: the first value is today's default, the second the candidate.
    """
    data = load(name)

    def cells(r: dict, value: str) -> list[str]:
        s = r[value]
        return [_per_truth(s["gain"], "+.2f"), f"{s['loss_before']:.6f} -> {s['loss_after']:.6f} "
                f"({'kept' if s['kept'] else 'dropped'})"]

    measures = [key for key in TARGET_MEASURES if key in data["rows"][0]]
    once = [key for key in ROW_MEASURES if key in data["rows"][0]]
    rows = [[r["clip"], r["level"], r["start"], _per_truth(r["psnr_before"], ".2f"),
             *(c for value in labels for c in cells(r, value)),
             *(TARGET_MEASURES[key][1](r[key][value]) for key in measures for value in labels),
             *(ROW_MEASURES[key][1](r[key]) for key in once)]
            for r in data["rows"]]
    today, candidate = labels
    choice = data["choice"]
    verdict = (f"Validation clip, {labels[candidate]} minus {labels[today]} gain against the "
               f"pristine frames: mean {choice[f'mean_{candidate}_minus_{today}']:+.3f} dB, worst "
               f"{choice['worst']:+.2f} dB: the default is **{labels[choice['default']]}**.\n"
               ) if choice else ""
    headers = [h for label in labels.values() for h in (f"{label}: gain",
                                                         f"{label}: held-out loss")]
    headers += [f"{label}: {TARGET_MEASURES[key][0]}" for key in measures
                for label in labels.values()]
    headers += [ROW_MEASURES[key][0] for key in once]
    notes = "".join(TARGET_MEASURES[key][2] + "\n\n" for key in measures)
    notes += "".join(ROW_MEASURES[key][2] + "\n\n" for key in once)
    return (caption(data["provenance"]) + "\n\n"
            + "PSNR in dB against the pristine / the rendered frames on the held-out tail; "
              f"{data['epochs']} epochs of adapt per run; each column's held-out loss is its own "
              "(not comparable across columns).\n\n" + notes
            + table(["clip", "light", "start model", "PSNR before", *headers], rows,
                    right={3, 4, 6}) + "\n\n" + verdict)


def adapt_distance() -> str:
    """Adapt's gain with the adjacent frames or those two apart as targets, uncoded and H.264."""
    data = load("adapt_distance")

    def cells(r: dict, value: str) -> list[str]:
        shared = r["shared_noise"][value]
        return [_per_truth(r[value]["gain"], "+.2f"),
                f"{shared['correlation']:+.3f}, {100 * shared['coverage']:.0f}%"]

    rows = [[r["clip"], "uncoded" if r["crf"] is None else f"H.264 CRF {r['crf']}", r["level"],
             _per_truth(r["psnr_before"], ".2f"), *cells(r, "both"), *cells(r, "both-2"),
             f"{r['both-2']['gain']['pristine'] - r['both']['gain']['pristine']:+.2f}"]
            for r in data["rows"]]
    choice = data["choice"]
    verdicts = " ".join(
        f"Validation clip, {coding}: both-2 minus both, mean {v['mean_both-2_minus_both']:+.3f} "
        f"dB, worst {v['worst']:+.2f} dB ({'met' if v['default'] == 'both-2' else 'not met'})."
        for coding, v in (("H.264", choice["h264"]), ("uncoded", choice["uncoded"])))
    return (caption(data["provenance"]) + "\n\n"
            + "PSNR in dB against the pristine / the rendered frames on the held-out tail, from "
              f"`live`; {data['epochs']} epochs of adapt per run. Shared noise: the correlation "
              "of the input's noise with its target's (each less the noiseless rendering, "
              "paired along adapt's flow) on the mask, and the share of pixels the mask keeps."
              "\n\n"
            + table(["clip", "coding", "light", "PSNR before", "both: gain", "both: shared noise",
                     "both-2: gain", "both-2: shared noise", "both-2 minus both"], rows,
                    right={3, 4, 6, 8})
            + f"\n\n{verdicts} The default is **{choice['default']}**.\n")


def adapt_brightness_model(name: str) -> str:
    """Adapt held to live-camera or to a candidate brightness model, and each model alone."""
    data = load(name)
    coding = _coded_clips(data) or "uncoded clips"
    rows = [[r["clip"], r["level"], *(_per_truth(r["gain"][m], "+.2f") for m in r["gain"]),
             f"{r['gain']['candidate']['pristine'] - r['gain']['live-camera']['pristine']:+.2f}",
             *(f"{r['alone'][m]['psnr']:.2f}, {r['alone'][m]['offset_levels']:+.2f}"
               for m in r["alone"])] for r in data["rows"]]
    return (caption(data["provenance"]) + "\n\n"
            + f"`live` adapted for 4 epochs on {coding}: PSNR gain (dB) on the held-out tail "
              "against the pristine / the rendered frames, held to each brightness model; each "
              "model's own output on the tail: PSNR against the pristine frames (dB), offset "
              "(8-bit levels, output minus pristine). The candidate: "
              f"`{data['brightness_model']}`.\n\n"
            + table(["clip", "light", "held to live-camera", "held to the candidate",
                     "difference", "live-camera alone", "candidate alone"], rows,
                    right={2, 3, 4}) + "\n")


def _fp32_cell(fp32: dict, sigmas: list[int]) -> str:
    """'29.33 / 29.74': fp32's mean validation PSNR over the noise levels / on Set12."""
    return (f"{statistics.fmean(fp32[f'validation {s}'] for s in sigmas):.2f} / "
            f"{fp32['set12 25']:.2f}")


def _drop_cell(psnr: dict, fp32: dict, sigmas: list[int]) -> str:
    """'0.24 / 0.55 (5) / 0.22': the PSNR drop from fp32, mean / largest (at sigma) / Set12."""
    drops = {s: fp32[f"validation {s}"] - psnr[f"validation {s}"] for s in sigmas}
    worst = max(drops, key=drops.get)
    return (f"{statistics.fmean(list(drops.values())):.2f} / {drops[worst]:.2f} ({worst}) / "
            f"{fp32['set12 25'] - psnr['set12 25']:.2f}")


def int8_ir() -> str:
    """The IR's int8 at each range rule beside the shipped ONNX int8 file, through OpenVINO."""
    data = load("int8_ir")
    sigmas = data["sigmas"]
    names = {"int8 ONNX (shipped)": "shipped int8 ONNX file",
             "IR cover": "IR, ranges cover every input (the default since 2026-12-03)",
             "IR mean": "IR, ranges the mean of the inputs' (NNCF's default, the IR's before)"}
    rows = [row for r in data["rows"] for row in _fp32_and_drop_rows(r, sigmas, names)]
    fix = "on (this CPU's int8 sums saturate)" if data["overflow_fix"] else "off"
    return (caption(data["provenance"]) + "\n\n"
            + "All through OpenVINO, 2 threads. fp32: mean PSNR in dB over the validation noise "
              "levels (40 held-out Train400 images at Gaussian sigma "
              f"{', '.join(map(str, sigmas))}) / on Set12 at sigma {data['set12_sigma']}. "
              "int8: the PSNR drop from fp32 in dB, "
              "the mean over those levels / the largest (at that sigma) / on Set12. "
              f"{data['calibration']} calibration crops; NNCF's overflow fix {fix}. ms: the "
              "median per 640x480 gray frame, interleaved rounds.\n\n"
            + table(["model", "file", "fp32 PSNR", "int8 drop", "ms p50"], rows,
                    right={2, 3, 4}) + "\n")


def _fp32_and_drop_rows(r: dict, sigmas: list[int], names: dict[str, str]) -> list[list[str]]:
    """A model's fp32 row (its PSNR), then one per file in `names` (its drop), with ms."""
    fp32 = r["psnr"]["fp32"]
    return [[r["model"], "fp32 ONNX file", _fp32_cell(fp32, sigmas), "-",
             f"{r['ms_p50']['fp32']:.1f}"],
            *([r["model"], name, "", _drop_cell(r["psnr"][key], fp32, sigmas),
               f"{r['ms_p50'][key]:.1f}"] for key, name in names.items())]


def qat_schemes() -> str:
    """`live` tuned by each quantization-aware scheme: fp32 PSNR, int8 drop per engine, verdict."""
    data = load("qat_schemes")
    sigmas, verdict = data["sigmas"], data["verdict"]
    rows = [[scheme, engine, _fp32_cell(r["psnr"]["fp32"][engine], sigmas),
             _drop_cell(r["psnr"]["int8"][engine], r["psnr"]["fp32"][engine], sigmas),
             " / ".join(f"{r['psnr']['int8'][engine][f'validation {x}']:.2f}" for x in sigmas)]
            for scheme, r in data["rows"].items() for engine in data["engines"]]
    gains = ", ".join(f"{e} {g:+.2f}" for e, g in verdict["int8_drop_gain_db"].items())
    return (caption(data["provenance"]) + "\n\n"
            + "The shipped `live` tuned 8 epochs at 1e-4 by each scheme, then exported by "
              "default. fp32: mean PSNR in dB over the validation noise levels (40 held-out "
              f"Train400 images at Gaussian sigma {', '.join(map(str, sigmas))}) / on Set12 at "
              f"sigma {data['set12_sigma']}. int8 drop: from its own fp32, the mean over those "
              "levels / the largest (at that sigma) / on Set12. int8 PSNR at each level.\n\n"
            + table(["scheme", "engine", "fp32 PSNR", "int8 drop", "int8 PSNR by sigma"], rows,
                    right={2, 3, 4})
            + f"\n\nThe rule: int8's mean drop smaller by at least 0.03 dB (here {gains}), fp32 "
              "mean at most 0.03 dB lower (here "
              + " and ".join(f"{s} {v:.2f}" for s, v in verdict["fp32_mean_db"].items())
              + f" dB). Default chosen: **{verdict['default']}**.\n")


def int8_bf16(results: str) -> str:
    """The int8 IR at each accuracy share, under float32 and bfloat16, and the rule's choice."""
    data = load(results)
    sigmas, rows, verdicts = data["sigmas"], [], []
    for r in data["rows"]:
        rows += _fp32_and_drop_rows(r, sigmas, {key: key for key in r["psnr"] if key != "fp32"})
        share = r["chosen_share"]
        verdicts.append(f"{r['model']}: " + (f"share {share}" if share is not None
                                             else "neither share"))
    return (caption(data["provenance"]) + "\n\n"
            + "All through OpenVINO, 2 threads. fp32: mean PSNR in dB over the validation noise "
              "levels (40 held-out Train400 images at Gaussian sigma "
              f"{', '.join(map(str, sigmas))}) / on Set12 at sigma {data['set12_sigma']}. "
              "Others: the PSNR drop from fp32 in dB, the mean over those levels / the largest "
              "(at that sigma) / on Set12. Each IR ran with its inference precision hint as "
              "exported and swapped (f32, bf16). ms: the median per 640x480 gray frame, "
              "interleaved rounds. The rule's choice for int8-bf16 (the faster share losing at "
              f"most {data['rule_db']} dB on the validation mean under bf16): "
              + "; ".join(verdicts) + ".\n\n"
            + table(["model", "file", "fp32 PSNR", "drop", "ms p50"], rows,
                    right={2, 3, 4}) + "\n")


def int8_ranges() -> str:
    """Shipped denoisers' int8 PSNR drop by calibration rule, per engine; the choices."""
    data = load("int8_ranges")
    sigmas, chosen = data["sigmas"], data["choice"]
    rules = ("int8 cover", "int8 cover, bias-corrected", "int8 mean",
             "int8 mean, bias-corrected", "int8 shipped")
    rows = [[r["model"], engine, _fp32_cell(fp32, sigmas),
             *(_drop_cell(r["psnr"][rule][engine], fp32, sigmas) for rule in rules),
             " / ".join(f"{ms:.1f}" for ms in r["ms_p50"][engine].values())]
            for r in data["rows"] for engine in data["engines"]
            for fp32 in (r["psnr"]["fp32"][engine],)]
    return (caption(data["provenance"]) + "\n\n"
            + "fp32: mean PSNR in dB over the validation noise levels (40 held-out Train400 "
              f"images at Gaussian sigma {', '.join(map(str, sigmas))}) / on Set12 at sigma "
              f"{data['set12_sigma']}. Each int8 file: its PSNR drop from fp32 in dB, the mean "
              "over those noise levels (what the rules compare) / the largest (at that sigma) / "
              f"on Set12. {data['calibration']} calibration crops. ms: the median per 640x480 "
              f"gray frame of the {chosen} ranges' file / the bias-corrected one, "
              f"{data['rounds']} interleaved rounds of {data['calls']} calls.\n\n"
            + table(["model", "engine", "fp32", "int8, ranges cover every input",
                     "cover, bias-corrected (NNCF)", "ranges the mean of the inputs'",
                     "mean, bias-corrected (NNCF)", "shipped int8 file",
                     f"ms p50, {chosen} / bias-corrected"], rows,
                    right={2, 3, 4, 5, 6, 7, 8})
            + f"\n\nThe rules' choices: ranges **{chosen}**, bias correction "
              f"**{'yes' if data['bias_correction'] else 'no'}**.\n")


def int8_kernels() -> str:
    """Both of onnxruntime's int8 kernels beside fp32, OpenVINO and LiteRT, per model."""
    data = load("int8_kernels")
    fp32 = {r["model"]: r["psnr_db"] for r in data["rows"] if r["variant"].endswith("fp32")}
    rows = [[r["model"], r["variant"], r["artifact"],
             f"{r['psnr_db']:.2f} ({r['psnr_db'] - fp32[r['model']]:+.2f})",
             f"{r['ms']['ms_p50']:.1f} / {r['ms']['ms_p99']:.1f}"] for r in data["rows"]]
    saturates = "saturate" if data["int8_sums_saturate"] else "do not saturate (VNNI)"
    return (caption(data["provenance"]) + "\n\n"
            + f"Set12 at sigma {data['sigma']}, mean PSNR in dB (in brackets the change from "
              f"fp32); ms per 640x480 gray frame, median / p99 of {data['repeats']} calls, "
              f"{data['threads']} threads. onnxruntime's fast int8 kernels {saturates} on this "
              "CPU.\n\n"
            + table(["model", "engine and kernels", "file", "PSNR", "ms p50 / p99"], rows,
                    right={3, 4}) + "\n")


def camera_mean(name: str) -> str:
    """How far the mean of a camera's noisy frames is from the pristine and rendered frames."""
    data = load(name)

    def cells(m: dict) -> list[str]:
        return [f"{m['vs_pristine_db']:.2f}", f"{m['vs_rendered_db']:.2f}",
                f"{m['offset_levels']:+.2f}"]

    rows = [[r["scene"], f"{r['rendered_vs_pristine_db']:.2f}", level, *cells(m["sRGB"]),
             *cells(m["linear"])] for r in data["rows"] for level, m in r["levels"].items()]
    return (caption(data["provenance"]) + "\n\n"
            + f"The mean of {data['samples']} noisy frames; PSNR in dB, offset in 8-bit levels "
              "(mean minus rendered).\n\n"
            + table(["scene", "rendered vs pristine", "light", "sRGB mean vs pristine",
                     "vs rendered", "offset", "linear-light mean vs pristine", "vs rendered",
                     "offset"], rows, right={1, 3, 4, 5, 6, 7, 8}) + "\n")


def _psnr_ssim(cell: dict) -> str:
    return f"{cell['psnr_db']:.2f} / {cell['ssim']:.3f}"


def camera_denoisers(name: str) -> str:
    """The shipped denoisers through camera and Gaussian noise, beside NLM."""
    data = load(name)
    models = data["models"]
    images = {"set12": "Set12 (gray, full size)",
              "validation": "the 40 Train400 images `edgeae train` holds out (gray, full size)"}
    rows = [[label, _psnr_ssim(r["noisy"]), f"{_psnr_ssim(r['nlm'])} (h={r['nlm']['h']:g})"]
            + [_psnr_ssim(r[m]) for m in models] for label, r in data["settings"].items()]
    truth = ("" if data.get("truth", "pristine") == "pristine" else
             " The camera settings are measured against the camera's noise-free rendering of "
             "each image (NLM's strength chosen against it too), the Gaussian ones against the "
             "pristine image.")
    return (caption(data["provenance"]) + "\n\n"
            + f"PSNR (dB) / SSIM, mean over {images[data.get('images', 'set12')]}.{truth}\n\n"
            + table(["noise", "noisy", "NLM (best h on Train400)", *models], rows) + "\n")


def _h264(setting: str) -> bool:
    return "H.264" in setting


def _gaussian(setting: str) -> bool:
    return setting.startswith("gaussian")


def _uncoded_or_jpeg(setting: str) -> bool:
    return not _h264(setting) and not _gaussian(setting)


def _stream_dim_night(setting: str) -> bool:
    return "of a still stream" in setting and setting.split(",")[0] in ("dim", "night")


def _still_h264(setting: str) -> bool:
    return _h264(setting) and "moving stream" not in setting


def _moving_stream(setting: str) -> bool:
    return "moving stream" in setting


# The stream-tuning rule (BENCHMARKS.md, "The lead followed"): V1 the mean over the H.264
# settings, V2 the worst uncoded or JPEG camera setting, V3 the worst Gaussian sigma, each as
# PSNR gained over the start model in the same run. A row: label, which settings, how they are
# summarised, the least allowed, and what the candidate is compared with ("start" or "nlm").
STREAM_RULE = {"V1": ("H.264 mean", _h264, statistics.mean, 0.10, "start"),
               "V2": ("worst uncoded or JPEG", _uncoded_or_jpeg, min, -0.10, "start"),
               "V3": ("worst Gaussian", _gaussian, min, -0.05, "start")}
# From the mixing by level on ("The stream's tuning mixed in by level" and the runs after it):
# V3 tightened, and V5 the lead over NLM on the stream's frame at `dim` and `night`.
LEVEL_RULE = {**STREAM_RULE, "V3": ("worst Gaussian", _gaussian, min, -0.02, "start"),
              "V5": ("least lead over NLM, stream's frame at dim and night", _stream_dim_night,
                     min, 1.0, "nlm")}


def _rule_value(settings: dict, model: str, start: str, row: tuple) -> float:
    """One rule row's summary of `model`'s PSNR over its settings, less `start`'s or NLM's."""
    _, chosen, summary, _, against = row
    reference = start if against == "start" else "nlm"
    return summary([settings[k][model]["psnr_db"] - settings[k][reference]["psnr_db"]
                    for k in settings if chosen(k)])


def stream_rule_verdicts(name: str, start: str = "live-camera int8",
                         rule: dict = STREAM_RULE) -> str:
    """Each int8 candidate of a camera_denoisers run judged by `rule` (against `start`, NLM)."""
    data = load(name)
    rows = []
    for model in (m for m in data["models"] if m.endswith("int8") and m != start):
        values = {v: _rule_value(data["settings"], model, start, row) for v, row in rule.items()}
        failed = [v for v, row in rule.items() if values[v] < row[3] - 1e-9]
        rows.append([model, *(f"{values[v]:+.2f}" for v in rule),
                     "fails " + ", ".join(failed) if failed else "meets " + ", ".join(rule)])
    header = [f"{v}: {row[0]} (at least {row[3]:+.2f})" for v, row in rule.items()]
    against = ", and over NLM where V5 says so" if "V5" in rule else ""
    return (f"dB gained over {start} in the run above{against}.\n\n"
            + table(["candidate", *header, "verdict"], rows, right=set(range(1, len(rule) + 1)))
            + "\n")


# The panning stream's rule (BENCHMARKS.md, "A panning camera's stream"): V6 the moving
# stream's frame gains, V1 the still camera's H.264 settings kept, the rest as LEVEL_RULE's.
PAN_RULE = {"V6": ("moving stream's frame, mean", _moving_stream, statistics.mean, 0.10,
                   "start"),
            "V1": ("still camera's H.264 mean", _still_h264, statistics.mean, -0.05, "start"),
            **{v: LEVEL_RULE[v] for v in ("V2", "V3", "V5")}}

level_rule_verdicts = functools.partial(stream_rule_verdicts, rule=LEVEL_RULE)
pan_rule_verdicts = functools.partial(stream_rule_verdicts, rule=PAN_RULE)


def odd_crops(name: str) -> str:
    """The odd-size guard per file: each crop's shortfall against real context, the verdict."""
    data = load(name)
    narrow = set(data["narrow"])
    sizes = list(next(iter(data["models"].values()))["shortfall_db"])
    rows = [[label] + [f"{result['shortfall_db'][s]:+.2f}" for s in sizes]
            + [f"{statistics.mean(result['shortfall_db'][s] for s in data['narrow']):+.2f}",
               f"{result['repetition_narrow_mean_db']:+.2f}",
               "; ".join(result["failures"]) or "passes"]
            for label, result in data["models"].items()]
    header = [s if s not in narrow else f"{s} (narrow)" for s in sizes]
    return (caption(data["provenance"]) + "\n\n"
            + "PSNR (dB) of a crop padded by the runtime less that of the same crop with real "
            f"pixels around it, at sigma 25. The guard: each of the first two within "
            f"{data['odd_tolerance_db']:g} dB, the narrow ones' mean within "
            f"{data['narrow_tolerance_db']:g} dB. Last but one: the narrow mean had the runtime "
            "repeated the last row and column instead of reflecting (what the guard is for).\n\n"
            + table(["model", *header, "narrow mean", "narrow mean, repeated edge", "guard"],
                    rows, right=set(range(1, len(sizes) + 3))) + "\n")


# --- video denoising (benchmarks/video.py) -----------------------------------------------------

def video(results: str) -> str:
    """Per method: PSNR, SSIM, flicker and moving-region PSNR over the clips; stills; speed."""
    data = load(results)
    rows = [[f"{group}: {name}" if i else f"**{group}**: {name}", f"{m['psnr']:.2f}",
             f"{m['ssim']:.4f}", f"{m['flicker']:.2f}",
             "-" if m["moving_psnr"] is None else f"{m['moving_psnr']:.2f}"]
            for group, means in data["quality"]["mean"].items()
            for i, (name, m) in enumerate(means.items())]
    still = ", ".join(f"{name} {v:.2f}" for name, v in data["still_psnr"].items())
    return (caption(data["provenance"]) + "\n\n"
            + f"{len(data['clips'])} clips of {data['frames']} frames, Gaussian sigma "
            f"{data['sigma']:g} (8-bit); means over clips.\n\n"
            + table(["method", "PSNR dB", "SSIM", "flicker", "moving-region PSNR dB"], rows,
                    right={1, 2, 3, 4})
            + f"\n\nStill images (Set12, sigma {data['sigma']:g}, each a still), PSNR dB: "
            f"{still}.\n\n" + _speed_table(data["speed"]) + "\n")


def _speed_table(speed: dict) -> str:
    """One row per model and engine; with rounds (video.py --rounds), medians and each round."""
    rounds = any("run_fps_rounds" in s for s in speed.values())
    rows = [[name, s["backend"], f"{s['model_ms_p50']:.1f} / {s['model_ms_p99']:.1f}",
             f"{s['run_fps']:.1f}",
             *([", ".join(f"{f:.1f}" for f in s["run_fps_rounds"])] if rounds else [])]
            for name, s in speed.items()]
    header = ["480x640 gray frame", "engine and file", "model ms p50 / p99", "`edgeae run` fps"]
    if rounds:
        header = [*header[:2], "model ms p50 / p99, median of rounds",
                  "`edgeae run` fps, median", "`edgeae run` fps, each round"]
    return table(header, rows, right={2, 3, 4})


def video_speed(name: str) -> str:
    """The video section's speed rows, rerun alone on another CPU (video.py --speed-only)."""
    data = load(name)
    return caption(data["provenance"]) + "\n\n" + _speed_table(data["speed"]) + "\n"


# --- --backend auto against fixed choices (benchmarks/auto_backend.py) -------------------------

def auto_backend(name: str) -> str:
    """Per shipped artifact: auto's pick, every fixed choice's p50 / p99, pick vs best."""
    data = load(name)
    rows = []
    for r in data["rows"]:
        fixed = sorted(r["fixed"].items(), key=lambda kv: kv[1]["p50_ms"])
        timings = ", ".join(f"{name} {t['p50_ms']:.1f} / {t['p99_ms']:.1f}" for name, t in fixed)
        rows.append([r["artifact"], r["picked"], f"{r['picked_vs_best']:.3f}",
                     f"{r['first_start_s']:.1f}", f"{r['cached_start_s']:.2f}", timings])
    h, w = data["frame"]
    return (caption(data["provenance"]) + "\n\n"
            + f"{h}x{w} frames, {data['threads']} threads; p50 / p99 ms of every candidate "
            "timed again after auto chose.\n\n"
            + table(["given file", "auto picked", "picked p50 / best p50", "first start s",
                     "cached start s", "every candidate (p50 / p99 ms)"], rows,
                    right={2, 3, 4}) + "\n")


# --- ncnn beside the other engines (benchmarks/ncnn_side_by_side.py) ------------------------------

def ncnn() -> str:
    """Per shipped float model and engine: p50 / p99 ms at 480x640, difference from onnxruntime."""
    data = load("ncnn")
    rows = [[r["model"], r["backend"], r["file"], f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
             f"{r['max_abs_diff']:.1e}"] for r in data["rows"]]
    h, w = data["frame"]
    return (caption(data["provenance"]) + "\n\n"
            + f"One {h}x{w} gray frame, float32, {data['threads']} threads, {data['runs']} runs "
            "after two warm-ups.\n\n"
            + table(["model", "engine", "file", "p50 ms", "p99 ms", "max abs diff vs onnxruntime"],
                    rows, right={3, 4, 5}) + "\n")


# --- bf16 beside fp32 and int8 (benchmarks/bf16.py) ----------------------------------------------

def bf16(name: str) -> str:
    """Per shipped model, engine and precision: ms at 480x640, difference, PSNR, gate."""
    data = load(name)
    rows = [[r["model"], r["backend"], r["precision"], r["file"], f"{r['p50_ms']:.1f}",
             f"{r['p99_ms']:.1f}", f"{r['max_abs_diff']:.1e}", f"{r['psnr']:.2f}",
             "yes" if r["passes_gate"] else "no"] for r in data["rows"]]
    h, w = data["frame"]
    return (caption(data["provenance"]) + "\n\n"
            + f"One {h}x{w} gray frame, {data['threads']} threads, {data['runs']} runs after two "
            f"warm-ups; PSNR on Set12 with sigma {data['sigma']} noise. {_bf16_summary(data)}\n\n"
            + table(["model", "engine", "precision", "file", "p50 ms", "p99 ms",
                     "max abs diff vs onnxruntime fp32", "Set12 PSNR", "passes gate"], rows,
                    right={4, 5, 6, 7}) + "\n")


def _bf16_summary(data: dict) -> str:
    """The fastest row passing its gate (and, where recorded, int8 within 0.1 dB) per model."""
    def said(best: dict | None) -> str:
        if best is None:
            return "none"
        return (f"{best['row']} at {best['fps']:.1f} frames/s, {best['x_litert_int8']:.2f}x "
                "LiteRT int8")

    parts = []
    for name, s in data["summary"].items():
        if "fastest_fps" in s:  # results before the int8 IR rows: the fastest row only
            s = {"fastest": {"row": s["fastest"], "fps": s["fastest_fps"],
                             "x_litert_int8": s["x_litert_int8"]}}
        accurate = s.get("int8_within_0.1_db", "unrecorded")
        parts.append(f"{name}: {said(s['fastest'])}" + (
            "" if accurate == "unrecorded" else f"; int8 within 0.1 dB of float: {said(accurate)}"))
    return "Fastest passing its gate: " + "; ".join(parts) + "."


# --- the device service's soak (benchmarks/soak.py) --------------------------------------------

def soak() -> str:
    """The page's cost, the long run's growth, and delivery through a broker outage."""
    data = load("soak")
    soaked, out = data["soak"], data["outage"]
    g, run = soaked["growth"], soaked["summary"]
    return (_soak_cost(data)
            + f"Soak: {caption(soaked['provenance'])}\n\n"
            f"{run['frames']:,} frames in {run['seconds']:.0f} s ({run['fps']:.1f} frames/s, "
            f"{run['dropped']} dropped), the page watched ({soaked['page_frames_received']:,} "
            f"frames received) and /metrics scraped {soaked['metrics_scrapes']:,} times. From "
            f"frame {g['from_frame']:,} to {g['to_frame']:,}: resident memory "
            f"{g['rss_mib'][0]:.1f} -> {g['rss_mib'][1]:.1f} MiB ({g['rss_growth_pct']:+.2f}%), "
            f"open files {g['open_files'][0]} -> {g['open_files'][1]} (at most "
            f"{g['max_open_files']}), threads {g['threads'][0]} -> {g['threads'][1]} (at most "
            f"{g['max_threads']}).\n\n"
            f"Outage: the broker stopped for {out['outage_seconds']:g} s while the run was "
            f"restarted; {out['distinct']} distinct status messages of {out['runs']} runs "
            f"arrived ({out['received']} with repeats), in order: {out['in_order']}, largest gap "
            f"within a run {out['largest_gap_s']:.2f} s (interval 0.5 s), none lost: "
            f"{out['none_lost']}.\n")



def _soak_cost(data: dict) -> str:
    """The page's cost to the loop: frames/s watched, unwatched, without and with the page."""
    c = data["cost"]
    fps = {**c["windows_fps"], **c["runs_fps"]}
    rows = [[name, " ".join(f"{v:.0f}" for v in values), f"{statistics.median(values):.1f}"]
            for name, values in fps.items()]
    w, h = data["size"]
    threads = f" --threads {c['threads']}" if c.get("threads") else ""
    return (f"Cost: {caption(c['provenance'])}\n\n"
            + f"`edgeae run --pretrained live --gray --loop{threads}` on a {w}x{h} clip in "
            f".venv-runtime; windows of {c['seconds']:g} s in one run, watched and unwatched in "
            f"turn; runs of {2 * c['seconds']:g} s without and with the page.\n\n"
            + table(["frames/s", "each", "median"], rows, right={2})
            + f"\n\nWatched against unwatched: {c['watched_vs_unwatched_pct']:+.1f}%; with the "
            f"page unwatched against no page: {c['unwatched_vs_no_page_pct']:+.1f}%. The page's "
            f"threads' share of the process's CPU: {c['page_cpu_share_pct']['watched']:.2f}% "
            f"watched, {c['page_cpu_share_pct']['unwatched']:.2f}% unwatched.\n\n")


def soak_cost(results: str) -> str:
    """The page's cost alone, from a `soak.py --parts cost` run of its own."""
    return _soak_cost(load(results))

# --- the runtime on aarch64 under qemu (benchmarks/arm_check.sh) -------------------------------

def arm_check() -> str:
    """Each step's time and result, the aarch64 environment's engines, the emulated run."""
    data = load("arm-check")
    rows = [[name, f"{step['seconds']:.1f}", step["status"]]
            for name, step in data["steps"].items()]
    engines = ", ".join(p for p in data["packages_inside"] if p.split("==")[0] in
                        ("ai-edge-litert", "onnxruntime", "openvino", "ncnn", "numpy",
                         "opencv-python-headless"))
    run = data["video_run"] or {}
    host = data["host"]
    return (f"Run {data['date_utc']}; host {host['machine']}, {host['cpus']} cores; "
            f"`{data['command']}`; {data['qemu']}; Debian {data['debian']}, "
            f"{data['python_inside']} inside\n\n"
            + table(["step", "seconds", "result"], rows, right={1})
            + f"\n\nDevice tests: {data['pytest']}. Inside: {engines}. `{run.get('command')}` "
            f"on {run.get('source')}: {run.get('frames')} frames, {run.get('model_ms_p50')} ms "
            f"per frame ({data['note']}). Passed: {data['passed']}.\n")


# --- Set12 denoising (benchmarks/denoise.py --part set12) --------------------------------------

PER_IMAGE_METHODS = ("live int8 litert", "quality fp32 litert", "bm3d",
                     "opencv fastNlMeansDenoising", "self-supervised")


def _set12_methods(data: dict) -> list[str]:
    """Every method measured at any sigma, in the order the run measured them."""
    names: dict[str, None] = {}
    for row in data["sigmas"].values():
        names.update(dict.fromkeys(row))
    return list(names)


def _set12_cells(data: dict, name: str) -> list[str]:
    sigmas = data["sigmas"]
    psnr = [f"{sigmas[s][name]['psnr_db']:.2f}" if name in sigmas[s] else "-" for s in sigmas]
    ssim = sigmas.get("25", {}).get(name, {}).get("ssim")
    speed = data.get("ms_per_640x480_frame", {}).get(name)
    ms = f"{speed['ms_p50']:,.1f} ({speed['ms_p99']:,.1f})" if speed else "-"
    return [*psnr, "-" if ssim is None else f"{ssim:.3f}", ms]


def denoise_set12() -> str:
    """Mean PSNR per method and sigma, SSIM at sigma 25, ms per 640x480 frame; per image."""
    data = load("denoise-set12")
    methods = _set12_methods(data)
    rows = [[name, *_set12_cells(data, name)] for name in methods]
    header = ["method", *(f"sigma {s}" for s in data["sigmas"]), "SSIM, sigma 25",
              "ms per 640x480 frame p50 (p99)"]
    at25 = data["sigmas"].get("25", {})
    per_image = [[name, " ".join(f"{p:.2f}" for p in at25[name]["psnr_per_image"])]
                 for name in at25 if name.startswith(PER_IMAGE_METHODS)]
    colour = data["colour"]
    shades = "; ".join(f"{k} {v['psnr_db']:.2f} dB ({v['ms_p50']:.1f} ms"
                       f"{', ' + v['colour_planes'] + ' planes' if 'colour_planes' in v else ''})"
                       for k, v in colour.items() if isinstance(v, dict))
    ways = {v.get("colour_planes", "rgb") for v in colour.values() if isinstance(v, dict)}
    how = "each plane denoised on its own" if ways == {"rgb"} else "in each model's planes"
    return (caption(data["run"]) + "\n\n"
            + table(header, rows) + "\n\nPer image at sigma 25 (PSNR dB, Set12's order):\n\n"
            + table(["method", "per-image PSNR dB"], per_image, right=set())
            + f"\n\nColour: {colour['image']}, sigma {colour['sigma']:g} in every channel, "
            f"{how}: noisy {colour['noisy input']:.2f} dB; {shades}.\n")



def denoise_fashion() -> str:
    """The tutorial's conv against edgeae's U-Net on Fashion-MNIST x_test: PSNR, SSIM, MACs."""
    data = load("denoise-fashion")
    rows = [[name, f"{r['psnr_db']:.2f}", f"{r['ssim']:.3f}",
             f"{r['macs_per_pixel']:,.0f}" if "macs_per_pixel" in r else "-",
             f"{r['epochs']}" if "epochs" in r else "-",
             f"{r['seconds']:,.0f}" if "seconds" in r else "-"]
            for name, r in data.items() if name != "run"]
    return (caption(data["run"]) + "\n\n"
            + table(["model", "PSNR dB", "SSIM", "MACs / pixel", "epochs", "training s"], rows)
            + "\n")


# --- localisation (benchmarks/localise.py) ----------------------------------------------------

def _setting(row: dict) -> str:
    context = "3x3 neighbours" if row["context"] else "block alone"
    brightness = f"brightness x{row['intensity']:g}" if row["intensity"] else "HOG only"
    return f"{context}, {brightness}, smoothing {row['smooth']:g} px, {row['bank']:,} patches"


def _by_size(result: dict) -> str:
    sizes = result.get("by_defect_size", {})
    return ", ".join(f"{k.split()[0]} {v['pixel_auroc']:.3f}" for k, v in sizes.items()) or "-"


def _map_rows(results: dict) -> list[list[str]]:
    """Map | pixel AUROC | PRO | image AUROC (score) | image AUROC (map max) | by size."""
    return [[name, f"{r['pixel_auroc']:.3f}", f"{r['pro']:.3f}",
             f"{r['image_auroc']:.3f}" if "image_auroc" in r else "-",
             f"{r['image_auroc_map_max']:.3f}", _by_size(r)] for name, r in results.items()]


MAP_HEADER = ["map", "pixel AUROC", "PRO (to FPR 0.3)", "image AUROC, detector's score",
              "image AUROC, map maximum", "pixel AUROC by defect size (share of the image: "
              "small up to 1%, medium 1-5%, large over 5%)"]


def localise(name: str) -> str:
    """Patch maps beside the reconstruction error's: validation grid, Train400 and Fashion."""
    data = load(name)
    axes = (f"on the memory's first {data['dims']} principal axes" if data.get("dims")
            else "on every number of their descriptors")
    crops, fashion = data["train400"], data["fashion-mnist"]
    chosen = _setting(crops["chosen"])
    val = [[_setting(r) + (" (chosen)" if _setting(r) == chosen else ""),
            *[f"{r[m]:.3f}" for m in ("pixel_auroc", "pro", "image_auroc_map_max")]]
           for r in crops["validation"]]
    speed = [[kind, engine, f"{v['p50']:.1f}", f"{v['p99']:.1f}"]
             for kind, engines in crops["ms_per_256x256_frame"].items()
             for engine, v in engines.items()]
    return (caption(data["provenance"]) + "\n\n"
            + f"Validation: {crops['validation_crops']} crops of the last 40 fit images, one "
            "pasted defect each; the memory from the other fit crops:\n\n"
            + table(["patch setting", "pixel AUROC", "PRO (to FPR 0.3)",
                     "image AUROC, map maximum"], val)
            + f"\n\nThe test detectors' patch maps compare patches {axes}."
            + f"\n\nTrain400 test ({crops['test_crops']} crops of 40 other images, one defect "
            f"each; trained on all {crops['fit_crops']:,} fit crops; the patch detector in "
            f"{crops['patch_detector_train_s']:.0f} s, its memory {crops['patch_memory_mb']:.2f} "
            "MB):\n\n" + table(MAP_HEADER, _map_rows(crops["test"]))
            + f"\n\nFashion-MNIST, mean over classes 0-{fashion['classes'] - 1} (each class's "
            "default detector trained on its training images with the chosen patch maps; its "
            "test images with pasted defects; both maps from the same model):\n\n"
            + table(MAP_HEADER, _map_rows(fashion["mean over classes"]))
            + "\n\nPer 256x256 frame through the runtime (`edgeae benchmark`, the detector's "
            "score and heat map, 2 threads), ms:\n\n"
            + table(["maps", "engine", "p50", "p99"], speed) + "\n")


def patch_dims() -> str:
    """Patch maps on fewer principal axes: the validation choice, the test, the cost."""
    data = load("patch-dims")
    chosen = data["chosen"]
    val = [[f"{r['bank']:,}", f"{r['dims']}" if r["dims"] else "all",
            *[f"{r[m]:.3f}" for m in ("pixel_auroc", "pro", "image_auroc_map_max")],
            "chosen" if {k: r[k] for k in chosen} == chosen else ""]
           for r in data["validation"]]
    return (caption(data["provenance"]) + "\n\n"
            + "Validation (localise.py's crops, defects and memory; its setting: "
            f"{_setting(data['setting'])}):\n\n"
            + table(["patches", "axes", "pixel AUROC", "PRO (to FPR 0.3)",
                     "image AUROC, map maximum", ""], val)
            + "\n\nTrain400 test (localise.py's crops and defects; a detector trained with "
            "each search):\n\n" + table(MAP_HEADER, _map_rows(data["test"]))
            + _map_speed(data, "search"))



def _map_speed(data: dict, kind: str) -> str:
    """Per 256x256 frame: the maps alone, and the whole score through each engine."""
    speed = [[name, f"{data['map_ms'][name]['p50']:.1f}", f"{data['map_ms'][name]['p99']:.1f}",
              *[f"{v['p50']:.1f} / {v['p99']:.1f}" for v in engines.values()]]
             for name, engines in data["ms_per_256x256_frame"].items()]
    engines = list(next(iter(data["ms_per_256x256_frame"].values())))
    return ("\n\nPer 256x256 frame, ms: the maps alone (interleaved in one process, p50 and "
            "p99), and `edgeae benchmark`'s score with its map through the runtime (p50 / p99, "
            "2 threads):\n\n" + table([kind, "maps p50", "maps p99", *engines], speed) + "\n")

def patch_stride() -> str:
    """Patch maps describing every s-th block: the validation choice, the test, the cost."""
    data = load("patch-stride")
    val = [[f"{r['stride']}", *[f"{r[m]:.3f}" for m in ("pixel_auroc", "pro",
                                                          "image_auroc_map_max")],
            "chosen" if r["stride"] == data["chosen"] else ""] for r in data["validation"]]
    slack = data["slack"]
    return (caption(data["provenance"]) + "\n\n"
            + "Validation (localise.py's crops, defects and memory; its setting and "
            f"patch_dims.py's search: {_setting(data['setting'])} on {data['setting']['dims']} "
            "axes; the rule: the largest stride "
            f"within {slack['pixel_auroc']:g} pixel AUROC and {slack['pro']:g} PRO of every "
            "block's):\n\n"
            + table(["stride", "pixel AUROC", "PRO (to FPR 0.3)", "image AUROC, map maximum",
                     ""], val)
            + "\n\nTrain400 test (localise.py's crops and defects; a detector trained with "
            "each stride):\n\n" + table(MAP_HEADER, _map_rows(data["test"]))
            + _map_speed(data, "stride"))

def _draem_row(name: str, r: dict) -> list[str]:
    """Map | pixel AUROC | PRO | image AUROC | by size."""
    image = f"{r['image_auroc']:.3f}" if "image_auroc" in r else "-"
    return [name, f"{r['pixel_auroc']:.3f}", f"{r['pro']:.3f}", image, _by_size(r)]


def draem(name: str) -> str:
    """The discriminative detector: validation choice, test beside today's maps, engines."""
    data, earlier = load(name), load("localise")["train400"]["test"]
    val = [[f"smoothing {r['smooth']:g} px, {r['pool']}"
            + (" (chosen)" if (r["smooth"], r["pool"]) == (data["chosen"]["smooth"],
                                                          data["chosen"]["pool"]) else ""),
            *[f"{r[m]:.3f}" for m in ("pixel_auroc", "pro", "image_auroc")]]
           for r in data["validation"]]
    rows = [_draem_row(f"{name} (localise.json)", r) for name, r in earlier.items()]
    rows += [_draem_row(f"draem, {name}", r) for name, r in data["test"].items()]
    speed = [[engine, f"{v['p50']:.1f}", f"{v['p99']:.1f}"]
             for engine, v in data["ms_per_256x256_frame"].items()]
    return (caption(data["provenance"]) + "\n\n"
            + _draem_quality(data, val, rows)
            + "\n\nPer 256x256 frame through the runtime (`edgeae benchmark`, score and heat "
            "map, 2 threads), ms:\n\n" + table(["engine", "p50", "p99"], speed)
            + "\n\nDecision thresholds (set from the normal training crops' scores, with the "
            f"detector's own score, smoothing {data['default']['smooth']:g} px and "
            f"{data['default']['pool']}; the crops clean and with their pasted defect, the "
            "Keras model):\n\n"
            + table(["threshold", "validation: F1", "precision", "recall", "false alarms",
                     "test: F1", "precision", "recall", "false alarms"],
                    _draem_thresholds(data)) + _draem_fashion(data) + "\n")


def _draem_fashion(data: dict) -> str:
    """Fashion-MNIST: draem's masks beside localise.py's maps, mean over the same classes."""
    fashion = data.get("fashion-mnist")
    if not fashion:
        return ""
    earlier = load("localise")["fashion-mnist"]
    if earlier["classes"] != fashion["classes"]:
        raise SystemExit("draem.json and localise.json ran different Fashion-MNIST classes")
    rows = [_draem_row(f"{name} (localise.json)", r)
            for name, r in earlier["mean over classes"].items()]
    rows.append(_draem_row("draem, keras", fashion["mean over classes"]))
    minutes = sum(r["train_s"] for r in fashion["per_class"].values()) / 60
    return (f"\n\nFashion-MNIST, mean over classes 0-{fashion['classes'] - 1} (each class's "
            f"draem trained on its training images, {fashion['patch_size']}x"
            f"{fashion['patch_size']} patches, batch {fashion['batch_size']}, up to "
            f"{fashion['epochs']} epochs or {fashion['minutes']:g} minutes: {minutes:.0f} "
            "minutes for all; its test images with localise.py's pasted defects; image AUROC by "
            "each detector's own score):\n\n"
            + table(["map", "pixel AUROC", "PRO (to FPR 0.3)", "image AUROC",
                     "pixel AUROC by defect size"], rows))


def _draem_thresholds(data: dict) -> list[list[str]]:
    """One row per threshold strategy: its decisions on validation, then on test."""
    rows = []
    for spec, val in data["thresholds"]["validation"].items():
        name = spec + (" (default)" if spec == data["default_threshold"] else "")
        rows.append([name] + [f"{r[k]:.3f}" for r in (val, data["thresholds"]["test"][spec])
                              for k in ("f1", "precision", "recall", "false_alarms")])
    return rows


def _draem_quality(data: dict, val: list[list[str]], rows: list[list[str]]) -> str:
    """The validation grid and the test table of the draem section."""
    return (f"Trained on {data['fit_crops']:,} fit crops for {data['epochs_run']} epochs in "
            f"{data['train_s'] / 60:.1f} minutes. Validation ({data['validation_crops']} crops of "
            "the last 40 fit images, one pasted defect each):\n\n"
            + table(["map smoothing, image score", "pixel AUROC", "PRO (to FPR 0.3)",
                     "image AUROC"], val)
            + f"\n\nTrain400 test ({data['test_crops']} crops of 40 other images, one defect "
            "each, the same crops and defects as the patch-map table above; its two rows are "
            "from that run, the draem rows from this one; image AUROC by each detector's own "
            "score):\n\n"
            + table(["map", "pixel AUROC", "PRO (to FPR 0.3)", "image AUROC",
                     "pixel AUROC by defect size"], rows))


# --- the temporal design (benchmarks/temporal_design.py) ---------------------------------------

def temporal_design() -> str:
    """Per design: its fine-tuning and its quality on the validation clips, beside `live`."""
    data = load("temporal-design")
    quality, training = data["quality"], data["training"]
    live = quality["live (single frame)"]["psnr"]
    rows = []
    for name, q in quality.items():
        t = training.get(name)
        rows.append([name, f"{t['learning_rate']:g}" if t else "-",
                     f"{t['train_seconds']:,.0f}" if t else "-",
                     f"{t['train_seconds'] / data['steps']:.2f}" if t else "-",
                     f"{q['psnr']:.2f}", f"{q['psnr'] - live:+.2f}", f"{q['ssim']:.4f}",
                     f"{q['flicker']:.2f}", f"{q['moving_psnr']:.2f}"])
    return (caption(data["provenance"]) + "\n\n"
            + f"{data['steps']:,} steps of 16 patches per design ({data['epochs']} epochs, "
            f"{data['patches_per_image']} crops of each of {data['training_stills']} stills, "
            f"less train's own 10% validation); {len(data['validation_stills'])} validation "
            "clips of 20 frames, Gaussian sigma 25:\n\n"
            + table(["design", "learning rate", "training s", "s / step", "PSNR dB",
                     "vs live dB", "SSIM", "flicker", "moving-region PSNR dB"], rows) + "\n")


# --- generation (benchmarks/generate.py) -------------------------------------------------------

GENERATE_DATASETS = {"fashion-mnist": "Fashion-MNIST", "mnist-10k": "MNIST-10k"}


def generate() -> str:
    """Per dataset, edgeae's VAE and pythae's: train time, test ELBO and IWAE, Frechet."""
    data = load("generate")
    rows = []
    for key, label in GENERATE_DATASETS.items():
        if key not in data:
            continue
        d = data[key]
        for who in ("edgeae", "pythae"):
            r = d[who]
            floor = f" ({d['frechet_floor_train_vs_test']:.2f})" if who == "edgeae" else ""
            rows.append([f"{label} ({d['test_images']:,} test)" if who == "edgeae" else label,
                         who, f"{r['train_seconds']:.0f}", f"{r['test_elbo_nats']:.2f}",
                         f"{r['subset_iwae500_nats']:.2f}", f"{r['frechet']:.1f}{floor}"])
    run = data["run"]
    return (caption(run) + "\n\n"
            + f"{run['epochs']} epochs each; the importance-weighted bound (k = 500) on the "
            f"first {run['iwae_images']:,} test images (all of a smaller test split).\n\n"
            + table(["dataset", "model", "train s", "test ELBO", "test IWAE, k=500",
                     "Frechet (floor)"], rows, right={2, 3, 4, 5}) + "\n")


# --- scaling up (benchmarks/streaming.py, benchmarks/archive.py) ------------------------------

def streaming() -> str:
    """Per folder size: the input pipeline alone, one training epoch, peak memory."""
    data = load("streaming")
    rows = [[f"{int(n):,}", f"{r['decode_only']['seconds']:.1f} s "
             f"({r['decode_only']['images_per_second']:,.0f} images/s)",
             f"{r['train_seconds']:.1f} s", f"{r['images_per_second']:,.0f}",
             f"{r['peak_rss_mb']:,.0f} MiB"] for n, r in data["folders"].items()]
    cache = [[name, f"{r['disk_mb']:,} MB", f"{r['no_cache']['seconds']:.2f} s",
              f"{r['first_pass_writing_cache']['seconds']:.2f} s",
              f"{r['cached_pass']['seconds']:.2f} s", f"{r['cache_mb']:,} MB",
              f"{r['speed-up']:.1f}x"] for name, r in data.get("disk_cache", {}).items()]
    text = (caption(data["provenance"]) + "\n\n" + f"{data['image']}; {data['model']}.\n\n"
            + table(["images", "input pipeline alone", "one training epoch", "images/s trained",
                     "peak memory"], rows))
    if cache:
        text += "\n\nDisk cache (`--cache DIR`):\n\n" + table(
            ["folder", "on disk", "no cache", "first pass, writing", "cached pass",
             "cache size", "speed-up"], cache)
    return text + "\n"


def archive() -> str:
    """Seconds and images/s of whole `denoise` / `score --maps` commands per worker count."""
    data = load("archive")
    rows = [[*name.split(" x"), f"{r['seconds']:.1f}", f"{r['images_per_second']:.0f}"]
            for name, r in data["runs"].items()]
    return (caption(data["provenance"]) + "\n\n"
            + f"{data['images']:,} images, {data['size']}, {data['precision']}.\n\n"
            + table(["command", "workers", "seconds", "images/s"], rows) + "\n")


COLOUR_MODELS = ("live-camera", "quality-camera", "live-stream", "live", "quality")
COLOUR_WAY_NAMES = ("rgb", "opponent", "luma-chroma")


def colour_choice() -> str:
    """luma-chroma's candidates on the validation photos and the ways' verdicts."""
    data = load("colour_planes")
    choice, verdict = data["choice"], data["verdict"]
    rows = [[label, f"{mean:.3f}", "**chosen**" if label == choice["chosen"] else ""]
            for label, mean in choice["means"].items()]
    yes = {True: "adopted", False: "not adopted"}
    return (caption(data["provenance"]) + "\n\n"
            + "`live-camera` int8, mean PSNR (dB) over the 8 camera settings on the validation "
              f"photos ({', '.join(data['validation_images'])}); cheapest first.\n\n"
            + table(["luma-chroma candidate", "mean PSNR", ""], rows, right={1}) + "\n\n"
            + f"Rule 2: luma-chroma ({verdict['luma_chroma']}) for the camera models: "
              f"**{yes[verdict['luma_chroma_adopted']]}**. Rule 3: opponent for the Gaussian "
              f"models: **{yes[verdict['opponent_adopted']]}**.\n")


def colour_ways(part: str) -> str:
    """PSNR per setting of each model's three ways, on the validation or the held-out photos."""
    data = load("colour_planes")
    found = data[part]
    models = [m for m in COLOUR_MODELS if f"{m} rgb" in next(iter(found.values()))]
    nlm = ["NLM (h, hColor from validation)"] if "NLM" in next(iter(found.values())) else []
    rows = [[setting, f"{r['noisy']:.2f}", *([f"{r['NLM']:.2f}"] if nlm else []),
             *(" / ".join(f"{r[f'{m} {w}']:.2f}" for w in COLOUR_WAY_NAMES) for m in models)]
            for setting, r in found.items()]
    images = data["validation_images" if part == "validation" else "test_images"]
    return (caption(data["provenance"]) + "\n\n"
            + f"Mean PSNR (dB) on {', '.join(images)} (scikit-image's colour photos), uint8 "
              "BGR frames through `Denoiser.denoise`; each model cell is rgb / opponent / "
              "luma-chroma (int8 for the live models, fp32 for quality and quality-camera).\n\n"
            + table(["noise", "noisy", *nlm, *models], rows,
                    right=set(range(1, 2 + len(nlm) + len(models)))) + "\n")


def colour_times() -> str:
    """Milliseconds per 640x480 colour frame of each way."""
    data = load("colour_planes")
    rows = [[way, f"{t['p50_ms']:.2f}", f"{t['p99_ms']:.2f}"]
            for way, t in data["times_640x480"].items()]
    return ("`live-camera` int8 through OpenVINO, 2 threads, a 640x480 colour frame; median and "
            "p99 of the interleaved calls (same run as above).\n\n"
            + table(["way", "ms p50", "ms p99"], rows, right={1, 2}) + "\n")


def noise_gate_cuts(name: str) -> str:
    """The gate at each cut: per pair, the worst guarded shortfall and the mean over settings."""
    data = load(name)
    rows = [[cut + (" (chosen)" if float(cut) == data.get("chosen_cut") else "")]
            + [f"{p['worst_guarded_db']:+.2f} / {p['mean_db']:.2f}" for p in pairs.values()]
            for cut, pairs in data["cuts"].items()]
    pairs = next(iter(data["cuts"].values()))
    return (caption(data["provenance"]) + "\n\n"
            + table(["cut", *(f"{p}: worst guarded dB / mean dB" for p in pairs)], rows) + "\n")


def noise_gate(name: str, cut: str) -> str:
    """Each setting at one cut: both models of each pair, the gate's pick, the share to camera."""
    data = load(name)
    pairs = data["cuts"][cut]
    header, names = ["noise"], []
    for first, summary in pairs.items():
        models = [m for m in next(iter(summary["settings"].values())) if m not in ("gated",
                                                                                      "to_camera")]
        names.append(models)
        header += [f"{models[0]}", f"{models[1]}", f"{first} gated", "to camera"]
    rows = []
    for label in next(iter(pairs.values()))["settings"]:
        row = [label + ("" if data["guarded"][label] else " (not guarded)")]
        for summary, models in zip(pairs.values(), names):
            c = summary["settings"][label]
            row += [f"{c[models[0]]:.2f}", f"{c[models[1]]:.2f}", f"{c['gated']:.2f}",
                    f"{c['to_camera']:.0%}"]
        rows.append(row)
    images = {"set12": "Set12", "validation": "the 40 Train400 images `edgeae train` holds out"}
    return (caption(data["provenance"]) + "\n\n"
            + f"PSNR (dB), mean over {images[data['images']]} (gray, full size), at cut {cut}; "
            + "models in the precision each ships in.\n\n" + table(header, rows) + "\n")


def _stream_gate(verdict: dict) -> tuple[str, float]:
    """A camera_streams verdict's gate: (measure, cut)."""
    return verdict["measure"], verdict["cut"]


def _stream_settings(rows: list[dict]) -> dict[str, list[dict]]:
    """A camera_streams run's rows by setting: the light level, and H.264's CRF where coded."""
    settings: dict[str, list[dict]] = {}
    for r in rows:
        settings.setdefault(r["level"] + ("" if r["crf"] is None else f", H.264 {r['crf']}"),
                            []).append(r)
    return settings


def _mean_psnr(clips: list[dict], key: str) -> float:
    """The mean PSNR of one method (a row key) over a setting's clips."""
    return sum(r[key]["psnr"] for r in clips) / len(clips)


def _pair_psnr(clips: list[dict], gate: tuple[str, float]) -> float:
    """The gated pair's mean PSNR: each clip by the recurrent model where its level passes."""
    measure, cut = gate
    return sum(r["recurrent" if r["levels"][measure] >= cut else "single"]["psnr"]
               for r in clips) / len(clips)


def camera_streams(name: str) -> str:
    """Each setting's mean PSNR: NLM, both models, and the pair at the run's verdict gate."""
    data = load(name)
    measure, cut = _stream_gate(data["verdict"])
    settings = _stream_settings(data["rows"])
    rows = []
    for label, clips in settings.items():
        taken = [r["levels"][measure] >= cut for r in clips]
        mean = {k: _mean_psnr(clips, k) for k in ("nlm", "single", "recurrent")}
        pair = _pair_psnr(clips, (measure, cut))
        spread = [r["levels"][measure] for r in clips]
        rows.append([label, f"{min(spread):.1f}-{max(spread):.1f}", f"{mean['nlm']:.2f}",
                     f"{mean['single']:.2f}", f"{mean['recurrent']:.2f}", f"{pair:.2f}",
                     f"{sum(taken) / len(taken):.0%}", f"{pair - mean['single']:+.2f}",
                     f"{pair - mean['nlm']:+.2f}"])
    clips = len({r["still"] for r in data["rows"]})
    return (caption(data["provenance"]) + "\n\n"
            + f"PSNR (dB) on each clip's last frames, mean over {clips} clips of {data['frames']} "
            + f"frames ({data['stills']} stills); the pair sends a clip to the recurrent model "
            + f"where its {measure} level is at least {cut:g}.\n\n"
            + table(["setting", f"{measure} level", "NLM (best h)", "live-camera int8",
                     "recurrent int8", "pair", "to recurrent", "pair - live-camera",
                     "pair - NLM"], rows) + "\n")


def camera_streams_verdicts(prefix: str = "camera_streams", first: bool = True) -> str:
    """The rules' tests, in the order they were run: the first rule, the amended one, confirmed.

    From the results files `prefix`_validation and `prefix`_confirm; the first rule where `first`.
    """
    choosing, confirming = load(f"{prefix}_validation"), load(f"{prefix}_confirm")
    runs = ((("first rule, 16 choosing clips", choosing["first_rule"]),) if first else ()) + (
        ("amended rule, 16 choosing clips", choosing["verdict"]),
        ("amended rule, 24 confirming clips", confirming["verdict"]))
    rows = [[label, f"{v['measure']} {v['cut']:g}", f"{v['worst_gain']:+.3f}",
             f"{v['low_light_gain']:+.3f}", f"{v['still_gain']:+.3f}",
             "meets R1-R3" if v["passes"] else "fails " + ", ".join(
                 t for t, ok in (("R1", v["worst_gain"] >= -0.05),
                                 ("R2", v["low_light_gain"] >= 0.30),
                                 ("R3", v["still_gain"] >= -0.10)) if not ok)]
            for label, v in runs]
    return ("dB gained over `live-camera` int8 alone.\n\n"
            + table(["run", "gate (measure, cut)", "R1: worst setting (at least -0.05)",
                     "R2: dim and night (at least +0.30)", "R3: a still (at least -0.10)",
                     "verdict"], rows) + "\n")


def camera_trio_cuts(name: str) -> str:
    """The trio's rule at every whole level cut (and never): T1, T2 and where, means."""
    data = load(name)
    rows = []
    for cut, summary in data["cuts"].items():
        if cut != "inf" and float(cut) % 1:
            continue
        cells = summary["settings"]
        worst = min(cells, key=lambda label: cells[label]["trio"] - cells[label]["pair"])
        rows.append([cut if cut != "inf" else "never (today's pair)",
                     f"{summary['worst_guarded_db']:+.2f}",
                     f"{summary['worst_vs_pair_db']:+.2f} ({worst})"
                     if summary["worst_vs_pair_db"] < 0 else "+0.00",
                     f"{summary['mean_db']:.2f}", f"{summary['camera_gain_db']:+.2f}"])
    verdict = data["verdict"]
    chosen = ("no cut meets T1 and T2" if verdict["cut"] is None
              else f"cut {verdict['cut']}, ships: {verdict['ships']}")
    return (caption(data["provenance"]) + "\n\n"
            + "dB; the trio against the best of the three models on the guarded settings (T1, "
            + "at least -0.20) and against today's `live-auto` on every setting (T2, at least "
            + f"-0.05); its mean over every setting; the camera settings' mean gain. {chosen}."
            + "\n\n" + table(["fine level cut", "T1: worst guarded", "T2: worst against the pair",
                              "mean", "camera gain"], rows) + "\n")


def camera_streams_live_auto(name: str) -> str:
    """Each setting's mean PSNR: the pair at the run's gate against `live-auto` as it runs."""
    data = load(name)
    gate = _stream_gate(data["verdict"])
    settings = _stream_settings(data["rows"])
    rows = []
    for label, clips in settings.items():
        pair = _pair_psnr(clips, gate)
        single, auto = _mean_psnr(clips, "single"), _mean_psnr(clips, "live-auto")
        rows.append([label, f"{single:.2f}", f"{pair:.2f}", f"{auto:.2f}", f"{auto - pair:+.2f}",
                     f"{auto - single:+.2f}"])
    return (caption(data["provenance"]) + "\n\n"
            + "PSNR (dB) on each clip's last frames, mean over "
            + f"{len({r['still'] for r in data['rows']})} clips ({data['stills']} stills); the "
            + f"pair as measured above ({gate[0]} level at least {gate[1]:g}, the recurrent "
            + "model from the clip's first frame) and the shipped `live-auto` streamed as the "
            + "runtime runs it.\n\n"
            + table(["setting", "live-camera int8", "pair", "live-auto", "live-auto - pair",
                     "live-auto - live-camera"], rows) + "\n")


def camera_shipped(name: str) -> str:
    """Each setting's mean PSNR over the clips: noisy, NLM, each shipped model; live-auto's lead."""
    data = load(name)
    models = data["models"]
    rows = []
    for label, clips in _stream_settings(data["rows"]).items():
        mean = {k: _mean_psnr(clips, k) for k in ("noisy", "nlm from 5", "nlm", *models)}
        leads = [r["live-auto"]["psnr"] - r["nlm"]["psnr"] for r in clips]
        members = [r.get("live-auto members", {}) for r in clips]
        strong = sum(m.get("strong", 0) for m in members) / sum(sum(m.values()) for m in members)
        rows.append([label, f"{mean['noisy']:.2f}", f"{mean['nlm from 5']:.2f}",
                     f"{mean['nlm']:.2f}"] + [f"{mean[m]:.2f}" for m in models]
                    + [f"{mean['live-auto'] - mean['nlm']:+.2f}", f"{min(leads):+.2f}",
                       f"{strong:.0%}"])
    return (caption(data["provenance"]) + "\n\n"
            + f"PSNR (dB) on the last 20% of {data['frames']} frames of 240x320, gray, mean over "
            + f"{len(data['clips'])} clips ({', '.join(data['clips'])}); int8 ONNX, every frame "
            + "in order from a reset; NLM at its best strength per clip, chosen from h=5 "
            + "(camera.py's grid) and from h=1.\n\n"
            + table(["setting", "noisy", "NLM (best h from 5)", "NLM (best h from 1)", *models,
                     "live-auto - NLM", "worst clip",
                     "live-auto: tail frames to live-camera-video"], rows) + "\n")


def ov_graph() -> str:
    """`live` int8 per file and engine: time, its ratio to LiteRT, PSNR and drop from fp32."""
    data = load("ov_graph")
    fp32 = data["fp32_psnr_db"]["fp32"]
    rows = [[r["file"], f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['x_litert']:.2f}x",
             f"{r['psnr_db']:.2f} ({r['psnr_db'] - fp32:+.2f})"] for r in data["rows"]]
    return (caption(data["provenance"]) + "\n\n"
            + "`live` int8, one 480x640 gray frame, 2 threads, interleaved rounds; PSNR on the 40 "
            + f"held-out Train400 images at Gaussian sigma 25 (fp32: {fp32:.2f} dB).\n\n"
            + table(["file and engine", "p50 ms", "p99 ms", "x LiteRT int8",
                     "PSNR dB (from fp32)"], rows) + "\n")


def cpu_peak(name: str) -> str:
    """Each engine's GMAC/s on `live` and `quality` as a share of the CPU's own ceiling."""
    data = load(name)
    ceilings = data["ceilings_gmacs_per_s"]
    measured = "; ".join(
        f"{k} {c['max']:.0f} ({c['kernel'] + ' kernel, ' if 'kernel' in c else ''}runs "
        f"{min(c['runs_before'] + c['runs_after']):.0f}-{c['max']:.0f})"
        if isinstance(c, dict) else f"{k} {c}" for k, c in ceilings.items())
    rows = [[r["model"], r["engine"], r["precision"], r["file"], f"{r['gmacs_per_frame']:.2f}",
             f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['gmacs_per_s']:.0f}",
             "-" if r["pct_of_ceiling"] is None else f"{r['pct_of_ceiling']:.0f}%"]
            for r in data["rows"]]
    summary = data["summary"]
    targets = " ".join(
        f"{label}: {summary[key]['needs_gmacs_per_s']:.0f} GMAC/s, "
        f"{summary[key]['x_int8_ceiling']:.2f}x the int8 ceiling."
        for key, label in (("live_2.5x_litert_int8", "`live` int8 2.5x LiteRT's int8 needs"),
                           ("quality_30_fps", "`quality` at 30 frames/s needs"))
        if summary[key]["x_int8_ceiling"] is not None)
    return (caption(data["provenance"]) + "\n\n"
            + f"The CPU's ceiling on {data['threads']} threads, GMAC/s (the largest of six runs "
            + f"of cpu_peak.c): {measured}. One 480x640 gray frame, {data['threads']} threads, "
            + "interleaved rounds. Fastest `live` int8: "
            + f"{summary['live_fastest_int8']}, {summary['live_fastest_x_litert_int8']:.2f}x "
            + f"LiteRT's int8. {targets}\n\n"
            + table(["model", "engine", "precision", "file", "G MACs per frame", "p50 ms",
                     "p99 ms", "GMAC/s", "of the CPU's ceiling"], rows, set(range(4, 9)))
            + "\n")


def probe_width() -> str:
    """Each engine's GMAC/s on the --peak probe at several widths; the chosen one marked."""
    data = load("probe_width")
    engines = list(dict.fromkeys((r["backend"], r["precision"]) for r in data["rows"]))
    best = {e: max(r["gmacs_per_s"] for r in data["rows"] if (r["backend"], r["precision"]) == e)
            for e in engines}
    rows = []
    for shape in dict.fromkeys(r["shape"] for r in data["rows"]):
        of = {(r["backend"], r["precision"]): r for r in data["rows"] if r["shape"] == shape}
        first = next(iter(of.values()))
        mark = " (chosen)" if shape == data["chosen"] else ""
        rows.append([f"{shape}{mark}", f"{first['params'] / 1e6:.2f}M"]
                    + [f"{of[e]['gmacs_per_s']:.0f} ({100 * of[e]['gmacs_per_s'] / best[e]:.0f}%)"
                       for e in engines])
    return (caption(data) + "\n\n"
            + f"GMAC/s on {data['threads']} thread(s), median of {data['rounds']} interleaved "
            + f"rounds of {data['calls']} calls (in brackets: of the engine's best shape).\n\n"
            + table(["probe (h x w x channels)", "weights",
                     *(f"{b} {p}" for b, p in engines)], rows) + "\n")


def history_warp(name: str) -> str:
    """`live-video` with its history moved bilinearly or bicubically, per precision and sigma."""
    data = load(name)
    rows = []
    for precision, per_sigma in data["mean"].items():
        for sigma, m in per_sigma.items():
            lin, cub = m["linear"], m["cubic"]
            rows.append([precision, sigma, f"{lin['psnr']:.2f}", f"{cub['psnr']:.2f}",
                         f"{cub['psnr'] - lin['psnr']:+.3f}",
                         f"{cub['moving_psnr'] - lin['moving_psnr']:+.3f}",
                         f"{cub['ssim'] - lin['ssim']:+.4f}",
                         f"{lin['flicker']:.2f} / {cub['flicker']:.2f}"])
    ms = data["warp_ms"]
    text = (caption(data["provenance"]) + "\n\n"
            + f"Mean over {data['clips']} clips of {data['frames']} frames ({data['stills']} "
            + f"stills), every frame; moving a 480x640 plane: bilinear {ms['linear']:.2f} ms, "
            + f"bicubic {ms['cubic']:.2f} ms.\n\n"
            + table(["live-video", "sigma", "bilinear PSNR", "bicubic PSNR", "PSNR change",
                     "moving-region PSNR change", "SSIM change",
                     "flicker (bilinear / bicubic)"], rows, right=set(range(2, 8))) + "\n")
    return text + _verdict(data["verdict"], "Bicubic")


def history_align(name: str) -> str:
    """`live-video` with its history shifted or moved by a similarity, per motion and sigma."""
    data = load(name)
    rows = []
    for motion, per_sigma in data["mean"].items():
        for sigma, m in per_sigma.items():
            old, new = m["shift"], m["similarity"]
            moving = ("-" if old["moving_psnr"] is None
                      else f"{new['moving_psnr'] - old['moving_psnr']:+.3f}")
            rows.append([motion, sigma, f"{old['psnr']:.2f}", f"{new['psnr']:.2f}",
                         f"{new['psnr'] - old['psnr']:+.3f}", moving,
                         f"{old['flicker']:.2f} / {new['flicker']:.2f}",
                         f"{m['live']['psnr']:.2f}"])
    ms = data["alignment_ms"]
    text = (caption(data["provenance"]) + "\n\n"
            + f"Mean over {data['clips']} clips of {data['frames']} frames ({data['stills']} "
            + "stills) in each motion, every frame; `live-video` int8. Aligning a 480x640 "
            + f"frame's history: shift {ms['shift']:.2f} ms, similarity "
            + f"{ms['similarity']:.2f} ms.\n\n"
            + table(["motion", "sigma", "shift PSNR", "similarity PSNR", "PSNR change",
                     "moving-region PSNR change", "flicker (shift / similarity)",
                     "`live` int8 PSNR"], rows, right=set(range(2, 8))) + "\n")
    return text + _verdict(data["verdict"], "The similarity")


def _verdict(verdict: dict | None, candidate: str) -> str:
    """A rule's tests on the int8 file, each value against its bound, and whether it ships."""
    if not verdict:
        return ""
    tests = [[name, f"{t['value']:+.4f}", f"{t['bound']:+g}", "holds" if t["holds"]
              else "fails"] for name, t in verdict["tests"].items()]
    return ("\n" + table(["test (int8)", "value", "bound", ""], tests)
            + f"\n\n{candidate} ships: {'yes' if verdict['ships'] else 'no'}.\n")


def history_gain(name: str) -> str:
    """`live-video` with its history scaled with the light or as is, per light and sigma."""
    data = load(name)
    rows = []
    for kind, per_sigma in data["mean"].items():
        for sigma, m in per_sigma.items():
            old, new, single = (m["live-video int8 as is"], m["live-video int8 matched"],
                                m["live int8 single frame"])
            rows.append([kind, sigma, f"{old['psnr']:.2f}", f"{new['psnr']:.2f}",
                         f"{new['psnr'] - old['psnr']:+.3f}",
                         f"{new['moving_psnr'] - old['moving_psnr']:+.3f}",
                         f"{old['flicker']:.2f} / {new['flicker']:.2f}",
                         f"{old['bias']:+.2f} / {new['bias']:+.2f}", f"{single['psnr']:.2f}"])
    text = (caption(data["provenance"]) + "\n\n"
            + f"Mean over {data['clips']} clips of {data['frames']} frames ({data['stills']} "
            + "stills) in each light, every frame; `live-video` int8; fades of "
            + f"{1 - data['fade']:.0%} a frame; the candidate adds {data['added_ms']:.3f} ms to "
            + "a 480x640 frame. Bias: the output's mean minus the clean frame's, in levels.\n\n"
            + table(["light", "sigma", "as is PSNR", "matched PSNR", "PSNR change",
                     "moving-region PSNR change", "flicker (as is / matched)",
                     "bias (as is / matched)", "`live` int8 PSNR"], rows,
                    right=set(range(2, 9))) + "\n")
    return text + _verdict(data["verdict"], "Matching")


def _of(render: Callable[[str], str], results: str) -> tuple[str, Callable[[], str]]:
    """A TABLES row whose renderer takes the results file's name: (file, renderer)."""
    return results, functools.partial(render, results)


TABLES: dict[str, tuple[str, Callable[[], str]]] = {  # name -> (results file, renderer)
    "detector-sweep-hog": ("detector_sweep", detector_sweep_hog),
    "detector-sweep-knn": ("detector_sweep", detector_sweep_knn),
    "vae-width": ("vae_width", vae_width),
    "vae-width-fashion": ("vae_width-fashion", _vae_width("vae_width-fashion")),
    "demo": ("demo", demo),
    "edge-live": ("edge-live", _edge("live")),
    "edge-live-loop": ("edge-live-loop", _edge("live-loop")),
    "edge-live-vnni": ("edge-live-vnni", _edge("live-vnni")),
    "edge-quality-vnni": ("edge-quality-vnni", _edge("quality-vnni")),
    "edge-live-loop-vnni": ("edge-live-loop-vnni", _edge("live-loop-vnni")),
    "edge-live-loop-f25": ("edge-live-loop-f25", _edge("live-loop-f25")),
    "edge-live-amx": ("edge-live-amx", _edge("live-amx")),
    "edge-quality-amx": ("edge-quality-amx", _edge("quality-amx")),
    "edge-live-loop-amx": ("edge-live-loop-amx", _edge("live-loop-amx")),
    "edge-live-loop-amx2": ("edge-live-loop-amx2", _edge("live-loop-amx2")),
    "edge-live-loop-amx3a": ("edge-live-loop-amx3a", _edge("live-loop-amx3a")),
    "edge-live-loop-amx4": ("edge-live-loop-amx4", _edge("live-loop-amx4")),
    "edge-live-loop-amx3-runs": ("edge-live-loop-amx3a", _loop_runs(
        ("live-loop-amx3a", "live-loop-amx3b", "live-loop-amx3c"))),
    "edge-live-loop-paced-runs": ("edge-live-loop-paceda", _loop_runs(
        ("live-loop-paceda", "live-loop-pacedb", "live-loop-pacedc"))),
    "edge-live-loop-s71a": ("edge-live-loop-s71a", _edge("live-loop-s71a")),
    "edge-live-loop-s71-runs": ("edge-live-loop-s71a", _loop_runs(
        ("live-loop-s71a", "live-loop-s71b", "live-loop-s71c"))),
    "edge-live-loop-s72-runs": ("edge-live-loop-s72a", _loop_runs(
        ("live-loop-s72a", "live-loop-s72b", "live-loop-s72c"))),
    "edge-quality": ("edge-quality", _edge("quality")),
    "edge-fashion-detector": ("edge-fashion-detector", _edge("fashion-detector")),
    "export-dense": ("export", _export("dense_autoencoder")),
    "export-conv": ("export", _export("conv_denoiser")),
    "odd-sizes": ("odd_sizes", odd_sizes),
    "large-photos": ("large_photos", large_photos),
    "large-photos-1mp": _of(large_photos, "large_photos_1mp"),
    "large-photos-quality-litert": _of(large_photos, "large_photos_quality_litert_default"),
    "large-photos-quality-litert-1mp": _of(large_photos, "large_photos_quality_litert_1mp"),
    "pi-estimate": ("pi_estimate", pi_estimate),
    "camera": ("camera", camera),
    "camera-live-camera": _of(camera, "camera_live_camera"),
    "camera-live-camera-stream": _of(camera, "camera_live_camera_stream"),
    "camera-h264": _of(camera, "camera_h264"),
    "camera-h264-content": _of(camera, "camera_h264_content"),
    "camera-h264-live-stream": _of(camera, "camera_h264_live_stream"),
    "camera-live-stream": _of(camera, "camera_live_stream"),
    "camera-h264-choose-indoor": _of(camera, "camera_h264_choose_indoor"),
    "camera-choose-indoor": _of(camera, "camera_choose_indoor"),
    "camera-indoor-5min": _of(camera, "camera_indoor_5min"),
    "camera-h264-live-camera": _of(camera, "camera_h264_live_camera"),
    "camera-h264-live-camera-stream": _of(camera, "camera_h264_live_camera_stream"),
    "camera-h264-start-live-stream": _of(camera, "camera_h264_start_live_stream"),
    "adapt-brightness-model-int8-indoor-test": _of(adapt_brightness_model,
                                                   "adapt_brightness_model_int8_indoor_test"),
    "camera-live-camera-content": _of(camera, "camera_live_camera_content"),
    "camera-h264-live-camera-content": _of(camera, "camera_h264_live_camera_content"),
    "adapt-loss-bias": ("adapt_loss_bias", adapt_loss_bias),
    "adapt-keep-test": _of(adapt_keep_test, "adapt_keep_test"),
    "adapt-keep-test-content": _of(adapt_keep_test, "adapt_keep_test_content"),
    "adapt-content-choice": ("adapt_content_choice", adapt_content_choice),
    "camera-mean": _of(camera_mean, "camera_mean"),
    "camera-mean-h264": _of(camera_mean, "camera_mean_h264"),
    "adapt-loss-space": _of(functools.partial(adapt_choice, labels=LOSS_SPACE_LABELS),
                            "adapt_loss_space"),
    "adapt-warp": _of(functools.partial(adapt_choice, labels=WARP_LABELS), "adapt_warp"),
    "adapt-targets": _of(functools.partial(adapt_choice, labels=TARGETS_LABELS), "adapt_targets"),
    "adapt-brightness": _of(functools.partial(adapt_choice, labels=BRIGHTNESS_LABELS),
                            "adapt_brightness"),
    "adapt-passes": _of(functools.partial(adapt_choice, labels=PASSES_LABELS), "adapt_passes"),
    "adapt-distance": ("adapt_distance", adapt_distance),
    "colour-choice": ("colour_planes", colour_choice),
    "colour-validation": ("colour_planes", functools.partial(colour_ways, "validation")),
    "colour-test": ("colour_planes", functools.partial(colour_ways, "test")),
    "colour-times": ("colour_planes", colour_times),
    "adapt-brightness-blur": _of(functools.partial(adapt_choice, labels=BLUR_LABELS),
                                 "adapt_brightness_blur"),
    "adapt-brightness-blur-uncoded": _of(functools.partial(adapt_choice, labels=BLUR_LABELS),
                                         "adapt_brightness_blur_uncoded"),
    "adapt-brightness-blur-indoor-test": _of(functools.partial(adapt_choice, labels=BLUR_LABELS),
                                             "adapt_brightness_blur_indoor_test"),
    **{f"adapt-brightness-choice{suffix.replace('_', '-')}": _of(
        functools.partial(adapt_choice, labels=CHOICE_LABELS), f"adapt_brightness_choice{suffix}")
       for suffix in ("", "_uncoded")},
    "adapt-brightness-model": _of(adapt_brightness_model, "adapt_brightness_model"),
    "adapt-brightness-model-indoor": _of(adapt_brightness_model,
                                         "adapt_brightness_model_indoor"),
    "adapt-brightness-model-uncoded": _of(adapt_brightness_model,
                                          "adapt_brightness_model_uncoded"),
    "adapt-brightness-model-int8": _of(adapt_brightness_model,
                                       "adapt_brightness_model_int8"),
    "adapt-brightness-model-int8-uncoded": _of(adapt_brightness_model,
                                               "adapt_brightness_model_int8_uncoded"),
    "adapt-flow": ("adapt_flow", adapt_flow),
    "adapt-offset": _of(adapt_offset, "adapt_offset"),
    "adapt-offset-today": _of(adapt_offset, "adapt_offset_today"),
    "adapt-offset-h264": _of(adapt_offset, "adapt_offset_h264"),
    "int8-ranges": ("int8_ranges", int8_ranges),
    "qat-schemes": ("qat_schemes", qat_schemes),
    "int8-ir": ("int8_ir", int8_ir),
    "int8-bf16-amx": _of(int8_bf16, "int8_bf16-amx"),
    "int8-bf16-amx-heldout": _of(int8_bf16, "int8_bf16-amx-heldout"),
    "int8-kernels": ("int8_kernels", int8_kernels),
    "camera-denoisers": _of(camera_denoisers, "camera_denoisers"),
    "camera-denoisers-live-stream": _of(camera_denoisers, "camera_denoisers_live_stream"),
    "camera-denoisers-low-noise-live-stream": _of(camera_denoisers,
                                                  "camera_denoisers_low_noise_live_stream"),
    "camera-denoisers-validation": _of(camera_denoisers, "camera_denoisers_validation"),
    "camera-denoisers-wise-validation": _of(camera_denoisers,
                                            "camera_denoisers_wise_validation"),
    "camera-denoisers-wise": _of(camera_denoisers, "camera_denoisers_wise"),
    "camera-denoisers-quality-camera": _of(camera_denoisers,
                                           "camera_denoisers_quality_camera"),
    "camera-denoisers-gaussian-share-validation": _of(
        camera_denoisers, "camera_denoisers_gaussian_share_validation"),
    "camera-denoisers-gaussian-third-validation": _of(
        camera_denoisers, "camera_denoisers_gaussian_third_validation"),
    "noise-gate-cuts-validation": _of(noise_gate_cuts, "noise_gate_validation"),
    "noise-gate-flat-cuts-validation": _of(noise_gate_cuts, "noise_gate_flat_validation"),
    "noise-gate-validation": ("noise_gate_validation",
                              functools.partial(noise_gate, "noise_gate_validation", "1.9")),
    "noise-gate": ("noise_gate", functools.partial(noise_gate, "noise_gate", "1.9")),
    "camera-streams-validation": _of(camera_streams, "camera_streams_validation"),
    "camera-streams-confirm": _of(camera_streams, "camera_streams_confirm"),
    "camera-streams-verdicts": ("camera_streams_confirm", camera_streams_verdicts),
    "camera-streams-bicubic-validation": _of(camera_streams, "camera_streams_bicubic_validation"),
    "camera-streams-bicubic-confirm": _of(camera_streams, "camera_streams_bicubic_confirm"),
    "camera-streams-bicubic-verdicts": (
        "camera_streams_bicubic_confirm",
        functools.partial(camera_streams_verdicts, "camera_streams_bicubic", first=False)),
    "camera-streams-bicubic-set12": _of(camera_streams, "camera_streams_bicubic_set12"),
    "camera-streams-live-auto-confirm": _of(camera_streams_live_auto,
                                            "camera_streams_live_auto_confirm"),
    "camera-streams-set12": _of(camera_streams, "camera_streams_set12"),
    "camera-trio-validation": _of(camera_trio_cuts, "camera_trio_validation"),
    "camera-shipped": _of(camera_shipped, "camera_shipped"),
    "camera-bright": _of(camera, "camera_bright"),
    "camera-h264-bright-indoor": _of(camera, "camera_h264_bright_indoor"),
    "history-warp-validation": _of(history_warp, "history_warp_validation"),
    "history-warp-set12": _of(history_warp, "history_warp_set12"),
    "history-gain-validation": _of(history_gain, "history_gain_validation"),
    "history-gain-set12": _of(history_gain, "history_gain_set12"),
    "history-align-validation": _of(history_align, "history_align_validation"),
    "history-align-set12": _of(history_align, "history_align_set12"),
    "ov-graph": ("ov_graph", ov_graph),
    "cpu-peak": _of(cpu_peak, "cpu_peak"),
    "cpu-peak-avx2": _of(cpu_peak, "cpu_peak-avx2"),
    "probe-width": ("probe_width", probe_width),
    "camera-denoisers-anneal-validation": _of(camera_denoisers,
                                              "camera_denoisers_anneal_validation"),
    "camera-denoisers-anneal-control-validation": _of(
        camera_denoisers, "camera_denoisers_anneal_control_validation"),
    "camera-denoisers-live-camera-anneal-validation": _of(
        camera_denoisers, "camera_denoisers_live_camera_anneal_validation"),
    "camera-denoisers-stream-retrained-validation": _of(
        camera_denoisers, "camera_denoisers_stream_retrained_validation"),
    "camera-denoisers-stream-wise-validation": _of(
        camera_denoisers, "camera_denoisers_stream_wise_validation"),
    "camera-denoisers-stream-wise": _of(camera_denoisers, "camera_denoisers_stream_wise"),
    "camera-denoisers-low-noise-validation": _of(camera_denoisers,
                                                 "camera_denoisers_low_noise_validation"),
    "camera-denoisers-low-noise": _of(camera_denoisers, "camera_denoisers_low_noise"),
    "camera-denoisers-near-clean-low-noise-validation": _of(
        camera_denoisers, "camera_denoisers_near_clean_low_noise_validation"),
    "camera-denoisers-near-clean-validation": _of(camera_denoisers,
                                                  "camera_denoisers_near_clean_validation"),
    "camera-denoisers-near-clean-ninth-low-noise-validation": _of(
        camera_denoisers, "camera_denoisers_near_clean_ninth_low_noise_validation"),
    "camera-denoisers-near-clean-ninth-validation": _of(
        camera_denoisers, "camera_denoisers_near_clean_ninth_validation"),
    "stream-wise-verdicts": _of(stream_rule_verdicts, "camera_denoisers_stream_wise_validation"),
    "camera-denoisers-stream-levels-validation": _of(
        camera_denoisers, "camera_denoisers_stream_levels_validation"),
    "camera-denoisers-stream-levels-fp32-validation": _of(
        camera_denoisers, "camera_denoisers_stream_levels_fp32_validation"),
    "camera-denoisers-stream-cover-validation": _of(
        camera_denoisers, "camera_denoisers_stream_cover_validation"),
    "stream-cover-verdicts": _of(level_rule_verdicts,
                                 "camera_denoisers_stream_cover_validation"),
    "camera-denoisers-stream-cover-slow-validation": _of(
        camera_denoisers, "camera_denoisers_stream_cover_slow_validation"),
    "stream-cover-slow-verdicts": _of(level_rule_verdicts,
                                      "camera_denoisers_stream_cover_slow_validation"),
    "camera-denoisers-stream-cover-slow": _of(
        camera_denoisers, "camera_denoisers_stream_cover_slow"),
    "camera-denoisers-stream-cover-slow-h264-validation": _of(
        camera_denoisers, "camera_denoisers_stream_cover_slow_h264_validation"),
    "stream-cover-slow-h264-verdicts": _of(
        level_rule_verdicts, "camera_denoisers_stream_cover_slow_h264_validation"),
    "camera-denoisers-stream-cover-slow-h264": _of(
        camera_denoisers, "camera_denoisers_stream_cover_slow_h264"),
    "camera-denoisers-low-noise-stream": _of(camera_denoisers, "camera_denoisers_low_noise_stream"),
    "camera-denoisers-pan-validation": _of(camera_denoisers, "camera_denoisers_pan_validation"),
    "pan-verdicts": _of(pan_rule_verdicts, "camera_denoisers_pan_validation"),
    "camera-denoisers-moving": _of(camera_denoisers, "camera_denoisers_moving"),
    **{f"camera-truth{part.replace('_', '-')}": _of(camera_denoisers, f"camera_truth{part}")
       for part in ("_validation", "_rendered_validation", "_low_noise_validation")},
    "stream-level-verdicts": _of(level_rule_verdicts,
                                 "camera_denoisers_stream_levels_validation"),
    "odd-crops": _of(odd_crops, "odd_crops"),
    "video": _of(video, "video"),
    "video-amx": _of(video, "video-amx"),
    "video-bicubic": _of(video, "video-bicubic"),
    "runtime": ("runtime", runtime),
    "runtime-live-gray": ("runtime-live-gray", _runtime("runtime-live-gray")),
    "gray-decode": ("gray-decode", gray_decode),
    "decode-pacing": ("decode_pacing", decode_pacing),
    "loop-gap": _of(loop_gap, "loop_gap"),
    "loop-gap-sigmas": _of(loop_gap, "loop_gap_sigmas"),
    "auto-backend": _of(auto_backend, "auto_backend"),
    "auto-backend-vnni": _of(auto_backend, "auto_backend-vnni"),
    "auto-backend-amx": _of(auto_backend, "auto_backend-amx"),
    "ncnn": ("ncnn", ncnn),
    "bf16": _of(bf16, "bf16"),
    "bf16-amd": _of(bf16, "bf16-amd"),
    "bf16-amx": _of(bf16, "bf16-amx"),
    "bf16-amx-2": _of(bf16, "bf16-amx-2"),
    "soak": ("soak", soak),
    "soak-cost": _of(soak_cost, "soak-cost"),
    "soak-threads": _of(soak_cost, "soak-threads"),
    "soak-cost-vnni": _of(soak_cost, "soak-cost-vnni"),
    "soak-cost-f25": _of(soak_cost, "soak-cost-f25"),
    "soak-cost-amx": _of(soak_cost, "soak-cost-amx"),
    "soak-cost-amx-1thread": _of(soak_cost, "soak-cost-amx-1thread"),
    "soak-cost-amx-long": _of(soak_cost, "soak-cost-amx-long"),
    "video-speed": _of(video_speed, "video-speed"),
    "video-speed-amd": _of(video_speed, "video-speed-amd"),
    "video-speed-amd-vnni": _of(video_speed, "video-speed-amd-vnni"),
    "video-speed-amd-f25": _of(video_speed, "video-speed-amd-f25"),
    "video-speed-amd-f25-rounds": _of(video_speed, "video-speed-amd-f25-rounds"),
    "video-speed-amx": _of(video_speed, "video-speed-amx"),
    "arm-check": ("arm-check", arm_check),
    "tutorial": ("tutorial", tutorial),
    "tutorial-runtime": ("tutorial", tutorial_runtime),
    "denoise-set12": ("denoise-set12", denoise_set12),
    "denoise-fashion": ("denoise-fashion", denoise_fashion),
    "temporal-design": ("temporal-design", temporal_design),
    "localise": _of(localise, "localise"),
    "localise-dims64": _of(localise, "localise-dims64"),
    "draem": _of(draem, "draem"),
    "draem-160": _of(draem, "draem-160"),
    "draem-200": _of(draem, "draem-200"),
    "draem-patience": _of(draem, "draem-patience"),
    "patch-dims": ("patch-dims", patch_dims),
    "patch-stride": ("patch-stride", patch_stride),
    "generate": ("generate", generate),
    "streaming": ("streaming", streaming),
    "archive": ("archive", archive),
    "anomaly": ("anomaly", anomaly),
    "anomaly-per-class": ("anomaly", anomaly_per_class),
    "anomaly-threshold": ("anomaly", anomaly_threshold),
    "anomaly-time": ("anomaly", anomaly_time),
    "anomaly-pixel": ("anomaly", anomaly_pixel),
}


def main() -> int:
    """Print, check or write the tables; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit 1 if a marked table in BENCHMARKS.md differs from its JSON")
    mode.add_argument("--write", action="store_true", help="rewrite the marked tables")
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args()
    if not (args.check or args.write):
        for name, (results, render) in TABLES.items():
            if (RESULTS / f"{results}.json").exists():
                print(f"<!-- table: {name} -->\n{render()}<!-- /table -->\n")
        return 0
    text = args.doc.read_text()
    problems: list[str] = []

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            problems.append(f"{name}: no renderer in benchmarks/tables.py")
            return match[0]
        results, render = TABLES[name]
        if not (RESULTS / f"{results}.json").exists():
            problems.append(f"{name}: benchmarks/results/{results}.json is missing")
            return match[0]
        body = render()
        if body != match["body"]:
            problems.append(f"{name}: differs from benchmarks/results/{results}.json")
        return f"<!-- table: {name} -->\n{body}<!-- /table -->"

    new = BLOCK.sub(replace, text)
    found = [m["name"] for m in BLOCK.finditer(text)]
    if args.write:
        args.doc.write_text(new)
        print(f"rewrote {len(found)} tables: {', '.join(found)}")
        problems = [p for p in problems if "differs" not in p]
    print(json.dumps({"tables": found, "problems": problems}, indent=1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
