#!/usr/bin/env bash
# The GPU benchmark in one go, for a Linux machine with an NVIDIA GPU, its Vulkan driver and
# PyTorch: burn (`trainer bench` through wgpu/Vulkan) with a cold and then a warm kernel cache,
# training (f32 and f16 mixed precision) and inference images/s at each batch size with peak
# GPU memory, a per-kernel profile, the input pipeline on all cores; PyTorch fp32, TF32 and
# bf16 autocast on the same card; then one table.
#
#   scripts/bench-gpu.sh [trainer binary, or an .xz of one] [output folder]
#
# Build the binary with `cargo build --release -p trainer` (WGSL through naga) or with
# `--features vulkan` (cubecl's SPIR-V compiler, cooperative-matrix matmuls), and run the script
# once per build into separate folders. BATCHES (default 32,64,128), PRECISIONS (default
# "f32 f16") and STEPS (timed steps, default 10) shorten it; BENCH_ARGS adds arguments to every
# `trainer bench` on the GPU (e.g. "--arch resnet18 --input-size 64" for a quick look).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/trainer}
out=${2:-target/bench-gpu}
batches=${BATCHES:-32,64,128}
precisions=${PRECISIONS:-f32 f16}
steps=${STEPS:-10}
read -ra extra <<<"${BENCH_ARGS:-}"
mkdir -p "$out"
work=$(mktemp -d)
if [[ $bin == *.xz ]]; then
    python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' \
        "$bin" "$work/trainer"
    chmod +x "$work/trainer"
    bin=$work/trainer
fi

# Runs a command while sampling the GPU's used memory; writes the peak above the level before
# it started (MiB) to $1.
with_peak_memory() {
    local file=$1
    shift
    local before
    before=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$file.samples" &
    local sampler=$!
    "$@"
    local status=$?
    kill "$sampler"
    wait "$sampler" 2>/dev/null
    sort -n "$file.samples" | tail -1 | awk -v b="$before" '{ print $1 - b }' >"$file"
    rm -f "$file.samples"
    return "$status"
}

# A fresh kernel cache: the first run compiles and autotunes, the second finds it all on disk.
export TRAINER_CACHE_DIR=$work/kernel-cache
for run in cold warm; do
    echo "== burn, first step with a $run kernel cache"
    "$bin" bench --device gpu --batch-sizes 32 --steps 2 --warmup 1 --pipeline-images 0 \
        "${extra[@]}" --json "$out/burn-$run.json"
done

for precision in $precisions; do
    for batch in ${batches//,/ }; do
        echo "== burn, $precision, batch $batch"
        with_peak_memory "$out/burn-$precision-b$batch.mem" "$bin" bench --device gpu \
            --precision "$precision" --batch-sizes "$batch" --steps "$steps" \
            --pipeline-images 0 "${extra[@]}" --json "$out/burn-$precision-b$batch.json"
    done
done
echo "== burn, where the time goes (per-kernel profile of two steps at batch 64)"
CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG="$work/profile.log" "$bin" bench --device gpu \
    --batch-sizes 64 --steps 2 --warmup 1 --pipeline-images 0 "${extra[@]}" >/dev/null
python3 tools/kernel_profile.py "$work/profile.log" >"$out/profile.md"
echo "== input pipeline"
"$bin" bench --device cpu --batch-sizes 1 --steps 1 --warmup 0 --arch resnet18 --input-size 224 \
    --pipeline-images 2048 --json "$out/pipeline.json"

for precision in fp32 tf32 bf16; do
    echo "== PyTorch $precision"
    python3 tools/bench_torch.py --device cuda --precision "$precision" --batch-sizes "$batches" \
        --steps "$steps" --pipeline-images 0 --json "$out/torch-$precision.json"
done
echo "== PyTorch input pipeline"
python3 tools/bench_torch.py --device cpu --batch-sizes "" --pipeline-images 2048 \
    --json "$out/torch-pipeline.json"

nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >"$out/gpu.txt"
python3 tools/bench_table.py "$out" | tee "$out/table.md"
cat "$out/profile.md"
rm -rf "$work"
