//! What burn-train's Learner calls: one training step (forward, the loss of `loss`, backward),
//! the optimiser's step (and `--model-ema`'s update after it) and one validation step, on
//! whatever device the batch lives on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::ExecutionError;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use shared::heads::Heads;
use shared::model::{Arch, Net};
use shared::precision::Precision;
use shared::tasks::Mark;

use super::checkpoint::Writes;
use super::loader::Batch;
use super::loss::{Criterion, Scored, score};
use super::metrics::{OfAverage, RankingInput};
use super::optimizer::clip_grad_norm;
use super::precision::LossScaler;
use super::teacher::Teacher;
use super::{data_parallel, depth, ema};
use crate::ranks;
use crate::recipe::TrainConfig;

/// The network as burn-train sees it. A wrapper because burn-train's step traits and the
/// model live in other crates.
#[derive(Module, Debug)]
pub struct Classifier {
    pub net: Net,
    /// `--model-ema`'s average of `net`, validated and checkpointed beside it.
    pub ema: Option<Net>,
    /// The decay of the average's updates.
    #[module(skip)]
    pub ema_decay: ema::Decay,
    /// The tasks and classes of `net`'s outputs.
    #[module(skip)]
    pub heads: Heads,
    /// The loss scale of mixed-precision training (`--precision f16`); `None` in f32.
    #[module(skip)]
    pub mixed: Option<LossScaler>,
    /// Forward and backward passes per step (`--accumulate`), each over an equal part of the
    /// batch.
    #[module(skip)]
    pub passes: usize,
    /// The training loss (label smoothing, class weights).
    #[module(skip)]
    pub criterion: Criterion,
    /// `--clip-grad-norm`.
    #[module(skip)]
    pub clip_grad_norm: Option<f64>,
    /// `--freeze-epochs`: the training steps (from 0) before this one train the classifier
    /// only.
    #[module(skip)]
    pub frozen_until: usize,
    /// Training steps taken, shared by the clones burn-train's steps receive.
    #[module(skip)]
    pub steps: Arc<AtomicUsize>,
    /// The network's architecture (which of its parameters are the classifier's).
    #[module(skip)]
    pub arch: Arch,
    /// The checkpoint being written, which a step waits for.
    #[module(skip)]
    pub writes: Writes,
    /// `trainer distill`'s teacher, whose softened probabilities join the loss.
    #[module(skip)]
    pub teacher: Option<Teacher>,
}

impl Classifier {
    /// The model as `config` trains it: in f32, or in mixed precision from its loss scale.
    pub fn new(net: Net, heads: Heads, config: &TrainConfig) -> Self {
        let mixed =
            (config.precision == Precision::F16).then(|| LossScaler::new(config.loss_scale));
        let regularisation = &config.regularisation;
        Self {
            ema: regularisation.model_ema.then(|| ema::copy_of(&net)),
            ema_decay: ema::Decay::of(regularisation),
            net,
            heads,
            mixed,
            passes: config.accumulate,
            criterion: Criterion {
                label_smoothing: config.regularisation.label_smoothing,
                class_weights: None,
            },
            clip_grad_norm: config.optimizer.clip_grad_norm,
            frozen_until: 0,
            steps: Arc::default(),
            arch: config.model.arch,
            writes: Writes::default(),
            teacher: None,
        }
    }

    /// Distils `teacher` into this model (`trainer distill`).
    pub fn with_teacher(mut self, teacher: Teacher) -> Self {
        self.teacher = Some(teacher);
        self
    }

    /// Each training step first waits for the checkpoint being written, so that no step of
    /// the next epoch can fail the device while the last one's is read from it.
    pub fn waiting_for(mut self, writes: &Writes) -> Self {
        self.writes = writes.clone();
        self
    }

    /// Trains the classifier only until step `until` (`--freeze-epochs`), counting from
    /// `taken` steps already taken (a resumed run's).
    pub fn frozen(mut self, until: usize, taken: usize) -> Self {
        self.frozen_until = until;
        self.steps = Arc::new(AtomicUsize::new(taken));
        self
    }

    /// The loss weighs each output's class by `weights` (`--class-weights`).
    pub fn with_class_weights(mut self, weights: Vec<f32>) -> Self {
        self.criterion.class_weights = Some(weights);
        self
    }

