//! `trainer train`: fine-tunes a network of the zoo (`--arch`) on a prepared run folder with
//! burn-train's Learner.
//!
//! The Learner runs the loop, the metrics and the checkpoints; this module supplies the
//! pieces burn lacks: the image pipeline (`loader`), the FashionAI metrics (`metrics`),
//! atomic checkpoints (`checkpoint`), the metrics file and curves (`history`) and
//! the progress bars (`progress`).

pub mod checkpoint;
mod data_parallel;
pub mod history;
pub mod loader;
mod loss;
pub mod metric_names;
pub mod metrics;
pub mod precision;
mod progress;
pub mod schedule;
pub mod step;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::train::checkpoint::{
    CheckpointerError, ComposedCheckpointingStrategy, KeepLastNCheckpoints,
    MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining, TrainingError};
use clap::Args;
use serde::{Deserialize, Serialize};
use shared::bundle::{MAX_CROP, MIN_CROP};
use shared::heads::Heads;
use shared::model::{Arch, Family, Net, NetConfig, RESNET_BASE_WIDTH};
use shared::precision::Precision;
use shared::preprocess::InputSize;
use shared::weights::{Head, inspect, load_torchvision};

use crate::atomic::write_atomic;
use crate::data::Manifest;
use crate::device::{self, Compute, DeviceChoice, fit};
use crate::pretrained::Pretrained;
use crate::ranks;
use crate::run;
use checkpoint::{AtomicCheckpointer, latest_complete};
use history::History;
use loader::{BadImages, ImageLoader, Mode};
use metrics::{Ranking, RankingMetric};
use step::Classifier;

/// The recipe: the tutorial's values are the defaults.
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    /// The architecture, by torchvision's name: resnet18, resnet34, resnet50, resnet101,
    /// resnet152, mobilenet_v3_large, mobilenet_v3_small, efficientnet_b0 to efficientnet_b3.
    #[arg(long, default_value = "resnet50")]
    pub arch: Arch,
    /// Starting weights: a torchvision `.pth`/`.safetensors` file, `imagenet` (torchvision's
    /// V1 weights, downloaded once into torch.hub's cache), `imagenet-v2`, or `none`.
    #[arg(long, default_value = "imagenet")]
    pub pretrained: String,
    /// Passes over the training images.
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    /// Images per SGD step (an incomplete last batch is dropped, as in the tutorial).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Passes per SGD step: each step averages the gradients of K micro-batches of
    /// batch-size/K images, for a batch that does not fit the device at once. The learning
    /// rate keeps its meaning; BatchNorm normalises over each micro-batch, as in PyTorch.
    #[arg(long, default_value_t = 1)]
    #[serde(default = "one")]
    pub accumulate: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.001)]
    pub lr: f64,
    /// SGD momentum (PyTorch's: no dampening).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 penalty added to every gradient, as torch.optim.SGD's weight_decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Epochs after which the learning rate is multiplied by --lr-factor.
    #[arg(long, value_delimiter = ',', default_value = "10,20,30")]
    pub lr_steps: Vec<usize>,
    /// Learning-rate multiplier applied at each of --lr-steps.
    #[arg(long, default_value_t = 0.75)]
    pub lr_factor: f64,
    /// Seed of the batch order, the crops and flips, and the new classifier's initialisation.
    #[arg(long, default_value_t = 1024)]
    pub seed: u64,
    /// Side of the square the network sees (default: the architecture's, as its ImageNet
    /// weights were evaluated: 224, efficientnet_b1 240, b2 288, b3 300); images are first
    /// resized by the architecture's ratio (ResNet: to 256/224 of it).
    #[arg(long)]
    pub input_size: Option<u32>,
    /// torchvision's `width_mult`: every layer's channels times this (1 = torchvision's
    /// models). Smaller values make a narrow model for quick experiments; a pretrained weight
    /// file must have the same width.
    #[arg(long, default_value_t = 1.0)]
    #[serde(default = "full_width")]
    pub width_mult: f64,
    /// ResNet only: channels of the first stage (64 = torchvision), the same as
    /// --width-mult N/64.
    #[arg(long, conflicts_with = "width_mult")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_width: Option<usize>,
    /// Arithmetic of the convolutions: f32, or f16 from f32 master weights with dynamic loss
    /// scaling (mixed precision: faster on GPUs with f16 matrix units).
    #[arg(long, value_enum, default_value = "f32")]
    #[serde(default)]
    pub precision: Precision,
    /// Starting loss scale of `--precision f16` (PyTorch's GradScaler starts at 65536): it
    /// halves, skipping the step, whenever a gradient overflows, and doubles after 2000
    /// clean steps.
    #[arg(long, default_value_t = precision::INITIAL_SCALE)]
    #[serde(default = "precision::initial_scale")]
    pub loss_scale: f32,
}

