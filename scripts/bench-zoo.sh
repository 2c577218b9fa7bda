#!/usr/bin/env bash
# The architectures side by side on this machine's CPU (BENCHMARKS.md, the README's --arch
# table). For each one, at 224 px: `trainer bench --device cpu` training and inference
# images/s against tools/bench_torch.py on torchvision's same model; then the page in headless
# Chromium on its CPU path (the f16 bundle's size, load time and ms per photo) against ONNX
# Runtime Web (wasm) on an ONNX export of the same weights (tools/export_onnx.py). The bundles'
# weights come from one epoch on the demo's toy data: speed does not depend on their values.
# Needs Python with torch, torchvision and onnx (PYTHON names it).
#
#   scripts/bench-zoo.sh                          the architectures below
#   ARCHS="resnet18 convnext_tiny" BATCH=8 scripts/bench-zoo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-zoo
rm -rf "$work"
mkdir -p "$work"
python=${PYTHON:-python3}
read -r -a archs <<< "${ARCHS:-resnet50 resnet18 mobilenet_v3_large mobilenet_v3_small efficientnet_b0 convnext_tiny}"
batch=${BATCH:-16}
# The CPU backend alone: the GPU one (default feature `wgpu`) is not measured here.
cargo build --release --locked -p trainer --no-default-features --features avx512
TRUNK_SKIP_VERSION_CHECK=true trunk build --release
trainer=target/release/trainer
"$trainer" demo --out "$work/demo" --bundle "$work/demo-bundle" --per-class 4 --epochs 1 --device cpu
photos=("$work"/demo/data/Images/skirt_length_labels/*.jpg)
for arch in "${archs[@]}"; do
    echo "==> $arch"
    "$trainer" bench --device cpu --arch "$arch" --batch-sizes "$batch" --steps 3 --warmup 1 \
        --pipeline-images 0 --json "$work/$arch-burn.json"
    "$python" tools/bench_torch.py --device cpu --arch "$arch" --batch-sizes "$batch" --steps 3 \
        --warmup 1 --pipeline-images 0 --json "$work/$arch-torch.json"
    "$trainer" prepare --data "$work/demo/data" --out "$work/$arch-run"
    "$trainer" train --run "$work/$arch-run" --arch "$arch" --input-size 224 --pretrained none \
        --epochs 1 --batch-size 8 --device cpu
    "$trainer" export --model "$work/$arch-run" --out "$work/$arch-bundle" --precision f16 --device cpu
    "$python" tools/export_onnx.py "$work/$arch-bundle" "$work/$arch.onnx"
    node web/tests/bench.mjs "$work/$arch-bundle" "$work/$arch.onnx" "${photos[@]:0:4}" \
        --runs "${RUNS:-3}" --cpu --json "$work/$arch-web.json"
done
"$python" tools/zoo_table.py "$work" "${archs[@]}"
