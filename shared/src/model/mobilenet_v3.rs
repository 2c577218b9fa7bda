//! torchvision's MobileNetV3 (Large and Small; `torchvision.models.mobilenetv3`), with its
//! module tree: `features` (stem, inverted residual blocks, last 1x1 convolution), average
//! pooling, `classifier` (Linear, Hardswish, Dropout, Linear).

use burn::nn::activation::HardSwish;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::hard_sigmoid;
use serde::{Deserialize, Serialize};

use super::footprint::{Footprint, Walk};
use super::layers::{
    Act, BlockSpec, ConvNormAct, ConvSpec, InvertedResidual, NormSpec, Squeeze, conv_norm_act,
    fold_conv_norm_act, forward_conv_norm_act, global_average, make_divisible, norm_of,
    zero_bias_linear,
};
use super::norm::BatchNorm;

/// MobileNetV3's `norm_layer`: `BatchNorm2d(eps=0.001, momentum=0.01)`.
const NORM: NormSpec = NormSpec {
    epsilon: 1e-3,
    momentum: 0.01,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Large,
    Small,
}

/// One row of torchvision's `_mobilenet_v3_conf`: input, kernel, expanded and output
/// channels (before the width multiplier), squeeze-and-excitation, Hardswish (else ReLU),
/// stride.
type Row = (usize, usize, usize, usize, bool, bool, usize);

#[rustfmt::skip]
const LARGE: [Row; 15] = [
    (16, 3, 16, 16, false, false, 1),
    (16, 3, 64, 24, false, false, 2),
    (24, 3, 72, 24, false, false, 1),
    (24, 5, 72, 40, true, false, 2),
    (40, 5, 120, 40, true, false, 1),
    (40, 5, 120, 40, true, false, 1),
    (40, 3, 240, 80, false, true, 2),
    (80, 3, 200, 80, false, true, 1),
    (80, 3, 184, 80, false, true, 1),
    (80, 3, 184, 80, false, true, 1),
    (80, 3, 480, 112, true, true, 1),
    (112, 3, 672, 112, true, true, 1),
    (112, 5, 672, 160, true, true, 2),
    (160, 5, 960, 160, true, true, 1),
    (160, 5, 960, 160, true, true, 1),
];

#[rustfmt::skip]
const SMALL: [Row; 11] = [
    (16, 3, 16, 16, true, false, 2),
    (16, 3, 72, 24, false, false, 2),
    (24, 3, 88, 24, false, false, 1),
    (24, 5, 96, 40, true, true, 2),
    (40, 5, 240, 40, true, true, 1),
    (40, 5, 240, 40, true, true, 1),
    (40, 5, 120, 48, true, true, 1),
    (48, 5, 144, 48, true, true, 1),
    (48, 5, 288, 96, true, true, 2),
    (96, 5, 576, 96, true, true, 1),
    (96, 5, 576, 96, true, true, 1),
];

impl Variant {
    /// torchvision's name, e.g. `mobilenet_v3_small`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Large => "mobilenet_v3_large",
            Variant::Small => "mobilenet_v3_small",
        }
    }

    fn rows(self) -> &'static [Row] {
        match self {
            Variant::Large => &LARGE,
            Variant::Small => &SMALL,
        }
    }

    /// The depth of `features[index]` for layer-wise learning rates: the log2 of its output's
    /// downsampling (the stem 1, each stride-2 block one more; the last convolution that of
    /// the last block).
    pub(crate) fn depth_of_feature(self, index: usize) -> usize {
        let rows = self.rows();
        let blocks = index.min(rows.len());
        1 + rows[..blocks].iter().filter(|row| row.6 == 2).count()
    }

    /// The variant whose `features` has `entries` entries (the stem, the blocks, the last
    /// convolution).
    pub(crate) fn from_features(entries: usize) -> Option<Variant> {
        [Variant::Large, Variant::Small]
            .into_iter()
            .find(|variant| variant.rows().len() + 2 == entries)
    }

    /// The width multiplier that gives the classifier `hidden` channels.
    pub(crate) fn width_of_hidden(self, hidden: usize) -> f64 {
        hidden as f64 / self.last_channel() as f64
    }

    /// The classifier's hidden width (`last_channel`) before the width multiplier.
    fn last_channel(self) -> usize {
        match self {
            Variant::Large => 1280,
            Variant::Small => 1024,
        }
    }
}

