#!/usr/bin/env bash
# Ensembles and distillation on generated photos (BENCHMARKS.md): two teachers of different
# architectures (ResNet-18 with the centre crop, EfficientNet-B0 with the padded view, both at
# half torchvision's width), their ensemble, a MobileNetV3-Small (half width) distilled from
# it (STUDENT=<arch> STUDENT_WIDTH=<w> for another), and the same student trained on the
# labels alone, all on one split of the demo's photos
# (few epochs: models that still make mistakes), at 64 px, from random weights, on the CPU.
# Prints each evaluation and the bundles' sizes; the eval.json files stay in
# target/bench-distill/.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-distill
rm -rf "$work"
# TRAINER names a trainer binary already built (the numbers do not depend on the build).
if [ -z "${TRAINER:-}" ]; then
    cargo build --release --locked -p trainer
fi
trainer=${TRAINER:-target/release/trainer}
common=(--pretrained none --input-size 64 --batch-size 16 --lr 0.02 --device cpu)
teacher=(--width-mult 0.5 --epochs "${EPOCHS:-8}" "${common[@]}")
"$trainer" demo --out "$work/demo" --bundle "$work/demo-bundle" --per-class "${PER_CLASS:-40}" \
    --epochs 1 --device cpu > /dev/null
for run in resnet18 efficientnet_b0 student labels-only; do
    # The same seeded split in every run folder.
    "$trainer" prepare --data "$work/demo/data" --out "$work/$run" --val-fraction 0.3 > /dev/null
done
"$trainer" train --run "$work/resnet18" --arch resnet18 "${teacher[@]}"
"$trainer" train --run "$work/efficientnet_b0" --arch efficientnet_b0 --view pad "${teacher[@]}"
student=(--arch "${STUDENT:-mobilenet_v3_small}" --epochs "${STUDENT_EPOCHS:-10}" "${common[@]}"
    --width-mult "${STUDENT_WIDTH:-0.5}")
"$trainer" distill --teacher "$work/resnet18" --teacher "$work/efficientnet_b0" \
    --run "$work/student" "${student[@]}"
"$trainer" train --run "$work/labels-only" "${student[@]}"
echo "== the ensemble and its members"
"$trainer" eval --run "$work/labels-only" --model "$work/resnet18" --model "$work/efficientnet_b0" \
    --device cpu | grep -v '^ *[0-9]'
echo "== the distilled student against its teacher"
"$trainer" eval --run "$work/student" --device cpu | grep -v '^ *[0-9]'
echo "== the student trained on the labels alone against the same teacher"
"$trainer" eval --run "$work/labels-only" --teacher "$work/resnet18" \
    --teacher "$work/efficientnet_b0" --device cpu | grep -v '^ *[0-9]'
echo "== bundles (f16)"
for run in resnet18 efficientnet_b0 student; do
    "$trainer" export --model "$work/$run" --out "$work/$run-bundle" --device cpu | tail -1
done
