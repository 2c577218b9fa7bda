//! What burn-train's Learner calls: one training step (forward, cross-entropy, backward) and
//! one validation step, on whatever device the batch lives on.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::ExecutionError;
use burn::tensor::activation::log_softmax;
use burn::train::metric::{AccuracyInput, Adaptor, ItemLazy, LossInput};
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use shared::model::ResNet;
use shared::precision::Precision;

use super::TrainConfig;
use super::loader::Batch;
use super::metrics::RankingInput;
use super::precision::LossScaler;

/// The ResNet as burn-train sees it. A wrapper because burn-train's step traits and the
/// model live in other crates.
#[derive(Module, Debug)]
pub struct Classifier {
    pub net: ResNet,
    /// The loss scale of mixed-precision training (`--precision f16`); `None` in f32.
    #[module(skip)]
    pub mixed: Option<LossScaler>,
    /// Forward and backward passes per step (`--accumulate`), each over an equal part of the
    /// batch.
    #[module(skip)]
    pub passes: usize,
}

impl Classifier {
    /// The model as `config` trains it: in f32, or in mixed precision from its loss scale.
    pub fn new(net: ResNet, config: &TrainConfig) -> Self {
        let mixed =
            (config.precision == Precision::F16).then(|| LossScaler::new(config.loss_scale));
        Self {
            net,
            mixed,
            passes: config.accumulate,
        }
    }

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let precision = match self.mixed {
            Some(_) => Precision::F16,
            None => Precision::F32,
        };
        self.net.forward_in(images, precision.dtype())
    }

    /// Logits and the mean softmax cross-entropy, as PyTorch's `CrossEntropyLoss`.
    fn forward_loss(&self, images: Tensor<4>, targets: Tensor<1, Int>) -> (Tensor<2>, Tensor<1>) {
        let logits = self.logits(images);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), targets);
        (logits, loss)
    }
}

impl TrainStep for Classifier {
    type Input = Batch;
    type Output = ClassificationOutput;

    /// The batch's gradients, from one pass or, with `--accumulate`, summed over several:
    /// each pass's loss is its part's mean, weighted by the part's share of the batch, so the
    /// sum is the gradient of the whole batch's mean loss and the learning rate keeps its
    /// meaning. Only one part's activations are alive at a time. (Parts are equal but for a
    /// batch that lost an unreadable image.)
    fn step(&self, batch: Batch) -> TrainOutput<ClassificationOutput> {
        let fail = injected_failure_due();
        // In mixed precision the loss is also scaled up (precision.rs).
        let scale = self.mixed.as_ref().map_or(1.0, LossScaler::scale);
        let images = batch.targets.dims()[0];
        let mut accumulated = GradientsAccumulator::new();
        let (mut logits, mut losses) = (Vec::new(), Vec::new());
        for pass in 0..self.passes {
            let start = pass * images / self.passes;
            let len = (pass + 1) * images / self.passes - start;
            if len == 0 {
                continue;
            }
            let (part_logits, mut loss) = self.forward_loss(
                batch.images.clone().narrow(0, start, len),
                batch.targets.clone().narrow(0, start, len),
            );
            if fail {
                // More than any GPU holds in one buffer (at most 4 GiB): the allocation fails
                // as it does when a device runs out of memory mid-run.
                let huge = Tensor::<1>::zeros([1usize << 31], &loss.device());
                loss = loss + huge.sum();
            }
            let share = loss.mul_scalar(len as f32 / images as f32);
            let grads = share.clone().mul_scalar(scale).backward();
            accumulated.accumulate(self, GradientsParams::from_grads(grads, self));
            logits.push(part_logits);
            losses.push(share);
        }
        let grads = match &self.mixed {
            Some(scaler) => scaler.unscale(accumulated.grads(), self),
            None => accumulated.grads(),
        };
        TrainOutput {
            grads,
            item: ClassificationOutput::new(
                Tensor::cat(losses, 0).sum(),
                Tensor::cat(logits, 0),
                batch.targets,
            ),
        }
    }
}

