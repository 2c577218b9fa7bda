//! Image preprocessing, the single implementation shared by the trainer and the web page.
//!
//! Evaluation: decode -> EXIF orientation -> RGB -> the view: shorter side 256 (PIL bicubic;
//! each architecture's weights set the sizes and the filter, see [`InputSize`]) -> centre crop
//! 224, or with [`View::Pad`] the whole photo, longer side 224, centred on a square of the
//! normalisation mean -> normalise. Training swaps the centre crop (placement) for a random
//! one and adds a random horizontal flip; prediction can average several views ([`Tta`]).

mod decode;
mod geometry;
mod normalize;
mod resample;

pub use decode::{
    ImageError, MAX_ASPECT, MAX_PIXELS, MAX_SIDE, check_size, decode_rgb, rgb_from_rgba,
};
pub use geometry::{Placement, Window, resize_longer_side, resize_shorter_side, ten_crop};
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

/// How a photo fills the network's square input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// The shorter side resized, then the centre square cropped (torchvision's evaluation
    /// transforms): a tall photo loses its top and bottom.
    #[default]
    Crop,
    /// The whole photo: the longer side resized to the square's, centred on a square padded
    /// with the normalisation mean (zeros after normalising), so nothing is cut.
    Pad,
}

/// The resize and crop sides of a pipeline, the resize's filter and the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSize {
    /// Shorter side after the resize ([`View::Crop`]).
    pub resize: u32,
    /// Side of the square the network sees.
    pub crop: u32,
    pub interpolation: Interpolation,
    pub view: View,
}

impl InputSize {
    /// The tutorial's 256 -> 224, bicubic: what ResNet's pretrained weights are fed here.
    pub const IMAGENET: Self = Self {
        resize: RESIZE,
        crop: CROP,
        interpolation: Interpolation::Bicubic,
        view: View::Crop,
    };

    /// A smaller (or larger) crop with this pipeline's resize-to-crop ratio (rounded up) and
    /// filter, for quick experiments and tests.
    pub fn with_crop(self, crop: u32) -> Self {
        Self {
            resize: (crop * self.resize).div_ceil(self.crop),
            crop,
            ..self
        }
    }

    pub fn with_view(self, view: View) -> Self {
        Self { view, ..self }
    }
}

impl Default for InputSize {
    fn default() -> Self {
        Self::IMAGENET
    }
}

/// A pixel of the normalisation mean, to show [`View::Pad`]'s padding.
pub const MEAN_PIXEL: image::Rgb<u8> = image::Rgb([124, 116, 104]);

/// Decodes and resizes for the view: the part every pipeline shares, and the expensive one.
pub fn load_resized(bytes: &[u8], size: InputSize) -> Result<RgbImage, ImageError> {
    Ok(fit(&decode_rgb(bytes)?, size))
}

/// The view's resize: the shorter side to `resize` ([`View::Crop`]) or the longer side to
/// `crop` ([`View::Pad`]).
pub fn fit(image: &RgbImage, size: InputSize) -> RgbImage {
    match size.view {
        View::Crop => resize_shorter_side(image, size.resize, size.interpolation),
        View::Pad => resize_longer_side(image, size.crop, size.interpolation),
    }
}

/// Validation / inference input: the centre crop, or the padded photo.
pub fn eval_input(bytes: &[u8], size: InputSize) -> Result<Input, ImageError> {
    Ok(view_input(&load_resized(bytes, size)?, size))
}

/// The network input of an image already resized by [`fit`].
pub fn view_input(resized: &RgbImage, size: InputSize) -> Input {
    let (width, height) = resized.dimensions();
    match size.view {
        View::Crop => normalize(&view_picture(resized, size)),
        View::Pad => Placement::center(width, height, size.crop).letterbox(
            &normalize(resized),
            width,
            height,
            size.crop,
        ),
    }
}

/// What [`view_input`] shows the network, as a picture (the padding in [`MEAN_PIXEL`]).
pub fn view_picture(resized: &RgbImage, size: InputSize) -> RgbImage {
    let (width, height) = resized.dimensions();
    match size.view {
        View::Crop => Window::center(width, height, size.crop).crop(resized),
        View::Pad => {
            Placement::center(width, height, size.crop).paste(resized, size.crop, MEAN_PIXEL)
        }
    }
}

