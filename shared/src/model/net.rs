//! The one network type every caller holds: an enum over the families (burn has no `dyn
//! Module`), so that training, export, calibration, prediction and the page are written once,
//! and a new family is a variant that exhaustive matching leads through every place that must
//! handle it.

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::convnext::{ConvNeXt, ConvNeXtConfig};
use super::efficientnet::{EfficientNet, EfficientNetConfig};
use super::mobilenet_v3::{MobileNetV3, MobileNetV3Config};
use super::norm::BatchNorm;
use super::resnet::{ResNet, ResNetConfig};
use super::zoo::{Arch, Family};
use super::{Footprint, Scale};

/// ResNet's channels of the stem and of the first stage at width 1.
pub const RESNET_BASE_WIDTH: usize = 64;

/// How to build a network of any family.
#[derive(Config, Debug, PartialEq)]
pub struct NetConfig {
    #[config(default = "Arch::Resnet50")]
    pub arch: Arch,
    /// Outputs of the final Linear: 1000 for ImageNet, 6 for skirt length.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// torchvision's `width_mult`: every layer's channels times this (1.0 for torchvision's
    /// weights; ResNet: a first stage of 64 times this). Narrow models are for tests and quick
    /// experiments.
    #[config(default = 1.0)]
    pub width_mult: f64,
}

/// A network of one of the families, with torchvision's parameter names (the variant is not
/// part of them: burn-store skips enum variants).
// Held once per model, never in bulk: the size difference costs nothing worth boxing for
// (burn's Module derive has no Box).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net {
    ResNet(ResNet),
    MobileNetV3(MobileNetV3),
    EfficientNet(EfficientNet),
    ConvNeXt(ConvNeXt),
}

impl Net {
    /// The variants' names, in the order of the enum: the first segment of a parameter's path
    /// in burn's records (`ResNet.conv1.weight`), which a legacy record lacks.
    pub const VARIANTS: [&'static str; 4] = ["ResNet", "MobileNetV3", "EfficientNet", "ConvNeXt"];
}

impl NetConfig {
    pub fn init(&self, device: &Device) -> Net {
        match self.arch.family() {
            Family::ResNet(depth) => Net::ResNet(
                ResNetConfig::new()
                    .with_depth(depth)
                    .with_base_width(resnet_base_width(self.width_mult))
                    .with_num_classes(self.num_classes)
                    .init(device),
            ),
            Family::MobileNetV3(variant) => Net::MobileNetV3(
                MobileNetV3Config::new(variant)
                    .with_width_mult(self.width_mult)
                    .with_num_classes(self.num_classes)
                    .init(device),
            ),
            Family::EfficientNet(scale) => Net::EfficientNet(
                EfficientNetConfig::new(scale)
                    .with_width_mult(efficientnet_width(scale, self.width_mult))
                    .with_num_classes(self.num_classes)
                    .init(device),
            ),
            Family::ConvNeXt => Net::ConvNeXt(
                ConvNeXtConfig::new()
                    .with_width_mult(self.width_mult)
                    .with_num_classes(self.num_classes)
                    .init(device),
            ),
        }
    }

    /// What one image costs the network in memory at `crop` x `crop` (see [`Footprint`]); the
    /// network is built with lazily allocated parameters, so nothing is allocated.
    pub fn footprint(&self, crop: usize, device: &Device) -> Footprint {
        self.init(device).footprint(crop)
    }
}

/// ResNet's base width at `width_mult` (at least 1 channel).
pub fn resnet_base_width(width_mult: f64) -> usize {
    ((RESNET_BASE_WIDTH as f64 * width_mult).round() as usize).max(1)
}

/// EfficientNet's own width multiplier at `width_mult` of it (torchvision's exactly at 1).
fn efficientnet_width(scale: Scale, width_mult: f64) -> Option<f64> {
    (width_mult != 1.0).then(|| scale.width() * width_mult)
}

impl Net {
    /// Training-time regularisation, where given and where the family has it
    /// ([`Arch::has_stochastic_depth`], [`Arch::has_dropout`]): torchvision's
    /// `stochastic_depth_prob` and the classifier's dropout. Both act only in training.
    pub fn set_drop_rates(&mut self, stochastic_depth: Option<f64>, dropout: Option<f64>) {
        match self {
            Net::ResNet(_) => {}
            Net::MobileNetV3(net) => dropout.into_iter().for_each(|p| net.set_dropout(p)),
            Net::EfficientNet(net) => {
                stochastic_depth
                    .into_iter()
                    .for_each(|p| net.set_stochastic_depth(p));
                dropout.into_iter().for_each(|p| net.set_dropout(p));
            }
            Net::ConvNeXt(net) => stochastic_depth
                .into_iter()
                .for_each(|p| net.set_stochastic_depth(p)),
        }
    }

    /// Logits `[batch, num_classes]` for normalised images `[batch, 3, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_in(images, FloatDType::F32)
    }

    /// [`forward`](Self::forward) with the convolutions computed in `dtype` (f16: mixed
    /// precision); the parameters, the norms and the classifier stay f32.
    pub fn forward_in(&self, images: Tensor<4>, dtype: FloatDType) -> Tensor<2> {
        self.classify(self.features_in(images, dtype))
    }

