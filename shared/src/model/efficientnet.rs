//! torchvision's EfficientNet B0 to B3 (`torchvision.models.efficientnet`), with its module
//! tree: `features` (stem, seven stages of MBConv blocks, last 1x1 convolution), average
//! pooling, `classifier` (Dropout, Linear).

use burn::nn::{Dropout, DropoutConfig, Initializer, Linear};
use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

use super::footprint::{Footprint, Walk};
use super::layers::{
    Act, BlockSpec, ConvNormAct, ConvSpec, InvertedResidual, NormSpec, Squeeze, conv_norm_act,
    fold_conv_norm_act, forward_conv_norm_act, global_average, linear_maps, make_divisible,
    norm_of, zero_bias_linear,
};
use super::norm::BatchNorm;

/// B0 to B4 keep PyTorch's `BatchNorm2d` defaults.
const NORM: NormSpec = NormSpec {
    epsilon: 1e-5,
    momentum: 0.1,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    B0,
    B1,
    B2,
    B3,
}

impl Scale {
    /// torchvision's name, e.g. `efficientnet_b0`.
    pub fn name(self) -> &'static str {
        match self {
            Scale::B0 => "efficientnet_b0",
            Scale::B1 => "efficientnet_b1",
            Scale::B2 => "efficientnet_b2",
            Scale::B3 => "efficientnet_b3",
        }
    }

    /// torchvision's `width_mult` of this scale.
    pub fn width(self) -> f64 {
        self.multipliers().0
    }

    /// Blocks per stage.
    pub(crate) fn blocks(self) -> Vec<usize> {
        let depth = self.multipliers().1;
        STAGES
            .iter()
            .map(|stage| (stage.5 as f64 * depth).ceil() as usize)
            .collect()
    }

    /// The scale with these blocks per stage and width multiplier (relative to the scale's)
    /// that makes `last` channels before the classifier. B1 and B2 have the same blocks, so
    /// the scale whose own width makes `last` wins.
    pub(crate) fn recognise(blocks: &[usize], last: usize) -> Option<(Scale, f64)> {
        let candidates = [Scale::B0, Scale::B1, Scale::B2, Scale::B3]
            .into_iter()
            .filter(|scale| scale.blocks() == blocks);
        let last_at = |width: f64| 4 * make_divisible(STAGES[6].4 as f64 * width, 8);
        let mut fallback = None;
        for scale in candidates {
            if last_at(scale.width()) == last {
                return Some((scale, 1.0));
            }
            let width = last as f64 / (4 * STAGES[6].4) as f64;
            fallback = fallback.or(Some((scale, width / scale.width())));
        }
        fallback
    }

    /// torchvision's `width_mult`, `depth_mult` and classifier dropout.
    fn multipliers(self) -> (f64, f64, f64) {
        match self {
            Scale::B0 => (1.0, 1.0, 0.2),
            Scale::B1 => (1.0, 1.1, 0.2),
            Scale::B2 => (1.1, 1.2, 0.3),
            Scale::B3 => (1.2, 1.4, 0.3),
        }
    }
}

/// One stage of torchvision's `_efficientnet_conf`: expansion ratio, kernel, stride, input
/// and output channels, blocks (before the multipliers).
type Stage = (usize, usize, usize, usize, usize, usize);

