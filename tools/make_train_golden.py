#!/usr/bin/env python3
"""Golden values for the trainer's SGD fidelity test, produced with PyTorch.

Run from the repository root (needs torch, torchvision, numpy, safetensors):

    python3 tools/make_train_golden.py

Writes trainer/tests/golden/sgd/: a reduced torchvision ResNet-18 (8 channels in the stem
instead of 64, 6 classes) in train mode, trained for a few steps with the recipe's optimiser,
torch.optim.SGD with momentum 0.9 and weight decay, on fixed batches without augmentation.
The learning rate and weight decay are larger than the recipe's (0.01 and 0.01) so that a
missing weight decay or a wrong momentum would move the parameters far beyond float error.
(A reduced ResNet-50 is not used: with 4-8 channels its train-mode BatchNorm makes a few SGD
steps chaotic, and PyTorch's own float32 run drifts from float64 by percents.) The reference run is in float64, so the golden values are the exact math
(rounded to float32 when saved) rather than one float32 rounding of it; PyTorch's own float32
losses are recorded too, to show the size of float32 error on this small, batch-statistics-
sensitive model:

* initial.safetensors: the state dict before the first step (BatchNorm statistics included).
* batches.safetensors: `inputs` [steps, batch, 3, 32, 32] and `targets` [steps, batch].
* final.safetensors: the state dict after the last step: parameters, and BatchNorm running
  statistics updated in train mode.
* sgd.json: the optimiser settings, each step's cross-entropy loss (float64), and PyTorch's
  float32 losses for comparison.

The Rust test never needs PyTorch.
"""

import copy
import json
import os
import sys

import torch
import torchvision
from safetensors.torch import save_file
from torch import nn
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import NarrowResNet, randomise_bn_stats  # noqa: E402

OUT = os.path.join("trainer", "tests", "golden", "sgd")
STEPS, BATCH, SIZE, CLASSES = 3, 8, 48, 6
SETTINGS = {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01}


def state(model):
    return {
        k: (v.float() if v.is_floating_point() else v).detach().clone().contiguous()
        for k, v in model.state_dict().items()
    }


def train(model, inputs, targets):
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), **SETTINGS)
    losses = []
    for step in range(STEPS):
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs[step]), targets[step])
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


def main():
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], num_classes=CLASSES, width=8)
    randomise_bn_stats(model, 3)
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(STEPS, BATCH, 3, SIZE, SIZE, generator=g)
    targets = torch.randint(0, CLASSES, (STEPS, BATCH), generator=g)

    os.makedirs(OUT, exist_ok=True)
    save_file(state(model), os.path.join(OUT, "initial.safetensors"))
    save_file({"inputs": inputs, "targets": targets}, os.path.join(OUT, "batches.safetensors"))

    float32_losses = train(copy.deepcopy(model), inputs, targets)
    model.double()
    losses = train(model, inputs.double(), targets)

    save_file(state(model), os.path.join(OUT, "final.safetensors"))
    with open(os.path.join(OUT, "sgd.json"), "w") as f:
        json.dump(
            {**SETTINGS, "steps": STEPS, "losses": losses, "pytorch_float32_losses": float32_losses},
            f,
            indent=1,
        )
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "losses", losses)


if __name__ == "__main__":
    main()
