//! The network: torchvision's ResNet family, written with burn modules.

mod block;
mod resnet;

pub use block::{BasicBlock, Block, Bottleneck, Downsample};
pub use resnet::{Arch, ResNet, ResNetConfig};
