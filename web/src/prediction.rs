//! One photo through the network: the centre crop the model sees, its class probabilities and
//! a class-activation map of the predicted class.

use burn::prelude::*;
use shared::bundle::Bundle;
use shared::preprocess::{Window, batch_tensor, load_resized, normalize};
use wasm_bindgen::prelude::*;

use crate::error::{Code, PageError};

/// What the page shows for a photo.
#[wasm_bindgen(getter_with_clone)]
pub struct Prediction {
    /// Softmax of the logits, in the manifest's class order.
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
    /// Index of the most probable class.
    pub top: usize,
    /// The predicted class's activation map, `cam_size` x `cam_size`, scaled to 0..1.
    pub cam: Vec<f32>,
    pub cam_size: usize,
    /// The centre crop the network saw, `view_size` x `view_size` RGBA, after EXIF rotation.
    pub view: Vec<u8>,
    pub view_size: u32,
}

pub async fn predict(
    bundle: &Bundle,
    image: &[u8],
    device: &Device,
) -> Result<Prediction, PageError> {
    let size = bundle.manifest.preprocessing.input_size();
    let resized = load_resized(image, size).map_err(|err| Code::BadImage.error(err))?;
    let (width, height) = resized.dimensions();
    let crop = Window::center(width, height, size.crop).crop(&resized);
    let input = batch_tensor(&[normalize(&crop)], size.crop as usize, device);

    let net = &bundle.net;
    let features = net.features(input);
    let [_, _, cam_size, _] = features.dims();
    let logits = net.classify(features.clone());
    let logits = read(logits).await?;
    let probabilities = shared::ranking::softmax(&logits);
    let top = shared::ranking::argmax(&probabilities);
    let maps = net.class_activation_maps(features);
    let cam = read(maps.narrow(1, top, 1)).await?;

    Ok(Prediction {
        probabilities,
        logits,
        top,
        cam: scale_to_unit(cam),
        cam_size,
        view: image_rgba(&crop),
        view_size: size.crop,
    })
}

/// Reads a tensor back; in the browser this must wait for the GPU without blocking.
async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, PageError> {
    let data = tensor.into_data_async().await.map_err(|err| {
        Code::DeviceFailed.error(format!("reading the result back failed: {err:?}"))
    })?;
    data.try_to_vec::<f32>()
        .map_err(|err| Code::DeviceFailed.error(format!("unexpected result type: {err:?}")))
}

/// Min-max scaling, so the heatmap uses its whole colour range whatever the logit scale.
fn scale_to_unit(values: Vec<f32>) -> Vec<f32> {
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let range = max - min;
    values
        .into_iter()
        .map(|v| if range > 0.0 { (v - min) / range } else { 0.0 })
        .collect()
}

fn image_rgba(image: &image::RgbImage) -> Vec<u8> {
    image
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}
