//! Resizing and cropping, with torchvision's exact arithmetic for sizes and offsets.

use image::{RgbImage, imageops};
use rand::{Rng, RngExt};

use super::resample::{Interpolation, resize};

/// Resizes so that the shorter side is `short`, like torchvision's `Resize(short, filter)` on a
/// PIL image: the longer side becomes `int(short * long / short_side)` (truncated), and the
/// filter is PIL's, widened when downscaling so it antialiases.
pub fn resize_shorter_side(image: &RgbImage, short: u32, filter: Interpolation) -> RgbImage {
    let (width, height) = image.dimensions();
    let (new_width, new_height) = if width <= height {
        (short, scaled_long_side(short, height, width))
    } else {
        (scaled_long_side(short, width, height), short)
    };
    if (new_width, new_height) == (width, height) {
        return image.clone();
    }
    resize(image, new_width, new_height, filter)
}

/// `int(short * long / short_side)` as torchvision computes it (in floating point, truncated).
fn scaled_long_side(short: u32, long: u32, short_side: u32) -> u32 {
    (f64::from(short) * f64::from(long) / f64::from(short_side)) as u32
}

/// A `size`x`size` window's top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub left: u32,
    pub top: u32,
    pub size: u32,
}

impl Window {
    /// torchvision's `CenterCrop`: offsets `int(round((side - size) / 2))`, where Python's
    /// `round` rounds halves to even.
    pub fn center(width: u32, height: u32, size: u32) -> Window {
        let offset = |side: u32| (f64::from(side - size) / 2.0).round_ties_even() as u32;
        Window {
            left: offset(width),
            top: offset(height),
            size,
        }
    }

    /// torchvision's `FiveCrop` order: top-left, top-right, bottom-left, bottom-right, centre.
    pub fn five(width: u32, height: u32, size: u32) -> [Window; 5] {
        let (right, bottom) = (width - size, height - size);
        let at = |left, top| Window { left, top, size };
        [
            at(0, 0),
            at(right, 0),
            at(0, bottom),
            at(right, bottom),
            Window::center(width, height, size),
        ]
    }

    /// torchvision's `RandomCrop`: each offset uniform over every position that fits.
    pub fn random(width: u32, height: u32, size: u32, rng: &mut impl Rng) -> Window {
        Window {
            left: rng.random_range(0..=width - size),
            top: rng.random_range(0..=height - size),
            size,
        }
    }

    pub fn crop(&self, image: &RgbImage) -> RgbImage {
        imageops::crop_imm(image, self.left, self.top, self.size, self.size).to_image()
    }
}

/// torchvision's `TenCrop(size)`: the five crops of the image, then the five crops of its
/// horizontal mirror image.
pub fn ten_crop(image: &RgbImage, size: u32) -> [RgbImage; 10] {
    let (width, height) = image.dimensions();
    let windows = Window::five(width, height, size);
    let mirrored = imageops::flip_horizontal(image);
    let crops: Vec<RgbImage> = windows
        .iter()
        .map(|w| w.crop(image))
        .chain(windows.iter().map(|w| w.crop(&mirrored)))
        .collect();
    crops.try_into().expect("five windows on two images")
}

/// Resizes so that the longer side is `side` (PIL's `ImageOps.contain`): the shorter side
/// becomes `round(short / long * side)` (halves to even, as Python's `round`), at least 1.
pub fn resize_longer_side(image: &RgbImage, side: u32, filter: Interpolation) -> RgbImage {
    let (width, height) = image.dimensions();
    let scaled = |short: u32, long: u32| {
        ((f64::from(short) / f64::from(long) * f64::from(side)).round_ties_even() as u32).max(1)
    };
    let (new_width, new_height) = if width >= height {
        (side, scaled(height, width))
    } else {
        (scaled(width, height), side)
    };
    if (new_width, new_height) == (width, height) {
        return image.clone();
    }
    resize(image, new_width, new_height, filter)
}

/// Where a `width`x`height` image sits in a `side`x`side` square: its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub left: u32,
    pub top: u32,
}

impl Placement {
    /// Centred, as `ImageOps.pad` places it (offsets rounded, halves to even).
    pub fn center(width: u32, height: u32, side: u32) -> Placement {
        let offset = |extent: u32| (f64::from(side - extent) / 2.0).round_ties_even() as u32;
        Placement {
            left: offset(width),
            top: offset(height),
        }
    }

    /// Each offset uniform over every position that keeps the image inside the square.
    pub fn random(width: u32, height: u32, side: u32, rng: &mut impl Rng) -> Placement {
        Placement {
            left: rng.random_range(0..=side - width),
            top: rng.random_range(0..=side - height),
        }
    }

    /// The normalised `[3, height, width]` `input` inside a `[3, side, side]` square of zeros:
    /// the padding is the normalisation mean.
    pub fn letterbox(&self, input: &[f32], width: u32, height: u32, side: u32) -> Vec<f32> {
        let (width, height, side) = (width as usize, height as usize, side as usize);
        let (left, top) = (self.left as usize, self.top as usize);
        let mut out = vec![0.0f32; 3 * side * side];
        for c in 0..3 {
            for y in 0..height {
                let from = (c * height + y) * width;
                let to = (c * side + top + y) * side + left;
                out[to..to + width].copy_from_slice(&input[from..from + width]);
            }
        }
        out
    }

    /// The square as a picture (to show what the network saw): the image on `fill`.
    pub fn paste(&self, image: &RgbImage, side: u32, fill: image::Rgb<u8>) -> RgbImage {
        let mut out = RgbImage::from_pixel(side, side, fill);
        imageops::replace(&mut out, image, i64::from(self.left), i64::from(self.top));
        out
    }
}
