#!/usr/bin/env python3
"""Produce the golden values the Rust parity tests compare against, with PyTorch/torchvision.

Run from the repository root (needs torch, torchvision, pillow, numpy, safetensors):

    python3 tools/make_golden.py [golden ...]   (all of them by default)

Writes shared/tests/golden/. The tests themselves never need PyTorch.

* resnet50_formula.json: torchvision's ResNet-50 (full width, 1000 classes) with every
  parameter computed by a formula the Rust test recomputes (no 100 MB file in git), and its
  eval-mode logits for a formula input.
* resnet50_w8.pth, resnet18_w8.safetensors: real torch-written state dicts of
  reduced-width (8 instead of 64 channels) torchvision ResNets, and their logits.
* mobilenet_v3_small_w25.pth, mobilenet_v3_large_w25.safetensors, efficientnet_b1_w25.pth,
  efficientnet_b3_w25.safetensors, convnext_tiny_w25.pth, zoo_logits.json: torchvision's own
  MobileNetV3, EfficientNet and ConvNeXt constructors at a quarter of the width, saved by
  torch, and their logits.
* mobilenet_v3_large_formula.json, efficientnet_b0_formula.json, convnext_tiny_formula.json
  (and the first two's *_formula_stats.safetensors: BatchNorm's running statistics): each
  zoo family's full-size model with formula parameters, and its logits for a PNG photo
  through the architecture's weights' transforms.
* preprocess/: source images and what torchvision's
  Resize(256, BICUBIC) + CenterCrop(224) (+ ten crops) and Resize(236, BILINEAR) +
  CenterCrop(224) make of them.
* transforms.json: the resize, crop and filter of torchvision's ImageNet weights per
  architecture.
"""

import copy
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image, ImageDraw, ImageOps
from safetensors.torch import save_file
from torch import nn
from torchvision import transforms as T
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

OUT = os.path.join("shared", "tests", "golden")
MASK = 0xFFFFFFFF


# ---- the formula (mirrored in shared/tests/common/formula.rs) ---------------------------


def fnv1a(name: str) -> int:
    h = 0x811C9DC5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & MASK
    return h


def unit(n: int, seed: int) -> np.ndarray:
    """n pseudo-random float64 values in [-1, 1) from a 32-bit integer hash of (index, seed)."""
    x = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(seed)) & np.uint64(MASK)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x45D9F3B)) & np.uint64(MASK)
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 4294967296.0 * 2.0 - 1.0


def formula(name: str, shape, offset: float, scale: float) -> np.ndarray:
    n = int(np.prod(shape))
    return (offset + scale * unit(n, fnv1a(name))).astype(np.float32).reshape(shape)


def param_rule(name: str, shape):
    """(offset, scale) of each parameter: He-uniform convolutions, BatchNorm statistics
    spread so that eps matters (variances down to 0.1), damped residual branches."""
    if name.endswith("running_var"):
        return 0.55, 0.45
    if name.endswith("running_mean"):
        return 0.0, 0.1
    if name.startswith("fc."):
        return 0.0, 1.0 / np.sqrt(shape[-1]) if name.endswith("weight") else 0.01
    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        return 0.0, float(np.sqrt(6.0 / fan_in))
    if name.endswith("weight"):  # BatchNorm gamma
        # The last BatchNorm of each residual branch is damped so that 16 residual additions
        # keep the activations near unit scale.
        return (0.2, 0.05) if ".bn3." in name else (0.8, 0.1)
    return 0.0, 0.1  # BatchNorm beta


# ---- models ------------------------------------------------------------------------------


class NarrowResNet(ResNet):
    """torchvision's ResNet with `width` channels in the stem instead of 64. Same code paths
    (torchvision's blocks and _make_layer), same state-dict names; only smaller."""

    def __init__(self, block, layers, num_classes, width):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)


def formula_input(batch: int, size: int) -> torch.Tensor:
    return torch.from_numpy(formula("input", (batch, 3, size, size), 0.0, 2.0))


