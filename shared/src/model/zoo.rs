//! The architectures, by torchvision's names: one row per name says its family and the
//! name of the final Linear that fine-tuning replaces.

use serde::{Deserialize, Serialize};

use super::efficientnet::Scale;
use super::mobilenet_v3::Variant;
use super::resnet::Depth;
use crate::preprocess::{InputSize, Interpolation};

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
}
