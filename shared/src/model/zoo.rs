//! The architectures, by torchvision's names: one row per name says its family and the
//! name of the final Linear that fine-tuning replaces.

use serde::{Deserialize, Serialize};

use super::efficientnet::Scale;
use super::mobilenet_v3::Variant;
use super::resnet::Depth;
use crate::preprocess::{InputSize, Interpolation, View};

/// Every architecture the trainer and the page know, by torchvision's model name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Arch {
    #[serde(rename = "resnet18")]
    Resnet18,
    #[serde(rename = "resnet34")]
    Resnet34,
    #[default]
    #[serde(rename = "resnet50")]
    Resnet50,
    #[serde(rename = "resnet101")]
    Resnet101,
    #[serde(rename = "resnet152")]
    Resnet152,
    #[serde(rename = "mobilenet_v3_large")]
    MobilenetV3Large,
    #[serde(rename = "mobilenet_v3_small")]
    MobilenetV3Small,
    #[serde(rename = "efficientnet_b0")]
    EfficientnetB0,
    #[serde(rename = "efficientnet_b1")]
    EfficientnetB1,
    #[serde(rename = "efficientnet_b2")]
    EfficientnetB2,
    #[serde(rename = "efficientnet_b3")]
    EfficientnetB3,
    #[serde(rename = "convnext_tiny")]
    ConvnextTiny,
}

/// The family an architecture belongs to, with what picks its member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    ResNet(Depth),
    MobileNetV3(Variant),
    EfficientNet(Scale),
    /// ConvNeXt-Tiny, the one member.
    ConvNeXt,
}

impl Arch {
    pub const ALL: [Arch; 12] = [
        Arch::Resnet18,
        Arch::Resnet34,
        Arch::Resnet50,
        Arch::Resnet101,
        Arch::Resnet152,
        Arch::MobilenetV3Large,
        Arch::MobilenetV3Small,
        Arch::EfficientnetB0,
        Arch::EfficientnetB1,
        Arch::EfficientnetB2,
        Arch::EfficientnetB3,
        Arch::ConvnextTiny,
    ];

    pub fn family(self) -> Family {
        match self {
            Arch::Resnet18 => Family::ResNet(Depth::Resnet18),
            Arch::Resnet34 => Family::ResNet(Depth::Resnet34),
            Arch::Resnet50 => Family::ResNet(Depth::Resnet50),
            Arch::Resnet101 => Family::ResNet(Depth::Resnet101),
            Arch::Resnet152 => Family::ResNet(Depth::Resnet152),
            Arch::MobilenetV3Large => Family::MobileNetV3(Variant::Large),
            Arch::MobilenetV3Small => Family::MobileNetV3(Variant::Small),
            Arch::EfficientnetB0 => Family::EfficientNet(Scale::B0),
            Arch::EfficientnetB1 => Family::EfficientNet(Scale::B1),
            Arch::EfficientnetB2 => Family::EfficientNet(Scale::B2),
            Arch::EfficientnetB3 => Family::EfficientNet(Scale::B3),
            Arch::ConvnextTiny => Family::ConvNeXt,
        }
    }

    /// The architecture of a family member.
    pub fn of(family: Family) -> Arch {
        Arch::ALL
            .into_iter()
            .find(|arch| arch.family() == family)
            .expect("every family member has a row")
    }

    /// torchvision's name, e.g. `resnet50`, `mobilenet_v3_small`.
    pub fn name(self) -> &'static str {
        match self.family() {
            Family::ResNet(depth) => depth.name(),
            Family::MobileNetV3(variant) => variant.name(),
            Family::EfficientNet(scale) => scale.name(),
            Family::ConvNeXt => "convnext_tiny",
        }
    }

    /// The depth of a parameter for layer-wise learning rates (timm's `layer_decay`), from
    /// the top-level module of torchvision's model that holds it (`layer2`, `features`) and,
    /// in a `features` list, its index: the stem 1, each stage one more (a stage starts where
    /// the resolution halves; ConvNeXt's downsampling layers join the stage they start), the
    /// classifier [`head_depth`](Self::head_depth).
    pub fn depth_of(self, module: &str, index: Option<usize>) -> usize {
        let index = index.unwrap_or(0);
        match (self.family(), module) {
            (_, "fc" | "classifier") => self.head_depth(),
            (Family::ResNet(_), module) => module
                .strip_prefix("layer")
                .and_then(|stage| stage.parse::<usize>().ok())
                .map_or(1, |stage| stage + 1),
            (Family::MobileNetV3(variant), _) => variant.depth_of_feature(index),
            (Family::EfficientNet(_), _) => index + 1,
            (Family::ConvNeXt, _) if index == 0 => 1,
            (Family::ConvNeXt, _) => (index + 4) / 2,
        }
    }

    /// The classifier's depth: one more than the backbone's deepest stage.
    pub fn head_depth(self) -> usize {
        match self.family() {
            // stem, layer1 to layer4
            Family::ResNet(_) => 6,
            // stride 2 to 32, and the last convolution at 32
            Family::MobileNetV3(_) => 6,
            // stem, seven stages, the last convolution
            Family::EfficientNet(_) => 10,
            // stem, four stages
            Family::ConvNeXt => 6,
        }
    }

    /// Whether torchvision's model has stochastic depth (`stochastic_depth_prob`).
    pub fn has_stochastic_depth(self) -> bool {
        matches!(self.family(), Family::EfficientNet(_) | Family::ConvNeXt)
    }

    /// Whether torchvision's classifier has a dropout (`dropout`).
    pub fn has_dropout(self) -> bool {
        matches!(
            self.family(),
            Family::MobileNetV3(_) | Family::EfficientNet(_)
        )
    }

    /// The prefix of the final Linear's parameters in torchvision's state dict: what
    /// fine-tuning replaces (`fc`, `classifier.3`, `classifier.1`, `classifier.2`).
    pub fn classifier(self) -> &'static str {
        match self.family() {
            Family::ResNet(_) => "fc.",
            Family::MobileNetV3(_) => "classifier.3.",
            Family::EfficientNet(_) => "classifier.1.",
            Family::ConvNeXt => "classifier.2.",
        }
    }
}