    /// The logits, through a frozen backbone when `frozen`: it runs without autodiff (so
    /// BatchNorm normalises with, and keeps, its running statistics, and nothing of it gets a
    /// gradient), and only the classifier trains.
    fn logits(&self, images: Tensor<4>, frozen: bool) -> Tensor<2> {
        let dtype = self.dtype();
        if !frozen {
            return self.net.forward_in(images, dtype);
        }
        let features = self
            .net
            .valid()
            .features_in(images.without_autodiff(), dtype);
        self.net.classify(features.autodiff())
    }

    /// A pass's loss: the mean cross-entropy of its `len` images (as PyTorch's
    /// `CrossEntropyLoss`) weighted by their share of the batch's `images`, or with the
    /// criterion's options, its terms over the batch's `total` weight.
    fn share(
        &self,
        part: &Scored,
        total: Option<&Tensor<1>>,
        len: usize,
        images: usize,
    ) -> Tensor<1> {
        match total {
            None => part
                .log_likelihoods
                .clone()
                .mean()
                .neg()
                .mul_scalar(len as f32 / images as f32),
            Some(total) => self.criterion.terms(part).sum() / total.clone(),
        }
    }

    /// The arithmetic of the convolutions.
    fn dtype(&self) -> burn::tensor::FloatDType {
        match self.mixed {
            Some(_) => Precision::F16,
            None => Precision::F32,
        }
        .dtype()
    }
}

impl TrainStep for Classifier {
    type Input = Batch;
    type Output = ClassificationOutput;