#[rustfmt::skip]
const STAGES: [Stage; 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

/// How to build an EfficientNet.
#[derive(Config, Debug)]
pub struct EfficientNetConfig {
    pub scale: Scale,
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Overrides the scale's width multiplier (narrow models for tests).
    pub width_mult: Option<f64>,
    /// torchvision's `stochastic_depth_prob`: the last block's probability of skipping its
    /// branch in training, earlier blocks' in proportion (torchvision: 0.2; 0 unless asked).
    #[config(default = 0.0)]
    pub stochastic_depth: f64,
}

/// An entry of `features`: the stem and the last convolution, or a stage of blocks.
#[derive(Module, Debug)]
pub enum Feature {
    Conv(ConvNormAct),
    Stage(Vec<InvertedResidual>),
}

/// An entry of `classifier`.
#[derive(Module, Debug)]
pub enum HeadPart {
    Dropout(Dropout),
    Linear(Linear),
}

/// EfficientNet with torchvision's parameter names (`features.2.1.block.2.fc1.weight`,
/// `classifier.1.bias`).
#[derive(Module, Debug)]
pub struct EfficientNet {
    pub features: Vec<Feature>,
    pub classifier: Vec<HeadPart>,
}

impl EfficientNetConfig {
    pub fn init(&self, device: &Device) -> EfficientNet {
        let (width, _, dropout) = self.scale.multipliers();
        let width = self.width_mult.unwrap_or(width);
        let adjust = |channels: usize| make_divisible(channels as f64 * width, 8);
        let blocks = self.scale.blocks();
        let mut features = vec![Feature::Conv(conv_norm_act(
            3,
            adjust(STAGES[0].3),
            ConvSpec::dense(3, 2, NORM),
            Act::Silu,
            device,
        ))];
        for ((ratio, kernel, stride, input, out, _), count) in STAGES.into_iter().zip(blocks) {
            let out = adjust(out);
            let mut input = adjust(input);
            let mut stage = Vec::new();
            for block in 0..count {
                let expanded = make_divisible((input * ratio) as f64, 8);
                let spec = BlockSpec {
                    input,
                    expanded,
                    out,
                    kernel,
                    stride: if block == 0 { stride } else { 1 },
                    act: Act::Silu,
                    squeeze: Some(Squeeze {
                        channels: (input / 4).max(1),
                        act: Act::Silu,
                        hard_gate: false,
                    }),
                    norm: NORM,
                };
                stage.push(InvertedResidual::new(spec, 0.0, device));
                input = out;
            }
            features.push(Feature::Stage(stage));
        }
        let last_in = adjust(STAGES[STAGES.len() - 1].4);
        features.push(Feature::Conv(conv_norm_act(
            last_in,
            4 * last_in,
            ConvSpec::dense(1, 1, NORM),
            Act::Silu,
            device,
        )));
        // The family's Linear: uniform(-1/sqrt(out), 1/sqrt(out)) weights, zero bias.
        let range = 1.0 / (self.num_classes as f64).sqrt();
        let uniform = Initializer::Uniform {
            min: -range,
            max: range,
        };
        let linear = zero_bias_linear(4 * last_in, self.num_classes, uniform, device);
        let mut net = EfficientNet {
            features,
            classifier: vec![
                HeadPart::Dropout(DropoutConfig::new(dropout).init()),
                HeadPart::Linear(linear),
            ],
        };
        net.set_stochastic_depth(self.stochastic_depth);
        net
    }
}

impl EfficientNet {
    /// torchvision's `stochastic_depth_prob`: block `i` of `n` skips its branch with
    /// probability `probability * i / n` in training.
    pub fn set_stochastic_depth(&mut self, probability: f64) {
        let blocks: Vec<&mut InvertedResidual> = self
            .features
            .iter_mut()
            .filter_map(|feature| match feature {
                Feature::Stage(blocks) => Some(blocks),
                Feature::Conv(_) => None,
            })
            .flatten()
            .collect();
        let total = blocks.len() as f64;
        for (index, block) in blocks.into_iter().enumerate() {
            block.stochastic_depth = probability * index as f64 / total;
        }
    }

    /// The classifier's dropout probability.
    pub fn set_dropout(&mut self, probability: f64) {
        for part in &mut self.classifier {
            if let HeadPart::Dropout(dropout) = part {
                *dropout = DropoutConfig::new(probability).init();
            }
        }
    }

    /// Logits `[batch, num_classes]` for normalised images `[batch, 3, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classify(self.features_in(images, FloatDType::F32))
    }

    /// The last feature map `[batch, channels, h, w]`, before pooling, the convolutions
    /// computed in `dtype`.
    pub fn features_in(&self, images: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        self.features
            .iter()
            .fold(images, |x, feature| match feature {
                Feature::Conv(units) => forward_conv_norm_act(units, x, dtype),
                Feature::Stage(blocks) => blocks.iter().fold(x, |x, block| block.forward(x, dtype)),
            })
    }

    /// Average pooling and the classifier.
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier
            .iter()
            .fold(global_average(features), |x, part| match part {
                HeadPart::Dropout(dropout) => dropout.forward(x),
                HeadPart::Linear(linear) => linear.forward(x),
            })
    }

    /// Class-activation maps `[batch, num_classes, h, w]`: the final Linear's weights at each
    /// position (the head is linear after pooling, so the maps' mean plus the bias is exactly
    /// the logit).
    pub fn class_activation_maps(&self, features: Tensor<4>) -> Tensor<4> {
        linear_maps(features, self.final_linear())
    }

    /// The final Linear (`classifier.1`), which fine-tuning replaces.
    pub fn final_linear(&self) -> &Linear {
        self.classifier
            .iter()
            .find_map(|part| match part {
                HeadPart::Linear(linear) => Some(linear),
                HeadPart::Dropout(_) => None,
            })
            .expect("the classifier has a Linear")
    }

    /// Outputs of the classifier.
    pub fn num_classes(&self) -> usize {
        self.final_linear().weight.lazy_shape()[1]
    }

    /// What one image costs in memory at `crop` x `crop`.
    pub fn footprint(&self, crop: usize) -> Footprint {
        let mut walk = Walk::new(crop);
        for feature in &self.features {
            match feature {
                Feature::Conv(units) => walk.conv_norm_act(units),
                Feature::Stage(blocks) => blocks
                    .iter()
                    .for_each(|block| walk.inverted_residual(block)),
            }
        }
        walk.linear(self.final_linear());
        walk.finish()
    }

    /// Folds every BatchNorm into its convolution, for inference.
    pub fn fold_batch_norms(&mut self) {
        for feature in &mut self.features {
            match feature {
                Feature::Conv(units) => fold_conv_norm_act(units),
                Feature::Stage(blocks) => blocks
                    .iter_mut()
                    .for_each(InvertedResidual::fold_batch_norms),
            }
        }
    }

    /// Every BatchNorm, in the module's order.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        self.features
            .iter()
            .flat_map(|feature| match feature {
                Feature::Conv(units) => vec![norm_of(units)],
                Feature::Stage(blocks) => blocks
                    .iter()
                    .flat_map(InvertedResidual::batch_norms)
                    .collect(),
            })
            .collect()
    }
}
