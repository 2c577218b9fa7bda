//! torchvision's ColorJitter on a PIL image: Pillow's ImageEnhance brightness, contrast and
//! colour (saturation), and the hue shift through Pillow's 8-bit HSV, in a random order.

use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

/// The ranges of ColorJitter's factors (`None`: that adjustment is off).
#[derive(Clone, Debug, PartialEq)]
pub struct Jitter {
    brightness: Option<[f64; 2]>,
    contrast: Option<[f64; 2]>,
    saturation: Option<[f64; 2]>,
    hue: Option<[f64; 2]>,
}

/// One adjustment of an image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Adjust {
    Brightness(f64),
    Contrast(f64),
    Saturation(f64),
    Hue(f64),
}

impl Jitter {
    /// `ColorJitter(b, c, s, h)` from `--color-jitter B,C,S,H`: factors from
    /// [max(0, 1 - v), 1 + v], the hue shift from [-h, h]; a zero turns one off.
    pub fn new(values: &[f64]) -> Jitter {
        let factor = |v: f64| (v > 0.0).then(|| [(1.0 - v).max(0.0), 1.0 + v]);
        Jitter {
            brightness: factor(values[0]),
            contrast: factor(values[1]),
            saturation: factor(values[2]),
            hue: (values[3] > 0.0).then(|| [-values[3], values[3]]),
        }
    }

    /// `ColorJitter.get_params`: a random order of the four, and each factor uniform in its
    /// range; the adjustments that are on, in that order.
    pub fn draw(&self, rng: &mut impl Rng) -> Adjustments {
        let mut order = [0, 1, 2, 3];
        order.shuffle(rng);
        let mut factor =
            |range: Option<[f64; 2]>| range.map(|[low, high]| rng.random_range(low..=high));
        let factors = [
            factor(self.brightness).map(Adjust::Brightness),
            factor(self.contrast).map(Adjust::Contrast),
            factor(self.saturation).map(Adjust::Saturation),
            factor(self.hue).map(Adjust::Hue),
        ];
        Adjustments(order.iter().filter_map(|&i| factors[i]).collect())
    }
}

/// Adjustments drawn for one image, in their order.
#[derive(Clone, Debug, PartialEq)]
pub struct Adjustments(pub Vec<Adjust>);

impl Adjustments {
    pub fn apply(&self, image: &mut RgbImage) {
        for adjust in &self.0 {
            adjust.apply(image);
        }
    }
}

impl Adjust {
    /// torchvision's `adjust_brightness`, `adjust_contrast`, `adjust_saturation` and
    /// `adjust_hue` on a PIL image.
    pub fn apply(&self, image: &mut RgbImage) {
        match *self {
            // ImageEnhance.Brightness: a blend with black.
            Adjust::Brightness(factor) => blend_with(image, factor, |_, _, _| [0; 3]),
            // ImageEnhance.Contrast: a blend with the mean grey level, rounded.
            Adjust::Contrast(factor) => {
                let pixels = (image.width() as u64 * image.height() as u64).max(1);
                let sum: u64 = image.pixels().map(|p| u64::from(luma(p.0))).sum();
                let mean = (sum as f64 / pixels as f64 + 0.5) as u8;
                blend_with(image, factor, |_, _, _| [mean; 3]);
            }
            // ImageEnhance.Color: a blend with each pixel's grey level.
            Adjust::Saturation(factor) => blend_with(image, factor, |_, _, p| [luma(p); 3]),
            Adjust::Hue(shift) => {
                // `np.int32(hue_factor * 255).astype(np.uint8)`: truncated, then wrapped.
                let shift = (shift * 255.0) as i32 as u8;
                for pixel in image.pixels_mut() {
                    let [h, s, v] = rgb_to_hsv(pixel.0);
                    pixel.0 = hsv_to_rgb([h.wrapping_add(shift), s, v]);
                }
            }
        }
    }
}

/// Pillow's `convert("L")`: ITU-R 601-2 luma in 16-bit fixed point, rounded.
fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// `Image.blend(degenerate, image, factor)` for every pixel, with `degenerate(x, y, pixel)`:
/// Pillow interpolates in f32 and truncates, clipping when extrapolating.
pub fn blend_with(
    image: &mut RgbImage,
    factor: f64,
    degenerate: impl Fn(u32, u32, [u8; 3]) -> [u8; 3],
) {
    let alpha = factor as f32;
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let base = degenerate(x, y, pixel.0);
        for (value, base) in pixel.0.iter_mut().zip(base) {
            let (from, to) = (f32::from(base), f32::from(*value));
            *value = (from + alpha * (to - from)).clamp(0.0, 255.0) as u8;
        }
    }
}

/// Pillow's RGB to HSV, each channel 0 to 255 (after Python's colorsys, in f32).
fn rgb_to_hsv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if max == min {
        return [0, 0, max];
    }
    let range = f32::from(max - min);
    let saturation = range / f32::from(max);
    let distance = |c: u8| f32::from(max - c) / range;
    let (rc, gc, bc) = (distance(r), distance(g), distance(b));
    // Pillow mixes C's float and double: each step rounds where its variable is a float.
    let hue = if r == max {
        bc - gc
    } else if g == max {
        (2.0 + f64::from(rc) - f64::from(bc)) as f32
    } else {
        (4.0 + f64::from(gc) - f64::from(rc)) as f32
    };
    let hue = ((f64::from(hue) / 6.0 + 1.0) % 1.0) as f32;
    let byte = |x: f32| (f64::from(x) * 255.0).clamp(0.0, 255.0) as u8;
    [byte(hue), byte(saturation), max]
}

/// Pillow's HSV to RGB.
fn hsv_to_rgb([h, s, v]: [u8; 3]) -> [u8; 3] {
    if s == 0 {
        return [v; 3];
    }
    let sixths = f64::from(h) * 6.0 / 255.0;
    let sector = sixths.floor();
    let (f, fs) = ((sixths - sector) as f32, (f64::from(s) / 255.0) as f32);
    let v64 = f64::from(v);
    let byte = |x: f64| x.round().clamp(0.0, 255.0) as u8;
    let p = byte(v64 * (1.0 - f64::from(fs)));
    let q = byte(v64 * (1.0 - f64::from(fs * f)));
    let t = byte(v64 * (1.0 - f64::from(fs) * (1.0 - f64::from(f))));
    match sector as u32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}