impl Arch {
    /// The evaluation transforms of torchvision's ImageNet weights (`weights.transforms()`:
    /// resize, crop, filter), which fine-tuning and the page keep; ResNet keeps the tutorial's
    /// bicubic 256 -> 224 (torchvision's V1 weights: bilinear).
    pub fn input_size(self) -> InputSize {
        use Interpolation::{Bicubic, Bilinear};
        let (resize, crop, interpolation) = match self.family() {
            Family::ResNet(_) => return InputSize::IMAGENET,
            Family::MobileNetV3(_) => (256, 224, Bilinear),
            Family::EfficientNet(Scale::B0) => (256, 224, Bicubic),
            Family::EfficientNet(Scale::B1) => (256, 240, Bicubic),
            Family::EfficientNet(Scale::B2) => (288, 288, Bicubic),
            Family::EfficientNet(Scale::B3) => (320, 300, Bicubic),
            Family::ConvNeXt => (236, 224, Bilinear),
        };
        InputSize {
            resize,
            crop,
            interpolation,
            view: View::Crop,
        }
    }
}

impl core::fmt::Display for Arch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for Arch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Arch::ALL
            .into_iter()
            .find(|arch| arch.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Arch::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown architecture `{s}` (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names round-trip through parsing and serde, as manifests and `--arch` spell them.
    #[test]
    fn names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse::<Arch>(), Ok(arch));
            let json = serde_json::to_string(&arch).unwrap();
            assert_eq!(json, format!("\"{}\"", arch.name()));
            assert_eq!(Arch::of(arch.family()), arch);
        }
        let err = "convnext_huge".parse::<Arch>().unwrap_err();
        assert!(err.contains("mobilenet_v3_small"), "{err}");
    }

    /// `Net::set_drop_rates` gives torchvision's per-block probabilities (the last block's is
    /// the rate: `p * i / n` for EfficientNet's n blocks, `p * i / (n - 1)` for ConvNeXt's)
    /// and the classifier's dropout, to a network built or loaded without them.
    #[test]
    fn drop_rates_are_torchvisions() {
        use crate::model::{Net, NetConfig, convnext, efficientnet, mobilenet_v3};
        let device = burn::prelude::Device::flex();
        let net = |arch| {
            let mut net = NetConfig::new().with_arch(arch).init(&device);
            net.set_drop_rates(Some(0.2), Some(0.4));
            net
        };
        let Net::EfficientNet(b0) = net(Arch::EfficientnetB0) else {
            unreachable!()
        };
        let rates: Vec<f64> = b0
            .features
            .iter()
            .filter_map(|f| match f {
                efficientnet::Feature::Stage(blocks) => Some(blocks),
                _ => None,
            })
            .flatten()
            .map(|block| block.stochastic_depth)
            .collect();
        assert_eq!(rates.len(), 16);
        assert_eq!((rates[0], rates[15]), (0.0, 0.2 * 15.0 / 16.0));
        assert!(matches!(&b0.classifier[0],
            efficientnet::HeadPart::Dropout(d) if d.prob == 0.4));
        let Net::ConvNeXt(tiny) = net(Arch::ConvnextTiny) else {
            unreachable!()
        };
        let rates: Vec<f64> = tiny
            .features
            .iter()
            .filter_map(|f| match f {
                convnext::Feature::Stage(blocks) => Some(blocks),
                _ => None,
            })
            .flatten()
            .map(|block| block.stochastic_depth)
            .collect();
        assert_eq!(rates.len(), 18);
        assert_eq!((rates[0], rates[17]), (0.0, 0.2));
        let Net::MobileNetV3(small) = net(Arch::MobilenetV3Small) else {
            unreachable!()
        };
        assert!(
            small
                .classifier
                .iter()
                .any(|part| matches!(part, mobilenet_v3::HeadPart::Dropout(d) if d.prob == 0.4))
        );
    }

    /// The depths of layer-wise learning rates: stem 1, stages in order, head last.
    #[test]
    fn depths_count_stages() {
        let depths = |arch: Arch, module: &str, entries: usize| -> Vec<usize> {
            (0..entries)
                .map(|i| arch.depth_of(module, Some(i)))
                .collect()
        };
        let resnet: Vec<usize> = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
            .map(|module| Arch::Resnet50.depth_of(module, None))
            .into();
        assert_eq!(resnet, [1, 1, 2, 3, 4, 5, 6]);
        assert_eq!(
            depths(Arch::ConvnextTiny, "features", 8),
            [1, 2, 3, 3, 4, 4, 5, 5]
        );
        assert_eq!(
            depths(Arch::EfficientnetB0, "features", 9),
            [1, 2, 3, 4, 5, 6, 7, 8, 9]
        );
        // Large: stride 2 at blocks 2, 4, 7 and 13 (features 2, 4, 7, 13).
        assert_eq!(
            depths(Arch::MobilenetV3Large, "features", 17),
            [1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5]
        );
        assert_eq!(
            depths(Arch::MobilenetV3Small, "features", 13),
            [1, 2, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5]
        );
        for arch in Arch::ALL {
            assert_eq!(arch.depth_of("classifier", Some(3)), arch.head_depth());
        }
    }
}
