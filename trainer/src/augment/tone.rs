//! The tone ops of TrivialAugment and RandAugment as torchvision runs them on a PIL image:
//! Pillow's `ImageOps` posterize, solarize, autocontrast and equalize (a lookup table per
//! channel), and `ImageEnhance.Sharpness`.

use image::RgbImage;

use super::color::blend_with;

/// Maps each channel's values through its own table.
fn apply_tables(image: &mut RgbImage, tables: &[[u8; 256]; 3]) {
    for pixel in image.pixels_mut() {
        for (value, table) in pixel.0.iter_mut().zip(tables) {
            *value = table[usize::from(*value)];
        }
    }
}

/// Each channel's histogram.
fn histograms(image: &RgbImage) -> [[u64; 256]; 3] {
    let mut counts = [[0u64; 256]; 3];
    for pixel in image.pixels() {
        for (band, value) in pixel.0.iter().enumerate() {
            counts[band][usize::from(*value)] += 1;
        }
    }
    counts
}

/// `ImageOps.posterize`: keeps the top `bits` of each value.
pub fn posterize(image: &mut RgbImage, bits: u8) {
    let mask = !((1u16 << (8 - bits.clamp(1, 8))) - 1) as u8;
    let table = std::array::from_fn(|i| i as u8 & mask);
    apply_tables(image, &[table; 3]);
}

/// `ImageOps.solarize`: values at or above `threshold` inverted.
pub fn solarize(image: &mut RgbImage, threshold: f64) {
    let table = std::array::from_fn(|i| match (i as f64) < threshold {
        true => i as u8,
        false => 255 - i as u8,
    });
    apply_tables(image, &[table; 3]);
}

/// `ImageOps.autocontrast` (no cut-off): each channel stretched from its lowest to its highest
/// value onto 0-255, truncated.
pub fn autocontrast(image: &mut RgbImage) {
    let tables = histograms(image).map(|counts| {
        let low = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let high = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        if high <= low {
            return std::array::from_fn(|i| i as u8);
        }
        let scale = 255.0 / (high - low) as f64;
        let offset = -(low as f64) * scale;
        std::array::from_fn(|i| (i as f64 * scale + offset).clamp(0.0, 255.0) as u8)
    });
    apply_tables(image, &tables);
}

/// `ImageOps.equalize`: each channel through its cumulative histogram, as Pillow steps it.
pub fn equalize(image: &mut RgbImage) {
    let tables = histograms(image).map(|counts| {
        let used: Vec<u64> = counts.iter().copied().filter(|&c| c > 0).collect();
        let identity = std::array::from_fn(|i| i as u8);
        // The pixels but those of the highest value, over 255.
        let step = match used[..] {
            [_, .., last] => (used.iter().sum::<u64>() - last) / 255,
            _ => 0,
        };
        if step == 0 {
            return identity;
        }
        let mut n = step / 2;
        std::array::from_fn(|i| {
            let value = (n / step).min(255) as u8;
            n += counts[i];
            value
        })
    });
    apply_tables(image, &tables);
}

/// `ImageEnhance.Sharpness(image).enhance(factor)`: a blend with Pillow's SMOOTH filter of
/// the image.
pub fn sharpness(image: &mut RgbImage, factor: f64) {
    let smooth = smooth(image);
    blend_with(image, factor, |x, y, _| smooth.get_pixel(x, y).0);
}

/// Pillow's `ImageFilter.SMOOTH` (3x3 kernel 1 1 1 / 1 5 1 / 1 1 1, over 13) in its f32
/// arithmetic, rounded; the border pixels kept.
fn smooth(image: &RgbImage) -> RgbImage {
    let (width, height) = image.dimensions();
    let mut out = image.clone();
    if width < 3 || height < 3 {
        return out;
    }
    let (edge, centre) = ((1.0f64 / 13.0) as f32, (5.0f64 / 13.0) as f32);
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            for band in 0..3 {
                let value =
                    |dx: u32, dy: u32| f32::from(image.get_pixel(x + dx - 1, y + dy - 1)[band]);
                let row = |dy: u32, middle: f32| {
                    value(0, dy) * edge + value(1, dy) * middle + value(2, dy) * edge
                };
                // Pillow sums the row below first.
                let mut sum = 0.5f32;
                sum += row(2, edge);
                sum += row(1, centre);
                sum += row(0, edge);
                out.get_pixel_mut(x, y)[band] = sum.clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ops_follow_pillow_s_tables() {
        let mut image = RgbImage::from_fn(4, 1, |x, _| image::Rgb([x as u8 * 60 + 10, 200, 7]));
        posterize(&mut image, 2);
        assert_eq!(image.get_pixel(3, 0).0, [128, 192, 0]);
        let mut image = RgbImage::from_fn(2, 1, |x, _| image::Rgb([x as u8 * 200, 128, 127]));
        solarize(&mut image, 128.0);
        assert_eq!(image.get_pixel(1, 0).0, [55, 127, 127]);
        let mut image = RgbImage::from_fn(3, 1, |x, _| image::Rgb([50 + x as u8 * 50, 9, 0]));
        autocontrast(&mut image);
        assert_eq!(image.get_pixel(0, 0).0, [0, 9, 0]);
        assert_eq!(image.get_pixel(2, 0).0, [255, 9, 0]);
    }
}
