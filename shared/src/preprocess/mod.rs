//! Image preprocessing, the single implementation shared by the trainer and the web page.
//!
//! Evaluation: decode -> EXIF orientation -> RGB -> shorter side 256 (PIL bicubic; each
//! architecture's weights set the sizes and the filter, see [`InputSize`]) -> centre crop 224 ->
//! normalise. Training swaps the centre crop for a random crop and a random
//! horizontal flip; prediction can use ten crops.

mod decode;
mod geometry;
mod normalize;
mod resample;

pub use decode::{
    ImageError, MAX_ASPECT, MAX_PIXELS, MAX_SIDE, check_size, decode_rgb, rgb_from_rgba,
};
pub use geometry::{Window, resize_shorter_side, ten_crop};
pub use normalize::{MEAN, STD, batch_tensor, normalize};
pub use resample::{Interpolation, resize};

use image::{RgbImage, imageops};
use rand::{Rng, RngExt};

/// Shorter side after the resize.
pub const RESIZE: u32 = 256;
/// Side of the square the network sees.
pub const CROP: u32 = 224;

/// A normalised `[3, crop, crop]` network input.
pub type Input = Vec<f32>;

/// The resize and crop sides of a pipeline, and the resize's filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSize {
    /// Shorter side after the resize.
    pub resize: u32,
    /// Side of the square crop the network sees.
    pub crop: u32,
    pub interpolation: Interpolation,
}

impl InputSize {
    /// The tutorial's 256 -> 224, bicubic: what ResNet's pretrained weights are fed here.
    pub const IMAGENET: Self = Self {
        resize: RESIZE,
        crop: CROP,
        interpolation: Interpolation::Bicubic,
    };

    /// A smaller (or larger) crop with this pipeline's resize-to-crop ratio (rounded up) and
    /// filter, for quick experiments and tests.
    pub fn with_crop(self, crop: u32) -> Self {
        Self {
            resize: (crop * self.resize).div_ceil(self.crop),
            crop,
            interpolation: self.interpolation,
        }
    }
}

impl Default for InputSize {
    fn default() -> Self {
        Self::IMAGENET
    }
}

/// Decodes and resizes: the part every pipeline shares, and the expensive one.
pub fn load_resized(bytes: &[u8], size: InputSize) -> Result<RgbImage, ImageError> {
    Ok(resize_shorter_side(
        &decode_rgb(bytes)?,
        size.resize,
        size.interpolation,
    ))
}

/// Validation / inference input: the centre crop.
pub fn eval_input(bytes: &[u8], size: InputSize) -> Result<Input, ImageError> {
    Ok(center_crop_input(&load_resized(bytes, size)?, size.crop))
}

/// The centre crop of an already resized image.
pub fn center_crop_input(resized: &RgbImage, crop: u32) -> Input {
    let (width, height) = resized.dimensions();
    normalize(&Window::center(width, height, crop).crop(resized))
}

/// Training input: a random crop, mirrored with probability 1/2.
pub fn train_input(bytes: &[u8], size: InputSize, rng: &mut impl Rng) -> Result<Input, ImageError> {
    Ok(normalize(&train_crop(bytes, size, rng)?))
}

/// [`train_input`] before normalisation: the tutorial's random crop of the resized image,
/// mirrored with probability 1/2.
pub fn train_crop(
    bytes: &[u8],
    size: InputSize,
    rng: &mut impl Rng,
) -> Result<RgbImage, ImageError> {
    let resized = load_resized(bytes, size)?;
    let (width, height) = resized.dimensions();
    let mut crop = Window::random(width, height, size.crop, rng).crop(&resized);
    flip_at_random(&mut crop, rng);
    Ok(crop)
}

/// torchvision's `RandomHorizontalFlip()`: mirrors `image` with probability 1/2.
pub fn flip_at_random(image: &mut RgbImage, rng: &mut impl Rng) {
    if rng.random_bool(0.5) {
        imageops::flip_horizontal_in_place(image);
    }
}

/// Test-time augmentation input: ten crops (see [`ten_crop`]).
pub fn ten_crop_inputs(bytes: &[u8], size: InputSize) -> Result<[Input; 10], ImageError> {
    Ok(ten_crop(&load_resized(bytes, size)?, size.crop).map(|crop| normalize(&crop)))
}

/// Test-time augmentation: the views of an image whose softmax outputs are averaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Tta {
    /// The centre crop only.
    #[default]
    None,
    /// The centre crop and its mirror image.
    Flip,
    /// The four corner crops and the centre crop, and their mirror images (see [`ten_crop`]).
    TenCrop,
}

impl Tta {
    pub fn views(self) -> usize {
        match self {
            Tta::None => 1,
            Tta::Flip => 2,
            Tta::TenCrop => 10,
        }
    }
}

/// The network inputs of one image under `tta`.
pub fn tta_inputs(bytes: &[u8], size: InputSize, tta: Tta) -> Result<Vec<Input>, ImageError> {
    let resized = load_resized(bytes, size)?;
    Ok(match tta {
        Tta::None => vec![center_crop_input(&resized, size.crop)],
        Tta::Flip => {
            let (width, height) = resized.dimensions();
            let crop = Window::center(width, height, size.crop).crop(&resized);
            vec![
                normalize(&crop),
                normalize(&imageops::flip_horizontal(&crop)),
            ]
        }
        Tta::TenCrop => ten_crop(&resized, size.crop)
            .iter()
            .map(normalize)
            .collect(),
    })
}
