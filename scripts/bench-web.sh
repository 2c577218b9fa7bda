#!/usr/bin/env bash
# The page's benchmark (BENCHMARKS.md): an f16 ResNet-50 bundle at 224 px in headless Chromium,
# on the WebGPU path (SwiftShader where there is no GPU) and on the CPU path, next to ONNX
# Runtime Web running an ONNX export of the same weights (tools/export_onnx.py, which needs
# Python with torch, torchvision and onnx: PYTHON names it). The bundle's weights come from one
# epoch on the demo's toy data: latency does not depend on their values.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-web
rm -rf "$work"
cargo build --release --locked -p trainer
TRUNK_SKIP_VERSION_CHECK=true trunk build --release
trainer=target/release/trainer
"$trainer" demo --out "$work/demo" --bundle "$work/demo-bundle" --per-class 4 --epochs 1 --device cpu
"$trainer" prepare --data "$work/demo/data" --out "$work/run"
"$trainer" train --run "$work/run" --arch resnet50 --pretrained none --epochs 1 --batch-size 8 --device cpu
"$trainer" export --model "$work/run" --out "$work/bundle" --precision f16
"${PYTHON:-python3}" tools/export_onnx.py "$work/bundle" "$work/model.onnx"
photos=("$work"/demo/data/Images/skirt_length_labels/*.jpg)
node web/tests/bench.mjs "$work/bundle" "$work/model.onnx" "${photos[@]:0:4}" --runs "${RUNS:-3}"
