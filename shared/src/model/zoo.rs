//! The architectures, by torchvision's names: one row per name says its family and the
//! name of the final Linear that fine-tuning replaces.

use serde::{Deserialize, Serialize};

use super::efficientnet::Scale;
use super::mobilenet_v3::Variant;
use super::resnet::Depth;

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
}

/// The family an architecture belongs to, with what picks its member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    ResNet(Depth),
    MobileNetV3(Variant),
    EfficientNet(Scale),
}

impl Arch {
    pub const ALL: [Arch; 11] = [
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
        }
    }

    /// The prefix of the final Linear's parameters in torchvision's state dict: what
    /// fine-tuning replaces (`fc`, `classifier.3`, `classifier.1`).
    pub fn classifier(self) -> &'static str {
        match self.family() {
            Family::ResNet(_) => "fc.",
            Family::MobileNetV3(_) => "classifier.3.",
            Family::EfficientNet(_) => "classifier.1.",
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
