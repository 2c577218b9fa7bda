//! Our preprocessing equals torchvision's `Resize(256, BICUBIC) + CenterCrop(224) + ToTensor +
//! Normalize` (and `TenCrop`), and `Resize(236, BILINEAR) + CenterCrop(224)`, on PIL, for the
//! generated pictures of `tools/make_golden.py`; each architecture's sizes and filter are its
//! torchvision weights'.

use crate::common::{golden, read_json};
use serde::Deserialize;
use std::collections::BTreeMap;

use shared::model::{Arch, Family};
use shared::preprocess::{self, CROP, InputSize, Interpolation, RESIZE};

#[derive(Deserialize)]
struct Case {
    file: String,
    resized: [u32; 2],
    center_crop: String,
    bilinear_resized: [u32; 2],
    bilinear_crop: String,
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
    normalized_png(&case.center_crop)
}

fn normalized_png(file: &str) -> Vec<f32> {
    let crop = image::open(golden("preprocess").join(file))
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
        let resized = preprocess::resize_shorter_side(&decoded, RESIZE, Interpolation::Bicubic);
        assert_eq!(resized.dimensions(), case.resized.into(), "{}", case.file);
        let resized = preprocess::resize_shorter_side(&decoded, 236, Interpolation::Bilinear);
        assert_eq!(
            resized.dimensions(),
            case.bilinear_resized.into(),
            "{}",
            case.file
        );
    }
}

#[test]
fn center_crop_matches_torchvision() {
    for case in cases() {
        let ours = preprocess::eval_input(&source(&case), InputSize::IMAGENET).unwrap();
        compare(&case.file, &ours, &reference(&case));
    }
}

/// ConvNeXt-Tiny's pipeline: Pillow's bilinear filter, to the bit on lossless sources.
#[test]
fn bilinear_center_crop_matches_torchvision() {
    for case in cases() {
        let size = Arch::ConvnextTiny.input_size();
        let ours = preprocess::eval_input(&source(&case), size).unwrap();
        compare(&case.file, &ours, &normalized_png(&case.bilinear_crop));
    }
}

/// Our input against torchvision's: equal for PNG sources, close for JPEGs.
fn compare(file: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), 3 * (CROP * CROP) as usize);
    let error = mean_abs_error(ours, theirs);
    eprintln!("{file}: mean abs error {error:.2e}");
    if file.ends_with(".png") {
        // Lossless sources decode identically, and our resize is Pillow's to the bit.
        let differing = ours.iter().zip(theirs).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "{file}: values differ from torchvision's");
    } else {
        // JPEG decoders (libjpeg-turbo in PIL, zune-jpeg here) differ by a level here
        // and there, mostly in chroma upsampling.
        assert!(error < 1e-2, "{file}: mean abs error {error}");
    }
}

#[derive(Deserialize, PartialEq, Debug)]
struct Transforms {
    resize: u32,
    crop: u32,
    interpolation: Interpolation,
}

/// Every architecture's resize, crop and filter are those of its torchvision weights'
/// `transforms()`, but ResNet's filter, which keeps the tutorial's bicubic.
#[test]
fn each_architecture_has_its_weights_transforms() {
    let table: BTreeMap<String, Transforms> = read_json("transforms.json");
    assert_eq!(table.len(), Arch::ALL.len());
    for arch in Arch::ALL {
        let size = arch.input_size();
        let ours = Transforms {
            resize: size.resize,
            crop: size.crop,
            interpolation: match arch.family() {
                Family::ResNet(_) => Interpolation::Bilinear,
                _ => size.interpolation,
            },
        };
        assert_eq!(ours, table[arch.name()], "{arch}");
    }
    assert_eq!(Arch::Resnet50.input_size(), InputSize::IMAGENET);
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
