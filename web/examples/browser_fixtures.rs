//! Writes the photos the browser test (`web/tests/browser.mjs`) drops onto the page, made
//! from one good JPEG: a phone-style photo with EXIF orientation 6, a 50-megapixel photo, and
//! files that must be refused with a clear message.
//!
//! `cargo run -p web --example browser_fixtures -- <photo.jpg> <out dir>`

use std::path::PathBuf;

use image::codecs::jpeg::JpegEncoder;
use image::{RgbImage, imageops};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [photo, out] = args.as_slice() else {
        return Err("usage: browser_fixtures <photo.jpg> <out dir>".into());
    };
    std::fs::create_dir_all(out)?;
    let upright = image::open(photo)?.into_rgb8();
    let write = |name: &str, bytes: &[u8]| std::fs::write(out.join(name), bytes);

    // Stored turned a quarter to the left; EXIF orientation 6 says "turn right to view".
    write(
        "phone-exif-6.jpg",
        &with_orientation(&jpeg(&imageops::rotate270(&upright))?, 6),
    )?;

    // 8700 x 5800 = 50.5 megapixels, the size of a high-end camera's photo.
    let huge = imageops::resize(&upright, 8700, 5800, imageops::FilterType::Triangle);
    write("camera-50mp.jpg", &jpeg(&huge)?)?;

    let good = std::fs::read(photo)?;
    // Cut off in the middle of the image data, as by an interrupted download.
    let scan = segment(&good, 0xda).ok_or("no scan in the source JPEG")?;
    write("truncated.jpg", &good[..scan + (good.len() - scan) / 2])?;
    // A Huffman table that declares more codes than a table can hold.
    let mut damaged = good.clone();
    let table = segment(&good, 0xc4).ok_or("no Huffman table in the source JPEG")?;
    damaged[table + 5..table + 21].fill(0xff);
    write("damaged.jpg", &damaged)?;
    write("notes.jpg", b"Shopping list: skirt, scarf.\n")?;
    write("empty.png", b"")?;
    Ok(())
}

fn jpeg(image: &RgbImage) -> image::ImageResult<Vec<u8>> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 92).encode_image(image)?;
    Ok(bytes)
}

/// Inserts an EXIF block (APP1, big-endian TIFF, one IFD entry: Orientation) after the SOI.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec(); // header, IFD at 8, one entry
    tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]); // tag 0x0112, SHORT, count 1
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0, 0, 0, 0, 0]); // value padding, no next IFD
    let length = (2 + 6 + tiff.len()) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(length.to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

/// Where the first segment with `marker` (`0xff marker`) starts.
fn segment(jpeg: &[u8], marker: u8) -> Option<usize> {
    jpeg.windows(2).position(|w| w == [0xff, marker])
}