/// `accumulate` of run settings written before `--accumulate` existed.
fn one() -> usize {
    1
}

/// `width_mult` of run settings written before it existed (they say `base_width`).
fn full_width() -> f64 {
    1.0
}

impl Default for TrainConfig {
    /// The tutorial's recipe: the command line's defaults, written once (above).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: TrainConfig,
        }
        <Defaults as clap::Parser>::parse_from(["train"]).config
    }
}

impl TrainConfig {
    /// The preprocessing: the architecture's, at `--input-size` when given.
    pub fn input(&self) -> InputSize {
        let size = self.arch.input_size();
        self.input_size.map_or(size, |crop| size.with_crop(crop))
    }

    /// Settings that cannot train, refused before anything starts.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 || self.accumulate == 0 {
            bail!("--epochs, --batch-size and --accumulate must be at least 1");
        }
        let ranks = ranks::world().size;
        if !self.batch_size.is_multiple_of(ranks * self.accumulate) {
            let into = match ranks {
                1 => String::new(),
                _ => format!("{ranks} ranks x "),
            };
            bail!(
                "--batch-size {} cannot be split into {into}--accumulate {} equal micro-batches",
                self.batch_size,
                self.accumulate
            );
        }
        if !(MIN_CROP..=MAX_CROP).contains(&self.input().crop) {
            bail!(
                "--input-size must be from {MIN_CROP} to {MAX_CROP} (the networks downsample 32 \
                 times)"
            );
        }
        match (self.base_width, self.arch.family()) {
            (Some(0), _) => bail!("--base-width must be at least 1"),
            (Some(_), Family::ResNet(_)) | (None, _) => {}
            (Some(_), _) => bail!("--base-width is ResNet's; {} takes --width-mult", self.arch),
        }
        let width = self.width();
        if !(width.is_finite() && width > 0.0 && width <= 16.0) {
            bail!("--width-mult must be a number above 0, at most 16");
        }
        if !(self.loss_scale.is_finite() && self.loss_scale > 0.0) {
            bail!("--loss-scale must be a positive number");
        }
        Ok(())
    }

    /// Images per forward and backward pass (on each rank of a data-parallel run).
    pub fn micro_batch(&self) -> usize {
        self.batch_size / (ranks::world().size * self.accumulate)
    }

    /// torchvision's `width_mult` of the network (`--base-width N` is N/64).
    pub fn width(&self) -> f64 {
        self.base_width.map_or(self.width_mult, |base| {
            base as f64 / RESNET_BASE_WIDTH as f64
        })
    }

    /// The network this recipe trains, with `classes` outputs.
    pub fn model(&self, classes: usize) -> NetConfig {
        NetConfig::new()
            .with_arch(self.arch)
            .with_num_classes(classes)
            .with_width_mult(self.width())
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run folder written by `trainer prepare`; checkpoints, metrics.{json,csv} and
    /// curves.png go there too.
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub config: TrainConfig,
    /// Continue an interrupted run from its last complete checkpoint, with the settings
    /// saved in the run folder (other training flags are ignored).
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
    /// CPU threads decoding images (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Where downloaded ImageNet weights are cached (default: torch.hub's folder).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

/// `trainer train`, as one process or as one rank of several (`mpirun`, `srun`).
pub fn run(args: TrainArgs) -> Result<()> {
    ranks::run_as_rank(args.device, |compute| run_rank(args, compute))
}

fn run_rank(args: TrainArgs, compute: &Compute) -> Result<()> {
    if let Some(workers) = args.workers {
        // Only fails if the pool already exists, which it does not at this point.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build_global();
    }
    let manifest = Manifest::read(&args.run)?;
    let resumed = match args.resume {
        true => resumed_settings(&args.run)?,
        false => None,
    };
    let (config, last_epoch) = match resumed {
        Some(resumed) => resumed,
        None => (new_settings(&args.run, &args.config)?, None),
    };
    let cache = args.cache_dir.as_deref();
    train_from(&args.run, &manifest, &config, last_epoch, cache, compute)
}

/// Trains a new run in the prepared folder `run` with `config` (refused if `run` already
/// holds checkpoints); ImageNet weights come from torch.hub's cache.
pub fn train(run: &Path, config: &TrainConfig, compute: &Compute) -> Result<()> {
    let manifest = Manifest::read(run)?;
    let config = new_settings(run, config)?;
    train_from(run, &manifest, &config, None, None, compute)
}

/// Trains `run` on its split `manifest` from the start, or after `last_epoch` when resuming.
fn train_from(
    run: &Path,
    manifest: &Manifest,
    config: &TrainConfig,
    last_epoch: Option<usize>,
    cache: Option<&Path>,
    compute: &Compute,
) -> Result<()> {
    let world = ranks::world();
    if world.is_root() {
        checkpoint::remove_partial_writes(run);
    }
    let heads = manifest.info.heads()?;
    let on = match world.size {
        1 => compute.name.clone(),
        n => format!("{n} ranks ({} on rank 0)", compute.name),
    };
    let what = match heads.tasks() {
        [task] => format!("{} ({} classes)", task.name, task.classes.len()),
        tasks => format!(
            "{} tasks ({} outputs with the garment head)",
            tasks.len(),
            heads.width()
        ),
    };
    ranks::say(format_args!(
        "training {} on {what}: {} train / {} val images, on {on}",
        config.arch,
        manifest.train.len(),
        manifest.val.len(),
    ));
    if manifest.train.len() < config.batch_size {
        bail!(
            "{} training images, fewer than one batch of {}: lower --batch-size",
            manifest.train.len(),
            config.batch_size
        );
    }
    let footprint = config
        .model(heads.width())
        .footprint(config.input().crop as usize, &Device::flex());
    let per_rank = config.batch_size / world.size;
    fit::check_training(per_rank, config.accumulate, &footprint, compute)?;

    let model = starting_model(config, &heads, last_epoch, cache, &compute.device)?;
    if world.size > 1 {
        let digest = starting_point(run, config, &model.net, last_epoch)?;
        ranks::check_same(&digest, "settings, data or starting weights")?;
    }
    let scaler = model.mixed.clone();
    let bad = BadImages::default();
    let training = supervised_training(run, config, manifest, &heads, last_epoch, compute, &bad)?;
    // Several ranks stop together: on Ctrl-C the launcher ends them all (the checkpoints on
    // disk are complete), where one rank stopping alone would leave the others waiting.
    if world.size == 1 {
        stop_on_ctrl_c(&training)?;
    }
    let iterations = manifest.train.len() / config.batch_size;
    let learner = Learner::new(
        model,
        schedule::sgd(config),
        schedule::lr_schedule(config, iterations)?,
    );
    let result = training.launch(learner);

    if bad.count() > 0 {
        eprintln!("{} unreadable images were skipped", bad.count());
    }
    if let Some(scaler) = scaler.filter(|scaler| scaler.skipped() > 0) {
        println!(
            "f16: {} steps skipped because a gradient overflowed (loss scale now {})",
            scaler.skipped(),
            scaler.scale()
        );
    }
    if let Some(error) = result.error {
        return Err(stopped(&error, run, compute));
    }
    if result.interrupted.is_some() {
        bail!("interrupted; run the same command with --resume to continue");
    }
    match world.is_root() {
        true => report_best(run),
        false => Ok(()),
    }
}

/// A digest of what a rank starts training from: its settings, its data lists and its
/// starting weights (a new run's) or checkpoint (a resumed one's). Ranks that differ in any
/// of them would not train one model.
fn starting_point(
    run: &Path,
    config: &TrainConfig,
    net: &Net,
    last_epoch: Option<usize>,
) -> Result<String> {
    let mut digests = vec![shared::sha256::hex(&serde_json::to_vec(config)?)];
    let mut files = vec![run::train_split(run), run::val_split(run)];
    if let Some(epoch) = last_epoch {
        files.extend(run::CHECKPOINT_PARTS.map(|part| run::checkpoint(run, part, epoch)));
    }
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        digests.push(shared::sha256::hex(&bytes));
    }
    if last_epoch.is_none() {
        let mut weights = Weights::default();
        net.visit(&mut weights);
        // One read of all of them: a read is a round trip to the device.
        let values = device::read(Tensor::cat(weights.0, 0), "the starting weights")?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        digests.push(shared::sha256::hex(&bytes));
    }
    Ok(digests.concat())
}

