//! Class probabilities for a list of images: decoding on all cores, batches of views through
//! the network, softmax averaged over each image's test-time augmentation views.

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use indicatif::ProgressBar;
use rayon::prelude::*;
use shared::model::ResNet;
use shared::preprocess::{self, InputSize, Tta};

/// How the images are fed to the network.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub size: InputSize,
    pub tta: Tta,
    /// Views per forward pass.
    pub batch_size: usize,
}

/// One image's outputs, each averaged over its views.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// Raw network outputs, before softmax.
    pub logits: Vec<f32>,
    pub probabilities: Vec<f32>,
}

/// Each image's scores, or why it could not be read.
pub fn scores(
    net: &ResNet,
    images: &[PathBuf],
    settings: Settings,
    device: &Device,
    progress: &ProgressBar,
) -> Vec<Result<Scores, String>> {
    let views = settings.tta.views();
    let per_batch = (settings.batch_size / views).max(1);
    let mut out: Vec<Result<Scores, String>> = Vec::with_capacity(images.len());
    for chunk in images.chunks(per_batch) {
        let decoded: Vec<Result<Vec<Vec<f32>>, String>> = chunk
            .par_iter()
            .map(|path| {
                let bytes = std::fs::read(path).map_err(|err| err.to_string())?;
                preprocess::tta_inputs(&bytes, settings.size, settings.tta)
                    .map_err(|err| err.to_string())
            })
            .collect();
        let inputs: Vec<Vec<f32>> = decoded.iter().flatten().flatten().cloned().collect();
        let mut averaged = if inputs.is_empty() {
            Vec::new()
        } else {
            let batch = preprocess::batch_tensor(&inputs, settings.size.crop as usize, device);
            let logits = net.forward(batch);
            let [_, classes] = logits.dims();
            let probabilities = average(softmax(logits.clone(), 1), classes * views, views);
            average(logits, classes * views, views)
                .into_iter()
                .zip(probabilities)
                .map(|(logits, probabilities)| Scores {
                    logits,
                    probabilities,
                })
                .collect()
        }
        .into_iter();
        for result in decoded {
            out.push(result.map(|_| averaged.next().expect("one result per decoded image")));
        }
        progress.inc(chunk.len() as u64);
    }
    out
}

/// Splits `[images * views, classes]` values into images and averages each image's views.
fn average(values: Tensor<2>, per_image: usize, views: usize) -> Vec<Vec<f32>> {
    let classes = per_image / views;
    let values = values
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    values
        .chunks(per_image)
        .map(|image| {
            (0..classes)
                .map(|c| image.iter().skip(c).step_by(classes).sum::<f32>() / views as f32)
                .collect()
        })
        .collect()
}
