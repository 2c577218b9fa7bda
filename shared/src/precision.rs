//! The one float precision type: of a training run's convolutions (`trainer train
//! --precision`, mixed precision with f32 master weights) and of a bundle's stored weights
//! (`trainer export --precision`). Either way the format is f32 or f16.

use core::fmt;

use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats.
    #[default]
    F32,
    /// 16-bit floats (IEEE half precision).
    F16,
}

impl Precision {
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F16 => "f16",
            Precision::F32 => "f32",
        })
    }
}