    /// The batch's gradients, from one pass or, with `--accumulate`, summed over several:
    /// each pass's loss is its part's mean, weighted by the part's share of the batch (its
    /// terms over the whole batch's weight, with the criterion's options), so the sum is the
    /// gradient of the whole batch's loss and the learning rate keeps its meaning. Only one
    /// part's activations are alive at a time. (Parts are equal but for a batch that lost an
    /// unreadable image.)
    fn step(&self, batch: Batch) -> TrainOutput<ClassificationOutput> {
        self.writes.wait();
        let fail = injected_failure_due();
        let frozen = self.steps.fetch_add(1, Ordering::Relaxed) < self.frozen_until;
        // In mixed precision the loss is also scaled up (precision.rs).
        let scale = self.mixed.as_ref().map_or(1.0, LossScaler::scale);
        let images = batch.targets.dims()[0];
        let total_weight =
            self.criterion
                .total_weight(&self.heads, batch.targets.clone(), &batch.tasks);
        // The mixed batch's second targets' weight, once for all passes.
        let other_total = batch.mixed.as_ref().and_then(|mixed| {
            self.criterion
                .total_weight(&self.heads, mixed.targets.clone(), &mixed.tasks)
        });
        let mut accumulated = GradientsAccumulator::new();
        let (mut logits, mut targets, mut losses) = (Vec::new(), Vec::new(), Vec::new());
        for pass in 0..self.passes {
            let start = pass * images / self.passes;
            let len = (pass + 1) * images / self.passes - start;
            if len == 0 {
                continue;
            }
            let part_images = batch.images.clone().narrow(0, start, len);
            let outputs = self.logits(part_images.clone(), frozen);
            // The teacher scores the very images the student sees (augmented, mixed).
            let distilled = self.teacher.as_ref().map(|teacher| {
                let tasks = &batch.tasks[start..start + len];
                let mixed = (batch.mixed.as_ref())
                    .map(|mixed| (&mixed.tasks[start..start + len], mixed.lambda));
                let term = teacher.loss(part_images, outputs.clone(), tasks, mixed);
                (teacher.alpha(), term.mul_scalar(len as f32 / images as f32))
            });
            let mut part = score(
                &self.heads,
                outputs.clone(),
                batch.targets.clone().narrow(0, start, len),
                &batch.tasks[start..start + len],
            );
            let mut share = self.share(&part, total_weight.as_ref(), len, images);
            // MixUp and CutMix: the loss of the mixed targets, lambda of the image's own and
            // 1 - lambda of the previous image's; the metrics take the larger share's.
            if let Some(mixed) = &batch.mixed {
                let other = score(
                    &self.heads,
                    outputs,
                    mixed.targets.clone().narrow(0, start, len),
                    &mixed.tasks[start..start + len],
                );
                let other_share = self.share(&other, other_total.as_ref(), len, images);
                share = share.mul_scalar(mixed.lambda) + other_share.mul_scalar(1.0 - mixed.lambda);
                if mixed.lambda < 0.5 {
                    part = other;
                }
            }
            if let Some((alpha, term)) = distilled {
                share = share.mul_scalar(1.0 - alpha) + term.mul_scalar(alpha);
            }
            if fail {
                // More than any GPU holds in one buffer (at most 4 GiB): the allocation fails
                // as it does when a device runs out of memory mid-run.
                let huge = Tensor::<1>::zeros([1usize << 31], &share.device());
                share = share + huge.sum();
            }
            let grads = share.clone().mul_scalar(scale).backward();
            accumulated.accumulate(self, GradientsParams::from_grads(grads, self));
            logits.push(part.logits);
            targets.push(part.targets);
            losses.push(share);
        }
        let loss = (!losses.is_empty()).then(|| Tensor::cat(losses, 0).sum());
        let logits = (!logits.is_empty()).then(|| Tensor::cat(logits, 0));
        let targets = (!targets.is_empty()).then(|| Tensor::cat(targets, 0));
        let (grads, item) = match (ranks::world().size, loss, logits.zip(targets)) {
            (1, Some(loss), Some((logits, targets))) => (
                accumulated.grads(),
                ClassificationOutput::new(loss, logits, targets),
            ),
            (_, loss, outputs) => {
                // Each rank's gradient is of its part's weighted mean: weighted by the part's
                // total weight, their sum is the global batch's.
                let weight = match (&self.criterion.class_weights, total_weight) {
                    (Some(_), Some(total)) => crate::device::read(total, "the batch's weight")
                        .unwrap_or_else(|err| ranks::abort(&format!("{err:#}")))[0],
                    _ => images as f32,
                };
                // A frozen backbone has no gradient on any rank.
                let trained = frozen.then(|| depth::classifier_params(self.arch, self));
                let combined = data_parallel::combine(
                    self,
                    accumulated.grads(),
                    loss,
                    weight,
                    trained.as_ref(),
                );
                let classes = self.heads.width();
                let local =
                    outputs.map(|(logits, targets)| vec![logits, targets.float().unsqueeze_dim(1)]);
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
        let grads = match self.clip_grad_norm {
            Some(max_norm) => clip_grad_norm(grads, self, max_norm),
            None => grads,
        };
        TrainOutput { grads, item }
    }

    /// The optimiser's step, then the average's update (timm's order).
    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        let mut model = optim.step(lr, self, grads);
        if let Some(average) = model.ema.take() {
            // `step` counted this step: updates are numbered from 1.
            let decay = model.ema_decay.at(model.steps.load(Ordering::Relaxed));
            model.ema = Some(ema::update(average, &model.net, decay));
        }
        model
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

    /// The trained weights' results and, with `--model-ema`, the average's.
    fn step(&self, batch: Batch) -> ValidationOutput {
        let mut output = self.validate(&self.net, &batch);
        if let Some(average) = &self.ema {
            output.ema = Some(Box::new(self.validate(average, &batch)));
        }
        output
    }
}

impl Classifier {
    /// `net`'s results on a validation batch.
    fn validate(&self, net: &Net, batch: &Batch) -> ValidationOutput {
        let images = batch.targets.dims()[0];
        let outputs = (images > 0).then(|| {
            let logits = net.forward_in(batch.images.clone(), self.dtype());
            let scored = score(&self.heads, logits, batch.targets.clone(), &batch.tasks);
            // Per-image losses, so that burn weighs a smaller last batch by its size.
            (scored.probabilities(), scored.log_likelihoods.neg())
        });
        match (ranks::world().size, outputs) {
            (1, Some((probabilities, losses))) => ValidationOutput::new(
                losses,
                probabilities,
                batch.marks.clone(),
                batch.tasks.clone(),
            ),
            // Several ranks: each validates its part of the batch, and every rank's metrics
            // see the whole batch, as one process would.
            (_, outputs) => {
                let width = self.heads.width();
                // Marks travel with the probabilities as their characters' codes, in the
                // columns of the image's task head.
                let mut marks = vec![0.0f32; images * width];
                for (image, (row, &task)) in batch.marks.iter().zip(batch.tasks.iter()).enumerate()
                {
                    for (mark, column) in row.iter().zip(self.heads.columns(task)) {
                        marks[image * width + column] = f32::from(mark.as_char() as u8);
                    }
                }
                let tasks: Vec<f32> = batch.tasks.iter().map(|&task| task as f32).collect();
                let device = batch.targets.device();
                let local = outputs.map(|(probabilities, losses)| {
                    let marks = Tensor::<1>::from_floats(marks.as_slice(), &device);
                    vec![
                        probabilities,
                        losses.unsqueeze_dim(1),
                        Tensor::<1>::from_floats(tasks.as_slice(), &device).unsqueeze_dim(1),
                        marks.reshape([images, width]),
                    ]
                });
                let rows = Rows::gather(local.unwrap_or_default(), 2 * width + 2);
                let tasks: Vec<usize> = rows
                    .column(width + 1..width + 2)
                    .into_iter()
                    .map(|task| task as usize)
                    .collect();
                let marks = rows
                    .column(width + 2..2 * width + 2)
                    .chunks(width)
                    .zip(&tasks)
                    .map(|(row, &task)| {
                        row[self.heads.columns(task)]
                            .iter()
                            .map(|&code| mark_of(code))
                            .collect()
                    })
                    .collect();
                ValidationOutput::new(
                    rows.floats(width..width + 1, &device).squeeze_dim(1),
                    rows.floats(0..width, &device),
                    Arc::new(marks),
                    Arc::new(tasks),
                )
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
    /// Over each image's heads (`loss::Scored::probabilities`).
    probabilities: Tensor<2>,
    marks: Arc<Vec<Vec<Mark>>>,
    tasks: Arc<Vec<usize>>,
    /// `probabilities` read from the device once, for every metric.
    read: Arc<OnceLock<Vec<f32>>>,
    /// The same of `--model-ema`'s average.
    ema: Option<Box<ValidationOutput>>,
}

impl ValidationOutput {
    fn new(
        losses: Tensor<1>,
        probabilities: Tensor<2>,
        marks: Arc<Vec<Vec<Mark>>>,
        tasks: Arc<Vec<usize>>,
    ) -> Self {
        ValidationOutput {
            losses,
            probabilities,
            marks,
            tasks,
            read: Arc::default(),
            ema: None,
        }
    }
}

impl ItemLazy for ValidationOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.losses.device().flush()?;
        Ok(self)
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
            probabilities: self.probabilities.clone(),
            marks: self.marks.clone(),
            tasks: self.tasks.clone(),
            read: self.read.clone(),
        }
    }
}

/// The average's results, for the `EMA` metrics.
impl<T> Adaptor<OfAverage<T>> for ValidationOutput
where
    ValidationOutput: Adaptor<T>,
{
    fn adapt(&self) -> OfAverage<T> {
        OfAverage(
            self.ema
                .as_ref()
                .map(|ema| Adaptor::<T>::adapt(ema.as_ref())),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Distribution;
    use shared::model::Arch;

    use super::*;

    /// Every gradient of `module`, flattened, in the module's order (parameters without one,
    /// such as frozen ones and BatchNorm's running statistics, are left out).
    pub(crate) fn flat_gradients<M: Module>(grads: &GradientsParams, module: &M) -> Vec<f32> {
        let mut flatten = Flatten {
            grads,
            values: Vec::new(),
        };
        module.visit(&mut flatten);
        flatten.values
    }

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
            tasks: Arc::new(vec![0; targets.len()]),
            mixed: None,
        };
        let grads = TrainStep::step(model, batch).grads;
        flat_gradients(&grads, model)
    }

    /// `--accumulate 2`: a step's gradient is the mean of its two halves' gradients, each
    /// computed as a step of its own (BatchNorm normalising over each half in both).
    #[test]
    fn accumulated_gradients_are_the_mean_of_the_parts() {
        let device = Device::flex().autodiff();
        let mut config = TrainConfig {
            batch_size: 4,
            accumulate: 2,
            ..TrainConfig::default()
        };
        config.model.arch = Arch::Resnet18;
        config.model.width_mult = 4.0 / 64.0;
        config.model.input_size = Some(32);
        let heads = Heads::single("t", vec!["a".into(), "b".into(), "c".into()]).unwrap();
        let net = config.net(3).init(&device);
        let images = Tensor::<4>::random([4, 3, 32, 32], Distribution::Default, &device);
        let targets = [0, 2, 1, 1];
        let whole = gradients(
            &Classifier::new(net.clone(), heads.clone(), &config),
            images.clone(),
            &targets,
        );

        let single = TrainConfig {
            accumulate: 1,
            ..config
        };
        let model = Classifier::new(net, heads, &single);
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

    /// Every parameter and BatchNorm statistic of `module`, flattened, by position.
    fn weights<M: Module>(module: &M) -> Vec<Vec<f32>> {
        struct All(Vec<Vec<f32>>);
        impl ModuleVisitor for All {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let values = param.val().into_data().convert::<f32>();
                self.0.push(values.try_to_vec::<f32>().unwrap());
            }
        }
        let mut all = All(Vec::new());
        module.valid().visit(&mut all);
        all.0
    }

    /// A ResNet-18 four channels wide on 32-pixel images, in batches of 4 over 3 classes.
    fn tiny() -> (TrainConfig, Heads) {
        let mut config = TrainConfig {
            batch_size: 4,
            ..TrainConfig::default()
        };
        config.model.arch = Arch::Resnet18;
        config.model.width_mult = 4.0 / 64.0;
        config.model.input_size = Some(32);
        let heads = Heads::single("t", vec!["a".into(), "b".into(), "c".into()]).unwrap();
        (config, heads)
    }

    /// burn-train's Learner over `model` as `config` trains it, one step per epoch.
    fn learner(model: Classifier, config: &TrainConfig) -> burn::train::Learner<Classifier> {
        let optim = super::super::optimizer::optimizer(&config.optimizer, &model);
        let schedule = super::super::schedule::schedule(config, 1, &model);
        burn::train::Learner::new(model, optim, schedule)
    }

    /// A batch of 4 random images, the same for the same seed.
    fn batch(seed: u64, device: &Device) -> Batch {
        device.seed(seed);
        Batch {
            images: Tensor::random([4, 3, 32, 32], Distribution::Default, device),
            targets: Tensor::from_data(TensorData::from([0i64, 2, 1, 1]), device),
            marks: Arc::new(vec![vec![Mark::No; 3]; 4]),
            tasks: Arc::new(vec![0; 4]),
            mixed: None,
        }
    }

    /// One training step of `learner` through its optimiser, as burn-train's loop takes it.
    fn train_step(learner: &mut burn::train::Learner<Classifier>, batch: Batch) {
        let output = learner.train_step(batch);
        learner.lr_step();
        learner.optimizer_step(output.grads);
    }

    /// `--model-ema`: after each optimiser step the average moves towards the trained weights
    /// and statistics by that step's decay; the first copies them.
    #[test]
    fn the_average_follows_each_optimiser_step() {
        let device = Device::flex().autodiff();
        let (mut config, heads) = tiny();
        config.regularisation.model_ema = true;
        config.regularisation.model_ema_decay = 0.6;
        let model = Classifier::new(config.net(3).init(&device), heads, &config);
        let mut learner = learner(model, &config);
        let mut expected: Option<Vec<Vec<f32>>> = None;
        for step in 1..=3 {
            train_step(&mut learner, batch(step as u64, &device));
            let model = learner.model();
            let trained = weights(&model.net);
            let decay = model.ema_decay.at(step) as f32;
            let next = match expected {
                None => trained.clone(),
                Some(previous) => previous
                    .iter()
                    .zip(&trained)
                    .map(|(p, t)| p.iter().zip(t).map(|(p, t)| decay * p + (1.0 - decay) * t))
                    .map(Iterator::collect)
                    .collect(),
            };
            let average = weights(model.ema.as_ref().unwrap());
            for (got, want) in average.iter().flatten().zip(next.iter().flatten()) {
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1e-2),
                    "step {step}"
                );
            }
            if step > 1 {
                assert_ne!(average, weights(&model.net), "step {step}: no average");
            }
            expected = Some(next);
        }
    }

