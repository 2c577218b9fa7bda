//! `trainer train`: fine-tunes a network of the zoo (`--arch`) on a prepared run folder with
//! burn-train's Learner.
//!
//! The Learner runs the loop, the metrics and the checkpoints; this module supplies the
//! pieces burn lacks: the image pipeline (`loader`), the FashionAI metrics (`metrics`),
//! atomic checkpoints (`checkpoint`), the metrics file and curves (`history`) and
//! the progress bars (`progress`).

mod best;
pub mod checkpoint;
mod data_parallel;
mod depth;
mod early_stop;
mod ema;
pub mod history;
pub mod loader;
mod loss;
pub mod metric_names;
pub mod metrics;
pub mod optimizer;
pub mod precision;
mod progress;
pub mod schedule;
pub mod step;
pub mod teacher;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::train::checkpoint::{
    CheckpointerError, ComposedCheckpointingStrategy, KeepLastNCheckpoints,
};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining, TrainingError};
use clap::Args;
use clap::parser::ValueSource;
use shared::heads::Heads;
use shared::model::Net;
use shared::weights::{Head, inspect, load_torchvision};

use crate::atomic::write_atomic;
use crate::data::Manifest;
use crate::device::{self, Compute, DeviceChoice, fit};
use crate::pretrained::Pretrained;
use crate::ranks;
use crate::recipe::{ClassWeights, TrainConfig};
use crate::run;
use crate::run::lock::RunLock;
use crate::run::metrics::Weights;
use checkpoint::{Announcing, AtomicCheckpointer, Writes, latest_complete};
use history::History;
use loader::{BadImages, ImageLoader, Mode};
use metrics::{OfEma, Ranking, RankingMetric};
use step::Classifier;
use teacher::Teacher;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run folder written by `trainer prepare`; checkpoints, metrics.{json,csv} and
    /// curves.png go there too.
    #[arg(long)]
    pub run: PathBuf,
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
    #[command(flatten)]
    pub config: TrainConfig,
}

impl TrainArgs {
    /// Applies `--recipe` to the options not given in `matches` (the `train` subcommand's).
    pub fn apply_recipe(&mut self, matches: &clap::ArgMatches) {
        let given = matches
            .ids()
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.as_str().to_string())
            .collect();
        let recipe = self.config.recipe;
        recipe.apply(&mut self.config, &given);
    }
}

/// `trainer train`, as one process or as one rank of several (`mpirun`, `srun`).
pub fn run(args: TrainArgs) -> Result<()> {
    ranks::run_as_rank(args.device, |compute| run_rank(args, compute))
}

fn run_rank(args: TrainArgs, compute: &Compute) -> Result<()> {
    let _lock = lock(&args.run)?;
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
    if last_epoch.is_some() && args.resume {
        let metrics = crate::run::metrics::Metrics::read(&args.run)?;
        if let Some(last) = stopped_early(&metrics, &config) {
            ranks::say(format_args!(
                "this run stopped early after epoch {last} (--early-stop-patience): nothing to \
                 resume"
            ));
            return Ok(());
        }
    }
    let cache = args.cache_dir.as_deref();
    train_from(&args.run, &manifest, &config, last_epoch, cache, compute)
}

/// Trains a new run in the prepared folder `run` with `config` (refused if `run` already
/// holds checkpoints); ImageNet weights come from torch.hub's cache.
pub fn train(run: &Path, config: &TrainConfig, compute: &Compute) -> Result<()> {
    let _lock = lock(run)?;
    let manifest = Manifest::read(run)?;
    let config = new_settings(run, config)?;
    train_from(run, &manifest, &config, None, None, compute)
}