/// Every weight and statistic of a module, flattened, in its order.
#[derive(Default)]
struct Weights(Vec<Tensor<1>>);

impl ModuleVisitor for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .push(param.val().without_autodiff().flatten(0, D - 1));
    }
}

/// The model to start from: ImageNet (or given) weights with a new classifier, or, when
/// resuming, the bare structure that the checkpoint fills. It lives on the autodiff device,
/// so that its parameters are tracked (and BatchNorm updates its running statistics);
/// validation strips autodiff again.
fn starting_model(
    config: &TrainConfig,
    heads: &Heads,
    last_epoch: Option<usize>,
    cache: Option<&Path>,
    device: &Device,
) -> Result<Classifier> {
    let train_device = device.clone().autodiff();
    let outputs = heads.width();
    let net = match last_epoch {
        Some(_) => config.model(outputs).init(&train_device),
        None => initial_model(config, outputs, cache, &train_device)?,
    };
    Ok(Classifier::new(net, heads.clone(), config))
}

/// burn-train's loop with our loaders, metrics, metric files, atomic checkpoints (the last
/// two epochs and the best) and progress bars.
fn supervised_training(
    run: &Path,
    config: &TrainConfig,
    manifest: &Manifest,
    heads: &Heads,
    last_epoch: Option<usize>,
    compute: &Compute,
    bad: &BadImages,
) -> Result<SupervisedTraining<Classifier>> {
    let size = config.input();
    let train_loader = ImageLoader::new(
        manifest.train.clone(),
        config.batch_size,
        size,
        Mode::Train { seed: config.seed },
        bad.clone(),
    )
    .start_at_epoch(last_epoch.unwrap_or(0) + 1);
    // Validation batches as large as a training pass on each rank: what fits the device.
    let val_loader = ImageLoader::new(
        manifest.val.clone(),
        config.micro_batch() * ranks::world().size,
        size,
        Mode::Eval,
        bad.clone(),
    );
    // Over several tasks, the mean of the tasks' APs.
    let best = RankingMetric::new(Ranking::FashionAiAp, heads);
    let root = ranks::world().is_root();
    let bar = match root {
        true => indicatif::ProgressBar::new(0),
        false => indicatif::ProgressBar::hidden(),
    };
    let strategy = ComposedCheckpointingStrategy::builder()
        .add(KeepLastNCheckpoints::new(2))
        .add(MetricCheckpointingStrategy::new(
            &best,
            Aggregate::Mean,
            Direction::Highest,
            Split::Valid,
        ))
        .build();
    let mut training = SupervisedTraining::new(run, Arc::new(train_loader), Arc::new(val_loader))
        .metric_train_numeric(LossMetric::new())
        .metric_train_numeric(AccuracyMetric::new())
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_valid_numeric(RankingMetric::new(Ranking::Accuracy, heads))
        .metric_valid_numeric(RankingMetric::new(Ranking::MrrAp, heads))
        .metric_valid_numeric(best)
        .metric_valid_numeric(RankingMetric::new(Ranking::BasicPrecision, heads))
        .with_metric_logger(History::open(
            run,
            last_epoch.unwrap_or(0),
            config.epochs,
            bar.clone(),
            root,
        )?)
        .with_custom_checkpointers(
            AtomicCheckpointer::new(run, "model", compute),
            AtomicCheckpointer::new(run, "optim", compute),
            AtomicCheckpointer::new(run, "scheduler", compute),
        )
        .with_checkpointing_strategy(strategy)
        .with_application_logger(None)
        .renderer(Box::new(progress::Bars::new(bar)))
        .num_epochs(config.epochs);
    if heads.is_multi_task() {
        training = training.metric_valid_numeric(RankingMetric::new(Ranking::Garment, heads));
        for task in 0..heads.tasks().len() {
            for kind in [Ranking::Accuracy, Ranking::MrrAp, Ranking::FashionAiAp] {
                training = training.metric_valid_numeric(RankingMetric::of_task(kind, heads, task));
            }
        }
    }
    if let Some(epoch) = last_epoch {
        ranks::say(format_args!("resuming after epoch {epoch}"));
        training = training.checkpoint(epoch);
    }
    Ok(training)
}