def logits(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def formula_resnet50():
    model = torchvision.models.resnet50(num_classes=1000)
    params = []
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        offset, scale = param_rule(name, tuple(tensor.shape))
        state[name] = torch.from_numpy(formula(name, tuple(tensor.shape), offset, scale))
        params.append({"name": name, "shape": list(tensor.shape), "offset": offset, "scale": scale})
    model.load_state_dict(state, strict=False)
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        getattr(model, stage).register_forward_hook(
            lambda _m, _i, out, stage=stage: print("  %s output std %.3f" % (stage, out.std()))
        )
    x = formula_input(2, 224)
    out = logits(model, x)
    print("resnet50 formula logits: std %.3f, max |%.3f|" % (out.std(), out.abs().max()))
    return {
        "input": {"name": "input", "shape": [2, 3, 224, 224], "offset": 0.0, "scale": 2.0},
        "params": params,
        "logits": out.numpy().astype(float).tolist(),
    }


def formula_rule(name, module, shape):
    """(offset, scale) of a parameter of the zoo's full-size formula models: He-uniform
    convolutions and Linears, norms' scales near 1 and shifts near 0, small biases, and
    ConvNeXt's layer scales near 0.1 (its blocks' branches add up over 18 blocks)."""
    if name.endswith("layer_scale"):
        return 0.1, 0.05
    if isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
        return (1.0, 0.2) if name.endswith("weight") else (0.0, 0.2)
    if name.endswith("bias"):
        return 0.0, 0.1
    fan_in = int(np.prod(shape[1:]))
    return 0.0, float(np.sqrt(6.0 / fan_in))


def formula_zoo_model(arch):
    """torchvision's full-size `arch` (1000 classes) with every parameter from the formula,
    BatchNorm's running statistics measured on random images as training leaves them (made-up
    statistics fade the mobile families' input out, see `calibrate_bn`; they go in a small
    safetensors file), and its logits for a generated PNG through the architecture's weights'
    transforms, in float64 with torch's own float32 error."""
    model = torchvision.models.get_model(arch, num_classes=1000)
    modules = dict(model.named_modules())
    params = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            offset, scale = formula_rule(name, modules[name.rsplit(".", 1)[0]], tuple(p.shape))
            p.copy_(torch.from_numpy(formula(name, tuple(p.shape), offset, scale)))
            params.append({"name": name, "shape": list(p.shape), "offset": offset, "scale": scale})
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if norms:
        g = torch.Generator().manual_seed(17)
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        with torch.no_grad():
            for _ in range(4):
                model(torch.randn(8, 3, 224, 224, generator=g))
        stats = {
            name: tensor.clone()
            for name, tensor in model.state_dict().items()
            if name.endswith(("running_mean", "running_var"))
        }
        save_file(stats, os.path.join(OUT, f"{arch}_formula_stats.safetensors"))
    model.eval()
    transforms = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.transforms()
    size = (transforms.resize_size[0], transforms.crop_size[0])
    photo = Image.open(os.path.join(OUT, "preprocess", "landscape.png")).convert("RGB")
    x = T.Compose([
        T.Resize(size[0], interpolation=transforms.interpolation),
        T.CenterCrop(size[1]),
        T.ToTensor(),
        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])(photo).unsqueeze(0)
    f64 = logits(copy.deepcopy(model).double(), x.double())
    error = max(
        ((f32.double() - f64).abs().max() / f64.abs().max()).item()
        for f32 in float32_logits(model, x.float())
    )
    print("%s formula logits: std %.3f, max |%.3f|, torch float32 error %.1e"
          % (arch, f64.std(), f64.abs().max(), error))
    return {
        "photo": "preprocess/landscape.png",
        "params": params,
        "logits": f64.numpy().tolist(),
        "torch_f32_error": error,
    }


def randomise_bn_stats(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(1.0 + 0.1 * torch.randn(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))
            m.num_batches_tracked.fill_(7)


def narrow_models():
    torch.manual_seed(0)
    r50 = NarrowResNet(Bottleneck, [3, 4, 6, 3], num_classes=6, width=8)
    randomise_bn_stats(r50, 1)
    torch.save(r50.state_dict(), os.path.join(OUT, "resnet50_w8.pth"))
    r18 = NarrowResNet(BasicBlock, [2, 2, 2, 2], num_classes=5, width=8)
    randomise_bn_stats(r18, 2)
    save_file(r18.state_dict(), os.path.join(OUT, "resnet18_w8.safetensors"))
    x = formula_input(2, 64)
    return {
        "input": {"name": "input", "shape": [2, 3, 64, 64], "offset": 0.0, "scale": 2.0},
        "resnet50_w8": logits(r50, x).numpy().astype(float).tolist(),
        "resnet18_w8": logits(r18, x).numpy().astype(float).tolist(),
    }


def randomise_biases(model, seed):
    """Every bias away from the family's zero initialisation, so that loading them is tested,
    and the Linears at PyTorch's default scale instead of MobileNet's tiny normal(0, 0.01)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
            m.bias.data.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        if isinstance(m, nn.Linear):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features**0.5)


def calibrate_bn(model, seed):
    """Random BatchNorm scales and shifts, and running statistics measured on random images
    (as training leaves them): with made-up statistics, the families' small depthwise weights
    (kaiming normal over every output channel) fade the input out within a few stages, and
    every image would give the same logits."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momentum = {m: m.momentum for m in norms}
    for m in norms:
        m.weight.data.copy_(1.0 + 0.2 * torch.randn(m.num_features, generator=g))
        m.bias.data.copy_(0.2 * torch.randn(m.num_features, generator=g))
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, 3, 64, 64, generator=g))
    # The family's own momentum again, for whatever trains the model next.
    for m in norms:
        m.momentum = momentum[m]
    model.eval()


