//! A trained model as the evaluation commands find it: a checkpoint `model-<epoch>.bpk` in a
//! run folder, with the architecture from the run's `train.json` and the classes from its
//! `dataset.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::store::ModuleRecord;
use shared::model::{ResNet, ResNetConfig};
use shared::preprocess::InputSize;

use crate::data::Manifest;
use crate::train::history::Metrics;
use crate::train::step::Classifier;
use crate::train::{TrainConfig, checkpoint};

pub struct Trained {
    pub net: ResNet,
    pub task: String,
    pub classes: Vec<String>,
    pub size: InputSize,
    /// Where it came from, for messages.
    pub source: PathBuf,
}

/// The checkpoint of the run's best epoch (by validation FashionAI AP).
pub fn best_checkpoint(run: &Path) -> Result<PathBuf> {
    let metrics = Metrics::read(run)?;
    let Some(epoch) = metrics.best_epoch else {
        bail!("{}: no epoch has been validated yet", run.display());
    };
    Ok(checkpoint::model_path(run, epoch))
}

/// Loads `<run>/checkpoint/model-<epoch>.bpk` for inference on `device`.
pub fn load_checkpoint(path: &Path, device: &Device) -> Result<Trained> {
    let run = path
        .parent()
        .and_then(Path::parent)
        .filter(|run| run.join("train.json").is_file())
        .with_context(|| {
            format!(
                "{}: not a checkpoint inside a run folder (expected <run>/checkpoint/model-<epoch>.bpk \
                 next to <run>/train.json)",
                path.display()
            )
        })?;
    let config_path = run.join("train.json");
    let config: TrainConfig = serde_json::from_slice(
        &std::fs::read(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?,
    )
    .with_context(|| format!("{}: not a training configuration", config_path.display()))?;
    let dataset = Manifest::read(run)?.info;
    let net = ResNetConfig::new()
        .with_arch(config.arch)
        .with_num_classes(dataset.classes.len())
        .with_base_width(config.base_width)
        .init(device);
    let record = ModuleRecord::load(path)
        .with_context(|| format!("reading checkpoint {}", path.display()))?;
    let model = Classifier { net }
        .try_load_record(record)
        .with_context(|| {
            format!(
                "{}: does not fit a {} for {} classes",
                path.display(),
                config.arch,
                dataset.classes.len()
            )
        })?;
    Ok(Trained {
        net: model.net,
        task: dataset.task,
        classes: dataset.classes,
        size: InputSize::with_crop(config.input_size),
        source: path.to_path_buf(),
    })
}
