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
import json
import re
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
    """The run's line: date, CPU, cores, command."""
    date = stamp.get("date_utc") or stamp.get("started_utc") or stamp.get("date")
    machine = stamp.get("machine", {}) if isinstance(stamp.get("machine"), dict) else stamp
    return (f"Run {date}; CPU {machine.get('cpu')}, {machine.get('cores')} cores; "
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

def vae_width() -> str:
    """Validation ELBO per width and dataset."""
    data = load("vae_width")
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
        stamp = {"date_utc": data["date"], "cpu": data.get("cpu"),
                 "cores": data["machine"].split(", ")[-1].split()[0], "command": data["command"]}
        return (caption(stamp) + f"\n\nKeras: {keras['bytes']:,} B, test PSNR "
                f"{keras['psnr_db']:.2f} dB, SSIM {keras['ssim']:.4f}.\n\n"
                + table(["artifact", "bytes", "size ratio", "max abs diff vs Keras", "PSNR dB",
                         "PSNR drop dB", "SSIM", "p50 ms", "gate"], rows,
                        right={1, 2, 3, 4, 5, 6, 7}) + "\n")
    render.__doc__ = f"export.json's {model}."
    return render


TABLES: dict[str, tuple[str, Callable[[], str]]] = {  # name -> (results file, renderer)
    "detector-sweep-hog": ("detector_sweep", detector_sweep_hog),
    "detector-sweep-knn": ("detector_sweep", detector_sweep_knn),
    "vae-width": ("vae_width", vae_width),
    "demo": ("demo", demo),
    "edge-live": ("edge-live", _edge("live")),
    "edge-quality": ("edge-quality", _edge("quality")),
    "edge-fashion-detector": ("edge-fashion-detector", _edge("fashion-detector")),
    "export-dense": ("export", _export("dense_autoencoder")),
    "export-conv": ("export", _export("conv_denoiser")),
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
