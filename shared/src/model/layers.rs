//! Building blocks of torchvision's mobile families, shaped as torchvision's own `nn.Sequential`s:
//! a `Vec` of an enum gives the same numeric names (`features.1.block.0.1.weight`), since burn's
//! tensor paths skip enum variants, so torchvision's state dicts map on without renaming.

use burn::module::Param;
use burn::nn::activation::{HardSwish, SiLU};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn::tensor::activation::{hard_sigmoid, sigmoid};
use burn::tensor::{Distribution, FloatDType};

use super::block::conv_in;
use super::norm::BatchNorm;

/// torchvision's `_make_divisible(v, 8)`: `v` rounded to the nearest multiple of `divisor`, at
/// least `divisor`, and never more than 10% below `v`.
pub fn make_divisible(value: f64, divisor: usize) -> usize {
    let rounded = ((value + divisor as f64 / 2.0) as usize / divisor * divisor).max(divisor);
    if (rounded as f64) < 0.9 * value {
        rounded + divisor
    } else {
        rounded
    }
}

/// A BatchNorm's eps and momentum, as a family's `norm_layer` sets them.
#[derive(Clone, Copy, Debug)]
pub struct NormSpec {
    pub epsilon: f64,
    pub momentum: f64,
}

/// The activations of the mobile families; they have no weights.
#[derive(Module, Debug)]
pub enum Activation {
    Relu(Relu),
    HardSwish(HardSwish),
    Silu(SiLU),
}

impl Activation {
    fn of(act: Act) -> Option<Self> {
        match act {
            Act::None => None,
            Act::Relu => Some(Activation::Relu(Relu)),
            Act::HardSwish => Some(Activation::HardSwish(HardSwish)),
            Act::Silu => Some(Activation::Silu(SiLU)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Activation::Relu(relu) => relu.forward(x),
            Activation::HardSwish(hard_swish) => hard_swish.forward(x),
            Activation::Silu(silu) => silu.forward(x),
        }
    }
}

/// One entry of torchvision's `Conv2dNormActivation`.
#[derive(Module, Debug)]
pub enum ConvUnit {
    Conv(Conv2d),
    Norm(BatchNorm),
    Act(Activation),
}

/// torchvision's `Conv2dNormActivation`: `0` a bias-free convolution padded `(kernel - 1) / 2`,
/// `1` its BatchNorm, `2` the activation, when there is one.
pub type ConvNormAct = Vec<ConvUnit>;

/// How one [`ConvNormAct`] is built.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub kernel: usize,
    pub stride: usize,
    /// `out_channels` for a depthwise convolution, 1 for a dense one.
    pub groups: usize,
    pub norm: NormSpec,
}

impl ConvSpec {
    /// A dense (ungrouped) convolution.
    pub fn dense(kernel: usize, stride: usize, norm: NormSpec) -> Self {
        Self {
            kernel,
            stride,
            groups: 1,
            norm,
        }
    }
}

/// The activation a [`ConvNormAct`] ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    None,
    Relu,
    HardSwish,
    Silu,
}

pub fn conv_norm_act(
    in_channels: usize,
    out_channels: usize,
    spec: ConvSpec,
    act: Act,
    device: &Device,
) -> ConvNormAct {
    let pad = (spec.kernel - 1) / 2;
    // torchvision's `kaiming_normal_(mode="fan_out")`: PyTorch's fan-out of a grouped
    // convolution counts every output channel (burn's divides by the groups).
    let fan_out = out_channels * spec.kernel * spec.kernel;
    let conv = Conv2dConfig::new([in_channels, out_channels], [spec.kernel, spec.kernel])
        .with_stride([spec.stride, spec.stride])
        .with_groups(spec.groups)
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: (2.0 / fan_out as f64).sqrt(),
        })
        .init(device);
    let norm = BatchNorm::with(out_channels, spec.norm.epsilon, spec.norm.momentum, device);
    let mut units = vec![ConvUnit::Conv(conv), ConvUnit::Norm(norm)];
    units.extend(Activation::of(act).map(ConvUnit::Act));
    units
}