/// The run folder's lock, taken before anything of the run is read or written; with several
/// ranks, by rank 0 alone (the others write nothing).
fn lock(run: &Path) -> Result<Option<RunLock>> {
    ranks::world()
        .is_root()
        .then(|| RunLock::acquire(run, "train"))
        .transpose()
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
        config.model.arch,
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
        .net(heads.width())
        .footprint(config.input().crop as usize, &Device::flex());
    let per_rank = config.batch_size / world.size;
    fit::check_training(per_rank, config.accumulate, &footprint, compute)?;

    let iterations = manifest.train.len() / config.batch_size;
    let mut model = starting_model(config, &heads, last_epoch, cache, &compute.device)?.frozen(
        config.fine_tuning.freeze_epochs * iterations,
        last_epoch.unwrap_or(0) * iterations,
    );
    if let Some(ClassWeights::Balanced) = config.regularisation.class_weights {
        model = model.with_class_weights(loss::balanced_weights(&heads, &manifest.train));
    }
    if let Some(distillation) = &config.distillation {
        model = model.with_teacher(Teacher::load(distillation, &heads, &compute.device)?);
    }
    if world.size > 1 {
        let digest = starting_point(run, config, &model.net, last_epoch)?;
        ranks::check_same(&digest, "settings, data or starting weights")?;
    }
    let scaler = model.mixed.clone();
    let bad = BadImages::default();
    let writes = Writes::default();
    model = model.waiting_for(&writes);
    let training = supervised_training(
        run,
        config,
        manifest,
        &heads,
        last_epoch,
        compute,
        (&bad, &writes),
    )?;
    // Several ranks stop together: on Ctrl-C the launcher ends them all (the checkpoints on
    // disk are complete), where one rank stopping alone would leave the others waiting.
    if world.size == 1 {
        stop_on_ctrl_c(&training)?;
    }

    let optim = optimizer::optimizer(&config.optimizer, &model);
    let lr_schedule = schedule::schedule(config, iterations, &model);
    let learner = Learner::new(model, optim, lr_schedule);
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
        true => report_best(run, config),
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
        let mut weights = Flattened::default();
        net.visit(&mut weights);
        // One read of all of them: a read is a round trip to the device.
        let values = device::read(Tensor::cat(weights.0, 0), "the starting weights")?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        digests.push(shared::sha256::hex(&bytes));
    }
    Ok(digests.concat())
}

/// Every weight and statistic of a module, flattened, outside autodiff, in its order.
#[derive(Default)]
struct Flattened(Vec<Tensor<1>>);