/// The first Ctrl-C stops after the current batch; a second one stops now. Either way the
/// checkpoints on disk are complete (they are written atomically).
fn stop_on_ctrl_c(training: &SupervisedTraining<Classifier>) -> Result<()> {
    let interrupter = training.interrupter();
    ctrlc::set_handler(move || {
        if interrupter.should_stop() {
            std::process::exit(130);
        }
        eprintln!("\nstopping (Ctrl-C again to quit now); continue later with --resume");
        interrupter.stop(Some("Ctrl-C"));
    })
    .context("installing the Ctrl-C handler")
}

/// The message of a run that stopped on an error, with what is left to resume from.
fn stopped(error: &TrainingError, run: &Path, compute: &Compute) -> anyhow::Error {
    match error {
        // Our checkpointer's messages are complete (file and cause); burn's wrapping adds
        // nothing.
        TrainingError::Checkpoint(CheckpointerError::Unknown(reason)) => {
            anyhow!("training stopped: {reason}\n{}", resume_hint(run))
        }
        TrainingError::EventProcessor(_) => anyhow!(
            "training stopped: a step failed on {} {}\n{}\ndetails: {error}",
            compute.name,
            fit::FAILURE_CAUSES,
            resume_hint(run)
        ),
        error => anyhow!("training stopped: {error}\n{}", resume_hint(run)),
    }
}

