//! What one image costs a network in memory, computed from the architecture alone, so that a
//! batch can be sized to a device before any tensor exists: ResNet's from its configuration,
//! the other families' by walking their layers' (lazily allocated) parameter shapes.

use burn::nn::conv::Conv2d;
use burn::nn::{LayerNorm, Linear, PaddingConfig2d};

use super::layers::{BlockPart, ConvUnit, InvertedResidual};
use super::resnet::{Depth, ResNetConfig};

/// Sizes in f32 values per image (multiply by 4 and the batch for bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// The largest tensor a forward pass makes: one buffer on the device.
    pub largest_activation: usize,
    /// The largest column matrix a convolution's gradient may build (kernel taps x input
    /// channels x output positions): burn's autotuner tries im2col kernels during training.
    pub largest_columns: usize,
    /// Every activation a training step keeps for its backward pass.
    pub saved: usize,
    /// Values of the network, not per image: weights, biases and BatchNorm's statistics.
    pub parameters: usize,
}

impl ResNetConfig {
    /// The network's [`Footprint`] for square `crop` x `crop` inputs.
    pub fn footprint(&self, crop: usize) -> Footprint {
        let mut walk = Walk::new(crop);
        let width = self.base_width;
        walk.conv(width, 7, 2);
        // BatchNorm and ReLU outputs beside the convolution's.
        walk.keep(2);
        walk.side = (walk.side - 1) / 2 + 1; // max pooling, 3x3 stride 2 padding 1
        walk.keep(1);
        let [n1, n2, n3, n4] = self.depth.layers();
        for (stage, (blocks, stride)) in
            [(n1, 1), (n2, 2), (n3, 2), (n4, 2)].into_iter().enumerate()
        {
            let planes = width << stage;
            for block in 0..blocks {
                walk.block(self.depth, planes, if block == 0 { stride } else { 1 });
            }
        }
        walk.footprint.parameters += (walk.channels + 1) * self.num_classes;
        walk.footprint
    }
}

/// The shapes a forward pass goes through, one layer at a time.
pub(crate) struct Walk {
    side: usize,
    channels: usize,
    footprint: Footprint,
}

impl Walk {
    /// At the input: a `crop` x `crop` RGB image.
    pub(crate) fn new(crop: usize) -> Self {
        Walk {
            side: crop,
            channels: 3,
            footprint: Footprint {
                largest_activation: 3 * crop * crop,
                largest_columns: 0,
                saved: 3 * crop * crop,
                parameters: 0,
            },
        }
    }

    pub(crate) fn finish(self) -> Footprint {
        self.footprint
    }

    /// A torchvision `Conv2dNormActivation`: each unit's output is kept.
    pub(crate) fn conv_norm_act(&mut self, units: &[ConvUnit]) {
        for unit in units {
            match unit {
                ConvUnit::Conv(conv) => self.convolution(conv),
                ConvUnit::Norm(norm) => {
                    self.footprint.parameters += 4 * norm.gamma.lazy_shape()[0];
                    self.keep(1);
                }
                ConvUnit::Act(_) => self.keep(1),
            }
        }
    }

    /// An inverted residual (MBConv): expansion, depthwise convolution, squeeze-and-excitation
    /// (its pooled vectors are negligible; the rescaled map is kept), projection, and the sum.
    pub(crate) fn inverted_residual(&mut self, block: &InvertedResidual) {
        for part in &block.block {
            match part {
                BlockPart::Conv(units) => self.conv_norm_act(units),
                BlockPart::SqueezeExcitation(se) => {
                    self.footprint.parameters += parameters(&se.fc1) + parameters(&se.fc2);
                    self.keep(1);
                }
            }
        }
        if block.residual {
            self.keep(1);
        }
    }

    /// A Linear on the pooled vector: its parameters (its activations are negligible).
    pub(crate) fn linear(&mut self, linear: &Linear) {
        let [inputs, outputs] = linear.weight.lazy_shape().dims();
        self.footprint.parameters += inputs * outputs + outputs;
        (self.side, self.channels) = (1, outputs);
    }

    /// A LayerNorm over the channels of the map: its scale and shift, its output kept.
    pub(crate) fn layer_norm(&mut self, norm: &LayerNorm) {
        self.footprint.parameters += layer_norm_parameters(norm);
        self.keep(1);
    }

    /// A LayerNorm on the pooled vector: its parameters (its activations are negligible).
    pub(crate) fn pooled_norm(&mut self, norm: &LayerNorm) {
        self.footprint.parameters += layer_norm_parameters(norm);
    }

    /// A Linear at every position of the map (channels last), its output kept.
    pub(crate) fn pointwise(&mut self, linear: &Linear) {
        let [inputs, outputs] = linear.weight.lazy_shape().dims();
        debug_assert_eq!(inputs, self.channels);
        self.footprint.parameters += inputs * outputs + outputs;
        self.channels = outputs;
        self.keep(1);
    }

    /// An element-wise step (activation, scaling, sum), its output kept.
    pub(crate) fn elementwise(&mut self) {
        self.keep(1);
    }

    /// Parameters outside the layers walked (ConvNeXt's layer scale).
    pub(crate) fn add_parameters(&mut self, values: usize) {
        self.footprint.parameters += values;
    }