/// How to build a MobileNetV3.
#[derive(Config, Debug)]
pub struct MobileNetV3Config {
    pub variant: Variant,
    #[config(default = 1000)]
    pub num_classes: usize,
    /// torchvision's `width_mult`: every layer's channels times this, rounded to multiples of
    /// 8 (1.0 for torchvision's weights).
    #[config(default = 1.0)]
    pub width_mult: f64,
    /// The classifier's dropout (torchvision: 0.2).
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// One block of a [`Row`] at `width_mult`.
fn block(row: Row, width_mult: f64, device: &Device) -> InvertedResidual {
    let (input, kernel, expanded, out, se, hardswish, stride) = row;
    let [input, expanded, out] =
        [input, expanded, out].map(|channels| make_divisible(channels as f64 * width_mult, 8));
    let spec = BlockSpec {
        input,
        expanded,
        out,
        kernel,
        stride,
        act: if hardswish { Act::HardSwish } else { Act::Relu },
        // torchvision: SqueezeExcitation(expanded, _make_divisible(expanded // 4, 8)), its
        // gate a Hardsigmoid.
        squeeze: se.then(|| Squeeze {
            channels: make_divisible((expanded / 4) as f64, 8),
            act: Act::Relu,
            hard_gate: true,
        }),
        norm: NORM,
    };
    InvertedResidual::new(spec, 0.0, device)
}

/// An entry of `features`: the stem and the last convolution, or a block.
#[derive(Module, Debug)]
pub enum Feature {
    Conv(ConvNormAct),
    Block(InvertedResidual),
}

/// An entry of `classifier`.
#[derive(Module, Debug)]
pub enum HeadPart {
    Linear(Linear),
    HardSwish(HardSwish),
    Dropout(Dropout),
}

/// MobileNetV3 with torchvision's parameter names (`features.4.block.2.fc1.weight`,
/// `classifier.3.bias`).
#[derive(Module, Debug)]
pub struct MobileNetV3 {
    pub features: Vec<Feature>,
    pub classifier: Vec<HeadPart>,
}

impl MobileNetV3Config {
    pub fn init(&self, device: &Device) -> MobileNetV3 {
        let rows = self.variant.rows();
        let adjust = |channels: usize| make_divisible(channels as f64 * self.width_mult, 8);
        let mut features = vec![Feature::Conv(conv_norm_act(
            3,
            adjust(rows[0].0),
            ConvSpec::dense(3, 2, NORM),
            Act::HardSwish,
            device,
        ))];
        features.extend(
            rows.iter()
                .map(|&row| Feature::Block(block(row, self.width_mult, device))),
        );
        let last_in = adjust(rows[rows.len() - 1].3);
        let last_out = 6 * last_in;
        features.push(Feature::Conv(conv_norm_act(
            last_in,
            last_out,
            ConvSpec::dense(1, 1, NORM),
            Act::HardSwish,
            device,
        )));
        let hidden = adjust(self.variant.last_channel());
        MobileNetV3 {
            features,
            classifier: vec![
                HeadPart::Linear(linear(last_out, hidden, device)),
                HeadPart::HardSwish(HardSwish),
                HeadPart::Dropout(DropoutConfig::new(self.dropout).init()),
                HeadPart::Linear(linear(hidden, self.num_classes, device)),
            ],
        }
    }
}

/// A Linear initialised as the family does: normal(0, 0.01) weights, zero bias.
fn linear(from: usize, to: usize, device: &Device) -> Linear {
    let normal = Initializer::Normal {
        mean: 0.0,
        std: 0.01,
    };
    zero_bias_linear(from, to, normal, device)
}

impl MobileNetV3 {
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
                Feature::Block(block) => block.forward(x, dtype),
            })
    }

    /// Average pooling and the classifier.
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        self.classifier
            .iter()
            .fold(global_average(features), |x, part| match part {
                HeadPart::Linear(linear) => linear.forward(x),
                HeadPart::HardSwish(hard_swish) => hard_swish.forward(x),
                HeadPart::Dropout(dropout) => dropout.forward(x),
            })
    }

    /// Class-activation maps `[batch, num_classes, h, w]` whose mean over positions plus the
    /// final bias is the logit. The head is Linear, Hardswish, Linear: each position's first
    /// Linear output is scaled by the Hardsigmoid of the pooled one (Hardswish(z) is z times
    /// Hardsigmoid(z), so the positions' mean is the pooled Hardswish), then the final Linear's
    /// weights apply.
    pub fn class_activation_maps(&self, features: Tensor<4>) -> Tensor<4> {
        let [first, last] = self.linears();
        let [batch, channels, height, width] = features.dims();
        let positions: Tensor<3> = features
            .clone()
            .reshape([batch, channels, height * width])
            .swap_dims(1, 2);
        let pooled = global_average(features);
        let gate = hard_sigmoid(first.forward(pooled), 1.0 / 6.0, 0.5).unsqueeze_dim::<3>(1);
        let hidden = first.forward(positions) * gate; // [batch, positions, hidden]
        let weights = last.weight.val().unsqueeze::<3>(); // [1, hidden, classes]
        hidden
            .matmul(weights)
            .swap_dims(1, 2)
            .reshape([batch, self.num_classes(), height, width])
    }

    fn linears(&self) -> [&Linear; 2] {
        let mut linears = self.classifier.iter().filter_map(|part| match part {
            HeadPart::Linear(linear) => Some(linear),
            _ => None,
        });
        let first = linears.next().expect("the classifier has two Linears");
        let last = linears.next().expect("the classifier has two Linears");
        [first, last]
    }

    /// The final Linear (`classifier.3`), which fine-tuning replaces.
    pub fn final_linear(&self) -> &Linear {
        self.linears()[1]
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
                Feature::Block(block) => walk.inverted_residual(block),
            }
        }
        for linear in self.linears() {
            walk.linear(linear);
        }
        walk.finish()
    }

    /// Folds every BatchNorm into its convolution, for inference.
    pub fn fold_batch_norms(&mut self) {
        for feature in &mut self.features {
            match feature {
                Feature::Conv(units) => fold_conv_norm_act(units),
                Feature::Block(block) => block.fold_batch_norms(),
            }
        }
    }

    /// Every BatchNorm, in the module's order.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        self.features
            .iter()
            .flat_map(|feature| match feature {
                Feature::Conv(units) => vec![norm_of(units)],
                Feature::Block(block) => block.batch_norms(),
            })
            .collect()
    }
}
