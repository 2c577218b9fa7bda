//! Residual blocks of torchvision's ResNet (v1.5), with torchvision's field names
//! (`conv1`, `bn1`, ..., `downsample`) so that weight files map onto them directly.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::relu;

use super::norm::BatchNorm;

/// A bias-free convolution with "same"-style symmetric padding `kernel / 2`, initialised like
/// torchvision's ResNet (`kaiming_normal_(mode="fan_out", nonlinearity="relu")`).
pub(crate) fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: core::f64::consts::SQRT_2,
            fan_out_only: true,
        })
        .init(device)
}

/// `conv` applied with its arithmetic in `dtype`, the result back in f32. For mixed-precision
/// training (f16): the input and weights are cast on the way in, so the matrix work runs in
/// f16 while the f32 master weights receive the gradients (the cast's backward casts them
/// back) and BatchNorm, ReLU and the residual sums stay in f32.
pub(crate) fn conv_in(conv: &Conv2d, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
    if dtype == FloatDType::F32 {
        return conv.forward(x);
    }
    let mut low = conv.clone();
    low.weight = low.weight.map(|weight| weight.cast(dtype));
    low.forward(x.cast(dtype)).cast(FloatDType::F32)
}

/// The projection shortcut: a strided 1x1 convolution and a BatchNorm
/// (torchvision's `downsample.0` and `downsample.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl Downsample {
    fn new(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv(in_channels, out_channels, 1, stride, device),
            bn: BatchNorm::new(out_channels, device),
        }
    }

    fn forward(&self, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        self.bn.forward(conv_in(&self.conv, x, dtype))
    }

    /// torchvision adds a projection exactly when the block changes the spatial size
    /// (`stride != 1`) or the channel count (`inplanes != planes * expansion`).
    fn when_needed(
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        device: &Device,
    ) -> Option<Self> {
        (stride != 1 || in_channels != out_channels)
            .then(|| Self::new(in_channels, out_channels, stride, device))
    }
}

/// ResNet-18/34 block: two 3x3 convolutions (expansion 1).
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub downsample: Option<Downsample>,
}

impl BasicBlock {
    pub const EXPANSION: usize = 1;

    pub fn new(in_channels: usize, planes: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv1: conv(in_channels, planes, 3, stride, device),
            bn1: BatchNorm::new(planes, device),
            conv2: conv(planes, planes, 3, 1, device),
            bn2: BatchNorm::new(planes, device),
            downsample: Downsample::when_needed(in_channels, planes, stride, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone(), dtype),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward(conv_in(&self.conv1, x, dtype)));
        let out = self.bn2.forward(conv_in(&self.conv2, out, dtype));
        relu(out + identity)
    }
}

/// ResNet-50/101/152 block: 1x1 reduce, 3x3, 1x1 expand (expansion 4).
/// v1.5: the stride sits on the 3x3 convolution (`conv2`), not on the first 1x1 as in the
/// original paper; this is what torchvision's weights were trained with.
#[derive(Module, Debug)]
pub struct Bottleneck {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub conv3: Conv2d,
    pub bn3: BatchNorm,
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    pub const EXPANSION: usize = 4;

    pub fn new(in_channels: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let out_channels = planes * Self::EXPANSION;
        Self {
            conv1: conv(in_channels, planes, 1, 1, device),
            bn1: BatchNorm::new(planes, device),
            conv2: conv(planes, planes, 3, stride, device),
            bn2: BatchNorm::new(planes, device),
            conv3: conv(planes, out_channels, 1, 1, device),
            bn3: BatchNorm::new(out_channels, device),
            downsample: Downsample::when_needed(in_channels, out_channels, stride, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone(), dtype),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward(conv_in(&self.conv1, x, dtype)));
        let out = relu(self.bn2.forward(conv_in(&self.conv2, out, dtype)));
        let out = self.bn3.forward(conv_in(&self.conv3, out, dtype));
        relu(out + identity)
    }
}

/// One residual block of either kind; a stage (`layer1`..`layer4`) is a list of these.
// A network holds blocks of one kind only, so boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    Basic(BasicBlock),
    Bottleneck(Bottleneck),
}

impl Block {
    /// The block with its convolutions computed in `dtype` (see [`conv_in`]).
    pub fn forward(&self, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        match self {
            Block::Basic(block) => block.forward(x, dtype),
            Block::Bottleneck(block) => block.forward(x, dtype),
        }
    }

    /// Folds every BatchNorm into its convolution, for inference.
    pub fn fold_batch_norms(&mut self) {
        let (mut pairs, downsample) = match self {
            Block::Basic(b) => (
                vec![(&mut b.bn1, &mut b.conv1), (&mut b.bn2, &mut b.conv2)],
                &mut b.downsample,
            ),
            Block::Bottleneck(b) => (
                vec![
                    (&mut b.bn1, &mut b.conv1),
                    (&mut b.bn2, &mut b.conv2),
                    (&mut b.bn3, &mut b.conv3),
                ],
                &mut b.downsample,
            ),
        };
        pairs.extend(downsample.as_mut().map(|d| (&mut d.bn, &mut d.conv)));
        for (norm, conv) in pairs {
            norm.fold_into(conv);
        }
    }

    /// The block's BatchNorms, in the module's order.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        let (mut norms, downsample) = match self {
            Block::Basic(b) => (vec![&b.bn1, &b.bn2], &b.downsample),
            Block::Bottleneck(b) => (vec![&b.bn1, &b.bn2, &b.bn3], &b.downsample),
        };
        norms.extend(downsample.as_ref().map(|d| &d.bn));
        norms
    }
}
