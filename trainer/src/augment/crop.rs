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
        let crop = imageops::crop_imm(image, self.left, self.top, self.width, self.height);
        resize(&crop.to_image(), side, side, filter)
    }
}
