//! Image preprocessing, the single implementation shared by the trainer and the web page.
//!
//! Evaluation: decode -> EXIF orientation -> RGB -> shorter side 256 (PIL bicubic) ->
//! centre crop 224 -> normalise. Training swaps the centre crop for a random crop and a random
//! horizontal flip; prediction can use ten crops.

mod decode;
mod geometry;
mod normalize;
mod resample;

pub use decode::{ImageError, MAX_ASPECT, MAX_PIXELS, MAX_SIDE, decode_rgb};
pub use geometry::{Window, resize_shorter_side, ten_crop};
pub use normalize::{MEAN, STD, batch_tensor, normalize};

use image::{RgbImage, imageops};
use rand::{Rng, RngExt};

/// Shorter side after the resize.
pub const RESIZE: u32 = 256;
/// Side of the square the network sees.
pub const CROP: u32 = 224;

/// A normalised `[3, CROP, CROP]` network input.
pub type Input = Vec<f32>;

/// Decodes and resizes: the part every pipeline shares, and the expensive one.
pub fn load_resized(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    Ok(resize_shorter_side(&decode_rgb(bytes)?, RESIZE))
}

/// Validation / inference input: the centre crop.
pub fn eval_input(bytes: &[u8]) -> Result<Input, ImageError> {
    Ok(center_crop_input(&load_resized(bytes)?))
}

/// The centre crop of an already resized image.
pub fn center_crop_input(resized: &RgbImage) -> Input {
    let (width, height) = resized.dimensions();
    normalize(&Window::center(width, height, CROP).crop(resized))
}

/// Training input: a random crop, mirrored with probability 1/2.
pub fn train_input(bytes: &[u8], rng: &mut impl Rng) -> Result<Input, ImageError> {
    let resized = load_resized(bytes)?;
    let (width, height) = resized.dimensions();
    let mut crop = Window::random(width, height, CROP, rng).crop(&resized);
    if rng.random_bool(0.5) {
        imageops::flip_horizontal_in_place(&mut crop);
    }
    Ok(normalize(&crop))
}

/// Test-time augmentation input: ten crops (see [`ten_crop`]).
pub fn ten_crop_inputs(bytes: &[u8]) -> Result<[Input; 10], ImageError> {
    Ok(ten_crop(&load_resized(bytes)?, CROP).map(|crop| normalize(&crop)))
}
