#!/usr/bin/env bash
# CPU inference of every architecture against PyTorch (BENCHMARKS.md): `trainer bench --bench
# inference --device cpu` (BatchNorms folded, as eval/predict/classify run) and
# tools/bench_torch.py on torchvision's same model, at 224 px and batches 1, 16 and 64, one
# after the other on an otherwise idle machine; then one table of images/s. Needs Python with
# torch and torchvision (PYTHON names it).
#
#   scripts/bench-cpu.sh                          builds the release trainer, all architectures
#   ARCHS="resnet18 resnet50" scripts/bench-cpu.sh
#   TRAINERS="avx2=/path/a avx512=/path/b" scripts/bench-cpu.sh   several trainer builds side by side
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-cpu
rm -rf "$work"
mkdir -p "$work"
python=${PYTHON:-python3}
read -r -a archs <<< "${ARCHS:-resnet18 resnet34 resnet50 resnet101 resnet152 mobilenet_v3_large mobilenet_v3_small efficientnet_b0 efficientnet_b1 efficientnet_b2 efficientnet_b3 convnext_tiny}"
if [ -z "${TRAINERS:-}" ]; then
    # The CPU backend alone: the GPU one (default feature `wgpu`) is not measured here.
    cargo build --release --locked -p trainer --no-default-features --features avx512
    TRAINERS="burn=target/release/trainer"
fi
read -r -a trainers <<< "$TRAINERS"
# Batch 1 is short: more timed passes.
parts=("1 10 2" "16,64 3 1")
for arch in "${archs[@]}"; do
    echo "==> $arch"
    for part in "${parts[@]}"; do
        read -r batches steps warmup <<< "$part"
        common=(--device cpu --arch "$arch" --bench inference --batch-sizes "$batches"
            --steps "$steps" --warmup "$warmup" --pipeline-images 0)
        for trainer in "${trainers[@]}"; do
            "${trainer#*=}" bench "${common[@]}" --json "$work/$arch-${trainer%%=*}-$batches.json"
        done
        "$python" tools/bench_torch.py "${common[@]}" --json "$work/$arch-PyTorch-$batches.json"
    done
done
labels=()
for trainer in "${trainers[@]}"; do
    labels+=("${trainer%%=*}")
done
"$python" tools/cpu_table.py "$work" "${labels[*]} PyTorch" "${archs[@]}"