/// What is left after a failed step: the last complete checkpoint, and how to go on from it.
fn resume_hint(run: &Path) -> String {
    match latest_complete(run) {
        Some(epoch) => format!(
            "the checkpoint of epoch {epoch} is complete: continue with --resume (on a \
             device with enough free memory)"
        ),
        None => "no epoch was complete: nothing to resume".into(),
    }
}

/// The settings saved in the run folder (so that `--resume` continues the same schedule) and
/// the last complete epoch; `None` where the run has not saved settings yet.
fn resumed_settings(run: &Path) -> Result<Option<(TrainConfig, Option<usize>)>> {
    let path = run::settings_json(run);
    if !path.is_file() {
        return Ok(None);
    }
    let config = run::read_settings(run)?;
    config
        .validate()
        .with_context(|| format!("{}: bad settings", path.display()))?;
    let last = latest_complete(run);
    if last.is_none() {
        ranks::say(format_args!(
            "no complete checkpoint yet: starting from the beginning"
        ));
    }
    Ok(Some((config, last)))
}

/// Checks and saves the settings of a new run; refused where `run` already holds checkpoints.
fn new_settings(run: &Path, config: &TrainConfig) -> Result<TrainConfig> {
    if let Some(epoch) = latest_complete(run) {
        bail!(
            "{} already holds checkpoints (up to epoch {epoch}): pass --resume to continue \
             that training, or use another run folder",
            run.display()
        );
    }
    config.validate()?;
    if ranks::world().is_root() {
        write_atomic(
            &run::settings_json(run),
            &serde_json::to_vec_pretty(config)?,
        )?;
    }
    Ok(config.clone())
}

