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

/// Each image's averaged probabilities, or why it could not be read.
pub fn probabilities(
    net: &ResNet,
    images: &[PathBuf],
    settings: Settings,
    device: &Device,
    progress: &ProgressBar,
) -> Vec<Result<Vec<f32>, String>> {
    let views = settings.tta.views();
    let per_batch = (settings.batch_size / views).max(1);
    let mut out = Vec::with_capacity(images.len());
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
            let probs = softmax(net.forward(batch), 1);
            let [_, classes] = probs.dims();
            let values = probs
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap_or_default();
            values
                .chunks(classes * views)
                .map(|image| {
                    (0..classes)
                        .map(|c| image.iter().skip(c).step_by(classes).sum::<f32>() / views as f32)
                        .collect::<Vec<f32>>()
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
