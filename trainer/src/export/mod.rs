//! `trainer export`: a checkpoint as a web bundle (see `shared::bundle`): the weights as a
//! torchvision-named safetensors file, in f16 (half the download) or f32, and a manifest
//! with everything needed to use them, written last so a bundle folder with a manifest is
//! always complete. The manifest carries what `calibrate` fits on the run's validation split
//! with the exported weights, as the page will run them.
//!
//! Why safetensors: burn loads it from bytes in the browser (`SafetensorsStore::from_bytes`)
//! with the same strict loader as torchvision files, it stores f16 natively, and the file is a
//! plain torchvision state dict that PyTorch can use too.

mod calibrate;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::prelude::*;
use clap::Args;
use shared::bundle::{
    BUNDLE_VERSION, MANIFEST_FILE, Manifest, Preprocessing, SINGLE_TASK_VERSION, TaskHead,
    WEIGHTS_FILE, WeightsEntry,
};
use shared::precision::Precision;
use shared::preprocess::View;
use shared::weights::torchvision_safetensors;

use crate::atomic::write_atomic;
use crate::device::{self, Compute, DeviceChoice};
use crate::run;
use crate::run::metrics::{Metrics, Weights};
use crate::trained::{best_checkpoint, load_checkpoint};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint `<run>/checkpoint/model-<epoch>.bpk`, or a run folder (its best epoch).
    #[arg(long)]
    pub model: PathBuf,
    /// The bundle folder to write (manifest.json, model.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Precision of the stored weights (f16: half the size, probabilities change by well
    /// under 1e-2); the model always computes in f32.
    #[arg(long, value_enum, default_value = "f16")]
    pub precision: Precision,
    /// How the page shows photos to the model, written into the manifest: `crop` or `pad`
    /// (default: the training run's `--view`).
    #[arg(long, value_enum)]
    pub view: Option<View>,
    /// Where the calibration runs the validation photos through the exported model.
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let checkpoint = if args.model.is_dir() {
        best_checkpoint(&args.model)?
    } else {
        args.model
    };
    export(
        &checkpoint,
        args.precision,
        args.view,
        &args.out,
        &device::pick(args.device)?,
    )
}

/// Writes `checkpoint` as a web bundle into the folder `out`, its weights in `precision`, its
/// photos seen through `view` (default: the training's), calibrated on `compute`.
pub fn export(
    checkpoint: &Path,
    precision: Precision,
    view: Option<View>,
    out: &Path,
    compute: &Compute,
) -> Result<()> {
    let device = Device::flex();
    let mut trained = load_checkpoint(checkpoint, &device)?;
    if let Some(view) = view {
        trained.size = trained.size.with_view(view);
    }
    let run = run::of_checkpoint(checkpoint).context("the checkpoint's run folder")?;
    let config = run::read_settings(run)?;

    let weights = torchvision_safetensors(&trained.net, precision)
        .map_err(|err| anyhow!("{}: {err}", checkpoint.display()))?;
    let fitted = calibrate::fit(run, &trained, &weights, config.model.arch, compute)?;
    let heads = &trained.heads;
    let names: Vec<&str> = heads.tasks().iter().map(|t| t.name.as_str()).collect();
    // A model of one task keeps the format every page and trainer reads.
    let (format_version, classes, tasks, calibration) = match heads.tasks() {
        [one] => (
            SINGLE_TASK_VERSION,
            one.classes.clone(),
            vec![],
            fitted.calibrations.into_iter().next().flatten(),
        ),
        several => (
            BUNDLE_VERSION,
            vec![],
            several
                .iter()
                .zip(fitted.calibrations)
                .map(|(task, calibration)| TaskHead {
                    name: task.name.clone(),
                    classes: task.classes.clone(),
                    calibration,
                })
                .collect(),
            None,
        ),
    };
    let manifest = Manifest {
        format_version,
        arch: config.model.arch,
        width_mult: config.width(),
        task: names.join(","),
        classes,
        tasks,
        preprocessing: Preprocessing::new(trained.size),
        precision,
        weights: WeightsEntry {
            file: WEIGHTS_FILE.to_string(),
            bytes: weights.len() as u64,
            sha256: shared::sha256::hex(&weights),
        },
        metrics: epoch_metrics(run, checkpoint, trained.weights),
        calibration,
        heatmap_scale: fitted.heatmap_scale,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_atomic(&out.join(WEIGHTS_FILE), &weights)?;
    write_atomic(
        &out.join(MANIFEST_FILE),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    let whose = match trained.weights {
        Some(Weights::Ema) => " (its --model-ema average)",
        _ => "",
    };
    println!(
        "{}: {} {}{whose} for {} ({} outputs), {} weights, {:.1} MB",
        out.display(),
        config.model.arch,
        checkpoint.display(),
        names.join(", "),
        heads.width(),
        precision,
        weights.len() as f64 / 1e6
    );
    Ok(())
}

/// The validation numbers the run logged for the checkpoint's epoch, and with `--model-ema`
/// which of its weights these are.
fn epoch_metrics(run: &Path, checkpoint: &Path, weights: Option<Weights>) -> serde_json::Value {
    let epoch = run::checkpoint_epoch(checkpoint, "model");
    let record = Metrics::read(run)
        .ok()
        .and_then(|m| m.epochs.into_iter().find(|e| Some(e.epoch) == epoch));
    let Some(record) = record else {
        return serde_json::Value::Null;
    };
    let mut metrics = serde_json::json!({ "epoch": record.epoch, "validation": record.valid });
    if let Some(weights) = weights {
        metrics["weights"] = serde_json::json!(weights);
    }
    metrics
}