    /// A convolution as built (symmetric padding), its output kept.
    pub(crate) fn convolution(&mut self, conv: &Conv2d) {
        let [_, in_per_group, kernel, _] = conv.weight.lazy_shape().dims();
        let stride = conv.stride[0];
        let pad = match conv.padding {
            PaddingConfig2d::Explicit(top, ..) => top,
            PaddingConfig2d::Valid => 0,
            PaddingConfig2d::Same => (kernel - 1) / 2,
        };
        let side = (self.side + 2 * pad - kernel) / stride + 1;
        let columns = kernel * kernel * self.channels * side * side;
        let footprint = &mut self.footprint;
        footprint.largest_columns = footprint.largest_columns.max(columns);
        footprint.parameters += parameters(conv);
        debug_assert_eq!(in_per_group * conv.groups, self.channels);
        self.side = side;
        self.channels = conv.weight.lazy_shape()[0];
        self.keep(1);
    }

    fn activation(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// A `kernel` x `kernel` convolution (padding `kernel / 2`, no bias) with its BatchNorm.
    fn conv(&mut self, out_channels: usize, kernel: usize, stride: usize) {
        let padding = kernel / 2;
        let side = (self.side + 2 * padding - kernel) / stride + 1;
        let footprint = &mut self.footprint;
        footprint.largest_columns = footprint
            .largest_columns
            .max(kernel * kernel * self.channels * side * side);
        // BatchNorm: scale, shift, running mean and variance.
        footprint.parameters += kernel * kernel * self.channels * out_channels + 4 * out_channels;
        self.side = side;
        self.channels = out_channels;
        self.keep(1);
    }

    /// Counts `copies` tensors of the current shape as kept for the backward pass.
    fn keep(&mut self, copies: usize) {
        let activation = self.activation();
        let footprint = &mut self.footprint;
        footprint.largest_activation = footprint.largest_activation.max(activation);
        footprint.saved += copies * activation;
    }

    fn block(&mut self, arch: Depth, planes: usize, stride: usize) {
        let (in_side, in_channels) = (self.side, self.channels);
        let out_channels = if arch.bottleneck() {
            4 * planes
        } else {
            planes
        };
        if arch.bottleneck() {
            self.conv(planes, 1, 1);
            self.keep(2);
            self.conv(planes, 3, stride);
            self.keep(2);
            self.conv(out_channels, 1, 1);
        } else {
            self.conv(planes, 3, stride);
            self.keep(2);
            self.conv(planes, 3, 1);
        }
        // BatchNorm, the residual sum and its ReLU.
        self.keep(3);
        if stride != 1 || in_channels != out_channels {
            let (out_side, out) = (self.side, self.channels);
            (self.side, self.channels) = (in_side, in_channels);
            self.conv(out_channels, 1, stride);
            self.keep(1);
            (self.side, self.channels) = (out_side, out);
        }
    }
}

/// A LayerNorm's scale and shift.
fn layer_norm_parameters(norm: &LayerNorm) -> usize {
    let channels = norm.gamma.lazy_shape()[0];
    channels + norm.beta.as_ref().map_or(0, |_| channels)
}

/// A convolution's weights and bias.
fn parameters(conv: &Conv2d) -> usize {
    let weights = conv.weight.lazy_shape().num_elements();
    weights + conv.bias.as_ref().map_or(0, |bias| bias.lazy_shape()[0])
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::super::{Arch, NetConfig};

    /// The walk visits the network's layers: its parameter count is the model's, for every
    /// architecture (a missed or doubled layer, or a wrong width, would change it).
    #[test]
    fn walks_the_same_layers_as_the_model() {
        let device = Device::flex();
        for arch in Arch::ALL {
            let config = NetConfig::new()
                .with_arch(arch)
                .with_width_mult(0.25)
                .with_num_classes(6);
            let net = config.init(&device);
            assert_eq!(net.footprint(64).parameters, net.num_params(), "{arch}");
        }
    }

    /// ResNet-50 at 224 px: the stem's and the first stage's outputs (64 x 112 x 112 and
    /// 256 x 56 x 56 values) are the largest tensors; the stem's 7x7 columns (147 x 112 x 112)
    /// the largest column matrix.
    #[test]
    fn resnet50_sizes() {
        let footprint = NetConfig::new().footprint(224, &Device::flex());
        assert_eq!(footprint.largest_activation, 802_816);
        assert_eq!(footprint.largest_columns, 147 * 112 * 112);
    }

    /// MobileNetV3-Large at 224 px: the second block's 64-channel expansion at 112 x 112 is the
    /// largest tensor, the fifth block's 5x5 depthwise taps over 120 x 28 x 28 the largest
    /// column matrix.
    #[test]
    fn mobilenet_v3_large_sizes() {
        let footprint = NetConfig::new()
            .with_arch(Arch::MobilenetV3Large)
            .footprint(224, &Device::flex());
        assert_eq!(footprint.largest_activation, 64 * 112 * 112);
        assert_eq!(footprint.largest_columns, 25 * 120 * 28 * 28);
    }

    /// ConvNeXt-Tiny at 224 px: torchvision's 28,589,128 parameters (it has no buffers); the
    /// first stage's 4x-wide Linear outputs (384 x 56 x 56) the largest tensors, its 7x7
    /// depthwise taps over 96 x 56 x 56 the largest column matrix.
    #[test]
    fn convnext_tiny_sizes() {
        let footprint = NetConfig::new()
            .with_arch(Arch::ConvnextTiny)
            .footprint(224, &Device::flex());
        assert_eq!(footprint.parameters, 28_589_128);
        assert_eq!(footprint.largest_activation, 384 * 56 * 56);
        assert_eq!(footprint.largest_columns, 49 * 96 * 56 * 56);
    }
}
