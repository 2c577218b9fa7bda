//! torchvision's ConvNeXt-Tiny (`torchvision.models.convnext`), with its module tree:
//! `features` (a 4x4 patchify stem, four stages of CNBlocks with a downsampling layer before
//! each of the last three), average pooling, `classifier` (LayerNorm2d, Flatten, Linear). It has
//! no BatchNorm: its LayerNorms normalise each position over the channels.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Gelu, Initializer, LayerNorm, LayerNormConfig, Linear, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::block::conv_in;
use super::footprint::{Footprint, Walk};
use super::layers::{drop_rows, global_average, linear_maps, zero_bias_linear};

/// The LayerNorms' eps (torchvision's `partial(LayerNorm2d, eps=1e-6)`).
const EPSILON: f64 = 1e-6;

/// Tiny's channels and blocks per stage.
pub(crate) const STAGES: [(usize, usize); 4] = [(96, 3), (192, 3), (384, 9), (768, 3)];

/// The family's initialisation of every convolution and Linear: truncated normal with std 0.02
/// (truncated at +-2, i.e. 100 standard deviations: a plain normal), zero bias.
const INIT: Initializer = Initializer::Normal {
    mean: 0.0,
    std: 0.02,
};

/// How to build a ConvNeXt-Tiny.
#[derive(Config, Debug)]
pub struct ConvNeXtConfig {
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Every stage's channels times this (narrow models for tests; torchvision has 1).
    #[config(default = 1.0)]
    pub width_mult: f64,
    /// torchvision's `stochastic_depth_prob`: the last block's probability of skipping its
    /// branch in training, earlier blocks' in proportion (torchvision: 0.1; 0 unless asked).
    #[config(default = 0.0)]
    pub stochastic_depth: f64,
}

/// A parameter-free step of torchvision's Sequentials (`Permute`, `Flatten`): it holds an
/// index in the state dict's numbering.
#[derive(Module, Debug, Default)]
pub struct Reshape;

/// An entry of the stem (`features.0`: Conv2d, LayerNorm2d) and of a downsampling layer
/// (`features.2`: LayerNorm2d, Conv2d).
#[derive(Module, Debug)]
pub enum Layer {
    Conv(Conv2d),
    Norm(LayerNorm),
}

/// An entry of `features`: the stem or a downsampling layer, or a stage of blocks.
#[derive(Module, Debug)]
pub enum Feature {
    Layers(Vec<Layer>),
    Stage(Vec<CNBlock>),
}

/// An entry of a block's `block`: 7x7 depthwise convolution, Permute (to channels last),
/// LayerNorm, Linear (4x wider), GELU, Linear, Permute (back).
#[derive(Module, Debug)]
pub enum BlockPart {
    Conv(Conv2d),
    Permute(Reshape),
    Norm(LayerNorm),
    Linear(Linear),
    Gelu(Gelu),
}

/// torchvision's `CNBlock`: the branch scaled per channel by `layer_scale` (1e-6 at first),
/// dropped for whole images with probability `stochastic_depth` in training, plus the input.
#[derive(Module, Debug)]
pub struct CNBlock {
    pub block: Vec<BlockPart>,
    pub layer_scale: Param<Tensor<3>>,
    pub stochastic_depth: f64,
}

/// An entry of `classifier`: LayerNorm2d, Flatten, Linear.
#[derive(Module, Debug)]
pub enum HeadPart {
    Norm(LayerNorm),
    Flatten(Reshape),
    Linear(Linear),
}

/// ConvNeXt with torchvision's parameter names (`features.1.0.block.3.weight`,
/// `features.1.0.layer_scale`, `classifier.2.bias`).
#[derive(Module, Debug)]
pub struct ConvNeXt {
    pub features: Vec<Feature>,
    pub classifier: Vec<HeadPart>,
}

