#!/usr/bin/env bash
# The per-backend tables of BENCHMARKS.md, through `edgeae benchmark`: the shipped pretrained
# denoisers on Set12 with Gaussian noise (sigma 25), and the default detector trained on
# Fashion-MNIST's class 0 and scored on the whole test split (the one-class protocol). The
# runtime rows run in .venv-runtime (no TensorFlow), as on a device.
#
# Each table's rows (benchmark.json) are kept with the CPU and versions as
# $RESULTS/edge-{live,quality,fashion-detector}.json, which benchmarks/tables.py renders; OUT
# (models, PNG folders, artifacts, report) is not committed. The `loop` part times `edgeae run`'s
# whole loop on a 640x480 video beside the bare engine, for `live` (edge-live-loop.json).
# SUFFIX=-cpu keeps a second CPU's run beside the first (edge-live-loop-cpu.json).
#
#   benchmarks/edge_table.sh ../shared/data [OUT]      (OUT: benchmarks/results/edge)
#   PARTS=detector benchmarks/edge_table.sh ../shared/data     (only some tables)
set -euo pipefail
DATA=${1:?usage: benchmarks/edge_table.sh DATA_DIR [OUT]}
OUT=${2:-benchmarks/results/edge}
PARTS_ARG=${PARTS:-live quality loop detector}
PARTS=" $PARTS_ARG "
RESULTS=${RESULTS:-benchmarks/results}
SUFFIX=${SUFFIX:-}
EDGEAE=${EDGEAE:-.venv/bin/edgeae}
PYTHON=${PYTHON:-.venv/bin/python}
RUNTIME_PYTHON=${RUNTIME_PYTHON:-.venv-runtime/bin/python}
COMMON=(--threads 1,2 --python "$RUNTIME_PYTHON" --peak --overwrite)

keep() {  # keep NAME: the rows of $OUT/NAME/benchmark.json with the machine, for tables.py
  "$PYTHON" benchmarks/provenance.py --wrap "$OUT/$1/benchmark.json" \
    "$RESULTS/edge-$1$SUFFIX.json" \
    --command "${SUFFIX:+SUFFIX=$SUFFIX }PARTS=\"$PARTS_ARG\" benchmarks/edge_table.sh $DATA $OUT"
}

for name in live quality; do
  [[ $PARTS == *" $name "* ]] || continue
  "$EDGEAE" benchmark --pretrained "$name" --backends tflite,onnx --precisions fp32,int8 \
    --sizes 320x240,640x480 --data "$DATA/set12" --noise gaussian:25 "${COMMON[@]}" \
    --out "$OUT/$name"
  keep "$name"
done
if [[ $PARTS == *" loop "* ]]; then  # benchmarks/runtime.py's pan over Set12, sigma 25
  video="$OUT/pan640x480.avi"
  mkdir -p "$OUT"
  "$PYTHON" -c "import sys; sys.path.insert(0, 'benchmarks')
from pathlib import Path; from runtime import make_video
make_video(Path(sys.argv[1]), Path(sys.argv[2]))" "$DATA/set12" "$video"
  "$EDGEAE" benchmark --pretrained live --backends tflite,onnx --precisions fp32,int8 \
    --sizes 640x480 --threads 2 --video "$video" --python "$RUNTIME_PYTHON" --overwrite \
    --out "$OUT/live-loop"
  keep live-loop
fi
[[ $PARTS == *" detector "* ]] || exit 0

"$PYTHON" benchmarks/one_class_folders.py --data "$DATA/fashion_mnist.npz" --normal 0 \
  --out "$OUT/fashion0"
[ -f "$OUT/fashion0/det/manifest.json" ] ||
  "$EDGEAE" train detector --data "$OUT/fashion0/train" --out "$OUT/fashion0/det" --overwrite
"$EDGEAE" benchmark "$OUT/fashion0/det" --precisions fp32,fp16,int8 --sizes 28x28,640x480 \
  --data "$OUT/fashion0/test" --limit 10000 --artifacts "$OUT/fashion0/artifacts" \
  "${COMMON[@]}" --out "$OUT/fashion-detector"
keep fashion-detector
"$EDGEAE" report "$OUT/fashion0/det" --benchmark "$OUT/fashion-detector" --overwrite \
  --out "$OUT/fashion-detector/report.html"