/// A [`ConvNormAct`] applied, its convolution computed in `dtype` (see [`conv_in`]).
pub fn forward_conv_norm_act(units: &[ConvUnit], x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
    units.iter().fold(x, |x, unit| match unit {
        ConvUnit::Conv(conv) => conv_in(conv, x, dtype),
        ConvUnit::Norm(norm) => norm.forward(x),
        ConvUnit::Act(act) => act.forward(x),
    })
}

/// Folds a [`ConvNormAct`]'s BatchNorm into its convolution ([`BatchNorm::fold_into`]).
pub fn fold_conv_norm_act(units: &mut [ConvUnit]) {
    if let [ConvUnit::Conv(conv), ConvUnit::Norm(norm), ..] = units {
        norm.fold_into(conv);
    }
}

/// The BatchNorm of a [`ConvNormAct`].
pub fn norm_of(units: &[ConvUnit]) -> &BatchNorm {
    units
        .iter()
        .find_map(|unit| match unit {
            ConvUnit::Norm(norm) => Some(norm),
            _ => None,
        })
        .expect("a ConvNormAct has a BatchNorm")
}

/// torchvision's `SqueezeExcitation`: the channels' means through `fc1` (1x1 convolution),
/// the activation, `fc2` and a gate (Hardsigmoid in MobileNetV3, sigmoid in EfficientNet) scale
/// the map.
#[derive(Module, Debug)]
pub struct SqueezeExcitation {
    pub fc1: Conv2d,
    pub fc2: Conv2d,
    pub activation: Activation,
    pub hard_gate: bool,
}

impl SqueezeExcitation {
    /// `activation` after `fc1`; `hard_gate`: Hardsigmoid, else sigmoid.
    pub fn new(
        channels: usize,
        squeeze: usize,
        activation: Act,
        hard_gate: bool,
        device: &Device,
    ) -> Self {
        // As the families initialise every convolution: kaiming normal (fan out), zero bias.
        let fc = |from: usize, to: usize| {
            let mut conv = Conv2dConfig::new([from, to], [1, 1])
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: (2.0 / to as f64).sqrt(),
                })
                .init(device);
            conv.bias = Some(Param::from_tensor(Tensor::zeros([to], device)));
            conv
        };
        Self {
            fc1: fc(channels, squeeze),
            fc2: fc(squeeze, channels),
            activation: Activation::of(activation).expect("an activation after fc1"),
            hard_gate,
        }
    }

    pub fn forward(&self, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        let scale = x.clone().mean_dim(2).mean_dim(3);
        let scale = self.activation.forward(conv_in(&self.fc1, scale, dtype));
        let scale = conv_in(&self.fc2, scale, dtype);
        let scale = if self.hard_gate {
            hard_sigmoid(scale, 1.0 / 6.0, 0.5)
        } else {
            sigmoid(scale)
        };
        x * scale
    }
}

/// The squeeze-and-excitation of a block: its squeezed width, activation and gate.
#[derive(Clone, Copy, Debug)]
pub struct Squeeze {
    pub channels: usize,
    pub act: Act,
    pub hard_gate: bool,
}

/// How one [`InvertedResidual`] is built (channels after the width multiplier).
#[derive(Clone, Copy, Debug)]
pub struct BlockSpec {
    pub input: usize,
    pub expanded: usize,
    pub out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub act: Act,
    pub squeeze: Option<Squeeze>,
    pub norm: NormSpec,
}

/// torchvision's `InvertedResidual` (MobileNetV3) and `MBConv` (EfficientNet): `block` holds
/// the expansion (absent when it would not widen), the depthwise convolution,
/// squeeze-and-excitation, and the projection; the input is added back when the shape is
/// unchanged, the branch first dropped for whole images with probability `stochastic_depth`
/// in training (torchvision's `StochasticDepth(p, "row")`).
#[derive(Module, Debug)]
pub struct InvertedResidual {
    pub block: Vec<BlockPart>,
    pub residual: bool,
    pub stochastic_depth: f64,
}

// One SE block per inverted residual at most: the size difference costs nothing worth boxing
// for (burn's Module derive has no Box).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum BlockPart {
    Conv(ConvNormAct),
    SqueezeExcitation(SqueezeExcitation),
}

