#!/usr/bin/env bash
# Writes trainer/tests/legacy/: a run folder made by the trainer as it was before the model zoo
# (commit 4634b4f: the network a bare ResNet, its checkpoints' parameters named `net.conv1...`,
# the settings' width as `base_width`), for trainer/tests/legacy.rs. Give it that trainer's
# binary (`git worktree add ../legacy 4634b4f`, then `cargo build -p trainer` there):
#
#   tools/make_legacy_run.sh ../legacy/target/debug/trainer
#
# What it keeps: the demo's toy photos (data/), a run killed with SIGKILL once epoch 1 was
# saved (run/: its split, settings, epoch 1's checkpoint and metrics), and what that trainer
# said of it (expected/): eval of epoch 1, classify --json of a photo on epoch 1, and the
# metrics of the same run uninterrupted. The runs were made under /tmp/fashionai-legacy, which
# the test replaces with its own folder in the run's files.
set -euo pipefail
old=$(realpath "$1")
cd "$(dirname "$0")/.."
out=trainer/tests/legacy
root=/tmp/fashionai-legacy
rm -rf "$root" "$out"
mkdir -p "$root" "$out/expected"
settings=(--arch resnet18 --base-width 8 --input-size 32 --epochs 3 --batch-size 8 --lr 0.01
    --lr-steps 2 --pretrained none --device cpu)

"$old" demo --out "$root/demo" --bundle "$root/demo-bundle" --per-class 5 --epochs 1 --device cpu \
    > /dev/null
mv "$root/demo/data" "$root/data"
rm -rf "$root/demo" "$root/demo-bundle" "$root/data/Tests"

# The whole run, uninterrupted: what resuming must reach.
"$old" prepare --data "$root/data" --out "$root/full" --val-fraction 0.3 > /dev/null
"$old" train --run "$root/full" "${settings[@]}" > /dev/null
cp "$root/full/metrics.json" "$out/expected/metrics-uninterrupted.json"

# The same run killed once epoch 1 is saved.
"$old" prepare --data "$root/data" --out "$root/run" --val-fraction 0.3 > /dev/null
"$old" train --run "$root/run" "${settings[@]}" > /dev/null 2>&1 &
trainer=$!
until [ -e "$root/run/checkpoint/scheduler-1.bpk" ]; do sleep 0.01; done
kill -9 "$trainer"
wait "$trainer" || true
if [ -e "$root/run/checkpoint/model-2.bpk" ]; then
    echo "epoch 2 finished before the kill; run it again" >&2
    exit 1
fi
rm -rf "$root/run/checkpoint"/*.tmp* "$root/run/logs" 2>/dev/null || true
photo=$(find "$root/data/Images" -name '*.jpg' | sort | head -1)
"$old" eval --run "$root/run" --device cpu > /dev/null
cp "$root/run/eval.json" "$out/expected/eval-epoch-1.json"
rm -f "$root/run/eval.json" "$root/run/confusion.png" "$root/run/curves.png"
"$old" classify --json --device cpu --model "$root/run/checkpoint/model-1.bpk" "$photo" \
    > "$out/expected/classify-epoch-1.json"
cp -r "$root/data" "$root/run" "$out/"
echo "wrote $out ($(du -sh "$out" | cut -f1))"
