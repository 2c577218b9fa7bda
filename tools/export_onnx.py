#!/usr/bin/env python3
"""An ONNX export of a web bundle's network, for comparing the page with ONNX Runtime Web on
the same weights (`scripts/bench-web.sh`, `scripts/bench-zoo.sh`). The bundle's
`model.safetensors` uses torchvision's tensor names, so it loads into torchvision's model of
the manifest's `arch` as it is; the export is fp32 with a fixed batch of one, as the page
classifies one photo at a time. Needs torch, torchvision, onnx.

    python3 tools/export_onnx.py target/bench-web/bundle target/bench-web/model.onnx
"""

import json
import pathlib
import sys

import torch
import torchvision
from safetensors.torch import load_file


def main():
    bundle, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    manifest = json.loads((bundle / "manifest.json").read_text())
    # Bundles from before the model zoo gave ResNet's width as `base_width` (64 at width 1).
    width = manifest.get("width_mult", manifest.get("base_width", 64) / 64)
    if width != 1:
        sys.exit(f"{bundle}: width {width} is not torchvision's {manifest['arch']}")
    tasks = manifest.get("tasks") or []
    # Each task's classes, then (for several tasks) the garment head's one output per task.
    outputs = len(manifest.get("classes") or []) or sum(len(t["classes"]) + 1 for t in tasks)
    model = torchvision.models.get_model(manifest["arch"], num_classes=outputs)
    state = {k: v.float() for k, v in load_file(bundle / manifest["weights"]["file"]).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    wrong = [k for k in missing if not k.endswith("num_batches_tracked")] + unexpected
    if wrong:  # bundles leave out only BatchNorm's step counters
        sys.exit(f"{bundle}: not {manifest['arch']}'s tensors: {', '.join(wrong[:5])}")
    model.eval()
    crop = manifest["preprocessing"]["crop"]
    example = torch.zeros(1, 3, crop, crop)
    torch.onnx.export(model, (example,), out, input_names=["input"], output_names=["logits"],
                      opset_version=17, dynamo=False)
    print(f"{out}: {manifest['arch']} at {crop} px, {out.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
