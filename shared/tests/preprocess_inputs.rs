//! Preprocessing on the inputs users actually have: bad files, huge declared sizes, odd
//! formats, and the training augmentation.

use image::{ImageFormat, Rgb, RgbImage};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shared::preprocess::{self, CROP, ImageError, InputSize};

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    })
}

/// A PNG whose header declares `width`x`height` but that carries (almost) no pixel data: a
/// decompression bomb's shape.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&[kind, data].concat());
        out.extend_from_slice(&crc.to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    [
        b"\x89PNG\r\n\x1a\n".to_vec(),
        chunk(b"IHDR", &ihdr),
        chunk(b"IDAT", b"\x78\x9c\x03\x00\x00\x00\x00\x01"), // an empty zlib stream
        chunk(b"IEND", &[]),
    ]
    .concat()
}

#[test]
fn every_accepted_format_gives_a_224_input() {
    let image = gradient(320, 240);
    for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
        let input = preprocess::eval_input(&encode(&image, format), InputSize::IMAGENET).unwrap();
        assert_eq!(input.len(), 3 * (CROP * CROP) as usize, "{format:?}");
        assert!(input.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn grayscale_and_alpha_become_rgb() {
    let gray = image::GrayImage::from_fn(300, 300, |x, _| image::Luma([x as u8]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    gray.write_to(&mut bytes, ImageFormat::Png).unwrap();
    let rgb = preprocess::decode_rgb(bytes.get_ref()).unwrap();
    assert_eq!(rgb.get_pixel(7, 0), &Rgb([7, 7, 7]));

    let rgba = image::RgbaImage::from_pixel(10, 10, image::Rgba([10, 20, 30, 0]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    rgba.write_to(&mut bytes, ImageFormat::Png).unwrap();
    let rgb = preprocess::decode_rgb(bytes.get_ref()).unwrap();
    assert_eq!(rgb.get_pixel(0, 0), &Rgb([10, 20, 30]));
}

/// Pixels the browser decoded (formats our decoder lacks) go through the same limits and drop
/// their alpha as decoded files do.
#[test]
fn browser_decoded_pixels_are_checked_like_files() {
    let rgba = image::RgbaImage::from_fn(40, 30, |x, y| image::Rgba([x as u8, y as u8, 9, 0]));
    let rgb = preprocess::rgb_from_rgba(rgba.as_raw(), 40, 30).unwrap();
    assert_eq!(rgb.dimensions(), (40, 30));
    assert_eq!(rgb.get_pixel(5, 7), &Rgb([5, 7, 9]));
    let short = preprocess::rgb_from_rgba(&rgba.as_raw()[4..], 40, 30).unwrap_err();
    assert_eq!(
        short.to_string(),
        "4796 bytes of RGBA pixels are not a 40x30 picture"
    );
    let long = [rgba.as_raw().as_slice(), &[0; 4]].concat();
    assert!(matches!(
        preprocess::rgb_from_rgba(&long, 40, 30),
        Err(ImageError::PixelCount { .. })
    ));
    let strip = preprocess::rgb_from_rgba(&[0; 4 * 2100], 2100, 1).unwrap_err();
    assert!(matches!(strip, ImageError::TooElongated { .. }), "{strip}");
    let huge = preprocess::rgb_from_rgba(&[], 20_000, 20_000).unwrap_err();
    assert!(matches!(huge, ImageError::TooLarge { .. }), "{huge}");
}

/// A JPEG cut halfway through its entropy-coded data, which its decoder would fill with grey.
fn cut_in_scan(jpeg: &[u8]) -> Vec<u8> {
    let scan = jpeg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
    jpeg[..scan + (jpeg.len() - scan) / 2].to_vec()
}

#[test]
fn unusable_files_get_precise_errors() {
    let jpeg = encode(&gradient(64, 64), ImageFormat::Jpeg);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty file"),
        (
            "text",
            b"label,task\nnot an image\n".to_vec(),
            "not a supported image (expected JPEG, PNG or WebP)",
        ),
        (
            "gif",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            "Gif images are not supported (expected JPEG, PNG or WebP)",
        ),
        (
            "truncated jpeg",
            jpeg[..jpeg.len() / 3].to_vec(),
            "cannot decode Jpeg image:",
        ),
        (
            "jpeg cut in its image data",
            cut_in_scan(&jpeg),
            "truncated JPEG: the file ends before its image data does",
        ),
        (
            "bomb",
            png_declaring(100_000, 100_000),
            "image is 100000x100000 pixels, over the limit of 100000000 pixels / 30000 per side",
        ),
        (
            "long strip",
            png_declaring(40_000, 10),
            "image is 40000x10 pixels, over the limit",
        ),
        (
            "thin strip",
            png_declaring(10, 2_000),
            "image is 10x2000 pixels, more elongated than 20:1",
        ),
    ];
    for (what, bytes, message) in cases {
        let err = preprocess::decode_rgb(&bytes).unwrap_err();
        assert!(
            err.to_string().starts_with(message),
            "{what}: got `{err}`, expected `{message}`"
        );
    }
    assert!(matches!(
        preprocess::decode_rgb(&png_declaring(20_000, 20_000)),
        Err(ImageError::TooLarge { .. })
    ));
}

#[test]
fn training_crops_are_seeded_random_crops_and_flips() {
    // Every column has its own colour, so a crop's first pixel says where it was cut from
    // and whether it was mirrored.
    let image = RgbImage::from_fn(300, 256, |x, _| Rgb([x as u8, (x / 2) as u8, 0]));
    let bytes = encode(&image, ImageFormat::Png);

    let inputs = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..40)
            .map(|_| preprocess::train_input(&bytes, InputSize::IMAGENET, &mut rng).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(inputs(7), inputs(7), "same seed, same crops");
    assert_ne!(inputs(7), inputs(8));

    let plane = (CROP * CROP) as usize;
    let (mut flipped, mut lefts) = (0, std::collections::BTreeSet::new());
    for input in inputs(7) {
        let red = |x: usize| input[x]; // channel 0, first row
        if red(0) > red(CROP as usize - 1) {
            flipped += 1;
        }
        lefts.insert((red(0).min(red(CROP as usize - 1)) * 1000.0) as i64);
        assert_eq!(input.len(), 3 * plane);
    }
    assert!((10..=30).contains(&flipped), "{flipped} of 40 flipped");
    assert!(lefts.len() > 10, "crops should start at many offsets");
}

#[test]
fn batches_stack_into_one_tensor() {
    use burn::prelude::*;
    let device = Device::flex();
    let bytes = encode(&gradient(256, 256), ImageFormat::Png);
    let input = preprocess::eval_input(&bytes, InputSize::IMAGENET).unwrap();
    let batch = preprocess::batch_tensor(&[input.clone(), input], CROP as usize, &device);
    assert_eq!(batch.dims(), [2, 3, CROP as usize, CROP as usize]);
}