impl InvertedResidual {
    pub fn new(spec: BlockSpec, stochastic_depth: f64, device: &Device) -> Self {
        let dense = ConvSpec::dense(1, 1, spec.norm);
        let mut block = Vec::new();
        if spec.expanded != spec.input {
            let expand = conv_norm_act(spec.input, spec.expanded, dense, spec.act, device);
            block.push(BlockPart::Conv(expand));
        }
        let depthwise = ConvSpec {
            kernel: spec.kernel,
            stride: spec.stride,
            groups: spec.expanded,
            norm: spec.norm,
        };
        let depthwise = conv_norm_act(spec.expanded, spec.expanded, depthwise, spec.act, device);
        block.push(BlockPart::Conv(depthwise));
        if let Some(squeeze) = spec.squeeze {
            block.push(BlockPart::SqueezeExcitation(SqueezeExcitation::new(
                spec.expanded,
                squeeze.channels,
                squeeze.act,
                squeeze.hard_gate,
                device,
            )));
        }
        let project = conv_norm_act(spec.expanded, spec.out, dense, Act::None, device);
        block.push(BlockPart::Conv(project));
        Self {
            block,
            residual: spec.stride == 1 && spec.input == spec.out,
            stochastic_depth,
        }
    }

    pub fn forward(&self, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        let out = self.block.iter().fold(x.clone(), |x, part| match part {
            BlockPart::Conv(units) => forward_conv_norm_act(units, x, dtype),
            BlockPart::SqueezeExcitation(se) => se.forward(x, dtype),
        });
        if !self.residual {
            return out;
        }
        drop_rows(out, self.stochastic_depth) + x
    }

    /// Folds every BatchNorm into its convolution, for inference.
    pub fn fold_batch_norms(&mut self) {
        for part in &mut self.block {
            if let BlockPart::Conv(units) = part {
                fold_conv_norm_act(units);
            }
        }
    }

    /// The block's BatchNorms, in the module's order.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        self.block
            .iter()
            .filter_map(|part| match part {
                BlockPart::Conv(units) => Some(norm_of(units)),
                BlockPart::SqueezeExcitation(_) => None,
            })
            .collect()
    }
}

/// torchvision's `StochasticDepth(probability, "row")`: in training (on an autodiff device),
/// each image's `branch` is dropped with `probability` and the kept ones scaled up to keep the
/// expectation; otherwise the branch as it is.
pub fn drop_rows(branch: Tensor<4>, probability: f64) -> Tensor<4> {
    if probability <= 0.0 || !branch.device().is_autodiff() {
        return branch;
    }
    let keep = 1.0 - probability;
    let [batch, ..] = branch.dims();
    let rows = Tensor::<4>::random(
        [batch, 1, 1, 1],
        Distribution::Bernoulli(keep),
        &branch.device(),
    );
    branch * rows.div_scalar(keep)
}

/// Global average pooling: `[batch, channels, h, w]` to `[batch, channels]`.
pub fn global_average(features: Tensor<4>) -> Tensor<2> {
    features.mean_dim(2).mean_dim(3).flatten(1, 3)
}

/// Class-activation maps `[batch, classes, h, w]` of a head that is `linear` after pooling
/// (Zhou et al. 2016): its weights applied at every position; their mean over positions plus
/// the bias is exactly the logit.
pub fn linear_maps(features: Tensor<4>, linear: &Linear) -> Tensor<4> {
    let [batch, channels, height, width] = features.dims();
    let classes = linear.weight.lazy_shape()[1];
    let positions: Tensor<3> = features.reshape([batch, channels, height * width]);
    let weights = linear.weight.val().transpose().unsqueeze::<3>(); // [1, classes, channels]
    weights
        .matmul(positions)
        .reshape([batch, classes, height, width])
}

/// A Linear with a family's `initializer` for its weights and a zero bias, as torchvision's
/// mobile families initialise theirs.
pub fn zero_bias_linear(
    from: usize,
    to: usize,
    initializer: Initializer,
    device: &Device,
) -> Linear {
    let mut linear = LinearConfig::new(from, to)
        .with_initializer(initializer)
        .init(device);
    linear.bias = Some(Param::from_tensor(Tensor::zeros([to], device)));
    linear
}
