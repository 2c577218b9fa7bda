//! `--view pad` and the test-time augmentation views: the whole photo is in the padded input
//! (the hem of a tall photo too), as PIL's `ImageOps.contain` + `ImageOps.pad` place it
//! (tools/make_view_golden.py), and `--tta` lists make the views they name.

use serde::Deserialize;
use shared::preprocess::{self, InputSize, Interpolation, Tta, View};

use crate::common::golden;

#[derive(Deserialize)]
struct Golden {
    side: u32,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    content: String,
    interpolation: String,
    size: [u32; 2],
    left: u32,
    top: u32,
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(golden("view").join(file)).unwrap()
}

fn pad_size(side: u32, interpolation: Interpolation) -> InputSize {
    InputSize {
        interpolation,
        ..InputSize::IMAGENET.with_crop(side)
    }
    .with_view(View::Pad)
}

/// PIL's content normalised, placed on a square of zeros by this test's own loop.
fn reference(case: &Case, side: u32) -> Vec<f32> {
    let content = image::load_from_memory(&read(&case.content))
        .unwrap()
        .into_rgb8();
    assert_eq!(content.dimensions(), (case.size[0], case.size[1]));
    let side = side as usize;
    let mut out = vec![0.0f32; 3 * side * side];
    for (x, y, pixel) in content.enumerate_pixels() {
        for c in 0..3 {
            let at = (c * side + case.top as usize + y as usize) * side
                + case.left as usize
                + x as usize;
            out[at] = (f32::from(pixel[c]) / 255.0 - preprocess::MEAN[c]) / preprocess::STD[c];
        }
    }
    out
}

#[test]
fn padded_view_matches_pil() {
    let golden: Golden =
        serde_json::from_slice(&std::fs::read(golden("view").join("view.json")).unwrap()).unwrap();
    for case in &golden.cases {
        let filter = match case.interpolation.as_str() {
            "bilinear" => Interpolation::Bilinear,
            _ => Interpolation::Bicubic,
        };
        let ours =
            preprocess::eval_input(&read(&case.file), pad_size(golden.side, filter)).unwrap();
        let theirs = reference(case, golden.side);
        // One 8-bit level, in normalised units (the smallest std divides the most).
        let level = 1.0 / 255.0 / 0.224 + 1e-5;
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= level, "{}: {worst} from PIL's", case.file);
    }
}

/// The value of channel `c` at (`x`, `y`) of a `[3, side, side]` input.
fn at(input: &[f32], side: u32, c: usize, x: u32, y: u32) -> f32 {
    let side = side as usize;
    input[(c * side + y as usize) * side + x as usize]
}

/// The tall photo's red top band and blue bottom band (its hem) are in the padded input,
/// while the centre crop cuts both off.
#[test]
fn padded_view_keeps_the_hem() {
    let bytes = read("tall.png");
    let side = 64;
    let padded = preprocess::eval_input(&bytes, pad_size(side, Interpolation::Bicubic)).unwrap();
    let cropped = preprocess::eval_input(&bytes, InputSize::IMAGENET.with_crop(side)).unwrap();
    let (red, blue) = (
        |input: &[f32], y| at(input, side, 0, 32, y) > 1.0 && at(input, side, 2, 32, y) < 0.0,
        |input: &[f32], y| at(input, side, 2, 32, y) > 1.0 && at(input, side, 0, 32, y) < 0.0,
    );
    assert!(
        red(&padded, 0) && blue(&padded, side - 1),
        "the padded view shows both bands"
    );
    assert!(
        (0..side).all(|y| !red(&cropped, y) && !blue(&cropped, y)),
        "the centre crop of a tall photo loses its top and bottom"
    );
    // The padding beside the photo is the mean: zero after normalising.
    assert!(
        (0..3).all(|c| at(&padded, side, c, 0, 32) == 0.0 && at(&padded, side, c, 63, 32) == 0.0)
    );
}

#[test]
fn tta_lists_make_their_views() {
    let bytes = read("tall.png");
    let crop = InputSize::IMAGENET.with_crop(64);
    let pad = crop.with_view(View::Pad);
    let views = |tta: &str, size: InputSize| {
        let tta: Tta = tta.parse().unwrap();
        let inputs = preprocess::tta_inputs(&bytes, size, tta).unwrap();
        assert_eq!(
            inputs.len(),
            tta.views(size.view),
            "{tta} on {:?}",
            size.view
        );
        inputs
    };
    // The model's own view alone, as a single input is computed.
    assert_eq!(
        views("none", crop),
        vec![preprocess::eval_input(&bytes, crop).unwrap()]
    );
    assert_eq!(
        views("none", pad),
        vec![preprocess::eval_input(&bytes, pad).unwrap()]
    );
    // 7th place's four: the crop, its mirror, the padded photo and its mirror.
    let four = views("flip,pad", crop);
    assert_eq!(four.len(), 4);
    assert_eq!(four[0], preprocess::eval_input(&bytes, crop).unwrap());
    assert_eq!(four[2], preprocess::eval_input(&bytes, pad).unwrap());
    let mirrored = |input: &[f32]| -> Vec<f32> {
        input
            .chunks(64)
            .flat_map(|row| row.iter().rev().copied())
            .collect()
    };
    assert_eq!(four[1], mirrored(&four[0]));
    // The padded photo's mirror, centred again (its 24 columns sit at 20..44 both ways).
    assert_eq!(four[3], mirrored(&four[2]));
    assert_eq!(views("flip,crop", pad), four);
    assert_eq!(views("flip,pad", pad).len(), 2);
    assert_eq!(views("ten-crop,pad", crop).len(), 11);
    assert_eq!(
        views("ten-crop", crop),
        preprocess::ten_crop_inputs(&bytes, crop).unwrap().to_vec()
    );
}

#[test]
fn tta_lists_parse_and_print() {
    for text in [
        "none",
        "flip",
        "ten-crop",
        "flip,pad",
        "ten-crop,pad",
        "crop",
    ] {
        assert_eq!(text.parse::<Tta>().unwrap().to_string(), text);
    }
    assert_eq!("ten-crop".parse::<Tta>().unwrap(), Tta::TEN_CROP);
    assert_eq!(
        " pad , flip ".parse::<Tta>().unwrap().to_string(),
        "flip,pad"
    );
    let err = "flip,zoom".parse::<Tta>().unwrap_err();
    assert!(err.contains("`zoom`") && err.contains("ten-crop"), "{err}");
    assert!("flip,flip".parse::<Tta>().unwrap_err().contains("twice"));
    // Saved settings keep their spelling.
    assert_eq!(
        serde_json::to_string(&Tta::TEN_CROP).unwrap(),
        "\"ten-crop\""
    );
    let read: Tta = serde_json::from_str("\"flip,pad\"").unwrap();
    assert_eq!(read.views(View::Crop), 4);
}
