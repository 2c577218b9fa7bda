//! What burn-train's Learner calls: one training step (forward, cross-entropy, backward) and
//! one validation step, on whatever device the batch lives on.

use std::sync::Arc;
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
use shared::tasks::Mark;

use super::TrainConfig;
use super::data_parallel;
use super::loader::Batch;
use super::metrics::RankingInput;
use super::precision::LossScaler;
use crate::ranks;

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
        let loss = (!losses.is_empty()).then(|| Tensor::cat(losses, 0).sum());
        let logits = (!logits.is_empty()).then(|| Tensor::cat(logits, 0));
        let (grads, item) = match (ranks::world().size, loss, logits) {
            (1, Some(loss), Some(logits)) => (
                accumulated.grads(),
                ClassificationOutput::new(loss, logits, batch.targets),
            ),
            (_, loss, logits) => {
                let combined = data_parallel::combine(self, accumulated.grads(), loss, images);
                let classes = self.net.num_classes();
                let local = logits
                    .map(|logits| vec![logits, batch.targets.clone().float().unsqueeze_dim(1)]);
                let rows = Rows::gather(local.unwrap_or_default(), classes + 1);
                let device = batch.targets.device();
                let item = ClassificationOutput::new(
                    Tensor::from_floats([combined.loss], &device),
                    rows.floats(0..classes, &device),
                    rows.floats(classes..classes + 1, &device)
                        .squeeze_dim(1)
                        .int(),
                );
                (combined.grads, item)
            }
        };
        // Mixed precision checks the whole batch's gradients, the same on every rank: all
        // ranks skip a step that overflowed on any of them, and keep the same loss scale.
        let grads = match &self.mixed {
            Some(scaler) => scaler.unscale(grads, self),
            None => grads,
        };
        TrainOutput { grads, item }
    }
}

/// Per-image values from every rank, in rank order: the global batch's, for its metrics.
struct Rows {
    values: Vec<f32>,
    width: usize,
}

impl Rows {
    /// This rank's `columns` (`[images, width_i]` each, none where it has no image) side by
    /// side, `width` values per image, and every other rank's.
    fn gather(columns: Vec<Tensor<2>>, width: usize) -> Rows {
        let local = match columns.is_empty() {
            true => Vec::new(),
            false => crate::device::read(Tensor::cat(columns, 1), "the step's outputs")
                .unwrap_or_else(|err| ranks::abort(&format!("{err:#}"))),
        };
        Rows {
            values: ranks::gather(&local),
            width,
        }
    }

    fn len(&self) -> usize {
        self.values.len() / self.width
    }

    /// The values of `columns` in every row.
    fn column(&self, columns: std::ops::Range<usize>) -> Vec<f32> {
        self.values
            .chunks(self.width)
            .flat_map(|row| row[columns.clone()].iter().copied())
            .collect()
    }

    fn floats(&self, columns: std::ops::Range<usize>, device: &Device) -> Tensor<2> {
        let shape = [self.len(), columns.len()];
        Tensor::from_data(TensorData::new(self.column(columns), shape), device)
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
        let images = batch.targets.dims()[0];
        let outputs = (images > 0).then(|| {
            let logits = self.logits(batch.images.clone());
            // Per-image losses, so that burn weighs a smaller last batch by its size.
            let targets = batch.targets.clone().unsqueeze_dim(1);
            let losses = log_softmax(logits.clone(), 1).gather(1, targets).neg();
            (logits, losses)
        });
        match (ranks::world().size, outputs) {
            (1, Some((logits, losses))) => ValidationOutput {
                losses: losses.squeeze_dim(1),
                logits,
                targets: batch.targets,
                marks: batch.marks,
            },
            // Several ranks: each validates its part of the batch, and every rank's metrics
            // see the whole batch, as one process would.
            (_, outputs) => {
                let classes = self.net.num_classes();
                let marks: Vec<f32> = batch
                    .marks
                    .iter()
                    .flatten()
                    // Marks travel with the logits as their characters' codes.
                    .map(|&m| f32::from(m.as_char() as u8))
                    .collect();
                let device = batch.targets.device();
                let local = outputs.map(|(logits, losses)| {
                    let marks = Tensor::<1>::from_floats(marks.as_slice(), &device);
                    vec![
                        logits,
                        losses,
                        batch.targets.clone().float().unsqueeze_dim(1),
                        marks.reshape([images, classes]),
                    ]
                });
                let rows = Rows::gather(local.unwrap_or_default(), 2 * classes + 2);
                let marks = rows.column(classes + 2..2 * classes + 2);
                ValidationOutput {
                    logits: rows.floats(0..classes, &device),
                    losses: rows.floats(classes..classes + 1, &device).squeeze_dim(1),
                    targets: rows
                        .floats(classes + 1..classes + 2, &device)
                        .squeeze_dim(1)
                        .int(),
                    marks: Arc::new(
                        marks
                            .chunks(classes)
                            .map(|row| row.iter().map(|&code| mark_of(code)).collect())
                            .collect(),
                    ),
                }
            }
        }
    }
}

/// The mark whose character code a rank sent.
fn mark_of(code: f32) -> Mark {
    Mark::from_char(char::from(code as u8)).expect("ranks send label marks' characters")
}

/// A validation batch's results, with the label marks the FashionAI metrics need.
pub struct ValidationOutput {
    losses: Tensor<1>,
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    marks: Arc<Vec<Vec<Mark>>>,
}

impl ItemLazy for ValidationOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.losses.device().flush()?;
        Ok(self)
    }
}

impl Adaptor<AccuracyInput> for ValidationOutput {
    fn adapt(&self) -> AccuracyInput {
        AccuracyInput::new(self.logits.clone(), self.targets.clone())
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
            marks: self.marks.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Distribution;
    use shared::model::Arch;

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
