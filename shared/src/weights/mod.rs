//! Weight import: torchvision state dicts, and downloading torchvision's ImageNet weights.

#[cfg(feature = "download")]
pub mod download;
#[cfg(not(target_arch = "wasm32"))]
mod pickle_code;
mod torchvision;

pub use torchvision::{Head, WeightError, WeightFormat, WeightInfo, load_safetensors_bytes};
#[cfg(not(target_arch = "wasm32"))]
pub use torchvision::{inspect, load_torchvision, torchvision_safetensors};