/// Training input: a random crop ([`View::Crop`] whatever `size.view`; the trainer's
/// augmentation places padded photos itself), mirrored with probability 1/2.
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
    let resized = load_resized(bytes, size.with_view(View::Crop))?;
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
    let resized = load_resized(bytes, size.with_view(View::Crop))?;
    Ok(ten_crop(&resized, size.crop).map(|crop| normalize(&crop)))
}

/// Test-time augmentation: the views of an image whose softmax outputs are averaged. Written
/// `none` or a list such as `flip,pad`: the model's own view always, `crop` and `pad` add
/// those views, `ten-crop` makes the crops the four corner crops, the centre crop and their
/// mirror images ([`ten_crop`]) instead of the centre crop alone (and adds them for a model of
/// the padded view), and `flip` adds the mirror image of each other single view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Tta {
    pub flip: bool,
    pub ten_crop: bool,
    pub crop: bool,
    pub pad: bool,
}

impl Tta {
    pub const NONE: Tta = Tta {
        flip: false,
        ten_crop: false,
        crop: false,
        pad: false,
    };
    pub const TEN_CROP: Tta = Tta {
        ten_crop: true,
        ..Tta::NONE
    };

    pub fn is_none(self) -> bool {
        self == Tta::NONE
    }

    /// Whether a model of `view` sees crops, and padded photos.
    fn kinds(self, view: View) -> (bool, bool) {
        (
            view == View::Crop || self.crop || self.ten_crop,
            view == View::Pad || self.pad,
        )
    }

    /// The views of an image for a model of `view`.
    pub fn views(self, view: View) -> usize {
        let (crops, padded) = self.kinds(view);
        let single = 1 + usize::from(self.flip);
        let crops = match (crops, self.ten_crop) {
            (false, _) => 0,
            (true, true) => 10,
            (true, false) => single,
        };
        crops + usize::from(padded) * single
    }
}

impl core::fmt::Display for Tta {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names: Vec<&str> = [
            (self.flip, "flip"),
            (self.ten_crop, "ten-crop"),
            (self.crop, "crop"),
            (self.pad, "pad"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        match names.is_empty() {
            true => f.write_str("none"),
            false => f.write_str(&names.join(",")),
        }
    }
}

impl core::str::FromStr for Tta {
    type Err = String;

    fn from_str(text: &str) -> Result<Tta, String> {
        let mut tta = Tta::NONE;
        if text.trim() == "none" {
            return Ok(tta);
        }
        for name in text.split(',').map(str::trim) {
            let flag = match name {
                "flip" => &mut tta.flip,
                "ten-crop" => &mut tta.ten_crop,
                "crop" => &mut tta.crop,
                "pad" => &mut tta.pad,
                _ => {
                    return Err(format!(
                        "unknown view `{name}`: expected none, or a comma-separated list of \
                         flip, ten-crop, crop and pad"
                    ));
                }
            };
            if *flag {
                return Err(format!("`{name}` is listed twice"));
            }
            *flag = true;
        }
        Ok(tta)
    }
}

impl From<Tta> for String {
    fn from(tta: Tta) -> String {
        tta.to_string()
    }
}

impl TryFrom<String> for Tta {
    type Error = String;

    fn try_from(text: String) -> Result<Tta, String> {
        text.parse()
    }
}

/// The network inputs of one image under `tta`: the crops first, then the padded views.
pub fn tta_inputs(bytes: &[u8], size: InputSize, tta: Tta) -> Result<Vec<Input>, ImageError> {
    let decoded = decode_rgb(bytes)?;
    let (crops, padded) = tta.kinds(size.view);
    let mut inputs = Vec::with_capacity(tta.views(size.view));
    // A view and, with `flip`, its mirror image.
    let with_mirror = |image: RgbImage| match tta.flip {
        true => {
            let mirror = imageops::flip_horizontal(&image);
            vec![image, mirror]
        }
        false => vec![image],
    };
    if crops {
        let size = size.with_view(View::Crop);
        let resized = fit(&decoded, size);
        match tta.ten_crop {
            true => inputs.extend(ten_crop(&resized, size.crop).iter().map(normalize)),
            false => {
                let crops = with_mirror(view_picture(&resized, size));
                inputs.extend(crops.iter().map(normalize));
            }
        }
    }
    if padded {
        let size = size.with_view(View::Pad);
        let photos = with_mirror(fit(&decoded, size));
        inputs.extend(photos.iter().map(|photo| view_input(photo, size)));
    }
    Ok(inputs)
}
