//! A trained model as the evaluation commands find it: a checkpoint `model-<epoch>.bpk` in a
//! run folder (or the run folder, for its best epoch), with the architecture from the run's `train.json` and the classes from its
//! `dataset.json`; a bundle from `trainer export`; or a torchvision weight file, whose classes
//! are numbered (or named by a labels file).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use shared::bundle::{Bundle, MANIFEST_FILE, Manifest as BundleManifest};
use shared::calibration::Calibration;
use shared::heads::Heads;
use shared::model::Net;
use shared::preprocess::InputSize;
use shared::weights::{Head, inspect, load_torchvision};

use crate::data::DatasetInfo;
use crate::run;
use crate::run::metrics::{Metrics, Weights};
use crate::train::checkpoint::upgrade_model;
use crate::train::metric_names::RunMetric;
use crate::train::step::Classifier;

pub struct Trained {
    pub net: Net,
    /// The tasks and classes of its outputs.
    pub heads: Heads,
    pub size: InputSize,
    /// A bundle's calibration of each task ("not sure" and "unlike the training photos"), if
    /// it has one.
    pub calibrations: Vec<Option<Calibration>>,
    /// Where it came from, for messages.
    pub source: PathBuf,
    /// A checkpoint of a `--model-ema` run: whether it holds the trained weights or their
    /// average (whichever scored higher in its epoch).
    pub weights: Option<Weights>,
}

/// The checkpoint of the run's best epoch (by validation FashionAI AP).
pub fn best_checkpoint(run: &Path) -> Result<PathBuf> {
    let metrics = Metrics::read(run)?;
    let Some(epoch) = metrics.best_epoch else {
        bail!("{}: no epoch has been validated yet", run.display());
    };
    Ok(run::checkpoint(run, "model", epoch))
}

/// Loads `<run>/checkpoint/model-<epoch>.bpk` for inference on `device`.
pub fn load_checkpoint(path: &Path, device: &Device) -> Result<Trained> {
    let run = run::of_checkpoint(path).with_context(|| {
        format!(
            "{}: not a checkpoint inside a run folder (expected <run>/checkpoint/model-<epoch>.bpk \
                 next to <run>/train.json)",
            path.display()
        )
    })?;
    let config = run::read_settings(run)?;
    let dataset = DatasetInfo::read(run)?;
    let heads = dataset.heads()?;
    let net = config.net(heads.width()).init(device);
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let record = upgrade_model(bytes)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| Ok(ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))?))
        .with_context(|| format!("reading checkpoint {}", path.display()))?;
    // The checkpoint is the Classifier's record; only its network is kept (and computes in
    // f32, whatever the training used).
    let model = Classifier::new(net, heads.clone(), &config)
        .try_load_record(record)
        .with_context(|| {
            format!(
                "{}: does not fit a {} with {} outputs",
                path.display(),
                config.model.arch,
                heads.width()
            )
        })?;
    let weights = averaged_won(run, path);
    let net = match (weights, model.ema) {
        (Some(Weights::Ema), Some(average)) => average,
        _ => model.net,
    };
    Ok(Trained {
        net,
        calibrations: vec![None; heads.tasks().len()],
        heads,
        size: config.input(),
        source: path.to_path_buf(),
        weights,
    })
}

/// With `--model-ema`: which of the checkpoint's weights scored the higher validation
/// FashionAI AP in its epoch (said on stdout where it is the average).
fn averaged_won(run: &Path, checkpoint: &Path) -> Option<Weights> {
    let epoch = run::checkpoint_epoch(checkpoint, "model")?;
    let metrics = Metrics::read(run).ok()?;
    let record = metrics.epochs.into_iter().find(|e| e.epoch == epoch)?;
    if !record.has_average() {
        return None;
    }
    let (ap, weights) = record.best()?;
    if weights == Weights::Ema {
        println!(
            "epoch {epoch}: the --model-ema average's validation FashionAI AP {ap:.4} beats the \
             trained weights' {:.4}: using the average",
            record
                .valid
                .get(RunMetric::BEST.key())
                .copied()
                .unwrap_or(f64::NAN)
        );
    }
    Some(weights)
}

/// Loads a bundle folder written by `trainer export`, checking its manifest version, the
/// weights' checksum and every tensor's shape.
pub fn load_bundle(dir: &Path, device: &Device) -> Result<Trained> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest_name = manifest_path.display().to_string();
    let weights_name = BundleManifest::parse(&manifest_name, &manifest)?
        .weights
        .file;
    let weights_path = dir.join(weights_name);
    let weights = std::fs::read(&weights_path)
        .with_context(|| format!("reading {}", weights_path.display()))?;
    let Bundle { manifest, net } = Bundle::from_bytes(
        &manifest_name,
        &manifest,
        &weights_path.display().to_string(),
        weights,
        device,
    )?;
    Ok(Trained {
        net,
        heads: manifest.heads(),
        size: manifest.preprocessing.input_size(),
        calibrations: manifest.calibrations(),
        source: dir.to_path_buf(),
        weights: None,
    })
}

/// A bundle folder, a run folder (its best epoch's checkpoint), a checkpoint (`.bpk`) or a
/// torchvision `.pth` / `.safetensors` file. `labels` names a torchvision model's classes, one
/// per line (e.g. ImageNet's 1000).
pub fn load_model(path: &Path, labels: Option<&Path>, device: &Device) -> Result<Trained> {
    if path.is_dir() {
        if labels.is_some() {
            bail!("--labels is for torchvision weight files; a bundle or run names its classes");
        }
        if !path.join(MANIFEST_FILE).is_file() && run::settings_json(path).is_file() {
            return load_checkpoint(&best_checkpoint(path)?, device);
        }
        return load_bundle(path, device);
    }
    if path.extension().is_some_and(|ext| ext == "bpk") {
        if labels.is_some() {
            bail!("--labels is for torchvision weight files; a checkpoint names its classes");
        }
        return load_checkpoint(path, device);
    }
    let net = load_torchvision(path, None, Head::Pretrained, device)?;
    // As torchvision's weights of the architecture are evaluated.
    let size = inspect(path)?.arch.input_size();
    let count = net.num_classes();
    let classes = match labels {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let names: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            if names.len() != count {
                bail!(
                    "{} has {} names, the model {} classes",
                    file.display(),
                    names.len(),
                    count
                );
            }
            names
        }
        None => (0..count).map(|i| i.to_string()).collect(),
    };
    Ok(Trained {
        net,
        heads: Heads::single("torchvision", classes)?,
        size,
        calibrations: vec![None],
        source: path.to_path_buf(),
        weights: None,
    })
}
