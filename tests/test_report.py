"""`edgeae report`: a self-contained page, checked by opening it in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

from edgeae.core.cpu import cpu_identity, cpu_model

from conftest import blobs, run_cli, train_cli, write_folder, write_video

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECTIONS = ("model-card", "training", "samples", "parity", "benchmark")


def open_in_chromium(path) -> dict:
    """Load the page in headless Chromium (no network); return console errors and images."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: CI must install it (.ci/run does)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        found = {
            "errors": errors,
            "requests": [u for u in requests if not u.startswith(("file:", "data:"))],
            "images": page.evaluate("Array.from(document.images).map("
                                    "i => [i.alt, i.complete && i.naturalWidth > 0])"),
            "sections": page.evaluate("Array.from(document.querySelectorAll('section'))"
                                      ".map(s => s.id)"),
            "text": page.inner_text("body"),
        }
        browser.close()
    return found


def test_report_with_benchmark_renders_every_section(tmp_path, denoiser_dir):
    bench = tmp_path / "bench"
    data = write_folder(tmp_path / "clean", blobs(8, seed=4))
    video = write_video(tmp_path / "clip.avi", np.repeat(blobs(6, 64, seed=5), 3, axis=-1))
    code, _, err = run_cli("benchmark", denoiser_dir, "--backends", "keras,tflite",
                           "--precisions", "fp32,int8", "--sizes", "32x32,64x64", "--threads",
                           "1", "--repeats", "3", "--data", data, "--artifacts",
                           tmp_path / "exported", "--peak", "--video", video, "--out", bench)
    assert code == 0, err
    code, out, err = run_cli("report", denoiser_dir, "--benchmark", bench, "--out",
                             tmp_path / "report.html")
    assert code == 0, err
    page = open_in_chromium(tmp_path / "report.html")
    assert page["errors"] == [] and page["requests"] == []  # self-contained
    assert tuple(page["sections"]) == SECTIONS
    alts = [alt for alt, decoded in page["images"]]
    assert all(decoded for _, decoded in page["images"]), page["images"]
    assert alts[:2] == ["training curves", "sample outputs"]
    assert "Latency against frame size (1 threads)" in alts
    assert "Latency against quality per backend and precision" in alts
    assert f"{cpu_model()} ({cpu_identity()})" in page["text"]  # which CPU the rows ran on
    # the parity table, from the artifacts the benchmark exported (wherever --artifacts put them)
    assert "model_int8.tflite" in page["text"] and "litert" in page["text"]
    assert "noisy input, denoised, clean" in page["text"]
    assert "of the engine's peak" in page["text"]  # --peak's column (keras rows: "-")
    # --video's column, at the video's 64x64: its shares of the engine's 1/p50 and 1/mean, and
    # the ceiling the reading thread's decoding leaves
    assert ("loop fps (% of engine: of 1/p50, of 1/mean; the ceiling the decoding allows)"
            in page["text"])
    assert re.search(r"\b\d+\.\d \(\d+%, \d+%; ceiling \d+%, decoding \d+\.\d\d ms\)",
                     page["text"]), page["text"]
    code, _, err = run_cli("report", denoiser_dir, "--out", tmp_path / "report.html")
    assert code == 2 and "--overwrite" in err


def test_report_of_a_detector_without_benchmark_says_what_is_missing(tmp_path, gray_folder):
    det = train_cli(tmp_path / "det", "detector", gray_folder, "--epochs", "2")
    code, _, err = run_cli("report", det, "--out", tmp_path / "det.html")
    assert code == 0, err
    page = open_in_chromium(tmp_path / "det.html")
    assert page["errors"] == [] and all(decoded for _, decoded in page["images"])
    assert tuple(page["sections"]) == SECTIONS
    assert "anomaly map" in page["text"] and "mean+1std" in page["text"]
    assert "No benchmark given" in page["text"] and "No export report given" in page["text"]
    other = train_cli(tmp_path / "other", "detector", gray_folder, "--epochs", "1")
    assert run_cli("export", other, "--out", tmp_path / "other_export")[0] == 0
    code, _, err = run_cli("report", det, "--export", tmp_path / "other_export", "--out",
                           tmp_path / "mixed.html")  # another model's parity table: refused
    assert code == 2 and "holds the export of another model" in err, err
    code, _, err = run_cli("benchmark", other, "--backends", "onnx,openvino", "--precisions",
                           "fp32", "--threads", "1", "--repeats", "2", "--out", tmp_path / "bench")
    assert code == 0, err
    code, _, err = run_cli("report", det, "--benchmark", tmp_path / "bench", "--out",
                           tmp_path / "mixed.html")  # another model's benchmark: refused too
    assert code == 2 and "holds the benchmark of another model" in err, err
    # its own page, from the benchmark folder moved elsewhere: the parity table comes from the
    # artifacts moved with it, each row says which file it timed, and the false alarms show
    (tmp_path / "bench").rename(tmp_path / "moved")
    code, _, err = run_cli("report", other, "--benchmark", tmp_path / "moved", "--out",
                           tmp_path / "other.html")
    assert code == 0, err
    page = (tmp_path / "other.html").read_text()
    assert "No export report given" not in page and "model_fp32.xml" in page
    assert "<td>openvino .xml</td>" in page and "<td>openvino</td>" in page
    assert "<th>fpr</th>" in page
    row = json.loads((tmp_path / "moved" / "benchmark.json").read_text())["rows"][0]
    assert row["mmacs_per_frame"] < 1  # a small model's: shown as 0.0 before
    assert f'<td class="num">{row["mmacs_per_frame"]:.3g}</td>' in page


def test_report_bad_input_is_one_line(tmp_path, denoiser_dir):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "benchmark.json").write_text('{"run": {}, "rows": []}')
    history = tmp_path / "history"
    shutil.copytree(denoiser_dir, history)
    (history / "history.csv").write_text("epoch,loss\n0,abc\n")
    (tmp_path / "there.html").write_text("mine")
    for args, message in [((tmp_path / "nope",), "no such model directory"),
                          ((denoiser_dir, "--benchmark", tmp_path), "holds no benchmark.json"),
                          ((denoiser_dir, "--benchmark", damaged), "is not as `edgeae benchmark` "
                                                                   "writes it (no run and rows)"),
                          ((history,), "history.csv is not a training log"),
                          ((denoiser_dir, "--out", tmp_path / "there.html"), "--overwrite")]:
        code, _, err = run_cli("report", *args, *() if "--out" in args else (
            "--out", tmp_path / "r.html"))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    (damaged / "benchmark.json").write_text('not json')
    code, _, err = run_cli("report", denoiser_dir, "--benchmark", damaged, "--out",
                           tmp_path / "r.html")
    assert code == 2 and "cannot read benchmark" in err, err


def test_a_detectors_plots_go_by_frame_size_not_its_constant_work_per_frame():
    """A detector scores at its training size, so every row has the same MACs per frame: the
    quality plot was drawn at the first size measured, the size plot on one vertical line."""
    from edgeae.app.report import benchmark_plots, largest_size

    rows = [{"size": size, "mmacs_per_frame": 0.45, "ms_p50": ms, "threads": 2,
             "backend": "onnxruntime", "precision": "int8", "auroc": 0.9}
            for size, ms in (("64x48", 1.0), ("640x480", 3.0), ("320x240", 2.0))]
    assert largest_size(rows) == "640x480"
    assert len(benchmark_plots({"rows": rows, "run": {"quality_metric": "auroc"}})) == 2
