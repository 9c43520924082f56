r"""How fast OpenVINO runs `live` int8 here: the shipped file, NNCF's IR, and a reshaped graph.

Issue 20 asks `live` int8 at 640x480 on 2 threads through the fastest backend at 2.5x LiteRT's
int8. OpenVINO on the shipped QDQ ONNX file has measured 1.9-2.2x on the Xeons with AMX. This
script measures what OpenVINO's own tools and one graph change add, side by side with LiteRT's
int8 file, each through the runtime's session (`open_session`, as `edgeae run` calls it):

- the shipped QDQ ONNX file (`live_int8.onnx`, onnxruntime's quantizer);
- NNCF's post-training quantization of the shipped fp32 ONNX file into an OpenVINO IR, no
  accuracy control (performance preset; overflow fix only where int8 sums saturate);
- the same, of the fp32 graph with each skip connection's `Concat` + `Conv` split into two
  `Conv`s and an `Add` (the same arithmetic: the output moves by about 3e-7): OpenVINO's CPU
  plugin concatenates channels-last tensors with its reference kernel.

Calibration: 40 crops of 128x128 from Train400 training images at Gaussian sigma 5, 25 and 55
each (seeded). PSNR: the 40 held-out Train400 images at sigma 25 (validation images; Set12 is
not used). Timing: median of ROUNDS interleaved rounds of CALLS calls on a 640x480 frame, the
order reversed every other round.

    .venv/bin/python benchmarks/ov_graph.py --data ../shared/data \
        --out benchmarks/results/ov_graph.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from int8_ranges import gray, mean_psnr, noisy_pairs
from onnx import helper, numpy_helper
from provenance import finished, provenance, write_result

from edgeae.runtime.backends import int8_sums_saturate, open_session
from edgeae.runtime.pretrained import PRETRAINED_DIR
from edgeae.train.pipeline import split_indices

THREADS, ROUNDS, CALLS = 2, 16, 8
CALIBRATION_IMAGES, CROP, SIGMAS, VALIDATION_SIGMA = 40, 128, (5, 25, 55), 25


def split_skip_concats(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each Concat read only by one Conv becomes a Conv per input and an Add of the two."""
    graph, weights = model.graph, {i.name: i for i in model.graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    pairs = {node.name: readers[node.output[0]][0] for node in graph.node
             if node.op_type == "Concat" and len(readers.get(node.output[0], [])) == 1
             and readers[node.output[0]][0].op_type == "Conv"}
    dropped, nodes = {conv.name for conv in pairs.values()}, []
    for node in graph.node:
        if node.name in pairs:
            sizes = [_channels(name, producers, weights) for name in node.input]
            nodes += _split_conv(pairs[node.name], node.input, sizes, weights, graph)
        elif node.name not in dropped:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def _channels(name: str, producers: dict, weights: dict) -> int:
    """A tensor's channels: those of the nearest Conv above it (through ReLU, Resize)."""
    node = producers[name]
    while node.op_type != "Conv":
        node = producers[node.input[0]]
    return numpy_helper.to_array(weights[node.input[1]]).shape[0]


def _split_conv(conv, inputs, sizes: list[int], weights: dict, graph) -> list:
    """`conv` over the concatenation of `inputs` as one Conv per input and an Add."""
    kernel = numpy_helper.to_array(weights[conv.input[1]])
    attributes = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    halves = []
    for k, (name, part) in enumerate(zip(inputs, np.split(kernel, np.cumsum(sizes)[:-1], 1))):
        graph.initializer.append(numpy_helper.from_array(part, f"{conv.name}_w{k}"))
        bias = list(conv.input[2:]) if k == 0 else []  # the bias is added once
        halves.append(helper.make_node("Conv", [name, f"{conv.name}_w{k}", *bias],
                                       [f"{conv.name}_{k}"], name=f"{conv.name}_{k}",
                                       **attributes))
    return halves + [helper.make_node("Add", [h.output[0] for h in halves], list(conv.output),
                                      name=f"{conv.name}_add")]


def image_sets(data: Path) -> tuple[list[np.ndarray], list]:
    """(calibration crops NHWC with noise, held-out (clean, noisy) pairs) from Train400."""
    paths = sorted((data / "train400").glob("*.png"))
    train, held = split_indices(len(paths), 0.1, 0)
    rng, crops = np.random.default_rng(0), []
    for i in train[:CALIBRATION_IMAGES]:
        image = gray(paths[i])[:CROP, :CROP]
        crops += [(image + rng.normal(0, s / 255, image.shape)).astype(np.float32)[None, ..., None]
                  for s in SIGMAS]
    return crops, noisy_pairs([gray(paths[i]) for i in held], VALIDATION_SIGMA, 1)


def nncf_ir(onnx_path: Path, crops: list[np.ndarray], out: Path) -> Path:
    """NNCF's int8 of an ONNX file as an OpenVINO IR (no accuracy control)."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(onnx_path))
    fix = nncf.OverflowFix.ENABLE if int8_sums_saturate() else nncf.OverflowFix.DISABLE
    quantized = nncf.quantize(
        model, nncf.Dataset(crops), preset=nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(crops), advanced_parameters=nncf.AdvancedQuantizationParameters(
            overflow_fix=fix))
    ov.save_model(quantized, str(out))
    return out


def interleaved_ms(files: dict[str, tuple[Path, str]]) -> dict[str, dict]:
    """Median and p99 ms per 640x480 frame of each (file, backend), interleaved rounds."""
    sessions = {label: open_session(path, backend, THREADS)[0]
                for label, (path, backend) in files.items()}
    frame = np.random.default_rng(0).random((1, 480, 640, 1), dtype=np.float32)
    times: dict[str, list[float]] = {label: [] for label in sessions}
    for session in sessions.values():
        session.run(frame)
    for round_ in range(ROUNDS):
        for label, session in list(sessions.items())[::1 if round_ % 2 else -1]:
            for _ in range(CALLS):
                start = time.perf_counter()
                session.run(frame)
                times[label].append(1000 * (time.perf_counter() - start))
    return {label: {"p50": float(np.median(t)), "p99": float(np.percentile(t, 99))}
            for label, t in times.items()}


def main() -> None:
    """Make the two IRs, measure every file's PSNR and time; write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ov_graph.json"))
    args = parser.parse_args()
    run = provenance("python benchmarks/ov_graph.py " + " ".join(sys.argv[1:]))
    crops, held = image_sets(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        work, fp32 = Path(tmp), PRETRAINED_DIR / "live_fp32.onnx"
        onnx.save(split_skip_concats(onnx.load(fp32)), work / "split_fp32.onnx")
        files = {"LiteRT int8 (live_int8.tflite)": (PRETRAINED_DIR / "live_int8.tflite", "litert"),
                 "OpenVINO, shipped QDQ (live_int8.onnx)": (PRETRAINED_DIR / "live_int8.onnx",
                                                             "openvino"),
                 "OpenVINO, NNCF IR": (nncf_ir(fp32, crops, work / "nncf.xml"), "openvino"),
                 "OpenVINO, NNCF IR of the split graph": (
                     nncf_ir(work / "split_fp32.onnx", crops, work / "split.xml"), "openvino")}
        psnr = {"fp32": mean_psnr(fp32, "openvino", held),
                "fp32, split graph": mean_psnr(work / "split_fp32.onnx", "openvino", held)}
        psnr |= {label: mean_psnr(path, backend, held) for label, (path, backend) in files.items()}
        ms = interleaved_ms(files)
    base = ms["LiteRT int8 (live_int8.tflite)"]["p50"]
    rows = [{"file": label, "p50_ms": round(t["p50"], 2), "p99_ms": round(t["p99"], 2),
             "x_litert": round(base / t["p50"], 2), "psnr_db": round(psnr[label], 3)}
            for label, t in ms.items()]
    write_result({"provenance": finished(run), "fp32_psnr_db": {k: round(v, 3) for k, v in
                                                                 psnr.items() if "fp32" in k},
                  "rows": rows}, args.out)
    print(rows)


if __name__ == "__main__":
    main()
