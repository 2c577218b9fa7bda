//! BatchNorm2d with PyTorch's semantics, including the one burn's `BatchNorm` lacks: in
//! training, the running variance is updated with the *unbiased* batch variance
//! (`n / (n - 1)` times the biased one used to normalise). The struct keeps burn's name and
//! field names, so torchvision weights map onto it as onto burn's own (`weight` -> `gamma`).
//! For inference it can be folded into the convolution before it ([`BatchNorm::fold_into`]).

use burn::module::{Param, RunningState};
use burn::nn::conv::Conv2d;
use burn::prelude::*;

/// torchvision's `BatchNorm2d`: eps 1e-5 and momentum 0.1 unless a family sets others.
#[derive(Module, Debug)]
pub struct BatchNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    pub momentum: f64,
    pub epsilon: f64,
    /// Folded into the convolution before it: the identity.
    pub folded: bool,
}

impl BatchNorm {
    /// PyTorch's defaults (ResNet): eps 1e-5, momentum 0.1.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self::with(channels, 1e-5, 0.1, device)
    }

    /// A BatchNorm with the `epsilon` and `momentum` of a family's `norm_layer`.
    pub fn with(channels: usize, epsilon: f64, momentum: f64, device: &Device) -> Self {
        BatchNorm {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum,
            epsilon,
            folded: false,
        }
    }

    /// Folds this BatchNorm's inference into `conv`, whose output it normalises (as ONNX
    /// Runtime does on loading a model): each output channel's weights times
    /// gamma / sqrt(var + eps), its bias times that plus beta - mean x that. The BatchNorm
    /// becomes the identity. For a network that is only evaluated: training would need the
    /// batch statistics back.
    pub fn fold_into(&mut self, conv: &mut Conv2d) {
        // Once: its statistics stay, and would scale the convolution again.
        if self.folded {
            return;
        }
        let device = self.gamma.val().device();
        let variance = self.running_var.value().to_device(&device);
        let scale = self.gamma.val() / variance.add_scalar(self.epsilon).sqrt();
        let shift = self.beta.val() - self.running_mean.value().to_device(&device) * scale.clone();
        let [channels] = scale.dims();
        let per_output = scale.clone().reshape([channels, 1, 1, 1]);
        conv.weight = conv.weight.clone().map(|weight| weight * per_output);
        let bias = match conv.bias.take() {
            Some(bias) => bias.val() * scale + shift,
            None => shift,
        };
        conv.bias = Some(Param::from_tensor(bias));
        self.folded = true;
    }

    /// Batch statistics (and a running-statistics update) when the input can be trained, i.e.
    /// lives on an autodiff device; the running statistics otherwise.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        if self.folded {
            input
        } else if input.device().is_autodiff() {
            self.forward_train(input)
        } else {
            let device = input.device();
            burn::tensor::module::batch_norm(
                input,
                self.gamma.val(),
                self.beta.val(),
                self.running_mean.value().to_device(&device),
                self.running_var.value().to_device(&device),
                self.epsilon,
            )
        }
    }

    fn forward_train(&self, input: Tensor<4>) -> Tensor<4> {
        let device = input.device();
        let [batch, _, height, width] = input.dims();
        let samples = batch * height * width;
        let result = burn::tensor::module::batch_norm_train(
            input,
            self.gamma.val(),
            self.beta.val(),
            self.epsilon,
        );
        let bessel = samples as f64 / samples.saturating_sub(1).max(1) as f64;
        let blend = |running: &RunningState<Tensor<1>>, batch: Tensor<1>| {
            let updated = running
                .value_sync()
                .to_device(&device)
                .mul_scalar(1.0 - self.momentum)
                .add(batch.detach().mul_scalar(self.momentum));
            running.update(updated.detach());
        };
        blend(&self.running_mean, result.mean);
        blend(&self.running_var, result.variance.mul_scalar(bessel));
        result.output
    }
}
