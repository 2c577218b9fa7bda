#!/usr/bin/env python3
"""Golden values for the trainer's SGD fidelity test, produced with PyTorch.

Run from the repository root (needs torch, torchvision, numpy, safetensors):

    python3 tools/make_train_golden.py [model ...]   (all of them by default)

Writes trainer/tests/golden/sgd/<model>/ for three families: a reduced torchvision ResNet-18
(8 channels in the stem instead of 64), MobileNetV3-Small at width_mult 0.25 (dropout off: it
would draw random masks) and ConvNeXt-Tiny at a quarter of its channels (layer scales and
LayerNorms randomised, so that the blocks' branches matter), each with 6 classes, in train
mode, trained for a few steps with the recipe's optimiser, torch.optim.SGD with momentum 0.9
and weight decay, on fixed batches without augmentation.
The learning rate and weight decay are larger than the recipe's (0.01 and 0.01) so that a
missing weight decay or a wrong momentum would move the parameters far beyond float error.
(A reduced ResNet-50 is not used: with 4-8 channels its train-mode BatchNorm makes a few SGD
steps chaotic, and PyTorch's own float32 run drifts from float64 by percents.) The reference run is in float64, so the golden values are the exact math
(rounded to float32 when saved) rather than one float32 rounding of it; PyTorch's own float32
losses and state are recorded too, to show the size of float32 error on this small, batch-statistics-
sensitive model:

* initial.safetensors: the state dict before the first step (BatchNorm statistics included).
* batches.safetensors: `inputs` [steps, batch, 3, 32, 32] and `targets` [steps, batch].
* final.safetensors: the state dict after the last step: parameters, and BatchNorm running
  statistics updated in train mode.
* final_float32.safetensors: the same after PyTorch's own float32 run, which tells the test
  how far float32 arithmetic may stray on each tensor.
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
from make_golden import (  # noqa: E402
    NarrowResNet,
    calibrate_bn,
    narrow_convnext,
    randomise_bn_stats,
    randomise_layer_norms,
)

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


def resnet18():
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], num_classes=CLASSES, width=8)
    randomise_bn_stats(model, 3)
    return model


def mobilenet_v3_small():
    model = torchvision.models.mobilenet_v3_small(width_mult=0.25, num_classes=CLASSES, dropout=0.0)
    calibrate_bn(model, 4)
    return model


def convnext_tiny():
    model = narrow_convnext(CLASSES)
    randomise_layer_norms(model, 5)
    return model


MODELS = {"resnet18": resnet18, "mobilenet_v3_small": mobilenet_v3_small, "convnext_tiny": convnext_tiny}


def golden(name):
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    model = MODELS[name]()
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(STEPS, BATCH, 3, SIZE, SIZE, generator=g)
    targets = torch.randint(0, CLASSES, (STEPS, BATCH), generator=g)

    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    save_file(state(model), os.path.join(out, "initial.safetensors"))
    save_file({"inputs": inputs, "targets": targets}, os.path.join(out, "batches.safetensors"))

    float32 = copy.deepcopy(model)
    float32_losses = train(float32, inputs, targets)
    # PyTorch's own float32 run: how far float32 arithmetic strays on each tensor here.
    save_file(state(float32), os.path.join(out, "final_float32.safetensors"))
    model.double()
    losses = train(model, inputs.double(), targets)

    save_file(state(model), os.path.join(out, "final.safetensors"))
    with open(os.path.join(out, "sgd.json"), "w") as f:
        json.dump(
            {**SETTINGS, "steps": STEPS, "losses": losses, "pytorch_float32_losses": float32_losses},
            f,
            indent=1,
        )
    print(name, "losses", losses, "float32", float32_losses)


def main(names):
    for name in names or MODELS:
        golden(name)
    print("torch", torch.__version__, "torchvision", torchvision.__version__)


if __name__ == "__main__":
    main(sys.argv[1:])
