//! torchvision's RandomResizedCrop: a random region of the image, resized to a square.

use image::{RgbImage, imageops};
use rand::{Rng, RngExt};
use shared::preprocess::{Interpolation, resize};

/// A rectangle of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

impl Region {
    /// `RandomResizedCrop.get_params`: up to ten tries at a region of a share of the area drawn
    /// from `scale` and an aspect ratio drawn log-uniformly from `ratio`, placed uniformly;
    /// failing those, the largest centred region within `ratio`.
    pub fn random(
        width: u32,
        height: u32,
        scale: [f64; 2],
        ratio: [f64; 2],
        rng: &mut impl Rng,
    ) -> Region {
        let area = f64::from(width) * f64::from(height);
        let log_ratio = [ratio[0].ln(), ratio[1].ln()];
        for _ in 0..10 {
            let target = area * rng.random_range(scale[0]..=scale[1]);
            let aspect = rng.random_range(log_ratio[0]..=log_ratio[1]).exp();
            // Python's `int(round(x))`: halves to even.
            let w = (target * aspect).sqrt().round_ties_even() as u32;
            let h = (target / aspect).sqrt().round_ties_even() as u32;
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return Region {
                    left,
                    top,
                    width: w,
                    height: h,
                };
            }
        }
        let in_ratio = f64::from(width) / f64::from(height);
        let (w, h) = if in_ratio < ratio[0] {
            (
                width,
                (f64::from(width) / ratio[0]).round_ties_even() as u32,
            )
        } else if in_ratio > ratio[1] {
            (
                (f64::from(height) * ratio[1]).round_ties_even() as u32,
                height,
            )
        } else {
            (width, height)
        };
        Region {
            left: (width - w) / 2,
            top: (height - h) / 2,
            width: w,
            height: h,
        }
    }

    /// torchvision's `resized_crop` on a PIL image: this region, resized to `side` x `side`
    /// with Pillow's `filter`.
    pub fn resized(&self, image: &RgbImage, side: u32, filter: Interpolation) -> RgbImage {
        resize(&self.cut(image), side, side, filter)
    }

    /// This region of `image`.
    pub fn cut(&self, image: &RgbImage) -> RgbImage {
        imageops::crop_imm(image, self.left, self.top, self.width, self.height).to_image()
    }
}

/// torchvision's RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0) on a
/// normalised `[3, side, side]` input: with probability `p`, up to ten tries at a rectangle of
/// that share of the area and aspect (height / width, log-uniform), placed uniformly and set
/// to 0 (the mean colour); none when every try is too large.
pub fn random_erase(input: &mut [f32], side: usize, p: f64, rng: &mut impl Rng) -> Option<Region> {
    if rng.random::<f64>() >= p {
        return None;
    }
    let area = (side * side) as f64;
    let log_ratio = [0.3f64.ln(), 3.3f64.ln()];
    for _ in 0..10 {
        let target = area * rng.random_range(0.02..=0.33);
        let aspect = rng.random_range(log_ratio[0]..=log_ratio[1]).exp();
        let h = (target * aspect).sqrt().round_ties_even() as usize;
        let w = (target / aspect).sqrt().round_ties_even() as usize;
        if h < side && w < side {
            let top = rng.random_range(0..=side - h);
            let left = rng.random_range(0..=side - w);
            let region = Region {
                left: left as u32,
                top: top as u32,
                width: w as u32,
                height: h as u32,
            };
            region.erase(input, side);
            return Some(region);
        }
    }
    None
}

impl Region {
    /// torchvision's `erase(img, i, j, h, w, v=0)`: the region set to 0 in every channel.
    pub fn erase(&self, input: &mut [f32], side: usize) {
        let (left, width) = (self.left as usize, self.width as usize);
        for channel in 0..3 {
            for y in self.top as usize..(self.top + self.height) as usize {
                let row = (channel * side + y) * side;
                input[row + left..row + left + width].fill(0.0);
            }
        }
    }
}
