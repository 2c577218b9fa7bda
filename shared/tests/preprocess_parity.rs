//! Our preprocessing equals torchvision's `Resize(256, BICUBIC) + CenterCrop(224) + ToTensor +
//! Normalize` (and `TenCrop`) on PIL, for the generated pictures of `tools/make_golden.py`.

use crate::common::{golden, read_json};
use serde::Deserialize;
use shared::preprocess::{self, CROP, InputSize, RESIZE};

#[derive(Deserialize)]
struct Case {
    file: String,
    resized: [u32; 2],
    center_crop: String,
    normalized_samples: Vec<(usize, usize, usize, f32)>,
    ten_crop_means: Vec<[f32; 3]>,
}

fn cases() -> Vec<Case> {
    read_json("preprocess.json")
}

fn source(case: &Case) -> Vec<u8> {
    std::fs::read(golden("preprocess").join(&case.file)).unwrap()
}

/// torchvision's normalised centre crop, from PIL's crop saved losslessly by the script.
fn reference(case: &Case) -> Vec<f32> {
    let crop = image::open(golden("preprocess").join(&case.center_crop))
        .unwrap()
        .into_rgb8();
    preprocess::normalize(&crop)
}

fn mean_abs_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

#[test]
fn resize_gives_torchvision_sizes() {
    for case in cases() {
        let decoded = preprocess::decode_rgb(&source(&case)).unwrap();
        let resized = preprocess::resize_shorter_side(&decoded, RESIZE);
        assert_eq!(resized.dimensions(), case.resized.into(), "{}", case.file);
    }
}

#[test]
fn center_crop_matches_torchvision() {
    for case in cases() {
        let ours = preprocess::eval_input(&source(&case), InputSize::IMAGENET).unwrap();
        let theirs = reference(&case);
        assert_eq!(ours.len(), 3 * (CROP * CROP) as usize);
        let error = mean_abs_error(&ours, &theirs);
        eprintln!("{}: mean abs error {error:.2e}", case.file);
        if case.file.ends_with(".png") {
            // Lossless sources decode identically, and our resize is Pillow's to the bit.
            let differing = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
            assert_eq!(
                differing, 0,
                "{}: values differ from torchvision's",
                case.file
            );
        } else {
            // JPEG decoders (libjpeg-turbo in PIL, zune-jpeg here) differ by a level here
            // and there, mostly in chroma upsampling.
            assert!(error < 1e-2, "{}: mean abs error {error}", case.file);
        }
    }
}

#[test]
fn normalisation_matches_torchvision_values() {
    let plane = (CROP * CROP) as usize;
    for case in cases() {
        let theirs = reference(&case);
        for &(c, y, x, value) in &case.normalized_samples {
            let ours = theirs[c * plane + y * CROP as usize + x];
            assert!((ours - value).abs() < 1e-6, "{} [{c},{y},{x}]", case.file);
        }
    }
}

#[test]
fn ten_crop_matches_torchvision_order_and_content() {
    let plane = (CROP * CROP) as usize;
    for case in cases() {
        let crops = preprocess::ten_crop_inputs(&source(&case), InputSize::IMAGENET).unwrap();
        for (i, (crop, expected)) in crops.iter().zip(&case.ten_crop_means).enumerate() {
            for c in 0..3 {
                let mean = crop[c * plane..(c + 1) * plane].iter().sum::<f32>() / plane as f32;
                assert!(
                    (mean - expected[c]).abs() < 1e-2,
                    "{} crop {i} channel {c}: {mean} vs {}",
                    case.file,
                    expected[c]
                );
            }
        }
    }
}
