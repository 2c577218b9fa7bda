//! What export fits on the run's validation photos, with the exported weights as the page
//! runs them: the calibration of the answers (`shared::calibration`) and the heatmap's scale.

use std::path::{Path, PathBuf};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use shared::bundle::WEIGHTS_FILE;
use shared::calibration::{
    Calibration, IN_DISTRIBUTION_KEPT, NEVER_SURE, TARGET_ACCURACY, TEMPERATURES,
};
use shared::model::Arch;
use shared::preprocess::{self, Tta};
use shared::ranking::argmax;
use shared::weights::load_safetensors_bytes;

use crate::data;
use crate::device::{self, Compute, fit};
use crate::infer::{self, Options};
use crate::trained::Trained;

/// Validation photos whose class-activation maps set the heatmap's scale.
const HEATMAP_PHOTOS: usize = 64;
/// The share of those maps' positive values drawn below full colour.
const HEATMAP_QUANTILE: f64 = 0.99;

pub struct Fitted {
    /// Each task's, fitted on its own validation photos and head.
    pub calibrations: Vec<Option<Calibration>>,
    pub heatmap_scale: Option<f32>,
}

/// Fits both on `run`'s validation photos with the exported `weights`; neither (with a note)
/// when the run has no readable validation photos.
pub fn fit(
    run: &Path,
    trained: &Trained,
    weights: &[u8],
    arch: Arch,
    compute: &Compute,
) -> Result<Fitted> {
    let tasks = trained.heads.tasks();
    let none = Fitted {
        calibrations: vec![None; tasks.len()],
        heatmap_scale: None,
    };
    let split = match data::Manifest::read(run) {
        Ok(split) => split,
        Err(err) => {
            eprintln!("note: the bundle is not calibrated (no \"not sure\" flags): {err:#}");
            return Ok(none);
        }
    };
    let (net, _) = load_safetensors_bytes(
        Path::new(WEIGHTS_FILE),
        weights.to_vec(),
        Some(arch),
        &compute.device,
    )?;
    let exported = Trained {
        net,
        heads: trained.heads.clone(),
        size: trained.size,
        calibrations: none.calibrations.clone(),
        source: trained.source.clone(),
        weights: trained.weights,
    };
    let images: Vec<PathBuf> = split.val.iter().map(|s| s.image.clone()).collect();
    let bar = ProgressBar::new(images.len() as u64).with_style(
        ProgressStyle::with_template("calibrating [{bar:30}] {pos}/{len} validation images")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let options = Options {
        tta: Tta::NONE,
        batch_size: 32,
    };
    let results = infer::scores(&exported, &images, options, compute, &bar)?;
    bar.finish_and_clear();
    // Each task's head on its own photos: the logits of the head, and the true class.
    let mut per_task = vec![(Vec::new(), Vec::new()); tasks.len()];
    let mut readable = Vec::new();
    for (result, sample) in results.into_iter().zip(&split.val) {
        if let Ok(scores) = result {
            let (logits, truth) = &mut per_task[sample.task];
            logits.push(scores.logits[exported.heads.columns(sample.task)].to_vec());
            truth.push(sample.label.class);
            readable.push((sample.image.clone(), sample.task));
        }
    }
    if readable.is_empty() {
        eprintln!("note: the bundle is not calibrated: no validation photo could be read");
        return Ok(none);
    }
    let calibrations = per_task
        .iter()
        .zip(tasks)
        .map(|((logits, truth), task)| {
            let calibration = Calibration::fit(logits, truth);
            match &calibration {
                Some(calibration) => report(&task.name, calibration),
                None => eprintln!("note: {}: no validation photo: not calibrated", task.name),
            }
            calibration
        })
        .collect();
    Ok(Fitted {
        calibrations,
        heatmap_scale: heatmap_scale(&exported, &readable, compute)?,
    })
}

fn report(task: &str, calibration: &Calibration) {
    let v = &calibration.validation;
    println!(
        "{task}: calibrated on {} validation images: temperature {:.3} (NLL {:.4} -> {:.4}, ECE \
         {:.4} -> {:.4}); \"not sure\" below {:.3} top probability ({:.1}% of them, {} right \
         when sure, target {:.0}%); \"unlike the training photos\" above energy {:.3} ({:.0}% \
         kept)",
        v.images,
        calibration.temperature,
        v.nll_before,
        v.nll_after,
        v.ece_before,
        v.ece_after,
        calibration.unsure_below,
        100.0 * v.unsure,
        v.accuracy_when_sure
            .map_or("none".to_string(), |a| format!("{:.1}%", 100.0 * a)),
        100.0 * TARGET_ACCURACY,
        calibration.energy_above,
        100.0 * IN_DISTRIBUTION_KEPT,
    );
    if v.images < 100 {
        eprintln!(
            "note: {} validation images are few for a calibration: its thresholds are rough",
            v.images
        );
    }
    let (low, high) = TEMPERATURES;
    if calibration.temperature <= low * 1.2 || calibration.temperature >= high / 1.2 {
        eprintln!(
            "note: the temperature is at the end of its range ({low} to {high}): the validation \
             split is all right (or all wrong) at any confidence, so it says little about how \
             sure the model should be"
        );
    }
    if calibration.unsure_below == NEVER_SURE {
        eprintln!(
            "note: the model's validation answers are never {:.0}% right, at any confidence: \
             every answer will be \"not sure\"",
            100.0 * TARGET_ACCURACY
        );
    }
}

/// The class-activation value the page draws at full colour: a high quantile of the predicted
/// class's map (in the photo's task head) over validation photos. One scale for all of a
/// model's heatmaps, so weak evidence looks weak (a photo's own strongest value would make
/// every map look strong).
fn heatmap_scale(
    model: &Trained,
    images: &[(PathBuf, usize)],
    compute: &Compute,
) -> Result<Option<f32>> {
    // As the page runs it: BatchNorms folded.
    let net = &model.net.clone().folded();
    let crop = model.size.crop as usize;
    let (inputs, tasks): (Vec<Vec<f32>>, Vec<usize>) = images
        .iter()
        .filter_map(|(path, task)| {
            let bytes = std::fs::read(path).ok()?;
            let input = preprocess::tta_inputs(&bytes, model.size, Tta::NONE)
                .ok()?
                .pop()?;
            Some((input, *task))
        })
        .take(HEATMAP_PHOTOS)
        .unzip();
    let per_pass = fit::inference_batch(16, &net.footprint(crop), compute)?;
    let classes = net.num_classes();
    let mut values = Vec::new();
    for (pass, tasks) in inputs.chunks(per_pass).zip(tasks.chunks(per_pass)) {
        let features = net.features(preprocess::batch_tensor(pass, crop, &compute.device));
        let logits = device::read(net.classify(features.clone()), "calibration")?;
        let maps = device::read(net.class_activation_maps(features), "calibration")?;
        let cells = maps.len() / (pass.len() * classes);
        for (image, (logits, &task)) in logits.chunks(classes).zip(tasks).enumerate() {
            let head = model.heads.columns(task);
            let class = head.start + argmax(&logits[head]);
            let start = (image * classes + class) * cells;
            values.extend(maps[start..start + cells].iter().filter(|v| **v > 0.0));
        }
    }
    values.sort_by(f32::total_cmp);
    let at = ((HEATMAP_QUANTILE * values.len() as f64) as usize).min(values.len().max(1) - 1);
    Ok(values.get(at).copied())
}
