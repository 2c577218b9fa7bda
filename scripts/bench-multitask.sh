#!/usr/bin/env bash
# One model of all eight FashionAI tasks against eight models of one task each, on the same
# generated photos (`trainer demo --tasks all`'s toy data) and the demo's recipe: training
# seconds per epoch, seconds to give all eight answers for every test photo, bundle bytes,
# and each task's validation accuracy.
#
#   scripts/bench-multitask.sh [OUT]        (default target/bench-multitask)
#
# EPOCHS (default 6), PER_CLASS (images per class, default 40), DEVICE (default cpu) and
# TRAINER (a trainer binary to use instead of building the release one).
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-target/bench-multitask}"
epochs="${EPOCHS:-6}"
per_class="${PER_CLASS:-40}"
device="${DEVICE:-cpu}"

trainer="${TRAINER:-target/release/trainer}"
[ -n "${TRAINER:-}" ] || cargo build --release --locked -p trainer
rm -rf "$out"
mkdir -p "$out"

# The multi-task model: the demo over all eight tasks (data, run, evaluation, bundle).
"$trainer" demo --tasks all --out "$out/all" --bundle "$out/all/bundle" \
    --per-class "$per_class" --epochs "$epochs" --device "$device" > "$out/all.log"
data="$out/all/data"

# Eight single-task models on the same photos, split the same way, with the demo's recipe.
recipe=(--arch resnet18 --pretrained none --epochs "$epochs" --batch-size 16 --lr 0.02
    --lr-steps "$((epochs * 2 / 3))" --lr-factor 0.5 --input-size 64 --base-width 16
    --device "$device")
tasks=$("$trainer" tasks | grep -o '^[a-z_]*_labels')
for task in $tasks; do
    run="$out/single/$task"
    "$trainer" prepare --data "$data" --task "$task" --out "$run" --val-fraction 0.2 > /dev/null
    "$trainer" train --run "$run" "${recipe[@]}" > "$out/single-$task.log"
    "$trainer" eval --run "$run" --device "$device" > /dev/null
    "$trainer" export --model "$run" --out "$run/bundle" --device "$device" > /dev/null
done
"$trainer" eval --run "$out/all/run" --device "$device" > /dev/null

# All eight answers for every test photo: one pass of the one model, or one of each model.
mapfile -t photos < <(cut -d, -f1 "$data/Tests/question.csv" | sed "s|^|$data/|")
start=$(date +%s%N)
"$trainer" classify --model "$out/all/bundle" --json --device "$device" "${photos[@]}" > /dev/null
echo "$(( ($(date +%s%N) - start) / 1000000 ))" > "$out/classify-all.ms"
start=$(date +%s%N)
for task in $tasks; do
    "$trainer" classify --model "$out/single/$task/bundle" --json --device "$device" \
        "${photos[@]}" > /dev/null
done
echo "$(( ($(date +%s%N) - start) / 1000000 ))" > "$out/classify-single.ms"

python3 - "$out" "${#photos[@]}" <<'EOF'
import json, os, sys

out, photos = sys.argv[1], int(sys.argv[2])
def epoch_seconds(run):
    epochs = json.load(open(f"{run}/metrics.json"))["epochs"]
    return sum(e["seconds"] for e in epochs) / len(epochs)
def bundle_bytes(bundle):
    return sum(os.path.getsize(f"{bundle}/{f}") for f in os.listdir(bundle))
def seconds(name):
    return int(open(f"{out}/{name}.ms").read()) / 1000

multi = json.load(open(f"{out}/all/run/eval.json"))
tasks = [t["task"] for t in multi["tasks"]]
single = {t: json.load(open(f"{out}/single/{t}/eval.json")) for t in tasks}
rows = [
    ("training, seconds per epoch (same images)", f"{epoch_seconds(f'{out}/all/run'):.1f}",
     f"{sum(epoch_seconds(f'{out}/single/{t}') for t in tasks):.1f}"),
    (f"all eight answers for {photos} photos, seconds (`classify`, load included)",
     f"{seconds('classify-all'):.1f}", f"{seconds('classify-single'):.1f}"),
    ("bundle bytes (f16)", f"{bundle_bytes(f'{out}/all/bundle'):,}",
     f"{sum(bundle_bytes(f'{out}/single/{t}/bundle') for t in tasks):,}"),
    ("garment accuracy (validation, best epoch)", f"{multi['garment_accuracy']:.3f}", "-"),
]
rows += [(f"{t} accuracy (validation, {r['images']} images)", f"{r['accuracy']:.3f}",
          f"{single[t]['accuracy']:.3f}") for t, r in zip(tasks, multi["tasks"])]
rows.append(("mean accuracy", f"{multi['accuracy']:.3f}",
             f"{sum(single[t]['accuracy'] for t in tasks) / len(tasks):.3f}"))
print("| | one model, 8 tasks | 8 models, 1 task each |")
print("|---|---|---|")
for name, a, b in rows:
    print(f"| {name} | {a} | {b} |")
EOF
