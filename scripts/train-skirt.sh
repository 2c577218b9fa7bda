#!/usr/bin/env bash
# The tutorial's job in one command: merge the FashionAI train and warm-up sets for a task,
# split 90/10 with seed 1024, and fine-tune ImageNet ResNet-50 for 40 epochs on the GPU.
#
#   scripts/train-skirt.sh <train root> [<warm-up root>] [-- extra `trainer train` flags]
#
# Roots are the extracted archives: fashionAI_attributes_train_20180222 (with
# Annotations/label.csv) and warm_up_train_20180201 (with Annotations/skirt_length_labels.csv).
# The run folder is runs/${TASK:-skirt_length_labels}; rerun with `-- --resume` to continue.
set -euo pipefail
cd "$(dirname "$0")/.."

task="${TASK:-skirt_length_labels}"
run="runs/$task"
data=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
    data+=(--data "$1")
    shift
done
[[ $# -gt 0 ]] && shift
if [[ ${#data[@]} -eq 0 ]]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

cargo build --release --locked -p trainer
trainer=target/release/trainer
if [[ ! -f "$run/dataset.json" ]]; then
    "$trainer" prepare "${data[@]}" --task "$task" --out "$run"
fi
"$trainer" train --run "$run" "$@"