    /// The last feature map `[batch, channels, h, w]`, before pooling.
    pub fn features(&self, images: Tensor<4>) -> Tensor<4> {
        self.features_in(images, FloatDType::F32)
    }

    /// [`features`](Self::features) with the convolutions computed in `dtype`.
    pub fn features_in(&self, images: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        match self {
            Net::ResNet(net) => net.features_in(images, dtype),
            Net::MobileNetV3(net) => net.features_in(images, dtype),
            Net::EfficientNet(net) => net.features_in(images, dtype),
            Net::ConvNeXt(net) => net.features_in(images, dtype),
        }
    }

    /// Pooling and the layers after it: the logits of a feature map.
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        match self {
            Net::ResNet(net) => net.classify(features),
            Net::MobileNetV3(net) => net.classify(features),
            Net::EfficientNet(net) => net.classify(features),
            Net::ConvNeXt(net) => net.classify(features),
        }
    }

    /// Class-activation maps `[batch, num_classes, h, w]`: the head applied at each position
    /// of the feature map, such that the maps' mean over positions plus the final Linear's
    /// bias is the logit (see each family's rule).
    pub fn class_activation_maps(&self, features: Tensor<4>) -> Tensor<4> {
        match self {
            Net::ResNet(net) => net.class_activation_maps(features),
            Net::MobileNetV3(net) => net.class_activation_maps(features),
            Net::EfficientNet(net) => net.class_activation_maps(features),
            Net::ConvNeXt(net) => net.class_activation_maps(features),
        }
    }

    /// The final Linear, which fine-tuning replaces.
    pub fn final_linear(&self) -> &Linear {
        match self {
            Net::ResNet(net) => net.final_linear(),
            Net::MobileNetV3(net) => net.final_linear(),
            Net::EfficientNet(net) => net.final_linear(),
            Net::ConvNeXt(net) => net.final_linear(),
        }
    }

    /// Outputs of the final Linear.
    pub fn num_classes(&self) -> usize {
        self.final_linear().weight.lazy_shape()[1]
    }

    /// The network for inference only, every BatchNorm folded into the convolution before it
    /// ([`BatchNorm::fold_into`]): the same answers to f32 rounding, with a pass fewer over
    /// each feature map. ConvNeXt has no BatchNorm.
    pub fn folded(mut self) -> Net {
        match &mut self {
            Net::ResNet(net) => net.fold_batch_norms(),
            Net::MobileNetV3(net) => net.fold_batch_norms(),
            Net::EfficientNet(net) => net.fold_batch_norms(),
            Net::ConvNeXt(_) => {}
        }
        self
    }

    /// Every BatchNorm, in the module's order: their running statistics are the network's
    /// state outside its parameters.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        match self {
            Net::ResNet(net) => net.batch_norms(),
            Net::MobileNetV3(net) => net.batch_norms(),
            Net::EfficientNet(net) => net.batch_norms(),
            // Its LayerNorms keep no statistics.
            Net::ConvNeXt(_) => Vec::new(),
        }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.final_linear().weight.lazy_device()
    }

    /// What one image costs the network in memory at `crop` x `crop`.
    pub fn footprint(&self, crop: usize) -> Footprint {
        match self {
            Net::ResNet(net) => net.config().footprint(crop),
            Net::MobileNetV3(net) => net.footprint(crop),
            Net::EfficientNet(net) => net.footprint(crop),
            Net::ConvNeXt(net) => net.footprint(crop),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::Distribution;

    use super::*;

    /// Every weight and statistic moved at random, so that no BatchNorm is the identity.
    struct Jolt;

    impl ModuleMapper for Jolt {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| {
                let noise = t.random_like(Distribution::Uniform(-0.2, 0.2));
                t + noise
            })
        }
    }

    /// A folded network answers as the unfolded one, every architecture on the CPU and each
    /// kind of block on wgpu (where built with it), to f32 rounding: each logit within 1e-5 of
    /// the largest logit's magnitude.
    #[test]
    fn folded_batch_norms_answer_the_same() {
        let mut devices = vec![(Device::flex(), Arch::ALL.to_vec())];
        #[cfg(feature = "wgpu")]
        devices.push((
            Device::wgpu(Default::default()),
            vec![
                Arch::Resnet18,
                Arch::Resnet50,
                Arch::MobilenetV3Small,
                Arch::EfficientnetB0,
            ],
        ));
        for (device, archs) in devices {
            device.seed(9);
            for arch in archs {
                assert_folding_keeps_answers(arch, &device);
            }
        }
    }

    fn assert_folding_keeps_answers(arch: Arch, device: &Device) {
        let net = NetConfig::new()
            .with_arch(arch)
            .with_num_classes(5)
            .with_width_mult(0.25)
            .init(device)
            .map(&mut Jolt);
        let images = Tensor::<4>::random([2, 3, 64, 64], Distribution::Default, device);
        let plain: Vec<f32> = net
            .forward(images.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // Folding a folded network changes nothing.
        let folded = net.folded().folded();
        assert!(folded.batch_norms().iter().all(|norm| norm.folded));
        let got: Vec<f32> = folded
            .forward(images)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let scale = plain.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let worst = plain
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{arch}: {worst:e} of the largest logit");
    }
}
