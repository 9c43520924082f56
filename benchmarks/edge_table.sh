#!/usr/bin/env bash
# The per-backend tables of BENCHMARKS.md, through `edgeae benchmark`: the shipped pretrained
# denoisers on Set12 with Gaussian noise (sigma 25), and the default detector trained on
# Fashion-MNIST's class 0 and scored on the whole test split (the one-class protocol). The
# runtime rows run in .venv-runtime (no TensorFlow), as on a device.
#
#   benchmarks/edge_table.sh ../shared/data [OUT]      (OUT: benchmarks/results/edge)
set -euo pipefail
DATA=${1:?usage: benchmarks/edge_table.sh DATA_DIR [OUT]}
OUT=${2:-benchmarks/results/edge}
EDGEAE=${EDGEAE:-.venv/bin/edgeae}
PYTHON=${PYTHON:-.venv/bin/python}
RUNTIME_PYTHON=${RUNTIME_PYTHON:-.venv-runtime/bin/python}
COMMON=(--threads 1,2 --python "$RUNTIME_PYTHON" --overwrite)

for name in live quality; do
  "$EDGEAE" benchmark --pretrained "$name" --backends tflite,onnx --precisions fp32,int8 \
    --sizes 320x240,640x480 --data "$DATA/set12" --noise gaussian:25 "${COMMON[@]}" \
    --out "$OUT/$name"
done

"$PYTHON" benchmarks/one_class_folders.py --data "$DATA/fashion_mnist.npz" --normal 0 \
  --out "$OUT/fashion0"
[ -f "$OUT/fashion0/det/manifest.json" ] ||
  "$EDGEAE" train detector --data "$OUT/fashion0/train" --out "$OUT/fashion0/det" --overwrite
"$EDGEAE" benchmark "$OUT/fashion0/det" --precisions fp32,fp16,int8 --sizes 28x28,640x480 \
  --data "$OUT/fashion0/test" --limit 10000 --artifacts "$OUT/fashion0/artifacts" \
  "${COMMON[@]}" --out "$OUT/fashion-detector"
"$EDGEAE" report "$OUT/fashion0/det" --benchmark "$OUT/fashion-detector" --overwrite \
  --out "$OUT/fashion-detector/report.html"
