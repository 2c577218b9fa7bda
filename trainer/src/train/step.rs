//! What burn-train's Learner calls: one training step (forward, cross-entropy, backward) and
//! one validation step, on whatever device the batch lives on.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
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
}

impl Classifier {
    /// The model as `config` trains it: in f32, or in mixed precision from its loss scale.
    pub fn new(net: ResNet, config: &TrainConfig) -> Self {
        let mixed =
            (config.precision == Precision::F16).then(|| LossScaler::new(config.loss_scale));
        Self { net, mixed }
    }

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let precision = match self.mixed {
            Some(_) => Precision::F16,
            None => Precision::F32,
        };
        self.net.forward_in(images, precision.dtype())
    }

    /// Logits and the mean softmax cross-entropy, as PyTorch's `CrossEntropyLoss`.
    pub fn forward_loss(&self, batch: &Batch) -> (Tensor<2>, Tensor<1>) {
        let logits = self.logits(batch.images.clone());
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
        (logits, loss)
    }
}

impl TrainStep for Classifier {
    type Input = Batch;
    type Output = ClassificationOutput;

    fn step(&self, batch: Batch) -> TrainOutput<ClassificationOutput> {
        let (logits, mut loss) = self.forward_loss(&batch);
        if injected_failure_due() {
            // More than any GPU holds in one buffer (at most 4 GiB): the allocation fails as
            // it does when a device runs out of memory mid-run.
            let huge = Tensor::<1>::zeros([1usize << 31], &loss.device());
            loss = loss + huge.sum();
        }
        let grads = match &self.mixed {
            Some(scaler) => scaler.backward(loss.clone(), self),
            None => GradientsParams::from_grads(loss.backward(), self),
        };
        TrainOutput {
            grads,
            item: ClassificationOutput::new(loss, logits, batch.targets),
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
