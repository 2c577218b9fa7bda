//! Pillow's bicubic and bilinear resampling (`Image.resize(size, BICUBIC | BILINEAR)`,
//! libImaging/Resample.c), reproduced exactly: the same coefficients, the same 22-bit
//! fixed-point arithmetic with rounding, horizontal pass first and an 8-bit intermediate image.
//! Resizing crates use other precisions and pass orders, which shifts pixels by a level here and
//! there; this makes our input bit-identical to what torchvision's pretrained models were fed.

use image::RgbImage;
use serde::{Deserialize, Serialize};

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The resampling filter of the resize, as torchvision's weights define it per architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Pillow's triangle filter, support 1 (torchvision's default: ResNet's, MobileNetV3's and
    /// ConvNeXt's weights).
    Bilinear,
    /// Pillow's Catmull-Rom filter (a = -0.5), support 2: EfficientNet's weights, and the
    /// tutorial's recipe for ResNet.
    #[default]
    Bicubic,
}

impl Interpolation {
    /// The filter's half-width at scale 1.
    fn support(self) -> f64 {
        match self {
            Interpolation::Bilinear => 1.0,
            Interpolation::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Interpolation::Bilinear => bilinear(x),
            Interpolation::Bicubic => bicubic(x),
        }
    }
}

impl core::fmt::Display for Interpolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Interpolation::Bilinear => "bilinear",
            Interpolation::Bicubic => "bicubic",
        })
    }
}

/// Pillow's bilinear (triangle) kernel, support 1.
fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Pillow's bicubic kernel (a = -0.5), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position: the first input position and the fixed-point weights of the
/// input positions it reads.
struct Taps {
    first: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

impl Taps {
    /// `precompute_coeffs` + `normalize_coeffs_8bpc`: when downscaling the kernel is widened
    /// by the scale factor, which is what makes the resize antialiased.
    fn new(in_size: usize, out_size: usize, filter: Interpolation) -> Taps {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = filter.support() * filter_scale;
        let mut first = Vec::with_capacity(out_size);
        let mut weights = Vec::with_capacity(out_size);
        for out in 0..out_size {
            let center = (out as f64 + 0.5) * scale;
            // C's `(int)` truncates toward zero; the clamps follow it as in Pillow.
            let min = ((center - support + 0.5) as i64).max(0) as usize;
            let max = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut taps: Vec<f64> = (min..max)
                .map(|x| filter.weight((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = taps.iter().sum();
            if total != 0.0 {
                taps.iter_mut().for_each(|w| *w /= total);
            }
            let one = f64::from(1u32 << PRECISION_BITS);
            let fixed = taps
                .iter()
                .map(|&w| {
                    if w < 0.0 {
                        (-0.5 + w * one) as i32
                    } else {
                        (0.5 + w * one) as i32
                    }
                })
                .collect();
            first.push(min);
            weights.push(fixed);
        }
        Taps { first, weights }
    }

    /// One output value from `read(i)` = the input at position `first + i`.
    fn apply(&self, out: usize, read: impl Fn(usize) -> u8) -> u8 {
        let mut sum: i32 = 1 << (PRECISION_BITS - 1);
        for (i, w) in self.weights[out].iter().enumerate() {
            sum += i32::from(read(self.first[out] + i)) * w;
        }
        (sum >> PRECISION_BITS).clamp(0, 255) as u8
    }
}

/// Resizes an RGB image to `width`x`height` as Pillow's `filter` does.
pub fn resize(image: &RgbImage, width: u32, height: u32, filter: Interpolation) -> RgbImage {
    let (in_width, in_height) = (image.width() as usize, image.height() as usize);
    let (width, height) = (width as usize, height as usize);
    let src = image.as_raw();

    let vertical = Taps::new(in_height, height, filter);
    // Only the rows the vertical pass reads go through the horizontal pass.
    let rows = if height == in_height {
        0..in_height
    } else {
        let last = height - 1;
        vertical.first[0]..vertical.first[last] + vertical.weights[last].len()
    };

    let (mid, mid_width) = if width == in_width {
        (
            src[rows.start * in_width * 3..rows.end * in_width * 3].to_vec(),
            in_width,
        )
    } else {
        let horizontal = Taps::new(in_width, width, filter);
        let mut mid = vec![0u8; rows.len() * width * 3];
        for (row, y) in rows.clone().enumerate() {
            let line = &src[y * in_width * 3..(y + 1) * in_width * 3];
            for x in 0..width {
                for c in 0..3 {
                    mid[(row * width + x) * 3 + c] = horizontal.apply(x, |i| line[i * 3 + c]);
                }
            }
        }
        (mid, width)
    };

    let out = if height == in_height {
        mid
    } else {
        let mut out = vec![0u8; height * mid_width * 3];
        for y in 0..height {
            for x in 0..mid_width {
                for c in 0..3 {
                    out[(y * mid_width + x) * 3 + c] =
                        vertical.apply(y, |i| mid[((i - rows.start) * mid_width + x) * 3 + c]);
                }
            }
        }
        out
    };
    RgbImage::from_raw(width as u32, height as u32, out).expect("width * height RGB pixels")
}