    /// `--freeze-epochs`: during the frozen steps the backbone's weights and BatchNorm
    /// statistics stay bit-identical while the classifier learns; after, everything moves.
    #[test]
    fn a_frozen_backbone_does_not_move() {
        let device = Device::flex().autodiff();
        let (mut config, heads) = tiny();
        // AdamW's decoupled decay would move every weight it steps.
        config.optimizer.opt = crate::recipe::Opt::Adamw;
        config.optimizer.weight_decay = 0.05;
        let model = Classifier::new(config.net(3).init(&device), heads, &config).frozen(2, 0);
        let mut learner = learner(model, &config);
        let start = weights(&learner.model());
        let head = depth::classifier_params(Arch::Resnet18, &learner.model()).len();
        assert_eq!(head, 2, "fc's weight and bias");
        let mut step = |seed| {
            train_step(&mut learner, batch(seed, &device));
            weights(&learner.model())
        };
        let (first, second, third) = (step(1), step(2), step(3));
        // The last two tensors are fc's weight and bias (the module's order).
        let backbone = start.len() - 2;
        for frozen in [&first, &second] {
            assert_eq!(
                &frozen[..backbone],
                &start[..backbone],
                "the backbone moved"
            );
            assert_ne!(
                &frozen[backbone..],
                &start[backbone..],
                "the classifier is stuck"
            );
        }
        let moved = (0..backbone).filter(|&i| third[i] != second[i]).count();
        // Every weight and statistic moves once unfrozen.
        assert_eq!(moved, backbone);
    }
}
