//! Class probabilities for a list of images: decoding on all cores, batches of views through
//! the network, each head's softmax averaged over each image's test-time augmentation views.

use std::path::PathBuf;

use anyhow::Result;
use indicatif::ProgressBar;
use rayon::prelude::*;
use shared::preprocess::{self, Tta};

use crate::device::{self, Compute, fit};
use crate::trained::Trained;

/// How the images are fed to the network.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub tta: Tta,
    /// Views per forward pass (fewer where the device cannot hold that many).
    pub batch_size: usize,
}

/// One image's outputs, each averaged over its views.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// Raw network outputs, before softmax.
    pub logits: Vec<f32>,
    /// Each head's softmax (`Heads::softmax`): for a model of one task, its classes'.
    pub probabilities: Vec<f32>,
}

/// Each image's scores, or why it could not be read; an error if the device fails.
///
/// Images are decoded a batch at a time; their views go through the network in passes no
/// larger than the device can hold ([`fit::inference_batch`]), which gives the same numbers
/// as one pass: in inference every view is computed on its own.
pub fn scores(
    model: &Trained,
    images: &[PathBuf],
    options: Options,
    compute: &Compute,
    progress: &ProgressBar,
) -> Result<Vec<Result<Scores, String>>> {
    // Only evaluated: each BatchNorm folded into its convolution.
    let (net, size) = (&model.net.clone().folded(), model.size);
    let batch_size = options.batch_size.max(1);
    let views = options.tta.views(size.view);
    let crop = size.crop as usize;
    let per_pass = fit::inference_batch(batch_size, &net.footprint(crop), compute)?;
    let per_batch = (batch_size / views).max(1);
    let mut out: Vec<Result<Scores, String>> = Vec::with_capacity(images.len());
    for chunk in images.chunks(per_batch) {
        let decoded: Vec<Result<Vec<Vec<f32>>, String>> = chunk
            .par_iter()
            .map(|path| {
                let bytes = std::fs::read(path).map_err(|err| err.to_string())?;
                preprocess::tta_inputs(&bytes, size, options.tta).map_err(|err| err.to_string())
            })
            .collect();
        let inputs: Vec<Vec<f32>> = decoded.iter().flatten().flatten().cloned().collect();
        let mut logits = Vec::new();
        for pass in inputs.chunks(per_pass) {
            let batch = preprocess::batch_tensor(pass, crop, &compute.device);
            logits.extend(device::read(net.forward(batch), "inference")?);
        }
        let classes = net.num_classes();
        let probabilities: Vec<f32> = logits
            .chunks(classes)
            .flat_map(|row| model.heads.softmax(row))
            .collect();
        let mut averaged = average(&logits, classes, views)
            .into_iter()
            .zip(average(&probabilities, classes, views))
            .map(|(logits, probabilities)| Scores {
                logits,
                probabilities,
            });
        for result in decoded {
            out.push(result.map(|_| averaged.next().expect("one result per decoded image")));
        }
        progress.inc(chunk.len() as u64);
    }
    Ok(out)
}

/// Splits `[images * views, classes]` values into images and averages each image's views.
fn average(values: &[f32], classes: usize, views: usize) -> Vec<Vec<f32>> {
    values
        .chunks(classes * views)
        .map(|image| {
            (0..classes)
                .map(|c| image.iter().skip(c).step_by(classes).sum::<f32>() / views as f32)
                .collect()
        })
        .collect()
}
