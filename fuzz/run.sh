#!/usr/bin/env bash
# Fuzzes every target (or those named after SECONDS) for SECONDS each (default 60) with
# libFuzzer, seeded from the committed bad-input corpus, the weight files of every family,
# fuzz/seeds/ and the crash regressions (fuzz/regressions/), and prints the executions and
# crashes per target. Crashing inputs are left in fuzz/artifacts/<target>/; the run fails if
# there is one. `cargo test` replays the same seeds and regressions through the same entry
# points on the stable toolchain (shared/tests/fuzz_corpus.rs, trainer/tests/fuzz_corpus.rs);
# this is the long search.
#
#   fuzz/run.sh 600             # installs the nightly toolchain and cargo-fuzz when missing
#   fuzz/run.sh 3600 settings   # some targets only
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
all=(label_csv manifest image weights bundle settings dataset)
targets=("${@:2}")
if [ $# -le 1 ]; then
    targets=("${all[@]}")
fi
corpus=../trainer/tests/bad_inputs

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]; then
    cargo install --locked cargo-fuzz@0.13.2
fi
cargo +nightly fuzz build -O 2>&1 | tail -n 3

# Seeds: the corpus files each target reads, the weight files of every family, and
# fuzz/seeds/<target>/ (run-folder files, a manifest naming each architecture, bundles).
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
mkdir -p "${all[@]/#/$seeds/}"
cp "$corpus"/*.csv "$seeds/label_csv/"
cp "$corpus"/bad-checksum/manifest.json "$seeds/manifest/"
cp "$corpus"/*.{jpg,png,gif,webp} ../shared/tests/golden/preprocess/* "$seeds/image/"
cp "$corpus"/*.pth "$corpus"/*.safetensors ../shared/tests/golden/*.{pth,safetensors} "$seeds/weights/"
for target in "${all[@]}"; do
    if [ -d "seeds/$target" ]; then
        cp "seeds/$target"/* "$seeds/$target/"
    fi
done
manifest="$corpus/bad-checksum/manifest.json"
length=$(stat -c %s "$manifest")
{
    printf "\\x$(printf %02x $((length & 255)))\\x$(printf %02x $((length >> 8)))"
    cat "$manifest" "$corpus/tiny-resnet18.safetensors"
} > "$seeds/bundle/tiny"
for target in "${targets[@]}"; do
    if [ -d "regressions/$target" ]; then
        cp "regressions/$target"/* "$seeds/$target/"
    fi
done

failed=0
printf '%-10s %12s %10s %8s\n' target executions exec/s crashes > summary.txt
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target/last-run.log"
    status=0
    cargo +nightly fuzz run -O "$target" "corpus/$target" "$seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
        > "$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    crashes=$(find "artifacts/$target" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
    printf '%-10s %12s %10s %8s\n' "$target" "$runs" "$rate" "$crashes" >> summary.txt
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        echo "fuzz target $target failed; see fuzz/$log" >&2
        grep -m 20 -E 'panicked|ERROR|SUMMARY|artifact' "$log" >&2 || true
    fi
done
cat summary.txt
exit "$failed"
