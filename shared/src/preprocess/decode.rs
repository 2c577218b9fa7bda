//! Turning file bytes into an upright RGB image, with limits against decompression bombs.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// The largest image we agree to decode, in pixels (a 100-megapixel photo). Larger declared
/// sizes are refused before any pixel memory is allocated.
pub const MAX_PIXELS: u64 = 100_000_000;
/// The longest side we agree to decode.
pub const MAX_SIDE: u32 = 30_000;
/// The most elongated picture we accept (long side / short side). Resizing the short side to
/// 256 multiplies the long side too: a 30000x1 strip would become 7.7 million pixels wide.
pub const MAX_ASPECT: u32 = 20;
/// Memory the decoder may allocate (a 100-megapixel RGBA image plus headroom).
const MAX_ALLOC: u64 = 1 << 30;

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("empty file")]
    Empty,
    #[error("not a supported image (expected JPEG, PNG or WebP)")]
    UnknownFormat,
    #[error("{format:?} images are not supported (expected JPEG, PNG or WebP)")]
    UnsupportedFormat { format: ImageFormat },
    #[error(
        "image is {width}x{height} pixels, over the limit of {max_pixels} pixels / {max_side} per side"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
        max_side: u32,
    },
    #[error("image is {width}x{height} pixels, more elongated than {MAX_ASPECT}:1")]
    TooElongated { width: u32, height: u32 },
    #[error("decoding would need more than {limit_mib} MiB of memory", limit_mib = MAX_ALLOC >> 20)]
    OverMemoryLimit,
    #[error(
        "image is {width}x{height} pixels; decoding it takes about {need_mib} MiB of memory, \
         more than is available"
    )]
    OutOfMemory {
        width: u32,
        height: u32,
        need_mib: u64,
    },
    #[error("cannot decode {format:?} image: {reason}")]
    Corrupt { format: ImageFormat, reason: String },
    #[error("truncated JPEG: the file ends before its image data does")]
    Truncated,
    #[error("{bytes} bytes of RGBA pixels are not a {width}x{height} picture")]
    PixelCount {
        width: u32,
        height: u32,
        bytes: usize,
    },
}

/// Decodes JPEG, PNG or WebP bytes (the format is sniffed from the content, not the file
/// name), applies the EXIF orientation and converts to 8-bit RGB.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .expect("reading from memory cannot fail");
    let format = reader.format().ok_or(ImageError::UnknownFormat)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return Err(ImageError::UnsupportedFormat { format });
    }
    // The JPEG decoder fills a cut-off scan with grey instead of failing: refuse it here.
    if format == ImageFormat::Jpeg && !ends_after_last_scan(bytes) {
        return Err(ImageError::Truncated);
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);

    let failed = |err: image::ImageError| match err {
        image::ImageError::Limits(_) => ImageError::OverMemoryLimit,
        err => ImageError::Corrupt {
            format,
            reason: err.to_string(),
        },
    };
    let mut decoder = reader.into_decoder().map_err(failed)?;
    // The declared size is checked before a single pixel is decoded.
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    // The decoded pixels, a turned copy and an 8-bit RGB copy may all be held at once. That
    // memory is asked for first, in a way that can fail: a failed allocation would abort (in
    // the page, whose WebAssembly memory a browser caps, it ends the worker).
    let need = decoder
        .total_bytes()
        .saturating_mul(2)
        .saturating_add(u64::from(width) * u64::from(height) * 3);
    let available =
        usize::try_from(need).is_ok_and(|need| Vec::<u8>::new().try_reserve_exact(need).is_ok());
    if !available {
        return Err(ImageError::OutOfMemory {
            width,
            height,
            need_mib: need.div_ceil(1 << 20),
        });
    }
    // A broken EXIF block should not cost the user the picture: keep it unrotated.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(failed)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Refuses sizes over the limits (see [`MAX_PIXELS`], [`MAX_SIDE`], [`MAX_ASPECT`]).
pub fn check_size(width: u32, height: u32) -> Result<(), ImageError> {
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            width,
            height,
            max_pixels: MAX_PIXELS,
            max_side: MAX_SIDE,
        });
    }
    if width.max(height) > MAX_ASPECT.saturating_mul(width.min(height)) {
        return Err(ImageError::TooElongated { width, height });
    }
    Ok(())
}

/// An upright picture that something else decoded (the browser, for formats this decoder
/// lacks), as RGBA rows: its RGB, the alpha dropped. (A browser hands over transparent pixels
/// as black, where `decode_rgb` keeps their stored colour.)
pub fn rgb_from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage, ImageError> {
    check_size(width, height)?;
    if rgba.len() as u64 != 4 * u64::from(width) * u64::from(height) {
        return Err(ImageError::PixelCount {
            width,
            height,
            bytes: rgba.len(),
        });
    }
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    Ok(RgbImage::from_raw(width, height, rgb).expect("the length was checked"))
}

/// Whether a JPEG's last end-of-image marker comes after its last start-of-scan marker.
/// Markers cannot occur inside entropy-coded data (an 0xff there is followed by 0x00 or a
/// restart marker), so this holds for any complete file, also with an embedded thumbnail or
/// data appended after the image.
fn ends_after_last_scan(jpeg: &[u8]) -> bool {
    let last = |marker: u8| jpeg.windows(2).rposition(|w| w == [0xff, marker]);
    match (last(0xda), last(0xd9)) {
        (Some(scan), Some(end)) => end > scan,
        (None, _) => true, // no scan at all: the decoder says what is wrong
        (Some(_), None) => false,
    }
}
