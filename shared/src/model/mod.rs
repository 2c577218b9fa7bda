//! The networks: torchvision's ResNet, MobileNetV3, EfficientNet and ConvNeXt families, written with burn
//! modules, behind one type, [`Net`], and one table of architectures, [`Arch`].
//!
//! In burn 0.22 modules carry no backend type parameter: the [`Device`](burn::prelude::Device)
//! a model is built on (or moved to) picks the backend (wgpu, CPU, ...), so the same code runs
//! on every backend, and training wraps the device with `autodiff()`.

mod block;
mod convnext;
mod efficientnet;
mod footprint;
mod layers;
mod mobilenet_v3;
mod net;
mod norm;
mod resnet;
mod zoo;

pub use block::{BasicBlock, Block, Bottleneck, Downsample};
pub(crate) use convnext::STAGES as CONVNEXT_STAGES;
pub use convnext::{ConvNeXt, ConvNeXtConfig};
pub use efficientnet::{EfficientNet, EfficientNetConfig, Scale};
pub use footprint::Footprint;
pub use mobilenet_v3::{HeadPart, MobileNetV3, MobileNetV3Config, Variant};
pub use net::{Net, NetConfig, RESNET_BASE_WIDTH, resnet_base_width};
pub use norm::BatchNorm;
pub use resnet::{Depth, ResNet, ResNetConfig};
pub use zoo::{Arch, Family};
