//! Pixels to the network's input: `ToTensor` followed by `Normalize` with ImageNet statistics.

use burn::prelude::*;
use image::RgbImage;

/// ImageNet channel means, as torchvision's pretrained models expect.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Channel-major `[3, height, width]` floats: `(pixel / 255 - mean) / std`, computed in f32 in
/// the same order as torchvision so the values match bit for bit.
pub fn normalize(image: &RgbImage) -> Vec<f32> {
    let plane = image.width() as usize * image.height() as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(pixel[c]) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    out
}

/// Stacks normalised `[3, size, size]` images into a `[batch, 3, size, size]` tensor.
pub fn batch_tensor(images: &[Vec<f32>], size: usize, device: &Device) -> Tensor<4> {
    let per_image = 3 * size * size;
    assert!(
        images.iter().all(|image| image.len() == per_image),
        "every image must be [3, {size}, {size}]"
    );
    let values: Vec<f32> = images.concat();
    Tensor::from_data(
        TensorData::new(values, [images.len(), 3, size, size]),
        device,
    )
}
