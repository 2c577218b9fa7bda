//! torchvision's ResNet (v1.5) for 18 to 152 layers.

use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, conv::Conv2d};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::block::{BasicBlock, Block, Bottleneck, conv, conv_in};
use super::layers::linear_maps;
use super::norm::BatchNorm;

/// The ResNet depths torchvision ships, with their block kind and blocks per stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Depth {
    Resnet18,
    Resnet34,
    #[default]
    Resnet50,
    Resnet101,
    Resnet152,
}

impl Depth {
    pub const ALL: [Depth; 5] = [
        Depth::Resnet18,
        Depth::Resnet34,
        Depth::Resnet50,
        Depth::Resnet101,
        Depth::Resnet152,
    ];

    /// torchvision's name, e.g. `resnet50`.
    pub fn name(self) -> &'static str {
        match self {
            Depth::Resnet18 => "resnet18",
            Depth::Resnet34 => "resnet34",
            Depth::Resnet50 => "resnet50",
            Depth::Resnet101 => "resnet101",
            Depth::Resnet152 => "resnet152",
        }
    }

    pub(crate) fn layers(self) -> [usize; 4] {
        match self {
            Depth::Resnet18 => [2, 2, 2, 2],
            Depth::Resnet34 | Depth::Resnet50 => [3, 4, 6, 3],
            Depth::Resnet101 => [3, 4, 23, 3],
            Depth::Resnet152 => [3, 8, 36, 3],
        }
    }

    pub(crate) fn bottleneck(self) -> bool {
        !matches!(self, Depth::Resnet18 | Depth::Resnet34)
    }

    fn expansion(self) -> usize {
        if self.bottleneck() {
            Bottleneck::EXPANSION
        } else {
            BasicBlock::EXPANSION
        }
    }
}

/// How to build a ResNet.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    #[config(default = "Depth::Resnet50")]
    pub depth: Depth,
    /// Outputs of the classifier (`fc`): 1000 for ImageNet, 6 for skirt length.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Channels of the stem and of the first stage; every later stage doubles it.
    /// torchvision's models use 64; smaller values give the same graph with fewer
    /// parameters, for tests and quick experiments.
    #[config(default = 64)]
    pub base_width: usize,
}

/// ResNet with torchvision's module names (`conv1`, `bn1`, `layer1`..`layer4`, `fc`), so a
/// torchvision state dict maps onto it with only `downsample.{0,1}` renamed.
#[derive(Module, Debug)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub maxpool: MaxPool2d,
    pub layer1: Vec<Block>,
    pub layer2: Vec<Block>,
    pub layer3: Vec<Block>,
    pub layer4: Vec<Block>,
    pub avgpool: AdaptiveAvgPool2d,
    pub fc: Linear,
}

impl ResNetConfig {
    pub fn init(&self, device: &Device) -> ResNet {
        let arch = self.depth;
        let width = self.base_width;
        let mut in_channels = width;
        let mut stage = |planes: usize, blocks: usize, stride: usize| -> Vec<Block> {
            (0..blocks)
                .map(|i| {
                    let stride = if i == 0 { stride } else { 1 };
                    let block = if arch.bottleneck() {
                        Block::Bottleneck(Bottleneck::new(in_channels, planes, stride, device))
                    } else {
                        Block::Basic(BasicBlock::new(in_channels, planes, stride, device))
                    };
                    in_channels = planes * arch.expansion();
                    block
                })
                .collect()
        };
        let [n1, n2, n3, n4] = arch.layers();
        let layer1 = stage(width, n1, 1);
        let layer2 = stage(width * 2, n2, 2);
        let layer3 = stage(width * 4, n3, 2);
        let layer4 = stage(width * 8, n4, 2);

        ResNet {
            conv1: conv(3, width, 7, 2, device),
            bn1: BatchNorm::new(width, device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(width * 8 * arch.expansion(), self.num_classes).init(device),
        }
    }
}

impl ResNet {
    /// Logits `[batch, num_classes]` for normalised images `[batch, 3, height, width]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_in(images, FloatDType::F32)
    }

    /// [`forward`](Self::forward) with the convolutions computed in `dtype` (f16: mixed
    /// precision, see [`conv_in`]); the parameters, BatchNorm and the classifier stay f32.
    pub fn forward_in(&self, images: Tensor<4>, dtype: FloatDType) -> Tensor<2> {
        self.classify(self.features_in(images, dtype))
    }

    /// The last convolutional feature map `[batch, channels, h, w]` (before pooling), the
    /// convolutions computed in `dtype`; with the `fc` weights it gives class-activation maps.
    pub fn features_in(&self, images: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
        let x = relu(self.bn1.forward(conv_in(&self.conv1, images, dtype)));
        let mut x = self.maxpool.forward(x);
        for block in self.blocks() {
            x = block.forward(x, dtype);
        }
        x
    }

    fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
    }

    /// Folds every BatchNorm into its convolution, for inference.
    pub fn fold_batch_norms(&mut self) {
        self.bn1.fold_into(&mut self.conv1);
        for stage in [
            &mut self.layer1,
            &mut self.layer2,
            &mut self.layer3,
            &mut self.layer4,
        ] {
            stage.iter_mut().for_each(Block::fold_batch_norms);
        }
    }

    /// Every BatchNorm, in the module's order: their running statistics are the network's
    /// state outside its parameters.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut norms = vec![&self.bn1];
        norms.extend(self.blocks().flat_map(Block::batch_norms));
        norms
    }

    /// Global average pooling and the classifier.
    pub fn classify(&self, features: Tensor<4>) -> Tensor<2> {
        let pooled: Tensor<2> = self.avgpool.forward(features).flatten(1, 3);
        self.fc.forward(pooled)
    }

    /// Class-activation maps `[batch, num_classes, h, w]` (Zhou et al. 2016): each class's
    /// `fc` weights applied at every position of the feature map, before pooling. Their mean
    /// over positions plus the class's bias is its logit, so they show where the evidence is.
    pub fn class_activation_maps(&self, features: Tensor<4>) -> Tensor<4> {
        linear_maps(features, &self.fc)
    }

    /// Outputs of the classifier.
    pub fn num_classes(&self) -> usize {
        self.fc.weight.lazy_shape()[1]
    }

    /// The classifier (`fc`), which fine-tuning replaces.
    pub fn final_linear(&self) -> &Linear {
        &self.fc
    }

    /// The configuration this network has the shape of.
    pub fn config(&self) -> ResNetConfig {
        let layers = [&self.layer1, &self.layer2, &self.layer3, &self.layer4].map(Vec::len);
        let bottleneck = matches!(self.layer1.first(), Some(Block::Bottleneck(_)));
        let arch = Depth::ALL
            .into_iter()
            .find(|arch| arch.layers() == layers && arch.bottleneck() == bottleneck)
            .expect("a ResNet is built from one of the architectures");
        ResNetConfig::new()
            .with_depth(arch)
            .with_base_width(self.conv1.weight.lazy_shape()[0])
            .with_num_classes(self.num_classes())
    }
}