impl ConvNeXtConfig {
    pub fn init(&self, device: &Device) -> ConvNeXt {
        let width = |channels: usize| ((channels as f64 * self.width_mult).round() as usize).max(1);
        let first = width(STAGES[0].0);
        let mut features = vec![Feature::Layers(vec![
            Layer::Conv(conv(3, first, 4, 4, 1, device)),
            Layer::Norm(norm(first, device)),
        ])];
        for (stage, &(channels, blocks)) in STAGES.iter().enumerate() {
            let channels = width(channels);
            if stage > 0 {
                let input = width(STAGES[stage - 1].0);
                features.push(Feature::Layers(vec![
                    Layer::Norm(norm(input, device)),
                    Layer::Conv(conv(input, channels, 2, 2, 1, device)),
                ]));
            }
            let blocks = (0..blocks)
                .map(|_| CNBlock::new(channels, 0.0, device))
                .collect();
            features.push(Feature::Stage(blocks));
        }
        let last = width(STAGES[3].0);
        let mut net = ConvNeXt {
            features,
            classifier: vec![
                HeadPart::Norm(norm(last, device)),
                HeadPart::Flatten(Reshape),
                HeadPart::Linear(zero_bias_linear(last, self.num_classes, INIT, device)),
            ],
        };
        net.set_stochastic_depth(self.stochastic_depth);
        net
    }
}

