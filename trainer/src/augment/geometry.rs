//! The geometric ops of TrivialAugment and RandAugment as torchvision runs them on a PIL
//! image: `F.affine` (shear, translation) and `F.rotate`, through Pillow's affine transform
//! with bilinear filtering (torchvision's reference script's `--interpolation`), black outside
//! the image.

use image::RgbImage;

/// Pillow's inverse affine matrix: an output pixel's centre (x + 0.5, y + 0.5) comes from
/// (a0 x + a1 y + a2, a3 x + a4 y + a5) of the input.
pub type Matrix = [f64; 6];

/// torchvision's `_get_inverse_affine_matrix` (degrees; `center` in pixels), as `F.affine`
/// builds it for a PIL image, in the same order of operations.
pub fn inverse_affine(
    center: [f64; 2],
    angle: f64,
    translate: [f64; 2],
    shear: [f64; 2],
) -> Matrix {
    let rot = angle.to_radians();
    let (sx, sy) = (shear[0].to_radians(), shear[1].to_radians());
    let [cx, cy] = center;
    let [tx, ty] = translate;
    let a = (rot - sy).cos() / sy.cos();
    let b = -(rot - sy).cos() * sx.tan() / sy.cos() - rot.sin();
    let c = (rot - sy).sin() / sy.cos();
    let d = -(rot - sy).sin() * sx.tan() / sy.cos() + rot.cos();
    let mut m = [d, -b, 0.0, -c, a, 0.0];
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
    m[2] += cx;
    m[5] += cy;
    m
}

/// `F.affine(img, angle=0, translate, scale=1, shear, center)` on a PIL image.
pub fn affine(
    image: &RgbImage,
    center: Option<[f64; 2]>,
    translate: [f64; 2],
    shear: [f64; 2],
) -> RgbImage {
    let (width, height) = image.dimensions();
    let center = center.unwrap_or([f64::from(width) * 0.5, f64::from(height) * 0.5]);
    transform(image, &inverse_affine(center, 0.0, translate, shear))
}

/// PIL's `Image.rotate(degrees, BILINEAR)` (counter-clockwise, about the centre, same size):
/// its exact quarter turns for a square image, otherwise its affine transform.
pub fn rotate(image: &RgbImage, degrees: f64) -> RgbImage {
    let degrees = degrees.rem_euclid(360.0);
    let (width, height) = image.dimensions();
    let square = width == height;
    // (The `image` crate turns clockwise.)
    if degrees == 0.0 {
        return image.clone();
    } else if degrees == 180.0 {
        return image::imageops::rotate180(image);
    } else if degrees == 90.0 && square {
        return image::imageops::rotate270(image);
    } else if degrees == 270.0 && square {
        return image::imageops::rotate90(image);
    }
    let angle = -degrees.to_radians();
    let (cos, sin) = (round15(angle.cos()), round15(angle.sin()));
    let mut m = [cos, sin, 0.0, round15(-angle.sin()), cos, 0.0];
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let (x, y) = (-cx - 0.0, -cy - 0.0);
    (m[2], m[5]) = (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]);
    m[2] += cx;
    m[5] += cy;
    transform(image, &m)
}

/// Python's `round(x, 15)`, as `Image.rotate` rounds its matrix.
fn round15(x: f64) -> f64 {
    format!("{x:.15}").parse().unwrap_or(x)
}

/// Pillow's `ImagingGenericTransform` with `bilinear_filter32RGB`: each output pixel samples
/// the input where `m` sends its centre, in f64, truncated to 8 bits; black where that
/// falls outside the input.
pub fn transform(image: &RgbImage, m: &Matrix) -> RgbImage {
    let (width, height) = image.dimensions();
    let (w, h) = (i64::from(width), i64::from(height));
    let pixels = image.as_raw();
    let at = |x: i64, y: i64, band: usize| f64::from(pixels[((y * w + x) * 3) as usize + band]);
    let clip = |v: i64, size: i64| v.clamp(0, size - 1);
    let mut out = RgbImage::new(width, height);
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let (xo, yo) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let xin = m[0] * xo + m[1] * yo + m[2];
        let yin = m[3] * xo + m[4] * yo + m[5];
        if xin < 0.0 || xin >= f64::from(width) || yin < 0.0 || yin >= f64::from(height) {
            continue;
        }
        let (xin, yin) = (xin - 0.5, yin - 0.5);
        let (ix, iy) = (xin.floor() as i64, yin.floor() as i64);
        let (dx, dy) = (xin - ix as f64, yin - iy as f64);
        let (x0, x1) = (clip(ix, w), clip(ix + 1, w));
        let row = clip(iy, h);
        for (band, value) in pixel.0.iter_mut().enumerate() {
            let lerp = |a: f64, b: f64, d: f64| a + (b - a) * d;
            let mut v = lerp(at(x0, row, band), at(x1, row, band), dx);
            if iy + 1 >= 0 && iy + 1 < h {
                let below = lerp(at(x0, iy + 1, band), at(x1, iy + 1, band), dx);
                v = lerp(v, below, dy);
            }
            *value = v as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, 99])
        })
    }

    /// The identity matrix copies the image exactly; a whole-pixel translation moves it.
    #[test]
    fn whole_pixel_moves_are_exact() {
        let image = gradient(20, 12);
        assert_eq!(transform(&image, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), image);
        let moved = affine(&image, None, [3.0, -2.0], [0.0, 0.0]);
        assert_eq!(moved.get_pixel(5, 5), image.get_pixel(2, 7));
        assert_eq!(
            moved.get_pixel(1, 1).0,
            [0, 0, 0],
            "uncovered pixels are black"
        );
    }

    /// A quarter turn of a square is Pillow's exact transpose, counter-clockwise.
    #[test]
    fn quarter_turns_are_exact() {
        let image = gradient(9, 9);
        let turned = rotate(&image, 90.0);
        assert_eq!(turned.get_pixel(0, 0), image.get_pixel(8, 0));
        assert_eq!(rotate(&image, -90.0).get_pixel(0, 0), image.get_pixel(0, 8));
        assert_eq!(rotate(&image, 360.0), image);
    }
}
