#!/usr/bin/env python3
"""An ONNX export of a web bundle's network, for comparing the page with ONNX Runtime Web on
the same weights (`scripts/bench-web.sh`). The bundle's `model.safetensors` uses torchvision's
tensor names, so it loads into torchvision's ResNet as it is; the export is fp32 with a fixed
batch of one, as the page classifies one photo at a time. Needs torch, torchvision, onnx.

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
    if manifest["base_width"] != 64:
        sys.exit(f"{bundle}: base width {manifest['base_width']} is not a torchvision ResNet")
    model = torchvision.models.get_model(manifest["arch"], num_classes=len(manifest["classes"]))
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