/// A convolution with a bias, padded so that `kernel` 7 keeps the size and `kernel` = `stride`
/// (stem, downsampling) tiles the input.
fn conv(
    from: usize,
    to: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let pad = if kernel == stride {
        0
    } else {
        (kernel - 1) / 2
    };
    let mut conv = Conv2dConfig::new([from, to], [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_initializer(INIT)
        .init(device);
    conv.bias = Some(Param::from_tensor(Tensor::zeros([to], device)));
    conv
}

fn norm(channels: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(channels)
        .with_epsilon(EPSILON)
        .init(device)
}

/// torchvision's `LayerNorm2d`: each position normalised over the channels.
fn norm_2d(norm: &LayerNorm, x: Tensor<4>) -> Tensor<4> {
    norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

/// `linear` applied with its arithmetic in `dtype` (the pointwise layers are most of the
/// family's work), the result back in f32, as [`conv_in`] does for convolutions.
fn linear_in(linear: &Linear, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
    if dtype == FloatDType::F32 {
        return linear.forward(x);
    }
    let mut low = linear.clone();
    low.weight = low.weight.map(|weight| weight.cast(dtype));
    low.bias = low.bias.map(|bias| bias.map(|bias| bias.cast(dtype)));
    low.forward(x.cast(dtype)).cast(FloatDType::F32)
}

impl CNBlock {
    fn new(channels: usize, stochastic_depth: f64, device: &Device) -> Self {
        let wide = 4 * channels;
        CNBlock {
            block: vec![
                BlockPart::Conv(conv(channels, channels, 7, 1, channels, device)),
                BlockPart::Permute(Reshape),
                BlockPart::Norm(norm(channels, device)),
                BlockPart::Linear(zero_bias_linear(channels, wide, INIT, device)),
                BlockPart::Gelu(Gelu::new()),
                BlockPart::Linear(zero_bias_linear(wide, channels, INIT, device)),
                BlockPart::Permute(Reshape),
            ],
            layer_scale: Param::from_tensor(Tensor::full([channels, 1, 1], 1e-6, device)),
            stochastic_depth,
        }
    }

    fn forward(&self, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        let mut channels_last = false;
        let out = self.block.iter().fold(x.clone(), |x, part| match part {
            BlockPart::Conv(conv) => conv_in(conv, x, dtype),
            BlockPart::Permute(_) => {
                channels_last = !channels_last;
                if channels_last {
                    x.permute([0, 2, 3, 1])
                } else {
                    x.permute([0, 3, 1, 2])
                }
            }
            BlockPart::Norm(norm) => norm.forward(x),
            BlockPart::Linear(linear) => linear_in(linear, x, dtype),
            BlockPart::Gelu(gelu) => gelu.forward(x),
        });
        let out = out * self.layer_scale.val().unsqueeze::<4>();
        drop_rows(out, self.stochastic_depth) + x
    }
}

impl ConvNeXt {
    /// torchvision's `stochastic_depth_prob`: block `i` of `n` skips its branch with
    /// probability `probability * i / (n - 1)` in training.
    pub fn set_stochastic_depth(&mut self, probability: f64) {
        let blocks: Vec<&mut CNBlock> = self
            .features
            .iter_mut()
            .filter_map(|feature| match feature {
                Feature::Stage(blocks) => Some(blocks),
                Feature::Layers(_) => None,
            })
            .flatten()
            .collect();
        let last = (blocks.len() - 1).max(1) as f64;
        for (index, block) in blocks.into_iter().enumerate() {
            block.stochastic_depth = probability * index as f64 / last;
        }
    }

    /// Logits `[batch, num_classes]` for normalised images `[batch, 3, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classify(self.features_in(images, FloatDType::F32))
    }

    /// The last feature map `[batch, channels, h, w]`, before pooling, the convolutions and
    /// Linears computed in `dtype`.
    pub fn features_in(&self, images: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        self.features
            .iter()
            .fold(images, |x, feature| match feature {
                Feature::Layers(layers) => layers.iter().fold(x, |x, layer| match layer {
                    Layer::Conv(conv) => conv_in(conv, x, dtype),
                    Layer::Norm(norm) => norm_2d(norm, x),
                }),
                Feature::Stage(blocks) => blocks.iter().fold(x, |x, block| block.forward(x, dtype)),
            })
    }

    /// Average pooling and the classifier (the LayerNorm of a 1x1 map is that of the pooled
    /// vector).
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier
            .iter()
            .fold(global_average(features), |x, part| match part {
                HeadPart::Norm(norm) => norm.forward(x),
                HeadPart::Flatten(_) => x,
                HeadPart::Linear(linear) => linear.forward(x),
            })
    }

    /// Class-activation maps `[batch, num_classes, h, w]` whose mean over positions plus the
    /// final bias is the logit. The head's LayerNorm is applied at each position with the
    /// pooled vector's statistics: each position centred on its own channel mean (the mean of
    /// the centred positions is the centred pooled vector), divided by the pooled vector's
    /// standard deviation, scaled and shifted, then the final Linear's weights apply.
    pub fn class_activation_maps(&self, features: Tensor<4>) -> Tensor<4> {
        let norm = self.head_norm();
        let [batch, channels, ..] = features.dims();
        let pooled = global_average(features.clone());
        let spread = pooled
            .var_bias(1)
            .add_scalar(EPSILON)
            .sqrt()
            .reshape([batch, 1, 1, 1]);
        let centred = features.clone() - features.mean_dim(1);
        let gamma = norm.gamma.val().reshape([1, channels, 1, 1]);
        let mut normalised = centred / spread * gamma;
        if let Some(beta) = &norm.beta {
            normalised = normalised + beta.val().reshape([1, channels, 1, 1]);
        }
        linear_maps(normalised, self.final_linear())
    }

    fn head_norm(&self) -> &LayerNorm {
        self.classifier
            .iter()
            .find_map(|part| match part {
                HeadPart::Norm(norm) => Some(norm),
                _ => None,
            })
            .expect("the classifier has a LayerNorm")
    }

    /// The final Linear (`classifier.2`), which fine-tuning replaces.
    pub fn final_linear(&self) -> &Linear {
        self.classifier
            .iter()
            .find_map(|part| match part {
                HeadPart::Linear(linear) => Some(linear),
                _ => None,
            })
            .expect("the classifier has a Linear")
    }

    /// What one image costs in memory at `crop` x `crop`.
    pub fn footprint(&self, crop: usize) -> Footprint {
        let mut walk = Walk::new(crop);
        for feature in &self.features {
            match feature {
                Feature::Layers(layers) => layers.iter().for_each(|layer| match layer {
                    Layer::Conv(conv) => walk.convolution(conv),
                    Layer::Norm(norm) => walk.layer_norm(norm),
                }),
                Feature::Stage(blocks) => blocks.iter().for_each(|block| {
                    for part in &block.block {
                        match part {
                            BlockPart::Conv(conv) => walk.convolution(conv),
                            BlockPart::Permute(_) => {}
                            BlockPart::Norm(norm) => walk.layer_norm(norm),
                            BlockPart::Linear(linear) => walk.pointwise(linear),
                            BlockPart::Gelu(_) => walk.elementwise(),
                        }
                    }
                    // The scaled branch and the sum.
                    walk.add_parameters(block.layer_scale.lazy_shape().num_elements());
                    walk.elementwise();
                    walk.elementwise();
                }),
            }
        }
        walk.pooled_norm(self.head_norm());
        walk.linear(self.final_linear());
        walk.finish()
    }
}