impl ModuleVisitor for Flattened {
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
    let mut net = match last_epoch {
        Some(_) => config.net(outputs).init(&train_device),
        None => initial_model(config, outputs, cache, &train_device)?,
    };
    net.set_drop_rates(config.model.drop_path, config.model.dropout);
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
    (bad, writes): (&BadImages, &Writes),
) -> Result<SupervisedTraining<Classifier>> {
    let size = config.input();
    let train_loader = ImageLoader::new(
        manifest.train.clone(),
        config.batch_size,
        size,
        Mode::Train { seed: config.seed },
        bad.clone(),
    )
    .with_augmentation(config.augmentation.clone())
    .start_at_epoch(last_epoch.unwrap_or(0) + 1);
    // Validation batches as large as a training pass on each rank: what fits the device.
    let val_loader = ImageLoader::new(
        manifest.val.clone(),
        config.micro_batch() * ranks::world().size,
        size,
        Mode::Eval,
        bad.clone(),
    );
    let root = ranks::world().is_root();
    let bar = match root {
        true => indicatif::ProgressBar::new(0),
        false => indicatif::ProgressBar::hidden(),
    };
    let strategy = ComposedCheckpointingStrategy::builder()
        .add(KeepLastNCheckpoints::new(2))
        .add(best::KeepBest::default())
        .build();
    let mut training = SupervisedTraining::new(run, Arc::new(train_loader), Arc::new(val_loader))
        .metric_train_numeric(LossMetric::new())
        .metric_train_numeric(AccuracyMetric::new())
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_valid_numeric(RankingMetric::new(Ranking::Accuracy, heads))
        .metric_valid_numeric(RankingMetric::new(Ranking::MrrAp, heads))
        // Over several tasks, the mean of the tasks' APs.
        .metric_valid_numeric(RankingMetric::new(Ranking::FashionAiAp, heads))
        .metric_valid_numeric(RankingMetric::new(Ranking::BasicPrecision, heads))
        .with_metric_logger(History::open(
            run,
            last_epoch.unwrap_or(0),
            config.epochs,
            bar.clone(),
            root,
        )?)
        .with_custom_checkpointers(
            AtomicCheckpointer::new(run, "model", compute, writes),
            AtomicCheckpointer::new(run, "optim", compute, writes),
            AtomicCheckpointer::new(run, "scheduler", compute, writes),
        )
        .with_checkpointing_strategy(Announcing::new(strategy, writes))
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
    if config.regularisation.model_ema {
        training = training
            .metric_valid_numeric(OfEma::new(LossMetric::new()))
            .metric_valid_numeric(OfEma::new(RankingMetric::new(Ranking::Accuracy, heads)))
            .metric_valid_numeric(OfEma::new(RankingMetric::new(Ranking::MrrAp, heads)))
            .metric_valid_numeric(OfEma::new(RankingMetric::new(Ranking::FashionAiAp, heads)));
    }
    if let Some(patience) = config.early_stop_patience {
        training = training.early_stopping(early_stop::NoImprovement { patience });
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
    let pretrained: Pretrained = config.model.pretrained.parse()?;
    // One rank at a time, so that only the first downloads the weights.
    let weights =
        ranks::in_turn(|| pretrained.resolve(config.model.arch, cache.map(Path::to_path_buf)))?;
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
            load_torchvision(&path, Some(config.model.arch), head, &cpu)?
        }
        None => config.net(outputs).init(&cpu),
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

/// The last epoch of a run that `--early-stop-patience` ended before `--epochs`.
fn stopped_early(metrics: &crate::run::metrics::Metrics, config: &TrainConfig) -> Option<usize> {
    let patience = config.early_stop_patience?;
    let last = metrics.epochs.iter().map(|e| e.epoch).max()?;
    // `best_epoch` is chosen as the early stopping chooses: the first of the highest.
    let best = metrics.best_epoch?;
    (last < config.epochs && last - best >= patience).then_some(last)
}

fn report_best(run: &Path, config: &TrainConfig) -> Result<()> {
    let metrics = crate::run::metrics::Metrics::read(run)?;
    if let Some(last) = stopped_early(&metrics, config) {
        println!(
            "stopped early after epoch {last}: no better validation {} for {} epochs",
            metric_names::RunMetric::BEST.display(),
            config.early_stop_patience.unwrap_or_default()
        );
    }
    if let Some(best) = metrics.best_epoch {
        let whose = match metrics.best_weights {
            Some(Weights::Ema) => " (of the --model-ema average, which export takes)",
            Some(Weights::Trained) => " (of the trained weights, not their average)",
            None => "",
        };
        println!(
            "done: best validation {} at epoch {best}{whose}: {}",
            metric_names::RunMetric::BEST.display(),
            run::checkpoint(run, "model", best).display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;
    use crate::recipe::{LrScheduler, Opt, Recipe};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }

    fn parse(flags: &[&str]) -> TrainConfig {
        let command = ["train", "--run", "runs/x"].iter().chain(flags);
        let matches = Cli::command().get_matches_from(command);
        let mut cli = Cli::from_arg_matches(&matches).unwrap();
        cli.args.apply_recipe(&matches);
        cli.args.config
    }

    /// `--recipe modern` sets what the command line leaves out; given flags win, even when
    /// they repeat a default of the tutorial's.
    #[test]
    fn the_command_line_overrides_the_preset() {
        assert_eq!(parse(&[]), TrainConfig::default());
        let modern = parse(&["--recipe", "modern", "--lr", "0.001", "--epochs", "5"]);
        assert_eq!(modern.recipe, Recipe::Modern);
        assert_eq!(modern.optimizer.opt, Opt::Adamw);
        assert_eq!(modern.optimizer.lr, 0.001);
        assert_eq!(modern.epochs, 5);
        assert_eq!(modern.schedule.lr_scheduler, LrScheduler::Cosine);
        assert_eq!(modern.regularisation.label_smoothing, 0.1);
        let sgd = parse(&["--recipe", "modern", "--opt", "sgd"]);
        assert_eq!(sgd.optimizer.opt, Opt::Sgd);
        // A preset's switch turns off as it turns on.
        assert!(
            parse(&["--recipe", "modern"])
                .augmentation
                .random_resized_crop
        );
        let off = parse(&["--recipe", "modern", "--random-resized-crop", "false"]);
        assert!(!off.augmentation.random_resized_crop);
        assert!(
            parse(&["--random-resized-crop"])
                .augmentation
                .random_resized_crop
        );
    }
}
