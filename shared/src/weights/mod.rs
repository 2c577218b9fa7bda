//! Weight import: torchvision state dicts, and downloading torchvision's ImageNet weights.

#[cfg(feature = "download")]
pub mod download;
#[cfg(not(target_arch = "wasm32"))]
mod torchvision;

#[cfg(not(target_arch = "wasm32"))]
pub use torchvision::{
    Head, WeightError, WeightFormat, WeightInfo, inspect, load_safetensors_bytes, load_torchvision,
};