/// Fault injection for tests of the failure path: `TRAINER_FAIL_AT_STEP=N` makes this
/// process's training step N (from 1) fail on a wgpu device as if memory had run out.
fn injected_failure_due() -> bool {
    static AT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    static STEPS: AtomicUsize = AtomicUsize::new(0);
    let at = AT.get_or_init(|| std::env::var("TRAINER_FAIL_AT_STEP").ok()?.parse().ok());
    at.is_some_and(|at| STEPS.fetch_add(1, Ordering::Relaxed) + 1 == at)
}

impl InferenceStep for Classifier {
    type Input = Batch;
    type Output = ValidationOutput;

    fn step(&self, batch: Batch) -> ValidationOutput {
        let logits = self.logits(batch.images.clone());
        // Per-image losses, so that burn weighs a smaller last batch by its size.
        let targets = batch.targets.clone().unsqueeze_dim(1);
        let losses = log_softmax(logits.clone(), 1)
            .gather(1, targets)
            .neg()
            .squeeze_dim(1);
        ValidationOutput {
            losses,
            logits,
            batch,
        }
    }
}

/// A validation batch's results, with the label marks the FashionAI metrics need.
pub struct ValidationOutput {
    losses: Tensor<1>,
    logits: Tensor<2>,
    batch: Batch,
}

impl ItemLazy for ValidationOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.losses.device().flush()?;
        Ok(self)
    }
}

impl Adaptor<AccuracyInput> for ValidationOutput {
    fn adapt(&self) -> AccuracyInput {
        AccuracyInput::new(self.logits.clone(), self.batch.targets.clone())
    }
}

impl Adaptor<LossInput> for ValidationOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.losses.clone())
    }
}

impl Adaptor<RankingInput> for ValidationOutput {
    fn adapt(&self) -> RankingInput {
        RankingInput {
            logits: self.logits.clone(),
            marks: self.batch.marks.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Distribution;
    use shared::model::Arch;
    use shared::tasks::Mark;

    use super::*;

    /// Every gradient, in the module's order (parameters without one, such as frozen ones,
    /// are left out).
    struct Flatten<'a> {
        grads: &'a GradientsParams,
        values: Vec<f32>,
    }

    impl ModuleVisitor for Flatten<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let values = grad.into_data().try_to_vec::<f32>().unwrap();
                self.values.extend(values);
            }
        }
    }

    fn gradients(model: &Classifier, images: Tensor<4>, targets: &[i64]) -> Vec<f32> {
        let device = images.device();
        let batch = Batch {
            images,
            targets: Tensor::from_data(TensorData::from(targets), &device),
            marks: Arc::new(vec![vec![Mark::No; 3]; targets.len()]),
        };
        let grads = TrainStep::step(model, batch).grads;
        let mut flatten = Flatten {
            grads: &grads,
            values: Vec::new(),
        };
        model.visit(&mut flatten);
        flatten.values
    }

    /// `--accumulate 2`: a step's gradient is the mean of its two halves' gradients, each
    /// computed as a step of its own (BatchNorm normalising over each half in both).
    #[test]
    fn accumulated_gradients_are_the_mean_of_the_parts() {
        let device = Device::flex().autodiff();
        let config = TrainConfig {
            arch: Arch::Resnet18,
            base_width: 4,
            input_size: 32,
            batch_size: 4,
            accumulate: 2,
            ..TrainConfig::default()
        };
        let net = config.model(3).init(&device);
        let images = Tensor::<4>::random([4, 3, 32, 32], Distribution::Default, &device);
        let targets = [0, 2, 1, 1];
        let whole = gradients(
            &Classifier::new(net.clone(), &config),
            images.clone(),
            &targets,
        );

        let single = TrainConfig {
            accumulate: 1,
            ..config
        };
        let model = Classifier::new(net, &single);
        let half = |i: usize| {
            gradients(
                &model,
                images.clone().narrow(0, 2 * i, 2),
                &targets[2 * i..2 * i + 2],
            )
        };
        let (first, second) = (half(0), half(1));
        let mut worst = 0.0f32;
        for ((w, a), b) in whole.iter().zip(&first).zip(&second) {
            let mean = (a + b) / 2.0;
            worst = worst.max((w - mean).abs() / mean.abs().max(1e-3));
        }
        assert_eq!(whole.len(), first.len());
        assert!(worst < 1e-4, "relative difference {worst:e}");
        assert!(whole.iter().any(|g| *g != 0.0));
    }
}