def float32_logits(model, x):
    """The model's float32 logits computed three ways: torch's default, channels-last memory
    and one thread."""
    yield logits(model, x)
    yield logits(
        copy.deepcopy(model).to(memory_format=torch.channels_last),
        x.to(memory_format=torch.channels_last),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield logits(model, x)
    torch.set_num_threads(threads)


def narrow_efficientnet(arch, depth_mult, num_classes):
    setting, last_channel = _efficientnet_conf(arch, width_mult=0.25, depth_mult=depth_mult)
    return EfficientNet(setting, dropout=0.2, num_classes=num_classes, last_channel=last_channel)


def narrow_convnext(num_classes):
    """ConvNeXt-Tiny's stages at a quarter of its channels (24, 48, 96, 192)."""
    widths = [24, 48, 96, 192]
    setting = [
        CNBlockConfig(width, widths[i + 1] if i < 3 else None, blocks)
        for i, (width, blocks) in enumerate(zip(widths, [3, 3, 9, 3]))
    ]
    return ConvNeXt(setting, stochastic_depth_prob=0.0, num_classes=num_classes)


def randomise_layer_norms(model, seed):
    """Random LayerNorm scales and shifts, and layer scales of about 0.5 instead of 1e-6 (at
    which every block would add next to nothing, and a wrong branch would go unseen)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("layer_scale"):
            p.data.copy_(0.25 + 0.5 * torch.rand(p.shape, generator=g))
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.weight.data.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=g))
            m.bias.data.copy_(0.2 * torch.randn(m.bias.shape, generator=g))


def zoo_models():
    torch.manual_seed(3)
    small = torchvision.models.mobilenet_v3_small(width_mult=0.25, num_classes=6)
    randomise_biases(small, 5)
    calibrate_bn(small, 4)
    torch.save(small.state_dict(), os.path.join(OUT, "mobilenet_v3_small_w25.pth"))
    large = torchvision.models.mobilenet_v3_large(width_mult=0.25, num_classes=5)
    randomise_biases(large, 7)
    calibrate_bn(large, 6)
    save_file(large.state_dict(), os.path.join(OUT, "mobilenet_v3_large_w25.safetensors"))
    b1 = narrow_efficientnet("efficientnet_b1", 1.1, 4)
    randomise_biases(b1, 9)
    calibrate_bn(b1, 8)
    torch.save(b1.state_dict(), os.path.join(OUT, "efficientnet_b1_w25.pth"))
    b3 = narrow_efficientnet("efficientnet_b3", 1.4, 3)
    randomise_biases(b3, 11)
    calibrate_bn(b3, 10)
    save_file(b3.state_dict(), os.path.join(OUT, "efficientnet_b3_w25.safetensors"))
    torch.manual_seed(13)
    convnext = narrow_convnext(4)
    randomise_biases(convnext, 14)
    randomise_layer_norms(convnext, 15)
    torch.save(convnext.eval().state_dict(), os.path.join(OUT, "convnext_tiny_w25.pth"))
    x = formula_input(2, 64)
    models = {
        "mobilenet_v3_small_w25": small,
        "mobilenet_v3_large_w25": large,
        "efficientnet_b1_w25": b1,
        "efficientnet_b3_w25": b3,
        "convnext_tiny_w25": convnext,
    }
    out = {"input": {"name": "input", "shape": [2, 3, 64, 64], "offset": 0.0, "scale": 2.0}}
    for name, model in models.items():
        # The reference in float64; torch's own float32 error against it, the worst of three
        # orders of arithmetic, tells the tests how far float32 may stray on this network
        # (deep SiLU and SE stacks grow it past 1e-5; a wrong layer, even a BatchNorm eps of
        # 1e-3 instead of 1e-5, errs by about 1).
        f64 = logits(copy.deepcopy(model).double(), x.double())
        out[name] = f64.numpy().tolist()
        out[name + "_torch_f32_error"] = max(
            ((f32.double() - f64).abs().max() / f64.abs().max()).item()
            for f32 in float32_logits(model, x.float())
        )
        out[name + "_parameters"] = sum(p.numel() for p in model.parameters())
    return out


# ---- preprocessing -----------------------------------------------------------------------


def scene(width, height, seed):
    """A photo-like test picture: gradients, shapes with hard edges, and some noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            127 + 100 * np.sin(xx / (7 + seed)),
            127 + 100 * np.cos(yy / (11 + seed)),
            255 * (xx + yy) / (width + height),
        ],
        axis=-1,
    )
    base += rng.normal(0, 4, base.shape)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(5, width // 2), y0 + rng.integers(5, height // 2)
        draw.rectangle([x0, y0, x1, y1], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return image


def preprocessing():
    folder = os.path.join(OUT, "preprocess")
    os.makedirs(folder, exist_ok=True)
    cases = []
    # (file, size, how it is saved): landscape and portrait downscales, an upscale, odd offsets
    # that exercise CenterCrop's round-half-to-even, a JPEG and an EXIF-rotated JPEG.
    specs = [
        ("landscape.png", (640, 427), "png"),
        ("portrait.png", (300, 533), "png"),
        ("small.png", (150, 190), "png"),
        ("odd.png", (257, 341), "png"),
        ("photo.jpg", (500, 375), "jpeg"),
        ("rotated.jpg", (400, 300), "exif6"),
    ]
    resize = T.Resize(256, interpolation=T.InterpolationMode.BICUBIC)
    bilinear_resize = T.Resize(236, interpolation=T.InterpolationMode.BILINEAR)
    crop = T.CenterCrop(224)
    normalize = T.Compose([T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    for i, (file, size, kind) in enumerate(specs):
        path = os.path.join(folder, file)
        image = scene(*size, seed=i + 1)
        if kind == "png":
            image.save(path)
        elif kind == "jpeg":
            image.save(path, quality=92)
        else:
            # Stored sideways with orientation 6 ("rotate 90 clockwise to view"), as phones do.
            exif = Image.Exif()
            exif[0x0112] = 6
            image.transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif.tobytes())
        loaded = Image.open(path)
        # torchvision ignores EXIF; the reference for a rotated photo is the upright picture.
        upright = ImageOps.exif_transpose(loaded).convert("RGB")
        resized = resize(upright)
        center = crop(resized)
        center.save(os.path.join(folder, file.rsplit(".", 1)[0] + ".center.png"))
        # ConvNeXt-Tiny's weights' transforms: Resize(236, BILINEAR) + CenterCrop(224).
        bilinear = bilinear_resize(upright)
        crop(bilinear).save(os.path.join(folder, file.rsplit(".", 1)[0] + ".bilinear.png"))
        tensor = normalize(center)
        tens = [normalize(c) for c in T.TenCrop(224)(resized)]
        cases.append(
            {
                "file": file,
                "resized": list(resized.size),
                "center_crop": file.rsplit(".", 1)[0] + ".center.png",
                "bilinear_resized": list(bilinear.size),
                "bilinear_crop": file.rsplit(".", 1)[0] + ".bilinear.png",
                # Spot values of the normalised tensor, [channel, y, x, value].
                "normalized_samples": [
                    [c, y, x, float(tensor[c, y, x])]
                    for c, y, x in [(0, 0, 0), (1, 100, 57), (2, 223, 223), (0, 111, 200)]
                ],
                # Per-crop channel means of TenCrop's ten normalised crops, in torchvision's order.
                "ten_crop_means": [[float(t[c].mean()) for c in range(3)] for t in tens],
            }
        )
    return cases


def weight_transforms():
    """The evaluation transforms of torchvision's ImageNet weights (V1) per architecture, read
    from its weight enums (no download): what `Arch::input_size` must say."""
    names = [
        "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_b1",
        "efficientnet_b2", "efficientnet_b3", "convnext_tiny",
    ] + [f"resnet{depth}" for depth in (18, 34, 50, 101, 152)]
    out = {}
    for name in names:
        transforms = torchvision.models.get_model_weights(name).IMAGENET1K_V1.transforms()
        out[name] = {
            "resize": transforms.resize_size[0],
            "crop": transforms.crop_size[0],
            "interpolation": transforms.interpolation.value,
        }
    return out


GOLDENS = {
    "resnet50_formula.json": lambda: formula_resnet50(),
    "narrow_logits.json": lambda: narrow_models(),
    "zoo_logits.json": lambda: zoo_models(),
    "preprocess.json": lambda: preprocessing(),
    "transforms.json": lambda: weight_transforms(),
    "mobilenet_v3_large_formula.json": lambda: formula_zoo_model("mobilenet_v3_large"),
    "efficientnet_b0_formula.json": lambda: formula_zoo_model("efficientnet_b0"),
    "convnext_tiny_formula.json": lambda: formula_zoo_model("convnext_tiny"),
}


def main(names):
    os.makedirs(OUT, exist_ok=True)
    for name in names or GOLDENS:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(GOLDENS[name](), f, indent=None if name.endswith("_formula.json") else 1)
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "-> wrote", OUT)


if __name__ == "__main__":
    main(sys.argv[1:])