/// A pretrained network with a new final Linear of `outputs`, or a random one, moved to the
/// training `device`. It is initialised on the seeded CPU backend whatever the device, so
/// that the same seed gives the same starting weights on every backend.
fn initial_model(
    config: &TrainConfig,
    outputs: usize,
    cache: Option<&Path>,
    device: &Device,
) -> Result<Net> {
    let cpu = Device::flex();
    cpu.seed(config.seed);
    let cpu = cpu.autodiff();
    let pretrained: Pretrained = config.pretrained.parse()?;
    // One rank at a time, so that only the first downloads the weights.
    let weights = ranks::in_turn(|| pretrained.resolve(config.arch, cache.map(Path::to_path_buf)))?;
    let net = match weights {
        Some(path) => {
            let width = inspect(&path)?.width_mult;
            if (width - config.width()).abs() > 1e-9 {
                bail!(
                    "{} has width {width}, not --width-mult {}",
                    path.display(),
                    config.width()
                );
            }
            ranks::say(format_args!("starting from {}", path.display()));
            let head = Head::New {
                num_classes: outputs,
            };
            load_torchvision(&path, Some(config.arch), head, &cpu)?
        }
        None => config.model(outputs).init(&cpu),
    };
    net.visit(&mut Materialize);
    Ok(net.fork(device))
}

/// Runs every lazy parameter initialiser now, on the CPU, in the module's order; otherwise
/// `fork` would defer them to the training device and its own random generator.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

fn report_best(run: &Path) -> Result<()> {
    let metrics = crate::run::metrics::Metrics::read(run)?;
    if let Some(best) = metrics.best_epoch {
        println!(
            "done: best validation {} at epoch {best}: {}",
            metric_names::RunMetric::BEST.display(),
            run::checkpoint(run, "model", best).display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulation_must_split_the_batch_evenly() {
        let config = |batch_size, accumulate| TrainConfig {
            batch_size,
            accumulate,
            ..TrainConfig::default()
        };
        assert!(config(64, 4).validate().is_ok());
        let uneven = config(64, 3).validate().unwrap_err().to_string();
        assert!(
            uneven.contains("--batch-size 64 cannot be split into --accumulate 3"),
            "{uneven}"
        );
        assert!(config(64, 0).validate().is_err());
        assert_eq!(config(64, 4).micro_batch(), 16);
    }

    /// The defaults are the tutorial's recipe, and they pass their own validation.
    #[test]
    fn the_default_recipe_is_the_tutorials() {
        let config = TrainConfig::default();
        assert_eq!(config.arch, Arch::Resnet50);
        assert_eq!(
            (config.epochs, config.batch_size, config.input()),
            (40, 64, InputSize::IMAGENET)
        );
        assert_eq!(
            (config.lr, config.momentum, config.weight_decay),
            (0.001, 0.9, 1e-4)
        );
        assert_eq!(
            (config.lr_steps.as_slice(), config.lr_factor),
            (&[10, 20, 30][..], 0.75)
        );
        assert_eq!(config.pretrained, "imagenet");
        assert!(config.validate().is_ok());
        let zero = TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        };
        assert!(zero.validate().is_err());
    }
}
